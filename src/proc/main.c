/* kelpie: parse the command line, load the configuration, then either test
 * it, signal a running master, or start serving. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/util/alloc.h"
#include "kelpie/proc/cli.h"
#include "kelpie/proc/control.h"
#include "kelpie/proc/cycle.h"
#include "kelpie/proc/master.h"
#include "kelpie/proc/master_start.h"
#include "kelpie/util/mem.h"
#include "kelpie/proc/reload_request.h"
#include "kelpie/event/tls.h"
#include "kelpie/event/uring.h"
#include "kelpie/http/gzip.h"
#include "kelpie/http/regex.h"
#include "kelpie/http/ssl.h"
#include "kelpie/os/process.h"

static void print_version(const struct kp_cli *cli)
{
    char alloc[128], pcre[64], ssl[256];

    /* with the build name, as nginx -v shows its --build */
    fprintf(stderr, "kelpie version: kelpie/%s%s%s%s\n", KP_VERSION, KP_BUILD[0] ? " (" : "",
            KP_BUILD, KP_BUILD[0] ? ")" : "");
    if (!cli->version_full)
        return;
    fprintf(stderr, "built by %s\n", KP_CC_VERSION);
    kp_http_ssl_version(ssl, sizeof(ssl));
    fprintf(stderr, "%s\n", ssl);
    if (kp_http_ssl_available())
        fprintf(stderr, "TLS SNI support enabled\n");
    fprintf(stderr, "allocator: %s\n", kp_mem_allocator(alloc, sizeof(alloc)));
    kp_http_regex_version(pcre, sizeof(pcre));
    fprintf(stderr, "regular expressions: PCRE2 %s (%s)\n", pcre,
            kp_http_regex_jit_available() ? "JIT available" : "no JIT");
    fprintf(stderr, "gzip: %s\n", kp_http_gzip_library());
    fprintf(stderr, "event backends: epoll poll select io_uring (%s)\n", kp_uring_library());
    fprintf(stderr, "configure arguments: %s\n", KP_CONFIGURE_ARGS);
    /* The compiled-in defaults; relative ones resolve against the prefix. */
    fprintf(stderr, "prefix: %s\nconf path: %s\nerror log path: %s\npid path: %s\n", KP_PREFIX,
            KP_CONF_PATH, KP_ERROR_LOG_PATH, KP_PID_PATH);
    fprintf(stderr, "http log path: %s\n", KP_HTTP_LOG_PATH);
}

static int test_config(const struct kp_cli *cli, const struct kp_cycle *cycle)
{
    if (kp_master_start_preflight(cycle) != 0) {
        fprintf(stderr, "kelpie: configuration file %s test failed\n", cycle->conf_path);
        return 1;
    }
    if (!cli->quiet) {
        fprintf(stderr, "kelpie: the configuration file %s syntax is ok\n", cycle->conf_path);
        fprintf(stderr, "kelpie: configuration file %s test is successful\n", cycle->conf_path);
    }
    if (cli->dump && kp_cycle_dump(cycle, STDOUT_FILENO) != 0)
        return 1;
    return 0;
}

/* nginx's message for a pid file that holds no number: its first line. */
static void report_bad_pidfile(const char *path)
{
    char text[64] = "";
    FILE *f = fopen(path, "r");

    if (f != NULL) {
        if (fgets(text, sizeof(text), f) == NULL)
            text[0] = '\0';
        fclose(f);
    }
    text[strcspn(text, "\r\n")] = '\0';
    fprintf(stderr, "kelpie: [error] invalid PID number \"%s\" in \"%s\"\n", text, path);
}

/* -s: signal the master named in the pid file. */
static int signal_master(const struct kp_cycle *cycle, const char *name)
{
    int sig = kp_control_signal_number(name);
    pid_t pid = kp_process_pidfile_read(cycle->core.pid_path);

    if (pid == -EINVAL) {
        report_bad_pidfile(cycle->core.pid_path);
        return 1;
    }
    if (pid < 0) {
        fprintf(stderr, "kelpie: [error] open() \"%s\" failed (%d: %s)\n", cycle->core.pid_path,
                -pid, strerror(-pid));
        return 1;
    }
    /* A stale pid file: nginx's words for the signal that found no process. */
    if (kill(pid, 0) != 0 && errno == ESRCH) {
        fprintf(stderr, "kelpie: [alert] kill(%d, %d) failed (%d: %s)\n", (int)pid, sig, ESRCH,
                strerror(ESRCH));
        return 1;
    }
    /* A pid file left by a crash may name a process that is not kelpie. */
    if (kp_process_pidfile_live(cycle->core.pid_path) != pid) {
        fprintf(stderr,
                "kelpie: [error] kelpie is not running: no kelpie process %d (from \"%s\")\n",
                (int)pid, cycle->core.pid_path);
        return 1;
    }
    if (sig == SIGHUP)
        return kp_reload_request_run(pid);
    if (kill(pid, sig) != 0) {
        fprintf(stderr, "kelpie: [error] kill(%d, %d) failed (%d: %s)\n", (int)pid, sig, errno,
                strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    struct kp_cli cli;
    char err[1024];

    kp_tls_init(); /* before anything calls OpenSSL */
    if (kp_cli_parse(argc, argv, &cli, err, sizeof(err)) != 0) {
        fprintf(stderr, "kelpie: %s\n", err);
        return 1;
    }
    if (cli.version || cli.help) {
        print_version(&cli);
        if (cli.help)
            fputs(kp_cli_usage(), stderr);
        return 0;
    }
    char *prefix = kp_cli_prefix(&cli);
    const char *conf = cli.conf ? cli.conf : KP_CONF_PATH;
    struct kp_cycle *cycle =
        kp_cycle_load_elog(prefix, conf, cli.directives, cli.error_log, err, sizeof(err));
    if (cycle == NULL) {
        fprintf(stderr, "kelpie: [emerg] %s\n", err);
        /* the file as it was opened, as in the success lines */
        if (cli.test)
            fprintf(stderr, "kelpie: configuration file %s%s test failed\n",
                    conf[0] == '/' ? "" : prefix, conf);
        kp_free(prefix);
        return 1;
    }
    kp_free(prefix);
    if (!cli.test && cli.signal == NULL)
        return kp_master_main(cycle, &cli, argc, argv); /* takes the cycle */
    int rc = cli.test ? test_config(&cli, cycle) : signal_master(cycle, cli.signal);
    kp_cycle_free(cycle);
    return rc;
}
