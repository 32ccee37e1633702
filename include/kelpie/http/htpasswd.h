/* Password files as auth_basic_user_file reads them, and the password
 * check (http/auth.h uses both). Pure: no I/O, no logging.
 *
 * The file: one "user:password[:comment]" per line ("\n" or "\r\n"); empty
 * lines and lines starting with '#' are skipped. A line without ':' or
 * with an empty user, or longer than KP_HTPASSWD_MAX_LINE, is reported to
 * the caller and skipped: one bad line never makes the file unusable.
 *
 * The password field, by its prefix (the set nginx reads):
 *   {PLAIN}text        the password itself
 *   {SHA}base64        SHA-1 of the password
 *   {SSHA}base64       SHA-1 of password + salt, then the salt
 *   $apr1$salt$hash    Apache's MD5 variant of md5crypt
 *   anything else      crypt(3) of the C library (libxcrypt: $1$ $5$ $6$
 *                      $y$ $2b$, DES); a setting it refuses never matches.
 * Comparisons of secrets take the same time wherever the first difference
 * is. A password is used up to its first NUL byte, as crypt(3) reads it. */
#ifndef KP_HTPASSWD_H
#define KP_HTPASSWD_H

#include <stdbool.h>
#include <stddef.h>

#include "kelpie/util/str.h"

/* Longest line read, in bytes (without the line end). */
#define KP_HTPASSWD_MAX_LINE 4096

/* One user of a file: slices into the text given to kp_htpasswd_parse. */
struct kp_htpasswd_entry {
    struct kp_str user;
    struct kp_str hash; /* the password field, without the comment */
};

/* Why a line was skipped. */
enum kp_htpasswd_bad {
    KP_HTPASSWD_TOO_LONG,  /* longer than KP_HTPASSWD_MAX_LINE */
    KP_HTPASSWD_MALFORMED, /* no ':' or an empty user name */
};

/* Told about each skipped line (1-based number) while parsing. */
typedef void (*kp_htpasswd_bad_fn)(void *arg, unsigned line, enum kp_htpasswd_bad why);

/* How many entries text (len bytes) can hold at most: the size of the
 * array kp_htpasswd_parse needs. */
size_t kp_htpasswd_max_entries(const char *text, size_t len);

/* Parse text into out (room for kp_htpasswd_max_entries) in file order;
 * bad may be NULL. Returns the number of entries. */
size_t kp_htpasswd_parse(const char *text, size_t len, struct kp_htpasswd_entry *out,
                         kp_htpasswd_bad_fn bad, void *arg);

/* The first entry for user among n, or NULL. */
const struct kp_htpasswd_entry *kp_htpasswd_find(const struct kp_htpasswd_entry *v, size_t n,
                                                 struct kp_str user);

/* Whether password (NUL-terminated) matches the password field hash (see
 * above). May take long for costly crypt(3) settings (bcrypt): it runs on
 * the caller's thread. */
bool kp_htpasswd_verify(const char *password, struct kp_str hash);

#endif
