/* Runs a worker process's reactors under the concurrency model of
 * `events { model ...; }` (README, "Concurrency models"):
 *   reactor       worker_threads reactors (one: the process itself, more:
 *                 threads, worker_threads.h), each reading, handling and
 *                 writing its own connections;
 *   reactor_pool  a readiness thread and worker_threads pool threads
 *                 (event/handoff.h), always run as threads, even one;
 *   sim_proactor  as reactor: the hand-off to its handler threads is the
 *                 http layer's (http/offload.h), set up by serve.c. */
#ifndef KP_MODEL_H
#define KP_MODEL_H

#include <stdbool.h>

#include "kelpie/util/log.h"
#include "kelpie/proc/cycle.h"
#include "kelpie/proc/worker.h"

/* Whether the process's reactors run as threads (each then needs its own
 * log copy): more than one, or a model that always uses threads. */
bool kp_model_threaded(const struct kp_cycle *cycle);

/* Run ws[0..n-1] (filled as for kp_worker_run_threads) under the model;
 * log is the process's error log. Returns what kp_worker_run(_threads)
 * returns, or -errno when the model's own threads cannot start (logged).
 * Blocks. */
int kp_model_run(struct kp_worker *ws, unsigned n, struct kp_log *log);

#endif
