/* Facts about the memory allocator in use, and exact-size allocation for
 * objects jemalloc's size classes would waste a lot on. This is the one
 * place that talks to jemalloc directly; everything else just calls malloc
 * through kp_alloc. */
#ifndef KP_MEM_H
#define KP_MEM_H

#include <stdbool.h>
#include <stddef.h>

/* "jemalloc 5.3.0-0-g54eaed1d..." or "libc malloc". Never NULL. */
const char *kp_mem_allocator(char *buf, size_t n);

/* Exact-size allocation, for objects kept by the thousand (OpenSSL's per-
 * connection state, see kp_tls_init). jemalloc rounds a request up to its
 * size class, and a few of OpenSSL's objects fall just above one (an SSL of
 * 7,624 bytes takes 8,192): a request between 512 bytes and 16 KiB that its
 * class would round up by a sixteenth or more is served instead from slabs
 * of that exact size (rounded to 16 bytes), in an address range reserved
 * once per process and touched as used. Freed blocks are kept for the next
 * request of the same size, never returned to the kernel. Everything else,
 * and every request in builds without jemalloc (or when the range cannot be
 * reserved), goes to malloc. Thread-safe; blocks are 16-byte aligned.
 * Returns NULL only when memory is exhausted. */
void *kp_mem_exact_alloc(size_t n);
/* Resize a block from kp_mem_exact_alloc (NULL: allocate). Contents are
 * kept up to the smaller size; NULL on failure, p still valid. */
void *kp_mem_exact_realloc(void *p, size_t n);
/* Release a block from kp_mem_exact_alloc or _realloc. NULL is accepted. */
void kp_mem_exact_free(void *p);
/* Whether p lies in the exact-size range (it is not malloc's). */
bool kp_mem_exact_owns(const void *p);

#endif
