/* Unit tests for the configuration value parsers (flags, numbers, sizes,
 * times, addresses, CIDR). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "kelpie/util/arena.h"
#include "kelpie/util/conf.h"

START_TEST(flags)
{
    bool v = false;

    ck_assert_int_eq(kp_conf_parse_flag("on", &v), 0);
    ck_assert(v);
    ck_assert_int_eq(kp_conf_parse_flag("OFF", &v), 0);
    ck_assert(!v);
    ck_assert_int_eq(kp_conf_parse_flag("On", &v), 0);
    ck_assert(v);
    ck_assert_int_eq(kp_conf_parse_flag("yes", &v), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_flag("", &v), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_flag("onn", &v), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_flag("1", &v), -EINVAL);
}
END_TEST

START_TEST(numbers)
{
    uint64_t v = 0;

    ck_assert_int_eq(kp_conf_parse_num("0", 10, &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(kp_conf_parse_num("1024", 1024, &v), 0);
    ck_assert_uint_eq(v, 1024);
    ck_assert_int_eq(kp_conf_parse_num("1025", 1024, &v), -ERANGE);
    ck_assert_int_eq(kp_conf_parse_num("99999999999999999999", UINT64_MAX, &v), -ERANGE);
    ck_assert_int_eq(kp_conf_parse_num("", 10, &v), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_num("1a", 10, &v), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_num("-1", 10, &v), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_num(" 1", 10, &v), -EINVAL);
}
END_TEST

START_TEST(sizes)
{
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"0", 0},
        {"10", 10},
        {"1k", 1024},
        {"1K", 1024},
        {"2m", 2u << 20},
        {"2M", 2u << 20},
        {"1g", 1u << 30},
        {"3G", 3ull << 30},
        {"0k", 0},
        {"8192", 8192},
        {"16777215g", 16777215ull << 30},
    };
    static const char *const bad[] = {"",     "k",  "m",  "1x",  "-1", "1kk",
                                      "1.5k", "k1", " 1", "1 k", "1kb"};
    uint64_t v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(kp_conf_parse_size(ok[i].s, UINT64_MAX, &v) == 0, "%s", ok[i].s);
        ck_assert_uint_eq(v, ok[i].v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(kp_conf_parse_size(bad[i], UINT64_MAX, &v) == -EINVAL, "%s", bad[i]);
    /* overflow of the digits and of the multiplication */
    ck_assert_int_eq(kp_conf_parse_size("18446744073709551616", UINT64_MAX, &v), -ERANGE);
    ck_assert_int_eq(kp_conf_parse_size("17179869184g", UINT64_MAX, &v), -ERANGE);
    ck_assert_int_eq(kp_conf_parse_size("18014398509481984k", UINT64_MAX, &v), -ERANGE);
    /* the bound applies after the suffix */
    ck_assert_int_eq(kp_conf_parse_size("1k", 1024, &v), 0);
    ck_assert_int_eq(kp_conf_parse_size("1k", 1023, &v), -ERANGE);
    ck_assert_int_eq(kp_conf_parse_size("2g", INT32_MAX, &v), -ERANGE);
}
END_TEST

START_TEST(times)
{
    static const struct {
        const char *s;
        uint64_t ms;
    } ok[] = {
        {"0", 0},
        {"5", 5000},
        {"500ms", 500},
        {"30s", 30000},
        {"1m", 60000},
        {"1m30s", 90000},
        {"1m30", 90000},
        {"1h", 3600000},
        {"1d", 86400000},
        {"2d3h4m5s6ms", 2 * 86400000ull + 3 * 3600000 + 4 * 60000 + 5 * 1000 + 6},
        {"1h500ms", 3600500},
        {"2147483647", KP_CONF_MAX_MSEC},
        {"24855d", 24855ull * 86400000},
        {"1y", 365 * 86400000ull},
        {"2M", 60 * 86400000ull},
        {"1w2d", 9 * 86400000ull},
        {"1y1M1w1d1h", (365 + 30 + 7 + 1) * 86400000ull + 3600000},
    };
    static const char *const bad[] = {"",     "s",  "ms",  "1x",   "30s1m", "1s1s", "1ms1s",
                                      "1.5s", "-1", "1 s", "1S",   "1s30",  "1mm",  "1dd",
                                      "h1",   "1Y", "1W",  "1w1y", "1d1M"};
    uint64_t v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(kp_conf_parse_msec(ok[i].s, &v) == 0, "%s", ok[i].s);
        ck_assert_uint_eq(v, ok[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(kp_conf_parse_msec(bad[i], &v) == -EINVAL, "%s", bad[i]);
    ck_assert_int_eq(kp_conf_parse_msec("2147483648", &v), -ERANGE);
    ck_assert_int_eq(kp_conf_parse_msec("24856d", &v), -ERANGE);
    ck_assert_int_eq(kp_conf_parse_msec("24855d4h", &v), -ERANGE);
    ck_assert_int_eq(kp_conf_parse_msec("99999999999999999999999ms", &v), -ERANGE);
}
END_TEST

static void expect_addr(const char *s, int rc, const char *text)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char out[KP_CONF_ADDR_TEXT];

    ck_assert_msg(kp_conf_parse_addr(s, 80, &ss, &len) == rc, "%s", s);
    if (rc != 0)
        return;
    kp_conf_addr_text(&ss, out, sizeof(out));
    ck_assert_str_eq(out, text);
    if (ss.ss_family == AF_UNIX) /* as getsockname() gives it: the path and its NUL */
        ck_assert_uint_eq(len, offsetof(struct sockaddr_un, sun_path) + strlen(s + 5) + 1);
    else
        ck_assert_uint_eq(len, ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                        : sizeof(struct sockaddr_in));
}

START_TEST(unix_addresses)
{
    char longest[5 + 107 + 1], too_long[5 + 108 + 1];

    expect_addr("unix:/run/kelpie.sock", 0, "unix:/run/kelpie.sock");
    expect_addr("unix:rel/k.sock", 0, "unix:rel/k.sock"); /* as nginx: the working directory's */
    expect_addr("unix:/a:b", 0, "unix:/a:b");             /* no port in a path */
    expect_addr("unix:", -EINVAL, NULL);
    snprintf(longest, sizeof(longest), "unix:/%0106d", 0);
    snprintf(too_long, sizeof(too_long), "unix:/%0107d", 0);
    expect_addr(longest, 0, longest);
    expect_addr(too_long, -ENAMETOOLONG, NULL);
}
END_TEST

START_TEST(addresses)
{
    expect_addr("8080", 0, "0.0.0.0:8080");
    expect_addr("127.0.0.1", 0, "127.0.0.1:80");
    expect_addr("127.0.0.1:8080", 0, "127.0.0.1:8080");
    expect_addr("localhost:81", 0, "127.0.0.1:81");
    expect_addr("LOCALHOST", 0, "127.0.0.1:80");
    expect_addr("*:8080", 0, "0.0.0.0:8080");
    expect_addr("[::1]:8080", 0, "[::1]:8080");
    expect_addr("[::]", 0, "[::]:80");
    expect_addr("1.2.3.4:65535", 0, "1.2.3.4:65535");
    expect_addr("example.com", -ENOENT, NULL);
    expect_addr("example.com:80", -ENOENT, NULL);
    expect_addr(":80", -ENOENT, NULL);
    expect_addr("[nope]:80", -ENOENT, NULL);
    expect_addr("1.2.3.4:0", -ERANGE, NULL);
    expect_addr("1.2.3.4:65536", -ERANGE, NULL);
    expect_addr("1.2.3.4:x", -ERANGE, NULL);
    expect_addr("1.2.3.4:", -ERANGE, NULL);
    expect_addr("0", -ERANGE, NULL);
    expect_addr("99999", -ERANGE, NULL);
    expect_addr("[::1", -EINVAL, NULL);
    expect_addr("[::1]x", -EINVAL, NULL);
    expect_addr("::1", -EINVAL, NULL);
}
END_TEST

START_TEST(cidr)
{
    uint8_t addr[16], mask[16];
    int family;
    static const uint8_t v6_10[16] = {0xfe, 0x80};
    static const uint8_t m6_10[16] = {0xff, 0xc0};

    ck_assert_int_eq(kp_conf_parse_cidr("10.1.2.3/8", &family, addr, mask), 0);
    ck_assert_int_eq(family, AF_INET);
    ck_assert_mem_eq(addr, "\x0a\x00\x00\x00", 4);
    ck_assert_mem_eq(mask, "\xff\x00\x00\x00", 4);
    ck_assert_int_eq(kp_conf_parse_cidr("192.168.1.1", &family, addr, mask), 0);
    ck_assert_mem_eq(addr, "\xc0\xa8\x01\x01", 4);
    ck_assert_mem_eq(mask, "\xff\xff\xff\xff", 4);
    ck_assert_int_eq(kp_conf_parse_cidr("172.16.255.1/20", &family, addr, mask), 0);
    ck_assert_mem_eq(addr, "\xac\x10\xf0\x00", 4);
    ck_assert_mem_eq(mask, "\xff\xff\xf0\x00", 4);
    ck_assert_int_eq(kp_conf_parse_cidr("1.2.3.4/0", &family, addr, mask), 0);
    ck_assert_mem_eq(addr, "\0\0\0\0", 4);
    ck_assert_mem_eq(mask, "\0\0\0\0", 4);
    ck_assert_int_eq(kp_conf_parse_cidr("fe80::1/10", &family, addr, mask), 0);
    ck_assert_int_eq(family, AF_INET6);
    ck_assert_mem_eq(addr, v6_10, 16);
    ck_assert_mem_eq(mask, m6_10, 16);
    ck_assert_int_eq(kp_conf_parse_cidr("::1", &family, addr, mask), 0);
    ck_assert_uint_eq(addr[15], 1);
    ck_assert_uint_eq(mask[15], 0xff);
    ck_assert_int_eq(kp_conf_parse_cidr("1.2.3.4/33", &family, addr, mask), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_cidr("::1/129", &family, addr, mask), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_cidr("1.2.3.4/", &family, addr, mask), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_cidr("1.2.3/8", &family, addr, mask), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_cidr("all", &family, addr, mask), -EINVAL);
    ck_assert_int_eq(kp_conf_parse_cidr("", &family, addr, mask), -EINVAL);
}
END_TEST

Suite *kp_test_conf_values_suite(void)
{
    Suite *s = suite_create("conf_values");
    TCase *tc = tcase_create("values");

    tcase_add_test(tc, flags);
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, sizes);
    tcase_add_test(tc, times);
    tcase_add_test(tc, addresses);
    tcase_add_test(tc, unix_addresses);
    tcase_add_test(tc, cidr);
    suite_add_tcase(s, tc);
    return s;
}
