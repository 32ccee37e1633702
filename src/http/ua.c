/* Browsers told from User-Agent (see ua.h). */
#include "kelpie/http/ua.h"

#include <string.h>

static bool has(struct kp_str s, const char *tok)
{
    return memmem(s.p, s.len, tok, strlen(tok)) != NULL;
}

bool kp_http_ua_msie6(struct kp_str ua)
{
    const char *m = memmem(ua.p, ua.len, "MSIE ", 5);

    if (m == NULL || (size_t)(ua.p + ua.len - m) < 7 || m[6] != '.')
        return false;
    if (m[5] == '4' || m[5] == '5')
        return true;
    return m[5] == '6' && !has(ua, "SV1");
}

bool kp_http_ua_msie(struct kp_str ua)
{
    const char *m = memmem(ua.p, ua.len, "MSIE ", 5);

    return m != NULL && (size_t)(ua.p + ua.len - m) >= 8 && !has(ua, "Opera");
}

bool kp_http_ua_chrome(struct kp_str ua)
{
    return has(ua, "Chrome/") && !has(ua, "Gecko/") && !has(ua, "Opera") && !kp_http_ua_msie(ua);
}

bool kp_http_ua_safari(struct kp_str ua)
{
    return has(ua, "Safari/") && has(ua, "Mac OS X") && !has(ua, "Chrome/");
}
