/* The poll backend: level-triggered, portable, O(registered fds) per wait.
 * Registrations live in a dense pollfd array; each io remembers its slot so
 * that changing or removing interest is O(1) (removal moves the last slot
 * into the hole). An io registered with no interest keeps its slot with fd
 * -1, which poll() skips, so a hung-up socket nobody listens to cannot make
 * every wait return at once. */
#include <errno.h>
#include <poll.h>
#include <time.h>

#include "kelpie/util/alloc.h"
#include "kelpie/event/backend.h"

struct poll_state {
    struct pollfd *pfds;
    struct kp_io **ios; /* ios[i] owns pfds[i] */
    unsigned n, cap;
    unsigned cursor; /* where the next collection starts (fairness) */
};

static int poll_init(struct kp_loop *loop, unsigned max_fds)
{
    struct poll_state *st = kp_calloc(1, sizeof(*st));

    st->cap = max_fds;
    st->pfds = kp_calloc(st->cap, sizeof(*st->pfds));
    st->ios = kp_calloc(st->cap, sizeof(*st->ios));
    loop->bstate = st;
    return 0;
}

static void poll_free(struct kp_loop *loop)
{
    struct poll_state *st = loop->bstate;

    kp_free(st->pfds);
    kp_free(st->ios);
    kp_free(st);
    loop->bstate = NULL;
}

static short to_poll_events(unsigned interest)
{
    short e = 0;

    if (interest & KP_EV_READ)
        e |= POLLIN;
    if (interest & KP_EV_WRITE)
        e |= POLLOUT;
    return e;
}

static int poll_set(struct kp_loop *loop, struct kp_io *io, unsigned interest)
{
    struct poll_state *st = loop->bstate;

    if (io->fd < 0)
        return -EBADF;
    if (!io->registered) {
        if (st->n == st->cap) {
            st->cap *= 2;
            st->pfds = kp_realloc(st->pfds, st->cap * sizeof(*st->pfds));
            st->ios = kp_realloc(st->ios, st->cap * sizeof(*st->ios));
        }
        io->slot = st->n++;
        st->ios[io->slot] = io;
    }
    st->pfds[io->slot] =
        (struct pollfd){.fd = interest != 0 ? io->fd : -1, .events = to_poll_events(interest)};
    return 0;
}

static int poll_del(struct kp_loop *loop, struct kp_io *io)
{
    struct poll_state *st = loop->bstate;
    unsigned last = --st->n;

    if (io->slot != last) {
        st->pfds[io->slot] = st->pfds[last];
        st->ios[io->slot] = st->ios[last];
        st->ios[io->slot]->slot = io->slot;
    }
    return 0;
}

static unsigned to_kp_events(short re, unsigned interest)
{
    unsigned ev = 0;

    if (re & POLLIN)
        ev |= KP_EV_READ;
    if (re & POLLOUT)
        ev |= KP_EV_WRITE;
    if (re & (POLLERR | POLLHUP | POLLNVAL))
        ev |= KP_EV_ERROR | interest;
    return ev;
}

static int poll_wait_ready(struct kp_loop *loop, int timeout_ms, struct kp_ready *ready,
                           unsigned cap)
{
    struct poll_state *st = loop->bstate;
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000L};
    int nr = ppoll(st->pfds, st->n, timeout_ms >= 0 ? &ts : NULL, loop->wait_mask);

    if (nr < 0)
        return -errno;
    /* Collect from a rotating start so that, when more than cap fds are
     * ready, the ones left over come first next time (they stay ready). */
    unsigned got = 0;
    unsigned i = st->cursor < st->n ? st->cursor : 0;
    for (unsigned seen = 0; seen < st->n && got < (unsigned)nr && got < cap; seen++) {
        if (st->pfds[i].revents != 0) {
            struct kp_io *io = st->ios[i];
            ready[got++] =
                (struct kp_ready){.io = io,
                                  .gen = io->gen,
                                  .events = to_kp_events(st->pfds[i].revents, io->interest)};
        }
        i = i + 1 < st->n ? i + 1 : 0;
    }
    st->cursor = i;
    return (int)got;
}

const struct kp_loop_backend kp_poll_ops = {
    .name = "poll",
    .init = poll_init,
    .free = poll_free,
    .set = poll_set,
    .del = poll_del,
    .wait = poll_wait_ready,
};
