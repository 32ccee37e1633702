/* The master's systemd notifications (see master_notify.h). */
#include "kelpie/proc/master_notify.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/os/notify.h"

static void send_state(const struct kp_master *m, const char *state)
{
    int rc = kp_notify_send(state);

    if (rc != 0)
        kp_log_error(&m->log, KP_LOG_WARN, -rc, "sending \"%.*s\" to $" KP_NOTIFY_ENV " failed",
                     (int)strcspn(state, "\n"), state);
}

/* "generation 3, 2 workers, 2 draining": live workers of the current and of
 * older generations. */
static void status_text(const struct kp_master *m, char *buf, size_t size)
{
    unsigned current = 0, older = 0;

    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        if (m->kids[i].pid != 0)
            m->kids[i].generation == m->generation ? current++ : older++;
    }
    int n = snprintf(buf, size, "generation %u, %u worker%s", m->generation, current,
                     current == 1 ? "" : "s");
    if (older > 0 && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", %u draining", older);
}

void kp_master_notify_ready(const struct kp_master *m)
{
    char status[128], state[256];

    status_text(m, status, sizeof(status));
    /* MAINPID: after a daemon fork or a binary upgrade the master is not
     * the process systemd started (NotifyAccess=all lets it say so). */
    snprintf(state, sizeof(state), "READY=1\nMAINPID=%d\nSTATUS=%s", (int)getpid(), status);
    send_state(m, state);
}

void kp_master_notify_reloading(const struct kp_master *m)
{
    char state[128];

    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
             (unsigned long long)kp_notify_monotonic_usec());
    send_state(m, state);
}

void kp_master_notify_stopping(const struct kp_master *m)
{
    send_state(m, "STOPPING=1\nSTATUS=stopping");
}
