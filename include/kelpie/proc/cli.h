/* The command line, nginx-compatible:
 *   kelpie [-h] [-v] [-V] [-t] [-T] [-q] [-p prefix] [-e file] [-c file] [-g directives]
 *          [-s stop|quit|reopen|reload]
 * Option values may be attached (-pPREFIX) or separate (-p PREFIX). */
#ifndef KP_CLI_H
#define KP_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct kp_cli {
    bool help, version, version_full; /* -h/-?, -v, -V */
    bool test, dump, quiet;           /* -t, -T (implies -t), -q */
    const char *prefix;               /* -p; NULL: compile-time prefix */
    const char *conf;                 /* -c; NULL: conf/kelpie.conf */
    const char *directives;           /* -g; NULL: none */
    const char *error_log;            /* -e: the default error log; NULL: compiled in */
    const char *signal;               /* -s: stop, quit, reopen, reload */
};

/* Parse argv. Returns 0, or -EINVAL with one message (no "kelpie: " prefix,
 * no newline) in err, e.g. `invalid option: "-x"`. Pointers in *cli point
 * into argv. */
int kp_cli_parse(int argc, char *const argv[], struct kp_cli *cli, char *err, size_t errlen);
/* Usage text for -h. */
const char *kp_cli_usage(void);
/* Absolute prefix with a trailing '/', from -p (relative to the working
 * directory) or the compile-time default. Returns a kp_alloc'ed string. */
char *kp_cli_prefix(const struct kp_cli *cli);

#endif
