/* limit_req (see limit_req.h): the bucket arithmetic, and the rules of a
 * location checked against their zones. */
#include "kelpie/http/limit_req.h"

#include <time.h>

#include "kelpie/http/limit.h"
#include "kelpie/http/limit_zone.h"
#include "kelpie/http/req.h"
#include "kelpie/http/var.h"

/* nginx refuses longer keys. */
#define MAX_KEY 65535

uint64_t kp_limit_req_excess(uint64_t excess, uint64_t elapsed_us, uint64_t rate)
{
    /* rate * elapsed_us / 1000000 thousandths drained, without overflowing;
     * the new request is added before the floor at 0, as nginx does, so a
     * request arriving a whole period after the last passes even without a
     * burst. */
    uint64_t drained =
        elapsed_us > UINT64_MAX / rate ? UINT64_MAX / 1000000 : rate * elapsed_us / 1000000;
    uint64_t total = excess > UINT64_MAX - 1000 ? UINT64_MAX : excess + 1000;

    return drained >= total ? 0 : total - drained;
}

uint64_t kp_limit_req_delay_ms(uint64_t excess, uint64_t delay, uint64_t rate)
{
    if (delay == UINT64_MAX || excess <= delay)
        return 0;
    uint64_t over = excess - delay;
    return over > UINT64_MAX / 1000 ? UINT64_MAX / rate : over * 1000 / rate;
}

/* A bucket's state may always make room for a new key. */
static bool always(const struct kp_limit_state *s)
{
    (void)s;
    return true;
}

/* One rule's look at its key: the excess this request would bring. */
struct look {
    struct kp_str key; /* empty: not limited */
    uint64_t excess;
    char buf[KP_HTTP_VAR_BUF]; /* where the key's getter may have put it */
};

static void full_once(struct kp_http_request *r, struct kp_limit_zone *z)
{
    if (kp_limit_zone_first_full(z))
        kp_http_req_log(r, KP_LOG_WARN, 0,
                        "could not allocate node in limit_req zone \"%s\", the least "
                        "recently used entries are dropped (logged once per zone)",
                        kp_limit_zone_name(z));
}

/* Under the zone's lock: the excess rule's key would have at now, stored
 * when commit and within the burst. */
static uint64_t account(struct kp_http_request *r, const struct kp_http_limit_req_rule *rule,
                        struct kp_str key, uint64_t now, bool commit)
{
    const struct kp_http_limit_zone *zone = rule->zone;
    struct kp_limit_zone *z = zone->shm;
    bool made, evicted;

    kp_limit_zone_lock(z);
    struct kp_limit_state *s = kp_limit_zone_get(z, key.p, key.len, true, always, &made, &evicted);
    uint64_t excess = 0;
    /* A key never accounted yet (made now, or made for a request another
     * rule rejected) starts empty. */
    if (s != NULL && !made && s->last_us != 0) {
        /* Another worker's cached clock may run a little ahead of ours. */
        uint64_t elapsed = now > s->last_us ? now - s->last_us : 0;
        excess = kp_limit_req_excess(s->excess, elapsed, zone->rate);
    }
    if (s != NULL && commit && excess <= rule->burst) {
        s->excess = excess;
        s->last_us = now > s->last_us ? now : s->last_us;
    }
    kp_limit_zone_unlock(z);
    if (evicted)
        full_once(r, z);
    return excess;
}

static void log_excess(struct kp_http_request *r, unsigned level, const char *what, uint64_t excess,
                       const struct kp_http_limit_zone *zone)
{
    kp_http_req_log(r, (enum kp_log_level)level, 0, "%s%llu.%03llu%s by zone \"%s\"", what,
                    (unsigned long long)(excess / 1000), (unsigned long long)(excess % 1000),
                    what[0] == 'd' ? "," : "", zone->name);
}

/* A rule rejected the request: nothing is accounted. */
static int reject(struct kp_http_request *r, const struct kp_http_limit_conf *l,
                  const struct kp_http_limit_req_rule *rule, uint64_t excess)
{
    log_excess(r, l->req_log_level,
               l->req_dry_run ? "limiting requests, dry run, excess: "
                              : "limiting requests, excess: ",
               excess, rule->zone);
    r->limit_req_status = l->req_dry_run ? KP_LIMIT_REJECTED_DRY_RUN : KP_LIMIT_REJECTED;
    return l->req_dry_run ? 0 : (int)l->req_status;
}

/* Every rule passed (the last one already accounted): account the others,
 * and wait for the longest delay. */
static int pass(struct kp_http_request *r, struct look *looks, uint64_t now, bool may_delay)
{
    const struct kp_http_limit_conf *l = &r->loc->limit;
    uint64_t delay = 0, excess = 0;
    size_t worst = 0;

    for (size_t i = 0; i < l->n_reqs; i++) {
        const struct kp_http_limit_req_rule *rule = &l->reqs[i];
        if (looks[i].key.len == 0)
            continue;
        if (i + 1 < l->n_reqs)
            looks[i].excess = account(r, rule, looks[i].key, now, true);
        uint64_t d = kp_limit_req_delay_ms(looks[i].excess, rule->delay, rule->zone->rate);
        if (d > delay) {
            delay = d;
            excess = looks[i].excess;
            worst = i;
        }
    }
    r->limit_req_status = KP_LIMIT_PASSED;
    if (delay == 0)
        return 0;
    /* A delay is logged one level below a rejection, as nginx does. */
    log_excess(r, l->req_log_level + 1,
               l->req_dry_run ? "delaying request, dry run, excess: "
                              : "delaying request, excess: ",
               excess, l->reqs[worst].zone);
    if (l->req_dry_run || !may_delay) {
        r->limit_req_status = l->req_dry_run ? KP_LIMIT_DELAYED_DRY_RUN : KP_LIMIT_PASSED;
        return 0;
    }
    r->limit_req_status = KP_LIMIT_DELAYED;
    r->limit_delay_ms = delay;
    return KP_HTTP_LIMIT_DELAY;
}

int kp_http_limit_req_run(struct kp_http_request *r, bool may_delay)
{
    const struct kp_http_limit_conf *l = &r->loc->limit;
    bool any = false;

    if (l->n_reqs == 0 || r->limit_req_status != 0)
        return 0;
    /* The clock now, not the loop's (cached once per iteration, in ms): a
     * busy iteration would otherwise see every request at one instant, and
     * a rate above 1000r/s could not pass a request each half millisecond. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    struct look *looks = kp_arena_alloc(&r->arena, l->n_reqs * sizeof(*looks));
    for (size_t i = 0; i < l->n_reqs; i++) {
        const struct kp_http_limit_req_rule *rule = &l->reqs[i];
        looks[i].key = kp_http_limit_key(r, rule->zone, looks[i].buf);
        looks[i].excess = 0;
        if (looks[i].key.len == 0)
            continue; /* an empty key is not limited */
        if (looks[i].key.len > MAX_KEY) {
            kp_http_req_log(r, KP_LOG_ERR, 0,
                            "the value of the \"%s\" key is more than %d bytes: \"%.*s...\"",
                            rule->zone->key->text, MAX_KEY, 64, looks[i].key.p);
            return 500;
        }
        any = true;
        /* The last rule is accounted at once when it passes; the others
         * only once every rule has passed. */
        looks[i].excess = account(r, rule, looks[i].key, now, i + 1 == l->n_reqs);
        if (looks[i].excess > rule->burst)
            return reject(r, l, rule, looks[i].excess);
    }
    return any ? pass(r, looks, now, may_delay) : 0;
}
