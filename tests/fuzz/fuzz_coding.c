/* libFuzzer target for the Accept-Encoding parser (http/coding.h). The input
 * is a field value. Checks: the weight is within 0..1000; an empty list
 * member appended changes nothing; the value split into two field lines at
 * a ',' gives the same answer as one line; the head-level answer agrees
 * with the weight. Inputs of any length must be handled without memory
 * beyond the input (ASan sees every byte read). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/coding.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool accepts(struct kp_str *lines, size_t n)
{
    struct kp_http_field f[2];

    for (size_t i = 0; i < n; i++)
        f[i] = (struct kp_http_field){.name = KP_STR("Accept-Encoding"), .value = lines[i]};
    struct kp_http_head h = {.fields = f, .nfields = n, .version = 11};
    return kp_http_coding_accepts_gzip(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = kp_alloc(size + 1); /* exact size (+1 for the ','): ASan catches over-reads */
    struct kp_str s = {v, size};

    memcpy(v, data, size);
    unsigned w = kp_http_coding_gzip_weight(s);
    CHECK(w <= 1000);
    CHECK(accepts(&s, 1) == (w > 0));
    v[size] = ',';
    CHECK(kp_http_coding_gzip_weight((struct kp_str){v, size + 1}) == w);
    const char *comma = memchr(v, ',', size);
    if (comma != NULL) {
        struct kp_str two[2] = {{v, (size_t)(comma - v)},
                                {comma + 1, size - (size_t)(comma - v) - 1}};
        CHECK(accepts(two, 2) == (w > 0));
    }
    kp_free(v);
    return 0;
}
