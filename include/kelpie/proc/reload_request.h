/* `kelpie -s reload`, the requesting side: unlike the other -s signals it
 * waits for the master to say whether the new configuration took effect. */
#ifndef KP_RELOAD_REQUEST_H
#define KP_RELOAD_REQUEST_H

#include <sys/types.h>

/* Send SIGHUP with KP_RELOAD_COOKIE (sigqueue) to pid and wait (at most
 * 60 s) for the master's SIGUSR2 answer. Prints the outcome on stderr on
 * failure. Returns the exit status for main: 0 when the new configuration
 * is in effect, 1 otherwise. Blocks. */
int kp_reload_request_run(pid_t pid);

#endif
