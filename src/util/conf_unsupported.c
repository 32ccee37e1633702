/* The names of nginx directives whose modules kelpie does not have, so the
 * parser can name them as such (see util/conf_unsupported.h). A plain list:
 * it knows nothing of the parser, which asks it. */
#include "kelpie/util/conf_unsupported.h"

#include <string.h>

/* Families: every directive starting with one of these belongs to a module
 * kelpie does not have. */
static const char *const families[] = {
    "proxy_", "fastcgi_",    "uwsgi_",  "scgi_", "grpc_", "memcached_",
    "ssi_",   "sub_filter",  "geoip_",  "perl_", "js_",   "image_filter",
    "xslt_",  "secure_link", "userid_", "mp4_",  "hls_",  "quic_",
    "http2_", "http3_",      "mirror_", "dav_",
};

/* Single directives of such modules (and of the upstream, stream and mail
 * cores). gzip, autoindex, auth_basic, limit_req/limit_conn and real_ip are
 * not listed: they are kelpie features of their own. */
static const char *const names[] = {
    "upstream",
    "stream",
    "mail",
    "load_module",
    "ssi",
    "perl",
    "mirror",
    "slice",
    "mp4",
    "flv",
    "hls",
    "f4f",
    "empty_gif",
    "random_index",
    "addition_types",
    "add_before_body",
    "add_after_body",
    "userid",
    "gunzip",
    "gunzip_buffers",
    "add_trailer",
    "create_full_put_path",
    "min_delete_depth",
    "charset_map",
    "source_charset",
    "override_charset",
    "auth_request",
    "auth_request_set",
    "auth_jwt",
    "http3",
    "subrequest_output_buffer_size",
    "ip_hash",
    "least_conn",
    "health_check",
    "status_zone",
    "api",
    "keyval_zone",
};

bool kp_conf_unsupported_is(const char *name)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        if (strncmp(name, families[i], strlen(families[i])) == 0)
            return true;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0)
            return true;
    }
    return false;
}
