/* limit_req, limit_conn and limit_rate against the real binary (issue 12
 * section 4), as nginx documents them: a burst then limit_req_status, the
 * order of a delayed request and an undelayed one, a zone shared by two
 * workers and kept across a reload, limit_conn with slow concurrent
 * responses (released when the client goes away), limit_rate delivering
 * whole bodies (plain, sendfile, TLS, `set $limit_rate`), and bad
 * configurations. Nothing here asserts a duration or a rate: the zones use
 * rates so slow (1r/m) that no refill can happen during a test, and order
 * is observed, never time. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"
#include "tlsutil.h"

#define GET(path) "GET " path " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

static int status_of(int port, const char *raw)
{
    struct kp_h_resp r;
    int st = kp_h_request(port, raw, &r) == 0 ? r.status : -1;

    kp_h_resp_free(&r);
    return st;
}

/* How many lines of the access log hold needle. */
static int log_count(const struct kp_h_server *s, const char *needle)
{
    char *log = kp_h_read(s, "logs/access.log");
    int n = 0;

    for (const char *p = log; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

/* The files the limited locations serve (a location with `return` would
 * answer in the rewrite phase, before any limit, as in nginx); the prefix
 * opened to the workers' user. */
static void files(struct kp_h_server *s)
{
    static const char *const names[] = {"a", "b", "free", "d", "dry", "index.html"};

    ck_assert_int_eq(chmod(s->prefix, 0755), 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[64];
        snprintf(path, sizeof(path), "html/%s", names[i]);
        kp_h_write(s, path, "ok");
    }
}

static void start_with_files(struct kp_h_server *s, const char *http)
{
    kp_h_prepare(s);
    files(s);
    kp_h_config(s, "", http);
    ck_assert_int_eq(kp_h_start(s), 0);
}

/* log_count once it reaches want (the line is written just after the
 * response leaves), or what it is after 5 s. */
static int logged(const struct kp_h_server *s, const char *needle, int want)
{
    int n = log_count(s, needle);

    for (int i = 0; i < 100 && n < want; i++) {
        kp_h_sleep_ms(50);
        n = log_count(s, needle);
    }
    return n;
}

/* --- limit_req -------------------------------------------------------------------- */

/* rate=1r/m burst=2 nodelay: the first request and the burst pass at once
 * (1 + 2), the next ones get limit_req_status, logged at error as nginx. */
START_TEST(burst_then_status)
{
    struct kp_h_server s;
    start_with_files(&s,
                     "limit_req_zone $binary_remote_addr zone=one:64k rate=1r/m;\n"
                     "limit_req_zone $binary_remote_addr zone=two:64k rate=1r/m;\n"
                     "log_format lr '$uri $status $limit_req_status';\n"
                     "server {\n listen 127.0.0.1:@PORT@;\n access_log logs/access.log lr;\n"
                     " location /a { limit_req zone=one burst=2 nodelay; }\n"
                     " location /b { limit_req zone=two burst=1 nodelay; limit_req_status 429;\n"
                     "   }\n"
                     " location /free { }\n"
                     "}\n");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(status_of(s.port, GET("/a")), 200);
    ck_assert_int_eq(status_of(s.port, GET("/a")), 503);
    ck_assert_int_eq(status_of(s.port, GET("/a")), 503);
    /* Another zone has its own bucket, and its own status. */
    ck_assert_int_eq(status_of(s.port, GET("/b")), 200);
    ck_assert_int_eq(status_of(s.port, GET("/b")), 200);
    ck_assert_int_eq(status_of(s.port, GET("/b")), 429);
    ck_assert_int_eq(status_of(s.port, GET("/free")), 200);
    /* The excess is about 3 and 2 (a few thousandths may have drained). */
    ck_assert(kp_p_log_wait(&s, "[error]", 5000));
    ck_assert(kp_p_log_wait(&s,
                            " by zone \"one\", client: 127.0.0.1, server: , request: "
                            "\"GET /a HTTP/1.1\"",
                            5000));
    ck_assert(kp_p_log_wait(&s, " by zone \"two\", client: 127.0.0.1", 5000));
    ck_assert(kp_p_log_wait(&s, "limiting requests, excess: ", 5000));
    ck_assert_int_eq(logged(&s, "/a 200 PASSED", 3), 3);
    ck_assert_int_eq(logged(&s, "/a 503 REJECTED", 2), 2);
    ck_assert_int_eq(logged(&s, "/b 429 REJECTED", 1), 1);
    ck_assert_int_eq(logged(&s, "/free 200 -", 1), 1);
    kp_h_stop(&s);
}
END_TEST

/* Two limit_req in one location: a request one of them rejects is charged
 * to neither (the other zone's next request still finds its burst room);
 * a key with literal text is a key like any other. */
START_TEST(two_rules_charge_together)
{
    struct kp_h_server s;
    start_with_files(&s, "limit_req_zone $binary_remote_addr zone=a:64k rate=1r/m;\n"
                         "limit_req_zone u$uri zone=b:64k rate=1r/m;\n"
                         "server {\n listen 127.0.0.1:@PORT@;\n"
                         " location /a { limit_req zone=a burst=3 nodelay;\n"
                         "   limit_req zone=b burst=1 nodelay; }\n"
                         " location /free { limit_req zone=a burst=3 nodelay; }\n"
                         "}\n");
    ck_assert_int_eq(status_of(s.port, GET("/a")), 200);
    ck_assert_int_eq(status_of(s.port, GET("/a")), 200);
    ck_assert_int_eq(status_of(s.port, GET("/a")), 503); /* b refuses: a is not charged */
    ck_assert_int_eq(status_of(s.port, GET("/a")), 503);
    ck_assert_int_eq(status_of(s.port, GET("/free")), 200); /* a's third */
    ck_assert_int_eq(status_of(s.port, GET("/free")), 200); /* a's fourth: 1 + burst */
    ck_assert_int_eq(status_of(s.port, GET("/free")), 503);
    ck_assert(kp_p_log_wait(&s, " by zone \"b\"", 5000));
    kp_h_stop(&s);
}
END_TEST

/* Without nodelay the burst waits: a delayed request is answered after a
 * request sent later to an unlimited location (the worker's loop is not
 * blocked meanwhile); dry runs count and log but neither delay nor reject. */
START_TEST(delay_order_and_dry_run)
{
    struct kp_h_server s;
    start_with_files(&s, "limit_req_zone $binary_remote_addr zone=one:64k rate=30r/m;\n"
                         "limit_req_zone $binary_remote_addr zone=dry:64k rate=1r/m;\n"
                         "log_format lr '$uri $status $limit_req_status';\n"
                         "server {\n listen 127.0.0.1:@PORT@;\n access_log logs/access.log lr;\n"
                         " location /d { limit_req zone=one burst=5; }\n"
                         " location /dry { limit_req zone=dry burst=1; limit_req_dry_run on;\n"
                         "   }\n"
                         " location /free { }\n"
                         "}\n");
    struct kp_h_resp r;
    ck_assert_int_eq(status_of(s.port, GET("/d")), 200);
    int slow = kp_h_connect(s.port);
    kp_h_send_str(slow, GET("/d"));
    /* Sent after the delayed one, answered before it. */
    ck_assert_int_eq(status_of(s.port, GET("/free")), 200);
    ck_assert_int_eq(log_count(&s, "/d 200 DELAYED"), 0);
    ck_assert_int_eq(kp_h_recv(slow, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    close(slow);
    ck_assert(kp_p_log_wait(&s, "[warn]", 5000));
    ck_assert(kp_p_log_wait(&s, "delaying request, excess: ", 5000));
    ck_assert(kp_p_log_wait(&s, ", by zone \"one\", client: 127.0.0.1", 5000));
    ck_assert_int_eq(logged(&s, "/d 200 PASSED", 1), 1);
    ck_assert_int_eq(logged(&s, "/d 200 DELAYED", 1), 1);
    /* A client that goes away while delayed ends its request (499). */
    int gone = kp_h_connect(s.port);
    kp_h_send_str(gone, GET("/d"));
    close(gone);
    ck_assert_int_eq(logged(&s, "/d 499 DELAYED", 1), 1);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(status_of(s.port, GET("/dry")), 200);
    ck_assert_int_eq(logged(&s, "/dry 200 DELAYED_DRY_RUN", 1), 1);
    ck_assert_int_eq(logged(&s, "/dry 200 REJECTED_DRY_RUN", 2), 2);
    ck_assert(kp_p_log_wait(&s, "limiting requests, dry run, excess: ", 5000));
    ck_assert(kp_p_log_wait(&s, " by zone \"dry\"", 5000));
    kp_h_stop(&s);
}
END_TEST

/* CPU ticks (user + system) pid has used. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    long utime = 0, stime = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15, counted after the ")" that ends the name. */
    const char *p = strrchr(buf, ')');
    ck_assert_int_eq(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime), 2);
    return utime + stime;
}

/* A delayed request that filled the header buffer exactly (so the last
 * read could not tell whether more was waiting) leaves the worker asleep
 * for the delay: it used to post itself a read event each loop turn and
 * spin on a peek. The bound is a resource count far from both outcomes
 * (a spinning worker burns every tick it is given; a sleeping one none). */
START_TEST(delay_does_not_spin)
{
    struct kp_h_server s;
    kp_h_prepare(&s);
    files(&s);
    /* One worker: the one whose ticks are counted holds the connection. */
    kp_h_config(&s, "worker_processes 1;",
                "limit_req_zone $binary_remote_addr zone=one:64k rate=1r/m;\n"
                "log_format lr '$uri $status $limit_req_status';\n"
                "server {\n listen 127.0.0.1:@PORT@;\n access_log logs/access.log lr;\n"
                " client_header_buffer_size 1k;\n"
                " location /d { limit_req zone=one burst=5; }\n"
                "}\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    pid_t worker;
    ck_assert(kp_p_wait_children(s.pid, 1, 10000));
    ck_assert_int_eq(kp_p_children(s.pid, &worker, 1), 1);
    ck_assert_int_eq(status_of(s.port, GET("/d")), 200);
    char req[1025];
    const char *start = "GET /d HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    size_t head = strlen(start), pad = 1024 - head - 4;
    memcpy(req, start, head);
    memset(req + head, 'p', pad);
    memcpy(req + head + pad, "\r\n\r\n", 5);
    ck_assert_uint_eq(strlen(req), 1024);
    int delayed = kp_h_connect(s.port);
    kp_h_send_str(delayed, req);
    ck_assert(kp_p_log_wait(&s, "delaying request", 5000));
    long before = cpu_ticks(worker);
    kp_h_sleep_ms(2000);
    long used = cpu_ticks(worker) - before;
    ck_assert_msg(used < 20, "the worker used %ld ticks in a 2 s delay", used);
    close(delayed);
    ck_assert_int_eq(logged(&s, "/d 499 DELAYED", 1), 1);
    kp_h_stop(&s);
}
END_TEST

/* Far more keys than a small zone holds: every request is still served
 * (the least recently used keys make room), and the zone says once that
 * it is full. */
START_TEST(full_zone_evicts_and_logs_once)
{
    struct kp_h_server s;
    start_with_files(&s, "limit_req_zone $arg_k zone=small:32k rate=1r/m;\n"
                         "server {\n listen 127.0.0.1:@PORT@;\n"
                         " location /a { limit_req zone=small burst=1 nodelay; }\n"
                         "}\n");
    int fd = kp_h_connect(s.port);
    for (int i = 0; i < 900; i++) { /* under keepalive_requests */
        char raw[128];
        struct kp_h_resp r;
        snprintf(raw, sizeof(raw), "GET /a?k=%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        kp_h_send_str(fd, raw);
        ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
        ck_assert_int_eq(r.status, 200);
        kp_h_resp_free(&r);
    }
    close(fd);
    ck_assert(kp_p_log_wait(&s, "could not allocate node in limit_req zone \"small\"", 5000));
    char *log = kp_h_read(&s, "logs/error.log");
    const char *first = strstr(log, "could not allocate node");
    ck_assert_ptr_null(strstr(first + 1, "could not allocate node"));
    ck_assert_ptr_nonnull(strstr(log, "[warn]"));
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* Two workers, each with its own reuseport socket: connections land on both,
 * and the zone limits their sum. */
START_TEST(two_workers_share_a_zone)
{
    struct kp_h_server s;
    kp_p_start(&s, "worker_processes 2;\n", NULL,
               "limit_req_zone $binary_remote_addr zone=one:64k rate=1r/m;\n"
               "log_format lr '$pid $status';\n"
               "server {\n listen 127.0.0.1:@PORT@ reuseport;\n access_log logs/access.log lr;\n"
               " location / { limit_req zone=one burst=3 nodelay; }\n"
               "}\n");
    ck_assert(kp_p_wait_children(s.pid, 2, 5000));
    files(&s);
    int ok = 0, refused = 0;
    for (int i = 0; i < 24; i++) {
        int st = status_of(s.port, GET("/"));
        ok += st == 200;
        refused += st == 503;
    }
    ck_assert_int_eq(ok, 4);
    ck_assert_int_eq(refused, 20);
    /* Both workers answered some of them. */
    char *log = kp_h_read(&s, "logs/access.log");
    ck_assert_ptr_nonnull(log);
    char first[32] = "";
    bool two = false;
    for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char pid[32];
        if (sscanf(line, "%31s", pid) != 1)
            continue;
        if (first[0] == '\0')
            snprintf(first, sizeof(first), "%s", pid);
        two |= strcmp(first, pid) != 0;
    }
    free(log);
    ck_assert_msg(two, "every connection went to one worker");
    kp_h_stop(&s);
}
END_TEST

static void write_reload_conf(const struct kp_h_server *s, const char *size)
{
    char http[1024];

    snprintf(http, sizeof(http),
             "limit_req_zone $binary_remote_addr zone=one:%s rate=1r/m;\n"
             "server {\n listen 127.0.0.1:@PORT@;\n"
             " location / { limit_req zone=one burst=1 nodelay; }\n"
             "}\n",
             size);
    kp_p_write_config(s, NULL, NULL, http);
}

static int reloads_seen(const struct kp_h_server *s)
{
    char *log = kp_h_read(s, "logs/error.log");
    int n = 0;

    for (const char *p = log; p != NULL && (p = strstr(p, "reload complete")) != NULL; p++)
        n++;
    free(log);
    return n;
}

static void reload_and_wait(struct kp_h_server *s)
{
    int before = reloads_seen(s);

    kill(s->pid, SIGHUP);
    for (int i = 0; i < 200 && reloads_seen(s) == before; i++)
        kp_h_sleep_ms(50);
    ck_assert_int_gt(reloads_seen(s), before);
}

/* A reload keeps a zone of the same name and size (its state goes on); a
 * new size is a new, empty zone, as in nginx. */
START_TEST(reload_keeps_state)
{
    struct kp_h_server s;
    kp_p_start(&s, "", NULL,
               "limit_req_zone $binary_remote_addr zone=one:64k rate=1r/m;\n"
               "server {\n listen 127.0.0.1:@PORT@;\n"
               " location / { limit_req zone=one burst=1 nodelay; }\n"
               "}\n");
    files(&s);
    ck_assert_int_eq(status_of(s.port, GET("/")), 200);
    ck_assert_int_eq(status_of(s.port, GET("/")), 200);
    ck_assert_int_eq(status_of(s.port, GET("/")), 503);
    write_reload_conf(&s, "64k");
    reload_and_wait(&s);
    struct kp_h_resp r;
    ck_assert_int_eq(kp_h_request(s.port, GET("/"), &r), 0);
    ck_assert_int_eq(r.status, 503); /* still limited by the old state */
    kp_h_resp_free(&r);
    write_reload_conf(&s, "128k");
    reload_and_wait(&s);
    ck_assert_int_eq(kp_h_request(s.port, GET("/"), &r), 0);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* --- limit_conn --------------------------------------------------------------------- */

/* A body sent at 1 KiB/s keeps its request in progress: a second one from
 * the same address is refused while it lasts, and admitted again once the
 * first client went away (its count released on the abort). */
START_TEST(conn_limit_and_release)
{
    struct kp_h_server s;
    kp_h_prepare(&s);
    ck_assert_int_eq(chmod(s.prefix, 0755), 0);
    char *big = malloc(256 * 1024 + 1);
    memset(big, 'x', 256 * 1024);
    big[256 * 1024] = '\0';
    kp_h_write(&s, "html/big.txt", big);
    free(big);
    kp_h_write(&s, "html/small.txt", "small\n");
    kp_h_config(&s, "",
                "limit_conn_zone $binary_remote_addr zone=addr:64k;\n"
                "log_format lc '$uri $status $limit_conn_status';\n"
                "server {\n listen 127.0.0.1:@PORT@;\n access_log logs/access.log lc;\n"
                " limit_conn addr 1;\n limit_rate 1k;\n"
                " location /dry/ { limit_conn_dry_run on; alias html/; }\n"
                " location /other/ { limit_conn_status 429; alias html/; }\n"
                "}\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    int slow = kp_h_connect(s.port);
    kp_h_send_str(slow, GET("/big.txt"));
    /* Its head arrives once the request is counted. */
    char head[64];
    ck_assert_int_gt(read(slow, head, sizeof(head)), 0);
    ck_assert_int_eq(status_of(s.port, GET("/small.txt")), 503);
    ck_assert_int_eq(status_of(s.port, GET("/other/small.txt")), 429);
    ck_assert_int_eq(status_of(s.port, GET("/dry/small.txt")), 200);
    ck_assert(kp_p_log_wait(&s, "limiting connections by zone \"addr\"", 5000));
    ck_assert(kp_p_log_wait(&s, "limiting connections, dry run, by zone \"addr\"", 5000));
    close(slow);
    int st = 503;
    for (int i = 0; i < 200 && st == 503; i++) {
        kp_h_sleep_ms(50);
        st = status_of(s.port, GET("/small.txt"));
    }
    ck_assert_int_eq(st, 200);
    ck_assert_int_ge(logged(&s, "/small.txt 503 REJECTED", 1), 1);
    ck_assert_int_eq(logged(&s, "/other/small.txt 429 REJECTED", 1), 1);
    ck_assert_int_eq(logged(&s, "/dry/small.txt 200 REJECTED_DRY_RUN", 1), 1);
    ck_assert_int_eq(logged(&s, "/small.txt 200 PASSED", 1), 1);
    kp_h_stop(&s);
}
END_TEST

/* A request limit_req delays still meets limit_conn when its delay is
 * over (the preaccess phase goes on where it stopped). */
START_TEST(conn_after_delay)
{
    struct kp_h_server s;
    kp_h_prepare(&s);
    ck_assert_int_eq(chmod(s.prefix, 0755), 0);
    char *big = malloc(256 * 1024 + 1);
    memset(big, 'x', 256 * 1024);
    big[256 * 1024] = '\0';
    kp_h_write(&s, "html/big.txt", big);
    free(big);
    kp_h_config(&s, "",
                "limit_req_zone $binary_remote_addr zone=one:64k rate=30r/m;\n"
                "limit_conn_zone $binary_remote_addr zone=addr:64k;\n"
                "log_format lc '$uri $status $limit_req_status $limit_conn_status';\n"
                "server {\n listen 127.0.0.1:@PORT@;\n access_log logs/access.log lc;\n"
                " location / { limit_req zone=one burst=5; limit_conn addr 1; limit_rate 1k; }\n"
                "}\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    int slow = kp_h_connect(s.port);
    kp_h_send_str(slow, GET("/big.txt"));
    char head[64];
    ck_assert_int_gt(read(slow, head, sizeof(head)), 0);
    ck_assert_int_eq(status_of(s.port, GET("/big.txt")), 503);
    close(slow);
    ck_assert_int_eq(logged(&s, "/big.txt 503 DELAYED REJECTED", 1), 1);
    kp_h_stop(&s);
}
END_TEST

/* --- limit_rate ---------------------------------------------------------------------- */

static char *pattern(size_t n)
{
    char *p = malloc(n + 1);

    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i * 7 + i / 251) % 26);
    p[n] = '\0';
    return p;
}

static void body_is(int port, const char *path, const char *want, size_t len)
{
    char raw[256];
    struct kp_h_resp r;

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    ck_assert_int_eq(kp_h_request(port, raw, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, len);
    ck_assert(memcmp(r.body, want, len) == 0);
    kp_h_resp_free(&r);
}

/* Throttled bodies arrive whole and byte for byte: read into memory, with
 * sendfile, after limit_rate_after, with the rate from `set $limit_rate`
 * and from a variable; $limit_rate shows the rate. */
START_TEST(rate_whole_bodies)
{
    struct kp_h_server s;
    const size_t len = 96 * 1024;
    char *body = pattern(len);
    kp_h_prepare(&s);
    ck_assert_int_eq(chmod(s.prefix, 0755), 0);
    kp_h_write(&s, "html/f.txt", body);
    kp_h_config(&s, "",
                "log_format lr '$uri $status $limit_rate';\n"
                "map $arg_r $rate { default 64k; slow 32k; }\n"
                "map $arg_r $after { default 10k; }\n"
                "server {\n listen 127.0.0.1:@PORT@;\n access_log logs/access.log lr;\n"
                " location /plain/ { limit_rate 64k; alias html/; }\n"
                " location /sf/ { sendfile on; limit_rate 64k; limit_rate_after $after;\n"
                "   alias html/; }\n"
                " location /set/ { set $limit_rate 48k; alias html/; }\n"
                " location /var/ { limit_rate $rate; alias html/; }\n"
                "}\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    body_is(s.port, "/plain/f.txt", body, len);
    body_is(s.port, "/sf/f.txt", body, len);
    body_is(s.port, "/set/f.txt", body, len);
    body_is(s.port, "/var/f.txt?r=slow", body, len);
    ck_assert_int_eq(logged(&s, "/plain/f.txt 200 65536", 1), 1);
    ck_assert_int_eq(logged(&s, "/set/f.txt 200 49152", 1), 1);
    ck_assert_int_eq(logged(&s, "/var/f.txt 200 32768", 1), 1);
    free(body);
    kp_h_stop(&s);
}
END_TEST

/* Under TLS the throttled body is encrypted piece by piece, and arrives
 * whole. */
START_TEST(rate_over_tls)
{
    struct kp_h_server s;
    const size_t len = 80 * 1024;
    char *body = pattern(len), *out = NULL;
    kp_h_prepare(&s);
    ck_assert_int_eq(chmod(s.prefix, 0755), 0);
    kp_t_make_cert(&s, "site", "ec", "localhost");
    kp_h_write(&s, "html/f.txt", body);
    kp_h_config(&s, "",
                "server {\n listen 127.0.0.1:@PORT@ ssl;\n"
                " ssl_certificate site.crt;\n ssl_certificate_key site.key;\n"
                " location / { limit_rate 40k; }\n"
                "}\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    int rc = kp_t_sh(&out, "curl -sk https://127.0.0.1:%d/f.txt | cmp - %shtml/f.txt && echo same",
                     s.port, s.prefix);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(out, "same"));
    free(out);
    free(body);
    kp_h_stop(&s);
}
END_TEST

/* --- configuration -------------------------------------------------------------------- */

struct bad_conf {
    const char *http;
    const char *error;
};

static const struct bad_conf bad[] = {
    {"server { location / { limit_req zone=nope; } }", "zero size shared memory zone \"nope\""},
    {"limit_req_zone $binary_remote_addr zone=one:64k rate=1r/s sync;",
     "the \"sync\" parameter of \"limit_req_zone\" is not supported"},
    {"limit_req_zone $binary_remote_addr zone=one:64k rate=1r/h;", "invalid rate \"rate=1r/h\""},
    {"limit_req_zone $binary_remote_addr zone=one:1k;", "zone \"one\" is too small"},
    {"limit_req_zone $binary_remote_addr rate=1r/s;",
     "\"limit_req_zone\" must have \"zone\" parameter"},
    {"limit_req_zone $binary_remote_addr zone=one:64k;\n"
     "limit_req_zone $uri zone=one:64k;",
     "limit_req_zone \"one\" is already bound to key \"$binary_remote_addr\""},
    {"limit_req_zone $binary_remote_addr zone=one:64k;\n"
     "limit_conn_zone $binary_remote_addr zone=one:64k;",
     "is already declared for a different use"},
    {"limit_req_zone $binary_remote_addr zone=one:64k;\n"
     "server { location / { limit_req zone=one; limit_req zone=one burst=2; } }",
     "\"limit_req\" directive is duplicate"},
    {"server { limit_req_status 302; }", "value must be between 400 and 599"},
    {"server { limit_conn_log_level crit; }", "invalid value \"crit\""},
    {"limit_conn_zone $binary_remote_addr zone=c:64k;\nserver { limit_conn c 0; }",
     "invalid number of connections \"0\""},
    {"server { limit_rate fast; }", "invalid value \"fast\""},
    {"server { limit_rate_after lots; }", "invalid value \"lots\""},
    {"server { location / { limit_req zone=; } }", "invalid parameter \"zone=\""},
};

START_TEST(bad_configs)
{
    const struct bad_conf *b = &bad[_i];
    struct kp_h_server s;
    char conf[256], *out, *err;

    kp_h_prepare(&s);
    kp_h_config(&s, "", b->http);
    snprintf(conf, sizeof(conf), "%sconf/kelpie.conf", s.prefix);
    char *argv[] = {(char *)kp_h_binary(), "-p", s.prefix, "-c", conf, "-t", NULL};
    int rc = kp_h_run(argv, &out, &err);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(err, b->error) != NULL, "expected \"%s\", got: %s", b->error, err);
    ck_assert_ptr_nonnull(strstr(err, "[emerg]"));
    free(out);
    free(err);
    s.alerts_expected = true;
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_limit_suite(void)
{
    Suite *s = suite_create("limit");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, burst_then_status);
    tcase_add_test(tc, two_rules_charge_together);
    tcase_add_test(tc, delay_order_and_dry_run);
    tcase_add_test(tc, delay_does_not_spin);
    tcase_add_test(tc, full_zone_evicts_and_logs_once);
    tcase_add_test(tc, two_workers_share_a_zone);
    tcase_add_test(tc, reload_keeps_state);
    tcase_add_test(tc, conn_limit_and_release);
    tcase_add_test(tc, conn_after_delay);
    tcase_add_test(tc, rate_whole_bodies);
    tcase_add_test(tc, rate_over_tls);
    tcase_add_loop_test(tc, bad_configs, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    suite_add_tcase(s, tc);
    return s;
}
