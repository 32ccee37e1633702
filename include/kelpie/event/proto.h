/* The protocol plug-in: how a protocol (HTTP) is driven by whatever runs a
 * reactor. The runner (the worker process runner today; a thread or a
 * completion-based loop may run one the same way) builds the loop, the
 * connection pool and the acceptor, hands every accepted connection to
 * on_conn, and calls the hooks at the points of its life named below. The
 * protocol sees only the loop and the pool (struct kp_proto_env), never the
 * runner, the process model or the configuration of either.
 *
 * Stopping: a hook or a handler that must end the run sets env->loop->stop;
 * the runner then stops after the current iteration and closes every
 * connection through its close callback (a fast stop). env->pool->draining
 * set by the runner means a graceful quit: keep no connection alive. */
#ifndef KP_PROTO_H
#define KP_PROTO_H

#include "kelpie/event/accept.h"
#include "kelpie/event/conn.h"
#include "kelpie/event/loop.h"

/* What the protocol runs on; valid from start until exit returns. */
struct kp_proto_env {
    struct kp_loop *loop;
    struct kp_conn_pool *pool;
};

/* start: returns 0, or -errno (logged by the protocol): the runner then
 * serves nothing and reports a set-up failure. */
typedef int (*kp_proto_start_fn)(void *ctx, const struct kp_proto_env *env);
typedef void (*kp_proto_hook_fn)(void *ctx, const struct kp_proto_env *env);

struct kp_proto {
    kp_accept_conn_fn on_conn; /* required: take over an accepted connection */
    kp_proto_start_fn start;   /* optional: loop, pool and acceptor are ready */
    kp_proto_hook_fn reopen;   /* optional: reopen what the protocol opened itself
                                * (log rotation), after the error log */
    kp_proto_hook_fn exit;     /* optional: every connection is closed; the loop
                                * still exists (flush buffered logs here) */
    kp_proto_hook_fn drain;    /* optional: a soft drain (a reload): keep no
                                * connection alive, but let a request already on
                                * its way be answered; without it the runner
                                * sets pool->draining */
    void *ctx;                 /* passed to every callback */
};

#endif
