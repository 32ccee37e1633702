/* `split_clients SOURCE $name { PERCENT% VALUE; ... * VALUE; }` (http
 * context), nginx's A/B split: SOURCE (text with variables) is hashed with
 * MurmurHash2 (nginx's, so a client lands in the same group under either
 * server) and the 32-bit hash space is cut in the block's order into
 * parts of the given shares (up to two decimals: 0.5%, 33.33%); $name is
 * the VALUE of the part the hash falls in, `*` taking what is left, and
 * empty when the shares leave a gap the hash falls into. The shares may
 * not add up to more than 100%. The value is computed once per request. */
#ifndef KP_HTTP_SPLIT_CLIENTS_H
#define KP_HTTP_SPLIT_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "kelpie/util/conf.h"

/* The `split_clients` block directive (conf: unused). */
int kp_http_split_clients_conf(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);

/* MurmurHash2 of len bytes at p, seeded with len, as nginx's
 * ngx_murmur_hash2 (bytes read little-endian). */
uint32_t kp_http_split_clients_hash(const void *p, size_t len);

#endif
