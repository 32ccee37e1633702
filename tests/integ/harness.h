/* Integration-test harness: starts the real build/kelpie in a temporary
 * prefix on free loopback ports, talks to it over real sockets, runs the
 * binary for command-line checks, and checks the error log for unexpected
 * [alert]/[emerg] lines. The event backend comes from KP_TEST_EVENTS
 * (epoll, poll, select or io_uring), so `make check` runs every suite once
 * per backend. */
#ifndef KP_TEST_HARNESS_H
#define KP_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct kp_h_server {
    pid_t pid;            /* the process started (master or single process) */
    int port, port2;      /* free loopback ports, substituted for @PORT@ / @PORT2@ */
    char prefix[128];     /* temp prefix with a trailing '/' */
    bool alerts_expected; /* skip the error-log check at stop */
};

struct kp_h_resp {
    int status;
    char head[16384]; /* status line + headers, NUL-terminated */
    size_t head_len;
    char *body; /* malloc'ed, NUL-terminated; NULL if none */
    size_t body_len;
    bool closed; /* the server closed the connection after it */
};

/* A fresh temp prefix with html/ and logs/ and free ports; no server yet. */
void kp_h_prepare(struct kp_h_server *s);
/* Write prefix-relative file `path` (directories created). */
void kp_h_write(const struct kp_h_server *s, const char *path, const char *content);
/* Write conf/kelpie.conf: main-context lines (`daemon off; error_log ...;
 * pid ...; events { use <backend>; }` plus main_extra), then `http { ... }`
 * around http_body. @PORT@/@PORT2@ are replaced by the ports. */
void kp_h_config(const struct kp_h_server *s, const char *main_extra, const char *http_body);
/* Start kelpie on the prefix and wait until @PORT@ accepts (at most 10 s).
 * Returns 0 or -1 (the error log is printed). */
int kp_h_start(struct kp_h_server *s);
/* kp_h_start through a wrapper command that execs what follows it (for
 * example systemd-socket-activate -l ADDR): argv is wrapper (NULL-
 * terminated, looked up in PATH) + kelpie -p PREFIX -c CONF. The pid is the
 * wrapper's, which becomes kelpie's when it execs. */
int kp_h_start_wrapped(struct kp_h_server *s, char *const wrapper[]);
/* prepare + config + start in one call; aborts the test on failure. */
void kp_h_start_with(struct kp_h_server *s, const char *main_extra, const char *http_body);
/* Send SIGTERM, wait for exit (10 s, then SIGKILL), check the error log for
 * [alert]/[emerg], remove the prefix. Returns the exit status (waitpid). */
int kp_h_stop(struct kp_h_server *s);
/* Send sig and wait for the process to exit. Returns the waitpid status or -1. */
int kp_h_signal_wait(struct kp_h_server *s, int sig, int timeout_ms);
/* Contents of the file at path (malloc'ed, NUL-terminated) or NULL. */
char *kp_h_slurp(const char *path);
/* Contents of a prefix-relative file (malloc'ed, NUL-terminated) or NULL. */
char *kp_h_read(const struct kp_h_server *s, const char *path);
/* The binary under test: $KP_TEST_BINARY or build/kelpie. */
const char *kp_h_binary(void);
const char *kp_h_events(void);
/* " model NAME;" from KP_TEST_MODEL (reactor, reactor_pool, sim_proactor),
 * for the events block after `use`; "" when unset. */
const char *kp_h_model_line(void);
/* Whether KP_TEST_MODEL names the model `name`. */
bool kp_h_model_is(const char *name);

/* Run argv (argv[0] is looked up as is), capturing stdout and stderr
 * (malloc'ed, NUL-terminated). Returns the exit code, or 128+signal. */
int kp_h_run(char *const argv[], char **out, char **err);

/* Connect to 127.0.0.1:port (blocking, 5 s timeouts). Returns fd or -1. */
int kp_h_connect(int port);
void kp_h_send(int fd, const char *data, size_t len);
void kp_h_send_str(int fd, const char *data);
/* Read one response. head_only: a HEAD response (no body whatever the
 * headers say). Returns 0, or -1 if the connection closed or timed out before
 * a whole response arrived. */
int kp_h_recv(int fd, struct kp_h_resp *r, bool head_only);
/* Connect, send the raw request, read one response, close. */
int kp_h_request(int port, const char *raw, struct kp_h_resp *r);
/* Value of the first header `name` (case-insensitive) in a static buffer, or NULL. */
const char *kp_h_header(const struct kp_h_resp *r, const char *name);
void kp_h_resp_free(struct kp_h_resp *r);
/* True when the peer has closed (read returns 0 or ECONNRESET) within timeout_ms. */
bool kp_h_closed(int fd, int timeout_ms);
/* Sleep ms milliseconds (tests poll for conditions in such steps). */
void kp_h_sleep_ms(int ms);
/* Poll cond-style helper: sleep in small steps until fn(arg) or timeout. */
bool kp_h_wait_until(bool (*fn)(void *arg), void *arg, int timeout_ms);
/* Count open descriptors of a process (/proc/PID/fd). */
int kp_h_count_fds(pid_t pid);
/* Threads of pid (entries of /proc/PID/task), -1 if it is gone. */
int kp_h_count_threads(pid_t pid);
/* Wait until pid has at most `want` descriptors open (at most timeout_ms). */
bool kp_h_wait_fds(pid_t pid, int want, int timeout_ms);

/* Connections in the accept queue of the IPv4 listener on port (from
 * /proc/net/tcp), or -1 if there is no such listener. */
int kp_h_backlog(int port);

/* Wait until every connection made to port so far has been accepted by a
 * worker (connect() returned, so each is with a worker or in the queue). */
bool kp_h_wait_accepted(int port, int timeout_ms);

/* Write conf/kelpie.conf exactly as given (nothing added: no `daemon off`,
 * no error_log or pid): the main-context text, the body of the events block
 * and the body of the http block; @PORT@/@PORT2@ are replaced. */
void kp_h_config_raw(const struct kp_h_server *s, const char *main_text, const char *events_body,
                     const char *http_body);

#endif
