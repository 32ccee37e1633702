/* Arena allocator: bump allocation inside blocks. The first block is kept
 * across resets so a keep-alive connection's typical request allocates
 * nothing from the system allocator. */
#include "kelpie/util/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "kelpie/util/alloc.h"

struct kp_arena_block {
    struct kp_arena_block *next;
    char *pos;
    char *end;
    alignas(max_align_t) char data[];
};

struct kp_arena_cleanup {
    struct kp_arena_cleanup *next;
    kp_arena_cleanup_fn fn;
    void *data;
};

#define ALIGN (alignof(max_align_t))

static struct kp_arena_block *block_new(size_t size)
{
    struct kp_arena_block *b = kp_alloc(sizeof(*b) + size);
    b->next = NULL;
    b->pos = b->data;
    b->end = b->data + size;
    return b;
}

void kp_arena_init(struct kp_arena *a, size_t block_size)
{
    a->block_size = block_size < 256 ? 256 : block_size;
    a->first = a->head = block_new(a->block_size);
    a->cleanups = NULL;
}

static size_t align_up(size_t n)
{
    return (n + ALIGN - 1) & ~(ALIGN - 1);
}

void *kp_arena_alloc(struct kp_arena *a, size_t size)
{
    size = align_up(size ? size : 1);
    struct kp_arena_block *b = a->head;

    if ((size_t)(b->end - b->pos) < size) {
        /* Oversized requests get a block of their own; the chain stays
         * newest-first so reset can free everything after `first`. */
        b = block_new(size > a->block_size ? size : a->block_size);
        b->next = a->head;
        a->head = b;
    }
    void *p = b->pos;
    b->pos += size;
    return p;
}

void *kp_arena_calloc(struct kp_arena *a, size_t size)
{
    void *p = kp_arena_alloc(a, size);
    memset(p, 0, size);
    return p;
}

char *kp_arena_strndup(struct kp_arena *a, const char *s, size_t n)
{
    char *d = kp_arena_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void kp_arena_cleanup_add(struct kp_arena *a, kp_arena_cleanup_fn fn, void *data)
{
    struct kp_arena_cleanup *c = kp_arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
}

static void run_cleanups(struct kp_arena *a)
{
    /* Cleanup records live in the arena itself, so unlink before calling. */
    while (a->cleanups != NULL) {
        struct kp_arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->data);
    }
}

void kp_arena_reset(struct kp_arena *a)
{
    run_cleanups(a);
    while (a->head != a->first) {
        struct kp_arena_block *b = a->head;
        a->head = b->next;
        kp_free(b);
    }
    a->first->pos = a->first->data;
}

void kp_arena_destroy(struct kp_arena *a)
{
    kp_arena_reset(a);
    kp_free(a->first);
    a->first = a->head = NULL;
}
