/* The watchdog: a worker whose heartbeat in the scoreboard has stopped for
 * worker_watchdog_timeout (an endless loop, a blocking call, SIGSTOP, a
 * debugger) is killed with SIGKILL and logged as [alert]; reaping it then
 * releases the accept mutex it may hold and respawns it like any worker that
 * died, so only its own connections are lost. */
#ifndef KP_MASTER_WATCHDOG_H
#define KP_MASTER_WATCHDOG_H

#include <stdint.h>

#include "kelpie/proc/master_state.h"

/* Check every live worker and kill the frozen ones, once each: silent since
 * its last heartbeat or, if it never beat, since its fork. Returns how long the caller
 * may sleep before the next check, in ms, or -1 with the watchdog off. */
int64_t kp_master_watchdog_check(struct kp_master *m);

#endif
