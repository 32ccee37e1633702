/* The worker-level HTTP context's run: start and stop, the protocol
 * plug-in's hooks, draining. */
#include "kelpie/http/server.h"

#include "kelpie/util/alloc.h"
#include "kelpie/http/proactor.h"
#include "kelpie/http/regex.h"
#include "kelpie/http/request.h"

int kp_http_ctx_start(struct kp_http_ctx *ctx, struct kp_loop *loop, struct kp_conn_pool *pool)
{
    const struct kp_http_conf *http = ctx->http;
    int rc =
        kp_http_accesslog_open(&ctx->alog, http, ctx->log_files, ctx->n_log_files, loop, ctx->log);

    if (rc < 0)
        return rc;
    if (ctx->svc.pools != NULL && ctx->svc.pools->n > 0) {
        rc = kp_task_port_open(&ctx->port, loop);
        if (rc < 0) {
            kp_log_error(ctx->log, KP_LOG_ALERT, -rc, "cannot open the thread pools' eventfd");
            kp_http_accesslog_close(&ctx->alog);
            return rc;
        }
    }
    ctx->alog_open = true;
    ctx->loop = loop;
    ctx->pool = pool;
    ctx->conns = kp_calloc(pool->n, sizeof(*ctx->conns));
    ctx->scratch = kp_alloc(KP_HTTP_SCRATCH_SIZE);
    ctx->svc.clock = &loop->clock;
    ctx->svc.pid = ctx->alog.pid;
    if (http->n_regexes > 0)
        ctx->svc.match_data = kp_http_regex_match_data();
    kp_http_filecache_init(&ctx->files, http->open_file_cache_max, http->open_file_cache_valid_ms,
                           http->open_file_cache_inactive_ms);
    /* Without inotify (max_user_instances reached, no /proc) a cached file
     * is stat()ed once per turn instead: slower, never staler. */
    rc = kp_http_filecache_watch(&ctx->files, loop);
    if (rc < 0)
        kp_log_error(ctx->log, KP_LOG_INFO, -rc,
                     "cannot watch cached files with inotify, they are fstat()ed once per turn");
    if (ctx->proactor_threads > 0) {
        rc = kp_http_proactor_start(&ctx->proactor, ctx, ctx->proactor_threads,
                                    kp_http_request_processed);
        if (rc < 0) {
            kp_http_ctx_stop(ctx);
            return rc;
        }
    }
    return 0;
}

static void drop_caches(struct kp_http_ctx *ctx)
{
    kp_http_reuse_free(&ctx->reuse);
    kp_http_filecache_free(&ctx->files);
    kp_http_gzcache_free(&ctx->gz);
    kp_http_auth_cache_free(&ctx->auth);
    kp_http_docroots_free(&ctx->roots);
}

void kp_http_ctx_stop(struct kp_http_ctx *ctx)
{
    /* Every connection is closed: no request is with a handler thread. */
    kp_http_proactor_stop(ctx->proactor);
    ctx->proactor = NULL;
    if (ctx->alog_open)
        kp_http_accesslog_close(&ctx->alog);
    ctx->alog_open = false;
    kp_task_port_close(&ctx->port);
    kp_free(ctx->conns);
    kp_free(ctx->scratch);
    if (ctx->svc.match_data != NULL)
        kp_http_regex_match_data_free(ctx->svc.match_data);
    ctx->svc.match_data = NULL;
    ctx->svc.clock = NULL;
    ctx->conns = NULL;
    ctx->scratch = NULL;
    ctx->loop = NULL;
    ctx->pool = NULL;
    drop_caches(ctx);
}

void kp_http_ctx_free(struct kp_http_ctx *ctx)
{
    kp_http_ctx_stop(ctx);
}

static int on_start(void *vctx, const struct kp_proto_env *env)
{
    struct kp_http_ctx *ctx = vctx;

    ctx->start_rc = kp_http_ctx_start(ctx, env->loop, env->pool);
    return ctx->start_rc;
}

static void on_reopen(void *vctx, const struct kp_proto_env *env)
{
    struct kp_http_ctx *ctx = vctx;

    (void)env;
    if (ctx->alog_open)
        kp_http_accesslog_reopen(&ctx->alog);
}

static void on_exit(void *vctx, const struct kp_proto_env *env)
{
    (void)env;
    kp_http_ctx_stop(vctx);
}

struct kp_proto kp_http_ctx_proto(struct kp_http_ctx *ctx)
{
    return (struct kp_proto){.on_conn = kp_http_conn_init,
                             .start = on_start,
                             .reopen = on_reopen,
                             .exit = on_exit,
                             .ctx = ctx};
}

void kp_http_conn_init(void *vctx, struct kp_conn *c)
{
    struct kp_http_ctx *ctx = vctx;
    struct kp_http_conn *hc = &ctx->conns[c - ctx->pool->conns];

    *hc = (struct kp_http_conn){.c = c, .loop = ctx->loop, .ctx = ctx};
    c->data = hc;
    c->io.warm[1] = (struct kp_io_warm){hc, sizeof(*hc)};
    /* ACCEPTED and the ACTIVE gauge are the acceptor's. */
    kp_sb_count(ctx->sb, KP_SB_HANDLED, 1);
    kp_http_request_begin(hc);
}

void kp_http_ctx_drain(struct kp_http_ctx *ctx)
{
    ctx->draining = true;
    if (ctx->pool != NULL)
        kp_conn_pool_reclaim(ctx->pool, ctx->pool->n_idle);
}

void kp_http_ctx_soft_drain(struct kp_http_ctx *ctx, uint64_t period_ms)
{
    ctx->draining = true;
    if (ctx->pool == NULL)
        return;
    uint64_t deadline = ctx->loop->clock.msec + period_ms;
    for (struct kp_conn *c = ctx->pool->idle_head; c != NULL; c = c->next) {
        if (!kp_timer_armed(&c->timer) || c->timer.when > deadline)
            kp_loop_timer_add(ctx->loop, &c->timer, period_ms);
    }
}
