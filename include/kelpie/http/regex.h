/* Regular expressions: PCRE2 (the library nginx uses), compiled once with
 * the configuration and matched per request against a match block that
 * belongs to the worker, so a match allocates nothing.
 *
 * Syntax is PCRE's: (?:...), (?i), lookarounds, lazy quantifiers, \d, \w,
 * ... Captures become $1 ... $9 ($0 is the whole match); named captures
 * (?<name>...) also become variables $name (http/var.h). With `pcre_jit on`
 * (main context, off by default as in nginx) every regex is JIT-compiled
 * where the library supports it. */
#ifndef KP_HTTP_REGEX_H
#define KP_HTTP_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#include "kelpie/util/conf.h"
#include "kelpie/util/str.h"

struct kp_http_request;
struct kp_http_var_def;

/* One named capture: its group number and its variable. */
struct kp_http_regex_name {
    unsigned group;
    const struct kp_http_var_def *var;
};

struct kp_http_regex {
    void *code;         /* pcre2_code *, freed with the cycle's arena */
    const char *source; /* the pattern as written */
    unsigned groups;    /* capturing groups */
    struct kp_http_regex_name *names;
    size_t n_names;
};

/* Compile pattern (icase: caseless, as for ~*) for the statement being
 * parsed; named groups are defined as variables. JIT-compiled now if
 * pcre_jit was already seen (else when it is). Returns 0 with *out (cycle
 * arena), or -EINVAL after kp_conf_error naming the pattern, PCRE2's message
 * and the offset. */
int kp_http_regex_compile(struct kp_conf *cf, const char *pattern, bool icase,
                          struct kp_http_regex **out);

/* The `pcre_jit on|off` directive (main context). */
int kp_http_regex_conf_jit(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);

/* Whether this PCRE2 has a JIT, and its version ("10.42 2022-12-11"), for
 * kelpie -V. version needs 64 bytes. */
bool kp_http_regex_jit_available(void);
void kp_http_regex_version(char *version, size_t size);

/* A worker's match block (a pcre2_match_data * with room for every
 * capture); NULL never (aborts on OOM like kp_alloc). */
void *kp_http_regex_match_data(void);
void kp_http_regex_match_data_free(void *md);

/* Match re against subject. r may be NULL (then only the answer); else the
 * worker's match block is used and, on a match of a regex with groups, the
 * captures are kept in r ($0..$9 and the named ones; subject must live as
 * long as r's arena); a regex without groups leaves them alone, as in
 * nginx.
 * Returns 1 (match), 0 (no match) or -1 (a matching error, e.g. the match
 * limit: treated as no match by callers, logged by them). */
int kp_http_regex_exec(struct kp_http_request *r, const struct kp_http_regex *re,
                       struct kp_str subject);

#endif
