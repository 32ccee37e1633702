/* PROXY protocol v1 and v2 header parsing (see proxy_protocol.h). Every
 * check follows haproxy's proxy-protocol.txt; where it lets a receiver
 * choose, the strict reading is taken, as a header only a trusted proxy
 * sends has no excuse for being sloppy. */
#include "kelpie/http/proxy_protocol.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kelpie/http/parse.h"

static const char v1_prefix[] = "PROXY ";
static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* v2 fixed part: signature, version/command, family/transport, length. */
#define V2_FIXED 16
/* v2 address block sizes: IPv4, IPv6, UNIX (two 108-byte paths). */
#define V2_INET_LEN  12
#define V2_INET6_LEN 36
#define V2_UNIX_LEN  216

/* --- version 1 ---------------------------------------------------------------------- */

/* The next space-separated field of [*p, end): at least one byte, no
 * space in it; *p moves past it and one following space (if any). */
static bool next_field(const char **p, const char *end, const char **f, size_t *flen)
{
    const char *s = *p, *e = memchr(s, ' ', (size_t)(end - s));

    if (e == NULL)
        e = end;
    if (e == s)
        return false;
    *f = s;
    *flen = (size_t)(e - s);
    *p = e < end ? e + 1 : e;
    return true;
}

/* A port: 1 to 5 decimal digits, no leading zero (except "0"), <= 65535. */
static bool v1_port(const char *f, size_t len, uint16_t *port)
{
    unsigned v = 0;

    if (len == 0 || len > 5 || (f[0] == '0' && len > 1))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (f[i] < '0' || f[i] > '9')
            return false;
        v = v * 10 + (unsigned)(f[i] - '0');
    }
    if (v > 65535)
        return false;
    *port = htons((uint16_t)v);
    return true;
}

/* An address of family af. inet_pton's IPv4 form is the specification's:
 * exactly four decimal numbers 0..255 and no leading zeroes. */
static bool v1_addr(const char *f, size_t len, int af, union kp_proxy_addr *a)
{
    char text[INET6_ADDRSTRLEN];

    if (len >= sizeof(text) || memchr(f, '\0', len) != NULL)
        return false;
    memcpy(text, f, len);
    text[len] = '\0';
    memset(a, 0, sizeof(*a));
    a->sa.sa_family = (sa_family_t)af;
    void *dst = af == AF_INET ? (void *)&a->sin.sin_addr : (void *)&a->sin6.sin6_addr;
    return inet_pton(af, text, dst) == 1;
}

static void set_port(union kp_proxy_addr *a, uint16_t port)
{
    if (a->sa.sa_family == AF_INET)
        a->sin.sin_port = port;
    else
        a->sin6.sin6_port = port;
}

/* The fields of a complete line [p, end) after "PROXY ". */
static bool v1_fields(const char *p, const char *end, struct kp_proxy_header *h)
{
    const char *f[5];
    size_t flen[5];
    uint16_t sport, dport;

    if (!next_field(&p, end, &f[0], &flen[0]))
        return false;
    /* UNKNOWN: whatever follows up to the CRLF is ignored. */
    if (flen[0] == 7 && memcmp(f[0], "UNKNOWN", 7) == 0)
        return true;
    if (flen[0] != 4 || (memcmp(f[0], "TCP4", 4) != 0 && memcmp(f[0], "TCP6", 4) != 0))
        return false;
    int af = f[0][3] == '4' ? AF_INET : AF_INET6;
    for (int i = 1; i < 5; i++) {
        if (!next_field(&p, end, &f[i], &flen[i]))
            return false;
    }
    /* Nothing after the destination port, not even a space. */
    if (p != end || f[4] + flen[4] != end)
        return false;
    if (!v1_addr(f[1], flen[1], af, &h->src) || !v1_addr(f[2], flen[2], af, &h->dst) ||
        !v1_port(f[3], flen[3], &sport) || !v1_port(f[4], flen[4], &dport))
        return false;
    set_port(&h->src, sport);
    set_port(&h->dst, dport);
    return true;
}

static ssize_t parse_v1(const char *p, size_t len, struct kp_proxy_header *h)
{
    size_t n = len < KP_PROXY_V1_MAX ? len : KP_PROXY_V1_MAX;
    size_t cmp = n < sizeof(v1_prefix) - 1 ? n : sizeof(v1_prefix) - 1;

    if (memcmp(p, v1_prefix, cmp) != 0)
        return KP_PARSE_INVALID;
    const char *lf = memchr(p, '\n', n);
    if (lf == NULL)
        return len >= KP_PROXY_V1_MAX ? KP_PARSE_INVALID : KP_PARSE_INCOMPLETE;
    /* The line ends in CRLF, and the prefix's space is followed by a field. */
    if (lf - p < (ptrdiff_t)sizeof(v1_prefix) || lf[-1] != '\r')
        return KP_PARSE_INVALID;
    h->version = 1;
    if (!v1_fields(p + sizeof(v1_prefix) - 1, lf - 1, h))
        return KP_PARSE_INVALID;
    return lf + 1 - p;
}

/* --- version 2 ---------------------------------------------------------------------- */

/* TLVs fill [p, end) exactly: type (1 byte), length (2), value. */
static bool v2_tlvs(const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        if (end - p < 3)
            return false;
        size_t vlen = (size_t)p[1] << 8 | p[2];
        if ((size_t)(end - p - 3) < vlen)
            return false;
        p += 3 + vlen;
    }
    return true;
}

static void v2_inet(const unsigned char *a, struct kp_proxy_header *h)
{
    h->src.sin.sin_family = AF_INET;
    h->dst.sin.sin_family = AF_INET;
    memcpy(&h->src.sin.sin_addr, a, 4);
    memcpy(&h->dst.sin.sin_addr, a + 4, 4);
    memcpy(&h->src.sin.sin_port, a + 8, 2);
    memcpy(&h->dst.sin.sin_port, a + 10, 2);
}

static void v2_inet6(const unsigned char *a, struct kp_proxy_header *h)
{
    h->src.sin6.sin6_family = AF_INET6;
    h->dst.sin6.sin6_family = AF_INET6;
    memcpy(&h->src.sin6.sin6_addr, a, 16);
    memcpy(&h->dst.sin6.sin6_addr, a + 16, 16);
    memcpy(&h->src.sin6.sin6_port, a + 32, 2);
    memcpy(&h->dst.sin6.sin6_port, a + 34, 2);
}

/* Bytes 12..15 as far as they are there: version 2, command LOCAL (0) or
 * PROXY (1); family UNSPEC, INET, INET6 or UNIX and transport UNSPEC,
 * STREAM or DGRAM (other values "must be rejected"); the length within
 * kelpie's bound. */
static bool v2_fixed_ok(const unsigned char *u, size_t len)
{
    if (len > 12 && (u[12] >> 4 != 2 || (u[12] & 0x0f) > 1))
        return false;
    /* LOCAL: the receiver ignores the family byte. */
    if (len > 13 && (u[12] & 0x0f) == 1 && (u[13] >> 4 > 3 || (u[13] & 0x0f) > 2))
        return false;
    return len < V2_FIXED || V2_FIXED + ((size_t)u[14] << 8 | u[15]) <= KP_PROXY_V2_MAX;
}

static ssize_t parse_v2(const char *p, size_t len, struct kp_proxy_header *h)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t cmp = len < sizeof(v2_sig) ? len : sizeof(v2_sig);

    if (memcmp(u, v2_sig, cmp) != 0 || !v2_fixed_ok(u, len))
        return KP_PARSE_INVALID;
    if (len < V2_FIXED)
        return KP_PARSE_INCOMPLETE;
    size_t total = V2_FIXED + ((size_t)u[14] << 8 | u[15]);
    if (len < total)
        return KP_PARSE_INCOMPLETE;
    h->version = 2;
    /* LOCAL (a health check of the proxy's own): the block is ignored. */
    if ((u[12] & 0x0f) == 0)
        return (ssize_t)total;
    static const size_t addr_len[4] = {0, V2_INET_LEN, V2_INET6_LEN, V2_UNIX_LEN};
    unsigned family = u[13] >> 4;
    size_t alen = addr_len[family];
    if (total - V2_FIXED < alen || !v2_tlvs(u + V2_FIXED + alen, u + total))
        return KP_PARSE_INVALID;
    if (family == 1)
        v2_inet(u + V2_FIXED, h);
    else if (family == 2)
        v2_inet6(u + V2_FIXED, h);
    return (ssize_t)total;
}

/* --- both --------------------------------------------------------------------------- */

ssize_t kp_proxy_protocol_parse(const char *p, size_t len, struct kp_proxy_header *h)
{
    memset(h, 0, sizeof(*h)); /* AF_UNSPEC addresses until a header sets them */
    if (len == 0)
        return KP_PARSE_INCOMPLETE;
    if (p[0] == v1_prefix[0])
        return parse_v1(p, len, h);
    if ((unsigned char)p[0] == v2_sig[0])
        return parse_v2(p, len, h);
    return KP_PARSE_INVALID;
}

size_t kp_proxy_protocol_addr_text(const union kp_proxy_addr *a, char *buf, size_t size)
{
    const void *src = a->sa.sa_family == AF_INET ? (const void *)&a->sin.sin_addr
                                                 : (const void *)&a->sin6.sin6_addr;

    if (size > 0)
        buf[0] = '\0';
    if ((a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6) ||
        inet_ntop(a->sa.sa_family, src, buf, (socklen_t)size) == NULL)
        return 0;
    return strlen(buf);
}

unsigned kp_proxy_protocol_port(const union kp_proxy_addr *a)
{
    if (a->sa.sa_family == AF_INET)
        return ntohs(a->sin.sin_port);
    return a->sa.sa_family == AF_INET6 ? ntohs(a->sin6.sin6_port) : 0;
}
