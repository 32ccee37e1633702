/* autoindex against the real binary: nginx's html page (order, escaping,
 * the 50-character cut, sizes), xml, json and jsonp, hidden files, symbolic
 * links leading out of the root, index files first, the directory
 * redirect, a directory larger than one sorting run, and a bad autoindex_format. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "kelpie/http/dirlist.h"
#include "proc.h"

#define REQ(path) "GET " path " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
#define LONG_NAME "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123.txt"

static const char *CONF = "access_log off;\n"
                          "server {\n"
                          "    listen 127.0.0.1:@PORT@;\n"
                          "    root html;\n"
                          "    autoindex on;\n"
                          "    location /x/ { alias html/d/; autoindex_format xml; }\n"
                          "    location /j/ { alias html/d/; autoindex_format json; }\n"
                          "    location /p/ { alias html/d/; autoindex_format jsonp; }\n"
                          "    location /k/ { alias html/d/; autoindex_exact_size off; }\n"
                          "    location /nolinks/ { alias html/d/; disable_symlinks on; }\n"
                          "    location /off/ { alias html/d/; autoindex off; }\n"
                          "    location /withindex/ { }\n"
                          "}\n";

static void path_of(const struct kp_h_server *s, const char *rel, char *out, size_t size)
{
    snprintf(out, size, "%s%s", s->prefix, rel);
}

static void link_to(const struct kp_h_server *s, const char *target, const char *rel)
{
    char p[512];

    path_of(s, rel, p, sizeof(p));
    ck_assert_int_eq(symlink(target, p), 0);
}

static void start(struct kp_h_server *s)
{
    char big[20001], outside[512];

    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    kp_h_prepare(s);
    kp_h_write(s, "html/d/a <&\"b.txt", "hi\n");
    kp_h_write(s,
               "html/d/\xc3\xbcn\xc3\xaf c\xc3\xb6"
               "d\xc3\xa9.txt",
               "x");
    kp_h_write(s, "html/d/.hidden", "secret");
    kp_h_write(s, "html/d/big.bin", big);
    kp_h_write(s, "html/d/" LONG_NAME, "");
    kp_h_write(s, "html/d/sub/f", "f");
    kp_h_write(s, "html/d/zdir/f", "f");
    kp_h_write(s, "outside/secret.txt", "secret");
    kp_h_write(s, "html/withindex/index.html", "the index\n");
    kp_h_write(s, "html/withindex/other.txt", "o");
    path_of(s, "outside", outside, sizeof(outside));
    link_to(s, outside, "html/d/outlink");
    link_to(s, "sub", "html/d/inlink");
    kp_h_config(s, "master_process off;", CONF);
    ck_assert_int_eq(kp_h_start(s), 0);
}

static void get(const struct kp_h_server *s, const char *raw, struct kp_h_resp *r, int status)
{
    ck_assert_int_eq(kp_h_request(s->port, raw, r), 0);
    ck_assert_int_eq(r->status, status);
}

/* Whether `first` occurs in body before `second`. */
static bool before(const char *body, const char *first, const char *second)
{
    const char *a = strstr(body, first), *b = strstr(body, second);

    return a != NULL && b != NULL && a < b;
}

START_TEST(autoindex_html)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    get(&s, REQ("/d/"), &r, 200);
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/html");
    const char *b = r.body;
    ck_assert(strncmp(b,
                      "<html>\r\n<head><title>Index of /d/</title></head>\r\n<body>\r\n"
                      "<h1>Index of /d/</h1><hr><pre><a href=\"../\">../</a>\r\n",
                      strlen("<html>\r\n<head><title>Index of /d/</title></head>\r\n<body>\r\n"
                             "<h1>Index of /d/</h1><hr><pre><a href=\"../\">../</a>\r\n")) == 0);
    ck_assert_ptr_nonnull(strstr(b, "</pre><hr></body>\r\n</html>\r\n"));
    /* Directories first, each group by name; a link inside the root is
     * listed as what it leads to. */
    ck_assert(before(b, "<a href=\"inlink/\">inlink/</a>", "<a href=\"sub/\">sub/</a>"));
    ck_assert(before(b, "<a href=\"sub/\">sub/</a>", "<a href=\"zdir/\">zdir/</a>"));
    ck_assert(before(b, "zdir/</a>", "a%20%3C%26%22b.txt"));
    ck_assert(before(b, "big.bin", "%C3%BCn"));
    /* Escaped for the URI and for HTML; UTF-8 names kept as they are. */
    ck_assert_ptr_nonnull(strstr(b, "<a href=\"a%20%3C%26%22b.txt\">a &lt;&amp;&quot;b.txt</a>"));
    ck_assert_ptr_nonnull(strstr(b, "<a href=\"%C3%BCn%C3%AF%20c%C3%B6d%C3%A9.txt\">"
                                    "\xc3\xbcn\xc3\xaf c\xc3\xb6"
                                    "d\xc3\xa9.txt</a>"));
    /* Not listed: hidden files, a link leading out of the root. */
    ck_assert_ptr_null(strstr(b, "hidden"));
    ck_assert_ptr_null(strstr(b, "outlink"));
    /* Over 50 characters: 47 and "..>"; the columns line up after it. */
    ck_assert_ptr_nonnull(
        strstr(b, "\">abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstu..&gt;</a> "));
    const char *big = strstr(b, "<a href=\"big.bin\">big.bin</a>");
    ck_assert_ptr_nonnull(big);
    const char *eol = strstr(big, "\r\n");
    ck_assert(eol - big >= 19 && strncmp(eol - 19, "                20001", 19) != 0);
    ck_assert(strncmp(eol - 19, "              20000", 19) == 0);
    const char *sub = strstr(b, "<a href=\"sub/\">");
    eol = strstr(sub, "\r\n");
    ck_assert(strncmp(eol - 19, "                  -", 19) == 0);
    /* "<a href="sub/">sub/</a>", padding to column 51, then the date. */
    ck_assert_int_eq(eol - sub, (long)(strlen("<a href=\"sub/\">") + strlen("</a>") + 51 +
                                       strlen("06-Dec-2026 05:50 ") + 19));
    kp_h_resp_free(&r);

    /* HEAD: the same head, no body. */
    int fd = kp_h_connect(s.port);
    kp_h_send_str(fd, "HEAD /d/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, true), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(kp_h_header(&r, "Content-Length"));
    close(fd);
    kp_h_resp_free(&r);

    /* exact_size off: nginx's short sizes. */
    get(&s, REQ("/k/"), &r, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "    20K\r\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "      3\r\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "      -\r\n"));
    kp_h_resp_free(&r);

    /* disable_symlinks on: no link is listed at all. */
    get(&s, REQ("/nolinks/"), &r, 200);
    ck_assert_ptr_null(strstr(r.body, "inlink"));
    ck_assert_ptr_nonnull(strstr(r.body, "sub/"));
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(autoindex_xml_json)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    get(&s, REQ("/x/"), &r, 200);
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/xml; charset=utf-8");
    ck_assert(strncmp(r.body, "<?xml version=\"1.0\"?>\r\n<list>\r\n", 30) == 0);
    ck_assert_ptr_nonnull(strstr(r.body, "<file mtime=\""));
    ck_assert_ptr_nonnull(strstr(r.body, "Z\" size=\"3\">a &lt;&amp;&quot;b.txt</file>\r\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "Z\">sub</directory>\r\n"));
    ck_assert(before(r.body, "sub</directory>", "<file"));
    ck_assert_ptr_null(strstr(r.body, "hidden"));
    ck_assert_ptr_null(strstr(r.body, "outlink"));
    ck_assert_ptr_nonnull(strstr(r.body, "</list>\r\n"));
    kp_h_resp_free(&r);

    get(&s, REQ("/j/"), &r, 200);
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "application/json");
    ck_assert(r.body[0] == '[');
    ck_assert_ptr_nonnull(strstr(r.body, "{ \"name\":\"a <&\\\"b.txt\", \"type\":\"file\", "
                                         "\"mtime\":\""));
    ck_assert_ptr_nonnull(strstr(r.body, " GMT\", \"size\":20000 }"));
    ck_assert_ptr_nonnull(strstr(r.body, "{ \"name\":\"sub\", \"type\":\"directory\", "));
    ck_assert_ptr_nonnull(strstr(r.body, "\"name\":\"\xc3\xbcn\xc3\xaf c\xc3\xb6"
                                         "d\xc3\xa9.txt\""));
    ck_assert_ptr_null(strstr(r.body, "hidden"));
    ck_assert_ptr_null(strstr(r.body, "},\r\n]"));
    kp_h_resp_free(&r);

    get(&s, REQ("/p/?x=1&callback=my.cb_1"), &r, 200);
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "application/javascript");
    ck_assert_str_eq(r.body + strlen(r.body) - 3, "]);");
    ck_assert(strncmp(r.body, "/* callback */\r\nmy.cb_1([\r\n", 27) == 0);
    kp_h_resp_free(&r);
    /* No callback: plain json. */
    get(&s, REQ("/p/"), &r, 200);
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "application/json");
    ck_assert(r.body[0] == '[');
    kp_h_resp_free(&r);
    /* A callback that is not a name: 400, never reflected. */
    get(&s, REQ("/p/?callback=alert(1)"), &r, 400);
    ck_assert_ptr_null(strstr(r.body != NULL ? r.body : "", "alert"));
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(autoindex_index_and_redirect)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    get(&s, REQ("/withindex/"), &r, 200); /* the index file wins */
    ck_assert_str_eq(r.body, "the index\n");
    kp_h_resp_free(&r);
    get(&s, REQ("/off/"), &r, 403);
    kp_h_resp_free(&r);
    get(&s, REQ("/d?a=1"), &r, 301);
    char want[128];
    snprintf(want, sizeof(want), "http://x:%d/d/?a=1", s.port);
    ck_assert_str_eq(kp_h_header(&r, "Location"), want);
    kp_h_resp_free(&r);
    get(&s, REQ("/d/sub/"), &r, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "Index of /d/sub/"));
    kp_h_resp_free(&r);
    get(&s, REQ("/d/nothing/"), &r, 404);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* A directory larger than one sorting run (http/dirlist.h): every entry is
 * listed, directories first, then files, each in name order across runs,
 * and the body (sent from a temporary file) is whole. */
START_TEST(autoindex_large_directory)
{
    enum { FILES = 2 * KP_DIRLIST_RUN + 100, DIRS = 3 };
    struct kp_h_server s;
    struct kp_h_resp r;
    char dir[512];

    kp_h_prepare(&s);
    kp_h_write(&s, "html/many/f00000", "");
    path_of(&s, "html/many", dir, sizeof(dir));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(dfd, 0);
    /* Created in reverse so that directory order is not name order. */
    for (int i = FILES - 1; i > 0; i--) {
        char name[16];
        snprintf(name, sizeof(name), "f%05d", i);
        int fd = openat(dfd, name, O_WRONLY | O_CREAT, 0644);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    for (int i = 0; i < DIRS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "z%d", i);
        ck_assert_int_eq(mkdirat(dfd, name, 0755), 0);
    }
    close(dfd);
    kp_h_config(&s, "master_process off;",
                "access_log off; server { listen 127.0.0.1:@PORT@; root html; autoindex on; "
                "autoindex_format json; }");
    ck_assert_int_eq(kp_h_start(&s), 0);
    get(&s, REQ("/many/"), &r, 200);
    ck_assert_uint_eq(strtoul(kp_h_header(&r, "Content-Length"), NULL, 10), strlen(r.body));
    const char *p = r.body;
    for (int i = 0; i < DIRS + FILES; i++) {
        char want[32];
        if (i < DIRS)
            snprintf(want, sizeof(want), "\"name\":\"z%d\"", i);
        else
            snprintf(want, sizeof(want), "\"name\":\"f%05d\"", i - DIRS);
        const char *at = strstr(p, "\"name\"");
        ck_assert_msg(at != NULL && strncmp(at, want, strlen(want)) == 0, "entry %d: want %s", i,
                      want);
        p = at + 1;
    }
    ck_assert_ptr_null(strstr(p, "\"name\""));
    /* closed by "]" and nothing after it, as from nginx */
    size_t n = strlen(p);
    ck_assert_msg(n >= 5 && strcmp(p + n - 5, " }\r\n]") == 0, "the list is not closed");
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(autoindex_bad_format)
{
    kp_p_expect_refused("server { listen 127.0.0.1:@PORT@; autoindex_format yaml; }", "\"yaml\"");
}
END_TEST

Suite *kp_test_autoindex_suite(void)
{
    Suite *s = suite_create("autoindex");
    TCase *tc = tcase_create("autoindex");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, autoindex_html);
    tcase_add_test(tc, autoindex_xml_json);
    tcase_add_test(tc, autoindex_index_and_redirect);
    tcase_add_test(tc, autoindex_large_directory);
    tcase_add_test(tc, autoindex_bad_format);
    suite_add_tcase(s, tc);
    return s;
}
