/* The select backend: level-triggered, O(highest fd) per wait, and limited
 * by the fixed size of fd_set: descriptors >= FD_SETSIZE cannot be watched at
 * all (FD_SET on them writes past the set), so registering one fails with
 * -EMFILE and the caller closes it. Kept for the comparison of demultiplexers
 * and for systems where nothing else works. */
#include <errno.h>
#include <sys/select.h>
#include <time.h>

#include "kelpie/util/alloc.h"
#include "kelpie/event/backend.h"

struct select_state {
    fd_set rd, wr; /* the interest sets, copied for every wait */
    int maxfd;     /* highest registered fd, -1 when none */
    int cursor;    /* where the next collection starts (fairness) */
    struct kp_io *ios[FD_SETSIZE];
};

static int select_init(struct kp_loop *loop, unsigned max_fds)
{
    struct select_state *st = kp_calloc(1, sizeof(*st));

    (void)max_fds; /* the tables have the fixed size of fd_set */
    FD_ZERO(&st->rd);
    FD_ZERO(&st->wr);
    st->maxfd = -1;
    loop->bstate = st;
    return 0;
}

static void select_free(struct kp_loop *loop)
{
    kp_free(loop->bstate);
    loop->bstate = NULL;
}

static int select_set(struct kp_loop *loop, struct kp_io *io, unsigned interest)
{
    struct select_state *st = loop->bstate;
    int fd = io->fd;

    if (fd < 0)
        return -EBADF;
    if (fd >= FD_SETSIZE)
        return -EMFILE;
    if (interest & KP_EV_READ)
        FD_SET(fd, &st->rd);
    else
        FD_CLR(fd, &st->rd);
    if (interest & KP_EV_WRITE)
        FD_SET(fd, &st->wr);
    else
        FD_CLR(fd, &st->wr);
    st->ios[fd] = io;
    if (fd > st->maxfd)
        st->maxfd = fd;
    return 0;
}

static int select_del(struct kp_loop *loop, struct kp_io *io)
{
    struct select_state *st = loop->bstate;
    int fd = io->fd;

    FD_CLR(fd, &st->rd);
    FD_CLR(fd, &st->wr);
    st->ios[fd] = NULL;
    while (st->maxfd >= 0 && st->ios[st->maxfd] == NULL)
        st->maxfd--;
    return 0;
}

static int select_wait_ready(struct kp_loop *loop, int timeout_ms, struct kp_ready *ready,
                             unsigned cap)
{
    struct select_state *st = loop->bstate;
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000L};
    fd_set rd = st->rd, wr = st->wr;
    int nr = pselect(st->maxfd + 1, &rd, &wr, NULL, timeout_ms >= 0 ? &ts : NULL, loop->wait_mask);

    if (nr < 0)
        return -errno;
    /* nr counts an fd once per set it is ready in, so it bounds the scan. */
    unsigned got = 0;
    int fd = st->cursor <= st->maxfd ? st->cursor : 0;
    for (int seen = 0; seen <= st->maxfd && nr > 0 && got < cap; seen++) {
        unsigned ev = 0;
        if (FD_ISSET(fd, &rd)) {
            ev |= KP_EV_READ;
            nr--;
        }
        if (FD_ISSET(fd, &wr)) {
            ev |= KP_EV_WRITE;
            nr--;
        }
        if (ev != 0)
            ready[got++] =
                (struct kp_ready){.io = st->ios[fd], .gen = st->ios[fd]->gen, .events = ev};
        fd = fd < st->maxfd ? fd + 1 : 0;
    }
    st->cursor = fd;
    return (int)got;
}

const struct kp_loop_backend kp_select_ops = {
    .name = "select",
    .init = select_init,
    .free = select_free,
    .set = select_set,
    .del = select_del,
    .wait = select_wait_ready,
};
