/* nginx directives without a kelpie meaning: the tuning knobs accepted and
 * ignored, and the names of unsupported nginx modules' directives (see
 * core/conf_nginx.h). */
#include "kelpie/core/conf_nginx.h"

#include <string.h>

#define HTTP_SRV (KP_CONF_HTTP | KP_CONF_SRV)
#define HTTP_ANY (KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC)
#define MAX_KNOB (UINT64_C(1) << 32)

/* A size knob: the value is checked as nginx would, then dropped. nginx's
 * hash and pool sizes tune data structures kelpie builds differently (MIME
 * types are a sorted table, server names a short list per address, variables
 * indexes fixed at load; request memory is one growing arena). */
static int ignore_size(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t v;

    (void)cmd;
    (void)conf;
    if (kp_conf_parse_size(cf->args[1], MAX_KNOB, &v) != 0 || v == 0)
        return kp_conf_invalid(cf, cf->args[1]);
    return 0;
}

/* client_body_temp_path PATH [LEVEL1 [LEVEL2 [LEVEL3]]]: kelpie reads no
 * request bodies into files (static content takes none), so there is no
 * temp directory; the levels are checked as nginx does (1 or 2 each). */
static int ignore_temp_path(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cmd;
    (void)conf;
    for (size_t i = 2; i < cf->nargs; i++) {
        if (strcmp(cf->args[i], "1") != 0 && strcmp(cf->args[i], "2") != 0)
            return kp_conf_invalid(cf, cf->args[i]);
    }
    return 0;
}

const struct kp_conf_cmd kp_conf_nginx_cmds[] = {
    {"types_hash_max_size", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"types_hash_bucket_size", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"server_names_hash_max_size", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"server_names_hash_bucket_size", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, ignore_size,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"variables_hash_max_size", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"variables_hash_bucket_size", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"connection_pool_size", HTTP_SRV, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"request_pool_size", HTTP_SRV, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"client_body_temp_path", HTTP_ANY, KP_CONF_RANGE(1, 4), 0, ignore_temp_path, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};

/* Families: every directive starting with one of these belongs to a module
 * kelpie does not have. */
static const char *const families[] = {
    "proxy_", "fastcgi_",    "uwsgi_",  "scgi_", "grpc_",         "memcached_",
    "ssi_",   "sub_filter",  "geoip_",  "perl_", "js_",           "image_filter",
    "xslt_",  "secure_link", "userid_", "mp4_",  "hls_",          "quic_",
    "http2_", "http3_",      "mirror_", "dav_",  "split_clients",
};

/* Single directives of such modules (and of the upstream, stream and mail
 * cores). gzip, autoindex, auth_basic, limit_req/limit_conn and real_ip are
 * not listed: they are kelpie features of their own. */
static const char *const names[] = {
    "upstream",
    "stream",
    "mail",
    "load_module",
    "resolver",
    "resolver_timeout",
    "thread_pool",
    "aio",
    "aio_write",
    "directio",
    "directio_alignment",
    "output_buffers",
    "postpone_output",
    "ssi",
    "geo",
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
    "valid_referers",
    "referer_hash_max_size",
    "referer_hash_bucket_size",
    "userid",
    "create_full_put_path",
    "min_delete_depth",
    "charset_map",
    "source_charset",
    "override_charset",
    "auth_request",
    "auth_request_set",
    "auth_jwt",
    "http2",
    "http3",
    "subrequest_output_buffer_size",
    "ip_hash",
    "least_conn",
    "health_check",
    "status_zone",
    "api",
    "keyval_zone",
};

bool kp_conf_nginx_unsupported(const char *name)
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
