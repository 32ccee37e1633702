/* Command-line parsing. Kept apart from main() so that it can be unit tested. */
#include "kelpie/proc/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/util/alloc.h"

static const char usage[] =
    "Usage: kelpie [-?hvVtTq] [-s signal] [-p prefix]\n"
    "              [-e filename] [-c filename] [-g directives]\n"
    "\n"
    "Options:\n"
    "  -?,-h         : this help\n"
    "  -v            : show version and exit\n"
    "  -V            : show version, build and allocator information and exit\n"
    "  -t            : test configuration and exit\n"
    "  -T            : test configuration, dump it and exit\n"
    "  -q            : suppress non-error messages during configuration testing\n"
    "  -s signal     : send signal to a master process: stop, quit, reopen, reload\n"
    "  -p prefix     : set prefix path (default: " KP_PREFIX ")\n"
    "  -e filename   : set error log file (default: " KP_ERROR_LOG_PATH ")\n"
    "  -c filename   : set configuration file (default: " KP_CONF_PATH ")\n"
    "  -g directives : set global directives out of configuration file\n"
    "\n";

const char *kp_cli_usage(void)
{
    return usage;
}

static bool valid_signal(const char *s)
{
    return strcmp(s, "stop") == 0 || strcmp(s, "quit") == 0 || strcmp(s, "reopen") == 0 ||
           strcmp(s, "reload") == 0;
}

/* The value of an option taking an argument: attached or the next argv. */
static const char *option_value(int argc, char *const argv[], int *i, const char *p)
{
    if (p[1] != '\0')
        return p + 1;
    if (*i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int flag(struct kp_cli *cli, char c)
{
    switch (c) {
    case 'h':
    case '?':
        cli->help = true;
        return 0;
    case 'v':
        cli->version = true;
        return 0;
    case 'V':
        cli->version = cli->version_full = true;
        return 0;
    case 't':
        cli->test = true;
        return 0;
    case 'T':
        cli->test = cli->dump = true;
        return 0;
    case 'q':
        cli->quiet = true;
        return 0;
    default:
        return -EINVAL;
    }
}

static int valued(struct kp_cli *cli, char c, const char *v, char *err, size_t errlen)
{
    if (v == NULL) {
        snprintf(err, errlen, "option \"-%c\" requires %s", c,
                 c == 'p'               ? "directory name"
                 : c == 'c' || c == 'e' ? "file name"
                                        : "parameter");
        return -EINVAL;
    }
    if (c == 'p')
        cli->prefix = v;
    else if (c == 'c')
        cli->conf = v;
    else if (c == 'g')
        cli->directives = v;
    else if (c == 'e')
        cli->error_log = v;
    else if (!valid_signal(v)) {
        snprintf(err, errlen, "invalid option: \"-s %s\"", v);
        return -EINVAL;
    } else
        cli->signal = v;
    return 0;
}

int kp_cli_parse(int argc, char *const argv[], struct kp_cli *cli, char *err, size_t errlen)
{
    memset(cli, 0, sizeof(*cli));
    for (int i = 1; i < argc; i++) {
        const char *p = argv[i];
        if (p[0] != '-' || p[1] == '\0') {
            snprintf(err, errlen, "invalid option: \"%s\"", p);
            return -EINVAL;
        }
        for (p++; *p != '\0'; p++) {
            if (strchr("pcegs", *p) != NULL) {
                if (valued(cli, *p, option_value(argc, argv, &i, p), err, errlen) != 0)
                    return -EINVAL;
                break;
            }
            if (flag(cli, *p) != 0) {
                snprintf(err, errlen, "invalid option: \"%s\"", p);
                return -EINVAL;
            }
        }
    }
    return 0;
}

char *kp_cli_prefix(const struct kp_cli *cli)
{
    const char *p = cli->prefix ? cli->prefix : KP_PREFIX;
    char cwd[PATH_MAX];
    char out[PATH_MAX * 2];
    size_t len = strlen(p);
    const char *slash = (len > 0 && p[len - 1] == '/') ? "" : "/";

    /* A relative prefix is pinned to the start directory: a daemon changes
     * its working directory, and paths must not change meaning with it. */
    if (p[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL) {
        bool dot = strcmp(p, ".") == 0 || strcmp(p, "./") == 0;
        snprintf(out, sizeof(out), "%s/%s%s", cwd, dot ? "" : p, dot ? "" : slash);
    } else {
        snprintf(out, sizeof(out), "%s%s", p, slash);
    }
    return kp_strdup(out);
}
