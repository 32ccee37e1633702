/* The HTTP/1.1 request state machine (request.c): it takes over a
 * connection, reads and parses requests, runs the content phase
 * (http/handler.h), writes the responses (http/response.h) and keeps the
 * connection alive. The request object it drives is http/req.h. */
#ifndef KP_REQUEST_H
#define KP_REQUEST_H

#include "kelpie/http/req.h"

struct kp_http_reuse; /* http/ctx.h */

/* Connection states (request.c moves between them; see there). */
enum kp_http_conn_state {
    KP_HC_IDLE = 0,  /* waiting for a request's first byte: no buffer, no request */
    KP_HC_READ_HEAD, /* reading and parsing the request head */
    KP_HC_READ_BODY, /* reading and discarding a request body nobody uses */
    KP_HC_WRITE,     /* sending the response */
    KP_HC_LINGER,    /* response sent, write side shut: dropping input until EOF */
    KP_HC_HANDSHAKE, /* an `ssl` address: the TLS handshake, before any request */
    KP_HC_DELAY,     /* limit_req holds the request back: a timer; reading only to see
                      * the client go (nginx's 499) */
    KP_HC_PROXY,     /* a `proxy_protocol` address: the PROXY header, before all else */
};

/* Take over hc->c (hc->c, loop and ctx set; c->data == hc), freshly
 * accepted and registered for reading: install the connection's handlers
 * and close callback, and wait for the first byte of a request (see
 * request.c for the states). */
void kp_http_request_begin(struct kp_http_conn *hc);
/* The simulated proactor (http/proactor.h) hands hc's request back from a
 * handler thread: go on as after kp_http_handler_run (write the response,
 * or wait for limit_req's delay), then act on readiness reported while it
 * was away. Called from the loop. */
void kp_http_request_processed(struct kp_http_conn *hc);

/* Free every request object and buffer kept in ru (its connections are all
 * closed) and empty it. */
void kp_http_reuse_free(struct kp_http_reuse *ru);

#endif
