/* Configuration parsing machinery: the nginx-syntax lexer, the statement
 * dispatcher driven by directive tables, and the value parsers that directive
 * handlers share.
 *
 * Syntax: a statement is words ended by ';' or followed by a '{ ... }' block;
 * '#' starts a comment at the beginning of a word; words may be quoted with
 * '"' or '\'' and use the escapes \" \' \\ \n \t \r (a backslash before any
 * other character is kept as is).
 *
 * Modules declare directives in tables (arrays of struct kp_conf_cmd ended by
 * a row whose name is NULL). The dispatcher looks the name up, checks the
 * context, the block/';' form, the argument count and repetition, then calls
 * the row's handler with the configuration object of the row's slot. A block
 * directive's handler opens the block itself with kp_conf_parse_block().
 * Every error is one line in nginx's wording, ending " in FILE:LINE" (or
 * " in command line" for -g), where LINE is the line of the ';', '{' or '}'
 * that ended the statement, as nginx reports it.
 *
 * All memory comes from the target's arena (struct kp_conf_target) and lives
 * as long as the configuration built into it. */
#ifndef KP_CONF_H
#define KP_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kelpie/util/arena.h"
#include "kelpie/util/str.h"

/* Contexts, as a bitmask of where a directive may appear. */
/* Room for any address kp_conf_addr_text writes: "unix:" and a 107-byte path. */
#define KP_CONF_ADDR_TEXT 128

#define KP_CONF_MAIN   (1u << 0)
#define KP_CONF_EVENTS (1u << 1)
#define KP_CONF_HTTP   (1u << 2)
#define KP_CONF_SRV    (1u << 3)
#define KP_CONF_LOC    (1u << 4)
#define KP_CONF_TYPES  (1u << 5) /* statements are "TYPE EXT...;", see raw below */
#define KP_CONF_SIF    (1u << 6) /* if { } in a server (http/rewrite.h) */
#define KP_CONF_LIF    (1u << 7) /* if { } in a location */
#define KP_CONF_LMT    (1u << 8) /* limit_except { } in a location (http/auth.h) */
#define KP_CONF_ANY    (KP_CONF_MAIN | KP_CONF_EVENTS | KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC)

/* Bounds on what a configuration may contain. Block nesting is also bounded
 * by the contexts themselves (main > http > server > location > types). */
#define KP_CONF_MAX_ARGS       64    /* words after the directive name */
#define KP_CONF_MAX_TOKEN      4096  /* bytes in one word */
#define KP_CONF_MAX_STMT       16384 /* bytes in all words of one statement */
#define KP_CONF_MAX_DEPTH      8     /* nested blocks */
#define KP_CONF_MAX_INCLUDE    8     /* nested files (main file included) */
#define KP_CONF_MAX_FILES      1024  /* files read in total */
#define KP_CONF_MAX_FILE_SIZE  (4u << 20)
#define KP_CONF_MAX_TOTAL_SIZE (64u << 20)                  /* bytes of all files read */
#define KP_CONF_MAX_MSEC       (INT32_MAX * UINT64_C(1000)) /* longest time value */

/* Argument-count specs: each expands to the min_args, max_args members. */
#define KP_CONF_NOARGS        0, 0
#define KP_CONF_TAKE(n)       (n), (n)
#define KP_CONF_RANGE(lo, hi) (lo), (hi)
#define KP_CONF_1MORE         1, KP_CONF_MAX_ARGS
#define KP_CONF_2MORE         2, KP_CONF_MAX_ARGS

/* Row flags. A flag directive is KP_CONF_TAKE(1) with kp_conf_set_flag. */
#define KP_CONF_BLOCK (1u << 0) /* takes a { } block instead of ending with ';' */
#define KP_CONF_MULTI (1u << 1) /* may repeat in one block (else: "is duplicate") */

/* Slots: which configuration object of the current block a handler gets. The
 * module that opens a block decides what each slot points to (for http:
 * MAIN = module state, SRV = server settings, LOC = location settings). */
enum { KP_CONF_SLOT_MAIN = 0, KP_CONF_SLOT_SRV, KP_CONF_SLOT_LOC, KP_CONF_SLOTS };

/* The field a row's handler writes: offset and size inside the slot object.
 * Generic setters use it, and kp_conf_merge() copies it to inherit a value.
 * A SPAN covers several members written together (an array and its count). */
#define KP_CONF_FIELD(type, m) offsetof(type, m), sizeof(((type *)0)->m)
#define KP_CONF_SPAN(type, first, last)                                                            \
    offsetof(type, first), offsetof(type, last) + sizeof(((type *)0)->last) - offsetof(type, first)
#define KP_CONF_NOFIELD 0, 0

struct kp_conf;
struct kp_conf_cmd;

/* A directive handler. cf->args[0] is the directive name, cf->args[1 ..
 * cf->nargs - 1] its arguments (NUL-terminated, valid until the next
 * statement is read: copy what you keep). conf is the block's object for
 * cmd->slot. Returns 0, or the result of kp_conf_error(). */
typedef int (*kp_conf_handler_fn)(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);

struct kp_conf_cmd {
    const char *name; /* NULL ends a table */
    unsigned ctx;     /* KP_CONF_MAIN | ... */
    unsigned char min_args, max_args;
    unsigned flags; /* KP_CONF_BLOCK | KP_CONF_MULTI */
    kp_conf_handler_fn handler;
    unsigned slot;       /* KP_CONF_SLOT_* */
    size_t offset, size; /* KP_CONF_FIELD / KP_CONF_SPAN / KP_CONF_NOFIELD */
};

/* Directives seen in one block, in first-seen order, each once. */
struct kp_conf_seen {
    const struct kp_conf_cmd **v;
    size_t n;
};

/* One open block. */
struct kp_conf_frame {
    unsigned ctx; /* exactly one KP_CONF_* context bit */
    void *conf[KP_CONF_SLOTS];
    struct kp_conf_seen *seen; /* where dispatch records directives; NULL with raw */
    kp_conf_handler_fn raw;    /* non-NULL: every statement of the block goes here
                                * (cmd NULL, conf = conf[KP_CONF_SLOT_MAIN]), but
                                * "include FILE;", whose file's statements do, as
                                * nginx's types { } and map { } read them */
};

/* One file (or the -g text) being read. */
struct kp_conf_file {
    const char *name;    /* absolute path, or "command line" */
    const char *p, *end; /* read cursor */
    unsigned line;
    bool command_line;                /* errors say " in command line" */
    const struct kp_conf_file *outer; /* the file that included this one, or NULL */
};

/* The files a configuration was read from, in order (for -T). */
struct kp_conf_files {
    char **names;         /* absolute paths (or "command line"), NUL-terminated */
    struct kp_str *texts; /* their contents, same order */
    size_t n;
};

/* The modules whose main configuration any directive handler may reach
 * through cf->modules[], wherever in the file it stands (a server block
 * appends to http's list of servers, `events` fills the events settings). */
enum kp_conf_module {
    KP_CONF_MODULE_CORE = 0, /* the main context's own settings */
    KP_CONF_MODULE_EVENT,    /* struct kp_events_conf (event/conf.h) */
    KP_CONF_MODULE_HTTP,     /* struct kp_http_conf (http/conf.h) */
    KP_CONF_MODULES
};

/* What a parse builds into. */
struct kp_conf_target {
    struct kp_arena *arena;      /* owns all memory the parse allocates */
    const char *prefix;          /* ends with '/'; relative paths are resolved against it */
    const char *conf_path;       /* the main file, absolute */
    struct kp_conf_files *files; /* every file read is appended here */
    void *modules[KP_CONF_MODULES];
};

struct kp_conf {
    struct kp_arena *arena; /* the target's: owns all memory */
    const char *prefix;     /* the target's, with a trailing '/' */
    struct kp_conf_files *files;
    void *modules[KP_CONF_MODULES];
    const struct kp_conf_cmd *const *tables; /* NULL-terminated */
    const char *conf_dir;                    /* directory of the main file, with a trailing '/' */
    struct kp_conf_file *file;
    struct kp_conf_frame *frame;
    unsigned depth, include_depth;
    size_t total_size; /* bytes of all files read, at most KP_CONF_MAX_TOTAL_SIZE */
    size_t nargs;
    char *args[KP_CONF_MAX_ARGS + 1];
    size_t used; /* bytes of buf taken by the current statement */
    char buf[KP_CONF_MAX_STMT];
    char *err;
    size_t errlen;
};

/* Prepare cf (which may be large: allocate it) to parse into target (which
 * must outlive cf). Files read are appended to target->files. top is the
 * outermost block and must outlive the parse. err receives the one error
 * line. */
void kp_conf_init(struct kp_conf *cf, const struct kp_conf_target *target,
                  const struct kp_conf_cmd *const *tables, struct kp_conf_frame *top, char *err,
                  size_t errlen);
/* Read the file at the absolute path and run its statements in the current
 * block. Only regular files are read (never a device or FIFO that could
 * block); a file that is already being read (an include loop), nesting
 * beyond KP_CONF_MAX_INCLUDE, more than KP_CONF_MAX_FILES files or more than
 * KP_CONF_MAX_TOTAL_SIZE bytes in all is an error. Returns 0 or -EINVAL
 * (error written). */
int kp_conf_parse_file(struct kp_conf *cf, const char *path);
/* Run the statements of text (need not be NUL-terminated) in the current
 * block; name appears in errors ("command line" for -g). */
int kp_conf_parse_text(struct kp_conf *cf, const char *name, const char *text, size_t len,
                       bool command_line);
/* For block handlers: run the statements up to the matching '}' inside
 * frame, then restore the enclosing block. Returns 0 or -EINVAL. */
int kp_conf_parse_block(struct kp_conf *cf, struct kp_conf_frame *frame);

/* Write fmt plus " in FILE:LINE" into the error buffer as one line: control
 * bytes are shown as \xHH, and a message too long for the buffer loses its
 * middle ("..."), never the location. Returns -EINVAL so handlers can
 * `return kp_conf_error(...)`. */
int kp_conf_error(struct kp_conf *cf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* `invalid value "VALUE" in "NAME" directive`. Returns -EINVAL. */
int kp_conf_invalid(struct kp_conf *cf, const char *value);
/* Whether a directive writing the same field as cmd was already seen in the
 * current block: list directives use it to replace inherited defaults on
 * their first occurrence and append on later ones. */
bool kp_conf_field_seen(const struct kp_conf *cf, const struct kp_conf_cmd *cmd);
/* Inheritance: for every row of table with this slot and a field, copy the
 * field from parent to child unless a directive writing it is in seen. */
void kp_conf_merge(const struct kp_conf_cmd *table, unsigned slot, const struct kp_conf_seen *seen,
                   void *child, const void *parent);

/* Arena helpers. kp_conf_join returns name if absolute, else base + name
 * (base ends with '/'). kp_conf_grow returns arr, or a copy with room for one
 * more element at index n; new room is zeroed. */
char *kp_conf_strdup(struct kp_arena *a, const char *s);
char *kp_conf_join(struct kp_arena *a, const char *base, const char *name);
void *kp_conf_grow(struct kp_arena *a, void *arr, size_t n, size_t size);
/* Append a zeroed element to arr (n elements) and return a pointer to it. */
#define KP_CONF_PUSH(a, arr, n)                                                                    \
    ((arr) = kp_conf_grow((a), (arr), (n), sizeof(*(arr))), &(arr)[(n)++])

/* Generic handlers for one-argument directives writing cmd's field:
 * flag (bool, on|off), num (4- or 8-byte unsigned), size (size_t/uint64_t,
 * bytes), msec (uint64_t, milliseconds), str (char *), path (char *, relative
 * to the prefix). */
int kp_conf_set_flag(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
int kp_conf_set_num(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
int kp_conf_set_size(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
int kp_conf_set_msec(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
int kp_conf_set_str(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
int kp_conf_set_path(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
/* `include FILE|GLOB;`: relative to the main file's directory; a glob that
 * matches nothing is fine, a plain file that cannot be opened is an error. */
int kp_conf_include(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);

/* Value parsers; all return 0, -EINVAL (malformed) or -ERANGE (too large). */
/* "on" / "off", any case. */
int kp_conf_parse_flag(const char *s, bool *out);
/* Decimal digits only, at most max. */
int kp_conf_parse_num(const char *s, uint64_t max, uint64_t *out);
/* Bytes: digits with an optional k, m or g suffix (any case), at most max. */
int kp_conf_parse_size(const char *s, uint64_t max, uint64_t *out);
/* Time into milliseconds: one or more NUMBER UNIT parts with nginx's units
 * y (365 days), M (30 days), w, d, h, m, s, ms in decreasing order ("1m30s"); a bare number means
 * seconds, also as the last part ("1m30"). At most KP_CONF_MAX_MSEC. */
int kp_conf_parse_msec(const char *s, uint64_t *out);
/* Listen address: "ADDR:PORT", "PORT", "ADDR", "[IPV6]:PORT", "[IPV6]",
 * "*:PORT"; ADDR is numeric or "localhost" (no DNS). A missing port is
 * default_port. "unix:PATH" is a UNIX-domain socket (AF_UNIX, *len counting
 * the path's NUL as getsockname() does). Fills a zeroed *ss. Returns 0,
 * -ENOENT (host not found), -ERANGE (invalid port), -ENAMETOOLONG (a unix
 * path longer than sun_path holds) or -EINVAL (malformed; an empty unix path). */
int kp_conf_parse_addr(const char *s, int default_port, struct sockaddr_storage *ss,
                       socklen_t *len);
/* "ADDR" or "ADDR/BITS" (IPv4 or IPv6): address bytes (network order, host
 * bits cleared) and mask into 16-byte arrays. Returns 0 or -EINVAL. */
int kp_conf_parse_cidr(const char *s, int *family, uint8_t addr[16], uint8_t mask[16]);
/* "127.0.0.1:8080" / "[::1]:8080" / "unix:/run/k.sock" into out (at least
 * KP_CONF_ADDR_TEXT bytes for a unix path to fit). */
void kp_conf_addr_text(const struct sockaddr_storage *ss, char *out, size_t size);

#endif
