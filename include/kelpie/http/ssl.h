/* HTTPS: the ssl_* directives (nginx's names, syntax and defaults), the TLS
 * context each server gets from them, and what the variables say about a
 * connection's TLS session.
 *
 * Contexts are built when the configuration is loaded (in the master, before
 * the workers are forked, and again on every reload), so `kelpie -t` and a
 * reload see every certificate problem: a certificate that cannot be read, a
 * key that does not match it, a bad cipher list. Each server with
 * certificates gets its own context; a connection starts with the context
 * of its address's default server and moves to the one of the server its
 * SNI names. ALPN selects http/1.1 (or http/1.0). Contexts are freed with the cycle. */
#ifndef KP_HTTP_SSL_H
#define KP_HTTP_SSL_H

#include <stdbool.h>

#include "kelpie/util/conf.h"
#include "kelpie/http/conf.h"
#include "kelpie/util/str.h"
#include "kelpie/event/conn.h"
#include "kelpie/http/var.h"

/* ssl_protocols bits. */
enum {
    KP_SSL_TLSv1 = 1u << 0,
    KP_SSL_TLSv1_1 = 1u << 1,
    KP_SSL_TLSv1_2 = 1u << 2,
    KP_SSL_TLSv1_3 = 1u << 3,
};

/* ssl_session_cache: none (0, the default: no resumption by session ID),
 * off (the same, said more strictly, as in nginx), or builtin and/or shared. */
enum {
    KP_SSL_CACHE_OFF = 1u << 0,
    KP_SSL_CACHE_BUILTIN = 1u << 1, /* builtin[:SIZE]: OpenSSL's cache, one per worker */
    KP_SSL_CACHE_SHARED = 1u << 2,  /* shared:NAME:SIZE: one for all workers (ssl_cache.h) */
};

/* ssl_verify_client */
enum {
    KP_SSL_VERIFY_OFF = 0,
    KP_SSL_VERIFY_ON,
    KP_SSL_VERIFY_OPTIONAL,
    KP_SSL_VERIFY_OPTIONAL_NO_CA, /* a certificate is asked for, its CA not checked */
};

/* The ssl_* directives (http and server level). Registered only in a build
 * with OpenSSL; without it they are unknown directives, as in an nginx
 * without its ssl module. */
extern const struct kp_conf_cmd kp_http_ssl_conf_cmds[];

/* Whether this build has TLS (configure found OpenSSL). */
bool kp_http_ssl_available(void);

/* The http-level defaults: TLSv1.2 TLSv1.3, HIGH:!aNULL:!MD5, curve auto,
 * session tickets on, session timeout 5m, session cache none. */
void kp_http_ssl_conf_defaults(struct kp_arena *a, struct kp_http_ssl_conf *ssl);

/* " in FILE:LINE" (or " in command line") of the statement being parsed,
 * kept in cf's arena: errors found later name the directive's place. */
char *kp_http_ssl_where(struct kp_conf *cf);

/* Build srv's TLS context from its merged settings when it has
 * certificates, or fail when it listens with `ssl` and has none. Returns
 * 0, or -EINVAL with one line in cf's error buffer naming the file and the
 * OpenSSL reason, ending with the directive's place, e.g.
 *   SSL_CTX_use_PrivateKey("/k.pem") failed (SSL: ... key values mismatch)
 *   in /etc/kelpie/kelpie.conf:12
 * The context is freed with cf's arena. Blocking: reads files. */
int kp_http_ssl_build(struct kp_conf *cf, struct kp_http_srv_conf *srv);

/* On reload, in the master: the new configuration http (whose memory comes
 * from a) takes over the shared zones of old with the same name and size, so
 * sessions and ticket keys outlive the reload. */
void kp_http_ssl_adopt(struct kp_http_conf *http, struct kp_arena *a,
                       const struct kp_http_conf *old);

/* "OpenSSL 3.0.22 ..." for -V: the library built with and, when different,
 * the one running ("built with X, running with Y"). buf gets it,
 * NUL-terminated. Without OpenSSL: "built without OpenSSL". */
void kp_http_ssl_version(char *buf, size_t len);
/* The bare version of the OpenSSL built with ("3.0.13"), "" without it,
 * into buf (NUL-terminated): a label value for the status page. */
void kp_http_ssl_build_version(char *buf, size_t len);

/* Start TLS on a freshly accepted connection of an `ssl` address: c->tls is
 * set from the default server's context. Returns 0 or -ENOMEM. */
int kp_http_ssl_attach(struct kp_conn *c);

/* What the variables say about c's session (empty when c is plain):
 * $ssl_protocol "TLSv1.3", $ssl_cipher "TLS_AES_256_GCM_SHA384",
 * $ssl_server_name (the SNI name), $ssl_session_reused "r" or ".",
 * $ssl_client_verify. The slices point into OpenSSL's memory (living as
 * long as the session) or into buf (KP_HTTP_VAR_BUF bytes). */
enum kp_http_ssl_var {
    KP_SSL_VAR_PROTOCOL,
    KP_SSL_VAR_CIPHER,
    KP_SSL_VAR_SERVER_NAME,
    KP_SSL_VAR_SESSION_REUSED,
    KP_SSL_VAR_CLIENT_VERIFY, /* "SUCCESS", "FAILED:reason" or "NONE" */
};
struct kp_str kp_http_ssl_var(const struct kp_conn *c, enum kp_http_ssl_var which, char *buf);

/* The rest of nginx's $ssl_* variables, whose values may be long (made in
 * a): the session's id (hex), ALPN protocol, key exchange group, and the
 * client's offered ciphers and groups (':'-joined); "1" while early data
 * is being read; and of the client's certificate: subject and issuer
 * (RFC 2253, and the legacy "/C=../CN=.." form), serial (hex), SHA-1
 * fingerprint (hex), validity dates (as OpenSSL prints them: "Dec  6
 * 19:00:00 2026 GMT"), days left, and the certificate itself in PEM (raw,
 * tab-indented continuation lines, or percent-encoded). Not found (a NULL
 * slice) on a plain connection or without a client certificate. */
enum kp_http_ssl_more {
    KP_SSL_MORE_SESSION_ID,
    KP_SSL_MORE_ALPN,
    KP_SSL_MORE_CURVE,
    KP_SSL_MORE_CURVES,
    KP_SSL_MORE_CIPHERS,
    KP_SSL_MORE_EARLY_DATA,
    KP_SSL_MORE_S_DN,
    KP_SSL_MORE_I_DN,
    KP_SSL_MORE_S_DN_LEGACY,
    KP_SSL_MORE_I_DN_LEGACY,
    KP_SSL_MORE_SERIAL,
    KP_SSL_MORE_FINGERPRINT,
    KP_SSL_MORE_V_START,
    KP_SSL_MORE_V_END,
    KP_SSL_MORE_V_REMAIN,
    KP_SSL_MORE_RAW_CERT,
    KP_SSL_MORE_CERT,
    KP_SSL_MORE_ESCAPED_CERT,
};
struct kp_str kp_http_ssl_more(const struct kp_conn *c, enum kp_http_ssl_more which,
                               struct kp_arena *a);

/* Whether c may send a request to srv (the server its Host chose): 421 when
 * srv is not the server the handshake ran under (SNI's, or the address's
 * default) and either verifies client certificates, since the certificate
 * was checked against the other server's CAs (nginx's "Misdirected
 * Request"); else what ssl_verify_client of srv says about c's client
 * certificate: 0 (go on), KP_HTTP_SSL_CERT_ERROR (495: a certificate that
 * does not verify) or KP_HTTP_SSL_NO_CERT (496: none, though one is
 * required); those two answered 400 with nginx's page. The reason is logged
 * at info. */
int kp_http_ssl_verify_result(const struct kp_conn *c, const struct kp_http_srv_conf *srv,
                              char *reason, size_t len);

/* $ssl_protocol, $ssl_cipher, $ssl_server_name, $ssl_session_reused,
 * $ssl_client_verify for the variable registry (http/var.h); empty on a
 * plain connection. */
extern const struct kp_http_var_def kp_http_ssl_vars[];

#endif
