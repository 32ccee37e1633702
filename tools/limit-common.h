/* What the two limit servers (tools/limit-epoll.c, tools/limit-uring.c)
 * share: the canned response, the request counter and the listener. */
#ifndef KP_TOOLS_LIMIT_COMMON_H
#define KP_TOOLS_LIMIT_COMMON_H

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Answers written by one send at most. */
#define LIMIT_MAX_BATCH 256
#define LIMIT_BODY_SIZE 600

static const char limit_head[] = "HTTP/1.1 200 OK\r\n"
                                 "Server: limit\r\n"
                                 "Content-Type: text/html\r\n"
                                 "Content-Length: 600\r\n"
                                 "\r\n";

static inline size_t limit_response_len(void)
{
    return sizeof(limit_head) - 1 + LIMIT_BODY_SIZE;
}

/* LIMIT_MAX_BATCH responses back to back (never freed). */
static inline char *limit_answers(void)
{
    size_t len = limit_response_len();
    char *p = malloc(len * LIMIT_MAX_BATCH);

    if (p == NULL)
        abort();
    for (size_t i = 0; i < LIMIT_MAX_BATCH; i++) {
        char *r = p + i * len;
        memcpy(r, limit_head, sizeof(limit_head) - 1);
        for (size_t j = 0; j < LIMIT_BODY_SIZE; j++)
            r[sizeof(limit_head) - 1 + j] = (char)('a' + j % 26);
    }
    return p;
}

/* How many "\r\n\r\n" end in buf; *match carries a partial one across
 * calls (0-3 bytes of it seen). */
static inline size_t limit_count_ends(const char *buf, size_t n, unsigned *match)
{
    static const char end[4] = {'\r', '\n', '\r', '\n'};
    size_t count = 0;
    unsigned m = *match;

    for (size_t i = 0; i < n; i++) {
        if (buf[i] == end[m]) {
            if (++m == 4) {
                count++;
                m = 0;
            }
        } else {
            m = buf[i] == '\r' ? 1 : 0;
        }
    }
    *match = m;
    return count;
}

/* A listening TCP socket on 127.0.0.1:port (flags: SOCK_NONBLOCK or 0). */
static inline int limit_listen(int port, int flags)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    int one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    if (fd < 0)
        return -1;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 4096) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

#endif
