/* Digests and encodings the password checks need (http/htpasswd.h): MD5
 * (RFC 1321), SHA-1 (FIPS 180-4) and base64 (RFC 4648 section 4). Written
 * here rather than taken from OpenSSL so that a build --without-ssl reads
 * the same password files; none of this is used where secrecy rests on the
 * digest's strength (apr1 and {SHA} are formats other tools write). All
 * functions are pure and never allocate. */
#ifndef KP_DIGEST_H
#define KP_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KP_MD5_LEN  16
#define KP_SHA1_LEN 20

/* An incremental digest: init, any number of updates, final. The two
 * algorithms share the 64-byte block and the length count. */
struct kp_digest {
    uint32_t h[5];
    uint64_t total; /* bytes fed so far */
    unsigned char block[64];
    size_t fill; /* bytes waiting in block */
    bool sha1;   /* SHA-1 (big-endian); else MD5 (little-endian) */
};

void kp_md5_init(struct kp_digest *d);
void kp_sha1_init(struct kp_digest *d);
void kp_digest_update(struct kp_digest *d, const void *data, size_t len);
/* Write the digest (KP_MD5_LEN or KP_SHA1_LEN bytes) to out; d is spent. */
void kp_digest_final(struct kp_digest *d, unsigned char *out);

/* Bytes base64 text of len bytes takes (no NUL). */
static inline size_t kp_base64_encoded_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

/* Encode len bytes as padded base64 into out (kp_base64_encoded_len(len)
 * bytes, no NUL). Returns that length. */
size_t kp_base64_encode(const unsigned char *in, size_t len, char *out);

/* Decode base64 text: the alphabet up to the first '=' (what follows it is
 * ignored, as nginx does), with no other byte allowed and no dangling
 * single character. out needs len * 3 / 4 + 1 bytes. Returns the bytes
 * written or -EINVAL. */
ssize_t kp_base64_decode(const char *in, size_t len, unsigned char *out);

/* Whether a and b (len bytes each) are equal, in time that depends on len
 * only (no early exit on the first difference). */
bool kp_mem_equal_ct(const void *a, const void *b, size_t len);

#endif
