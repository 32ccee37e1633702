/* The nginx configuration corpus (tests/integ/corpus/NN-name.conf, see the
 * README there): each snippet is loaded as the http block of a fresh server,
 * its requests are sent one connection each, and every answer is checked
 * against the status, fields and body the snippet expects, which were
 * recorded from nginx 1.22 serving the same snippet.
 *
 * The same runner drives nginx itself (tools/nginx-diff sets
 * KP_TEST_BINARY=/usr/sbin/nginx), so the expectations stay nginx's: the
 * prefix is made world-readable for nginx's unprivileged workers and holds
 * conf/mime.types (Debian's) for `include mime.types;`.
 *
 * KP_CORPUS=TEXT runs only the snippets whose file name contains TEXT;
 * KP_CORPUS_SHOW=1 prints every answer (head and body) to stderr. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tlsutil.h"

#define CORPUS_DIR   "tests/integ/corpus"
#define MIME_TYPES   "tests/integ/data/debian-nginx/mime.types"
#define MAX_SNIPPETS 256

/* The snippet files, found once when the suite is built. */
static char *snippets[MAX_SNIPPETS];
static int n_snippets;

/* One snippet being run: its server, the request being built (from `#>`
 * lines), its answer once sent, and every mismatch found so far. */
struct run {
    const char *name;
    struct kp_h_server s;
    char req[8192];
    size_t req_len;
    bool have_resp;
    struct kp_h_resp resp;
    char errors[16384];
    size_t err_len;
    int requests;
};

static char *slurp(const char *path)
{
    char *text = kp_h_slurp(path);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    return text;
}

/* text with \n, \r, \t and \\ turned into the bytes they name (in place). */
static char *unescape(char *text)
{
    char *out = text;
    for (const char *p = text; *p; p++) {
        if (*p != '\\' || p[1] == '\0') {
            *out++ = *p;
            continue;
        }
        p++;
        *out++ = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p;
    }
    *out = '\0';
    return text;
}

static void mismatch(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mismatch(struct run *r, const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = strlen(line);
    if (r->err_len + len + 2 < sizeof(r->errors)) {
        memcpy(r->errors + r->err_len, line, len);
        r->err_len += len;
        r->errors[r->err_len++] = '\n';
        r->errors[r->err_len] = '\0';
    }
}

/* The first line of the request in hand, for messages. */
static const char *request_line(const struct run *r, char *buf, size_t size)
{
    size_t n = strcspn(r->req, "\r\n");
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), r->req);
    return buf;
}

static void show(const struct run *r)
{
    if (getenv("KP_CORPUS_SHOW") == NULL)
        return;
    fprintf(stderr, "=== %s: %.*s\n%s%s%s\n", r->name, (int)strcspn(r->req, "\r\n"), r->req,
            r->resp.head, r->resp.body ? r->resp.body : "", r->resp.closed ? "[closed]" : "");
}

/* Send the request built so far (a Host field is added to an HTTP/1.1
 * request without one) and keep its answer. */
static void send_request(struct run *r)
{
    char buf[256];

    if (r->have_resp || r->req_len == 0)
        return;
    bool has_host = strcasestr(r->req, "\r\nHost:") != NULL;
    bool http11 = strstr(r->req, " HTTP/1.1\r\n") != NULL;
    snprintf(r->req + r->req_len, sizeof(r->req) - r->req_len, "%s\r\n",
             has_host || !http11 ? "" : "Host: localhost\r\n");
    memset(&r->resp, 0, sizeof(r->resp));
    int rc = kp_h_request(r->s.port, r->req, &r->resp);
    r->have_resp = true;
    r->requests++;
    if (rc != 0 && r->resp.head_len == 0)
        r->resp.closed = true;
    else if (rc != 0)
        mismatch(r, "%s: incomplete answer", request_line(r, buf, sizeof(buf)));
    show(r);
}

static void add_request_line(struct run *r, const char *text)
{
    if (r->have_resp) {
        kp_h_resp_free(&r->resp);
        r->have_resp = false;
        r->req_len = 0;
    }
    int n = snprintf(r->req + r->req_len, sizeof(r->req) - r->req_len, "%s\r\n", text);
    ck_assert(n > 0 && (size_t)n < sizeof(r->req) - r->req_len);
    r->req_len += (size_t)n;
}

static void expect_status(struct run *r, const char *want, const char *req)
{
    char got[32];

    if (strcmp(want, "closed") == 0) {
        if (!r->resp.closed || r->resp.head_len != 0)
            mismatch(r, "%s: expected the connection closed without an answer, got %s", req,
                     r->resp.head);
        return;
    }
    snprintf(got, sizeof(got), "%d", r->resp.status);
    if (strcmp(got, want) != 0)
        mismatch(r, "%s: status %s", req, got);
}

static void expect_body(struct run *r, const char *want, bool exact, const char *req)
{
    const char *body = r->resp.body ? r->resp.body : "";
    char msg[4096];

    if (exact ? strcmp(body, want) == 0 : strstr(body, want) != NULL)
        return;
    snprintf(msg, sizeof(msg), "%s: body %s \"%s\", got \"%.1500s\"", req,
             exact ? "is not" : "does not contain", want, body);
    mismatch(r, "%s", msg);
}

/* `Name: value` (exact), `Name~ text` (contains), `-Name` (absent). */
static void expect_header(struct run *r, char *line, const char *req)
{
    char msg[1024];
    bool absent = line[0] == '-';
    size_t nlen = strcspn(line, ":~");
    char kind = line[nlen];

    line[nlen] = '\0';
    const char *name = absent ? line + 1 : line;
    const char *want = kind ? line + nlen + 1 + (line[nlen + 1] == ' ') : "";
    const char *got = kp_h_header(&r->resp, name);
    if (absent) {
        if (got != NULL)
            mismatch(r, "%s: unexpected field %s", req, name);
        return;
    }
    snprintf(msg, sizeof(msg), "%s: field %s", req, name);
    if (got == NULL)
        mismatch(r, "%s missing (want \"%s\")", msg, want);
    else if (kind == ':' ? strcmp(got, want) != 0 : strstr(got, want) == NULL)
        mismatch(r, "%s is \"%s\"", msg, got);
}

static void expect(struct run *r, char *line)
{
    char req[256];

    send_request(r);
    request_line(r, req, sizeof(req));
    if (strncmp(line, "body: ", 6) == 0 || strcmp(line, "body:") == 0)
        expect_body(r, unescape(line + 5 + (line[5] == ' ')), true, req);
    else if (strncmp(line, "body~ ", 6) == 0)
        expect_body(r, unescape(line + 6), false, req);
    else if (strspn(line, "0123456789") == 3 || strcmp(line, "closed") == 0)
        expect_status(r, line, req);
    else
        expect_header(r, line, req);
}

/* `#! file PATH [TEXT]`, `#! mtime PATH SECONDS`, `#! dir PATH`,
 * `#! link PATH TARGET`, `#! cert NAME CN` (conf/NAME.crt and conf/NAME.key,
 * self-signed for CN), `#! main TEXT` (the main-context
 * text is collected into main). */
static void setup(struct run *r, char *line, char *main_text, size_t main_size)
{
    char *verb = strtok(line, " "), *path = strtok(NULL, " "), *rest = strtok(NULL, "");
    char full[512];

    ck_assert_msg(verb != NULL && path != NULL, "%s: bad #! line", r->name);
    snprintf(full, sizeof(full), "%s%s", r->s.prefix, path);
    if (strcmp(verb, "main") == 0) {
        size_t n = strlen(main_text);
        snprintf(main_text + n, main_size - n, "%s%s%s\n", path, rest ? " " : "",
                 rest ? unescape(rest) : "");
    } else if (strcmp(verb, "file") == 0) {
        kp_h_write(&r->s, path, rest ? unescape(rest) : "");
    } else if (strcmp(verb, "mtime") == 0) {
        struct timespec ts[2] = {{atol(rest), 0}, {atol(rest), 0}};
        ck_assert_int_eq(utimensat(AT_FDCWD, full, ts, 0), 0);
    } else if (strcmp(verb, "dir") == 0) {
        ck_assert_int_eq(mkdir(full, 0755), 0);
    } else if (strcmp(verb, "link") == 0) {
        ck_assert_int_eq(symlink(rest, full), 0);
    } else if (strcmp(verb, "cert") == 0) {
        kp_t_make_cert(&r->s, path, "ec", rest);
    } else {
        ck_abort_msg("%s: unknown #! %s", r->name, verb);
    }
}

/* Set the snippet's files up and collect its main-context text. */
static void prepare(struct run *r, char *text, char *main_text, size_t main_size)
{
    char *copy = strdup(text), *save = NULL;

    kp_h_prepare(&r->s);
    /* nginx's workers run as nobody and must reach the files. */
    ck_assert_int_eq(chmod(r->s.prefix, 0755), 0);
    char *mime = slurp(MIME_TYPES);
    kp_h_write(&r->s, "conf/mime.types", mime);
    free(mime);
    main_text[0] = '\0';
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "#! ", 3) == 0)
            setup(r, line + 3, main_text, main_size);
    free(copy);
}

/* line with @PORT@ and @PORT2@ replaced by the server's ports. */
static char *with_ports(const struct run *r, const char *line, char *out, size_t size)
{
    size_t n = 0;

    for (const char *p = line; *p && n + 8 < size;) {
        bool two = strncmp(p, "@PORT2@", 7) == 0;
        if (two || strncmp(p, "@PORT@", 6) == 0) {
            n += (size_t)snprintf(out + n, size - n, "%d", two ? r->s.port2 : r->s.port);
            p += two ? 7 : 6;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

START_TEST(snippet)
{
    struct run *r = calloc(1, sizeof(*r));
    char path[512], main_text[2048], line_buf[4096], *save = NULL;

    r->name = snippets[_i];
    snprintf(path, sizeof(path), CORPUS_DIR "/%s", r->name);
    char *text = slurp(path);
    prepare(r, text, main_text, sizeof(main_text));
    kp_h_config(&r->s, main_text, text);
    ck_assert_msg(kp_h_start(&r->s) == 0, "%s: the server did not start", r->name);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "#> ", 3) == 0)
            add_request_line(r, with_ports(r, line + 3, line_buf, sizeof(line_buf)));
        else if (strncmp(line, "#< ", 3) == 0)
            expect(r, with_ports(r, line + 3, line_buf, sizeof(line_buf)));
    }
    if (r->have_resp)
        kp_h_resp_free(&r->resp);
    ck_assert_int_eq(kp_h_stop(&r->s), 0);
    ck_assert_msg(r->requests > 0, "%s: no requests", r->name);
    ck_assert_msg(r->err_len == 0, "%s:\n%s", r->name, r->errors);
    free(text);
    free(r);
}
END_TEST

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void find_snippets(void)
{
    const char *only = getenv("KP_CORPUS");
    DIR *d = opendir(CORPUS_DIR);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL && n_snippets < MAX_SNIPPETS) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".conf") == 0 &&
            (only == NULL || strstr(e->d_name, only) != NULL))
            snippets[n_snippets++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(snippets, (size_t)n_snippets, sizeof(snippets[0]), by_name);
}

Suite *kp_test_corpus_suite(void)
{
    Suite *s = suite_create("corpus");
    TCase *tc = tcase_create("corpus");

    find_snippets();
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, snippet, 0, n_snippets);
    suite_add_tcase(s, tc);
    return s;
}
