/* The limit modules' shared zones (see limit_zone.h): plain bytes in shared
 * memory, indices instead of pointers (every process maps the zone at the
 * same address, but indices also keep the nodes small). */
#include "kelpie/http/limit_zone.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "kelpie/os/shm.h"
#include "kelpie/os/shmtx.h"

/* Node links are index + 1; 0 is "none". */
#define NIL 0u

struct node {
    struct kp_limit_state state; /* first: a state pointer is a node pointer */
    uint64_t hash;               /* seeded hash of the key */
    uint64_t hash2;              /* second hash, for keys kept by digest */
    uint32_t chain;              /* next node of the bucket */
    uint32_t newer, older;       /* the recency list */
    uint16_t key_len;            /* the key's length, capped at UINT16_MAX */
    bool used;
    bool digest; /* the key is longer than KP_LIMIT_KEY_INLINE: hashes only */
    uint8_t key[KP_LIMIT_KEY_INLINE];
};

struct kp_limit_zone {
    char name[64];
    char key[256]; /* the configured key text */
    enum kp_limit_kind kind;
    size_t size;
    pid_t creator;  /* the process that maps and unmaps it (the master) */
    unsigned users; /* configurations using it, counted by the creator only */
    struct kp_shmtx lock;
    atomic_bool full_logged;
    uint64_t seed;
    uint32_t n_nodes, n_buckets, n_used;
    uint32_t free_list;      /* through node.chain */
    uint32_t newest, oldest; /* the recency list's ends */
    uint32_t *buckets;       /* n_buckets heads, after the header */
    struct node *nodes;      /* n_nodes, after the buckets */
};

static void zone_release(void *data)
{
    struct kp_limit_zone *z = data;

    if (z->creator != getpid() || --z->users > 0)
        return;
    kp_shm_free(z, z->size);
}

#define ALIGN_NODE(x)                                                                              \
    (((x) + _Alignof(struct node) - 1) / _Alignof(struct node) * _Alignof(struct node))

/* Bytes a zone of n nodes takes: the header, a bucket per node, the nodes. */
static size_t need(size_t n)
{
    return ALIGN_NODE(sizeof(struct kp_limit_zone) + n * sizeof(uint32_t)) +
           n * sizeof(struct node);
}

/* Lay the table out in the bytes after the header, all nodes free. */
static void layout(struct kp_limit_zone *z)
{
    size_t n = (z->size - sizeof(*z)) / (sizeof(struct node) + sizeof(uint32_t));

    while (n > 0 && need(n) > z->size)
        n--;
    z->n_nodes = n > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)n;
    z->n_buckets = z->n_nodes > 0 ? z->n_nodes : 1;
    z->buckets = (uint32_t *)(z + 1);
    z->nodes =
        (struct node *)((char *)z + ALIGN_NODE(sizeof(*z) + z->n_buckets * sizeof(uint32_t)));
    for (uint32_t i = 0; i < z->n_nodes; i++)
        z->nodes[i].chain = i + 1 < z->n_nodes ? i + 2 : NIL;
    z->free_list = z->n_nodes > 0 ? 1 : NIL;
}

struct kp_limit_zone *kp_limit_zone_new(struct kp_arena *a, const char *name,
                                        enum kp_limit_kind kind, const char *key, size_t size)
{
    if (size < KP_LIMIT_ZONE_MIN)
        size = KP_LIMIT_ZONE_MIN;
    struct kp_limit_zone *z = kp_shm_alloc(size);
    if (z == NULL)
        return NULL;
    snprintf(z->name, sizeof(z->name), "%s", name);
    snprintf(z->key, sizeof(z->key), "%s", key);
    z->kind = kind;
    z->size = size;
    z->creator = getpid();
    z->users = 1;
    z->lock = (struct kp_shmtx){.bell = -1};
    /* A fixed seed would only make chains easier to aim at. */
    if (getrandom(&z->seed, sizeof(z->seed), GRND_NONBLOCK) != (ssize_t)sizeof(z->seed))
        z->seed = (uint64_t)(uintptr_t)z ^ (uint64_t)getpid() << 32;
    layout(z);
    kp_arena_cleanup_add(a, zone_release, z);
    return z;
}

const char *kp_limit_zone_name(const struct kp_limit_zone *z)
{
    return z->name;
}

enum kp_limit_kind kp_limit_zone_kind(const struct kp_limit_zone *z)
{
    return z->kind;
}

const char *kp_limit_zone_key(const struct kp_limit_zone *z)
{
    return z->key;
}

size_t kp_limit_zone_size(const struct kp_limit_zone *z)
{
    return z->size;
}

size_t kp_limit_zone_capacity(const struct kp_limit_zone *z)
{
    return z->n_nodes;
}

size_t kp_limit_zone_count(struct kp_limit_zone *z)
{
    kp_limit_zone_lock(z);
    size_t n = z->n_used;
    kp_limit_zone_unlock(z);
    return n;
}

void kp_limit_zone_adopt(struct kp_arena *a, struct kp_limit_zone **z, struct kp_limit_zone *old)
{
    /* The fresh zone goes when a does (its own cleanup); old gains a user
     * whose cleanup runs with a too. */
    old->users++;
    kp_arena_cleanup_add(a, zone_release, old);
    *z = old;
}

void kp_limit_zone_lock(struct kp_limit_zone *z)
{
    kp_shmtx_lock_short(&z->lock, getpid());
}

void kp_limit_zone_unlock(struct kp_limit_zone *z)
{
    kp_shmtx_unlock(&z->lock, getpid());
}

bool kp_limit_zone_first_full(struct kp_limit_zone *z)
{
    return !atomic_exchange(&z->full_logged, true);
}

/* --- the table -------------------------------------------------------------- */

/* FNV-1a from a seed, finished with a 64-bit mixer so that every bit of the
 * seed and the key reaches the bucket index. */
static uint64_t hash(uint64_t seed, const uint8_t *p, size_t len)
{
    uint64_t h = 14695981039346656037u ^ seed;

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211u;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 33);
}

static struct node *at(struct kp_limit_zone *z, uint32_t i)
{
    return i == NIL ? NULL : &z->nodes[i - 1];
}

static uint32_t index_of(const struct kp_limit_zone *z, const struct node *n)
{
    return (uint32_t)(n - z->nodes) + 1;
}

/* The key as a node keeps it. */
struct key {
    const uint8_t *p;
    size_t len;
    uint64_t hash, hash2;
};

static bool same_key(const struct node *n, const struct key *k)
{
    size_t len = k->len > UINT16_MAX ? UINT16_MAX : k->len;

    if (n->hash != k->hash || n->key_len != len || n->digest != (k->len > KP_LIMIT_KEY_INLINE))
        return false;
    return n->digest ? n->hash2 == k->hash2 : memcmp(n->key, k->p, k->len) == 0;
}

static void list_unlink(struct kp_limit_zone *z, struct node *n)
{
    struct node *newer = at(z, n->newer), *older = at(z, n->older);

    if (newer != NULL)
        newer->older = n->older;
    else
        z->newest = n->older;
    if (older != NULL)
        older->newer = n->newer;
    else
        z->oldest = n->newer;
    n->newer = n->older = NIL;
}

static void list_push(struct kp_limit_zone *z, struct node *n)
{
    uint32_t i = index_of(z, n);

    n->newer = NIL;
    n->older = z->newest;
    if (z->newest != NIL)
        at(z, z->newest)->newer = i;
    z->newest = i;
    if (z->oldest == NIL)
        z->oldest = i;
}

static void chain_unlink(struct kp_limit_zone *z, struct node *n)
{
    uint32_t *link = &z->buckets[n->hash % z->n_buckets];
    uint32_t i = index_of(z, n);

    while (*link != NIL && *link != i)
        link = &at(z, *link)->chain;
    if (*link == i)
        *link = n->chain;
}

static void release(struct kp_limit_zone *z, struct node *n)
{
    chain_unlink(z, n);
    list_unlink(z, n);
    n->used = false;
    n->chain = z->free_list;
    z->free_list = index_of(z, n);
    z->n_used--;
}

static struct node *find(struct kp_limit_zone *z, const struct key *k)
{
    for (struct node *n = at(z, z->buckets[k->hash % z->n_buckets]); n != NULL;
         n = at(z, n->chain)) {
        if (same_key(n, k))
            return n;
    }
    return NULL;
}

/* A free node, or the oldest evictable one let go. */
static struct node *take(struct kp_limit_zone *z, kp_limit_evictable_fn evictable, bool *evicted)
{
    struct node *n = at(z, z->free_list);

    if (n != NULL) {
        z->free_list = n->chain;
        return n;
    }
    n = at(z, z->oldest);
    for (unsigned i = 0; n != NULL && i < KP_LIMIT_EVICT_SCAN; i++, n = at(z, n->newer)) {
        if (evictable == NULL || evictable(&n->state)) {
            release(z, n);
            *evicted = true;
            z->free_list = n->chain;
            return n;
        }
    }
    return NULL;
}

struct kp_limit_state *kp_limit_zone_get(struct kp_limit_zone *z, const void *key, size_t len,
                                         bool make, kp_limit_evictable_fn evictable, bool *made,
                                         bool *evicted)
{
    struct key k = {key, len, hash(z->seed, key, len), 0};

    *made = *evicted = false;
    if (len > KP_LIMIT_KEY_INLINE)
        k.hash2 = hash(~z->seed, key, len) ^ len;
    struct node *n = find(z, &k);
    if (n != NULL) {
        list_unlink(z, n);
        list_push(z, n);
        return &n->state;
    }
    if (!make || (n = take(z, evictable, evicted)) == NULL)
        return NULL;
    *n = (struct node){.hash = k.hash, .hash2 = k.hash2, .used = true};
    n->key_len = (uint16_t)(len > UINT16_MAX ? UINT16_MAX : len);
    n->digest = len > KP_LIMIT_KEY_INLINE;
    if (!n->digest)
        memcpy(n->key, key, len);
    uint32_t *head = &z->buckets[k.hash % z->n_buckets];
    n->chain = *head;
    *head = index_of(z, n);
    list_push(z, n);
    z->n_used++;
    *made = true;
    return &n->state;
}

void kp_limit_zone_drop(struct kp_limit_zone *z, struct kp_limit_state *s)
{
    struct node *n = (struct node *)s;

    if (n->used)
        release(z, n);
}
