/* Arena (region) allocator for per-request memory: many small allocations,
 * freed all at once by kp_arena_reset() between keep-alive requests. Cleanup
 * callbacks run (last registered first) on reset and destroy, e.g. to close a
 * file descriptor opened for the request. */
#ifndef KP_ARENA_H
#define KP_ARENA_H

#include <stddef.h>

typedef void (*kp_arena_cleanup_fn)(void *data);

struct kp_arena_block;
struct kp_arena_cleanup;

struct kp_arena {
    struct kp_arena_block *head;  /* current block */
    struct kp_arena_block *first; /* kept across resets */
    struct kp_arena_cleanup *cleanups;
    size_t block_size;
};

/* block_size: size of the first (retained) block; larger requests get their
 * own block. Aborts on OOM like kp_alloc. */
void kp_arena_init(struct kp_arena *a, size_t block_size);
/* Memory aligned to max_align_t; never NULL. */
void *kp_arena_alloc(struct kp_arena *a, size_t size);
void *kp_arena_calloc(struct kp_arena *a, size_t size);
char *kp_arena_strndup(struct kp_arena *a, const char *s, size_t n);
/* Register fn(data) to run at the next reset/destroy. */
void kp_arena_cleanup_add(struct kp_arena *a, kp_arena_cleanup_fn fn, void *data);
/* Run cleanups, free all blocks except the first, rewind the first. */
void kp_arena_reset(struct kp_arena *a);
/* Run cleanups and free everything; the arena may be re-initialised. */
void kp_arena_destroy(struct kp_arena *a);

#endif
