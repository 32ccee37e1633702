/* Shared memory between the master and its workers: one anonymous shared
 * mapping made before fork, so every worker inherits the same pages. */
#ifndef KP_SHM_H
#define KP_SHM_H

#include <stddef.h>

/* Map size bytes of zeroed shared memory. Returns NULL with errno set. */
void *kp_shm_alloc(size_t size);
void kp_shm_free(void *p, size_t size);

#endif
