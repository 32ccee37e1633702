/* Directives of the events { } block. */
#include "kelpie/event/conf.h"

#include <string.h>

#include "kelpie/event/uring.h"

#define EVENTS(m) KP_CONF_SLOT_MAIN, KP_CONF_FIELD(struct kp_events_conf, m)

void kp_event_conf_init(struct kp_events_conf *ev)
{
    ev->worker_connections = 512;
    ev->use = KP_EVENT_EPOLL;
    ev->accept_mutex = true;
    ev->accept_mutex_delay_ms = 500;
    ev->multi_accept = false;
}

static int events_block(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_conf_seen seen = {NULL, 0};
    struct kp_conf_frame frame = {
        KP_CONF_EVENTS, {cf->modules[KP_CONF_MODULE_EVENT], NULL, NULL}, &seen, NULL};

    (void)cmd;
    (void)conf;
    return kp_conf_parse_block(cf, &frame);
}

/* io_uring where this process cannot use it becomes epoll: the reason,
 * located like an error ("... in FILE:LINE"), waits in uring_fallback for
 * the one [warn] line. */
static void check_uring(struct kp_conf *cf, struct kp_events_conf *ev)
{
    char why[256];

    ev->uring_fallback = NULL;
    if (kp_uring_probe(why, sizeof(why)) == 0)
        return;
    ev->use = KP_EVENT_EPOLL;
    kp_conf_error(cf, "io_uring is not available (%s), using epoll", why);
    ev->uring_fallback = kp_conf_strdup(cf->arena, cf->err);
    cf->err[0] = '\0';
}

/* use epoll | poll | select | io_uring */
static int set_use(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    static const char *const names[] = {[KP_EVENT_EPOLL] = "epoll",
                                        [KP_EVENT_POLL] = "poll",
                                        [KP_EVENT_SELECT] = "select",
                                        [KP_EVENT_IO_URING] = "io_uring"};
    struct kp_events_conf *ev = conf;

    (void)cmd;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(cf->args[1], names[i]) == 0) {
            ev->use = (enum kp_event_use)i;
            ev->uring_fallback = NULL;
            if (ev->use == KP_EVENT_IO_URING)
                check_uring(cf, ev);
            return 0;
        }
    }
    return kp_conf_invalid(cf, cf->args[1]);
}

static int set_connections(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    int rc = kp_conf_set_num(cf, cmd, conf);

    /* A worker that may hold no connection could never accept one. */
    if (rc == 0 && ((struct kp_events_conf *)conf)->worker_connections == 0)
        return kp_conf_invalid(cf, cf->args[1]);
    return rc;
}

const struct kp_conf_cmd kp_event_conf_cmds[] = {
    {"events", KP_CONF_MAIN, KP_CONF_NOARGS, KP_CONF_BLOCK, events_block, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"worker_connections", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, set_connections,
     EVENTS(worker_connections)},
    {"use", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, set_use, EVENTS(use)},
    {"accept_mutex", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, kp_conf_set_flag, EVENTS(accept_mutex)},
    {"accept_mutex_delay", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, kp_conf_set_msec,
     EVENTS(accept_mutex_delay_ms)},
    {"multi_accept", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, kp_conf_set_flag, EVENTS(multi_accept)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};
