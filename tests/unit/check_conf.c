/* Unit tests for loading a cycle (proc/cycle.c with the core, events and http
 * directive tables): every error class with its exact message, defaults,
 * inheritance, location order, listening sockets, include, -g and -T. Each
 * test writes its files into a fresh mkdtemp() prefix. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/util/syslog.h"
#include "kelpie/util/alloc.h"
#include "kelpie/util/conf.h"
#include "kelpie/proc/cycle.h"
#include "kelpie/http/conf.h"
#include "kelpie/http/location.h"
#include "kelpie/http/rewrite.h"
#include "kelpie/http/var.h"
#include "tmpdir.h"

static char dir[64]; /* the prefix (a short mkdtemp path), with a trailing '/' */
static char err[1024];

static void setup(void)
{
    tmpdir_make(dir, "kp_conf");
}

static void teardown(void)
{
    tmpdir_remove(dir);
}

static void put(const char *name, const char *text)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void subdir(const char *name)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s%s", dir, name);
    ck_assert_int_eq(mkdir(path, 0755), 0);
}

/* The first `return` of a block (an op of the rewrite module), or NULL. */
static const struct kp_http_rw_op *ret_op(const struct kp_http_loc_conf *l)
{
    for (size_t i = 0; i < l->n_rw_ops; i++) {
        if (l->rw_ops[i].kind == KP_RW_RETURN)
            return &l->rw_ops[i];
    }
    return NULL;
}

static struct kp_cycle *load(const char *text, const char *extra)
{
    put("kelpie.conf", text);
    struct kp_cycle *c = kp_cycle_load(dir, "kelpie.conf", extra, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

/* line > 0: msg is followed by " in PREFIX/kelpie.conf:LINE"; line 0: msg is
 * the whole expected text. */
static void expect_error(const char *text, const char *extra, int line, const char *msg)
{
    char want[2048];

    put("kelpie.conf", text);
    ck_assert_ptr_null(kp_cycle_load(dir, "kelpie.conf", extra, err, sizeof(err)));
    if (line > 0)
        snprintf(want, sizeof(want), "%s in %skelpie.conf:%d", msg, dir, line);
    else
        snprintf(want, sizeof(want), "%s", msg);
    ck_assert_str_eq(err, want);
}

/* --- error classes: one row each, the exact message ------------------------------ */

static const struct {
    const char *conf, *extra;
    int line;
    const char *msg;
} errors[] = {
    /* unknown directive */
    {"events {}\nlistne 80;\n", NULL, 2, "unknown directive \"listne\""},
    {"http { server { listne 80; } }", NULL, 1, "unknown directive \"listne\""},
    /* directive in the wrong context */
    {"events {}\nhttp {\n  listen 80;\n}\n", NULL, 3, "\"listen\" directive is not allowed here"},
    {"http { location /a { } }", NULL, 1, "\"location\" directive is not allowed here"},
    {"sendfile on;", NULL, 1, "\"sendfile\" directive is not allowed here"},
    {"http { worker_connections 10; }", NULL, 1,
     "\"worker_connections\" directive is not allowed here"},
    {"http { return 204; }", NULL, 1, "\"return\" directive is not allowed here"},
    {"http { server { log_format x y; } }", NULL, 1,
     "\"log_format\" directive is not allowed here"},
    /* argument counts */
    {"http { root; }", NULL, 1, "invalid number of arguments in \"root\" directive"},
    {"worker_processes 1 2;", NULL, 1,
     "invalid number of arguments in \"worker_processes\" directive"},
    {"user a b c;", NULL, 1, "invalid number of arguments in \"user\" directive"},
    {"http { server { status on; } }", NULL, 1,
     "invalid number of arguments in \"status\" directive"},
    {"http { log_format x; }", NULL, 1, "invalid number of arguments in \"log_format\" directive"},
    {"http { log_format x escape=json; }", NULL, 1,
     "invalid number of arguments in \"log_format\" directive"},
    {"http { error_page 404 =200 /x; error_page =200 /x; }", NULL, 1,
     "invalid number of arguments in \"error_page\" directive"},
    /* invalid values: sizes, times, numbers, flags, levels, names, addresses */
    {"http { client_max_body_size 12q; }", NULL, 1,
     "invalid value \"12q\" in \"client_max_body_size\" directive"},
    {"http { client_header_buffer_size 99999999999999999999k; }", NULL, 1,
     "invalid value \"99999999999999999999k\" in \"client_header_buffer_size\" directive"},
    {"http { keepalive_timeout 1s5m; }", NULL, 1,
     "invalid value \"1s5m\" in \"keepalive_timeout\" directive"},
    {"worker_shutdown_timeout 10x;", NULL, 1,
     "invalid value \"10x\" in \"worker_shutdown_timeout\" directive"},
    {"worker_watchdog_timeout 500ms;", NULL, 1,
     "invalid value \"500ms\" in \"worker_watchdog_timeout\" directive"},
    {"worker_watchdog_timeout on;", NULL, 1,
     "invalid value \"on\" in \"worker_watchdog_timeout\" directive"},
    {"events { worker_connections lots; }", NULL, 1,
     "invalid value \"lots\" in \"worker_connections\" directive"},
    {"events { worker_connections 0; }", NULL, 1,
     "invalid value \"0\" in \"worker_connections\" directive"},
    {"http { sendfile yes; }", NULL, 1,
     "invalid value \"yes\" in \"sendfile\" directive, it must be \"on\" or \"off\""},
    {"daemon 1;", NULL, 1,
     "invalid value \"1\" in \"daemon\" directive, it must be \"on\" or \"off\""},
    {"error_log logs/e.log loud;", NULL, 1, "invalid log level \"loud\""},
    {"events { use kqueue; }", NULL, 1, "invalid value \"kqueue\" in \"use\" directive"},
    {"worker_processes 0;", NULL, 1, "invalid value \"0\" in \"worker_processes\" directive"},
    {"worker_processes 1025;", NULL, 1, "invalid value \"1025\" in \"worker_processes\" directive"},
    {"worker_cpu_affinity 01 0102;", NULL, 1,
     "invalid value \"0102\" in \"worker_cpu_affinity\" directive"},
    {"worker_cpu_affinity auto 01 10;", NULL, 1,
     "invalid value \"10\" in \"worker_cpu_affinity\" directive"},
    {"http { allow 10.0.0.0/33; }", NULL, 1,
     "invalid value \"10.0.0.0/33\" in \"allow\" directive"},
    {"http { deny example.com; }", NULL, 1, "invalid value \"example.com\" in \"deny\" directive"},
    {"http { large_client_header_buffers 0 8k; }", NULL, 1,
     "invalid value \"0\" in \"large_client_header_buffers\" directive"},
    {"http { large_client_header_buffers 4 8x; }", NULL, 1,
     "invalid value \"8x\" in \"large_client_header_buffers\" directive"},
    {"http { log_format x escape=html '$status'; }", NULL, 1,
     "invalid value \"escape=html\" in \"log_format\" directive"},
    {"http { access_log logs/a.log combined buffer=0; }", NULL, 1,
     "invalid value \"buffer=0\" in \"access_log\" directive"},
    {"http { access_log logs/a.log combined flush=soon; }", NULL, 1,
     "invalid value \"flush=soon\" in \"access_log\" directive"},
    {"http { server { listen 80 backlog=-1; } }", NULL, 1,
     "invalid value \"backlog=-1\" in \"listen\" directive"},
    {"http { server { listen [::1; } }", NULL, 1, "invalid value \"[::1\" in \"listen\" directive"},
    {"http { server { server_name ~^(www; } }", NULL, 1,
     "pcre2_compile() failed: missing closing parenthesis in \"^(www\" at \"\""},
    {"http { index \"\"; }", NULL, 1, "invalid value \"\" in \"index\" directive"},
    {"http { error_page 404 =2xx /x; }", NULL, 1,
     "invalid value \"=2xx\" in \"error_page\" directive"},
    {"http { error_page 40x /x; }", NULL, 1, "invalid value \"40x\" in \"error_page\" directive"},
    {"http { error_page 200 /x; }", NULL, 1, "value \"200\" must be between 300 and 599"},
    /* duplicates */
    {"daemon on;\ndaemon off;\n", NULL, 2, "\"daemon\" directive is duplicate"},
    {"events {}\nevents {}\n", NULL, 2, "\"events\" directive is duplicate"},
    {"http {}\nhttp {}\n", NULL, 2, "\"http\" directive is duplicate"},
    {"http { server { root a; root b; } }", NULL, 1, "\"root\" directive is duplicate"},
    {"daemon off;\n", "daemon on;", 1, "\"daemon\" directive is duplicate"},
    /* structure */
    {"http { }\n}\n", NULL, 2, "unexpected \"}\""},
    {"http {\n  server {\n", NULL, 3, "unexpected end of file, expecting \"}\""},
    {"http {\n  sendfile on\n", NULL, 3, "unexpected end of file, expecting \";\" or \"}\""},
    {"pid logs/x.pid", NULL, 1, "unexpected end of file, expecting \";\" or \"}\""},
    {"pid \"logs/x.pid;\n", NULL, 2, "unexpected end of file in quoted string"},
    {"pid \"a\"b;", NULL, 1, "unexpected \"b\""},
    {"events { };\n", NULL, 1, "unexpected \";\""},
    {"http;", NULL, 1, "directive \"http\" has no opening \"{\""},
    {"http { sendfile on { } }", NULL, 1, "directive \"sendfile\" is not terminated by \";\""},
    {"http { types { text/html html; foo { } } }", NULL, 1, "unexpected \"{\""},
    /* log formats */
    {"http { access_log logs/a.log fancy; }", NULL, 1, "unknown log format \"fancy\""},
    {"http { access_log logs/a.log main; log_format main '$status'; }", NULL, 1,
     "unknown log format \"main\""},
    {"http { log_format x '$remote_addr $nope'; }", NULL, 1, "unknown \"nope\" variable"},
    {"http { log_format x 'a $ b'; }", NULL, 1,
     "invalid variable name in \"log_format\" directive"},
    {"http { log_format combined '$status'; }", NULL, 1,
     "duplicate \"log_format\" name \"combined\""},
    {"http { access_log off now; }", NULL, 1, "invalid parameter \"now\""},
    {"http { access_log logs/a.log combined gzip=10; }", NULL, 1,
     "invalid value \"gzip=10\" in \"access_log\" directive"},
    {"http { access_log logs/a.log combined gzip=0; }", NULL, 1,
     "invalid value \"gzip=0\" in \"access_log\" directive"},
    {"http { access_log logs/a.log combined gzipped; }", NULL, 1, "invalid parameter \"gzipped\""},
    {"http { access_log syslog:server=unix:/dev/log combined gzip; }", NULL, 1,
     "logs to syslog cannot be buffered"},
    {"http { access_log logs/a.log combined if=$nope; }", NULL, 1, "unknown \"nope\" variable"},
    {"http { access_log logs/a.log combined if=$; }", NULL, 1,
     "invalid variable name in \"access_log\" directive"},
    {"http { access_log syslog:server=unix:/dev/log combined buffer=4k; }", NULL, 1,
     "logs to syslog cannot be buffered"},
    {"error_log syslog:server=localhost;", NULL, 1,
     "syslog server \"localhost\" is not supported: kelpie logs only to a local syslog socket "
     "(server=unix:PATH)"},
    /* error_log */
    {"http { server {\n location / { error_log a.log warn error; } } }", NULL, 2,
     "invalid number of arguments in \"error_log\" directive"},
    {"http { server { if ($uri) { error_log a.log; } } }", NULL, 1,
     "\"error_log\" directive is not allowed here"},
    /* locations */
    {"http { server {\nlocation /x { }\nlocation /x { }\n} }", NULL, 3,
     "duplicate location \"/x\""},
    {"http { server { location = /x { } location =/x { } } }", NULL, 1,
     "duplicate location \"/x\""},
    {"http { server { location ~ \\.php$ { } location ~ \\.php$ { } } }", NULL, 1,
     "duplicate location \"\\.php$\""},
    {"http { server { location ^~ /x { } location /x { } } }", NULL, 1,
     "duplicate location \"/x\""},
    {"http { server { location @x { } location @x { } } }", NULL, 1, "duplicate location \"@x\""},
    /* nested locations, with nginx's errors */
    {"http { server {\nlocation /a {\nlocation /b { }\n} } }", NULL, 3,
     "location \"/b\" is outside location \"/a\""},
    {"http { server { location /a/ { location = /a { } } } }", NULL, 1,
     "location \"/a\" is outside location \"/a/\""},
    {"http { server { location = /a { location /a/b { } } } }", NULL, 1,
     "location \"/a/b\" cannot be inside the exact location \"/a\""},
    {"http { server { location @a { location ~ x { } } } }", NULL, 1,
     "location \"x\" cannot be inside the named location \"@a\""},
    {"http { server { location /a { location @n { } } } }", NULL, 1,
     "named location \"@n\" can be on the server level only"},
    {"http { server { location ~ x { location /x { } } } }", NULL, 1,
     "location \"/x\" is outside location \"x\""},
    {"http { server { location /a { location /a/b { } location ^~ /a/b { } } } }", NULL, 1,
     "duplicate location \"/a/b\""},
    {"http { server { location /a { if ($uri) { location /a/b { } } } } }", NULL, 1,
     "\"location\" directive is not allowed here"},
    {"http { server { location @ { } } }", NULL, 1,
     "invalid value \"@\" in \"location\" directive"},
    {"http { server { location = @x { } } }", NULL, 1,
     "invalid value \"@x\" in \"location\" directive"},
    {"http { server { internal; } }", NULL, 1, "\"internal\" directive is not allowed here"},
    {"http { server { location /x { internal on; } } }", NULL, 1,
     "invalid number of arguments in \"internal\" directive"},
    {"http { index /a.html b.html; }", NULL, 1,
     "only the last index in \"index\" directive should be absolute"},
    {"http { server { location / { try_files $uri @; } } }", NULL, 1,
     "invalid value \"@\" in \"try_files\" directive"},
    {"http { server { location ~ a(b { } } }", NULL, 1,
     "pcre2_compile() failed: missing closing parenthesis in \"a(b\" at \"\""},
    {"http { server { location ~ \"x(?<uri>y)\" { } } }", NULL, 1,
     "the duplicate \"uri\" variable"},
    {"pcre_jit maybe;", NULL, 1, "invalid value \"maybe\" in \"pcre_jit\" directive"},
    {"http { server { location ^~ x { } } }", NULL, 1,
     "invalid value \"x\" in \"location\" directive"},
    {"http { server { location ~~ /x { } } }", NULL, 1, "invalid location modifier \"~~\""},
    /* alias and try_files */
    {"http { server { location /a/ { root x; alias y; } } }", NULL, 1,
     "\"alias\" directive is duplicate, \"root\" directive was specified earlier"},
    {"http { server { location /a/ { alias y; root x; } } }", NULL, 1,
     "\"root\" directive is duplicate, \"alias\" directive was specified earlier"},
    {"http { server { location /a/ { alias /x/..; } } }", NULL, 1,
     "invalid value \"/x/..\" in \"alias\" directive"},
    {"http { server { alias /x/; } }", NULL, 1, "\"alias\" directive is not allowed here"},
    {"http { server { try_files $uri; } }", NULL, 1,
     "invalid number of arguments in \"try_files\" directive"},
    {"http { server { try_files $uri $cookie_ =404; } }", NULL, 1, "unknown \"cookie_\" variable"},
    {"http { server { try_files $uri_x =404; } }", NULL, 1, "unknown \"uri_x\" variable"},
    {"http { server { try_files $uri =40; } }", NULL, 1,
     "invalid value \"=40\" in \"try_files\" directive"},
    /* variables in return */
    {"http { server { return 301 https://$host$request_uir; } }", NULL, 1,
     "unknown \"request_uir\" variable"},
    {"http { server { return 200 \"costs $\"; } }", NULL, 1,
     "invalid variable name in \"return\" directive"},
    {"http { server { return 200 \"${host\"; } }", NULL, 1,
     "the closing bracket in \"host\" variable is missing"},
    /* a variable used before (or after) the `set` that defines it is fine;
     * one defined nowhere is reported where it is used */
    {"http { log_format f $a_b;\n server { listen 8080; } }", NULL, 1, "unknown \"a_b\" variable"},
    /* open_file_cache */
    {"http { open_file_cache inactive=20s; }", NULL, 1,
     "\"open_file_cache\" must have the \"max\" parameter"},
    {"http { open_file_cache max=0; }", NULL, 1,
     "invalid value \"max=0\" in \"open_file_cache\" directive"},
    {"http { open_file_cache max=10 min_uses=2; }", NULL, 1,
     "invalid value \"min_uses=2\" in \"open_file_cache\" directive"},
    {"http { server { open_file_cache off; } }", NULL, 1,
     "\"open_file_cache\" directive is not allowed here"},
    {"http { open_file_cache_valid x; }", NULL, 1,
     "invalid value \"x\" in \"open_file_cache_valid\" directive"},
    /* add_header and expires */
    {"http { add_header \"X Y\" z; }", NULL, 1, "invalid header name \"X Y\""},
    {"http { add_header content-length 5; }", NULL, 1,
     "\"add_header\" cannot set \"content-length\": a second one would make the message's "
     "length ambiguous"},
    {"http { add_header Transfer-Encoding chunked; }", NULL, 1,
     "\"add_header\" cannot set \"Transfer-Encoding\": a second one would make the message's "
     "length ambiguous"},
    {"http { add_header X-A \"a\\nb\"; }", NULL, 1,
     "control characters in the value of header \"X-A\""},
    {"http { add_header X-A $hots; }", NULL, 1, "unknown \"hots\" variable"},
    /* the rewrite module */
    {"http { server { rewrite ^ /x lost; } }", NULL, 1, "invalid parameter \"lost\""},
    {"http { server { rewrite \"(\" /x; } }", NULL, 1,
     "pcre2_compile() failed: missing closing parenthesis in \"(\" at \"\""},
    {"http { server { set x 1; } }", NULL, 1, "invalid variable name \"x\""},
    {"http { server { set $uri 1; } }", NULL, 1, "the duplicate \"uri\" variable"},
    {"http { server { if ($a = 1 { } } }", NULL, 1, "invalid condition \"($a\""},
    {"http { server { if ($a == 1) { } } }", NULL, 1, "unexpected \"==\" in condition"},
    {"http { server { if (-q $uri) { } } }", NULL, 1, "invalid condition \"-q\""},
    {"http { server { location / { if ($uri) { if ($uri) { } } } } }", NULL, 1,
     "\"if\" directive is not allowed here"},
    {"http { server { location / { if ($uri) { try_files $uri =404; } } } }", NULL, 1,
     "\"try_files\" directive is not allowed here"},
    {"http { server { if ($uri) { root /x; } } }", NULL, 1,
     "\"root\" directive is not allowed here"},
    {"http { rewrite ^ /x; }", NULL, 1, "\"rewrite\" directive is not allowed here"},
    {"http { server { rewrite ^ \"\"; } }", NULL, 1, "empty replacement"},
    /* map */
    {"http { map $uri $m { default a; default b; } }", NULL, 1, "duplicate default map parameter"},
    {"http { map $uri $m { a b c; } }", NULL, 1, "invalid number of the map parameters"},
    {"http { map $uri m { } }", NULL, 1, "invalid variable name \"m\""},
    {"http { map $uri $m { } map $uri $m { } }", NULL, 1, "the duplicate \"m\" variable"},
    {"http { map $uri $host { } }", NULL, 1, "the duplicate \"host\" variable"},
    /* map keys that conflict as nginx's hash finds them (hostmatch.h) */
    {"http { map $uri $m { A.test 1; a.TEST 2; } }", NULL, 1, "conflicting parameter \"a.test\""},
    {"http { map $uri $m { \\\\default 1; \\\\DEFAULT 2; } }", NULL, 1,
     "conflicting parameter \"default\""},
    {"http { map $host $m { hostnames; *.a.test 1; .A.test 2; } }", NULL, 1,
     "conflicting parameter \".a.test\""},
    {"http { map $host $m { hostnames; a.test 1; .a.test 2; } }", NULL, 1,
     "conflicting parameter \".a.test\""},
    {"http { map $host $m { .a.test 1; hostnames; *.a.test 2; .a.test 3; } }", NULL, 1,
     "conflicting parameter \".a.test\""},
    {"http { map $host $m { hostnames; x.* 1; X.* 2; } }", NULL, 1,
     "conflicting parameter \"x.*\""},
    {"http { map $host $m { hostnames; A*B 1; } }", NULL, 1,
     "invalid hostname or wildcard \"A*B\""},
    /* split_clients, nginx's words */
    {"http { split_clients $uri $s { 0% a; } }", NULL, 1, "invalid percent value \"0%\""},
    {"http { split_clients $uri $s { 1.234% a; } }", NULL, 1, "invalid percent value \"1.234%\""},
    {"http { split_clients $uri $s { 10 a; } }", NULL, 1, "invalid percent value \"10\""},
    {"http { split_clients $uri $s { 60% a; 50% b; } }", NULL, 1,
     "percent total is greater than 100%"},
    {"http { split_clients $uri $s { * a; 1% b; } }", NULL, 1,
     "percent total is greater than 100%"},
    {"http { split_clients $uri s { * a; } }", NULL, 1, "invalid variable name \"s\""},
    /* valid_referers, nginx's words */
    {"http { server { valid_referers \"\"; } }", NULL, 1, "invalid referer \"\""},
    {"http { server { valid_referers ~; } }", NULL, 1, "empty regex in \"~\""},
    {"http { server { valid_referers a.*.com; } }", NULL, 1,
     "invalid hostname or wildcard \"a.*.com\""},
    {"http { server { valid_referers a..com/x; } }", NULL, 1,
     "invalid hostname or wildcard \"a..com\""},
    {"http { server { valid_referers A*B/x; } }", NULL, 1, "invalid hostname or wildcard \"A*B\""},
    {"http { server { valid_referers Ab.test AB.TEST; } }", NULL, 1,
     "conflicting parameter \"ab.test\""},
    {"http { server { valid_referers *.a.test; valid_referers .A.test/x; } }", NULL, 1,
     "conflicting parameter \".a.test\""},
    {"http { server { valid_referers x.*/a x.*/b; } }", NULL, 1, "conflicting parameter \"x.*\""},
    {"http { valid_referers none; }", NULL, 1, "\"valid_referers\" directive is not allowed here"},
    /* geo */
    {"http { geo $g { 10.0.0.0/33 a; } }", NULL, 1, "invalid network \"10.0.0.0/33\""},
    {"http { geo $g { a b c; } }", NULL, 1, "invalid number of the geo parameters"},
    {"http { geo $g { default a; ranges; } }", NULL, 1,
     "the \"ranges\" directive must be the first directive inside \"geo\" block"},
    {"http { geo $g { ranges; 10.0.0.0/8 a; } }", NULL, 1, "invalid range \"10.0.0.0/8\""},
    {"http { geo $g { ranges; 10.0.0.9-10.0.0.1 a; } }", NULL, 1,
     "invalid range \"10.0.0.9-10.0.0.1\""},
    {"http { geo $g { ranges; ::1-::2 a; } }", NULL, 1, "invalid range \"::1-::2\""},
    {"http { geo $g { ranges; 10.0.0.0-10.0.0.9 a; 10.0.0.5-10.0.0.20 b; } }", NULL, 1,
     "range \"10.0.0.5-10.0.0.20\" overlaps \"10.0.0.0-10.0.0.9\""},
    /* a range over several /16 blocks overlaps the piece it holds whole */
    {"http { geo $g { ranges; 10.1.0.0-10.1.0.9 a; 10.0.0.0-10.3.0.0 b; } }", NULL, 1,
     "range \"10.0.0.0-10.3.0.0\" overlaps \"10.1.0.0-10.1.0.9\""},
    {"http { geo $uri g { } }", NULL, 1, "invalid variable name \"g\""},
    {"http { add_header X-A b sometimes; }", NULL, 1,
     "invalid value \"sometimes\" in \"add_header\" directive"},
    {"http { expires soon; }", NULL, 1, "invalid value \"soon\" in \"expires\" directive"},
    {"http { expires later 1h; }", NULL, 1, "invalid value \"later\" in \"expires\" directive"},
    {"http { expires modified max; }", NULL, 1, "invalid value \"max\" in \"expires\" directive"},
    {"http { expires modified 1h 2h; }", NULL, 1,
     "invalid number of arguments in \"expires\" directive"},
    {"http { expires $nowhere; }", NULL, 1, "unknown \"nowhere\" variable"},
    {"http { expires @25h; }", NULL, 1,
     "\"expires\" directive daily time value must be less than 24 hours"},
    {"http { expires modified @1h; }", NULL, 1,
     "\"expires\" directive daily time cannot be used with \"modified\" parameter"},
    {"http { expires @soon; }", NULL, 1, "invalid value \"@soon\" in \"expires\" directive"},
    /* listen */
    {"http { server { listen example.com:80; } }", NULL, 1,
     "host not found in \"example.com:80\" of the \"listen\" directive"},
    {"http { server { listen 127.0.0.1:99999; } }", NULL, 1,
     "invalid port in \"127.0.0.1:99999\" of the \"listen\" directive"},
    {"http { server { listen 127.0.0.1:0; } }", NULL, 1,
     "invalid port in \"127.0.0.1:0\" of the \"listen\" directive"},
    {"http { server { listen 80 fast; } }", NULL, 1, "invalid parameter \"fast\""},
    {"http {\n server { listen 127.0.0.1:8080 default_server; }\n"
     " server { listen 127.0.0.1:8080 default_server; }\n}\n",
     NULL, 3, "a duplicate default server for 127.0.0.1:8080"},
    {"http { server { listen 8080; listen 0.0.0.0:8080; } }", NULL, 1,
     "a duplicate listen 0.0.0.0:8080"},
    {"http { server { listen 8080 reuseport; } server { listen 8080 backlog=10; } }", NULL, 1,
     "duplicate listen options for 0.0.0.0:8080"},
    /* return */
    {"http { server { return abc; } }", NULL, 1, "invalid return code \"abc\""},
    {"http { server { return 1000; } }", NULL, 1, "invalid return code \"1000\""},
    {"http { server { return 99 x; } }", NULL, 1, "invalid return code \"99\""},
    {"http { server { return http://x/ extra; } }", NULL, 1, "invalid return code \"http://x/\""},
    /* the -g pseudo-file */
    {"", "foo;", 0, "unknown directive \"foo\" in command line"},
    {"", "daemon off", 0, "unexpected end of parameter, expecting \";\" in command line"},
    {"", "events { }", 0, "block directives are not supported in -g option in command line"},
    {"", "daemon off; daemon on;", 0, "\"daemon\" directive is duplicate in command line"},
};

START_TEST(error_classes)
{
    expect_error(errors[_i].conf, errors[_i].extra, errors[_i].line, errors[_i].msg);
}
END_TEST

START_TEST(error_files)
{
    char want[2048];

    /* the main file */
    ck_assert_ptr_null(kp_cycle_load(dir, "missing.conf", NULL, err, sizeof(err)));
    snprintf(want, sizeof(want), "open() \"%smissing.conf\" failed (2: No such file or directory)",
             dir);
    ck_assert_str_eq(err, want);
    /* an include names the including file and line */
    put("kelpie.conf", "events {}\nhttp {\n  include sites/a.conf;\n}\n");
    ck_assert_ptr_null(kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "open() \"%ssites/a.conf\" failed (2: No such file or directory) in %skelpie.conf:3",
             dir, dir);
    ck_assert_str_eq(err, want);
    /* an error inside an included file names that file */
    subdir("sites");
    put("sites/a.conf", "server {\n  listen 1.2.3.4:8080 nonsense;\n}\n");
    ck_assert_ptr_null(kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err)));
    snprintf(want, sizeof(want), "invalid parameter \"nonsense\" in %ssites/a.conf:2", dir);
    ck_assert_str_eq(err, want);
    /* an included file must be balanced on its own */
    put("sites/a.conf", "server {\n");
    ck_assert_ptr_null(kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err)));
    snprintf(want, sizeof(want), "unexpected end of file, expecting \"}\" in %ssites/a.conf:2",
             dir);
    ck_assert_str_eq(err, want);
}
END_TEST

/* Load kelpie.conf from dir; it must fail with "MSG in dir/FILE:LINE". */
static void expect_file_error(const char *msg, const char *file, int line)
{
    char want[2048];

    ck_assert_ptr_null(kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s in %s%s:%d", msg, dir, file, line);
    ck_assert_str_eq(err, want);
}

/* Includes are bounded: loops are named at once, nesting, file count and
 * total size are limited, and only regular files are read. */
START_TEST(include_bounds)
{
    char msg[1024], name[32], text[64];

    /* a file that includes itself, directly or through another */
    put("kelpie.conf", "include kelpie.conf;\n");
    snprintf(msg, sizeof(msg), "include loop: \"%skelpie.conf\" is already being read", dir);
    expect_file_error(msg, "kelpie.conf", 1);
    put("kelpie.conf", "events {}\ninclude a.conf;\n");
    put("a.conf", "\ninclude k*.conf;\n");
    expect_file_error(msg, "a.conf", 2);
    /* the same file twice in a row is no loop */
    put("a.conf", "# nothing\n");
    put("kelpie.conf", "events {}\ninclude a.conf;\ninclude a.conf;\n");
    struct kp_cycle *c = kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->files.n, 3);
    kp_cycle_free(c);
    /* a chain of distinct files: KP_CONF_MAX_INCLUDE deep with the main file */
    put("kelpie.conf", "events {}\ninclude n1.conf;\n");
    for (int i = 1; i < KP_CONF_MAX_INCLUDE - 1; i++) {
        snprintf(name, sizeof(name), "n%d.conf", i);
        snprintf(text, sizeof(text), "include n%d.conf;\n", i + 1);
        put(name, text);
    }
    snprintf(name, sizeof(name), "n%d.conf", KP_CONF_MAX_INCLUDE - 1);
    put(name, "");
    c = kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->files.n, KP_CONF_MAX_INCLUDE);
    kp_cycle_free(c);
    put(name, "include deeper.conf;\n");
    put("deeper.conf", "");
    snprintf(msg, sizeof(msg), "too deep include nesting for \"%sdeeper.conf\"", dir);
    expect_file_error(msg, name, 1);
    /* a directory or a FIFO is not read (a FIFO would block) */
    subdir("d");
    put("kelpie.conf", "events {}\ninclude d;\n");
    snprintf(msg, sizeof(msg), "configuration file \"%sd\" is not a regular file", dir);
    expect_file_error(msg, "kelpie.conf", 2);
    snprintf(msg, sizeof(msg), "%sfifo", dir);
    ck_assert_int_eq(mkfifo(msg, 0600), 0);
    put("kelpie.conf", "events {}\n\ninclude fifo;\n");
    snprintf(msg, sizeof(msg), "configuration file \"%sfifo\" is not a regular file", dir);
    expect_file_error(msg, "kelpie.conf", 3);
}
END_TEST

/* `include` inside types { } and map { } reads more of the block's own
 * statements from a file, as nginx does; an error there names that file. */
START_TEST(include_in_raw_blocks)
{
    char msg[1024];

    put("kelpie.conf", "events {}\n"
                       "http {\n"
                       "  types { include more.types; text/css css; }\n"
                       "  map $uri $m { default d; include m.map; }\n"
                       "}\n");
    put("more.types", "text/plain txt log;\n");
    put("m.map", "/a x;\n~^/r re;\n");
    struct kp_cycle *c = kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->http.types.n, 3);
    ck_assert_uint_eq(c->files.n, 3);
    kp_cycle_free(c);
    put("m.map", "/a x;\n/b y z;\n");
    expect_file_error("invalid number of the map parameters", "m.map", 2);
    put("m.map", "/a x;\n}\n");
    expect_file_error("unexpected \"}\"", "m.map", 2);
    put("m.map", "include m.map;\n");
    snprintf(msg, sizeof(msg), "include loop: \"%sm.map\" is already being read", dir);
    expect_file_error(msg, "m.map", 1);
}
END_TEST

/* All files together hold at most KP_CONF_MAX_TOTAL_SIZE bytes, however
 * often a large file is included. */
START_TEST(include_total_size)
{
    size_t n = KP_CONF_MAX_FILE_SIZE - 4096; /* room for the main file's bytes */
    char *big = kp_alloc(n + 1), msg[1024], conf[1024] = "events {}\n";
    int times = (int)(KP_CONF_MAX_TOTAL_SIZE / n) + 1;

    memset(big, ' ', n);
    big[n] = '\0';
    put("big.conf", big);
    kp_free(big);
    for (int i = 0; i < times; i++)
        strcat(conf, "include big.conf;\n");
    put("kelpie.conf", conf);
    snprintf(msg, sizeof(msg),
             "configuration is too large with \"%sbig.conf\" (more than %u MiB in all)", dir,
             KP_CONF_MAX_TOTAL_SIZE >> 20);
    expect_file_error(msg, "kelpie.conf", times + 1);
}
END_TEST

START_TEST(error_too_long)
{
    char text[8192] = "pid ";

    memset(text + 4, 'x', 5000);
    strcpy(text + 5004, ";\n");
    expect_error(text, NULL, 1,
                 "too long parameter \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" started");
}
END_TEST

/* --- what a good configuration produces ------------------------------------------------- */

START_TEST(defaults)
{
    struct kp_cycle *c = load("", NULL);
    char want[PATH_MAX];

    ck_assert_str_eq(c->prefix, dir);
    snprintf(want, sizeof(want), "%skelpie.conf", dir);
    ck_assert_str_eq(c->conf_path, want);
    ck_assert(c->core.daemon);
    ck_assert(c->core.master_process);
    ck_assert_int_eq(c->core.worker_processes, 1);
    snprintf(want, sizeof(want), "%slogs/kelpie.pid", dir);
    ck_assert_str_eq(c->core.pid_path, want);
    snprintf(want, sizeof(want), "%slogs/error.log", dir);
    ck_assert_str_eq(c->core.error_log_path, want);
    ck_assert_int_eq(c->core.error_log_level, KP_LOG_ERR);
    ck_assert_ptr_null(c->core.user);
    ck_assert_int_eq(c->core.worker_rlimit_nofile, 0);
    ck_assert_uint_eq(c->core.worker_shutdown_timeout_ms, 0);
    ck_assert_uint_eq(c->core.worker_watchdog_timeout_ms, 10000);
    ck_assert(!c->core.cpu_affinity_auto);
    ck_assert_uint_eq(c->core.n_cpu_affinity_masks, 0);
    ck_assert_uint_eq(c->events.worker_connections, 512);
    ck_assert_int_eq(c->events.use, KP_EVENT_EPOLL);
    ck_assert(c->events.accept_mutex);
    ck_assert_uint_eq(c->events.accept_mutex_delay_ms, 500);
    ck_assert(!c->events.multi_accept);
    /* no http block: no servers, no listeners */
    ck_assert_uint_eq(c->http.n_servers, 0);
    ck_assert_uint_eq(c->n_listening, 0);
    ck_assert_uint_eq(c->files.n, 1);
    kp_cycle_free(c);
    c = load("http { }", NULL);
    ck_assert_uint_eq(c->n_listening, 0);
    ck_assert_uint_eq(c->http.n_log_formats, 1);
    ck_assert_str_eq(c->http.log_formats[0].name, "combined");
    kp_cycle_free(c);
}
END_TEST

START_TEST(main_directives)
{
    struct kp_cycle *c = load("daemon off; master_process off; worker_processes auto;\n"
                              "pid /run/k.pid; error_log stderr notice; user www;\n"
                              "worker_rlimit_nofile 8192; worker_shutdown_timeout 1m;\n"
                              "worker_watchdog_timeout 2s;\n"
                              "worker_cpu_affinity 0001 0010 0100;\n"
                              "events { worker_connections 64; use poll; accept_mutex off;\n"
                              "  accept_mutex_delay 100ms; multi_accept on; }\n",
                              NULL);

    ck_assert(!c->core.daemon);
    ck_assert(!c->core.master_process);
    ck_assert_int_eq(c->core.worker_processes, (int)sysconf(_SC_NPROCESSORS_ONLN));
    ck_assert_str_eq(c->core.pid_path, "/run/k.pid");
    ck_assert_str_eq(c->core.error_log_path, "stderr");
    ck_assert_int_eq(c->core.error_log_level, KP_LOG_NOTICE);
    ck_assert_str_eq(c->core.user, "www");
    ck_assert_str_eq(c->core.group, "www");
    ck_assert_int_eq(c->core.worker_rlimit_nofile, 8192);
    ck_assert_uint_eq(c->core.worker_shutdown_timeout_ms, 60000);
    ck_assert_uint_eq(c->core.worker_watchdog_timeout_ms, 2000);
    ck_assert_uint_eq(c->core.n_cpu_affinity_masks, 3);
    ck_assert_uint_eq(c->core.cpu_affinity_masks[0], 1);
    ck_assert_uint_eq(c->core.cpu_affinity_masks[1], 2);
    ck_assert_uint_eq(c->core.cpu_affinity_masks[2], 4);
    ck_assert_uint_eq(c->events.worker_connections, 64);
    ck_assert_int_eq(c->events.use, KP_EVENT_POLL);
    ck_assert(!c->events.accept_mutex);
    ck_assert_uint_eq(c->events.accept_mutex_delay_ms, 100);
    ck_assert(c->events.multi_accept);
    kp_cycle_free(c);
    c = load("user www web; worker_cpu_affinity auto 1100; worker_processes 3;", NULL);
    ck_assert_str_eq(c->core.group, "web");
    ck_assert(c->core.cpu_affinity_auto);
    ck_assert_uint_eq(c->core.n_cpu_affinity_masks, 1);
    ck_assert_uint_eq(c->core.cpu_affinity_masks[0], 12);
    ck_assert_int_eq(c->core.worker_processes, 3);
    kp_cycle_free(c);
}
END_TEST

/* The shipped conf/kelpie.conf and conf/mime.types (tests run from the
 * source tree). */
START_TEST(default_config)
{
    char cwd[PATH_MAX], want[PATH_MAX + 32];

    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd) - 1));
    strcat(cwd, "/");
    struct kp_cycle *c = kp_cycle_load(cwd, "conf/kelpie.conf", NULL, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_int_eq(c->core.worker_processes, 2);
    snprintf(want, sizeof(want), "%slogs/error.log", cwd);
    ck_assert_str_eq(c->core.error_log_path, want);
    snprintf(want, sizeof(want), "%slogs/kelpie.pid", cwd);
    ck_assert_str_eq(c->core.pid_path, want);
    ck_assert_uint_eq(c->events.worker_connections, 1024);
    ck_assert_uint_eq(c->files.n, 2);
    ck_assert_uint_eq(c->http.n_servers, 1);
    ck_assert_uint_eq(c->n_listening, 1);
    ck_assert_str_eq(c->listening[0].conf.text, "127.0.0.1:8080");
    ck_assert_int_eq(c->listening[0].fd, -1);
    const struct kp_http_srv_conf *s = c->http.servers[0];
    ck_assert_ptr_eq(kp_http_addr_of(&c->listening[0])->default_server, s);
    ck_assert_uint_eq(s->n_server_names, 1);
    ck_assert_str_eq(s->server_names[0], "localhost");
    const struct kp_http_loc_conf *l = s->loc;
    snprintf(want, sizeof(want), "%shtml", cwd);
    ck_assert_str_eq(l->root, want);
    ck_assert_uint_eq(l->n_index, 1);
    ck_assert_str_eq(l->index[0].text, "index.html");
    ck_assert(l->sendfile);
    ck_assert(l->tcp_nopush);
    ck_assert_uint_eq(l->keepalive_timeout_ms, 65000);
    ck_assert_str_eq(l->default_type, "application/octet-stream");
    ck_assert_uint_eq(l->n_access_logs, 1);
    snprintf(want, sizeof(want), "%slogs/access.log", cwd);
    ck_assert_str_eq(l->access_logs[0].path, want);
    ck_assert_str_eq(l->access_logs[0].format->name, "combined");
    ck_assert_uint_eq(l->n_error_pages, 4);
    ck_assert_int_eq(l->error_pages[3].code, 504);
    ck_assert_str_eq(l->error_pages[0].uri, "/50x.html");
    ck_assert_uint_eq(s->n_locations, 1);
    ck_assert_int_eq(s->locations[0]->match, KP_LOC_EXACT);
    ck_assert_str_eq(s->locations[0]->path, "/50x.html");
    ck_assert_ptr_eq(l->types, &c->http.types);
    ck_assert_uint_gt(c->http.types.n, 50);
    for (size_t i = 1; i < c->http.types.n; i++)
        ck_assert_int_lt(strcmp(c->http.types.v[i - 1].ext, c->http.types.v[i].ext), 0);
    kp_cycle_free(c);
}
END_TEST

START_TEST(types)
{
    struct kp_cycle *c = load("http { server { } }", NULL);
    const struct kp_http_types *t = &c->http.types;

    /* without types { } nginx's built-in set, sorted by extension */
    ck_assert_uint_eq(t->n, 3);
    ck_assert_str_eq(t->v[0].ext, "gif");
    ck_assert_str_eq(t->v[1].ext, "html");
    ck_assert_str_eq(t->v[1].type, "text/html");
    ck_assert_str_eq(t->v[2].ext, "jpg");
    ck_assert_ptr_eq(c->http.servers[0]->loc->types, t);
    ck_assert_str_eq(c->http.servers[0]->loc->default_type, "text/plain");
    kp_cycle_free(c);
    /* blocks add up, later wins, extensions are lowercased */
    c = load("http { types { text/plain TXT log; a/b x; } types { text/x-log log; }\n"
             "  server { location /s { types { image/png png; } default_type x/y; } } }",
             NULL);
    t = &c->http.types;
    ck_assert_uint_eq(t->n, 3);
    ck_assert_str_eq(t->v[0].ext, "log");
    ck_assert_str_eq(t->v[0].type, "text/x-log");
    ck_assert_str_eq(t->v[1].ext, "txt");
    ck_assert_str_eq(t->v[2].ext, "x");
    const struct kp_http_srv_conf *s = c->http.servers[0];
    ck_assert_ptr_eq(s->loc->types, t);
    ck_assert_uint_eq(s->locations[0]->types->n, 1);
    ck_assert_str_eq(s->locations[0]->types->v[0].type, "image/png");
    ck_assert_str_eq(s->locations[0]->default_type, "x/y");
    kp_cycle_free(c);
    /* an empty types { } is kept empty */
    c = load("http { types { } }", NULL);
    ck_assert_uint_eq(c->http.types.n, 0);
    kp_cycle_free(c);
}
END_TEST

static const char inherit_conf[] =
    "http {\n"
    "  sendfile on; keepalive_timeout 30s; access_log logs/a.log; error_page 404 /404.html;\n"
    "  allow 10.0.0.0/8; deny all; index a.html b.html; client_header_timeout 10s;\n"
    "  client_max_body_size 10m; server_tokens off;\n"
    "  server {\n"
    "    listen 127.0.0.1:8081; sendfile off; client_header_timeout 20s; root /srv/;\n"
    "    return 301 http://example.com/;\n"
    "    location / { }\n"
    "    location /img/ { sendfile on; access_log off; allow 127.0.0.1; index c.html;\n"
    "                     return 200 ok; }\n"
    "    location = /exact { status; }\n"
    "    location /img/big/ { keepalive_timeout 5s; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:8082; large_client_header_buffers 8 16k; }\n"
    "}\n";

/* The lengths kept beside a location's path and root (read per request
 * instead of strlen()) agree with the strings, inherited ones included. */
static void assert_kept_lengths(const struct kp_http_loc_conf *l)
{
    ck_assert_uint_eq(l->path_len, strlen(l->path));
    ck_assert_uint_eq(l->root_len, strlen(l->root));
    for (size_t i = 0; i < l->n_ifs; i++)
        assert_kept_lengths(l->ifs[i]);
}

static void assert_srv_kept_lengths(const struct kp_http_srv_conf *s)
{
    assert_kept_lengths(s->loc);
    for (size_t i = 0; i < s->n_all; i++)
        assert_kept_lengths(s->all[i]);
}

START_TEST(inheritance)
{
    struct kp_cycle *c = load(inherit_conf, NULL);
    const struct kp_http_srv_conf *s0 = c->http.servers[0], *s1 = c->http.servers[1];
    char want[PATH_MAX];

    assert_srv_kept_lengths(s0);
    assert_srv_kept_lengths(s1);
    /* server level: own values, the rest from http */
    ck_assert(!s0->loc->sendfile);
    ck_assert_uint_eq(s0->loc->keepalive_timeout_ms, 30000);
    ck_assert_str_eq(s0->loc->root, "/srv");
    ck_assert_uint_eq(s0->loc->n_access_logs, 1);
    ck_assert_uint_eq(s0->loc->n_error_pages, 1);
    ck_assert_uint_eq(s0->loc->n_acl, 2);
    ck_assert(s0->loc->acl[0].allow);
    ck_assert(!s0->loc->acl[1].allow);
    ck_assert_int_eq(s0->loc->acl[1].family, AF_UNSPEC);
    ck_assert_uint_eq(s0->loc->n_index, 2);
    ck_assert_uint_eq(s0->loc->client_max_body_size, 10u << 20);
    ck_assert(!s0->loc->server_tokens);
    ck_assert(s0->loc->tcp_nodelay);
    ck_assert_int_eq(ret_op(s0->loc)->code, 301);
    ck_assert_str_eq(ret_op(s0->loc)->value.text, "http://example.com/");
    ck_assert_uint_eq(s0->client_header_timeout_ms, 20000);
    ck_assert_uint_eq(s0->client_header_buffer_size, 1024);
    /* locations: exact first, then longest prefix first */
    ck_assert_uint_eq(s0->n_locations, 4);
    const struct kp_http_loc_conf *exact = s0->locations[0], *big = s0->locations[1],
                                  *img = s0->locations[2], *root = s0->locations[3];
    ck_assert_str_eq(exact->path, "/exact");
    ck_assert_str_eq(big->path, "/img/big/");
    ck_assert_str_eq(img->path, "/img/");
    ck_assert_str_eq(root->path, "/");
    /* location level: own values, the rest from the server */
    ck_assert(img->sendfile);
    ck_assert_uint_eq(img->n_access_logs, 0);
    ck_assert_uint_eq(img->n_acl, 1);
    ck_assert(img->acl[0].allow);
    ck_assert_uint_eq(img->n_index, 1);
    ck_assert_str_eq(img->index[0].text, "c.html");
    ck_assert_int_eq(ret_op(img)->code, 200);
    ck_assert_str_eq(ret_op(img)->value.text, "ok");
    ck_assert_uint_eq(img->keepalive_timeout_ms, 30000);
    ck_assert_str_eq(img->root, "/srv");
    ck_assert(!root->sendfile);
    /* return, like the rewrite module's other directives, is not inherited
     * (the server's runs before any location is chosen) */
    ck_assert_ptr_null(ret_op(root));
    ck_assert(exact->status);
    ck_assert(!root->status);
    /* a location inherits from its server, not from a shorter location */
    ck_assert(!big->sendfile);
    ck_assert_uint_eq(big->keepalive_timeout_ms, 5000);
    ck_assert_uint_eq(big->n_access_logs, 1);
    /* second server: everything from http and the defaults */
    ck_assert(s1->loc->sendfile);
    ck_assert_ptr_null(ret_op(s1->loc));
    ck_assert_uint_eq(s1->client_header_timeout_ms, 10000);
    ck_assert_uint_eq(s1->large_client_header_buffers_num, 8);
    ck_assert_uint_eq(s1->large_client_header_buffers_size, 16384);
    ck_assert_uint_eq(s0->large_client_header_buffers_num, 4);
    ck_assert_uint_eq(s0->large_client_header_buffers_size, 8192);
    snprintf(want, sizeof(want), "%shtml", dir);
    ck_assert_str_eq(s1->loc->root, want);
    ck_assert_uint_eq(s1->loc->send_timeout_ms, 60000);
    ck_assert_uint_eq(s1->loc->keepalive_requests, 1000);
    ck_assert_uint_eq(s1->n_locations, 0);
    snprintf(want, sizeof(want), "%slogs/a.log", dir);
    ck_assert_str_eq(s1->loc->access_logs[0].path, want);
    kp_cycle_free(c);
}
END_TEST

START_TEST(find_location)
{
    struct kp_cycle *c = load(inherit_conf, NULL);
    const struct kp_http_srv_conf *s0 = c->http.servers[0], *s1 = c->http.servers[1];

    ck_assert_str_eq(kp_http_location_find(s0, "/exact", 6, NULL)->path, "/exact");
    ck_assert_str_eq(kp_http_location_find(s0, "/exactly", 8, NULL)->path, "/");
    ck_assert_str_eq(kp_http_location_find(s0, "/img/x.png", 10, NULL)->path, "/img/");
    ck_assert_str_eq(kp_http_location_find(s0, "/img/big/x", 10, NULL)->path, "/img/big/");
    ck_assert_str_eq(kp_http_location_find(s0, "/img", 4, NULL)->path, "/");
    /* the length bounds the path: "/exact" is a prefix of this buffer */
    ck_assert_str_eq(kp_http_location_find(s0, "/exact?x", 6, NULL)->path, "/exact");
    ck_assert_ptr_eq(kp_http_location_find(s1, "/", 1, NULL), s1->loc);
    kp_cycle_free(c);
}
END_TEST

/* nginx's order: exact, then the longest prefix unless ^~, then regexes in
 * config order, then the longest prefix. */
START_TEST(find_regex_location)
{
    struct kp_cycle *c = load("http { server {\n"
                              "  location / { }\n"
                              "  location /img/ { }\n"
                              "  location ^~ /static/ { }\n"
                              "  location ~ \\.(png|gif)$ { }\n"
                              "  location ~* \\.PNG$ { }\n"
                              "  location ~* ^/num/\\d+[\\d]*?$ { }\n"
                              "  location = /a.png { }\n"
                              "  location ~ \"^/(?i)pcre/(?:a|b)(?=\\.txt$)\" { }\n"
                              "  location ~ ^/lazy/(.+?)(?<!x)$ { }\n"
                              "} }",
                              NULL);
    const struct kp_http_srv_conf *s = c->http.servers[0];

    ck_assert_uint_eq(s->n_locations, 9);
    ck_assert_uint_eq(s->first_regex, 4);
    ck_assert_int_eq(s->locations[4]->match, KP_LOC_REGEX);
    ck_assert_int_eq(s->locations[5]->match, KP_LOC_REGEX_ICASE);
    ck_assert_str_eq(kp_http_location_find(s, "/a.png", 6, NULL)->path, "/a.png");
    ck_assert_str_eq(kp_http_location_find(s, "/img/b.png", 10, NULL)->path, "\\.(png|gif)$");
    ck_assert_str_eq(kp_http_location_find(s, "/img/b.PNG", 10, NULL)->path, "\\.PNG$");
    ck_assert_str_eq(kp_http_location_find(s, "/img/b.jpg", 10, NULL)->path, "/img/");
    ck_assert_str_eq(kp_http_location_find(s, "/static/b.png", 13, NULL)->path, "/static/");
    ck_assert_str_eq(kp_http_location_find(s, "/x.gif", 6, NULL)->path, "\\.(png|gif)$");
    ck_assert_str_eq(kp_http_location_find(s, "/NUM/123", 8, NULL)->path, "^/num/\\d+[\\d]*?$");
    ck_assert_str_eq(kp_http_location_find(s, "/num/12a", 8, NULL)->path, "/");
    /* the length bounds the subject: "$" anchors at len, not at the NUL */
    ck_assert_str_eq(kp_http_location_find(s, "/x.gifz", 6, NULL)->path, "\\.(png|gif)$");
    /* PCRE: (?i), (?:...), lookahead and lookbehind, lazy quantifiers */
    ck_assert_str_eq(kp_http_location_find(s, "/PCRE/B.txt", 11, NULL)->path,
                     "^/(?i)pcre/(?:a|b)(?=\\.txt$)");
    ck_assert_str_eq(kp_http_location_find(s, "/pcre/c.txt", 11, NULL)->path, "/");
    ck_assert_str_eq(kp_http_location_find(s, "/lazy/ab", 8, NULL)->path, "^/lazy/(.+?)(?<!x)$");
    ck_assert_str_eq(kp_http_location_find(s, "/lazy/ax", 8, NULL)->path, "/");
    kp_cycle_free(c);
}
END_TEST

/* Nested locations: the longest prefix is searched again among its own
 * locations, nested regexes come before the outer level's, ^~ stops only
 * its own level's regexes, and settings are inherited from the parent. */
START_TEST(find_nested_location)
{
    struct kp_cycle *c = load("http { server {\n"
                              "  location / { root /r; }\n"
                              "  location /a/ { root /ra; etag off;\n"
                              "    location /a/b/ { location = /a/b/x { } location ~ y$ { } }\n"
                              "    location ~ \\.png$ { }\n"
                              "    location ^~ /a/stop/ { }\n"
                              "  }\n"
                              "  location ^~ /s/ { location ~ \\.png$ { } }\n"
                              "  location ~ \\.(png|jpg|css)$ { location ~ \\.css$ { } }\n"
                              "  location = /e { }\n"
                              "  location /al/ { alias /srv/al/; if ($args) { root /i/; } }\n"
                              "} }",
                              NULL);
    const struct kp_http_srv_conf *s = c->http.servers[0];
    const struct kp_http_loc_conf *l;

    assert_srv_kept_lengths(s);

    ck_assert_uint_eq(s->n_locations, 6);
    ck_assert_uint_eq(s->n_all, 13);
    ck_assert_str_eq(kp_http_location_find(s, "/a/x", 4, NULL)->path, "/a/");
    ck_assert_str_eq(kp_http_location_find(s, "/a/b/z", 6, NULL)->path, "/a/b/");
    ck_assert_str_eq(kp_http_location_find(s, "/a/b/x", 6, NULL)->path, "/a/b/x");
    ck_assert_str_eq(kp_http_location_find(s, "/a/b/xy", 7, NULL)->path, "y$");
    /* the nested regex of /a/ before the server's */
    l = kp_http_location_find(s, "/a/p.png", 8, NULL);
    ck_assert_str_eq(l->path, "\\.png$");
    ck_assert_str_eq(l->root, "/ra");
    ck_assert(!l->etag);
    ck_assert_str_eq(kp_http_location_find(s, "/a/p.jpg", 8, NULL)->path, "\\.(png|jpg|css)$");
    /* a nested ^~ stops /a/'s regexes, not the server's (as nginx does) */
    ck_assert_str_eq(kp_http_location_find(s, "/a/stop/p.jpg", 13, NULL)->path,
                     "\\.(png|jpg|css)$");
    ck_assert_str_eq(kp_http_location_find(s, "/a/stop/p.txt", 13, NULL)->path, "/a/stop/");
    /* ^~ /s/: the server's regexes are not tried, its own are */
    ck_assert_str_eq(kp_http_location_find(s, "/s/p.jpg", 8, NULL)->path, "/s/");
    ck_assert_str_eq(kp_http_location_find(s, "/s/p.png", 8, NULL)->path, "\\.png$");
    /* a regex's nested regex */
    l = kp_http_location_find(s, "/c.css", 6, NULL);
    ck_assert_str_eq(l->path, "\\.css$");
    ck_assert_str_eq(kp_http_location_find(s, "/e", 2, NULL)->path, "/e");
    ck_assert_str_eq(kp_http_location_find(s, "/e/", 3, NULL)->path, "/");
    kp_cycle_free(c);
}
END_TEST

START_TEST(list_directives)
{
    struct kp_cycle *c =
        load("http {\n"
             "  log_format main escape=json '$remote_addr ' \"$status\" ' $http_x_real_ip';\n"
             "  access_log logs/a.log main buffer=32k flush=5s;\n"
             "  access_log /var/log/b.log combined flush=1s;\n"
             "  access_log logs/c.log;\n"
             "  access_log logs/d.log main flush=1s if=$arg_x$status;\n"
             "  server { server_name Example.COM *.example.com; server_name www.example.org;\n"
             "    error_page 500 502 =200 /err.html; error_page 404 /404.html;\n"
             "    deny 192.168.0.0/16; allow all; }\n"
             "  server { access_log off; }\n"
             "}\n",
             NULL);
    const struct kp_http_loc_conf *l = c->http.servers[0]->loc;

    ck_assert_uint_eq(c->http.n_log_formats, 2);
    const struct kp_http_log_format *main_fmt = &c->http.log_formats[1];
    ck_assert_str_eq(main_fmt->name, "main");
    ck_assert_int_eq(main_fmt->escape, KP_HTTP_LOG_ESCAPE_JSON);
    ck_assert_uint_eq(main_fmt->value.n_vars, 3);
    ck_assert_str_eq(main_fmt->value.parts[0].var.def->name, "remote_addr");
    ck_assert(kp_str_eq(main_fmt->value.parts[1].lit, KP_STR(" ")));
    ck_assert_str_eq(main_fmt->value.parts[1].var.def->name, "status");
    ck_assert_str_eq(main_fmt->value.parts[2].var.def->name, "http_");
    ck_assert(kp_str_eq(main_fmt->value.parts[2].var.arg, KP_STR("x-real-ip")));
    ck_assert_int_eq(c->http.log_formats[0].escape, KP_HTTP_LOG_ESCAPE_DEFAULT);
    ck_assert_uint_eq(c->http.log_formats[0].value.n_vars, 8);
    ck_assert_uint_eq(l->n_access_logs, 4);
    ck_assert_ptr_null(l->access_logs[0].cond);
    ck_assert_uint_eq(l->access_logs[3].cond->n_vars, 2);
    ck_assert_str_eq(l->access_logs[3].cond->text, "$arg_x$status");
    ck_assert_uint_eq(l->access_logs[3].flush_ms, 1000);
    ck_assert_ptr_eq(l->access_logs[0].format, main_fmt);
    ck_assert_uint_eq(l->access_logs[0].buffer_size, 32768);
    ck_assert_uint_eq(l->access_logs[0].flush_ms, 5000);
    ck_assert_str_eq(l->access_logs[1].path, "/var/log/b.log");
    ck_assert_uint_eq(l->access_logs[1].buffer_size, KP_HTTP_LOG_BUFFER);
    ck_assert_uint_eq(l->access_logs[2].buffer_size, 0);
    ck_assert_ptr_eq(l->access_logs[2].format, &c->http.log_formats[0]);
    ck_assert_uint_eq(c->http.servers[1]->loc->n_access_logs, 0);
    const struct kp_http_srv_conf *s = c->http.servers[0];
    ck_assert_uint_eq(s->n_server_names, 3);
    ck_assert_str_eq(s->server_names[0], "example.com");
    ck_assert_str_eq(s->server_names[1], "*.example.com");
    ck_assert_str_eq(s->server_names[2], "www.example.org");
    ck_assert_uint_eq(l->n_error_pages, 3);
    ck_assert_int_eq(l->error_pages[0].code, 500);
    ck_assert_int_eq(l->error_pages[1].code, 502);
    ck_assert_int_eq(l->error_pages[1].response_code, 200);
    ck_assert_str_eq(l->error_pages[1].uri, "/err.html");
    ck_assert_int_eq(l->error_pages[2].code, 404);
    ck_assert_int_eq(l->error_pages[2].response_code, 0);
    ck_assert_uint_eq(l->n_acl, 2);
    ck_assert(!l->acl[0].allow);
    ck_assert_int_eq(l->acl[0].family, AF_INET);
    ck_assert_mem_eq(l->acl[0].addr, "\xc0\xa8\x00\x00", 4);
    ck_assert_mem_eq(l->acl[0].mask, "\xff\xff\x00\x00", 4);
    ck_assert(l->acl[1].allow);
    kp_cycle_free(c);
    /* return forms */
    c = load("http { server { return https://example.com$request_uri; }\n"
             "  server { return 404; } server { return 418 \"short and stout\"; } }",
             NULL);
    ck_assert_int_eq(ret_op(c->http.servers[0]->loc)->code, 302);
    ck_assert_str_eq(ret_op(c->http.servers[0]->loc)->value.text,
                     "https://example.com$request_uri");
    ck_assert_int_eq(ret_op(c->http.servers[1]->loc)->code, 404);
    ck_assert(!ret_op(c->http.servers[1]->loc)->has_text);
    ck_assert_str_eq(ret_op(c->http.servers[2]->loc)->value.text, "short and stout");
    kp_cycle_free(c);
}
END_TEST

START_TEST(error_log_lines)
{
    struct kp_cycle *c = load("error_log logs/one.log info;\n"
                              "error_log stderr crit;\n"
                              "error_log /var/log/three.log;\n"
                              "http {\n"
                              "  error_log logs/http.log warn;\n"
                              "  server { location /a/ { error_log logs/a.log debug; "
                              "error_log /dev/null crit; } location /b/ { } }\n"
                              "  server { error_log logs/s.log; }\n"
                              "}\n",
                              NULL);
    const struct kp_log *more = c->core.error_log_more;

    /* The first main line is the master's own; the others follow it. */
    ck_assert_str_eq(c->core.error_log_path + strlen(dir), "logs/one.log");
    ck_assert_int_eq(c->core.error_log_level, KP_LOG_INFO);
    ck_assert_ptr_null(more->path); /* stderr */
    ck_assert_int_eq(more->level, KP_LOG_CRIT);
    ck_assert_str_eq(more->next->path, "/var/log/three.log");
    ck_assert_int_eq(more->next->level, KP_LOG_ERR);
    ck_assert_ptr_null(more->next->next);
    /* http's line is inherited by server 0 and its location /b/; /a/ has
     * its own two, replacing it. */
    const struct kp_http_srv_conf *s0 = c->http.servers[0];
    const struct kp_log *h = s0->loc->error_log;
    ck_assert_str_eq(h->path + strlen(dir), "logs/http.log");
    ck_assert_int_eq(h->level, KP_LOG_WARN);
    ck_assert_ptr_null(h->next);
    const struct kp_http_loc_conf *a = kp_http_location_find(s0, "/a/x", 4, NULL);
    const struct kp_http_loc_conf *b = kp_http_location_find(s0, "/b/x", 4, NULL);
    ck_assert_ptr_eq(b->error_log, h);
    ck_assert_str_eq(a->error_log->path + strlen(dir), "logs/a.log");
    ck_assert_int_eq(a->error_log->level, KP_LOG_DEBUG);
    ck_assert_str_eq(a->error_log->next->path, "/dev/null");
    ck_assert_int_eq(a->error_log->next->level, KP_LOG_CRIT);
    ck_assert_int_eq(a->error_log->fd, -1); /* not opened by the parser */
    ck_assert_str_eq(c->http.servers[1]->loc->error_log->path + strlen(dir), "logs/s.log");
    kp_cycle_free(c);
    /* syslog: no file; main's first one leaves the master a /dev/null that
     * takes only [emerg]; the access log keeps its target as its path. */
    c = load("error_log syslog:server=unix:/dev/log warn;\n"
             "http { access_log syslog:server=unix:/dev/log,severity=notice;\n"
             "  server { error_log syslog:server=unix:/dev/log,tag=web; } }\n",
             NULL);
    ck_assert_str_eq(c->core.error_log_path, "/dev/null");
    ck_assert_int_eq(c->core.error_log_level, KP_LOG_EMERG);
    ck_assert_ptr_nonnull(c->core.error_log_more->syslog);
    ck_assert_int_eq(c->core.error_log_more->level, KP_LOG_WARN);
    ck_assert_ptr_null(c->core.error_log_more->path);
    const struct kp_http_access_log *al = &c->http.servers[0]->loc->access_logs[0];
    ck_assert_str_eq(al->path, "syslog:server=unix:/dev/log,severity=notice");
    ck_assert_uint_eq(al->syslog->severity, KP_LOG_NOTICE);
    ck_assert_str_eq(c->http.servers[0]->loc->error_log->syslog->tag, "web");
    kp_cycle_free(c);
    /* Without error_log in http, locations use the main log (NULL). */
    c = load("http { server { location / { } } }", NULL);
    ck_assert_ptr_null(c->http.servers[0]->loc->error_log);
    ck_assert_ptr_null(c->core.error_log_more);
    kp_cycle_free(c);
}
END_TEST

START_TEST(listening)
{
    struct kp_cycle *c =
        load("http {\n"
             "  server { listen 127.0.0.1:8081; server_name a; }\n"
             "  server { listen 127.0.0.1:8081 default_server; listen [::1]:8082 reuseport "
             "backlog=100; server_name b; }\n"
             "  server { listen 127.0.0.1:8082; listen 8083; server_name c; }\n"
             "  server { listen [::1]:8082; server_name d; }\n"
             "}\n",
             NULL);
    const struct kp_http_srv_conf *const *sv =
        (const struct kp_http_srv_conf *const *)c->http.servers;

    ck_assert_uint_eq(c->n_listening, 4);
    const struct kp_listening *l = c->listening;
    ck_assert_str_eq(l[0].conf.text, "127.0.0.1:8081");
    const struct kp_http_addr *a0 = kp_http_addr_of(&l[0]), *a1 = kp_http_addr_of(&l[1]);
    ck_assert_uint_eq(a0->n_servers, 2);
    ck_assert_ptr_eq(a0->servers[0], sv[0]);
    ck_assert_ptr_eq(a0->servers[1], sv[1]);
    ck_assert_ptr_eq(a0->default_server, sv[1]);
    ck_assert_str_eq(l[1].conf.text, "[::1]:8082");
    ck_assert_uint_eq(a1->n_servers, 2);
    ck_assert_ptr_eq(a1->servers[1], sv[3]);
    ck_assert_ptr_eq(a1->default_server, sv[1]);
    ck_assert(l[1].conf.reuseport);
    ck_assert_int_eq(l[1].conf.backlog, 100);
    ck_assert_int_eq(l[1].conf.addr.ss_family, AF_INET6);
    ck_assert_str_eq(l[2].conf.text, "127.0.0.1:8082");
    ck_assert_int_eq(l[2].conf.backlog, KP_HTTP_BACKLOG);
    ck_assert(!l[2].conf.reuseport);
    ck_assert_str_eq(l[3].conf.text, "0.0.0.0:8083");
    ck_assert_ptr_eq(kp_http_addr_of(&l[3])->default_server, sv[2]);
    for (size_t i = 0; i < c->n_listening; i++) {
        ck_assert_int_eq(l[i].fd, -1);
        ck_assert_ptr_null(l[i].reuseport_fds);
    }
    kp_cycle_free(c);
    /* options given by a later server apply to the shared socket */
    c = load("http { server { listen 127.0.0.1:9000; } server { listen 127.0.0.1:9000 "
             "reuseport backlog=7; } }",
             NULL);
    ck_assert_uint_eq(c->n_listening, 1);
    ck_assert(c->listening[0].conf.reuseport);
    ck_assert_int_eq(c->listening[0].conf.backlog, 7);
    ck_assert_ptr_eq(kp_http_addr_of(&c->listening[0])->default_server, c->http.servers[0]);
    kp_cycle_free(c);
    /* a server without listen gets nginx's default */
    c = load("http { server { } }", NULL);
    ck_assert_uint_eq(c->n_listening, 1);
    ck_assert_str_eq(c->listening[0].conf.text, geteuid() == 0 ? "0.0.0.0:80" : "0.0.0.0:8000");
    kp_cycle_free(c);
}
END_TEST

START_TEST(include_glob)
{
    subdir("conf");
    subdir("conf/sites");
    subdir("conf/sites/sub.conf");
    put("conf/kelpie.conf", "events { include ev.conf; }\n"
                            "http {\n"
                            "  include mime.types;\n"
                            "  include sites/*.conf;\n"
                            "  include nothing/*.conf;\n"
                            "  include sites/none-*.conf;\n"
                            "}\n");
    put("conf/ev.conf", "worker_connections 7;");
    put("conf/mime.types", "types { text/html html; }\n");
    put("conf/sites/b.conf", "server { server_name b; }\n");
    put("conf/sites/a.conf", "server { server_name a; }\n");
    struct kp_cycle *c = kp_cycle_load(dir, "conf/kelpie.conf", NULL, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->events.worker_connections, 7);
    ck_assert_uint_eq(c->http.types.n, 1);
    /* glob order is sorted; the directory matching the pattern is skipped */
    ck_assert_uint_eq(c->http.n_servers, 2);
    ck_assert_str_eq(c->http.servers[0]->server_names[0], "a");
    ck_assert_str_eq(c->http.servers[1]->server_names[0], "b");
    ck_assert_uint_eq(c->files.n, 5);
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%sconf/sites/a.conf", dir);
    ck_assert_str_eq(c->files.names[3], want);
    ck_assert_str_eq(c->files.texts[3].p, "server { server_name a; }\n");
    kp_cycle_free(c);
}
END_TEST

START_TEST(command_line)
{
    struct kp_cycle *c = load("worker_processes 2;\n", "daemon off; master_process off;");

    ck_assert(!c->core.daemon);
    ck_assert(!c->core.master_process);
    ck_assert_int_eq(c->core.worker_processes, 2);
    /* -g text is not a file: -T does not list it */
    ck_assert_uint_eq(c->files.n, 1);
    kp_cycle_free(c);
    /* a relative conf path is against the prefix, and the prefix gets its '/' */
    dir[strlen(dir) - 1] = '\0';
    c = kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err));
    strcat(dir, "/");
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(c->prefix, dir);
    kp_cycle_free(c);
}
END_TEST

START_TEST(dump)
{
    char path[PATH_MAX], out[4096], want[4096];

    subdir("inc");
    put("inc/x.conf", "worker_connections 3;");
    struct kp_cycle *c = load("events {\n  include inc/x.conf;\n}\n", NULL);
    snprintf(path, sizeof(path), "%sdump.out", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(kp_cycle_dump(c, fd), 0);
    ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    snprintf(want, sizeof(want),
             "# configuration file %skelpie.conf:\nevents {\n  include inc/x.conf;\n}\n\n"
             "# configuration file %sinc/x.conf:\nworker_connections 3;\n",
             dir, dir);
    ck_assert_str_eq(out, want);
    close(fd);
    ck_assert_int_eq(kp_cycle_dump(c, -1), -EBADF);
    kp_cycle_free(c);
    kp_cycle_free(NULL);
}
END_TEST

Suite *kp_test_conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *te = tcase_create("errors");
    TCase *tl = tcase_create("load");

    tcase_add_checked_fixture(te, setup, teardown);
    /* include_total_size reads 64 MiB: half a second here, several with
     * both cores busy, beyond Check's default 4 s */
    tcase_set_timeout(te, 30);
    tcase_add_loop_test(te, error_classes, 0, (int)(sizeof(errors) / sizeof(errors[0])));
    tcase_add_test(te, error_files);
    tcase_add_test(te, include_bounds);
    tcase_add_test(te, include_total_size);
    tcase_add_test(te, include_in_raw_blocks);
    tcase_add_test(te, error_too_long);
    suite_add_tcase(s, te);
    tcase_add_checked_fixture(tl, setup, teardown);
    tcase_add_test(tl, defaults);
    tcase_add_test(tl, main_directives);
    tcase_add_test(tl, default_config);
    tcase_add_test(tl, types);
    tcase_add_test(tl, inheritance);
    tcase_add_test(tl, find_location);
    tcase_add_test(tl, find_regex_location);
    tcase_add_test(tl, find_nested_location);
    tcase_add_test(tl, list_directives);
    tcase_add_test(tl, error_log_lines);
    tcase_add_test(tl, listening);
    tcase_add_test(tl, include_glob);
    tcase_add_test(tl, command_line);
    tcase_add_test(tl, dump);
    suite_add_tcase(s, tl);
    return s;
}
