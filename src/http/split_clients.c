/* The split_clients module (see split_clients.h). */
#include "kelpie/http/split_clients.h"

#include <errno.h>
#include <string.h>

#include "kelpie/util/arena.h"
#include "kelpie/http/req.h"
#include "kelpie/http/var.h"

/* Shares are kept in hundredths of a percent: 100% is 10000. */
#define SHARE_ALL 10000u

struct part {
    uint32_t upto; /* the hash is below it (0: the rest, `*` or a final share) */
    struct kp_str value;
};

struct split {
    struct kp_http_cv source;
    struct part *parts;
    size_t n_parts;
    unsigned share_sum; /* while the block is read */
};

uint32_t kp_http_split_clients_hash(const void *p, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    const unsigned char *d = p;
    uint32_t h = (uint32_t)len;

    for (; len >= 4; d += 4, len -= 4) {
        uint32_t k =
            (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h = h * m ^ k;
    }
    if (len > 0) {
        if (len == 3)
            h ^= (uint32_t)d[2] << 16;
        if (len >= 2)
            h ^= (uint32_t)d[1] << 8;
        h ^= d[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    return h ^ h >> 15;
}

/* The getter: the part SOURCE's hash falls in, kept for the request. */
static struct kp_str get(struct kp_http_request *r, const struct kp_http_var_ref *ref, char *buf)
{
    const struct kp_http_var_def *d = ref->def;
    const struct split *s = d->data;
    struct kp_str out = KP_STR("");

    (void)buf;
    if (kp_http_var_stored(r, d, &out))
        return out;
    struct kp_str src = kp_http_cv_eval(r, &s->source, KP_HTTP_CV_RAW);
    uint32_t h = kp_http_split_clients_hash(src.p, src.len);
    for (size_t i = 0; i < s->n_parts; i++) {
        if (h < s->parts[i].upto || s->parts[i].upto == 0) {
            out = s->parts[i].value;
            break;
        }
    }
    kp_http_var_set(r, d, out);
    return out;
}

/* "12.5%" as hundredths of a percent (1250); 0 when it is not a share
 * (no '%', other characters, more than two decimals, or zero). */
static unsigned parse_share(const char *a)
{
    size_t len = strlen(a);
    unsigned v = 0, decimals = 0;
    bool dot = false;

    if (len < 2 || a[len - 1] != '%')
        return 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (a[i] == '.' && !dot) {
            dot = true;
            continue;
        }
        if (a[i] < '0' || a[i] > '9' || (dot && decimals == 2) || v > 100000)
            return 0;
        v = v * 10 + (unsigned)(a[i] - '0');
        decimals += dot;
    }
    for (; decimals < 2; decimals++)
        v *= 10;
    return v;
}

/* One statement of the block: PERCENT% VALUE or * VALUE. */
static int split_entry(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct split *s = conf;
    const char *k = cf->args[0];
    unsigned share = 0;

    (void)cmd;
    if (strcmp(k, "*") != 0 && (share = parse_share(k)) == 0)
        return kp_conf_error(cf, "invalid percent value \"%s\"", k);
    if (cf->nargs != 2)
        return kp_conf_error(cf, "invalid number of the split_clients parameters");
    struct part *p = KP_CONF_PUSH(cf->arena, s->parts, s->n_parts);
    p->value = kp_str_from(kp_conf_strdup(cf->arena, cf->args[1]));
    /* The running total becomes the part's upper bound in the hash space;
     * the part that completes 100% (or `*`) takes all that is left. */
    s->share_sum = share != 0 ? s->share_sum + share : SHARE_ALL;
    if (s->share_sum > SHARE_ALL)
        return kp_conf_error(cf, "percent total is greater than 100%%");
    p->upto = s->share_sum == SHARE_ALL
                  ? 0
                  : (uint32_t)((uint64_t)s->share_sum * 0xffffffffu / SHARE_ALL);
    return 0;
}

int kp_http_split_clients_conf(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct split *s = kp_arena_calloc(cf->arena, sizeof(*s));

    (void)cmd;
    (void)conf;
    if (kp_http_var_define_from(cf, cf->args[1], cf->args[2], &s->source, get, s) == NULL)
        return -EINVAL;
    struct kp_conf_frame frame = {cf->frame->ctx, {s, NULL, NULL}, NULL, split_entry};
    return kp_conf_parse_block(cf, &frame);
}
