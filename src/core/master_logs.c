/* Log files for the workers (see master_logs.h). */
#include "kelpie/core/master_logs.h"

#include "kelpie/os/process.h"

static void give_access_logs(struct kp_master *m, const struct kp_http_loc_conf *loc)
{
    const struct kp_core_conf *core = &m->cycle->core;

    for (size_t i = 0; i < loc->n_access_logs; i++) {
        int rc = kp_process_give_file(loc->access_logs[i].path, core->user, core->group);
        if (rc != 0)
            kp_log_error(&m->log, KP_LOG_ALERT, -rc, "cannot prepare \"%s\" for the workers",
                         loc->access_logs[i].path);
    }
}

/* Workers drop root before they open their access logs, and reopen them
 * unprivileged on USR1: as root, the master creates every log file first and
 * hands it to the workers' user (a rotated, renamed file is recreated here). */
void kp_master_logs_prepare(struct kp_master *m)
{
    const struct kp_http_conf *http = &m->cycle->http;

    if (m->log.path != NULL)
        kp_process_give_file(m->log.path, m->cycle->core.user, m->cycle->core.group);
    for (size_t i = 0; i < http->n_servers; i++) {
        give_access_logs(m, http->servers[i]->loc);
        for (size_t j = 0; j < http->servers[i]->n_locations; j++)
            give_access_logs(m, http->servers[i]->locations[j]);
    }
}
