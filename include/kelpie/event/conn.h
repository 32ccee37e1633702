/* Connection objects, preallocated per worker (`worker_connections`) with a
 * free list, so that accepting never allocates. A connection owns no read
 * buffer while it waits idle in keep-alive: the protocol layer takes a buffer
 * when bytes arrive and gives it back when the connection goes idle, which is
 * what keeps 10,000 idle keep-alive connections cheap.
 *
 * Idle connections (kept alive, or new and waiting for their first byte) are
 * also kept on an LRU list, and connections reading a request head on a
 * second one, so that when the pool runs out the oldest of both can be
 * closed to make room: a connection that has sent nothing for the longest
 * time, or a client that has taken the longest over its head (a slowloris
 * attack), never one with a request being answered. */
#ifndef KP_CONN_H
#define KP_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "kelpie/util/buf.h"
#include "kelpie/event/conf.h"
#include "kelpie/event/loop.h"
#include "kelpie/event/timer.h"
#include "kelpie/event/tls.h"

struct kp_conn;
/* Close the connection for good (the protocol layer's close path), used when
 * the pool reclaims an idle connection. */
typedef void (*kp_conn_close_fn)(struct kp_conn *c);
/* Told that a connection went back to the free list (the acceptor uses it to
 * resume accepting after running out of connections). */
typedef void (*kp_conn_freed_fn)(void *ctx);

struct kp_conn {
    struct kp_io io;       /* io.fd is the socket; io.data == this */
    struct kp_timer timer; /* one timeout at a time: header, keep-alive, send, linger */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    const struct kp_listening *ls;
    struct kp_buf rbuf;          /* rbuf.start == NULL while idle */
    struct kp_tls *tls;          /* NULL: plain TCP; freed by kp_conn_close */
    void *data;                  /* protocol state */
    kp_conn_close_fn close;      /* set by the protocol layer */
    uint64_t number;             /* serial number in this worker ($connection) */
    unsigned requests;           /* requests served on this connection */
    struct kp_conn *next, *prev; /* free list, idle list or reading list */
    uint64_t since;              /* pool->ticks when it joined the idle or reading list */
    bool in_use;
    bool idle;    /* on the idle (keep-alive) list */
    bool reading; /* on the reading list */
    /* Taken from the pool, and nothing read from it yet: a request may be
     * waiting in its socket (a completion backend delivers it a turn after
     * the accept), so the pool does not evict it (kp_conn_seen ends it). */
    bool fresh;
};

struct kp_conn_pool {
    struct kp_conn *conns;
    unsigned n;
    struct kp_conn *free;
    unsigned n_free;
    struct kp_conn *idle_head, *idle_tail; /* oldest at head */
    unsigned n_idle;
    struct kp_conn *reading_head, *reading_tail; /* oldest at head */
    unsigned n_reading;
    unsigned n_fresh; /* fresh connections on the idle or reading list */
    uint64_t ticks;   /* orders entries to both lists */
    uint64_t serial;
    kp_conn_freed_fn freed; /* called by kp_conn_put; may be NULL */
    void *freed_ctx;
    /* Set by the worker on graceful quit: protocols stop keeping connections
     * alive (answer with "Connection: close") and close a connection instead
     * of putting it on the idle list; idle ones are closed by the worker. */
    bool draining;
};

/* Preallocate n connections (aborts on OOM like kp_alloc). Returns 0, or
 * -EINVAL when n is 0. */
int kp_conn_pool_init(struct kp_conn_pool *p, unsigned n);
/* Free the connection array; connections still in use are not closed. */
void kp_conn_pool_free(struct kp_conn_pool *p);
/* Connections currently taken from the pool (idle ones included). */
static inline unsigned kp_conn_pool_active(const struct kp_conn_pool *p)
{
    return p->n - p->n_free;
}
/* Take a free connection, or NULL when none is left (the caller may then
 * reclaim an idle one with kp_conn_pool_reclaim). The connection is zeroed
 * except for: its number (the next serial), in_use, io (fd -1, data c) and
 * timer (disarmed, data c). */
struct kp_conn *kp_conn_get(struct kp_conn_pool *p);
/* Return c to the free list; it must be unregistered from the loop, its timer
 * disarmed and its fd closed (it is taken off the idle list if still there).
 * Then calls p->freed. */
void kp_conn_put(struct kp_conn_pool *p, struct kp_conn *c);
/* The event-level end of every close path, called last by protocol close
 * callbacks: unregister c->io, disarm c->timer, close the fd (if >= 0), take
 * c off the idle list and put it back in the pool. Protocol state (c->data,
 * c->rbuf) must already be released. */
void kp_conn_close(struct kp_conn_pool *p, struct kp_loop *loop, struct kp_conn *c);
/* The connection's byte stream, through TLS when c->tls is set (the one
 * place that chooses). recv: bytes read, 0 at the end of the stream, -EAGAIN
 * or -errno. send: the buffers in order (flags: MSG_MORE or 0; never
 * SIGPIPE): bytes taken, -EAGAIN or -errno. Both retry EINTR. */
ssize_t kp_conn_recv(struct kp_conn *c, void *buf, size_t len);
ssize_t kp_conn_send(struct kp_conn *c, const struct iovec *iov, size_t n, int flags);
/* sendfile of len bytes of fd at *off (advanced), after what kp_conn_send
 * took (kernel TLS under TLS): bytes sent, -EAGAIN or -errno. */
ssize_t kp_conn_sendfile(struct kp_conn *c, int fd, off_t *off, size_t len);
/* Whether bytes kp_conn_send took are still on their way (io_uring): a
 * write made past the connection's byte stream (a pool thread's sendfile)
 * waits for KP_EV_WRITE, which follows when they are out. */
bool kp_conn_sending(const struct kp_conn *c);
/* End the writing side once what kp_conn_send took is out. 0 or -errno. */
int kp_conn_shutdown(struct kp_conn *c);
/* Make the coming close a reset (SO_LINGER 0), dropping whatever the
 * connection still has to send. 0 or -errno. */
int kp_conn_reset_on_close(struct kp_conn *c);
/* After a successful kp_conn_recv: whether more bytes may be ready without
 * a new readiness report (OpenSSL holds some, or the read filled its buffer;
 * plain TCP: whether it filled len). */
bool kp_conn_recv_more(const struct kp_conn *c, ssize_t n, size_t len);
/* Put c on / take c off the idle keep-alive list (LRU, newest at the tail;
 * adding a connection already there moves it to the tail; removing one that
 * is not there does nothing). */
void kp_conn_idle_add(struct kp_conn_pool *p, struct kp_conn *c);
void kp_conn_idle_remove(struct kp_conn_pool *p, struct kp_conn *c);
/* Put c on / take c off the list of connections reading a request head
 * (the same rules; c is never on both lists: adding it to one takes it off
 * the other). */
void kp_conn_reading_add(struct kp_conn_pool *p, struct kp_conn *c);
void kp_conn_reading_remove(struct kp_conn_pool *p, struct kp_conn *c);
/* Close up to `want` of the oldest idle connections: each is taken off the
 * idle list, then its close callback runs. Returns how many were closed. */
unsigned kp_conn_pool_reclaim(struct kp_conn_pool *p, unsigned want);
/* Make room for one connection when none is free: close whichever joined its
 * list first, the oldest idle one or the oldest reader of a request head,
 * passing over fresh ones. Returns false when there is none. */
bool kp_conn_pool_evict(struct kp_conn_pool *p);
/* Connections that kp_conn_pool_evict could free (idle or reading a head,
 * and not fresh). */
static inline unsigned kp_conn_pool_evictable(const struct kp_conn_pool *p)
{
    return p->n_idle + p->n_reading - p->n_fresh;
}
/* Every connection on the idle or reading list stops being fresh: the
 * acceptor's way to evict clients that connected a while ago and never sent
 * a byte (no event ever came to end their freshness). */
void kp_conn_pool_settle(struct kp_conn_pool *p);
/* A read of c gave bytes, an end or an error: c is no longer fresh. */
static inline void kp_conn_seen(struct kp_conn_pool *p, struct kp_conn *c)
{
    if (!c->fresh)
        return;
    c->fresh = false;
    if (c->idle || c->reading)
        p->n_fresh--;
}

#endif
