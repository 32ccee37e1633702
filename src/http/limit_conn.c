/* limit_conn (see limit_conn.h): a count per key in a shared zone, taken in
 * the preaccess phase and given back by a cleanup of the request's arena. */
#include "kelpie/http/limit_conn.h"

#include "kelpie/http/limit.h"
#include "kelpie/http/limit_zone.h"
#include "kelpie/http/req.h"
#include "kelpie/http/var.h"

/* nginx's limit_conn ignores longer keys. */
#define MAX_KEY 255

/* One count a request holds. */
struct held {
    struct kp_limit_zone *z;
    struct kp_limit_state *s; /* NULL once given back */
};

/* A key that counts connections is never dropped to make room: its count
 * would be lost. Keys at 0 are dropped as soon as they get there. */
static bool never(const struct kp_limit_state *s)
{
    (void)s;
    return false;
}

static void give_back(void *data)
{
    struct held *h = data;

    if (h->s == NULL)
        return;
    kp_limit_zone_lock(h->z);
    /* A node counting connections is never dropped by anyone else, so s is
     * still this key's. */
    if (h->s->conns > 0 && --h->s->conns == 0)
        kp_limit_zone_drop(h->z, h->s);
    kp_limit_zone_unlock(h->z);
    h->s = NULL;
}

/* Count one more request for key; false when the limit (or a full zone)
 * refuses it. */
static bool take(struct kp_http_request *r, const struct kp_http_limit_conn_rule *rule,
                 struct kp_str key, struct held *h)
{
    struct kp_limit_zone *z = rule->zone->shm;
    bool made, evicted, ok;

    kp_limit_zone_lock(z);
    struct kp_limit_state *s = kp_limit_zone_get(z, key.p, key.len, true, never, &made, &evicted);
    ok = s != NULL && s->conns < rule->max;
    if (ok)
        s->conns++;
    kp_limit_zone_unlock(z);
    if (s == NULL && kp_limit_zone_first_full(z))
        kp_http_req_log(r, KP_LOG_WARN, 0,
                        "could not allocate node in limit_conn zone \"%s\" (logged once per "
                        "zone)",
                        kp_limit_zone_name(z));
    *h = (struct held){z, ok ? s : NULL};
    return ok;
}

int kp_http_limit_conn_run(struct kp_http_request *r)
{
    const struct kp_http_limit_conf *l = &r->loc->limit;

    if (l->n_conns == 0 || r->limit_conn_status != 0)
        return 0;
    struct held *held = kp_arena_calloc(&r->arena, l->n_conns * sizeof(*held));
    for (size_t i = 0; i < l->n_conns; i++) {
        const struct kp_http_limit_conn_rule *rule = &l->conns[i];
        char buf[KP_HTTP_VAR_BUF];
        struct kp_str key = kp_http_limit_key(r, rule->zone, buf);
        if (key.len == 0)
            continue;
        if (key.len > MAX_KEY) {
            kp_http_req_log(r, KP_LOG_ERR, 0,
                            "the value of the \"%s\" key is more than %d bytes: \"%.*s...\"",
                            rule->zone->key->text, MAX_KEY, 64, key.p);
            continue;
        }
        r->limit_conn_status = KP_LIMIT_PASSED;
        if (take(r, rule, key, &held[i])) {
            kp_arena_cleanup_add(&r->arena, give_back, &held[i]);
            continue;
        }
        /* Refused: the counts taken so far go back now. */
        for (size_t j = 0; j < i; j++)
            give_back(&held[j]);
        kp_http_req_log(r, (enum kp_log_level)l->conn_log_level, 0, "%s by zone \"%s\"",
                        l->conn_dry_run ? "limiting connections, dry run," : "limiting connections",
                        rule->zone->name);
        r->limit_conn_status = l->conn_dry_run ? KP_LIMIT_REJECTED_DRY_RUN : KP_LIMIT_REJECTED;
        return l->conn_dry_run ? 0 : (int)l->conn_status;
    }
    return 0;
}
