/* Helpers for controlling a running master from the command line. */
#include "kelpie/proc/control.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/util/str.h"

pid_t kp_control_read_pid(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t pid;

    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf));
    int err = errno;
    close(fd);
    if (n < 0)
        return -err;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        n--;
    if (kp_str_to_u64((struct kp_str){buf, (size_t)n}, 4194304, &pid) != 0 || pid == 0)
        return -EINVAL;
    return (pid_t)pid;
}

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
