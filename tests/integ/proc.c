/* /proc readers and prefork configurations for the integration tests (see
 * proc.h). */
#include "proc.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The fields of /proc/PID/stat after the command name, which may itself
 * contain spaces and parentheses: everything after the last ')'. */
static bool stat_fields(pid_t pid, char *buf, size_t size, char **rest)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] == '\0')
        return false;
    *rest = p + 2; /* "S ppid ..." */
    return true;
}

pid_t kp_p_ppid(pid_t pid)
{
    char buf[1024], *rest;
    char state;
    int ppid;

    if (!stat_fields(pid, buf, sizeof(buf), &rest) || sscanf(rest, "%c %d", &state, &ppid) != 2)
        return -1;
    return ppid;
}

bool kp_p_alive(pid_t pid)
{
    char buf[1024], *rest;

    return stat_fields(pid, buf, sizeof(buf), &rest) && rest[0] != 'Z' && rest[0] != 'X';
}

long long kp_p_start_ticks(pid_t pid)
{
    char buf[1024], *rest;

    if (!stat_fields(pid, buf, sizeof(buf), &rest))
        return -1;
    /* rest starts at field 3 (state); the start time is field 22. */
    char *p = rest;
    for (int field = 3; field < 22 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    return p ? strtoll(p, NULL, 10) : -1;
}

int kp_p_children(pid_t parent, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL && n < max) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid > 0 && kp_p_ppid(pid) == parent && kp_p_alive(pid))
            out[n++] = pid;
    }
    closedir(d);
    return n;
}

bool kp_p_wait_children(pid_t parent, int n, int timeout_ms)
{
    pid_t kids[256];
    struct timespec ts = {0, 10 * 1000000L};

    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        if (kp_p_children(parent, kids, 256) == n)
            return true;
        nanosleep(&ts, NULL);
    }
    return false;
}

void kp_p_cmdline(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

    if (fd >= 0)
        close(fd);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\0')
            buf[i] = ' ';
    }
    /* A title shorter than the original argv area ends in padding NULs. */
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = '\0';
}

long kp_p_rss(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

/* The inode of the server end of the connection, from /proc/net/tcp (whose
 * ports are in hexadecimal): local port server_port, remote client_port. */
static unsigned long socket_inode(int server_port, int client_port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    unsigned long inode = 0;

    if (f == NULL)
        return 0;
    while (inode == 0 && fgets(line, sizeof(line), f) != NULL) {
        unsigned lport, rport, st;
        unsigned long ino;
        if (sscanf(line, " %*d: %*x:%x %*x:%x %x %*x:%*x %*x:%*x %*x %*d %*d %lu", &lport, &rport,
                   &st, &ino) == 4 &&
            (int)lport == server_port && (int)rport == client_port)
            inode = ino;
    }
    fclose(f);
    return inode;
}

static bool holds_inode(pid_t pid, const char *want)
{
    char dir[64], path[320], target[128];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;

    if (d == NULL)
        return false;
    while (!found && (e = readdir(d)) != NULL) {
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            found = strcmp(target, want) == 0;
        }
    }
    closedir(d);
    return found;
}

pid_t kp_p_socket_owner(int server_port, int client_port, const pid_t *cands, int n)
{
    unsigned long inode = socket_inode(server_port, client_port);
    char want[64];

    if (inode == 0)
        return 0;
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    for (int i = 0; i < n; i++) {
        if (holds_inode(cands[i], want))
            return cands[i];
    }
    return 0;
}

int kp_p_count_lines(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *hit = strstr(p, needle);
        if (hit != NULL && hit < p + len)
            n++;
        p = eol ? eol + 1 : NULL;
    }
    return n;
}

int kp_p_unexpected_alerts(const char *log, const char *const *allowed)
{
    int bad = 0;

    for (const char *p = log; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        int len = eol ? (int)(eol - p) : (int)strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", len, p);
        p = eol ? eol + 1 : NULL;
        if (strstr(line, "[alert]") == NULL && strstr(line, "[emerg]") == NULL)
            continue;
        bool ok = false;
        for (size_t i = 0; allowed != NULL && allowed[i] != NULL && !ok; i++)
            ok = strstr(line, allowed[i]) != NULL;
        if (!ok) {
            fprintf(stderr, "unexpected: %s\n", line);
            bad++;
        }
    }
    return bad;
}

void kp_p_start(struct kp_h_server *s, const char *main_extra, const char *events_extra,
                const char *http_body)
{
    kp_h_prepare(s);
    /* Started as root, workers run as nobody: they must be able to reach
     * the prefix (mkdtemp makes it 0700) to open access logs and files. */
    char dir[sizeof(s->prefix)];
    snprintf(dir, sizeof(dir), "%s", s->prefix);
    chmod(dir, 0755);
    kp_p_write_config(s, main_extra, events_extra, http_body);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

void kp_p_write_config(const struct kp_h_server *s, const char *main_extra,
                       const char *events_extra, const char *http_body)
{
    char main_text[1024], events[512];

    snprintf(main_text, sizeof(main_text),
             "daemon off;\nerror_log logs/error.log info;\npid logs/kelpie.pid;\n"
             "master_process on;\n%s",
             main_extra ? main_extra : "");
    snprintf(events, sizeof(events), "use %s;%s\n%s", kp_h_events(), kp_h_model_line(),
             events_extra ? events_extra : "");
    kp_h_config_raw(s, main_text, events, http_body);
}

bool kp_p_gone(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        if (!kp_p_alive(pid))
            return true;
        kp_h_sleep_ms(10);
    }
    return false;
}

static bool among(const pid_t *v, int n, pid_t pid)
{
    for (int i = 0; i < n; i++) {
        if (v[i] == pid)
            return true;
    }
    return false;
}

pid_t kp_p_new_child(pid_t master, const pid_t *old, int n_old, int timeout_ms)
{
    pid_t kids[64];

    for (int waited = 0; waited <= timeout_ms; waited += 5) {
        int n = kp_p_children(master, kids, 64);
        for (int i = 0; i < n; i++) {
            if (!among(old, n_old, kids[i]))
                return kids[i];
        }
        kp_h_sleep_ms(5);
    }
    return 0;
}

int kp_p_get(int port)
{
    struct kp_h_resp r;
    int rc = kp_h_request(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);

    kp_h_resp_free(&r);
    return rc == 0 ? r.status : -1;
}

struct log_wait {
    const struct kp_h_server *s;
    const char *path;
    const char *needle;
};

static bool log_has(void *arg)
{
    const struct log_wait *w = arg;
    char *log = kp_h_read(w->s, w->path);
    bool found = log != NULL && strstr(log, w->needle) != NULL;

    free(log);
    return found;
}

bool kp_p_file_wait(const struct kp_h_server *s, const char *path, const char *needle,
                    int timeout_ms)
{
    struct log_wait w = {s, path, needle};

    return kp_h_wait_until(log_has, &w, timeout_ms);
}

bool kp_p_log_wait(const struct kp_h_server *s, const char *needle, int timeout_ms)
{
    return kp_p_file_wait(s, "logs/error.log", needle, timeout_ms);
}

void kp_p_expect_refused(const char *http_body, const char *message)
{
    struct kp_h_server s;
    char conf[512], *out = NULL, *err = NULL;

    kp_h_prepare(&s);
    kp_h_config(&s, "", http_body);
    snprintf(conf, sizeof(conf), "%sconf/kelpie.conf", s.prefix);
    char *argv[] = {(char *)kp_h_binary(), "-t", "-p", s.prefix, "-c", conf, NULL};
    ck_assert_int_eq(kp_h_run(argv, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "[emerg]"));
    ck_assert_msg(strstr(err, message) != NULL, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "kelpie.conf:"));
    free(out);
    free(err);
    s.pid = 0;
    s.alerts_expected = true;
    kp_h_stop(&s);
}

void kp_p_stop_allowing(struct kp_h_server *s, const char *const *allowed)
{
    char *log = kp_h_read(s, "logs/error.log");

    ck_assert_ptr_nonnull(log);
    ck_assert_msg(kp_p_unexpected_alerts(log, allowed) == 0, "unexpected alerts in the error log");
    free(log);
    s->alerts_expected = true;
    kp_h_stop(s);
}
