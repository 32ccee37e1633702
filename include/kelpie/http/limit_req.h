/* limit_req: nginx's leaky bucket per key, in a shared zone.
 *
 * A key's state is its excess (requests beyond the rate, in thousandths)
 * and the time of its last accounted request. A request adds one request
 * (1000) and drains the rate times the time since then, down to 0. More
 * than the burst: rejected, and not accounted. Otherwise accounted, and
 * delayed by the time the rate needs to drain what exceeds `delay=N` (no
 * delay with `nodelay`; the default delay is 0, so every excess request
 * waits). A key's first request starts it at excess 0.
 *
 * With several limit_req in a location a request is accounted only if
 * every limit passes it, and waits for the longest of their delays. */
#ifndef KP_HTTP_LIMIT_REQ_H
#define KP_HTTP_LIMIT_REQ_H

#include <stdbool.h>
#include <stdint.h>

struct kp_http_request;

/* The excess after one more request arriving elapsed_us after the last one
 * of a key whose excess was excess, at rate (thousandths of a request per
 * second). Never below 0; saturates rather than overflows. */
uint64_t kp_limit_req_excess(uint64_t excess, uint64_t elapsed_us, uint64_t rate);

/* How long a request with that excess waits: 0 up to delay (both in
 * thousandths; UINT64_MAX: nodelay), else the time the rate drains the
 * rest, in ms. */
uint64_t kp_limit_req_delay_ms(uint64_t excess, uint64_t delay, uint64_t rate);

/* The limit_req rules of r's location, once per request (the result is in
 * r->limit_req_status): 0 to go on, limit_req_status to reject (logged at
 * limit_req_log_level), 500 for a key over 65535 bytes, or
 * KP_HTTP_LIMIT_DELAY with r->limit_delay_ms set when may_delay (logged
 * one level lower). Dry runs log and go on. */
int kp_http_limit_req_run(struct kp_http_request *r, bool may_delay);

#endif
