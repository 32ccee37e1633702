/* The scoreboard: the one shared-memory region between the master and its
 * workers. It holds the accept mutex, master-level counters and one slot per
 * worker with its identity, heartbeat and counters.
 *
 * Each worker writes only its own slot, so counters need no locks: a single
 * writer does relaxed load+store (a plain add on x86), and readers (the
 * master, the status endpoint in any worker) see values that are at most a
 * moment old. Slots are cache-line aligned so workers never share a line. */
#ifndef KP_SCOREBOARD_H
#define KP_SCOREBOARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kelpie/os/shmtx.h"

/* Two full generations of the largest worker count fit during a reload. */
#define KP_SB_MAX_SLOTS 128

enum kp_sb_state {
    KP_SB_FREE = 0,
    KP_SB_STARTING, /* forked, building its reactor */
    KP_SB_READY,    /* accepting connections */
    KP_SB_DRAINING, /* old generation: finishing its connections */
};

enum kp_sb_counter {
    KP_SB_ACCEPTED = 0,
    KP_SB_HANDLED,
    KP_SB_REQUESTS,
    KP_SB_BYTES_IN,
    KP_SB_BYTES_OUT,
    KP_SB_1XX,
    KP_SB_2XX,
    KP_SB_3XX,
    KP_SB_4XX,
    KP_SB_5XX,
    KP_SB_ACCEPT_EAGAIN, /* accept() calls that found nothing: wasted wake-ups */
    KP_SB_CQ_OVERFLOW,   /* io_uring: waits that found the completion queue overflowed */
    KP_SB_NCOUNTERS
};

enum kp_sb_gauge {
    KP_SB_ACTIVE = 0, /* connections open */
    KP_SB_READING,
    KP_SB_WRITING,
    KP_SB_IDLE, /* waiting in keep-alive */
    KP_SB_NGAUGES
};

/* How readily a worker can take one more connection, best last (event/
 * accept.c publishes it before each wait; the balance prefers the best). */
enum kp_sb_room {
    KP_SB_ROOM_NONE = 0, /* every connection is in a request past its head */
    KP_SB_ROOM_EVICT,    /* only in place of a slow reader of a request head */
    KP_SB_ROOM_SCARCE,   /* free or idle connections, under 1/8 of them */
    KP_SB_ROOM_PLENTY,   /* at least 1/8 of its connections free or idle */
    KP_SB_ROOM_LEVELS
};

struct kp_sb_slot {
    _Atomic int pid;
    _Atomic int state; /* enum kp_sb_state */
    _Atomic unsigned generation;
    _Atomic unsigned index;  /* worker number within its generation */
    _Atomic unsigned thread; /* reactor thread within its worker (worker_threads) */
    /* What the reactor on this slot writes into the accept mutex's lock word
     * (os/shmtx.h): its thread id, which is the pid for a process with one
     * reactor; 0 until it starts. The master releases a dead worker's lock
     * by it. */
    _Atomic int owner;
    /* The reactor's run returned while its process goes on (a thread done
     * draining before the others): its heartbeat has stopped for good. */
    _Atomic bool finished;
    _Atomic uint64_t start_ms;     /* wall clock */
    _Atomic uint64_t heartbeat_ms; /* wall clock, refreshed by the worker's loop */
    /* The same beat on the monotonic clock: the master's watchdog measures
     * with it, so that a step of the wall clock never looks like a freeze. */
    _Atomic uint64_t heartbeat_mono_ms;
    _Atomic uint64_t counters[KP_SB_NCOUNTERS];
    _Atomic int64_t gauges[KP_SB_NGAUGES];
    _Atomic unsigned free_conns; /* worker_connections minus active */
    _Atomic unsigned room;       /* enum kp_sb_room */
    /* Accept balance (see event/accept.c), written by the worker only. */
    _Atomic bool waiting;         /* not watching the shared listeners, but the mutex's bell */
    _Atomic bool accepting;       /* accept_mutex off: watching the shared listeners */
    _Atomic uint64_t last_accept; /* accept_seq when it last accepted; 0: never */
} __attribute__((aligned(64)));

struct kp_scoreboard {
    struct kp_shmtx accept_mutex;
    _Atomic unsigned generation; /* current generation number */
    _Atomic uint64_t reloads;
    _Atomic uint64_t respawns;
    _Atomic uint64_t start_ms; /* master start, wall clock */
    _Atomic int master_pid;
    _Atomic unsigned n_slots;    /* slots ever claimed: readers scan only these */
    _Atomic unsigned threads;    /* worker_threads of the current generation (0 read as 1) */
    _Atomic uint64_t accept_seq; /* connections accepted by all workers */
    struct kp_sb_slot slots[KP_SB_MAX_SLOTS];
    /* The counts of workers that are gone, by worker number: the master
     * folds a slot in when it reaps the slot's worker, so that totals (and
     * each worker number's series) keep growing across reloads and respawns
     * as nginx's do. fold_seq is odd while a fold is under way: a reader
     * that sees it change reads again, so no count is seen twice or not at
     * all. */
    _Atomic unsigned fold_seq;
    _Atomic uint64_t retired[KP_SB_MAX_SLOTS][KP_SB_NCOUNTERS];
};

/* Map a zeroed scoreboard in shared memory and make the accept mutex (with
 * its bell descriptor, inherited by every worker forked afterwards). NULL
 * with errno on failure. */
struct kp_scoreboard *kp_sb_create(void);
/* Close the bell and unmap (the master, at exit). */
void kp_sb_destroy(struct kp_scoreboard *sb);
/* Claim a free slot for a new worker (master only). NULL when full. */
struct kp_sb_slot *kp_sb_claim(struct kp_scoreboard *sb, unsigned generation, unsigned index);
/* The slot of pid, or NULL. A worker with several reactor threads has one
 * slot per thread: this is the first of them; kp_sb_next gives the rest. */
struct kp_sb_slot *kp_sb_find(struct kp_scoreboard *sb, pid_t pid);
/* The next slot of pid after prev (NULL: the first), or NULL. */
struct kp_sb_slot *kp_sb_next(struct kp_scoreboard *sb, pid_t pid, const struct kp_sb_slot *prev);
/* The slot whose reactor holds the lock word value owner, or NULL. */
struct kp_sb_slot *kp_sb_find_owner(struct kp_scoreboard *sb, int owner);
/* The row of sb->retired (and of the status page's series) for a worker
 * number and thread: worker * threads + thread, the last row beyond the
 * table. */
unsigned kp_sb_row(const struct kp_scoreboard *sb, unsigned index, unsigned thread);
/* Zero a slot so it can be claimed again (master only, after reaping). */
void kp_sb_release(struct kp_sb_slot *slot);
/* Fold the counters of a slot whose worker has exited into sb->retired
 * under its row (kp_sb_row),
 * then release it (master only, after waitpid: nobody writes it any more). */
void kp_sb_retire(struct kp_scoreboard *sb, struct kp_sb_slot *slot);

/* Single-writer updates (the owning worker only). */
static inline void kp_sb_count(struct kp_sb_slot *s, enum kp_sb_counter c, uint64_t n)
{
    if (s == NULL)
        return;
    uint64_t v = atomic_load_explicit(&s->counters[c], memory_order_relaxed);
    atomic_store_explicit(&s->counters[c], v + n, memory_order_relaxed);
}

static inline void kp_sb_gauge(struct kp_sb_slot *s, enum kp_sb_gauge g, int64_t delta)
{
    if (s == NULL)
        return;
    int64_t v = atomic_load_explicit(&s->gauges[g], memory_order_relaxed);
    atomic_store_explicit(&s->gauges[g], v + delta, memory_order_relaxed);
}

static inline uint64_t kp_sb_get(const struct kp_sb_slot *s, enum kp_sb_counter c)
{
    return atomic_load_explicit(&s->counters[c], memory_order_relaxed);
}

static inline int64_t kp_sb_gauge_get(const struct kp_sb_slot *s, enum kp_sb_gauge g)
{
    return atomic_load_explicit(&s->gauges[g], memory_order_relaxed);
}

/* Record that the worker of slot s accepted a connection (its place in the
 * order of all accepts is what breaks ties between equally busy workers). */
void kp_sb_accepted(struct kp_scoreboard *sb, struct kp_sb_slot *s);

/* What a worker needs to decide whether to compete for new connections (see
 * event/accept.c). A worker is "fair" to take the next connection when no
 * READY worker has more room than it (enum kp_sb_room; NONE is never fair),
 * and among those with as much room it has fewer active connections than
 * their average, or as many as the average (a tie) and was not the last of
 * them to accept one: ties then go round in turn instead of to whoever is
 * quickest. So a worker that would have to evict a slow client to accept
 * leaves the next connection to one with a free slot. */
struct kp_sb_balance {
    unsigned n_ready;     /* READY workers, the caller included if READY */
    bool fair;            /* the caller is fair (always when alone with room) */
    unsigned n_fair;      /* other READY workers that are fair */
    unsigned n_waiting;   /* other READY workers waiting on the bell */
    unsigned n_better;    /* ... of which are fair */
    unsigned n_accepting; /* other READY workers watching the shared listeners
                           * (accept_mutex off) */
};

/* Fill out from the slots (two passes over the claimed ones; the caller's
 * own active count and room are read from its slot, self, which counts
 * whether READY or not). */
void kp_sb_balance(struct kp_scoreboard *sb, const struct kp_sb_slot *self,
                   struct kp_sb_balance *out);

#endif
