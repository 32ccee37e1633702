/* The accept path: one acceptor per worker owns a kp_io per listening socket
 * and turns readiness into connections taken from the pool, then hands each
 * one to the protocol through a callback.
 *
 * Accepting stops (listen interest removed) for three independent reasons,
 * and resumes when none is left (prefork adds a fourth for the listeners all
 * workers share: the balance rule of kp_accept_before_wait):
 *   - the owner paused it (kp_accept_pause: graceful quit, and later the
 *     shared accept mutex);
 *   - the pool is empty and has nothing to evict (an idle connection or a
 *     reader of a request head, the oldest of them goes: "worker_connections
 *     are not enough, reusing connections"); every connection is then in a
 *     request ("worker_connections are not enough"; each warning at most once
 *     a second); the pool's freed hook resumes it when a connection comes back;
 *   - accept() failed for lack of descriptors or memory (EMFILE, ENFILE,
 *     ENOBUFS, ENOMEM): retried after KP_ACCEPT_RETRY_MS instead of spinning.
 * All three go through one function that adds or removes the interest. */
#ifndef KP_ACCEPT_H
#define KP_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kelpie/event/conf.h"
#include "kelpie/event/conn.h"
#include "kelpie/event/loop.h"
#include "kelpie/event/scoreboard.h"
#include "kelpie/event/timer.h"

#define KP_ACCEPT_RETRY_MS 200

/* Take over a freshly accepted connection. On entry c->io.fd is the socket
 * (non-blocking, close-on-exec), c->peer/peer_len/ls are filled, and c->io is
 * registered for KP_EV_READ with no handler: the callback must set
 * c->io.handler and c->close before returning, or close c (for instance with
 * kp_conn_close). ctx is the pointer given in kp_accept_opts. */
typedef void (*kp_accept_conn_fn)(void *ctx, struct kp_conn *c);

/* Hand a socket just accepted on ls to another reactor (one acceptor for
 * several reactors, see proc/worker_handoff.h). Returns true when it took
 * fd (it is then that reactor's to adopt, or close), false to leave the
 * connection to this acceptor's own reactor. */
typedef bool (*kp_accept_handoff_fn)(void *ctx, int fd, const struct sockaddr_storage *peer,
                                     socklen_t peer_len, const struct kp_listening *ls);

struct kp_acceptor;

/* One listening socket as the acceptor watches it. */
struct kp_accept_listener {
    struct kp_io io; /* io.fd is the listening fd */
    const struct kp_listening *ls;
    struct kp_acceptor *a;
    bool shared;   /* one socket for all workers (not reuseport) */
    bool watching; /* registered in the loop */
};

struct kp_accept_opts {
    const struct kp_listening *listening; /* the configuration's, fds opened */
    size_t n_listening;
    unsigned worker_index; /* picks reuseport_fds[worker_index] when present: the
                            * reactor's number (worker * worker_threads + thread) */
    bool multi_accept;     /* accept until EAGAIN instead of one per event */
    /* No other reactor accepts from the listeners all workers share (one
     * worker with one reactor): a completion backend may then accept on
     * them ahead, as on a reuseport socket of this reactor's own (see
     * KP_IO_LISTEN and accept.c). */
    bool sole;
    kp_accept_conn_fn on_conn;
    void *ctx; /* passed to on_conn */
    /* Optional: offered every socket accepted here first; the acceptor then
     * accepts even while its own pool is full (another reactor may have
     * room), and only a socket handoff leaves here can starve it. */
    kp_accept_handoff_fn handoff;
    void *handoff_ctx;
    /* Prefork: how workers share the listening sockets that are not
     * reuseport. With sb and accept_mutex, the shared-memory mutex decides
     * who watches them (kp_accept_before_wait); without the mutex every
     * worker watches them with EPOLLEXCLUSIVE. sb NULL: a single process. */
    struct kp_scoreboard *sb;
    struct kp_sb_slot *slot; /* this worker's slot in sb */
    bool accept_mutex;
    uint64_t mutex_delay_ms; /* accept_mutex_delay */
    int owner;               /* the lock owner value (os/shmtx.h): unique per reactor, the
                              * thread id when a process runs several; 0: getpid() */
};

struct kp_acceptor {
    struct kp_loop *loop;
    struct kp_conn_pool *pool;
    struct kp_accept_listener *listeners;
    size_t n_listeners;
    bool multi_accept;
    kp_accept_conn_fn on_conn;
    void *ctx;
    kp_accept_handoff_fn handoff;
    void *handoff_ctx;
    bool paused;               /* by the owner */
    bool starved;              /* no free connection */
    bool backoff;              /* accept() ran out of descriptors or memory */
    bool listening;            /* listen interest is registered */
    struct kp_timer retry;     /* ends the backoff */
    uint64_t next_starved_log; /* clock.msec before which the warning is not repeated */
    uint64_t next_reuse_log;   /* the same for "reusing connections" */
    uint64_t accepted;         /* connections handed to on_conn */
    /* Prefork balance over the shared listeners (see accept.c). */
    struct kp_scoreboard *sb;
    struct kp_sb_slot *slot;
    bool balance;      /* prefork with at least one shared listener */
    bool use_mutex;    /* the accept mutex gates the shared listeners */
    bool mutex_held;   /* from kp_accept_before_wait to kp_accept_after_accept */
    bool stepped_back; /* no mutex: not watching the shared listeners */
    struct kp_io bell; /* the mutex's bell, watched while not watching them */
    int pid;           /* the lock owner value for this reactor (opts.owner) */
    uint64_t mutex_delay_ms;
};

/* Set up the acceptor and start listening on every listener. The fds stay
 * owned by the caller. Registers itself as pool->freed. Returns 0 or -errno
 * (-EBADF for a listener with no fd; the failure is logged with its address,
 * and nothing is left registered). */
int kp_accept_init(struct kp_acceptor *a, struct kp_loop *loop, struct kp_conn_pool *pool,
                   const struct kp_accept_opts *o);
/* Take over a socket another reactor's acceptor handed to this one (fd
 * accepted on ls, non-blocking, close-on-exec): into a connection of this
 * pool (evicting as an accept would) and on to on_conn, counted as accepted
 * here. Returns 0, or -ENOBUFS when the pool has no connection to give and
 * -errno when the loop cannot watch it: fd is closed then (logged). */
int kp_accept_adopt(struct kp_acceptor *a, int fd, const struct sockaddr_storage *peer,
                    socklen_t peer_len, const struct kp_listening *ls);
/* Stop listening, disarm the retry timer, unhook from the pool, free. */
void kp_accept_free(struct kp_acceptor *a);
/* Stop / restart accepting on the owner's behalf. Resuming does not override
 * starvation or backoff; both only change the listen interest. Pausing a
 * worker that had the accept mutex hands it on to a waiting worker. */
void kp_accept_pause(struct kp_acceptor *a);
void kp_accept_resume(struct kp_acceptor *a);

/* Before each wait: publish this worker's active and free connection counts
 * (prefork), and decide whether it watches the shared listeners during the
 * wait. A worker competes for them only when no READY worker has more room
 * (at least 1/8 of its connections free or idle; fewer; only a slow reader
 * of a request head to evict) and it is not busier than the average of those
 * with as much, so that new connections spread instead of going to whoever
 * was quickest; and the listeners are never left unwatched while some worker
 * could take them, whatever its room (see accept.c for how the accept mutex,
 * its bell and `accept_mutex off` do both). The holder of the accept mutex
 * watches the shared listeners while it waits; a worker that does not watch
 * them waits on the bell.
 * Returns the longest the caller may wait before deciding again
 * (accept_mutex_delay when not watching), or -1 for no limit. */
int kp_accept_before_wait(struct kp_acceptor *a);
/* After the accept events of a wait were handled (the loop's after_priority
 * hook): release the mutex, so it is never held while serving. */
void kp_accept_after_accept(void *acceptor);

#endif
