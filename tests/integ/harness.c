/* Integration-test harness (see harness.h). Uses only plain POSIX calls so
 * that the tests exercise the server exactly as a user's client would. */
#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *kp_h_binary(void)
{
    const char *b = getenv("KP_TEST_BINARY");
    return b ? b : "build/kelpie";
}

const char *kp_h_events(void)
{
    const char *e = getenv("KP_TEST_EVENTS");
    return e ? e : "epoll";
}

bool kp_h_model_is(const char *name)
{
    const char *m = getenv("KP_TEST_MODEL");

    return m != NULL && strncmp(m, name, strlen(name)) == 0;
}

const char *kp_h_model_line(void)
{
    static char line[64];
    const char *m = getenv("KP_TEST_MODEL");

    if (m == NULL || *m == '\0')
        return "";
    snprintf(line, sizeof(line), " model %s;", m);
    return line;
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void mkdirs(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    mkdir(tmp, 0755);
}

void kp_h_prepare(struct kp_h_server *s)
{
    char dir[] = "/tmp/kelpie-test-XXXXXX";
    char path[256];

    memset(s, 0, sizeof(*s));
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(s->prefix, sizeof(s->prefix), "%s/", dir);
    snprintf(path, sizeof(path), "%shtml", s->prefix);
    mkdirs(path);
    snprintf(path, sizeof(path), "%slogs", s->prefix);
    mkdirs(path);
    snprintf(path, sizeof(path), "%sconf", s->prefix);
    mkdirs(path);
    s->port = free_port();
    do {
        s->port2 = free_port();
    } while (s->port2 == s->port);
    s->pid = -1;
}

void kp_h_write(const struct kp_h_server *s, const char *path, const char *content)
{
    char full[512];
    snprintf(full, sizeof(full), "%s%s", s->prefix, path);
    char *slash = strrchr(full, '/');
    *slash = '\0';
    mkdirs(full);
    *slash = '/';
    FILE *f = fopen(full, "w");
    ck_assert_msg(f != NULL, "cannot write %s", full);
    fputs(content, f);
    fclose(f);
}

/* Replace @PORT@ and @PORT2@ in text, and @PREFIX@ by the prefix (with its
 * trailing '/', for configurations that must name an absolute path);
 * returns a malloc'ed string. */
static char *substitute(const struct kp_h_server *s, const char *text)
{
    size_t cap = strlen(text) * 2 + 64;
    for (const char *p = text; (p = strstr(p, "@PREFIX@")) != NULL; p++)
        cap += strlen(s->prefix);
    char *out = malloc(cap);
    size_t n = 0;

    for (const char *p = text; *p;) {
        if (strncmp(p, "@PORT2@", 7) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%d", s->port2);
            p += 7;
        } else if (strncmp(p, "@PORT@", 6) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%d", s->port);
            p += 6;
        } else if (strncmp(p, "@PREFIX@", 8) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s", s->prefix);
            p += 8;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

void kp_h_config(const struct kp_h_server *s, const char *main_extra, const char *http_body)
{
    char *extra = substitute(s, main_extra ? main_extra : "");
    char *body = substitute(s, http_body ? http_body : "");
    size_t cap = strlen(extra) + strlen(body) + 1024;
    char *conf = malloc(cap);

    snprintf(conf, cap,
             "daemon off;\nerror_log logs/error.log info;\npid logs/kelpie.pid;\n%s\n"
             "events { use %s;%s }\n"
             "http {\n%s\n}\n",
             extra, kp_h_events(), kp_h_model_line(), body);
    kp_h_write(s, "conf/kelpie.conf", conf);
    free(conf);
    free(extra);
    free(body);
}

static bool port_open(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

void kp_h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int kp_h_start(struct kp_h_server *s)
{
    return kp_h_start_wrapped(s, NULL);
}

/* exec `wrapper... kelpie -p PREFIX -c CONF` (no wrapper: kelpie itself). */
static void exec_kelpie(const struct kp_h_server *s, char *const wrapper[])
{
    char conf[256];
    char *argv[32];
    int n = 0;

    snprintf(conf, sizeof(conf), "%sconf/kelpie.conf", s->prefix);
    for (; wrapper != NULL && wrapper[n] != NULL && n < 25; n++)
        argv[n] = wrapper[n];
    argv[n++] = (char *)kp_h_binary();
    argv[n++] = "-p";
    argv[n++] = (char *)s->prefix;
    argv[n++] = "-c";
    argv[n++] = conf;
    argv[n] = NULL;
    execvp(argv[0], argv);
    _exit(127);
}

/* The sockets listen before the pid file is written (as in nginx), so a
 * test that signals through `kelpie -s` right after start would find no pid
 * file on a busy machine. Wait for it a while; a configuration with another
 * pid path simply waits the bound out once. */
static void wait_pid_file(const struct kp_h_server *s)
{
    char path[512];
    snprintf(path, sizeof(path), "%slogs/kelpie.pid", s->prefix);
    for (int i = 0; i < 500 && access(path, F_OK) != 0; i++)
        kp_h_sleep_ms(10);
}

int kp_h_start_wrapped(struct kp_h_server *s, char *const wrapper[])
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        exec_kelpie(s, wrapper);
    s->pid = pid;
    for (int i = 0; i < 1000; i++) {
        if (port_open(s->port)) {
            wait_pid_file(s);
            return 0;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = -1;
            break;
        }
        kp_h_sleep_ms(10);
    }
    char *log = kp_h_read(s, "logs/error.log");
    fprintf(stderr, "kelpie did not start; error log:\n%s\n", log ? log : "(none)");
    free(log);
    return -1;
}

void kp_h_start_with(struct kp_h_server *s, const char *main_extra, const char *http_body)
{
    kp_h_prepare(s);
    kp_h_config(s, main_extra, http_body);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

char *kp_h_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

char *kp_h_read(const struct kp_h_server *s, const char *path)
{
    char full[512];
    snprintf(full, sizeof(full), "%s%s", s->prefix, path);
    return kp_h_slurp(full);
}

int kp_h_signal_wait(struct kp_h_server *s, int sig, int timeout_ms)
{
    int status = -1;

    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = -1;
            return status;
        }
        kp_h_sleep_ms(10);
    }
    return -1;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[1024];
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        rm_rf(sub);
    }
    closedir(d);
    rmdir(path);
}

static void check_error_log(const struct kp_h_server *s)
{
    char *log = kp_h_read(s, "logs/error.log");
    if (log == NULL)
        return;
    bool bad = strstr(log, "[alert]") != NULL || strstr(log, "[emerg]") != NULL;
    if (bad)
        fprintf(stderr, "unexpected alert in error log:\n%s\n", log);
    free(log);
    ck_assert_msg(!bad, "error log has [alert]/[emerg] lines");
}

int kp_h_stop(struct kp_h_server *s)
{
    int status = kp_h_signal_wait(s, SIGTERM, 10000);
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        s->pid = -1;
    }
    if (!s->alerts_expected)
        check_error_log(s);
    char dir[128];
    snprintf(dir, sizeof(dir), "%s", s->prefix);
    dir[strlen(dir) - 1] = '\0';
    rm_rf(dir);
    return status;
}

static char *slurp_fd(int fd)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (cap - n < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    return buf;
}

int kp_h_run(char *const argv[], char **out, char **err)
{
    char outp[] = "/tmp/kelpie-out-XXXXXX", errp[] = "/tmp/kelpie-err-XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp);
    int status;

    ck_assert(ofd >= 0 && efd >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    lseek(ofd, 0, SEEK_SET);
    lseek(efd, 0, SEEK_SET);
    *out = slurp_fd(ofd);
    *err = slurp_fd(efd);
    close(ofd);
    close(efd);
    unlink(outp);
    unlink(errp);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int kp_h_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void kp_h_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

void kp_h_send_str(int fd, const char *data)
{
    kp_h_send(fd, data, strlen(data));
}

const char *kp_h_header(const struct kp_h_resp *r, const char *name)
{
    static char value[4096];
    size_t nlen = strlen(name);
    const char *p = strstr(r->head, "\r\n");

    while (p != NULL && p[2] != '\r' && p[2] != '\0') {
        p += 2;
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL)
            break;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vlen = (size_t)(eol - v);
            if (vlen >= sizeof(value))
                vlen = sizeof(value) - 1;
            memcpy(value, v, vlen);
            value[vlen] = '\0';
            return value;
        }
        p = eol;
    }
    return NULL;
}

/* Read exactly n bytes into buf (blocking with the socket's timeout). A
 * read interrupted without a signal of ours (EINTR: a socket with a
 * timeout is not restarted) is tried again, as a real client would. */
static int read_exact(int fd, char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}

static int read_head(int fd, struct kp_h_resp *r)
{
    /* Byte at a time: slow but never reads past the head, so pipelined
     * responses stay in the socket for the next call. */
    while (r->head_len < sizeof(r->head) - 1) {
        ssize_t n = read(fd, r->head + r->head_len, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        r->head_len++;
        r->head[r->head_len] = '\0';
        if (r->head_len >= 4 && memcmp(r->head + r->head_len - 4, "\r\n\r\n", 4) == 0)
            return 0;
    }
    return -1;
}

static int read_chunked(int fd, struct kp_h_resp *r)
{
    size_t cap = 4096;
    r->body = malloc(cap);
    r->body_len = 0;
    for (;;) {
        char line[64];
        size_t n = 0;
        while (n < sizeof(line) - 1 && read_exact(fd, line + n, 1) == 0 && line[n] != '\n')
            n++;
        line[n] = '\0';
        size_t size = strtoul(line, NULL, 16);
        char crlf[2];
        if (size == 0)
            return read_exact(fd, crlf, 2);
        if (r->body_len + size + 1 > cap)
            r->body = realloc(r->body, cap = r->body_len + size + 1);
        if (read_exact(fd, r->body + r->body_len, size) != 0 || read_exact(fd, crlf, 2) != 0)
            return -1;
        r->body_len += size;
        r->body[r->body_len] = '\0';
    }
}

static int read_to_close(int fd, struct kp_h_resp *r)
{
    r->body = slurp_fd(fd);
    r->body_len = strlen(r->body);
    r->closed = true;
    return 0;
}

int kp_h_recv(int fd, struct kp_h_resp *r, bool head_only)
{
    memset(r, 0, sizeof(*r));
    if (read_head(fd, r) != 0)
        return -1;
    r->status = (r->head_len > 12) ? atoi(r->head + 9) : 0;
    if (head_only || r->status == 204 || r->status == 304 || r->status / 100 == 1)
        return 0;
    const char *te = kp_h_header(r, "Transfer-Encoding");
    if (te != NULL && strcasecmp(te, "chunked") == 0)
        return read_chunked(fd, r);
    const char *cl = kp_h_header(r, "Content-Length");
    if (cl == NULL)
        return read_to_close(fd, r);
    r->body_len = strtoul(cl, NULL, 10);
    r->body = malloc(r->body_len + 1);
    r->body[r->body_len] = '\0';
    return read_exact(fd, r->body, r->body_len);
}

int kp_h_request(int port, const char *raw, struct kp_h_resp *r)
{
    int fd = kp_h_connect(port);

    /* Freeable even when there is no response. */
    r->body = NULL;
    r->status = 0;
    if (fd < 0)
        return -1;
    kp_h_send_str(fd, raw);
    int rc = kp_h_recv(fd, r, strncmp(raw, "HEAD ", 5) == 0);
    close(fd);
    return rc;
}

void kp_h_resp_free(struct kp_h_resp *r)
{
    free(r->body);
    r->body = NULL;
}

bool kp_h_closed(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;

    for (;;) {
        if (poll(&p, 1, timeout_ms) <= 0)
            return false;
        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0)
            return false;
    }
}

bool kp_h_wait_until(bool (*fn)(void *arg), void *arg, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        if (fn(arg))
            return true;
        kp_h_sleep_ms(10);
    }
    return false;
}

int kp_h_backlog(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    int n = -1;

    if (f == NULL)
        return -1;
    while (n < 0 && fgets(line, sizeof(line), f) != NULL) {
        unsigned lport, st, txq, rxq;
        /* a listening socket (state 0A) shows its accept queue as rx_queue */
        if (sscanf(line, " %*d: %*8x:%x %*8x:%*x %x %x:%x", &lport, &st, &txq, &rxq) == 4 &&
            (int)lport == port && st == 0x0A)
            n = (int)rxq;
    }
    fclose(f);
    return n;
}

static bool queue_empty(void *arg)
{
    return kp_h_backlog(*(const int *)arg) == 0;
}

bool kp_h_wait_accepted(int port, int timeout_ms)
{
    return kp_h_wait_until(queue_empty, &port, timeout_ms);
}

/* Entries of /proc/PID/WHAT (without . and ..), or -1 if pid is gone. */
static int count_proc_dir(pid_t pid, const char *what)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    DIR *d = opendir(path);
    int n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 2;
}

int kp_h_count_fds(pid_t pid)
{
    return count_proc_dir(pid, "fd");
}

int kp_h_count_threads(pid_t pid)
{
    return count_proc_dir(pid, "task");
}

struct fd_wait {
    pid_t pid;
    int want;
};

static bool fds_back(void *arg)
{
    const struct fd_wait *w = arg;

    return kp_h_count_fds(w->pid) <= w->want;
}

bool kp_h_wait_fds(pid_t pid, int want, int timeout_ms)
{
    struct fd_wait w = {pid, want};

    return kp_h_wait_until(fds_back, &w, timeout_ms);
}

void kp_h_config_raw(const struct kp_h_server *s, const char *main_text, const char *events_body,
                     const char *http_body)
{
    char *main_part = substitute(s, main_text ? main_text : "");
    char *body = substitute(s, http_body ? http_body : "");
    size_t cap = strlen(main_part) + strlen(body) + strlen(events_body ? events_body : "") + 256;
    char *conf = malloc(cap);

    snprintf(conf, cap, "%s\nevents {\n%s\n}\nhttp {\n%s\n}\n", main_part,
             events_body ? events_body : "", body);
    kp_h_write(s, "conf/kelpie.conf", conf);
    free(conf);
    free(main_part);
    free(body);
}
