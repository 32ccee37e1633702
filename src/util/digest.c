/* MD5, SHA-1, base64 and a constant-time comparison (see digest.h). */
#include "kelpie/util/digest.h"

#include <errno.h>
#include <string.h>

static uint32_t rotl(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

/* RFC 1321 section 3.4: the table T[i] = floor(2^32 * |sin(i + 1)|). */
static const uint32_t md5_t[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* The rotation of step i: four per round (RFC 1321 section 3.4). */
static const unsigned char md5_s[16] = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};

static void md5_block(uint32_t h[4], const unsigned char *p)
{
    uint32_t x[16], a = h[0], b = h[1], c = h[2], d = h[3];

    for (int i = 0; i < 16; i++)
        x[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    for (unsigned i = 0; i < 64; i++) {
        uint32_t f;
        unsigned g, round = i / 16;
        if (round == 0) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (round == 1) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
        } else if (round == 2) {
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
        }
        f += a + md5_t[i] + x[g];
        a = d;
        d = c;
        c = b;
        b += rotl(f, md5_s[round * 4 + i % 4]);
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

/* FIPS 180-4 section 6.1.2. */
static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 80; t++)
        w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        uint32_t tmp = rotl(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void kp_md5_init(struct kp_digest *d)
{
    static const uint32_t iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};

    memset(d, 0, sizeof(*d));
    memcpy(d->h, iv, sizeof(iv));
}

void kp_sha1_init(struct kp_digest *d)
{
    static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};

    memset(d, 0, sizeof(*d));
    memcpy(d->h, iv, sizeof(iv));
    d->sha1 = true;
}

static void run_block(struct kp_digest *d, const unsigned char *p)
{
    if (d->sha1)
        sha1_block(d->h, p);
    else
        md5_block(d->h, p);
}

void kp_digest_update(struct kp_digest *d, const void *data, size_t len)
{
    const unsigned char *p = data;

    d->total += len;
    while (len > 0) {
        size_t take = sizeof(d->block) - d->fill;
        if (take > len)
            take = len;
        memcpy(d->block + d->fill, p, take);
        d->fill += take;
        p += take;
        len -= take;
        if (d->fill == sizeof(d->block)) {
            run_block(d, d->block);
            d->fill = 0;
        }
    }
}

void kp_digest_final(struct kp_digest *d, unsigned char *out)
{
    uint64_t bits = d->total * 8;
    unsigned char pad[72] = {0x80};
    /* Pad to 56 bytes mod 64, then the message length in bits: 8 bytes,
     * little-endian for MD5 (RFC 1321 3.2), big-endian for SHA-1. */
    size_t padlen = (d->fill < 56 ? 56 : 120) - d->fill;

    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (unsigned char)(bits >> (d->sha1 ? 56 - 8 * i : 8 * i));
    kp_digest_update(d, pad, padlen + 8);
    size_t words = d->sha1 ? 5 : 4;
    for (size_t i = 0; i < words; i++) {
        for (int j = 0; j < 4; j++)
            out[4 * i + (size_t)j] = (unsigned char)(d->h[i] >> (d->sha1 ? 24 - 8 * j : 8 * j));
    }
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t kp_base64_encode(const unsigned char *in, size_t len, char *out)
{
    char *o = out;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    return (size_t)(o - out);
}

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

ssize_t kp_base64_decode(const char *in, size_t len, unsigned char *out)
{
    size_t n = 0, chars = 0;
    uint32_t acc = 0;
    unsigned bits = 0;

    for (; chars < len && in[chars] != '='; chars++) {
        int v = b64_value((unsigned char)in[chars]);
        if (v < 0)
            return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* One character alone carries 6 bits: no byte, so not base64. */
    return chars % 4 == 1 ? -EINVAL : (ssize_t)n;
}

bool kp_mem_equal_ct(const void *a, const void *b, size_t len)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;

    for (size_t i = 0; i < len; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}
