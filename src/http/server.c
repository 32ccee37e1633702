/* The worker-level HTTP context: lifetime, worker hooks, draining, and the
 * small caches of request objects and read buffers that keep a keep-alive
 * request free of allocator calls while idle connections hold neither. */
#include "kelpie/http/server.h"

#include "kelpie/util/alloc.h"
#include "kelpie/http/regex.h"

/* A cached read buffer, stored inside the buffer itself. */
struct kp_http_free_buf {
    struct kp_http_free_buf *next;
    size_t size;
};

void kp_http_ctx_init(struct kp_http_ctx *ctx, const struct kp_http_conf *http,
                      const struct kp_log *log, struct kp_sb_slot *sb)
{
    *ctx = (struct kp_http_ctx){.http = http, .log = log, .sb = sb, .lm = {.t = -1}};
}

void kp_http_ctx_set_log_files(struct kp_http_ctx *ctx, const struct kp_log_file *files, size_t n)
{
    ctx->log_files = files;
    ctx->n_log_files = n;
}

void kp_http_ctx_set_board(struct kp_http_ctx *ctx, struct kp_scoreboard *board)
{
    ctx->board = board;
}

int kp_http_ctx_start(struct kp_http_ctx *ctx, struct kp_loop *loop, struct kp_conn_pool *pool)
{
    const struct kp_http_conf *http = ctx->http;
    int rc =
        kp_http_accesslog_open(&ctx->alog, http, ctx->log_files, ctx->n_log_files, loop, ctx->log);

    if (rc < 0)
        return rc;
    ctx->alog_open = true;
    ctx->loop = loop;
    ctx->pool = pool;
    ctx->conns = kp_calloc(pool->n, sizeof(*ctx->conns));
    ctx->scratch = kp_alloc(KP_HTTP_SCRATCH_SIZE);
    if (http->n_regexes > 0)
        ctx->match_data = kp_http_regex_match_data();
    kp_http_filecache_init(&ctx->files, http->open_file_cache_max, http->open_file_cache_valid_ms,
                           http->open_file_cache_inactive_ms);
    return 0;
}

static void drop_caches(struct kp_http_ctx *ctx)
{
    while (ctx->free_reqs != NULL) {
        struct kp_http_request *r = ctx->free_reqs;
        ctx->free_reqs = r->next;
        kp_arena_destroy(&r->arena);
        kp_free(r);
    }
    while (ctx->free_bufs != NULL) {
        struct kp_http_free_buf *b = ctx->free_bufs;
        ctx->free_bufs = b->next;
        kp_free(b);
    }
    ctx->n_free_reqs = ctx->n_free_bufs = 0;
    kp_http_filecache_free(&ctx->files);
    kp_http_gzcache_free(&ctx->gz);
    kp_http_auth_cache_free(&ctx->auth);
    kp_http_docroots_free(&ctx->roots);
}

void kp_http_ctx_stop(struct kp_http_ctx *ctx)
{
    if (ctx->alog_open)
        kp_http_accesslog_close(&ctx->alog);
    ctx->alog_open = false;
    kp_free(ctx->conns);
    kp_free(ctx->scratch);
    if (ctx->match_data != NULL)
        kp_http_regex_match_data_free(ctx->match_data);
    ctx->match_data = NULL;
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

struct kp_http_request *kp_http_ctx_take_request(struct kp_http_ctx *ctx)
{
    struct kp_http_request *r = ctx->free_reqs;

    if (r != NULL) {
        ctx->free_reqs = r->next;
        ctx->n_free_reqs--;
        return r;
    }
    r = kp_alloc(sizeof(*r));
    kp_arena_init(&r->arena, KP_HTTP_ARENA_BLOCK);
    return r;
}

void kp_http_ctx_give_request(struct kp_http_ctx *ctx, struct kp_http_request *r)
{
    kp_arena_reset(&r->arena);
    if (ctx->n_free_reqs < KP_HTTP_CACHE_MAX) {
        r->next = ctx->free_reqs;
        ctx->free_reqs = r;
        ctx->n_free_reqs++;
        return;
    }
    kp_arena_destroy(&r->arena);
    kp_free(r);
}

char *kp_http_ctx_take_buf(struct kp_http_ctx *ctx, size_t size)
{
    struct kp_http_free_buf *b = ctx->free_bufs;

    if (b != NULL) {
        ctx->free_bufs = b->next;
        ctx->n_free_bufs--;
        if (b->size == size)
            return (char *)b;
        /* Another size (servers differ): make room for the current one. */
        kp_free(b);
    }
    return kp_alloc(size);
}

void kp_http_ctx_give_buf(struct kp_http_ctx *ctx, char *buf, size_t size)
{
    if (size > KP_HTTP_CACHE_BUF_MAX || ctx->n_free_bufs >= KP_HTTP_CACHE_MAX) {
        kp_free(buf);
        return;
    }
    struct kp_http_free_buf *b = (struct kp_http_free_buf *)(void *)buf;
    b->next = ctx->free_bufs;
    b->size = size;
    ctx->free_bufs = b;
    ctx->n_free_bufs++;
}
