/* `geo [SOURCE] $name { ... }` (http context), nginx's: $name takes the
 * value of the most specific network that holds an address:
 *   default VALUE;            when none does (else empty)
 *   ADDR[/BITS] VALUE;        IPv4 or IPv6; a later equal network replaces
 *   delete ADDR[/BITS];       drops a network given earlier
 *   proxy ADDR[/BITS];        trusted proxies: from them, the address is
 *   proxy_recursive;          the X-Forwarded-For one, walked as realip does
 *   include FILE;             more entries
 * The address is SOURCE's value (text with variables; one that is no
 * address counts as 255.255.255.255, as in nginx) or, without SOURCE, the
 * client's ($remote_addr). Values are plain text. After `ranges;` (which
 * must come first) entries are IPv4 `START-END VALUE` ranges, stored cut
 * at /16 boundaries as nginx stores them: a piece inside an earlier one
 * splits it, an equal one replaces it, other overlaps are refused. The
 * value is computed once per request. */
#ifndef KP_HTTP_GEO_H
#define KP_HTTP_GEO_H

#include "kelpie/util/conf.h"

/* The `geo` block directive (conf: unused). */
int kp_http_geo_conf(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);

#endif
