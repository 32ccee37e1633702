/* Anonymous shared mappings (MAP_SHARED|MAP_ANONYMOUS survive fork). */
#include "kelpie/os/shm.h"

#include <sys/mman.h>

void *kp_shm_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void kp_shm_free(void *p, size_t size)
{
    if (p != NULL)
        munmap(p, size);
}
