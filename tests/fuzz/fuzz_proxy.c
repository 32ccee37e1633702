/* libFuzzer target for the PROXY protocol parser (http/proxy_protocol.c).
 * The input is the first bytes of a connection. Checks the documented
 * guarantees: a header length is within the input and the bounds (v1 ends
 * in CRLF within 107 bytes), the bytes behind a header change nothing,
 * every proper prefix of a header is incomplete, a verdict of "invalid"
 * never turns into anything else with more bytes, and a TCP4 line or an
 * IPv4/IPv6 v2 block written back from the result gives the same bytes. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/parse.h"
#include "kelpie/http/proxy_protocol.h"

#include "fuzz.h"

static ssize_t parse(const char *p, size_t len, struct kp_proxy_header *h)
{
    /* An exact-size copy, so that reading past len is caught. */
    char *copy = kp_alloc(len > 0 ? len : 1);
    memcpy(copy, p, len);
    ssize_t rc = kp_proxy_protocol_parse(copy, len, h);
    kp_free(copy);
    return rc;
}

static bool same_addr(const union kp_proxy_addr *a, const union kp_proxy_addr *b)
{
    if (a->sa.sa_family != b->sa.sa_family)
        return false;
    if (a->sa.sa_family == AF_INET)
        return memcmp(&a->sin.sin_addr, &b->sin.sin_addr, 4) == 0 &&
               a->sin.sin_port == b->sin.sin_port;
    if (a->sa.sa_family == AF_INET6)
        return memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, 16) == 0 &&
               a->sin6.sin6_port == b->sin6.sin6_port;
    return true;
}

/* A TCP4 line is canonical (no leading zeroes anywhere): writing it back
 * gives the input. */
static void check_v1(const char *p, size_t n, const struct kp_proxy_header *h)
{
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], line[KP_PROXY_V1_MAX + 1];

    CHECK(n <= KP_PROXY_V1_MAX && n >= 8 && p[n - 2] == '\r' && p[n - 1] == '\n');
    CHECK(memchr(p, '\n', n - 1) == NULL);
    CHECK(h->src.sa.sa_family == h->dst.sa.sa_family);
    if (h->src.sa.sa_family != AF_INET)
        return;
    kp_proxy_protocol_addr_text(&h->src, src, sizeof(src));
    kp_proxy_protocol_addr_text(&h->dst, dst, sizeof(dst));
    int len = snprintf(line, sizeof(line), "PROXY TCP4 %s %s %u %u\r\n", src, dst,
                       kp_proxy_protocol_port(&h->src), kp_proxy_protocol_port(&h->dst));
    CHECK(len > 0 && (size_t)len == n && memcmp(line, p, n) == 0);
}

/* The address block of an IPv4 or IPv6 v2 header is the addresses and
 * ports, in that order. */
static void check_v2(const unsigned char *u, size_t n, const struct kp_proxy_header *h)
{
    CHECK(n >= 16 && n <= KP_PROXY_V2_MAX && n == 16 + ((size_t)u[14] << 8 | u[15]));
    CHECK(u[12] >> 4 == 2);
    if (h->src.sa.sa_family == AF_INET) {
        CHECK((u[12] & 0x0f) == 1 && u[13] >> 4 == 1);
        CHECK(memcmp(u + 16, &h->src.sin.sin_addr, 4) == 0);
        CHECK(memcmp(u + 20, &h->dst.sin.sin_addr, 4) == 0);
        CHECK(memcmp(u + 24, &h->src.sin.sin_port, 2) == 0);
        CHECK(memcmp(u + 26, &h->dst.sin.sin_port, 2) == 0);
    } else if (h->src.sa.sa_family == AF_INET6) {
        CHECK((u[12] & 0x0f) == 1 && u[13] >> 4 == 2);
        CHECK(memcmp(u + 16, &h->src.sin6.sin6_addr, 16) == 0);
        CHECK(memcmp(u + 48, &h->src.sin6.sin6_port, 2) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct kp_proxy_header h, h2;
    ssize_t rc = parse(p, size, &h);

    CHECK(rc > 0 || rc == KP_PARSE_INCOMPLETE || rc == KP_PARSE_INVALID);
    /* Incomplete only while a header could still fit. */
    if (rc == KP_PARSE_INCOMPLETE)
        CHECK(size < KP_PROXY_MAX);
    if (rc > 0) {
        size_t n = (size_t)rc;
        CHECK(n <= size && n <= KP_PROXY_MAX);
        CHECK(h.version == 1 || h.version == 2);
        /* The header alone parses the same. */
        CHECK(parse(p, n, &h2) == rc && h2.version == h.version);
        CHECK(same_addr(&h.src, &h2.src) && same_addr(&h.dst, &h2.dst));
        CHECK(parse(p, n - 1, &h2) == KP_PARSE_INCOMPLETE);
        CHECK(parse(p, n / 2, &h2) == KP_PARSE_INCOMPLETE);
        if (h.version == 1)
            check_v1(p, n, &h);
        else
            check_v2(data, n, &h);
    }
    /* "Invalid" is final: a longer input with the same start stays so. */
    for (size_t i = 1; i < size && i <= KP_PROXY_MAX; i *= 2) {
        if (parse(p, i, &h2) == KP_PARSE_INVALID)
            CHECK(rc == KP_PARSE_INVALID);
    }
    return 0;
}
