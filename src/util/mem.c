/* Allocator introspection (jemalloc's mallctl when it is linked). */
#include "kelpie/util/mem.h"

#include <stdio.h>

#include "config.h"

#if KP_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

const char *kp_mem_allocator(char *buf, size_t n)
{
#if KP_HAVE_JEMALLOC
    const char *version = NULL;
    size_t len = sizeof(version);

    if (mallctl("version", (void *)&version, &len, NULL, 0) == 0 && version != NULL) {
        snprintf(buf, n, "jemalloc %s", version);
        return buf;
    }
#endif
    snprintf(buf, n, "libc malloc");
    return buf;
}
