/* TLS on a connection with OpenSSL (see tls.h). The socket BIO is watched
 * through a callback so that a read that filled OpenSSL's request is known:
 * with read-ahead on, OpenSSL reads as much as its buffer takes, and a full
 * read means the socket may hold more that no edge will report. */
#include "kelpie/event/tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "kelpie/util/alloc.h"
#include "kelpie/util/mem.h"
#include "kelpie/os/socket.h"
#include "kelpie/event/loop.h"

#if KP_HAVE_SSL

#include <openssl/err.h>
#include <openssl/ssl.h>

/* The staging buffer for small pieces: one record instead of one per piece
 * (a response head and a small body leave in one write). TLS's largest
 * record carries 16 KiB. */
#define TLS_RECORD 16384

struct kp_tls {
    SSL *ssl;
    void *app;
    unsigned want; /* KP_EV_* the last -EAGAIN waits for */
    int fd;
    bool sock_full;  /* the last socket read filled the buffer it was given */
    bool failed;     /* a fatal error: no close_notify */
    bool handshaked; /* the handshake is complete */
    bool wrote;      /* the socket took some of our bytes (the server's flight) */
    bool corked;     /* TCP_CORK holds the session tickets for the first response */
};

static void *tls_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return kp_mem_exact_alloc(n);
}

/* As OpenSSL's own: a size of 0 frees. */
static void *tls_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    if (n == 0) {
        kp_mem_exact_free(p);
        return NULL;
    }
    return kp_mem_exact_realloc(p, n);
}

static void tls_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    kp_mem_exact_free(p);
}

int kp_tls_init(void)
{
    return CRYPTO_set_mem_functions(tls_malloc, tls_realloc, tls_free) == 1 ? 0 : -EBUSY;
}

static long bio_watch(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                      size_t *processed)
{
    struct kp_tls *t = (struct kp_tls *)BIO_get_callback_arg(b);

    (void)argp;
    (void)argi;
    (void)argl;
    if (oper == (BIO_CB_READ | BIO_CB_RETURN))
        t->sock_full = ret > 0 && processed != NULL && *processed == len;
    else if (oper == (BIO_CB_WRITE | BIO_CB_RETURN) && ret > 0)
        t->wrote = true;
    return ret;
}

struct kp_tls *kp_tls_new(void *ctx, int fd, void *app)
{
    SSL *ssl = SSL_new(ctx);

    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    struct kp_tls *t = kp_calloc(1, sizeof(*t));
    t->ssl = ssl;
    t->app = app;
    t->fd = fd;
    SSL_set_app_data(ssl, t);
    BIO *rbio = SSL_get_rbio(ssl);
    BIO_set_callback_arg(rbio, (char *)t);
    BIO_set_callback_ex(rbio, bio_watch);
    SSL_set_accept_state(ssl);
    return t;
}

void *kp_tls_app(const void *ssl)
{
    const struct kp_tls *t = SSL_get_app_data(ssl);

    return t != NULL ? t->app : NULL;
}

void *kp_tls_ssl(const struct kp_tls *t)
{
    return t->ssl;
}

/* Before every OpenSSL call: no stale errors, and nothing to wait for
 * unless this call says so (a stale want would keep a level-triggered
 * backend reporting readiness nobody needs). */
static void begin(struct kp_tls *t)
{
    t->want = 0;
    errno = 0;
    ERR_clear_error();
}

/* Turn a failed call's SSL_get_error into -EAGAIN (with t->want), 0 (the
 * peer's close_notify or EOF) or -errno. */
static int failure(struct kp_tls *t, int rc)
{
    /* Only the call that failed sets what to wait for; see begin(). */
    int err = SSL_get_error(t->ssl, rc);

    switch (err) {
    case SSL_ERROR_WANT_READ:
        t->want = KP_EV_READ;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        t->want = KP_EV_WRITE;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        t->failed = true;
        if (errno == EAGAIN || errno == EINTR) {
            t->want = KP_EV_READ;
            return -EAGAIN;
        }
        return errno != 0 ? -errno : 0;
    default:
        t->failed = true;
        return -EPROTO;
    }
}

/* Let what the socket holds leave (see kp_tls_handshake). */
static void uncork(struct kp_tls *t)
{
    if (t->corked)
        kp_socket_cork(t->fd, false);
    t->corked = false;
}

int kp_tls_handshake(struct kp_tls *t, char *err, size_t errlen)
{
    begin(t);
    /* Once the server's flight is out, what the last step writes (the TLS
     * 1.3 session tickets, after the client's Finished) waits in the socket
     * and leaves with the first response, which usually follows at once
     * (the request comes with the Finished): one segment instead of one per
     * ticket. Waiting for anything lets them go (uncork). */
    if (t->wrote && !t->corked)
        t->corked = kp_socket_cork(t->fd, true) == 0;
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->handshaked = true;
        return 0;
    }
    uncork(t);
    rc = failure(t, rc);
    if (rc == -EAGAIN)
        return rc;
    unsigned long e = ERR_peek_last_error();
    if (e != 0 && rc == -EPROTO)
        ERR_error_string_n(e, err, errlen);
    else if (rc == 0)
        snprintf(err, errlen, "peer closed connection");
    else /* strerror_r: reactor threads may fail at once */
        snprintf(err, errlen, "%s", strerror_r(-rc, err, errlen));
    ERR_clear_error();
    return rc == -EPROTO ? rc : -ECONNRESET;
}

ssize_t kp_tls_recv(struct kp_tls *t, void *buf, size_t len)
{
    size_t n;

    begin(t);
    if (SSL_read_ex(t->ssl, buf, len, &n) == 1)
        return (ssize_t)n;
    uncork(t);
    int rc = failure(t, 0);
    ERR_clear_error();
    return rc;
}

static ssize_t write_some(struct kp_tls *t, const char *p, size_t len)
{
    size_t w;

    begin(t);
    if (SSL_write_ex(t->ssl, p, len, &w) == 1)
        return (ssize_t)w;
    int rc = failure(t, 0);
    ERR_clear_error();
    return rc == 0 ? -EPIPE : rc;
}

static ssize_t send_pieces(struct kp_tls *t, const struct iovec *iov, size_t n);

ssize_t kp_tls_send(struct kp_tls *t, const struct iovec *iov, size_t n)
{
    ssize_t rc = send_pieces(t, iov, n);

    uncork(t);
    return rc;
}

static ssize_t send_pieces(struct kp_tls *t, const struct iovec *iov, size_t n)
{
    char stage[TLS_RECORD];
    size_t total = 0, i = 0, off = 0;

    while (i < n) {
        /* Gather up to a record's worth, from where the last write ended. */
        size_t len = 0;
        const char *p = stage;
        if (iov[i].iov_len - off >= TLS_RECORD || (i + 1 == n && off == 0)) {
            p = (const char *)iov[i].iov_base + off;
            len = iov[i].iov_len - off;
        }
        while (p == stage && i < n && len < TLS_RECORD) {
            size_t take = iov[i].iov_len - off;
            if (take > TLS_RECORD - len)
                take = TLS_RECORD - len;
            memcpy(stage + len, (const char *)iov[i].iov_base + off, take);
            len += take;
            off += take;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
        /* With partial writes on, OpenSSL returns after each record. */
        for (size_t done = 0; done < len;) {
            ssize_t w = write_some(t, p + done, len - done);
            if (w < 0)
                return total > 0 ? (ssize_t)total : w;
            done += (size_t)w;
            total += (size_t)w;
        }
        if (p != stage) {
            i++;
            off = 0;
        }
    }
    return (ssize_t)total;
}

bool kp_tls_ktls_send(const struct kp_tls *t)
{
    return BIO_get_ktls_send(SSL_get_wbio(t->ssl));
}

ssize_t kp_tls_sendfile(struct kp_tls *t, int fd, off_t *off, size_t len)
{
    uncork(t);
    begin(t);
    ossl_ssize_t w = SSL_sendfile(t->ssl, fd, *off, len, 0);
    if (w > 0) {
        *off += w;
        return w;
    }
    int rc = failure(t, (int)w);
    ERR_clear_error();
    return rc == 0 ? -EPIPE : rc;
}

unsigned kp_tls_want(const struct kp_tls *t)
{
    return t->want;
}

bool kp_tls_more(const struct kp_tls *t)
{
    return t->sock_full || SSL_has_pending(t->ssl);
}

void kp_tls_shutdown(struct kp_tls *t)
{
    uncork(t);
    if (t->failed || !t->handshaked)
        return;
    t->failed = true; /* once */
    ERR_clear_error();
    SSL_shutdown(t->ssl);
    ERR_clear_error();
}

void kp_tls_free(struct kp_tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    kp_free(t);
}

#else /* built without OpenSSL: no connection has TLS */

struct kp_tls {
    int unused;
};

int kp_tls_init(void)
{
    return 0;
}

struct kp_tls *kp_tls_new(void *ctx, int fd, void *app)
{
    (void)ctx;
    (void)fd;
    (void)app;
    return NULL;
}

void *kp_tls_app(const void *ssl)
{
    (void)ssl;
    return NULL;
}

void *kp_tls_ssl(const struct kp_tls *t)
{
    (void)t;
    return NULL;
}

int kp_tls_handshake(struct kp_tls *t, char *err, size_t errlen)
{
    (void)t;
    snprintf(err, errlen, "built without OpenSSL");
    return -EPROTO;
}

ssize_t kp_tls_recv(struct kp_tls *t, void *buf, size_t len)
{
    (void)t;
    (void)buf;
    (void)len;
    return -EPROTO;
}

ssize_t kp_tls_send(struct kp_tls *t, const struct iovec *iov, size_t n)
{
    (void)t;
    (void)iov;
    (void)n;
    return -EPROTO;
}

bool kp_tls_ktls_send(const struct kp_tls *t)
{
    (void)t;
    return false;
}

ssize_t kp_tls_sendfile(struct kp_tls *t, int fd, off_t *off, size_t len)
{
    (void)t;
    (void)fd;
    (void)off;
    (void)len;
    return -EPROTO;
}

unsigned kp_tls_want(const struct kp_tls *t)
{
    (void)t;
    return 0;
}

bool kp_tls_more(const struct kp_tls *t)
{
    (void)t;
    return false;
}

void kp_tls_shutdown(struct kp_tls *t)
{
    (void)t;
}

void kp_tls_free(struct kp_tls *t)
{
    (void)t;
}

#endif
