/* Helpers for controlling a running master from the command line. */
#include "kelpie/proc/control.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

int kp_control_signal_number(const char *name)
{
    static const struct {
        const char *name;
        int sig;
    } map[] = {{"stop", SIGTERM}, {"quit", SIGQUIT}, {"reopen", SIGUSR1}, {"reload", SIGHUP}};

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(name, map[i].name) == 0)
            return map[i].sig;
    }
    return -EINVAL;
}
