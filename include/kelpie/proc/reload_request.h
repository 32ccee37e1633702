/* `kelpie -s reload` and its answer: unlike the other -s signals it waits
 * for the master to say whether the new configuration took effect. Both
 * sides of that exchange share what is defined here: the requester
 * (kp_reload_request_run), the master that answers (master_reload.h), and a
 * single process, which answers that it cannot reload. */
#ifndef KP_RELOAD_REQUEST_H
#define KP_RELOAD_REQUEST_H

#include <sys/types.h>

#include "kelpie/os/signal.h"

/* The cookie a `kelpie -s reload` puts in its SIGHUP (sigqueue) so that the
 * master knows whom to answer; the answer is SIGUSR2 with the outcome. */
#define KP_RELOAD_COOKIE KP_SIGNAL_RELOAD_COOKIE

/* Reload outcome codes carried in the SIGUSR2 answer's value. */
enum kp_reload_result {
    KP_RELOAD_OK = 0,
    KP_RELOAD_ECONF = 1,    /* the configuration is invalid */
    KP_RELOAD_ELISTEN = 2,  /* a listening socket could not be opened */
    KP_RELOAD_EWORKERS = 3, /* the new workers did not start */
    KP_RELOAD_EBUSY = 4,    /* shutting down */
    KP_RELOAD_ENOTSUP = 5,  /* master_process off: a single process cannot reload */
    KP_RELOAD_ELOGS = 6,    /* an access log could not be opened */
};

/* The value of the SIGUSR2 answer: the result, and an errno for details. */
#define KP_RELOAD_ANSWER(result, err) ((int)(result) << 16 | ((err)&0xffff))

/* Send SIGHUP with KP_RELOAD_COOKIE (sigqueue) to pid and wait (at most
 * 60 s) for the master's SIGUSR2 answer. Prints the outcome on stderr on
 * failure. Returns the exit status for main: 0 when the new configuration
 * is in effect, 1 otherwise. Blocks. */
int kp_reload_request_run(pid_t pid);

#endif
