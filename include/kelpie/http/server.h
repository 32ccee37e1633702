/* The worker-level HTTP context: what every connection of one worker shares
 * (configuration, loop, pool, error log, scoreboard slot, access logs, the
 * per-connection HTTP state array, small caches) and the entry points the
 * reactor's runner calls (event/proto.h).
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kelpie/util/log.h"
#include "kelpie/event/conn.h"
#include "kelpie/event/loop.h"
#include "kelpie/event/proto.h"
#include "kelpie/event/scoreboard.h"
#include "kelpie/event/tpool.h"
#include "kelpie/http/accesslog.h"
#include "kelpie/http/auth.h"
#include "kelpie/http/docroot.h"
#include "kelpie/http/filecache.h"
#include "kelpie/http/gzip.h"
#include "kelpie/http/proactor.h"
#include "kelpie/http/request.h"
#include "kelpie/http/response.h"

/* Size of the worker's scratch buffer: file data read with `sendfile off`
 * goes out from here, at most this much per write. 32 KiB rather than 64:
 * a 1 MiB file with sendfile off cost 0.56x nginx's requests per server
 * CPU-second with 64 KiB writes and 1.02x with 32 KiB (tools/bench, 2
 * workers, loopback), while fewer, larger writes bought nothing. */
#define KP_HTTP_SCRATCH_SIZE 32768

struct kp_http_ctx {
    const struct kp_http_conf *http;
    const struct kp_log *log;
    const struct kp_log_file *log_files; /* opened ahead for the access logs; may be NULL */
    size_t n_log_files;
    struct kp_sb_slot *sb;       /* this worker's counters; NULL: none */
    struct kp_http_services svc; /* what every request's handlers may use (r->svc) */
    struct kp_http_reuse reuse;  /* free requests and buffers: request.c's alone */
    /* Set by kp_http_ctx_start (the worker's loop and pool). */
    struct kp_loop *loop;
    struct kp_conn_pool *pool;
    struct kp_http_conn *conns; /* one per pool connection, same index */
    struct kp_http_accesslog alog;
    bool alog_open;
    int start_rc;                   /* the start hook's kp_http_ctx_start result */
    bool draining;                  /* no more keep-alive (see above) */
    char *scratch;                  /* KP_HTTP_SCRATCH_SIZE bytes */
    struct kp_http_date_cache lm;   /* Last-Modified text of the last file */
    struct kp_http_head_memo head;  /* the last response head (response.h) */
    struct kp_http_docroots roots;  /* open document roots (docroot.h) */
    struct kp_http_filecache files; /* open files (filecache.h) */
    struct kp_http_gzcache gz;      /* compressed files (gzip.h) */
    struct kp_http_auth_cache auth; /* parsed password files (auth.h) */
    /* Speculative first reads after accept, and how many found the request
     * there (request.c decides from them whether to keep trying). */
    unsigned probes, probe_hits;
    /* aio threads: this reactor's port for the finished tasks of the
     * process's thread pools (svc.pools); open while pools exist. */
    struct kp_task_port port;
    /* The simulated proactor: handler threads to start (0: none, the
     * handlers run in the reactor), and the running pool (http/proactor.h). */
    unsigned proactor_threads;
    struct kp_http_proactor *proactor;
};

/* `model sim_proactor threads=N`: run request handlers in N threads of
 * this reactor's own (http/proactor.h) from the next start on; 0 (the
 * default): in the reactor. */
void kp_http_ctx_set_proactor(struct kp_http_ctx *ctx, unsigned threads);

/* Prepare ctx for one worker run over http (which must outlive it). log is
 * the error log; sb the worker's scoreboard slot or NULL. ctx must not move
 * afterwards: its services point into it. Allocates nothing. */
void kp_http_ctx_init(struct kp_http_ctx *ctx, const struct kp_http_conf *http,
                      const struct kp_log *log, struct kp_sb_slot *sb);

/* The access log files opened ahead (by the master; util/log.h), which the
 * access logs write through instead of opening their paths; they must
 * outlive ctx. None by default. */
void kp_http_ctx_set_log_files(struct kp_http_ctx *ctx, const struct kp_log_file *files, size_t n);

/* The scoreboard the status endpoint reports (every worker's slot, the
 * master's counters); it must outlive ctx. NULL (the default): `status;`
 * answers 503. */
void kp_http_ctx_set_board(struct kp_http_ctx *ctx, struct kp_scoreboard *board);

/* The worker process's thread pools (event/tpool.h), which `aio threads`
 * hands file reads and sendfile to; they must outlive ctx. None by default:
 * a location with aio then reads inline. */
void kp_http_ctx_set_pools(struct kp_http_ctx *ctx, const struct kp_tpools *pools);

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

/* Whether responses must close their connections now. */
static inline bool kp_http_ctx_draining(const struct kp_http_ctx *ctx)
{
    return ctx->draining || (ctx->pool != NULL && ctx->pool->draining);
}

#endif
