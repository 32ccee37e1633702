/* systemd's service notification protocol (sd_notify(3)), written out: one
 * datagram of "KEY=VALUE\n" lines sent to the AF_UNIX socket named by
 * $NOTIFY_SOCKET, a path or, with a leading '@', an abstract name. Without
 * $NOTIFY_SOCKET (not started by systemd as Type=notify) nothing is sent,
 * so callers need no "are we under systemd" test. No libsystemd. */
#ifndef KP_NOTIFY_H
#define KP_NOTIFY_H

#include <stdint.h>

#define KP_NOTIFY_ENV "NOTIFY_SOCKET"

/* Send state (for example "READY=1\nSTATUS=serving") as one datagram to the
 * socket in $NOTIFY_SOCKET. Does not block (MSG_DONTWAIT) and never raises
 * SIGPIPE. Returns 0 when sent or when $NOTIFY_SOCKET is unset or empty;
 * -EINVAL for a name that is neither a path nor '@'-abstract or too long
 * for sockaddr_un; else the -errno of socket/sendto. */
int kp_notify_send(const char *state);
/* CLOCK_MONOTONIC in microseconds: the MONOTONIC_USEC= value that must
 * accompany RELOADING=1 for Type=notify-reload. */
uint64_t kp_notify_monotonic_usec(void);

#endif
