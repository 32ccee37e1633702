/* One serving process: an HTTP context plugged into a worker runner. */
#include "kelpie/core/serve.h"

#include "kelpie/core/master.h"
#include "kelpie/core/worker.h"
#include "kelpie/http/server.h"

/* A reload's soft drain: idle keep-alive connections get this long to send
 * a request that is already on its way (answered with Connection: close). */
#define KP_RELOAD_DRAIN_MS 1000

static void soft_drain(void *ctx, struct kp_worker *w)
{
    (void)w;
    kp_http_ctx_soft_drain(ctx, KP_RELOAD_DRAIN_MS);
}

int kp_serve_worker(const struct kp_cycle *cycle, struct kp_log *log, struct kp_scoreboard *sb,
                    struct kp_sb_slot *slot, unsigned index)
{
    struct kp_http_ctx http;
    struct kp_worker w = {.cycle = cycle, .log = log, .index = index, .sb = sb, .slot = slot};

    kp_http_ctx_init(&http, cycle, log, slot);
    w.proto = kp_http_ctx_proto(&http);
    w.proto.drain = soft_drain;
    int rc = kp_worker_run(&w);
    kp_http_ctx_free(&http);
    if (rc == 0)
        return 0;
    /* A worker that could not build its reactor will not do better when
     * respawned: say so, so that the master does not loop. */
    return w.started ? 1 : KP_EXIT_FATAL;
}
