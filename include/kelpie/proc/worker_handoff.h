/* One acceptor for the reactor threads of a process (`worker_threads N
 * accept=handoff;`): the literature's shape (memcached's dispatcher,
 * Netty's boss loop). Reactor 0 alone watches the listening sockets; each
 * socket it accepts goes round-robin to the reactors, itself included. A
 * connection for another reactor is put in that reactor's inbox (a small
 * queue under a mutex) and the reactor's eventfd bell is rung (only when
 * the inbox was empty: the reactor takes everything in it per ring); the
 * reactor adopts it into its own pool (kp_accept_adopt) from its loop. On
 * io_uring the bell is watched through the ring like any descriptor.
 *
 * A reactor whose connections are all in use (its scoreboard slot shows no
 * free connection) is passed over, the acceptor's own included (so a full
 * reactor 0 does not stop the others getting connections); when every one
 * is full, the acceptor's own reactor takes the connection (evicting an
 * idle one, or refusing it and pausing until one of its own is freed).
 *
 * Ending: the acceptor closes the hand-off for good when it stops
 * accepting (graceful quit, reload) and rings every bell; a reactor that
 * is draining stays until the hand-off is closed and its inbox empty, so
 * that no connection handed to it is left behind. A reactor that leaves
 * (its run returned) is skipped from then on, and what its inbox still
 * held is closed. */
#ifndef KP_WORKER_HANDOFF_H
#define KP_WORKER_HANDOFF_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "kelpie/event/accept.h"
#include "kelpie/event/conf.h"
#include "kelpie/event/scoreboard.h"

struct kp_handoff_item {
    int fd;
    socklen_t peer_len;
    const struct kp_listening *ls;
    struct sockaddr_storage peer;
};

/* One reactor's inbox. Everything below lock is under it. */
struct kp_handoff_inbox {
    pthread_mutex_t lock;
    struct kp_handoff_item *items; /* a ring of cap items */
    unsigned head, len, cap;
    bool gone; /* the reactor left: nothing more goes in */
    int bell;  /* the reactor's eventfd (not owned) */
    const struct kp_sb_slot *slot;
};

struct kp_handoff {
    struct kp_handoff_inbox *inboxes;
    unsigned n;
    unsigned next;        /* round-robin cursor: the acceptor's thread only */
    _Atomic bool closed;  /* the acceptor hands nothing more out */
    unsigned long handed; /* connections given to other reactors (acceptor only) */
};

/* Inboxes for n reactors: bells[i] is reactor i's eventfd, slots[i] its
 * scoreboard slot (NULL: never thought full). Allocates. */
void kp_handoff_init(struct kp_handoff *h, unsigned n, const int *bells,
                     struct kp_sb_slot *const *slots);
/* Close the sockets still queued and free (after every reactor has left). */
void kp_handoff_free(struct kp_handoff *h);

/* kp_accept_handoff_fn for reactor 0's acceptor (ctx: the kp_handoff):
 * picks the next reactor in turn that is not full; false when that is
 * reactor 0 itself, or when every reactor is full. Never blocks but for
 * the inbox's mutex. */
bool kp_handoff_send(void *ctx, int fd, const struct sockaddr_storage *peer, socklen_t peer_len,
                     const struct kp_listening *ls);
/* The acceptor stopped for good: nothing more is handed out; every
 * reactor is rung so that a draining one can see it. Idempotent. */
void kp_handoff_close(struct kp_handoff *h);
/* Reactor i adopts what its inbox holds into a (kp_accept_adopt). */
void kp_handoff_take(struct kp_handoff *h, unsigned i, struct kp_acceptor *a);
/* Whether reactor i may end a drain: the hand-off is closed and its inbox
 * empty. */
bool kp_handoff_drained(struct kp_handoff *h, unsigned i);
/* Reactor i's run is over: it gets nothing more, and what it was still
 * handed is closed. */
void kp_handoff_leave(struct kp_handoff *h, unsigned i);

#endif
