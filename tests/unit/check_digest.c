/* MD5 (RFC 1321 appendix A.5 test suite), SHA-1 (FIPS 180 examples),
 * base64 (RFC 4648 section 10) and the constant-time comparison
 * (util/digest.c). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kelpie/util/digest.h"

static void hex(const unsigned char *md, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* Digest of text fed in pieces of `step` bytes (0: all at once). */
static void digest(bool sha1, const char *text, size_t step, char *out)
{
    struct kp_digest d;
    unsigned char md[KP_SHA1_LEN];
    size_t len = strlen(text);

    if (sha1)
        kp_sha1_init(&d);
    else
        kp_md5_init(&d);
    for (size_t i = 0; i < len; i += step == 0 ? len : step)
        kp_digest_update(&d, text + i, step == 0 || len - i < step ? len - i : step);
    kp_digest_final(&d, md);
    hex(md, sha1 ? KP_SHA1_LEN : KP_MD5_LEN, out);
}

static const char *const MD5_VECTORS[][2] = {
    {"", "d41d8cd98f00b204e9800998ecf8427e"},
    {"a", "0cc175b9c0f1b6a831c399e269772661"},
    {"abc", "900150983cd24fb0d6963f7d28e17f72"},
    {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
    {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "d174ab98d277d9f5a5611c2c9f419d9f"},
    {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "57edf4a22be3c955ac49da2e2107b67a"},
};

START_TEST(md5_rfc1321)
{
    char out[2 * KP_SHA1_LEN + 1];

    for (size_t i = 0; i < sizeof(MD5_VECTORS) / sizeof(MD5_VECTORS[0]); i++) {
        for (size_t step = 0; step < 8; step += 7) {
            digest(false, MD5_VECTORS[i][0], step, out);
            ck_assert_str_eq(out, MD5_VECTORS[i][1]);
        }
    }
}
END_TEST

START_TEST(sha1_fips180)
{
    char out[2 * KP_SHA1_LEN + 1];

    digest(true, "", 0, out);
    ck_assert_str_eq(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    digest(true, "abc", 1, out);
    ck_assert_str_eq(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
    digest(true, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 5, out);
    ck_assert_str_eq(out, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}
END_TEST

/* One million 'a': many blocks, and the length crossing 2^20 bytes. */
START_TEST(million_a)
{
    static char chunk[1000];
    struct kp_digest d;
    unsigned char md[KP_SHA1_LEN];
    char out[2 * KP_SHA1_LEN + 1];

    memset(chunk, 'a', sizeof(chunk));
    for (int sha1 = 0; sha1 < 2; sha1++) {
        if (sha1)
            kp_sha1_init(&d);
        else
            kp_md5_init(&d);
        for (int i = 0; i < 1000; i++)
            kp_digest_update(&d, chunk, sizeof(chunk));
        kp_digest_final(&d, md);
        hex(md, sha1 ? KP_SHA1_LEN : KP_MD5_LEN, out);
        ck_assert_str_eq(out, sha1 ? "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
                                   : "7707d6ae4e027c70eea2a935c2296f21");
    }
}
END_TEST

START_TEST(base64_rfc4648)
{
    static const char *const v[][2] = {{"", ""},
                                       {"f", "Zg=="},
                                       {"fo", "Zm8="},
                                       {"foo", "Zm9v"},
                                       {"foob", "Zm9vYg=="},
                                       {"fooba", "Zm9vYmE="},
                                       {"foobar", "Zm9vYmFy"}};
    char enc[16];
    unsigned char dec[16];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t len = strlen(v[i][0]);
        size_t n = kp_base64_encode((const unsigned char *)v[i][0], len, enc);
        ck_assert_uint_eq(n, kp_base64_encoded_len(len));
        ck_assert_uint_eq(n, strlen(v[i][1]));
        ck_assert(memcmp(enc, v[i][1], n) == 0);
        ck_assert_int_eq(kp_base64_decode(v[i][1], n, dec), (ssize_t)len);
        ck_assert(memcmp(dec, v[i][0], len) == 0);
    }
    /* Unpadded input decodes too; what follows '=' is ignored (nginx). */
    ck_assert_int_eq(kp_base64_decode("Zm8", 3, dec), 2);
    ck_assert_int_eq(kp_base64_decode("Zg==!!", 6, dec), 1);
    /* A stray byte, or a lone final character, is not base64. */
    ck_assert_int_eq(kp_base64_decode("Zm 9v", 5, dec), -EINVAL);
    ck_assert_int_eq(kp_base64_decode("Zm9vY", 5, dec), -EINVAL);
    ck_assert_int_eq(kp_base64_decode("Zm9v-_", 6, dec), -EINVAL);
}
END_TEST

START_TEST(equal_ct)
{
    ck_assert(kp_mem_equal_ct("abc", "abc", 3));
    ck_assert(!kp_mem_equal_ct("abc", "abd", 3));
    ck_assert(!kp_mem_equal_ct("xbc", "abc", 3));
    ck_assert(kp_mem_equal_ct("", "x", 0));
}
END_TEST

Suite *kp_test_digest_suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, md5_rfc1321);
    tcase_add_test(tc, sha1_fips180);
    tcase_add_test(tc, million_a);
    tcase_add_test(tc, base64_rfc4648);
    tcase_add_test(tc, equal_ct);
    suite_add_tcase(s, tc);
    return s;
}
