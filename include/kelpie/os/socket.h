/* Thin socket seams: listening sockets, accept, and the TCP options the
 * protocol layer toggles. Nothing here logs; callers log with the address. */
#ifndef KP_SOCKET_H
#define KP_SOCKET_H

#include <stdbool.h>
#include <sys/socket.h>

/* A listening socket's address and socket parameters, as one `listen`
 * directive gives them (http/conf.h adds what is http's own). */
struct kp_socket_conf {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char text[128]; /* "127.0.0.1:8080", "[::1]:8080", "unix:/run/k.sock" */
    bool reuseport;
    int backlog; /* 511 */
    /* nginx's socket parameters; zero values leave the system's default. */
    bool ipv6_dual;                   /* ipv6only=off: an IPv6 wildcard also takes IPv4 */
    bool bind;                        /* bind: kelpie binds every address on its own anyway */
    bool deferred;                    /* TCP_DEFER_ACCEPT: accept once data has arrived */
    int fastopen;                     /* fastopen=N: TCP_FASTOPEN queue length; 0 off */
    int so_keepalive;                 /* so_keepalive=: 1 on, -1 off, 0 system default */
    int keepidle, keepintvl, keepcnt; /* seconds, seconds, probes; 0 default */
    int rcvbuf, sndbuf;               /* SO_RCVBUF / SO_SNDBUF bytes; 0 default */
};

/* Open a non-blocking, close-on-exec listening socket for l. A UNIX-domain
 * address (AF_UNIX) first removes a stale socket file at its path (one that
 * refuses connections: its server is gone; a live one makes bind() fail with
 * -EADDRINUSE), then binds and makes the file 0666 as nginx does; the TCP
 * options below are not set on it. For IP: SO_REUSEADDR,
 * SO_REUSEPORT when l->reuseport, IPV6_V6ONLY for IPv6 unless l->ipv6_dual
 * (so "[::]:80" and "0.0.0.0:80" can both be listened on), SO_RCVBUF and
 * SO_SNDBUF, bind, SO_KEEPALIVE and TCP_KEEPIDLE/KEEPINTVL/KEEPCNT (which
 * accepted sockets inherit), TCP_DEFER_ACCEPT, TCP_FASTOPEN, then
 * listen(l->backlog); options left zero in l are not set. Returns
 * the fd or -errno (nothing is left open on failure). */
int kp_socket_listen(const struct kp_socket_conf *l);
/* Accept one connection as a non-blocking, close-on-exec socket, filling
 * *peer and *peer_len (an unnamed UNIX-domain peer: AF_UNIX with an empty,
 * zeroed path). Returns the fd or -errno (-EAGAIN when none is pending). Never blocks on a
 * non-blocking listener. */
int kp_socket_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peer_len);
/* The address of a peer just accepted as kp_socket_accept leaves it: an
 * unnamed UNIX-domain peer's path reads as empty (for accepts done
 * elsewhere, e.g. by io_uring). */
void kp_socket_accepted_peer(struct sockaddr_storage *peer, socklen_t peer_len);
/* Remove the file of a UNIX-domain listening address (nothing for IP). */
void kp_socket_unlink(const struct kp_socket_conf *l);
/* TCP_NODELAY on/off. Returns 0 or -errno. */
int kp_socket_nodelay(int fd, bool on);
/* TCP_CORK on/off: while on, partial frames are held back so that headers and
 * the start of a body leave in full packets; turning it off flushes them.
 * Returns 0 or -errno. */
int kp_socket_cork(int fd, bool on);
/* SO_LINGER with a zero timeout: the next close() resets the connection
 * (RST) and frees the socket at once instead of sending what is queued.
 * Returns 0 or -errno. */
int kp_socket_reset_on_close(int fd);

#endif
