/* The limit modules' directives, zones by name, keys and variables (see
 * limit.h); the limits themselves are limit_req.c, limit_conn.c and
 * limit_rate.c, which stand on this one, the shared memory limit_zone.c. */
#include "kelpie/http/limit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kelpie/util/log.h"
#include "kelpie/http/limit_rate.h"
#include "kelpie/http/limit_zone.h"
#include "kelpie/http/req.h"
#include "kelpie/http/var.h"

#define HTTP_ANY       (KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC)
#define LIM(m)         KP_CONF_SLOT_LOC, KP_CONF_FIELD(struct kp_http_loc_conf, limit.m)
#define LIM_SPAN(a, b) KP_CONF_SLOT_LOC, KP_CONF_SPAN(struct kp_http_loc_conf, limit.a, limit.b)

/* Longest key text kept with a zone (for reload). */
#define MAX_KEY_TEXT 255

static const char *const kind_directive[] = {"", "limit_req_zone", "limit_conn_zone"};
static const char *const kind_use[] = {"", "limit_req", "limit_conn"};

void kp_http_limit_conf_defaults(struct kp_http_limit_conf *l)
{
    *l = (struct kp_http_limit_conf){.req_status = 503,
                                     .req_log_level = KP_LOG_ERR,
                                     .conn_status = 503,
                                     .conn_log_level = KP_LOG_ERR};
}

static char *where(struct kp_conf *cf)
{
    char buf[512];

    if (cf->file->command_line)
        return kp_conf_strdup(cf->arena, " in command line");
    snprintf(buf, sizeof(buf), " in %s:%u", cf->file->name, cf->file->line);
    return kp_conf_strdup(cf->arena, buf);
}

/* The zone named name (name.len bytes), made undeclared on first use. */
static struct kp_http_limit_zone *zone_named(struct kp_conf *cf, const char *name, size_t len)
{
    struct kp_http_conf *http = kp_http_conf_of(cf);

    for (size_t i = 0; i < http->n_limit_zones; i++) {
        struct kp_http_limit_zone *z = http->limit_zones[i];
        if (strlen(z->name) == len && memcmp(z->name, name, len) == 0)
            return z;
    }
    struct kp_http_limit_zone *z = kp_arena_calloc(cf->arena, sizeof(*z));
    z->name = kp_arena_strndup(cf->arena, name, len);
    z->where = where(cf);
    *KP_CONF_PUSH(cf->arena, http->limit_zones, http->n_limit_zones) = z;
    return z;
}

/* A zone used by a kind of limit: the same name may not serve both. */
static int zone_kind(struct kp_conf *cf, struct kp_http_limit_zone *z, unsigned kind)
{
    if (z->kind != 0 && z->kind != kind)
        return kp_conf_error(cf,
                             "the shared memory zone \"%s\" is already declared for a "
                             "different use",
                             z->name);
    z->kind = kind;
    return 0;
}

/* zone=NAME:SIZE */
static int zone_param(struct kp_conf *cf, const char *p, unsigned kind,
                      struct kp_http_limit_zone **out)
{
    const char *name = p + 5, *colon = strrchr(name, ':');
    uint64_t size;

    if (colon == NULL || colon == name)
        return kp_conf_error(cf, "invalid zone size \"%s\"", name);
    if (kp_conf_parse_size(colon + 1, SIZE_MAX / 2, &size) != 0)
        return kp_conf_error(cf, "invalid zone size \"%s\"", name);
    if (size < KP_LIMIT_ZONE_MIN)
        return kp_conf_error(cf, "zone \"%.*s\" is too small", (int)(colon - name), name);
    struct kp_http_limit_zone *z = zone_named(cf, name, (size_t)(colon - name));
    int rc = zone_kind(cf, z, kind);
    if (rc != 0)
        return rc;
    if (z->size != 0)
        return kp_conf_error(cf, "%s \"%s\" is already bound to key \"%s\"", kind_directive[kind],
                             z->name, z->key->text);
    z->size = (size_t)size;
    *out = z;
    return 0;
}

/* rate=Nr/s | Nr/m, in thousandths of a request per second. */
static int rate_param(struct kp_conf *cf, const char *p, uint64_t *rate)
{
    const char *v = p + 5, *unit = strstr(v, "r/");
    char num[32];
    uint64_t n;

    if (unit == NULL || (size_t)(unit - v) >= sizeof(num) ||
        (strcmp(unit, "r/s") != 0 && strcmp(unit, "r/m") != 0))
        return kp_conf_error(cf, "invalid rate \"%s\"", p);
    memcpy(num, v, (size_t)(unit - v));
    num[unit - v] = '\0';
    if (kp_conf_parse_num(num, UINT32_MAX, &n) != 0 || n == 0)
        return kp_conf_error(cf, "invalid rate \"%s\"", p);
    *rate = unit[2] == 's' ? n * 1000 : n * 1000 / 60;
    if (*rate == 0)
        *rate = 1;
    return 0;
}

/* limit_req_zone KEY zone=NAME:SIZE [rate=R] and limit_conn_zone KEY
 * zone=NAME:SIZE. */
static int zone_directive(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    unsigned kind = strcmp(cmd->name, "limit_req_zone") == 0 ? KP_LIMIT_REQ : KP_LIMIT_CONN;
    struct kp_http_limit_zone *z = NULL;
    uint64_t rate = 1000;
    int rc = 0;

    (void)conf;
    for (size_t i = 2; i < cf->nargs && rc == 0; i++) {
        const char *p = cf->args[i];
        if (strncmp(p, "zone=", 5) == 0)
            rc = zone_param(cf, p, kind, &z);
        else if (kind == KP_LIMIT_REQ && strncmp(p, "rate=", 5) == 0)
            rc = rate_param(cf, p, &rate);
        else if (kind == KP_LIMIT_REQ && strcmp(p, "sync") == 0)
            rc = kp_conf_error(cf, "the \"sync\" parameter of \"limit_req_zone\" is not "
                                   "supported (it needs NGINX Plus's zone_sync)");
        else
            rc = kp_conf_error(cf, "invalid parameter \"%s\"", p);
    }
    if (rc != 0)
        return rc;
    if (z == NULL)
        return kp_conf_error(cf, "\"%s\" must have \"zone\" parameter", cmd->name);
    if (strlen(cf->args[1]) > MAX_KEY_TEXT)
        return kp_conf_error(cf, "the key of \"%s\" is longer than %d bytes", cmd->name,
                             MAX_KEY_TEXT);
    z->key = kp_arena_calloc(cf->arena, sizeof(*z->key));
    z->rate = rate;
    return kp_http_cv_compile(cf, cf->args[1], z->key);
}

/* burst=N / delay=N: whole requests, kept in thousandths. */
static int count_param(struct kp_conf *cf, const char *v, uint64_t *out)
{
    uint64_t n;

    if (kp_conf_parse_num(v, UINT32_MAX, &n) != 0)
        return kp_conf_invalid(cf, v);
    *out = n * 1000;
    return 0;
}

/* limit_req zone=NAME [burst=N] [nodelay|delay=N] */
static int limit_req(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_limit_conf *l = &((struct kp_http_loc_conf *)conf)->limit;
    struct kp_http_limit_req_rule rule = {0};
    int rc = 0;

    for (size_t i = 1; i < cf->nargs && rc == 0; i++) {
        const char *p = cf->args[i];
        /* "zone=" without a name falls through to the invalid parameter. */
        if (strncmp(p, "zone=", 5) == 0 && p[5] != '\0') {
            rule.zone = zone_named(cf, p + 5, strlen(p + 5));
            rc = zone_kind(cf, rule.zone, KP_LIMIT_REQ);
        } else if (strncmp(p, "burst=", 6) == 0) {
            rc = count_param(cf, p + 6, &rule.burst);
        } else if (strncmp(p, "delay=", 6) == 0) {
            rc = count_param(cf, p + 6, &rule.delay);
        } else if (strcmp(p, "nodelay") == 0) {
            rule.delay = UINT64_MAX;
        } else {
            rc = kp_conf_error(cf, "invalid parameter \"%s\"", p);
        }
    }
    if (rc != 0)
        return rc;
    if (rule.zone == NULL)
        return kp_conf_error(cf, "\"limit_req\" must have \"zone\" parameter");
    if (!kp_conf_field_seen(cf, cmd)) {
        l->reqs = NULL; /* the first of a block replaces the inherited ones */
        l->n_reqs = 0;
    }
    for (size_t i = 0; i < l->n_reqs; i++) {
        if (l->reqs[i].zone == rule.zone)
            return kp_conf_error(cf, "\"limit_req\" directive is duplicate");
    }
    *KP_CONF_PUSH(cf->arena, l->reqs, l->n_reqs) = rule;
    return 0;
}

/* limit_conn NAME N */
static int limit_conn(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_limit_conf *l = &((struct kp_http_loc_conf *)conf)->limit;
    uint64_t n;

    if (kp_conf_parse_num(cf->args[2], 65535, &n) != 0 || n == 0)
        return kp_conf_error(cf, "invalid number of connections \"%s\"", cf->args[2]);
    struct kp_http_limit_zone *z = zone_named(cf, cf->args[1], strlen(cf->args[1]));
    int rc = zone_kind(cf, z, KP_LIMIT_CONN);
    if (rc != 0)
        return rc;
    if (!kp_conf_field_seen(cf, cmd)) {
        l->conns = NULL;
        l->n_conns = 0;
    }
    for (size_t i = 0; i < l->n_conns; i++) {
        if (l->conns[i].zone == z)
            return kp_conf_error(cf, "\"limit_conn\" directive is duplicate");
    }
    *KP_CONF_PUSH(cf->arena, l->conns, l->n_conns) =
        (struct kp_http_limit_conn_rule){z, (unsigned)n};
    return 0;
}

/* limit_req_status / limit_conn_status CODE: 400 to 599, as nginx. */
static int set_status(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t code;

    if (kp_conf_parse_num(cf->args[1], 999, &code) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    if (code < 400 || code > 599)
        return kp_conf_error(cf, "value must be between 400 and 599");
    *(unsigned *)((char *)conf + cmd->offset) = (unsigned)code;
    return 0;
}

/* limit_req_log_level / limit_conn_log_level info|notice|warn|error */
static int set_log_level(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    static const char *const names[] = {"error", "warn", "notice", "info"};
    static const unsigned levels[] = {KP_LOG_ERR, KP_LOG_WARN, KP_LOG_NOTICE, KP_LOG_INFO};

    for (size_t i = 0; i < 4; i++) {
        if (strcmp(cf->args[1], names[i]) == 0) {
            *(unsigned *)((char *)conf + cmd->offset) = levels[i];
            return 0;
        }
    }
    return kp_conf_invalid(cf, cf->args[1]);
}

/* limit_rate RATE and limit_rate_after SIZE: a size, or text with variables
 * whose value is one (as nginx 1.17.0). */
static int rate_value(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_cv **cv = (struct kp_http_cv **)((char *)conf + cmd->offset);
    uint64_t v;

    if (strchr(cf->args[1], '$') == NULL && kp_conf_parse_size(cf->args[1], INT64_MAX, &v) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    *cv = kp_arena_calloc(cf->arena, sizeof(**cv));
    return kp_http_cv_compile(cf, cf->args[1], *cv);
}

/* --- end of the http block, reload ----------------------------------------------- */

int kp_http_limit_conf_finish(struct kp_conf *cf)
{
    struct kp_http_conf *http = kp_http_conf_of(cf);

    for (size_t i = 0; i < http->n_limit_zones; i++) {
        struct kp_http_limit_zone *z = http->limit_zones[i];
        if (z->size == 0) {
            snprintf(cf->err, cf->errlen, "zero size shared memory zone \"%s\" (used by \"%s\"%s)",
                     z->name, kind_use[z->kind], z->where);
            return -EINVAL;
        }
        z->shm = kp_limit_zone_new(cf->arena, z->name, z->kind, z->key->text, z->size);
        if (z->shm == NULL) {
            snprintf(cf->err, cf->errlen, "cannot map shared memory zone \"%s\" of %zu bytes (%s)",
                     z->name, z->size, strerror(errno));
            return -EINVAL;
        }
    }
    http->limit_rate_var = kp_http_var_find_defined(cf, "limit_rate");
    return kp_http_var_ref(cf, KP_STR("remote_addr"), &http->remote_addr_ref);
}

void kp_http_limit_adopt(struct kp_http_conf *http, struct kp_arena *a,
                         const struct kp_http_conf *old)
{
    const struct kp_http_conf *oh = old;

    for (size_t i = 0; i < http->n_limit_zones; i++) {
        struct kp_http_limit_zone *z = http->limit_zones[i];
        for (size_t j = 0; j < oh->n_limit_zones; j++) {
            struct kp_limit_zone *o = oh->limit_zones[j]->shm;
            if (strcmp(kp_limit_zone_name(o), z->name) == 0 && kp_limit_zone_kind(o) == z->kind &&
                kp_limit_zone_size(o) == z->size &&
                strcmp(kp_limit_zone_key(o), z->key->text) == 0) {
                kp_limit_zone_adopt(a, &z->shm, o);
                break;
            }
        }
    }
}

/* --- request time --------------------------------------------------------------------- */

struct kp_str kp_http_limit_key(struct kp_http_request *r, const struct kp_http_limit_zone *zone,
                                char *buf)
{
    const struct kp_http_cv *cv = zone->key;

    if (cv->n_vars == 1 && cv->n_parts == 2 && cv->parts[0].lit.len == 0 &&
        cv->parts[1].lit.len == 0)
        return kp_http_var_get(r, &cv->parts[0].var, buf);
    return kp_http_cv_eval(r, cv, KP_HTTP_CV_RAW);
}

const char *kp_http_limit_result_name(unsigned result)
{
    static const char *const names[] = {
        "", "PASSED", "DELAYED", "REJECTED", "DELAYED_DRY_RUN", "REJECTED_DRY_RUN",
    };

    return result < sizeof(names) / sizeof(names[0]) ? names[result] : "";
}

static struct kp_str v_limit_req_status(struct kp_http_request *r,
                                        const struct kp_http_var_ref *ref, char *buf)
{
    (void)ref;
    (void)buf;
    return r->limit_req_status != 0 ? kp_str_from(kp_http_limit_result_name(r->limit_req_status))
                                    : KP_STR_NULL;
}

static struct kp_str v_limit_conn_status(struct kp_http_request *r,
                                         const struct kp_http_var_ref *ref, char *buf)
{
    (void)ref;
    (void)buf;
    return r->limit_conn_status != 0 ? kp_str_from(kp_http_limit_result_name(r->limit_conn_status))
                                     : KP_STR_NULL;
}

/* The client's address in binary, from $remote_addr's text (so it follows
 * whatever decides the client's address). */
static struct kp_str v_binary_remote_addr(struct kp_http_request *r,
                                          const struct kp_http_var_ref *ref, char *buf)
{
    const struct kp_http_var_ref *remote = &r->svc->http->remote_addr_ref;
    char text[KP_HTTP_VAR_BUF + 1];

    (void)ref;
    if (remote->def == NULL)
        return KP_STR_NULL;
    struct kp_str a = kp_http_var_get(r, remote, buf);
    if (a.len == 0 || a.len >= sizeof(text))
        return a;
    memcpy(text, a.p, a.len);
    text[a.len] = '\0';
    if (inet_pton(AF_INET, text, buf) == 1)
        return (struct kp_str){buf, 4};
    if (inet_pton(AF_INET6, text, buf) == 1)
        return (struct kp_str){buf, 16};
    memcpy(buf, text, a.len); /* a unix-socket client: as $remote_addr says */
    return (struct kp_str){buf, a.len};
}

const struct kp_http_var_def kp_http_limit_vars[] = {
    {"limit_req_status", v_limit_req_status, 0, 0, NULL, NULL},
    {"limit_conn_status", v_limit_conn_status, 0, 0, NULL, NULL},
    {"limit_rate", kp_http_limit_rate_var, KP_HTTP_VAR_SETTABLE, 0, NULL, NULL},
    {"binary_remote_addr", v_binary_remote_addr, 0, 0, NULL, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};

const struct kp_conf_cmd kp_http_limit_conf_cmds[] = {
    {"limit_req_zone", KP_CONF_HTTP, KP_CONF_RANGE(2, 4), KP_CONF_MULTI, zone_directive,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"limit_req", HTTP_ANY, KP_CONF_RANGE(1, 3), KP_CONF_MULTI, limit_req, LIM_SPAN(reqs, n_reqs)},
    {"limit_req_status", HTTP_ANY, KP_CONF_TAKE(1), 0, set_status, LIM(req_status)},
    {"limit_req_log_level", HTTP_ANY, KP_CONF_TAKE(1), 0, set_log_level, LIM(req_log_level)},
    {"limit_req_dry_run", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LIM(req_dry_run)},
    {"limit_conn_zone", KP_CONF_HTTP, KP_CONF_TAKE(2), KP_CONF_MULTI, zone_directive,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"limit_conn", HTTP_ANY, KP_CONF_TAKE(2), KP_CONF_MULTI, limit_conn, LIM_SPAN(conns, n_conns)},
    {"limit_conn_status", HTTP_ANY, KP_CONF_TAKE(1), 0, set_status, LIM(conn_status)},
    {"limit_conn_log_level", HTTP_ANY, KP_CONF_TAKE(1), 0, set_log_level, LIM(conn_log_level)},
    {"limit_conn_dry_run", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LIM(conn_dry_run)},
    {"limit_rate", HTTP_ANY | KP_CONF_LIF, KP_CONF_TAKE(1), 0, rate_value, LIM(rate)},
    {"limit_rate_after", HTTP_ANY | KP_CONF_LIF, KP_CONF_TAKE(1), 0, rate_value, LIM(rate_after)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};
