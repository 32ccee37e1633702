/* The shared-memory scoreboard (see scoreboard.h). */
#include "kelpie/event/scoreboard.h"

#include <string.h>

#include "kelpie/os/shm.h"

struct kp_scoreboard *kp_sb_create(void)
{
    struct kp_scoreboard *sb = kp_shm_alloc(sizeof(*sb));

    if (sb != NULL)
        kp_shmtx_init(&sb->accept_mutex);
    return sb;
}

void kp_sb_destroy(struct kp_scoreboard *sb)
{
    kp_shm_free(sb, sizeof(*sb));
}

struct kp_sb_slot *kp_sb_claim(struct kp_scoreboard *sb, unsigned generation, unsigned index)
{
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        struct kp_sb_slot *s = &sb->slots[i];
        if (atomic_load(&s->state) != KP_SB_FREE || atomic_load(&s->pid) != 0)
            continue;
        kp_sb_release(s);
        atomic_store(&s->generation, generation);
        atomic_store(&s->index, index);
        atomic_store(&s->state, KP_SB_STARTING);
        return s;
    }
    return NULL;
}

struct kp_sb_slot *kp_sb_find(struct kp_scoreboard *sb, pid_t pid)
{
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        if (atomic_load(&sb->slots[i].pid) == (int)pid)
            return &sb->slots[i];
    }
    return NULL;
}

void kp_sb_release(struct kp_sb_slot *slot)
{
    atomic_store(&slot->state, KP_SB_FREE);
    atomic_store(&slot->pid, 0);
    atomic_store(&slot->generation, 0);
    atomic_store(&slot->start_ms, 0);
    atomic_store(&slot->heartbeat_ms, 0);
    for (size_t i = 0; i < KP_SB_NCOUNTERS; i++)
        atomic_store(&slot->counters[i], 0);
    for (size_t i = 0; i < KP_SB_NGAUGES; i++)
        atomic_store(&slot->gauges[i], 0);
    atomic_store(&slot->free_conns, 0);
}

double kp_sb_active_average(struct kp_scoreboard *sb, unsigned *n_ready)
{
    int64_t total = 0;
    unsigned n = 0;

    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        struct kp_sb_slot *s = &sb->slots[i];
        if (atomic_load_explicit(&s->state, memory_order_relaxed) != KP_SB_READY)
            continue;
        total += kp_sb_gauge_get(s, KP_SB_ACTIVE);
        n++;
    }
    *n_ready = n;
    return n ? (double)total / n : 0.0;
}
