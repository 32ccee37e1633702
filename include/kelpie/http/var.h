/* Access-log variables: the ids a compiled log_format refers to, the name
 * lookup, and the compiler from format text to a list of struct
 * kp_http_log_op (core/cycle.h). The access-log writer switches on the ids. */
#ifndef KP_HTTP_VAR_H
#define KP_HTTP_VAR_H

#include <stddef.h>

#include "kelpie/core/arena.h"
#include "kelpie/core/cycle.h"
#include "kelpie/core/str.h"

#define KP_HTTP_VAR_LITERAL (-1) /* kp_http_log_op.var of literal text */

enum kp_http_var_id {
    KP_HTTP_VAR_REMOTE_ADDR = 0,
    KP_HTTP_VAR_REMOTE_USER,
    KP_HTTP_VAR_TIME_LOCAL,
    KP_HTTP_VAR_TIME_ISO8601,
    KP_HTTP_VAR_REQUEST, /* the request line */
    KP_HTTP_VAR_STATUS,
    KP_HTTP_VAR_BODY_BYTES_SENT,
    KP_HTTP_VAR_BYTES_SENT,
    KP_HTTP_VAR_HTTP_REFERER,
    KP_HTTP_VAR_HTTP_USER_AGENT,
    KP_HTTP_VAR_REQUEST_TIME, /* seconds with milliseconds: "0.002" */
    KP_HTTP_VAR_REQUEST_METHOD,
    KP_HTTP_VAR_URI,
    KP_HTTP_VAR_ARGS,
    KP_HTTP_VAR_HOST,
    KP_HTTP_VAR_PID,
    KP_HTTP_VAR_CONNECTION, /* connection serial number */
    KP_HTTP_VAR_CONNECTION_REQUESTS,
    KP_HTTP_VAR_MSEC, /* log time in seconds with milliseconds */
    KP_HTTP_VAR_SERVER_PROTOCOL,
    KP_HTTP_VAR_REQUEST_LENGTH,
    KP_HTTP_VAR_HTTP_HEADER, /* $http_NAME: op text is the header name */
};

struct kp_http_var {
    const char *name; /* without the '$'; "http_" for the generic one */
    enum kp_http_var_id id;
};

/* The variable named name (without the '$', ASCII case-insensitive). Any
 * "http_NAME" other than the two with ids of their own is the generic
 * KP_HTTP_VAR_HTTP_HEADER entry. Returns NULL for an unknown name. */
const struct kp_http_var *kp_http_var_find(struct kp_str name);

/* Compile a log_format string: "$name" and "${name}" are variables, the rest
 * literal text. On success returns 0 with *ops (n_ops entries, arena memory):
 * literals have var KP_HTTP_VAR_LITERAL, $http_NAME carries the header name
 * in lowercase with '_' turned into '-'. Returns -EINVAL with *bad set to the
 * unknown variable's name, or to an empty slice for a '$' not followed by a
 * name (or "${" without '}'). */
int kp_http_var_compile(struct kp_arena *a, struct kp_str fmt, struct kp_http_log_op **ops,
                        size_t *n_ops, struct kp_str *bad);

#endif
