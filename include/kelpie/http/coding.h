/* Content-coding negotiation: whether a request's Accept-Encoding (RFC 9110
 * section 12.5.3) allows a response compressed with gzip. Pure functions
 * over the parsed head: no allocation, one pass over each field line, so a
 * field of any length costs time linear in it and no memory. */
#ifndef KP_HTTP_CODING_H
#define KP_HTTP_CODING_H

#include <stdbool.h>

#include "kelpie/util/str.h"
#include "kelpie/http/parse.h"

/* The weight (0..1000, thousandths) value gives the gzip coding: that of a
 * "gzip" or "x-gzip" member (RFC 9110 section 18.6 registers x-gzip as an
 * alias; the highest one if listed several times), else that of "*", else 0
 * (not acceptable). Codings compare case-insensitively; a weight is
 * ";" OWS "q=" qvalue with "q" in either case (section 12.4.2). A member
 * whose parameters are malformed (a qvalue above 1, more than three
 * decimals, junk) weighs 0: never compress on a doubtful "yes". Empty list
 * members are allowed and skipped (section 5.6.1). */
unsigned kp_http_coding_gzip_weight(struct kp_str value);

/* Whether head h accepts gzip: the Accept-Encoding field lines taken as one
 * list (section 5.3), the gzip weight above 0. No field: false (section
 * 12.5.3 allows any coding then, but a client that says nothing may not
 * decode; nginx compresses only when asked too). */
bool kp_http_coding_accepts_gzip(const struct kp_http_head *h);

#endif
