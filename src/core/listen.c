/* Listening sockets across reloads (see listen.h). */
#include "kelpie/core/listen.h"

#include <string.h>
#include <unistd.h>

#include "kelpie/core/alloc.h"
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

static void close_one(struct kp_listening *ls)
{
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
            close_one(ls);
    }
}

int kp_listen_open(struct kp_cycle *cycle, struct kp_cycle *old, const struct kp_log *log)
{
    size_t n_fds = cycle->core.worker_processes > 0 ? (size_t)cycle->core.worker_processes : 1;

    for (size_t i = 0; i < cycle->n_listening; i++) {
        struct kp_listening *ls = &cycle->listening[i];
        if (take_over(ls, old, n_fds))
            continue;
        int rc = open_one(ls, n_fds, log);
        if (rc != 0) {
            close_one(ls);
            give_back(cycle, old, i);
            return rc;
        }
    }
    return 0;
}

void kp_listen_close(struct kp_cycle *cycle)
{
    for (size_t i = 0; i < cycle->n_listening; i++)
        close_one(&cycle->listening[i]);
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
