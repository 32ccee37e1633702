/* The status endpoint: a lock-free snapshot of the scoreboard and its three
 * renderings, JSON, Prometheus text and nginx's stub_status (see stats.h). */
#include "kelpie/http/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "kelpie/util/arena.h"
#include "kelpie/http/regex.h"
#include "kelpie/http/req.h"
#include "kelpie/http/ssl.h"

/* Reads of a slot that keeps changing owner before it is left out. */
#define KP_STATS_SLOT_TRIES 3
/* Copies of the whole board that overlap a fold before one is kept as is. */
#define KP_STATS_FOLD_TRIES 8
/* Upper bounds of the renderings: the fixed text plus, per worker, every
 * line or field with its numbers at their widest (20 digits). */
#define KP_STATS_JSON_FIXED  1024
#define KP_STATS_JSON_WORKER 1024
#define KP_STATS_PROM_FIXED  8192
#define KP_STATS_PROM_SLOT   256  /* its kelpie_worker_state line */
#define KP_STATS_PROM_ROW    2560 /* a series row's 17 lines */
#define KP_STATS_STUB_SIZE   256

/* --- snapshot ---------------------------------------------------------------------------- */

/* Copy one slot. A slot can be released and claimed again while it is read
 * (its worker exited and the master started another): the pid is read
 * before and after, and a copy that straddles a change is read again. */
static bool read_slot(struct kp_sb_slot *s, struct kp_http_stats_worker *w)
{
    for (int i = 0; i < KP_STATS_SLOT_TRIES; i++) {
        int pid = atomic_load_explicit(&s->pid, memory_order_relaxed);
        w->state = atomic_load_explicit(&s->state, memory_order_relaxed);
        if (w->state == KP_SB_FREE)
            return false;
        w->pid = pid;
        w->generation = atomic_load_explicit(&s->generation, memory_order_relaxed);
        w->index = atomic_load_explicit(&s->index, memory_order_relaxed);
        w->thread = atomic_load_explicit(&s->thread, memory_order_relaxed);
        w->start_ms = atomic_load_explicit(&s->start_ms, memory_order_relaxed);
        w->heartbeat_ms = atomic_load_explicit(&s->heartbeat_ms, memory_order_relaxed);
        for (int c = 0; c < KP_SB_NCOUNTERS; c++)
            w->counters[c] = kp_sb_get(s, (enum kp_sb_counter)c);
        for (int g = 0; g < KP_SB_NGAUGES; g++) {
            int64_t v = kp_sb_gauge_get(s, (enum kp_sb_gauge)g);
            w->gauges[g] = v < 0 ? 0 : v; /* scrapers expect no negative counts */
        }
        if (atomic_load_explicit(&s->pid, memory_order_relaxed) == pid &&
            atomic_load_explicit(&s->state, memory_order_relaxed) != KP_SB_FREE)
            return true;
    }
    return false;
}

/* The live slots into st->workers and their sums into st->counters and
 * st->gauges (which the caller zeroed). */
static void read_slots(struct kp_scoreboard *sb, struct kp_http_stats *st)
{
    for (unsigned i = 0; i < KP_SB_MAX_SLOTS; i++) {
        struct kp_http_stats_worker *w = &st->workers[st->n_workers];
        if (!read_slot(&sb->slots[i], w))
            continue;
        w->slot = i;
        w->row = kp_sb_row(sb, w->index, w->thread);
        st->n_workers++;
        for (int c = 0; c < KP_SB_NCOUNTERS; c++)
            st->counters[c] += w->counters[c];
        for (int g = 0; g < KP_SB_NGAUGES; g++)
            st->gauges[g] += w->gauges[g];
    }
}

/* The exited workers' counts, added to st->counters. */
static void read_retired(struct kp_scoreboard *sb, struct kp_http_stats *st)
{
    for (unsigned i = 0; i < KP_SB_MAX_SLOTS; i++) {
        for (int c = 0; c < KP_SB_NCOUNTERS; c++) {
            st->retired[i][c] = atomic_load(&sb->retired[i][c]);
            st->counters[c] += st->retired[i][c];
        }
    }
}

int64_t kp_http_stats_gauge(struct kp_scoreboard *sb, enum kp_sb_gauge g)
{
    int64_t sum = 0;

    for (unsigned i = 0; i < KP_SB_MAX_SLOTS; i++) {
        const struct kp_sb_slot *s = &sb->slots[i];
        if (atomic_load_explicit(&s->state, memory_order_relaxed) == KP_SB_FREE)
            continue;
        int64_t v = kp_sb_gauge_get(s, g);
        sum += v < 0 ? 0 : v;
    }
    return sum;
}

/* "10.42 2022-12-11" and the like: the first word. */
static void first_word(char *buf, size_t size, const char *text)
{
    snprintf(buf, size, "%.*s", (int)strcspn(text, " "), text);
}

void kp_http_stats_snapshot(struct kp_scoreboard *sb, uint64_t now_ms, struct kp_http_stats *st)
{
    char pcre[64];

    /* A fold moves counts from a slot to retired: a copy taken while one is
     * under way (fold_seq odd, or changed) may see them in both or neither. */
    for (int tries = 0; tries < KP_STATS_FOLD_TRIES; tries++) {
        unsigned seq = atomic_load(&sb->fold_seq);
        memset(st, 0, sizeof(*st));
        read_slots(sb, st);
        read_retired(sb, st);
        if (seq % 2 == 0 && atomic_load(&sb->fold_seq) == seq)
            break;
    }
    st->now_ms = now_ms;
    st->master_pid = atomic_load_explicit(&sb->master_pid, memory_order_relaxed);
    st->generation = atomic_load_explicit(&sb->generation, memory_order_relaxed);
    st->reloads = atomic_load_explicit(&sb->reloads, memory_order_relaxed);
    st->respawns = atomic_load_explicit(&sb->respawns, memory_order_relaxed);
    st->start_ms = atomic_load_explicit(&sb->start_ms, memory_order_relaxed);
    st->accept_mutex_owner = (int)kp_shmtx_owner(&sb->accept_mutex);
    st->threads = atomic_load_explicit(&sb->threads, memory_order_relaxed);
    st->threads = st->threads > 1 ? st->threads : 1;
    kp_http_ssl_build_version(st->openssl, sizeof(st->openssl));
    kp_http_regex_version(pcre, sizeof(pcre));
    first_word(st->pcre2, sizeof(st->pcre2), pcre);
}

/* --- output ------------------------------------------------------------------------------ */

/* A bounded append buffer; once full, it stays full and takes nothing. */
struct out {
    char *p;
    size_t len, size;
    bool full;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    size_t room = o->size - o->len;

    if (o->full)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, room, fmt, ap);
    va_end(ap);
    /* vsnprintf needs room for its NUL too: the bounds allow for it. */
    if (n < 0 || (size_t)n >= room) {
        o->full = true;
        return;
    }
    o->len += (size_t)n;
}

static uint64_t age_ms(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0; /* another worker's clock may be ahead */
}

static const char *state_name(int state)
{
    switch (state) {
    case KP_SB_STARTING:
        return "starting";
    case KP_SB_READY:
        return "ready";
    case KP_SB_DRAINING:
        return "draining";
    default:
        return "free";
    }
}

/* --- JSON -------------------------------------------------------------------------------- */

static void json_counts(struct out *o, const uint64_t *c, const int64_t *g)
{
    put(o,
        "\"accepted\":%" PRIu64 ",\"handled\":%" PRIu64 ",\"active\":%" PRId64
        ",\"reading\":%" PRId64 ",\"writing\":%" PRId64 ",\"waiting\":%" PRId64
        ",\"requests\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64,
        c[KP_SB_ACCEPTED], c[KP_SB_HANDLED], g[KP_SB_ACTIVE], g[KP_SB_READING], g[KP_SB_WRITING],
        g[KP_SB_IDLE], c[KP_SB_REQUESTS], c[KP_SB_BYTES_IN], c[KP_SB_BYTES_OUT]);
    put(o,
        ",\"responses\":{\"1xx\":%" PRIu64 ",\"2xx\":%" PRIu64 ",\"3xx\":%" PRIu64
        ",\"4xx\":%" PRIu64 ",\"5xx\":%" PRIu64 "},\"accept_eagain\":%" PRIu64
        ",\"cq_overflows\":%" PRIu64,
        c[KP_SB_1XX], c[KP_SB_2XX], c[KP_SB_3XX], c[KP_SB_4XX], c[KP_SB_5XX],
        c[KP_SB_ACCEPT_EAGAIN], c[KP_SB_CQ_OVERFLOW]);
}

static void json_worker(struct out *o, const struct kp_http_stats *st,
                        const struct kp_http_stats_worker *w)
{
    put(o, "{\"slot\":%u,\"worker\":%u,", w->slot, w->index);
    if (st->threads > 1)
        put(o, "\"thread\":%u,", w->thread);
    put(o,
        "\"pid\":%d,\"generation\":%u,\"state\":\"%s\","
        "\"started\":%" PRIu64 ",\"heartbeat_age_ms\":",
        w->pid, w->generation, state_name(w->state), w->start_ms / 1000);
    if (w->heartbeat_ms == 0)
        put(o, "null,");
    else
        put(o, "%" PRIu64 ",", age_ms(st->now_ms, w->heartbeat_ms));
    json_counts(o, w->counters, w->gauges);
    put(o, "}");
}

static void render_json(const struct kp_http_stats *st, struct out *o)
{
    uint64_t uptime = st->start_ms != 0 ? age_ms(st->now_ms, st->start_ms) / 1000 : 0;

    put(o,
        "{\"master\":{\"pid\":%d,\"generation\":%u,\"reloads\":%" PRIu64 ",\"respawns\":%" PRIu64
        ",\"started\":%" PRIu64 ",\"uptime\":%" PRIu64 "},\"accept_mutex_owner\":%d,\"totals\":{",
        st->master_pid, st->generation, st->reloads, st->respawns, st->start_ms / 1000, uptime,
        st->accept_mutex_owner);
    json_counts(o, st->counters, st->gauges);
    put(o, "},\"workers\":[");
    for (unsigned i = 0; i < st->n_workers; i++) {
        if (i > 0)
            put(o, ",");
        json_worker(o, st, &st->workers[i]);
    }
    put(o, "]}\n");
}

/* --- Prometheus -------------------------------------------------------------------------- */

/* A per-worker family read straight from a counter or a gauge. */
struct metric {
    const char *name;
    const char *help;
    bool counter; /* index is an enum kp_sb_counter, else an enum kp_sb_gauge */
    int index;
};

static const struct metric WORKER_METRICS[] = {
    {"kelpie_connections_accepted_total", "Connections accepted.", true, KP_SB_ACCEPTED},
    {"kelpie_connections_handled_total", "Accepted connections taken over by HTTP.", true,
     KP_SB_HANDLED},
    {"kelpie_requests_total", "Request heads read.", true, KP_SB_REQUESTS},
    {"kelpie_received_bytes_total", "Bytes read from clients.", true, KP_SB_BYTES_IN},
    {"kelpie_sent_bytes_total", "Bytes written to clients.", true, KP_SB_BYTES_OUT},
    {"kelpie_accept_eagain_total", "Accept calls that found no connection.", true,
     KP_SB_ACCEPT_EAGAIN},
    {"kelpie_cq_overflows_total",
     "Waits that found the io_uring completion queue overflowed (nothing is lost).", true,
     KP_SB_CQ_OVERFLOW},
    {"kelpie_connections_active", "Open client connections.", false, KP_SB_ACTIVE},
    {"kelpie_connections_reading", "Connections reading a request.", false, KP_SB_READING},
    {"kelpie_connections_writing", "Connections writing a response.", false, KP_SB_WRITING},
    {"kelpie_connections_waiting", "Idle keep-alive connections.", false, KP_SB_IDLE},
};

/* HELP and TYPE come once per family, before its samples (format 0.0.4). */
static void family(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A series' labels: the worker number, and with worker_threads the
 * reactor thread within it (rows are numbered as kp_sb_row numbers them). */
static void labels(struct out *o, const struct kp_http_stats *st, unsigned row)
{
    if (st->threads > 1)
        put(o, "worker=\"%u\",thread=\"%u\"", row / st->threads, row % st->threads);
    else
        put(o, "worker=\"%u\"", row);
}

/* Series rows run from 0 to this minus 1: every row a live reactor has or
 * an exited one had. */

static unsigned n_rows(const struct kp_http_stats *st)
{
    unsigned n = 0;

    for (unsigned i = 0; i < st->n_workers; i++) {
        if (st->workers[i].row + 1 > n)
            n = st->workers[i].row + 1;
    }
    for (unsigned r = n; r < KP_SB_MAX_SLOTS; r++) {
        for (int c = 0; c < KP_SB_NCOUNTERS; c++)
            n = st->retired[r][c] != 0 ? r + 1 : n;
    }
    return n;
}

/* A counter of worker number row: its exited workers' and its live ones'. */
static uint64_t row_counter(const struct kp_http_stats *st, unsigned row, int c)
{
    uint64_t v = st->retired[row][c];

    for (unsigned i = 0; i < st->n_workers; i++)
        v += st->workers[i].row == row ? st->workers[i].counters[c] : 0;
    return v;
}

/* A gauge of worker number row, summed over its live workers (an old and a
 * new generation may share a number). The sum saturates: the snapshot is
 * read from shared memory, so no value in it is trusted not to overflow. */
static int64_t row_gauge(const struct kp_http_stats *st, unsigned row, int g)
{
    int64_t v = 0;

    for (unsigned i = 0; i < st->n_workers; i++) {
        int64_t x = st->workers[i].gauges[g];
        if (st->workers[i].row != row)
            continue;
        if (x > 0 && v > INT64_MAX - x)
            v = INT64_MAX;
        else if (x < 0 && v < INT64_MIN - x)
            v = INT64_MIN;
        else
            v += x;
    }
    return v;
}

/* The live worker of number row of the newest generation among those whose
 * start is known (a slot just claimed has none yet), or NULL. */
static const struct kp_http_stats_worker *row_newest(const struct kp_http_stats *st, unsigned row)
{
    const struct kp_http_stats_worker *best = NULL;

    for (unsigned i = 0; i < st->n_workers; i++) {
        const struct kp_http_stats_worker *w = &st->workers[i];
        if (w->row == row && w->start_ms != 0 && (best == NULL || w->generation > best->generation))
            best = w;
    }
    return best;
}

/* Milliseconds as decimal seconds, exactly. */
static void seconds(struct out *o, uint64_t ms)
{
    put(o, "%" PRIu64 ".%03u\n", ms / 1000, (unsigned)(ms % 1000));
}

static void prom_plain(const struct kp_http_stats *st, struct out *o)
{
    unsigned rows = n_rows(st);

    for (size_t m = 0; m < sizeof(WORKER_METRICS) / sizeof(WORKER_METRICS[0]); m++) {
        const struct metric *mt = &WORKER_METRICS[m];
        family(o, mt->name, mt->counter ? "counter" : "gauge", mt->help);
        for (unsigned row = 0; row < rows; row++) {
            put(o, "%s{", mt->name);
            labels(o, st, row);
            if (mt->counter)
                put(o, "} %" PRIu64 "\n", row_counter(st, row, mt->index));
            else
                put(o, "} %" PRId64 "\n", row_gauge(st, row, mt->index));
        }
    }
}

/* The times of each worker number's newest live worker. A time not known
 * yet (0) gives no sample rather than a made-up one. */
static void prom_times(const struct kp_http_stats *st, struct out *o)
{
    const char *start = "kelpie_worker_start_time_seconds";
    const char *beat = "kelpie_worker_heartbeat_age_seconds";
    unsigned rows = n_rows(st);

    family(o, start, "gauge", "When the worker started, in unix seconds.");
    for (unsigned row = 0; row < rows; row++) {
        const struct kp_http_stats_worker *w = row_newest(st, row);
        if (w != NULL) {
            put(o, "%s{", start);
            labels(o, st, row);
            put(o, "} ");
            seconds(o, w->start_ms);
        }
    }
    family(o, beat, "gauge", "Time since the worker's last heartbeat.");
    for (unsigned row = 0; row < rows; row++) {
        const struct kp_http_stats_worker *w = row_newest(st, row);
        if (w != NULL && w->heartbeat_ms != 0) {
            put(o, "%s{", beat);
            labels(o, st, row);
            put(o, "} ");
            seconds(o, age_ms(st->now_ms, w->heartbeat_ms));
        }
    }
}

/* Families with a label of their own. */
static void prom_special(const struct kp_http_stats *st, struct out *o)
{
    const char *resp = "kelpie_responses_total", *state = "kelpie_worker_state";
    unsigned rows = n_rows(st);

    family(o, resp, "counter", "Responses by status class.");
    for (unsigned row = 0; row < rows; row++) {
        for (int cls = 1; cls <= 5; cls++) {
            put(o, "%s{", resp);
            labels(o, st, row);
            put(o, ",code=\"%dxx\"} %" PRIu64 "\n", cls, row_counter(st, row, KP_SB_1XX + cls - 1));
        }
    }
    /* The info series of each live process: its pid and generation change
     * with a reload or respawn, the other series' labels do not. */
    family(o, state, "gauge", "The worker's state (starting, ready or draining).");
    for (unsigned i = 0; i < st->n_workers; i++) {
        const struct kp_http_stats_worker *w = &st->workers[i];
        put(o, "%s{", state);
        labels(o, st, w->row);
        put(o, ",pid=\"%d\",generation=\"%u\",state=\"%s\"} 1\n", w->pid, w->generation,
            state_name(w->state));
    }
    prom_times(st, o);
    family(o, "kelpie_build_info", "gauge", "The versions kelpie was built with.");
    put(o, "kelpie_build_info{version=\"%s\",openssl=\"%s\",pcre2=\"%s\"} 1\n", KP_VERSION,
        st->openssl, st->pcre2);
}

static void prom_master(const struct kp_http_stats *st, struct out *o)
{
    uint64_t uptime = st->start_ms != 0 ? age_ms(st->now_ms, st->start_ms) : 0;

    family(o, "kelpie_master_generation", "gauge", "Current worker generation.");
    put(o, "kelpie_master_generation %u\n", st->generation);
    family(o, "kelpie_master_reloads_total", "counter", "Configuration reloads.");
    put(o, "kelpie_master_reloads_total %" PRIu64 "\n", st->reloads);
    family(o, "kelpie_master_respawns_total", "counter", "Workers respawned after dying.");
    put(o, "kelpie_master_respawns_total %" PRIu64 "\n", st->respawns);
    family(o, "kelpie_master_start_time_seconds", "gauge", "When kelpie started, in unix seconds.");
    put(o, "kelpie_master_start_time_seconds ");
    seconds(o, st->start_ms);
    family(o, "kelpie_master_uptime_seconds", "gauge", "Time since kelpie started.");
    put(o, "kelpie_master_uptime_seconds ");
    seconds(o, uptime);
    family(o, "kelpie_accept_mutex_owner", "gauge", "Pid holding the accept mutex, 0 when free.");
    put(o, "kelpie_accept_mutex_owner %d\n", st->accept_mutex_owner);
}

/* --- stub_status ------------------------------------------------------------------------- */

/* nginx's layout to the byte, trailing spaces included: scrapers split it
 * by position. */
static void render_stub(const struct kp_http_stats *st, struct out *o)
{
    put(o,
        "Active connections: %" PRId64 " \nserver accepts handled requests\n %" PRIu64 " %" PRIu64
        " %" PRIu64 " \nReading: %" PRId64 " Writing: %" PRId64 " Waiting: %" PRId64 " \n",
        st->gauges[KP_SB_ACTIVE], st->counters[KP_SB_ACCEPTED], st->counters[KP_SB_HANDLED],
        st->counters[KP_SB_REQUESTS], st->gauges[KP_SB_READING], st->gauges[KP_SB_WRITING],
        st->gauges[KP_SB_IDLE]);
}

/* --- public ------------------------------------------------------------------------------ */

size_t kp_http_stats_size(const struct kp_http_stats *st, enum kp_http_stats_format format)
{
    switch (format) {
    case KP_HTTP_STATS_PROMETHEUS:
        return KP_STATS_PROM_FIXED + (size_t)st->n_workers * KP_STATS_PROM_SLOT +
               (size_t)n_rows(st) * KP_STATS_PROM_ROW;
    case KP_HTTP_STATS_STUB:
        return KP_STATS_STUB_SIZE;
    default:
        return KP_STATS_JSON_FIXED + (size_t)st->n_workers * KP_STATS_JSON_WORKER;
    }
}

ssize_t kp_http_stats_render(const struct kp_http_stats *st, enum kp_http_stats_format format,
                             char *out, size_t size)
{
    struct out o = {.p = out, .size = size};

    switch (format) {
    case KP_HTTP_STATS_PROMETHEUS:
        prom_plain(st, &o);
        prom_special(st, &o);
        prom_master(st, &o);
        break;
    case KP_HTTP_STATS_STUB:
        render_stub(st, &o);
        break;
    default:
        render_json(st, &o);
        break;
    }
    return o.full ? -ENOSPC : (ssize_t)o.len;
}

int kp_http_stats_parse_format(struct kp_str args)
{
    static const char *const names[] = {"json", "prometheus", "stub"};
    const char *p = args.p, *end = args.p + args.len;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        struct kp_str param = {p, (size_t)((amp != NULL ? amp : end) - p)};
        p = amp != NULL ? amp + 1 : end;
        if (!kp_str_has_prefix(param, KP_STR("format=")))
            continue;
        struct kp_str value = {param.p + 7, param.len - 7};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (kp_str_eq(value, kp_str_from(names[i])))
                return (int)i;
        }
        return -EINVAL;
    }
    return KP_HTTP_STATS_JSON;
}

static const struct kp_str CONTENT_TYPES[] = {
    [KP_HTTP_STATS_JSON] = KP_STR("application/json"),
    [KP_HTTP_STATS_PROMETHEUS] = KP_STR("text/plain; version=0.0.4; charset=utf-8"),
    [KP_HTTP_STATS_STUB] = KP_STR("text/plain"),
};

int kp_http_stats_handler(struct kp_http_request *r)
{
    enum kp_http_method m = r->parser.head.method;
    struct kp_scoreboard *sb = r->svc->board;

    if (m != KP_HTTP_METHOD_GET && m != KP_HTTP_METHOD_HEAD) {
        r->resp.allow = KP_STR("GET, HEAD");
        return 405;
    }
    bool stub = r->loc != NULL && r->loc->status == KP_HTTP_STATUS_STUB;
    int format = stub ? KP_HTTP_STATS_STUB : kp_http_stats_parse_format(r->args);
    if (format < 0)
        return 400;
    if (sb == NULL)
        return 503;
    /* Bounded: at most KP_SB_MAX_SLOTS workers, so at most a few hundred KiB. */
    struct kp_http_stats *st = kp_arena_alloc(&r->arena, sizeof(*st));
    kp_http_stats_snapshot(sb, r->svc->clock->wall_msec, st);
    size_t size = kp_http_stats_size(st, (enum kp_http_stats_format)format);
    char *body = kp_arena_alloc(&r->arena, size);
    ssize_t n = kp_http_stats_render(st, (enum kp_http_stats_format)format, body, size);
    if (n < 0)
        return 500;
    r->resp.body = (struct kp_str){body, (size_t)n};
    r->resp.content_type = CONTENT_TYPES[format];
    return 200;
}
