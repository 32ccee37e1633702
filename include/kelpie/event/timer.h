/* Timers: a binary min-heap keyed on the cached monotonic clock (ms), with
 * each timer remembering its heap index so add/remove are O(log n). Timers
 * are embedded in their owners (connections, requests); nothing is allocated
 * per timer.
 *
 * Re-arming an armed timer for a later time leaves it where it is in the
 * heap (its key stays the earlier time); when that key comes up,
 * kp_timer_expire moves it to its real time instead of firing it. A
 * keep-alive connection re-arms its timer later twice a request (header
 * timeout, then idle timeout): that is no heap work at all, and once per
 * timeout period a move. Firing is exact: never before `when`, earliest
 * first. */
#ifndef KP_TIMER_H
#define KP_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kp_timer;
typedef void (*kp_timer_fn)(struct kp_timer *t);

struct kp_timer {
    uint64_t when; /* absolute expiry, monotonic ms */
    uint64_t key;  /* its order in the heap: <= when (see above) */
    size_t index;  /* position in the heap; SIZE_MAX when not armed */
    kp_timer_fn fn;
    void *data;
};

struct kp_timer_heap {
    struct kp_timer **v;
    size_t n, cap;
};

void kp_timer_heap_init(struct kp_timer_heap *h);
/* Free the heap; timers still armed are left disarmed. */
void kp_timer_heap_free(struct kp_timer_heap *h);
/* Prepare an embedded timer (not armed). */
void kp_timer_init(struct kp_timer *t, kp_timer_fn fn, void *data);
static inline bool kp_timer_armed(const struct kp_timer *t)
{
    return t->index != SIZE_MAX;
}
/* Arm (or re-arm) t to fire at `when`. */
void kp_timer_set(struct kp_timer_heap *h, struct kp_timer *t, uint64_t when);
/* Disarm t; harmless if not armed. */
void kp_timer_del(struct kp_timer_heap *h, struct kp_timer *t);
/* Milliseconds from `now` until the first key of the heap, 0 if it is due,
 * -1 if no timer is armed: never later than the earliest timer, earlier
 * when that one was re-armed later (kp_timer_expire then moves it). */
int64_t kp_timer_next(const struct kp_timer_heap *h, uint64_t now);
/* Disarm and call every timer with when <= now, earliest first (moving
 * those whose key came up before their time). A callback
 * may arm or delete any timer; at most as many timers fire as were armed at
 * entry, so one re-armed for a time <= now fires in the next call. Returns how
 * many fired. */
size_t kp_timer_expire(struct kp_timer_heap *h, uint64_t now);

#endif
