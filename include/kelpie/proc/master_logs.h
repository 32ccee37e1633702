/* SIGUSR1 in the master: log rotation for itself and its workers. */
#ifndef KP_MASTER_LOGS_H
#define KP_MASTER_LOGS_H

#include "kelpie/proc/master_state.h"

/* Reopen the error log and every access log of m->cycle under their
 * descriptor numbers, send the new descriptors to each worker of the current
 * generation over its channel, then send SIGUSR1 to every worker (which
 * flushes its buffers and takes them over; see logfiles.h). Workers of an
 * older generation, draining, keep writing to the old files. Failures are
 * logged as [alert]. */
void kp_master_logs_reopen(struct kp_master *m);

#endif
