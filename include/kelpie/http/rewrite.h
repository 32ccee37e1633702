/* The rewrite module, nginx's: `rewrite`, `set`, `break`, `if (...) { }`,
 * `return` (inside if) and `rewrite_log`, run in the rewrite phase, in
 * config order, first the server level's (before a location is chosen),
 * then the chosen location's.
 *
 *   rewrite REGEX REPLACEMENT [last|break|redirect|permanent]
 *       REGEX (PCRE2) against the URI; on a match the URI becomes
 *       REPLACEMENT (with $1.. and other variables). A replacement that
 *       starts with http://, https:// or $scheme is a redirect (302, or 301
 *       with permanent). The request's arguments are kept: appended after
 *       the replacement's own ("?a=b" + "&" + args), unless the replacement
 *       ends with '?' (then there are none). Flags: last stops this block's
 *       directives and looks the location up again; break stops and stays
 *       in the location; redirect and permanent answer 302 and 301; none
 *       goes on with the next directive, and the location is looked up
 *       again at the end of the block.
 *   set $var VALUE    defines $var (http/var.h) for the request.
 *   break             stops this block's directives.
 *   if (COND) { }     runs the block's directives when COND holds; in a
 *                     location the block's own settings (root, add_header,
 *                     ...) then apply to the request. COND: $var (not empty
 *                     and not "0"); $var = STR, $var != STR; $var ~ RE,
 *                     ~* RE, !~ RE, !~* RE (captures kept on a match);
 *                     -f, -d, -e, -x PATH and their negations !-f ...
 *   return            inside if: answers at once (as `return` does).
 *   rewrite_log on    logs each rewrite match at notice level.
 * A URI that changes more than 10 times ends with 500 and "rewrite or
 * internal redirection cycle" in the error log, as in nginx. */
#ifndef KP_HTTP_REWRITE_H
#define KP_HTTP_REWRITE_H

#include "kelpie/util/conf.h"
#include "kelpie/http/conf.h"
#include "kelpie/http/regex.h"

struct kp_http_request;

enum kp_http_rw_kind {
    KP_RW_REWRITE,
    KP_RW_SET,
    KP_RW_BREAK,
    KP_RW_RETURN,
    KP_RW_IF,
};

enum kp_http_rw_flag {
    KP_RW_FLAG_NONE = 0,
    KP_RW_FLAG_LAST,
    KP_RW_FLAG_BREAK,
    KP_RW_FLAG_REDIRECT,
    KP_RW_FLAG_PERMANENT,
};

enum kp_http_rw_test {
    KP_RW_TEST_VAR,    /* ($var) */
    KP_RW_TEST_EQ,     /* = */
    KP_RW_TEST_REGEX,  /* ~, ~* */
    KP_RW_TEST_FILE,   /* -f */
    KP_RW_TEST_DIR,    /* -d */
    KP_RW_TEST_EXISTS, /* -e */
    KP_RW_TEST_EXEC,   /* -x */
};

struct kp_http_rw_cond {
    enum kp_http_rw_test test;
    bool negate;             /* !=, !~, !~*, !-f ... */
    struct kp_http_cv left;  /* the variable, or the path */
    struct kp_http_cv right; /* = and != */
    struct kp_http_regex *regex;
};

struct kp_http_rw_op {
    enum kp_http_rw_kind kind;
    struct kp_http_regex *regex;          /* rewrite */
    struct kp_http_cv value;              /* rewrite's replacement, set's value, return's text */
    enum kp_http_rw_flag flag;            /* rewrite */
    bool redirect;                        /* rewrite: the replacement is absolute */
    bool drop_args;                       /* rewrite: it ends with '?' (the request's go) */
    int code;                             /* return */
    bool has_text;                        /* return */
    const struct kp_http_var_def *var;    /* set */
    struct kp_http_rw_cond cond;          /* if */
    const struct kp_http_loc_conf *block; /* if */
};

/* Directive handlers (conf is the block's struct kp_http_loc_conf). */
int kp_http_rewrite_conf_rewrite(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
int kp_http_rewrite_conf_set(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
int kp_http_rewrite_conf_break(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
/* `return CODE [TEXT]` inside if: an op of block (text NULL or empty: none). */
int kp_http_rewrite_conf_return(struct kp_conf *cf, struct kp_http_loc_conf *block, int code,
                                const char *text);
/* `if (COND)`: parse the condition in cf->args and add an if op to loc
 * whose directives are block's. Returns 0 or kp_conf_error's -EINVAL. */
int kp_http_rewrite_conf_if(struct kp_conf *cf, struct kp_http_loc_conf *loc,
                            const struct kp_http_loc_conf *block);

/* The result of running a block's directives. */
#define KP_HTTP_REWRITE_NEXT  0    /* go on with the next phase */
#define KP_HTTP_REWRITE_AGAIN (-1) /* the URI changed: look the location up again */

/* Run script's directives for r (r->uri, r->args, r->loc may change; an
 * if block that holds makes its block r->loc when script is a location).
 * Returns KP_HTTP_REWRITE_NEXT, KP_HTTP_REWRITE_AGAIN, or a status to
 * answer with (a redirect's r->resp.location set, a return's text as the
 * body or Location). */
int kp_http_rewrite_run(struct kp_http_request *r, const struct kp_http_loc_conf *script,
                        bool location);

/* `return CODE [TEXT|URL]`: a redirect's URL becomes Location (empty
 * without one), other text the body (typed with r->loc's default_type); a
 * 1xx closes the connection after it. Returns code. */
int kp_http_rewrite_return(struct kp_http_request *r, int code, const struct kp_http_cv *text);

#endif
