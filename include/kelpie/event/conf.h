/* The events { } block (connection limits, the demultiplexer backend, the
 * accept policy) and the listening sockets a worker accepts on: the
 * configuration the event layer owns. */
#ifndef KP_EVENT_CONF_H
#define KP_EVENT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kelpie/util/conf.h"
#include "kelpie/os/socket.h"

enum kp_event_use {
    KP_EVENT_EPOLL = 0,
    KP_EVENT_POLL,
    KP_EVENT_SELECT,
    KP_EVENT_IO_URING,
};

/* One `thread_pool NAME threads=N [max_queue=M];` (main context), or the
 * implicit "default" pool (32 threads, 65536 waiting tasks) that `aio
 * threads` uses when no pool of that name is declared. */
struct kp_tpool_conf {
    char *name;
    unsigned threads;   /* 1 .. KP_TPOOL_MAX_THREADS */
    unsigned max_queue; /* tasks that may wait for a thread; 0: none may */
};

#define KP_TPOOL_MAX_THREADS     512
#define KP_TPOOL_DEFAULT_THREADS 32
#define KP_TPOOL_DEFAULT_QUEUE   65536

/* `model`: how a worker's connections are driven (README, "Concurrency
 * models"). */
enum kp_event_model {
    KP_MODEL_REACTOR = 0,  /* each reactor reads, handles and writes its connections */
    KP_MODEL_REACTOR_POOL, /* one readiness thread; worker_threads pool threads
                            * handle ready connections (event/handoff.h) */
    KP_MODEL_SIM_PROACTOR, /* the reactor reads and writes; `threads` pool threads
                            * build the responses (event/offload.h) */
};

struct kp_events_conf {
    unsigned worker_connections;    /* 512 */
    enum kp_event_use use;          /* epoll */
    bool accept_mutex;              /* on (kelpie's default, unlike nginx) */
    uint64_t accept_mutex_delay_ms; /* 500 */
    bool multi_accept;              /* off */
    /* `use io_uring` where it cannot run: use is epoll, and this says why
     * ("..." in FILE:LINE), for the one [warn] line at start and with -t. */
    char *uring_fallback;
    /* thread_pool: declared in the main context, started in every worker
     * process (event/tpool.h); in config order. */
    struct kp_tpool_conf *thread_pools;
    size_t n_thread_pools;
    enum kp_event_model model; /* reactor */
    unsigned model_threads;    /* sim_proactor: handler threads per reactor (2) */
};

/* A unique listening address, shared by every server that listens on it. For
 * `reuseport` there is one fd per worker (reuseport_fds[worker index]). */
struct kp_listening {
    struct kp_socket_conf conf; /* address, backlog, reuseport */
    int fd;                     /* -1 until opened */
    int *reuseport_fds;         /* n_reuseport_fds entries when conf.reuseport */
    size_t n_reuseport_fds;
    /* A UNIX-domain socket whose file is this process's to remove when it
     * closes the socket for good: it bound it, or took it over from the
     * master of a binary upgrade (never a file systemd made). */
    bool owns_path;
    /* What the protocol serves on this address, opaque to the event layer
     * (http: struct kp_http_addr, http/conf.h). */
    const void *proto;
    /* Its connections are read only through kp_conn_recv (no TLS socket
     * BIO), so a completion backend may read them ahead (KP_IO_STREAM). */
    bool stream;
};

/* The name `use` takes for a backend: "epoll", "poll", "select", "io_uring". */
const char *kp_event_use_name(enum kp_event_use use);

/* The pool named name, or NULL. */
const struct kp_tpool_conf *kp_event_conf_tpool(const struct kp_events_conf *ev, const char *name);

/* Directive table: `events` and `thread_pool` (main context) and what goes
 * inside events. The
 * handlers write the struct kp_events_conf in cf->modules[KP_CONF_MODULE_EVENT]. */
extern const struct kp_conf_cmd kp_event_conf_cmds[];

/* Set the defaults: 512 connections, epoll, accept_mutex on with 500ms
 * delay, multi_accept off, model reactor. */
void kp_event_conf_init(struct kp_events_conf *ev);

#endif
