/* Facts about the memory allocator in use. This is the one place that talks
 * to jemalloc directly; everything else just calls malloc through kp_alloc. */
#ifndef KP_MEM_H
#define KP_MEM_H

#include <stddef.h>

/* "jemalloc 5.3.0-0-g54eaed1d..." or "libc malloc". Never NULL. */
const char *kp_mem_allocator(char *buf, size_t n);

#endif
