/* One serving process: an HTTP context plugged into a worker runner. */
#include "kelpie/proc/serve.h"

#include <time.h>
#include <unistd.h>

#include "kelpie/proc/worker.h"
#include "kelpie/http/server.h"

/* A reload's soft drain: idle keep-alive connections get this long to send
 * a request that is already on its way (answered with Connection: close). */
#define KP_RELOAD_DRAIN_MS 1000

static void soft_drain(void *ctx, const struct kp_proto_env *env)
{
    (void)env;
    kp_http_ctx_soft_drain(ctx, KP_RELOAD_DRAIN_MS);
}

/* A single process has no master and no shared scoreboard; it gets a
 * private one with one slot so that its counters and the status page work
 * the same way. */
static struct kp_sb_slot *private_board(struct kp_scoreboard **sb)
{
    *sb = kp_sb_create();
    if (*sb == NULL)
        return NULL;
    struct kp_sb_slot *slot = kp_sb_claim(*sb, 1, 0);
    atomic_store(&(*sb)->generation, 1);
    atomic_store(&(*sb)->master_pid, (int)getpid());
    atomic_store(&(*sb)->start_ms, (uint64_t)time(NULL) * 1000);
    atomic_store(&slot->pid, (int)getpid());
    atomic_store(&slot->start_ms, (uint64_t)time(NULL) * 1000);
    return slot;
}

int kp_serve_worker(const struct kp_cycle *cycle, struct kp_log *log, struct kp_scoreboard *sb,
                    struct kp_sb_slot *slot, unsigned index, int chan)
{
    struct kp_http_ctx http;
    struct kp_scoreboard *own = NULL;

    if (sb == NULL)
        slot = private_board(&own);
    struct kp_worker w = {.cycle = cycle,
                          .log = log,
                          .index = index,
                          .sb = sb ? sb : own,
                          .slot = slot,
                          .has_chan = chan >= 0,
                          .chan = chan};
    kp_http_ctx_init(&http, &cycle->http, log, slot);
    kp_http_ctx_set_log_files(&http, cycle->log_files, cycle->n_log_files);
    kp_http_ctx_set_board(&http, w.sb);
    w.proto = kp_http_ctx_proto(&http);
    w.proto.drain = soft_drain;
    int rc = kp_worker_run(&w);
    kp_http_ctx_free(&http);
    if (own != NULL)
        kp_sb_destroy(own);
    if (rc == 0)
        return 0;
    /* A worker that could not build its reactor will not do better when
     * respawned: say so, so that the master does not loop. */
    return w.started ? 1 : KP_EXIT_FATAL;
}
