/* The limit modules' configuration, keys and variables: nginx's limit_req
 * and limit_conn modules and limit_rate. The preaccess phase that runs
 * limit_req and limit_conn is the handler's (http/handler.c).
 *
 *   limit_req_zone KEY zone=NAME:SIZE [rate=Nr/s|Nr/m]      http
 *   limit_req zone=NAME [burst=N] [nodelay|delay=N]          http, server, location
 *   limit_req_status CODE (503), limit_req_log_level LEVEL (error),
 *   limit_req_dry_run on|off (off)                           http, server, location
 *   limit_conn_zone KEY zone=NAME:SIZE                       http
 *   limit_conn NAME N                                        http, server, location
 *   limit_conn_status, limit_conn_log_level, limit_conn_dry_run (as above)
 *   limit_rate RATE (variables allowed), limit_rate_after SIZE
 *                                                            http, server, location, if in location
 *
 * Several limit_req or limit_conn lines may stand in one block; a block
 * with none inherits its parent's, as in nginx. A zone may be used before
 * the line declaring it; one never declared is an error at the end of the
 * http block. The zones live in shared memory (http/limit_zone.h).
 *
 * Variables: $limit_req_status (PASSED, DELAYED, REJECTED, DELAYED_DRY_RUN,
 * REJECTED_DRY_RUN), $limit_conn_status (PASSED, REJECTED,
 * REJECTED_DRY_RUN), $limit_rate (the rate of the response, settable with
 * `set`), and $binary_remote_addr (the client address in 4 or 16 bytes,
 * made from $remote_addr so that it follows whatever sets that). */
#ifndef KP_HTTP_LIMIT_H
#define KP_HTTP_LIMIT_H

#include <stdbool.h>

#include "kelpie/util/conf.h"
#include "kelpie/http/conf.h"
#include "kelpie/http/var.h"

struct kp_http_request;

/* What a limit decided for a request ($limit_req_status and
 * $limit_conn_status); 0: it did not run. */
enum kp_http_limit_result {
    KP_LIMIT_PASSED = 1,
    KP_LIMIT_DELAYED,
    KP_LIMIT_REJECTED,
    KP_LIMIT_DELAYED_DRY_RUN,
    KP_LIMIT_REJECTED_DRY_RUN,
};

/* The preaccess phase's answer when the request must wait
 * r->limit_delay_ms before its access phase (never a status). */
#define KP_HTTP_LIMIT_DELAY (-2)

extern const struct kp_conf_cmd kp_http_limit_conf_cmds[];
extern const struct kp_http_var_def kp_http_limit_vars[];

/* nginx's defaults: statuses 503, log levels error, dry runs off, no rate. */
void kp_http_limit_conf_defaults(struct kp_http_limit_conf *l);

/* At the end of the http block: every zone used is declared (else an
 * error naming it), and mapped; $limit_rate's slot is found. Returns 0 or
 * -EINVAL after kp_conf_error. */
int kp_http_limit_conf_finish(struct kp_conf *cf);

/* On reload, in the master: the new configuration http (whose memory comes
 * from a) takes over old's zones of the same name, kind, key and size, so
 * their state lives on (see limit_zone.h). */
void kp_http_limit_adopt(struct kp_http_conf *http, struct kp_arena *a,
                         const struct kp_http_conf *old);

/* The key of zone for r: its value (it may point into buf, of
 * KP_HTTP_VAR_BUF bytes, and is valid as kp_http_cv_eval's). A key that is
 * one variable alone (the usual $binary_remote_addr) is asked of the
 * variable directly, with no copy. */
struct kp_str kp_http_limit_key(struct kp_http_request *r, const struct kp_http_limit_zone *zone,
                                char *buf);

/* The name of a result, as the variables spell it ("" for 0). */
const char *kp_http_limit_result_name(unsigned result);

#endif
