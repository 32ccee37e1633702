/* Shared-memory zones of the limit modules (`limit_req_zone`,
 * `limit_conn_zone`): a bounded table of keys, each with the small state a
 * limit keeps for it, shared by every worker.
 *
 * A zone is mapped when the configuration is loaded (in the master, before
 * the workers are forked), so every worker sees the same pages. On reload
 * the master hands the new configuration the zone of the old one with the
 * same name, kind and size (kp_limit_zone_adopt): the state survives, as
 * nginx's does; a zone whose size changed starts empty. A zone is unmapped
 * when the last configuration using it is freed.
 *
 * Table: fixed-size nodes in one array, a hash chain per bucket (the hash is
 * seeded per zone, so clients cannot aim their keys at one chain) and a list
 * from the most to the least recently used node. A key of up to
 * KP_LIMIT_KEY_INLINE bytes is kept as it is; a longer one by its length and
 * two independent 64-bit hashes of it (two different long keys then share a
 * node only if both hashes collide). When every node is taken, a new key
 * takes the least recently used node that the caller lets go (a limit_req
 * state always, a limit_conn state only when it counts no connection).
 *
 * Locking: every call between kp_limit_zone_lock and kp_limit_zone_unlock
 * (os/shmtx.h's short lock: sections are a lookup and a few stores). State
 * pointers are valid only while the lock is held. */
#ifndef KP_HTTP_LIMIT_ZONE_H
#define KP_HTTP_LIMIT_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kelpie/util/arena.h"

/* Longest key stored as it is. */
#define KP_LIMIT_KEY_INLINE 64
/* Least recently used nodes looked at for one that may be taken. */
#define KP_LIMIT_EVICT_SCAN 8
/* Smallest zone nginx accepts: 8 pages. */
#define KP_LIMIT_ZONE_MIN (32u << 10)

/* What a zone holds; zones of different kinds never share a name. */
enum kp_limit_kind {
    KP_LIMIT_REQ = 1,  /* limit_req_zone */
    KP_LIMIT_CONN = 2, /* limit_conn_zone */
};

/* The state of one key. Zeroed for a new key. */
struct kp_limit_state {
    uint64_t last_us; /* limit_req: monotonic µs of the last accounted request */
    uint64_t excess;  /* limit_req: requests over the rate, in thousandths */
    uint32_t conns;   /* limit_conn: requests in progress */
};

struct kp_limit_zone;

/* Map a zone of size bytes (at least KP_LIMIT_ZONE_MIN) named name for
 * kind; key is the configured key text, kept for reload. Unmapped by an
 * arena cleanup of a (the configuration's) when no other configuration
 * adopted it. Returns NULL when mmap fails (errno set). */
struct kp_limit_zone *kp_limit_zone_new(struct kp_arena *a, const char *name,
                                        enum kp_limit_kind kind, const char *key, size_t size);

const char *kp_limit_zone_name(const struct kp_limit_zone *z);
enum kp_limit_kind kp_limit_zone_kind(const struct kp_limit_zone *z);
const char *kp_limit_zone_key(const struct kp_limit_zone *z);
size_t kp_limit_zone_size(const struct kp_limit_zone *z);
/* How many keys fit. */
size_t kp_limit_zone_capacity(const struct kp_limit_zone *z);
/* Keys stored now (takes the lock). */
size_t kp_limit_zone_count(struct kp_limit_zone *z);

/* Take over old, an older configuration's zone with the same name, kind,
 * key and size, in place of *z (a zone of the configuration whose arena is
 * a): *z becomes old, which lives on until both configurations are freed.
 * Called by the process that made both (the master). */
void kp_limit_zone_adopt(struct kp_arena *a, struct kp_limit_zone **z, struct kp_limit_zone *old);

void kp_limit_zone_lock(struct kp_limit_zone *z);
void kp_limit_zone_unlock(struct kp_limit_zone *z);

/* Decides whether the state of a least recently used key may be dropped to
 * make room for a new one. */
typedef bool (*kp_limit_evictable_fn)(const struct kp_limit_state *s);

/* Under the lock: the state of key (len bytes), made now (zeroed, *made
 * set) when there is none and make is true, and marked most recently used.
 * A full zone drops the least recently used state that evictable allows
 * (among the KP_LIMIT_EVICT_SCAN oldest; *evicted set). NULL when there is
 * no state and none could be made. */
struct kp_limit_state *kp_limit_zone_get(struct kp_limit_zone *z, const void *key, size_t len,
                                         bool make, kp_limit_evictable_fn evictable, bool *made,
                                         bool *evicted);
/* Under the lock: forget key's state (s, from kp_limit_zone_get). */
void kp_limit_zone_drop(struct kp_limit_zone *z, struct kp_limit_state *s);

/* True for exactly one caller over the zone's life (across workers): the
 * one that logs that the zone is full. */
bool kp_limit_zone_first_full(struct kp_limit_zone *z);

#endif
