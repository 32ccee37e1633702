/* Many reactors in one process (worker_threads N > 1): N workers
 * (proc/worker.h), each run by a thread of its own, and the process's main
 * thread in charge of signals.
 *
 * What the threads share is read-only once they run: the configuration
 * (cycle), the listening sockets, the scoreboard (each thread writes only its
 * own slot) and the log descriptors (each thread has its own struct kp_log
 * copy, with its loop's clock; a line is one write() on O_APPEND). Everything
 * a request touches hangs off the thread's worker and protocol context.
 *
 * Accepting, `accept=self`: every thread accepts for itself.
 * A shared listener is watched by every thread's epoll with EPOLLEXCLUSIVE
 * (`accept_mutex off`), or the accept mutex goes round all reactors of all
 * processes, each thread competing with its own thread id and scoreboard
 * slot as a worker process does (`accept_mutex on`); with `reuseport`, each
 * thread has a socket of its own (worker * worker_threads + thread).
 * `accept=handoff` (the default, chosen by measurement: BENCHMARKS.md):
 * thread 0 alone accepts (competing with the other
 * processes as a worker process does; one reuseport socket per process)
 * and hands the connections round (proc/worker_handoff.h).
 *
 * Signals: the main thread blocks them in every thread and waits for them
 * with ppoll. It logs each once and hands it on as a request bit
 * (KP_WORKER_REQ_*) plus a ring of the thread's eventfd bell:
 *   SIGTERM, SIGINT  every thread stops fast;
 *   SIGQUIT          every thread quits gracefully (worker_shutdown_timeout
 *                    runs in each); with a master, once every thread has
 *                    stopped accepting, the main thread closes the copies of
 *                    the listening sockets;
 *   SIGUSR1          every thread runs the protocol's reopen hook (flushing
 *                    its buffered access log lines into the old file), then
 *                    the main thread reopens the error log (or receives the
 *                    reopened files from the master);
 *   SIGHUP           prefork: every thread drains for the reload, then the
 *                    copies are closed as for SIGQUIT.
 * Each thread is named "reactor N" and, with worker_cpu_affinity, pins
 * itself as reactor worker * worker_threads + N (the process is not pinned).
 * A thread whose run fails makes the others stop; a thread that crashes
 * takes the process down, and the master respawns it like any worker. */
#ifndef KP_WORKER_THREADS_H
#define KP_WORKER_THREADS_H

#include "kelpie/util/log.h"
#include "kelpie/proc/worker.h"
#include "kelpie/proc/worker_handoff.h"

/* Run ws[0..n-1] (filled as for kp_worker_run, each with its own protocol
 * context, log copy and slot), one thread each, until they all return;
 * signals go to the calling thread as described above. log is the
 * process's error log (the threads' copies share its descriptors). Returns
 * 0 when every run returned 0, else the first failure (-errno; a thread
 * that could not be created counts as one). Blocks. */
int kp_worker_run_threads(struct kp_worker *ws, unsigned n, struct kp_log *log);

#endif
