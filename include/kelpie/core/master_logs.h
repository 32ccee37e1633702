/* Log files as the master prepares them for its workers. */
#ifndef KP_MASTER_LOGS_H
#define KP_MASTER_LOGS_H

#include "kelpie/core/master_state.h"

/* Workers drop root before they open their access logs, and reopen them
 * unprivileged on USR1: as root, create the error log and every access log
 * of m->cycle if missing and hand each to the workers' user and group (a
 * rotated, renamed file is recreated here). Failures are logged as [alert];
 * not running as root, nothing changes hands. */
void kp_master_logs_prepare(struct kp_master *m);

#endif
