/* The io_uring backend: one ring per loop (so per worker, made after the
 * fork), readiness collected as poll completions.
 *
 * Every registered io owns a slot in a table; every operation it has in the
 * ring carries user_data = kind | slot | seq, where seq is the slot's count
 * of operations armed. A completion is delivered only when its slot still
 * holds an io and its seq is the slot's current one, so a completion that
 * was in flight while its io was deleted, re-armed or reused for another
 * descriptor is dropped instead of reaching the wrong owner (the core then
 * checks io->gen as for every backend).
 *
 * Connection sockets get a multishot poll: one submission reports every
 * wake-up until the interest changes, which is the edge-triggered contract
 * of event/loop.h (POLLRDHUP gives KP_EV_EOF as EPOLLRDHUP does on epoll).
 * Level-triggered ios (listeners, the accept mutex's bell) get a one-shot
 * poll re-armed after each completion: arming checks the current state, so
 * what is still pending is reported again at the next wait.
 *
 * Nothing reaches the kernel until the next wait (or a full submission
 * queue): submissions and completions of one loop iteration cost one
 * io_uring_enter. An operation deleted before it was submitted is turned
 * into a no-op in place, so closing a descriptor never leaves an entry that
 * would name it (or whatever socket gets its number next); one already
 * submitted is removed by its user_data, and the ring's reference on the
 * file lets the socket really close only then.
 *
 * A completion queue that overflows loses nothing (IORING_FEAT_NODROP is
 * required: the kernel keeps the backlog and hands it over at the next
 * enter); each wait that finds a backlog is counted in loop->cq_overflows,
 * and a multishot poll that the kernel ended meanwhile is armed again. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "kelpie/util/alloc.h"
#include "kelpie/event/backend.h"
#include "kelpie/event/uring.h"

#if KP_HAVE_IO_URING

#include <liburing.h>
#include <poll.h>

/* Submission queue bounds: a loop iteration that arms more than this
 * submits early (one extra system call), never loses an operation. */
#define URING_SQ_MIN 64u
#define URING_SQ_MAX 1024u
/* Completion queue: room for two reports per registration (a poll and its
 * removal) bounded to 32768 entries (512 KiB); beyond, NODROP keeps the rest. */
#define URING_CQ_MAX 32768u

#define NO_SLOT UINT_MAX

enum op_kind {
    OP_IGNORE = 0, /* no-ops: their completions mean nothing */
    OP_POLL = 1,
    OP_REMOVE = 2, /* the removal of the poll OP_POLL | slot | seq */
};

static uint64_t user_data(enum op_kind kind, unsigned idx, uint32_t seq)
{
    return ((uint64_t)kind << 56) | ((uint64_t)idx << 32) | seq;
}

struct uring_slot {
    struct kp_io *io; /* NULL: free */
    uint32_t seq;     /* of the operation armed now; bumped to disown it */
    bool armed;
    struct io_uring_sqe *sqe; /* the arming entry while sqe_epoch == st->epoch */
    uint64_t sqe_epoch;
    unsigned round, ridx; /* merges several completions of one wait into one report */
    unsigned next_free;
};

struct uring_state {
    struct io_uring ring;
    struct uring_slot *slots;
    unsigned nslots;
    unsigned free_head;
    uint64_t epoch; /* submissions so far: entries of an older epoch are in the kernel */
    unsigned round; /* waits so far */
};

static unsigned round_pow2(unsigned v, unsigned lo, unsigned hi)
{
    unsigned p = lo;

    while (p < v && p < hi)
        p <<= 1;
    return p;
}

static void submit(struct uring_state *st)
{
    io_uring_submit(&st->ring);
    st->epoch++;
}

/* A free submission entry; a full queue is submitted first. */
static struct io_uring_sqe *get_sqe(struct uring_state *st)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);

    if (sqe == NULL) {
        submit(st);
        sqe = io_uring_get_sqe(&st->ring);
    }
    return sqe;
}

/* Remove the poll whose user_data is ud; the removal's own completion is
 * tagged with it (kind OP_REMOVE), to be tried again if it came too early. */
static void remove_poll(struct io_uring_sqe *sqe, uint64_t ud)
{
    io_uring_prep_poll_remove(sqe, ud);
    io_uring_sqe_set_data64(sqe, (ud & ~(0xffull << 56)) | ((uint64_t)OP_REMOVE << 56));
}

static void grow_slots(struct uring_state *st)
{
    unsigned old = st->nslots, n = old * 2;

    st->slots = kp_realloc(st->slots, n * sizeof(*st->slots));
    memset(st->slots + old, 0, (n - old) * sizeof(*st->slots));
    for (unsigned i = n; i-- > old;) {
        st->slots[i].next_free = st->free_head;
        st->free_head = i;
    }
    st->nslots = n;
}

/* Mask for a poll: what the interest asks, and the peer's end of stream for
 * edge-triggered readers (it raises no wake-up of its own once its bytes
 * are read; see KP_EV_EOF). */
static unsigned poll_mask(const struct kp_io *io, unsigned interest)
{
    unsigned m = 0;

    if (interest & KP_EV_READ)
        m |= POLLIN;
    if ((interest & KP_EV_READ) && !(io->flags & KP_IO_LEVEL))
        m |= POLLRDHUP;
    if (interest & KP_EV_WRITE)
        m |= POLLOUT;
    return m;
}

static int arm(struct uring_state *st, unsigned idx, unsigned interest)
{
    struct uring_slot *s = &st->slots[idx];
    struct io_uring_sqe *sqe = get_sqe(st);

    if (sqe == NULL)
        return -EBUSY;
    unsigned mask = poll_mask(s->io, interest);
    if (s->io->flags & KP_IO_LEVEL)
        io_uring_prep_poll_add(sqe, s->io->fd, mask);
    else
        io_uring_prep_poll_multishot(sqe, s->io->fd, mask);
    s->seq++;
    io_uring_sqe_set_data64(sqe, user_data(OP_POLL, idx, s->seq));
    s->armed = true;
    s->sqe = sqe;
    s->sqe_epoch = st->epoch;
    return 0;
}

/* Take back the armed poll: still in the submission queue, it becomes a
 * no-op; in the kernel, it is removed. Either way its completions are no
 * longer this slot's (seq moves on). */
static void disarm(struct uring_state *st, unsigned idx)
{
    struct uring_slot *s = &st->slots[idx];

    if (!s->armed)
        return;
    uint64_t old = user_data(OP_POLL, idx, s->seq);
    s->armed = false;
    s->seq++;
    if (s->sqe_epoch == st->epoch) {
        io_uring_prep_nop(s->sqe);
        io_uring_sqe_set_data64(s->sqe, user_data(OP_IGNORE, 0, 0));
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(st);
    if (sqe == NULL) {
        /* Cannot happen once a submission emptied the queue; if it did,
         * the poll stays until its file closes, and its reports are
         * dropped as stale. */
        return;
    }
    remove_poll(sqe, old);
}

static int ring_create(struct io_uring *ring, unsigned sq, unsigned cq, unsigned flags)
{
    struct io_uring_params p = {.flags = flags | IORING_SETUP_CQSIZE, .cq_entries = cq};

    return io_uring_queue_init_params(sq, ring, &p);
}

static int uring_init(struct kp_loop *loop, unsigned max_fds)
{
    /* Flags from the best to none: one submitter and task work run only
     * when the loop enters the kernel to wait (no interrupting the worker
     * to post completions it will read at its next wait anyway), else
     * cooperative task work, else the defaults of older kernels. */
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    unsigned sq = round_pow2(max_fds, URING_SQ_MIN, URING_SQ_MAX);
    unsigned cq = round_pow2(2 * max_fds, 2 * sq, URING_CQ_MAX);
    struct uring_state *st = kp_calloc(1, sizeof(*st));
    int rc = -EINVAL;

    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        rc = ring_create(&st->ring, sq, cq, tries[i]);
        if (rc != -EINVAL)
            break;
    }
    if (rc == 0 && !(st->ring.features & IORING_FEAT_NODROP)) {
        io_uring_queue_exit(&st->ring);
        rc = -EOPNOTSUPP;
    }
    if (rc < 0) {
        kp_free(st);
        return rc;
    }
    st->nslots = 1;
    st->slots = kp_calloc(1, sizeof(*st->slots));
    st->free_head = 0;
    st->slots[0].next_free = NO_SLOT;
    while (st->nslots < max_fds)
        grow_slots(st);
    loop->bstate = st;
    return 0;
}

static void uring_free(struct kp_loop *loop)
{
    struct uring_state *st = loop->bstate;

    /* Closing a ring tears it down in the background, and each socket with
     * an operation in flight stays open until then: a listening socket
     * would queue connections nobody accepts after the worker is gone
     * (and keep its port bound). So cancel everything now and run the
     * completions, which drops the ring's references before the exit. */
    struct io_uring_sync_cancel_reg all = {.fd = -1,
                                           .flags =
                                               IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY,
                                           .timeout = {.tv_sec = 1}};
    io_uring_submit(&st->ring);
    io_uring_register_sync_cancel(&st->ring, &all);
    io_uring_get_events(&st->ring);
    io_uring_queue_exit(&st->ring);
    kp_free(st->slots);
    kp_free(st);
    loop->bstate = NULL;
}

static int uring_set(struct kp_loop *loop, struct kp_io *io, unsigned interest)
{
    struct uring_state *st = loop->bstate;
    bool fresh = !io->registered;

    if (io->fd < 0)
        return -EBADF;
    if (fresh) {
        if (st->free_head == NO_SLOT)
            grow_slots(st);
        io->slot = st->free_head;
        st->free_head = st->slots[io->slot].next_free;
        st->slots[io->slot].io = io;
        st->slots[io->slot].armed = false;
    }
    disarm(st, io->slot);
    int rc = interest != 0 ? arm(st, io->slot, interest) : 0;
    if (rc < 0 && fresh) {
        st->slots[io->slot].io = NULL;
        st->slots[io->slot].next_free = st->free_head;
        st->free_head = io->slot;
    }
    return rc;
}

static int uring_del(struct kp_loop *loop, struct kp_io *io)
{
    struct uring_state *st = loop->bstate;
    struct uring_slot *s = &st->slots[io->slot];

    disarm(st, io->slot);
    s->io = NULL;
    s->seq++;
    s->next_free = st->free_head;
    st->free_head = io->slot;
    return 0;
}

static unsigned to_kp_events(int res, unsigned interest)
{
    unsigned e = (unsigned)res, ev = 0;

    if (e & (POLLIN | POLLRDHUP))
        ev |= KP_EV_READ;
    if (e & POLLRDHUP)
        ev |= KP_EV_EOF;
    if (e & POLLOUT)
        ev |= KP_EV_WRITE;
    if (e & (POLLERR | POLLHUP | POLLNVAL))
        ev |= KP_EV_ERROR | interest;
    return ev;
}

/* A failure of the poll itself that another try may not repeat. */
static bool transient(int res)
{
    return res == -ECANCELED || res == -EINTR || res == -EAGAIN || res == -ENOMEM;
}

/* One completion into the reports (merged per io), re-arming a poll that
 * ended: a one-shot one after each report, a multishot one the kernel
 * stopped (an overflow, a transient failure). Returns the new count. */
static unsigned collect(struct uring_state *st, const struct io_uring_cqe *cqe,
                        struct kp_ready *ready, unsigned got)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    unsigned idx = (unsigned)(ud >> 32) & 0xffffffu;

    /* A removal that came while the poll was completing (-EALREADY) did
     * not take: the poll may be armed again without ever reporting (a
     * wake-up for none of its events), so try again. */
    if ((ud >> 56) == OP_REMOVE && cqe->res == -EALREADY) {
        struct io_uring_sqe *sqe = get_sqe(st);
        if (sqe != NULL)
            remove_poll(sqe, (ud & ~(0xffull << 56)) | ((uint64_t)OP_POLL << 56));
        return got;
    }
    if ((ud >> 56) != OP_POLL || idx >= st->nslots)
        return got;
    struct uring_slot *s = &st->slots[idx];
    if (s->io == NULL || s->seq != (uint32_t)ud) {
        /* A removal finds a poll that is completing at that moment only
         * too late (-EALREADY) and leaves it armed, holding its socket
         * open after close(): a disowned poll still armed is removed again
         * at each report, until one takes. */
        struct io_uring_sqe *sqe = (cqe->flags & IORING_CQE_F_MORE) ? get_sqe(st) : NULL;
        if (sqe != NULL)
            remove_poll(sqe, ud);
        return got;
    }
    struct kp_io *io = s->io;
    unsigned ev = cqe->res >= 0 ? to_kp_events(cqe->res, io->interest) : KP_EV_ERROR | io->interest;
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        s->armed = false;
        if (cqe->res >= 0 || transient(cqe->res))
            arm(st, idx, io->interest);
    }
    if (cqe->res < 0 && transient(cqe->res))
        return got;
    if (s->round == st->round) {
        ready[s->ridx].events |= ev;
        return got;
    }
    s->round = st->round;
    s->ridx = got;
    ready[got] = (struct kp_ready){.io = io, .gen = io->gen, .events = ev};
    return got + 1;
}

static int uring_wait(struct kp_loop *loop, int timeout_ms, struct kp_ready *ready, unsigned cap)
{
    struct uring_state *st = loop->bstate;
    struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
                                   .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
    struct io_uring_cqe *cqe;

    if (io_uring_cq_has_overflow(&st->ring))
        loop->cq_overflows++;
    int rc = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, timeout_ms >= 0 ? &ts : NULL,
                                              (sigset_t *)loop->wait_mask);
    st->epoch++;
    if (rc < 0 && rc != -ETIME && rc != -EBUSY && rc != -EAGAIN)
        return rc;
    unsigned head, seen = 0, got = 0;
    st->round++;
    io_uring_for_each_cqe(&st->ring, head, cqe)
    {
        if (got == cap)
            break;
        seen++;
        got = collect(st, cqe, ready, got);
    }
    io_uring_cq_advance(&st->ring, seen);
    return (int)got;
}

const struct kp_loop_backend kp_uring_ops = {
    .name = "io_uring",
    .init = uring_init,
    .free = uring_free,
    .set = uring_set,
    .del = uring_del,
    .wait = uring_wait,
};

/* Why io_uring_setup failed, as far as this process can tell. */
static const char *setup_hint(int err)
{
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
    int disabled = 0;

    if (f != NULL) {
        if (fscanf(f, "%d", &disabled) != 1)
            disabled = 0;
        fclose(f);
    }
    if (err == EPERM && disabled != 0)
        return "; kernel.io_uring_disabled is set";
    if (err == ENOSYS || err == EPERM)
        return "; blocked by a seccomp filter or not in this kernel";
    if (err == ENOMEM)
        return "; RLIMIT_MEMLOCK too low?";
    return "";
}

int kp_uring_probe(char *why, size_t len)
{
    static const int ops[] = {IORING_OP_NOP, IORING_OP_POLL_ADD, IORING_OP_POLL_REMOVE};
    struct io_uring ring;
    struct io_uring_params p = {0};
    int rc = io_uring_queue_init_params(8, &ring, &p);

    if (rc < 0) {
        snprintf(why, len, "io_uring_setup() failed (%d: %s%s)", -rc, strerror(-rc),
                 setup_hint(-rc));
        return rc;
    }
    unsigned need = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;
    rc = 0;
    if ((p.features & need) != need) {
        snprintf(why, len, "the kernel's io_uring lacks NODROP or EXT_ARG (Linux 5.11 or newer)");
        rc = -EOPNOTSUPP;
    }
    struct io_uring_probe *pr = rc == 0 ? io_uring_get_probe_ring(&ring) : NULL;
    for (size_t i = 0; rc == 0 && i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (pr == NULL || !io_uring_opcode_supported(pr, ops[i])) {
            snprintf(why, len, "the kernel's io_uring lacks operation %d", ops[i]);
            rc = -EOPNOTSUPP;
        }
    }
    if (pr != NULL)
        io_uring_free_probe(pr);
    io_uring_queue_exit(&ring);
    return rc;
}

const char *kp_uring_library(void)
{
    return "liburing " KP_LIBURING_VERSION;
}

#else /* built without liburing */

static int uring_init(struct kp_loop *loop, unsigned max_fds)
{
    (void)loop;
    (void)max_fds;
    return -ENOSYS;
}

const struct kp_loop_backend kp_uring_ops = {
    .name = "io_uring",
    .init = uring_init,
};

int kp_uring_probe(char *why, size_t len)
{
    snprintf(why, len, "kelpie was built without io_uring (configure --without-io_uring)");
    return -ENOSYS;
}

const char *kp_uring_library(void)
{
    return "no";
}

#endif
