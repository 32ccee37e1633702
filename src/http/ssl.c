/* HTTPS with OpenSSL 3: the ssl_* directives, one SSL_CTX per server built
 * at configuration load (see ssl.h), the SNI and ALPN callbacks, and the
 * session variables. Paths are relative to the configuration's directory,
 * as nginx resolves them. */
#include "kelpie/http/ssl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "kelpie/util/arena.h"
#include "kelpie/event/tls.h"
#include "kelpie/http/req.h"
#include "kelpie/http/router.h"
#include "kelpie/http/ssl_cache.h"

#define SSL_FIELD(m)      KP_CONF_SLOT_SRV, KP_CONF_FIELD(struct kp_http_srv_conf, ssl.m)
#define SSL_SPAN(a, b)    KP_CONF_SLOT_SRV, KP_CONF_SPAN(struct kp_http_srv_conf, ssl.a, ssl.b)
#define HTTP_SRV          (KP_CONF_HTTP | KP_CONF_SRV)
#define DEFAULT_CIPHERS   "HIGH:!aNULL:!MD5"
#define MAX_PASSWORDS     64
#define SESSION_CACHE_MAX (1u << 24)
#define SHARED_MIN        (64u << 10)
#define SHARED_MAX        (UINT64_C(1) << 34)

char *kp_http_ssl_where(struct kp_conf *cf)
{
    char buf[4200];

    if (cf->file == NULL || cf->file->command_line)
        snprintf(buf, sizeof(buf), " in command line");
    else
        snprintf(buf, sizeof(buf), " in %s:%u", cf->file->name, cf->file->line);
    return kp_conf_strdup(cf->arena, buf);
}

void kp_http_ssl_conf_defaults(struct kp_arena *a, struct kp_http_ssl_conf *ssl)
{
    ssl->protocols = KP_SSL_TLSv1_2 | KP_SSL_TLSv1_3;
    ssl->ciphers = kp_conf_strdup(a, DEFAULT_CIPHERS);
    ssl->ecdh_curve = kp_conf_strdup(a, "auto");
    ssl->session_tickets = true;
    ssl->session_timeout_ms = 300000;
    ssl->session_cache = 0;
    ssl->session_cache_size = 20480;
    ssl->verify_depth = 1;
    ssl->buffer_size = 16384;
}

/* --- directives ------------------------------------------------------------------ */

/* ssl_certificate FILE and ssl_certificate_key FILE: pairs, in order. The
 * first of either in a block replaces what the block inherited. */
static int certificate(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_ssl_conf *ssl = &((struct kp_http_srv_conf *)conf)->ssl;
    bool key = strcmp(cmd->name, "ssl_certificate_key") == 0;
    char ***list = key ? &ssl->keys : &ssl->certs;
    size_t *n = key ? &ssl->n_keys : &ssl->n_certs;

    if (!kp_conf_field_seen(cf, cmd)) {
        *list = NULL;
        *n = 0;
    }
    if (cf->args[1][0] == '\0')
        return kp_conf_invalid(cf, cf->args[1]);
    *KP_CONF_PUSH(cf->arena, *list, *n) = kp_conf_join(cf->arena, cf->conf_dir, cf->args[1]);
    if (key)
        ssl->where = kp_http_ssl_where(cf);
    return 0;
}

/* ssl_protocols [SSLv2] [SSLv3] [TLSv1] [TLSv1.1] [TLSv1.2] [TLSv1.3] */
static int protocols(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"SSLv2", 0},
                 {"SSLv3", 0},
                 {"TLSv1", KP_SSL_TLSv1},
                 {"TLSv1.1", KP_SSL_TLSv1_1},
                 {"TLSv1.2", KP_SSL_TLSv1_2},
                 {"TLSv1.3", KP_SSL_TLSv1_3}};
    struct kp_http_ssl_conf *ssl = &((struct kp_http_srv_conf *)conf)->ssl;
    unsigned bits = 0;

    (void)cmd;
    for (size_t i = 1; i < cf->nargs; i++) {
        size_t j = 0;
        while (j < sizeof(names) / sizeof(names[0]) && strcmp(names[j].name, cf->args[i]) != 0)
            j++;
        if (j == sizeof(names) / sizeof(names[0]))
            return kp_conf_invalid(cf, cf->args[i]);
        bits |= names[j].bit; /* SSLv2 and SSLv3 are accepted and never enabled */
    }
    ssl->protocols = bits;
    return 0;
}

static int conf_path(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cmd;
    ((struct kp_http_srv_conf *)conf)->ssl.dhparam =
        kp_conf_join(cf->arena, cf->conf_dir, cf->args[1]);
    return 0;
}

/* ssl_password_file FILE: one passphrase a line, tried in turn for every key. */
static int password_file(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_ssl_conf *ssl = &((struct kp_http_srv_conf *)conf)->ssl;
    char *path = kp_conf_join(cf->arena, cf->conf_dir, cf->args[1]);
    char line[1024];

    (void)cmd;
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return kp_conf_error(cf, "open() \"%s\" failed (%d: %s)", path, errno, strerror(errno));
    ssl->passwords = NULL;
    ssl->n_passwords = 0;
    while (fgets(line, sizeof(line), f) != NULL && ssl->n_passwords < MAX_PASSWORDS) {
        line[strcspn(line, "\r\n")] = '\0';
        *KP_CONF_PUSH(cf->arena, ssl->passwords, ssl->n_passwords) =
            kp_conf_strdup(cf->arena, line);
    }
    fclose(f);
    if (ssl->n_passwords == 0)
        return kp_conf_error(cf, "empty file \"%s\"", path);
    return 0;
}

static int conf_command(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_ssl_conf *ssl = &((struct kp_http_srv_conf *)conf)->ssl;

    if (!kp_conf_field_seen(cf, cmd)) {
        ssl->conf_commands = NULL;
        ssl->n_conf_commands = 0;
    }
    for (size_t i = 1; i <= 2; i++)
        *KP_CONF_PUSH(cf->arena, ssl->conf_commands, ssl->n_conf_commands) =
            kp_conf_strdup(cf->arena, cf->args[i]);
    return 0;
}

/* shared:NAME:SIZE; the zone must hold a few sessions. */
static int shared_cache(struct kp_conf *cf, struct kp_http_ssl_conf *ssl, const char *a)
{
    const char *name = a + 7, *colon = strrchr(name, ':');
    uint64_t size;

    if (colon == NULL || colon == name || (size_t)(colon - name) >= 64 ||
        kp_conf_parse_size(colon + 1, SHARED_MAX, &size) != 0)
        return kp_conf_invalid(cf, a);
    if (size < SHARED_MIN)
        return kp_conf_error(cf, "zone \"%.*s\" is too small in \"%s\"", (int)(colon - name), name,
                             a);
    ssl->session_cache |= KP_SSL_CACHE_SHARED;
    ssl->shared_name = kp_arena_strndup(cf->arena, name, (size_t)(colon - name));
    ssl->shared_size = (size_t)size;
    return 0;
}

/* ssl_session_cache off | none | [builtin[:SIZE]] [shared:NAME:SIZE] */
static int session_cache(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_ssl_conf *ssl = &((struct kp_http_srv_conf *)conf)->ssl;
    const char *a = cf->args[1];
    uint64_t size = 20480;

    (void)cmd;
    ssl->session_cache = 0;
    ssl->shared_name = NULL;
    if (cf->nargs == 2 && (strcmp(a, "off") == 0 || strcmp(a, "none") == 0)) {
        ssl->session_cache = a[0] == 'o' ? KP_SSL_CACHE_OFF : 0;
        return 0;
    }
    for (size_t i = 1; i < cf->nargs; i++) {
        a = cf->args[i];
        if (strncmp(a, "shared:", 7) == 0) {
            int rc = shared_cache(cf, ssl, a);
            if (rc != 0)
                return rc;
            continue;
        }
        if (strcmp(a, "builtin") != 0 &&
            (strncmp(a, "builtin:", 8) != 0 ||
             kp_conf_parse_num(a + 8, SESSION_CACHE_MAX, &size) != 0 || size == 0))
            return kp_conf_invalid(cf, a);
        ssl->session_cache |= KP_SSL_CACHE_BUILTIN;
        ssl->session_cache_size = (size_t)size;
    }
    return 0;
}

/* ssl_session_ticket_key FILE, as nginx reads it: 80 bytes (name, 32-byte
 * HMAC key, AES-256 key) or 48 bytes (name, 16-byte HMAC key, AES-128
 * key); the first one encrypts, all of them decrypt. */
static int ticket_key(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_ssl_conf *ssl = &((struct kp_http_srv_conf *)conf)->ssl;
    char *path = kp_conf_join(cf->arena, cf->conf_dir, cf->args[1]);
    uint8_t buf[81];

    if (!kp_conf_field_seen(cf, cmd)) {
        ssl->ticket_keys = NULL;
        ssl->n_ticket_keys = 0;
    }
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return kp_conf_error(cf, "open() \"%s\" failed (%d: %s)", path, errno, strerror(errno));
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n != 80 && n != 48)
        return kp_conf_error(cf, "\"%s\" must be 48 or 80 bytes", path);
    struct kp_ssl_ticket_key *k = KP_CONF_PUSH(cf->arena, ssl->ticket_keys, ssl->n_ticket_keys);
    size_t half = (n - 16) / 2;
    memcpy(k->name, buf, 16);
    memcpy(k->hmac, buf + 16, half);
    memcpy(k->aes, buf + 16 + half, half);
    k->short_keys = n == 48;
    k->created = 1;
    return 0;
}

/* ssl_verify_client on | off | optional | optional_no_ca */
static int verify_client(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    static const char *const names[] = {"off", "on", "optional", "optional_no_ca"};
    struct kp_http_ssl_conf *ssl = &((struct kp_http_srv_conf *)conf)->ssl;

    (void)cmd;
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(cf->args[1], names[i]) == 0) {
            ssl->verify_client = i;
            return 0;
        }
    }
    return kp_conf_invalid(cf, cf->args[1]);
}

/* A CA or OCSP file, relative to the configuration's directory. */
static int ssl_file(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    char **field = (char **)((char *)conf + cmd->offset);

    *field = kp_conf_join(cf->arena, cf->conf_dir, cf->args[1]);
    return 0;
}

static int early_data(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    bool on;

    (void)cmd;
    (void)conf;
    if (kp_conf_parse_flag(cf->args[1], &on) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    if (on)
        return kp_conf_error(cf, "\"ssl_early_data on\" is not supported: requests sent in "
                                 "0-RTT data could be replayed");
    return 0;
}

const struct kp_conf_cmd kp_http_ssl_conf_cmds[] = {
    {"ssl_certificate", HTTP_SRV, KP_CONF_TAKE(1), KP_CONF_MULTI, certificate,
     SSL_SPAN(certs, n_certs)},
    {"ssl_certificate_key", HTTP_SRV, KP_CONF_TAKE(1), KP_CONF_MULTI, certificate,
     SSL_SPAN(keys, where)},
    {"ssl_protocols", HTTP_SRV, KP_CONF_1MORE, 0, protocols, SSL_FIELD(protocols)},
    {"ssl_ciphers", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_str, SSL_FIELD(ciphers)},
    {"ssl_prefer_server_ciphers", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     SSL_FIELD(prefer_server_ciphers)},
    {"ssl_ecdh_curve", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_str, SSL_FIELD(ecdh_curve)},
    {"ssl_dhparam", HTTP_SRV, KP_CONF_TAKE(1), 0, conf_path, SSL_FIELD(dhparam)},
    {"ssl_password_file", HTTP_SRV, KP_CONF_TAKE(1), 0, password_file,
     SSL_SPAN(passwords, n_passwords)},
    {"ssl_conf_command", HTTP_SRV, KP_CONF_TAKE(2), KP_CONF_MULTI, conf_command,
     SSL_SPAN(conf_commands, n_conf_commands)},
    {"ssl_session_tickets", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     SSL_FIELD(session_tickets)},
    {"ssl_session_timeout", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_msec,
     SSL_FIELD(session_timeout_ms)},
    {"ssl_session_cache", HTTP_SRV, KP_CONF_RANGE(1, 2), 0, session_cache,
     SSL_SPAN(session_cache, shared_size)},
    {"ssl_session_ticket_key", HTTP_SRV, KP_CONF_TAKE(1), KP_CONF_MULTI, ticket_key,
     SSL_SPAN(ticket_keys, n_ticket_keys)},
    {"ssl_verify_client", HTTP_SRV, KP_CONF_TAKE(1), 0, verify_client, SSL_FIELD(verify_client)},
    {"ssl_verify_depth", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_num, SSL_FIELD(verify_depth)},
    {"ssl_client_certificate", HTTP_SRV, KP_CONF_TAKE(1), 0, ssl_file,
     SSL_FIELD(client_certificate)},
    {"ssl_trusted_certificate", HTTP_SRV, KP_CONF_TAKE(1), 0, ssl_file,
     SSL_FIELD(trusted_certificate)},
    {"ssl_stapling", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_flag, SSL_FIELD(stapling)},
    {"ssl_stapling_file", HTTP_SRV, KP_CONF_TAKE(1), 0, ssl_file, SSL_FIELD(stapling_file)},
    {"ssl_reject_handshake", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     SSL_FIELD(reject_handshake)},
    {"ssl_early_data", HTTP_SRV, KP_CONF_TAKE(1), 0, early_data, SSL_FIELD(early_data)},
    {"ssl_buffer_size", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_size, SSL_FIELD(buffer_size)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};

static struct kp_str ssl_value(const struct kp_http_request *r, enum kp_http_ssl_var which,
                               char *buf)
{
    return r->hc != NULL && r->hc->c != NULL ? kp_http_ssl_var(r->hc->c, which, buf) : KP_STR_NULL;
}

#define SSL_GETTER(fn, which)                                                                      \
    static struct kp_str fn(struct kp_http_request *r, const struct kp_http_var_ref *ref,          \
                            char *buf)                                                             \
    {                                                                                              \
        (void)ref;                                                                                 \
        return ssl_value(r, which, buf);                                                           \
    }
SSL_GETTER(v_protocol, KP_SSL_VAR_PROTOCOL)
SSL_GETTER(v_cipher, KP_SSL_VAR_CIPHER)
SSL_GETTER(v_server_name, KP_SSL_VAR_SERVER_NAME)
SSL_GETTER(v_session_reused, KP_SSL_VAR_SESSION_REUSED)

SSL_GETTER(v_client_verify, KP_SSL_VAR_CLIENT_VERIFY)

static struct kp_str ssl_more(struct kp_http_request *r, enum kp_http_ssl_more which)
{
    return r->hc != NULL && r->hc->c != NULL ? kp_http_ssl_more(r->hc->c, which, &r->arena)
                                             : KP_STR_NULL;
}

#define SSL_MORE_GETTER(fn, which)                                                                 \
    static struct kp_str fn(struct kp_http_request *r, const struct kp_http_var_ref *ref,          \
                            char *buf)                                                             \
    {                                                                                              \
        (void)ref;                                                                                 \
        (void)buf;                                                                                 \
        return ssl_more(r, which);                                                                 \
    }
SSL_MORE_GETTER(v_session_id, KP_SSL_MORE_SESSION_ID)
SSL_MORE_GETTER(v_alpn, KP_SSL_MORE_ALPN)
SSL_MORE_GETTER(v_curve, KP_SSL_MORE_CURVE)
SSL_MORE_GETTER(v_curves, KP_SSL_MORE_CURVES)
SSL_MORE_GETTER(v_ciphers, KP_SSL_MORE_CIPHERS)
SSL_MORE_GETTER(v_early_data, KP_SSL_MORE_EARLY_DATA)
SSL_MORE_GETTER(v_s_dn, KP_SSL_MORE_S_DN)
SSL_MORE_GETTER(v_i_dn, KP_SSL_MORE_I_DN)
SSL_MORE_GETTER(v_s_dn_legacy, KP_SSL_MORE_S_DN_LEGACY)
SSL_MORE_GETTER(v_i_dn_legacy, KP_SSL_MORE_I_DN_LEGACY)
SSL_MORE_GETTER(v_serial, KP_SSL_MORE_SERIAL)
SSL_MORE_GETTER(v_fingerprint, KP_SSL_MORE_FINGERPRINT)
SSL_MORE_GETTER(v_v_start, KP_SSL_MORE_V_START)
SSL_MORE_GETTER(v_v_end, KP_SSL_MORE_V_END)
SSL_MORE_GETTER(v_v_remain, KP_SSL_MORE_V_REMAIN)
SSL_MORE_GETTER(v_raw_cert, KP_SSL_MORE_RAW_CERT)
SSL_MORE_GETTER(v_cert, KP_SSL_MORE_CERT)
SSL_MORE_GETTER(v_escaped_cert, KP_SSL_MORE_ESCAPED_CERT)

const struct kp_http_var_def kp_http_ssl_vars[] = {
    {"ssl_client_verify", v_client_verify, 0, 0, NULL, NULL},
    {"ssl_protocol", v_protocol, 0, 0, NULL, NULL},
    {"ssl_cipher", v_cipher, 0, 0, NULL, NULL},
    {"ssl_server_name", v_server_name, 0, 0, NULL, NULL},
    {"ssl_session_reused", v_session_reused, 0, 0, NULL, NULL},
    {"ssl_session_id", v_session_id, 0, 0, NULL, NULL},
    {"ssl_alpn_protocol", v_alpn, 0, 0, NULL, NULL},
    {"ssl_curve", v_curve, 0, 0, NULL, NULL},
    {"ssl_curves", v_curves, 0, 0, NULL, NULL},
    {"ssl_ciphers", v_ciphers, 0, 0, NULL, NULL},
    {"ssl_early_data", v_early_data, 0, 0, NULL, NULL},
    {"ssl_client_s_dn", v_s_dn, 0, 0, NULL, NULL},
    {"ssl_client_i_dn", v_i_dn, 0, 0, NULL, NULL},
    {"ssl_client_s_dn_legacy", v_s_dn_legacy, 0, 0, NULL, NULL},
    {"ssl_client_i_dn_legacy", v_i_dn_legacy, 0, 0, NULL, NULL},
    {"ssl_client_serial", v_serial, 0, 0, NULL, NULL},
    {"ssl_client_fingerprint", v_fingerprint, 0, 0, NULL, NULL},
    {"ssl_client_v_start", v_v_start, 0, 0, NULL, NULL},
    {"ssl_client_v_end", v_v_end, 0, 0, NULL, NULL},
    {"ssl_client_v_remain", v_v_remain, 0, 0, NULL, NULL},
    {"ssl_client_raw_cert", v_raw_cert, 0, 0, NULL, NULL},
    {"ssl_client_cert", v_cert, 0, 0, NULL, NULL},
    {"ssl_client_escaped_cert", v_escaped_cert, 0, 0, NULL, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};

/* The zones shared between configurations are matched by name and size. */
static struct kp_ssl_zone *same_zone(const struct kp_http_conf *http, const struct kp_ssl_zone *z)
{
    for (size_t i = 0; i < http->n_ssl_zones; i++) {
        const struct kp_ssl_zone *o = http->ssl_zones[i];
        if (strcmp(kp_ssl_zone_name(o), kp_ssl_zone_name(z)) == 0 &&
            kp_ssl_zone_size(o) == kp_ssl_zone_size(z))
            return http->ssl_zones[i];
    }
    return NULL;
}

void kp_http_ssl_adopt(struct kp_http_conf *http, struct kp_arena *a,
                       const struct kp_http_conf *old)
{
    for (size_t i = 0; i < http->n_ssl_zones; i++) {
        struct kp_ssl_zone *fresh = http->ssl_zones[i], *o = same_zone(old, fresh);
        if (o == NULL)
            continue;
        kp_ssl_zone_adopt(a, &http->ssl_zones[i], o);
        for (size_t j = 0; j < http->n_servers; j++) {
            struct kp_http_ssl_conf *ssl = &http->servers[j]->ssl;
            ssl->zone = ssl->zone == fresh ? o : ssl->zone;
            ssl->tickets = ssl->tickets == fresh ? o : ssl->tickets;
        }
    }
}

#if KP_HAVE_SSL

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <time.h>

bool kp_http_ssl_available(void)
{
    return true;
}

void kp_http_ssl_version(char *buf, size_t len)
{
    const char *run = OpenSSL_version(OPENSSL_VERSION);

    if (strcmp(run, OPENSSL_VERSION_TEXT) == 0)
        snprintf(buf, len, "built with %s", OPENSSL_VERSION_TEXT);
    else
        snprintf(buf, len, "built with %s (running with %s)", OPENSSL_VERSION_TEXT, run);
}

void kp_http_ssl_build_version(char *buf, size_t len)
{
    /* OPENSSL_VERSION_TEXT is "OpenSSL 3.0.13 30 Jan 2024": the word after
     * the first space. */
    const char *text = OPENSSL_VERSION_TEXT, *sp = strchr(text, ' ');
    const char *v = sp != NULL ? sp + 1 : text;

    snprintf(buf, len, "%.*s", (int)strcspn(v, " "), v);
}

/* One error line: the message, OpenSSL's last reason, then where. */
__attribute__((format(printf, 3, 4))) static int fail(struct kp_conf *cf, const char *where,
                                                      const char *fmt, ...)
{
    char reason[256] = "";
    unsigned long e = ERR_peek_last_error();
    va_list ap;

    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    va_start(ap, fmt);
    int n = vsnprintf(cf->err, cf->errlen, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used < cf->errlen)
        snprintf(cf->err + used, cf->errlen - used, "%s%s%s%s", e != 0 ? " (SSL: " : "", reason,
                 e != 0 ? ")" : "", where != NULL ? where : "");
    return -EINVAL;
}

static void ctx_free(void *data)
{
    SSL_CTX_free(data);
}

static void cipher_free(void *data)
{
    EVP_CIPHER_free(data);
}

/* Move the connection to the context of the server its SNI names. */
/* The server whose settings a handshake runs under: the one named by SNI,
 * or without SNI the address's default server. The router is the worker's
 * and never changes under a connection, so asking again later gives the
 * same server the servername callback chose. */
static const struct kp_http_srv_conf *handshake_server(const struct kp_conn *c, const char *name)
{
    const struct kp_http_addr *addr = kp_http_addr_of(c->ls);

    return name != NULL ? kp_http_router_server(addr, kp_str_from(name), NULL)
                        : addr->default_server;
}

/* A TLS 1.3 session carries the verify result of the server it was made
 * with; resumed under another name, it would pass that server's client
 * certificate check off as this one's. A server that verifies refuses it. */
static bool resumed_elsewhere(const SSL *ssl, const struct kp_http_srv_conf *srv, const char *name)
{
    if (srv->ssl.verify_client == KP_SSL_VERIFY_OFF)
        return false;
    const char *made_for = SSL_SESSION_get0_hostname(SSL_get0_session(ssl));
    return made_for != NULL && strcasecmp(made_for, name) != 0;
}

static int on_servername(SSL *ssl, int *alert, void *arg)
{
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const struct kp_conn *c = kp_tls_app(ssl);

    (void)arg;
    if (c == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    const struct kp_http_srv_conf *srv = handshake_server(c, name);
    if (srv->ssl.reject_handshake) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (name == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    if (resumed_elsewhere(ssl, srv, name)) {
        *alert = SSL_AD_ACCESS_DENIED;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_CTX *ctx = srv->ssl.ctx;
    if (ctx != NULL && ctx != SSL_get_SSL_CTX(ssl)) {
        SSL_set_SSL_CTX(ssl, ctx);
        /* SSL_set_SSL_CTX switches certificates only: the options (protocols,
         * tickets, cipher preference) follow the chosen server too. */
        SSL_clear_options(ssl, SSL_get_options(ssl) ^ SSL_CTX_get_options(ctx));
        SSL_set_options(ssl, SSL_CTX_get_options(ctx));
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
        SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 first, else http/1.0 (what `curl --http1.0` offers alone,
 * accepted by nginx too); a client that offers only other protocols (h2
 * alone, say) is refused with no_application_protocol. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1\x08http/1.0";
    unsigned char *sel;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* --- sessions and tickets shared by the workers (ssl_cache.h) ------------------- */

static const struct kp_http_ssl_conf *conf_of(const SSL *s)
{
    return SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
}

static int on_new_session(SSL *s, SSL_SESSION *sess)
{
    const struct kp_http_ssl_conf *ssl = conf_of(s);
    unsigned char der[KP_SSL_SLOT_DER], *p = der;
    unsigned id_len;
    const unsigned char *id = SSL_SESSION_get_id(sess, &id_len);
    int len = i2d_SSL_SESSION(sess, NULL);

    if (ssl == NULL || ssl->zone == NULL || len <= 0 || len > KP_SSL_SLOT_DER)
        return 0; /* too large for a slot: resumed by ticket or not at all */
    i2d_SSL_SESSION(sess, &p);
    uint64_t now = (uint64_t)time(NULL);
    kp_ssl_zone_put(ssl->zone, id, id_len, der, (size_t)len,
                    now + (uint64_t)SSL_SESSION_get_timeout(sess), now);
    return 0; /* OpenSSL keeps its reference: we copied the session */
}

static SSL_SESSION *on_get_session(SSL *s, const unsigned char *id, int len, int *copy)
{
    const struct kp_http_ssl_conf *ssl = conf_of(s);
    unsigned char der[KP_SSL_SLOT_DER];

    *copy = 0;
    if (ssl == NULL || ssl->zone == NULL || len <= 0)
        return NULL;
    size_t n = kp_ssl_zone_get(ssl->zone, id, (size_t)len, der, (uint64_t)time(NULL));
    const unsigned char *p = der;
    return n > 0 ? d2i_SSL_SESSION(NULL, &p, (long)n) : NULL;
}

static void on_remove_session(SSL_CTX *ctx, SSL_SESSION *sess)
{
    const struct kp_http_ssl_conf *ssl = SSL_CTX_get_app_data(ctx);
    unsigned id_len;
    const unsigned char *id = SSL_SESSION_get_id(sess, &id_len);

    if (ssl != NULL && ssl->zone != NULL)
        kp_ssl_zone_remove(ssl->zone, id, id_len);
}

/* The key named name among ssl_session_ticket_key's: 1 for the first, 2
 * for another (renew the ticket), 0 for none. */
static int static_key(const struct kp_http_ssl_conf *ssl, const unsigned char *name,
                      struct kp_ssl_ticket_key *k)
{
    for (size_t i = 0; i < ssl->n_ticket_keys; i++) {
        if (memcmp(ssl->ticket_keys[i].name, name, 16) == 0) {
            *k = ssl->ticket_keys[i];
            return i == 0 ? 1 : 2;
        }
    }
    return 0;
}

static const EVP_CIPHER *ticket_cipher(const struct kp_http_ssl_conf *ssl,
                                       const struct kp_ssl_ticket_key *k)
{
    return k->short_keys ? EVP_aes_128_cbc() : ssl->ticket_cipher;
}

/* Session tickets with the configured keys, else the zone's rotating ones:
 * AES-256-CBC and HMAC-SHA256, as OpenSSL's own tickets. */
static int on_ticket(SSL *s, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
                     EVP_MAC_CTX *hctx, int enc)
{
    const struct kp_http_ssl_conf *ssl = conf_of(s);
    struct kp_ssl_ticket_key k;
    char digest[] = "SHA256";
    int rc = 1;

    if (ssl == NULL || (ssl->n_ticket_keys == 0 && ssl->tickets == NULL))
        return enc ? -1 : 0;
    if (enc) {
        uint64_t period = ssl->session_timeout_ms / 1000 > 60 ? ssl->session_timeout_ms / 1000 : 60;
        if (ssl->n_ticket_keys > 0)
            k = ssl->ticket_keys[0];
        else
            kp_ssl_zone_ticket_key(ssl->tickets, (uint64_t)time(NULL), period, &k);
        memcpy(name, k.name, 16);
        if (RAND_bytes(iv, 16) != 1 ||
            EVP_EncryptInit_ex(ectx, ticket_cipher(ssl, &k), NULL, k.aes, iv) != 1)
            return -1;
    } else {
        rc = ssl->n_ticket_keys > 0 ? static_key(ssl, name, &k)
                                    : kp_ssl_zone_find_key(ssl->tickets, name, &k);
        if (rc == 0)
            return 0; /* an unknown key: a full handshake */
        /* TLS 1.3 clients use a ticket once (RFC 8446 C.4; OpenSSL's client
         * does): without a new one after each resumption every other
         * connection of theirs is a full handshake. OpenSSL's own keys and
         * nginx renew under TLS 1.3 too. */
        if (SSL_version(s) == TLS1_3_VERSION)
            rc = 2;
        if (EVP_DecryptInit_ex(ectx, ticket_cipher(ssl, &k), NULL, k.aes, iv) != 1)
            return -1;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac,
                                          k.short_keys ? 16 : sizeof(k.hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? rc : -1;
}

/* The zone named name of this configuration, made on first use. */
static int zone_for(struct kp_conf *cf, const struct kp_http_ssl_conf *ssl, const char *name,
                    size_t size, struct kp_ssl_zone **out)
{
    struct kp_http_conf *http = kp_http_conf_of(cf);

    for (size_t i = 0; i < http->n_ssl_zones; i++) {
        struct kp_ssl_zone *z = http->ssl_zones[i];
        if (strcmp(kp_ssl_zone_name(z), name) != 0)
            continue;
        if (size != 0 && kp_ssl_zone_size(z) != size)
            return fail(cf, ssl->where,
                        "the size %zu of shared memory zone \"%s\" conflicts with already "
                        "declared size %zu",
                        size, name, kp_ssl_zone_size(z));
        *out = z;
        return 0;
    }
    struct kp_ssl_zone *z = kp_ssl_zone_new(cf->arena, name, size);
    if (z == NULL)
        return fail(cf, ssl->where, "cannot map shared memory zone \"%s\" of %zu bytes (%s)", name,
                    size, strerror(errno));
    *KP_CONF_PUSH(cf->arena, http->ssl_zones, http->n_ssl_zones) = z;
    *out = z;
    return 0;
}

/* The shared cache and the rotating ticket keys of a server. */
static int shared_state(struct kp_conf *cf, SSL_CTX *ctx, struct kp_http_ssl_conf *ssl)
{
    int rc = 0;

    SSL_CTX_set_app_data(ctx, ssl);
    if (ssl->session_cache & KP_SSL_CACHE_SHARED) {
        rc = zone_for(cf, ssl, ssl->shared_name, ssl->shared_size, &ssl->zone);
        long mode = SSL_SESS_CACHE_SERVER;
        mode |= (ssl->session_cache & KP_SSL_CACHE_BUILTIN) ? 0 : SSL_SESS_CACHE_NO_INTERNAL;
        SSL_CTX_set_session_cache_mode(ctx, mode);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
        SSL_CTX_sess_set_get_cb(ctx, on_get_session);
        SSL_CTX_sess_set_remove_cb(ctx, on_remove_session);
    }
    if (rc != 0 || !ssl->session_tickets)
        return rc;
    /* Ticket keys live in the server's cache zone, or in the one zone
     * every TLS configuration has for them. */
    if (ssl->zone != NULL)
        ssl->tickets = ssl->zone;
    else if (ssl->n_ticket_keys == 0)
        rc = zone_for(cf, ssl, "", 0, &ssl->tickets);
    /* Fetched once: the legacy EVP_aes_256_cbc() is looked up by name in
     * the provider store on every use (each ticket). */
    ssl->ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (ssl->ticket_cipher == NULL)
        return fail(cf, ssl->where, "EVP_CIPHER_fetch(\"AES-256-CBC\") failed");
    kp_arena_cleanup_add(cf->arena, cipher_free, ssl->ticket_cipher);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket);
    return rc;
}

/* --- client certificates and stapling ----------------------------------------------- */

/* The handshake goes on whatever the client's certificate: the request is
 * answered 400 afterwards (kp_http_ssl_verify_result), as nginx does. */
static int on_verify(int ok, X509_STORE_CTX *store)
{
    (void)ok;
    (void)store;
    return 1;
}

static int client_certificates(struct kp_conf *cf, SSL_CTX *ctx, struct kp_http_ssl_conf *ssl)
{
    const char *ca = ssl->client_certificate, *trusted = ssl->trusted_certificate;

    if (ssl->verify_client == KP_SSL_VERIFY_OFF)
        return 0;
    if (ca == NULL && trusted == NULL && ssl->verify_client != KP_SSL_VERIFY_OPTIONAL_NO_CA)
        return fail(cf, ssl->where,
                    "no ssl_client_certificate or ssl_trusted_certificate for "
                    "ssl_verify_client");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
    SSL_CTX_set_verify_depth(ctx, (int)ssl->verify_depth);
    const char *files[] = {ca, trusted};
    for (size_t i = 0; i < 2; i++) {
        if (files[i] != NULL && SSL_CTX_load_verify_locations(ctx, files[i], NULL) != 1)
            return fail(cf, ssl->where, "SSL_CTX_load_verify_locations(\"%s\") failed", files[i]);
    }
    if (ca != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
        if (names == NULL)
            return fail(cf, ssl->where, "SSL_load_client_CA_file(\"%s\") failed", ca);
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    return 0;
}

static int on_status(SSL *s, void *arg)
{
    const struct kp_http_ssl_conf *ssl = conf_of(s);

    (void)arg;
    if (ssl == NULL || ssl->stapling_der == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *copy = OPENSSL_memdup(ssl->stapling_der, ssl->stapling_len);
    if (copy == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    SSL_set_tlsext_status_ocsp_resp(s, copy, (long)ssl->stapling_len); /* takes copy */
    return SSL_TLSEXT_ERR_OK;
}

/* ssl_stapling with ssl_stapling_file: the DER response is read now and
 * stapled as it is; kelpie never asks an OCSP responder itself. Without the
 * file, stapling is ignored with a warning, as nginx ignores it for a
 * certificate it cannot fetch a response for, and the site still loads. */
static int stapling(struct kp_conf *cf, SSL_CTX *ctx, struct kp_http_ssl_conf *ssl)
{
    unsigned char buf[65536];

    if (ssl->stapling_file == NULL) {
        struct kp_http_conf *http = kp_http_conf_of(cf);
        fail(cf, ssl->where,
             "\"ssl_stapling\" ignored, no \"ssl_stapling_file\": kelpie does not fetch OCSP "
             "responses");
        *KP_CONF_PUSH(cf->arena, http->warnings, http->n_warnings) =
            kp_conf_strdup(cf->arena, cf->err);
        cf->err[0] = '\0';
        return 0;
    }
    FILE *f = fopen(ssl->stapling_file, "re");
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f != NULL)
        fclose(f);
    if (n == 0 || n == sizeof(buf))
        return fail(cf, ssl->where, "cannot read an OCSP response from \"%s\"", ssl->stapling_file);
    ssl->stapling_der = kp_arena_alloc(cf->arena, n);
    memcpy(ssl->stapling_der, buf, n);
    ssl->stapling_len = n;
    SSL_CTX_set_tlsext_status_cb(ctx, on_status);
    return 0;
}

static long protocol_options(unsigned p)
{
    long o = 0;

    o |= (p & KP_SSL_TLSv1) ? 0 : SSL_OP_NO_TLSv1;
    o |= (p & KP_SSL_TLSv1_1) ? 0 : SSL_OP_NO_TLSv1_1;
    o |= (p & KP_SSL_TLSv1_2) ? 0 : SSL_OP_NO_TLSv1_2;
    o |= (p & KP_SSL_TLSv1_3) ? 0 : SSL_OP_NO_TLSv1_3;
    return o | SSL_OP_NO_SSLv3;
}

/* A private key, trying each ssl_password_file line when it is encrypted. */
static EVP_PKEY *load_key(const struct kp_http_ssl_conf *ssl, const char *path)
{
    size_t tries = ssl->n_passwords > 0 ? ssl->n_passwords : 1;

    for (size_t i = 0; i < tries; i++) {
        BIO *bio = BIO_new_file(path, "r");
        if (bio == NULL)
            return NULL;
        /* An empty passphrase: an encrypted key fails instead of prompting. */
        char *pass = ssl->n_passwords > 0 ? ssl->passwords[i] : "";
        EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, pass);
        BIO_free(bio);
        if (key != NULL) {
            ERR_clear_error();
            return key;
        }
    }
    return NULL;
}

/* Certificate (with its chain) and key number i; the key must match. */
static int load_pair(struct kp_conf *cf, SSL_CTX *ctx, const struct kp_http_ssl_conf *ssl, size_t i)
{
    const char *cert = ssl->certs[i], *key = ssl->keys[i];

    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return fail(cf, ssl->where, "cannot load certificate \"%s\"", cert);
    EVP_PKEY *pkey = load_key(ssl, key);
    if (pkey == NULL)
        return fail(cf, ssl->where, "cannot load certificate key \"%s\"", key);
    /* OpenSSL keeps one certificate per key type and checks a key only
     * against the certificate of its own type: an RSA certificate given an
     * EC key would go unnoticed, so compare with the one just loaded. */
    int ok = X509_check_private_key(SSL_CTX_get0_certificate(ctx), pkey) == 1 &&
             SSL_CTX_use_PrivateKey(ctx, pkey) == 1;
    EVP_PKEY_free(pkey);
    if (!ok)
        return fail(cf, ssl->where, "SSL_CTX_use_PrivateKey(\"%s\") failed", key);
    return 0;
}

/* A certificate whose file holds no chain is sent with the chain OpenSSL
 * finds in the context's store (the CAs of ssl_client_certificate and
 * ssl_trusted_certificate). OpenSSL would look for it again in every
 * handshake (a certificate verification each time); the store does not
 * change after loading, so build each chain once here and turn the per-
 * handshake search off. A chain that does not verify is kept as far as it
 * goes, as the per-handshake search did. */
static int build_chains(struct kp_conf *cf, SSL_CTX *ctx, const struct kp_http_ssl_conf *ssl)
{
    long flags = SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR | SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR;

    for (int more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); more == 1;
         more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT)) {
        STACK_OF(X509) *chain = NULL;
        SSL_CTX_get0_chain_certs(ctx, &chain);
        if (chain == NULL && SSL_CTX_build_cert_chain(ctx, flags) <= 0)
            return fail(cf, ssl->where, "SSL_CTX_build_cert_chain() failed");
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
    ERR_clear_error();
    return 0;
}

static int load_dhparam(struct kp_conf *cf, SSL_CTX *ctx, const struct kp_http_ssl_conf *ssl)
{
    BIO *bio = BIO_new_file(ssl->dhparam, "r");
    EVP_PKEY *dh = bio != NULL ? PEM_read_bio_Parameters(bio, NULL) : NULL;

    BIO_free(bio);
    if (dh == NULL || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
        EVP_PKEY_free(dh);
        return fail(cf, ssl->where, "cannot load DH parameters from \"%s\"", ssl->dhparam);
    }
    return 0;
}

static int conf_commands(struct kp_conf *cf, SSL_CTX *ctx, const struct kp_http_ssl_conf *ssl)
{
    SSL_CONF_CTX *cctx = SSL_CONF_CTX_new();
    int rc = 0;

    SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE | SSL_CONF_FLAG_SERVER |
                                     SSL_CONF_FLAG_CERTIFICATE | SSL_CONF_FLAG_SHOW_ERRORS);
    SSL_CONF_CTX_set_ssl_ctx(cctx, ctx);
    for (size_t i = 0; i + 1 < ssl->n_conf_commands && rc == 0; i += 2) {
        const char *name = ssl->conf_commands[i], *value = ssl->conf_commands[i + 1];
        if (SSL_CONF_cmd(cctx, name, value) <= 0)
            rc = fail(cf, ssl->where, "SSL_CONF_cmd(\"%s\", \"%s\") failed", name, value);
    }
    if (rc == 0 && SSL_CONF_CTX_finish(cctx) != 1)
        rc = fail(cf, ssl->where, "SSL_CONF_CTX_finish() failed");
    SSL_CONF_CTX_free(cctx);
    return rc;
}

/* Protocols, ciphers, curves, sessions and callbacks. */
static int ctx_settings(struct kp_conf *cf, SSL_CTX *ctx, const struct kp_http_ssl_conf *ssl)
{
    long opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                protocol_options(ssl->protocols);

    opts |= ssl->prefer_server_ciphers ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0;
    opts |= ssl->session_tickets ? 0 : SSL_OP_NO_TICKET;
    /* Protocols come from ssl_protocols alone, not from openssl.cnf's floor. */
    SSL_CTX_set_min_proto_version(ctx, 0);
    SSL_CTX_set_max_proto_version(ctx, 0);
    SSL_CTX_set_options(ctx, opts);
    /* Partial writes and a moving buffer: the response writer offers the
     * unsent rest again from wherever it keeps it. Released buffers: an idle
     * keep-alive connection holds no 16 KiB record buffers. Read-ahead: one
     * read() takes several records. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);
    /* ssl_buffer_size bounds the records sent, as nginx's buffer does: small
     * records let a client start on the first bytes sooner. OpenSSL takes
     * 512 bytes to 16 KiB. */
    size_t record = ssl->buffer_size < 512     ? 512
                    : ssl->buffer_size > 16384 ? 16384
                                               : ssl->buffer_size;
    SSL_CTX_set_max_send_fragment(ctx, (long)record);
    if (SSL_CTX_set_cipher_list(ctx, ssl->ciphers) != 1)
        return fail(cf, ssl->where, "SSL_CTX_set_cipher_list(\"%s\") failed", ssl->ciphers);
    if (strcmp(ssl->ecdh_curve, "auto") != 0 && SSL_CTX_set1_groups_list(ctx, ssl->ecdh_curve) != 1)
        return fail(cf, ssl->where, "SSL_CTX_set1_curves_list(\"%s\") failed", ssl->ecdh_curve);
    if (ssl->dhparam != NULL && load_dhparam(cf, ctx, ssl) != 0)
        return -EINVAL;
    SSL_CTX_set_timeout(ctx, (long)(ssl->session_timeout_ms / 1000));
    if (ssl->session_cache & KP_SSL_CACHE_BUILTIN) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, (long)ssl->session_cache_size);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    return 0;
}

static void digest_str(EVP_MD_CTX *m, const char *s)
{
    if (s != NULL)
        EVP_DigestUpdate(m, s, strlen(s) + 1);
    else
        EVP_DigestUpdate(m, "", 1);
}

/* Sessions of one server resume only where they mean the same: the context
 * ID is a digest of its certificate files' names and of how it checks client
 * certificates (a session's verify result holds only under the same CAs). */
static void session_id_context(SSL_CTX *ctx, const struct kp_http_ssl_conf *ssl)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new();

    EVP_DigestInit_ex(m, EVP_sha256(), NULL);
    for (size_t i = 0; i < ssl->n_certs; i++)
        digest_str(m, ssl->certs[i]);
    if (ssl->verify_client != KP_SSL_VERIFY_OFF) {
        uint64_t how[2] = {ssl->verify_client, ssl->verify_depth};
        EVP_DigestUpdate(m, how, sizeof(how));
        digest_str(m, ssl->client_certificate);
        digest_str(m, ssl->trusted_certificate);
    }
    EVP_DigestFinal_ex(m, md, &len);
    EVP_MD_CTX_free(m);
    if (len > SSL_MAX_SID_CTX_LENGTH)
        len = SSL_MAX_SID_CTX_LENGTH;
    SSL_CTX_set_session_id_context(ctx, md, len);
}

int kp_http_ssl_build(struct kp_conf *cf, struct kp_http_srv_conf *srv)
{
    struct kp_http_ssl_conf *ssl = &srv->ssl;

    /* A server that only rejects handshakes needs no certificate. */
    if (ssl->n_certs == 0 && !ssl->reject_handshake) {
        if (srv->ssl_listen == NULL)
            return 0;
        return fail(cf, srv->ssl_listen,
                    "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive");
    }
    if (ssl->n_keys != ssl->n_certs)
        return fail(cf, ssl->where != NULL ? ssl->where : srv->ssl_listen,
                    "no \"ssl_certificate_key\" is defined for certificate \"%s\"",
                    ssl->certs[ssl->n_certs - 1]);
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return fail(cf, ssl->where, "SSL_CTX_new() failed");
    kp_arena_cleanup_add(cf->arena, ctx_free, ctx);
    int rc = ctx_settings(cf, ctx, ssl);
    if (rc == 0)
        rc = shared_state(cf, ctx, ssl);
    if (rc == 0)
        rc = client_certificates(cf, ctx, ssl);
    if (rc == 0 && ssl->stapling)
        rc = stapling(cf, ctx, ssl);
    for (size_t i = 0; rc == 0 && i < ssl->n_certs; i++)
        rc = load_pair(cf, ctx, ssl, i);
    if (rc == 0 && ssl->n_conf_commands > 0)
        rc = conf_commands(cf, ctx, ssl);
    if (rc == 0)
        rc = build_chains(cf, ctx, ssl);
    if (rc != 0)
        return rc;
    session_id_context(ctx, ssl);
    ssl->ctx = ctx;
    return 0;
}

int kp_http_ssl_attach(struct kp_conn *c)
{
    const struct kp_http_addr *addr = kp_http_addr_of(c->ls);
    SSL_CTX *ctx = addr->default_server->ssl.ctx;

    /* A default server without certificates on an address another server
     * made `ssl`: start with the first server that has them (SNI may move). */
    for (size_t i = 0; ctx == NULL && i < addr->n_servers; i++)
        ctx = addr->servers[i]->ssl.ctx;
    c->tls = ctx != NULL ? kp_tls_new(ctx, c->io.fd, c) : NULL;
    return c->tls != NULL ? 0 : -ENOMEM;
}

/* Verification errors that mean only "this CA is not known here". */
static bool ca_error(long rc)
{
    return rc == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
           rc == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           rc == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

int kp_http_ssl_verify_result(const struct kp_conn *c, const struct kp_http_srv_conf *srv,
                              char *reason, size_t len)
{
    const SSL *ssl = kp_tls_ssl(c->tls);
    unsigned mode = srv->ssl.verify_client;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const struct kp_http_srv_conf *hs = handshake_server(c, name);

    /* The certificate was checked against the handshake server's CAs: a
     * request for another server that verifies (or sent under a name whose
     * server does) cannot rely on it. */
    if (hs != srv && (mode != KP_SSL_VERIFY_OFF ||
                      (name != NULL && hs->ssl.verify_client != KP_SSL_VERIFY_OFF))) {
        snprintf(reason, len,
                 "client attempted to request the server name different from the one that "
                 "was negotiated");
        return 421; /* Misdirected Request, as nginx answers */
    }
    if (mode == KP_SSL_VERIFY_OFF)
        return 0;
    if (SSL_get0_peer_certificate(ssl) == NULL) {
        if (mode != KP_SSL_VERIFY_ON)
            return 0;
        snprintf(reason, len, "client sent no required SSL certificate");
        return KP_HTTP_SSL_NO_CERT;
    }
    long rc = SSL_get_verify_result(ssl);
    if (rc == X509_V_OK || (mode == KP_SSL_VERIFY_OPTIONAL_NO_CA && ca_error(rc)))
        return 0;
    snprintf(reason, len, "client SSL certificate verify error: (%ld:%s)", rc,
             X509_verify_cert_error_string(rc));
    return KP_HTTP_SSL_CERT_ERROR;
}

static struct kp_str client_verify(const SSL *ssl, char *buf)
{
    long rc = SSL_get_verify_result(ssl);

    if (SSL_get0_peer_certificate(ssl) == NULL)
        return KP_STR("NONE");
    if (rc == X509_V_OK)
        return KP_STR("SUCCESS");
    int n = snprintf(buf, KP_HTTP_VAR_BUF, "FAILED:%s", X509_verify_cert_error_string(rc));
    return (struct kp_str){buf, n < KP_HTTP_VAR_BUF ? (size_t)n : KP_HTTP_VAR_BUF - 1};
}

struct kp_str kp_http_ssl_var(const struct kp_conn *c, enum kp_http_ssl_var which, char *buf)
{
    const SSL *ssl = c->tls != NULL ? kp_tls_ssl(c->tls) : NULL;
    const char *v = NULL;

    if (ssl == NULL)
        return KP_STR("");
    switch (which) {
    case KP_SSL_VAR_CLIENT_VERIFY:
        return client_verify(ssl, buf);
    case KP_SSL_VAR_PROTOCOL:
        v = SSL_get_version(ssl);
        break;
    case KP_SSL_VAR_CIPHER:
        v = SSL_get_cipher_name(ssl);
        break;
    case KP_SSL_VAR_SERVER_NAME:
        v = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        break;
    case KP_SSL_VAR_SESSION_REUSED:
        v = SSL_session_reused(ssl) ? "r" : ".";
        break;
    }
    return v != NULL ? kp_str_from(v) : KP_STR("");
}

/* The bytes a memory BIO holds, copied into a; the BIO is freed. */
static struct kp_str bio_text(BIO *b, struct kp_arena *a)
{
    char *p = NULL;
    long n = b != NULL ? BIO_get_mem_data(b, &p) : 0;
    struct kp_str v = KP_STR_NULL;

    if (n >= 0 && p != NULL)
        v = (struct kp_str){kp_arena_strndup(a, p, (size_t)n), (size_t)n};
    BIO_free(b);
    return v;
}

static struct kp_str hex_of(const unsigned char *p, size_t n, bool upper, struct kp_arena *a)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *out = kp_arena_alloc(a, 2 * n + 1);

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return (struct kp_str){out, 2 * n};
}

/* A group's name as nginx gives it: OpenSSL's short name, else its code. */
static void put_group(BIO *b, int nid)
{
    const char *name = (nid & TLSEXT_nid_unknown) ? NULL : OBJ_nid2sn(nid);

    if (name != NULL)
        BIO_puts(b, name);
    else
        BIO_printf(b, "0x%04x", nid & 0xffff);
}

static struct kp_str curves(SSL *ssl, struct kp_arena *a)
{
    int n = SSL_get1_curves(ssl, NULL);
    BIO *b = BIO_new(BIO_s_mem());

    if (n <= 0 || b == NULL) {
        BIO_free(b);
        return KP_STR_NULL;
    }
    int *ids = kp_arena_alloc(a, (size_t)n * sizeof(*ids));
    SSL_get1_curves(ssl, ids);
    for (int i = 0; i < n; i++) {
        if (i > 0)
            BIO_puts(b, ":");
        put_group(b, ids[i]);
    }
    return bio_text(b, a);
}

/* The client's cipher list as it sent it (signalling values included),
 * unknown ones as their code. */
static struct kp_str ciphers(SSL *ssl, struct kp_arena *a)
{
    const unsigned char *raw = NULL;
    size_t n = SSL_get0_raw_cipherlist(ssl, &raw);
    BIO *b = BIO_new(BIO_s_mem());

    if (n == 0 || raw == NULL || b == NULL) {
        BIO_free(b);
        return KP_STR_NULL;
    }
    for (size_t i = 0; i + 1 < n; i += 2) {
        const SSL_CIPHER *ci = SSL_CIPHER_find(ssl, raw + i);
        if (i > 0)
            BIO_puts(b, ":");
        if (ci != NULL)
            BIO_puts(b, SSL_CIPHER_get_name(ci));
        else
            BIO_printf(b, "0x%02x%02x", raw[i], raw[i + 1]);
    }
    return bio_text(b, a);
}

static struct kp_str session_id(SSL *ssl, struct kp_arena *a)
{
    const SSL_SESSION *sess = SSL_get0_session(ssl);
    unsigned n = 0;
    const unsigned char *id = sess != NULL ? SSL_SESSION_get_id(sess, &n) : NULL;

    return id != NULL ? hex_of(id, n, false, a) : KP_STR_NULL;
}

static struct kp_str dn(const X509_NAME *name, bool legacy, struct kp_arena *a)
{
    if (legacy) {
        char *line = X509_NAME_oneline(name, NULL, 0);
        struct kp_str v =
            line != NULL ? kp_str_from(kp_arena_strndup(a, line, strlen(line))) : KP_STR_NULL;
        OPENSSL_free(line);
        return v;
    }
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(b);
        return KP_STR_NULL;
    }
    return bio_text(b, a);
}

/* The certificate in PEM; with indent, every line after the first starts
 * with a tab and the last newline goes (nginx's $ssl_client_cert). */
static struct kp_str pem(X509 *cert, bool indent, struct kp_arena *a)
{
    BIO *b = BIO_new(BIO_s_mem());

    if (b == NULL || PEM_write_bio_X509(b, cert) == 0) {
        BIO_free(b);
        return KP_STR_NULL;
    }
    struct kp_str v = bio_text(b, a);
    if (!indent || v.len == 0)
        return v;
    size_t lines = 0;
    for (size_t i = 0; i + 1 < v.len; i++)
        lines += v.p[i] == '\n';
    char *out = kp_arena_alloc(a, v.len + lines + 1), *o = out;
    for (size_t i = 0; i + 1 < v.len; i++) {
        *o++ = v.p[i];
        if (v.p[i] == '\n')
            *o++ = '\t';
    }
    *o = '\0';
    return (struct kp_str){out, (size_t)(o - out)};
}

/* PEM percent-encoded as nginx's $ssl_client_escaped_cert: every byte but
 * unreserved ones (RFC 3986) becomes %XX. */
static struct kp_str escaped(struct kp_str v, struct kp_arena *a)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = kp_arena_alloc(a, 3 * v.len + 1), *o = out;

    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c) != NULL) {
            *o++ = (char)c;
            continue;
        }
        *o++ = '%';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
    }
    *o = '\0';
    return (struct kp_str){out, (size_t)(o - out)};
}

static struct kp_str asn1_time(const ASN1_TIME *t, struct kp_arena *a)
{
    BIO *b = BIO_new(BIO_s_mem());

    if (b == NULL || ASN1_TIME_print(b, t) == 0) {
        BIO_free(b);
        return KP_STR_NULL;
    }
    return bio_text(b, a);
}

/* Whole days until the certificate ends (0 once it has). */
static struct kp_str days_left(const X509 *cert, struct kp_arena *a)
{
    int days = 0, secs = 0;
    char *out = kp_arena_alloc(a, 16);

    if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) == 0)
        return KP_STR_NULL;
    if (days < 0 || (days == 0 && secs < 0))
        days = 0;
    return (struct kp_str){out, (size_t)snprintf(out, 16, "%d", days)};
}

static struct kp_str cert_more(X509 *cert, enum kp_http_ssl_more which, struct kp_arena *a)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    BIO *b;

    switch (which) {
    case KP_SSL_MORE_S_DN:
    case KP_SSL_MORE_S_DN_LEGACY:
        return dn(X509_get_subject_name(cert), which == KP_SSL_MORE_S_DN_LEGACY, a);
    case KP_SSL_MORE_I_DN:
    case KP_SSL_MORE_I_DN_LEGACY:
        return dn(X509_get_issuer_name(cert), which == KP_SSL_MORE_I_DN_LEGACY, a);
    case KP_SSL_MORE_SERIAL:
        b = BIO_new(BIO_s_mem());
        if (b == NULL || i2a_ASN1_INTEGER(b, X509_get0_serialNumber(cert)) < 0) {
            BIO_free(b);
            return KP_STR_NULL;
        }
        return bio_text(b, a);
    case KP_SSL_MORE_FINGERPRINT:
        if (X509_digest(cert, EVP_sha1(), md, &n) == 0)
            return KP_STR_NULL;
        return hex_of(md, n, false, a);
    case KP_SSL_MORE_V_START:
        return asn1_time(X509_get0_notBefore(cert), a);
    case KP_SSL_MORE_V_END:
        return asn1_time(X509_get0_notAfter(cert), a);
    case KP_SSL_MORE_V_REMAIN:
        return days_left(cert, a);
    case KP_SSL_MORE_RAW_CERT:
    case KP_SSL_MORE_CERT:
        return pem(cert, which == KP_SSL_MORE_CERT, a);
    case KP_SSL_MORE_ESCAPED_CERT:
        return escaped(pem(cert, false, a), a);
    default:
        return KP_STR_NULL;
    }
}

struct kp_str kp_http_ssl_more(const struct kp_conn *c, enum kp_http_ssl_more which,
                               struct kp_arena *a)
{
    SSL *ssl = c->tls != NULL ? kp_tls_ssl(c->tls) : NULL;
    const unsigned char *alpn = NULL;
    unsigned len = 0;

    if (ssl == NULL)
        return KP_STR_NULL;
    switch (which) {
    case KP_SSL_MORE_SESSION_ID:
        return session_id(ssl, a);
    case KP_SSL_MORE_ALPN:
        SSL_get0_alpn_selected(ssl, &alpn, &len);
        return (struct kp_str){alpn != NULL ? kp_arena_strndup(a, (const char *)alpn, len) : "",
                               alpn != NULL ? len : 0};
    case KP_SSL_MORE_CURVE: {
        BIO *b = BIO_new(BIO_s_mem());
        int nid = SSL_get_negotiated_group(ssl);
        if (b == NULL || nid == 0) {
            BIO_free(b);
            return KP_STR("");
        }
        put_group(b, nid);
        return bio_text(b, a);
    }
    case KP_SSL_MORE_CURVES:
        return curves(ssl, a);
    case KP_SSL_MORE_CIPHERS:
        return ciphers(ssl, a);
    case KP_SSL_MORE_EARLY_DATA:
        return SSL_get_early_data_status(ssl) == SSL_EARLY_DATA_ACCEPTED &&
                       !SSL_is_init_finished(ssl)
                   ? KP_STR("1")
                   : KP_STR("");
    default:
        break;
    }
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL)
        return KP_STR_NULL;
    struct kp_str v = cert_more(cert, which, a);
    X509_free(cert);
    return v;
}

#else /* built without OpenSSL */

bool kp_http_ssl_available(void)
{
    return false;
}

void kp_http_ssl_version(char *buf, size_t len)
{
    snprintf(buf, len, "built without OpenSSL");
}

void kp_http_ssl_build_version(char *buf, size_t len)
{
    snprintf(buf, len, "%s", "");
}

int kp_http_ssl_build(struct kp_conf *cf, struct kp_http_srv_conf *srv)
{
    if (srv->ssl.n_certs == 0 && srv->ssl_listen == NULL)
        return 0;
    return kp_conf_error(cf, "kelpie was built without OpenSSL (configure --without-ssl)");
}

int kp_http_ssl_attach(struct kp_conn *c)
{
    (void)c;
    return -ENOTSUP;
}

struct kp_str kp_http_ssl_var(const struct kp_conn *c, enum kp_http_ssl_var which, char *buf)
{
    (void)c;
    (void)which;
    (void)buf;
    return KP_STR("");
}

struct kp_str kp_http_ssl_more(const struct kp_conn *c, enum kp_http_ssl_more which,
                               struct kp_arena *a)
{
    (void)c;
    (void)which;
    (void)a;
    return KP_STR_NULL;
}

int kp_http_ssl_verify_result(const struct kp_conn *c, const struct kp_http_srv_conf *srv,
                              char *reason, size_t len)
{
    (void)c;
    (void)srv;
    (void)reason;
    (void)len;
    return 0;
}

#endif
