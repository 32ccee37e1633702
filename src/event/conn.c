/* The connection pool: worker_connections objects allocated once, a free
 * list (LIFO, so recently used objects are still warm in cache) and two LRU
 * lists, idle connections and readers of a request head, whose oldest
 * members can be closed to make room. */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/os/socket.h"
#include "kelpie/event/conn.h"

int kp_conn_pool_init(struct kp_conn_pool *p, unsigned n)
{
    if (n == 0)
        return -EINVAL;
    *p = (struct kp_conn_pool){.n = n, .n_free = n};
    p->conns = kp_calloc(n, sizeof(*p->conns));
    /* Chain from the end so that the first get returns conns[0]. */
    for (unsigned i = n; i-- > 0;) {
        p->conns[i].next = p->free;
        p->free = &p->conns[i];
    }
    return 0;
}

void kp_conn_pool_free(struct kp_conn_pool *p)
{
    kp_free(p->conns);
    *p = (struct kp_conn_pool){0};
}

struct kp_conn *kp_conn_get(struct kp_conn_pool *p)
{
    struct kp_conn *c = p->free;

    if (c == NULL)
        return NULL;
    p->free = c->next;
    p->n_free--;
    *c = (struct kp_conn){.number = ++p->serial, .in_use = true, .fresh = true};
    kp_io_init(&c->io, -1, NULL, c);
    c->io.warm[0] = (struct kp_io_warm){c, sizeof(*c)};
    kp_timer_init(&c->timer, NULL, c);
    return c;
}

void kp_conn_put(struct kp_conn_pool *p, struct kp_conn *c)
{
    kp_conn_idle_remove(p, c);
    kp_conn_reading_remove(p, c);
    c->in_use = false;
    c->prev = NULL;
    c->next = p->free;
    p->free = c;
    p->n_free++;
    if (p->freed != NULL)
        p->freed(p->freed_ctx);
}

void kp_conn_close(struct kp_conn_pool *p, struct kp_loop *loop, struct kp_conn *c)
{
    kp_loop_close(loop, &c->io);
    kp_loop_timer_del(loop, &c->timer);
    kp_tls_free(c->tls);
    c->tls = NULL;
    kp_conn_put(p, c);
}

ssize_t kp_conn_recv(struct kp_conn *c, void *buf, size_t len)
{
    if (c->tls != NULL)
        return kp_tls_recv(c->tls, buf, len);
    return kp_io_recv(&c->io, buf, len);
}

ssize_t kp_conn_send(struct kp_conn *c, const struct iovec *iov, size_t n, int flags)
{
    if (c->tls != NULL)
        return kp_tls_send(c->tls, iov, n);
    return kp_io_send(&c->io, iov, n, flags);
}

ssize_t kp_conn_sendfile(struct kp_conn *c, int fd, off_t *off, size_t len)
{
    if (c->tls != NULL)
        return kp_tls_sendfile(c->tls, fd, off, len);
    return kp_io_sendfile(&c->io, fd, off, len);
}

bool kp_conn_sending(const struct kp_conn *c)
{
    return c->tls == NULL && kp_io_sending(&c->io);
}

int kp_conn_shutdown(struct kp_conn *c)
{
    return kp_io_shutdown(&c->io);
}

int kp_conn_reset_on_close(struct kp_conn *c)
{
    c->io.flags |= KP_IO_ABORT;
    return kp_socket_reset_on_close(c->io.fd);
}

bool kp_conn_recv_more(const struct kp_conn *c, ssize_t n, size_t len)
{
    if (c->tls != NULL)
        return n > 0 && kp_tls_more(c->tls);
    return n > 0 && (size_t)n == len;
}

/* One LRU list (idle or reading): its ends and its length. */
struct lru {
    struct kp_conn **head, **tail;
    unsigned *n;
};

static struct lru idle_list(struct kp_conn_pool *p)
{
    return (struct lru){&p->idle_head, &p->idle_tail, &p->n_idle};
}

static struct lru reading_list(struct kp_conn_pool *p)
{
    return (struct lru){&p->reading_head, &p->reading_tail, &p->n_reading};
}

static void lru_append(struct kp_conn_pool *p, struct lru l, struct kp_conn *c)
{
    c->next = NULL;
    c->prev = *l.tail;
    if (*l.tail != NULL)
        (*l.tail)->next = c;
    else
        *l.head = c;
    *l.tail = c;
    (*l.n)++;
    c->since = ++p->ticks;
    p->n_fresh += c->fresh;
}

static void lru_unlink(struct kp_conn_pool *p, struct lru l, struct kp_conn *c)
{
    p->n_fresh -= c->fresh;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        *l.head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        *l.tail = c->prev;
    c->next = c->prev = NULL;
    (*l.n)--;
}

/* Off whichever list c is on. */
static void unlist(struct kp_conn_pool *p, struct kp_conn *c)
{
    kp_conn_idle_remove(p, c);
    kp_conn_reading_remove(p, c);
}

void kp_conn_idle_add(struct kp_conn_pool *p, struct kp_conn *c)
{
    unlist(p, c);
    c->idle = true;
    lru_append(p, idle_list(p), c);
}

void kp_conn_idle_remove(struct kp_conn_pool *p, struct kp_conn *c)
{
    if (!c->idle)
        return;
    lru_unlink(p, idle_list(p), c);
    c->idle = false;
}

void kp_conn_reading_add(struct kp_conn_pool *p, struct kp_conn *c)
{
    unlist(p, c);
    c->reading = true;
    lru_append(p, reading_list(p), c);
}

void kp_conn_reading_remove(struct kp_conn_pool *p, struct kp_conn *c)
{
    if (!c->reading)
        return;
    lru_unlink(p, reading_list(p), c);
    c->reading = false;
}

unsigned kp_conn_pool_reclaim(struct kp_conn_pool *p, unsigned want)
{
    unsigned closed = 0;

    while (closed < want && p->idle_head != NULL) {
        struct kp_conn *c = p->idle_head;
        kp_conn_idle_remove(p, c);
        closed++;
        c->close(c);
    }
    return closed;
}

/* The oldest connection of a list that is not fresh, or NULL. */
static struct kp_conn *oldest_seen(struct kp_conn *c)
{
    while (c != NULL && c->fresh)
        c = c->next;
    return c;
}

static void settle_list(struct kp_conn *c)
{
    for (; c != NULL; c = c->next)
        c->fresh = false;
}

void kp_conn_pool_settle(struct kp_conn_pool *p)
{
    settle_list(p->idle_head);
    settle_list(p->reading_head);
    p->n_fresh = 0;
}

bool kp_conn_pool_evict(struct kp_conn_pool *p)
{
    struct kp_conn *c = oldest_seen(p->idle_head), *r = oldest_seen(p->reading_head);

    if (c == NULL || (r != NULL && r->since < c->since))
        c = r;
    if (c == NULL)
        return false;
    unlist(p, c);
    c->close(c);
    return true;
}
