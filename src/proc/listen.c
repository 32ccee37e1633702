/* Listening sockets across reloads (see listen.h). */
#include "kelpie/proc/listen.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/conf.h"
#include "kelpie/os/inherit.h"
#include "kelpie/os/socket.h"

static bool same_socket(const struct kp_listening *a, const struct kp_listening *b)
{
    return a->conf.addrlen == b->conf.addrlen && a->conf.reuseport == b->conf.reuseport &&
           memcmp(&a->conf.addr, &b->conf.addr, a->conf.addrlen) == 0 &&
           (!a->conf.reuseport || a->n_reuseport_fds == b->n_reuseport_fds);
}

/* Move the fds of old's matching socket into ls. Returns true if found. */
static bool take_over(struct kp_listening *ls, struct kp_cycle *old, size_t n_fds)
{
    for (size_t i = 0; old != NULL && i < old->n_listening; i++) {
        struct kp_listening *o = &old->listening[i];
        if (o->fd < 0 || !same_socket(o, ls) || (ls->conf.reuseport && o->n_reuseport_fds != n_fds))
            continue;
        ls->fd = o->fd;
        o->fd = -1;
        ls->owns_path = o->owns_path;
        if (ls->conf.reuseport) {
            ls->reuseport_fds = o->reuseport_fds;
            ls->n_reuseport_fds = o->n_reuseport_fds;
            o->reuseport_fds = NULL;
            o->n_reuseport_fds = 0;
        }
        return true;
    }
    return false;
}

static int open_one(struct kp_listening *ls, size_t n_fds, const struct kp_log *log)
{
    int fd = kp_socket_listen(&ls->conf);

    if (fd < 0) {
        kp_log_error(log, KP_LOG_EMERG, -fd, "bind() to %s failed", ls->conf.text);
        return fd;
    }
    ls->fd = fd;
    ls->owns_path = ls->conf.addr.ss_family == AF_UNIX;
    if (!ls->conf.reuseport)
        return 0;
    /* reuseport: the kernel balances among one socket per worker; the
     * first doubles as the master's handle on the address. */
    ls->reuseport_fds = kp_calloc(n_fds, sizeof(int));
    ls->n_reuseport_fds = n_fds;
    ls->reuseport_fds[0] = fd;
    for (size_t i = 1; i < n_fds; i++) {
        ls->reuseport_fds[i] = kp_socket_listen(&ls->conf);
        if (ls->reuseport_fds[i] < 0) {
            int rc = ls->reuseport_fds[i];
            kp_log_error(log, KP_LOG_EMERG, -rc, "bind() to %s (reuseport) failed", ls->conf.text);
            ls->n_reuseport_fds = i;
            return rc;
        }
    }
    return 0;
}

/* Close ls; with remove, a UNIX-domain socket this process owns loses its
 * file too, so that the next start finds the path free. */
static void close_one(struct kp_listening *ls, bool remove)
{
    if (remove && ls->fd >= 0 && ls->owns_path)
        kp_socket_unlink(&ls->conf);
    ls->owns_path = false;
    for (size_t i = 0; i < ls->n_reuseport_fds; i++) {
        if (ls->reuseport_fds[i] != ls->fd)
            close(ls->reuseport_fds[i]);
    }
    if (ls->fd >= 0)
        close(ls->fd);
    kp_free(ls->reuseport_fds);
    ls->reuseport_fds = NULL;
    ls->n_reuseport_fds = 0;
    ls->fd = -1;
}

/* Undo a partial open: give taken-over sockets back, close new ones. */
static void give_back(struct kp_cycle *cycle, struct kp_cycle *old, size_t upto)
{
    for (size_t i = 0; i < upto; i++) {
        struct kp_listening *ls = &cycle->listening[i];
        bool returned = false;
        for (size_t j = 0; old != NULL && j < old->n_listening && !returned; j++) {
            struct kp_listening *o = &old->listening[j];
            if (o->fd < 0 && same_socket(o, ls)) {
                o->fd = ls->fd;
                o->reuseport_fds = ls->reuseport_fds;
                o->n_reuseport_fds = ls->n_reuseport_fds;
                ls->fd = -1;
                ls->reuseport_fds = NULL;
                ls->n_reuseport_fds = 0;
                returned = true;
            }
        }
        if (!returned)
            close_one(ls, true);
    }
}

int kp_listen_open(struct kp_cycle *cycle, struct kp_cycle *old, const struct kp_log *log)
{
    /* reuseport: one socket per reactor that accepts (worker_threads of them
     * per worker, or its one acceptor with accept=handoff). */
    size_t n_fds = (cycle->core.worker_processes > 0 ? (size_t)cycle->core.worker_processes : 1) *
                   kp_conf_core_acceptors(&cycle->core);

    for (size_t i = 0; i < cycle->n_listening; i++) {
        struct kp_listening *ls = &cycle->listening[i];
        if (take_over(ls, old, n_fds))
            continue;
        int rc = open_one(ls, n_fds, log);
        if (rc != 0) {
            close_one(ls, true);
            give_back(cycle, old, i);
            return rc;
        }
    }
    return 0;
}

void kp_listen_close(struct kp_cycle *cycle, bool remove_files)
{
    for (size_t i = 0; i < cycle->n_listening; i++)
        close_one(&cycle->listening[i], remove_files);
}

void kp_listen_close_copies(const struct kp_cycle *cycle)
{
    for (size_t i = 0; i < cycle->n_listening; i++) {
        const struct kp_listening *ls = &cycle->listening[i];
        for (size_t j = 0; j < ls->n_reuseport_fds; j++) {
            if (ls->reuseport_fds[j] != ls->fd)
                close(ls->reuseport_fds[j]);
        }
        if (ls->fd >= 0)
            close(ls->fd);
    }
}

void kp_listen_give_back(struct kp_cycle *cycle, struct kp_cycle *old)
{
    give_back(cycle, old, cycle->n_listening);
}

/* --- sockets handed over at exec ---------------------------------------------- */

static const char *source_name(const struct kp_inherited *in)
{
    return in->source == KP_INHERIT_SYSTEMD ? "systemd" : "the old master";
}

/* The entry of inh for in's address, creating it if new. */
static struct kp_listening *entry_for(struct kp_cycle *inh, const struct kp_inherited *in)
{
    for (size_t i = 0; i < inh->n_listening; i++) {
        struct kp_listening *ls = &inh->listening[i];
        if (ls->conf.reuseport && in->reuseport && ls->conf.addrlen == in->addrlen &&
            memcmp(&ls->conf.addr, &in->addr, in->addrlen) == 0)
            return ls;
    }
    struct kp_listening *ls = &inh->listening[inh->n_listening++];
    memset(ls, 0, sizeof(*ls));
    ls->fd = -1;
    ls->conf.addr = in->addr;
    ls->conf.addrlen = in->addrlen;
    ls->conf.reuseport = in->reuseport;
    kp_conf_addr_text(&in->addr, ls->conf.text, sizeof(ls->conf.text));
    return ls;
}

static void add_inherited(struct kp_cycle *inh, const struct kp_inherited *in,
                          const struct kp_log *log)
{
    struct kp_listening *ls = entry_for(inh, in);

    kp_log_error(log, KP_LOG_INFO, 0, "listening socket %s (fd %d%s%s%s) handed over by %s",
                 ls->conf.text, in->fd, in->name[0] ? ", \"" : "", in->name,
                 in->name[0] ? "\"" : "", source_name(in));
    if (ls->fd < 0)
        ls->fd = in->fd;
    ls->owns_path = in->addr.ss_family == AF_UNIX && in->source == KP_INHERIT_UPGRADE;
    if (!in->reuseport)
        return;
    ls->reuseport_fds =
        kp_realloc(ls->reuseport_fds, (ls->n_reuseport_fds + 1) * sizeof(*ls->reuseport_fds));
    ls->reuseport_fds[ls->n_reuseport_fds++] = in->fd;
}

struct kp_cycle *kp_listen_inherited(const struct kp_inherited *in, size_t n,
                                     const struct kp_log *log)
{
    struct kp_cycle *inh = NULL;

    for (size_t i = 0; i < n; i++) {
        if (in[i].err != 0) {
            kp_log_error(log, KP_LOG_WARN, -in[i].err,
                         "descriptor %d handed over by %s is not a listening stream socket: closed",
                         in[i].fd, source_name(&in[i]));
            if (in[i].err != -EBADF)
                close(in[i].fd);
            continue;
        }
        if (inh == NULL) {
            inh = kp_calloc(1, sizeof(*inh));
            inh->listening = kp_calloc(n, sizeof(*inh->listening));
        }
        add_inherited(inh, &in[i], log);
    }
    return inh;
}

void kp_listen_inherited_done(struct kp_cycle *inherited, const struct kp_log *log)
{
    if (inherited == NULL)
        return;
    for (size_t i = 0; i < inherited->n_listening; i++) {
        struct kp_listening *ls = &inherited->listening[i];
        if (ls->fd >= 0)
            kp_log_error(log, KP_LOG_NOTICE, 0,
                         "handed-over listening socket %s matches no listen directive: closed",
                         ls->conf.text);
        close_one(ls, false); /* its file is the old master's or systemd's */
    }
    kp_free(inherited->listening);
    kp_free(inherited);
}

int kp_listen_export(const struct kp_cycle *cycle, char *buf, size_t size)
{
    int fds[KP_INHERIT_MAX];
    size_t n = 0;

    for (size_t i = 0; i < cycle->n_listening; i++) {
        const struct kp_listening *ls = &cycle->listening[i];
        for (size_t j = 0; j < ls->n_reuseport_fds && n < KP_INHERIT_MAX; j++)
            fds[n++] = ls->reuseport_fds[j];
        if (ls->n_reuseport_fds == 0 && ls->fd >= 0 && n < KP_INHERIT_MAX)
            fds[n++] = ls->fd;
    }
    return kp_inherit_export(fds, n, buf, size);
}
