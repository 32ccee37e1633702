/* error_log as a configuration gives it (see logconf.h). */
#include "kelpie/util/logconf.h"

#include <string.h>

#include "kelpie/util/syslog.h"

struct kp_log *kp_logconf_parse(struct kp_conf *cf)
{
    const char *path = cf->args[1];
    enum kp_log_level level = KP_LOG_ERR;

    if (cf->nargs > 3) {
        kp_conf_error(cf, "invalid number of arguments in \"%s\" directive", cf->args[0]);
        return NULL;
    }
    if (cf->nargs == 3) {
        int l = kp_log_level_parse(cf->args[2]);
        if (l < 0) {
            kp_conf_error(cf, "invalid log level \"%s\"", cf->args[2]);
            return NULL;
        }
        level = (enum kp_log_level)l;
    }
    struct kp_log *log = kp_arena_alloc(cf->arena, sizeof(*log));
    memset(log, 0, sizeof(*log));
    kp_log_init_stderr(log, level);
    if (kp_syslog_is(path)) {
        log->syslog = kp_syslog_parse(cf, path);
        return log->syslog != NULL ? log : NULL;
    }
    if (strcmp(path, "stderr") != 0)
        log->path = kp_conf_join(cf->arena, cf->prefix, path);
    return log;
}

void kp_logconf_add(struct kp_log **chain, struct kp_log *l, bool first)
{
    if (first) {
        *chain = l;
        return;
    }
    struct kp_log **end = chain;
    while (*end != NULL)
        end = &(*end)->next;
    *end = l;
}
