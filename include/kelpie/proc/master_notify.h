/* What the master tells systemd (Type=notify / notify-reload, through
 * os/notify; nothing is sent without $NOTIFY_SOCKET):
 *   READY=1 with MAINPID= and STATUS=  the first workers are ready; a reload
 *                                     ended (applied or refused); a binary
 *                                     upgrade's new master is ready
 *   RELOADING=1 with MONOTONIC_USEC=   a reload starts (notify-reload needs both)
 *   STOPPING=1                         a stop (TERM/INT/QUIT) starts
 * STATUS= reads "generation N, W workers" (plus "D draining" while an older
 * generation finishes). A failed send is logged, never fatal. */
#ifndef KP_MASTER_NOTIFY_H
#define KP_MASTER_NOTIFY_H

#include "kelpie/proc/master_state.h"

void kp_master_notify_ready(const struct kp_master *m);
void kp_master_notify_reloading(const struct kp_master *m);
/* Not for the old or the new master of a binary upgrade while the other one
 * serves on (kp_master_upgrade_handed_over): that is no stop of the service,
 * and the caller leaves it out. */
void kp_master_notify_stopping(const struct kp_master *m);

#endif
