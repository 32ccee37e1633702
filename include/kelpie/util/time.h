/* Cached clock: the event loop refreshes it once per iteration so that request
 * handling never makes a system call to learn the time. The formatted strings
 * are recomputed only when the wall-clock second changes. All strings are
 * NUL-terminated. */
#ifndef KP_TIME_H
#define KP_TIME_H

#include <stdint.h>
#include <time.h>

struct kp_clock {
    uint64_t msec;       /* CLOCK_MONOTONIC in milliseconds */
    time_t sec;          /* wall clock, seconds since the epoch */
    uint64_t wall_msec;  /* wall clock in milliseconds */
    uint64_t turn;       /* counts updates: equal values were read in one loop turn */
    char http_date[32];  /* IMF-fixdate, RFC 9110 §5.6.7: "Sun, 22 Nov 2026 10:00:00 GMT" */
    char log_time[24];   /* error log: "2026/11/22 10:00:00" (local time) */
    char local_time[32]; /* access log $time_local: "22/Nov/2026:10:00:00 +0000" */
    char iso8601[32];    /* $time_iso8601: "2026-11-22T10:00:00+00:00" */
};

/* Read the clocks (vDSO calls), count the turn, and refresh the strings if
 * the second moved. */
void kp_clock_update(struct kp_clock *clk);
/* Format t as an IMF-fixdate into out (at least 30 bytes), t clamped to
 * the years 1 to 9999. Returns length: always KP_TIME_HTTP_DATE_LEN (the
 * year has four digits), so that a caller may copy it as a constant. */
#define KP_TIME_HTTP_DATE_LEN 29
size_t kp_time_http_date(time_t t, char *out);
/* Parse an HTTP-date (IMF-fixdate; also the obsolete RFC 850 and asctime
 * forms, RFC 9110 §5.6.7). Returns 0 and sets *out, or -EINVAL. */
int kp_time_parse_http_date(const char *p, size_t len, time_t *out);

#endif
