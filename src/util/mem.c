/* Allocator introspection (jemalloc's mallctl when it is linked) and the
 * exact-size range (see mem.h). */
#include "kelpie/util/mem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"

/* jemalloc is never linked under AddressSanitizer: the fuzz targets build with
 * the main configuration's config.h but without -ljemalloc. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KP_MEM_JEMALLOC 0
#endif
#endif
#ifndef KP_MEM_JEMALLOC
#define KP_MEM_JEMALLOC KP_HAVE_JEMALLOC
#endif

#if KP_MEM_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

const char *kp_mem_allocator(char *buf, size_t n)
{
#if KP_MEM_JEMALLOC
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

#if KP_MEM_JEMALLOC

#define GRAIN     16
#define EXACT_MIN 512
#define EXACT_MAX 16384
#define CLASSES   (EXACT_MAX / GRAIN + 1)
#define PAGE      4096 /* the slab unit; nothing is mapped per slab */
#define SLAB_MAX  16   /* pages */
#define RESERVE   ((size_t)1 << 30)
#define TABLE     ((RESERVE / PAGE * sizeof(uint16_t) + PAGE - 1) / PAGE * PAGE)

struct exact_class {
    void *free;       /* freed blocks, linked through their first word */
    char *next, *end; /* the unused rest of the current slab */
};

/* The range's state is process-wide, as malloc's own is: OpenSSL's
 * allocation hooks take no context to carry it. */
static struct {
    pthread_once_t once;
    pthread_mutex_t lock;
    char *base, *top, *limit; /* the reserved range; [base + TABLE, top) is slabs */
    uint16_t *page_class;     /* the class of each page of the range */
    struct exact_class classes[CLASSES];
} exact = {.once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER};

/* Address space only: a page costs memory once a block in it is used. The
 * first pages hold the page table. Without the range, everything goes to
 * malloc. */
static void reserve(void)
{
    void *r = mmap(NULL, RESERVE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (r == MAP_FAILED)
        return;
    /* Whole huge pages would count in RSS for a few blocks each. */
    madvise(r, RESERVE, MADV_NOHUGEPAGE);
    exact.page_class = r;
    exact.base = r;
    exact.top = exact.base + TABLE;
    exact.limit = exact.base + RESERVE;
}

static bool ready(void)
{
    return pthread_once(&exact.once, reserve) == 0 && exact.base != NULL;
}

/* The class (size / GRAIN) that serves n exactly, or 0 when jemalloc's
 * own class wastes less than a sixteenth of it. */
static size_t class_of(size_t n)
{
    if (n <= EXACT_MIN || n > EXACT_MAX)
        return 0;
    size_t s = (n + GRAIN - 1) / GRAIN * GRAIN;
    return (nallocx(n, 0) - s) * 16 >= n ? s / GRAIN : 0;
}

/* Pages for a slab of blocks of s bytes: the fewest whose unused tail is
 * at most 1/32 of the slab, else the best of up to SLAB_MAX. */
static size_t slab_pages(size_t s)
{
    size_t first = (s + PAGE - 1) / PAGE, best = first, best_waste = first * PAGE % s;

    for (size_t p = first; p <= SLAB_MAX; p++) {
        size_t waste = p * PAGE % s;
        if (waste * 32 <= p * PAGE)
            return p;
        if (waste * best < best_waste * p) { /* a smaller share of its slab */
            best = p;
            best_waste = waste;
        }
    }
    return best;
}

/* A block of class c, under the lock; NULL when the range is used up. */
static void *take(size_t c)
{
    struct exact_class *k = &exact.classes[c];
    size_t s = c * GRAIN;

    if (k->free != NULL) {
        void *p = k->free;
        memcpy(&k->free, p, sizeof(void *));
        return p;
    }
    if ((size_t)(k->end - k->next) < s) {
        size_t pages = slab_pages(s);
        if ((size_t)(exact.limit - exact.top) < pages * PAGE)
            return NULL;
        size_t first = (size_t)(exact.top - exact.base) / PAGE;
        for (size_t i = 0; i < pages; i++)
            exact.page_class[first + i] = (uint16_t)c;
        k->next = exact.top;
        k->end = exact.top + pages * PAGE;
        exact.top = k->end;
    }
    void *p = k->next;
    k->next += s;
    return p;
}

void *kp_mem_exact_alloc(size_t n)
{
    size_t c = class_of(n);
    void *p = NULL;

    if (c != 0 && ready()) {
        pthread_mutex_lock(&exact.lock);
        p = take(c);
        pthread_mutex_unlock(&exact.lock);
    }
    return p != NULL ? p : malloc(n);
}

bool kp_mem_exact_owns(const void *p)
{
    return ready() && (const char *)p >= exact.base + TABLE && (const char *)p < exact.limit;
}

/* The block size of p, which kp_mem_exact_owns. Pages are given a class
 * before their blocks are handed out, and never change it. */
static size_t size_of(const void *p)
{
    return (size_t)exact.page_class[((const char *)p - exact.base) / PAGE] * GRAIN;
}

void kp_mem_exact_free(void *p)
{
    if (p == NULL)
        return;
    if (!kp_mem_exact_owns(p)) {
        free(p);
        return;
    }
    pthread_mutex_lock(&exact.lock);
    struct exact_class *k = &exact.classes[size_of(p) / GRAIN];
    memcpy(p, &k->free, sizeof(void *));
    k->free = p;
    pthread_mutex_unlock(&exact.lock);
}

void *kp_mem_exact_realloc(void *p, size_t n)
{
    if (p == NULL)
        return kp_mem_exact_alloc(n);
    if (!kp_mem_exact_owns(p))
        return realloc(p, n);
    pthread_mutex_lock(&exact.lock);
    size_t old = size_of(p);
    pthread_mutex_unlock(&exact.lock);
    if (class_of(n) * GRAIN == old)
        return p;
    void *q = kp_mem_exact_alloc(n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, n < old ? n : old);
    kp_mem_exact_free(p);
    return q;
}

#else /* the C library's malloc rounds to 16 bytes: nothing to gain */

void *kp_mem_exact_alloc(size_t n)
{
    return malloc(n);
}

void *kp_mem_exact_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

void kp_mem_exact_free(void *p)
{
    free(p);
}

bool kp_mem_exact_owns(const void *p)
{
    (void)p;
    return false;
}

#endif
