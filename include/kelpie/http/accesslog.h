/* The access log at run time: each worker has every distinct access_log
 * path of the cycle open once (O_APPEND, so the lines of several workers
 * never interleave; in prefork, the descriptors the master opened, see
 * proc/logfiles.h), and after each response appends one line per access_log
 * directive that applies to the request's location.
 *
 * Buffering (access_log ... buffer=SIZE flush=TIME): lines are formatted
 * straight into the file's buffer (no allocation per line) and written when
 * the next line does not fit, when the flush timer fires (TIME after the
 * first line entered an empty buffer), on flush, reopen and close. With no
 * buffer, each line is one write(). Several directives naming one path share
 * one file: the largest buffer and the shortest non-zero flush apply.
 *
 * Values are escaped as nginx does: by default '"', '\\', bytes below 0x20
 * and from 0x7f on become \xHH; with escape=json, '"' and '\\' are
 * backslash-escaped and control bytes become \n, \r, \t, \b, \f or \u00HH.
 * An empty value is logged as "-" (as "" with escape=json). */
#ifndef KP_ACCESSLOG_H
#define KP_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kelpie/util/log.h"
#include "kelpie/http/conf.h"
#include "kelpie/event/loop.h"
#include "kelpie/event/timer.h"
#include "kelpie/http/req.h"

/* One open log file. */
struct kp_http_accesslog_file {
    const char *path; /* the configuration's string */
    int fd;
    char *buf;             /* NULL when unbuffered */
    size_t len, size;      /* bytes buffered, buffer size */
    uint64_t flush_ms;     /* 0: write only when the buffer fills */
    int gzip_level;        /* > 0: each write is one gzip member of this level */
    struct kp_timer timer; /* flush timer, data = this file */
    struct kp_loop *loop;  /* where the timer is armed; may be NULL */
    const struct kp_log *error_log;
    bool failing;  /* a write failed and was logged; log again once it works */
    bool borrowed; /* fd was opened ahead (the open's `opened`): never closed here */
};

/* An access_log directive and the file it writes to. */
struct kp_http_accesslog_map {
    const struct kp_http_access_log *conf;
    struct kp_http_accesslog_file *file;
};

/* A worker's access logs. */
struct kp_http_accesslog {
    struct kp_http_accesslog_file *files;
    size_t n_files;
    struct kp_http_accesslog_map *map; /* sorted by conf address, for bsearch */
    size_t n_map;
    int pid; /* $pid, read once */
};

/* Open every distinct access_log path of http (servers' and locations'
 * lists) with O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode 0644, or use the
 * descriptor opened for it ahead among opened[0..n_opened-1] (util/log.h;
 * opened may be NULL when n_opened is 0), which al never closes. loop arms the
 * flush timers (NULL: no timers, buffers are written when full or flushed).
 * error_log receives write and reopen failures later. Returns 0, or -errno
 * after logging "open() PATH failed" to error_log; then nothing stays open.
 * http and opened must outlive al. al must not move while open (timers point
 * into its files). Blocking: opens files. */
int kp_http_accesslog_open(struct kp_http_accesslog *al, const struct kp_http_conf *http,
                           const struct kp_log_file *opened, size_t n_opened, struct kp_loop *loop,
                           const struct kp_log *error_log);

/* Log a finished request: one line in the format of each access_log of
 * r->loc (or, for a request that never reached routing, of r->srv->loc, or
 * of the connection's default server). Call once per response, after its
 * last byte was handed to the kernel, before r->arena is reset. Never fails:
 * write errors go to the error log. May block in write(). */
void kp_http_accesslog_write(struct kp_http_accesslog *al, struct kp_http_request *r);

/* Write out every buffer now (graceful stop, before fork-free exits). */
void kp_http_accesslog_flush(struct kp_http_accesslog *al);

/* SIGUSR1 log rotation: flush, then reopen each path the worker opened
 * itself (a borrowed descriptor is replaced by the master, logfiles.h); a
 * file that cannot be reopened keeps its old descriptor (the failure is
 * logged). Returns 0 or the first -errno. */
int kp_http_accesslog_reopen(struct kp_http_accesslog *al);

/* Flush, disarm the timers, close the files and free the tables. al is then
 * empty; closing an empty or already-closed al is harmless. */
void kp_http_accesslog_close(struct kp_http_accesslog *al);

/* Format one log line of fmt for r, with its trailing '\n', into out (size
 * bytes; not NUL-terminated). Returns the line's full length: when it is
 * larger than size, out holds its first size bytes and the caller may cut
 * it there or retry with enough room (the values are the same the second time). Variables are
 * evaluated through the registry (http/var.h); only a few of them
 * ($request_id, $realpath_root, ...) take memory from r->arena. */
size_t kp_http_accesslog_format(const struct kp_http_log_format *fmt, struct kp_http_request *r,
                                char *out, size_t size);

#endif
