/* What the integration tests learn about kelpie's processes from /proc (the
 * children of the master, titles, parents, memory, which worker owns the
 * server end of a client's connection), error-log checks that allow the
 * alerts a test provokes, and prefork configurations. */
#ifndef KP_TEST_PROC_H
#define KP_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

/* Live (not zombie) children of parent, at most max; returns how many. */
int kp_p_children(pid_t parent, pid_t *out, int max);
/* Wait until parent has exactly n live children (at most timeout_ms). */
bool kp_p_wait_children(pid_t parent, int n, int timeout_ms);
/* /proc/PID/cmdline with the NULs turned into spaces ("" if gone). */
void kp_p_cmdline(pid_t pid, char *buf, size_t size);
/* The parent pid, or -1 if pid is gone. */
pid_t kp_p_ppid(pid_t pid);
/* Start time in clock ticks since boot (field 22 of /proc/PID/stat), or -1. */
long long kp_p_start_ticks(pid_t pid);
/* True while pid exists and is not a zombie. */
bool kp_p_alive(pid_t pid);
/* VmRSS in bytes, or -1. */
long kp_p_rss(pid_t pid);
/* Which of the candidates holds the server end of the loopback connection
 * from client_port to server_port; 0 if none does. */
pid_t kp_p_socket_owner(int server_port, int client_port, const pid_t *cands, int n);
/* Lines of the text that contain needle. */
int kp_p_count_lines(const char *text, const char *needle);

/* [alert]/[emerg] lines of an error log that contain none of the allowed
 * substrings (a NULL-terminated list, may be NULL); each is printed. */
int kp_p_unexpected_alerts(const char *log, const char *const *allowed);

/* Wait until pid is gone (or a zombie), at most timeout_ms. */
bool kp_p_gone(pid_t pid, int timeout_ms);
/* A child of master not among the n_old pids of old, waiting at most
 * timeout_ms; 0 if none appears. */
pid_t kp_p_new_child(pid_t master, const pid_t *old, int n_old, int timeout_ms);
/* One `GET /` on a new connection to port; the status, or -1 if no answer. */
int kp_p_get(int port);
/* Wait until the error log holds needle (at most timeout_ms). */
bool kp_p_log_wait(const struct kp_h_server *s, const char *needle, int timeout_ms);
/* The same for any prefix-relative file (an access log). */
bool kp_p_file_wait(const struct kp_h_server *s, const char *path, const char *needle,
                    int timeout_ms);
/* `kelpie -t` of a fresh prefix whose http block is http_body must fail
 * with one [emerg] line holding message and " in .../kelpie.conf:LINE". */
void kp_p_expect_refused(const char *http_body, const char *message);
/* Fail the test on [alert]/[emerg] lines of the error log other than the
 * allowed ones (NULL-terminated), then stop s like kp_h_stop. */
void kp_p_stop_allowing(struct kp_h_server *s, const char *const *allowed);
/* Prefork configurations: `daemon off; error_log logs/error.log info; pid
 * logs/kelpie.pid; master_process on;` + main_extra, `events { use
 * $KP_TEST_EVENTS; events_extra }` and `http { http_body }`. kp_p_start
 * prepares s, writes that and starts kelpie (the test fails if it does not
 * start); kp_p_write_config only rewrites the file (for a reload). */
void kp_p_start(struct kp_h_server *s, const char *main_extra, const char *events_extra,
                const char *http_body);
void kp_p_write_config(const struct kp_h_server *s, const char *main_extra,
                       const char *events_extra, const char *http_body);

#endif
