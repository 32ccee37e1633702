/* The shared-memory scoreboard (see scoreboard.h). */
#include "kelpie/event/scoreboard.h"

#include <errno.h>
#include <string.h>

#include "kelpie/os/shm.h"

struct kp_scoreboard *kp_sb_create(void)
{
    struct kp_scoreboard *sb = kp_shm_alloc(sizeof(*sb));

    if (sb == NULL)
        return NULL;
    int rc = kp_shmtx_init(&sb->accept_mutex);
    if (rc != 0) {
        kp_shm_free(sb, sizeof(*sb));
        errno = -rc;
        return NULL;
    }
    return sb;
}

void kp_sb_destroy(struct kp_scoreboard *sb)
{
    kp_shmtx_destroy(&sb->accept_mutex);
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
        if (atomic_load(&sb->n_slots) < i + 1)
            atomic_store(&sb->n_slots, (unsigned)i + 1);
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
    atomic_store(&slot->heartbeat_mono_ms, 0);
    for (size_t i = 0; i < KP_SB_NCOUNTERS; i++)
        atomic_store(&slot->counters[i], 0);
    for (size_t i = 0; i < KP_SB_NGAUGES; i++)
        atomic_store(&slot->gauges[i], 0);
    atomic_store(&slot->free_conns, 0);
    atomic_store(&slot->waiting, false);
    atomic_store(&slot->last_accept, 0);
    atomic_store(&slot->accepting, false);
}

void kp_sb_accepted(struct kp_scoreboard *sb, struct kp_sb_slot *s)
{
    uint64_t seq = atomic_fetch_add_explicit(&sb->accept_seq, 1, memory_order_relaxed) + 1;

    atomic_store_explicit(&s->last_accept, seq, memory_order_relaxed);
}

static bool ready(const struct kp_sb_slot *s)
{
    return atomic_load_explicit(&s->state, memory_order_relaxed) == KP_SB_READY;
}

/* See struct kp_sb_balance. latest: the newest last_accept of the READY
 * workers (0 when none has accepted yet: then every tie is fair). */
static bool fair(const struct kp_sb_slot *s, double average, uint64_t latest)
{
    double active = (double)kp_sb_gauge_get(s, KP_SB_ACTIVE);
    uint64_t last = atomic_load_explicit(&s->last_accept, memory_order_relaxed);

    return active < average || (active <= average && (last != latest || latest == 0));
}

void kp_sb_balance(struct kp_scoreboard *sb, const struct kp_sb_slot *self,
                   struct kp_sb_balance *out)
{
    unsigned n = atomic_load_explicit(&sb->n_slots, memory_order_relaxed);
    int64_t total = 0;
    uint64_t latest = 0;

    *out = (struct kp_sb_balance){0};
    for (size_t i = 0; i < n; i++) {
        const struct kp_sb_slot *s = &sb->slots[i];
        if (!ready(s))
            continue;
        uint64_t last = atomic_load_explicit(&s->last_accept, memory_order_relaxed);
        total += kp_sb_gauge_get(s, KP_SB_ACTIVE);
        latest = last > latest ? last : latest;
        out->n_ready++;
    }
    out->average = out->n_ready ? (double)total / out->n_ready : 0.0;
    out->fair = out->n_ready <= 1 || fair(self, out->average, latest);
    for (size_t i = 0; i < n; i++) {
        const struct kp_sb_slot *s = &sb->slots[i];
        if (s == self || !ready(s))
            continue;
        bool is_fair = fair(s, out->average, latest);
        out->n_accepting += atomic_load_explicit(&s->accepting, memory_order_relaxed);
        out->n_fair += is_fair;
        if (!atomic_load_explicit(&s->waiting, memory_order_relaxed))
            continue;
        out->n_waiting++;
        out->n_better += is_fair;
    }
}
