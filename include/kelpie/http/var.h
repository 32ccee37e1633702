/* Variables: the one registry and evaluator behind every directive that
 * takes "$name" or "${name}" (log_format, return, try_files, rewrite, if,
 * set, map, add_header values, ...), as in nginx.
 *
 * Three kinds of variable:
 *   built-in   a row of a module's table (struct kp_http_var_def): the core
 *              table here ($uri, $host, $status, $http_NAME, ...) and the
 *              tables of other modules, listed in TABLES in var.c;
 *   captures   $1 ... $9 of the last regex that matched (location, rewrite,
 *              if, server_name), and named captures (?<name>...);
 *   defined    by the configuration: `set`, `map` and named captures. Each
 *              has a slot in the request's value table.
 *
 * Registering a module's variables: declare a table in the module's header,
 *     extern const struct kp_http_var_def kp_http_tls_vars[];
 * ended by a row whose name is NULL, and add it to TABLES in var.c. Tables
 * listed before the core one win for a name both define (so a module may
 * replace, say, $https). A getter computes its value from the request; it
 * may write it into buf (KP_HTTP_VAR_BUF bytes) or r->arena.
 *
 * Cost: nothing is computed until a value is asked for, and a request that
 * asks for no defined variable allocates nothing for them (the value table
 * is taken from r->arena on first use). A value is computed again each time
 * it is asked for, except defined ones (cached per request, unless the map
 * is `volatile`) and $request_id (fixed per request).
 *
 * A name that is neither built in nor defined anywhere in the http block is
 * a configuration error, reported with the file and line that used it
 * (`unknown "foo" variable in FILE:LINE`). */
#ifndef KP_HTTP_VAR_H
#define KP_HTTP_VAR_H

#include <stdbool.h>
#include <stddef.h>

#include "kelpie/util/conf.h"
#include "kelpie/http/conf.h"
#include "kelpie/util/str.h"

/* Room a getter may use in buf: numbers, addresses, a host name. */
#define KP_HTTP_VAR_BUF 256
/* Regex captures a request keeps: $0 .. $9 (and named ones among them). */
#define KP_HTTP_MAX_CAPTURES 32

struct kp_http_request;

/* Computes the value of ref for r: a slice that stays valid until r's arena
 * is reset (buf's contents count as valid until the next call with buf). */
typedef struct kp_str (*kp_http_var_get_fn)(struct kp_http_request *r,
                                            const struct kp_http_var_ref *ref, char *buf);

/* kp_http_var_def.flags */
#define KP_HTTP_VAR_PREFIX   (1u << 0) /* name is a prefix ("http_"): the rest is ref->arg */
#define KP_HTTP_VAR_DEFINED  (1u << 1) /* set/map/named capture: has a value slot */
#define KP_HTTP_VAR_PENDING  (1u << 2) /* used before its set/map was seen (config time) */
#define KP_HTTP_VAR_VOLATILE (1u << 3) /* map ... volatile: never cached */
#define KP_HTTP_VAR_SETTABLE (1u << 4) /* built in, yet `set` may give it a value ($limit_rate) */
#define KP_HTTP_VAR_EMPTY    (1u << 5) /* empty is a value: logged as nothing, not "-" */
#define KP_HTTP_VAR_BY_SET   (1u << 6) /* `set` gives it its values: read unset, it is warned of */

struct kp_http_var_def {
    const char *name; /* without '$'; NULL ends a table */
    kp_http_var_get_fn get;
    unsigned flags;
    /* Defined variables only (built in the cycle's arena): */
    unsigned index;    /* slot in the request's value table */
    const void *data;  /* the map, for map variables */
    const char *where; /* "FILE:LINE" of the first use, while pending */
};

/* --- configuration time --------------------------------------------------- */

/* The variable named name, for a reference in the statement being parsed:
 * a built-in one (ref->arg set for a prefix family such as $http_NAME:
 * lowercase, '_' as '-' for headers), a capture $0..$9 (ref->arg is the
 * digit), or a defined one; a name not known yet becomes a pending defined
 * variable that `set` or `map` may still define. Returns 0, or -EINVAL after
 * kp_conf_error for an empty or overlong name. */
int kp_http_var_ref(struct kp_conf *cf, struct kp_str name, struct kp_http_var_ref *ref);

/* Define (or find) the variable name for `set`, `map` or a named capture:
 * returns its def, with KP_HTTP_VAR_DEFINED and a value slot; get is
 * replaced when not NULL (map). A settable built-in (KP_HTTP_VAR_SETTABLE)
 * gets a value slot read by its own getter. Returns NULL after
 * kp_conf_error when name is another built-in variable's. */
struct kp_http_var_def *kp_http_var_define(struct kp_conf *cf, const char *name,
                                           kp_http_var_get_fn get);

/* For a block that defines $name from a source text (map, split_clients):
 * name must be "$NAME", source is compiled into *source_cv, and NAME is
 * defined with getter get and data (the block's state). Returns the def, or
 * NULL after kp_conf_error ("invalid variable name", "the duplicate ...
 * variable", or a compile error). */
struct kp_http_var_def *kp_http_var_define_from(struct kp_conf *cf, const char *source,
                                                const char *name, struct kp_http_cv *source_cv,
                                                kp_http_var_get_fn get, const void *data);

/* The defined variable named name (set/map/capture, or a settable built-in
 * that `set` gave a slot), or NULL. */
const struct kp_http_var_def *kp_http_var_find_defined(const struct kp_conf *cf, const char *name);

/* After the http block: 0, or -EINVAL with `unknown "NAME" variable in
 * FILE:LINE` in cf's error buffer for a name used but never defined. */
int kp_http_var_check(struct kp_conf *cf);

/* Compile text (a directive argument) into cv: literals and variable
 * references. Returns 0, or -EINVAL after kp_conf_error (a '$' without a
 * name, "${" without '}'). cv->text keeps a copy of text. */
int kp_http_cv_compile(struct kp_conf *cf, const char *text, struct kp_http_cv *cv);

/* Whether cv has no variables (its value is cv->text). */
static inline bool kp_http_cv_is_static(const struct kp_http_cv *cv)
{
    return cv->n_vars == 0;
}

/* --- request time ---------------------------------------------------------- */

/* The value of one variable for r (see kp_http_var_get_fn). */
struct kp_str kp_http_var_get(struct kp_http_request *r, const struct kp_http_var_ref *ref,
                              char *buf);

/* How variable values are put into a compiled value's text. */
enum kp_http_cv_escape {
    KP_HTTP_CV_RAW = 0, /* as they are */
    KP_HTTP_CV_URL,     /* a Location: controls, space and 8-bit bytes percent-encoded */
    KP_HTTP_CV_FIELD,   /* a field value: control bytes (but tab) become spaces */
};

/* cv's value for r, NUL-terminated, in r->arena (or cv->text itself when
 * static), with values escaped as esc says, so that no value can break a
 * header. */
struct kp_str kp_http_cv_eval(struct kp_http_request *r, const struct kp_http_cv *cv,
                              enum kp_http_cv_escape esc);

/* Store value as the value of the defined variable def for r (`set`, a
 * named capture, a map's result). value must live as long as r's arena. */
void kp_http_var_set(struct kp_http_request *r, const struct kp_http_var_def *def,
                     struct kp_str value);

/* The value `set` (or map, a capture) stored for def in r: true and *out
 * set, or false when none was stored. */
bool kp_http_var_stored(struct kp_http_request *r, const struct kp_http_var_def *def,
                        struct kp_str *out);

/* Remember the captures of a regex match on subject (ovec: n pairs of
 * offsets, as PCRE2 gives them) as $0..$9; they are copied into r->arena. */
void kp_http_var_captures(struct kp_http_request *r, const char *subject, const size_t *ovec,
                          unsigned n);

#endif
