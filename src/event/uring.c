/* The io_uring backend: one ring per loop (so per worker, made after the
 * fork). Plain TCP connections (KP_IO_STREAM) are read by the kernel: a
 * multishot receive per connection fills buffers from one ring of provided
 * buffers shared by the worker's connections, and kp_io_recv copies out of
 * them; and written by it: kp_io_send copies the bytes into the
 * connection's send, one IORING_OP_SEND submitted at the next wait (see
 * "Sends" below); and closed by it (uring_close). A listener the worker
 * alone accepts from (KP_IO_LISTEN) is accepted from by the kernel too (see
 * "Accepts" below). Everything else (TLS connections, listeners shared
 * with other workers, the accept mutex's bell, and writability for
 * sendfile) is readiness collected as poll completions.
 *
 * Accepts. A KP_IO_LISTEN listener keeps URING_ACCEPT_DEPTH one-shot
 * IORING_OP_ACCEPTs armed, each with its own address buffer (a multishot
 * accept has one for all, overwritten before its completion is read, so
 * it would cost a getpeername() per connection). A completed accept is
 * reported as KP_EV_READ and handed over by kp_io_accept, which arms the
 * next one. Unregistering cancels the armed ones at once and sweeps the
 * backlog with one accept4(): a connection one of them took meanwhile, or
 * whose wake-up it took, is kept for the listener and posted to it, so it
 * is served (not closed) even by a worker that stops accepting.
 *
 * Sends. A connection has at most one send: bytes join it until the wait
 * submits it, then further bytes wait (-EAGAIN) for its completion, which
 * reports KP_EV_WRITE; so the order holds, the buffer lives until the
 * kernel is done, and no poll is needed meanwhile. sendfile() and a
 * shutdown() wait for it too (uring_sendfile, uring_shutdown). A send's
 * user_data names its entry in the table of sends, not the slot, because
 * it may outlive the connection (send_orphan).
 *
 * Completions and owners. Every registered io owns a slot in a table;
 * every operation carries user_data = kind | slot | tag. A poll's tag is
 * the slot's count of polls armed, so only the current poll of the current
 * io is heard. A receive's tag is the slot's registration number: at most
 * one receive is live per registration, so every completion of the
 * connection's receives is heard (a receive being cancelled may still
 * bring bytes, which must not be lost), while one that arrives after the
 * connection was closed, or its slot reused, is dropped and its buffer
 * goes back to the ring. The core then checks io->gen as for every backend.
 *
 * Receiving. Bytes wait in the connection's queue of buffers until the
 * protocol reads them, which it does in the same turn (it reads until
 * -EAGAIN), so an idle keep-alive connection holds no buffer. A connection
 * that does not read (it waits to write) holds at most URING_CONN_BUFS
 * buffers: at that bound its receive is cancelled, and armed again once it
 * has read them, so one connection cannot take the buffers of all. When
 * the ring runs dry (-ENOBUFS), the connections that wanted to receive wait
 * on a list and are armed again as buffers come back. The end of the
 * stream (a receive of 0) is KP_EV_READ|KP_EV_EOF after the queued bytes.
 *
 * Polls. Connection sockets get a multishot poll (POLLOUT only for stream
 * ios): one submission reports every wake-up until the interest changes,
 * the edge-triggered contract of event/loop.h (POLLRDHUP gives KP_EV_EOF as
 * EPOLLRDHUP does on epoll). Level-triggered ios (listeners, the bell) get
 * a one-shot poll re-armed after each completion: arming checks the current
 * state, so what is still pending is reported again at the next wait; with
 * every accept policy (accept mutex on or off, reuseport) the acceptor
 * registers and unregisters them as on epoll, and accepts from a listener
 * other workers share with accept4.
 *
 * Submitting. Nothing reaches the kernel until the next wait (or a full
 * submission queue): submissions and completions of one loop iteration
 * cost one io_uring_enter. An operation taken back before it was submitted
 * is turned into a no-op in place, so closing a descriptor never leaves an
 * entry that would name it (or whatever socket gets its number next); one
 * already submitted is cancelled by its user_data, and the ring's reference
 * on the file lets the socket really close only then, at the next enter.
 *
 * A completion queue that overflows loses nothing (IORING_FEAT_NODROP is
 * required: the kernel keeps the backlog and hands it over at the next
 * enter); each wait that finds a backlog is counted in loop->cq_overflows,
 * and a multishot operation the kernel ended meanwhile is armed again. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/util/alloc.h"
#include "kelpie/event/backend.h"
#include "kelpie/event/uring.h"
#include "kelpie/os/socket.h"

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
/* Provided buffers: 2 KiB holds a typical request head whole (a longer
 * one takes several); one buffer per 4 connections, 64 to 256 of them
 * (128 to 512 KiB per worker). They are lent only while bytes wait to be
 * read, which is within one turn unless a connection is not reading, so a
 * few hundred cover a busy worker; and the kernel takes them in turn (the
 * ring is FIFO), so every one of them ends up resident: 1024 (2 MiB) cost
 * 502 B per idle connection at 5,000 of them against epoll's 163. */
#define URING_BUF_SIZE 2048u
#define URING_BUFS_MIN 64u
#define URING_BUFS_MAX 256u
/* Buffers one connection may hold unread before its receive stops. */
#define URING_CONN_BUFS 4u
#define URING_BGID      0

/* Sends: the bytes one send takes at most (a connection handing over more
 * waits for it to complete), buffers of URING_SEND_BUF kept for reuse, and
 * how long the bytes of a closed connection may take to leave. */
#define URING_SEND_MAX   (256u << 10)
#define URING_SEND_BUF   4096u
#define URING_SEND_SPARE 64u
#define URING_ORPHAN_MS  60000u
/* When the worker ends: how long (in 100 ms waits) the bytes handed over
 * may take to leave before the ring goes, as they would from a socket
 * buffer after close(). */
#define URING_EXIT_WAITS 50

/* Accepts a listener keeps in flight or waiting to be handed over: as
 * many connections as one turn takes from it without another accept. */
#define URING_ACCEPT_DEPTH 4u

/* Receive completions whose memory one wait prefetches (see warm): about
 * what the core's outstanding misses can overlap; the rest load as read. */
#define URING_WARM_MAX 32u

#define NO_SLOT UINT_MAX
#define NO_BUF  0xffffu

enum op_kind {
    OP_IGNORE = 0, /* no-ops: their completions mean nothing */
    OP_POLL = 1,
    OP_RECV = 2,
    OP_SEND = 3,
    OP_ACCEPT = 4,
};
/* Added to the kind of an operation, the cancellation of that operation. */
#define OP_CANCEL 0x80u

enum recv_state { RECV_IDLE = 0, RECV_ARMED, RECV_CANCELLING };

static uint64_t user_data(enum op_kind kind, unsigned idx, uint32_t tag)
{
    return ((uint64_t)kind << 56) | ((uint64_t)idx << 32) | tag;
}

/* An entry queued but maybe not submitted yet: while its epoch is the
 * state's, it is still in the submission queue and can be rewritten. */
struct pending {
    struct io_uring_sqe *sqe;
    uint64_t epoch;
};

struct uring_slot {
    struct kp_io *io;  /* NULL: free */
    uint32_t poll_seq; /* of the poll armed now; bumped to disown it */
    bool poll_armed;
    bool eof; /* the receive saw the end of the stream */
    bool starved;
    uint8_t rstate;        /* enum recv_state */
    int err;               /* a receive's error, after the queued bytes */
    uint32_t reg;          /* registration number: tags receives */
    uint16_t qhead, qtail; /* buffers with unread bytes, oldest first */
    uint16_t qn;
    struct pending poll, recv;
    unsigned round, ridx; /* merges several completions of one wait into one report */
    unsigned next;        /* free list, or the list of connections waiting for buffers */
    unsigned sq;          /* its send (index in sends), or NO_SLOT */
    int werr;             /* a send's error: the next one returns it */
    /* io->warm as of its last report: read here by warm(), the io itself
     * being one of the objects still to load. */
    struct kp_io_warm warm[2];
};

/* A connection's bytes on their way: one send operation of buf[off, len),
 * queued (bytes may still join it) until the wait submits it, then in
 * flight until its completion. It outlives its connection when that closes
 * first (an orphan, on a list by deadline): the ring holds the socket open
 * until the send completes, so a response and then close() behave as with
 * the kernel's socket buffer. */
struct uring_send {
    char *buf;
    size_t cap, off, len;
    int fd;
    unsigned owner; /* slot, or NO_SLOT for an orphan */
    uint32_t tag;   /* of the submission now current */
    bool shut;      /* shutdown(SHUT_WR) once out */
    bool orphan_listed;
    struct pending sqe;
    uint64_t deadline;
    unsigned next, prev; /* free list; the orphan list */
};

/* One IORING_OP_ACCEPT of a listener, with the buffer the kernel writes
 * the client's address into (so it is allocated on its own: it must not
 * move while the accept is in flight). It is the listener's from arming
 * until its connection is handed over, whatever happens to the listener's
 * registration meanwhile: an accept that completes while it is being
 * cancelled still brings a connection, kept (ACC_DONE) for the listener. */
enum accept_state { ACC_FREE = 0, ACC_ARMED, ACC_CANCELLING, ACC_DONE };

struct uring_accept {
    struct kp_io *io; /* the listener */
    unsigned slot;    /* io's slot and registration when armed */
    uint32_t reg;
    uint32_t tag;
    uint8_t state; /* enum accept_state */
    int res;       /* ACC_DONE: the new descriptor or -errno */
    socklen_t peer_len;
    struct sockaddr_storage peer;
    struct pending sqe;
};

/* A provided buffer lent to a connection: its unread bytes. */
struct uring_buf {
    uint16_t next, off, len;
};

struct uring_state {
    struct io_uring ring;
    struct kp_loop *loop;
    struct uring_slot *slots;
    unsigned nslots;
    unsigned free_head;
    uint64_t epoch; /* submissions so far */
    unsigned round; /* waits so far */
    /* Receiving by completion (multishot receive, kernel 6.0), else NULL br. */
    struct io_uring_buf_ring *br;
    size_t br_size;
    char *bufmem;
    struct uring_buf *bufs;
    unsigned nbufs, lent; /* lent: buffers out of the kernel's hands */
    unsigned starved_head;
    struct uring_send *sends;
    unsigned nsends, send_free, sends_live;
    unsigned orphan_head, orphan_tail;
    char *spare[URING_SEND_SPARE]; /* URING_SEND_BUF buffers for reuse */
    unsigned nspare;
    struct uring_accept **accepts; /* the listeners' accepts, armed or done */
    unsigned naccepts;
    bool closing;  /* the loop is being freed: its ios may be gone */
    bool skip_cqe; /* IOSQE_CQE_SKIP_SUCCESS works (Linux 5.17) */
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

/* Cancel the operation whose user_data is ud; the cancellation's own
 * completion carries ud with OP_CANCEL added, to be tried again if it came
 * while the operation was completing (-EALREADY): such an operation may
 * arm itself again without reporting anything (a wake-up that brought
 * nothing it waits for), and would then hold its socket open for good. */
static void cancel(struct uring_state *st, uint64_t ud)
{
    struct io_uring_sqe *sqe = get_sqe(st);

    if (sqe == NULL)
        return;
    io_uring_prep_cancel64(sqe, ud, 0);
    io_uring_sqe_set_data64(sqe, ud | ((uint64_t)OP_CANCEL << 56));
}

/* Take back an operation: a no-op while still queued (returns true), else
 * a cancellation of user_data ud (returns false). */
static bool take_back(struct uring_state *st, const struct pending *p, uint64_t ud)
{
    if (p->epoch == st->epoch) {
        io_uring_prep_nop(p->sqe);
        io_uring_sqe_set_data64(p->sqe, user_data(OP_IGNORE, 0, 0));
        return true;
    }
    cancel(st, ud);
    return false;
}

static void grow_slots(struct uring_state *st)
{
    unsigned old = st->nslots, n = old * 2;

    st->slots = kp_realloc(st->slots, n * sizeof(*st->slots));
    memset(st->slots + old, 0, (n - old) * sizeof(*st->slots));
    for (unsigned i = n; i-- > old;) {
        st->slots[i].next = st->free_head;
        st->free_head = i;
    }
    st->nslots = n;
}

static bool is_stream(const struct uring_state *st, const struct kp_io *io)
{
    return st->br != NULL && (io->flags & KP_IO_STREAM);
}

static bool is_listen(const struct kp_io *io)
{
    return (io->flags & KP_IO_LISTEN) != 0;
}

/* --- polls ---------------------------------------------------------------------------- */

/* Mask for a poll: what the interest asks (stream ios: writing only), and
 * the peer's end of stream for edge-triggered readers (it raises no wake-up
 * of its own once its bytes are read; see KP_EV_EOF). */
static unsigned poll_mask(const struct uring_state *st, unsigned idx, unsigned interest)
{
    const struct kp_io *io = st->slots[idx].io;
    unsigned m = 0;

    if ((interest & KP_EV_READ) && !is_stream(st, io) && !is_listen(io))
        m |= POLLIN | ((io->flags & KP_IO_LEVEL) ? 0 : POLLRDHUP);
    /* A stream io with a send on its way hears of writability from that
     * send's completion (see send_done): a poll would wake it for nothing. */
    if ((interest & KP_EV_WRITE) && !(is_stream(st, io) && st->slots[idx].sq != NO_SLOT))
        m |= POLLOUT;
    return m;
}

static void poll_arm(struct uring_state *st, unsigned idx, unsigned interest)
{
    struct uring_slot *s = &st->slots[idx];
    unsigned mask = poll_mask(st, idx, interest);
    struct io_uring_sqe *sqe = mask != 0 ? get_sqe(st) : NULL;

    if (sqe == NULL)
        return;
    if (s->io->flags & KP_IO_LEVEL)
        io_uring_prep_poll_add(sqe, s->io->fd, mask);
    else
        io_uring_prep_poll_multishot(sqe, s->io->fd, mask);
    s->poll_seq++;
    io_uring_sqe_set_data64(sqe, user_data(OP_POLL, idx, s->poll_seq));
    s->poll_armed = true;
    s->poll = (struct pending){sqe, st->epoch};
}

/* Its completions are no longer this slot's (the seq moves on). */
static void poll_disarm(struct uring_state *st, unsigned idx)
{
    struct uring_slot *s = &st->slots[idx];

    if (!s->poll_armed)
        return;
    uint64_t old = user_data(OP_POLL, idx, s->poll_seq);
    s->poll_armed = false;
    s->poll_seq++;
    take_back(st, &s->poll, old);
}

/* A failure of an operation itself that another try may not repeat. */
static bool transient(int res)
{
    return res == -ECANCELED || res == -EINTR || res == -EAGAIN || res == -ENOMEM;
}

/* --- accepts -------------------------------------------------------------------------- */

/* A free accept entry (ACC_FREE), the table grown when all are taken. */
static unsigned accept_entry(struct uring_state *st)
{
    for (unsigned i = 0; i < st->naccepts; i++) {
        if (st->accepts[i]->state == ACC_FREE)
            return i;
    }
    unsigned n = st->naccepts > 0 ? st->naccepts * 2 : URING_ACCEPT_DEPTH;
    st->accepts = kp_realloc(st->accepts, n * sizeof(*st->accepts));
    for (unsigned i = st->naccepts; i < n; i++)
        st->accepts[i] = kp_calloc(1, sizeof(**st->accepts));
    unsigned first = st->naccepts;
    st->naccepts = n;
    return first;
}

/* Keep URING_ACCEPT_DEPTH accepts armed or done for the listener of slot
 * idx (it is registered for reading). */
static void accept_arm(struct uring_state *st, unsigned idx)
{
    struct uring_slot *s = &st->slots[idx];
    unsigned have = 0;

    for (unsigned i = 0; i < st->naccepts; i++) {
        const struct uring_accept *e = st->accepts[i];
        have += e->io == s->io && (e->state == ACC_ARMED || e->state == ACC_DONE);
    }
    for (; have < URING_ACCEPT_DEPTH; have++) {
        struct io_uring_sqe *sqe = get_sqe(st);
        if (sqe == NULL)
            return;
        unsigned ai = accept_entry(st);
        struct uring_accept *e = st->accepts[ai];
        *e = (struct uring_accept){.io = s->io,
                                   .slot = idx,
                                   .reg = s->reg,
                                   .tag = e->tag + 1,
                                   .state = ACC_ARMED,
                                   .peer_len = sizeof(e->peer),
                                   .sqe = {sqe, st->epoch}};
        io_uring_prep_accept(sqe, s->io->fd, (struct sockaddr *)&e->peer, &e->peer_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, user_data(OP_ACCEPT, ai, e->tag));
    }
}

/* The first connection (or error) waiting for io, or NULL. */
static struct uring_accept *accept_done(const struct uring_state *st, const struct kp_io *io)
{
    for (unsigned i = 0; i < st->naccepts; i++) {
        if (st->accepts[i]->io == io && st->accepts[i]->state == ACC_DONE)
            return st->accepts[i];
    }
    return NULL;
}

static unsigned accept_complete(struct uring_state *st, unsigned ai, uint64_t ud, int res);

/* The accepts' completions already in the completion queue, taken now
 * (a worker that stops accepting may end before its next wait, and must
 * know of the connections it holds): each is marked there as nothing to
 * collect (the queue is shared memory the kernel only appends to). */
static void accept_reap(struct uring_state *st)
{
    struct io_uring_cqe *cqe;
    unsigned head;

    io_uring_for_each_cqe(&st->ring, head, cqe)
    {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        if ((ud >> 56) != OP_ACCEPT)
            continue;
        unsigned slot = accept_complete(st, (unsigned)(ud >> 32) & 0xffffffu, ud, cqe->res);
        if (slot != NO_SLOT)
            kp_loop_post(st->loop, st->slots[slot].io, KP_EV_READ);
        cqe->user_data = user_data(OP_IGNORE, 0, 0);
    }
}

/* Cancel the accepts in flight on listener io now, then take with one
 * accept4() a connection they may have left behind. The kernel wakes one
 * waiting accept per new connection; if that was one being cancelled, the
 * connection would wait in the backlog for the next one to arrive, though
 * another ring (a new worker after a reload) waits on the same socket. */
static void accept_sweep(struct uring_state *st, struct kp_io *io)
{
    struct io_uring_sync_cancel_reg reg = {
        .fd = io->fd, .flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL, .timeout = {1, 0}};
    struct sockaddr_storage peer;
    socklen_t peer_len;

    int rc = io_uring_register_sync_cancel(&st->ring, &reg);
    if (rc < 0 && rc != -ENOENT) {
        /* An older kernel: cancelled at the next enter instead. */
        for (unsigned i = 0; i < st->naccepts; i++) {
            const struct uring_accept *e = st->accepts[i];
            if (e->io == io && e->state == ACC_CANCELLING)
                cancel(st, user_data(OP_ACCEPT, i, e->tag));
        }
    }
    accept_reap(st);
    int fd = kp_socket_accept(io->fd, &peer, &peer_len);
    if (fd < 0)
        return;
    unsigned ai = accept_entry(st);
    struct uring_accept *e = st->accepts[ai];
    *e = (struct uring_accept){.io = io,
                               .tag = e->tag + 1,
                               .state = ACC_DONE,
                               .res = fd,
                               .peer_len = peer_len,
                               .peer = peer};
}

/* The listener io stops accepting: its armed accepts are taken back (one
 * that completes meanwhile is kept for io, see struct uring_accept), and
 * errors not handed over yet are forgotten (they said why it stopped, or
 * are stale once it starts again: an EMFILE would stop it once more).
 * Connections it holds already are posted to it: they are its owner's to
 * serve now, not when (if ever) it listens again. */
static void accept_disarm(struct uring_state *st, struct kp_io *io)
{
    bool in_flight = false;

    for (unsigned i = 0; i < st->naccepts; i++) {
        struct uring_accept *e = st->accepts[i];
        if (e->io == io && e->state == ACC_DONE && e->res < 0)
            e->state = ACC_FREE;
        if (e->io != io || e->state != ACC_ARMED)
            continue;
        if (e->sqe.epoch == st->epoch) {
            take_back(st, &e->sqe, 0);
            e->state = ACC_FREE;
        } else {
            e->state = ACC_CANCELLING;
            in_flight = true;
        }
    }
    if (in_flight && !st->closing)
        accept_sweep(st, io);
    if (!st->closing && accept_done(st, io) != NULL)
        kp_loop_post(st->loop, io, KP_EV_READ);
}

/* Whether slot idx still holds the registration that armed e. */
static bool accept_registered(const struct uring_state *st, const struct uring_accept *e)
{
    const struct uring_slot *s = &st->slots[e->slot];

    return s->io == e->io && s->reg == e->reg;
}

/* An accept's completion: a connection (or an error) kept for its
 * listener, reported as KP_EV_READ to the registration that armed it, or
 * posted to the listener when it was unregistered meanwhile (it hands the
 * connection to its owner even then, see kp_io_accept). Returns the slot
 * to report to, or NO_SLOT. */
static unsigned accept_complete(struct uring_state *st, unsigned ai, uint64_t ud, int res)
{
    struct uring_accept *e = ai < st->naccepts ? st->accepts[ai] : NULL;

    if (e == NULL || e->tag != (uint32_t)ud ||
        (e->state != ACC_ARMED && e->state != ACC_CANCELLING)) {
        if (res >= 0)
            close(res); /* nobody's (cannot happen: every accept has its entry) */
        return NO_SLOT;
    }
    bool mine = e->state == ACC_ARMED && accept_registered(st, e);
    if (res < 0 && (transient(res) || e->state == ACC_CANCELLING)) {
        e->state = ACC_FREE;
        if (mine && (e->io->interest & KP_EV_READ))
            accept_arm(st, e->slot);
        return NO_SLOT;
    }
    e->state = ACC_DONE;
    e->res = res;
    if (res >= 0)
        kp_socket_accepted_peer(&e->peer, e->peer_len);
    if (mine)
        return e->slot;
    if (!st->closing)
        kp_loop_post(st->loop, e->io, KP_EV_READ);
    return NO_SLOT;
}

/* kp_io_accept: a connection accepted ahead for io, the accept armed again
 * in its place while io reads. */
static int uring_accept(struct kp_loop *loop, struct kp_io *io, struct sockaddr_storage *peer,
                        socklen_t *peer_len)
{
    struct uring_state *st = loop->bstate;
    struct uring_accept *e = accept_done(st, io);

    if (e == NULL)
        return -EAGAIN;
    int res = e->res;
    if (res >= 0) {
        *peer = e->peer;
        *peer_len = e->peer_len;
    }
    e->state = ACC_FREE;
    e->io = NULL;
    if (io->registered && (io->interest & KP_EV_READ))
        accept_arm(st, io->slot);
    /* More wait: reported again, as a level-triggered listener would be. */
    if (accept_done(st, io) != NULL)
        kp_loop_post(loop, io, KP_EV_READ);
    return res;
}

/* The ring goes: connections accepted and never handed over are closed
 * (their clients see the end of the stream, as from a listener closed with
 * connections in its backlog). */
static void accepts_free(struct uring_state *st)
{
    for (unsigned i = 0; i < st->naccepts; i++) {
        if (st->accepts[i]->state == ACC_DONE && st->accepts[i]->res >= 0)
            close(st->accepts[i]->res);
        kp_free(st->accepts[i]);
    }
    kp_free(st->accepts);
}

/* --- provided buffers and receives ---------------------------------------------------- */

static void recv_arm(struct uring_state *st, unsigned idx);

/* Give buffer bid back to the kernel, then let the connections waiting
 * for one receive again. */
static void buf_return(struct uring_state *st, unsigned bid)
{
    io_uring_buf_ring_add(st->br, st->bufmem + (size_t)bid * URING_BUF_SIZE, URING_BUF_SIZE,
                          (unsigned short)bid, io_uring_buf_ring_mask(st->nbufs), 0);
    io_uring_buf_ring_advance(st->br, 1);
    st->lent--;
    while (st->starved_head != NO_SLOT && st->lent < st->nbufs) {
        unsigned idx = st->starved_head;
        struct uring_slot *s = &st->slots[idx];
        st->starved_head = s->next;
        s->starved = false;
        recv_arm(st, idx);
    }
}

static void unstarve(struct uring_state *st, unsigned idx)
{
    if (!st->slots[idx].starved)
        return;
    st->slots[idx].starved = false;
    for (unsigned *p = &st->starved_head; *p != NO_SLOT; p = &st->slots[*p].next) {
        if (*p == idx) {
            *p = st->slots[idx].next;
            return;
        }
    }
}

/* Arm the multishot receive if the connection may read ahead: it wants to
 * read, has not reached its end or an error, holds fewer than its share of
 * buffers, and none is live. With the ring dry it waits for a buffer. */
static void recv_arm(struct uring_state *st, unsigned idx)
{
    struct uring_slot *s = &st->slots[idx];

    if (s->rstate != RECV_IDLE || s->eof || s->err != 0 || s->qn >= URING_CONN_BUFS ||
        !(s->io->interest & KP_EV_READ) || s->starved)
        return;
    if (st->lent == st->nbufs) {
        s->starved = true;
        s->next = st->starved_head;
        st->starved_head = idx;
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(st);
    if (sqe == NULL)
        return;
    io_uring_prep_recv_multishot(sqe, s->io->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = URING_BGID;
    io_uring_sqe_set_data64(sqe, user_data(OP_RECV, idx, s->reg));
    s->rstate = RECV_ARMED;
    s->recv = (struct pending){sqe, st->epoch};
}

static void recv_cancel(struct uring_state *st, unsigned idx)
{
    struct uring_slot *s = &st->slots[idx];

    if (s->rstate != RECV_ARMED)
        return;
    s->rstate =
        take_back(st, &s->recv, user_data(OP_RECV, idx, s->reg)) ? RECV_IDLE : RECV_CANCELLING;
}

/* Bytes received into buffer bid join the connection's queue; at its
 * share of buffers the connection stops receiving until it reads. */
static void enqueue(struct uring_state *st, unsigned idx, unsigned bid, unsigned len)
{
    struct uring_slot *s = &st->slots[idx];

    st->bufs[bid] = (struct uring_buf){.next = NO_BUF, .off = 0, .len = (uint16_t)len};
    if (s->qn == 0)
        s->qhead = (uint16_t)bid;
    else
        st->bufs[s->qtail].next = (uint16_t)bid;
    s->qtail = (uint16_t)bid;
    s->qn++;
    if (s->qn >= URING_CONN_BUFS)
        recv_cancel(st, idx);
}

/* Give back every buffer the connection holds (it closes). */
static void drop_queue(struct uring_state *st, unsigned idx)
{
    struct uring_slot *s = &st->slots[idx];

    while (s->qn > 0) {
        unsigned bid = s->qhead;
        s->qhead = st->bufs[bid].next;
        s->qn--;
        buf_return(st, bid);
    }
}

static ssize_t uring_recv(struct kp_loop *loop, struct kp_io *io, void *buf, size_t len)
{
    struct uring_state *st = loop->bstate;
    unsigned idx = io->slot;
    struct uring_slot *s = &st->slots[idx];
    size_t done = 0;

    if (!is_stream(st, io)) {
        ssize_t n;
        do {
            n = read(io->fd, buf, len);
        } while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
    }
    while (done < len && s->qn > 0) {
        unsigned bid = s->qhead;
        struct uring_buf *b = &st->bufs[bid];
        size_t take = b->len - b->off;
        if (take > len - done)
            take = len - done;
        memcpy((char *)buf + done, st->bufmem + (size_t)bid * URING_BUF_SIZE + b->off, take);
        b->off = (uint16_t)(b->off + take);
        done += take;
        if (b->off == b->len) {
            s->qhead = b->next;
            s->qn--;
            buf_return(st, bid);
        }
    }
    /* Below its share again: receive on (a no-op while one is live). */
    recv_arm(st, idx);
    /* An end or error behind the bytes handed over is reported again, as a
     * readable (hung-up) socket would be: it came with those bytes, and a
     * handler that stops at a short read would otherwise never see it. */
    if (done > 0 && s->qn == 0 && (s->eof || s->err != 0))
        kp_loop_post(loop, io, KP_EV_READ | (s->eof ? KP_EV_EOF : 0));
    if (done > 0)
        return (ssize_t)done;
    if (s->err != 0)
        return s->err;
    return s->eof ? 0 : -EAGAIN;
}

static bool setup_bufs(struct uring_state *st, unsigned max_fds)
{
    struct utsname u;
    int major = 0, minor = 0;

    /* Multishot receive came with Linux 6.0. */
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2 || major < 6)
        return false;
    unsigned n = round_pow2(max_fds / 4, URING_BUFS_MIN, URING_BUFS_MAX);
    size_t size = n * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return false;
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)mem, .ring_entries = n, .bgid = URING_BGID};
    if (io_uring_register_buf_ring(&st->ring, &reg, 0) < 0) {
        munmap(mem, size);
        return false;
    }
    st->br = mem;
    st->br_size = size;
    st->nbufs = n;
    st->bufmem = kp_alloc((size_t)n * URING_BUF_SIZE);
    st->bufs = kp_calloc(n, sizeof(*st->bufs));
    io_uring_buf_ring_init(st->br);
    for (unsigned i = 0; i < n; i++)
        io_uring_buf_ring_add(st->br, st->bufmem + (size_t)i * URING_BUF_SIZE, URING_BUF_SIZE,
                              (unsigned short)i, io_uring_buf_ring_mask(n), (int)i);
    io_uring_buf_ring_advance(st->br, (int)n);
    return true;
}

/* --- sends ---------------------------------------------------------------------------- */

static ssize_t plain_send(int fd, const struct iovec *iov, size_t n, int flags)
{
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
    ssize_t w;

    do {
        w = sendmsg(fd, &m, MSG_NOSIGNAL | flags);
    } while (w < 0 && errno == EINTR);
    return w < 0 ? -errno : w;
}

static void grow_sends(struct uring_state *st)
{
    unsigned old = st->nsends, n = old > 0 ? old * 2 : 64;

    st->sends = kp_realloc(st->sends, n * sizeof(*st->sends));
    memset(st->sends + old, 0, (n - old) * sizeof(*st->sends));
    for (unsigned i = n; i-- > old;) {
        st->sends[i].next = st->send_free;
        st->send_free = i;
    }
    st->nsends = n;
}

static unsigned send_new(struct uring_state *st, unsigned idx)
{
    if (st->send_free == NO_SLOT)
        grow_sends(st);
    unsigned qi = st->send_free;
    struct uring_send *q = &st->sends[qi];
    st->send_free = q->next;
    st->sends_live++;
    *q = (struct uring_send){.buf = st->nspare > 0 ? st->spare[--st->nspare]
                                                   : kp_alloc(URING_SEND_BUF),
                             .cap = URING_SEND_BUF,
                             .fd = st->slots[idx].io->fd,
                             .owner = idx,
                             .tag = q->tag,
                             .next = NO_SLOT,
                             .prev = NO_SLOT};
    return qi;
}

static void orphan_unlink(struct uring_state *st, unsigned qi)
{
    struct uring_send *q = &st->sends[qi];

    if (!q->orphan_listed)
        return;
    if (q->prev != NO_SLOT)
        st->sends[q->prev].next = q->next;
    else
        st->orphan_head = q->next;
    if (q->next != NO_SLOT)
        st->sends[q->next].prev = q->prev;
    else
        st->orphan_tail = q->prev;
    q->orphan_listed = false;
}

static void send_free(struct uring_state *st, unsigned qi)
{
    struct uring_send *q = &st->sends[qi];

    orphan_unlink(st, qi);
    if (q->cap == URING_SEND_BUF && st->nspare < URING_SEND_SPARE)
        st->spare[st->nspare++] = q->buf;
    else
        kp_free(q->buf);
    q->buf = NULL;
    q->next = st->send_free;
    st->send_free = qi;
    st->sends_live--;
}

/* (Re)write the send's operation for its bytes still to go: a queued one
 * in place (bytes joined it), else a new one. */
static bool send_prep(struct uring_state *st, unsigned qi)
{
    struct uring_send *q = &st->sends[qi];
    struct io_uring_sqe *sqe =
        q->sqe.sqe != NULL && q->sqe.epoch == st->epoch ? q->sqe.sqe : get_sqe(st);

    if (sqe == NULL)
        return false;
    /* MSG_WAITALL: the kernel goes on after a short send of a stream
     * socket, so one completion says the bytes are all out (or failed). */
    io_uring_prep_send(sqe, q->fd, q->buf + q->off, q->len - q->off, MSG_NOSIGNAL | MSG_WAITALL);
    if (sqe != q->sqe.sqe || q->sqe.epoch != st->epoch)
        q->tag++;
    io_uring_sqe_set_data64(sqe, user_data(OP_SEND, qi, q->tag));
    q->sqe = (struct pending){sqe, st->epoch};
    return true;
}

/* Room for want more bytes in a send not submitted yet. */
static size_t send_room(struct uring_state *st, struct uring_send *q, size_t want)
{
    size_t room = URING_SEND_MAX - q->len;

    if (want > room)
        want = room;
    if (q->len + want > q->cap) {
        size_t cap = q->cap;
        while (cap < q->len + want)
            cap *= 2;
        if (cap > URING_SEND_MAX)
            cap = URING_SEND_MAX;
        if (q->cap == URING_SEND_BUF && st->nspare < URING_SEND_SPARE) {
            char *b = kp_alloc(cap);
            memcpy(b, q->buf, q->len);
            st->spare[st->nspare++] = q->buf;
            q->buf = b;
        } else {
            q->buf = kp_realloc(q->buf, cap);
        }
        q->cap = cap;
    }
    return want;
}

/* A socket that a plain write found full: writability is then reported by
 * a poll, whatever the interest says now (the caller asks for KP_EV_WRITE
 * next). */
static void want_write(struct uring_state *st, unsigned idx)
{
    if (!st->slots[idx].poll_armed)
        poll_arm(st, idx, st->slots[idx].io->interest | KP_EV_WRITE);
}

static ssize_t uring_send(struct kp_loop *loop, struct kp_io *io, const struct iovec *iov, size_t n,
                          int flags)
{
    struct uring_state *st = loop->bstate;
    unsigned idx = io->slot;
    struct uring_slot *s = &st->slots[idx];
    size_t total = 0;

    if (!is_stream(st, io))
        return plain_send(io->fd, iov, n, flags);
    if (s->werr != 0)
        return s->werr;
    for (size_t i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (s->sq == NO_SLOT && (flags & MSG_MORE)) {
        /* sendfile() follows from the loop (uring_sendfile): nothing is on
         * its way, so a plain write keeps the order at no extra cost. */
        ssize_t w = plain_send(io->fd, iov, n, flags);
        if (w == -EAGAIN || (w >= 0 && (size_t)w < total))
            want_write(st, idx);
        return w;
    }
    if (total == 0)
        return 0;
    if (s->sq == NO_SLOT)
        s->sq = send_new(st, idx);
    struct uring_send *q = &st->sends[s->sq];
    /* Submitted already: the next bytes wait for its completion. */
    if (q->sqe.sqe != NULL && q->sqe.epoch != st->epoch)
        return -EAGAIN;
    size_t take = send_room(st, q, total), done = 0;
    if (take == 0)
        return -EAGAIN;
    for (size_t i = 0; i < n && done < take; i++) {
        size_t k = iov[i].iov_len < take - done ? iov[i].iov_len : take - done;
        memcpy(q->buf + q->len + done, iov[i].iov_base, k);
        done += k;
    }
    q->len += take;
    if (!send_prep(st, s->sq)) {
        s->sq = NO_SLOT;
        send_free(st, (unsigned)(q - st->sends));
        return -ENOMEM;
    }
    return (ssize_t)take;
}

static ssize_t uring_sendfile(struct kp_loop *loop, struct kp_io *io, int fd, off_t *off,
                              size_t len)
{
    struct uring_state *st = loop->bstate;
    struct uring_slot *s = &st->slots[io->slot];

    if (is_stream(st, io) && s->sq != NO_SLOT)
        return -EAGAIN; /* after the bytes on their way: their completion reports writability */
    if (is_stream(st, io) && s->werr != 0)
        return s->werr;
    ssize_t w = sendfile(io->fd, fd, off, len);
    w = w < 0 ? -errno : w;
    if (is_stream(st, io) && (w == -EAGAIN || (w >= 0 && (size_t)w < len)))
        want_write(st, io->slot);
    return w;
}

static bool uring_sending(const struct kp_loop *loop, const struct kp_io *io)
{
    const struct uring_state *st = loop->bstate;

    return is_stream(st, io) && st->slots[io->slot].sq != NO_SLOT;
}

static int uring_shutdown(struct kp_loop *loop, struct kp_io *io)
{
    struct uring_state *st = loop->bstate;
    struct uring_slot *s = &st->slots[io->slot];

    if (is_stream(st, io) && s->sq != NO_SLOT) {
        st->sends[s->sq].shut = true; /* done by send_done */
        return 0;
    }
    return shutdown(io->fd, SHUT_WR) == 0 ? 0 : -errno;
}

/* The connection closes (or leaves the loop) with a send on its way. Its
 * descriptor is closed right after, so a send not submitted yet is
 * submitted now, while the number still names this socket (its bytes are
 * the end of a response), or dropped for a reset; one in flight goes on as
 * an orphan until it completes or its deadline, or is cancelled for a
 * reset. An orphan is never submitted again: its number may name another
 * socket by then. */
static void send_orphan(struct uring_state *st, unsigned qi, bool reset, bool ring_close)
{
    struct uring_send *q = &st->sends[qi];
    bool queued = q->sqe.epoch == st->epoch;

    q->owner = NO_SLOT;
    if (reset) {
        if (queued) {
            take_back(st, &q->sqe, 0);
            send_free(st, qi);
        } else {
            cancel(st, user_data(OP_SEND, qi, q->tag));
        }
        return;
    }
    /* Closed by the ring, the socket keeps its number until the close
     * queued behind this send runs: the send can wait for the next enter. */
    if (queued && !ring_close)
        submit(st);
    q->deadline = st->loop->clock.msec + URING_ORPHAN_MS;
    q->next = NO_SLOT;
    q->prev = st->orphan_tail;
    if (st->orphan_tail != NO_SLOT)
        st->sends[st->orphan_tail].next = qi;
    else
        st->orphan_head = qi;
    st->orphan_tail = qi;
    q->orphan_listed = true;
}

/* Cancel the orphans past their deadline; returns the wait's bound (ms)
 * until the next one's, or timeout_ms. */
static int orphans_expire(struct uring_state *st, int timeout_ms)
{
    uint64_t now = st->loop->clock.msec;

    while (st->orphan_head != NO_SLOT && st->sends[st->orphan_head].deadline <= now) {
        unsigned qi = st->orphan_head;
        orphan_unlink(st, qi);
        cancel(st, user_data(OP_SEND, qi, st->sends[qi].tag));
    }
    if (st->orphan_head == NO_SLOT)
        return timeout_ms;
    uint64_t left = st->sends[st->orphan_head].deadline - now;
    return timeout_ms >= 0 && (uint64_t)timeout_ms < left ? timeout_ms : (int)left;
}

/* Whether user_data ud of send qi is its submission now current. */
static bool send_current(const struct uring_state *st, unsigned qi, uint64_t ud)
{
    return qi < st->nsends && st->sends[qi].buf != NULL && st->sends[qi].tag == (uint32_t)ud;
}

/* A send's completion: the rest submitted again after a short send, else
 * the send is over. Returns the events for its connection (writability
 * once its bytes are out, if it waits for that) and sets *owner. */
static unsigned send_done(struct uring_state *st, unsigned qi, const struct io_uring_cqe *cqe,
                          unsigned *owner)
{
    struct uring_send *q = &st->sends[qi];
    int res = cqe->res;

    *owner = q->owner;
    if (res > 0)
        q->off += (size_t)res;
    bool more = res >= 0 ? q->off < q->len : (res == -EINTR || res == -EAGAIN);
    if (more && q->owner != NO_SLOT && send_prep(st, qi))
        return 0;
    bool out = res >= 0 && q->off == q->len, shut = q->shut;
    int fd = q->fd;
    send_free(st, qi);
    if (*owner == NO_SLOT)
        return 0;
    struct uring_slot *s = &st->slots[*owner];
    s->sq = NO_SLOT;
    if (!out)
        s->werr = res < 0 ? res : -EIO;
    else if (shut && shutdown(fd, SHUT_WR) < 0)
        s->werr = -errno;
    /* A failed send is a dead connection even when it waits only to read
     * (idle after its response): report it to what it watches. */
    if (!(s->io->interest & KP_EV_WRITE))
        return s->werr != 0 ? KP_EV_ERROR | s->io->interest : 0;
    /* From here writability is the poll's again (a sendfile() that finds
     * the socket full waits for it), as when the interest was set. */
    want_write(st, *owner);
    return KP_EV_WRITE | (s->werr != 0 ? KP_EV_ERROR : 0);
}

/* The worker ends (its connections are closed, their objects gone): stop
 * every poll and receive, so that no listener queues connections for a
 * worker on its way out, and give the bytes handed over a few seconds to
 * leave. */
static void sends_finish(struct uring_state *st)
{
    struct io_uring_cqe *cqe;

    st->closing = true;
    for (unsigned i = 0; i < st->nslots; i++) {
        struct uring_slot *s = &st->slots[i];
        if (s->poll_armed)
            cancel(st, user_data(OP_POLL, i, s->poll_seq));
        if (s->rstate == RECV_ARMED)
            cancel(st, user_data(OP_RECV, i, s->reg));
        s->poll_armed = false;
        s->rstate = RECV_IDLE;
    }
    for (unsigned i = 0; i < st->naccepts; i++) {
        struct uring_accept *e = st->accepts[i];
        if (e->state == ACC_ARMED)
            cancel(st, user_data(OP_ACCEPT, i, e->tag));
        if (e->state == ACC_ARMED || e->state == ACC_CANCELLING)
            e->state = ACC_CANCELLING;
    }
    for (unsigned i = 0; i < st->nsends; i++)
        st->sends[i].owner = NO_SLOT;
    for (int w = 0; w < URING_EXIT_WAITS && st->sends_live > 0; w++) {
        struct __kernel_timespec ts = {.tv_nsec = 100000000};
        unsigned head, seen = 0, owner;
        io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
        st->epoch++;
        io_uring_for_each_cqe(&st->ring, head, cqe)
        {
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            unsigned qi = (unsigned)(ud >> 32) & 0xffffffu;
            seen++;
            if ((ud >> 56) == OP_SEND && send_current(st, qi, ud))
                send_done(st, qi, cqe, &owner);
            else if ((ud >> 56) == OP_ACCEPT)
                accept_complete(st, qi, ud, cqe->res);
        }
        io_uring_cq_advance(&st->ring, seen);
    }
}

/* --- the backend ---------------------------------------------------------------------- */

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
    st->loop = loop;
    st->skip_cqe = (st->ring.features & IORING_FEAT_CQE_SKIP) != 0;
    st->nslots = 1;
    st->slots = kp_calloc(1, sizeof(*st->slots));
    st->free_head = 0;
    st->slots[0].next = NO_SLOT;
    st->starved_head = NO_SLOT;
    st->send_free = st->orphan_head = st->orphan_tail = NO_SLOT;
    while (st->nslots < max_fds)
        grow_slots(st);
    setup_bufs(st, max_fds);
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
    sends_finish(st);
    struct io_uring_sync_cancel_reg all = {.fd = -1,
                                           .flags =
                                               IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY,
                                           .timeout = {.tv_sec = 1}};
    io_uring_submit(&st->ring);
    io_uring_register_sync_cancel(&st->ring, &all);
    io_uring_get_events(&st->ring);
    /* Accepts that completed before their cancellation took: their
     * connections are closed with those never handed over. */
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&st->ring, head, cqe)
    {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        seen++;
        if ((ud >> 56) == OP_ACCEPT)
            accept_complete(st, (unsigned)(ud >> 32) & 0xffffffu, ud, cqe->res);
    }
    io_uring_cq_advance(&st->ring, seen);
    accepts_free(st);
    io_uring_queue_exit(&st->ring);
    if (st->br != NULL) {
        munmap(st->br, st->br_size);
        kp_free(st->bufmem);
        kp_free(st->bufs);
    }
    for (unsigned i = 0; i < st->nsends; i++)
        kp_free(st->sends[i].buf);
    while (st->nspare > 0)
        kp_free(st->spare[--st->nspare]);
    kp_free(st->sends);
    kp_free(st->slots);
    kp_free(st);
    loop->bstate = NULL;
}

static void slot_free(struct uring_state *st, unsigned idx)
{
    struct uring_slot *s = &st->slots[idx];

    s->io = NULL;
    s->reg++;
    s->next = st->free_head;
    st->free_head = idx;
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
        struct uring_slot *s = &st->slots[io->slot];
        st->free_head = s->next;
        *s = (struct uring_slot){
            .io = io, .poll_seq = s->poll_seq, .reg = s->reg + 1, .sq = NO_SLOT};
    }
    struct uring_slot *s = &st->slots[io->slot];
    unsigned old = fresh ? 0 : io->interest;
    if (is_listen(io)) {
        io->interest = interest;
        if (interest & KP_EV_READ)
            accept_arm(st, io->slot);
        else
            accept_disarm(st, io);
        /* Connections kept while it was not registered: readiness now. */
        if ((interest & KP_EV_READ) && accept_done(st, io) != NULL)
            kp_loop_post(loop, io, KP_EV_READ);
        return 0;
    }
    if (!is_stream(st, io) || ((old ^ interest) & KP_EV_WRITE)) {
        poll_disarm(st, io->slot);
        poll_arm(st, io->slot, interest);
    }
    if (!is_stream(st, io) || !(interest & KP_EV_READ))
        return 0;
    /* The core sets io->interest after this returns: receive by the new one. */
    io->interest = interest;
    recv_arm(st, io->slot);
    /* Bytes (or the end) already waiting are readiness that exists now. */
    if (s->qn > 0 || s->eof || s->err != 0)
        kp_loop_post(loop, io, KP_EV_READ | (s->eof ? KP_EV_EOF : 0));
    return 0;
}

/* Forget io's slot: its poll, receive and accepts taken back, its send
 * left to finish as an orphan (submitted now unless ring_close: the ring
 * closes the socket after it, see uring_close). */
static void slot_forget(struct uring_state *st, struct kp_io *io, bool ring_close)
{
    unsigned idx = io->slot;

    poll_disarm(st, idx);
    if (is_listen(io))
        accept_disarm(st, io);
    if (is_stream(st, io)) {
        recv_cancel(st, idx);
        unstarve(st, idx);
        drop_queue(st, idx);
    }
    if (st->slots[idx].sq != NO_SLOT)
        send_orphan(st, st->slots[idx].sq, (io->flags & KP_IO_ABORT) != 0, ring_close);
    st->slots[idx].sq = NO_SLOT;
    slot_free(st, idx);
}

static int uring_del(struct kp_loop *loop, struct kp_io *io)
{
    slot_forget(loop->bstate, io, false);
    return 0;
}

/* kp_loop_close of a stream socket: an IORING_OP_CLOSE queued after
 * everything queued for it (its last send among them: a send takes its own
 * reference to the socket when the ring issues it, in queue order, so the
 * close cannot cut it short), so a connection's end costs no system call of
 * its own, nor the early submission its last send would need before a
 * close(2). A successful close posts no completion (it would wake a wait
 * for nothing); the number stays this process's until the close runs. */
static bool uring_close(struct kp_loop *loop, struct kp_io *io)
{
    struct uring_state *st = loop->bstate;
    int fd = io->fd;

    if (!st->skip_cqe || !is_stream(st, io))
        return false;
    slot_forget(st, io, true);
    struct io_uring_sqe *sqe = get_sqe(st);
    if (sqe == NULL) {
        submit(st); /* what waits for the socket goes first */
        close(fd);
        return true;
    }
    io_uring_prep_close(sqe, fd);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, user_data(OP_IGNORE, 0, 0));
    return true;
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

/* A poll completion: its events, re-arming a poll that ended (a one-shot
 * one after each report, a multishot one the kernel stopped). */
static unsigned poll_done(struct uring_state *st, unsigned idx, const struct io_uring_cqe *cqe)
{
    struct uring_slot *s = &st->slots[idx];
    struct kp_io *io = s->io;

    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        s->poll_armed = false;
        if (cqe->res >= 0 || transient(cqe->res))
            poll_arm(st, idx, io->interest);
    }
    if (cqe->res >= 0)
        return to_kp_events(cqe->res, io->interest);
    return transient(cqe->res) ? 0 : KP_EV_ERROR | io->interest;
}

/* A receive completion of the slot's current connection: bytes queued,
 * the end of the stream, or an error, each reported as KP_EV_READ. */
static unsigned recv_done(struct uring_state *st, unsigned idx, const struct io_uring_cqe *cqe,
                          bool has_buf, unsigned bid)
{
    struct uring_slot *s = &st->slots[idx];
    unsigned ev = 0;

    if (!(cqe->flags & IORING_CQE_F_MORE))
        s->rstate = RECV_IDLE;
    if (cqe->res > 0 && has_buf) {
        enqueue(st, idx, bid, (unsigned)cqe->res);
        ev = KP_EV_READ;
    } else if (has_buf) {
        buf_return(st, bid);
    }
    if (cqe->res == 0) {
        s->eof = true;
        ev = KP_EV_READ | KP_EV_EOF;
    } else if (cqe->res < 0 && cqe->res != -ENOBUFS && !transient(cqe->res)) {
        s->err = cqe->res;
        ev = KP_EV_READ | KP_EV_ERROR;
    }
    /* Ended (the ring ran dry, the kernel stopped it, or our bound did):
     * on again when the connection may read ahead. */
    recv_arm(st, idx);
    return ev;
}

/* Events for the io of slot idx into the reports, merged per io. Returns
 * the new count. */
static unsigned report(struct uring_state *st, unsigned idx, unsigned ev, struct kp_ready *ready,
                       unsigned got)
{
    struct uring_slot *s = &st->slots[idx];

    if (s->round == st->round) {
        ready[s->ridx].events |= ev;
        return got;
    }
    s->round = st->round;
    s->ridx = got;
    s->warm[0] = s->io->warm[0];
    s->warm[1] = s->io->warm[1];
    ready[got] = (struct kp_ready){.io = s->io, .gen = s->io->gen, .events = ev};
    return got + 1;
}

/* One completion into the reports. Returns the new count. */
static unsigned collect(struct uring_state *st, const struct io_uring_cqe *cqe,
                        struct kp_ready *ready, unsigned got)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    unsigned idx = (unsigned)(ud >> 32) & 0xffffffu;
    enum op_kind kind = (enum op_kind)(ud >> 56);
    bool has_buf = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT, ev;

    if (has_buf)
        st->lent++;
    if ((kind & OP_CANCEL) && cqe->res == -EALREADY)
        cancel(st, ud & ~((uint64_t)OP_CANCEL << 56));
    if (kind == OP_SEND && send_current(st, idx, ud)) {
        unsigned owner;
        ev = send_done(st, idx, cqe, &owner);
        return ev != 0 ? report(st, owner, ev, ready, got) : got;
    }
    if (kind == OP_ACCEPT) {
        unsigned slot = accept_complete(st, idx, ud, cqe->res);
        return slot != NO_SLOT ? report(st, slot, KP_EV_READ, ready, got) : got;
    }
    if ((kind != OP_RECV && kind != OP_POLL) || idx >= st->nslots)
        return got;
    struct uring_slot *s = &st->slots[idx];
    bool mine = s->io != NULL && (kind == OP_RECV ? s->reg == (uint32_t)ud && is_stream(st, s->io)
                                                  : s->poll_seq == (uint32_t)ud);
    if (!mine) {
        /* Disowned but still armed (a cancellation that did not take):
         * cancel it again. Its bytes belong to a closed connection. */
        if (cqe->flags & IORING_CQE_F_MORE)
            cancel(st, ud);
        if (has_buf)
            buf_return(st, bid);
        return got;
    }
    ev = kind == OP_RECV ? recv_done(st, idx, cqe, has_buf, bid) : poll_done(st, idx, cqe);
    return ev != 0 ? report(st, idx, ev, ready, got) : got;
}

/* Start loading every cache line of [p, p + len). */
static void prefetch(const void *p, size_t len)
{
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + len;

    for (; a < end; a += 64)
        __builtin_prefetch((const void *)a);
}

/* Start loading, for the receives a wait brought, the memory collecting
 * and handling them reads: the slots, then each io's owner and protocol
 * state (struct kp_io.warm, as the slot kept it at the io's last report:
 * reading it from the io would wait for the io). With hundreds of
 * connections a connection's objects have left the cache by its next
 * request (the kernel's work for all the others passes in between);
 * loaded at their first touch, one connection after the other, each
 * report would stall in turn (the profile showed a fifth of the worker's
 * user time at the first read of the protocol state), where requested
 * together the misses overlap. Two passes: the second reads the slots the
 * first requested. A prefetch never faults, so a stale pointer costs a
 * wasted load, nothing else. */
static void warm(struct uring_state *st)
{
    struct io_uring_cqe *cqe;
    unsigned head, n;

    for (unsigned pass = 0; pass < 2; pass++) {
        n = 0;
        io_uring_for_each_cqe(&st->ring, head, cqe)
        {
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            unsigned idx = (unsigned)(ud >> 32) & 0xffffffu;
            if ((ud >> 56) != OP_RECV || idx >= st->nslots)
                continue;
            if (n++ == URING_WARM_MAX)
                break;
            const struct uring_slot *s = &st->slots[idx];
            if (pass == 0) {
                prefetch(s, sizeof(*s));
            } else {
                prefetch(s->warm[0].p, s->warm[0].len);
                prefetch(s->warm[1].p, s->warm[1].len);
            }
        }
    }
}

static int uring_wait(struct kp_loop *loop, int timeout_ms, struct kp_ready *ready, unsigned cap)
{
    struct uring_state *st = loop->bstate;
    struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
                                   .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
    struct io_uring_cqe *cqe;

    timeout_ms = orphans_expire(st, timeout_ms);
    ts = (struct __kernel_timespec){.tv_sec = timeout_ms / 1000,
                                    .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
    if (io_uring_cq_has_overflow(&st->ring))
        loop->cq_overflows++;
    int rc = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, timeout_ms >= 0 ? &ts : NULL,
                                              (sigset_t *)loop->wait_mask);
    st->epoch++;
    if (rc < 0 && rc != -ETIME && rc != -EBUSY && rc != -EAGAIN)
        return rc;
    unsigned head, seen = 0, got = 0;
    st->round++;
    warm(st);
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
    .recv = uring_recv,
    .send = uring_send,
    .sendfile = uring_sendfile,
    .shutdown = uring_shutdown,
    .sending = uring_sending,
    .accept = uring_accept,
    .close = uring_close,
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
