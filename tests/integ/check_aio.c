/* Thread pools for blocking work (issue 10, part 2): `thread_pool` and
 * `aio threads`, against the real binary. A file's pages are dropped from
 * the page cache (fsync, then posix_fadvise(POSIX_FADV_DONTNEED)) before a
 * request, so that the server really meets an uncached file; the bytes
 * received are compared with the file's. That a pool thread did the
 * reading is seen from the outside: the read counters (rchar in
 * /proc/PID/task/TID/io) of the worker's "pool NAME" threads grow, and a
 * pool that may queue nothing answers 503 with nginx's log line. On a
 * filesystem whose pages cannot be dropped (tmpfs), those two checks are
 * skipped with a note; the bytes are checked all the same. Nothing here
 * asserts timing. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

#define BIG_SIZE   (3u << 20) /* several read tasks and sendfile calls */
#define SMALL_SIZE 600u

/* Deterministic content that differs at every offset of a 32 KiB buffer. */
static char *content(size_t n, unsigned seed)
{
    char *p = malloc(n);

    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 131 + i / 4093 + seed) & 0xff);
    return p;
}

static void write_file(const struct kp_h_server *s, const char *rel, const char *data, size_t n)
{
    char path[256];

    snprintf(path, sizeof(path), "%s%s", s->prefix, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* Drop the file's pages from the page cache. Returns whether it is now
 * uncached: mincore() of its first 2 MiB (or all of it), which (unlike a
 * read with RWF_NOWAIT) starts no readahead. A readahead an earlier request
 * started may still be landing: drop again until none is seen (10 s at
 * most). */
static bool uncache(const struct kp_h_server *s, const char *rel)
{
    char path[256];
    unsigned char vec[512];
    struct stat st;

    snprintf(path, sizeof(path), "%s%s", s->prefix, rel);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    size_t len = st.st_size < (off_t)sizeof(vec) * 4096 ? (size_t)st.st_size : sizeof(vec) * 4096;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    ck_assert(p != MAP_FAILED);
    fsync(fd); /* dirty pages cannot be dropped */
    bool cold = false;
    for (int i = 0; i < 200 && !cold; i++) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        kp_h_sleep_ms(20);
        cold = mincore(p, len, vec) == 0;
        for (size_t pg = 0; cold && pg < (len + 4095) / 4096; pg++)
            cold = (vec[pg] & 1) == 0;
    }
    munmap(p, len);
    close(fd);
    if (!cold)
        fprintf(stderr, "aio: %s stays in the page cache here (tmpfs?): pool checks skipped\n",
                path);
    return cold;
}

/* Read the whole file, so that it is in the page cache. */
static void warm(const struct kp_h_server *s, const char *rel)
{
    free(kp_h_read(s, rel));
}

/* Whether entry tid of the task directory dir (/proc/PID/task) is a
 * thread whose name starts with comm: 1 or 0, -1 when it is no thread. */
static int thread_named(const char *dir, const char *tid, const char *comm)
{
    char path[512], buf[64];

    snprintf(path, sizeof(path), "%s/%s/comm", dir, tid);
    FILE *f = tid[0] == '.' ? NULL : fopen(path, "r");
    if (f == NULL)
        return -1;
    bool match = fgets(buf, sizeof(buf), f) != NULL && strncmp(buf, comm, strlen(comm)) == 0;
    fclose(f);
    return match;
}

/* The value of field ("rchar:", "read_bytes:") in thread tid's io file. */
static unsigned long long thread_io(const char *dir, const char *tid, const char *field)
{
    char path[512], buf[256];
    unsigned long long v = 0;

    snprintf(path, sizeof(path), "%s/%s/io", dir, tid);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(buf, sizeof(buf), f) != NULL) {
        if (strncmp(buf, field, strlen(field)) == 0)
            v = strtoull(buf + strlen(field), NULL, 10);
    }
    if (f != NULL)
        fclose(f);
    return v;
}

/* The threads of pid whose name starts with comm: how many, and (when
 * rchar is not NULL) the bytes they read (/proc/PID/task/TID/io). */
static int named_threads(pid_t pid, const char *comm, unsigned long long *rchar)
{
    char dir[64];
    int n = 0;

    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (thread_named(dir, e->d_name, comm) != 1)
            continue;
        n++;
        if (rchar != NULL)
            *rchar += thread_io(dir, e->d_name, "rchar:");
    }
    closedir(d);
    return n;
}

static unsigned long long pool_rchar(pid_t pid, const char *comm)
{
    unsigned long long sum = 0;

    named_threads(pid, comm, &sum);
    return sum;
}

/* How many threads of pid are named comm, once the count stops short of
 * want no more (the worker may still be starting them; at most 10 s). */
static int count_threads_named(pid_t pid, const char *comm, int want)
{
    int n = named_threads(pid, comm, NULL);

    for (int i = 0; i < 200 && n < want; i++) {
        kp_h_sleep_ms(50);
        n = named_threads(pid, comm, NULL);
    }
    return n;
}

static pid_t worker_of(const struct kp_h_server *s)
{
    pid_t kids[4];

    ck_assert(kp_p_wait_children(s->pid, 1, 5000));
    ck_assert_int_eq(kp_p_children(s->pid, kids, 4), 1);
    return kids[0];
}

/* GET (or HEAD) path with an optional Range; the response must be status
 * with exactly want (want_len bytes) as its body. */
static void expect_body(const struct kp_h_server *s, const char *method, const char *path,
                        const char *range, int status, const char *want, size_t want_len)
{
    char req[512];
    struct kp_h_resp r;
    bool head = strcmp(method, "HEAD") == 0;

    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n%s%s%sConnection: close\r\n\r\n",
             method, path, range ? "Range: bytes=" : "", range ? range : "", range ? "\r\n" : "");
    int fd = kp_h_connect(s->port);
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, req);
    ck_assert_int_eq(kp_h_recv(fd, &r, head), 0);
    close(fd);
    ck_assert_msg(r.status == status, "%s %s: %d", method, path, r.status);
    if (head) {
        ck_assert_uint_eq(strtoull(kp_h_header(&r, "Content-Length"), NULL, 10), want_len);
        ck_assert_uint_eq(r.body_len, 0);
    } else {
        ck_assert_uint_eq(r.body_len, want_len);
        ck_assert_msg(memcmp(r.body, want, want_len) == 0, "%s %s: wrong bytes", method, path);
    }
    kp_h_resp_free(&r);
}

static const char *const HTTP_AIO = "server {\n"
                                    "    listen 127.0.0.1:@PORT@;\n"
                                    "    aio threads;\n"
                                    "    location /sf/ { alias html/; sendfile on; }\n"
                                    "    location /off/ { alias html/; aio off; }\n"
                                    "}\n";

/* Uncached files through the default pool, read and sendfile, whole, in
 * ranges and HEAD, with one reactor and with two (worker_threads 2: one
 * pool shared by both). */
START_TEST(aio_serves_uncached)
{
    static const char *const mains[] = {"", "worker_threads 2;\n"};
    struct kp_h_server s;
    char *big = content(BIG_SIZE, 7), *small = content(SMALL_SIZE, 3);

    kp_p_start(&s, mains[_i], NULL, HTTP_AIO);
    write_file(&s, "html/big.bin", big, BIG_SIZE);
    write_file(&s, "html/small.bin", small, SMALL_SIZE);
    pid_t w = worker_of(&s);
    /* nginx's default pool: 32 threads, created in the worker only. */
    ck_assert_int_eq(count_threads_named(w, "pool default", 32), 32);
    ck_assert_int_eq(count_threads_named(s.pid, "pool default", 0), 0);

    static const char *const paths[] = {"/big.bin", "/sf/big.bin"};
    for (int i = 0; i < 2; i++) {
        unsigned long long before = pool_rchar(w, "pool default");
        /* The pool must read for at least one of three requests found
         * cold: one was once answered inline although uncache() had just
         * seen its pages out (a CI run, io_uring backend; its probe found
         * them back, cause not found), so a single one may flake. */
        bool cold = uncache(&s, "html/big.bin");
        expect_body(&s, "GET", paths[i], NULL, 200, big, BIG_SIZE);
        cold |= uncache(&s, "html/big.bin");
        expect_body(&s, "GET", paths[i], "1000-2000999", 206, big + 1000, 2000000);
        cold |= uncache(&s, "html/big.bin");
        expect_body(&s, "GET", paths[i], "-5000", 206, big + BIG_SIZE - 5000, 5000);
        if (cold)
            ck_assert_msg(pool_rchar(w, "pool default") > before, "%s: no pool read", paths[i]);
        uncache(&s, "html/big.bin");
        expect_body(&s, "HEAD", paths[i], NULL, 200, NULL, BIG_SIZE);
    }
    uncache(&s, "html/small.bin");
    expect_body(&s, "GET", "/small.bin", NULL, 200, small, SMALL_SIZE);
    /* Cached data is served inline: the pool reads nothing for it. */
    warm(&s, "html/big.bin");
    unsigned long long before = pool_rchar(w, "pool default");
    expect_body(&s, "GET", "/big.bin", NULL, 200, big, BIG_SIZE);
    ck_assert_uint_eq(pool_rchar(w, "pool default"), before);
    /* aio off in a location: the reactor reads, uncached or not. */
    uncache(&s, "html/big.bin");
    expect_body(&s, "GET", "/off/big.bin", NULL, 200, big, BIG_SIZE);
    ck_assert_uint_eq(pool_rchar(w, "pool default"), before);
    kp_h_stop(&s);
    free(big);
    free(small);
}
END_TEST

/* max_queue=0: no task may wait, so every uncached read overflows the
 * pool: 503 and one [error] line per request, as nginx logs it. Cached data
 * needs no task and is served. */
START_TEST(aio_queue_overflow)
{
    struct kp_h_server s;
    char *big = content(BIG_SIZE, 11);

    kp_p_start(&s, "thread_pool tiny threads=1 max_queue=0;\n", NULL,
               "server {\n"
               "    listen 127.0.0.1:@PORT@;\n"
               "    location / { aio threads=tiny; }\n"
               "    location /sf/ { alias html/; aio threads=tiny; sendfile on; }\n"
               "}\n");
    write_file(&s, "html/big.bin", big, BIG_SIZE);
    ck_assert_int_eq(count_threads_named(worker_of(&s), "pool tiny", 1), 1);
    static const char *const paths[] = {"/big.bin", "/sf/big.bin"};
    /* The page cache is the machine's: something may bring pages back
     * between the drop and the server's probe, and a response whose first
     * bytes were cached goes out and is cut when a later piece overflows.
     * So a few tries per path, each answered at once (never a hang); at
     * least one must be the 503. */
    for (int i = 0; i < 2; i++) {
        int got503 = 0, tries = 0;
        for (; tries < 5 && got503 == 0; tries++) {
            if (!uncache(&s, "html/big.bin"))
                break;
            char req[128];
            struct kp_h_resp r;
            snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                     paths[i]);
            if (kp_h_request(s.port, req, &r) == 0)
                got503 += r.status == 503;
            kp_h_resp_free(&r); /* a cut response has a body too */
        }
        ck_assert_msg(got503 == 1 || tries == 0, "%s: no 503 in %d tries", paths[i], tries);
    }
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_nonnull(log);
    int lines = kp_p_count_lines(log, "[error]");
    int overflows = kp_p_count_lines(log, "thread pool \"tiny\" queue overflow: 0 tasks waiting");
    ck_assert_int_eq(lines, overflows);
    free(log);
    warm(&s, "html/big.bin");
    expect_body(&s, "GET", "/big.bin", NULL, 200, big, BIG_SIZE);
    kp_h_stop(&s);
    free(big);
}
END_TEST

/* SIGQUIT while a download of an uncached file is under way through the
 * pool: the worker finishes it, then exits; the master exits 0. */
START_TEST(aio_graceful_quit)
{
    struct kp_h_server s;
    size_t n = 8u << 20;
    char *big = content(n, 5);
    struct kp_h_resp r;

    kp_p_start(&s, "", NULL, HTTP_AIO);
    write_file(&s, "html/big.bin", big, n);
    pid_t w = worker_of(&s);
    uncache(&s, "html/big.bin");
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, "GET /sf/big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    char first;
    ck_assert_int_eq(recv(fd, &first, 1, MSG_PEEK), 1); /* the response has begun */
    kill(s.pid, SIGQUIT);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, n);
    ck_assert(memcmp(r.body, big, n) == 0);
    kp_h_resp_free(&r);
    close(fd);
    ck_assert(kp_p_gone(w, 10000));
    int st = kp_h_signal_wait(&s, 0, 10000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "master status %d", st);
    s.pid = 0;
    kp_h_stop(&s);
    free(big);
}
END_TEST

/* pool_rchar(pid, comm) once it has not changed for 300 ms (10 s at most):
 * the pool has stopped reading, here because the client's socket is full. */
static unsigned long long pool_rchar_settled(pid_t pid, const char *comm)
{
    unsigned long long last = pool_rchar(pid, comm), now;

    for (int i = 0, still = 0; i < 200 && still < 6; i++) {
        kp_h_sleep_ms(50);
        now = pool_rchar(pid, comm);
        still = now == last ? still + 1 : 0;
        last = now;
    }
    return last;
}

/* With sendfile, a response that once found its file uncached sends the
 * rest of it through the pool, even where a later probe finds the range's
 * two ends cached: a missed probe itself starts readahead at both ends, so
 * such a finding says nothing of the middle, and an inline sendfile would
 * block the reactor on it. Here the whole file is read into the page cache
 * while the client holds the response up (it does not read), so every later
 * probe would hit: the pool must still send what is left. */
START_TEST(aio_cold_response_stays_in_pool)
{
    struct kp_h_server s;
    size_t n = 24u << 20; /* far more than the socket buffers hold */
    char *big = content(n, 13);
    struct kp_h_resp r;

    kp_p_start(&s, "", NULL, HTTP_AIO);
    write_file(&s, "html/big.bin", big, n);
    pid_t w = worker_of(&s);
    ck_assert_int_eq(count_threads_named(w, "pool default", 32), 32);
    unsigned long long before = pool_rchar(w, "pool default");
    bool cold = uncache(&s, "html/big.bin");
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    int rcv = 16384;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    kp_h_send_str(fd, "GET /sf/big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    char first;
    ck_assert_int_eq(recv(fd, &first, 1, MSG_PEEK), 1); /* the response has begun */
    unsigned long long held = pool_rchar_settled(w, "pool default");
    if (cold)
        ck_assert_msg(held > before, "the uncached file's first bytes: no pool read");
    warm(&s, "html/big.bin");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    close(fd);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, n);
    ck_assert(memcmp(r.body, big, n) == 0);
    kp_h_resp_free(&r);
    /* What the socket buffers held when the file was warmed is at most a
     * few MiB: the pool sent the rest. */
    if (cold)
        ck_assert_msg(pool_rchar(w, "pool default") - held >= (8u << 20),
                      "the pool sent %llu bytes after the file was cached",
                      pool_rchar(w, "pool default") - held);
    kp_h_stop(&s);
    free(big);
}
END_TEST

/* The size of pid's descriptor table (FDSize in /proc/PID/status). */
static long fd_table_size(pid_t pid)
{
    char path[64], line[256];
    long n = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "FDSize:", 7) == 0)
            n = strtol(line + 7, NULL, 10);
    fclose(f);
    return n;
}

/* A worker with pool threads grows its descriptor table before they start
 * (room for its connections, within the open file limit): once threads share
 * the table, the kernel grows it only after an RCU grace period, in whichever
 * thread opened the descriptor past its end, here the reactor's accept(). */
START_TEST(aio_fd_table_reserved)
{
    struct kp_h_server s;
    struct rlimit rl;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    long want = rl.rlim_cur < 1024 ? (long)rl.rlim_cur : 1024; /* 512 connections: 1,088 */
    kp_p_start(&s, "", "worker_connections 512;\n", HTTP_AIO);
    pid_t w = worker_of(&s);
    ck_assert_int_eq(count_threads_named(w, "pool default", 32), 32);
    long size = fd_table_size(w);
    ck_assert_msg(size >= want, "worker's descriptor table: %ld, want %ld", size, want);
    kp_h_stop(&s);
}
END_TEST

/* Fields 19 (nice) and 41 (scheduling policy) of /proc/PID/task/TID/stat;
 * false when the thread is gone. */
static bool thread_sched(const char *dir, const char *tid, int *nice, int *policy)
{
    char path[512], buf[1024];

    snprintf(path, sizeof(path), "%s/%s/stat", dir, tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool ok = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    const char *p = ok ? strrchr(buf, ')') : NULL;
    if (p == NULL)
        return false;
    /* Field 3 (the state) follows ") ". */
    p += 2;
    for (int field = 3; field < 41 && *p != '\0'; field++) {
        if (field == 19)
            *nice = atoi(p);
        p = strchr(p, ' ');
        if (p == NULL)
            return false;
        p++;
    }
    *policy = atoi(p);
    return true;
}

struct prio_want {
    pid_t worker;
    int nice;     /* the reactors' */
    int pool;     /* pool threads seen at nice + KP_TPOOL_NICE_STEP and SCHED_BATCH */
    int reactors; /* reactor threads seen at nice and SCHED_OTHER */
    int wrong;    /* pool or reactor threads at neither */
    int want;     /* reactors expected (the second one may start after the pool) */
};

/* Classify every thread of the worker by its priority. */
static bool pool_priorities_settled(void *arg)
{
    struct prio_want *w = arg;
    char dir[64];

    w->pool = w->reactors = w->wrong = 0;
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)w->worker);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        int nice = 99, policy = -1;
        int pool = thread_named(dir, e->d_name, "pool default");
        if (pool < 0 || !thread_sched(dir, e->d_name, &nice, &policy))
            continue;
        /* The reactors: the main thread, and "reactor N" with worker_threads.
         * Other threads (a sanitizer's own) are not kelpie's to set. */
        bool reactor =
            atoi(e->d_name) == (int)w->worker || thread_named(dir, e->d_name, "reactor ") == 1;
        if (pool == 1 && nice == w->nice + 10 && policy == SCHED_BATCH)
            w->pool++;
        else if (pool == 0 && reactor && nice == w->nice && policy == SCHED_OTHER)
            w->reactors++;
        else if (pool == 1 || reactor)
            w->wrong++;
    }
    closedir(d);
    return w->pool == 32 && w->wrong == 0 && w->reactors >= w->want;
}

/* Pool threads run below the reactors (SCHED_BATCH, ten nice steps lower),
 * whatever the worker's own nice value; the reactors (one, or two with
 * worker_threads 2 under the plain model) keep theirs. Checked through /proc/PID/task/TID/stat. */
START_TEST(aio_pool_below_reactors)
{
    static const char *const mains[] = {"", "worker_priority 3;\n",
                                        "worker_threads 2;\nworker_priority -2;\n"};
    static const int nice[] = {0, 3, -2};
    struct kp_h_server s;

    if (nice[_i] < 0 && geteuid() != 0)
        return; /* a negative worker_priority needs root */
    kp_p_start(&s, mains[_i], NULL, HTTP_AIO);
    /* A hand-off model (KP_TEST_MODEL) runs one reactor per process,
     * whatever worker_threads says. */
    bool one_reactor = kp_h_model_is("reactor_pool") || kp_h_model_is("sim_proactor");
    struct prio_want w = {
        .worker = worker_of(&s), .nice = nice[_i], .want = _i == 2 && !one_reactor ? 2 : 1};
    bool settled = kp_h_wait_until(pool_priorities_settled, &w, 10000);
    ck_assert_msg(settled,
                  "pool threads at nice %d, SCHED_BATCH: %d of 32; reactors: %d right of %d; "
                  "%d wrong",
                  nice[_i] + 10, w.pool, w.reactors, w.want, w.wrong);
    kp_h_stop(&s);
}
END_TEST

/* --- cold paths: the open()/stat() of a path not in the kernel's caches -------------- */

/* Run a command (argv[0] a full path); whether it exited 0. */
static bool run_quiet(char *const argv[])
{
    char *out = NULL, *err = NULL;
    int rc = kp_h_run(argv, &out, &err);

    free(out);
    free(err);
    return rc == 0;
}

static bool mount_image(const char *img, const char *dir)
{
    char *argv[] = {"/usr/bin/mount", "-o", "loop", (char *)img, (char *)dir, NULL};

    return run_quiet(argv);
}

static void unmount(const char *dir)
{
    char *argv[] = {"/usr/bin/umount", (char *)dir, NULL};

    ck_assert_msg(run_quiet(argv), "umount %s", dir);
}

static void make_file(const char *dir, const char *rel, const char *data, size_t n)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    if (data == NULL) {
        mkdir(path, 0755);
        return;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* A fresh ext4 image mounted at PREFIX/cold/ with the tree the test asks
 * for, then unmounted and mounted again: none of its directory entries or
 * inodes is in the kernel's caches, so every first lookup below the root
 * reads the disk. Needs root, loop devices and mkfs.ext4: false (with a
 * note) where they are missing. */
static bool cold_tree(const struct kp_h_server *s, const char *small, char *dir, size_t size)
{
    char img[256];

    snprintf(img, sizeof(img), "%scold.img", s->prefix);
    snprintf(dir, size, "%scold", s->prefix);
    mkdir(dir, 0755);
    ck_assert_int_eq(chmod(s->prefix, 0755), 0); /* workers started as root run as nobody */
    int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 16 << 20), 0);
    close(fd);
    /* 4 KiB blocks: each directory's block is a page (and a read) of its own. */
    char *mkfs[] = {"/usr/sbin/mkfs.ext4", "-q", "-F", "-b", "4096", img, NULL};
    if (getuid() != 0 || access(mkfs[0], X_OK) != 0 || !run_quiet(mkfs) || !mount_image(img, dir)) {
        fprintf(stderr, "aio: no loop-mounted ext4 here (root, mkfs.ext4, loop devices): "
                        "cold-path checks skipped\n");
        return false;
    }
    make_file(dir, "n/1/2/3", NULL, 0);
    make_file(dir, "g/1/2", NULL, 0);
    make_file(dir, "f/1/2/3/small.bin", small, SMALL_SIZE);
    make_file(dir, "d/1/2/3/index.html", small, SMALL_SIZE);
    make_file(dir, "t/1/2/3/x.bin", small, SMALL_SIZE);
    make_file(dir, "o/1/2/3", NULL, 0);
    make_file(dir, "q/1/2/3", NULL, 0);
    make_file(dir, "s/1/2/3/f.bin", small, SMALL_SIZE);
    make_file(dir, "c/1/2/3/f.bin", small, SMALL_SIZE);
    make_file(dir, "k/1/2/3/f.bin", small, SMALL_SIZE);
    make_file(dir, "r/1/2/3/f.bin", small, SMALL_SIZE);
    /* Second names in the root: reading them brings a file's inode and
     * bytes into memory while the directories above its first name stay
     * cold. */
    static const char *const linked[] = {"s", "c", "k"};
    for (int i = 0; i < 3; i++) {
        char from[512], to[512];
        snprintf(from, sizeof(from), "%s/%s/1/2/3/f.bin", dir, linked[i]);
        snprintf(to, sizeof(to), "%s/%s.bin", dir, linked[i]);
        ck_assert_int_eq(link(from, to), 0);
    }
    unmount(dir);
    ck_assert(mount_image(img, dir));
    return true;
}

/* Bytes the threads of pid read from the disk (read_bytes of
 * /proc/PID/task/TID/io): those named comm* (pool), or all the others. */
static unsigned long long disk_reads(pid_t pid, const char *comm, bool pool)
{
    char dir[64];
    unsigned long long sum = 0;

    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        int named = thread_named(dir, e->d_name, comm);
        if (named >= 0 && (named == 1) == pool)
            sum += thread_io(dir, e->d_name, "read_bytes:");
    }
    closedir(d);
    return sum;
}

/* GET path must answer status (its body: the built-in page, a redirect's). */
static void expect_status(const struct kp_h_server *s, const char *path, int status)
{
    char req[256];
    struct kp_h_resp r;

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    ck_assert_int_eq(kp_h_request(s->port, req, &r), 0);
    ck_assert_msg(r.status == status, "%s: %d", path, r.status);
    kp_h_resp_free(&r);
}

/* One request for a cold path: its status and body, and who read the
 * disk for its lookup. pool: a pool thread did (its threads read, and, when
 * reactor_clean, the worker's other threads read nothing: the request needs
 * no file data); else the reactor did and the pool read nothing. */
static void cold_request(const struct kp_h_server *s, pid_t w, const char *path, int status,
                         const char *body, bool pool, bool reactor_clean)
{
    unsigned long long p0 = disk_reads(w, "pool ", true), r0 = disk_reads(w, "pool ", false);

    if (body != NULL)
        expect_body(s, "GET", path, NULL, status, body, SMALL_SIZE);
    else
        expect_status(s, path, status);
    unsigned long long p1 = disk_reads(w, "pool ", true), r1 = disk_reads(w, "pool ", false);
    if (pool) {
        ck_assert_msg(p1 > p0, "%s: the pool read nothing", path);
        if (reactor_clean)
            ck_assert_msg(r1 == r0, "%s: the reactor read %llu bytes", path, r1 - r0);
    } else {
        ck_assert_msg(p1 == p0, "%s: the pool read %llu bytes", path, p1 - p0);
        ck_assert_msg(r1 > r0, "%s: nobody read the disk", path);
    }
}

/* Paths whose lookup must read the disk (a freshly mounted ext4 image):
 * with aio threads the open()/stat() goes to the pool (a file, a missing
 * file, a directory's redirect, an index file, a try_files candidate) and
 * the reactor reads nothing for a lookup; the answers are the same as
 * inline. With aio off the reactor looks up itself. A warm path is opened
 * inline. A pool that may queue nothing answers a cold open 503 with
 * nginx's line. The simulated proactor opens in its handler threads (the
 * reactor is not blocked there): answers only. With one reactor and with
 * two (worker_threads 2). */
START_TEST(aio_cold_open)
{
    static const char *const mains[] = {"thread_pool tiny threads=1 max_queue=0;\n",
                                        "thread_pool tiny threads=1 max_queue=0;\n"
                                        "worker_threads 2;\n"};
    struct kp_h_server s;
    char dir[256];
    char *small = content(SMALL_SIZE, 9);
    bool proactor = kp_h_model_is("sim_proactor");

    kp_h_prepare(&s);
    if (!cold_tree(&s, small, dir, sizeof(dir))) {
        kp_h_stop(&s);
        free(small);
        return;
    }
    static const char *const http = "server {\n"
                                    "    listen 127.0.0.1:@PORT@;\n"
                                    "    root cold;\n"
                                    "    aio threads;\n"
                                    "    location /t/ { try_files $uri =404; }\n"
                                    "    location /off/ { alias cold/; aio off; }\n"
                                    "    location /q/ { aio threads=tiny; }\n"
                                    "}\n";
    kp_h_config(&s, mains[_i], http);
    ck_assert_int_eq(kp_h_start(&s), 0);
    pid_t w = worker_of(&s);
    ck_assert_int_eq(count_threads_named(w, "pool default", 32), 32);
    bool pool = !proactor;
    cold_request(&s, w, "/n/1/2/3/missing", 404, NULL, pool, pool);
    cold_request(&s, w, "/g/1/2", 301, NULL, pool, pool);
    cold_request(&s, w, "/f/1/2/3/small.bin", 200, small, pool, false);
    cold_request(&s, w, "/d/1/2/3/", 200, small, pool, false);
    cold_request(&s, w, "/t/1/2/3/x.bin", 200, small, pool, false);
    cold_request(&s, w, "/off/o/1/2/3/missing", 404, NULL, false, false);
    /* Warm now: inline, the pool reads nothing (and is not asked). */
    unsigned long long p0 = disk_reads(w, "pool ", true);
    expect_status(&s, "/n/1/2/3/missing", 404);
    expect_body(&s, "GET", "/f/1/2/3/small.bin", NULL, 200, small, SMALL_SIZE);
    ck_assert_uint_eq(disk_reads(w, "pool ", true), p0);
    /* max_queue=0: the cold open overflows. */
    expect_status(&s, "/q/1/2/3/missing", proactor ? 404 : 503);
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_nonnull(log);
    ck_assert_int_eq(kp_p_count_lines(log, "thread pool \"tiny\" queue overflow: 0 tasks waiting"),
                     proactor ? 0 : 1);
    free(log);
    kp_h_stop(&s);
    unmount(dir);
    free(small);
}
END_TEST

/* --- a cold open held in flight ------------------------------------------------------ */

#define FREEZER "/sys/fs/cgroup/freezer"

static bool put_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);

    if (fd >= 0)
        close(fd);
    return ok;
}

/* Thaw and remove cg once this test process is gone, however it ended: a
 * failed check must not leave the server's threads frozen (its stop would
 * hang). A process of its own, which leaves when cg is gone. */
static void guard(const char *cg)
{
    pid_t test = getpid();
    char path[320];

    if (fork() != 0)
        return;
    setsid(); /* Check kills the test's process group when it ends */
    snprintf(path, sizeof(path), "%s/freezer.state", cg);
    while (getppid() == test)
        usleep(100000);
    for (int i = 0; i < 600 && access(cg, F_OK) == 0; i++) {
        put_text(path, "THAWED");
        rmdir(cg);
        usleep(100000);
    }
    _exit(0);
}

/* Move every thread of pid named comm* into a new freezer cgroup (v1) and
 * freeze it: a task posted to the pool then stays in flight until
 * thaw(). cg gets the group's directory. False (with a note) where that
 * cannot be done. */
static bool freeze_threads(pid_t pid, const char *comm, char *cg, size_t size)
{
    static bool guarded;
    char dir[64], path[320];
    bool ok;

    snprintf(cg, size, FREEZER "/kelpie-test-%d", (int)getpid());
    ok = access(FREEZER "/tasks", F_OK) == 0 && (mkdir(cg, 0755) == 0 || errno == EEXIST);
    if (ok && access(cg, F_OK) == 0 && !guarded) {
        guard(cg);
        guarded = true;
    }
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    DIR *d = ok ? opendir(dir) : NULL;
    snprintf(path, sizeof(path), "%s/tasks", cg);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (thread_named(dir, e->d_name, comm) == 1)
            ok &= put_text(path, e->d_name);
    }
    if (d != NULL)
        closedir(d);
    snprintf(path, sizeof(path), "%s/freezer.state", cg);
    if (ok && put_text(path, "FROZEN"))
        return true;
    fprintf(stderr, "aio: no freezer cgroup here (cgroup v1): in-flight checks skipped\n");
    rmdir(cg);
    return false;
}

static void thaw(const char *cg)
{
    char path[320];

    snprintf(path, sizeof(path), "%s/freezer.state", cg);
    ck_assert(put_text(path, "THAWED"));
}

/* Whether bytes (or the end) are waiting on fd now. */
static bool answered(int fd)
{
    char c;

    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

static int send_head(const struct kp_h_server *s, const char *path)
{
    char req[256];
    int fd = kp_h_connect(s->port);

    ck_assert_int_ge(fd, 0);
    snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    kp_h_send_str(fd, req);
    return fd;
}

static void expect_head_ok(int fd)
{
    struct kp_h_resp r;

    ck_assert_int_eq(kp_h_recv(fd, &r, true), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(strtoull(kp_h_header(&r, "Content-Length"), NULL, 10), SMALL_SIZE);
    kp_h_resp_free(&r);
    close(fd);
}

/* Cold opens held in flight (the pool's threads frozen, cgroup v1
 * freezer): another client's request for a cached file is answered while
 * the cold one waits (with the open in the reactor, the cold one would have
 * been answered: its lookup does not wait long here), and the cold one is
 * answered once the pool runs again. A client that leaves during its cold
 * open leaves no descriptor behind once the open is back. A reload during
 * a cold open: the old worker answers it, then exits. A fast stop
 * (SIGTERM) during a cold open waits for it, closes everything and exits
 * cleanly. */
START_TEST(aio_cold_open_in_flight)
{
    struct kp_h_server s;
    char dir[256], cg[128];
    char *small = content(SMALL_SIZE, 13);

    kp_h_prepare(&s);
    /* Other threads than the reactor answer under the hand-off models. */
    if (kp_h_model_is("sim_proactor") || kp_h_model_is("reactor_pool") ||
        !cold_tree(&s, small, dir, sizeof(dir))) {
        kp_h_stop(&s);
        free(small);
        return;
    }
    /* No open-file cache: every descriptor of a request goes with it. */
    kp_h_config(&s, "",
                "open_file_cache off;\nserver {\n    listen 127.0.0.1:@PORT@;\n    root cold;\n"
                "    aio threads;\n    location /w/ { alias html/; }\n}\n");
    write_file(&s, "html/warm.bin", small, SMALL_SIZE);
    ck_assert_int_eq(kp_h_start(&s), 0);
    pid_t w = worker_of(&s);
    ck_assert_int_eq(count_threads_named(w, "pool default", 32), 32);
    expect_body(&s, "GET", "/w/warm.bin", NULL, 200, small, SMALL_SIZE);
    expect_status(&s, "/g/1/2", 301); /* the cold root is open from here on */
    int base_fds = kp_h_count_fds(w);
    if (!freeze_threads(w, "pool default", cg, sizeof(cg))) {
        kp_h_stop(&s);
        unmount(dir);
        free(small);
        return;
    }
    int a = send_head(&s, "/s/1/2/3/f.bin");
    kp_h_sleep_ms(200); /* let the reactor take it first */
    expect_body(&s, "GET", "/w/warm.bin", NULL, 200, small, SMALL_SIZE);
    ck_assert_msg(!answered(a), "the cold request was answered while the pool was frozen");
    thaw(cg);
    expect_head_ok(a);

    ck_assert(freeze_threads(w, "pool default", cg, sizeof(cg)));
    int c = send_head(&s, "/c/1/2/3/f.bin");
    expect_body(&s, "GET", "/w/warm.bin", NULL, 200, small, SMALL_SIZE);
    close(c);
    thaw(cg);
    ck_assert_msg(kp_h_wait_fds(w, base_fds, 20000), "descriptors left: %d, were %d",
                  kp_h_count_fds(w), base_fds);

    /* A reload during a cold open: the old worker answers it, then leaves. */
    ck_assert(freeze_threads(w, "pool default", cg, sizeof(cg)));
    int g = send_head(&s, "/r/1/2/3/f.bin");
    expect_body(&s, "GET", "/w/warm.bin", NULL, 200, small, SMALL_SIZE);
    kill(s.pid, SIGHUP);
    ck_assert(kp_p_wait_children(s.pid, 2, 20000));
    ck_assert_msg(!answered(g), "the cold request was answered while the pool was frozen");
    thaw(cg);
    expect_head_ok(g);
    ck_assert(kp_p_gone(w, 20000));
    w = worker_of(&s);
    ck_assert_int_eq(count_threads_named(w, "pool default", 32), 32);

    ck_assert(freeze_threads(w, "pool default", cg, sizeof(cg)));
    int k = send_head(&s, "/k/1/2/3/f.bin");
    expect_body(&s, "GET", "/w/warm.bin", NULL, 200, small, SMALL_SIZE);
    kill(s.pid, SIGTERM);
    kp_h_sleep_ms(200);
    thaw(cg);
    ck_assert(kp_p_gone(w, 20000));
    int st = kp_h_signal_wait(&s, 0, 10000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "master status %d", st);
    close(k);
    s.pid = 0;
    kp_h_stop(&s);
    ck_assert_int_eq(rmdir(cg), 0); /* empty: the worker is gone */
    unmount(dir);
    free(small);
}
END_TEST

/* `kelpie -t` of main_extra + http_body must fail with message. */
static void refused(const char *main_extra, const char *http_body, const char *message)
{
    struct kp_h_server s;
    char conf[512], *out = NULL, *err = NULL;

    kp_h_prepare(&s);
    kp_h_config(&s, main_extra, http_body);
    snprintf(conf, sizeof(conf), "%sconf/kelpie.conf", s.prefix);
    char *argv[] = {(char *)kp_h_binary(), "-t", "-p", s.prefix, "-c", conf, NULL};
    ck_assert_int_eq(kp_h_run(argv, &out, &err), 1);
    ck_assert_msg(kp_p_count_lines(err, "[emerg]") == 1 && strstr(err, message) != NULL &&
                      strstr(err, "kelpie.conf:") != NULL,
                  "%s", err);
    free(out);
    free(err);
    s.pid = 0;
    s.alerts_expected = true;
    kp_h_stop(&s);
}

START_TEST(aio_conf)
{
    static const char *const srv = "server { listen 127.0.0.1:@PORT@; }\n";

    refused("", "aio threads=nope;\nserver { listen 127.0.0.1:@PORT@; }\n",
            "unknown thread pool \"nope\"");
    refused("thread_pool p max_queue=4;\n", srv, "\"thread_pool\" must have \"threads\" parameter");
    refused("thread_pool p threads=2;\nthread_pool p threads=3;\n", srv,
            "duplicate thread pool \"p\"");
    refused("thread_pool p threads=x;\n", srv, "invalid threads value \"x\"");
    refused("thread_pool p threads=2 spare=1;\n", srv, "invalid parameter \"spare=1\"");
    refused("", "aio sometimes;\nserver { listen 127.0.0.1:@PORT@; }\n", "invalid value");
    refused("", "aio threads=$pool;\nserver { listen 127.0.0.1:@PORT@; }\n", "variables");
    refused("", "thread_pool p threads=1;\nserver { listen 127.0.0.1:@PORT@; }\n",
            "\"thread_pool\" directive is not allowed here");

    /* Accepted: a pool declared after http, `aio on` (the default pool). */
    struct kp_h_server s;
    kp_h_prepare(&s);
    kp_h_config(&s, "",
                "aio on;\nserver { listen 127.0.0.1:@PORT@; location /x/ { aio threads=late; } "
                "location /y/ { aio off; } }\n");
    char *conf = kp_h_read(&s, "conf/kelpie.conf");
    ck_assert_ptr_nonnull(conf);
    FILE *f;
    char path[256];
    snprintf(path, sizeof(path), "%sconf/kelpie.conf", s.prefix);
    f = fopen(path, "w");
    fprintf(f, "%sthread_pool late threads=2 max_queue=8;\n", conf);
    fclose(f);
    free(conf);
    ck_assert_int_eq(kp_h_start(&s), 0);
    pid_t w = worker_of(&s);
    ck_assert_int_eq(count_threads_named(w, "pool late", 2), 2);
    ck_assert_int_eq(count_threads_named(w, "pool default", 32), 32);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_aio_suite(void)
{
    Suite *s = suite_create("aio");
    TCase *tc = tcase_create("aio");

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, aio_serves_uncached, 0, 2);
    tcase_add_test(tc, aio_queue_overflow);
    tcase_add_test(tc, aio_graceful_quit);
    tcase_add_test(tc, aio_cold_response_stays_in_pool);
    tcase_add_test(tc, aio_fd_table_reserved);
    tcase_add_loop_test(tc, aio_pool_below_reactors, 0, 3);
    tcase_add_test(tc, aio_conf);
    tcase_add_loop_test(tc, aio_cold_open, 0, 2);
    tcase_add_test(tc, aio_cold_open_in_flight);
    suite_add_tcase(s, tc);
    return s;
}
