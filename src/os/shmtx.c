/* The shared-memory accept mutex and its bell (see shmtx.h). */
#include "kelpie/os/shmtx.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int kp_shmtx_init(struct kp_shmtx *m)
{
    atomic_init(&m->lock, 0);
    m->bell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return m->bell < 0 ? -errno : 0;
}

void kp_shmtx_destroy(struct kp_shmtx *m)
{
    if (m->bell >= 0)
        close(m->bell);
    m->bell = -1;
}

static bool swap(struct kp_shmtx *m, uint64_t from, uint64_t to)
{
    return atomic_compare_exchange_strong_explicit(&m->lock, &from, to, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

bool kp_shmtx_trylock(struct kp_shmtx *m, pid_t pid)
{
    /* A plain load first keeps the cache line shared while someone holds
     * the lock; the CAS only runs when it looks free. */
    if (atomic_load_explicit(&m->lock, memory_order_relaxed) != 0)
        return false;
    return swap(m, 0, (uint32_t)pid);
}

bool kp_shmtx_unlock(struct kp_shmtx *m, pid_t pid)
{
    return swap(m, (uint32_t)pid, 0) || swap(m, (uint32_t)pid | KP_SHMTX_OFFERED, 0);
}

/* Spins before checking that the lock's owner still lives. */
#define SPINS_BEFORE_CHECK 1000

void kp_shmtx_lock_short(struct kp_shmtx *m, pid_t pid)
{
    for (unsigned spins = 0; !kp_shmtx_trylock(m, pid); spins++) {
        if (spins >= SPINS_BEFORE_CHECK) {
            pid_t owner = kp_shmtx_owner(m);
            /* EPERM: the number now belongs to another user's process,
             * so the worker that held the lock is gone too. */
            if (owner != 0 && kill(owner, 0) != 0 && (errno == ESRCH || errno == EPERM))
                kp_shmtx_unlock(m, owner);
            spins = 0;
        }
        sched_yield();
    }
}

pid_t kp_shmtx_owner(struct kp_shmtx *m)
{
    return (pid_t)(uint32_t)atomic_load_explicit(&m->lock, memory_order_relaxed);
}

bool kp_shmtx_offer(struct kp_shmtx *m, pid_t pid)
{
    return swap(m, (uint32_t)pid, (uint32_t)pid | KP_SHMTX_OFFERED);
}

bool kp_shmtx_take_over(struct kp_shmtx *m, pid_t pid)
{
    uint64_t word = atomic_load_explicit(&m->lock, memory_order_relaxed);

    return (word & KP_SHMTX_OFFERED) != 0 && swap(m, word, (uint32_t)pid);
}

void kp_shmtx_ring(struct kp_shmtx *m)
{
    uint64_t one = 1;
    ssize_t n = m->bell >= 0 ? write(m->bell, &one, sizeof(one)) : 0;

    /* It can only fail with EAGAIN, when the counter is saturated: the bell
     * is ringing anyway. */
    (void)n;
}

bool kp_shmtx_hear(struct kp_shmtx *m)
{
    uint64_t n;

    return m->bell >= 0 && read(m->bell, &n, sizeof(n)) == (ssize_t)sizeof(n);
}
