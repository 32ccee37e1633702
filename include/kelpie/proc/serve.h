/* Serving HTTP in one process: the glue between a worker (reactor, pool,
 * acceptor) and the HTTP module. Used by each forked worker and by the single
 * process of `master_process off`. */
#ifndef KP_SERVE_H
#define KP_SERVE_H

#include "kelpie/proc/cycle.h"
#include "kelpie/util/log.h"
#include "kelpie/event/scoreboard.h"

/* Exit status of a worker that cannot initialise (no point respawning it). */
#define KP_EXIT_FATAL 2

/* Serve cycle's listeners until stopped by a signal, with worker_threads
 * reactors (one: in this thread, as proc/worker.h; more: one thread each,
 * as proc/worker_threads.h). sb/slots are NULL and chan is -1 in
 * single-process mode; in prefork, slots are the worker's worker_threads
 * scoreboard slots (one per thread) and chan the worker's end of its channel
 * to the master (logfiles.h). Returns a process exit status: 0 after a
 * stop, KP_EXIT_FATAL when initialisation failed, 1 otherwise. */
int kp_serve_worker(const struct kp_cycle *cycle, struct kp_log *log, struct kp_scoreboard *sb,
                    struct kp_sb_slot *const *slots, unsigned index, int chan);

#endif
