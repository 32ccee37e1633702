/* The configuration parser: a lexer for nginx's syntax, statement dispatch
 * through the modules' directive tables, generic setters for simple values,
 * inheritance by table, and the value parsers (sizes, times, addresses). */
#include "kelpie/util/conf.h"
#include "kelpie/util/conf_unsupported.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kelpie/util/str.h"

#define END_OF_TEXT 0 /* read_statement(): no more statements */

/* --- errors ----------------------------------------------------------------- */

/* The shortest message part kept when a long location leaves little room. */
#define MIN_MESSAGE 64

/* printf into a fresh arena string; *len gets its length. */
__attribute__((format(printf, 3, 0))) static char *vformat(struct kp_arena *a, size_t *len,
                                                           const char *fmt, va_list ap)
{
    va_list aq;

    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    *len = n < 0 ? 0 : (size_t)n;
    char *s = kp_arena_alloc(a, *len + 1);
    vsnprintf(s, *len + 1, fmt, ap);
    return s;
}

/* Copy s[0..len) to out as one printable line: a word may hold a newline or
 * other control bytes (quoted or escaped), which would split the message. */
static size_t put_printable(char *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7f) {
            out[n++] = (char)c;
            continue;
        }
        memcpy(out + n, "\\x", 2);
        out[n + 2] = hex[c >> 4];
        out[n + 3] = hex[c & 15];
        n += 4;
    }
    return n;
}

/* Write s[0..len) into out (room bytes, no NUL), eliding its middle as
 * "..." if it is longer, keeping the head (tail_only false) or only the
 * tail. Returns the bytes written. */
static size_t put_elided(char *out, size_t room, const char *s, size_t len, bool tail_only)
{
    if (len <= room) {
        memcpy(out, s, len);
        return len;
    }
    if (room < 3) {
        memcpy(out, s + len - room, room);
        return room;
    }
    size_t head = tail_only ? 0 : (room - 3) / 2, tail = room - 3 - head;
    memcpy(out, s, head);
    memcpy(out + head, "...", 3);
    memcpy(out + head + 3, s + len - tail, tail);
    return room;
}

__attribute__((format(printf, 3, 4))) static char *format(struct kp_arena *a, size_t *len,
                                                          const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    char *s = vformat(a, len, fmt, ap);
    va_end(ap);
    return s;
}

/* The message and " in FILE:LINE" into cf->err. The location is what makes a
 * message useful, so it always fits whole (only an absurdly long file name
 * loses its start); a long message (a 4 KiB word quoted in it) loses its
 * middle instead, keeping the text around the word. */
__attribute__((format(printf, 2, 0))) static int verror(struct kp_conf *cf, const char *fmt,
                                                        va_list ap)
{
    const struct kp_conf_file *f = cf->file;
    size_t mlen, llen = 0, room = cf->errlen - 1;
    char *raw = vformat(cf->arena, &mlen, fmt, ap);
    char *msg = kp_arena_alloc(cf->arena, 4 * mlen + 1);
    const char *loc = NULL;

    mlen = put_printable(msg, raw, mlen);
    if (f != NULL)
        loc = f->command_line ? format(cf->arena, &llen, "command line")
                              : format(cf->arena, &llen, "%s:%u", f->name, f->line);
    /* " in " plus the location, bounded so that some message stays */
    size_t lroom = loc == NULL ? 0 : room > MIN_MESSAGE + 4 ? room - MIN_MESSAGE : room / 2;
    size_t lneed = loc == NULL ? 0 : 4 + llen;
    size_t n = put_elided(cf->err, room - (lneed < lroom ? lneed : lroom), msg, mlen, false);
    if (loc != NULL && room - n >= 4) {
        memcpy(cf->err + n, " in ", 4);
        n += 4;
        n += put_elided(cf->err + n, room - n, loc, llen, true);
    }
    cf->err[n] = '\0';
    return -EINVAL;
}

int kp_conf_error(struct kp_conf *cf, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int rc = verror(cf, fmt, ap);
    va_end(ap);
    return rc;
}

int kp_conf_invalid(struct kp_conf *cf, const char *value)
{
    return kp_conf_error(cf, "invalid value \"%s\" in \"%s\" directive", value, cf->args[0]);
}

/* --- arena helpers ------------------------------------------------------------ */

char *kp_conf_strdup(struct kp_arena *a, const char *s)
{
    return kp_arena_strndup(a, s, strlen(s));
}

char *kp_conf_join(struct kp_arena *a, const char *base, const char *name)
{
    if (name[0] == '/')
        return kp_conf_strdup(a, name);
    size_t blen = strlen(base), nlen = strlen(name);
    char *p = kp_arena_alloc(a, blen + nlen + 1);
    memcpy(p, base, blen);
    memcpy(p + blen, name, nlen + 1);
    return p;
}

void *kp_conf_grow(struct kp_arena *a, void *arr, size_t n, size_t size)
{
    /* The capacity is implied by n (4, then doubling), so lists need no
     * capacity field: grow exactly when n reaches a power of two >= 4. */
    if (arr != NULL && (n < 4 || (n & (n - 1)) != 0))
        return arr;
    size_t cap = n < 4 ? 4 : n * 2;
    void *p = kp_arena_calloc(a, cap * size);
    if (arr != NULL)
        memcpy(p, arr, n * size);
    return p;
}

/* --- lexer ---------------------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool ends_word(char c)
{
    return is_space(c) || c == ';' || c == '{' || c == '}';
}

/* Skip white space and comments, counting lines. */
static void skip_blank(struct kp_conf_file *f)
{
    while (f->p < f->end) {
        char c = *f->p;
        if (c == '#') {
            const char *nl = memchr(f->p, '\n', (size_t)(f->end - f->p));
            f->p = nl != NULL ? nl : f->end;
            continue;
        }
        if (!is_space(c))
            return;
        if (c == '\n')
            f->line++;
        f->p++;
    }
}

/* What "\c" stands for; 0 means the backslash is kept (nginx does the same,
 * so that regular expressions and the like pass through). */
static char unescape(char c)
{
    switch (c) {
    case '"':
    case '\'':
    case '\\':
        return c;
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    default:
        return 0;
    }
}

struct word {
    char *out;
    size_t len, room;
};

static bool emit(struct word *w, char c)
{
    if (w->len == w->room)
        return false;
    w->out[w->len++] = c;
    return true;
}

/* Consume one (possibly escaped) character of a word into w. */
static bool take_char(struct kp_conf_file *f, struct word *w)
{
    char c = *f->p++;

    if (c == '\n')
        f->line++;
    if (c != '\\' || f->p == f->end)
        return emit(w, c);
    char next = *f->p++, e = unescape(next);
    if (next == '\n')
        f->line++;
    if (e != 0)
        return emit(w, e);
    return emit(w, '\\') && emit(w, next);
}

static int too_long(struct kp_conf *cf, struct word *w)
{
    w->out[w->len] = '\0';
    return kp_conf_error(cf, "too long parameter \"%.32s...\" started", w->out);
}

/* Read one word (quoted or not) at the cursor into cf->args. */
static int read_word(struct kp_conf *cf)
{
    struct kp_conf_file *f = cf->file;
    char quote = (*f->p == '"' || *f->p == '\'') ? *f->p++ : 0;
    struct word w = {cf->buf + cf->used, 0, sizeof(cf->buf) - cf->used - 1};

    if (cf->nargs == KP_CONF_MAX_ARGS + 1)
        return kp_conf_error(cf, "invalid number of arguments in \"%s\" directive", cf->args[0]);
    if (w.room > KP_CONF_MAX_TOKEN)
        w.room = KP_CONF_MAX_TOKEN;
    /* In an unquoted word, "${name}" keeps its braces: nginx opens no
     * block at a '{' right after '$' (`index ${server_name}.html;`). */
    bool braced = false;
    for (;;) {
        if (f->p == f->end) {
            if (quote != 0)
                return kp_conf_error(cf, "unexpected end of file in quoted string");
            break;
        }
        if (quote != 0 ? *f->p == quote
                       : ends_word(*f->p) && !(braced && (*f->p == '{' || *f->p == '}')))
            break;
        if (quote == 0 && *f->p == '$' && f->p + 1 < f->end && f->p[1] == '{')
            braced = true;
        else if (*f->p == '}')
            braced = false;
        if (!take_char(f, &w))
            return too_long(cf, &w);
    }
    /* As in nginx, a ')' may follow a quoted word: it closes an if
     * condition, `if ($a = "b")`, and is read as a word of its own. */
    if (quote != 0 && ++f->p < f->end && !ends_word(*f->p) && *f->p != ')')
        return kp_conf_error(cf, "unexpected \"%c\"", *f->p);
    w.out[w.len] = '\0';
    cf->args[cf->nargs++] = w.out;
    cf->used += w.len + 1;
    return 0;
}

/* Read the words of one statement. Returns what ended it: ';', '{', '}',
 * END_OF_TEXT, or -EINVAL. */
static int read_statement(struct kp_conf *cf)
{
    struct kp_conf_file *f = cf->file;

    cf->nargs = 0;
    cf->used = 0;
    for (;;) {
        skip_blank(f);
        if (f->p == f->end)
            return END_OF_TEXT;
        char c = *f->p;
        if (c == ';' || c == '{' || c == '}') {
            f->p++;
            return c;
        }
        int rc = read_word(cf);
        if (rc != 0)
            return rc;
    }
}

/* --- dispatch ------------------------------------------------------------------- */

static bool seen_has(const struct kp_conf_seen *seen, const struct kp_conf_cmd *cmd)
{
    for (size_t i = 0; i < seen->n; i++) {
        if (seen->v[i] == cmd)
            return true;
    }
    return false;
}

/* Whether seen holds cmd or another row writing the same field. */
static bool field_in(const struct kp_conf_seen *seen, const struct kp_conf_cmd *cmd)
{
    for (size_t i = 0; i < seen->n; i++) {
        const struct kp_conf_cmd *s = seen->v[i];
        if (s == cmd ||
            (s->size > 0 && cmd->size > 0 && s->slot == cmd->slot && s->offset == cmd->offset))
            return true;
    }
    return false;
}

bool kp_conf_field_seen(const struct kp_conf *cf, const struct kp_conf_cmd *cmd)
{
    return field_in(cf->frame->seen, cmd);
}

void kp_conf_merge(const struct kp_conf_cmd *table, unsigned slot, const struct kp_conf_seen *seen,
                   void *child, const void *parent)
{
    for (const struct kp_conf_cmd *cmd = table; cmd->name != NULL; cmd++) {
        if (cmd->slot == slot && cmd->size > 0 && !field_in(seen, cmd))
            memcpy((char *)child + cmd->offset, (const char *)parent + cmd->offset, cmd->size);
    }
}

/* The row for name allowed in the current context; *known tells whether the
 * name exists at all (for "not allowed here" versus "unknown"). */
static const struct kp_conf_cmd *find_cmd(const struct kp_conf *cf, const char *name, bool *known)
{
    *known = false;
    for (const struct kp_conf_cmd *const *t = cf->tables; *t != NULL; t++) {
        for (const struct kp_conf_cmd *cmd = *t; cmd->name != NULL; cmd++) {
            if (strcmp(cmd->name, name) != 0)
                continue;
            if (cmd->ctx & cf->frame->ctx)
                return cmd;
            *known = true;
        }
    }
    return NULL;
}

static int check_form(struct kp_conf *cf, const struct kp_conf_cmd *cmd, int end)
{
    const char *name = cmd->name;
    size_t n = cf->nargs - 1;

    if ((cmd->flags & KP_CONF_BLOCK) && end != '{')
        return kp_conf_error(cf, "directive \"%s\" has no opening \"{\"", name);
    if (!(cmd->flags & KP_CONF_BLOCK) && end != ';')
        return kp_conf_error(cf, "directive \"%s\" is not terminated by \";\"", name);
    if (n < cmd->min_args || n > cmd->max_args)
        return kp_conf_error(cf, "invalid number of arguments in \"%s\" directive", name);
    if (!(cmd->flags & KP_CONF_MULTI) && seen_has(cf->frame->seen, cmd))
        return kp_conf_error(cf, "\"%s\" directive is duplicate", name);
    return 0;
}

static int dispatch(struct kp_conf *cf, int end)
{
    bool known;
    const struct kp_conf_cmd *cmd = find_cmd(cf, cf->args[0], &known);
    struct kp_conf_seen *seen = cf->frame->seen;

    if (cmd == NULL && !known && kp_conf_unsupported_is(cf->args[0]))
        return kp_conf_error(cf, "\"%s\" is an nginx directive that kelpie does not support",
                             cf->args[0]);
    if (cmd == NULL)
        return kp_conf_error(
            cf, known ? "\"%s\" directive is not allowed here" : "unknown directive \"%s\"",
            cf->args[0]);
    int rc = check_form(cf, cmd, end);
    if (rc == 0)
        rc = cmd->handler(cf, cmd, cf->frame->conf[cmd->slot]);
    if (rc == 0 && !seen_has(seen, cmd))
        *KP_CONF_PUSH(cf->arena, seen->v, seen->n) = cmd;
    return rc;
}

/* A statement of a raw block (types { }, map { }): "include FILE;" reads
 * more of them from the file, as nginx allows in both; everything else is
 * the block's own. */
static int raw_statement(struct kp_conf *cf, int end)
{
    if (end == '{')
        return kp_conf_error(cf, "unexpected \"{\"");
    if (cf->nargs == 2 && strcmp(cf->args[0], "include") == 0)
        return kp_conf_include(cf, NULL, NULL);
    return cf->frame->raw(cf, NULL, cf->frame->conf[KP_CONF_SLOT_MAIN]);
}

/* Run statements until the end of the text (in_block false) or the '}'
 * closing the current block (in_block true). */
static int parse(struct kp_conf *cf, bool in_block)
{
    for (;;) {
        int end = read_statement(cf);
        if (end < 0)
            return end;
        if (end == END_OF_TEXT && cf->nargs > 0 && cf->file->command_line)
            return kp_conf_error(cf, "unexpected end of parameter, expecting \";\"");
        if (end == END_OF_TEXT && cf->nargs > 0)
            return kp_conf_error(cf, "unexpected end of file, expecting \";\" or \"}\"");
        if (end == END_OF_TEXT)
            return in_block ? kp_conf_error(cf, "unexpected end of file, expecting \"}\"") : 0;
        if (end == '}')
            return cf->nargs > 0 || !in_block ? kp_conf_error(cf, "unexpected \"}\"") : 0;
        if (cf->nargs == 0)
            return kp_conf_error(cf, "unexpected \"%c\"", end);
        if (end == '{' && cf->file->command_line)
            return kp_conf_error(cf, "block directives are not supported in -g option");
        int rc = cf->frame->raw != NULL ? raw_statement(cf, end) : dispatch(cf, end);
        if (rc != 0)
            return rc;
    }
}

/* --- files and blocks ------------------------------------------------------------ */

void kp_conf_init(struct kp_conf *cf, const struct kp_conf_target *target,
                  const struct kp_conf_cmd *const *tables, struct kp_conf_frame *top, char *err,
                  size_t errlen)
{
    const char *slash = strrchr(target->conf_path, '/');

    cf->arena = target->arena;
    cf->prefix = target->prefix;
    cf->files = target->files;
    memcpy(cf->modules, target->modules, sizeof(cf->modules));
    cf->tables = tables;
    cf->conf_dir = kp_arena_strndup(cf->arena, target->conf_path,
                                    slash != NULL ? (size_t)(slash - target->conf_path) + 1 : 0);
    cf->file = NULL;
    cf->frame = top;
    cf->depth = cf->include_depth = 0;
    cf->total_size = 0;
    cf->nargs = cf->used = 0;
    cf->err = err;
    cf->errlen = errlen;
    err[0] = '\0';
}

int kp_conf_parse_text(struct kp_conf *cf, const char *name, const char *text, size_t len,
                       bool command_line)
{
    struct kp_conf_file file = {name, text, text + len, 1, command_line, cf->file};
    struct kp_conf_file *outer = cf->file;

    cf->file = &file;
    cf->include_depth++;
    int rc = parse(cf, false);
    cf->include_depth--;
    cf->file = outer;
    return rc;
}

static int sys_failed(struct kp_conf *cf, const char *call, const char *path, int err)
{
    return kp_conf_error(cf, "%s() \"%s\" failed (%d: %s)", call, path, err, strerror(err));
}

/* Read all of fd into buf (size bytes at most); returns bytes read or -errno. */
static ssize_t read_all(int fd, char *buf, size_t size)
{
    size_t got = 0;

    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Whether the opened file fits: a regular file (a FIFO or a device could
 * block or change state on reading), within the size limits. */
static int check_file(struct kp_conf *cf, const char *path, const struct stat *st)
{
    if (!S_ISREG(st->st_mode))
        return kp_conf_error(cf, "configuration file \"%s\" is not a regular file", path);
    if (st->st_size > (off_t)KP_CONF_MAX_FILE_SIZE)
        return kp_conf_error(cf, "configuration file \"%s\" is too large", path);
    if ((size_t)st->st_size > KP_CONF_MAX_TOTAL_SIZE - cf->total_size)
        return kp_conf_error(cf, "configuration is too large with \"%s\" (more than %u MiB in all)",
                             path, KP_CONF_MAX_TOTAL_SIZE >> 20);
    return 0;
}

/* Read a whole file (bounded) into the arena, NUL-terminated. */
static int read_file(struct kp_conf *cf, const char *path, struct kp_str *text)
{
    struct stat st;
    int fd;

    /* stat first so that a device is never opened; O_NONBLOCK so that a
     * FIFO swapped in meanwhile cannot block the open either */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return check_file(cf, path, &st);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return sys_failed(cf, "open", path, errno);
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return sys_failed(cf, "fstat", path, err);
    }
    int rc = check_file(cf, path, &st);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    char *buf = kp_arena_alloc(cf->arena, (size_t)st.st_size + 1);
    ssize_t n = read_all(fd, buf, (size_t)st.st_size);
    close(fd);
    if (n < 0)
        return sys_failed(cf, "read", path, (int)-n);
    buf[n] = '\0';
    cf->total_size += (size_t)n;
    *text = (struct kp_str){buf, (size_t)n};
    return 0;
}

/* Whether path is one of the files being read, from cf->file outwards. */
static bool being_read(const struct kp_conf *cf, const char *path)
{
    for (const struct kp_conf_file *f = cf->file; f != NULL; f = f->outer) {
        if (!f->command_line && strcmp(f->name, path) == 0)
            return true;
    }
    return false;
}

int kp_conf_parse_file(struct kp_conf *cf, const char *path)
{
    struct kp_conf_files *files = cf->files;
    struct kp_str text = KP_STR_NULL;

    if (being_read(cf, path))
        return kp_conf_error(cf, "include loop: \"%s\" is already being read", path);
    if (cf->include_depth >= KP_CONF_MAX_INCLUDE)
        return kp_conf_error(cf, "too deep include nesting for \"%s\"", path);
    if (files->n >= KP_CONF_MAX_FILES)
        return kp_conf_error(cf, "too many configuration files");
    int rc = read_file(cf, path, &text);
    if (rc != 0)
        return rc;
    char *name = kp_conf_strdup(cf->arena, path);
    files->texts = kp_conf_grow(cf->arena, files->texts, files->n, sizeof(text));
    files->texts[files->n] = text;
    *KP_CONF_PUSH(cf->arena, files->names, files->n) = name;
    return kp_conf_parse_text(cf, name, text.p, text.len, false);
}

int kp_conf_parse_block(struct kp_conf *cf, struct kp_conf_frame *frame)
{
    struct kp_conf_frame *outer = cf->frame;

    if (cf->depth >= KP_CONF_MAX_DEPTH)
        return kp_conf_error(cf, "too deep block nesting in \"%s\" directive", cf->args[0]);
    cf->frame = frame;
    cf->depth++;
    int rc = parse(cf, true);
    cf->depth--;
    cf->frame = outer;
    return rc;
}

static int include_glob(struct kp_conf *cf, const char *pattern)
{
    glob_t g;
    int rc = glob(pattern, GLOB_MARK, NULL, &g);

    if (rc == GLOB_NOMATCH) {
        globfree(&g);
        return 0;
    }
    if (rc != 0) {
        globfree(&g);
        return kp_conf_error(cf, "glob() \"%s\" failed", pattern);
    }
    /* glob() sorts; GLOB_MARK lets directories be skipped like nginx does. */
    for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) {
        const char *p = g.gl_pathv[i];
        if (p[strlen(p) - 1] != '/')
            rc = kp_conf_parse_file(cf, p);
    }
    globfree(&g);
    return rc;
}

int kp_conf_include(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cmd;
    (void)conf;
    /* Copy first: parsing the included file reuses cf->args. */
    char *path = kp_conf_join(cf->arena, cf->conf_dir, cf->args[1]);

    if (strpbrk(path, "*?[") == NULL)
        return kp_conf_parse_file(cf, path);
    return include_glob(cf, path);
}

/* --- generic setters ---------------------------------------------------------------- */

static void *field(void *conf, const struct kp_conf_cmd *cmd)
{
    return (char *)conf + cmd->offset;
}

/* Store into a 4- or 8-byte unsigned (or non-negative signed) field. */
static void store_uint(void *p, size_t size, uint64_t v)
{
    if (size == sizeof(uint32_t)) {
        uint32_t v32 = (uint32_t)v;
        memcpy(p, &v32, sizeof(v32));
    } else {
        memcpy(p, &v, sizeof(v));
    }
}

/* Largest value that fits both signed and unsigned fields of that size. */
static uint64_t field_max(size_t size)
{
    return size == sizeof(uint32_t) ? INT32_MAX : INT64_MAX;
}

int kp_conf_set_flag(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    bool v;

    if (kp_conf_parse_flag(cf->args[1], &v) != 0)
        return kp_conf_error(
            cf, "invalid value \"%s\" in \"%s\" directive, it must be \"on\" or \"off\"",
            cf->args[1], cf->args[0]);
    *(bool *)field(conf, cmd) = v;
    return 0;
}

int kp_conf_set_num(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t v;

    if (kp_conf_parse_num(cf->args[1], field_max(cmd->size), &v) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    store_uint(field(conf, cmd), cmd->size, v);
    return 0;
}

int kp_conf_set_size(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t v;

    if (kp_conf_parse_size(cf->args[1], field_max(cmd->size), &v) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    store_uint(field(conf, cmd), cmd->size, v);
    return 0;
}

int kp_conf_set_msec(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t v;

    if (kp_conf_parse_msec(cf->args[1], &v) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    store_uint(field(conf, cmd), cmd->size, v);
    return 0;
}

int kp_conf_set_str(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    *(char **)field(conf, cmd) = kp_conf_strdup(cf->arena, cf->args[1]);
    return 0;
}

int kp_conf_set_path(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    *(char **)field(conf, cmd) = kp_conf_join(cf->arena, cf->prefix, cf->args[1]);
    return 0;
}

/* --- value parsers ---------------------------------------------------------------------- */

int kp_conf_parse_flag(const char *s, bool *out)
{
    if (strcasecmp(s, "on") == 0)
        *out = true;
    else if (strcasecmp(s, "off") == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

int kp_conf_parse_num(const char *s, uint64_t max, uint64_t *out)
{
    return kp_str_to_u64(kp_str_from(s), max, out);
}

int kp_conf_parse_size(const char *s, uint64_t max, uint64_t *out)
{
    size_t len = strlen(s);
    uint64_t mult = 1, v;

    if (len > 0) {
        switch (kp_str_lower(s[len - 1])) {
        case 'k':
            mult = UINT64_C(1) << 10;
            break;
        case 'm':
            mult = UINT64_C(1) << 20;
            break;
        case 'g':
            mult = UINT64_C(1) << 30;
            break;
        default:
            break;
        }
    }
    len -= mult > 1;
    int rc = kp_str_to_u64((struct kp_str){s, len}, max / mult, &v);
    if (rc == 0)
        *out = v * mult;
    return rc;
}

/* Unit at *p, most significant first, nginx's set: 0 y (365 days), 1 M (30
 * days), 2 w, 3 d, 4 h, 5 m, 6 s, 7 ms; a number at the end of the string is
 * seconds. Returns -1 for anything else. */
static int time_unit(const char **p)
{
    const char *q = *p;

    if (q[0] == 'm' && q[1] == 's') {
        *p += 2;
        return 7;
    }
    static const char units[] = "yMwdhms";
    const char *u = q[0] != '\0' ? strchr(units, q[0]) : NULL;
    if (u != NULL)
        (*p)++;
    return u != NULL ? (int)(u - units) : q[0] == '\0' ? 6 : -1;
}

int kp_conf_parse_msec(const char *s, uint64_t *out)
{
    static const uint64_t unit_ms[] = {
        UINT64_C(31536000000), UINT64_C(2592000000), 604800000, 86400000, 3600000, 60000, 1000, 1};
    uint64_t total = 0;
    int last = -1;

    if (*s == '\0')
        return -EINVAL;
    while (*s != '\0') {
        uint64_t v = 0;
        const char *start = s;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (v > KP_CONF_MAX_MSEC)
                return -ERANGE;
            v = v * 10 + (uint64_t)(*s - '0');
        }
        int unit = s == start ? -1 : time_unit(&s);
        if (unit <= last) /* also rejects -1: no digits, unknown unit, wrong order */
            return -EINVAL;
        last = unit;
        if (v > KP_CONF_MAX_MSEC / unit_ms[unit] || (total += v * unit_ms[unit]) > KP_CONF_MAX_MSEC)
            return -ERANGE;
    }
    *out = total;
    return 0;
}

/* Split "[v6]:port", "host:port", "port" or "host" into host and port text. */
static int split_addr(const char *s, char *host, size_t hostsize, const char **port)
{
    const char *colon = strrchr(s, ':'), *hend = s + strlen(s);

    *port = NULL;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || (rb[1] != '\0' && rb[1] != ':'))
            return -EINVAL;
        s++;
        hend = rb;
        *port = rb[1] == ':' ? rb + 2 : NULL;
    } else if (colon != NULL) {
        if (strchr(s, ':') != colon) /* IPv6 needs brackets, as in nginx */
            return -EINVAL;
        hend = colon;
        *port = colon + 1;
    } else if (strspn(s, "0123456789") == strlen(s)) {
        *port = s; /* a bare number is a port on the wildcard address */
        s = "*";
        hend = s + 1;
    }
    if ((size_t)(hend - s) >= hostsize)
        return -ENOENT;
    memcpy(host, s, (size_t)(hend - s));
    host[hend - s] = '\0';
    return 0;
}

/* "unix:PATH": the path as given (relative to the working directory, as in
 * nginx); the length counts the terminating NUL, as getsockname() does. */
static int parse_unix(const char *path, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;
    size_t n = strlen(path);

    if (n == 0)
        return -EINVAL;
    if (n >= sizeof(sun->sun_path))
        return -ENAMETOOLONG;
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int kp_conf_parse_addr(const char *s, int default_port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    char host[INET6_ADDRSTRLEN];
    const char *port;
    uint64_t pn = (uint64_t)default_port;

    memset(ss, 0, sizeof(*ss));
    if (strncmp(s, "unix:", 5) == 0)
        return parse_unix(s + 5, ss, len);
    int rc = split_addr(s, host, sizeof(host), &port);
    if (rc != 0)
        return rc;
    if (port != NULL && (kp_conf_parse_num(port, 65535, &pn) != 0 || pn == 0))
        return -ERANGE;
    if (s[0] == '[') {
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return -ENOENT;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)pn);
        *len = sizeof(*sin6);
        return 0;
    }
    if (strcasecmp(host, "localhost") == 0)
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (strcmp(host, "*") != 0 && inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -ENOENT;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)pn);
    *len = sizeof(*sin);
    return 0;
}

void kp_conf_addr_text(const struct sockaddr_storage *ss, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
        snprintf(out, size, "unix:%.*s", (int)sizeof(sun->sun_path), sun->sun_path);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        snprintf(out, size, "[%s]:%u", ip, ntohs(sin6->sin6_port));
    } else {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        snprintf(out, size, "%s:%u", ip, ntohs(sin->sin_port));
    }
}

int kp_conf_parse_cidr(const char *s, int *family, uint8_t addr[16], uint8_t mask[16])
{
    char ip[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    unsigned bytes;
    uint64_t bits;

    if (alen >= sizeof(ip))
        return -EINVAL;
    memcpy(ip, s, alen);
    ip[alen] = '\0';
    memset(addr, 0, 16);
    memset(mask, 0, 16);
    if (inet_pton(AF_INET, ip, addr) == 1) {
        *family = AF_INET;
        bytes = 4;
    } else if (inet_pton(AF_INET6, ip, addr) == 1) {
        *family = AF_INET6;
        bytes = 16;
    } else {
        return -EINVAL;
    }
    bits = bytes * 8;
    if (slash != NULL && kp_conf_parse_num(slash + 1, bits, &bits) != 0)
        return -EINVAL;
    for (unsigned i = 0; i < bytes; i++) {
        unsigned b = bits >= 8 ? 8 : (unsigned)bits;
        mask[i] = (uint8_t)(0xff00u >> b);
        addr[i] &= mask[i];
        bits -= b;
    }
    return 0;
}
