/* The reactor: one loop per worker. It waits for readiness on registered file
 * descriptors (through a backend chosen by `events { use ...; }`), refreshes
 * the cached clock, dispatches to handlers, runs posted (deferred) events
 * after I/O, then expired timers. All state lives in struct kp_loop; there
 * are no globals, so a loop can run in a process or a thread unchanged.
 *
 * Readiness contract (holds for every backend): a handler is called when its
 * fd MAY be ready for the events of interest. Handlers read and write until
 * EAGAIN (for stream sockets a short read or short write also proves the
 * kernel buffer was drained or filled, so stopping there is safe, except for
 * an end of stream queued behind the bytes: see KP_EV_EOF); a handler
 * that stops early on purpose (e.g. a full buffer) and wants to continue
 * later must kp_loop_post() itself, because the epoll backend is
 * edge-triggered and will not report the same readiness again. Setting a new
 * interest set reports readiness that already exists.
 *
 * Lifetimes: an io deleted during a dispatch round must stay in memory until
 * kp_loop_run_once() returns (connections come from a preallocated pool and
 * listeners live as long as the worker, so both always do). */
#ifndef KP_LOOP_H
#define KP_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "kelpie/event/conf.h"
#include "kelpie/util/log.h"
#include "kelpie/util/time.h"
#include "kelpie/event/timer.h"

enum {
    KP_EV_READ = 1u << 0,
    KP_EV_WRITE = 1u << 1,
    KP_EV_ERROR = 1u << 2, /* reported together with READ|WRITE for the interest set */
    /* With KP_EV_READ, from backends that can tell (epoll's EPOLLRDHUP): the
     * peer shut down its writing side, so reading ends in end-of-stream once
     * the queued bytes are read. An edge-triggered backend reports that end
     * only once: a handler that stops at a short read must remember it, or
     * the end of a stream that arrived with the last bytes goes unnoticed. */
    KP_EV_EOF = 1u << 3,
};

struct kp_loop;
struct kp_io;
typedef void (*kp_io_fn)(struct kp_loop *loop, struct kp_io *io, unsigned events);

/* Memory a handler reads when its io is reported (see struct kp_io.warm). */
struct kp_io_warm {
    const void *p;
    size_t len;
};

/* One registered descriptor. Embedded in its owner (a connection, a listener). */
struct kp_io {
    int fd;
    unsigned interest; /* KP_EV_READ | KP_EV_WRITE currently registered */
    kp_io_fn handler;
    void *data;
    bool registered;
    bool posted; /* on the posted queue */
    unsigned posted_events;
    struct kp_io *posted_next, *posted_prev;
    uint32_t gen;         /* new on every registration: stale events from one wait are dropped */
    struct kp_loop *loop; /* the loop it was last registered with */
    unsigned slot;        /* backend bookkeeping (poll: index in its pollfd array) */
    unsigned flags;       /* KP_IO_*: set before the first kp_loop_set */
    /* What the handler reads when the io is reported: its owner (a
     * connection: kp_conn_get sets [0]) and the protocol's state ([1]), or
     * {NULL, 0}. A backend may start loading them for all the reports of a
     * wait before the first is handled (io_uring does); a hint only, never
     * read through. */
    struct kp_io_warm warm[2];
};

/* Registration flags (struct kp_io.flags). */
enum {
    /* Level-triggered even on epoll: listeners, so that pending connections
     * are reported again at every wait while the socket stays registered
     * (a worker re-taking the accept mutex must see what is still queued). */
    KP_IO_LEVEL = 1u << 0,
    /* EPOLLEXCLUSIVE: one of the waiting workers is woken, not all of them
     * (accept_mutex off). Ignored by poll and select. */
    KP_IO_EXCLUSIVE = 1u << 1,
    /* Dispatched before every other report of the same wait, followed by
     * the loop's after_priority hook (accept events, then the mutex goes;
     * and change reports that must be read before the requests of the
     * turn are answered: see partial_turn). */
    KP_IO_PRIORITY = 1u << 2,
    /* A stream socket read only through kp_io_recv: a completion backend
     * (io_uring) may read it ahead into its own buffers, and reports
     * KP_EV_READ once bytes (or the end of the stream, or an error) wait
     * there. Readiness backends ignore it (kp_io_recv is then recv(2)). */
    KP_IO_STREAM = 1u << 3,
    /* The socket ends with a reset (SO_LINGER 0, set before closing): bytes
     * a completion backend still holds for it (kp_io_send) are dropped
     * rather than sent first. */
    KP_IO_ABORT = 1u << 4,
    /* A listening socket accepted from only through kp_io_accept: a
     * completion backend (io_uring) may accept ahead of the handler
     * (IORING_OP_ACCEPT, the client's address with each connection) and
     * reports KP_EV_READ once a connection (or an error) waits there.
     * Readiness backends ignore it (kp_io_accept is then accept4(2)). */
    KP_IO_LISTEN = 1u << 5,
};

typedef void (*kp_loop_hook_fn)(void *ctx);

struct kp_loop_backend; /* ops table: one per backend file (event/backend.h) */
struct kp_ready;        /* one readiness report from a backend (event/backend.h) */

struct kp_loop {
    const struct kp_loop_backend *ops;
    void *bstate; /* backend state */
    struct kp_timer_heap timers;
    struct kp_io *posted_head, *posted_tail;
    struct kp_clock clock;
    const struct kp_log *log;
    unsigned max_fds;
    bool stop;
    struct kp_ready *ready; /* reports from the last wait, dispatched by loop.c */
    unsigned ready_cap;
    uint32_t gen_seq;               /* last io->gen handed out */
    const sigset_t *wait_mask;      /* NULL, or the signal mask installed only while
                                     * waiting (epoll_pwait/ppoll/pselect), so that a
                                     * signal blocked elsewhere interrupts the wait */
    kp_loop_hook_fn after_priority; /* called after KP_IO_PRIORITY reports, if any */
    uint64_t cq_overflows;          /* io_uring: waits that found the completion queue
                                     * overflowed (nothing is lost; see event/uring.c) */
    /* The clock turn (clock.turn) of the last wait that may have left
     * reports for the next one: its batch was full, or the completion
     * queue had overflowed. In any other turn every descriptor that was
     * ready when the wait returned is reported in it, KP_IO_PRIORITY ones
     * first, so what such a report announces is known before any other
     * handler of the turn runs. */
    uint64_t partial_turn;
    void *hook_ctx;
};

/* max_fds: how many descriptors may be registered at once (worker_connections
 * plus listeners); it sizes the backend's tables (poll grows past it). The
 * clock is read once here. Returns 0, -EINVAL for max_fds 0, or -errno from
 * the backend (e.g. epoll_create1). io_uring that cannot be set up falls
 * back to epoll with a [warn] line in log. */
int kp_loop_init(struct kp_loop *loop, enum kp_event_use use, unsigned max_fds,
                 const struct kp_log *log);
/* Release the backend and the timer heap. Registered fds are not closed. */
void kp_loop_free(struct kp_loop *loop);
/* "epoll", "poll", "select" or "io_uring". */
const char *kp_loop_backend_name(const struct kp_loop *loop);

/* Prepare an unregistered, unposted io. */
void kp_io_init(struct kp_io *io, int fd, kp_io_fn handler, void *data);
/* Register io for `interest` (KP_EV_READ|KP_EV_WRITE; 0 keeps it registered
 * but silent), or change its interest; an unchanged interest costs no system
 * call. Returns 0, -errno, or -EMFILE for select when fd >= FD_SETSIZE (the
 * caller closes the fd). On failure io keeps its previous state. */
int kp_loop_set(struct kp_loop *loop, struct kp_io *io, unsigned interest);
/* Unregister; also drops it from the posted queue, and events for it already
 * collected in this round are not delivered. Call before close(fd). Harmless
 * if not registered. Returns 0 or the backend's -errno (io is unregistered
 * either way). */
int kp_loop_del(struct kp_loop *loop, struct kp_io *io);
/* kp_loop_del for an io whose fd the caller closes right after (and has
 * never duplicated): the backend may skip the system call. */
void kp_loop_del_closing(struct kp_loop *loop, struct kp_io *io);
/* kp_loop_del_closing, then close io->fd (never duplicated) and set it to
 * -1. A completion backend may queue the close behind the bytes it still
 * sends for a KP_IO_STREAM io (io_uring: no system call of its own); the
 * descriptor's number stays taken until it runs. */
void kp_loop_close(struct kp_loop *loop, struct kp_io *io);
/* Call io->handler(loop, io, events) after the current I/O dispatch; posting
 * an io already posted merges the events. A handler that posts itself while
 * posted events run is called in the next iteration (the wait then does not
 * block), so reposting never starves I/O. */
void kp_loop_post(struct kp_loop *loop, struct kp_io *io, unsigned events);

/* Read from a KP_IO_STREAM io's socket: bytes read (at most len), 0 at the
 * end of the stream, -EAGAIN, or -errno; EINTR is retried. From the
 * backend's buffers when it reads ahead for io (a registered KP_IO_STREAM io
 * on io_uring), else recv(2) on io->fd. */
ssize_t kp_io_recv(struct kp_io *io, void *buf, size_t len);

/* Accept a connection on a KP_IO_LISTEN io's socket: the new descriptor
 * (non-blocking, close-on-exec) with *peer and *peer_len filled, -EAGAIN, or
 * -errno (accept4's errors). From the backend's queue when it accepts ahead
 * for io, else accept4(2) on io->fd while io is registered. An unregistered
 * io never takes a new connection (-EAGAIN), but a completion backend may
 * still hold connections it accepted for io before io was unregistered (an
 * accept that completed while it was being cancelled): it then posts
 * KP_EV_READ to io, hands them over here, and closes those never taken
 * when the loop is freed. So a KP_IO_LISTEN io stays in memory until the
 * loop is freed (a listener lives as long as its worker). */
int kp_io_accept(struct kp_io *io, struct sockaddr_storage *peer, socklen_t *peer_len);

/* Write to a KP_IO_STREAM io's socket (flags: MSG_MORE or 0; never
 * SIGPIPE): bytes taken (a short count means the socket, or the backend's
 * queue, is full: wait for KP_EV_WRITE), -EAGAIN, or -errno; EINTR is
 * retried. A completion backend (a registered KP_IO_STREAM io on io_uring)
 * copies them and sends them from the loop, in order; bytes it took leave
 * even when the connection closes right after (unless KP_IO_ABORT), as
 * from the kernel's socket buffer. Else send(2) (one piece) or sendmsg(2)
 * on io->fd. */
ssize_t kp_io_send(struct kp_io *io, const struct iovec *iov, size_t n, int flags);
/* sendfile(2) of len bytes of fd at *off (advanced) to io's socket, after
 * the bytes kp_io_send took: -EAGAIN while those are still on their way
 * (KP_EV_WRITE is reported once they are out). Bytes sent, or -errno. */
ssize_t kp_io_sendfile(struct kp_io *io, int fd, off_t *off, size_t len);
/* Whether bytes kp_io_send took are still on their way (a completion
 * backend's send not completed yet; then KP_EV_WRITE follows, if asked
 * for, once they are out). Always false on readiness backends. */
bool kp_io_sending(const struct kp_io *io);
/* shutdown(SHUT_WR) of io's socket once the bytes kp_io_send took are out
 * (at once when none wait). 0 or -errno. */
int kp_io_shutdown(struct kp_io *io);

/* Arm (or re-arm) t to fire delay_ms after the cached clock; disarm t. */
void kp_loop_timer_add(struct kp_loop *loop, struct kp_timer *t, uint64_t delay_ms);
void kp_loop_timer_del(struct kp_loop *loop, struct kp_timer *t);

/* One iteration: wait at most max_wait_ms (-1: until the next timer or an
 * event; 0 when events are posted), refresh the clock, dispatch I/O, run
 * posted events, run expired timers. Returns 0, or -errno on a backend
 * failure (EINTR is 0: a signal arrived). */
int kp_loop_run_once(struct kp_loop *loop, int max_wait_ms);

#endif
