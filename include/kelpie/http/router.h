/* Request routing, first half: which server { } answers a request, chosen by
 * the Host (RFC 9110 section 7.2) among the servers listening on the address
 * the connection came in on. The second half, the location within the
 * server, is kp_http_location_find() (http/location.h). */
#ifndef KP_ROUTER_H
#define KP_ROUTER_H

#include "kelpie/http/conf.h"
#include "kelpie/util/str.h"

/* Host as it is compared: without a ":port" suffix (IPv6 literals keep their
 * brackets) and without one trailing dot ("example.com." is example.com). */
struct kp_str kp_http_router_host(struct kp_str host);

struct kp_http_request;

/* How many patterns kp_http_router_names() may write for addr: its
 * servers' server_names. */
size_t kp_http_router_names_max(const struct kp_http_addr *addr);

/* Fill out (room for kp_http_router_names_max(addr)) with the names of
 * addr's servers in config order as nginx keeps them (hostmatch.h): a name
 * that conflicts with an earlier one is dropped (nginx warns); a ".x"
 * that finds only the names under x taken still takes x itself, for no
 * server (a later "x" is dropped, and x is matched by the other names);
 * empty names are left out (an empty host is routed without them). Each pattern's data is
 * its server. Returns how many were written. Once per address, when the
 * configuration is built: a request is then matched against the list
 * alone. */
size_t kp_http_router_names(const struct kp_http_addr *addr, struct kp_http_hostmatch *out);

/* The server of addr (a listening address) for host (raw: port and trailing
 * dot are stripped here): the server whose server_name matches best, as
 * kelpie/http/hostmatch.h ranks names (exact, then the longest leading
 * wildcard, then the longest trailing one; a name conflicting with an
 * earlier one on the address is dropped, as nginx drops it), else the
 * first server (in config order) with a matching ~REGEX name (matched
 * against the lowercase host; with r, its captures are kept in r), else
 * the address's default server (the `default_server` one, or the first).
 * An empty host (HTTP/1.0 without Host) gets the first server named ""
 * (`server_name ""`, or no server_name, as nginx takes it), else the
 * default server. Never NULL. */
const struct kp_http_srv_conf *kp_http_router_server(const struct kp_http_addr *addr,
                                                     struct kp_str host, struct kp_http_request *r);

#endif
