/* Directives of the events { } block. */
#include "kelpie/event/conf.h"

#include <stdio.h>
#include <stdlib.h>
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
    ev->model = KP_MODEL_REACTOR;
    ev->model_threads = 2;
}

/* The hand-off models drive connections through epoll's EPOLLONESHOT (the
 * readiness thread) or hand work between threads around one epoll loop:
 * they run on epoll only, whichever of `use` and `model` comes first. */
static int check_model_use(struct kp_conf *cf, const struct kp_events_conf *ev)
{
    static const char *const models[] = {
        [KP_MODEL_REACTOR_POOL] = "reactor_pool", [KP_MODEL_SIM_PROACTOR] = "sim_proactor"};

    if (ev->model == KP_MODEL_REACTOR || ev->use == KP_EVENT_EPOLL)
        return 0;
    return kp_conf_error(cf, "\"model %s\" requires \"use epoll\"", models[ev->model]);
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

static const char *const use_names[] = {[KP_EVENT_EPOLL] = "epoll",
                                        [KP_EVENT_POLL] = "poll",
                                        [KP_EVENT_SELECT] = "select",
                                        [KP_EVENT_IO_URING] = "io_uring"};

const char *kp_event_use_name(enum kp_event_use use)
{
    return use_names[use];
}

/* use epoll | poll | select | io_uring */
static int set_use(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_events_conf *ev = conf;

    (void)cmd;
    for (size_t i = 0; i < sizeof(use_names) / sizeof(use_names[0]); i++) {
        if (strcmp(cf->args[1], use_names[i]) == 0) {
            ev->use = (enum kp_event_use)i;
            ev->uring_fallback = NULL;
            if (ev->use == KP_EVENT_IO_URING)
                check_uring(cf, ev);
            return check_model_use(cf, ev);
        }
    }
    return kp_conf_invalid(cf, cf->args[1]);
}

/* threads=N of `model`: 1 to 64. */
static int model_threads(struct kp_conf *cf, const char *arg, unsigned *out)
{
    char *end;
    long n = strtol(arg + sizeof("threads=") - 1, &end, 10);

    if (*end != '\0' || end == arg + sizeof("threads=") - 1 || n < 1 || n > 64)
        return kp_conf_invalid(cf, arg);
    *out = (unsigned)n;
    return 0;
}

/* model reactor | reactor_pool | sim_proactor [threads=N] */
static int set_model(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    static const char *const names[] = {[KP_MODEL_REACTOR] = "reactor",
                                        [KP_MODEL_REACTOR_POOL] = "reactor_pool",
                                        [KP_MODEL_SIM_PROACTOR] = "sim_proactor"};
    struct kp_events_conf *ev = conf;
    size_t i = 0;

    (void)cmd;
    while (i < sizeof(names) / sizeof(names[0]) && strcmp(cf->args[1], names[i]) != 0)
        i++;
    if (i == sizeof(names) / sizeof(names[0]))
        return kp_conf_invalid(cf, cf->args[1]);
    ev->model = (enum kp_event_model)i;
    if (cf->nargs == 3) {
        /* Only the simulated proactor has a pool of its own to size. */
        if (ev->model != KP_MODEL_SIM_PROACTOR || strncmp(cf->args[2], "threads=", 8) != 0)
            return kp_conf_invalid(cf, cf->args[2]);
        int rc = model_threads(cf, cf->args[2], &ev->model_threads);
        if (rc < 0)
            return rc;
    }
    return check_model_use(cf, ev);
}

static int set_connections(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    int rc = kp_conf_set_num(cf, cmd, conf);

    /* A worker that may hold no connection could never accept one. */
    if (rc == 0 && ((struct kp_events_conf *)conf)->worker_connections == 0)
        return kp_conf_invalid(cf, cf->args[1]);
    return rc;
}

const struct kp_tpool_conf *kp_event_conf_tpool(const struct kp_events_conf *ev, const char *name)
{
    for (size_t i = 0; i < ev->n_thread_pools; i++) {
        if (strcmp(ev->thread_pools[i].name, name) == 0)
            return &ev->thread_pools[i];
    }
    return NULL;
}

/* "key=N" with key matched: N into *out, at most max. */
static int pool_param(struct kp_conf *cf, const char *arg, const char *key, uint64_t max,
                      unsigned *out)
{
    size_t n = strlen(key);
    uint64_t v;

    if (strncmp(arg, key, n) != 0 || arg[n] != '=')
        return 1;
    if (kp_conf_parse_num(arg + n + 1, max, &v) != 0)
        return kp_conf_error(cf, "invalid %s value \"%s\"", key, arg + n + 1);
    *out = (unsigned)v;
    return 0;
}

/* thread_pool NAME threads=N [max_queue=M]; (nginx's syntax and limits:
 * threads is required; max_queue defaults to 65536). */
static int set_thread_pool(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_events_conf *ev = cf->modules[KP_CONF_MODULE_EVENT];
    struct kp_tpool_conf tp = {.max_queue = KP_TPOOL_DEFAULT_QUEUE};

    (void)cmd;
    (void)conf;
    if (kp_event_conf_tpool(ev, cf->args[1]) != NULL)
        return kp_conf_error(cf, "duplicate thread pool \"%s\"", cf->args[1]);
    for (size_t i = 2; i < cf->nargs; i++) {
        int rc = pool_param(cf, cf->args[i], "threads", KP_TPOOL_MAX_THREADS, &tp.threads);
        if (rc > 0)
            rc = pool_param(cf, cf->args[i], "max_queue", INT32_MAX, &tp.max_queue);
        if (rc > 0)
            return kp_conf_error(cf, "invalid parameter \"%s\"", cf->args[i]);
        if (rc < 0)
            return rc;
    }
    if (tp.threads == 0)
        return kp_conf_error(cf, "\"%s\" must have \"threads\" parameter", cf->args[0]);
    tp.name = kp_conf_strdup(cf->arena, cf->args[1]);
    *KP_CONF_PUSH(cf->arena, ev->thread_pools, ev->n_thread_pools) = tp;
    return 0;
}

const struct kp_conf_cmd kp_event_conf_cmds[] = {
    {"thread_pool", KP_CONF_MAIN, KP_CONF_RANGE(2, 3), KP_CONF_MULTI, set_thread_pool,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"events", KP_CONF_MAIN, KP_CONF_NOARGS, KP_CONF_BLOCK, events_block, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"worker_connections", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, set_connections,
     EVENTS(worker_connections)},
    {"use", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, set_use, EVENTS(use)},
    {"accept_mutex", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, kp_conf_set_flag, EVENTS(accept_mutex)},
    {"accept_mutex_delay", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, kp_conf_set_msec,
     EVENTS(accept_mutex_delay_ms)},
    {"model", KP_CONF_EVENTS, KP_CONF_RANGE(1, 2), 0, set_model, EVENTS(model)},
    {"multi_accept", KP_CONF_EVENTS, KP_CONF_TAKE(1), 0, kp_conf_set_flag, EVENTS(multi_accept)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};
