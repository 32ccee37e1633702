/* gzip: the gzip_* and gzip_static directives, the decision whether a
 * response may be compressed (nginx's rules: type, length, client, proxy,
 * User-Agent, HTTP version), and the worker's cache of compressed files.
 *
 * A file is compressed once per version (device, inode, size, mtime) and
 * level with libdeflate, and the result kept in the worker's bounded cache
 * (KP_GZIP_CACHE_BYTES): a keep-alive benchmark of one file compresses it
 * once, not per request. libdeflate rather than zlib: compressing a whole
 * buffer is all this needs, and on a 64 KiB text file it was 2.7x faster at
 * level 1 and 2.5x at level 6, with slightly smaller output. Files larger
 * than KP_GZIP_MAX_FILE are sent as they are (never compressed per request).
 *
 * The static handler (static.c) drives it: gzip_static first (FILE.gz beside
 * FILE, no compression work), then compression on the fly for a 200. */
#ifndef KP_HTTP_GZIP_H
#define KP_HTTP_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "kelpie/util/conf.h"
#include "kelpie/util/str.h"
#include "kelpie/http/conf.h"

#define KP_GZIP_CACHE_BYTES (32u << 20) /* compressed bytes a worker keeps */
#define KP_GZIP_CACHE_SLOTS 1024        /* files a worker keeps (direct-mapped) */
#define KP_GZIP_MAX_FILE    (8u << 20)  /* larger files are not compressed */

struct kp_http_request;
struct kp_http_gz_entry;

/* The directives: gzip, gzip_comp_level, gzip_min_length, gzip_types,
 * gzip_vary, gzip_proxied, gzip_disable, gzip_http_version, gzip_buffers
 * (accepted and checked; there are no buffers to size) and gzip_static, in
 * http, server and location (and `if in location` where nginx allows it).
 * Location-slot fields inside struct kp_http_loc_conf.gzip. */
extern const struct kp_conf_cmd kp_http_gzip_conf_cmds[];

/* nginx's defaults: off, level 1, min_length 20, text/html, vary off,
 * proxied off, http_version 1.1, gzip_static off. */
void kp_http_gzip_conf_defaults(struct kp_http_gzip_conf *gz);

/* Whether a response of this type (Content-Type value; parameters after ';'
 * ignored) and length may be compressed under r->loc: gzip on, the type is
 * text/html or in gzip_types, the length at least gzip_min_length. Such a
 * response varies with Accept-Encoding whatever the client sent. */
bool kp_http_gzip_wanted(const struct kp_http_request *r, struct kp_str type, uint64_t len);

/* Whether the client of r may get gzip (nginx's checks, in its order):
 * Accept-Encoding allows gzip (http/coding.h), the request's HTTP version
 * is at least gzip_http_version, a request with Via passes gzip_proxied,
 * and User-Agent matches no gzip_disable pattern (nor is MSIE 4-6 with
 * `msie6`). Used by gzip_static on as well. */
bool kp_http_gzip_client_ok(const struct kp_http_request *r);

/* Append "Vary: Accept-Encoding" to r->resp.extra when gzip_vary is on. */
void kp_http_gzip_vary(struct kp_http_request *r);

/* Append "Content-Encoding: gzip" to r->resp.extra. */
void kp_http_gzip_encoded(struct kp_http_request *r);

/* The worker's cache of compressed files. */
struct kp_http_gzcache {
    struct kp_http_gz_entry **slots; /* KP_GZIP_CACHE_SLOTS; NULL until first use */
    size_t bytes;                    /* compressed bytes held */
    uint64_t tick;                   /* use counter, for evicting the oldest */
    void *compressor;                /* libdeflate's, for `level` */
    int level;
};

/* Make r's response body the gzip of the regular file fd (st its fstat())
 * at r->loc's gzip_comp_level: from the worker's cache when this version
 * is there, else read and compressed now and kept. Sets resp.body (the
 * cache's memory, held until r's arena is reset), resp.fd = -1,
 * Content-Encoding, and clears accept_ranges. Returns 0, or -EFBIG (larger
 * than KP_GZIP_MAX_FILE), -EIO (the file changed while read, or a read
 * error; logged) without touching resp: serve the file as it is. Blocking:
 * reads the file on a miss. */
int kp_http_gzip_body(struct kp_http_request *r, int fd, const struct stat *st);

/* The gzip filter for a response made in memory (error pages, `return`
 * text, small directory listings), as nginx's applies to every response:
 * when its status is 200, 403 or 404, its body and type pass
 * kp_http_gzip_wanted (Vary added then, with gzip_vary) and the client
 * kp_http_gzip_client_ok, the body is compressed into r's arena now and
 * Content-Encoding set. Bodies over KP_GZIP_MAX_FILE, file bodies and
 * responses that already carry a Content-Encoding are left as they are. */
void kp_http_gzip_memory(struct kp_http_request *r);

/* "libdeflate VERSION", for kelpie -V. */
const char *kp_http_gzip_library(void);

/* Free every entry not in use (those a response still sends from go with
 * its arena) and the compressor. */
void kp_http_gzcache_free(struct kp_http_gzcache *c);

#endif
