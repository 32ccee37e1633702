/* PROXY protocol parsing (http/proxy_protocol.c): v1 and v2 headers of
 * every family, LOCAL and UNKNOWN, input split at every byte, and the
 * malformed headers a strict reader refuses. */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>

#include "kelpie/http/parse.h"
#include "kelpie/http/proxy_protocol.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"

/* A v2 header from its parts: sig (12 bytes), ver_cmd, fam, then body. */
static size_t v2(char *out, unsigned ver_cmd, unsigned fam, const void *body, size_t blen)
{
    memcpy(out, SIG, 12);
    out[12] = (char)ver_cmd;
    out[13] = (char)fam;
    out[14] = (char)(blen >> 8);
    out[15] = (char)(blen & 0xff);
    memcpy(out + 16, body, blen);
    return 16 + blen;
}

static ssize_t parse(const char *p, size_t len, struct kp_proxy_header *h)
{
    return kp_proxy_protocol_parse(p, len, h);
}

/* Every proper prefix of a valid header is incomplete, the whole is its
 * length, and bytes behind it change nothing. */
static void expect_valid(const char *p, size_t len, struct kp_proxy_header *h)
{
    char buf[2048];

    for (size_t i = 0; i < len; i++)
        ck_assert_msg(parse(p, i, h) == KP_PARSE_INCOMPLETE, "prefix %zu of %zu", i, len);
    memcpy(buf, p, len);
    memcpy(buf + len, "GET / HTTP/1.1\r\n", 16);
    ck_assert_int_eq(parse(buf, len + 16, h), (ssize_t)len);
    ck_assert_int_eq(parse(p, len, h), (ssize_t)len);
}

static void expect_addr(const union kp_proxy_addr *a, const char *text, unsigned port)
{
    char buf[INET6_ADDRSTRLEN];

    ck_assert_uint_eq(kp_proxy_protocol_addr_text(a, buf, sizeof(buf)), strlen(text));
    ck_assert_str_eq(buf, text);
    ck_assert_uint_eq(kp_proxy_protocol_port(a), port);
}

static void expect_invalid(const char *p, size_t len)
{
    struct kp_proxy_header h;

    ck_assert_msg(parse(p, len, &h) == KP_PARSE_INVALID, "accepted: %.*s", (int)len, p);
}

#define INVALID(s) expect_invalid(s, sizeof(s) - 1)

START_TEST(v1_tcp4)
{
    static const char line[] = "PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n";
    struct kp_proxy_header h;

    expect_valid(line, sizeof(line) - 1, &h);
    ck_assert_uint_eq(h.version, 1);
    expect_addr(&h.src, "192.0.2.10", 56324);
    expect_addr(&h.dst, "198.51.100.1", 443);
}
END_TEST

START_TEST(v1_tcp6)
{
    static const char line[] = "PROXY TCP6 2001:db8::1 ::1 0 65535\r\n";
    static const char mapped[] = "PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n";
    struct kp_proxy_header h;

    expect_valid(line, sizeof(line) - 1, &h);
    expect_addr(&h.src, "2001:db8::1", 0);
    expect_addr(&h.dst, "::1", 65535);
    expect_valid(mapped, sizeof(mapped) - 1, &h);
    expect_addr(&h.src, "::ffff:192.0.2.1", 1);
}
END_TEST

START_TEST(v1_unknown)
{
    static const char bare[] = "PROXY UNKNOWN\r\n";
    static const char rest[] = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
    struct kp_proxy_header h;
    char buf[INET6_ADDRSTRLEN];

    expect_valid(bare, sizeof(bare) - 1, &h);
    ck_assert_int_eq(h.src.sa.sa_family, AF_UNSPEC);
    ck_assert_int_eq(h.dst.sa.sa_family, AF_UNSPEC);
    ck_assert_uint_eq(kp_proxy_protocol_addr_text(&h.src, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(kp_proxy_protocol_port(&h.src), 0);
    /* Anything up to the CRLF is ignored. */
    expect_valid(rest, sizeof(rest) - 1, &h);
    ck_assert_int_eq(h.src.sa.sa_family, AF_UNSPEC);
}
END_TEST

/* The longest line the specification allows is accepted; one byte more
 * is refused once 107 bytes hold no CRLF. */
START_TEST(v1_bounds)
{
    char line[KP_PROXY_V1_MAX + 8];
    struct kp_proxy_header h;

    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + KP_PROXY_V1_MAX - 2, "\r\n", 2);
    ck_assert_int_eq(parse(line, sizeof(line), &h), KP_PROXY_V1_MAX);
    memcpy(line + KP_PROXY_V1_MAX - 2, "xx\r\n", 4);
    ck_assert_int_eq(parse(line, KP_PROXY_V1_MAX - 1, &h), KP_PARSE_INCOMPLETE);
    ck_assert_int_eq(parse(line, KP_PROXY_V1_MAX, &h), KP_PARSE_INVALID);
    ck_assert_int_eq(parse(line, sizeof(line), &h), KP_PARSE_INVALID);
    /* The longest real TCP6 line fits. */
    static const char longest[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    ck_assert_uint_eq(sizeof(longest) - 1, KP_PROXY_V1_MAX - 3);
    expect_valid(longest, sizeof(longest) - 1, &h);
}
END_TEST

START_TEST(v1_malformed)
{
    INVALID("GET / HTTP/1.1\r\n\r\n");
    INVALID("G");
    INVALID("PROXX");
    INVALID("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n");       /* LF without CR */
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n");   /* CR in the line */
    INVALID("PROXY \r\n");                             /* no protocol */
    INVALID("PROXY\r\n");                              /* no space */
    INVALID("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n");     /* unknown protocol */
    INVALID("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n");     /* case matters */
    INVALID("PROXY UNKNOWNX\r\n");                     /* not UNKNOWN */
    INVALID("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n");    /* double space */
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n");    /* trailing space */
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n");       /* a field missing */
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n");   /* a field too many */
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"); /* port > 65535 */
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n");
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 0080 2\r\n"); /* leading zero */
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n");
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n");
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n");
    INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n");
    INVALID("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n"); /* leading zero */
    INVALID("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n");
    INVALID("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n");
    INVALID("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n");
    INVALID("PROXY TCP4 ::1 5.6.7.8 1 2\r\n");  /* wrong family */
    INVALID("PROXY TCP6 1.2.3.4 ::1 1 2\r\n");  /* wrong family */
    INVALID("PROXY TCP6 ::1 ::1::2 1 2\r\n");   /* two "::" */
    INVALID("PROXY TCP6 [::1] ::1 1 2\r\n");    /* no brackets */
    INVALID("PROXY TCP4 1.2.3.4 host 1 2\r\n"); /* names are not addresses */
    static const char nul[] = "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n";
    expect_invalid(nul, sizeof(nul) - 1);
}
END_TEST

START_TEST(v2_inet)
{
    static const unsigned char body[] = {192, 0, 2, 10, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb};
    char buf[64];
    struct kp_proxy_header h;
    size_t n = v2(buf, 0x21, 0x11, body, sizeof(body));

    expect_valid(buf, n, &h);
    ck_assert_uint_eq(h.version, 2);
    expect_addr(&h.src, "192.0.2.10", 56324);
    expect_addr(&h.dst, "198.51.100.1", 443);
    /* UDP is taken too: the addresses are what matters. */
    buf[13] = 0x12;
    ck_assert_int_eq(parse(buf, n, &h), (ssize_t)n);
}
END_TEST

START_TEST(v2_inet6_and_tlvs)
{
    unsigned char body[36 + 3 + 5 + 3];
    char buf[128];
    struct kp_proxy_header h;

    memset(body, 0, sizeof(body));
    inet_pton(AF_INET6, "2001:db8::7", body);
    inet_pton(AF_INET6, "2001:db8::1", body + 16);
    body[32] = 0x30, body[33] = 0x39; /* 12345 */
    body[34] = 0x00, body[35] = 0x50; /* 80 */
    /* An ALPN TLV and an empty NOOP one, skipped. */
    memcpy(body + 36, "\x01\x00\x05hello\x04\x00\x00", 11);
    size_t n = v2(buf, 0x21, 0x21, body, sizeof(body));
    expect_valid(buf, n, &h);
    expect_addr(&h.src, "2001:db8::7", 12345);
    expect_addr(&h.dst, "2001:db8::1", 80);
    /* A TLV running past the end, or a lone byte of one: refused. */
    buf[16 + 36 + 2] = 6;
    expect_invalid(buf, n);
    n = v2(buf, 0x21, 0x21, body, 36 + 1);
    expect_invalid(buf, n);
    n = v2(buf, 0x21, 0x21, body, 36 + 2);
    expect_invalid(buf, n);
}
END_TEST

/* LOCAL, UNSPEC and UNIX carry no address to use: the connection's own
 * stay in force. */
START_TEST(v2_no_addresses)
{
    unsigned char body[216 + 4];
    char buf[300];
    struct kp_proxy_header h;
    size_t n;

    memset(body, 'a', sizeof(body));
    n = v2(buf, 0x20, 0x00, body, 0); /* haproxy's health check */
    expect_valid(buf, n, &h);
    ck_assert_int_eq(h.src.sa.sa_family, AF_UNSPEC);
    /* LOCAL ignores the block, whatever the family byte says. */
    n = v2(buf, 0x20, 0xff, body, 7);
    ck_assert_int_eq(parse(buf, n, &h), (ssize_t)n);
    ck_assert_int_eq(h.src.sa.sa_family, AF_UNSPEC);
    n = v2(buf, 0x21, 0x00, body, 0);
    expect_valid(buf, n, &h);
    ck_assert_int_eq(h.src.sa.sa_family, AF_UNSPEC);
    n = v2(buf, 0x21, 0x31, body, 216);
    expect_valid(buf, n, &h);
    ck_assert_int_eq(h.src.sa.sa_family, AF_UNSPEC);
    /* UNIX addresses are 216 bytes: fewer is a broken header. */
    n = v2(buf, 0x21, 0x31, body, 215);
    expect_invalid(buf, n);
}
END_TEST

START_TEST(v2_malformed)
{
    static const unsigned char inet[12] = {127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2};
    char buf[KP_PROXY_V2_MAX + 64];
    struct kp_proxy_header h;
    size_t n = v2(buf, 0x21, 0x11, inet, sizeof(inet));

    /* Each signature byte matters, and is refused as soon as it arrives. */
    for (size_t i = 0; i < 12; i++) {
        buf[i] ^= 0x20;
        ck_assert_int_eq(parse(buf, i + 1, &h), KP_PARSE_INVALID);
        buf[i] ^= 0x20;
    }
    static const unsigned bad_ver_cmd[] = {0x11, 0x31, 0x22, 0x2f, 0x01};
    for (size_t i = 0; i < sizeof(bad_ver_cmd) / sizeof(bad_ver_cmd[0]); i++) {
        buf[12] = (char)bad_ver_cmd[i];
        ck_assert_int_eq(parse(buf, 13, &h), KP_PARSE_INVALID);
        ck_assert_int_eq(parse(buf, n, &h), KP_PARSE_INVALID);
    }
    buf[12] = 0x21;
    static const unsigned bad_fam[] = {0x41, 0x13, 0x1f, 0xf1};
    for (size_t i = 0; i < sizeof(bad_fam) / sizeof(bad_fam[0]); i++) {
        buf[13] = (char)bad_fam[i];
        ck_assert_int_eq(parse(buf, 14, &h), KP_PARSE_INVALID);
    }
    /* Shorter than the family's addresses. */
    n = v2(buf, 0x21, 0x11, inet, 11);
    expect_invalid(buf, n);
    n = v2(buf, 0x21, 0x21, inet, 12);
    expect_invalid(buf, n);
    /* Longer than kelpie's bound: refused from the length alone. */
    n = v2(buf, 0x21, 0x11, inet, sizeof(inet));
    buf[14] = (char)0xff, buf[15] = (char)0xff;
    ck_assert_int_eq(parse(buf, 16, &h), KP_PARSE_INVALID);
    size_t max = KP_PROXY_V2_MAX - 16;
    buf[14] = (char)(max >> 8), buf[15] = (char)(max & 0xff);
    ck_assert_int_eq(parse(buf, 16, &h), KP_PARSE_INCOMPLETE);
    buf[15] = (char)((max + 1) & 0xff);
    ck_assert_int_eq(parse(buf, 16, &h), KP_PARSE_INVALID);
}
END_TEST

/* The longest accepted v2 header: addresses and one TLV filling the bound. */
START_TEST(v2_longest)
{
    static char body[KP_PROXY_V2_MAX - 16];
    char buf[KP_PROXY_V2_MAX];
    struct kp_proxy_header h;
    size_t tlv = sizeof(body) - 12 - 3;

    memset(body, 0, sizeof(body));
    body[12] = 0x05; /* UNIQUE_ID */
    body[13] = (char)(tlv >> 8), body[14] = (char)(tlv & 0xff);
    size_t n = v2(buf, 0x21, 0x11, body, sizeof(body));
    ck_assert_uint_eq(n, KP_PROXY_V2_MAX);
    ck_assert_int_eq(parse(buf, n, &h), KP_PROXY_V2_MAX);
    ck_assert_int_eq(parse(buf, n - 1, &h), KP_PARSE_INCOMPLETE);
}
END_TEST

START_TEST(empty_and_text)
{
    struct kp_proxy_header h;
    union kp_proxy_addr a;
    char small[4];

    ck_assert_int_eq(parse("", 0, &h), KP_PARSE_INCOMPLETE);
    memset(&a, 0, sizeof(a));
    a.sin.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.1", &a.sin.sin_addr);
    /* Too small a buffer gives nothing rather than a cut address. */
    ck_assert_uint_eq(kp_proxy_protocol_addr_text(&a, small, sizeof(small)), 0);
    ck_assert_str_eq(small, "");
}
END_TEST

Suite *kp_test_proxy_protocol_suite(void)
{
    Suite *s = suite_create("proxy_protocol");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, v1_tcp4);
    tcase_add_test(tc, v1_tcp6);
    tcase_add_test(tc, v1_unknown);
    tcase_add_test(tc, v1_bounds);
    tcase_add_test(tc, v1_malformed);
    tcase_add_test(tc, v2_inet);
    tcase_add_test(tc, v2_inet6_and_tlvs);
    tcase_add_test(tc, v2_no_addresses);
    tcase_add_test(tc, v2_malformed);
    tcase_add_test(tc, v2_longest);
    tcase_add_test(tc, empty_and_text);
    suite_add_tcase(s, tc);
    return s;
}
