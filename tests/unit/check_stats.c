/* The status endpoint (http/stats.c): the scoreboard snapshot, the three
 * renderings on hand-made snapshots (JSON that parses, Prometheus lines
 * that follow the exposition grammar, stub_status byte for byte), their
 * size bounds at the extremes, the format query, and the handler's
 * answers. The validators themselves are checked to reject bad input. */
#include <check.h>
#include <inttypes.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integ/format_check.h"
#include "kelpie/util/arena.h"
#include "kelpie/event/loop.h"
#include "kelpie/http/response.h"
#include "kelpie/http/server.h"
#include "kelpie/http/stats.h"

#define NOW_MS 1700000005250ull

static char out[1 << 20];

/* Render st as format into out, NUL-terminated; returns the length. */
static size_t render(const struct kp_http_stats *st, enum kp_http_stats_format format)
{
    size_t size = kp_http_stats_size(st, format);

    ck_assert_uint_lt(size, sizeof(out));
    ssize_t n = kp_http_stats_render(st, format, out, size);
    ck_assert_int_ge(n, 0);
    ck_assert_uint_lt((size_t)n, size);
    out[n] = '\0';
    return (size_t)n;
}

static void set_slot(struct kp_sb_slot *s, int pid, int state, unsigned gen, unsigned index,
                     uint64_t base)
{
    atomic_store(&s->pid, pid);
    atomic_store(&s->state, state);
    atomic_store(&s->generation, gen);
    atomic_store(&s->index, index);
    atomic_store(&s->start_ms, base * 1000);
    atomic_store(&s->heartbeat_ms, base == 0 ? 0 : NOW_MS - 250);
    for (int c = 0; c < KP_SB_NCOUNTERS; c++)
        atomic_store(&s->counters[c], base + (uint64_t)c);
    for (int g = 0; g < KP_SB_NGAUGES; g++)
        atomic_store(&s->gauges[g], (int64_t)g + 1);
}

/* Slots 0 (ready, generation 2), 2 (draining, generation 1), 5 (just
 * claimed: no pid, no times yet); slot 1 is free but not zeroed. */
static struct kp_scoreboard *board(void)
{
    struct kp_scoreboard *sb = calloc(1, sizeof(*sb));

    ck_assert_ptr_nonnull(sb);
    atomic_store(&sb->master_pid, 99);
    atomic_store(&sb->generation, 2);
    atomic_store(&sb->reloads, 1);
    atomic_store(&sb->respawns, 3);
    atomic_store(&sb->start_ms, 1700000000000ull);
    ck_assert(kp_shmtx_trylock(&sb->accept_mutex, 101));
    set_slot(&sb->slots[0], 101, KP_SB_READY, 2, 0, 1000);
    set_slot(&sb->slots[1], 0, KP_SB_FREE, 0, 0, 500);
    set_slot(&sb->slots[2], 102, KP_SB_DRAINING, 1, 1, 2000);
    set_slot(&sb->slots[5], 0, KP_SB_STARTING, 2, 1, 0);
    atomic_store(&sb->slots[2].gauges[KP_SB_IDLE], -4);
    return sb;
}

START_TEST(snapshot)
{
    struct kp_scoreboard *sb = board();
    struct kp_http_stats *st = malloc(sizeof(*st));

    kp_http_stats_snapshot(sb, NOW_MS, st);
    ck_assert_uint_eq(st->n_workers, 3);
    ck_assert_uint_eq(st->workers[0].slot, 0);
    ck_assert_uint_eq(st->workers[1].slot, 2);
    ck_assert_uint_eq(st->workers[2].slot, 5);
    ck_assert_int_eq(st->workers[1].state, KP_SB_DRAINING);
    ck_assert_uint_eq(st->workers[1].generation, 1);
    ck_assert_int_eq(st->workers[2].pid, 0);
    ck_assert_int_eq(st->master_pid, 99);
    ck_assert_int_eq(st->accept_mutex_owner, 101);
    ck_assert_uint_eq(st->reloads, 1);
    ck_assert_uint_eq(st->respawns, 3);
    /* Totals are the sums over the live slots: the free one is left out. */
    ck_assert_uint_eq(st->counters[KP_SB_REQUESTS], 1000 + 2000 + 0 + 3 * KP_SB_REQUESTS);
    ck_assert_uint_eq(st->counters[KP_SB_5XX], 3000 + 3 * KP_SB_5XX);
    ck_assert_int_eq(st->gauges[KP_SB_ACTIVE], 3);
    /* A negative gauge is shown as 0. */
    ck_assert_int_eq(st->workers[1].gauges[KP_SB_IDLE], 0);
    ck_assert_int_eq(st->gauges[KP_SB_IDLE], 2 * (KP_SB_IDLE + 1));
    free(st);
    free(sb);
}
END_TEST

/* One ready worker, small numbers: the whole JSON text is known. */
static void one_worker(struct kp_http_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->now_ms = NOW_MS;
    st->master_pid = 10;
    st->generation = 1;
    st->start_ms = 1700000000000ull;
    st->n_workers = 1;
    struct kp_http_stats_worker *w = &st->workers[0];
    *w = (struct kp_http_stats_worker){.slot = 0,
                                       .index = 0,
                                       .pid = 11,
                                       .generation = 1,
                                       .state = KP_SB_READY,
                                       .start_ms = 1700000001999ull,
                                       .heartbeat_ms = NOW_MS - 40};
    w->counters[KP_SB_ACCEPTED] = w->counters[KP_SB_HANDLED] = 4;
    w->counters[KP_SB_REQUESTS] = 5;
    w->counters[KP_SB_BYTES_IN] = 300;
    w->counters[KP_SB_BYTES_OUT] = 900;
    w->counters[KP_SB_2XX] = 4;
    w->counters[KP_SB_ACCEPT_EAGAIN] = 2;
    w->gauges[KP_SB_ACTIVE] = 1;
    w->gauges[KP_SB_READING] = 1;
    memcpy(st->counters, w->counters, sizeof(st->counters));
    memcpy(st->gauges, w->gauges, sizeof(st->gauges));
}

/* A worker reaped by the master leaves its counts in the totals and in its
 * worker number's series: a reload or respawn never makes them go back. */
START_TEST(retired_counts)
{
    struct kp_scoreboard *sb = board();
    struct kp_http_stats *st = malloc(sizeof(*st));

    kp_http_stats_snapshot(sb, NOW_MS, st);
    uint64_t before = st->counters[KP_SB_REQUESTS];
    /* The draining worker 1 (2002 requests) exits; a respawned worker 0 of
     * generation 3 takes slot 1 and has served 7. */
    kp_sb_retire(sb, &sb->slots[2]);
    ck_assert_int_eq(atomic_load(&sb->slots[2].state), KP_SB_FREE);
    ck_assert_uint_eq(atomic_load(&sb->fold_seq) % 2, 0);
    kp_sb_retire(sb, &sb->slots[0]);
    set_slot(&sb->slots[1], 103, KP_SB_READY, 3, 0, 5);
    kp_http_stats_snapshot(sb, NOW_MS, st);
    ck_assert_uint_eq(st->n_workers, 2);
    ck_assert_uint_eq(st->retired[1][KP_SB_REQUESTS], 2002);
    ck_assert_uint_eq(st->retired[0][KP_SB_REQUESTS], 1002);
    ck_assert_uint_eq(st->counters[KP_SB_REQUESTS], before + 5 + KP_SB_REQUESTS);
    size_t n = render(st, KP_HTTP_STATS_PROMETHEUS);
    (void)n;
    ck_assert_ptr_nonnull(strstr(out, "\nkelpie_requests_total{worker=\"0\"} 1009\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nkelpie_requests_total{worker=\"1\"} 2004\n"));
    render(st, KP_HTTP_STATS_STUB);
    char want[64];
    snprintf(want, sizeof(want), "\n %" PRIu64 " %" PRIu64 " %" PRIu64 " \n",
             st->counters[KP_SB_ACCEPTED], st->counters[KP_SB_HANDLED],
             st->counters[KP_SB_REQUESTS]);
    ck_assert_ptr_nonnull(strstr(out, want));
    ck_assert_uint_eq(st->counters[KP_SB_ACCEPTED], 1000 + 2000 + 0 + 5);
    free(st);
    free(sb);
}
END_TEST

START_TEST(json_exact)
{
    struct kp_http_stats *st = malloc(sizeof(*st));
    const char *counts = "\"accepted\":4,\"handled\":4,\"active\":1,\"reading\":1,\"writing\":0,"
                         "\"waiting\":0,\"requests\":5,\"bytes_in\":300,\"bytes_out\":900,"
                         "\"responses\":{\"1xx\":0,\"2xx\":4,\"3xx\":0,\"4xx\":0,\"5xx\":0},"
                         "\"accept_eagain\":2,\"cq_overflows\":0";
    char want[2048];

    one_worker(st);
    snprintf(want, sizeof(want),
             "{\"master\":{\"pid\":10,\"generation\":1,\"reloads\":0,\"respawns\":0,"
             "\"started\":1700000000,\"uptime\":5},\"accept_mutex_owner\":0,\"totals\":{%s},"
             "\"workers\":[{\"slot\":0,\"worker\":0,\"pid\":11,\"generation\":1,"
             "\"state\":\"ready\",\"started\":1700000001,\"heartbeat_age_ms\":40,%s}]}\n",
             counts, counts);
    size_t n = render(st, KP_HTTP_STATS_JSON);
    ck_assert_str_eq(out, want);
    ck_assert(kp_json_valid(out, n));
    free(st);
}
END_TEST

START_TEST(json_board)
{
    struct kp_scoreboard *sb = board();
    struct kp_http_stats *st = malloc(sizeof(*st));

    kp_http_stats_snapshot(sb, NOW_MS, st);
    size_t n = render(st, KP_HTTP_STATS_JSON);
    ck_assert_msg(kp_json_valid(out, n), "invalid JSON: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "\"pid\":102,\"generation\":1,\"state\":\"draining\""));
    ck_assert_ptr_nonnull(strstr(out, "\"pid\":0,\"generation\":2,\"state\":\"starting\","
                                      "\"started\":0,\"heartbeat_age_ms\":null,"));
    ck_assert_ptr_nonnull(strstr(out, "\"accept_mutex_owner\":101,"));
    ck_assert_ptr_nonnull(strstr(out, "\"heartbeat_age_ms\":250,"));
    /* No workers at all is still a document. */
    st->n_workers = 0;
    n = render(st, KP_HTTP_STATS_JSON);
    ck_assert(kp_json_valid(out, n));
    ck_assert_ptr_nonnull(strstr(out, "\"workers\":[]}"));
    free(st);
    free(sb);
}
END_TEST

START_TEST(json_validator)
{
    static const char *const good[] = {
        "{}", " [1, -2.5e+3, 0.1, true, false, null] ", "{\"a\":{\"b\":[\"\\u00e9\\n\"]}}", "\"x\"",
        "0",
    };
    static const char *const bad[] = {
        "",      "{",       "{\"a\":1,}",  "[1,]",     "{\"a\" 1}", "01",
        "1.",    "\"\\x\"", "\"a\nb\"",    "{} {}",    "[1 2]",     "tru",
        "{a:1}", "-",       "[\"\\u12\"]", "{\"a\":}", "nul",       "1e",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(kp_json_valid(good[i], strlen(good[i])), "rejected %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!kp_json_valid(bad[i], strlen(bad[i])), "accepted %s", bad[i]);
}
END_TEST

/* Every # TYPE line of out, checked against the naming rules: counters end
 * in _total, gauges do not; returns how many families there are. */
static int check_types(void)
{
    int families = 0;

    for (const char *p = strstr(out, "# TYPE "); p != NULL; p = strstr(p + 1, "# TYPE ")) {
        char name[128], type[16];
        ck_assert_int_eq(sscanf(p, "# TYPE %127s %15s", name, type), 2);
        size_t len = strlen(name);
        bool total = len > 6 && strcmp(name + len - 6, "_total") == 0;
        ck_assert_msg(strcmp(type, "counter") == 0 ? total : !total, "%s is a %s", name, type);
        ck_assert_msg(strncmp(name, "kelpie_", 7) == 0, "%s", name);
        families++;
    }
    return families;
}

START_TEST(prometheus_board)
{
    struct kp_scoreboard *sb = board();
    struct kp_http_stats *st = malloc(sizeof(*st));
    char err[256];

    kp_http_stats_snapshot(sb, NOW_MS, st);
    size_t n = render(st, KP_HTTP_STATS_PROMETHEUS);
    int samples = kp_prom_check(out, n, err, sizeof(err));
    ck_assert_msg(samples > 0, "%s\n%s", err, out);
    ck_assert_int_eq(check_types(), 22);
    /* Series by worker number only: worker 1 is the draining generation-1
     * worker and the just-claimed generation-2 one together. */
    ck_assert_ptr_nonnull(strstr(out, "\nkelpie_requests_total{worker=\"0\"} 1002\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nkelpie_requests_total{worker=\"1\"} 2004\n"));
    ck_assert_ptr_nonnull(
        strstr(out, "\nkelpie_responses_total{worker=\"1\",code=\"5xx\"} 2018\n"));
    ck_assert_ptr_nonnull(strstr(
        out, "\nkelpie_worker_state{worker=\"1\",pid=\"102\",generation=\"1\",state=\"draining\"} "
             "1\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nkelpie_connections_waiting{worker=\"1\"} 4\n"));
    ck_assert_ptr_nonnull(
        strstr(out, "\nkelpie_worker_heartbeat_age_seconds{worker=\"0\"} 0.250\n"));
    /* Worker 1's times are the draining one's: the newer slot has none yet. */
    ck_assert_ptr_nonnull(
        strstr(out, "\nkelpie_worker_start_time_seconds{worker=\"1\"} 2000.000\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nkelpie_master_uptime_seconds 5.250\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nkelpie_accept_mutex_owner 101\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nkelpie_build_info{version=\""));
    ck_assert_ptr_null(strstr(out, "pid=\"101\",generation=\"2\"} "));
    /* 11 plain families x 2 worker numbers, 5 response classes x 2, 3
     * states, 2 start times, 2 heartbeats, build info, 6 master samples. */
    ck_assert_int_eq(samples, 22 + 10 + 3 + 2 + 2 + 1 + 6);
    free(st);
    free(sb);
}
END_TEST

START_TEST(prometheus_validator)
{
    static const char *const bad[] = {
        "a 1",                                  /* no final newline */
        "9a 1\n",                               /* name */
        "a{b=\"1\" 1\n",                        /* unterminated labels */
        "a{b=1} 1\n",                           /* unquoted value */
        "a{b=\"\\x\"} 1\n",                     /* escape */
        "a{-b=\"1\"} 1\n",                      /* label name */
        "a one\n",                              /* value */
        "a 1 2 3\n",                            /* timestamp */
        "a1\n",                                 /* no value */
        "# TYPE a counter\n# TYPE a counter\n", /* TYPE twice */
        "# TYPE a flavour\n",                   /* type */
        "a 1\n# HELP a late\n",                 /* HELP after samples */
        "a 1\nb 1\na 2\n",                      /* family apart */
    };
    static const char *const good =
        "# HELP a_total x\n# TYPE a_total counter\na_total{x=\"a\\\"b\\\\\\n\",} 1 1700\n"
        "\n# plain comment\nb:c +Inf\nb:c{l=\"2\"} -1.5e3\n";
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(kp_prom_check(bad[i], strlen(bad[i]), err, sizeof(err)) < 0, "accepted %s",
                      bad[i]);
    ck_assert_int_eq(kp_prom_check(good, strlen(good), err, sizeof(err)), 3);
}
END_TEST

START_TEST(stub_exact)
{
    struct kp_http_stats *st = malloc(sizeof(*st));

    one_worker(st);
    st->gauges[KP_SB_WRITING] = 2;
    st->gauges[KP_SB_IDLE] = 3;
    size_t n = render(st, KP_HTTP_STATS_STUB);
    const char *want = "Active connections: 1 \n"
                       "server accepts handled requests\n"
                       " 4 4 5 \n"
                       "Reading: 1 Writing: 2 Waiting: 3 \n";
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_str_eq(out, want);
    free(st);
}
END_TEST

/* Every slot live with the widest numbers: the size bounds still hold, and
 * a buffer one byte short is refused rather than overrun. */
START_TEST(bounds)
{
    struct kp_http_stats *st = malloc(sizeof(*st));
    char err[256];

    memset(st, 0, sizeof(*st));
    st->now_ms = UINT64_MAX;
    st->master_pid = INT_MIN;
    st->generation = UINT_MAX;
    st->reloads = st->respawns = UINT64_MAX;
    st->start_ms = 1;
    st->accept_mutex_owner = INT_MIN;
    st->n_workers = KP_SB_MAX_SLOTS;
    for (unsigned i = 0; i < KP_SB_MAX_SLOTS; i++) {
        struct kp_http_stats_worker *w = &st->workers[i];
        *w = (struct kp_http_stats_worker){.slot = UINT_MAX,
                                           .index = UINT_MAX,
                                           .pid = INT_MIN,
                                           .generation = UINT_MAX,
                                           .state = KP_SB_DRAINING,
                                           .start_ms = UINT64_MAX,
                                           .heartbeat_ms = 1};
        for (int c = 0; c < KP_SB_NCOUNTERS; c++)
            w->counters[c] = st->counters[c] = UINT64_MAX;
        for (int g = 0; g < KP_SB_NGAUGES; g++)
            w->gauges[g] = st->gauges[g] = INT64_MAX;
    }
    for (int f = KP_HTTP_STATS_JSON; f <= KP_HTTP_STATS_STUB; f++) {
        size_t n = render(st, (enum kp_http_stats_format)f);
        ck_assert_int_eq(kp_http_stats_render(st, (enum kp_http_stats_format)f, out, n), -ENOSPC);
        if (f == KP_HTTP_STATS_JSON)
            ck_assert(kp_json_valid(out, render(st, KP_HTTP_STATS_JSON)));
        if (f == KP_HTTP_STATS_PROMETHEUS)
            ck_assert_int_gt(
                kp_prom_check(out, render(st, KP_HTTP_STATS_PROMETHEUS), err, sizeof(err)), 0);
    }
    free(st);
}
END_TEST

START_TEST(parse_format)
{
    ck_assert_int_eq(kp_http_stats_parse_format(KP_STR_NULL), KP_HTTP_STATS_JSON);
    ck_assert_int_eq(kp_http_stats_parse_format(KP_STR("format=json")), KP_HTTP_STATS_JSON);
    ck_assert_int_eq(kp_http_stats_parse_format(KP_STR("a=b&format=prometheus")),
                     KP_HTTP_STATS_PROMETHEUS);
    ck_assert_int_eq(kp_http_stats_parse_format(KP_STR("format=stub&format=json")),
                     KP_HTTP_STATS_STUB);
    ck_assert_int_eq(kp_http_stats_parse_format(KP_STR("xformat=stub&formats=stub")),
                     KP_HTTP_STATS_JSON);
    ck_assert_int_eq(kp_http_stats_parse_format(KP_STR("format=xml")), -EINVAL);
    ck_assert_int_eq(kp_http_stats_parse_format(KP_STR("format=")), -EINVAL);
    ck_assert_int_eq(kp_http_stats_parse_format(KP_STR("format=stubs")), -EINVAL);
}
END_TEST

/* The handler on a request built by hand (method and query only). */
struct fake {
    struct kp_loop loop;
    struct kp_http_services svc;
    struct kp_http_conn hc;
    struct kp_http_request r;
    const struct kp_http_loc_conf *loc; /* the location's settings; NULL: none */
};

static int handle(struct fake *f, enum kp_http_method m, struct kp_str args,
                  struct kp_scoreboard *sb)
{
    const struct kp_http_loc_conf *loc = f->loc;

    memset(f, 0, sizeof(*f));
    f->loc = loc;
    f->loop.clock.wall_msec = NOW_MS;
    f->svc = (struct kp_http_services){.clock = &f->loop.clock, .board = sb};
    f->hc.loop = &f->loop;
    f->r.hc = &f->hc;
    f->r.svc = &f->svc;
    kp_arena_init(&f->r.arena, 1024);
    kp_http_response_init(&f->r.resp);
    f->r.parser.head.method = m;
    f->r.args = args;
    f->r.loc = f->loc;
    return kp_http_stats_handler(&f->r);
}

START_TEST(handler)
{
    struct kp_scoreboard *sb = board();
    struct fake *f = malloc(sizeof(*f));
    f->loc = NULL;

    ck_assert_int_eq(handle(f, KP_HTTP_METHOD_POST, KP_STR_NULL, sb), 405);
    ck_assert(kp_str_eq(f->r.resp.allow, KP_STR("GET, HEAD")));
    kp_arena_destroy(&f->r.arena);
    ck_assert_int_eq(handle(f, KP_HTTP_METHOD_GET, KP_STR("format=yaml"), sb), 400);
    kp_arena_destroy(&f->r.arena);
    ck_assert_int_eq(handle(f, KP_HTTP_METHOD_GET, KP_STR_NULL, NULL), 503);
    kp_arena_destroy(&f->r.arena);

    ck_assert_int_eq(handle(f, KP_HTTP_METHOD_HEAD, KP_STR("format=stub"), sb), 200);
    ck_assert(kp_str_eq(f->r.resp.content_type, KP_STR("text/plain")));
    ck_assert(kp_str_has_prefix(f->r.resp.body, KP_STR("Active connections: 3 \n")));
    kp_arena_destroy(&f->r.arena);
    ck_assert_int_eq(handle(f, KP_HTTP_METHOD_GET, KP_STR("format=prometheus"), sb), 200);
    ck_assert(
        kp_str_eq(f->r.resp.content_type, KP_STR("text/plain; version=0.0.4; charset=utf-8")));
    kp_arena_destroy(&f->r.arena);
    ck_assert_int_eq(handle(f, KP_HTTP_METHOD_GET, KP_STR_NULL, sb), 200);
    ck_assert(kp_str_eq(f->r.resp.content_type, KP_STR("application/json")));
    ck_assert(kp_json_valid(f->r.resp.body.p, f->r.resp.body.len));
    ck_assert_ptr_nonnull(memmem(f->r.resp.body.p, f->r.resp.body.len, "\"uptime\":5}", 11));
    kp_arena_destroy(&f->r.arena);
    /* stub_status: the stub page whatever the query */
    static const struct kp_http_loc_conf stub = {.status = KP_HTTP_STATUS_STUB};
    f->loc = &stub;
    ck_assert_int_eq(handle(f, KP_HTTP_METHOD_GET, KP_STR("format=yaml"), sb), 200);
    ck_assert(kp_str_has_prefix(f->r.resp.body, KP_STR("Active connections: 3 \n")));
    kp_arena_destroy(&f->r.arena);
    ck_assert_int_eq(handle(f, KP_HTTP_METHOD_POST, KP_STR_NULL, sb), 405);
    kp_arena_destroy(&f->r.arena);
    free(f);
    free(sb);
}
END_TEST

Suite *kp_test_stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, snapshot);
    tcase_add_test(tc, retired_counts);
    tcase_add_test(tc, json_exact);
    tcase_add_test(tc, json_board);
    tcase_add_test(tc, json_validator);
    tcase_add_test(tc, prometheus_board);
    tcase_add_test(tc, prometheus_validator);
    tcase_add_test(tc, stub_exact);
    tcase_add_test(tc, bounds);
    tcase_add_test(tc, parse_format);
    tcase_add_test(tc, handler);
    suite_add_tcase(s, tc);
    return s;
}
