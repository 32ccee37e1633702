/* nginx's tuning knobs that have nothing to tune in kelpie: accepted,
 * checked and ignored (see proc/conf_nginx.h). */
#include "kelpie/proc/conf_nginx.h"

#include <arpa/inet.h>
#include <string.h>

#define HTTP_SRV (KP_CONF_HTTP | KP_CONF_SRV)
#define HTTP_ANY (KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC)
#define MAX_KNOB (UINT64_C(1) << 32)

/* A size knob: the value is checked as nginx would, then dropped. nginx's
 * hash and pool sizes tune data structures kelpie builds differently (MIME
 * types are a sorted table, server names a short list per address, variables
 * indexes fixed at load; request memory is one growing arena). */
static int positive_size(struct kp_conf *cf, const char *a)
{
    uint64_t v;

    if (kp_conf_parse_size(a, MAX_KNOB, &v) != 0 || v == 0)
        return kp_conf_invalid(cf, a);
    return 0;
}

static int ignore_size(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cmd;
    (void)conf;
    return positive_size(cf, cf->args[1]);
}

/* A size that may be 0 (read_ahead 0, send_lowat 0 are nginx's defaults). */
static int ignore_size_or_zero(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t v;

    (void)cmd;
    (void)conf;
    if (kp_conf_parse_size(cf->args[1], MAX_KNOB, &v) != 0)
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

/* open_log_file_cache off | max=N [inactive=TIME] [min_uses=N] [valid=TIME]:
 * the master opens every log once and the workers keep its descriptors
 * (proc/logfiles.h), so there is nothing to cache; the parameters are
 * checked as nginx does. */
static int ignore_log_cache(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    static const char *const names[] = {"max=", "inactive=", "min_uses=", "valid="};
    bool max = false;
    uint64_t v;

    (void)cmd;
    (void)conf;
    if (cf->nargs == 2 && strcmp(cf->args[1], "off") == 0)
        return 0;
    for (size_t i = 1; i < cf->nargs; i++) {
        const char *a = cf->args[i];
        size_t k = 0;
        while (k < 4 && strncmp(a, names[k], strlen(names[k])) != 0)
            k++;
        const char *val = k < 4 ? a + strlen(names[k]) : "";
        int rc =
            k == 1 || k == 3 ? kp_conf_parse_msec(val, &v) : kp_conf_parse_num(val, MAX_KNOB, &v);
        if (k == 4 || rc != 0)
            return kp_conf_error(cf, "invalid \"open_log_file_cache\" parameter \"%s\"", a);
        max |= k == 0;
    }
    if (!max)
        return kp_conf_error(cf, "\"open_log_file_cache\" must have \"max\" parameter");
    return 0;
}

/* open_file_cache_min_uses N: a kelpie worker keeps a file open from its
 * first use (http/filecache.h), so there is no count to reach. */
static int ignore_num(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t v;

    (void)cmd;
    (void)conf;
    if (kp_conf_parse_num(cf->args[1], MAX_KNOB, &v) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    return 0;
}

/* open_file_cache_errors on|off: kelpie never caches a failed lookup, so a
 * file that appears is served at once either way. */
static int ignore_flag(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    bool v;

    (void)cmd;
    (void)conf;
    if (kp_conf_parse_flag(cf->args[1], &v) != 0)
        return kp_conf_error(cf,
                             "invalid value \"%s\" in \"%s\" directive, it must be \"on\" or "
                             "\"off\"",
                             cf->args[1], cf->args[0]);
    return 0;
}

/* client_body_in_file_only on|clean|off: no request body is ever kept (static
 * content takes none), in a file or in memory. */
static int ignore_body_in_file(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    const char *v = cf->args[1];

    (void)cmd;
    (void)conf;
    if (strcmp(v, "on") != 0 && strcmp(v, "clean") != 0 && strcmp(v, "off") != 0)
        return kp_conf_invalid(cf, v);
    return 0;
}

/* lock_file PATH: the accept mutex lives in shared memory, there is no file
 * to lock (nginx itself ignores it where atomics exist). */
static int ignore_any(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cf;
    (void)cmd;
    (void)conf;
    return 0;
}

/* directio SIZE|off: kelpie reads every file through the page cache (with
 * sendfile, pread, or an aio thread): there is no O_DIRECT path, and the
 * bytes sent are the same. */
static int ignore_directio(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    return strcmp(cf->args[1], "off") == 0 ? 0 : ignore_size(cf, cmd, conf);
}

/* output_buffers NUMBER SIZE: the buffers nginx reads a file into when it
 * does not use sendfile; kelpie's reads have their own fixed size. */
static int ignore_output_buffers(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t n;

    (void)cmd;
    (void)conf;
    if (kp_conf_parse_num(cf->args[1], MAX_KNOB, &n) != 0 || n == 0)
        return kp_conf_invalid(cf, cf->args[1]);
    return positive_size(cf, cf->args[2]);
}

/* What is wrong with a resolver address, as nginx words it, or NULL: an
 * IPv4 address or a name, or an IPv6 address in brackets, each with an
 * optional ":PORT" (names are not looked up: nothing will ever ask them). */
static const char *resolver_address(const char *a)
{
    char host[64];
    const char *port = NULL;

    if (a[0] == '[') {
        const char *end = strchr(a, ']');
        size_t n = end != NULL ? (size_t)(end - a - 1) : sizeof(host);
        struct in6_addr v6;
        if (n >= sizeof(host) || (end[1] != '\0' && end[1] != ':'))
            return "invalid host";
        memcpy(host, a + 1, n);
        host[n] = '\0';
        if (inet_pton(AF_INET6, host, &v6) != 1)
            return "invalid host";
        port = end[1] == ':' ? end + 2 : NULL;
    } else {
        port = strchr(a, ':');
        if (port == a)
            return "invalid host";
        port = port != NULL ? port + 1 : NULL;
    }
    uint64_t v;
    if (port != NULL && (kp_conf_parse_num(port, 65535, &v) != 0 || v == 0))
        return "invalid port";
    return NULL;
}

/* resolver ADDRESS... [valid=TIME] [ipv4=on|off] [ipv6=on|off]
 * [status_zone=NAME]: nginx's resolver serves proxying to names and the
 * fetching of OCSP responses; kelpie does neither (a stapled response is
 * the administrator's ssl_stapling_file), so no name is ever resolved at
 * run time. The parameters are checked as nginx checks them. */
static int ignore_resolver(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    bool v4 = true, v6 = true, flag;
    const char *bad;
    uint64_t ms;

    (void)cmd;
    (void)conf;
    for (size_t i = 1; i < cf->nargs; i++) {
        const char *a = cf->args[i];
        bool *family = strncmp(a, "ipv4=", 5) == 0 ? &v4 : strncmp(a, "ipv6=", 5) == 0 ? &v6 : NULL;
        if (family != NULL) {
            if (kp_conf_parse_flag(a + 5, &flag) != 0)
                return kp_conf_error(cf, "invalid parameter: %s", a);
            *family = flag;
        } else if (strncmp(a, "valid=", 6) == 0) {
            if (kp_conf_parse_msec(a + 6, &ms) != 0)
                return kp_conf_error(cf, "invalid parameter: %s", a);
        } else if (strncmp(a, "status_zone=", 12) != 0 && (bad = resolver_address(a)) != NULL) {
            return kp_conf_error(cf, "%s in resolver \"%s\"", bad, a);
        }
    }
    if (!v4 && !v6)
        return kp_conf_error(cf, "\"ipv4\" and \"ipv6\" cannot both be \"off\"");
    return 0;
}

/* resolver_timeout TIME: see resolver. */
static int ignore_time(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t ms;

    (void)cmd;
    (void)conf;
    if (kp_conf_parse_msec(cf->args[1], &ms) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
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
    /* a map block is lists of exact, wildcard and regex entries: no hash */
    {"map_hash_max_size", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"map_hash_bucket_size", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* valid_referers hosts are a short list searched in full: no hash */
    {"referer_hash_max_size", KP_CONF_SRV | KP_CONF_LOC, KP_CONF_TAKE(1), 0, ignore_size,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"referer_hash_bucket_size", KP_CONF_SRV | KP_CONF_LOC, KP_CONF_TAKE(1), 0, ignore_size,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"client_body_in_file_only", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_body_in_file,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"client_body_in_single_buffer", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_flag, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* The stapled response is the administrator's ssl_stapling_file, never
     * fetched from a responder: there is no response of unknown origin to
     * verify. */
    {"ssl_stapling_verify", HTTP_SRV, KP_CONF_TAKE(1), 0, ignore_flag, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* Every response has a Content-Length (gzip compresses in memory), so
     * none is ever chunked: "off" is what kelpie does anyway. */
    {"chunked_transfer_encoding", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_flag, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* kelpie makes no subrequests: there is nothing else to log. */
    {"log_subrequest", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_flag, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* Files go out with sendfile or pread: there is no read-ahead hint to give. */
    {"read_ahead", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_size_or_zero, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* SO_SNDLOWAT is not settable on Linux (nginx ignores it there too). */
    {"send_lowat", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_size_or_zero, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"lock_file", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, ignore_any, KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"connection_pool_size", HTTP_SRV, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"request_pool_size", HTTP_SRV, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* Request bodies are read and dropped (static content takes none):
     * there is no body buffer to size. */
    {"client_body_buffer_size", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"open_log_file_cache", HTTP_ANY, KP_CONF_RANGE(1, 4), 0, ignore_log_cache, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"client_body_temp_path", HTTP_ANY, KP_CONF_RANGE(1, 4), 0, ignore_temp_path, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"open_file_cache_min_uses", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_num, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* Operations in flight for Linux native AIO, which `aio on` asks for in
     * nginx; kelpie's `aio on` is its thread pool (max_queue bounds it). */
    {"worker_aio_requests", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, ignore_num, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"open_file_cache_errors", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_flag, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"directio", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_directio, KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"directio_alignment", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_size, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"output_buffers", HTTP_ANY, KP_CONF_TAKE(2), 0, ignore_output_buffers, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* Responses go out as soon as they are made: nothing is held back. */
    {"postpone_output", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_size_or_zero, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* aio for writing temporary files: kelpie writes none. */
    {"aio_write", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_flag, KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"resolver", HTTP_ANY, KP_CONF_1MORE, 0, ignore_resolver, KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"resolver_timeout", HTTP_ANY, KP_CONF_TAKE(1), 0, ignore_time, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    /* http2 on|off (nginx 1.25.1's form of "listen ... http2"): kelpie
     * offers http/1.1 alone in ALPN, which HTTP/2 clients fall back to. */
    {"http2", HTTP_SRV, KP_CONF_TAKE(1), 0, ignore_flag, KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};
