/* Messages to the local syslog socket (see syslog.h). */
#include "kelpie/util/syslog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kelpie/util/log_level.h"

/* RFC 3164's facility names, as nginx accepts them, by number. */
static const char *const facilities[] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "intern", "lpr",    "news",
    "uucp",   "clock",  "authpriv", "ftp",    "ntp",    "audit",  "alert",  "cron",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7",
};

bool kp_syslog_is(const char *target)
{
    return strncmp(target, KP_SYSLOG_PREFIX, strlen(KP_SYSLOG_PREFIX)) == 0;
}

static int facility_of(const char *name)
{
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
        if (strcmp(name, facilities[i]) == 0)
            return (int)i;
    }
    return -1;
}

static void close_socket(void *data)
{
    struct kp_syslog *s = data;

    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static int set_server(struct kp_conf *cf, struct kp_syslog *s, const char *v)
{
    if (strncmp(v, "unix:", 5) != 0)
        return kp_conf_error(cf,
                             "syslog server \"%s\" is not supported: kelpie logs only to a local "
                             "syslog socket (server=unix:PATH)",
                             v);
    const char *path = v + 5;
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(s->addr.sun_path))
        return kp_conf_error(cf, "invalid syslog socket path \"%s\"", path);
    s->addr.sun_family = AF_UNIX;
    memcpy(s->addr.sun_path, path, len + 1);
    s->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    return 0;
}

static int set_tag(struct kp_conf *cf, struct kp_syslog *s, const char *v)
{
    size_t len = strlen(v);

    if (len == 0 || len > KP_SYSLOG_TAG_MAX)
        return kp_conf_error(cf, "syslog tag \"%s\" must be 1 to %d characters", v,
                             KP_SYSLOG_TAG_MAX);
    for (const char *p = v; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return kp_conf_error(cf, "syslog \"tag\" only allows alphanumeric characters and "
                                     "underscore");
    }
    memcpy(s->tag, v, len + 1);
    return 0;
}

/* One "name=value" or "nohostname" of the comma-separated list. */
static int set_param(struct kp_conf *cf, struct kp_syslog *s, char *p, bool *server)
{
    int n;

    if (strncmp(p, "server=", 7) == 0) {
        *server = true;
        return set_server(cf, s, p + 7);
    }
    if (strncmp(p, "facility=", 9) == 0) {
        if ((n = facility_of(p + 9)) < 0)
            return kp_conf_error(cf, "unknown syslog facility \"%s\"", p + 9);
        s->facility = (unsigned)n;
        return 0;
    }
    if (strncmp(p, "severity=", 9) == 0) {
        if ((n = kp_log_level_parse(p + 9)) < 0)
            return kp_conf_error(cf, "unknown syslog severity \"%s\"", p + 9);
        s->severity = (unsigned)n;
        return 0;
    }
    if (strncmp(p, "tag=", 4) == 0)
        return set_tag(cf, s, p + 4);
    if (strcmp(p, "nohostname") == 0) {
        s->hostname[0] = '\0';
        return 0;
    }
    return kp_conf_error(cf, "unknown syslog parameter \"%s\"", p);
}

struct kp_syslog *kp_syslog_parse(struct kp_conf *cf, const char *target)
{
    struct kp_syslog *s = kp_arena_alloc(cf->arena, sizeof(*s));
    char *list = kp_conf_strdup(cf->arena, target + strlen(KP_SYSLOG_PREFIX));
    bool server = false;

    memset(s, 0, sizeof(*s));
    s->fd = -1;
    s->facility = KP_SYSLOG_FACILITY;
    s->severity = KP_SYSLOG_SEVERITY;
    strcpy(s->tag, "kelpie");
    if (gethostname(s->hostname, sizeof(s->hostname) - 1) != 0)
        strcpy(s->hostname, "localhost");
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p != NULL;
         p = strtok_r(NULL, ",", &save)) {
        if (set_param(cf, s, p, &server) != 0)
            return NULL;
    }
    if (!server) {
        kp_conf_error(cf, "no syslog server specified");
        return NULL;
    }
    s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        kp_conf_error(cf, "socket() for syslog failed (%d: %s)", errno, strerror(errno));
        return NULL;
    }
    kp_arena_cleanup_add(cf->arena, close_socket, s);
    return s;
}

size_t kp_syslog_header(const struct kp_syslog *s, unsigned severity, time_t now, char *out,
                        size_t n)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;

    localtime_r(&now, &tm);
    int w = snprintf(out, n, "<%u>%s %2d %02d:%02d:%02d %s%s%s: ", s->facility * 8 + severity,
                     months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, s->hostname,
                     s->hostname[0] != '\0' ? " " : "", s->tag);
    if (w < 0)
        return 0;
    return (size_t)w < n ? (size_t)w : n - 1;
}

void kp_syslog_send(struct kp_syslog *s, unsigned severity, const char *msg, size_t len)
{
    char buf[KP_SYSLOG_MSG_MAX];
    size_t h = kp_syslog_header(s, severity, time(NULL), buf, sizeof(buf));

    if (len > 0 && msg[len - 1] == '\n')
        len--;
    if (len > sizeof(buf) - h)
        len = sizeof(buf) - h;
    memcpy(buf + h, msg, len);
    int saved = errno;
    if (sendto(s->fd, buf, h + len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&s->addr,
               s->addrlen) < 0)
        __atomic_fetch_add(&s->dropped, 1, __ATOMIC_RELAXED); /* reactor threads share s */
    errno = saved;
}
