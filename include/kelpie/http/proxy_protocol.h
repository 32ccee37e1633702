/* The PROXY protocol header a load balancer puts in front of a proxied
 * connection (haproxy's proxy-protocol.txt), read on `listen ...
 * proxy_protocol` addresses. Pure: no I/O, no allocation, no logging.
 *
 * Version 1 is one text line of at most KP_PROXY_V1_MAX bytes:
 *     "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n"  or  "PROXY UNKNOWN[ ...]\r\n"
 * read strictly: single spaces, addresses of the named family (IPv4 as four
 * decimal numbers without leading zeroes), ports 0..65535 in decimal
 * without leading zeroes. Version 2 is binary: a 12-byte signature,
 * version 2 with the LOCAL or PROXY command, the family/transport byte, a
 * 16-bit length, the addresses (IPv4, IPv6 or UNIX), then TLVs, which are
 * checked to fill the rest exactly and otherwise skipped. A version 2
 * header longer than KP_PROXY_V2_MAX is refused.
 *
 * What the header gives: source and destination addresses with ports, or
 * none (v1 UNKNOWN, v2 LOCAL, v2 UNSPEC or UNIX addresses), in which case
 * the connection's own addresses stay in force. */
#ifndef KP_PROXY_PROTOCOL_H
#define KP_PROXY_PROTOCOL_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Longest version 1 line, CRLF included (the specification's bound). */
#define KP_PROXY_V1_MAX 107
/* Longest version 2 header kelpie accepts, the 16 fixed bytes included:
 * room for IPv6 or UNIX addresses and a few hundred bytes of TLVs. */
#define KP_PROXY_V2_MAX 1024
/* The most bytes a header can take (what a reader must be able to hold). */
#define KP_PROXY_MAX KP_PROXY_V2_MAX

/* An address from the header: sa.sa_family is AF_INET or AF_INET6 (port
 * in network order as in any sockaddr), or AF_UNSPEC for none. */
union kp_proxy_addr {
    struct sockaddr sa;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
};

struct kp_proxy_header {
    unsigned version;        /* 1 or 2 */
    union kp_proxy_addr src; /* the client, as the proxy saw it */
    union kp_proxy_addr dst; /* the address the client connected to */
};

/* Parse the PROXY header at the start of p[0, len). Returns its length in
 * bytes (> 0) with *h filled; KP_PARSE_INCOMPLETE (http/parse.h) when the
 * len bytes are the start of a header that may still turn out valid; or
 * KP_PARSE_INVALID as soon as they cannot be (a wrong first byte, a broken
 * signature, a line without CRLF in KP_PROXY_V1_MAX bytes, a bad field).
 * Bytes after the header are not looked at. *h is undefined unless a
 * length is returned. */
ssize_t kp_proxy_protocol_parse(const char *p, size_t len, struct kp_proxy_header *h);

/* addr as text without the port ("192.0.2.1", "2001:db8::1") into buf
 * (at least INET6_ADDRSTRLEN bytes, NUL-terminated). Returns the length,
 * 0 for AF_UNSPEC. */
size_t kp_proxy_protocol_addr_text(const union kp_proxy_addr *a, char *buf, size_t size);

/* addr's port in host order; 0 for AF_UNSPEC. */
unsigned kp_proxy_protocol_port(const union kp_proxy_addr *a);

#endif
