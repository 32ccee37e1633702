/* limit_rate: the bytes per second one response may be sent at, after its
 * first limit_rate_after bytes (nginx's ngx_http_core_module directives).
 * The rate comes from `set $limit_rate`, else from limit_rate (whose value
 * may hold variables, as limit_rate_after's may); 0 or an invalid value
 * means no limit (no free bytes). As nginx,
 * the first second's worth leaves at once, then the writer is held back by
 * a timer on the worker's loop (never by blocking), in steps of about
 * KP_LIMIT_RATE_STEP_MS. */
#ifndef KP_HTTP_LIMIT_RATE_H
#define KP_HTTP_LIMIT_RATE_H

#include <stdint.h>

#include "kelpie/http/var.h"

#define KP_LIMIT_RATE_STEP_MS 20
/* Under TLS a write is never cut below a record's worth. */
#define KP_LIMIT_RATE_TLS_MIN 16384

struct kp_http_request;

/* Decide r's rate when its response starts at now_ms (monotonic). */
void kp_http_limit_rate_start(struct kp_http_request *r, uint64_t now_ms);

/* Bytes r may write at now_ms (UINT64_MAX: no limit). When 0, *wait_ms is
 * how long until a step's worth may leave. */
uint64_t kp_http_limit_rate_budget(const struct kp_http_request *r, uint64_t now_ms,
                                   uint64_t *wait_ms);

/* The pure arithmetic behind it: bytes allowed in total after elapsed_ms at
 * rate bytes per second with after bytes free, and the ms until sent + step
 * bytes are allowed. */
uint64_t kp_limit_rate_allowed(uint64_t rate, uint64_t after, uint64_t elapsed_ms);
uint64_t kp_limit_rate_wait_ms(uint64_t rate, uint64_t after, uint64_t elapsed_ms, uint64_t sent);

/* $limit_rate: the rate `set` gave, else limit_rate's value for r. */
struct kp_str kp_http_limit_rate_var(struct kp_http_request *r, const struct kp_http_var_ref *ref,
                                     char *buf);

#endif
