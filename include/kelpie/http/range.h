/* Range requests (RFC 9110 section 14): parsing a Range field value against
 * the length of the selected representation. Pure function, no allocation.
 *
 * kelpie serves one range per response. A request for several ranges is
 * answered with the whole representation (200), which RFC 9110 section 14.2
 * permits ("A server MAY ignore the Range header field"): multipart/byteranges
 * responses cost a lot of code for a feature clients rarely need from a
 * static server, and overlapping multi-range requests are a known
 * amplification vector. Callers apply Range to GET (and to HEAD, whose
 * headers mirror GET's, section 9.3.2) only, after the preconditions and
 * If-Range (cond.h). */
#ifndef KP_RANGE_H
#define KP_RANGE_H

#include <stdint.h>

#include "kelpie/util/str.h"

enum kp_http_range {
    KP_HTTP_RANGE_IGNORE,        /* send the whole representation (200) */
    KP_HTTP_RANGE_OK,            /* send bytes [*first, *last] (206) */
    KP_HTTP_RANGE_UNSATISFIABLE, /* 416 with "Content-Range: bytes * /size" */
};

/* Parse value, a Range field value (`bytes=first-last`, `bytes=first-`,
 * `bytes=-suffix`, or a comma-separated list of those, OWS allowed around
 * commas; the unit is case-insensitive), for a representation of size bytes.
 *   OK: exactly one range-spec that is satisfiable; *first and *last are the
 *     inclusive byte positions, last clamped to size - 1 and a suffix longer
 *     than the representation meaning all of it (section 14.1.1).
 *   UNSATISFIABLE: valid syntax, but no range-spec is satisfiable (a first
 *     position at or beyond size, a zero suffix) in a non-empty
 *     representation.
 *   IGNORE: a unit other than bytes, invalid syntax (including last < first),
 *     several range-specs of which one is satisfiable, or any range of an
 *     empty representation (no byte to select; the empty 200 is the whole
 *     answer, as nginx gives it: RFC 9110 section 14.2 lets a server
 *     ignore Range, and media players open with "bytes=0-").
 * Numbers too large for 64 bits saturate, which gives the right meaning
 * (a huge first position is unsatisfiable, a huge last position or suffix is
 * clamped). *first and *last are written only for OK. */
enum kp_http_range kp_http_range_parse(struct kp_str value, uint64_t size, uint64_t *first,
                                       uint64_t *last);

#endif
