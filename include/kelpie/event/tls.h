/* TLS on one connection: the seam between the protocol code and OpenSSL.
 * A connection whose struct kp_conn.tls is set reads and writes through it
 * (kp_conn_recv / kp_conn_send in conn.h pick the path), so the HTTP code
 * does not care whether the bytes are encrypted.
 *
 * Non-blocking throughout: every call that cannot finish returns -EAGAIN and
 * kp_tls_want() says which readiness (KP_EV_READ or KP_EV_WRITE) lets it go
 * on: a TLS read may need to write and a write may need to read.
 *
 * Edge-triggered backends report readiness once: after a successful read,
 * kp_tls_more() says whether decrypted or raw bytes may still be waiting in
 * OpenSSL's buffer or in the socket (the last socket read filled what was
 * asked), in which case the caller must read again before waiting.
 *
 * Built without OpenSSL (configure --without-ssl), kp_tls_new returns NULL and
 * no connection ever has a struct kp_tls. */
#ifndef KP_TLS_H
#define KP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct kp_tls;

/* Route OpenSSL's allocations through kp_mem_exact_alloc (util/mem.h): an
 * idle TLS connection holds a few objects whose sizes jemalloc's classes
 * would round up by 5-10%. Must run before any other OpenSSL call (first
 * thing in main); later, OpenSSL refuses and -EBUSY is returned, with no
 * harm but the lost bytes. Returns 0 (also when built without OpenSSL). */
int kp_tls_init(void);

/* Start a server-side TLS session on the connected socket fd with ctx (an
 * SSL_CTX *). app is kept for the context's callbacks (SNI, ALPN), which get
 * it back with kp_tls_app(). Returns NULL when OpenSSL cannot allocate one. */
struct kp_tls *kp_tls_new(void *ctx, int fd, void *app);
/* The app pointer given to kp_tls_new, from the SSL * a callback receives. */
void *kp_tls_app(const void *ssl);
/* The OpenSSL SSL * of t (for the variables that describe the session). */
void *kp_tls_ssl(const struct kp_tls *t);

/* Go on with the handshake. Returns 0 once it is complete, -EAGAIN (see
 * kp_tls_want), -ECONNRESET when the peer closed or reset the connection, or
 * -EPROTO for a TLS failure; on failure err (errlen bytes) receives OpenSSL's
 * reason, NUL-terminated. */
int kp_tls_handshake(struct kp_tls *t, char *err, size_t errlen);

/* Decrypted bytes into buf: bytes read (> 0), 0 at the end of the stream
 * (close_notify or TCP EOF), -EAGAIN, or -errno (-EPROTO: a TLS error). */
ssize_t kp_tls_recv(struct kp_tls *t, void *buf, size_t len);
/* Encrypt and send the buffers in order: bytes taken (a short count means
 * the socket is full), -EAGAIN when nothing could be taken, or -errno. After
 * -EAGAIN or a short count, the next call must offer the same bytes again
 * from where this one stopped (OpenSSL may hold them in a record). */
ssize_t kp_tls_send(struct kp_tls *t, const struct iovec *iov, size_t n);
/* Whether kernel TLS encrypts what this session sends, so that
 * kp_tls_sendfile can be used. */
bool kp_tls_ktls_send(const struct kp_tls *t);
/* sendfile() through kernel TLS: up to len bytes of fd from *off (advanced).
 * Returns bytes sent, -EAGAIN or -errno. Only when kp_tls_ktls_send(). */
ssize_t kp_tls_sendfile(struct kp_tls *t, int fd, off_t *off, size_t len);

/* KP_EV_READ or KP_EV_WRITE: what the last -EAGAIN waits for. */
unsigned kp_tls_want(const struct kp_tls *t);
/* After a read: whether more may be waiting without a new readiness report. */
bool kp_tls_more(const struct kp_tls *t);

/* Send close_notify once, without waiting for the peer's, unless the
 * session failed or never finished its handshake. Never blocks. */
void kp_tls_shutdown(struct kp_tls *t);
/* Release t (the socket is not closed). NULL is accepted. */
void kp_tls_free(struct kp_tls *t);

#endif
