/* The worker-level HTTP context's life and the entry points the reactor's
 * runner calls (event/proto.h). The context itself, what every connection
 * of one worker shares (configuration, loop, pool, error log, scoreboard
 * slot, access logs, the per-connection HTTP state array, small caches), is
 * http/ctx.h; this module wires it to the request state machine
 * (http/request.h) and the simulated proactor (http/proactor.h).
 *
 * Wiring (as the worker runner, proc/worker.h, does it):
 *
 *     struct kp_http_ctx http;
 *     kp_http_ctx_init(&http, &cycle->http, log, slot);   // slot may be NULL
 *     kp_http_ctx_set_log_files(&http, files, n);  // opened by the master; optional
 *     kp_http_ctx_set_board(&http, sb);            // for `status;`; may be NULL
 *     w.proto = kp_http_ctx_proto(&http);
 *     int rc = kp_worker_run(&w);                  // start/reopen/exit hooks
 *     if (http.start_rc < 0) ...                   // the worker could not start HTTP
 *     kp_http_ctx_free(&http);
 *
 * Draining (graceful quit now, zero-downtime reload later). Either way, once
 * draining, no connection is kept alive: a request in flight is finished and
 * answered with "Connection: close", and a connection that finishes a
 * response is closed instead of going idle. The two differ in what happens
 * to the connections idle at that moment (waiting in keep-alive, or
 * accepted and waiting for their first byte):
 *   kp_http_ctx_drain       closes them at once (graceful quit; the worker
 *                           runner does the same when pool.draining is set,
 *                           which kelpie honours like ctx->draining);
 *   kp_http_ctx_soft_drain  leaves them open for a short period, so that a
 *                           request already on its way is still answered
 *                           (with Connection: close); each is closed when
 *                           its own timer (keep-alive or header timeout) or
 *                           the period ends, whichever comes first (reload).
 * Neither stops accepting: the caller pauses the acceptor. */
#ifndef KP_SERVER_H
#define KP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "kelpie/util/log.h"
#include "kelpie/event/conn.h"
#include "kelpie/event/proto.h"
#include "kelpie/event/scoreboard.h"
#include "kelpie/event/tpool.h"
#include "kelpie/http/conf.h"
#include "kelpie/http/ctx.h"

/* The protocol plug-in (event/proto.h), all hooks with ctx as their context:
 *   on_conn  kp_http_conn_init;
 *   start    kp_http_ctx_start with the runner's loop and pool; if that
 *            fails (an access log cannot be opened; logged), ctx->start_rc
 *            keeps the -errno and the hook returns it, so that nothing is
 *            served;
 *   reopen   the access logs (log rotation);
 *   exit     kp_http_ctx_stop.
 * No drain hook: the runner sets one if it wants a soft drain
 * (kp_http_ctx_soft_drain). */
struct kp_proto kp_http_ctx_proto(struct kp_http_ctx *ctx);

/* Bind ctx to the worker's loop and pool (pool->n connections), allocate the
 * per-connection state and scratch buffer, open the access logs and the
 * thread pools' port. Returns 0
 * or -errno (logged; nothing is left allocated). Blocking: opens files. */
int kp_http_ctx_start(struct kp_http_ctx *ctx, struct kp_loop *loop, struct kp_conn_pool *pool);

/* After every connection was closed: flush and close the access logs, close
 * the thread pools' port and release what kp_http_ctx_start took. The loop
 * must still exist. */
void kp_http_ctx_stop(struct kp_http_ctx *ctx);

/* Release everything ctx still holds (kp_http_ctx_stop first if needed).
 * Connections must all be closed. */
void kp_http_ctx_free(struct kp_http_ctx *ctx);

/* The kp_accept_conn_fn: take over an accepted connection (vctx is the
 * struct kp_http_ctx). It waits for its first byte with no buffer and no
 * request, for client_header_timeout of the address's default server. */
void kp_http_conn_init(void *vctx, struct kp_conn *c);

/* Hard drain: set ctx->draining and close every idle connection now. */
void kp_http_ctx_drain(struct kp_http_ctx *ctx);

/* Soft drain: set ctx->draining and give each idle connection at most
 * period_ms more (see the top of this file). */
void kp_http_ctx_soft_drain(struct kp_http_ctx *ctx, uint64_t period_ms);

#endif
