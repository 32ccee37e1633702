/* allow/deny matching (http/access.c): first match wins, no match lets the
 * client in, CIDR prefixes of any length, IPv4-mapped IPv6 peers matched as
 * IPv4, "all", and peers of other families. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "kelpie/util/conf.h"
#include "kelpie/http/access.h"

#define MAX_RULES 8

/* Rules from text such as "allow 10.0.0.0/8", "deny all". */
static size_t rules(struct kp_http_acl_rule *acl, const char *const *text)
{
    size_t n = 0;

    for (; text[n] != NULL; n++) {
        ck_assert_uint_lt(n, MAX_RULES);
        const char *sp = strchr(text[n], ' ');
        struct kp_http_acl_rule *r = &acl[n];
        memset(r, 0, sizeof(*r));
        r->allow = strncmp(text[n], "allow", 5) == 0;
        r->family = AF_UNSPEC;
        if (strcmp(sp + 1, "all") != 0)
            ck_assert_int_eq(kp_conf_parse_cidr(sp + 1, &r->family, r->addr, r->mask), 0);
    }
    return n;
}

static struct sockaddr_storage peer(const char *ip)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') == NULL) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    }
    return ss;
}

static void expect(const char *const *text, const char *ip, bool allowed)
{
    struct kp_http_acl_rule acl[MAX_RULES];
    size_t n = rules(acl, text);
    struct sockaddr_storage ss = peer(ip);

    ck_assert_msg(kp_http_access_allowed(acl, n, &ss) == allowed, "%s: expected %s (first rule %s)",
                  ip, allowed ? "allowed" : "denied", text[0] != NULL ? text[0] : "none");
}

START_TEST(no_rules_allow)
{
    static const char *const none[] = {NULL};
    static const char *const only_deny[] = {"deny 10.0.0.0/8", NULL};

    expect(none, "10.0.0.1", true);
    expect(none, "::1", true);
    /* Nothing matches: let in, as nginx does. */
    expect(only_deny, "127.0.0.1", true);
    expect(only_deny, "10.9.8.7", false);
}
END_TEST

START_TEST(first_match_wins)
{
    static const char *const loopback[] = {"allow 127.0.0.1", "deny all", NULL};
    static const char *const nested[] = {"allow 10.1.0.0/16", "deny 10.0.0.0/8", "allow all", NULL};
    static const char *const denied[] = {"deny all", "allow 127.0.0.1", NULL};

    expect(loopback, "127.0.0.1", true);
    expect(loopback, "127.0.0.2", false);
    expect(loopback, "::1", false);
    expect(nested, "10.1.255.255", true);
    expect(nested, "10.2.0.1", false);
    expect(nested, "11.0.0.1", true);
    expect(denied, "127.0.0.1", false);
}
END_TEST

START_TEST(cidr_prefixes)
{
    static const char *const net8[] = {"deny 127.0.0.0/8", NULL};
    static const char *const odd[] = {"allow 192.168.1.128/25", "deny all", NULL};
    static const char *const any4[] = {"allow 0.0.0.0/0", "deny all", NULL};
    static const char *const v6net[] = {"allow 2001:db8::/32", "deny all", NULL};
    static const char *const v6odd[] = {"allow fe80::/10", "deny all", NULL};

    expect(net8, "127.255.0.1", false);
    expect(net8, "128.0.0.1", true);
    expect(odd, "192.168.1.128", true);
    expect(odd, "192.168.1.255", true);
    expect(odd, "192.168.1.127", false);
    expect(any4, "8.8.8.8", true);
    expect(any4, "2001:db8::1", false);
    expect(v6net, "2001:db8:ffff::1", true);
    expect(v6net, "2001:db9::1", false);
    expect(v6odd, "febf::1", true);
    expect(v6odd, "fec0::1", false);
}
END_TEST

START_TEST(families)
{
    static const char *const deny6[] = {"deny ::1", NULL};
    static const char *const only6[] = {"allow ::1", "deny all", NULL};
    static const char *const ten[] = {"allow 10.0.0.0/8", "deny all", NULL};
    static const char *const mapped6[] = {"allow ::ffff:0:0/96", "deny all", NULL};

    /* An IPv6 rule never matches an IPv4 client, and the reverse. */
    expect(deny6, "127.0.0.1", true);
    expect(deny6, "::1", false);
    expect(only6, "127.0.0.1", false);
    expect(only6, "::1", true);
    /* A mapped peer is the IPv4 address it carries. */
    expect(ten, "::ffff:10.1.2.3", true);
    expect(ten, "::ffff:11.1.2.3", false);
    expect(mapped6, "::ffff:10.1.2.3", false);
}
END_TEST

START_TEST(other_family)
{
    static const char *const addr_rule[] = {"deny 127.0.0.1", NULL};
    static const char *const all_rule[] = {"deny all", NULL};
    struct kp_http_acl_rule acl[MAX_RULES];
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    ck_assert(kp_http_access_allowed(acl, rules(acl, addr_rule), &ss));
    ck_assert(!kp_http_access_allowed(acl, rules(acl, all_rule), &ss));
}
END_TEST

Suite *kp_test_access_suite(void)
{
    Suite *s = suite_create("access");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, no_rules_allow);
    tcase_add_test(tc, first_match_wins);
    tcase_add_test(tc, cidr_prefixes);
    tcase_add_test(tc, families);
    tcase_add_test(tc, other_family);
    suite_add_tcase(s, tc);
    return s;
}
