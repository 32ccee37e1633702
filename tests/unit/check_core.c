/* Unit tests for the small core modules: str, buf, arena, alloc, time, log. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/arena.h"
#include "kelpie/util/buf.h"
#include "kelpie/util/log.h"
#include "kelpie/util/str.h"
#include "kelpie/util/time.h"

START_TEST(str_compare)
{
    ck_assert(kp_str_eq(KP_STR("abc"), kp_str_from("abc")));
    ck_assert(!kp_str_eq(KP_STR("abc"), KP_STR("abd")));
    ck_assert(!kp_str_eq(KP_STR("abc"), KP_STR("ab")));
    ck_assert(kp_str_caseeq(KP_STR("Content-Length"), KP_STR("content-LENGTH")));
    ck_assert(!kp_str_caseeq(KP_STR("a["), KP_STR("a{")));
    ck_assert(kp_str_caseeq_cstr(KP_STR("Host"), "host"));
    ck_assert(kp_str_has_prefix(KP_STR("/static/x"), KP_STR("/static/")));
    ck_assert(!kp_str_has_prefix(KP_STR("/st"), KP_STR("/static/")));
    ck_assert(kp_str_has_prefix(KP_STR("x"), KP_STR_NULL));
}
END_TEST

/* kp_str_caseeq compares eight bytes at once: every pair of bytes, in a
 * word and in the byte-wise tail, against kp_str_lower. */
START_TEST(str_caseeq_every_byte_pair)
{
    char a[10] = "xxxxxxxxx", b[10] = "XXXXXXXXX";

    for (int x = 0; x < 256; x++) {
        for (int y = 0; y < 256; y++) {
            bool want = kp_str_lower((char)x) == kp_str_lower((char)y);
            for (int at = 3; at <= 8; at += 5) {
                a[at] = (char)x;
                b[at] = (char)y;
                ck_assert_int_eq(kp_str_caseeq((struct kp_str){a, 9}, (struct kp_str){b, 9}), want);
                a[at] = 'x';
                b[at] = 'X';
            }
        }
    }
}
END_TEST

START_TEST(str_trim_and_numbers)
{
    struct kp_str t = kp_str_trim_ows(KP_STR(" \t value \t"));
    uint64_t v = 0;

    ck_assert(kp_str_eq(t, KP_STR("value")));
    ck_assert_uint_eq(kp_str_trim_ows(KP_STR(" \t ")).len, 0);
    ck_assert_int_eq(kp_str_to_u64(KP_STR("12345"), UINT64_MAX, &v), 0);
    ck_assert_uint_eq(v, 12345);
    ck_assert_int_eq(kp_str_to_u64(KP_STR("18446744073709551615"), UINT64_MAX, &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(kp_str_to_u64(KP_STR("18446744073709551616"), UINT64_MAX, &v), -ERANGE);
    ck_assert_int_eq(kp_str_to_u64(KP_STR("100"), 99, &v), -ERANGE);
    ck_assert_int_eq(kp_str_to_u64(KP_STR("9"), 5, &v), -ERANGE);
    ck_assert_int_eq(kp_str_to_u64(KP_STR(""), 99, &v), -EINVAL);
    ck_assert_int_eq(kp_str_to_u64(KP_STR("1a"), 99, &v), -EINVAL);
    ck_assert_int_eq(kp_str_to_u64(KP_STR("-1"), 99, &v), -EINVAL);
    char *d = kp_str_dup(KP_STR("dup"));
    ck_assert_str_eq(d, "dup");
    kp_free(d);
}
END_TEST

START_TEST(buf_cursors)
{
    char mem[8];
    struct kp_buf b;

    kp_buf_init(&b, mem, sizeof(mem));
    ck_assert_uint_eq(kp_buf_append(&b, "abcdef", 6), 6);
    ck_assert_uint_eq(kp_buf_append(&b, "ghij", 4), 2);
    ck_assert_uint_eq(kp_buf_free(&b), 0);
    b.pos += 5;
    ck_assert_uint_eq(kp_buf_compact(&b), 5);
    ck_assert_uint_eq(kp_buf_len(&b), 3);
    ck_assert(memcmp(b.pos, "fgh", 3) == 0);
    ck_assert_uint_eq(kp_buf_free(&b), 5);
    ck_assert_uint_eq(kp_buf_compact(&b), 0);
    kp_buf_reset(&b);
    ck_assert_uint_eq(kp_buf_len(&b), 0);
}
END_TEST

static void count_cleanup(void *data)
{
    int *n = data;
    *n = *n * 10 + 1;
}

static void order_cleanup(void *data)
{
    int *n = data;
    *n = *n * 10 + 2;
}

START_TEST(arena_alloc_reset_cleanup)
{
    struct kp_arena a;
    int calls = 0;

    kp_arena_init(&a, 512);
    char *p = kp_arena_alloc(&a, 10);
    char *q = kp_arena_alloc(&a, 10);
    ck_assert_ptr_ne(p, q);
    ck_assert_uint_eq((uintptr_t)q % _Alignof(max_align_t), 0);
    char *big = kp_arena_calloc(&a, 100000);
    ck_assert_int_eq(big[99999], 0);
    ck_assert_str_eq(kp_arena_strndup(&a, "hello world", 5), "hello");
    kp_arena_cleanup_add(&a, count_cleanup, &calls);
    kp_arena_cleanup_add(&a, order_cleanup, &calls);
    kp_arena_reset(&a);
    /* Last registered runs first: 2 then 1. */
    ck_assert_int_eq(calls, 21);
    ck_assert_ptr_eq(kp_arena_alloc(&a, 10), p);
    kp_arena_reset(&a);
    ck_assert_int_eq(calls, 21);
    kp_arena_cleanup_add(&a, count_cleanup, &calls);
    kp_arena_destroy(&a);
    ck_assert_int_eq(calls, 211);
}
END_TEST

START_TEST(arena_many_blocks)
{
    struct kp_arena a;

    kp_arena_init(&a, 256);
    for (int i = 0; i < 10000; i++) {
        char *p = kp_arena_alloc(&a, 100);
        memset(p, i & 0xff, 100);
    }
    kp_arena_reset(&a);
    ck_assert_ptr_eq(a.head, a.first);
    kp_arena_destroy(&a);
}
END_TEST

START_TEST(time_http_date_roundtrip)
{
    char out[32];
    time_t t = 0;

    ck_assert_uint_eq(kp_time_http_date(784111777, out), 29);
    ck_assert_str_eq(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_int_eq(kp_time_parse_http_date(out, strlen(out), &t), 0);
    ck_assert_int_eq(t, 784111777);
    /* A file's mtime set far out of range prints as the last date there is. */
    ck_assert_uint_eq(kp_time_http_date((time_t)4611686018427387904LL, out), 29);
    ck_assert_str_eq(out, "Fri, 31 Dec 9999 23:59:59 GMT");
    ck_assert_uint_eq(kp_time_http_date((time_t)-4611686018427387904LL, out), 29);
    ck_assert_str_eq(out, "Mon, 01 Jan 0001 00:00:00 GMT");
    const char *rfc850 = "Sunday, 06-Nov-94 08:49:37 GMT";
    ck_assert_int_eq(kp_time_parse_http_date(rfc850, strlen(rfc850), &t), 0);
    ck_assert_int_eq(t, 784111777);
    const char *asc = "Sun Nov  6 08:49:37 1994";
    ck_assert_int_eq(kp_time_parse_http_date(asc, strlen(asc), &t), 0);
    ck_assert_int_eq(t, 784111777);
    const char *bad[] = {"",
                         "Sun, 06 Nov 1994 08:49:37 UTC",
                         "Sun, 6 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Foo 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 25:49:37 GMT",
                         "Sun, 06 Nov 1994 08:49:37 GMTX",
                         "garbage"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_int_eq(kp_time_parse_http_date(bad[i], strlen(bad[i]), &t), -EINVAL);
}
END_TEST

START_TEST(time_clock_cache)
{
    struct kp_clock clk;

    memset(&clk, 0, sizeof(clk));
    kp_clock_update(&clk);
    ck_assert_uint_gt(clk.msec, 0);
    ck_assert_uint_eq(strlen(clk.http_date), 29);
    ck_assert_uint_eq(strlen(clk.log_time), 19);
    ck_assert_uint_eq(clk.log_time[4], '/');
    ck_assert_uint_eq(strlen(clk.iso8601), 25);
    uint64_t before = clk.msec;
    kp_clock_update(&clk);
    ck_assert_uint_ge(clk.msec, before);
}
END_TEST

static size_t format(char *out, size_t n, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len = kp_log_format(out, n, "2026/11/22 10:00:00", KP_LOG_ERR, 1234, 0, err, fmt, ap);
    va_end(ap);
    return len;
}

START_TEST(log_format_lines)
{
    char out[256];

    format(out, sizeof(out), 0, "hello %d", 42);
    ck_assert_str_eq(out, "2026/11/22 10:00:00 [error] 1234#0: hello 42");
    format(out, sizeof(out), ENOENT, "open() \"%s\" failed", "/x");
    ck_assert_str_eq(out, "2026/11/22 10:00:00 [error] 1234#0: open() \"/x\" failed "
                          "(2: No such file or directory)");
    size_t len = format(out, 40, 0, "%s", "a very long message that will not fit at all");
    ck_assert_uint_eq(len, 39);
    ck_assert_uint_eq(strlen(out), 39);
    /* A client's decoded %0a cannot start a forged line; cut whole escapes. */
    format(out, sizeof(out), 0, "open() \"%s\" failed", "/a\n2026/12/06 [alert] x\x7f");
    ck_assert_str_eq(out, "2026/11/22 10:00:00 [error] 1234#0: open() \"/a\\x0A2026/12/06 "
                          "[alert] x\\x7F\" failed");
    len = format(out, 41, 0, "%s", "ab\r\ncd");
    ck_assert_str_eq(out, "2026/11/22 10:00:00 [error] 1234#0: ab");
    ck_assert_uint_eq(len, strlen(out));
    ck_assert_int_eq(kp_log_level_parse("warn"), KP_LOG_WARN);
    ck_assert_int_eq(kp_log_level_parse("bogus"), -1);
    ck_assert_str_eq(kp_log_level_name(KP_LOG_EMERG), "emerg");
}
END_TEST

static size_t format_thread(char *out, size_t n, unsigned thread, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len =
        kp_log_format(out, n, "2026/11/22 10:00:00", KP_LOG_ERR, 1234, thread, EIO, fmt, ap);
    va_end(ap);
    return len;
}

/* A reactor thread's lines name it after the pid, as nginx's pid#tid. */
START_TEST(log_format_thread)
{
    char out[256];

    format_thread(out, sizeof(out), 3, "x");
    ck_assert_str_eq(out, "2026/11/22 10:00:00 [error] 1234#3: x (5: Input/output error)");
}
END_TEST

START_TEST(log_file_levels_and_reopen)
{
    char dir[] = "/tmp/kp_log_XXXXXX";
    char path[64], moved[64], text[512];
    struct kp_log log;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/error.log", dir);
    snprintf(moved, sizeof(moved), "%s/error.log.1", dir);
    kp_log_init_stderr(&log, KP_LOG_ERR);
    ck_assert_int_eq(kp_log_open(&log, path, KP_LOG_WARN), 0);
    kp_log_error(&log, KP_LOG_INFO, 0, "dropped");
    kp_log_error(&log, KP_LOG_WARN, 0, "kept");
    ck_assert_int_eq(rename(path, moved), 0);
    ck_assert_int_eq(kp_log_reopen(&log), 0);
    kp_log_error(&log, KP_LOG_ALERT, 0, "after reopen");
    kp_log_close(&log);

    FILE *f = fopen(moved, "r");
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_ptr_null(strstr(text, "dropped"));
    ck_assert_ptr_nonnull(strstr(text, "[warn] "));
    ck_assert_ptr_nonnull(strstr(text, ": kept\n"));
    f = fopen(path, "r");
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "[alert] "));
    ck_assert_int_eq(kp_log_open(&log, "/nonexistent/dir/x.log", KP_LOG_ERR), -ENOENT);
    unlink(path);
    unlink(moved);
    rmdir(dir);
}
END_TEST

/* The text of file path (at most size - 1 bytes), "" when missing. */
static void slurp(const char *path, char *text, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(text, 1, size - 1, f) : 0;

    text[n] = '\0';
    if (f != NULL)
        fclose(f);
}

/* Several error_log lines: each takes the lines at its level or above; a
 * line is stamped with the writer's thread; an unopened file is skipped. */
START_TEST(log_chain_levels)
{
    char dir[] = "/tmp/kp_log_XXXXXX";
    char p1[64], p2[64], text[512];
    struct kp_log head, second, unopened, stamp;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(p1, sizeof(p1), "%s/one.log", dir);
    snprintf(p2, sizeof(p2), "%s/two.log", dir);
    kp_log_init_stderr(&head, KP_LOG_ERR);
    kp_log_init_stderr(&second, KP_LOG_ERR);
    kp_log_init_stderr(&unopened, KP_LOG_DEBUG);
    unopened.path = "/nonexistent/never-opened.log"; /* fd -1 with a path: skipped */
    ck_assert_int_eq(kp_log_open(&head, p1, KP_LOG_INFO), 0);
    ck_assert_int_eq(kp_log_open(&second, p2, KP_LOG_CRIT), 0);
    head.next = &second;
    second.next = &unopened;
    ck_assert(kp_log_enabled(&head, KP_LOG_INFO));
    ck_assert(kp_log_enabled(&second, KP_LOG_DEBUG)); /* through the unopened one */
    second.next = NULL;
    ck_assert(!kp_log_enabled(&second, KP_LOG_ERR));
    second.next = &unopened;
    kp_log_error(&head, KP_LOG_INFO, 0, "info line");
    kp_log_error(&head, KP_LOG_CRIT, 0, "crit line");
    kp_log_init_stderr(&stamp, KP_LOG_EMERG);
    stamp.tid = 5;
    kp_log_error_via(&second, &stamp, KP_LOG_ALERT, 0, "via line");
    kp_log_error_via(&second, &stamp, KP_LOG_ERR, 0, "dropped by second");
    head.next = NULL;
    kp_log_close(&head);
    kp_log_close(&second);

    slurp(p1, text, sizeof(text));
    ck_assert_ptr_nonnull(strstr(text, "[info] "));
    ck_assert_ptr_nonnull(strstr(text, ": crit line\n"));
    ck_assert_ptr_null(strstr(text, "via line"));
    slurp(p2, text, sizeof(text));
    ck_assert_ptr_null(strstr(text, "info line"));
    ck_assert_ptr_nonnull(strstr(text, "[crit] "));
    ck_assert_ptr_nonnull(strstr(text, "#5: via line\n"));
    ck_assert_ptr_null(strstr(text, "dropped"));
    unlink(p1);
    unlink(p2);
    rmdir(dir);
}
END_TEST

Suite *kp_test_core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, str_compare);
    tcase_add_test(tc, str_caseeq_every_byte_pair);
    tcase_add_test(tc, str_trim_and_numbers);
    tcase_add_test(tc, buf_cursors);
    tcase_add_test(tc, arena_alloc_reset_cleanup);
    tcase_add_test(tc, arena_many_blocks);
    tcase_add_test(tc, time_http_date_roundtrip);
    tcase_add_test(tc, time_clock_cache);
    tcase_add_test(tc, log_format_lines);
    tcase_add_test(tc, log_format_thread);
    tcase_add_test(tc, log_chain_levels);
    tcase_add_test(tc, log_file_levels_and_reopen);
    suite_add_tcase(s, tc);
    return s;
}
