/* Allocation wrappers that abort on OOM. A worker that cannot allocate is in
 * an unknown state; dying lets the master respawn a clean one, which is safer
 * than threading NULL checks through every caller. */
#include "kelpie/util/alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(size_t size)
{
    char msg[96];
    int n =
        snprintf(msg, sizeof(msg), "kelpie: [emerg] out of memory allocating %zu bytes\n", size);
    if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0) {
        /* nothing else can be done: we are about to abort */
    }
    abort();
}

void *kp_alloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        oom(size);
    return p;
}

void *kp_calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        oom(SIZE_MAX);
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

void *kp_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (q == NULL)
        oom(size);
    return q;
}

char *kp_strndup(const char *s, size_t n)
{
    char *d = kp_alloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kp_strdup(const char *s)
{
    return kp_strndup(s, strlen(s));
}

void kp_free(void *p)
{
    free(p);
}
