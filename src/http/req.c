/* The request object's own helpers (http/req.h): who its client is and
 * how a message about it reads in the error log. Every module that looks at
 * a request may call these; they call nothing above the request object. */
#include "kelpie/http/req.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kelpie/util/log.h"

void kp_http_req_client_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

    if ((ss->ss_family != AF_INET && ss->ss_family != AF_INET6) ||
        inet_ntop(ss->ss_family, a, buf, (socklen_t)size) == NULL)
        snprintf(buf, size, "unix:");
}

void kp_http_req_log(const struct kp_http_request *r, enum kp_log_level level, int err,
                     const char *fmt, ...)
{
    const struct kp_log *log = r->svc != NULL ? r->svc->log : NULL;
    const struct kp_log *dest = kp_http_req_error_log(r);
    const struct kp_http_head *h = &r->parser.head;
    char what[1024], errs[128] = "", addr[64], host[320] = "";
    va_list ap;

    if (log == NULL || !kp_log_enabled(dest != NULL ? dest : log, level))
        return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (err != 0) {
        char ebuf[96]; /* strerror_r: reactor threads may log at once */
        snprintf(errs, sizeof(errs), " (%d: %s)", err, strerror_r(err, ebuf, sizeof(ebuf)));
    }
    kp_http_req_client_text(kp_http_req_client(r), addr, sizeof(addr));
    if (h->host.len > 0)
        snprintf(host, sizeof(host), ", host: \"%.*s%s%.*s\"", (int)h->host.len, h->host.p,
                 h->port.len > 0 ? ":" : "", (int)h->port.len, h->port.p);
    const char *server = r->srv != NULL && r->srv->name != NULL ? r->srv->name : "";
    kp_log_error_via(dest, log, level, 0,
                     "*%" PRIu64 " %s%s, client: %s, server: %s, request: \"%.*s\"%s",
                     r->hc->c->number, what, errs, addr, server, (int)h->request_line.len,
                     h->request_line.p != NULL ? h->request_line.p : "", host);
}
