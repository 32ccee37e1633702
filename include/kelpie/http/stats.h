/* The status endpoint (`status;` in a location): the scoreboard's counters
 * as JSON (the default), as Prometheus text (`?format=prometheus`) or as
 * nginx's stub_status page (`?format=stub`).
 *
 * The handler first copies the scoreboard into a snapshot (relaxed loads;
 * a slot that changes owner while it is read is read again), then renders
 * the snapshot into the request arena. The renderers are pure functions of
 * a snapshot, so they can be tested on one built by hand.
 *
 * JSON (one line):
 *   {"master":{"pid","generation","reloads","respawns","started","uptime"},
 *    "accept_mutex_owner", "totals":{COUNTS}, "workers":[{"slot","worker",
 *    "pid","generation","state","started","heartbeat_age_ms",COUNTS},...]}
 * with COUNTS = "accepted","handled","active","reading","writing","waiting",
 * "requests","bytes_in","bytes_out","responses":{"1xx".."5xx"},
 * "accept_eagain". Times: "started" in unix seconds, "uptime" in seconds,
 * "heartbeat_age_ms" null before the first heartbeat; "state" is
 * "starting", "ready" or "draining"; "worker" is the worker's number in its
 * generation; totals are sums over the listed workers and every worker
 * that has exited since the master started (cumulative across reloads and
 * respawns, as nginx's counters).
 *
 * Prometheus (text exposition format 0.0.4): per worker number, with the
 * one label worker="<number>" that stays the same across reloads and
 * respawns (the counters include the exited workers of that number, so they
 * only grow): counters kelpie_connections_accepted_total,
 * kelpie_connections_handled_total, kelpie_requests_total,
 * kelpie_received_bytes_total, kelpie_sent_bytes_total,
 * kelpie_accept_eagain_total, kelpie_responses_total (and code="1xx".."5xx");
 * gauges kelpie_connections_{active,reading,writing,waiting} (summed over
 * the live workers of that number), kelpie_worker_start_time_seconds and
 * kelpie_worker_heartbeat_age_seconds (of its newest generation); per live
 * worker the info series kelpie_worker_state (1, with labels worker, pid,
 * generation and state="..."); kelpie_build_info (1, with version, openssl
 * and pcre2); and unlabelled kelpie_master_generation,
 * kelpie_master_reloads_total, kelpie_master_respawns_total,
 * kelpie_master_start_time_seconds, kelpie_master_uptime_seconds,
 * kelpie_accept_mutex_owner. */
#ifndef KP_STATS_H
#define KP_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kelpie/util/str.h"
#include "kelpie/event/scoreboard.h"
#include "kelpie/http/req.h"

/* One live (not FREE) scoreboard slot as read. */
struct kp_http_stats_worker {
    unsigned slot;   /* position in the scoreboard */
    unsigned index;  /* worker number within its generation */
    unsigned thread; /* reactor thread within the worker (worker_threads) */
    unsigned row;    /* its series on the Prometheus page (kp_sb_row) */
    int pid;         /* 0 for a moment after the master claimed the slot */
    unsigned generation;
    int state;             /* enum kp_sb_state, never KP_SB_FREE */
    uint64_t start_ms;     /* wall clock; 0: unknown */
    uint64_t heartbeat_ms; /* wall clock; 0: none yet */
    uint64_t counters[KP_SB_NCOUNTERS];
    int64_t gauges[KP_SB_NGAUGES]; /* never negative */
};

struct kp_http_stats {
    uint64_t now_ms; /* wall clock of the snapshot */
    int master_pid;  /* 0 when there is no master */
    unsigned generation;
    uint64_t reloads, respawns;
    uint64_t start_ms;      /* master start, wall clock; 0: unknown */
    int accept_mutex_owner; /* pid (thread id with worker_threads), 0: free */
    unsigned threads;       /* worker_threads: more than 1 adds a thread label */
    unsigned n_workers;
    struct kp_http_stats_worker workers[KP_SB_MAX_SLOTS];
    /* Counts of workers that have exited, by worker number (scoreboard.h). */
    uint64_t retired[KP_SB_MAX_SLOTS][KP_SB_NCOUNTERS];
    uint64_t counters[KP_SB_NCOUNTERS]; /* sums over workers[] and retired */
    char openssl[32], pcre2[32];        /* bare versions built with; "": none */
    int64_t gauges[KP_SB_NGAUGES];
};

enum kp_http_stats_format {
    KP_HTTP_STATS_JSON = 0,
    KP_HTTP_STATS_PROMETHEUS,
    KP_HTTP_STATS_STUB,
};

/* Copy sb into st (every field set), with now_ms as the snapshot's time.
 * Lock-free: sb may change meanwhile; a slot released or reclaimed while it
 * is read is retried a few times and then left out, and a copy that
 * overlaps the master folding an exited worker's counts into sb->retired is
 * taken again (a few times), so totals never count a worker twice or lose
 * it. */
void kp_http_stats_snapshot(struct kp_scoreboard *sb, uint64_t now_ms, struct kp_http_stats *st);

/* The sum of gauge g over sb's live workers (negatives as 0): what the
 * stub page and $connections_active ... $connections_waiting show. */
int64_t kp_http_stats_gauge(struct kp_scoreboard *sb, enum kp_sb_gauge g);

/* Bytes that rendering st as format takes at most. */
size_t kp_http_stats_size(const struct kp_http_stats *st, enum kp_http_stats_format format);

/* Render st as format into out (size bytes; not NUL-terminated). Returns
 * the length, or -ENOSPC when size is too small (kp_http_stats_size never
 * is). */
ssize_t kp_http_stats_render(const struct kp_http_stats *st, enum kp_http_stats_format format,
                             char *out, size_t size);

/* The format a raw query string asks for: the first `format=` parameter
 * (json, prometheus or stub), JSON when there is none. Returns the enum
 * value or -EINVAL for another value. */
int kp_http_stats_parse_format(struct kp_str args);

/* The kp_http_handler_fn of `status;` and `stub_status;`: 405 (Allow: GET,
 * HEAD) for other methods, 400 for an unknown format, 503 when the worker
 * has no scoreboard, else 200 with the rendered snapshot of the worker's
 * scoreboard (r->hc->ctx->board) in r->arena: in the format the query asks
 * for, or the stub page whatever the query when r->loc is a stub_status
 * location (r->loc may be NULL: no location's settings). Never blocks. */
int kp_http_stats_handler(struct kp_http_request *r);

#endif
