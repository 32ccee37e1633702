/* libFuzzer target for the Range parser (http/range.h). The first byte of
 * the input picks the representation's size (0..255, or a huge one), the
 * rest is the field value. Checks: every range returned is satisfiable and
 * within the representation, the ranges add up to no more than it, there
 * are at most KP_HTTP_RANGES_MAX, and an empty representation is never
 * ranged (it may be unsatisfiable: nginx answers 416 to "bytes=1-" or to
 * invalid syntax whatever the size). The value is copied to an exact-size
 * buffer so ASan sees any read beyond it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/range.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint64_t len = data[0] == 255 ? UINT64_MAX : data[0];
    char *v = kp_alloc(size - 1 > 0 ? size - 1 : 1);
    struct kp_http_ranges rs;

    memcpy(v, data + 1, size - 1);
    enum kp_http_range rc = kp_http_range_parse((struct kp_str){v, size - 1}, len, &rs);
    if (rc == KP_HTTP_RANGE_OK) {
        uint64_t total = 0;
        CHECK(len > 0);
        CHECK(rs.n >= 1 && rs.n <= KP_HTTP_RANGES_MAX);
        for (size_t i = 0; i < rs.n; i++) {
            CHECK(rs.v[i].first <= rs.v[i].last && rs.v[i].last < len);
            total += rs.v[i].last - rs.v[i].first + 1;
            CHECK(total <= len);
        }
    }
    kp_free(v);
    return 0;
}
