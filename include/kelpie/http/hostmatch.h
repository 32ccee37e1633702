/* Host names with nginx's wildcards: one contract for server_name
 * (router.c), valid_referers (referer.c) and map's `hostnames` (map.c), as
 * nginx's combined wildcard hash serves all three. A pattern is one of
 *   "example.com"    exactly that name;
 *   ".example.com"   example.com itself and every name ending in
 *                    ".example.com";
 *   "*.example.com"  every name ending in ".example.com" (not example.com);
 *   "mail.*"         every name starting with "mail." ("mail." too).
 * "Ending in" and "starting with" are plain text: ".example.com" and
 * "a..example.com" end in ".example.com". Hosts are compared without
 * regard to case, as the caller hands them over (the router drops a port
 * and a trailing dot first, map a trailing dot; a Referer's host keeps
 * both).
 *
 * Among a list's patterns matching a host, the exact one wins, then the
 * leading wildcard with the longest suffix, then the trailing one with the
 * longest prefix. A list is built in order and, as in nginx's hash, a
 * pattern may not take what an earlier one took: "x" and ".x" take the name
 * x, ".x" and "*.x" the names under x, "x.*" the names it starts. A ".x"
 * that finds x taken is dropped whole; one that finds only the names under
 * x taken has still taken x itself (so x matches neither). map and
 * valid_referers refuse such a conflict (a server name that valid_referers
 * takes under `server_names` is dropped), server_name drops the later
 * pattern (nginx warns). */
#ifndef KP_HTTP_HOSTMATCH_H
#define KP_HTTP_HOSTMATCH_H

#include <stdbool.h>

#include "kelpie/util/str.h"

enum kp_http_hostmatch_form {
    KP_HTTP_HOSTMATCH_EXACT, /* "example.com" */
    KP_HTTP_HOSTMATCH_DOT,   /* ".example.com" */
    KP_HTTP_HOSTMATCH_STAR,  /* "*.example.com" */
    KP_HTTP_HOSTMATCH_TAIL,  /* "mail.*" */
};

struct kp_http_hostmatch {
    /* lowercase; the whole name (EXACT), ".example.com" (DOT, STAR) or
     * "mail." (TAIL): what a matching host equals, ends or starts with */
    struct kp_str key;
    enum kp_http_hostmatch_form form;
    const void *data; /* the caller's: what a match stands for */
};

/* name (lowercase, as the caller stores it) as a pattern, without copying
 * it: the form nginx takes it in (a leading '.' first, then "*.", then
 * ".*"; anything else is exact). data is NULL. */
struct kp_http_hostmatch kp_http_hostmatch_parse(struct kp_str name);

/* Whether nginx takes name as a hostname or wildcard: at most one '*', and
 * that one in a leading "*." or a trailing ".*" or after a leading '.'
 * (".a*" is taken as it is); no "..". */
bool kp_http_hostmatch_valid(struct kp_str name);

/* How well p matches host: 0 not at all; of two matching patterns the one
 * with the higher rank wins (exact, then leading wildcards by the length of
 * their key, then trailing ones by theirs). */
size_t kp_http_hostmatch_rank(const struct kp_http_hostmatch *p, struct kp_str host);

/* kp_http_hostmatch_rank() for the NUL-terminated name (as parsed into
 * *p), for names read per request (server_name): a name whose first
 * character already rules host out is neither measured nor parsed. *p is
 * set when the rank is not 0. */
size_t kp_http_hostmatch_rank_name(const char *name, struct kp_str host,
                                   struct kp_http_hostmatch *p);

/* What the patterns of a list before some pattern p have taken of p's name:
 * start with {0}, show it each earlier pattern in order. */
struct kp_http_hostmatch_taken {
    bool name, under, start; /* x; the names under x; the names x.* starts */
};
void kp_http_hostmatch_take(struct kp_http_hostmatch_taken *t, const struct kp_http_hostmatch *p,
                            const struct kp_http_hostmatch *earlier);
/* kp_http_hostmatch_take() for each of the n NUL-terminated names in
 * order; one whose first characters tell it is about another name than p's
 * is not parsed (names read per request: server_name). */
void kp_http_hostmatch_take_names(struct kp_http_hostmatch_taken *t,
                                  const struct kp_http_hostmatch *p, char *const *names, size_t n);
/* Whether p, after what t says was taken, is in the list (else: conflict). */
bool kp_http_hostmatch_free(const struct kp_http_hostmatch_taken *t,
                            const struct kp_http_hostmatch *p);

/* Whether p conflicts with the n patterns of list before it. */
bool kp_http_hostmatch_conflicts(const struct kp_http_hostmatch *list, size_t n,
                                 const struct kp_http_hostmatch *p);

/* The pattern of list (n of them, built without conflicts: every one is in)
 * that matches host best, or NULL. */
const struct kp_http_hostmatch *kp_http_hostmatch_find(const struct kp_http_hostmatch *list,
                                                       size_t n, struct kp_str host);

#endif
