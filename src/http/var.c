/* The variable registry and evaluator (see var.h): name lookup at
 * configuration time, compiled values, and evaluation per request. */
#include "kelpie/http/var.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kelpie/http/req.h"

/* Longest variable name (nginx has no limit; names are short words). */
#define MAX_NAME 128

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* --- lookup ---------------------------------------------------------------- */

/* The built-in variable named name in the tables vars->builtin lists. */
static const struct kp_http_var_def *find_builtin(const struct kp_http_vars *vars,
                                                  struct kp_str name, struct kp_str *arg)
{
    for (const struct kp_http_var_def *const *t = vars->builtin; *t != NULL; t++) {
        for (const struct kp_http_var_def *d = *t; d->name != NULL; d++) {
            size_t n = strlen(d->name);
            if (!(d->flags & KP_HTTP_VAR_PREFIX)) {
                if (kp_str_caseeq_cstr(name, d->name))
                    return d;
            } else if (name.len > n &&
                       kp_str_caseeq((struct kp_str){name.p, n}, kp_str_from(d->name))) {
                *arg = (struct kp_str){name.p + n, name.len - n};
                return d;
            }
        }
    }
    return NULL;
}

static struct kp_http_var_def *find_defined(const struct kp_http_vars *vars, struct kp_str name)
{
    for (size_t i = 0; i < vars->n; i++) {
        if (kp_str_eq(name, kp_str_from(vars->v[i]->name)))
            return vars->v[i];
    }
    return NULL;
}

static struct kp_str get_slot(struct kp_http_request *r, const struct kp_http_var_ref *ref,
                              char *buf);

static struct kp_http_var_def *add_defined(struct kp_conf *cf, struct kp_str name)
{
    struct kp_http_vars *vars = &kp_http_conf_of(cf)->vars;
    struct kp_http_var_def *d = kp_arena_calloc(cf->arena, sizeof(*d));

    d->name = kp_arena_strndup(cf->arena, name.p, name.len);
    d->get = get_slot;
    d->index = vars->n_slots++;
    *KP_CONF_PUSH(cf->arena, vars->v, vars->n) = d;
    return d;
}

/* $http_user_agent looks up "user-agent": header names compare
 * case-insensitively (RFC 9110 section 5.1) and cannot spell '-' in a name.
 * The other families keep their argument as written. */
static struct kp_str prefix_arg(struct kp_arena *a, const struct kp_http_var_def *d,
                                struct kp_str arg)
{
    bool header = strcmp(d->name, "http_") == 0 || strcmp(d->name, "sent_http_") == 0;
    char *s = kp_arena_strndup(a, arg.p, arg.len);

    for (size_t i = 0; header && i < arg.len; i++)
        s[i] = s[i] == '_' ? '-' : kp_str_lower(s[i]);
    return (struct kp_str){s, arg.len};
}

static bool is_capture(struct kp_str name)
{
    return name.len == 1 && name.p[0] >= '0' && name.p[0] <= '9';
}

int kp_http_var_ref(struct kp_conf *cf, struct kp_str name, struct kp_http_var_ref *ref)
{
    struct kp_str arg = KP_STR_NULL;
    const struct kp_http_var_def *d;

    if (name.len == 0 || name.len > MAX_NAME)
        return kp_conf_error(cf, "invalid variable name in \"%s\" directive", cf->args[0]);
    *ref = (struct kp_http_var_ref){NULL, KP_STR_NULL};
    if (is_capture(name)) {
        ref->def =
            find_builtin(&kp_http_conf_of(cf)->vars, KP_STR("0"), &arg); /* the capture getter */
        ref->arg = (struct kp_str){kp_arena_strndup(cf->arena, name.p, 1), 1};
        return 0;
    }
    d = find_defined(&kp_http_conf_of(cf)->vars, name);
    if (d == NULL && (d = find_builtin(&kp_http_conf_of(cf)->vars, name, &arg)) != NULL) {
        ref->def = d;
        ref->arg = arg.len > 0 ? prefix_arg(cf->arena, d, arg) : KP_STR_NULL;
        return 0;
    }
    if (d == NULL) {
        struct kp_http_var_def *p = add_defined(cf, name);
        char where[512];
        p->flags |= KP_HTTP_VAR_PENDING;
        snprintf(where, sizeof(where), "%s:%u", cf->file->name, cf->file->line);
        p->where = kp_conf_strdup(cf->arena, cf->file->command_line ? "command line" : where);
        d = p;
    }
    ref->def = d;
    return 0;
}

/* A `set` variable of a prefix family ($http_foo, $arg_x, ...): its value
 * once set in the request, else the family's (the field, the argument), as
 * nginx reads such a variable. */
static struct kp_str get_set_or_prefix(struct kp_http_request *r, const struct kp_http_var_ref *ref,
                                       char *buf)
{
    const struct kp_http_var_ref *family = ref->def->data;
    struct kp_str v;

    if (kp_http_var_stored(r, ref->def, &v))
        return v;
    return family->def->get(r, family, buf);
}

struct kp_http_var_def *kp_http_var_define(struct kp_conf *cf, const char *name,
                                           kp_http_var_get_fn get)
{
    struct kp_str n = kp_str_from(name), arg = KP_STR_NULL;
    const struct kp_http_vars *vars = &kp_http_conf_of(cf)->vars;
    struct kp_http_var_def *d = find_defined(vars, n);
    const struct kp_http_var_def *b = d == NULL ? find_builtin(vars, n, &arg) : NULL;

    if (b != NULL && (b->flags & KP_HTTP_VAR_PREFIX) && get == NULL) {
        struct kp_http_var_ref *family = kp_arena_calloc(cf->arena, sizeof(*family));
        *family = (struct kp_http_var_ref){b, prefix_arg(cf->arena, b, arg)};
        d = add_defined(cf, n);
        d->flags |= KP_HTTP_VAR_DEFINED;
        d->get = get_set_or_prefix;
        d->data = family;
        return d;
    }
    if ((b != NULL && !(b->flags & KP_HTTP_VAR_SETTABLE)) || (d == NULL && is_capture(n))) {
        kp_conf_error(cf, "the duplicate \"%s\" variable", name);
        return NULL;
    }
    if (d == NULL)
        d = add_defined(cf, n);
    d->flags = (d->flags & ~KP_HTTP_VAR_PENDING) | KP_HTTP_VAR_DEFINED;
    if (get != NULL)
        d->get = get;
    else if (b != NULL)
        d->get = b->get; /* the built-in getter reads the slot itself */
    return d;
}

const struct kp_http_var_def *kp_http_var_find_defined(const struct kp_conf *cf, const char *name)
{
    return find_defined(&kp_http_conf_of(cf)->vars, kp_str_from(name));
}

struct kp_http_var_def *kp_http_var_define_from(struct kp_conf *cf, const char *source,
                                                const char *name, struct kp_http_cv *source_cv,
                                                kp_http_var_get_fn get, const void *data)
{
    if (name[0] != '$' || name[1] == '\0') {
        kp_conf_error(cf, "invalid variable name \"%s\"", name);
        return NULL;
    }
    if (kp_http_cv_compile(cf, source, source_cv) != 0)
        return NULL;
    struct kp_http_var_def *d = kp_http_var_define(cf, name + 1, get);
    if (d == NULL)
        return NULL;
    if (d->data != NULL) {
        kp_conf_error(cf, "the duplicate \"%s\" variable", name + 1);
        return NULL;
    }
    d->data = data;
    return d;
}

int kp_http_var_check(struct kp_conf *cf)
{
    const struct kp_http_vars *vars = &kp_http_conf_of(cf)->vars;

    for (size_t i = 0; i < vars->n; i++) {
        const struct kp_http_var_def *d = vars->v[i];
        if (d->flags & KP_HTTP_VAR_PENDING) {
            snprintf(cf->err, cf->errlen, "unknown \"%s\" variable in %s", d->name, d->where);
            return -EINVAL;
        }
    }
    return 0;
}

/* --- compiling ------------------------------------------------------------- */

/* The name after a '$' at p: "name" or "{name}". Returns the position after
 * it, or NULL when the braces do not close. */
static const char *scan_name(const char *p, struct kp_str *name)
{
    bool braced = *p == '{';
    const char *q = p + braced;

    name->p = q;
    /* $1foo is $1 then "foo", as in nginx: a capture is one digit. */
    if (!braced && *q >= '0' && *q <= '9')
        q++;
    else
        while (is_name_char(*q))
            q++;
    name->len = (size_t)(q - name->p);
    if (braced && *q++ != '}')
        return NULL;
    return q;
}

int kp_http_cv_compile(struct kp_conf *cf, const char *text, struct kp_http_cv *cv)
{
    size_t max = 1;

    for (const char *p = text; *p != '\0'; p++)
        max += *p == '$';
    cv->text = kp_conf_strdup(cf->arena, text);
    cv->parts = kp_arena_calloc(cf->arena, max * sizeof(*cv->parts));
    cv->n_parts = cv->n_vars = 0;
    const char *p = cv->text, *lit = p;
    while (*p != '\0') {
        if (*p != '$') {
            p++;
            continue;
        }
        struct kp_http_cv_part *part = &cv->parts[cv->n_parts];
        struct kp_str name;
        part->lit = (struct kp_str){lit, (size_t)(p - lit)};
        const char *next = scan_name(p + 1, &name);
        if (next == NULL)
            return kp_conf_error(cf, "the closing bracket in \"%.*s\" variable is missing",
                                 (int)name.len, name.p);
        if (name.len == 0)
            return kp_conf_error(cf, "invalid variable name in \"%s\" directive", cf->args[0]);
        int rc = kp_http_var_ref(cf, name, &part->var);
        if (rc != 0)
            return rc;
        cv->n_parts++;
        cv->n_vars++;
        p = lit = next;
    }
    cv->parts[cv->n_parts++].lit = (struct kp_str){lit, (size_t)(p - lit)};
    return 0;
}

/* --- evaluating ------------------------------------------------------------ */

struct kp_str kp_http_var_get(struct kp_http_request *r, const struct kp_http_var_ref *ref,
                              char *buf)
{
    return ref->def->get(r, ref, buf);
}

/* The slot table, taken on first use. */
static struct kp_http_var_value *slots(struct kp_http_request *r)
{
    if (r->var_values == NULL) {
        size_t n = r->n_var_slots > 0 ? r->n_var_slots : 1;
        r->var_values = kp_arena_calloc(&r->arena, n * sizeof(*r->var_values));
    }
    return r->var_values;
}

void kp_http_var_set(struct kp_http_request *r, const struct kp_http_var_def *def,
                     struct kp_str value)
{
    struct kp_http_var_value *v = &slots(r)[def->index];

    v->value = value;
    v->valid = true;
}

bool kp_http_var_stored(struct kp_http_request *r, const struct kp_http_var_def *def,
                        struct kp_str *out)
{
    if (def == NULL || def->index >= r->n_var_slots || r->var_values == NULL ||
        !r->var_values[def->index].valid)
        return false;
    *out = r->var_values[def->index].value;
    return true;
}

/* A defined variable: its stored value, or for a map the map's result
 * (computed on first use and kept unless the map is volatile). */
static struct kp_str get_slot(struct kp_http_request *r, const struct kp_http_var_ref *ref,
                              char *buf)
{
    (void)buf;
    if (ref->def->index >= r->n_var_slots)
        return KP_STR_NULL;
    const struct kp_http_var_value *v = &slots(r)[ref->def->index];
    if (!v->valid && (ref->def->flags & KP_HTTP_VAR_BY_SET)) {
        /* As nginx: warned of once per request, empty from then on. */
        if (r->loc != NULL && r->loc->uninitialized_variable_warn)
            kp_http_req_log(r, KP_LOG_WARN, 0, "using uninitialized \"%s\" variable",
                            ref->def->name);
        kp_http_var_set(r, ref->def, KP_STR(""));
    }
    return v->valid ? v->value : KP_STR_NULL;
}

void kp_http_var_captures(struct kp_http_request *r, const char *subject, const size_t *ovec,
                          unsigned n)
{
    if (n > KP_HTTP_MAX_CAPTURES)
        n = KP_HTTP_MAX_CAPTURES;
    size_t *caps = kp_arena_alloc(&r->arena, 2 * n * sizeof(*caps));
    memcpy(caps, ovec, 2 * n * sizeof(*caps));
    r->captures = caps;
    r->n_captures = n;
    r->capture_subject = subject;
}

static bool needs_escape(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f;
}

/* Append v to out (NULL: only count); returns the bytes it takes. */
static size_t put_value(char *out, struct kp_str v, enum kp_http_cv_escape esc)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (esc == KP_HTTP_CV_FIELD && ((c < 0x20 && c != '\t') || c == 0x7f))
            c = ' ';
        if (esc == KP_HTTP_CV_URL && needs_escape(c)) {
            if (out != NULL) {
                out[n] = '%';
                out[n + 1] = hex[c >> 4];
                out[n + 2] = hex[c & 15];
            }
            n += 3;
        } else {
            if (out != NULL)
                out[n] = (char)c;
            n++;
        }
    }
    return n;
}

struct kp_str kp_http_cv_eval(struct kp_http_request *r, const struct kp_http_cv *cv,
                              enum kp_http_cv_escape esc)
{
    if (cv->n_vars == 0)
        return kp_str_from(cv->text);
    /* Each value is computed once: sizes first, then the copy. */
    struct kp_str *vals = kp_arena_alloc(&r->arena, cv->n_parts * sizeof(*vals));
    size_t len = 0;
    for (size_t i = 0; i < cv->n_parts; i++) {
        const struct kp_http_cv_part *part = &cv->parts[i];
        len += part->lit.len;
        vals[i] = KP_STR_NULL;
        if (part->var.def == NULL)
            continue;
        char buf[KP_HTTP_VAR_BUF];
        vals[i] = kp_http_var_get(r, &part->var, buf);
        if (vals[i].p == buf) /* buf is reused by the next variable */
            vals[i].p = kp_arena_strndup(&r->arena, buf, vals[i].len);
        len += put_value(NULL, vals[i], esc);
    }
    char *out = kp_arena_alloc(&r->arena, len + 1), *o = out;
    for (size_t i = 0; i < cv->n_parts; i++) {
        memcpy(o, cv->parts[i].lit.p, cv->parts[i].lit.len);
        o += cv->parts[i].lit.len;
        o += put_value(o, vals[i], esc);
    }
    *o = '\0';
    return (struct kp_str){out, len};
}
