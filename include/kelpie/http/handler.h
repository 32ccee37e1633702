/* What to answer: the request-processing phases between a parsed head and a
 * response ready to be written. No socket I/O happens here (the state
 * machine in request.c does it); the static handler may touch files.
 *
 *   route    server by Host (router.h), the path decoded and normalised
 *            (uri.h), the location (http/conf.h);
 *   run      in nginx's phase order: `return` at server level (before
 *            locations, like nginx's server rewrite phase), then the
 *            location's `return` (its rewrite phase, so a `return` is not
 *            subject to allow/deny, as in nginx), then the access phase
 *            (the location's allow/deny rules, access.h: 403 when refused,
 *            logged at error level), then try_files (the first candidate,
 *            variables replaced (http/var.h), that is a regular file, or a directory
 *            when it ends in '/', becomes the URI served by this location;
 *            else the last argument: =CODE, a named location `@name`, or
 *            a URI the request is routed to again, keeping its query unless
 *            the URI has one), then the content handler: the status page
 *            for `status;` (stats.h), else the static handler (an absolute
 *            `index` routes the request again). An `internal` location is
 *            404 unless the request was internally redirected (or
 *            rewritten); internal redirects and URI rewrites together are
 *            bounded by KP_HTTP_MAX_URI_CHANGES (then 500);
 *   special  an error or redirect status without a body of its own becomes
 *            the `error_page` for it (an internal redirect: to a named
 *            location, or routed again in the same server; served as GET,
 *            with conditional and Range fields ignored). Content the target
 *            produces is sent with the original code, `=CODE`, or for a
 *            bare `=` the target's own status; a target's own redirect or
 *            error is sent as such with the built-in page; a Location set
 *            before stays unless the target sets one. A URI starting with
 *            http:// or https:// is a 302, or `=CODE`. Without an
 *            error_page, the built-in page. error_page applies once per
 *            request, as nginx does without recursive_error_pages.
 *
 * OPTIONS * and CONNECT host:port have no path: they go to the server level
 * and the static handler answers 405 (Allow: GET, HEAD), as nginx's static
 * content does. */
#ifndef KP_HANDLER_H
#define KP_HANDLER_H

#include "kelpie/http/conf.h"
#include "kelpie/http/req.h"

/* How many internal redirects and URI rewrites one request may take (nginx
 * allows 10): the next one is a 500. */
#define KP_HTTP_MAX_URI_CHANGES 10

/* Choose r->srv among addr's servers by the request's host, decode and
 * normalise the path into r->uri (NUL-terminated, in r->arena) and r->args,
 * and choose r->loc. Returns 0, or 400 for a path that does not normalise
 * (r->srv and r->loc are then still set, r->loc at the server level). */
int kp_http_handler_route(struct kp_http_request *r, const struct kp_http_addr *addr);

/* Fill r->resp completely for a routed request (its body, if any, already
 * consumed). r->resp.status is the final status; KP_HTTP_CLOSE_SILENTLY
 * means no response at all; KP_HTTP_LIMIT_DELAY (http/limit.h) and
 * KP_HTTP_STATIC_OPEN_WAIT (http/static.h) mean not yet. */
void kp_http_handler_run(struct kp_http_request *r);

/* Go on with a request limit_req delayed (r->resp.status was
 * KP_HTTP_LIMIT_DELAY, http/limit.h): its access phase and what follows,
 * filling r->resp as kp_http_handler_run does. */
void kp_http_handler_resume(struct kp_http_request *r);

/* Go on with a request whose handler stopped for an open a pool thread
 * made (r->resp.status was KP_HTTP_STATIC_OPEN_WAIT, http/static.h; the
 * result is in r->open_task): from where it stopped (try_files, from its
 * first candidate, or the content handler), filling r->resp as
 * kp_http_handler_run does. It may stop again for another open. */
void kp_http_handler_open_done(struct kp_http_request *r);

/* Fill r->resp for an error found outside any handler (parse errors, 408,
 * 413, 501): the error_page for status in r->loc, else the built-in page.
 * r->srv and r->loc must be set. Fields of r->resp already set are dropped. */
void kp_http_handler_error(struct kp_http_request *r, int status);

#endif
