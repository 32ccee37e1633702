/* Allocation wrappers: every internal allocation goes through here so that an
 * out-of-memory condition aborts the process (the master respawns a worker)
 * instead of spreading NULL checks through the code. */
#ifndef KP_ALLOC_H
#define KP_ALLOC_H

#include <stddef.h>

/* Never return NULL: abort with a message on OOM. kp_alloc(0) returns a valid
 * pointer. kp_calloc checks n * size for overflow. */
void *kp_alloc(size_t size);
void *kp_calloc(size_t n, size_t size);
void *kp_realloc(void *p, size_t size);
char *kp_strdup(const char *s);
char *kp_strndup(const char *s, size_t n);
void kp_free(void *p);

#endif
