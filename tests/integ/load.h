/* A small HTTP/1.1 load generator for the integration tests: one thread
 * drives many non-blocking connections with poll(), each sending GET
 * requests back to back and checking every response, so that a test can
 * reload, kill or signal the server while clients keep it busy and then
 * count exactly what the clients saw.
 *
 * What counts as a failure: a connect that fails, a reset, the server
 * closing a connection that has a request outstanding (or closing it after a
 * response that did not say "Connection: close"), a response slower than
 * timeout_ms, or a status other than 200. A response with "Connection:
 * close" followed by the close is not a failure: the client reconnects. */
#ifndef KP_TEST_LOAD_H
#define KP_TEST_LOAD_H

#include <stdbool.h>
#include <sys/types.h>

#define KP_LOAD_MAX_BODIES 64
#define KP_LOAD_MAX_FAILS  64

enum kp_load_fail_kind {
    KP_LOAD_CONNECT = 1, /* connect() failed (refused, ...) */
    KP_LOAD_RESET,       /* ECONNRESET or another socket error */
    KP_LOAD_EOF,         /* closed with a request outstanding or without Connection: close */
    KP_LOAD_TIMEOUT,     /* no complete response within timeout_ms */
    KP_LOAD_STATUS,      /* a status other than 200 */
};

struct kp_load_conf {
    int port;
    int conns;         /* concurrent connections */
    bool close;        /* "Connection: close": one request per connection */
    const char *path;  /* request target; NULL: "/" */
    long max_requests; /* stop after this many responses in all (0: no limit) */
    int duration_ms;   /* stop after this long (0: until kp_load_stop) */
    int timeout_ms;    /* 0: 5000 */
    int ramp_ms;       /* open the first connections this far apart (0: all at once) */
};

struct kp_load_fail {
    enum kp_load_fail_kind kind;
    int local_port; /* the client end of the failed connection (0: none yet) */
    long at_ms;     /* since the start */
};

/* One distinct response body (its first 63 bytes, trailing newline cut). */
struct kp_load_body {
    char text[64];
    long count;
    long first_ms, last_ms; /* since the start */
};

struct kp_load_stats {
    long requests;      /* sent */
    long ok;            /* 200 responses */
    long failures;      /* every failure; the first KP_LOAD_MAX_FAILS are in fails[] */
    long server_closes; /* orderly closes after "Connection: close" */
    long connects;      /* connections opened */
    long max_ms;        /* slowest response, from the send (or the connect) */
    int n_bodies;
    struct kp_load_body bodies[KP_LOAD_MAX_BODIES];
    int n_fails;
    struct kp_load_fail fails[KP_LOAD_MAX_FAILS];
};

struct kp_load;

/* Start the load in a new thread. Never NULL (aborts the test on failure). */
struct kp_load *kp_load_start(const struct kp_load_conf *conf);
/* Wait until the load has ended by itself (max_requests or duration_ms),
 * or stop it now if it has neither; copy the stats; free l. */
void kp_load_finish(struct kp_load *l, struct kp_load_stats *out);
/* Stop the load at once, copy the stats, free l. */
void kp_load_stop(struct kp_load *l, struct kp_load_stats *out);
/* A copy of the stats so far. */
void kp_load_snapshot(struct kp_load *l, struct kp_load_stats *out);
/* The local ports of the connections open right now (at most max).
 * Returns how many were written. */
int kp_load_ports(struct kp_load *l, int *ports, int max);
/* Run a load to its end in the calling thread. */
void kp_load_run(const struct kp_load_conf *conf, struct kp_load_stats *out);
/* Print the stats (and the failures) to stderr, prefixed with name. */
void kp_load_print(const char *name, const struct kp_load_stats *st);
/* Milliseconds on the monotonic clock (for tests timing their own steps). */
long kp_load_now_ms(void);

#endif
