/* One serving process: HTTP contexts plugged into worker runners, one per
 * reactor thread. */
#include "kelpie/proc/serve.h"

#include <time.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/os/process.h"
#include "kelpie/proc/worker.h"
#include "kelpie/proc/model.h"
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
 * private one with a slot per thread so that its counters and the status
 * page work the same way. */
static struct kp_scoreboard *private_board(struct kp_sb_slot **slots, unsigned n)
{
    struct kp_scoreboard *sb = kp_sb_create();

    if (sb == NULL)
        return NULL;
    atomic_store(&sb->generation, 1);
    atomic_store(&sb->threads, n);
    atomic_store(&sb->master_pid, (int)getpid());
    atomic_store(&sb->start_ms, (uint64_t)time(NULL) * 1000);
    for (unsigned t = 0; t < n; t++) {
        slots[t] = kp_sb_claim(sb, 1, 0);
        atomic_store(&slots[t]->thread, t);
        atomic_store(&slots[t]->pid, (int)getpid());
        atomic_store(&slots[t]->start_ms, (uint64_t)time(NULL) * 1000);
    }
    return sb;
}

/* One reactor's worker and HTTP context. */
static void prepare(struct kp_worker *w, struct kp_http_ctx *http, const struct kp_cycle *cycle,
                    struct kp_log *log, struct kp_scoreboard *sb, struct kp_sb_slot *slot,
                    const struct kp_tpools *pools)
{
    kp_http_ctx_init(http, &cycle->http, log, slot);
    kp_http_ctx_set_pools(http, pools);
    kp_http_ctx_set_log_files(http, cycle->log_files, cycle->n_log_files);
    kp_http_ctx_set_board(http, sb);
    if (cycle->events.model == KP_MODEL_SIM_PROACTOR)
        kp_http_ctx_set_proactor(http, cycle->events.model_threads);
    w->proto = kp_http_ctx_proto(http);
    w->proto.drain = soft_drain;
}

int kp_serve_worker(const struct kp_cycle *cycle, struct kp_log *log, struct kp_scoreboard *sb,
                    struct kp_sb_slot *const *slots, unsigned index, int chan)
{
    unsigned n = cycle->core.worker_threads > 1 ? cycle->core.worker_threads : 1;
    struct kp_sb_slot **own_slots = kp_calloc(n, sizeof(*own_slots));
    struct kp_scoreboard *own = sb == NULL ? private_board(own_slots, n) : NULL;
    struct kp_worker *ws = kp_calloc(n, sizeof(*ws));
    struct kp_http_ctx *https = kp_calloc(n, sizeof(*https));
    /* Each thread stamps its lines with its own loop's clock. */
    bool threaded = kp_model_threaded(cycle);
    struct kp_log *logs = threaded ? kp_calloc(n, sizeof(*logs)) : log;
    /* Room in the descriptor table for every connection of every reactor
     * and a file or an upstream each, made while this process has one
     * thread (kp_process_reserve_fds: a table shared by pool or reactor
     * threads grows only after an RCU grace period, in the reactor's
     * accept()). Without room the table grows when needed, as before. */
    (void)kp_process_reserve_fds(2 * cycle->events.worker_connections * n + 64);
    /* thread_pool: this process's own threads, shared by its reactors. */
    struct kp_tpools pools;
    int rc = kp_tpools_start(&pools, cycle->events.thread_pools, cycle->events.n_thread_pools, log);

    for (unsigned t = 0; t < n; t++) {
        if (threaded)
            logs[t] = *log;
        ws[t] = (struct kp_worker){.cycle = cycle,
                                   .log = &logs[t],
                                   .index = index,
                                   .sb = sb ? sb : own,
                                   .slot = sb ? slots[t] : own_slots[t],
                                   .has_chan = chan >= 0,
                                   .chan = chan};
        prepare(&ws[t], &https[t], cycle, &logs[t], ws[t].sb, ws[t].slot, &pools);
    }
    if (rc == 0)
        rc = kp_model_run(ws, n, log);
    bool started = true;
    for (unsigned t = 0; t < n; t++) {
        kp_http_ctx_free(&https[t]);
        started &= ws[t].started;
    }
    kp_tpools_stop(&pools);
    if (own != NULL)
        kp_sb_destroy(own);
    if (threaded)
        kp_free(logs);
    kp_free(https);
    kp_free(ws);
    kp_free(own_slots);
    if (rc == 0)
        return 0;
    /* A worker that could not build its reactor will not do better when
     * respawned: say so, so that the master does not loop. */
    return started ? 1 : KP_EXIT_FATAL;
}
