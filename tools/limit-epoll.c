/* limit-epoll: the physical limit of an epoll server on this machine, for
 * tools/bench models. One thread, one level-triggered epoll set; every
 * "\r\n\r\n" a connection sends is answered with the same canned response
 * (a 600-byte body), and nothing is parsed. Per readiness report: one read
 * (a second only when the first filled the buffer), then one write that
 * answers every request the read completed. Not part of the server.
 *
 *   limit-epoll PORT        listens on 127.0.0.1:PORT until killed */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "limit-common.h"

struct conn {
    int fd;
    unsigned match; /* bytes of "\r\n\r\n" matched at the end of the last read */
    size_t owed;    /* requests read and not yet answered in full */
    size_t off;     /* bytes of the first owed answer already written */
};

static struct conn *conns;
static size_t n_conns;
static char *answers; /* LIMIT_MAX_BATCH canned responses back to back */

static struct conn *conn_of(int fd)
{
    if ((size_t)fd >= n_conns) {
        size_t n = (size_t)fd * 2 + 64;
        conns = realloc(conns, n * sizeof(*conns));
        if (conns == NULL)
            abort();
        memset(conns + n_conns, 0, (n - n_conns) * sizeof(*conns));
        n_conns = n;
    }
    return &conns[fd];
}

static void drop(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* Write the answers owed, up to LIMIT_MAX_BATCH per write: true when all
 * went, false when the socket is full (watched for writing) or gone. */
static int flush(int ep, struct conn *c)
{
    size_t len = limit_response_len();

    while (c->owed > 0) {
        size_t k = c->owed < LIMIT_MAX_BATCH ? c->owed : LIMIT_MAX_BATCH;
        ssize_t w = send(c->fd, answers + c->off, k * len - c->off, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = c->fd};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return 0;
        }
        if (w <= 0) {
            drop(ep, c);
            return 0;
        }
        size_t done = c->off + (size_t)w;
        c->owed -= done / len;
        c->off = done % len;
    }
    return 1;
}

static void on_readable(int ep, struct conn *c)
{
    char buf[65536];
    ssize_t n;

    if (c->owed > 0)
        return; /* answers first: read no more until they are out */
    do {
        n = read(c->fd, buf, sizeof(buf));
        if (n <= 0) {
            if (n < 0 && errno == EAGAIN)
                break;
            drop(ep, c);
            return;
        }
        c->owed += limit_count_ends(buf, (size_t)n, &c->match);
    } while ((size_t)n == sizeof(buf));
    flush(ep, c);
}

static void on_writable(int ep, struct conn *c)
{
    if (!flush(ep, c))
        return;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void accept_all(int ep, int ls)
{
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = conn_of(fd);
        *c = (struct conn){.fd = fd};
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            close(fd);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: limit-epoll PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    answers = limit_answers();
    int ls = limit_listen(atoi(argv[1]), SOCK_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ls < 0 || ep < 0) {
        perror("limit-epoll");
        return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event ready[512];
    for (;;) {
        int n = epoll_wait(ep, ready, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd == ls) {
                accept_all(ep, ls);
                continue;
            }
            struct conn *c = conn_of(fd);
            if (c->fd != fd)
                continue;
            if (ready[i].events & EPOLLOUT)
                on_writable(ep, c);
            if (c->fd == fd && (ready[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(ep, c);
        }
    }
}
