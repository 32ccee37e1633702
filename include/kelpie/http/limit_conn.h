/* limit_conn: at most N requests in progress per key, counted in a shared
 * zone. A request is counted from its preaccess phase until it ends (its
 * arena is reset: response sent, or connection closed or aborted). A
 * request over a limit is answered limit_conn_status and counts nowhere. A
 * key whose count falls to 0 is forgotten; when the zone is full a new key
 * is refused (logged once per zone), as in nginx. */
#ifndef KP_HTTP_LIMIT_CONN_H
#define KP_HTTP_LIMIT_CONN_H

struct kp_http_request;

/* The limit_conn rules of r's location, once per request (the result is in
 * r->limit_conn_status): 0 to go on, limit_conn_status to reject (logged
 * at limit_conn_log_level). Dry runs log and go on. */
int kp_http_limit_conn_run(struct kp_http_request *r);

#endif
