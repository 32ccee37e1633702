/* The seam between the loop core (event/loop.c) and its backends (one file
 * each: event/epoll.c, event/poll.c, event/select.c, event/uring.c). A backend only tracks
 * interest and reports readiness; the core owns dispatch, so the rules about
 * stale events, posted events and timers are written once. */
#ifndef KP_BACKEND_H
#define KP_BACKEND_H

#include <stdint.h>

#include "kelpie/event/loop.h"

/* One readiness report collected by a backend's wait. gen is io->gen at
 * collection time: if a handler deletes io before the report is dispatched,
 * io is no longer registered, or registered again under a new gen, so the
 * report is dropped, even when the io (and its fd number) was reused. */
struct kp_ready {
    struct kp_io *io;
    uint32_t gen;
    unsigned events; /* KP_EV_READ | KP_EV_WRITE | KP_EV_ERROR */
};

struct kp_loop_backend {
    const char *name;
    /* Create loop->bstate for about max_fds registrations. 0 or -errno. */
    int (*init)(struct kp_loop *loop, unsigned max_fds);
    void (*free)(struct kp_loop *loop);
    /* Register io when !io->registered, else change its interest. io->interest
     * still holds the old set; the core updates it on success. 0 or -errno. */
    int (*set)(struct kp_loop *loop, struct kp_io *io, unsigned interest);
    /* Forget a registered io. 0 or -errno. */
    int (*del)(struct kp_loop *loop, struct kp_io *io);
    /* Forget a registered io whose fd is about to be closed (NULL: del).
     * epoll needs no call: closing the last reference removes it. */
    void (*forget)(struct kp_loop *loop, struct kp_io *io);
    /* Wait at most timeout_ms (-1: no limit) with loop->wait_mask installed
     * when it is set, then fill up to cap reports. Returns how many, or -errno
     * (-EINTR when a signal arrived). Readiness left unreported because cap
     * was reached is reported by the next wait. */
    int (*wait)(struct kp_loop *loop, int timeout_ms, struct kp_ready *ready, unsigned cap);
    /* kp_io_recv for a registered KP_IO_STREAM io (NULL: read(2)). */
    ssize_t (*recv)(struct kp_loop *loop, struct kp_io *io, void *buf, size_t len);
    /* kp_io_send, kp_io_sendfile and kp_io_shutdown for a registered
     * KP_IO_STREAM io (NULL: sendmsg(2), sendfile(2), shutdown(2)). */
    ssize_t (*send)(struct kp_loop *loop, struct kp_io *io, const struct iovec *iov, size_t n,
                    int flags);
    ssize_t (*sendfile)(struct kp_loop *loop, struct kp_io *io, int fd, off_t *off, size_t len);
    int (*shutdown)(struct kp_loop *loop, struct kp_io *io);
    /* kp_io_accept for a KP_IO_LISTEN io, registered or not (NULL:
     * accept4(2) while it is registered). */
    int (*accept)(struct kp_loop *loop, struct kp_io *io, struct sockaddr_storage *peer,
                  socklen_t *peer_len);
    /* kp_loop_close of a registered KP_IO_STREAM io: unregister it and close
     * its fd (now or later, in order after what it queued for it); false
     * when it did neither (NULL: never). */
    bool (*close)(struct kp_loop *loop, struct kp_io *io);
    bool (*sending)(const struct kp_loop *loop, const struct kp_io *io);
};

/* kp_loop_init with a backend that is not one of `use` (event/handoff.c):
 * loop->bstate is arg when ops->init runs, which replaces it with its own
 * state. Returns 0, -EINVAL for max_fds 0, or ops->init's -errno. */
int kp_loop_init_with(struct kp_loop *loop, const struct kp_loop_backend *ops, void *arg,
                      unsigned max_fds, const struct kp_log *log);

/* epoll's report (EPOLLIN, EPOLLRDHUP, EPOLLOUT, EPOLLERR, EPOLLHUP) as
 * KP_EV_*: an error or hang-up is the interest set plus KP_EV_ERROR (the
 * epoll backend's and the reactor_pool backend's, event/handoff.c). */
unsigned kp_epoll_events(uint32_t e, unsigned interest);

extern const struct kp_loop_backend kp_epoll_ops;
extern const struct kp_loop_backend kp_poll_ops;
extern const struct kp_loop_backend kp_select_ops;
extern const struct kp_loop_backend kp_uring_ops;

#endif
