/* sd_notify by hand (see notify.h): the protocol is one datagram, so a
 * library would add a dependency for twenty lines. */
#include "kelpie/os/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Fill *sa from $NOTIFY_SOCKET's value. Returns the address length or
 * -EINVAL. An abstract name ('@' in the variable) starts with a NUL byte
 * and is not NUL-terminated: its length is exactly the name's. */
static int notify_addr(const char *name, struct sockaddr_un *sa)
{
    size_t len = strlen(name);

    if ((name[0] != '/' && name[0] != '@') || len >= sizeof(sa->sun_path))
        return -EINVAL;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, name, len);
    if (name[0] == '@') {
        sa->sun_path[0] = '\0';
        return (int)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    return (int)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int kp_notify_send(const char *state)
{
    const char *name = getenv(KP_NOTIFY_ENV);
    struct sockaddr_un sa;

    if (name == NULL || name[0] == '\0')
        return 0;
    int salen = notify_addr(name, &sa);
    if (salen < 0)
        return salen;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* The sender's credentials travel with the datagram (the receiver asks
     * for them): systemd checks the pid against NotifyAccess=. */
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                       (const struct sockaddr *)&sa, (socklen_t)salen);
    int rc = n < 0 ? -errno : 0;
    close(fd);
    return rc;
}

uint64_t kp_notify_monotonic_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
