/* The rewrite module (see rewrite.h): its directives at configuration time
 * and the rewrite phase at run time. */
#include "kelpie/http/rewrite.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/http/mime.h"
#include "kelpie/http/req.h"
#include "kelpie/http/status.h"
#include "kelpie/http/uri.h"
#include "kelpie/http/var.h"

/* --- configuration ------------------------------------------------------- */

static struct kp_http_rw_op *add_op(struct kp_conf *cf, struct kp_http_loc_conf *loc,
                                    enum kp_http_rw_kind kind)
{
    struct kp_http_rw_op *op = KP_CONF_PUSH(cf->arena, loc->rw_ops, loc->n_rw_ops);

    op->kind = kind;
    return op;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int rewrite_flag(struct kp_conf *cf, const char *s, enum kp_http_rw_flag *flag)
{
    static const char *const names[] = {"", "last", "break", "redirect", "permanent"};

    for (size_t i = 1; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *flag = (enum kp_http_rw_flag)i;
            return 0;
        }
    }
    return kp_conf_error(cf, "invalid parameter \"%s\"", s);
}

int kp_http_rewrite_conf_rewrite(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_rw_op *op = add_op(cf, conf, KP_RW_REWRITE);
    const char *to = cf->args[2];

    (void)cmd;
    if (to[0] == '\0')
        return kp_conf_error(cf, "empty replacement");
    if (cf->nargs == 4 && rewrite_flag(cf, cf->args[3], &op->flag) != 0)
        return -EINVAL;
    op->redirect = op->flag == KP_RW_FLAG_REDIRECT || op->flag == KP_RW_FLAG_PERMANENT ||
                   starts_with(to, "http://") || starts_with(to, "https://") ||
                   starts_with(to, "$scheme");
    op->drop_args = to[0] != '\0' && to[strlen(to) - 1] == '?';
    int rc = kp_http_regex_compile(cf, cf->args[1], false, &op->regex);
    return rc != 0 ? rc : kp_http_cv_compile(cf, to, &op->value);
}

int kp_http_rewrite_conf_set(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    const char *name = cf->args[1];

    (void)cmd;
    if (name[0] != '$' || name[1] == '\0')
        return kp_conf_error(cf, "invalid variable name \"%s\"", name);
    struct kp_http_rw_op *op = add_op(cf, conf, KP_RW_SET);
    struct kp_http_var_def *def = kp_http_var_define(cf, name + 1, NULL);
    if (def == NULL)
        return -EINVAL;
    def->flags |= KP_HTTP_VAR_BY_SET;
    op->var = def;
    return kp_http_cv_compile(cf, cf->args[2], &op->value);
}

int kp_http_rewrite_conf_break(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cmd;
    add_op(cf, conf, KP_RW_BREAK);
    return 0;
}

int kp_http_rewrite_conf_return(struct kp_conf *cf, struct kp_http_loc_conf *block, int code,
                                const char *text)
{
    struct kp_http_rw_op *op = add_op(cf, block, KP_RW_RETURN);

    op->code = code;
    /* An empty text is none, as nginx reads it: `return 404 "";` gets the
     * error page, `return 444 "";` closes, `return 301 "";` is a bare 301. */
    op->has_text = text != NULL && text[0] != '\0';
    return op->has_text ? kp_http_cv_compile(cf, text, &op->value) : 0;
}

/* The words of the condition without the parentheses: "($a", "=", "b)" or
 * "(", "$a", ")" alike, into w (room for 4). A word that was only a
 * parenthesis goes; a quoted empty word ($a = "") stays an operand.
 * Returns the count, or 0 when the parentheses are missing or there are
 * too many words. */
static size_t cond_words(struct kp_conf *cf, char **w)
{
    size_t n = 0, last = cf->nargs - 1;
    char *first = cf->args[1], *end = cf->args[last];
    size_t len = strlen(end);

    if (first[0] != '(' || len == 0 || end[len - 1] != ')')
        return 0;
    end[len - 1] = '\0';
    cf->args[1] = first + 1; /* may be the same word as end */
    for (size_t i = 1; i <= last; i++) {
        bool paren_only = (i == 1 && first[1] == '\0') || (i == last && len == 1);
        if (paren_only && cf->args[i][0] == '\0')
            continue;
        if (n == 4)
            return 0;
        w[n++] = cf->args[i];
    }
    return n;
}

/* The operator between the two operands. */
static int binary(struct kp_conf *cf, struct kp_http_rw_cond *c, const char *op, const char *right)
{
    bool icase = false;

    c->negate = op[0] == '!';
    op += c->negate;
    if (strcmp(op, "=") == 0) {
        c->test = KP_RW_TEST_EQ;
        return kp_http_cv_compile(cf, right, &c->right);
    }
    if (strcmp(op, "~") == 0 || (icase = strcmp(op, "~*") == 0)) {
        c->test = KP_RW_TEST_REGEX;
        return kp_http_regex_compile(cf, right, icase, &c->regex);
    }
    return kp_conf_error(cf, "unexpected \"%s\" in condition", op - c->negate);
}

static int file_test(struct kp_conf *cf, struct kp_http_rw_cond *c, const char *op,
                     const char *path)
{
    static const char tests[] = "fdex";
    const char *t = op[0] == '!' ? op + 1 : op;
    const char *at = t[0] == '-' && t[1] != '\0' && t[2] == '\0' ? strchr(tests, t[1]) : NULL;

    if (at == NULL)
        return kp_conf_error(cf, "invalid condition \"%s\"", op);
    c->negate = op[0] == '!';
    c->test = (enum kp_http_rw_test)(KP_RW_TEST_FILE + (at - tests));
    return kp_http_cv_compile(cf, path, &c->left);
}

int kp_http_rewrite_conf_if(struct kp_conf *cf, struct kp_http_loc_conf *loc,
                            const struct kp_http_loc_conf *block)
{
    char *w[5];
    size_t n = cond_words(cf, w);
    struct kp_http_rw_op *op = add_op(cf, loc, KP_RW_IF);
    struct kp_http_rw_cond *c = &op->cond;

    op->block = block;
    if (n == 0 || n > 3)
        return kp_conf_error(cf, "invalid condition \"%s\"", cf->args[1]);
    if (w[0][0] != '$')
        return n == 2 ? file_test(cf, c, w[0], w[1])
                      : kp_conf_error(cf, "invalid condition \"%s\"", w[0]);
    int rc = kp_http_cv_compile(cf, w[0], &c->left);
    if (rc != 0 || n == 1)
        return rc;
    if (n == 2)
        return kp_conf_error(cf, "invalid condition \"%s\"", w[1]);
    return binary(cf, c, w[1], w[2]);
}

/* --- run time -------------------------------------------------------------- */

int kp_http_rewrite_return(struct kp_http_request *r, int code, const struct kp_http_cv *text)
{
    bool redirect = code == 301 || code == 302 || code == 303 || code == 307 || code == 308;

    /* nginx ends a request that a bare `return 408;` or `return 499;`
     * answers as one answered 444: the connection closes without a
     * response, and the access log keeps the code. */
    if (text == NULL && (code == 408 || code == 499)) {
        r->closed_status = code;
        return KP_HTTP_CLOSE_SILENTLY;
    }
    /* A 1xx is no final response: the client still waits for one, and
     * would read the next request's as this one's. nginx sends it with
     * Content-Type, Content-Length and the text as if final, which the
     * client reads as the start of the next response; kelpie sends the
     * bare status line and closes the connection. */
    if (code < 200)
        r->close = true;
    /* A code below 400 without text, other than a redirect, is an empty
     * body typed as any other (nginx): `return 200;` and `return 306;` say
     * Content-Type too; a body, though empty, is no error page's to fill. */
    if (text == NULL && code >= 200 && code < 400 && !redirect && !kp_http_status_no_body(code)) {
        r->resp.content_type = kp_http_mime_type(r->loc, r->uri);
        r->resp.body = KP_STR("");
    }
    /* A redirect without a URL has an empty Location, as nginx sends it
     * (an empty URI reference is valid: RFC 3986 section 4.2). */
    if (text == NULL) {
        if (redirect)
            r->resp.location = KP_STR("");
        return code;
    }
    struct kp_str v = kp_http_cv_eval(r, text, redirect ? KP_HTTP_CV_URL : KP_HTTP_CV_RAW);
    if (v.p == NULL)
        v = KP_STR("");
    if (redirect) {
        r->resp.location = v;
        return code;
    }
    /* A 204 (or 304) has no content: its text is dropped, and it gets no
     * Content-Type either, as from nginx. */
    if (kp_http_status_no_body(code))
        return code;
    /* A 444 with a text (a variable's empty value included) is answered
     * with it, as nginx does: only a bare 444 closes silently. */
    r->resp.body = v;
    /* As nginx: the type of the URI's extension (`return 200 "..."` in
     * `location = /robots.txt` is text/plain), else default_type. */
    r->resp.content_type = kp_http_mime_type(r->loc, r->uri);
    return code;
}

/* rewrite_log's lines, nginx's words: whether a regex (of a rewrite or an
 * if) matched its subject. */
static void log_match(struct kp_http_request *r, const struct kp_http_regex *re, struct kp_str v,
                      bool matched)
{
    if (r->loc == NULL || !r->loc->rewrite_log)
        return;
    kp_http_req_log(r, KP_LOG_NOTICE, 0, "\"%s\" %s \"%.*s\"", re->source,
                    matched ? "matches" : "does not match", (int)v.len, v.p);
}

static bool file_holds(enum kp_http_rw_test t, struct kp_str path)
{
    struct stat st;

    if (stat(path.p, &st) != 0)
        return false;
    switch (t) {
    case KP_RW_TEST_FILE:
        return S_ISREG(st.st_mode);
    case KP_RW_TEST_DIR:
        return S_ISDIR(st.st_mode);
    case KP_RW_TEST_EXEC:
        return access(path.p, X_OK) == 0;
    default:
        return true;
    }
}

static bool holds(struct kp_http_request *r, const struct kp_http_rw_cond *c)
{
    struct kp_str v = kp_http_cv_eval(r, &c->left, KP_HTTP_CV_RAW);
    bool yes;

    switch (c->test) {
    case KP_RW_TEST_VAR:
        yes = v.len > 0 && !(v.len == 1 && v.p[0] == '0');
        break;
    case KP_RW_TEST_EQ:
        yes = kp_str_eq(v, kp_http_cv_eval(r, &c->right, KP_HTTP_CV_RAW));
        break;
    case KP_RW_TEST_REGEX:
        yes = kp_http_regex_exec(r, c->regex, v) == 1;
        log_match(r, c->regex, v, yes);
        break;
    default:
        yes = file_holds(c->test, v);
        break;
    }
    return yes != c->negate;
}

/* A rewrite's replacement as nginx builds it. Whether its text has
 * arguments is the template's business: only the template's own first '?'
 * starts them (*args points past it; NULL: none), a '?' that a value brings
 * belongs to the path. A capture matched the decoded path, so when the
 * request's path came percent-encoded (or with a '+') it is encoded again as
 * an argument is wherever a decoded byte could change the meaning: after the
 * '?' and anywhere in a redirect. A redirect's other values are encoded as
 * any Location is; a template ending in '?' leaves that '?' out. */
struct expansion {
    struct kp_str text;
    const char *args; /* inside text, or NULL */
};

static bool path_was_encoded(const struct kp_http_request *r)
{
    struct kp_str p = r->parser.head.path.len > 0 ? r->parser.head.path : r->parser.head.target;

    for (size_t i = 0; i < p.len && p.p[i] != '?'; i++) {
        if (p.p[i] == '%' || p.p[i] == '+')
            return true;
    }
    return false;
}

/* The bytes nginx percent-encodes in an argument. */
static bool arg_unsafe(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f || strchr("\"#%&+;<>?\\^`{|}", c) != NULL;
}

static size_t put_encoded(char *o, struct kp_str v, bool (*unsafe)(unsigned char))
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (unsafe == NULL || !unsafe(c)) {
            o[n++] = (char)c;
            continue;
        }
        o[n++] = '%';
        o[n++] = hex[c >> 4];
        o[n++] = hex[c & 15];
    }
    return n;
}

static bool location_unsafe(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f;
}

static bool is_capture_ref(const struct kp_http_var_ref *ref)
{
    return ref->def != NULL && strcmp(ref->def->name, "0") == 0;
}

static struct expansion expand(struct kp_http_request *r, const struct kp_http_rw_op *op)
{
    const struct kp_http_cv *cv = &op->value;
    bool encoded = path_was_encoded(r);
    size_t len = 0;
    struct kp_str *vals = kp_arena_alloc(&r->arena, cv->n_parts * sizeof(*vals));

    for (size_t i = 0; i < cv->n_parts; i++) {
        char buf[KP_HTTP_VAR_BUF];
        vals[i] = KP_STR_NULL;
        len += cv->parts[i].lit.len;
        if (cv->parts[i].var.def == NULL)
            continue;
        vals[i] = kp_http_var_get(r, &cv->parts[i].var, buf);
        if (vals[i].p == buf) /* buf is reused by the next variable */
            vals[i].p = kp_arena_strndup(&r->arena, buf, vals[i].len);
        len += 3 * vals[i].len;
    }
    char *out = kp_arena_alloc(&r->arena, len + 1), *o = out;
    const char *args = NULL;
    for (size_t i = 0; i < cv->n_parts; i++) {
        struct kp_str lit = cv->parts[i].lit;
        if (op->drop_args && i == cv->n_parts - 1 && lit.len > 0)
            lit.len--;
        const char *q = args == NULL ? memchr(lit.p, '?', lit.len) : NULL;
        memcpy(o, lit.p, lit.len);
        if (q != NULL)
            args = o + (q - lit.p) + 1;
        o += lit.len;
        if (cv->parts[i].var.def == NULL)
            continue;
        bool (*unsafe)(unsigned char) = op->redirect ? location_unsafe : NULL;
        if (is_capture_ref(&cv->parts[i].var) && encoded && (op->redirect || args != NULL))
            unsafe = arg_unsafe;
        o += put_encoded(o, vals[i], unsafe);
    }
    *o = '\0';
    return (struct expansion){{out, (size_t)(o - out)}, args};
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* nginx decodes a redirect's path once more, but only the escapes of
 * printable bytes above '%' (a "%20" or "%0A" stays), and nothing after the
 * first '?', literal or decoded. */
static struct kp_str decode_redirect(struct kp_str s)
{
    char *d = (char *)s.p;
    size_t i = 0, n = 0;

    while (i < s.len) {
        char c = s.p[i];
        int hi = i + 2 < s.len && c == '%' ? hex_value(s.p[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(s.p[i + 2]) : -1;
        if (lo >= 0 && hi * 16 + lo > '%' && hi * 16 + lo < 0x7f) {
            c = (char)(hi * 16 + lo);
            i += 3;
        } else {
            i++;
        }
        d[n++] = c;
        if (c == '?')
            break;
    }
    memmove(d + n, s.p + i, s.len - i);
    n += s.len - i;
    d[n] = '\0';
    return (struct kp_str){d, n};
}

/* The new URI and arguments from a replacement (see rewrite.h): the
 * request's arguments follow the template's, unless it ended with '?'. */
static void apply(struct kp_http_request *r, const struct kp_http_rw_op *op, struct expansion e)
{
    bool keep = !op->drop_args;

    if (e.args == NULL) {
        r->uri = e.text;
        if (!keep)
            r->args = KP_STR_NULL;
        return;
    }
    struct kp_str args = {e.args, e.text.len - (size_t)(e.args - e.text.p)};
    r->uri = (struct kp_str){kp_arena_strndup(&r->arena, e.text.p, (size_t)(e.args - 1 - e.text.p)),
                             (size_t)(e.args - 1 - e.text.p)};
    if (keep && r->args.len > 0) {
        size_t len = args.len + 1 + r->args.len;
        char *a = kp_arena_alloc(&r->arena, len + 1);
        memcpy(a, args.p, args.len);
        a[args.len] = '&';
        memcpy(a + args.len + 1, r->args.p, r->args.len);
        a[len] = '\0';
        args = (struct kp_str){a, len};
    }
    r->args = args;
}

/* A redirect's Location: the replacement, with the request's arguments
 * unless the template ended with '?'. */
static int redirect(struct kp_http_request *r, const struct kp_http_rw_op *op, struct expansion e)
{
    struct kp_str to = decode_redirect(e.text);

    if (!op->drop_args && r->args.len > 0) {
        size_t len = to.len + 1 + r->args.len;
        char *l = kp_arena_alloc(&r->arena, len + 1);
        memcpy(l, to.p, to.len);
        l[to.len] = e.args != NULL ? '&' : '?';
        memcpy(l + to.len + 1, r->args.p, r->args.len);
        l[len] = '\0';
        to = (struct kp_str){l, len};
    }
    r->resp.location = to;
    return op->flag == KP_RW_FLAG_PERMANENT ? 301 : 302;
}

/* One rewrite: KP_HTTP_REWRITE_NEXT (no match, or no flag), AGAIN (last),
 * a status (redirect), or 1 for break. *changed says the URI changed. */
static int rewrite(struct kp_http_request *r, const struct kp_http_rw_op *op, bool *changed)
{
    bool matched = kp_http_regex_exec(r, op->regex, r->uri) == 1;
    log_match(r, op->regex, r->uri, matched);
    if (!matched)
        return KP_HTTP_REWRITE_NEXT;
    struct expansion e = expand(r, op);
    bool logged = r->loc != NULL && r->loc->rewrite_log;
    if (op->redirect) {
        int code = redirect(r, op, e);
        if (logged)
            kp_http_req_log(r, KP_LOG_NOTICE, 0, "rewritten redirect: \"%.*s\"",
                            (int)r->resp.location.len, r->resp.location.p);
        return code;
    }
    apply(r, op, e);
    if (logged)
        kp_http_req_log(r, KP_LOG_NOTICE, 0, "rewritten data: \"%.*s\", args: \"%.*s\"",
                        (int)r->uri.len, r->uri.p, (int)r->args.len, r->args.p);
    if (r->uri.len == 0) {
        kp_http_req_log(r, KP_LOG_ERR, 0, "the rewritten URI has a zero length");
        return 500;
    }
    /* "/b/" + an empty capture's "/x" is "/b//x", which nginx serves: only
     * a dot segment (or NUL) could climb out of the root. */
    if (!kp_http_uri_no_dot_segments(r->uri))
        return 500;
    *changed = true;
    r->internal = true; /* nginx counts a rewritten request as an internal one */
    if (op->flag == KP_RW_FLAG_LAST)
        return KP_HTTP_REWRITE_AGAIN;
    return op->flag == KP_RW_FLAG_BREAK ? 1 : KP_HTTP_REWRITE_NEXT;
}

/* Run ops; 1 means "stop here" (break) to the caller. */
static int run(struct kp_http_request *r, const struct kp_http_loc_conf *script, bool location,
               bool *changed)
{
    for (size_t i = 0; i < script->n_rw_ops; i++) {
        const struct kp_http_rw_op *op = &script->rw_ops[i];
        int rc = KP_HTTP_REWRITE_NEXT;
        switch (op->kind) {
        case KP_RW_REWRITE:
            rc = rewrite(r, op, changed);
            break;
        case KP_RW_SET:
            kp_http_var_set(r, op->var, kp_http_cv_eval(r, &op->value, KP_HTTP_CV_RAW));
            break;
        case KP_RW_BREAK:
            return 1;
        case KP_RW_RETURN:
            return kp_http_rewrite_return(r, op->code, op->has_text ? &op->value : NULL);
        case KP_RW_IF:
            if (!holds(r, &op->cond))
                break;
            if (location)
                r->loc = op->block;
            rc = run(r, op->block, location, changed);
            break;
        }
        if (rc != KP_HTTP_REWRITE_NEXT)
            return rc;
    }
    return KP_HTTP_REWRITE_NEXT;
}

int kp_http_rewrite_run(struct kp_http_request *r, const struct kp_http_loc_conf *script,
                        bool location)
{
    bool changed = false;

    if (script->n_rw_ops == 0)
        return KP_HTTP_REWRITE_NEXT;
    int rc = run(r, script, location, &changed);
    if (rc == 1) /* break: stay, with whatever the URI became */
        return KP_HTTP_REWRITE_NEXT;
    if (rc == KP_HTTP_REWRITE_NEXT && changed)
        return KP_HTTP_REWRITE_AGAIN;
    return rc;
}
