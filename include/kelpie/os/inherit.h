/* Listening sockets handed to kelpie at exec: by systemd's socket
 * activation (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES; sd_listen_fds(3)) or by
 * an old master starting the new binary of an upgrade (KELPIE="3;4;"). This
 * seam only finds and describes them; proc/listen matches them to the
 * `listen` directives by address. */
#ifndef KP_INHERIT_H
#define KP_INHERIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define KP_INHERIT_ENV       "KELPIE" /* the binary upgrade's fd list */
#define KP_INHERIT_MAX       128      /* sockets taken from either source */
#define KP_INHERIT_FIRST_FD  3        /* SD_LISTEN_FDS_START */
#define KP_INHERIT_NAME_SIZE 64

enum kp_inherit_source {
    KP_INHERIT_SYSTEMD = 1,
    KP_INHERIT_UPGRADE,
};

/* One handed-over descriptor. */
struct kp_inherited {
    int fd;
    int err; /* 0: a listening stream socket (TCP, or UNIX-domain), now
              * non-blocking and close-on-exec; else why it cannot be used:
              * -ENOTSOCK, -EAFNOSUPPORT (not a stream socket of IPv4, IPv6
              * or AF_UNIX), -EINVAL (not listening), -EBADF (not open) */
    enum kp_inherit_source source;
    struct sockaddr_storage addr; /* getsockname() */
    socklen_t addrlen;
    bool reuseport;                  /* SO_REUSEPORT is set */
    char name[KP_INHERIT_NAME_SIZE]; /* LISTEN_FDNAMES entry; "" if none */
};

/* Find the sockets this process was handed and describe each in out[] (at
 * most max); then remove the variables from the environment so that no
 * child takes them for its own. systemd's count only when LISTEN_PID is
 * this process. Unusable descriptors are described (err) and left open for
 * the caller to report and close. Returns how many entries were written. */
size_t kp_inherit_collect(struct kp_inherited *out, size_t max);
/* For the exec of a new binary: clear close-on-exec on fds[0..n) and write
 * the KELPIE variable's value ("3;4;") into buf. Returns 0, -ENAMETOOLONG
 * if buf is too small, or the -errno of fcntl. Call in the forked child. */
int kp_inherit_export(const int *fds, size_t n, char *buf, size_t size);

#endif
