/* Range requests (RFC 9110 section 14): parsing a Range field value against
 * the length of the selected representation. Pure function, no allocation.
 *
 * Several ranges are answered as nginx answers them: satisfiable ranges in
 * the order asked, unsatisfiable ones dropped, sent as multipart/byteranges
 * (section 14.6) by the caller. Against amplification (overlapping ranges
 * asking for the same bytes many times) a request whose ranges add up to
 * more than the representation, or that has more than KP_HTTP_RANGES_MAX
 * of them, gets the whole representation (200), which section 14.2
 * permits ("A server MAY ignore the Range header field"). Callers apply
 * Range to GET (and to HEAD, whose headers mirror GET's, section 9.3.2)
 * only, after the preconditions and If-Range (cond.h). */
#ifndef KP_RANGE_H
#define KP_RANGE_H

#include <stddef.h>
#include <stdint.h>

#include "kelpie/util/str.h"

#define KP_HTTP_RANGES_MAX 64 /* ranges one response carries at most */

enum kp_http_range {
    KP_HTTP_RANGE_IGNORE,        /* send the whole representation (200) */
    KP_HTTP_RANGE_OK,            /* send the ranges (206) */
    KP_HTTP_RANGE_UNSATISFIABLE, /* 416 with "Content-Range: bytes * /size" */
};

/* Satisfiable ranges, inclusive byte positions, in the order asked. */
struct kp_http_ranges {
    size_t n;
    struct {
        uint64_t first, last;
    } v[KP_HTTP_RANGES_MAX];
};

/* Parse value, a Range field value (`bytes=first-last`, `bytes=first-`,
 * `bytes=-suffix`, or a comma-separated list of those, OWS and empty
 * elements allowed around commas, spaces around the "-" tolerated as by
 * nginx; the "bytes=" prefix is case-insensitive), for a representation of
 * size bytes.
 *   OK: out->n >= 1 satisfiable range-specs, each with last clamped to
 *     size - 1 and a suffix longer than the representation meaning all of
 *     it (section 14.1.1); unsatisfiable ones and those with last < first
 *     are left out (as by nginx).
 *   UNSATISFIABLE: no range-spec is satisfiable (a first position at or
 *     beyond size, a zero suffix), or the set is invalid syntax (anything
 *     but digits, "-", "," and OWS after "bytes="): nginx answers both 416,
 *     which section 15.5.17 allows for "invalid ranges".
 *   IGNORE: no "bytes=" prefix or nothing after it (section 14.2: an
 *     unknown unit is ignored), more than KP_HTTP_RANGES_MAX satisfiable
 *     ranges, ranges adding up to more bytes than size, or a range from
 *     the first byte of an empty representation (the empty 200 is the
 *     whole answer, as nginx gives it: media players open with "bytes=0-").
 * Numbers too large for 64 bits saturate, which gives the right meaning
 * (a huge first position is unsatisfiable, a huge last position or suffix is
 * clamped). out is written only for OK. */
enum kp_http_range kp_http_range_parse(struct kp_str value, uint64_t size,
                                       struct kp_http_ranges *out);

#endif
