/* The integration tests' load generator (see load.h). One poll() loop over
 * every connection keeps the generator light next to the server on a small
 * machine; each connection has at most one request outstanding, so every
 * failure can be tied to the connection (and the worker) it happened on. */
#include "load.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX 16384
#define RETRY_MS 10 /* after a failed connect, before the next one */

enum client_state {
    C_NONE,       /* no connection: open one when allowed */
    C_CONNECTING, /* non-blocking connect in progress */
    C_SENDING,
    C_READING,
    C_CLOSING, /* response said Connection: close: wait for the server's FIN */
};

struct client {
    int fd;
    enum client_state state;
    int local_port;
    size_t sent;
    char buf[RESP_MAX];
    size_t len;
    long since_ms; /* the send (or the connect) the current step is timed from */
    long retry_at_ms;
};

struct kp_load {
    struct kp_load_conf conf;
    pthread_t thread;
    pthread_mutex_t mu; /* guards st and the clients' fd/port for kp_load_ports */
    atomic_bool stop;
    long t0;
    struct kp_load_stats st;
    struct client *cl;
    struct pollfd *pfd;
    char req[512];
    size_t req_len;
};

long kp_load_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail_conn(struct kp_load *l, struct client *c, enum kp_load_fail_kind kind)
{
    long now = kp_load_now_ms();

    pthread_mutex_lock(&l->mu);
    l->st.failures++;
    if (l->st.n_fails < KP_LOAD_MAX_FAILS)
        l->st.fails[l->st.n_fails++] = (struct kp_load_fail){kind, c->local_port, now - l->t0};
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->local_port = 0;
    pthread_mutex_unlock(&l->mu);
    c->state = C_NONE;
    c->retry_at_ms = now + (kind == KP_LOAD_CONNECT ? RETRY_MS : 0);
}

static void drop(struct kp_load *l, struct client *c)
{
    pthread_mutex_lock(&l->mu);
    close(c->fd);
    c->fd = -1;
    c->local_port = 0;
    pthread_mutex_unlock(&l->mu);
    c->state = C_NONE;
}

static bool may_send(struct kp_load *l)
{
    return l->conf.max_requests == 0 || l->st.requests < l->conf.max_requests;
}

static void open_conn(struct kp_load *l, struct client *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)l->conf.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in local;
    socklen_t len = sizeof(local);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->since_ms = kp_load_now_ms();
    c->sent = 0;
    c->len = 0;
    pthread_mutex_lock(&l->mu);
    c->fd = fd;
    l->st.connects++;
    pthread_mutex_unlock(&l->mu);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
        fail_conn(l, c, KP_LOAD_CONNECT);
        return;
    }
    if (getsockname(fd, (struct sockaddr *)&local, &len) == 0)
        c->local_port = ntohs(local.sin_port);
    c->state = C_CONNECTING;
}

static void record_body(struct kp_load *l, const char *body, size_t n)
{
    struct kp_load_stats *st = &l->st;
    long now = kp_load_now_ms() - l->t0;
    char text[64];

    if (n > sizeof(text) - 1)
        n = sizeof(text) - 1;
    memcpy(text, body, n);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    text[n] = '\0';
    for (int i = 0; i < st->n_bodies; i++) {
        if (strcmp(st->bodies[i].text, text) == 0) {
            st->bodies[i].count++;
            st->bodies[i].last_ms = now;
            return;
        }
    }
    if (st->n_bodies < KP_LOAD_MAX_BODIES) {
        struct kp_load_body *b = &st->bodies[st->n_bodies++];
        snprintf(b->text, sizeof(b->text), "%s", text);
        b->count = 1;
        b->first_ms = b->last_ms = now;
    }
}

/* The value of header `name` in head (NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);

    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nlen) == 0 && p[2 + nlen] == ':') {
            const char *v = p + 3 + nlen;
            while (*v == ' ')
                v++;
            *vlen = strcspn(v, "\r");
            return v;
        }
    }
    return NULL;
}

/* A whole response is in c->buf: account for it and send the next request
 * (or wait for the server's close). */
static void complete(struct kp_load *l, struct client *c, int status, bool closing,
                     const char *body, size_t body_len)
{
    long took = kp_load_now_ms() - c->since_ms;

    pthread_mutex_lock(&l->mu);
    if (took > l->st.max_ms)
        l->st.max_ms = took;
    if (status == 200) {
        l->st.ok++;
        record_body(l, body, body_len);
    }
    pthread_mutex_unlock(&l->mu);
    if (status != 200) {
        fail_conn(l, c, KP_LOAD_STATUS);
        return;
    }
    c->len = 0;
    c->sent = 0;
    c->since_ms = kp_load_now_ms();
    c->state = closing ? C_CLOSING : C_SENDING;
}

/* Parse what has arrived; true when a whole response was handled. */
static bool parse(struct kp_load *l, struct client *c)
{
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL)
        return false;
    size_t head_len = (size_t)(end - c->buf) + 4, vlen;
    const char *v = header(c->buf, "Content-Length", &vlen);
    size_t body_len = v ? strtoul(v, NULL, 10) : 0;
    if (c->len < head_len + body_len)
        return false;
    v = header(c->buf, "Connection", &vlen);
    bool closing = l->conf.close || (v != NULL && vlen == 5 && strncasecmp(v, "close", 5) == 0);
    complete(l, c, atoi(c->buf + 9), closing, c->buf + head_len, body_len);
    return true;
}

static void on_ready(struct kp_load *l, struct client *c, short revents)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            fail_conn(l, c, KP_LOAD_CONNECT);
            return;
        }
        c->state = C_SENDING;
    }
    if (c->state == C_SENDING && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        if (!may_send(l)) {
            drop(l, c);
            return;
        }
        ssize_t n = send(c->fd, l->req + c->sent, l->req_len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) {
            fail_conn(l, c, errno == EPIPE ? KP_LOAD_EOF : KP_LOAD_RESET);
            return;
        }
        c->sent += n > 0 ? (size_t)n : 0;
        if (c->sent == l->req_len) {
            pthread_mutex_lock(&l->mu);
            l->st.requests++;
            pthread_mutex_unlock(&l->mu);
            c->state = C_READING;
            c->since_ms = kp_load_now_ms();
        }
        return;
    }
    if (!(revents & (POLLIN | POLLERR | POLLHUP)))
        return;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
    if (n < 0 && errno == EAGAIN)
        return;
    if (c->state == C_CLOSING) {
        if (n == 0) {
            pthread_mutex_lock(&l->mu);
            l->st.server_closes++;
            pthread_mutex_unlock(&l->mu);
            drop(l, c);
        } else if (n < 0) {
            fail_conn(l, c, KP_LOAD_RESET);
        }
        return;
    }
    if (n <= 0) {
        fail_conn(l, c, n == 0 ? KP_LOAD_EOF : KP_LOAD_RESET);
        return;
    }
    c->len += (size_t)n;
    if (!parse(l, c) && c->len == sizeof(c->buf) - 1)
        fail_conn(l, c, KP_LOAD_STATUS);
}

static short wanted(const struct client *c)
{
    switch (c->state) {
    case C_CONNECTING:
    case C_SENDING:
        return POLLOUT;
    case C_READING:
    case C_CLOSING:
        return POLLIN;
    default:
        return 0;
    }
}

static bool finished(struct kp_load *l, long now)
{
    if (atomic_load(&l->stop))
        return true;
    if (l->conf.duration_ms > 0 && now - l->t0 >= l->conf.duration_ms)
        return true;
    if (l->conf.max_requests > 0 && l->st.requests >= l->conf.max_requests) {
        for (int i = 0; i < l->conf.conns; i++) {
            if (l->cl[i].state == C_READING || l->cl[i].state == C_CLOSING)
                return false;
        }
        return true;
    }
    return false;
}

static void step(struct kp_load *l)
{
    long now = kp_load_now_ms();
    int timeout = l->conf.timeout_ms > 0 ? l->conf.timeout_ms : 5000;

    for (int i = 0; i < l->conf.conns; i++) {
        struct client *c = &l->cl[i];
        if (c->state == C_NONE && now >= c->retry_at_ms && may_send(l) &&
            now - l->t0 >= (long)i * l->conf.ramp_ms)
            open_conn(l, c);
        else if (c->state != C_NONE && now - c->since_ms > timeout)
            fail_conn(l, c, KP_LOAD_TIMEOUT);
        l->pfd[i] = (struct pollfd){.fd = c->state == C_NONE ? -1 : c->fd, .events = wanted(c)};
    }
    if (poll(l->pfd, (nfds_t)l->conf.conns, 20) <= 0)
        return;
    for (int i = 0; i < l->conf.conns; i++) {
        if (l->pfd[i].fd >= 0 && l->pfd[i].revents != 0)
            on_ready(l, &l->cl[i], l->pfd[i].revents);
    }
}

static void *run(void *arg)
{
    struct kp_load *l = arg;

    while (!finished(l, kp_load_now_ms()))
        step(l);
    for (int i = 0; i < l->conf.conns; i++) {
        if (l->cl[i].fd >= 0)
            drop(l, &l->cl[i]);
    }
    return NULL;
}

static struct kp_load *create(const struct kp_load_conf *conf)
{
    struct kp_load *l = calloc(1, sizeof(*l));

    ck_assert_ptr_nonnull(l);
    l->conf = *conf;
    l->cl = calloc((size_t)conf->conns, sizeof(*l->cl));
    l->pfd = calloc((size_t)conf->conns, sizeof(*l->pfd));
    ck_assert(l->cl != NULL && l->pfd != NULL);
    for (int i = 0; i < conf->conns; i++)
        l->cl[i].fd = -1;
    pthread_mutex_init(&l->mu, NULL);
    l->req_len =
        (size_t)snprintf(l->req, sizeof(l->req), "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n",
                         conf->path ? conf->path : "/", conf->close ? "Connection: close\r\n" : "");
    l->t0 = kp_load_now_ms();
    return l;
}

static void destroy(struct kp_load *l, struct kp_load_stats *out)
{
    if (out != NULL)
        *out = l->st;
    pthread_mutex_destroy(&l->mu);
    free(l->cl);
    free(l->pfd);
    free(l);
}

struct kp_load *kp_load_start(const struct kp_load_conf *conf)
{
    struct kp_load *l = create(conf);

    ck_assert_int_eq(pthread_create(&l->thread, NULL, run, l), 0);
    return l;
}

void kp_load_finish(struct kp_load *l, struct kp_load_stats *out)
{
    if (l->conf.max_requests == 0 && l->conf.duration_ms == 0)
        atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    destroy(l, out);
}

void kp_load_stop(struct kp_load *l, struct kp_load_stats *out)
{
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    destroy(l, out);
}

void kp_load_snapshot(struct kp_load *l, struct kp_load_stats *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->st;
    pthread_mutex_unlock(&l->mu);
}

int kp_load_ports(struct kp_load *l, int *ports, int max)
{
    int n = 0;

    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->conf.conns && n < max; i++) {
        if (l->cl[i].fd >= 0 && l->cl[i].local_port != 0)
            ports[n++] = l->cl[i].local_port;
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}

void kp_load_run(const struct kp_load_conf *conf, struct kp_load_stats *out)
{
    struct kp_load *l = create(conf);

    run(l);
    destroy(l, out);
}

void kp_load_print(const char *name, const struct kp_load_stats *st)
{
    static const char *kinds[] = {"?", "connect", "reset", "eof", "timeout", "status"};

    fprintf(stderr,
            "%s: %ld requests, %ld ok, %ld failures, %ld connections, %ld server closes, "
            "slowest %ld ms\n",
            name, st->requests, st->ok, st->failures, st->connects, st->server_closes, st->max_ms);
    for (int i = 0; i < st->n_fails; i++)
        fprintf(stderr, "  failure: %s on port %d at %ld ms\n", kinds[st->fails[i].kind],
                st->fails[i].local_port, st->fails[i].at_ms);
}
