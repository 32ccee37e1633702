/* The worker-level HTTP context's setup (http/ctx.h): the services every
 * request's handlers are handed, and what the worker runner gives it
 * before a run. */
#include "kelpie/http/ctx.h"

void kp_http_ctx_init(struct kp_http_ctx *ctx, const struct kp_http_conf *http,
                      const struct kp_log *log, struct kp_sb_slot *sb)
{
    *ctx = (struct kp_http_ctx){.http = http, .log = log, .sb = sb, .lm = {.t = -1}};
    ctx->svc = (struct kp_http_services){.http = http,
                                         .log = log,
                                         .files = &ctx->files,
                                         .roots = &ctx->roots,
                                         .gz = &ctx->gz,
                                         .auth = &ctx->auth};
}

void kp_http_ctx_set_log_files(struct kp_http_ctx *ctx, const struct kp_log_file *files, size_t n)
{
    ctx->log_files = files;
    ctx->n_log_files = n;
}

void kp_http_ctx_set_proactor(struct kp_http_ctx *ctx, unsigned threads)
{
    ctx->proactor_threads = threads;
}

void kp_http_ctx_set_board(struct kp_http_ctx *ctx, struct kp_scoreboard *board)
{
    ctx->svc.board = board;
}

void kp_http_ctx_set_pools(struct kp_http_ctx *ctx, const struct kp_tpools *pools)
{
    ctx->svc.pools = pools;
}
