/* The worker-level HTTP context: what every connection of one worker shares
 * (configuration, loop, pool, error log, scoreboard slot, access logs, the
 * per-connection HTTP state array, small caches), and its setup before a
 * run. The request state machine (http/request.h) and the simulated
 * proactor (http/proactor.h) read it; its run (start, stop, drain) and the
 * entry points the reactor's runner calls are http/server.h, which stands
 * above both. */
#ifndef KP_HTTP_CTX_H
#define KP_HTTP_CTX_H

#include <stdbool.h>
#include <stddef.h>

#include "kelpie/util/log.h"
#include "kelpie/event/conn.h"
#include "kelpie/event/loop.h"
#include "kelpie/event/scoreboard.h"
#include "kelpie/event/tpool.h"
#include "kelpie/http/accesslog.h"
#include "kelpie/http/auth.h"
#include "kelpie/http/docroot.h"
#include "kelpie/http/filecache.h"
#include "kelpie/http/gzip.h"
#include "kelpie/http/req.h"
#include "kelpie/http/response.h"

struct kp_http_proactor; /* http/proactor.h */

/* Size of the worker's scratch buffer: file data read with `sendfile off`
 * goes out from here, at most this much per write. 32 KiB rather than 64:
 * a 1 MiB file with sendfile off cost 0.56x nginx's requests per server
 * CPU-second with 64 KiB writes and 1.02x with 32 KiB (tools/bench, 2
 * workers, loopback), while fewer, larger writes bought nothing. */
#define KP_HTTP_SCRATCH_SIZE 32768

/* Request objects and read buffers one worker keeps for reuse, so that a
 * keep-alive request allocates nothing while idle connections hold neither.
 * The request module alone takes from and gives to it; the worker's context
 * embeds it and releases it with kp_http_reuse_free (http/request.h). */
struct kp_http_free_buf;
struct kp_http_reuse {
    struct kp_http_request *reqs; /* linked through next */
    unsigned n_reqs;
    struct kp_http_free_buf *bufs;
    unsigned n_bufs;
    char *batch; /* one spare batch buffer (request.c), or NULL */
};

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

/* Whether responses must close their connections now. */
static inline bool kp_http_ctx_draining(const struct kp_http_ctx *ctx)
{
    return ctx->draining || (ctx->pool != NULL && ctx->pool->draining);
}

#endif
