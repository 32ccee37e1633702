/* auth_basic, satisfy and limit_except against the real binary, compared
 * with nginx 1.22's answers: every password format, right and wrong
 * passwords, unknown users, missing and malformed credentials (401 with
 * the challenge, realm escaped), inheritance and `auth_basic off`, satisfy
 * all/any with allow/deny, limit_except (GET brings HEAD), internal
 * redirects running the checks again, a password file edited on disk,
 * $remote_user in the access log, and a password file that is missing
 * (403), unreadable or a directory (500), with nginx's log lines. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/http/auth.h"
#include "kelpie/util/digest.h"

#include "harness.h"
#include "proc.h"

/* Each user's password is "pw-" plus the user name; vectors made with
 * `openssl passwd` and python's hashlib (tests/unit/check_htpasswd.c). */
static const char USERS[] =
    "# users\n"
    "apr:$apr1$VZ1D2XU4$eCblztLXYKbv4IXiFgjve1\n"
    "md5:$1$xyz$6oM0yGMrm8NSTsNbT.fbF/\n"
    "sha256:$5$s5$omGGDNnL5WAox.XI8hcprYgVihjcqVcowSFQGxsbdX1:a comment\n"
    "sha512:$6$saltsalt$CZPNVr4niieqYaHqrgdfrQ604H94bmAexPzzchp3jqxMjdifKaFca."
    "IyeoTbVF0cxoy5RMnMCYslfoUCSvGW./\n"
    "sha:{SHA}G5zynyVKZeHPqXetqic75L7ZkrM=\n"
    "ssha:{SSHA}1rfxIbN/mm7HDWi6bXOVfMRkVc9OYUNsMTIzNA==\n"
    "plain:{PLAIN}pw-plain\n"
    "this line is malformed\n";

static const char HTTP[] =
    "log_format user \"$remote_user|$request|$status\";\n"
    "access_log logs/access.log user;\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@;\n"
    "    auth_basic \"Server \\\"realm\\\"\";\n"
    "    auth_basic_user_file users.pw;\n"
    "    location / { }\n"
    "    location /open/ { auth_basic off; }\n"
    "    location /var/ { set $f users.pw; auth_basic \"for $host\";"
    " auth_basic_user_file $f; }\n"
    "    location /missing/ { auth_basic_user_file nosuch.pw; }\n"
    "    location /unreadable/ { auth_basic_user_file locked.pw; }\n"
    "    location /dir/ { auth_basic_user_file subdir; }\n"
    "    location /edit/ { auth_basic_user_file edit.pw; }\n"
    "    location /many/ { auth_basic_user_file $arg_f; }\n"
    "    location /all-deny/ { satisfy all; deny all; }\n"
    "    location /all-allow/ { satisfy all; allow 127.0.0.1; deny all; }\n"
    "    location /any-allow/ { satisfy any; allow 127.0.0.1; deny all; }\n"
    "    location /any-deny/ { satisfy any; deny all; }\n"
    "    location /any-other/ { satisfy any; deny 10.0.0.1; }\n"
    "    location /any-noauth/ { satisfy any; auth_basic off; deny all; }\n"
    "    location /le/ { auth_basic off; limit_except GET { deny all; } }\n"
    "    location /le-auth/ { auth_basic off; limit_except GET POST { auth_basic \"write\"; } }\n"
    "    location /le-allow/ { limit_except PUT { allow all; } }\n"
    "    location /pub/ { auth_basic off; error_page 404 /x/f.txt; }\n"
    "    location /ep/ { error_page 401 /denied.html; }\n"
    "    location /ep200/ { error_page 401 =200 /denied.html; }\n"
    "    location = /denied.html { auth_basic off; }\n"
    "    location /tf/ { auth_basic off; try_files /nowhere @named; }\n"
    "    location @named { try_files /x/f.txt =404; }\n"
    "}\n";

static const char *const DIRS[] = {"x",          "ep",        "ep200",      "many",     "open",
                                   "var",        "missing",   "unreadable", "dir",      "edit",
                                   "all-deny",   "all-allow", "any-allow",  "any-deny", "any-other",
                                   "any-noauth", "le",        "le-auth",    "le-allow"};

static void start(struct kp_h_server *s)
{
    char path[256];

    kp_h_prepare(s);
    /* Started as root, the worker runs as nobody: it must reach the prefix. */
    chmod(s->prefix, 0755);
    for (size_t i = 0; i < sizeof(DIRS) / sizeof(DIRS[0]); i++) {
        snprintf(path, sizeof(path), "html/%s/f.txt", DIRS[i]);
        kp_h_write(s, path, "file\n");
    }
    kp_h_write(s, "conf/users.pw", USERS);
    kp_h_write(s, "conf/locked.pw", USERS);
    kp_h_write(s, "conf/edit.pw", "ed:{PLAIN}one\n");
    kp_h_write(s, "conf/subdir/keep", "");
    snprintf(path, sizeof(path), "%sconf/locked.pw", s->prefix);
    chmod(path, 0);
    kp_h_config(s, NULL, HTTP);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

/* "Authorization: Basic base64(user:pass)\r\n" */
static void basic(const char *credentials, char *out, size_t size)
{
    char b64[256];
    size_t n = kp_base64_encode((const unsigned char *)credentials, strlen(credentials), b64);

    snprintf(out, size, "Authorization: Basic %.*s\r\n", (int)n, b64);
}

/* One request with an optional extra header line; returns the status,
 * leaving the response in *r (freed by the caller). */
static int request(int port, const char *method, const char *path, const char *extra,
                   struct kp_h_resp *r)
{
    char raw[1024];

    snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nHost: h\r\n%sConnection: close\r\n\r\n", method,
             path, extra != NULL ? extra : "");
    ck_assert_int_eq(kp_h_request(port, raw, r), 0);
    return r->status;
}

/* GET path as user:pass (NULL: no credentials). */
static int get_as(int port, const char *path, const char *credentials)
{
    char hdr[512] = "";
    struct kp_h_resp r;

    if (credentials != NULL)
        basic(credentials, hdr, sizeof(hdr));
    int st = request(port, "GET", path, hdr, &r);
    kp_h_resp_free(&r);
    return st;
}

static void expect_log(const struct kp_h_server *s, const char *path, const char *needle)
{
    ck_assert_msg(kp_p_file_wait(s, path, needle, 5000), "%s lacks: %s", path, needle);
}

START_TEST(every_format)
{
    static const char *const users[] = {"apr", "md5", "sha256", "sha512", "sha", "ssha", "plain"};
    struct kp_h_server s;
    char cred[64];

    start(&s);
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        snprintf(cred, sizeof(cred), "%s:pw-%s", users[i], users[i]);
        ck_assert_msg(get_as(s.port, "/x/f.txt", cred) == 200, "%s", cred);
        snprintf(cred, sizeof(cred), "%s:pw-%sx", users[i], users[i]);
        ck_assert_msg(get_as(s.port, "/x/f.txt", cred) == 401, "%s", cred);
    }
    ck_assert_int_eq(get_as(s.port, "/x/f.txt", "nobody:pw-nobody"), 401);
    expect_log(&s, "logs/error.log", "[error] ");
    expect_log(&s, "logs/error.log", "user \"apr\": password mismatch, client: 127.0.0.1");
    expect_log(&s, "logs/error.log", "user \"nobody\" was not found in \"");
    expect_log(&s, "logs/error.log", "conf/users.pw\", client: 127.0.0.1");
    /* The malformed line is skipped with a warning, once. */
    expect_log(&s, "logs/error.log", "[warn] ");
    expect_log(&s, "logs/error.log", "in line 9 of \"");
    kp_h_stop(&s);
}
END_TEST

/* What a client without (good) credentials gets: 401, the challenge with
 * the realm's quotes escaped, nginx's page. */
START_TEST(challenge)
{
    static const char *const bad[] = {
        NULL,
        "Authorization: Basic\r\n",
        "Authorization: Basic !!!!\r\n",
        "Authorization: Bearer cGxhaW46cHctcGxhaW4=\r\n",
        "Authorization: Basic cGxhaW4=\r\n",            /* "plain", no ':' */
        "Authorization: Basic OnB3LXBsYWlu\r\n",        /* ":pw-plain", no user */
        "Authorization: Basic cGxhaW46cHctcGxhaW4\r\n", /* unpadded: fine, wrong below */
    };
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    for (size_t i = 0; i + 1 < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(request(s.port, "GET", "/x/f.txt", bad[i], &r), 401);
        const char *h = kp_h_header(&r, "WWW-Authenticate");
        ck_assert_ptr_nonnull(h);
        ck_assert_str_eq(h, "Basic realm=\"Server \\\"realm\\\"\"");
        ck_assert_ptr_nonnull(r.body);
        ck_assert_ptr_nonnull(strstr(r.body, "<title>401 Authorization Required</title>"));
        ck_assert_ptr_nonnull(strstr(r.head, "HTTP/1.1 401 Unauthorized\r\n"));
        kp_h_resp_free(&r);
    }
    /* Two Authorization lines are one too many, as for nginx. */
    ck_assert_int_eq(request(s.port, "GET", "/x/f.txt",
                             "Authorization: Basic cGxhaW46cHctcGxhaW4=\r\n"
                             "Authorization: Basic cGxhaW46cHctcGxhaW4=\r\n",
                             &r),
                     400);
    kp_h_resp_free(&r);
    /* Unpadded base64 is still base64 (nginx reads it): the right password. */
    ck_assert_int_eq(request(s.port, "GET", "/x/f.txt", bad[6], &r), 200);
    kp_h_resp_free(&r);
    /* HEAD: the same header, no body. */
    char raw[] = "HEAD /x/f.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    int fd = kp_h_connect(s.port);
    kp_h_send_str(fd, raw);
    ck_assert_int_eq(kp_h_recv(fd, &r, true), 0);
    close(fd);
    ck_assert_int_eq(r.status, 401);
    ck_assert_ptr_nonnull(kp_h_header(&r, "WWW-Authenticate"));
    kp_h_resp_free(&r);
    expect_log(&s, "logs/error.log", "[info] ");
    expect_log(&s, "logs/error.log",
               "no user/password was provided for basic authentication, "
               "client: 127.0.0.1");
    kp_h_stop(&s);
}
END_TEST

/* An error page for 401 keeps the challenge, whatever status it is sent
 * with (nginx 1.22 does so). */
START_TEST(error_page_keeps_challenge)
{
    static const struct {
        const char *path;
        int status;
    } cases[] = {{"/ep/f.txt", 401}, {"/ep200/f.txt", 200}};
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    kp_h_write(&s, "html/denied.html", "denied\n");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(request(s.port, "GET", cases[i].path, NULL, &r), cases[i].status);
        ck_assert_str_eq(kp_h_header(&r, "WWW-Authenticate"),
                         "Basic realm=\"Server \\\"realm\\\"\"");
        ck_assert_str_eq(r.body, "denied\n");
        kp_h_resp_free(&r);
    }
    ck_assert_int_eq(get_as(s.port, "/ep/f.txt", "plain:pw-plain"), 200);
    kp_h_stop(&s);
}
END_TEST

/* A user name is the client's: its control bytes cannot start a new line
 * in the error log. */
START_TEST(user_name_escaped_in_log)
{
    struct kp_h_server s;

    start(&s);
    ck_assert_int_eq(get_as(s.port, "/x/f.txt", "a\nb\"c:x"), 401);
    expect_log(&s, "logs/error.log", "user \"a\\x0ab\\x22c\" was not found in");
    kp_h_stop(&s);
}
END_TEST

START_TEST(inheritance_and_variables)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(get_as(s.port, "/open/f.txt", NULL), 200);
    /* realm and file name from variables; the name relative to conf/. */
    ck_assert_int_eq(request(s.port, "GET", "/var/f.txt", NULL, &r), 401);
    ck_assert_str_eq(kp_h_header(&r, "WWW-Authenticate"), "Basic realm=\"for h\"");
    kp_h_resp_free(&r);
    ck_assert_int_eq(get_as(s.port, "/var/f.txt", "plain:pw-plain"), 200);
    kp_h_stop(&s);
}
END_TEST

struct access_case {
    const char *method, *path, *credentials;
    int status;
};

/* satisfy with allow/deny (the client is 127.0.0.1), and limit_except. */
static const struct access_case ACCESS[] = {
    {"GET", "/all-deny/f.txt", "plain:pw-plain", 403},
    {"GET", "/all-allow/f.txt", NULL, 401},
    {"GET", "/all-allow/f.txt", "plain:pw-plain", 200},
    {"GET", "/any-allow/f.txt", NULL, 200},
    {"GET", "/any-deny/f.txt", NULL, 401},
    {"GET", "/any-deny/f.txt", "plain:wrong", 401},
    {"GET", "/any-deny/f.txt", "plain:pw-plain", 200},
    {"GET", "/any-other/f.txt", NULL, 401},
    {"GET", "/any-other/f.txt", "plain:pw-plain", 200},
    {"GET", "/any-noauth/f.txt", NULL, 403},
    {"GET", "/le/f.txt", NULL, 200},
    {"HEAD", "/le/f.txt", NULL, 200},
    {"POST", "/le/f.txt", NULL, 403},
    {"DELETE", "/le/f.txt", NULL, 403},
    {"GET", "/le-auth/f.txt", NULL, 200},
    /* POST is listed: no check, and static files refuse it. */
    {"POST", "/le-auth/f.txt", NULL, 405},
    {"PUT", "/le-auth/f.txt", NULL, 401},
    {"PUT", "/le-auth/f.txt", "plain:pw-plain", 405},
    /* Methods not listed get the block's rules: allow all, the inherited
     * auth_basic still applies (satisfy all). */
    {"GET", "/le-allow/f.txt", NULL, 401},
    {"GET", "/le-allow/f.txt", "plain:pw-plain", 200},
    {"PUT", "/le-allow/f.txt", NULL, 401},
};

START_TEST(satisfy_and_limit_except)
{
    struct kp_h_server s;
    char hdr[512];
    struct kp_h_resp r;

    start(&s);
    for (size_t i = 0; i < sizeof(ACCESS) / sizeof(ACCESS[0]); i++) {
        const struct access_case *c = &ACCESS[i];
        hdr[0] = '\0';
        if (c->credentials != NULL)
            basic(c->credentials, hdr, sizeof(hdr));
        char raw[1024];
        snprintf(raw, sizeof(raw),
                 "%s %s HTTP/1.1\r\nHost: h\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n",
                 c->method, c->path, hdr);
        int fd = kp_h_connect(s.port);
        kp_h_send_str(fd, raw);
        ck_assert_int_eq(kp_h_recv(fd, &r, strcmp(c->method, "HEAD") == 0), 0);
        close(fd);
        ck_assert_msg(r.status == c->status, "%s %s as %s: %d, expected %d", c->method, c->path,
                      c->credentials ? c->credentials : "-", r.status, c->status);
        /* Only a 401 carries the challenge. */
        ck_assert((kp_h_header(&r, "WWW-Authenticate") != NULL) == (r.status == 401));
        kp_h_resp_free(&r);
    }
    expect_log(&s, "logs/error.log", "access forbidden by rule, client: 127.0.0.1");
    kp_h_stop(&s);
}
END_TEST

/* error_page and try_files move the request to a location whose checks
 * run again (nginx's access phase after every internal redirect). */
START_TEST(internal_redirects_checked)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(request(s.port, "GET", "/pub/none", NULL, &r), 401);
    ck_assert_ptr_nonnull(kp_h_header(&r, "WWW-Authenticate"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(get_as(s.port, "/pub/none", "plain:pw-plain"), 404);
    ck_assert_int_eq(get_as(s.port, "/tf/none", NULL), 401);
    ck_assert_int_eq(get_as(s.port, "/tf/none", "plain:pw-plain"), 200);
    kp_h_stop(&s);
}
END_TEST

/* A password file changed on disk counts at the next request: no reload,
 * no stale copy, even within the same second. */
START_TEST(file_edited_on_disk)
{
    struct kp_h_server s;

    start(&s);
    ck_assert_int_eq(get_as(s.port, "/edit/f.txt", "ed:one"), 200);
    ck_assert_int_eq(get_as(s.port, "/edit/f.txt", "ed:two"), 401);
    kp_h_write(&s, "conf/edit.pw", "ed:{PLAIN}two\n"); /* same size */
    ck_assert_int_eq(get_as(s.port, "/edit/f.txt", "ed:two"), 200);
    ck_assert_int_eq(get_as(s.port, "/edit/f.txt", "ed:one"), 401);
    kp_h_write(&s, "conf/edit.pw", "# nobody\n");
    ck_assert_int_eq(get_as(s.port, "/edit/f.txt", "ed:two"), 401);
    /* Replaced by rename (a new inode), as editors and htpasswd do. */
    kp_h_write(&s, "conf/edit.new", "ed:{PLAIN}three\n");
    char from[256], to[256];
    snprintf(from, sizeof(from), "%sconf/edit.new", s.prefix);
    snprintf(to, sizeof(to), "%sconf/edit.pw", s.prefix);
    ck_assert_int_eq(rename(from, to), 0);
    ck_assert_int_eq(get_as(s.port, "/edit/f.txt", "ed:three"), 200);
    /* Once the file is old enough to be trusted, the copy is used as long
     * as stat() finds it unchanged; an edit of the same size changes ctime. */
    kp_h_sleep_ms(2100);
    ck_assert_int_eq(get_as(s.port, "/edit/f.txt", "ed:three"), 200);
    ck_assert_int_eq(get_as(s.port, "/edit/f.txt", "ed:three"), 200);
    kp_h_write(&s, "conf/edit.pw", "ed:{PLAIN}four!\n");
    ck_assert_int_eq(get_as(s.port, "/edit/f.txt", "ed:three"), 401);
    ck_assert_int_eq(get_as(s.port, "/edit/f.txt", "ed:four!"), 200);
    kp_h_stop(&s);
}
END_TEST

/* More password files than a worker keeps: the oldest go, and every file
 * still answers for its own users only. */
START_TEST(many_files)
{
    struct kp_h_server s;
    char path[64], text[64], url[64], cred[32];
    const int n = KP_HTTP_AUTH_FILES + 4;

    start(&s);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "conf/many%d.pw", i);
        snprintf(text, sizeof(text), "u%d:{PLAIN}p%d\n", i, i);
        kp_h_write(&s, path, text);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < n; i++) {
            snprintf(url, sizeof(url), "/many/f.txt?f=many%d.pw", i);
            snprintf(cred, sizeof(cred), "u%d:p%d", i, i);
            ck_assert_msg(get_as(s.port, url, cred) == 200, "%s as %s", url, cred);
            snprintf(cred, sizeof(cred), "u%d:p%d", (i + 1) % n, (i + 1) % n);
            ck_assert_msg(get_as(s.port, url, cred) == 401, "%s as %s", url, cred);
        }
    }
    kp_h_stop(&s);
}
END_TEST

START_TEST(remote_user_logged)
{
    struct kp_h_server s;

    start(&s);
    ck_assert_int_eq(get_as(s.port, "/x/f.txt", "plain:pw-plain"), 200);
    ck_assert_int_eq(get_as(s.port, "/open/f.txt", "someone:anything"), 200);
    ck_assert_int_eq(get_as(s.port, "/open/f.txt", NULL), 200);
    expect_log(&s, "logs/access.log", "plain|GET /x/f.txt HTTP/1.1|200");
    expect_log(&s, "logs/access.log", "someone|GET /open/f.txt HTTP/1.1|200");
    expect_log(&s, "logs/access.log", "-|GET /open/f.txt HTTP/1.1|200");
    kp_h_stop(&s);
}
END_TEST

/* nginx: a missing file is 403 at [error]; one that cannot be read is 500
 * at [crit]. Credentials must be given for the file to be opened. */
START_TEST(file_errors)
{
    struct kp_h_server s;

    start(&s);
    ck_assert_int_eq(get_as(s.port, "/missing/f.txt", NULL), 401);
    ck_assert_int_eq(get_as(s.port, "/missing/f.txt", "plain:pw-plain"), 403);
    expect_log(&s, "logs/error.log", "[error] ");
    expect_log(&s, "logs/error.log",
               "conf/nosuch.pw\" failed (2: No such file or directory), client: 127.0.0.1");
    ck_assert_int_eq(get_as(s.port, "/dir/f.txt", "plain:pw-plain"), 500);
    expect_log(&s, "logs/error.log", "[crit] ");
    expect_log(&s, "logs/error.log", "conf/subdir\" failed (21: Is a directory)");
    /* The worker runs as nobody when the tests run as root; otherwise
     * mode 0 stops the test user too. */
    ck_assert_int_eq(get_as(s.port, "/unreadable/f.txt", "plain:pw-plain"), 500);
    expect_log(&s, "logs/error.log", "conf/locked.pw\" failed (13: Permission denied)");
    kp_h_stop(&s);
}
END_TEST

struct bad_conf {
    const char *http, *message;
};

static const struct bad_conf BAD[] = {
    {"server { location / { limit_except GET FETCH { } } }", "invalid method \"FETCH\""},
    {"server { location / { limit_except GET { } limit_except POST { } } }",
     "\"limit_except\" directive is duplicate"},
    {"server { limit_except GET { } }", "\"limit_except\" directive is not allowed here"},
    {"satisfy some;", "invalid value \"some\" in \"satisfy\" directive"},
    {"server { location / { limit_except GET { satisfy any; } } }",
     "\"satisfy\" directive is not allowed here"},
    {"auth_basic;", "invalid number of arguments in \"auth_basic\" directive"},
    {"auth_basic_user_file \"\";", "invalid value \"\" in \"auth_basic_user_file\" directive"},
};

START_TEST(bad_config)
{
    kp_p_expect_refused(BAD[_i].http, BAD[_i].message);
}
END_TEST

Suite *kp_test_auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_format);
    tcase_add_test(tc, challenge);
    tcase_add_test(tc, inheritance_and_variables);
    tcase_add_test(tc, error_page_keeps_challenge);
    tcase_add_test(tc, user_name_escaped_in_log);
    tcase_add_test(tc, satisfy_and_limit_except);
    tcase_add_test(tc, internal_redirects_checked);
    tcase_add_test(tc, file_edited_on_disk);
    tcase_add_test(tc, many_files);
    tcase_add_test(tc, remote_user_logged);
    tcase_add_test(tc, file_errors);
    tcase_add_loop_test(tc, bad_config, 0, (int)(sizeof(BAD) / sizeof(BAD[0])));
    suite_add_tcase(s, tc);
    return s;
}
