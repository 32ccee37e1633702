/* Loading a cycle: parse the -g directives and the configuration file through
 * the modules' directive tables, then group the servers' listen addresses
 * into the unique listening sockets. Everything lives in the cycle's arena. */
#include "kelpie/proc/cycle.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/util/alloc.h"
#include "kelpie/util/arena.h"
#include "kelpie/util/conf.h"
#include "kelpie/proc/conf_nginx.h"
#include "kelpie/event/conf.h"
#include "kelpie/http/conf.h"
#include "kelpie/http/conf_block.h"
#include "kelpie/http/auth.h"
#include "kelpie/http/autoindex.h"
#include "kelpie/http/gzip.h"
#include "kelpie/http/limit.h"
#include "kelpie/http/realip.h"
#include "kelpie/http/referer.h"
#include "kelpie/http/router.h"
#include "kelpie/http/ssl.h"
#include "kelpie/http/var_core.h"

#define ARENA_BLOCK 16384

/* Every module's directives; adding a module means adding its table here. */
static const struct kp_conf_cmd *const conf_tables[] = {
    kp_conf_core_cmds,
    kp_conf_nginx_cmds,
    kp_event_conf_cmds,
    kp_http_conf_block_cmds,
    kp_http_gzip_conf_cmds,
    kp_http_autoindex_conf_cmds,
    kp_http_realip_conf_cmds,
    kp_http_auth_conf_cmds,
    kp_http_limit_conf_cmds,
    kp_http_referer_conf_cmds,
#if KP_HAVE_SSL
    kp_http_ssl_conf_cmds,
#endif
    NULL,
};

/* Every module's built-in variables, searched in this order (a name two
 * tables have is the first's). */
static const struct kp_http_var_def *const var_tables[] = {
    kp_http_var_core_vars, kp_http_ssl_vars, kp_http_limit_vars, kp_http_referer_vars, NULL,
};

static struct kp_cycle *cycle_new(const char *prefix, const char *conf_path, const char *error_log)
{
    struct kp_cycle *cycle = kp_calloc(1, sizeof(*cycle));
    size_t len = strlen(prefix);

    cycle->arena = kp_alloc(sizeof(*cycle->arena));
    kp_arena_init(cycle->arena, ARENA_BLOCK);
    cycle->prefix = kp_arena_alloc(cycle->arena, len + 2);
    memcpy(cycle->prefix, prefix, len);
    if (len == 0 || prefix[len - 1] != '/')
        cycle->prefix[len++] = '/';
    cycle->prefix[len] = '\0';
    cycle->conf_path = kp_conf_join(cycle->arena, cycle->prefix, conf_path);
    kp_conf_core_init(&cycle->core, cycle->arena, cycle->prefix);
    if (error_log != NULL)
        cycle->core.error_log_path = strcmp(error_log, "stderr") == 0
                                         ? kp_conf_strdup(cycle->arena, error_log)
                                         : kp_conf_join(cycle->arena, cycle->prefix, error_log);
    kp_event_conf_init(&cycle->events);
    return cycle;
}

void kp_cycle_conf_init(struct kp_conf *cf, struct kp_cycle *cycle,
                        const struct kp_conf_cmd *const *tables, struct kp_conf_frame *top,
                        char *err, size_t errlen)
{
    struct kp_conf_target to = {.arena = cycle->arena,
                                .prefix = cycle->prefix,
                                .conf_path = cycle->conf_path,
                                .files = &cycle->files,
                                .modules = {[KP_CONF_MODULE_CORE] = &cycle->core,
                                            [KP_CONF_MODULE_EVENT] = &cycle->events,
                                            [KP_CONF_MODULE_HTTP] = &cycle->http}};

    cycle->http.vars.builtin = var_tables;
    kp_conf_init(cf, &to, tables, top, err, errlen);
}

static int parse_config(struct kp_cycle *cycle, const char *extra, char *err, size_t errlen)
{
    struct kp_conf_seen seen = {NULL, 0};
    struct kp_conf_frame top = {KP_CONF_MAIN, {&cycle->core, NULL, NULL}, &seen, NULL};
    struct kp_conf *cf = kp_alloc(sizeof(*cf)); /* holds the statement buffer */
    int rc = 0;

    kp_cycle_conf_init(cf, cycle, conf_tables, &top, err, errlen);
    /* -g goes first, like nginx: the same directive in the file is then
     * reported as a duplicate at its line in the file. */
    if (extra != NULL)
        rc = kp_conf_parse_text(cf, "command line", extra, strlen(extra), true);
    if (rc == 0)
        rc = kp_conf_parse_file(cf, cycle->conf_path);
    kp_free(cf);
    return rc;
}

static bool same_addr(const struct kp_socket_conf *a, const struct kp_socket_conf *b)
{
    return a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

/* The index of l's address in cycle->listening; n_listening when it is new. */
static size_t find_listening(const struct kp_cycle *cycle, const struct kp_socket_conf *l)
{
    size_t i = 0;

    while (i < cycle->n_listening && !same_addr(&cycle->listening[i].conf, l))
        i++;
    return i;
}

static void add_listen(struct kp_cycle *cycle, struct kp_http_srv_conf *srv,
                       const struct kp_http_listen *l)
{
    size_t i = find_listening(cycle, &l->sock);

    if (i == cycle->n_listening) {
        cycle->http_addrs =
            kp_conf_grow(cycle->arena, cycle->http_addrs, i, sizeof(*cycle->http_addrs));
        struct kp_listening *ls = KP_CONF_PUSH(cycle->arena, cycle->listening, cycle->n_listening);
        ls->conf = l->sock;
        ls->fd = -1;
    } else {
        /* Socket options come from at most one server (checked by the
         * parser), so or-ing them in is enough. */
        struct kp_socket_conf *c = &cycle->listening[i].conf;
        c->reuseport |= l->sock.reuseport;
        if (l->sock.backlog != KP_HTTP_BACKLOG)
            c->backlog = l->sock.backlog;
    }
    struct kp_http_addr *addr = &cycle->http_addrs[i];
    addr->ssl |= l->ssl;                       /* as in nginx: one `ssl` makes the address TLS */
    addr->proxy_protocol |= l->proxy_protocol; /* the same for PROXY headers */
    *KP_CONF_PUSH(cycle->arena, addr->servers, addr->n_servers) = srv;
    if (l->default_server)
        addr->default_server = srv;
}

/* One listening per unique address, servers in config order; the default
 * server is the one flagged default_server, else the first. The http view of
 * each is linked once the arrays stop growing. */
static void build_listening(struct kp_cycle *cycle)
{
    const struct kp_http_conf *http = &cycle->http;

    for (size_t i = 0; i < http->n_servers; i++) {
        for (size_t j = 0; j < http->servers[i]->n_listens; j++)
            add_listen(cycle, http->servers[i], &http->servers[i]->listens[j]);
    }
    for (size_t i = 0; i < cycle->n_listening; i++) {
        struct kp_http_addr *addr = &cycle->http_addrs[i];
        if (addr->default_server == NULL)
            addr->default_server = addr->servers[0];
        addr->names =
            kp_arena_alloc(cycle->arena, kp_http_router_names_max(addr) * sizeof(*addr->names));
        addr->n_names = kp_http_router_names(addr, addr->names);
        cycle->listening[i].proto = addr;
        cycle->listening[i].stream = !addr->ssl;
    }
}

/* Every pool an aio directive names must be declared by thread_pool, but
 * for "default", which is then nginx's: 32 threads, 65536 waiting tasks. */
static int check_pools(struct kp_cycle *cycle, char *err, size_t errlen)
{
    struct kp_events_conf *ev = &cycle->events;
    const struct kp_http_conf *http = &cycle->http;

    for (size_t i = 0; i < http->n_aio_refs; i++) {
        const struct kp_http_aio_ref *ref = &http->aio_refs[i];
        if (kp_event_conf_tpool(ev, ref->pool) != NULL)
            continue;
        if (strcmp(ref->pool, "default") != 0) {
            snprintf(err, errlen, "%s", ref->unknown);
            return -EINVAL;
        }
        *KP_CONF_PUSH(cycle->arena, ev->thread_pools, ev->n_thread_pools) =
            (struct kp_tpool_conf){.name = kp_conf_strdup(cycle->arena, "default"),
                                   .threads = KP_TPOOL_DEFAULT_THREADS,
                                   .max_queue = KP_TPOOL_DEFAULT_QUEUE};
    }
    return 0;
}

struct kp_cycle *kp_cycle_load(const char *prefix, const char *conf_path, const char *extra,
                               char *err, size_t errlen)
{
    return kp_cycle_load_elog(prefix, conf_path, extra, NULL, err, errlen);
}

struct kp_cycle *kp_cycle_load_elog(const char *prefix, const char *conf_path, const char *extra,
                                    const char *error_log, char *err, size_t errlen)
{
    struct kp_cycle *cycle = cycle_new(prefix, conf_path, error_log);

    if (parse_config(cycle, extra, err, errlen) != 0 || check_pools(cycle, err, errlen) != 0) {
        kp_cycle_free(cycle);
        return NULL;
    }
    build_listening(cycle);
    return cycle;
}

void kp_cycle_free(struct kp_cycle *cycle)
{
    if (cycle == NULL)
        return;
    for (size_t i = 0; i < cycle->n_listening; i++)
        kp_free(cycle->listening[i].reuseport_fds);
    kp_free(cycle->log_files);
    kp_arena_destroy(cycle->arena);
    kp_free(cycle->arena);
    kp_free(cycle);
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int kp_cycle_dump(const struct kp_cycle *cycle, int fd)
{
    int rc = 0;

    for (size_t i = 0; i < cycle->files.n && rc == 0; i++) {
        const struct kp_str *t = &cycle->files.texts[i];
        rc = write_all(fd, "# configuration file ", 21);
        if (rc == 0)
            rc = write_all(fd, cycle->files.names[i], strlen(cycle->files.names[i]));
        if (rc == 0)
            rc = write_all(fd, ":\n", 2);
        if (rc == 0)
            rc = write_all(fd, t->p, t->len);
        /* nginx ends each file with a line feed of its own: a blank line
         * after a file that ends with one, and diff-able output either way */
        if (rc == 0)
            rc = write_all(fd, "\n", 1);
    }
    return rc;
}
