/* http's configuration: the structs below are the whole of it, read by
 * every http module. The http { } block's directives fill them in, with
 * inheritance http -> server -> location (parsed by http/conf_block.h).
 *
 * After loading, each struct kp_http_srv_conf has:
 *   loc        the server-level settings, merged with the http level;
 *   locations  every location merged with the server level, in the order
 *              kp_http_location_find searches them (http/location.h).
 *   listens    at least one (0.0.0.0:80, or :8000 when not started as root). */
#ifndef KP_HTTP_CONF_H
#define KP_HTTP_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kelpie/util/conf.h"
#include "kelpie/util/str.h"
#include "kelpie/os/socket.h"
#include "kelpie/event/conf.h"
#include "kelpie/http/hostmatch.h"

#define KP_HTTP_MAX_LOG_FORMATS 64    /* "combined" included */
#define KP_HTTP_BACKLOG         511   /* listen backlog unless backlog=N */
#define KP_HTTP_LOG_BUFFER      65536 /* access_log buffer when only flush= is given */

/* One `listen` directive of one server: the socket, and what is http's. */
struct kp_http_listen {
    struct kp_socket_conf sock;
    bool default_server;
    bool ssl;            /* `listen ... ssl`: connections start with a TLS handshake */
    bool proxy_protocol; /* `listen ... proxy_protocol`: and before it, a PROXY header */
};

struct kp_http_type { /* one extension -> MIME type mapping */
    char *ext;        /* lowercase, without the dot */
    char *type;
};

struct kp_http_types {
    struct kp_http_type *v; /* sorted by ext for bsearch */
    size_t n;
};

struct kp_http_cv;

struct kp_http_error_page {
    int code;
    char *uri;
    struct kp_http_cv *uri_value; /* uri with variables; NULL: none */
    int response_code; /* error_page ... =CODE URI; 0: keep code; KP_HTTP_EP_ANSWER: "=" */
};

/* error_page ... = URI: the status is the one the URI answers with. */
#define KP_HTTP_EP_ANSWER (-1)

/* Variables (http/var.h): a reference to one variable, and a compiled
 * "complex value", text with variables in it. */
struct kp_http_var_def;
struct kp_http_var_ref {
    const struct kp_http_var_def *def;
    struct kp_str arg; /* $http_NAME: "name" (lowercase, '-' for '_'); $3: "3"; else empty */
};

struct kp_http_cv_part {
    struct kp_str lit;          /* literal text before the variable (may be empty) */
    struct kp_http_var_ref var; /* def NULL: the last part, literal only */
};

struct kp_http_cv {
    char *text; /* the source text, NUL-terminated */
    struct kp_http_cv_part *parts;
    size_t n_parts, n_vars;
};

/* The variables defined by the configuration (set, map, named captures),
 * and the built-in ones they are looked up beside. */
struct kp_http_vars {
    struct kp_http_var_def **v;
    size_t n;
    unsigned n_slots; /* value slots a request needs for them */
    /* Every module's table of built-in variables (http/var.h), searched in
     * this order; NULL ends the list. The process top lists them, as it
     * lists the modules' directives, so that the registry knows no module. */
    const struct kp_http_var_def *const *builtin;
};

/* log_format's escape= parameter. */
enum kp_http_log_escape {
    KP_HTTP_LOG_ESCAPE_DEFAULT, /* \xHH for '"', '\\', controls, bytes >= 0x7f; empty is "-" */
    KP_HTTP_LOG_ESCAPE_JSON,    /* JSON string escapes; empty is empty */
    KP_HTTP_LOG_ESCAPE_NONE,    /* values as they are; empty is empty */
};

/* One compiled log_format. */
struct kp_http_log_format {
    char *name;
    struct kp_http_cv value;
    enum kp_http_log_escape escape;
};

struct kp_http_access_log {
    char *path;
    const struct kp_http_log_format *format;
    size_t buffer_size;       /* 0: unbuffered */
    uint64_t flush_ms;        /* 0: flush only when the buffer fills */
    struct kp_http_cv *cond;  /* if=CONDITION: no line when it is "" or "0"; NULL: always */
    struct kp_syslog *syslog; /* access_log syslog:...: path is the target, no file */
    int gzip_level;           /* gzip[=LEVEL]: each buffer written as a gzip member; 0: plain */
};

struct kp_http_regex;
struct kp_http_rw_op; /* http/rewrite.h */

struct kp_http_acl_rule { /* allow / deny ADDR[/BITS] | unix: | all */
    bool allow;
    int family; /* AF_INET, AF_INET6, AF_UNIX for "unix:", or AF_UNSPEC for "all" */
    uint8_t addr[16];
    uint8_t mask[16];
};

enum kp_http_loc_match {
    KP_LOC_PREFIX = 0,  /* location /path { } : longest prefix wins */
    KP_LOC_EXACT,       /* location = /path { } */
    KP_LOC_PREFIX_STOP, /* location ^~ /path { } : as a prefix, and then no regex */
    KP_LOC_REGEX,       /* location ~ RE { } : the first regex that matches */
    KP_LOC_REGEX_ICASE, /* location ~* RE { } : the same, ignoring case */
    KP_LOC_NAMED,       /* location @name { } : only a try_files/error_page target */
};

enum kp_http_symlinks {
    KP_SYMLINKS_BENEATH = 0, /* followed while they stay beneath the root (the default) */
    KP_SYMLINKS_NONE,        /* `disable_symlinks on`: none at all below the root */
    KP_SYMLINKS_FOLLOW,      /* `disable_symlinks off`: anywhere, as nginx's default */
};

enum kp_http_expires {
    KP_EXPIRES_OFF = 0,  /* no Expires or Cache-Control (the default) */
    KP_EXPIRES_EPOCH,    /* `expires epoch`: long expired, Cache-Control: no-cache */
    KP_EXPIRES_MAX,      /* `expires max`: 2037, Cache-Control: max-age=315360000 */
    KP_EXPIRES_AFTER,    /* `expires [-]TIME`: now + expires_s (no-cache when negative) */
    KP_EXPIRES_MODIFIED, /* `expires modified TIME`: the file's mtime + expires_s */
    KP_EXPIRES_DAILY,    /* `expires @TIME`: the next expires_s seconds past local midnight */
    KP_EXPIRES_VAR,      /* `expires $var`: expires_cv, parsed for each response */
};

enum kp_http_gzip_static {
    KP_GZIP_STATIC_OFF = 0, /* gzip_static off (the default) */
    KP_GZIP_STATIC_ON,      /* FILE.gz for clients that accept gzip */
    KP_GZIP_STATIC_ALWAYS,  /* FILE.gz for everyone */
};

/* gzip_proxied bits: when a request that came through a proxy (it has Via)
 * may get a compressed response. 0 is `off`. */
#define KP_GZIP_PROXIED_EXPIRED          (1u << 0)
#define KP_GZIP_PROXIED_NO_CACHE         (1u << 1)
#define KP_GZIP_PROXIED_NO_STORE         (1u << 2)
#define KP_GZIP_PROXIED_PRIVATE          (1u << 3)
#define KP_GZIP_PROXIED_NO_LAST_MODIFIED (1u << 4)
#define KP_GZIP_PROXIED_NO_ETAG          (1u << 5)
#define KP_GZIP_PROXIED_AUTH             (1u << 6)
#define KP_GZIP_PROXIED_ANY              (1u << 7)

/* The gzip_* directives of one block (http/gzip.h). */
struct kp_http_gzip_conf {
    bool on;             /* gzip: off */
    int level;           /* gzip_comp_level: 1 */
    uint64_t min_length; /* gzip_min_length: 20 */
    char **types;        /* gzip_types besides text/html (always in); lowercase */
    size_t n_types;
    bool any_type;                  /* gzip_types * */
    bool vary;                      /* gzip_vary: off */
    unsigned proxied;               /* KP_GZIP_PROXIED_* bits: off */
    unsigned http_version;          /* gzip_http_version: 11 (1.1) */
    struct kp_http_regex **disable; /* gzip_disable regexes against User-Agent */
    size_t n_disable;
    bool disable_msie6;                   /* gzip_disable msie6 */
    enum kp_http_gzip_static static_mode; /* gzip_static: off */
};

enum kp_http_autoindex_format {
    KP_AUTOINDEX_HTML = 0,
    KP_AUTOINDEX_XML,
    KP_AUTOINDEX_JSON,
    KP_AUTOINDEX_JSONP,
};

/* Where real_ip_header takes the client's address from (http/realip.h). */
enum kp_http_realip_header {
    KP_REALIP_X_REAL_IP = 0,   /* X-Real-IP, the default */
    KP_REALIP_X_FORWARDED_FOR, /* every X-Forwarded-For line, as one list */
    KP_REALIP_PROXY_PROTOCOL,  /* the connection's PROXY header */
    KP_REALIP_FIELD,           /* another header field, by name */
};

/* set_real_ip_from, real_ip_header, real_ip_recursive (http/realip.h). */
struct kp_http_realip_conf {
    struct kp_http_acl_rule *from; /* trusted peers (allow rules); none: the module is off */
    size_t n_from;
    unsigned header; /* enum kp_http_realip_header: X-Real-IP */
    char *field;     /* KP_REALIP_FIELD: the field's name */
    bool recursive;  /* real_ip_recursive: off */
};

/* autoindex_* settings (http/autoindex.h). */
struct kp_http_autoindex_conf {
    bool on;         /* autoindex: off */
    unsigned format; /* enum kp_http_autoindex_format: html */
    bool exact_size; /* autoindex_exact_size: on */
    bool localtime;  /* autoindex_localtime: off (GMT) */
};

enum kp_http_satisfy {
    KP_SATISFY_ALL = 0, /* every access check must pass (the default) */
    KP_SATISFY_ANY,     /* one passing check is enough */
};

/* auth_basic, satisfy and limit_except of one block (http/auth.h). */
struct kp_http_auth_conf {
    struct kp_http_cv *realm;     /* auth_basic (may hold variables); NULL: unset (off) */
    struct kp_http_cv *user_file; /* auth_basic_user_file, absolute or with variables */
    const char *user_file_dir;    /* the configuration's directory (ends in '/'), for a
                                   * relative name that a variable makes */
    unsigned satisfy;             /* enum kp_http_satisfy: all */
    /* limit_except METHOD... { }: the methods it lists (bits 1 << enum
     * kp_http_method) and the block's settings for every other method.
     * Not inherited: a location's own. */
    unsigned except_methods;
    const struct kp_http_loc_conf *except; /* NULL: no limit_except */
};

/* The limit modules (http/limit.h). A zone by name, as limit_req_zone or
 * limit_conn_zone declares it (size > 0), or as limit_req or limit_conn
 * named it before its declaration (size 0 until then). */
struct kp_limit_zone; /* http/limit_zone.h: the shared memory */
struct kp_http_limit_zone {
    char *name;
    unsigned kind;          /* enum kp_limit_kind (http/limit_zone.h) */
    size_t size;            /* bytes; 0: not declared (yet) */
    struct kp_http_cv *key; /* the key; an empty value is not limited */
    uint64_t rate;          /* limit_req: thousandths of a request per second */
    char *where;            /* " in FILE:LINE" of the first use */
    struct kp_limit_zone *shm;
};

struct kp_http_limit_req_rule { /* limit_req zone=NAME [burst=N] [nodelay|delay=N] */
    struct kp_http_limit_zone *zone;
    uint64_t burst; /* thousandths of a request */
    uint64_t delay; /* thousandths; UINT64_MAX: nodelay */
};

struct kp_http_limit_conn_rule { /* limit_conn NAME N */
    struct kp_http_limit_zone *zone;
    unsigned max;
};

/* limit_req*, limit_conn*, limit_rate* of one block. */
struct kp_http_limit_conf {
    struct kp_http_limit_req_rule *reqs; /* empty: none */
    size_t n_reqs;
    unsigned req_status;    /* limit_req_status: 503 */
    unsigned req_log_level; /* limit_req_log_level: error (enum kp_log_level) */
    bool req_dry_run;       /* limit_req_dry_run: off */
    struct kp_http_limit_conn_rule *conns;
    size_t n_conns;
    unsigned conn_status;          /* limit_conn_status: 503 */
    unsigned conn_log_level;       /* limit_conn_log_level: error */
    bool conn_dry_run;             /* limit_conn_dry_run: off */
    struct kp_http_cv *rate;       /* limit_rate (bytes per second, variables allowed); NULL: 0 */
    struct kp_http_cv *rate_after; /* limit_rate_after (bytes, variables allowed); NULL: 0 */
};

/* The status handlers (http/stats.h). */
#define KP_HTTP_STATUS_PAGE 1u /* status: JSON, or ?format=prometheus|stub */
#define KP_HTTP_STATUS_STUB 2u /* stub_status: nginx's stub page, whatever the query */

/* lingering_close: never; when the client may still be sending (a body
 * not read, bytes behind the request); after every closing response. */
enum { KP_LINGER_OFF, KP_LINGER_ON, KP_LINGER_ALWAYS };

/* keepalive_disable's browsers. */
#define KP_KEEPALIVE_DISABLE_MSIE6  1u /* MSIE 4-6: no keep-alive after a POST */
#define KP_KEEPALIVE_DISABLE_SAFARI 2u /* Safari on macOS: no keep-alive */

/* Settings that may appear in http, server and location and are inherited
 * downwards (a location's unset values come from its server, then http). */
struct kp_http_loc_conf {
    char *path;      /* location path or regex source; "" for the server level */
    size_t path_len; /* strlen(path), kept: the location search compares it per request */
    enum kp_http_loc_match match;
    struct kp_http_regex *regex; /* the KP_LOC_REGEX* kinds only (http/regex.h) */
    char *root;                  /* html (resolved against prefix), no trailing '/'; or the alias */
    size_t root_len;             /* strlen(root), kept: mapping a path needs it per request */
    bool alias;        /* root is an `alias`: it replaces the location's path, as written */
    size_t alias_skip; /* the length of the path of the location that set the alias: what
                        * it replaces, in the nested locations that inherit it too */
    struct kp_http_cv *alias_value; /* a regex location's alias: the whole file name */
    const char *root_prefix;        /* a root_value that starts with a variable: what a relative
                                     * value is resolved against per request (else NULL) */
    struct kp_http_cv *root_value;  /* root, or a prefix location's alias, with variables
                                     * (root is its text); else NULL */
    enum kp_http_symlinks symlinks;
    struct kp_http_cv *index; /* index.html; names may hold variables */
    size_t n_index;
    struct kp_http_cv *try_files; /* the candidates, then the fallback URI or "=CODE" */
    size_t n_try_files;
    bool sendfile;                  /* off (nginx default) */
    bool tcp_nodelay;               /* on */
    bool tcp_nopush;                /* off */
    bool reset_timedout_connection; /* off: reset (RST) a timed-out or `return 444` connection */
    uint64_t sendfile_max_chunk;    /* 2m (nginx >= 1.21.4); 0: no limit */
    /* aio threads[=NAME] (`aio on` too): the thread pool that reads and
     * sends file data not in the page cache; NULL: aio off (the default). */
    const char *aio_pool;
    unsigned server_tokens;        /* KP_HTTP_TOKENS_* (http/status.h): on */
    uint64_t keepalive_timeout_ms; /* 75s */
    uint64_t
        keepalive_header_s; /* keepalive_timeout's 2nd value (Keep-Alive: timeout=N); 0: none */
    unsigned keepalive_requests;     /* 1000 */
    uint64_t keepalive_time_ms;      /* 1h: no request starts on a connection older than this */
    unsigned keepalive_disable;      /* KP_KEEPALIVE_DISABLE_*: msie6 */
    bool recursive_error_pages;      /* off: an error page's own error gets the built-in page */
    uint64_t send_timeout_ms;        /* 60s */
    uint64_t client_max_body_size;   /* 1m; 0 = unlimited */
    uint64_t client_body_timeout_ms; /* 60s: between two reads of a body */
    const struct kp_http_types *types;
    char *default_type; /* text/plain */
    struct kp_http_error_page *error_pages;
    size_t n_error_pages;
    struct kp_http_access_log *access_logs; /* empty: access_log off */
    size_t n_access_logs;
    struct kp_log *error_log; /* error_log lines (util/logconf.h), inherited; NULL: the
                               * main context's. Files opened by the master (logfiles.h) */
    unsigned status; /* KP_HTTP_STATUS_*: the `status;` or `stub_status;` handler; 0: none */
    bool internal;   /* `internal`: 404 unless reached by an internal redirect; not inherited */
    struct kp_http_acl_rule *acl;
    size_t n_acl;
    /* add_header: "Name: value\r\n" lines, in config order, for the
     * success and redirect codes (all of them) and for any code (the ones
     * marked `always`). */
    struct kp_str add_headers;
    struct kp_str add_headers_always;
    struct kp_http_cv *add_headers_cv; /* the same lines when a value has variables; else NULL */
    struct kp_http_cv *add_headers_always_cv;
    /* add_header ETag / Last-Modified (KP_HTTP_ADD_*) take the place of the
     * response's own field, as nginx's do (an empty value drops it). */
    unsigned add_headers_own, add_headers_own_always;
    enum kp_http_expires expires;
    int64_t
        expires_s; /* KP_EXPIRES_AFTER, _MODIFIED: seconds, may be negative; _DAILY: of the day */
    bool expires_var_modified;     /* KP_EXPIRES_VAR: `expires modified $var` */
    struct kp_http_cv *expires_cv; /* KP_EXPIRES_VAR: the value, with variables */
    /* The rewrite module (http/rewrite.h): this block's rewrite, set, break,
     * if and return, in config order; not inherited. */
    struct kp_http_rw_op *rw_ops;
    size_t n_rw_ops;
    bool rewrite_log;                 /* off */
    bool uninitialized_variable_warn; /* on: a `set` variable read before any value, logged */
    struct kp_http_loc_conf **ifs;    /* the if { } blocks inside, for the access log */
    size_t n_ifs;
    bool etag;                  /* on: static files carry ETag */
    bool log_not_found;         /* on: a missing file is logged at [error] */
    unsigned if_modified_since; /* enum kp_http_ims (http/cond.h): exact */
    /* After a response that closes the connection: KP_LINGER_ON keeps
     * reading (and dropping) what the client may still send, so that the
     * close does not reset the response away; each wait at most
     * lingering_timeout, all of it at most lingering_time. */
    unsigned lingering_close;      /* KP_LINGER_*: on */
    uint64_t lingering_time_ms;    /* 30s */
    uint64_t lingering_timeout_ms; /* 5s */
    unsigned max_ranges;           /* UINT_MAX: unlimited; 0: ranges off */
    char *charset;                 /* NULL: off; else added to charset_types' Content-Type */
    char **charset_types;          /* text/html text/xml text/plain text/vnd.wap.wml
                                    * application/javascript application/rss+xml; "*": any */
    size_t n_charset_types;
    struct kp_http_gzip_conf gzip;
    struct kp_http_autoindex_conf autoindex;
    struct kp_http_realip_conf realip;
    struct kp_http_auth_conf auth;
    struct kp_http_limit_conf limit;
    struct kp_http_referers *referers; /* valid_referers; NULL: every referer valid */
    /* A Location starting with '/' becomes scheme://host[:port]/... as
     * nginx's (http/var_core.h, kp_http_var_core_redirect_origin). */
    bool absolute_redirect;       /* on */
    bool port_in_redirect;        /* on: the port unless 80 (443 with TLS) */
    bool server_name_in_redirect; /* off: the Host; on: the first server_name */
    bool msie_padding;            /* on: MSIE's and Chrome's built-in error pages padded */
    bool msie_refresh;            /* off; on: MSIE's 301/302 a page that refreshes */
    /* The location { } blocks nested in this one, ordered as a server's
     * (kp_http_location_order); not inherited. */
    struct kp_http_loc_conf **locations;
    size_t n_locations;
    size_t first_regex;
};

struct kp_ssl_zone;       /* http/ssl_cache.h */
struct kp_ssl_ticket_key; /* http/ssl_cache.h */

/* ssl_* settings of one server (http/ssl.h builds the TLS context). */
struct kp_http_ssl_conf {
    char **certs; /* ssl_certificate, in order; certs[i] pairs with keys[i] */
    size_t n_certs;
    char **keys; /* ssl_certificate_key */
    size_t n_keys;
    char *where;        /* " in FILE:LINE" of the last key directive, for certificate errors */
    unsigned protocols; /* KP_SSL_TLSv1* bits; TLSv1.2 TLSv1.3 */
    char *ciphers;      /* HIGH:!aNULL:!MD5 */
    bool prefer_server_ciphers; /* off */
    char *ecdh_curve;           /* auto */
    char *dhparam;              /* NULL: none */
    char **passwords;           /* ssl_password_file lines; NULL: none */
    size_t n_passwords;
    char **conf_commands; /* ssl_conf_command: name, value, name, value ... */
    size_t n_conf_commands;
    bool session_tickets;        /* on */
    uint64_t session_timeout_ms; /* 5m */
    unsigned session_cache;      /* KP_SSL_CACHE_* bits (http/ssl.h): none */
    size_t session_cache_size;   /* builtin:SIZE sessions; 20480 */
    char *shared_name;           /* shared:NAME:SIZE */
    size_t shared_size;
    struct kp_ssl_ticket_key *ticket_keys; /* ssl_session_ticket_key files; [0] encrypts */
    size_t n_ticket_keys;
    struct kp_ssl_zone *zone;    /* the shared session cache; NULL: none */
    struct kp_ssl_zone *tickets; /* the zone whose rotating ticket keys are used */
    void *ticket_cipher;         /* AES-256-CBC, fetched once (an EVP_CIPHER) */
    unsigned verify_client;      /* KP_SSL_VERIFY_* (http/ssl.h): off */
    uint64_t verify_depth;       /* 1 */
    char *client_certificate;    /* CAs trusted and named to the client */
    char *trusted_certificate;   /* CAs trusted only */
    bool stapling;               /* off */
    char *stapling_file;         /* a DER OCSP response, stapled as it is */
    unsigned char *stapling_der; /* its bytes (arena) */
    size_t stapling_len;
    bool reject_handshake; /* off */
    bool early_data;       /* off (on is refused: 0-RTT requests can be replayed) */
    size_t buffer_size;    /* ssl_buffer_size: 16k, the largest record sent */
    void *ctx;             /* the SSL_CTX built from the above (NULL: no certificate) */
};

struct kp_http_srv_conf {
    struct kp_http_listen *listens; /* default: 0.0.0.0:80 like nginx, or 8000 when not root */
    size_t n_listens;
    char **server_names; /* exact names and "*.example.com" wildcards, lowercase */
    size_t n_server_names;
    struct kp_http_regex **name_regexes; /* server_name ~REGEX, in config order */
    size_t n_name_regexes;
    const char *name; /* the first server_name as nginx keeps it ($server_name); NULL: none */
    struct kp_http_loc_conf *loc;        /* server-level settings (merged with http) */
    struct kp_http_loc_conf **locations; /* the server's own (not nested), merged with it */
    size_t n_locations;
    size_t first_regex; /* locations[first_regex..] are the regex ones, in config order */
    struct kp_http_loc_conf **named; /* location @name { }: never matched by a path */
    size_t n_named;
    struct kp_http_loc_conf **all; /* every location, nested and named ones too (for logs) */
    size_t n_all;
    uint64_t client_header_timeout_ms;        /* 60s */
    size_t client_header_buffer_size;         /* 1k */
    unsigned large_client_header_buffers_num; /* 4 */
    size_t large_client_header_buffers_size;  /* 8k */
    /* Read from the address's default server, as nginx reads them before
     * the Host is known. */
    bool merge_slashes;          /* on: "//" in a path is "/" */
    bool underscores_in_headers; /* off: '_' makes a field name invalid */
    bool ignore_invalid_headers; /* on: a field with an invalid name is dropped */
    struct kp_http_ssl_conf ssl;
    char *ssl_listen; /* " in FILE:LINE" of a `listen ... ssl`; NULL: none */
};

/* A thread pool an `aio` directive names, and the error for a pool that
 * turns out not to be declared ("unknown thread pool ... in FILE:LINE"):
 * thread_pool may come after http, so names are checked when the whole
 * configuration is read (proc/cycle.c). */
struct kp_http_aio_ref {
    const char *pool;
    const char *unknown; /* the whole error line */
};

struct kp_http_conf {
    struct kp_http_srv_conf **servers;
    size_t n_servers;
    struct kp_http_log_format *log_formats; /* "combined" first */
    size_t n_log_formats;
    struct kp_http_types types;     /* from `types { }` at http level */
    struct kp_http_vars vars;       /* set, map and named-capture variables */
    struct kp_http_regex **regexes; /* every regex compiled, for pcre_jit */
    size_t n_regexes;
    bool pcre_jit;                        /* off, as in nginx */
    size_t open_file_cache_max;           /* open files kept per worker; 0: off */
    uint64_t open_file_cache_inactive_ms; /* closed when unused this long */
    uint64_t open_file_cache_valid_ms;    /* how long a path is trusted to name its file */
    struct kp_ssl_zone **ssl_zones;       /* shared TLS zones (http/ssl_cache.h), by name */
    size_t n_ssl_zones;
    struct kp_http_limit_zone **limit_zones; /* limit_req_zone and limit_conn_zone, by name */
    size_t n_limit_zones;
    const struct kp_http_var_def *limit_rate_var; /* `set $limit_rate`: its value slot; or NULL */
    struct kp_http_var_ref remote_addr_ref;       /* $remote_addr, for $binary_remote_addr */
    struct kp_http_aio_ref *aio_refs;             /* every aio directive's pool */
    size_t n_aio_refs;
    char **warnings; /* [warn] lines of the load, located like errors: said at start and -t */
    size_t n_warnings;
};

/* What http serves on one listening address (struct kp_listening's proto):
 * the servers that listen on it. */
struct kp_http_addr {
    bool ssl;            /* one `listen ... ssl` on the address makes it TLS, as in nginx */
    bool proxy_protocol; /* the same for `proxy_protocol` */
    struct kp_http_srv_conf **servers; /* in config order */
    size_t n_servers;
    struct kp_http_srv_conf *default_server; /* flagged default_server, else the first */
    /* The servers' names as nginx's hash of the address holds them
     * (kp_http_router_names): each pattern's data is its server. */
    struct kp_http_hostmatch *names;
    size_t n_names;
};

/* The http view of a listening address built from this configuration. */
static inline const struct kp_http_addr *kp_http_addr_of(const struct kp_listening *ls)
{
    return ls->proto;
}

/* The http configuration being built by cf. */
static inline struct kp_http_conf *kp_http_conf_of(const struct kp_conf *cf)
{
    return cf->modules[KP_CONF_MODULE_HTTP];
}

#endif
