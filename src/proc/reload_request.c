/* `kelpie -s reload` (see reload_request.h). */
#include "kelpie/proc/reload_request.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char *reload_reason(enum kp_reload_result r)
{
    switch (r) {
    case KP_RELOAD_ECONF:
        return "the configuration is invalid";
    case KP_RELOAD_ELISTEN:
        return "a listening socket could not be opened";
    case KP_RELOAD_EWORKERS:
        return "the new worker processes did not start";
    case KP_RELOAD_ELOGS:
        return "an access log could not be opened";
    case KP_RELOAD_EBUSY:
        return "the master is shutting down";
    case KP_RELOAD_ENOTSUP:
        return "kelpie runs with master_process off, which cannot reload: restart it";
    default:
        return "unknown failure";
    }
}

int kp_reload_request_run(pid_t pid)
{
    sigset_t set;
    siginfo_t info;
    struct timespec timeout = {60, 0};

    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (sigqueue(pid, KP_SIGNAL_RELOAD_RT, (union sigval){.sival_int = KP_RELOAD_COOKIE}) != 0) {
        fprintf(stderr, "kelpie: [error] sigqueue(%d) failed (%d: %s)\n", (int)pid, errno,
                strerror(errno));
        return 1;
    }
    for (;;) {
        if (sigtimedwait(&set, &info, &timeout) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "kelpie: [error] no answer from the master (pid %d) within 60 s\n",
                    (int)pid);
            return 1;
        }
        if (info.si_pid == pid)
            break;
    }
    int result = info.si_value.sival_int >> 16, err = info.si_value.sival_int & 0xffff;
    if (result == KP_RELOAD_OK)
        return 0;
    fprintf(stderr, "kelpie: [error] reload failed: %s%s%s (see the error log)\n",
            reload_reason((enum kp_reload_result)result), err ? ": " : "",
            err ? strerror(err) : "");
    return 1;
}
