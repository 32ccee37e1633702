/* `kelpie -s stop|quit|reopen|reload`: signal the running master named by
 * the pid file of the configuration. */
#ifndef KP_CONTROL_H
#define KP_CONTROL_H

#include <sys/types.h>

/* Map "stop"/"quit"/"reopen"/"reload" to SIGTERM/SIGQUIT/SIGUSR1/SIGHUP;
 * -EINVAL for anything else. */
int kp_control_signal_number(const char *name);

#endif
