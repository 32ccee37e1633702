/* A try-only mutex in shared memory: the lock word holds the owner's pid and
 * is taken with a compare-and-swap. Nobody ever blocks on it (a worker that
 * misses the lock keeps serving its connections), so no futex is needed.
 * Because the owner is recorded, the master can release the lock of a worker
 * that died holding it. An owner may also offer the lock: it keeps it (and
 * keeps doing what the lock is for) until another process takes it over.
 *
 * The bell: an eventfd made with the mutex, before any worker is forked, so
 * every worker has it under the same descriptor number. Workers that want the
 * lock watch it in their event loop while they wait; whoever gives the lock
 * up for them rings it. Without it a waiter would only retry when its
 * accept_mutex_delay runs out, and connections would queue until then. */
#ifndef KP_SHMTX_H
#define KP_SHMTX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* In the lock word, next to the owner's pid (the low 32 bits; 0: free). */
#define KP_SHMTX_OFFERED (UINT64_C(1) << 32)

struct kp_shmtx {
    _Atomic uint64_t lock; /* owner pid, with KP_SHMTX_OFFERED when offered */
    int bell;              /* eventfd (non-blocking, close-on-exec); -1: none */
};

/* Prepare an unlocked mutex and make its bell. Returns 0 or -errno (then
 * bell is -1). */
int kp_shmtx_init(struct kp_shmtx *m);
/* Close the bell (the process that made it, at exit). */
void kp_shmtx_destroy(struct kp_shmtx *m);

/* Take the lock for pid if it is free. Lock-free, never blocks. */
bool kp_shmtx_trylock(struct kp_shmtx *m, pid_t pid);
/* Release the lock if pid holds it (offered or not). Returns true if it was
 * released. Used both by the holder and by the master for a dead holder. */
bool kp_shmtx_unlock(struct kp_shmtx *m, pid_t pid);
/* Take the lock for pid, waiting until it is free: only for sections that
 * copy or update a few hundred bytes (the shared TLS cache, limit zones), so
 * the wait is a spin with sched_yield. A lock whose owner died inside its
 * section is released for it, so a killed worker cannot stall the rest. */
void kp_shmtx_lock_short(struct kp_shmtx *m, pid_t pid);
/* Current owner pid, or 0. */
pid_t kp_shmtx_owner(struct kp_shmtx *m);
/* The owner pid offers the lock. Returns false if pid does not hold it. */
bool kp_shmtx_offer(struct kp_shmtx *m, pid_t pid);
/* Take an offered lock over for pid. Returns true if pid holds it now. */
bool kp_shmtx_take_over(struct kp_shmtx *m, pid_t pid);

/* Wake the processes watching the bell (the bell stays readable until one of
 * them hears it). Never blocks. */
void kp_shmtx_ring(struct kp_shmtx *m);
/* Consume the rings so far. Returns true if there was one. Never blocks. */
bool kp_shmtx_hear(struct kp_shmtx *m);

#endif
