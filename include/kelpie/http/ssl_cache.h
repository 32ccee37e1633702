/* TLS session state shared by every worker: `ssl_session_cache shared:NAME:SIZE`
 * and the session ticket keys, in one shared-memory zone per name.
 *
 * A zone is mapped when the configuration is loaded (in the master, before
 * the workers are forked), so every worker sees the same pages. On reload
 * the master hands the new configuration the zones of the old one that
 * have the same name and size (kp_ssl_zones_adopt): sessions and ticket keys
 * survive the reload, and a client resumes on a new worker what an old one
 * began. A zone is unmapped when the last configuration using it is freed.
 *
 * Sessions: fixed slots (a serialized session of at most KP_SSL_SLOT_DER
 * bytes; larger ones are not cached), found by hashing the session ID and
 * probing a few neighbours; a new session takes a free or expired slot
 * there, else the oldest one (the cache is bounded and evicts the oldest).
 *
 * Ticket keys: one made when the zone is, replaced every rotation period by
 * whichever worker first issues a ticket after it; the two keys before the
 * current one still decrypt, so tickets live up to three periods.
 *
 * Locking: a try-lock holding the owner's pid (os/shmtx.h), spun on with
 * sched_yield (the sections only copy a few hundred bytes); a lock whose
 * owner died is taken over. */
#ifndef KP_HTTP_SSL_CACHE_H
#define KP_HTTP_SSL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kelpie/util/arena.h"

/* Largest serialized session a slot keeps. */
#define KP_SSL_SLOT_DER 448
/* A session ID is at most 32 bytes (RFC 8446 section 4.1.2, RFC 5246). */
#define KP_SSL_MAX_ID 32
/* Ticket keys kept: the current one and two older ones. */
#define KP_SSL_TICKET_KEYS 3

/* One ticket key: a name the ticket carries, an AES-256 key, an HMAC key. */
struct kp_ssl_ticket_key {
    uint8_t name[16];
    uint8_t aes[32];
    uint8_t hmac[32];
    uint64_t created; /* seconds (CLOCK_REALTIME) */
    bool short_keys;  /* from a 48-byte file: AES-128 and the first 16 bytes of hmac */
};

struct kp_ssl_zone;

/* The zone named name of size bytes (name "" is the ticket-keys-only zone
 * every TLS configuration has). Mapped, zeroed and given a first ticket key
 * now; unmapped by an arena cleanup of a (the configuration's) when no other
 * configuration adopted it. Returns NULL when mmap fails (errno set). */
struct kp_ssl_zone *kp_ssl_zone_new(struct kp_arena *a, const char *name, size_t size);

/* The zone's name and size. */
const char *kp_ssl_zone_name(const struct kp_ssl_zone *z);
size_t kp_ssl_zone_size(const struct kp_ssl_zone *z);
/* How many sessions fit (0 for a size too small to hold one). */
size_t kp_ssl_zone_slots(const struct kp_ssl_zone *z);

/* Take over old, the zone of an older configuration with the same name and
 * size, in place of *z (a zone of the configuration whose arena is a, freed
 * with it): *z becomes old, which lives on until both configurations are
 * freed. Called by the process that made both (the master). */
void kp_ssl_zone_adopt(struct kp_arena *a, struct kp_ssl_zone **z, struct kp_ssl_zone *old);

/* Store the serialized session der (len bytes) under id, valid until
 * expire (seconds). Returns false when it is too large for a slot. */
bool kp_ssl_zone_put(struct kp_ssl_zone *z, const uint8_t *id, size_t id_len, const uint8_t *der,
                     size_t len, uint64_t expire, uint64_t now);
/* Copy the session stored under id into der (KP_SSL_SLOT_DER bytes) and
 * return its length, or 0 when there is none (or it expired). */
size_t kp_ssl_zone_get(struct kp_ssl_zone *z, const uint8_t *id, size_t id_len, uint8_t *der,
                       uint64_t now);
/* Forget the session stored under id. */
void kp_ssl_zone_remove(struct kp_ssl_zone *z, const uint8_t *id, size_t id_len);

/* The key to encrypt a new ticket with, made anew when the current one is
 * older than period seconds (the others shift down). */
void kp_ssl_zone_ticket_key(struct kp_ssl_zone *z, uint64_t now, uint64_t period,
                            struct kp_ssl_ticket_key *out);
/* The key named name, for decryption: 1 for the current one, 2 for an older
 * one (the ticket should be renewed), 0 when none matches. */
int kp_ssl_zone_find_key(struct kp_ssl_zone *z, const uint8_t name[16],
                         struct kp_ssl_ticket_key *out);

#endif
