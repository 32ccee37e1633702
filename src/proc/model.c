/* The concurrency model's runner (see model.h). */
#include "kelpie/proc/model.h"

#include "kelpie/event/handoff.h"
#include "kelpie/proc/worker_threads.h"

bool kp_model_threaded(const struct kp_cycle *cycle)
{
    return cycle->core.worker_threads > 1 || cycle->events.model == KP_MODEL_REACTOR_POOL;
}

/* The readiness thread lives as long as the pool threads: started before
 * them, stopped once every one has returned (none registers anything
 * after that). */
static int run_reactor_pool(struct kp_worker *ws, unsigned n, struct kp_log *log)
{
    struct kp_handoff *h;
    int rc = kp_handoff_create(&h, n, log);

    if (rc < 0)
        return rc;
    rc = kp_handoff_start(h);
    if (rc == 0) {
        for (unsigned i = 0; i < n; i++)
            ws[i].handoff = h;
        rc = kp_worker_run_threads(ws, n, log);
    }
    kp_handoff_destroy(h);
    return rc;
}

int kp_model_run(struct kp_worker *ws, unsigned n, struct kp_log *log)
{
    if (ws[0].cycle->events.model == KP_MODEL_REACTOR_POOL)
        return run_reactor_pool(ws, n, log);
    return n > 1 ? kp_worker_run_threads(ws, n, log) : kp_worker_run(&ws[0]);
}
