/* limit-uring: the physical limit of an io_uring server on this machine,
 * for tools/bench models. One thread, one ring (SINGLE_ISSUER and
 * DEFER_TASKRUN when the kernel has them); a multishot accept; a multishot
 * receive per connection into a provided-buffer ring shared by all of
 * them; every "\r\n\r\n" is answered with the same canned response (a
 * 600-byte body), nothing is parsed, and the answers a connection owes
 * after a round of completions leave in one send. Not part of the server.
 *
 *   limit-uring PORT        listens on 127.0.0.1:PORT until killed */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "limit-common.h"

#define RING_ENTRIES 4096
#define BUF_GROUP    1
#define BUF_COUNT    1024 /* a power of two */
#define BUF_SIZE     4096

enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND };

struct conn {
    int fd;         /* -1: free */
    unsigned match; /* bytes of "\r\n\r\n" matched at the end of the last receive */
    size_t owed;    /* requests received and not yet answered in full */
    size_t off;     /* bytes of the first owed answer already written */
    size_t sending; /* bytes of the send in flight, 0: none */
    int closing;    /* the receive ended: close once no send is in flight */
    int dirty;      /* on the list of connections to send to */
};

static struct io_uring ring;
static struct io_uring_buf_ring *bufs;
static char *buf_mem;
static struct conn *conns;
static size_t n_conns;
static int *dirty; /* fds owed answers after this round */
static size_t n_dirty;
static char *answers;

static struct conn *conn_of(int fd)
{
    if ((size_t)fd >= n_conns) {
        size_t n = (size_t)fd * 2 + 64;
        conns = realloc(conns, n * sizeof(*conns));
        dirty = realloc(dirty, n * sizeof(*dirty));
        if (conns == NULL || dirty == NULL)
            abort();
        memset(conns + n_conns, 0, (n - n_conns) * sizeof(*conns));
        n_conns = n;
    }
    return &conns[fd];
}

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

    if (sqe == NULL) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
        if (sqe == NULL)
            abort();
    }
    return sqe;
}

static uint64_t tag(enum op op, int fd)
{
    return (uint64_t)op << 32 | (uint32_t)fd;
}

static void arm_accept(int ls)
{
    struct io_uring_sqe *sqe = sqe_get();

    io_uring_prep_multishot_accept(sqe, ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag(OP_ACCEPT, ls));
}

static void arm_recv(int fd)
{
    struct io_uring_sqe *sqe = sqe_get();

    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    io_uring_sqe_set_data64(sqe, tag(OP_RECV, fd));
}

static void send_owed(struct conn *c)
{
    size_t k = c->owed < LIMIT_MAX_BATCH ? c->owed : LIMIT_MAX_BATCH;
    struct io_uring_sqe *sqe = sqe_get();

    c->sending = k * limit_response_len() - c->off;
    io_uring_prep_send(sqe, c->fd, answers + c->off, c->sending, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag(OP_SEND, c->fd));
}

static void finish(struct conn *c)
{
    if (c->sending == 0 && c->closing) {
        close(c->fd);
        c->fd = -1;
    }
}

static void mark_dirty(struct conn *c)
{
    if (!c->dirty && c->sending == 0) {
        c->dirty = 1;
        dirty[n_dirty++] = c->fd;
    }
}

static void give_buffer(unsigned bid)
{
    io_uring_buf_ring_add(bufs, buf_mem + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(BUF_COUNT), 0);
    io_uring_buf_ring_advance(bufs, 1);
}

static void on_recv(struct conn *c, const struct io_uring_cqe *cqe)
{
    if (cqe->res > 0) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        c->owed += limit_count_ends(buf_mem + (size_t)bid * BUF_SIZE, (size_t)cqe->res, &c->match);
        give_buffer(bid);
        mark_dirty(c);
        if (!(cqe->flags & IORING_CQE_F_MORE))
            arm_recv(c->fd);
        return;
    }
    if (cqe->res == -ENOBUFS) {
        arm_recv(c->fd);
        return;
    }
    c->closing = 1;
    finish(c);
}

static void on_send(struct conn *c, const struct io_uring_cqe *cqe)
{
    size_t len = limit_response_len();

    c->sending = 0;
    if (cqe->res <= 0) {
        c->owed = 0;
        c->closing = 1; /* the receive ends too, with the error */
        shutdown(c->fd, SHUT_RDWR);
        finish(c);
        return;
    }
    size_t done = c->off + (size_t)cqe->res;
    c->owed -= done / len;
    c->off = done % len;
    if (c->owed > 0 && !c->closing)
        send_owed(c);
    finish(c);
}

static void on_accept(int ls, const struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE))
        arm_accept(ls);
    if (cqe->res < 0)
        return;
    int one = 1;
    setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn *c = conn_of(cqe->res);
    *c = (struct conn){.fd = cqe->res};
    arm_recv(c->fd);
}

static int setup_ring(void)
{
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};

    if (io_uring_queue_init_params(RING_ENTRIES, &ring, &p) < 0) {
        memset(&p, 0, sizeof(p));
        if (io_uring_queue_init_params(RING_ENTRIES, &ring, &p) < 0)
            return -1;
    }
    size_t ring_size = BUF_COUNT * sizeof(struct io_uring_buf);
    bufs = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    buf_mem = malloc((size_t)BUF_COUNT * BUF_SIZE);
    if (bufs == MAP_FAILED || buf_mem == NULL)
        return -1;
    io_uring_buf_ring_init(bufs);
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)bufs, .ring_entries = BUF_COUNT, .bgid = BUF_GROUP};
    if (io_uring_register_buf_ring(&ring, &reg, 0) < 0)
        return -1;
    for (unsigned i = 0; i < BUF_COUNT; i++)
        give_buffer(i);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: limit-uring PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    answers = limit_answers();
    int ls = limit_listen(atoi(argv[1]), 0);
    if (ls < 0 || setup_ring() < 0) {
        fprintf(stderr, "limit-uring: cannot listen or set up io_uring\n");
        return 1;
    }
    conn_of(ls);
    arm_accept(ls);
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;

        if (io_uring_submit_and_wait(&ring, 1) < 0 && errno != EINTR)
            continue;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            int fd = (int)(uint32_t)cqe->user_data;
            enum op op = (enum op)(cqe->user_data >> 32);
            seen++;
            if (op == OP_ACCEPT)
                on_accept(fd, cqe);
            else if (op == OP_RECV)
                on_recv(conn_of(fd), cqe);
            else
                on_send(conn_of(fd), cqe);
        }
        io_uring_cq_advance(&ring, seen);
        /* One send per connection for everything this round completed. */
        for (size_t i = 0; i < n_dirty; i++) {
            struct conn *c = &conns[dirty[i]];
            c->dirty = 0;
            if (c->fd >= 0 && !c->closing && c->owed > 0 && c->sending == 0)
                send_owed(c);
        }
        n_dirty = 0;
    }
}
