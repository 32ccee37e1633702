/* A try-only mutex in shared memory: the lock word holds the owner's pid and
 * is taken with a compare-and-swap. Nobody ever blocks on it (a worker that
 * misses the lock keeps serving its connections), so no futex is needed.
 * Because the owner is recorded, the master can release the lock of a worker
 * that died holding it. */
#ifndef KP_SHMTX_H
#define KP_SHMTX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

struct kp_shmtx {
    _Atomic int owner; /* 0: free, else the holder's pid */
};

static inline void kp_shmtx_init(struct kp_shmtx *m)
{
    atomic_init(&m->owner, 0);
}

/* Take the lock for pid if it is free. Lock-free, never blocks. */
bool kp_shmtx_trylock(struct kp_shmtx *m, pid_t pid);
/* Release the lock if pid holds it. Returns true if it was released. Used
 * both by the holder and by the master for a dead holder. */
bool kp_shmtx_unlock(struct kp_shmtx *m, pid_t pid);
/* Current owner pid, or 0. */
pid_t kp_shmtx_owner(struct kp_shmtx *m);

#endif
