/* The hand-off of accepted sockets from one acceptor to the reactor
 * threads of its process (see worker_handoff.h). */
#include "kelpie/proc/worker_handoff.h"

#include <stdint.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"

/* Sockets an inbox holds at most. A reactor takes its whole inbox per
 * wake-up, so this only bounds a burst that arrives while it is busy; a
 * full inbox passes the connection on to the next reactor. */
#define INBOX_CAP 256

void kp_handoff_init(struct kp_handoff *h, unsigned n, const int *bells,
                     struct kp_sb_slot *const *slots)
{
    *h = (struct kp_handoff){.n = n};
    h->inboxes = kp_calloc(n, sizeof(*h->inboxes));
    for (unsigned i = 0; i < n; i++) {
        struct kp_handoff_inbox *in = &h->inboxes[i];
        pthread_mutex_init(&in->lock, NULL);
        in->items = kp_calloc(INBOX_CAP, sizeof(*in->items));
        in->cap = INBOX_CAP;
        in->bell = bells[i];
        in->slot = slots != NULL ? slots[i] : NULL;
    }
}

/* Close what an inbox still holds; the caller holds its lock or is alone. */
static void close_queued(struct kp_handoff_inbox *in)
{
    for (; in->len > 0; in->len--) {
        close(in->items[in->head].fd);
        in->head = (in->head + 1) % in->cap;
    }
}

void kp_handoff_free(struct kp_handoff *h)
{
    for (unsigned i = 0; i < h->n; i++) {
        close_queued(&h->inboxes[i]);
        pthread_mutex_destroy(&h->inboxes[i].lock);
        kp_free(h->inboxes[i].items);
    }
    kp_free(h->inboxes);
    h->inboxes = NULL;
}

static void ring(int fd)
{
    uint64_t one = 1;

    if (write(fd, &one, sizeof(one)) < 0)
        return; /* EAGAIN: the counter is full, a wake-up is pending anyway */
}

/* A reactor with no free connection would only evict or refuse: skip it
 * (its slot is published before each of its waits, so it is a moment old).
 * One still starting has published nothing yet: its inbox waits for it. */
static bool full(const struct kp_handoff_inbox *in)
{
    return in->slot != NULL &&
           atomic_load_explicit(&in->slot->state, memory_order_relaxed) == KP_SB_READY &&
           atomic_load_explicit(&in->slot->free_conns, memory_order_relaxed) == 0;
}

/* Queue the socket in inbox in; false when it is full or its reactor left. */
static bool push(struct kp_handoff_inbox *in, const struct kp_handoff_item *item)
{
    pthread_mutex_lock(&in->lock);
    bool ok = !in->gone && in->len < in->cap;
    bool was_empty = in->len == 0;
    if (ok)
        in->items[(in->head + in->len++) % in->cap] = *item;
    pthread_mutex_unlock(&in->lock);
    /* The reactor empties its inbox at each ring: one ring per batch. */
    if (ok && was_empty)
        ring(in->bell);
    return ok;
}

bool kp_handoff_send(void *ctx, int fd, const struct sockaddr_storage *peer, socklen_t peer_len,
                     const struct kp_listening *ls)
{
    struct kp_handoff *h = ctx;
    struct kp_handoff_item item = {.fd = fd, .peer_len = peer_len, .ls = ls, .peer = *peer};

    for (unsigned tries = 0; tries < h->n; tries++) {
        unsigned i = h->next;
        h->next = (h->next + 1) % h->n;
        if (full(&h->inboxes[i]))
            continue;
        if (i == 0)
            return false; /* the acceptor's own reactor's turn */
        if (push(&h->inboxes[i], &item)) {
            h->handed++;
            return true;
        }
    }
    /* Every reactor is full: the acceptor's own evicts or refuses. */
    return false;
}

void kp_handoff_close(struct kp_handoff *h)
{
    if (atomic_exchange(&h->closed, true))
        return;
    for (unsigned i = 1; i < h->n; i++)
        ring(h->inboxes[i].bell);
}

void kp_handoff_take(struct kp_handoff *h, unsigned i, struct kp_acceptor *a)
{
    struct kp_handoff_inbox *in = &h->inboxes[i];
    struct kp_handoff_item batch[INBOX_CAP];
    unsigned n = 0;

    /* Copied out under the lock, adopted after it: the acceptor never
     * waits for this reactor's HTTP work. */
    pthread_mutex_lock(&in->lock);
    for (; in->len > 0; in->len--, n++) {
        batch[n] = in->items[in->head];
        in->head = (in->head + 1) % in->cap;
    }
    pthread_mutex_unlock(&in->lock);
    for (unsigned k = 0; k < n; k++)
        (void)kp_accept_adopt(a, batch[k].fd, &batch[k].peer, batch[k].peer_len, batch[k].ls);
}

bool kp_handoff_drained(struct kp_handoff *h, unsigned i)
{
    struct kp_handoff_inbox *in = &h->inboxes[i];

    if (!atomic_load(&h->closed))
        return false;
    pthread_mutex_lock(&in->lock);
    bool empty = in->len == 0;
    pthread_mutex_unlock(&in->lock);
    return empty;
}

void kp_handoff_leave(struct kp_handoff *h, unsigned i)
{
    struct kp_handoff_inbox *in = &h->inboxes[i];

    pthread_mutex_lock(&in->lock);
    in->gone = true;
    close_queued(in);
    pthread_mutex_unlock(&in->lock);
}
