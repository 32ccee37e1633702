/* The cycle: one loaded, validated, read-only configuration plus the listening
 * sockets it needs. It composes the layers' own configuration types: the main
 * context's (proc/conf_core.h), events' (event/conf.h) and http's
 * (http/conf.h). The master builds a new cycle on start and on every reload;
 * workers only read it. Everything here is allocated with kp_alloc and freed by
 * kp_cycle_free(). Strings are NUL-terminated. Relative paths in the config are
 * already resolved against the prefix. */
#ifndef KP_CYCLE_H
#define KP_CYCLE_H

#include <stddef.h>

#include "kelpie/util/conf.h"
#include "kelpie/util/log.h"
#include "kelpie/event/conf.h"
#include "kelpie/http/conf.h"
#include "kelpie/proc/conf_core.h"

struct kp_arena;

struct kp_cycle {
    struct kp_arena *arena; /* owns everything kp_cycle_load() built */
    char *prefix;           /* with a trailing '/' */
    char *conf_path;        /* absolute */
    struct kp_core_conf core;
    struct kp_events_conf events;
    struct kp_http_conf http;
    struct kp_listening *listening;  /* each one's proto is its http_addrs entry */
    struct kp_http_addr *http_addrs; /* n_listening, same order */
    size_t n_listening;
    struct kp_conf_files files;    /* every file read, in order, and its text (for -T) */
    struct kp_log_file *log_files; /* kp_alloc'ed by kp_logfiles_open; NULL before */
    size_t n_log_files;
};

/* Read conf_path (relative to prefix if not absolute) plus the main-context
 * directives in `extra` (the -g option, may be NULL), validate everything and
 * build a cycle with n_listening filled in and every fd -1. prefix ends with
 * '/'. On error returns NULL and writes exactly one line (no newline) into err,
 * in nginx's form, e.g.
 *   unknown directive "listne" in /etc/kelpie/kelpie.conf:12
 * The caller prints it as "kelpie: [emerg] <err>". */
struct kp_cycle *kp_cycle_load(const char *prefix, const char *conf_path, const char *extra,
                               char *err, size_t errlen);
/* The same with a default error log other than the compiled-in one (the -e
 * option, used when the configuration has no error_log): "stderr", or a path
 * relative to prefix if not absolute. NULL: the compiled-in default. */
struct kp_cycle *kp_cycle_load_elog(const char *prefix, const char *conf_path, const char *extra,
                                    const char *error_log, char *err, size_t errlen);
/* Free a cycle: its arena, each listening's reuseport_fds array (which
 * must be kp_alloc'ed if set) and the log_files array. Does not close
 * listening or log fds (the master owns them). NULL is accepted. */
void kp_cycle_free(struct kp_cycle *cycle);
/* Prepare cf to parse into cycle (its arena, prefix, files, and the core,
 * events and http settings as cf->modules[]), as kp_conf_init does. */
void kp_cycle_conf_init(struct kp_conf *cf, struct kp_cycle *cycle,
                        const struct kp_conf_cmd *const *tables, struct kp_conf_frame *top,
                        char *err, size_t errlen);
/* For -T: write "# configuration file PATH:\n", the contents and a line feed
 * for every file that was read, as nginx -T does. Returns 0 or -errno. */
int kp_cycle_dump(const struct kp_cycle *cycle, int fd);

#endif
