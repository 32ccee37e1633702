/* Timers: a binary min-heap of pointers to timers embedded in their owners.
 * Every move inside the heap updates the timer's index, which is what makes
 * removal and re-arming O(log n) without searching. */
#include <stdint.h>

#include "kelpie/util/alloc.h"
#include "kelpie/event/timer.h"

void kp_timer_heap_init(struct kp_timer_heap *h)
{
    *h = (struct kp_timer_heap){0};
}

void kp_timer_heap_free(struct kp_timer_heap *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->v[i]->index = SIZE_MAX;
    kp_free(h->v);
    *h = (struct kp_timer_heap){0};
}

void kp_timer_init(struct kp_timer *t, kp_timer_fn fn, void *data)
{
    *t = (struct kp_timer){.when = 0, .key = 0, .index = SIZE_MAX, .fn = fn, .data = data};
}

static void place(struct kp_timer_heap *h, size_t i, struct kp_timer *t)
{
    h->v[i] = t;
    t->index = i;
}

static void sift_up(struct kp_timer_heap *h, size_t i)
{
    struct kp_timer *t = h->v[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent]->key <= t->key)
            break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct kp_timer_heap *h, size_t i)
{
    struct kp_timer *t = h->v[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n && h->v[child + 1]->key < h->v[child]->key)
            child++;
        if (t->key <= h->v[child]->key)
            break;
        place(h, i, h->v[child]);
        i = child;
    }
    place(h, i, t);
}

/* Restore the heap around slot i after its key changed either way. */
static void fix(struct kp_timer_heap *h, size_t i)
{
    if (i > 0 && h->v[i]->key < h->v[(i - 1) / 2]->key)
        sift_up(h, i);
    else
        sift_down(h, i);
}

void kp_timer_set(struct kp_timer_heap *h, struct kp_timer *t, uint64_t when)
{
    t->when = when;
    if (kp_timer_armed(t)) {
        /* later: it keeps its place until its key comes up (see the header) */
        if (when >= t->key)
            return;
        t->key = when;
        sift_up(h, t->index);
        return;
    }
    t->key = when;
    if (h->n == h->cap) {
        h->cap = h->cap != 0 ? h->cap * 2 : 64;
        h->v = kp_realloc(h->v, h->cap * sizeof(*h->v));
    }
    place(h, h->n++, t);
    sift_up(h, t->index);
}

void kp_timer_del(struct kp_timer_heap *h, struct kp_timer *t)
{
    if (!kp_timer_armed(t))
        return;
    size_t i = t->index;
    struct kp_timer *last = h->v[--h->n];

    t->index = SIZE_MAX;
    if (last == t)
        return;
    place(h, i, last);
    fix(h, i);
}

int64_t kp_timer_next(const struct kp_timer_heap *h, uint64_t now)
{
    if (h->n == 0)
        return -1;
    uint64_t when = h->v[0]->key;
    if (when <= now)
        return 0;
    uint64_t d = when - now;
    return d > INT64_MAX ? INT64_MAX : (int64_t)d;
}

size_t kp_timer_expire(struct kp_timer_heap *h, uint64_t now)
{
    /* Bounded by the count at entry: a callback that re-arms itself for a
     * time <= now fires in the next call instead of looping here forever. */
    size_t budget = h->n, fired = 0;

    while (fired < budget && h->n > 0 && h->v[0]->key <= now) {
        struct kp_timer *t = h->v[0];
        if (t->key != t->when) {
            /* re-armed later since it took this place: to its real one */
            t->key = t->when;
            sift_down(h, 0);
            continue;
        }
        kp_timer_del(h, t);
        fired++;
        t->fn(t);
    }
    return fired;
}
