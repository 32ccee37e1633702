/* The simulated proactor (`events { model sim_proactor threads=N; }`): the
 * reactor reads, parses and writes; a complete request goes to one of N
 * handler threads, which runs the content phase (routing, rewrites, access
 * checks, the static file lookup, the response head's fields and a small
 * body, error pages) and hands the request back; the reactor then writes
 * the response. A connection's requests go one at a time (nothing more is
 * parsed while one is away), so pipelined responses leave in order.
 *
 * What a handler thread touches is its own: a copy of the request services
 * (http/req.h) with its own open-file, document root, gzip and password
 * caches and regex match data, its own error log copy, and a copy of the
 * reactor's clock taken when the request was handed over (so that the
 * caches see the reactor's clock turns). Cleanups a handler registered in
 * the request's arena (the open-file cache's references, say) run in the
 * reactor when the request ends, under the handler thread's lock, which
 * that thread holds while it runs a handler. */
#ifndef KP_HTTP_PROACTOR_H
#define KP_HTTP_PROACTOR_H

#include "kelpie/event/loop.h"
#include "kelpie/http/req.h"

struct kp_http_ctx;
struct kp_http_proactor;

/* What the reactor does with a connection whose request is back from a
 * handler thread (the request state machine's kp_http_request_processed,
 * http/request.h): called from the loop. */
typedef void (*kp_http_proactor_done_fn)(struct kp_http_conn *hc);

/* Start `threads` handler threads for ctx's reactor (ctx started: its loop,
 * configuration and log); done is called for each request handed back.
 * Returns 0 and *out, or -errno (logged). */
int kp_http_proactor_start(struct kp_http_proactor **out, struct kp_http_ctx *ctx, unsigned threads,
                           kp_http_proactor_done_fn done);
/* Once no request is away (kp_http_proactor_busy() is 0): join the threads
 * and release their caches (NULL is harmless). */
void kp_http_proactor_stop(struct kp_http_proactor *p);
/* Requests handed over and not yet back. */
unsigned kp_http_proactor_busy(const struct kp_http_proactor *p);

/* Hand hc's request over to run its handler (after_delay: limit_req's delay
 * is over, kp_http_handler_resume instead of kp_http_handler_run). The
 * connection is parked (hc->away) until the start's done is called for it
 * from the loop. */
void kp_http_proactor_submit(struct kp_http_proactor *p, struct kp_http_conn *hc, bool after_delay);
/* The connection must close while its request is away: wait for the
 * handler to return; hc is then the reactor's again, and
 * done is not called. */
void kp_http_proactor_reclaim(struct kp_http_proactor *p, struct kp_http_conn *hc);

#endif
