/* Exact-size allocation (util/mem.h): blocks of the sizes jemalloc would
 * round up a lot come from the exact range, 16-byte aligned, reused after
 * a free, resized with their contents; other sizes are malloc's; two
 * threads allocating and freeing at once never share a block. In builds
 * without jemalloc everything is malloc's. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "kelpie/util/mem.h"

#define SSL_SIZE 7624 /* OpenSSL 3.0's SSL: 8,192 bytes in jemalloc's classes */

static bool exact_expected(void)
{
    return KP_HAVE_JEMALLOC != 0;
}

START_TEST(sizes_that_gain_are_exact)
{
    char *a = kp_mem_exact_alloc(SSL_SIZE), *b = kp_mem_exact_alloc(SSL_SIZE);
    void *small = kp_mem_exact_alloc(100), *classed = kp_mem_exact_alloc(8192);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq((uintptr_t)a % 16, 0);
    ck_assert_uint_eq((uintptr_t)b % 16, 0);
    ck_assert_int_eq(kp_mem_exact_owns(a), exact_expected());
    ck_assert(!kp_mem_exact_owns(small));
    ck_assert(!kp_mem_exact_owns(classed));
    memset(a, 'a', SSL_SIZE);
    memset(b, 'b', SSL_SIZE);
    if (exact_expected()) {
        /* Side by side in one slab, 16-byte rounded: no class's slack. */
        size_t gap = (size_t)(a < b ? b - a : a - b);
        ck_assert_uint_eq(gap, (SSL_SIZE + 15) / 16 * 16);
    }
    ck_assert_int_eq(a[SSL_SIZE - 1], 'a');
    ck_assert_int_eq(b[0], 'b');
    kp_mem_exact_free(a);
    char *again = kp_mem_exact_alloc(SSL_SIZE);
    if (exact_expected())
        ck_assert_ptr_eq(again, a); /* the freed block serves the next one */
    kp_mem_exact_free(again);
    kp_mem_exact_free(b);
    kp_mem_exact_free(small);
    kp_mem_exact_free(classed);
    kp_mem_exact_free(NULL);
}
END_TEST

START_TEST(realloc_keeps_contents)
{
    char *p = kp_mem_exact_realloc(NULL, 600);

    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 600; i++)
        p[i] = (char)i;
    /* The same exact size class: the block stays where it is. */
    char *same = kp_mem_exact_realloc(p, 590);
    if (kp_mem_exact_owns(p))
        ck_assert_ptr_eq(same, p);
    p = same;
    /* Up into malloc's sizes and back into an exact one. */
    p = kp_mem_exact_realloc(p, 40000);
    ck_assert_ptr_nonnull(p);
    ck_assert(!kp_mem_exact_owns(p));
    for (int i = 0; i < 590; i++)
        ck_assert_int_eq(p[i], (char)i);
    p = kp_mem_exact_realloc(p, 30000);
    char *q = kp_mem_exact_alloc(SSL_SIZE);
    memcpy(q, p, 590);
    kp_mem_exact_free(p);
    q = kp_mem_exact_realloc(q, SSL_SIZE + 600);
    ck_assert_ptr_nonnull(q);
    for (int i = 0; i < 590; i++)
        ck_assert_int_eq(q[i], (char)i);
    kp_mem_exact_free(q);
}
END_TEST

/* Each thread fills its blocks with its own byte and checks them before
 * freeing: a block handed out twice would show the other thread's. */
static void *churn(void *arg)
{
    const int mark = *(const int *)arg;
    char *held[64] = {0};

    for (int round = 0; round < 4000; round++) {
        int i = round % 64;
        if (held[i] != NULL) {
            for (int j = 0; j < SSL_SIZE; j += 512)
                if (held[i][j] != (char)mark)
                    return (void *)1;
            kp_mem_exact_free(held[i]);
        }
        size_t n = i % 2 ? SSL_SIZE : 928;
        held[i] = kp_mem_exact_alloc(n);
        if (held[i] == NULL)
            return (void *)1;
        memset(held[i], mark, n);
        if (n == 928)
            held[i] = kp_mem_exact_realloc(held[i], SSL_SIZE);
        if (held[i] == NULL)
            return (void *)1;
        memset(held[i], mark, SSL_SIZE);
    }
    for (int i = 0; i < 64; i++)
        kp_mem_exact_free(held[i]);
    return NULL;
}

START_TEST(threads_never_share_a_block)
{
    pthread_t t[2];
    int marks[2] = {'x', 'y'};
    void *rc[2];

    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn, &marks[i]), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_join(t[i], &rc[i]), 0);
        ck_assert_ptr_null(rc[i]);
    }
}
END_TEST

Suite *kp_test_mem_suite(void)
{
    Suite *s = suite_create("mem");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, sizes_that_gain_are_exact);
    tcase_add_test(tc, realloc_keeps_contents);
    tcase_add_test(tc, threads_never_share_a_block);
    suite_add_tcase(s, tc);
    return s;
}
