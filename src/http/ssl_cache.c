/* The shared TLS session cache and ticket keys (see ssl_cache.h). Plain
 * bytes in shared memory: OpenSSL is called by ssl.c, never here. */
#include "kelpie/http/ssl_cache.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "kelpie/os/shm.h"
#include "kelpie/os/shmtx.h"

/* Slots probed around a session ID's home slot. */
#define PROBE 8

struct slot {
    uint64_t expire; /* seconds; 0: free */
    uint64_t stamp;  /* insertion order, for evicting the oldest */
    uint16_t id_len, der_len;
    uint8_t id[KP_SSL_MAX_ID];
    uint8_t der[KP_SSL_SLOT_DER];
};

struct kp_ssl_zone {
    char name[64];
    size_t size;
    pid_t creator;  /* the process that maps and unmaps it (the master) */
    unsigned users; /* configurations using it, counted by the creator only */
    struct kp_shmtx lock;
    uint64_t stamp;
    struct kp_ssl_ticket_key keys[KP_SSL_TICKET_KEYS]; /* [0] is current */
    size_t n_slots;
    struct slot slots[];
};

static void lock(struct kp_ssl_zone *z)
{
    kp_shmtx_lock_short(&z->lock, getpid());
}

static void unlock(struct kp_ssl_zone *z)
{
    kp_shmtx_unlock(&z->lock, getpid());
}

static void new_key(struct kp_ssl_ticket_key *k, uint64_t now)
{
    uint8_t *parts[] = {k->name, k->aes, k->hmac};
    size_t lens[] = {sizeof(k->name), sizeof(k->aes), sizeof(k->hmac)};

    for (size_t i = 0; i < 3; i++) {
        /* getrandom() of up to 256 bytes is never short once the pool is
         * ready; fall back to zeros only if the kernel refuses outright. */
        if (getrandom(parts[i], lens[i], 0) != (ssize_t)lens[i])
            memset(parts[i], 0, lens[i]);
    }
    k->created = now;
}

static void zone_release(void *data)
{
    struct kp_ssl_zone *z = data;

    if (z->creator != getpid() || --z->users > 0)
        return;
    kp_shm_free(z, z->size);
}

struct kp_ssl_zone *kp_ssl_zone_new(struct kp_arena *a, const char *name, size_t size)
{
    if (size < sizeof(struct kp_ssl_zone))
        size = sizeof(struct kp_ssl_zone);
    struct kp_ssl_zone *z = kp_shm_alloc(size);
    if (z == NULL)
        return NULL;
    snprintf(z->name, sizeof(z->name), "%s", name);
    z->size = size;
    z->creator = getpid();
    z->users = 1;
    z->lock = (struct kp_shmtx){.bell = -1};
    z->n_slots = (size - sizeof(*z)) / sizeof(struct slot);
    new_key(&z->keys[0], (uint64_t)time(NULL));
    kp_arena_cleanup_add(a, zone_release, z);
    return z;
}

const char *kp_ssl_zone_name(const struct kp_ssl_zone *z)
{
    return z->name;
}

size_t kp_ssl_zone_size(const struct kp_ssl_zone *z)
{
    return z->size;
}

size_t kp_ssl_zone_slots(const struct kp_ssl_zone *z)
{
    return z->n_slots;
}

void kp_ssl_zone_adopt(struct kp_arena *a, struct kp_ssl_zone **z, struct kp_ssl_zone *old)
{
    /* The fresh zone goes when a does (its own cleanup); old gains a user
     * whose cleanup runs with a too. */
    old->users++;
    kp_arena_cleanup_add(a, zone_release, old);
    *z = old;
}

/* FNV-1a of the ID: the home slot. */
static size_t home(const struct kp_ssl_zone *z, const uint8_t *id, size_t len)
{
    uint64_t h = 14695981039346656037u;

    for (size_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 1099511628211u;
    return (size_t)(h % z->n_slots);
}

static struct slot *find(struct kp_ssl_zone *z, const uint8_t *id, size_t len)
{
    size_t h = home(z, id, len);

    for (size_t i = 0; i < PROBE && i < z->n_slots; i++) {
        struct slot *s = &z->slots[(h + i) % z->n_slots];
        if (s->expire != 0 && s->id_len == len && memcmp(s->id, id, len) == 0)
            return s;
    }
    return NULL;
}

/* Where a new session goes: its old slot, a free or expired one, else the
 * oldest of the probed ones. */
static struct slot *victim(struct kp_ssl_zone *z, const uint8_t *id, size_t len, uint64_t now)
{
    struct slot *s = find(z, id, len), *oldest = NULL;
    size_t h = home(z, id, len);

    for (size_t i = 0; s == NULL && i < PROBE && i < z->n_slots; i++) {
        struct slot *c = &z->slots[(h + i) % z->n_slots];
        if (c->expire <= now)
            s = c;
        else if (oldest == NULL || c->stamp < oldest->stamp)
            oldest = c;
    }
    return s != NULL ? s : oldest;
}

bool kp_ssl_zone_put(struct kp_ssl_zone *z, const uint8_t *id, size_t id_len, const uint8_t *der,
                     size_t len, uint64_t expire, uint64_t now)
{
    if (z->n_slots == 0 || id_len == 0 || id_len > KP_SSL_MAX_ID || len > KP_SSL_SLOT_DER)
        return false;
    lock(z);
    struct slot *s = victim(z, id, id_len, now);
    s->expire = expire;
    s->stamp = ++z->stamp;
    s->id_len = (uint16_t)id_len;
    s->der_len = (uint16_t)len;
    memcpy(s->id, id, id_len);
    memcpy(s->der, der, len);
    unlock(z);
    return true;
}

size_t kp_ssl_zone_get(struct kp_ssl_zone *z, const uint8_t *id, size_t id_len, uint8_t *der,
                       uint64_t now)
{
    size_t len = 0;

    if (z->n_slots == 0 || id_len > KP_SSL_MAX_ID)
        return 0;
    lock(z);
    struct slot *s = find(z, id, id_len);
    if (s != NULL && s->expire > now) {
        len = s->der_len;
        memcpy(der, s->der, len);
    }
    unlock(z);
    return len;
}

void kp_ssl_zone_remove(struct kp_ssl_zone *z, const uint8_t *id, size_t id_len)
{
    if (z->n_slots == 0 || id_len > KP_SSL_MAX_ID)
        return;
    lock(z);
    struct slot *s = find(z, id, id_len);
    if (s != NULL)
        s->expire = 0;
    unlock(z);
}

void kp_ssl_zone_ticket_key(struct kp_ssl_zone *z, uint64_t now, uint64_t period,
                            struct kp_ssl_ticket_key *out)
{
    lock(z);
    if (now >= z->keys[0].created + period) {
        memmove(&z->keys[1], &z->keys[0], (KP_SSL_TICKET_KEYS - 1) * sizeof(z->keys[0]));
        new_key(&z->keys[0], now);
    }
    *out = z->keys[0];
    unlock(z);
}

int kp_ssl_zone_find_key(struct kp_ssl_zone *z, const uint8_t name[16],
                         struct kp_ssl_ticket_key *out)
{
    int rc = 0;

    lock(z);
    for (int i = 0; i < KP_SSL_TICKET_KEYS && rc == 0; i++) {
        if (z->keys[i].created != 0 && memcmp(z->keys[i].name, name, 16) == 0) {
            *out = z->keys[i];
            rc = i == 0 ? 1 : 2;
        }
    }
    unlock(z);
    return rc;
}
