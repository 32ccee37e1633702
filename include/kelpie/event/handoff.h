/* The reactor + worker pool model (`events { model reactor_pool; }`): one
 * readiness thread per process only waits; the pool threads read, handle,
 * write and re-arm.
 *
 * Every connection of every pool thread is registered in one shared epoll
 * set with EPOLLONESHOT, tagged with the pool thread that owns it. The
 * readiness thread (kp_handoff_start) waits on that set and appends each
 * report to its owner's queue, waking the owner through an eventfd when the
 * queue was empty. A pool thread runs an ordinary loop (event/loop.h) whose
 * backend (kp_handoff_loop_init) takes its reports from that queue: the
 * loop core dispatches them, the protocol reads, processes and writes as on
 * any backend, and at the next wait the backend re-arms every connection it
 * delivered (one epoll_ctl(EPOLL_CTL_MOD) each, the model's cost per
 * request). A oneshot registration fires once until re-armed, so a
 * connection is handled by one thread at a time.
 *
 * Which pool thread: the one that accepted the connection. Each pool thread
 * accepts for itself (its listeners and its bell live in a private epoll set
 * it waits on, together with its queue's eventfd), and keeps its
 * connections: their timers, request objects, caches and access log buffer
 * are that thread's, so nothing a request touches is shared (no locks on the
 * request path; the queue is the only thing two threads touch).
 *
 * Readiness as the handlers see it is level-triggered (a re-armed
 * registration reports readiness that still exists), which every handler
 * written for poll and select already copes with. A report queued for a
 * connection that closed meanwhile may reach the connection that reused its
 * slot: a readiness that MAY be there, as the loop's contract allows. */
#ifndef KP_HANDOFF_H
#define KP_HANDOFF_H

#include <stdint.h>

#include "kelpie/util/log.h"
#include "kelpie/event/loop.h"

struct kp_handoff;

/* The shared set and one queue per pool thread (owners 0..n-1; n at most
 * 65535). Returns 0 and *out, or -errno. */
int kp_handoff_create(struct kp_handoff **out, unsigned n, const struct kp_log *log);
/* Start the readiness thread (named "readiness", every signal blocked).
 * Returns 0 or -errno (logged). */
int kp_handoff_start(struct kp_handoff *h);
/* Stop the readiness thread and wait for it; harmless if not started. Call
 * once no pool thread runs any more. */
void kp_handoff_stop(struct kp_handoff *h);
/* Stop, then release everything (NULL is harmless). */
void kp_handoff_destroy(struct kp_handoff *h);
/* Reports handed to pool threads so far (for tests and benchmarks). */
uint64_t kp_handoff_handed(const struct kp_handoff *h);

/* Build pool thread `owner`'s loop on h, as kp_loop_init does for a
 * backend of `use` (kp_loop_free releases it). Registrations with
 * KP_IO_LEVEL (listeners) go to the thread's private set; all others to the
 * shared oneshot set. Returns 0 or -errno. */
int kp_handoff_loop_init(struct kp_loop *loop, struct kp_handoff *h, unsigned owner,
                         unsigned max_fds, const struct kp_log *log);

#endif
