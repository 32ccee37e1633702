/* nginx's stub_status page (see stub.h). */
#include "stub.h"

#include <check.h>
#include <stdio.h>

#define STUB_LAYOUT                                                                                \
    "Active connections: %lld \nserver accepts handled requests\n %lld %lld %lld \n"               \
    "Reading: %lld Writing: %lld Waiting: %lld \n"

void kp_stub_parse(const char *body, struct kp_stub *st)
{
    char rebuilt[512];

    ck_assert_ptr_nonnull(body);
    ck_assert_int_eq(sscanf(body, STUB_LAYOUT, &st->active, &st->accepts, &st->handled,
                            &st->requests, &st->reading, &st->writing, &st->waiting),
                     7);
    snprintf(rebuilt, sizeof(rebuilt), STUB_LAYOUT, st->active, st->accepts, st->handled,
             st->requests, st->reading, st->writing, st->waiting);
    ck_assert_str_eq(body, rebuilt);
}
