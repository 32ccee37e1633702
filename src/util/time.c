/* The cached clock and HTTP-date formatting/parsing (RFC 9110 §5.6.7). */
#include "kelpie/util/time.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* 9999-12-31 23:59:59 and 0001-01-01 00:00:00 UTC: the years an
 * IMF-fixdate's four digits hold (a file's mtime may be set far past). */
#define HTTP_DATE_MAX ((time_t)253402300799)
#define HTTP_DATE_MIN ((time_t)-62135596800)

size_t kp_time_http_date(time_t t, char *out)
{
    struct tm tm;

    t = t > HTTP_DATE_MAX ? HTTP_DATE_MAX : t < HTTP_DATE_MIN ? HTTP_DATE_MIN : t;
    gmtime_r(&t, &tm);
    return (size_t)snprintf(out, 30, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday],
                            tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                            tm.tm_sec);
}

/* strftime keeps the formats bounded (no int-width surprises); the zone
 * offset is written by hand because $time_iso8601 wants "+00:00", not "+0000". */
static void format_local(struct kp_clock *clk)
{
    struct tm tm;
    char zone[8];

    localtime_r(&clk->sec, &tm);
    strftime(zone, sizeof(zone), "%z", &tm);
    strftime(clk->log_time, sizeof(clk->log_time), "%Y/%m/%d %H:%M:%S", &tm);
    strftime(clk->local_time, sizeof(clk->local_time), "%d/%b/%Y:%H:%M:%S %z", &tm);
    size_t n = strftime(clk->iso8601, sizeof(clk->iso8601) - 6, "%Y-%m-%dT%H:%M:%S", &tm);
    memcpy(clk->iso8601 + n, zone, 3);
    clk->iso8601[n + 3] = ':';
    memcpy(clk->iso8601 + n + 4, zone + 3, 3);
}

void kp_clock_update(struct kp_clock *clk)
{
    struct timespec mono, wall;

    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    clk->msec = (uint64_t)mono.tv_sec * 1000 + (uint64_t)mono.tv_nsec / 1000000;
    clk->wall_msec = (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000;
    clk->turn++;
    if (wall.tv_sec == clk->sec && clk->http_date[0] != '\0')
        return;
    clk->sec = wall.tv_sec;
    kp_time_http_date(clk->sec, clk->http_date);
    format_local(clk);
}

static int parse_num(const char **p, const char *end, int digits, int *out)
{
    int v = 0;

    for (int i = 0; i < digits; i++) {
        if (*p >= end || **p < '0' || **p > '9')
            return -EINVAL;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

static int parse_month(const char **p, const char *end, int *mon)
{
    if (end - *p < 3)
        return -EINVAL;
    for (int i = 0; i < 12; i++) {
        if (memcmp(*p, months[i], 3) == 0) {
            *mon = i;
            *p += 3;
            return 0;
        }
    }
    return -EINVAL;
}

static int expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return -EINVAL;
    (*p)++;
    return 0;
}

static int parse_hms(const char **p, const char *end, struct tm *tm)
{
    if (parse_num(p, end, 2, &tm->tm_hour) || expect(p, end, ':') ||
        parse_num(p, end, 2, &tm->tm_min) || expect(p, end, ':') ||
        parse_num(p, end, 2, &tm->tm_sec))
        return -EINVAL;
    return 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (after the weekday and ", "). */
static int parse_imf(const char *p, const char *end, struct tm *tm)
{
    if (parse_num(&p, end, 2, &tm->tm_mday) || expect(&p, end, ' ') ||
        parse_month(&p, end, &tm->tm_mon) || expect(&p, end, ' ') ||
        parse_num(&p, end, 4, &tm->tm_year) || expect(&p, end, ' ') || parse_hms(&p, end, tm))
        return -EINVAL;
    tm->tm_year -= 1900;
    return (end - p == 4 && memcmp(p, " GMT", 4) == 0) ? 0 : -EINVAL;
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (after the weekday and ", "). */
static int parse_rfc850(const char *p, const char *end, struct tm *tm)
{
    if (parse_num(&p, end, 2, &tm->tm_mday) || expect(&p, end, '-') ||
        parse_month(&p, end, &tm->tm_mon) || expect(&p, end, '-') ||
        parse_num(&p, end, 2, &tm->tm_year) || expect(&p, end, ' ') || parse_hms(&p, end, tm))
        return -EINVAL;
    /* RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past. */
    if (tm->tm_year < 70)
        tm->tm_year += 100;
    return (end - p == 4 && memcmp(p, " GMT", 4) == 0) ? 0 : -EINVAL;
}

/* asctime: "Sun Nov  6 08:49:37 1994" (after the weekday and " "). */
static int parse_asctime(const char *p, const char *end, struct tm *tm)
{
    if (parse_month(&p, end, &tm->tm_mon) || expect(&p, end, ' '))
        return -EINVAL;
    if (p < end && *p == ' ')
        p++;
    int digits = (end - p > 1 && p[1] >= '0' && p[1] <= '9') ? 2 : 1;
    if (parse_num(&p, end, digits, &tm->tm_mday) || expect(&p, end, ' ') ||
        parse_hms(&p, end, tm) || expect(&p, end, ' ') || parse_num(&p, end, 4, &tm->tm_year))
        return -EINVAL;
    tm->tm_year -= 1900;
    return p == end ? 0 : -EINVAL;
}

int kp_time_parse_http_date(const char *p, size_t len, time_t *out)
{
    const char *end = p + len;
    const char *comma = memchr(p, ',', len);
    struct tm tm;
    int rc;

    memset(&tm, 0, sizeof(tm));
    if (len < 3)
        return -EINVAL;
    if (comma == p + 3)
        rc = (end - comma > 2 && comma[1] == ' ') ? parse_imf(comma + 2, end, &tm) : -EINVAL;
    else if (comma != NULL)
        rc = (end - comma > 2 && comma[1] == ' ') ? parse_rfc850(comma + 2, end, &tm) : -EINVAL;
    else
        rc = (len > 4 && p[3] == ' ') ? parse_asctime(p + 4, end, &tm) : -EINVAL;
    if (rc != 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -EINVAL;
    *out = timegm(&tm);
    return 0;
}
