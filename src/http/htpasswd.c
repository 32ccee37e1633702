/* Password file lines and password checks (see htpasswd.h). */
#include "kelpie/http/htpasswd.h"

#include <crypt.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/digest.h"

size_t kp_htpasswd_max_entries(const char *text, size_t len)
{
    size_t n = 1;

    for (const char *p = text, *end = text + len; (p = memchr(p, '\n', (size_t)(end - p))) != NULL;
         p++)
        n++;
    return n;
}

/* One line without its end: an entry (true), or nothing. */
static bool parse_line(struct kp_str line, unsigned no, struct kp_htpasswd_entry *e,
                       kp_htpasswd_bad_fn bad, void *arg)
{
    if (line.len > 0 && line.p[line.len - 1] == '\r')
        line.len--;
    if (line.len == 0 || line.p[0] == '#')
        return false;
    if (line.len > KP_HTPASSWD_MAX_LINE) {
        if (bad != NULL)
            bad(arg, no, KP_HTPASSWD_TOO_LONG);
        return false;
    }
    const char *colon = memchr(line.p, ':', line.len);
    if (colon == NULL || colon == line.p) {
        if (bad != NULL)
            bad(arg, no, KP_HTPASSWD_MALFORMED);
        return false;
    }
    const char *hash = colon + 1, *end = line.p + line.len;
    const char *comment = memchr(hash, ':', (size_t)(end - hash));
    e->user = (struct kp_str){line.p, (size_t)(colon - line.p)};
    e->hash = (struct kp_str){hash, (size_t)((comment != NULL ? comment : end) - hash)};
    return true;
}

size_t kp_htpasswd_parse(const char *text, size_t len, struct kp_htpasswd_entry *out,
                         kp_htpasswd_bad_fn bad, void *arg)
{
    const char *p = text, *end = text + len;
    size_t n = 0;
    unsigned no = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        if (parse_line((struct kp_str){p, (size_t)(stop - p)}, ++no, &out[n], bad, arg))
            n++;
        p = stop + 1;
    }
    return n;
}

const struct kp_htpasswd_entry *kp_htpasswd_find(const struct kp_htpasswd_entry *v, size_t n,
                                                 struct kp_str user)
{
    for (size_t i = 0; i < n; i++) {
        if (kp_str_eq(v[i].user, user))
            return &v[i];
    }
    return NULL;
}

/* Equal lengths, then every byte compared: the time leaks the length of
 * the stored field only, which its format makes public anyway. */
static bool same(struct kp_str a, const void *b, size_t blen)
{
    return a.len == blen && kp_mem_equal_ct(a.p, b, blen);
}

static void sha1_of(const char *pw, const void *salt, size_t salt_len, unsigned char *out)
{
    struct kp_digest d;

    kp_sha1_init(&d);
    kp_digest_update(&d, pw, strlen(pw));
    kp_digest_update(&d, salt, salt_len);
    kp_digest_final(&d, out);
}

/* {SHA}base64(SHA-1(password)) */
static bool check_sha(const char *pw, struct kp_str b64)
{
    unsigned char md[KP_SHA1_LEN];
    char text[32];

    sha1_of(pw, "", 0, md);
    return same(b64, text, kp_base64_encode(md, sizeof(md), text));
}

/* {SSHA}base64(SHA-1(password salt) salt) */
static bool check_ssha(const char *pw, struct kp_str b64)
{
    unsigned char *raw = kp_alloc(b64.len * 3 / 4 + 1), md[KP_SHA1_LEN];
    ssize_t n = kp_base64_decode(b64.p, b64.len, raw);
    bool ok = false;

    if (n >= KP_SHA1_LEN) {
        sha1_of(pw, raw + KP_SHA1_LEN, (size_t)n - KP_SHA1_LEN, md);
        ok = kp_mem_equal_ct(md, raw, KP_SHA1_LEN);
    }
    kp_free(raw);
    return ok;
}

/* md5crypt's alphabet, least significant 6 bits first. */
static char *to64(char *o, unsigned long v, int n)
{
    static const char a[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    while (n-- > 0) {
        *o++ = a[v & 63];
        v >>= 6;
    }
    return o;
}

/* The digest of the initial round of md5crypt with magic "$apr1$". */
static void apr1_initial(const char *pw, size_t pwlen, struct kp_str salt, unsigned char *fin)
{
    struct kp_digest d, alt;
    unsigned char alt_md[KP_MD5_LEN];

    kp_md5_init(&alt);
    kp_digest_update(&alt, pw, pwlen);
    kp_digest_update(&alt, salt.p, salt.len);
    kp_digest_update(&alt, pw, pwlen);
    kp_digest_final(&alt, alt_md);
    kp_md5_init(&d);
    kp_digest_update(&d, pw, pwlen);
    kp_digest_update(&d, "$apr1$", 6);
    kp_digest_update(&d, salt.p, salt.len);
    for (size_t left = pwlen; left > 0; left -= left > 16 ? 16 : left)
        kp_digest_update(&d, alt_md, left > 16 ? 16 : left);
    /* Per bit of the length: a zero byte for a 1, the first character for a 0. */
    for (size_t bits = pwlen; bits > 0; bits >>= 1)
        kp_digest_update(&d, (bits & 1) ? "" : pw, 1);
    kp_digest_final(&d, fin);
}

/* "$apr1$SALT$HASH" for pw into out (at least 38 bytes); returns its length. */
static size_t apr1(const char *pw, struct kp_str salt, char *out)
{
    static const unsigned char order[5][3] = {
        {0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}};
    size_t pwlen = strlen(pw);
    unsigned char fin[KP_MD5_LEN];

    apr1_initial(pw, pwlen, salt, fin);
    /* 1000 rounds, each mixing password, salt and the last digest. */
    for (int i = 0; i < 1000; i++) {
        struct kp_digest d;
        kp_md5_init(&d);
        if (i & 1)
            kp_digest_update(&d, pw, pwlen);
        else
            kp_digest_update(&d, fin, sizeof(fin));
        if (i % 3 != 0)
            kp_digest_update(&d, salt.p, salt.len);
        if (i % 7 != 0)
            kp_digest_update(&d, pw, pwlen);
        if (i & 1)
            kp_digest_update(&d, fin, sizeof(fin));
        else
            kp_digest_update(&d, pw, pwlen);
        kp_digest_final(&d, fin);
    }
    char *o = out;
    memcpy(o, "$apr1$", 6);
    memcpy(o + 6, salt.p, salt.len);
    o += 6 + salt.len;
    *o++ = '$';
    for (int i = 0; i < 5; i++)
        o = to64(o,
                 (unsigned long)fin[order[i][0]] << 16 | (unsigned long)fin[order[i][1]] << 8 |
                     fin[order[i][2]],
                 4);
    o = to64(o, fin[11], 2);
    return (size_t)(o - out);
}

/* The longest password hashed, as the C library's crypt(3) allows: apr1's
 * cost grows with the length, and the length is the client's to choose. */
#define PASSWORD_MAX 512

static bool check_apr1(const char *pw, struct kp_str hash)
{
    struct kp_str salt = {hash.p + 6, 0};
    char out[64];

    if (strlen(pw) > PASSWORD_MAX)
        return false;
    /* The salt: up to 8 characters, ended early by '$'. */
    while (salt.len < 8 && 6 + salt.len < hash.len && salt.p[salt.len] != '$')
        salt.len++;
    return same(hash, out, apr1(pw, salt, out));
}

/* crypt(3) of the C library; its per-call state is large (tens of KiB),
 * so it is allocated here rather than on the stack. */
static bool check_crypt(const char *pw, struct kp_str hash)
{
    struct crypt_data *data = kp_calloc(1, sizeof(*data));
    char *setting = kp_strndup(hash.p, hash.len);
    const char *out = crypt_rn(pw, setting, data, (int)sizeof(*data));
    bool ok = out != NULL && same(hash, out, strlen(out));

    kp_free(setting);
    kp_free(data);
    return ok;
}

bool kp_htpasswd_verify(const char *password, struct kp_str hash)
{
    if (kp_str_has_prefix(hash, KP_STR("{PLAIN}")))
        return same((struct kp_str){hash.p + 7, hash.len - 7}, password, strlen(password));
    if (kp_str_has_prefix(hash, KP_STR("{SHA}")))
        return check_sha(password, (struct kp_str){hash.p + 5, hash.len - 5});
    if (kp_str_has_prefix(hash, KP_STR("{SSHA}")))
        return check_ssha(password, (struct kp_str){hash.p + 6, hash.len - 6});
    if (kp_str_has_prefix(hash, KP_STR("$apr1$")))
        return check_apr1(password, hash);
    return check_crypt(password, hash);
}
