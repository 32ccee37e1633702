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
    return kp_sb_next(sb, pid, NULL);
}

struct kp_sb_slot *kp_sb_next(struct kp_scoreboard *sb, pid_t pid, const struct kp_sb_slot *prev)
{
    for (size_t i = prev != NULL ? (size_t)(prev - sb->slots) + 1 : 0; i < KP_SB_MAX_SLOTS; i++) {
        if (atomic_load(&sb->slots[i].pid) == (int)pid)
            return &sb->slots[i];
    }
    return NULL;
}

struct kp_sb_slot *kp_sb_find_owner(struct kp_scoreboard *sb, int owner)
{
    for (size_t i = 0; i < KP_SB_MAX_SLOTS && owner > 0; i++) {
        if (atomic_load(&sb->slots[i].owner) == owner)
            return &sb->slots[i];
    }
    return NULL;
}

unsigned kp_sb_row(const struct kp_scoreboard *sb, unsigned index, unsigned thread)
{
    unsigned threads = atomic_load_explicit(&sb->threads, memory_order_relaxed);
    unsigned row = index * (threads > 1 ? threads : 1) + thread;

    return row < KP_SB_MAX_SLOTS ? row : KP_SB_MAX_SLOTS - 1;
}

void kp_sb_release(struct kp_sb_slot *slot)
{
    atomic_store(&slot->state, KP_SB_FREE);
    atomic_store(&slot->pid, 0);
    atomic_store(&slot->generation, 0);
    atomic_store(&slot->thread, 0);
    atomic_store(&slot->owner, 0);
    atomic_store(&slot->finished, false);
    atomic_store(&slot->start_ms, 0);
    atomic_store(&slot->heartbeat_ms, 0);
    atomic_store(&slot->heartbeat_mono_ms, 0);
    for (size_t i = 0; i < KP_SB_NCOUNTERS; i++)
        atomic_store(&slot->counters[i], 0);
    for (size_t i = 0; i < KP_SB_NGAUGES; i++)
        atomic_store(&slot->gauges[i], 0);
    atomic_store(&slot->free_conns, 0);
    atomic_store(&slot->room, KP_SB_ROOM_NONE);
    atomic_store(&slot->waiting, false);
    atomic_store(&slot->last_accept, 0);
    atomic_store(&slot->accepting, false);
}

void kp_sb_retire(struct kp_scoreboard *sb, struct kp_sb_slot *slot)
{
    _Atomic uint64_t *row =
        sb->retired[kp_sb_row(sb, atomic_load(&slot->index), atomic_load(&slot->thread))];

    atomic_fetch_add(&sb->fold_seq, 1);
    for (size_t i = 0; i < KP_SB_NCOUNTERS; i++)
        atomic_fetch_add(&row[i], atomic_load(&slot->counters[i]));
    kp_sb_release(slot);
    atomic_fetch_add(&sb->fold_seq, 1);
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

/* The READY workers with one level of room: how many, their active
 * connections, and the newest last_accept among them (0 when none has
 * accepted yet: then every tie is fair). */
struct level {
    unsigned n;
    int64_t total;
    uint64_t latest;
};

static unsigned room_of(const struct kp_sb_slot *s)
{
    unsigned room = atomic_load_explicit(&s->room, memory_order_relaxed);

    return room < KP_SB_ROOM_LEVELS ? room : KP_SB_ROOM_NONE;
}

/* See struct kp_sb_balance; top: the most room any counted worker has. */
static bool fair(const struct kp_sb_slot *s, const struct level *lv, unsigned top)
{
    unsigned room = room_of(s);

    if (room != top || room == KP_SB_ROOM_NONE)
        return false;
    const struct level *l = &lv[room];
    if (l->n <= 1)
        return true;
    double average = (double)l->total / l->n;
    double active = (double)kp_sb_gauge_get(s, KP_SB_ACTIVE);
    uint64_t last = atomic_load_explicit(&s->last_accept, memory_order_relaxed);

    return active < average || (active <= average && (last != l->latest || l->latest == 0));
}

void kp_sb_balance(struct kp_scoreboard *sb, const struct kp_sb_slot *self,
                   struct kp_sb_balance *out)
{
    unsigned n = atomic_load_explicit(&sb->n_slots, memory_order_relaxed);
    struct level lv[KP_SB_ROOM_LEVELS] = {{0}};
    unsigned top = KP_SB_ROOM_NONE;

    *out = (struct kp_sb_balance){0};
    for (size_t i = 0; i < n; i++) {
        const struct kp_sb_slot *s = &sb->slots[i];
        bool is_ready = ready(s);
        if (!is_ready && s != self)
            continue;
        unsigned room = room_of(s);
        uint64_t last = atomic_load_explicit(&s->last_accept, memory_order_relaxed);
        struct level *l = &lv[room];
        l->n++;
        l->total += kp_sb_gauge_get(s, KP_SB_ACTIVE);
        l->latest = last > l->latest ? last : l->latest;
        top = room > top ? room : top;
        out->n_ready += is_ready;
    }
    out->fair = fair(self, lv, top);
    for (size_t i = 0; i < n; i++) {
        const struct kp_sb_slot *s = &sb->slots[i];
        if (s == self || !ready(s))
            continue;
        bool is_fair = fair(s, lv, top);
        out->n_accepting += atomic_load_explicit(&s->accepting, memory_order_relaxed);
        out->n_fair += is_fair;
        if (!atomic_load_explicit(&s->waiting, memory_order_relaxed))
            continue;
        out->n_waiting++;
        out->n_better += is_fair;
    }
}
