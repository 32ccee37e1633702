/* limit_rate (see limit_rate.h): a response's rate, decided once when it
 * starts, and the bytes the writer may send at a given time. */
#include "kelpie/http/limit_rate.h"

#include <stdio.h>
#include <string.h>

#include "kelpie/util/conf.h"
#include "kelpie/http/req.h"

/* A rate's (or limit_rate_after's) text: a size as in the configuration
 * ("100k"); anything else is 0. */
static uint64_t parse_rate(struct kp_str v)
{
    char text[32];
    uint64_t n;

    if (v.len == 0 || v.len >= sizeof(text))
        return 0;
    memcpy(text, v.p, v.len);
    text[v.len] = '\0';
    return kp_conf_parse_size(text, INT64_MAX, &n) == 0 ? n : 0;
}

/* The rate `set $limit_rate` gave, or limit_rate's value, as text. */
static struct kp_str rate_text(struct kp_http_request *r)
{
    const struct kp_http_var_def *set = r->svc->http->limit_rate_var;
    const struct kp_http_cv *cv = r->loc->limit.rate;
    struct kp_str v;

    if (kp_http_var_stored(r, set, &v))
        return v;
    return cv != NULL ? kp_http_cv_eval(r, cv, KP_HTTP_CV_RAW) : KP_STR("0");
}

void kp_http_limit_rate_start(struct kp_http_request *r, uint64_t now_ms)
{
    if (r->loc->limit.rate == NULL && r->svc->http->limit_rate_var == NULL)
        return; /* no limit anywhere: the common case costs nothing */
    r->limit_rate = parse_rate(rate_text(r));
    const struct kp_http_cv *after = r->loc->limit.rate_after;
    r->limit_rate_after = after != NULL ? parse_rate(kp_http_cv_eval(r, after, KP_HTTP_CV_RAW)) : 0;
    r->limit_rate_start = now_ms;
}

uint64_t kp_limit_rate_allowed(uint64_t rate, uint64_t after, uint64_t elapsed_ms)
{
    /* The first second's worth at once, as nginx. */
    uint64_t ms = elapsed_ms + 1000;
    uint64_t bytes = ms > UINT64_MAX / rate ? UINT64_MAX : rate * ms / 1000;

    return bytes > UINT64_MAX - after ? UINT64_MAX : bytes + after;
}

uint64_t kp_limit_rate_wait_ms(uint64_t rate, uint64_t after, uint64_t elapsed_ms, uint64_t sent)
{
    uint64_t step = rate * KP_LIMIT_RATE_STEP_MS / 1000 + 1;
    uint64_t target = sent + step;
    /* The first elapsed time at which target bytes are allowed. */
    uint64_t beyond = target > after ? target - after : 0;
    uint64_t need_ms = beyond / rate * 1000 + ((beyond % rate) * 1000 + rate - 1) / rate;
    uint64_t at = need_ms > 1000 ? need_ms - 1000 : 0;

    return at > elapsed_ms ? at - elapsed_ms : 1;
}

uint64_t kp_http_limit_rate_budget(const struct kp_http_request *r, uint64_t now_ms,
                                   uint64_t *wait_ms)
{
    uint64_t rate = r->limit_rate;

    if (rate == 0)
        return UINT64_MAX;
    uint64_t elapsed = now_ms > r->limit_rate_start ? now_ms - r->limit_rate_start : 0;
    uint64_t allowed = kp_limit_rate_allowed(rate, r->limit_rate_after, elapsed);
    if (allowed > r->bytes_sent) {
        uint64_t n = allowed - r->bytes_sent;
        /* OpenSSL must be given again at least what it could not write
         * (up to a record), so a TLS write is never cut shorter. */
        return r->hc->c->tls != NULL && n < KP_LIMIT_RATE_TLS_MIN ? KP_LIMIT_RATE_TLS_MIN : n;
    }
    *wait_ms = kp_limit_rate_wait_ms(rate, r->limit_rate_after, elapsed, r->bytes_sent);
    return 0;
}

struct kp_str kp_http_limit_rate_var(struct kp_http_request *r, const struct kp_http_var_ref *ref,
                                     char *buf)
{
    (void)ref;
    uint64_t rate = r->limit_rate_start != 0 ? r->limit_rate : parse_rate(rate_text(r));
    int n = snprintf(buf, KP_HTTP_VAR_BUF, "%llu", (unsigned long long)rate);

    return (struct kp_str){buf, (size_t)n};
}
