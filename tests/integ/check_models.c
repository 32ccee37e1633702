/* The concurrency models of `events { model ...; }` (README, "Concurrency
 * models"): each serves the same HTTP, answers a depth-16 pipeline in order
 * and byte for byte as the requests are answered alone, writes one whole
 * access log line per request from concurrent clients, runs the threads it
 * names, and stops gracefully. A model or a backend it cannot run on is a
 * configuration error. The whole integration suite also runs under each
 * model (KP_TEST_MODEL, .ci/run). */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"
#include "proc.h"

#define DEPTH 16

static const char *const MODELS[] = {"reactor", "reactor_pool", "sim_proactor threads=3"};

/* `kelpie -t` on an events block: exit 1 with one [emerg] naming message
 * and the line. */
static void expect_events_error(const char *events, const char *message, int line)
{
    struct kp_h_server s;
    char conf[512], where[64], *out = NULL, *err = NULL;

    kp_h_prepare(&s);
    kp_h_config_raw(&s, "daemon off;\nerror_log logs/error.log info;\npid logs/kelpie.pid;\n",
                    events, "server { listen 127.0.0.1:@PORT@; }");
    snprintf(conf, sizeof(conf), "%sconf/kelpie.conf", s.prefix);
    char *argv[] = {(char *)kp_h_binary(), "-t", "-p", s.prefix, "-c", conf, NULL};
    ck_assert_int_eq(kp_h_run(argv, &out, &err), 1);
    ck_assert_msg(strstr(err, "[emerg]") != NULL && strstr(err, message) != NULL, "%s", err);
    snprintf(where, sizeof(where), "kelpie.conf:%d", line);
    ck_assert_msg(strstr(err, where) != NULL, "want %s in: %s", where, err);
    free(out);
    free(err);
}

/* The events block starts on line 5 of kp_h_config_raw's file, its body on
 * line 6. */
START_TEST(model_config_errors)
{
    expect_events_error("model bogus;", "invalid value \"bogus\"", 6);
    expect_events_error("use epoll;\nmodel reactor_pool threads=2;", "invalid value \"threads=2\"",
                        7);
    expect_events_error("model sim_proactor threads=0;", "invalid value \"threads=0\"", 6);
    expect_events_error("model sim_proactor threads=65;", "invalid value \"threads=65\"", 6);
    expect_events_error("use poll;\nmodel reactor_pool;", "requires \"use epoll\"", 7);
    expect_events_error("model sim_proactor;\nuse select;", "requires \"use epoll\"", 7);
}
END_TEST

static void start_model(struct kp_h_server *s, const char *model)
{
    char events[128];

    kp_h_prepare(s);
    /* Started as root, the worker runs as nobody: it must reach the prefix
     * (mkdtemp makes it 0700). */
    char dir[sizeof(s->prefix)];
    snprintf(dir, sizeof(dir), "%s", s->prefix);
    chmod(dir, 0755);
    for (int i = 0; i < DEPTH; i++) {
        char path[32], body[64 * DEPTH + 1];
        snprintf(path, sizeof(path), "html/f%d.txt", i);
        /* A body of its own length for each: a reordering shows. */
        memset(body, 'a' + i, (size_t)(64 * (i + 1)));
        body[64 * (i + 1)] = '\0';
        kp_h_write(s, path, body);
    }
    snprintf(events, sizeof(events), "use epoll;\nmodel %s;", model);
    kp_h_config_raw(s,
                    "daemon off;\nerror_log logs/error.log info;\npid logs/kelpie.pid;\n"
                    "master_process on;\nworker_processes 1;\nworker_threads 2;\n",
                    events,
                    "log_format plain '$remote_addr $request $status $body_bytes_sent';\n"
                    "access_log logs/access.log plain buffer=4k flush=100ms;\n"
                    "server { listen 127.0.0.1:@PORT@; root html; }\n");
    ck_assert_msg(kp_h_start(s) == 0, "%s: server failed to start", model);
}

/* How many of pid's threads have a name starting with prefix. */
static int threads_named(pid_t pid, const char *prefix)
{
    char path[64];
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        char comm[384], name[32] = "";
        snprintf(comm, sizeof(comm), "%s/%s/comm", path, de->d_name);
        FILE *f = de->d_name[0] != '.' ? fopen(comm, "r") : NULL;
        if (f == NULL)
            continue;
        if (fgets(name, sizeof(name), f) != NULL && strncmp(name, prefix, strlen(prefix)) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

struct named {
    pid_t pid;
    const char *prefix;
    int want;
};

static bool named_fn(void *arg)
{
    const struct named *n = arg;

    return threads_named(n->pid, n->prefix) == n->want;
}

/* pid comes to have `want` threads named prefix... (the threads start
 * after the worker does: slowly under ThreadSanitizer). */
static void expect_threads(pid_t pid, const char *prefix, int want)
{
    struct named n = {pid, prefix, want};

    ck_assert_msg(kp_h_wait_until(named_fn, &n, 15000), "%d threads named \"%s\", not %d",
                  threads_named(pid, prefix), prefix, want);
}

/* The worker's threads as the model names them. */
static void check_threads(pid_t worker, int model)
{
    if (model == 0) {
        expect_threads(worker, "reactor ", 2);
    } else if (model == 1) {
        expect_threads(worker, "readiness", 1);
        expect_threads(worker, "pool-thread ", 2);
    } else {
        expect_threads(worker, "reactor ", 2);
        expect_threads(worker, "handler ", 6); /* 3 per reactor */
    }
}

/* Everything the server sends on fd until it closes (at most cap bytes). */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;

    while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
        len += (size_t)n;
    return len;
}

/* Request i's answer on a connection of its own, Date blanked. */
static size_t answer_alone(const struct kp_h_server *s, int i, bool close_it, char *out,
                           size_t cap);

/* Blank the value of each Date field: the one thing answers a second
 * apart may not share. */
static void blank_dates(char *p, size_t len)
{
    for (size_t i = 0; i + 8 <= len; i++) {
        if (memcmp(p + i, "\r\nDate: ", 8) != 0)
            continue;
        for (size_t j = i + 8; j < len && p[j] != '\r'; j++)
            p[j] = '-';
    }
}

static void request_text(int i, bool close_it, char *out, size_t size)
{
    snprintf(out, size, "GET /f%d.txt HTTP/1.1\r\nHost: x\r\n%s\r\n", i,
             close_it ? "Connection: close\r\n" : "");
}

static size_t answer_alone(const struct kp_h_server *s, int i, bool close_it, char *out, size_t cap)
{
    char req[128];
    int fd = kp_h_connect(s->port);

    ck_assert_int_ge(fd, 0);
    request_text(i, true, req, sizeof(req));
    kp_h_send_str(fd, req);
    size_t len = read_all(fd, out, cap);
    close(fd);
    if (!close_it) {
        /* Alone it had to close; in the pipeline it stays open and says so. */
        static const char cl[] = "Connection: close\r\n", ka[] = "Connection: keep-alive\r\n";
        char *c = strstr(out, cl);
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_le(len + sizeof(ka) - sizeof(cl), cap);
        memmove(c + sizeof(ka) - 1, c + sizeof(cl) - 1, len - (size_t)(c + sizeof(cl) - 1 - out));
        memcpy(c, ka, sizeof(ka) - 1);
        len += sizeof(ka) - sizeof(cl);
    }
    return len;
}

/* DEPTH requests in one send: the stream read back is the answers alone,
 * in order, to the byte. */
static void check_pipelined(const struct kp_h_server *s)
{
    size_t cap = 64 * 1024, want_len = 0;
    char *want = malloc(cap), *got = malloc(cap), all[DEPTH * 128] = "";

    for (int i = 0; i < DEPTH; i++) {
        char req[128];
        request_text(i, i == DEPTH - 1, req, sizeof(req));
        strcat(all, req);
        want_len += answer_alone(s, i, i == DEPTH - 1, want + want_len, cap - want_len);
    }
    int fd = kp_h_connect(s->port);
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, all);
    size_t got_len = read_all(fd, got, cap);
    close(fd);
    blank_dates(want, want_len);
    blank_dates(got, got_len);
    ck_assert_msg(got_len == want_len && memcmp(got, want, want_len) == 0,
                  "pipelined: %zu bytes, answered alone: %zu", got_len, want_len);
    free(want);
    free(got);
}

/* Concurrent clients: no failure, and one whole line per request. */
static void check_load_and_log(struct kp_h_server *s)
{
    struct kp_load_conf lc = {
        .port = s->port, .conns = 24, .path = "/f3.txt", .max_requests = 6000};
    struct kp_load_stats st;

    kp_load_run(&lc, &st);
    ck_assert_msg(st.failures == 0 && st.ok == 6000, "%ld ok, %ld failures (first: kind %d)", st.ok,
                  st.failures, st.n_fails > 0 ? (int)st.fails[0].kind : 0);
    /* The pipeline's and the reference answers' lines come on top. */
    long want = st.ok + 2 * DEPTH;
    int status = kp_h_signal_wait(s, SIGQUIT, 15000);
    ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "graceful stop: %d",
                  status);
    char *log = kp_h_read(s, "logs/access.log");
    ck_assert_ptr_nonnull(log);
    long lines = 0;
    for (char *line = log, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        ck_assert_msg(strncmp(line, "127.0.0.1 GET /f", 16) == 0 && strstr(line, " 200 ") != NULL,
                      "torn line: %s", line);
        lines++;
    }
    ck_assert_int_eq(lines, want);
    free(log);
}

START_TEST(models_serve)
{
    struct kp_h_server s;
    pid_t kids[4];

    start_model(&s, MODELS[_i]);
    ck_assert_msg(kp_p_wait_children(s.pid, 1, 5000), "no worker");
    ck_assert_int_eq(kp_p_children(s.pid, kids, 4), 1);
    check_threads(kids[0], _i);
    check_pipelined(&s);
    check_load_and_log(&s);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_models_suite(void)
{
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("models");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, model_config_errors);
    tcase_add_loop_test(tc, models_serve, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
