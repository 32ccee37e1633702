/* Logging to the local syslog socket, nginx's `syslog:` log target:
 *
 *   error_log  syslog:server=unix:PATH[,facility=F][,tag=T][,nohostname] [LEVEL];
 *   access_log syslog:server=unix:PATH[,facility=F][,severity=S][,tag=T][,nohostname] [FORMAT];
 *
 * Only a UNIX-domain datagram socket (such as /dev/log) is a server: an IP
 * address is refused when the configuration loads. Each message is one
 * datagram in RFC 3164's form, "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MESSAGE"
 * (without HOSTNAME under nohostname), PRI = facility * 8 + severity.
 * Defaults: facility local7, severity info (an access_log's; an error_log
 * message has its own level's severity, and severity= is ignored there, as in
 * nginx), tag "kelpie".
 *
 * The socket is made when the configuration loads, so it exists before the
 * workers are forked; messages are sent to the path each time without
 * connecting (a syslog daemon that restarts is found again) and never block:
 * a message that cannot be sent (no daemon, a full queue) is dropped and
 * counted, as nginx drops it. */
#ifndef KP_SYSLOG_H
#define KP_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>
#include <time.h>

#include "kelpie/util/conf.h"

#define KP_SYSLOG_TAG_MAX  32   /* nginx's bound on tag= */
#define KP_SYSLOG_MSG_MAX  4096 /* a longer message is cut */
#define KP_SYSLOG_PREFIX   "syslog:"
#define KP_SYSLOG_FACILITY 23 /* local7 */
#define KP_SYSLOG_SEVERITY 6  /* info */

struct kp_syslog {
    struct sockaddr_un addr;
    socklen_t addrlen;
    unsigned facility; /* 0 (kern) .. 23 (local7) */
    unsigned severity; /* access_log's: 0 (emerg) .. 7 (debug) */
    char tag[KP_SYSLOG_TAG_MAX + 1];
    char hostname[256];    /* "" under nohostname */
    int fd;                /* AF_UNIX SOCK_DGRAM, non-blocking, unconnected */
    unsigned long dropped; /* messages that could not be sent (not exact across threads) */
};

/* Whether a log target names syslog ("syslog:..."). */
bool kp_syslog_is(const char *target);

/* Parse target ("syslog:server=unix:PATH,...") into a new struct from
 * cf->arena and make its socket (closed when the arena is destroyed).
 * Returns NULL after kp_conf_error: no server=, a server that is not
 * unix:PATH, an unknown facility, severity or parameter, a bad tag. */
struct kp_syslog *kp_syslog_parse(struct kp_conf *cf, const char *target);

/* The header "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: " for severity at now
 * (local time) into out (size n, NUL-terminated). Returns its length. */
size_t kp_syslog_header(const struct kp_syslog *s, unsigned severity, time_t now, char *out,
                        size_t n);

/* Send one message (msg, len bytes, no trailing newline needed: one is
 * dropped) at severity. Never blocks, never fails: a send that does not go
 * through is counted in s->dropped. */
void kp_syslog_send(struct kp_syslog *s, unsigned severity, const char *msg, size_t len);

#endif
