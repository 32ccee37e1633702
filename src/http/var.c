/* The access-log variable table and the log_format compiler. */
#include "kelpie/http/var.h"

#include <errno.h>

static const struct kp_http_var vars[] = {
    {"remote_addr", KP_HTTP_VAR_REMOTE_ADDR},
    {"remote_user", KP_HTTP_VAR_REMOTE_USER},
    {"time_local", KP_HTTP_VAR_TIME_LOCAL},
    {"time_iso8601", KP_HTTP_VAR_TIME_ISO8601},
    {"request", KP_HTTP_VAR_REQUEST},
    {"status", KP_HTTP_VAR_STATUS},
    {"body_bytes_sent", KP_HTTP_VAR_BODY_BYTES_SENT},
    {"bytes_sent", KP_HTTP_VAR_BYTES_SENT},
    {"http_referer", KP_HTTP_VAR_HTTP_REFERER},
    {"http_user_agent", KP_HTTP_VAR_HTTP_USER_AGENT},
    {"request_time", KP_HTTP_VAR_REQUEST_TIME},
    {"request_method", KP_HTTP_VAR_REQUEST_METHOD},
    {"uri", KP_HTTP_VAR_URI},
    {"args", KP_HTTP_VAR_ARGS},
    {"host", KP_HTTP_VAR_HOST},
    {"pid", KP_HTTP_VAR_PID},
    {"connection", KP_HTTP_VAR_CONNECTION},
    {"connection_requests", KP_HTTP_VAR_CONNECTION_REQUESTS},
    {"msec", KP_HTTP_VAR_MSEC},
    {"server_protocol", KP_HTTP_VAR_SERVER_PROTOCOL},
    {"request_length", KP_HTTP_VAR_REQUEST_LENGTH},
};

static const struct kp_http_var http_header = {"http_", KP_HTTP_VAR_HTTP_HEADER};

const struct kp_http_var *kp_http_var_find(struct kp_str name)
{
    struct kp_str prefix = KP_STR("http_");

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        if (kp_str_caseeq_cstr(name, vars[i].name))
            return &vars[i];
    }
    if (name.len > prefix.len && kp_str_caseeq((struct kp_str){name.p, prefix.len}, prefix))
        return &http_header;
    return NULL;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The name after a '$' at p: "name" or "{name}". Returns the position after
 * it, or NULL when there is no name (or no closing brace). */
static const char *var_name(const char *p, const char *end, struct kp_str *name)
{
    bool braced = p < end && *p == '{';
    const char *q = p + braced;

    name->p = q;
    while (q < end && is_name_char(*q))
        q++;
    name->len = (size_t)(q - name->p);
    if (braced && (q == end || *q++ != '}'))
        return NULL;
    return name->len > 0 ? q : NULL;
}

static void add_literal(struct kp_arena *a, struct kp_http_log_op *op, size_t *n, const char *p,
                        const char *end)
{
    if (p == end)
        return;
    op[*n].var = KP_HTTP_VAR_LITERAL;
    op[*n].text = kp_arena_strndup(a, p, (size_t)(end - p));
    op[*n].len = (size_t)(end - p);
    (*n)++;
}

/* $http_user_agent looks up "user-agent": header names are matched
 * case-insensitively (RFC 9110 section 5.1) and cannot spell '-' as a name. */
static void header_name(struct kp_arena *a, struct kp_http_log_op *op, struct kp_str name)
{
    size_t skip = sizeof("http_") - 1;

    op->len = name.len - skip;
    op->text = kp_arena_strndup(a, name.p + skip, op->len);
    for (size_t i = 0; i < op->len; i++)
        op->text[i] = op->text[i] == '_' ? '-' : kp_str_lower(op->text[i]);
}

int kp_http_var_compile(struct kp_arena *a, struct kp_str fmt, struct kp_http_log_op **ops,
                        size_t *n_ops, struct kp_str *bad)
{
    const char *p = fmt.p, *end = fmt.p + fmt.len, *lit = p;
    size_t max = 1, n = 0;

    /* Each '$' adds at most a variable and the literal after it. */
    for (size_t i = 0; i < fmt.len; i++)
        max += fmt.p[i] == '$' ? 2 : 0;
    struct kp_http_log_op *v = kp_arena_calloc(a, max * sizeof(*v));
    while (p < end) {
        if (*p != '$') {
            p++;
            continue;
        }
        add_literal(a, v, &n, lit, p);
        struct kp_str name;
        const char *next = var_name(p + 1, end, &name);
        const struct kp_http_var *var = next != NULL ? kp_http_var_find(name) : NULL;
        if (var == NULL) {
            *bad = next != NULL ? name : KP_STR("");
            return -EINVAL;
        }
        v[n].var = (int)var->id;
        if (var->id == KP_HTTP_VAR_HTTP_HEADER)
            header_name(a, &v[n], name);
        n++;
        p = lit = next;
    }
    add_literal(a, v, &n, lit, end);
    *ops = v;
    *n_ops = n;
    return 0;
}
