/* nginx's binary upgrade, and its rollback:
 *   USR2 to the master   the pid file is renamed to PID.oldbin and the binary
 *                        kelpie was started from (resolved at start, so a new
 *                        file installed over it is what runs) is executed
 *                        with the same arguments as a new master, which
 *                        inherits the listening sockets through the KELPIE
 *                        variable (os/inherit) instead of binding them; both
 *                        generations of workers serve.
 *   WINCH to the old     its workers drain as after a reload (Connection:
 *                        close on their keep-alive connections), so no
 *                        request fails; the old master stays.
 *   QUIT to the old      it exits; the new master is the server.
 *   HUP to the old       (rollback, after WINCH) its workers come back with the
 *                        configuration they had (master_reload.h); then QUIT
 *                        the new master.
 * When the new master exits, for any reason, the old one renames PID.oldbin
 * back to the pid file and logs how it ended; a new binary that cannot start
 * writes its own [emerg] lines to the error log (its stderr is the log). */
#ifndef KP_MASTER_UPGRADE_H
#define KP_MASTER_UPGRADE_H

#include <stdbool.h>
#include <sys/types.h>

#include "kelpie/proc/master_state.h"
#include "kelpie/os/inherit.h"

/* Before the process title overwrites argv and moves environ: remember the
 * executable and the arguments, whether this master is the new binary of an
 * upgrade (started by an old master: it must not daemonize, its parent
 * waits for it), and collect the sockets handed over at exec (removing
 * their variables). Sets m->upgrade. */
void kp_master_upgrade_init(struct kp_master *m, int argc, char *argv[]);
/* The sockets handed to this process at exec (by systemd or an old
 * master), collected by init; *n is set to their count. */
const struct kp_inherited *kp_master_upgrade_handed(const struct kp_master *m, size_t *n);
/* Free what init allocated. */
void kp_master_upgrade_free(struct kp_master *m);
/* True in the new master of an upgrade (KELPIE was set at its start). */
bool kp_master_upgrade_inherited(const struct kp_master *m);
/* USR2: rename the pid file and start the new binary (see above). Refused,
 * with a notice, while a new master is already running or while this
 * master's own old master is. */
void kp_master_upgrade_start(struct kp_master *m);
/* From the reaper: pid is no worker. If it is the new master, restore the
 * pid file, log its exit and tell systemd this master is the main one again.
 * Returns true if pid was the new master. */
bool kp_master_upgrade_reaped(struct kp_master *m, pid_t pid, int status);
/* Whether the service continues in another master (this one has a live new
 * binary, or is the new binary of a live old master): then a stop of this
 * master is not a stop of the service. */
bool kp_master_upgrade_handed_over(const struct kp_master *m);
/* The pid file this master owns now (PID.oldbin while a new master runs),
 * for removal at exit. */
const char *kp_master_upgrade_pidfile(const struct kp_master *m);

#endif
