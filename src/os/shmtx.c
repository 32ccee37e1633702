/* The shared-memory accept mutex (see shmtx.h for why it is try-only). */
#include "kelpie/os/shmtx.h"

bool kp_shmtx_trylock(struct kp_shmtx *m, pid_t pid)
{
    int expected = 0;

    /* A plain load first keeps the cache line shared while someone holds
     * the lock; the CAS only runs when it looks free. */
    if (atomic_load_explicit(&m->owner, memory_order_relaxed) != 0)
        return false;
    return atomic_compare_exchange_strong_explicit(&m->owner, &expected, (int)pid,
                                                   memory_order_acquire, memory_order_relaxed);
}

bool kp_shmtx_unlock(struct kp_shmtx *m, pid_t pid)
{
    int expected = (int)pid;

    return atomic_compare_exchange_strong_explicit(&m->owner, &expected, 0, memory_order_release,
                                                   memory_order_relaxed);
}

pid_t kp_shmtx_owner(struct kp_shmtx *m)
{
    return (pid_t)atomic_load_explicit(&m->owner, memory_order_relaxed);
}
