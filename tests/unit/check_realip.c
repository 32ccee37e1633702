/* The realip module (http/realip.c): nginx's walk of an X-Forwarded-For
 * value (from the right, recursive or not, ports, brackets, separators,
 * items that are no address, v4-mapped peers, unix: peers), and its
 * directives as a configuration loads them (inheritance, `listen ...
 * proxy_protocol`, errors with file and line). */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "kelpie/util/conf.h"
#include "kelpie/proc/cycle.h"
#include "kelpie/http/access.h"
#include "kelpie/http/realip.h"
#include "tmpdir.h"

#define MAX_FROM 4

static size_t trusted(struct kp_http_acl_rule *from, const char *const *text)
{
    size_t n = 0;

    for (; text[n] != NULL; n++) {
        ck_assert_uint_lt(n, MAX_FROM);
        memset(&from[n], 0, sizeof(from[n]));
        from[n].allow = true;
        from[n].family = AF_UNIX;
        if (strcmp(text[n], "unix:") != 0)
            ck_assert_int_eq(
                kp_conf_parse_cidr(text[n], &from[n].family, from[n].addr, from[n].mask), 0);
    }
    return n;
}

static struct sockaddr_storage addr(const char *ip)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') == NULL) {
        ss.ss_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr), 1);
    } else {
        ss.ss_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
    }
    return ss;
}

/* "ADDR" or "ADDR port" of what the walk found; "-" for nothing. */
static void text_of(bool found, const struct sockaddr_storage *ss, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port;

    if (!found) {
        snprintf(out, size, "-");
        return;
    }
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        port = ntohs(sin->sin_port);
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        port = ntohs(sin6->sin6_port);
    }
    if (port > 0)
        snprintf(out, size, "%s %u", ip, port);
    else
        snprintf(out, size, "%s", ip);
}

static const char *const LOCAL[] = {"127.0.0.1", "10.0.0.0/8", "2001:db8::/32", NULL};

static const struct {
    const char *peer, *value;
    bool recursive;
    const char *want;
} walks[] = {
    /* The last item, recursive or not. */
    {"127.0.0.1", "198.51.100.7", false, "198.51.100.7"},
    {"127.0.0.1", "198.51.100.7, 10.0.0.2", false, "10.0.0.2"},
    {"127.0.0.1", "198.51.100.7, 10.0.0.2", true, "198.51.100.7"},
    {"127.0.0.1", "203.0.113.1, 198.51.100.7, 10.0.0.2", true, "198.51.100.7"},
    /* Every address trusted: the leftmost. */
    {"127.0.0.1", "10.0.0.1, 10.0.0.2", true, "10.0.0.1"},
    /* Spaces or commas, any number of them, separate; trailing ones go. */
    {"127.0.0.1", "198.51.100.7 10.0.0.2 ,, ", true, "198.51.100.7"},
    {"127.0.0.1", "198.51.100.7,,10.0.0.2", true, "198.51.100.7"},
    /* An untrusted peer: nothing. */
    {"192.0.2.1", "198.51.100.7", true, "-"},
    /* Ports and brackets (a bracketed address needs its port). */
    {"127.0.0.1", "198.51.100.7:8080", false, "198.51.100.7 8080"},
    {"127.0.0.1", "[2001:db9::1]:443", false, "2001:db9::1 443"},
    {"127.0.0.1", "2001:db9::1", false, "2001:db9::1"},
    {"127.0.0.1", "[2001:db9::1]", false, "-"},
    {"127.0.0.1", "198.51.100.7:", false, "-"},
    {"127.0.0.1", "198.51.100.7:65536", false, "-"},
    {"127.0.0.1", "198.51.100.7:80x", false, "-"},
    /* Not an address: the last good one found stands. */
    {"127.0.0.1", "junk", true, "-"},
    {"127.0.0.1", "198.51.100.7, junk, 10.0.0.2", true, "10.0.0.2"},
    {"127.0.0.1", "unknown, 10.0.0.2", true, "10.0.0.2"},
    /* Trusted IPv6 hops. */
    {"127.0.0.1", "198.51.100.7, 2001:db8::5", true, "198.51.100.7"},
    /* A v4-mapped peer is matched as IPv4. */
    {"::ffff:127.0.0.1", "198.51.100.7", false, "198.51.100.7"},
    /* As in nginx, the first byte is never taken for a separator. */
    {"127.0.0.1", ",198.51.100.7", false, "-"},
    {"127.0.0.1", "", false, "-"},
};

START_TEST(walk)
{
    struct kp_http_acl_rule from[MAX_FROM];
    size_t n = trusted(from, LOCAL);
    struct sockaddr_storage peer = addr(walks[_i].peer), out;
    struct kp_str v = kp_str_from(walks[_i].value);
    char got[64];

    memset(&out, 0, sizeof(out));
    bool found = kp_http_realip_walk(v, &peer, from, n, walks[_i].recursive, &out);
    text_of(found, &out, got, sizeof(got));
    ck_assert_msg(strcmp(got, walks[_i].want) == 0, "\"%s\" (%s): %s, expected %s", walks[_i].value,
                  walks[_i].recursive ? "recursive" : "not recursive", got, walks[_i].want);
}
END_TEST

/* set_real_ip_from unix: trusts UNIX-domain peers, and only them; the same
 * rule kind serves allow/deny. */
START_TEST(unix_peers)
{
    static const char *const unix_only[] = {"unix:", NULL};
    struct kp_http_acl_rule from[MAX_FROM];
    size_t n = trusted(from, unix_only);
    struct sockaddr_storage peer, out;

    memset(&peer, 0, sizeof(peer));
    peer.ss_family = AF_UNIX;
    ck_assert(kp_http_access_match(from, n, &peer));
    ck_assert(kp_http_realip_walk(kp_str_from("198.51.100.7"), &peer, from, n, false, &out));
    struct sockaddr_storage v4 = addr("127.0.0.1");
    ck_assert(!kp_http_access_match(from, n, &v4));
    ck_assert(!kp_http_realip_walk(kp_str_from("198.51.100.7"), &v4, from, n, false, &out));
    /* deny unix: refuses a UNIX-domain client. */
    from[0].allow = false;
    ck_assert(!kp_http_access_allowed(from, n, &peer));
    ck_assert(kp_http_access_allowed(from, n, &v4));
}
END_TEST

/* --- configuration ----------------------------------------------------------------- */

static char dir[64];
static char err[1024];

static void setup(void)
{
    tmpdir_make(dir, "kp_realip");
}

static void teardown(void)
{
    tmpdir_remove(dir);
}

static struct kp_cycle *load(const char *text)
{
    char path[128];

    snprintf(path, sizeof(path), "%skelpie.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err));
}

START_TEST(directives)
{
    struct kp_cycle *c = load("http {\n"
                              "  set_real_ip_from 10.0.0.0/8;\n"
                              "  set_real_ip_from unix:;\n"
                              "  real_ip_header X-Forwarded-For;\n"
                              "  server {\n"
                              "    listen 127.0.0.1:8080 proxy_protocol;\n"
                              "    real_ip_recursive on;\n"
                              "    location /a/ { set_real_ip_from ::1; }\n"
                              "    location /b/ { real_ip_header X-Client; }\n"
                              "    location /c/ { real_ip_header proxy_protocol; }\n"
                              "  }\n"
                              "  server { listen 127.0.0.1:8081; }\n"
                              "}\n");

    ck_assert_msg(c != NULL, "%s", err);
    const struct kp_http_srv_conf *srv = c->http.servers[0];
    const struct kp_http_realip_conf *top = &srv->loc->realip;
    ck_assert_uint_eq(top->n_from, 2);
    ck_assert_int_eq(top->from[0].family, AF_INET);
    ck_assert_int_eq(top->from[1].family, AF_UNIX);
    ck_assert_uint_eq(top->header, KP_REALIP_X_FORWARDED_FOR);
    ck_assert(top->recursive);
    ck_assert(srv->listens[0].proxy_protocol);
    ck_assert(c->http_addrs[0].proxy_protocol);
    ck_assert(!c->http_addrs[1].proxy_protocol);
    /* A block's own list replaces the inherited one. */
    const struct kp_http_loc_conf *a = srv->locations[0], *b = srv->locations[1],
                                  *cc = srv->locations[2];
    ck_assert_uint_eq(a->realip.n_from, 1);
    ck_assert_int_eq(a->realip.from[0].family, AF_INET6);
    ck_assert(a->realip.recursive);
    ck_assert_uint_eq(b->realip.n_from, 2);
    ck_assert_uint_eq(b->realip.header, KP_REALIP_FIELD);
    ck_assert_str_eq(b->realip.field, "X-Client");
    ck_assert_uint_eq(cc->realip.header, KP_REALIP_PROXY_PROTOCOL);
    /* nginx's defaults: X-Real-IP, not recursive, nothing trusted. */
    const struct kp_http_realip_conf *other = &c->http.servers[1]->loc->realip;
    ck_assert_uint_eq(other->n_from, 2);
    kp_cycle_free(c);
    c = load("http { server { listen 127.0.0.1:8080; } }\n");
    ck_assert_msg(c != NULL, "%s", err);
    const struct kp_http_realip_conf *def = &c->http.servers[0]->loc->realip;
    ck_assert_uint_eq(def->n_from, 0);
    ck_assert_uint_eq(def->header, KP_REALIP_X_REAL_IP);
    ck_assert(!def->recursive);
    kp_cycle_free(c);
}
END_TEST

static const struct {
    const char *conf;
    const char *msg; /* followed by " in PREFIX/kelpie.conf:2" */
} errors[] = {
    {"http {\n set_real_ip_from 10.0.0.0/33;\n}\n", "invalid parameter \"10.0.0.0/33\""},
    {"http {\n set_real_ip_from unix;\n}\n", "invalid parameter \"unix\""},
    {"http {\n real_ip_recursive maybe;\n}\n",
     "invalid value \"maybe\" in \"real_ip_recursive\" directive, it must be \"on\" or \"off\""},
    {"http {\n real_ip_header;\n}\n",
     "invalid number of arguments in \"real_ip_header\" directive"},
    {"http {\n real_ip_header a; real_ip_header b;\n}\n",
     "\"real_ip_header\" directive is duplicate"},
    {"http {\n server { listen 80 proxy_protocol=on; }\n}\n",
     "invalid parameter \"proxy_protocol=on\""},
};

START_TEST(config_errors)
{
    char want[1200];

    ck_assert_ptr_null(load(errors[_i].conf));
    snprintf(want, sizeof(want), "%s in %skelpie.conf:2", errors[_i].msg, dir);
    ck_assert_str_eq(err, want);
}
END_TEST

Suite *kp_test_realip_suite(void)
{
    Suite *s = suite_create("realip");
    TCase *tc = tcase_create("walk");
    TCase *conf = tcase_create("conf");

    tcase_add_loop_test(tc, walk, 0, sizeof(walks) / sizeof(walks[0]));
    tcase_add_test(tc, unix_peers);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(conf, setup, teardown);
    tcase_add_test(conf, directives);
    tcase_add_loop_test(conf, config_errors, 0, sizeof(errors) / sizeof(errors[0]));
    suite_add_tcase(s, conf);
    return s;
}
