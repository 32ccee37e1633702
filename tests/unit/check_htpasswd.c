/* Password files and checks (http/htpasswd.c) with vectors made by other
 * tools: `openssl passwd -apr1/-1/-5/-6`, libxcrypt's crypt(3) for DES,
 * bcrypt and yescrypt, python's hashlib for {SHA} and {SSHA}; and the
 * Authorization decoder (http/auth.c). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "kelpie/http/auth.h"
#include "kelpie/http/htpasswd.h"

struct vector {
    const char *password, *hash;
};

static const struct vector GOOD[] = {
    {"pw1", "$apr1$abcdefgh$VDRNIfeXktYVAN7OPI/sv."},
    {"", "$apr1$x$tMwYqBfQwi3FYAr0aJc8M/"},
    /* over 16 bytes: the alternate digest is added more than once */
    {"averyveryveryveryverylongpassword_over16", "$apr1$12345678$hfNg7LFmpvdxTaE2Db/vy0"},
    {"pw2", "$1$xyz$N8GdvfLB6hF4O72zphfnl."},
    {"pw4", "$5$s5$DGU87N9eMlBmO.dBvSuRxZIsCBWua7pz9wq.JelGSB9"},
    {"pw3", "$6$saltsalt$yV4GqpzBCMtpl2XwhsRmhJjBbLVq6LoHdK8EmVLhhhMkWyBkMLcxHCyMi1PGc88mFQ0NxM/"
            "cwivrH4MF7r3YG."},
    {"pw7", "$2b$04$abcdefghijklmnopqrstuuSwdy7VP0BssFpWR/eLryXacl9naxu3e"},
    {"pw10", "$y$j9T$k2XAnEHBqQ1Ct2aMXFKNa/$5yPQ0tir5mdNvdlXE1Y8kYKlDaWI5mREjvh.GSZzgb/"},
    {"pw9", "absxQMaN14Rhw"},
    {"pw5", "{SHA}DQOu4namYhecwmcVgM50lrKXyAs="},
    {"pw6", "{SSHA}4rqPJCnRWdlhIGSK6cDRmVJqNCROYUNsMTIzNA=="},
    {"pw8", "{PLAIN}pw8"},
    {"", "{PLAIN}"},
};

START_TEST(known_hashes_match)
{
    const struct vector *v = &GOOD[_i];

    ck_assert_msg(kp_htpasswd_verify(v->password, kp_str_from(v->hash)), "%s", v->hash);
}
END_TEST

START_TEST(wrong_passwords_fail)
{
    const struct vector *v = &GOOD[_i];
    char wrong[64];

    snprintf(wrong, sizeof(wrong), "%sx", v->password);
    ck_assert_msg(!kp_htpasswd_verify(wrong, kp_str_from(v->hash)), "%s", v->hash);
    if (v->password[0] != '\0')
        ck_assert_msg(!kp_htpasswd_verify("", kp_str_from(v->hash)), "%s", v->hash);
}
END_TEST

START_TEST(bad_hashes_never_match)
{
    static const char *const bad[] = {
        "",       "*",          "*0",        "$apr1$", "{SHA}",   "{SHA}DQOu4namYhecwmcVgM50",
        "{SSHA}", "{SSHA}AAAA", "{SSHA}!!!", "$6$x$",  "$9$abc$", "{PLAIN}pw8x",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!kp_htpasswd_verify("pw8", kp_str_from(bad[i])), "%s", bad[i]);
    /* Matching is on the whole field: a prefix of the right hash fails. */
    ck_assert(!kp_htpasswd_verify("pw1", KP_STR("$apr1$abcdefgh$VDRNIfeXktYVAN7OPI/sv")));
    ck_assert(!kp_htpasswd_verify("pw2", KP_STR("$1$xyz$N8GdvfLB6hF4O72zphfnl.x")));
}
END_TEST

struct bad_seen {
    unsigned lines[8];
    enum kp_htpasswd_bad why[8];
    size_t n;
};

static void record(void *arg, unsigned line, enum kp_htpasswd_bad why)
{
    struct bad_seen *b = arg;

    ck_assert_uint_lt(b->n, 8);
    b->lines[b->n] = line;
    b->why[b->n++] = why;
}

static bool entry_is(const struct kp_htpasswd_entry *e, const char *user, const char *hash)
{
    return kp_str_eq(e->user, kp_str_from(user)) && kp_str_eq(e->hash, kp_str_from(hash));
}

START_TEST(file_lines)
{
    static char text[8192];
    struct kp_htpasswd_entry v[16];
    struct bad_seen b = {0};
    char *p = text;

    p = stpcpy(p, "# comment\n\nalice:{PLAIN}a\r\nbob:$apr1$x$y:Bob Smith:more\n");
    p = stpcpy(p, "no colon here\n:{PLAIN}nouser\ncarol:\n#dave:{PLAIN}d\nlong:");
    memset(p, 'x', KP_HTPASSWD_MAX_LINE);
    p += KP_HTPASSWD_MAX_LINE;
    p = stpcpy(p, "\nalice:{PLAIN}second\neve:{PLAIN}e");
    size_t len = (size_t)(p - text);
    ck_assert_uint_le(kp_htpasswd_max_entries(text, len), 16);
    size_t n = kp_htpasswd_parse(text, len, v, record, &b);
    ck_assert_uint_eq(n, 5);
    ck_assert(entry_is(&v[0], "alice", "{PLAIN}a"));
    ck_assert(entry_is(&v[1], "bob", "$apr1$x$y"));
    ck_assert(entry_is(&v[2], "carol", ""));
    ck_assert(entry_is(&v[3], "alice", "{PLAIN}second"));
    ck_assert(entry_is(&v[4], "eve", "{PLAIN}e"));
    ck_assert_uint_eq(b.n, 3);
    ck_assert_uint_eq(b.lines[0], 5);
    ck_assert_int_eq(b.why[0], KP_HTPASSWD_MALFORMED);
    ck_assert_uint_eq(b.lines[1], 6);
    ck_assert_uint_eq(b.lines[2], 9);
    ck_assert_int_eq(b.why[2], KP_HTPASSWD_TOO_LONG);
    /* The first line for a user wins, as nginx reads the file. */
    const struct kp_htpasswd_entry *e = kp_htpasswd_find(v, n, KP_STR("alice"));
    ck_assert_ptr_eq(e, &v[0]);
    ck_assert_ptr_null(kp_htpasswd_find(v, n, KP_STR("Alice")));
    ck_assert_ptr_null(kp_htpasswd_find(v, n, KP_STR("alic")));
    ck_assert_uint_eq(kp_htpasswd_parse("", 0, v, record, &b), 0);
}
END_TEST

static bool decodes(const char *value, const char *user, const char *password)
{
    char out[256];
    struct kp_str u, p;

    if (!kp_http_auth_basic_decode(kp_str_from(value), out, &u, &p))
        return user == NULL;
    return user != NULL && kp_str_eq(u, kp_str_from(user)) && kp_str_eq(p, kp_str_from(password)) &&
           p.p[p.len] == '\0';
}

START_TEST(authorization_values)
{
    ck_assert(decodes("Basic YWxpY2U6c2VjcmV0", "alice", "secret"));
    ck_assert(decodes("basic   YWxpY2U6c2VjcmV0", "alice", "secret"));
    /* the password may hold ':' and be empty */
    ck_assert(decodes("Basic YTpiOmM=", "a", "b:c"));
    ck_assert(decodes("Basic YTo=", "a", ""));
    ck_assert(decodes("Basic", NULL, NULL));
    ck_assert(decodes("Basic ", NULL, NULL));
    ck_assert(decodes("Bearer YWxpY2U6c2VjcmV0", NULL, NULL));
    ck_assert(decodes("BasicYWxpY2U6c2VjcmV0", NULL, NULL));
    ck_assert(decodes("Basic !!!!", NULL, NULL));
    ck_assert(decodes("Basic YWxpY2U", NULL, NULL));      /* "alice": no ':' */
    ck_assert(decodes("Basic OnNlY3JldA==", NULL, NULL)); /* ":secret": no user */
    ck_assert(decodes("Basic Y", NULL, NULL));
    ck_assert(decodes("", NULL, NULL));
}
END_TEST

Suite *kp_test_htpasswd_suite(void)
{
    Suite *s = suite_create("htpasswd");
    TCase *tc = tcase_create("core");
    int n = (int)(sizeof(GOOD) / sizeof(GOOD[0]));

    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, known_hashes_match, 0, n);
    tcase_add_loop_test(tc, wrong_passwords_fail, 0, n);
    tcase_add_test(tc, bad_hashes_never_match);
    tcase_add_test(tc, file_lines);
    tcase_add_test(tc, authorization_values);
    suite_add_tcase(s, tc);
    return s;
}
