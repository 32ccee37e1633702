/* The status endpoint against the real binary with a master and two
 * workers: after a known number of requests the counters add up per worker
 * and in total (the status request counting itself), the JSON parses (with
 * the test's validator, and python3 -m json.tool when there is one), the
 * Prometheus text follows the exposition grammar and agrees with the JSON,
 * ?format=stub has nginx's layout, the methods and formats it refuses, and
 * an old-generation worker listed as draining during a reload. */
#include <arpa/inet.h>
#include <check.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "format_check.h"
#include "harness.h"
#include "proc.h"
#include "stub.h"

#define N_REQUESTS    24
#define MAX_KIDS      8
#define REQ_ROOT      "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
#define REQ_STATUS(q) "GET /status" q " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

static const char *HTTP = "client_header_timeout 60s;\n"
                          "server {\n"
                          "    listen 127.0.0.1:@PORT@;\n"
                          "    location / { return 200 \"ok\\n\"; }\n"
                          "    location = /status { status; allow 127.0.0.1; deny all; }\n"
                          "    location = /conns { return 200 \"$connections_active "
                          "$connections_reading $connections_writing $connections_waiting\"; }\n"
                          "}\n";

static void start(struct kp_h_server *s)
{
    kp_p_start(s, "worker_processes 2;\n", NULL, HTTP);
    ck_assert_msg(kp_p_wait_children(s->pid, 2, 5000), "2 workers did not start");
}

/* One status request on a new connection; the response is in *r (freed by
 * the caller). */
static void fetch(const struct kp_h_server *s, const char *raw, struct kp_h_resp *r)
{
    ck_assert_int_eq(kp_h_request(s->port, raw, r), 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_nonnull(r->body);
}

/* The number after "key": at or after from, within [from, end). */
static uint64_t num(const char *from, const char *end, const char *key)
{
    char pat[64];

    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(from, pat);
    ck_assert_msg(p != NULL && (end == NULL || p < end), "no %s in %.200s", key, from);
    return strtoull(p + strlen(pat), NULL, 10);
}

/* The worker objects of a JSON status: start of each, in order. */
static int workers(const char *json, const char **objs, int max)
{
    const char *p = strstr(json, "\"workers\":[");
    int n = 0;

    ck_assert_ptr_nonnull(p);
    for (p = strstr(p, "{\"slot\":"); p != NULL && n < max; p = strstr(p + 1, "{\"slot\":"))
        objs[n++] = p;
    return n;
}

/* How many worker objects of a JSON status say "ready". */
static int n_ready(const char *json)
{
    int n = 0;

    for (const char *p = strstr(json, "\"state\":\"ready\""); p != NULL;
         p = strstr(p + 1, "\"state\":\"ready\""))
        n++;
    return n;
}

/* With python3 present, json.tool must accept text as well. */
static void python_json(const struct kp_h_server *s, const char *text)
{
    static const char *const pythons[] = {"/usr/bin/python3", "/usr/local/bin/python3"};
    char path[256], *out = NULL, *err = NULL;

    for (size_t i = 0; i < sizeof(pythons) / sizeof(pythons[0]); i++) {
        if (access(pythons[i], X_OK) != 0)
            continue;
        kp_h_write(s, "status.json", text);
        snprintf(path, sizeof(path), "%sstatus.json", s->prefix);
        char *argv[] = {(char *)pythons[i], "-m", "json.tool", path, NULL};
        int rc = kp_h_run(argv, &out, &err);
        ck_assert_msg(rc == 0, "json.tool: %s", err);
        free(out);
        free(err);
        return;
    }
}

/* Connections without a request before the test's own (the harness's
 * probe that the port is open), per worker pid and in all, taken from the
 * first status: from then on each connection carries one request. */
struct base {
    pid_t pids[MAX_KIDS];
    uint64_t idle[MAX_KIDS];
    int n;
    uint64_t total;
};

static void take_base(const char *json, struct base *b)
{
    const char *objs[MAX_KIDS];
    const char *t = strstr(json, "\"totals\":{");

    ck_assert_ptr_nonnull(t);
    b->total = num(t, NULL, "handled") - num(t, NULL, "requests");
    b->n = workers(json, objs, MAX_KIDS);
    for (int i = 0; i < b->n; i++) {
        const char *end = i + 1 < b->n ? objs[i + 1] : NULL;
        b->pids[i] = (pid_t)num(objs[i], end, "pid");
        b->idle[i] = num(objs[i], end, "handled") - num(objs[i], end, "requests");
    }
}

static uint64_t base_of(const struct base *b, pid_t pid)
{
    for (int i = 0; i < b->n; i++) {
        if (b->pids[i] == pid)
            return b->idle[i];
    }
    ck_abort_msg("worker %d appeared after the first status", (int)pid);
    return 0;
}

/* The totals and the per-worker objects of one JSON status, checked
 * against k status requests and N_REQUESTS plain ones, each on its own
 * connection. Returns true when the responses (counted just after each is
 * written) have all been counted; the other checks hold at once. */
static bool check_counts(const char *json, int k, const struct base *b)
{
    const char *t = strstr(json, "\"totals\":{");
    const char *objs[MAX_KIDS];
    uint64_t sum_req = 0, sum_2xx = 0, serving = 0;

    ck_assert_ptr_nonnull(t);
    /* Heads and connections are counted before the status is rendered. */
    ck_assert_uint_eq(num(t, NULL, "requests"), N_REQUESTS + k);
    ck_assert_uint_eq(num(t, NULL, "handled"), N_REQUESTS + k + b->total);
    ck_assert_uint_eq(num(t, NULL, "accepted"), num(t, NULL, "handled"));
    ck_assert_uint_eq(num(t, NULL, "bytes_in"),
                      N_REQUESTS * strlen(REQ_ROOT) + (uint64_t)k * strlen(REQ_STATUS("")));
    int n = workers(json, objs, MAX_KIDS);
    ck_assert_int_eq(n, b->n);
    for (int i = 0; i < n; i++) {
        const char *end = i + 1 < n ? objs[i + 1] : NULL;
        pid_t pid = (pid_t)num(objs[i], end, "pid");
        ck_assert_ptr_nonnull(strstr(objs[i], "\"generation\":1,\"state\":\"ready\""));
        uint64_t req = num(objs[i], end, "requests"), ok = num(objs[i], end, "2xx");
        ck_assert_uint_eq(num(objs[i], end, "handled"), req + base_of(b, pid));
        ck_assert_uint_eq(num(objs[i], end, "accepted"), num(objs[i], end, "handled"));
        ck_assert_uint_eq(num(objs[i], end, "4xx") + num(objs[i], end, "5xx"), 0);
        ck_assert_uint_le(ok, req);
        serving += req - ok;
        sum_req += req;
        sum_2xx += ok;
    }
    ck_assert_uint_eq(sum_req, N_REQUESTS + k);
    ck_assert_uint_eq(sum_2xx, num(t, NULL, "2xx"));
    /* Only this status response is unanswered once the others are counted. */
    return sum_2xx == (uint64_t)(N_REQUESTS + k - 1) && serving == 1;
}

/* The sum of one Prometheus counter over its samples. */
static uint64_t prom_sum(const char *text, const char *name)
{
    uint64_t sum = 0;
    size_t len = strlen(name);

    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, name, len) == 0 && p[len] == '{')
            sum += strtoull(strchr(p, '}') + 2, NULL, 10);
    }
    return sum;
}

START_TEST(counters_add_up)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    pid_t kids[MAX_KIDS];
    struct base b;
    bool done = false;
    int k = 0;

    start(&s);
    int n_kids = kp_p_children(s.pid, kids, MAX_KIDS);
    /* The baseline: the first status that lists every child of the master
     * (the master writes a worker's pid into its slot just after the fork,
     * so a worker may serve before its sibling's pid is there). */
    bool all = false;
    for (int tries = 0; tries < 100 && !all; tries++) {
        fetch(&s, REQ_STATUS(""), &r);
        k++;
        take_base(r.body, &b);
        /* Ready too: a sibling still starting on a busy machine would show
         * "starting" in the checks below. */
        all = b.n == n_kids && n_ready(r.body) == n_kids;
        kp_h_resp_free(&r);
        for (int i = 0; i < b.n; i++) {
            bool known = false;
            for (int j = 0; j < n_kids; j++)
                known |= kids[j] == b.pids[i];
            all &= known;
        }
        if (!all)
            kp_h_sleep_ms(20);
    }
    ck_assert_msg(all, "the status never listed the master's %d children", n_kids);
    for (int i = 0; i < N_REQUESTS; i++) {
        ck_assert_int_eq(kp_h_request(s.port, REQ_ROOT, &r), 0);
        ck_assert_int_eq(r.status, 200);
        kp_h_resp_free(&r);
    }
    while (!done && k < 100) {
        fetch(&s, REQ_STATUS(""), &r);
        k++;
        ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "application/json");
        ck_assert_msg(kp_json_valid(r.body, r.body_len), "invalid JSON: %s", r.body);
        ck_assert_uint_eq(num(r.body, NULL, "pid"), (uint64_t)s.pid);
        done = check_counts(r.body, k, &b);
        if (done)
            python_json(&s, r.body);
        kp_h_resp_free(&r);
        if (!done)
            kp_h_sleep_ms(20);
    }
    ck_assert_msg(done, "the responses were never all counted");

    /* The same numbers in the Prometheus text, one status request later. */
    char err[256];
    fetch(&s, REQ_STATUS("?format=prometheus"), &r);
    k++;
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_msg(kp_prom_check(r.body, r.body_len, err, sizeof(err)) > 0, "%s", err);
    ck_assert_uint_eq(prom_sum(r.body, "kelpie_requests_total"), N_REQUESTS + k);
    ck_assert_uint_eq(prom_sum(r.body, "kelpie_connections_handled_total"),
                      N_REQUESTS + k + b.total);
    ck_assert_int_eq(kp_p_count_lines(r.body, "kelpie_worker_state{"), n_kids);
    ck_assert_int_eq(kp_p_count_lines(r.body, ",state=\"ready\"} 1"), n_kids);
    kp_h_resp_free(&r);

    /* stub_status: nginx's lines, numbers where nginx puts them. */
    struct kp_stub st;
    fetch(&s, REQ_STATUS("?format=stub"), &r);
    k++;
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/plain");
    kp_stub_parse(r.body, &st);
    ck_assert_int_eq(st.requests, N_REQUESTS + k);
    ck_assert_int_eq(st.handled, N_REQUESTS + k + (long long)b.total);
    ck_assert_int_eq(st.accepts, st.handled);
    /* This request is open and being answered: counted, as by nginx. */
    ck_assert_int_ge(st.active, 1);
    ck_assert_int_ge(st.writing, 1);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(methods_and_formats)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    /* stub_status's variables: this connection is open and being written. */
    long long active = -1, reading = -1, writing = -1, waiting = -1;
    fetch(&s, "GET /conns HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert_int_eq(sscanf(r.body, "%lld %lld %lld %lld", &active, &reading, &writing, &waiting),
                     4);
    ck_assert_msg(active >= 1 && writing >= 1 && reading >= 0 && waiting >= 0, "%s", r.body);
    kp_h_resp_free(&r);
    ck_assert_int_eq(
        kp_h_request(s.port, "POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r),
        0);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(kp_h_header(&r, "Allow"), "GET, HEAD");
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port, REQ_STATUS("?format=xml"), &r), 0);
    ck_assert_int_eq(r.status, 400);
    kp_h_resp_free(&r);

    /* HEAD: the JSON's headers, no body. */
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, "HEAD /status HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, true), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "application/json");
    ck_assert_int_gt(atoi(kp_h_header(&r, "Content-Length")), 0);
    kp_h_resp_free(&r);
    /* The same connection stays usable (keep-alive, nothing left over). */
    kp_h_send_str(fd, "GET /status?format=stub HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "server accepts handled requests\n"));
    kp_h_resp_free(&r);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

static int local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* Whether the JSON lists pid as a draining generation-1 worker, and a
 * generation-2 worker as ready. */
static bool lists_draining(const char *json, pid_t pid)
{
    char want[96];

    snprintf(want, sizeof(want), "\"pid\":%d,\"generation\":1,\"state\":\"draining\"", (int)pid);
    return strstr(json, want) != NULL &&
           strstr(json, "\"generation\":2,\"state\":\"ready\"") != NULL &&
           strstr(json, "\"master\":{\"pid\":") != NULL;
}

/* A connection in the middle of its request head keeps its old worker
 * draining after a reload (for client_header_timeout, 60 s here, far longer
 * than a reload takes on a busy machine): the status page must list that
 * worker with its generation and state. */
START_TEST(draining_worker_listed)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    pid_t kids[MAX_KIDS], owner = 0;
    bool seen = false;

    start(&s);
    int n_kids = kp_p_children(s.pid, kids, MAX_KIDS);
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 250 && owner == 0; i++) {
        owner = kp_p_socket_owner(s.port, local_port(fd), kids, n_kids);
        if (owner == 0)
            kp_h_sleep_ms(20);
    }
    ck_assert_msg(owner != 0, "no worker took the connection");
    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    for (int i = 0; i < 500 && !seen; i++) {
        fetch(&s, REQ_STATUS(""), &r);
        ck_assert(kp_json_valid(r.body, r.body_len));
        seen = lists_draining(r.body, owner);
        kp_h_resp_free(&r);
        if (!seen)
            kp_h_sleep_ms(20);
    }
    ck_assert_msg(seen, "worker %d never listed as draining", (int)owner);

    /* The Prometheus text says the same. The master counts the reload once
     * the old workers have stopped accepting, which may come a little after
     * the page first lists them as draining: poll for it. */
    char want[128], err[256];
    snprintf(want, sizeof(want), "pid=\"%d\",generation=\"1\",state=\"draining\"} 1", (int)owner);
    bool counted = false;
    for (int i = 0; i < 500 && !counted; i++) {
        fetch(&s, REQ_STATUS("?format=prometheus"), &r);
        ck_assert_msg(kp_prom_check(r.body, r.body_len, err, sizeof(err)) > 0, "%s", err);
        ck_assert_ptr_nonnull(strstr(r.body, want));
        ck_assert_ptr_nonnull(strstr(r.body, "\nkelpie_master_generation 2\n"));
        counted = strstr(r.body, "\nkelpie_master_reloads_total 1\n") != NULL;
        kp_h_resp_free(&r);
        if (!counted)
            kp_h_sleep_ms(20);
    }
    ck_assert_msg(counted, "the reload was never counted");

    /* Finishing the request lets the old worker go; its slot leaves the page. */
    kp_h_send_str(fd, "\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(kp_h_header(&r, "Connection"), "close"));
    kp_h_resp_free(&r);
    close(fd);
    char gone[32];
    snprintf(gone, sizeof(gone), "\"pid\":%d,", (int)owner);
    seen = true;
    for (int i = 0; i < 500 && seen; i++) {
        fetch(&s, REQ_STATUS(""), &r);
        seen = strstr(r.body, gone) != NULL;
        kp_h_resp_free(&r);
        if (seen)
            kp_h_sleep_ms(20);
    }
    ck_assert_msg(!seen, "worker %d still listed after it finished", (int)owner);
    kp_h_stop(&s);
}
END_TEST

/* stub_status's "requests" from a fresh status request. */
static long long stub_requests(const struct kp_h_server *s)
{
    struct kp_h_resp r;
    long long acc, hnd, req;

    fetch(s, REQ_STATUS("?format=stub"), &r);
    ck_assert_int_eq(sscanf(r.body,
                            "Active connections: %*d \nserver accepts handled requests\n "
                            "%lld %lld %lld",
                            &acc, &hnd, &req),
                     3);
    ck_assert_int_eq(acc, hnd);
    kp_h_resp_free(&r);
    return req;
}

/* Whether the JSON status still lists a worker of generation gen. */
static bool lists_generation(const struct kp_h_server *s, unsigned gen)
{
    struct kp_h_resp r;
    char want[48];

    snprintf(want, sizeof(want), "\"generation\":%u,\"state\"", gen);
    fetch(s, REQ_STATUS(""), &r);
    bool found = strstr(r.body, want) != NULL;
    kp_h_resp_free(&r);
    return found;
}

/* The counters are nginx's: cumulative across a reload (whose old workers
 * have exited) and across a worker killed and respawned, never back to 1;
 * the Prometheus series are labelled by worker number only, so the same
 * series go on, and kelpie_build_info names the versions. */
START_TEST(counters_survive_reload_and_respawn)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    pid_t kids[MAX_KIDS];
    char err[256];

    start(&s);
    for (int i = 0; i < N_REQUESTS; i++) {
        ck_assert_int_eq(kp_h_request(s.port, REQ_ROOT, &r), 0);
        kp_h_resp_free(&r);
    }
    long long before = stub_requests(&s);
    ck_assert_int_ge(before, N_REQUESTS + 1);

    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    bool old_gone = false;
    for (int i = 0; i < 500 && !old_gone; i++) {
        old_gone = !lists_generation(&s, 1) && lists_generation(&s, 2);
        if (!old_gone)
            kp_h_sleep_ms(20);
    }
    ck_assert_msg(old_gone, "the old generation never left");
    long long after_reload = stub_requests(&s);
    ck_assert_int_gt(after_reload, before);

    int n = kp_p_children(s.pid, kids, MAX_KIDS);
    ck_assert_int_ge(n, 1);
    ck_assert_int_eq(kill(kids[0], SIGKILL), 0);
    ck_assert(kp_p_gone(kids[0], 10000));
    ck_assert_int_ge(kp_p_new_child(s.pid, kids, n, 10000), 1);
    bool respawned = false;
    for (int i = 0; i < 500 && !respawned; i++) {
        fetch(&s, REQ_STATUS("?format=prometheus"), &r);
        respawned = strstr(r.body, "\nkelpie_master_respawns_total 1\n") != NULL;
        kp_h_resp_free(&r);
        if (!respawned)
            kp_h_sleep_ms(20);
    }
    ck_assert_msg(respawned, "the killed worker was never respawned");
    long long after_kill = stub_requests(&s);
    ck_assert_int_gt(after_kill, after_reload);

    fetch(&s, REQ_STATUS("?format=prometheus"), &r);
    ck_assert_msg(kp_prom_check(r.body, r.body_len, err, sizeof(err)) > 0, "%s", err);
    ck_assert_uint_eq(prom_sum(r.body, "kelpie_requests_total"), (uint64_t)after_kill + 1);
    ck_assert_ptr_nonnull(strstr(r.body, "\nkelpie_requests_total{worker=\"0\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "\nkelpie_requests_total{worker=\"1\"} "));
    ck_assert_ptr_null(strstr(r.body, "\nkelpie_requests_total{worker=\"2\"}"));
    ck_assert_ptr_null(strstr(r.body, "kelpie_requests_total{worker=\"0\",pid"));
    ck_assert_ptr_nonnull(strstr(r.body, "\nkelpie_build_info{version=\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\",openssl=\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\",pcre2=\"10."));
    kp_h_resp_free(&r);
    kp_p_stop_allowing(&s, (const char *const[]){"exited on signal 9", NULL});
}
END_TEST

Suite *kp_test_status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, counters_add_up);
    tcase_add_test(tc, methods_and_formats);
    tcase_add_test(tc, draining_worker_listed);
    tcase_add_test(tc, counters_survive_reload_and_respawn);
    suite_add_tcase(s, tc);
    return s;
}
