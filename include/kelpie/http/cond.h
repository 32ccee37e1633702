/* Validators and conditional requests (RFC 9110 section 8.8 and 13): the
 * ETag kelpie gives a file, and the evaluation of If-Match,
 * If-Unmodified-Since, If-None-Match, If-Modified-Since and If-Range against
 * a representation's current validators. Pure functions over a parsed head:
 * no I/O, no allocation. */
#ifndef KP_COND_H
#define KP_COND_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "kelpie/util/str.h"
#include "kelpie/http/parse.h"

/* Bytes kp_http_cond_etag needs at most, NUL included. */
#define KP_HTTP_ETAG_SIZE 40

/* Write the strong ETag of a file, "\"<mtime>-<size>\"" in lowercase hex
 * with the quotes, NUL-terminated, into out (KP_HTTP_ETAG_SIZE bytes).
 * Returns its length. A file whose mtime or size changes gets a new tag. */
size_t kp_http_cond_etag(char *out, time_t mtime, uint64_t size);

/* How If-Modified-Since compares with the modification time (nginx's
 * if_modified_since): OFF ignores the field, EXACT answers 304 only for the
 * very time, BEFORE for the time or any later one (RFC 9110's reading). */
enum kp_http_ims { KP_HTTP_IMS_OFF, KP_HTTP_IMS_EXACT, KP_HTTP_IMS_BEFORE };

/* Outcome of the preconditions, RFC 9110 section 13.2.2 steps 1 to 4. */
enum kp_http_cond {
    KP_HTTP_COND_PROCEED,      /* no condition stops the request */
    KP_HTTP_COND_NOT_MODIFIED, /* answer 304 (GET/HEAD whose cached copy is current) */
    KP_HTTP_COND_FAILED,       /* answer 412 Precondition Failed */
};

/* Evaluate the preconditions of head h for a representation that exists and
 * has the entity-tag etag (with quotes, possibly "W/"-prefixed; empty: none)
 * and the modification time last_modified (-1: none), in the order of RFC
 * 9110 section 13.2.2:
 *   1. If-Match (strong comparison, `*` matches) false -> FAILED;
 *   2. else If-Unmodified-Since earlier than last_modified -> FAILED;
 *   3. If-None-Match (weak comparison, `*` matches) matched -> NOT_MODIFIED
 *      for GET and HEAD, FAILED for other methods;
 *   4. else, for GET and HEAD, If-Modified-Since compared with last_modified
 *      as ims says -> NOT_MODIFIED.
 * A list may span several field lines. Members that are not valid
 * entity-tags never match. A date that is not a valid HTTP-date is ignored,
 * and so is a date condition when last_modified is -1 (section 13.1.3 and
 * 13.1.4). */
enum kp_http_cond kp_http_cond_check(const struct kp_http_head *h, struct kp_str etag,
                                     time_t last_modified, enum kp_http_ims ims);

/* RFC 9110 section 13.2.2 step 5 / section 13.1.5: whether a Range in h may
 * be honoured. True when there is no If-Range; otherwise true only when its
 * entity-tag strongly matches etag, or its HTTP-date equals last_modified
 * exactly. A weak tag, an invalid value, or a date when last_modified is -1
 * give false: the caller then ignores Range and sends the whole
 * representation. */
bool kp_http_cond_if_range(const struct kp_http_head *h, struct kp_str etag, time_t last_modified);

#endif
