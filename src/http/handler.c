/* Request processing between the parsed head and the response: routing,
 * `return`, allow/deny, the status and static handlers, error_page and the
 * built-in pages (see handler.h for the rules). */
#include "kelpie/http/handler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kelpie/util/conf.h"
#include "kelpie/http/auth.h"
#include "kelpie/http/gzip.h"
#include "kelpie/http/limit.h"
#include "kelpie/http/limit_conn.h"
#include "kelpie/http/limit_req.h"
#include "kelpie/http/var.h"
#include "kelpie/http/location.h"
#include "kelpie/http/rewrite.h"
#include "kelpie/http/router.h"
#include "kelpie/http/realip.h"
#include "kelpie/http/req.h"
#include "kelpie/http/response.h"
#include "kelpie/http/ssl.h"
#include "kelpie/http/static.h"
#include "kelpie/http/stats.h"
#include "kelpie/http/status.h"
#include "kelpie/http/ua.h"
#include "kelpie/http/uri.h"

/* try_files moved the request to another location: run its phases. */
#define TRY_AGAIN (-1)

static bool is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Decode and normalise target (abs-path ["?" query]) into r->uri/r->args;
 * plain: the parser's head.plain_len for target (0 if not known), a path
 * with nothing to decode or resolve, which is copied without another look. */
static int set_path(struct kp_http_request *r, struct kp_str target, bool merge_slashes,
                    size_t plain)
{
    size_t size = target.len + 2;
    char *out = kp_arena_alloc(&r->arena, size);
    struct kp_str args = KP_STR_NULL;

    if (plain > 0) {
        memcpy(out, target.p, plain);
        out[plain] = '\0';
        r->uri = (struct kp_str){out, plain};
        r->args = plain < target.len ? (struct kp_str){target.p + plain + 1, target.len - plain - 1}
                                     : (struct kp_str){target.p + target.len, 0};
        return 0;
    }
    ssize_t n = kp_http_uri_normalize(target, out, size, &args, merge_slashes);

    if (n < 0)
        return -EINVAL;
    r->uri = (struct kp_str){out, (size_t)n};
    r->args = args;
    return 0;
}

/* r->uri changed: find its location again. Whatever try_files found
 * under the location left behind no longer applies (alias_add_uri). */
static void relocate(struct kp_http_request *r)
{
    r->loc = kp_http_location_find(r->srv, r->uri.p, r->uri.len, r);
    r->alias_add_uri = false;
}

/* The name that chooses the server: Host, or for a request without one
 * (HTTP/1.0) over TLS the name SNI sent, as nginx does. */
static struct kp_str request_host(const struct kp_http_request *r)
{
    char unused[KP_HTTP_VAR_BUF];

    if (r->parser.head.host.len > 0 || r->hc == NULL || r->hc->c->tls == NULL)
        return r->parser.head.host;
    return kp_http_ssl_var(r->hc->c, KP_SSL_VAR_SERVER_NAME, unused);
}

int kp_http_handler_route(struct kp_http_request *r, const struct kp_http_addr *addr)
{
    const struct kp_http_head *h = &r->parser.head;

    r->srv = kp_http_router_server(addr, request_host(r), r);
    r->loc = r->srv->loc;
    if (h->form == KP_HTTP_TARGET_ASTERISK || h->form == KP_HTTP_TARGET_AUTHORITY) {
        /* No path to map: the server level answers (405 from static). */
        r->uri =
            (struct kp_str){kp_arena_strndup(&r->arena, h->target.p, h->target.len), h->target.len};
        return 0;
    }
    /* merge_slashes of the default server: nginx reads it before the Host */
    if (set_path(r, h->path, addr->default_server->merge_slashes, h->plain_len) != 0)
        return 400;
    relocate(r);
    return 0;
}

/* arg with its variables replaced (var.h) and repeated slashes merged
 * (so that "$uri/" of "/" is "/"), in r->arena; drop_last: without the
 * value's last byte (the slash of a try_files directory candidate). */
static char *expand(struct kp_http_request *r, const struct kp_http_cv *arg, size_t *len_out,
                    bool drop_last)
{
    struct kp_str t = kp_http_cv_eval(r, arg, KP_HTTP_CV_RAW);
    char *out = kp_arena_alloc(&r->arena, t.len + 1), *o = out;

    if (drop_last && t.len > 0)
        t.len--;
    for (size_t i = 0; i < t.len; i++) {
        if (t.p[i] != '/' || o == out || o[-1] != '/')
            *o++ = t.p[i];
    }
    *o = '\0';
    *len_out = (size_t)(o - out);
    return out;
}

/* Whether candidate names a directory (dir) or a regular file here: 1 or
 * 0, or KP_HTTP_STATIC_OPEN_WAIT when its stat went to the pool. */
static int exists(struct kp_http_request *r, struct kp_str cand, bool dir)
{
    struct stat st;

    if (cand.len == 0 || !kp_http_uri_is_safe(cand))
        return 0;
    int rc = kp_http_static_stat(r, cand, &st);
    if (rc == -EINPROGRESS)
        return KP_HTTP_STATIC_OPEN_WAIT;
    if (rc != 0)
        return 0;
    return dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
}

/* Count a change of URI; false (logged) past nginx's bound of 10. */
static bool uri_change(struct kp_http_request *r, const char *what)
{
    if (++r->uri_changes <= KP_HTTP_MAX_URI_CHANGES)
        return true;
    kp_http_req_log(r, KP_LOG_ERR, 0, "rewrite or internal redirection cycle while %s \"%.*s\"",
                    what, (int)r->uri.len, r->uri.p);
    return false;
}

/* An internal redirect to the named location name ("@..."): its phases
 * run from its rewrite phase on, the URI unchanged. */
static int to_named(struct kp_http_request *r, const char *name)
{
    if (!uri_change(r, "redirect to named location"))
        return 500;
    const struct kp_http_loc_conf *l = kp_http_location_named(r->srv, name);
    if (l == NULL) {
        kp_log_error_via(kp_http_req_error_log(r), r->svc->log, KP_LOG_ERR, 0,
                         "could not find named location \"%s\"", name);
        return 500;
    }
    r->loc = l;
    r->alias_add_uri = false;
    r->internal = true;
    return TRY_AGAIN;
}

/* The last try_files argument: =CODE, a named location, or an internal
 * redirect to a URI, located again. The URI's own query replaces the
 * request's, and a URI without one leaves none, as in nginx (hence its
 * documented `/index.php?$args`). */
static int try_fallback(struct kp_http_request *r, const struct kp_http_cv *cv)
{
    const char *last = cv->text;

    if (last[0] == '=')
        return atoi(last + 1);
    if (last[0] == '@')
        return to_named(r, last);
    if (!uri_change(r, "internally redirecting to"))
        return 500;
    r->internal = true;
    size_t len;
    char *to = expand(r, cv, &len, false);
    char *q = memchr(to, '?', len);
    r->args = (struct kp_str){"", 0};
    if (q != NULL) {
        r->args = (struct kp_str){q + 1, len - (size_t)(q + 1 - to)};
        *q = '\0';
        len = (size_t)(q - to);
    }
    if (!kp_http_uri_is_safe((struct kp_str){to, len}))
        return 500;
    r->uri = (struct kp_str){to, len};
    relocate(r);
    return TRY_AGAIN;
}

/* try_files: the first candidate that exists becomes the URI this location
 * serves (0), else the fallback decides. A candidate written with a final
 * slash ("$uri/") names a directory and serves the name without that slash,
 * as in nginx: for "/docs" that is "/docs" (which the static handler
 * redirects to "/docs/"), for "/docs/" it is "/docs/" (its index). In a
 * regex location with an alias, a candidate is looked up under the alias
 * (which alone names the whole file otherwise) and a file found is served
 * from there, as by nginx; a directory leaves the URI as it was. */
static int try_files(struct kp_http_request *r)
{
    const struct kp_http_loc_conf *loc = r->loc;

    for (size_t i = 0; i + 1 < loc->n_try_files; i++) {
        const struct kp_http_cv *cv = &loc->try_files[i];
        size_t tlen = strlen(cv->text);
        bool dir = tlen > 1 && cv->text[tlen - 1] == '/';
        struct kp_str cand;
        cand.p = expand(r, cv, &cand.len, dir);
        r->alias_add_uri = loc->alias_value != NULL;
        int found = exists(r, cand, dir);
        r->alias_add_uri = false;
        if (found == KP_HTTP_STATIC_OPEN_WAIT) {
            r->open_task->in_try_files = true; /* run again from the first candidate */
            return found;
        }
        if (found && dir && loc->alias_value != NULL)
            return 0;
        if (found) {
            r->uri = cand;
            r->alias_add_uri = loc->alias_value != NULL;
            return 0;
        }
    }
    return try_fallback(r, &loc->try_files[loc->n_try_files - 1]);
}

/* The rewrite phase of the location found for r->uri (rewrite.h), looked
 * up again as long as its directives change the URI. Returns 0 or a
 * status. */
static int location_rewrite(struct kp_http_request *r)
{
    for (;;) {
        int st = kp_http_rewrite_run(r, r->loc, true);
        if (st != KP_HTTP_REWRITE_AGAIN)
            return st;
        if (!uri_change(r, "processing"))
            return 500;
        relocate(r);
    }
}

/* The server level's rewrite directives, before a location is chosen (the
 * one routing found is chosen again when they ran). */
static int server_rewrite(struct kp_http_request *r)
{
    const struct kp_http_loc_conf *srv = r->srv->loc;

    if (srv->n_rw_ops == 0)
        return 0;
    int st = kp_http_rewrite_run(r, srv, false);
    if (st > 0)
        return st;
    if (r->uri.len > 0 && r->uri.p[0] == '/')
        relocate(r);
    return 0;
}

/* The preaccess phase of r's location, once per request: realip by the
 * location's settings (unless the server level's replaced the address
 * already), limit_req, then limit_conn (nginx's order). Returns 0 to go on, a status to answer with
 * (limit_req_status, limit_conn_status, or 500), or KP_HTTP_LIMIT_DELAY
 * when may_delay (else a delay is skipped). Never blocks: the delay is the
 * caller's timer. */
static int preaccess(struct kp_http_request *r, bool may_delay)
{
    kp_http_realip_apply(r, r->loc);
    int st = kp_http_limit_req_run(r, may_delay);

    return st != 0 ? st : kp_http_limit_conn_run(r);
}

/* The rewrite and preaccess phases of r->loc. An `internal` location is
 * 404 to a request that was not redirected, checked before its rewrite
 * phase as nginx does; a method limit_except restricts skips the rewrite
 * directives (and try_files), as in nginx. Only the first response of a request may wait for
 * limit_req, not an error page's. */
static int before_access(struct kp_http_request *r)
{
    if (r->loc->internal && !r->internal)
        return 404;
    int st = kp_http_auth_limited(r) ? 0 : location_rewrite(r);
    return st != 0 ? st : preaccess(r, r->internal_redirects == 0);
}

/* Where location_phases starts: the rewrite phase; the rest of the
 * preaccess phase after limit_req's delay (limit_conn; limit_req ran
 * already); try_files or the content handler again after an open the
 * pool made (their earlier phases ran). */
enum phase { FROM_REWRITE, FROM_DELAY, FROM_TRY_FILES, FROM_CONTENT };

/* The phases of r->loc from `from`, again after each internal redirect
 * (try_files, an absolute index) from the rewrite phase. */
static int location_phases(struct kp_http_request *r, enum phase from)
{
    for (;; from = FROM_REWRITE) {
        int st = 0;
        if (from <= FROM_DELAY) {
            st = from == FROM_DELAY ? preaccess(r, false) : before_access(r);
            if (st != 0)
                return st;
            st = kp_http_auth_access(r); /* allow/deny, auth_basic, satisfy (auth.h) */
            if (st != 0)
                return st;
        }
        if (from <= FROM_TRY_FILES)
            st = r->loc->n_try_files > 0 && !kp_http_auth_limited(r) ? try_files(r) : 0;
        if (st == TRY_AGAIN)
            continue;
        if (st != 0)
            return st;
        if (r->loc->status)
            return kp_http_stats_handler(r);
        st = kp_http_static_handler(r);
        if (st != KP_HTTP_STATIC_REDIRECT)
            return st;
        if (!uri_change(r, "internally redirecting to"))
            return 500;
        r->internal = true;
        relocate(r);
    }
}

/* The phases in nginx's order: the server level's rewrite directives
 * (before a location is chosen), then the location's (location_phases). */
static int content(struct kp_http_request *r)
{
    /* TRACE would echo the request (cookies, credentials) back: refused
     * wherever it lands, `return` locations included, as nginx does. */
    if (r->parser.head.method == KP_HTTP_METHOD_TRACE) {
        r->resp.allow = KP_STR("GET, HEAD");
        return 405;
    }
    int st = server_rewrite(r);

    if (st != 0)
        return st;
    return location_phases(r, FROM_REWRITE);
}

/* Whether the handler left status without content of its own, so that an
 * error page or the built-in page must provide it. */
static bool needs_page(const struct kp_http_request *r, int status)
{
    return status >= 300 && !kp_http_status_no_body(status) && r->resp.body.p == NULL &&
           r->resp.fd < 0;
}

/* nginx's internal codes 494-497 (handler.h), all answered 400. */
static bool is_internal_400(int status)
{
    return status >= KP_HTTP_HEADER_TOO_LARGE && status <= KP_HTTP_PLAIN_TO_HTTPS;
}

/* msie_refresh: MSIE gets a 301 or 302 as a page that refreshes to the
 * Location at once (with the bytes a meta attribute or old MSIE could
 * misread escaped), the field itself dropped, as nginx does. */
static void msie_refresh(struct kp_http_request *r)
{
    static const char head[] = "<html><head><meta http-equiv=\"Refresh\" content=\"0; URL=";
    static const char tail[] = "\"></head><body></body></html>\r\n";
    static const char hex[] = "0123456789ABCDEF";
    struct kp_http_response *resp = &r->resp;
    struct kp_str loc = resp->location;
    char *out = kp_arena_alloc(&r->arena, sizeof(head) + 3 * loc.len + sizeof(tail)), *o = out;

    memcpy(o, head, sizeof(head) - 1);
    o += sizeof(head) - 1;
    for (size_t i = 0; i < loc.len; i++) {
        unsigned char c = (unsigned char)loc.p[i];
        if (c > ' ' && c < 0x7f && strchr("\"'<>\\^`{|~", c) == NULL) {
            *o++ = (char)c;
            continue;
        }
        *o++ = '%';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 0xf];
    }
    memcpy(o, tail, sizeof(tail) - 1);
    o += sizeof(tail) - 1;
    resp->status = 200;
    resp->location = (struct kp_str){NULL, 0};
    resp->body = (struct kp_str){out, (size_t)(o - out)};
}

/* msie_padding: MSIE and Chrome show a page of their own instead of an
 * error body under 512 bytes; six comment lines (402 bytes, nginx's
 * length) make any built-in page long enough. */
static void msie_pad(struct kp_http_request *r)
{
    static const char line[] =
        "<!-- padding, or MSIE and Chrome show their own pages instead -->\r\n";
    struct kp_str *body = &r->resp.body;
    size_t n = 6 * (sizeof(line) - 1);
    char *out = kp_arena_alloc(&r->arena, body->len + n);

    memcpy(out, body->p, body->len);
    for (size_t i = 0; i < 6; i++)
        memcpy(out + body->len + i * (sizeof(line) - 1), line, sizeof(line) - 1);
    *body = (struct kp_str){out, body->len + n};
}

/* What msie_refresh and msie_padding make of the built-in page for status,
 * as the User-Agent asks. */
static void builtin_for_browser(struct kp_http_request *r, int status)
{
    const struct kp_str *ua = kp_http_parse_value(&r->parser.head, KP_HTTP_HDR_USER_AGENT);
    const struct kp_http_loc_conf *loc = r->loc;

    if (ua == NULL)
        return;
    if ((status == 301 || status == 302) && loc->msie_refresh && r->resp.location.len > 0 &&
        kp_http_ua_msie(*ua))
        msie_refresh(r);
    else if (status >= 400 && loc->msie_padding && r->resp.body.len > 0 &&
             (kp_http_ua_msie(*ua) || kp_http_ua_chrome(*ua)))
        msie_pad(r);
}

/* The built-in page for status; Location, Allow, WWW-Authenticate and
 * Content-Range set by the handler are kept (a redirect, a 405, a 401, a
 * 416 need them). */
static void builtin(struct kp_http_request *r, int status)
{
    struct kp_http_response *resp = &r->resp;
    struct kp_str location = resp->location, allow = resp->allow, range = resp->content_range;
    struct kp_str challenge = resp->www_authenticate;

    kp_http_response_init(resp);
    resp->status = status;
    resp->location = location;
    resp->allow = allow;
    resp->www_authenticate = challenge;
    resp->content_range = range;
    resp->body = kp_http_status_page(status, r->loc->server_tokens);
    if (is_internal_400(status))
        resp->status = 400;
    builtin_for_browser(r, status);
    if (resp->body.len > 0)
        resp->content_type = KP_STR("text/html");
}

static const struct kp_http_error_page *find_error_page(const struct kp_http_loc_conf *loc,
                                                        int status)
{
    for (size_t i = 0; i < loc->n_error_pages; i++) {
        if (loc->error_pages[i].code == status)
            return &loc->error_pages[i];
    }
    return NULL;
}

/* An error page is a whole representation: validators and ranges sent for
 * the original URI must not turn it into a 304, 412 or 206. */
static void drop_conditionals(struct kp_http_head *h)
{
    static const enum kp_http_hdr ids[] = {
        KP_HTTP_HDR_IF_MATCH,          KP_HTTP_HDR_IF_NONE_MATCH,
        KP_HTTP_HDR_IF_MODIFIED_SINCE, KP_HTTP_HDR_IF_UNMODIFIED_SINCE,
        KP_HTTP_HDR_IF_RANGE,          KP_HTTP_HDR_RANGE,
    };

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        h->known[ids[i]] = -1;
        for (size_t j = 0; j < h->nfields; j++) {
            if (h->fields[j].id == ids[i])
                h->fields[j].id = KP_HTTP_HDR_OTHER;
        }
    }
}

/* The internal redirect of an error page to uri: a named location (its
 * phases from its rewrite phase), or a URI routed again in this server.
 * Returns the status the target answers with. */
static int error_page_target(struct kp_http_request *r, struct kp_str uri)
{
    if (uri.p[0] == '@') {
        int st = to_named(r, uri.p);
        return st == TRY_AGAIN ? location_phases(r, FROM_REWRITE) : st;
    }
    if (set_path(r, uri, true, 0) != 0 || !uri_change(r, "internally redirecting to"))
        return 500;
    r->internal = true;
    relocate(r);
    return content(r);
}

/* The status of an error page that is a URL: a redirect code given as
 * =CODE, else 302 (nginx sends no Location with a non-redirect status). */
static int redirect_code(int response_code)
{
    switch (response_code) {
    case 301:
    case 302:
    case 303:
    case 307:
    case 308:
        return response_code;
    default:
        return 302;
    }
}

/* Serve ep for status. What the target answers decides, as in nginx: its
 * own redirect or error (a `return 301`, a missing page) is sent as such,
 * with the built-in page (error pages are not recursive); content it
 * produces is sent with status, =CODE, or with its own status for "=".
 * A Location set before (a `return 302` whose 302 has an error page)
 * stays unless the target sets its own. */
static void special(struct kp_http_request *r, int status);

static void error_page(struct kp_http_request *r, const struct kp_http_error_page *ep, int status)
{
    struct kp_http_head *h = &r->parser.head;
    struct kp_str location = r->resp.location;

    r->internal_redirects++;
    /* A 401's challenge stays on its error page, as nginx keeps it: the
     * client must still learn how to authenticate. */
    struct kp_str challenge = r->resp.www_authenticate;
    kp_http_response_init(&r->resp);
    r->resp.www_authenticate = challenge;
    struct kp_str uri = ep->uri_value != NULL ? kp_http_cv_eval(r, ep->uri_value, KP_HTTP_CV_URL)
                                              : kp_str_from(ep->uri);
    if (is_url(uri.p)) {
        r->resp.location = uri;
        builtin(r, redirect_code(ep->response_code));
        return;
    }
    /* RFC 9110 section 9.3.2: a HEAD stays a HEAD; anything else reads the page. */
    if (h->method != KP_HTTP_METHOD_HEAD)
        h->method = KP_HTTP_METHOD_GET;
    drop_conditionals(h);
    int st = uri.len > 0 ? error_page_target(r, uri) : 500;
    if (r->resp.location.p == NULL && (st / 100 == 3 || !needs_page(r, st)))
        r->resp.location = location;
    if (st == KP_HTTP_CLOSE_SILENTLY) {
        r->resp.status = st;
    } else if (needs_page(r, st)) {
        special(r, st); /* its own page only under recursive_error_pages */
    } else {
        /* 494-497 are nginx's internal codes: their page goes out as 400. */
        r->resp.status = ep->response_code > 0                    ? ep->response_code
                         : ep->response_code == KP_HTTP_EP_ANSWER ? st
                         : is_internal_400(status)                ? 400
                                                                  : status;
        /* A page sent with an error status is no version of a resource to
         * revalidate or fetch in parts: no Last-Modified, no Accept-Ranges
         * (nginx sends them with 200, 206 and 304 only). */
        if (r->resp.status != 200) {
            r->resp.last_modified = (time_t)-1;
            r->resp.accept_ranges = false;
        }
    }
}

/* As nginx: the errors after which the connection is not kept alive,
 * whatever page answers them (a request in doubt, a server in trouble). */
static bool closes_connection(int status)
{
    switch (status) {
    case 400:
    case 413:
    case 414:
    case 494:
    case 495:
    case 496:
    case 497:
    case 500:
    case 501:
        return true;
    default:
        return false;
    }
}

static void special(struct kp_http_request *r, int status)
{
    const struct kp_http_error_page *ep = NULL;

    if (closes_connection(status))
        r->close = true;
    /* As nginx: once a location without recursive_error_pages has had an
     * error to page, later errors (an error page's own) get the built-in
     * page; recursive ones are bounded by the limit on URI changes. 495-497
     * may have pages too (`error_page 497 https://$host$request_uri`). */
    if (!r->error_pages_done && r->internal_redirects < KP_HTTP_MAX_URI_CHANGES) {
        ep = find_error_page(r->loc, status);
        r->error_pages_done = r->loc->n_error_pages > 0 && !r->loc->recursive_error_pages;
    }
    if (ep == NULL)
        builtin(r, status);
    else
        error_page(r, ep, status);
}

/* The response for what the phases answered. */
static void finish(struct kp_http_request *r, int st)
{
    /* The caller's timer, or the pool's open, resumes it. */
    if (st == KP_HTTP_LIMIT_DELAY || st == KP_HTTP_STATIC_OPEN_WAIT) {
        r->resp.status = st;
        return;
    }
    if (st != KP_HTTP_CLOSE_SILENTLY && needs_page(r, st))
        special(r, st);
    else
        r->resp.status = st;
    kp_http_gzip_memory(r);
}

void kp_http_handler_run(struct kp_http_request *r)
{
    finish(r, content(r));
}

void kp_http_handler_resume(struct kp_http_request *r)
{
    finish(r, location_phases(r, FROM_DELAY));
}

void kp_http_handler_open_done(struct kp_http_request *r)
{
    struct kp_http_open_task *t = r->open_task;
    bool try_again = t->in_try_files;

    t->in_try_files = false;
    t->done = true;
    finish(r, location_phases(r, try_again ? FROM_TRY_FILES : FROM_CONTENT));
}

void kp_http_handler_error(struct kp_http_request *r, int status)
{
    kp_http_response_init(&r->resp);
    special(r, status);
    kp_http_gzip_memory(r);
}
