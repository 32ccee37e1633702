/* Unit tests for nginx's directive names without a kelpie meaning
 * (proc/conf_nginx.c): the tuning knobs load in nginx's contexts and have
 * their values checked; directives of unsupported nginx modules are named as
 * such, while typos and misplaced kelpie directives keep their messages. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/proc/conf_nginx.h"
#include "kelpie/util/conf_unsupported.h"
#include "kelpie/proc/cycle.h"
#include "kelpie/http/response.h"

static char dir[64];
static char path[128];
static char err[1024];

static void setup(void)
{
    strcpy(dir, "/tmp/kp_cnginx_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    strcat(dir, "/");
    snprintf(path, sizeof(path), "%skelpie.conf", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

/* Load text as the whole configuration; NULL on error (err has it). */
static struct kp_cycle *load(const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err));
}

static void expect_error(const char *text, const char *msg, int line)
{
    char want[1200];

    ck_assert_ptr_null(load(text));
    snprintf(want, sizeof(want), "%s in %s:%d", msg, path, line);
    ck_assert_str_eq(err, want);
}

START_TEST(knobs_accepted)
{
    struct kp_cycle *c = load("lock_file logs/nginx.lock;\n"
                              "events { worker_aio_requests 128; }\n"
                              "http {\n"
                              "  map_hash_max_size 4096; map_hash_bucket_size 128;\n"
                              "  chunked_transfer_encoding off; log_subrequest on;\n"
                              "  read_ahead 0; send_lowat 4k;\n"
                              "  client_body_in_file_only clean; client_body_in_single_buffer on;\n"
                              "  types_hash_max_size 2048; types_hash_bucket_size 64;\n"
                              "  server_names_hash_max_size 1024;\n"
                              "  server_names_hash_bucket_size 128;\n"
                              "  variables_hash_max_size 2048; variables_hash_bucket_size 128;\n"
                              "  connection_pool_size 512; request_pool_size 4k;\n"
                              "  client_body_temp_path /tmp/body 1 2;\n"
                              "  open_file_cache_min_uses 2; open_file_cache_errors on;\n"
                              "  resolver 1.1.1.1 [2606:4700:4700::1111]:53 dns.test\n"
                              "           valid=60s ipv6=off; resolver_timeout 2s;\n"
                              "  server {\n"
                              "    listen 127.0.0.1:8080 http2; http2 on;\n"
                              "    referer_hash_max_size 4096; referer_hash_bucket_size 128;\n"
                              "    resolver 127.0.0.53:5353;\n"
                              "    location /video/ { sendfile on; aio on; directio 8m;\n"
                              "      directio_alignment 4k; output_buffers 1 128k;\n"
                              "      postpone_output 0; aio_write on; }\n"
                              "    location /v2/ { directio off; postpone_output 1460; }\n"
                              "    open_file_cache_errors off; ssl_stapling_verify on;\n"
                              "    types_hash_max_size 4096; connection_pool_size 1k;\n"
                              "    request_pool_size 8k; client_body_temp_path body;\n"
                              "    location / { types_hash_bucket_size 32;\n"
                              "                 client_body_temp_path /tmp/b 2; }\n"
                              "  }\n"
                              "}\n");
    ck_assert_msg(c != NULL, "%s", err);
    kp_cycle_free(c);
}
END_TEST

START_TEST(knobs_checked)
{
    expect_error("http { types_hash_max_size big; }",
                 "invalid value \"big\" in "
                 "\"types_hash_max_size\" directive",
                 1);
    expect_error("http { types_hash_max_size 0; }",
                 "invalid value \"0\" in "
                 "\"types_hash_max_size\" directive",
                 1);
    expect_error("http { open_file_cache_errors yes; }",
                 "invalid value \"yes\" in \"open_file_cache_errors\" directive, it must be "
                 "\"on\" or \"off\"",
                 1);
    expect_error("http { open_file_cache_min_uses -1; }",
                 "invalid value \"-1\" in \"open_file_cache_min_uses\" directive", 1);
    expect_error("http { client_body_in_file_only always; }",
                 "invalid value \"always\" in \"client_body_in_file_only\" directive", 1);
    expect_error("http { map_hash_bucket_size x; }",
                 "invalid value \"x\" in \"map_hash_bucket_size\" directive", 1);
    expect_error("http { client_body_temp_path /t 3; }",
                 "invalid value \"3\" in \"client_body_temp_path\" directive", 1);
    expect_error("http { resolver [::1; }", "invalid host in resolver \"[::1\"", 1);
    expect_error("http { resolver [nope]:53; }", "invalid host in resolver \"[nope]:53\"", 1);
    expect_error("http { resolver 1.1.1.1:99999; }", "invalid port in resolver \"1.1.1.1:99999\"",
                 1);
    expect_error("http { resolver 1.1.1.1 valid=soon; }", "invalid parameter: valid=soon", 1);
    expect_error("http { resolver 1.1.1.1 ipv4=off ipv6=off; }",
                 "\"ipv4\" and \"ipv6\" cannot both be \"off\"", 1);
    expect_error("http { resolver_timeout fast; }",
                 "invalid value \"fast\" in \"resolver_timeout\" directive", 1);
    expect_error("http { directio huge; }", "invalid value \"huge\" in \"directio\" directive", 1);
    expect_error("http { output_buffers 0 32k; }",
                 "invalid value \"0\" in \"output_buffers\" directive", 1);
    expect_error("http { output_buffers 2; }",
                 "invalid number of arguments in \"output_buffers\" directive", 1);
    expect_error("http { http2 yes; }",
                 "invalid value \"yes\" in \"http2\" directive, it must be \"on\" or \"off\"", 1);
    expect_error("http {\nserver { location / { http2 on; } } }",
                 "\"http2\" directive is not allowed here", 2);
    expect_error("http {\nserver { server_names_hash_max_size 512; } }",
                 "\"server_names_hash_max_size\" directive is not allowed here", 2);
    expect_error("http { request_pool_size 4k;\nrequest_pool_size 8k; }",
                 "\"request_pool_size\" directive is duplicate", 2);
}
END_TEST

START_TEST(unsupported_named)
{
    expect_error("events {}\nhttp { server {\n location / {\n  proxy_pass http://127.0.0.1:9000;\n"
                 " } } }",
                 "\"proxy_pass\" is an nginx directive that kelpie does not support", 4);
    expect_error("http {\n  upstream backend { server 127.0.0.1:9000; }\n}",
                 "\"upstream\" is an nginx directive that kelpie does not support", 2);
    expect_error("http { fastcgi_param SCRIPT_FILENAME $x; }",
                 "\"fastcgi_param\" is an nginx directive that kelpie does not support", 1);
    expect_error("load_module modules/ngx_mail_module.so;",
                 "\"load_module\" is an nginx directive that kelpie does not support", 1);
    /* A typo is still a typo, and a kelpie directive in the wrong place is
     * still misplaced. */
    expect_error("http { proxypass x; }", "unknown directive \"proxypass\"", 1);
    expect_error("http { listen 80; }", "\"listen\" directive is not allowed here", 1);
}
END_TEST

START_TEST(families)
{
    static const char *const yes[] = {"proxy_set_header", "uwsgi_pass",         "scgi_param",
                                      "grpc_pass",        "memcached_pass",     "ssi",
                                      "sub_filter_once",  "http2_push_preload", "mirror",
                                      "gunzip",           "add_trailer"};
    static const char *const no[] = {"gzip",    "autoindex",     "auth_basic", "limit_req",
                                     "root",    "proxy",         "server",     "set_real_ip_from",
                                     "charset", "split_clients", "geo",        "valid_referers"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        ck_assert_msg(kp_conf_unsupported_is(yes[i]), "%s", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        ck_assert_msg(!kp_conf_unsupported_is(no[i]), "%s", no[i]);
}
END_TEST

START_TEST(response_directives_checked)
{
    struct kp_cycle *c = load("http { keepalive_timeout 30s 25s; if_modified_since before;\n"
                              "  etag off; max_ranges 0; charset utf-8; server_tokens build;\n"
                              "  charset_types text/css application/json;\n"
                              "  server { listen 127.0.0.1:8080; charset off;\n"
                              "    location / { if_modified_since off; charset_types *; } } }");
    ck_assert_msg(c != NULL, "%s", err);
    kp_cycle_free(c);
    expect_error("http { if_modified_since sometimes; }",
                 "invalid value \"sometimes\" in \"if_modified_since\" directive", 1);
    expect_error("http { keepalive_timeout 30s soon; }",
                 "invalid value \"soon\" in \"keepalive_timeout\" directive", 1);
    expect_error("http { charset \"utf 8\"; }", "invalid value \"utf 8\" in \"charset\" directive",
                 1);
    expect_error("http { charset_types html; }",
                 "invalid value \"html\" in \"charset_types\" directive", 1);
    expect_error("http { server_tokens maybe; }",
                 "invalid value \"maybe\" in \"server_tokens\" directive", 1);
}
END_TEST

/* merge_slashes, underscores_in_headers, ignore_invalid_headers (http,
 * server), lingering_* (http, server, location), stub_status (server,
 * location): values, defaults, inheritance and the errors. */
START_TEST(request_directives)
{
    struct kp_cycle *c =
        load("http { merge_slashes off; underscores_in_headers on; server_tokens build;\n"
             "  lingering_close always; lingering_time 10s;\n"
             "  server { listen 127.0.0.1:8080; ignore_invalid_headers off;\n"
             "    location /a { lingering_close off; lingering_timeout 2s; }\n"
             "    location = /s { stub_status; } location = /t { status; } }\n"
             "  server { listen 127.0.0.1:8081; merge_slashes on; stub_status on; } }");
    ck_assert_msg(c != NULL, "%s", err);
    const struct kp_http_srv_conf *s0 = c->http.servers[0], *s1 = c->http.servers[1];
    ck_assert(!s0->merge_slashes && s0->underscores_in_headers && !s0->ignore_invalid_headers);
    ck_assert(s1->merge_slashes && s1->underscores_in_headers && s1->ignore_invalid_headers);
    ck_assert_uint_eq(s0->loc->lingering_close, KP_LINGER_ALWAYS);
    ck_assert_uint_eq(s0->loc->server_tokens, KP_HTTP_TOKENS_BUILD);
    ck_assert_uint_eq(s0->loc->lingering_time_ms, 10000);
    ck_assert_uint_eq(s0->loc->lingering_timeout_ms, 5000);
    const struct kp_http_loc_conf *a = NULL, *st = NULL, *t = NULL;
    for (size_t i = 0; i < s0->n_locations; i++) {
        const struct kp_http_loc_conf *l = s0->locations[i];
        if (strcmp(l->path, "/a") == 0)
            a = l;
        else if (strcmp(l->path, "/s") == 0)
            st = l;
        else if (strcmp(l->path, "/t") == 0)
            t = l;
    }
    ck_assert(a != NULL && st != NULL && t != NULL);
    ck_assert_uint_eq(a->lingering_close, KP_LINGER_OFF);
    ck_assert_uint_eq(a->lingering_time_ms, 10000);
    ck_assert_uint_eq(a->lingering_timeout_ms, 2000);
    ck_assert_uint_eq(st->status, KP_HTTP_STATUS_STUB);
    ck_assert_uint_eq(t->status, KP_HTTP_STATUS_PAGE);
    ck_assert_uint_eq(s1->loc->status, KP_HTTP_STATUS_STUB);
    kp_cycle_free(c);
    c = load("http { server { listen 127.0.0.1:8080; } }");
    ck_assert_msg(c != NULL, "%s", err);
    s0 = c->http.servers[0];
    ck_assert(s0->merge_slashes && !s0->underscores_in_headers && s0->ignore_invalid_headers);
    ck_assert_uint_eq(s0->loc->lingering_close, KP_LINGER_ON);
    ck_assert_uint_eq(s0->loc->lingering_time_ms, 30000);
    ck_assert_uint_eq(s0->loc->lingering_timeout_ms, 5000);
    kp_cycle_free(c);
    expect_error("http { lingering_close sometimes; }",
                 "invalid value \"sometimes\" in \"lingering_close\" directive", 1);
    expect_error(
        "http { merge_slashes yes; }",
        "invalid value \"yes\" in \"merge_slashes\" directive, it must be \"on\" or \"off\"", 1);
    expect_error("http { server { location / { merge_slashes off; } } }",
                 "\"merge_slashes\" directive is not allowed here", 1);
    expect_error("http { stub_status; }", "\"stub_status\" directive is not allowed here", 1);
    expect_error("http { server { stub_status off; } }",
                 "invalid value \"off\" in \"stub_status\" directive", 1);
}
END_TEST

START_TEST(listen_parameters)
{
    struct kp_cycle *c = load("http { server {\n"
                              "  listen 127.0.0.1:8080 deferred bind fastopen=256 rcvbuf=64k\n"
                              "         sndbuf=1m so_keepalive=30m:10:4 backlog=100;\n"
                              "  listen [::]:8080 ipv6only=off so_keepalive=off;\n"
                              "  listen 127.0.0.1:8081 so_keepalive=:75:; } }");
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->n_listening, 3);
    const struct kp_socket_conf *a = &c->listening[0].conf, *b = &c->listening[1].conf,
                                *d = &c->listening[2].conf;
    ck_assert(a->deferred && a->bind && !a->ipv6_dual);
    ck_assert_int_eq(a->fastopen, 256);
    ck_assert_int_eq(a->rcvbuf, 65536);
    ck_assert_int_eq(a->sndbuf, 1 << 20);
    ck_assert_int_eq(a->so_keepalive, 1);
    ck_assert_int_eq(a->keepidle, 1800);
    ck_assert_int_eq(a->keepintvl, 10);
    ck_assert_int_eq(a->keepcnt, 4);
    ck_assert(b->ipv6_dual);
    ck_assert_int_eq(b->so_keepalive, -1);
    ck_assert_int_eq(d->so_keepalive, 1);
    ck_assert_int_eq(d->keepidle, 0);
    ck_assert_int_eq(d->keepintvl, 75);
    ck_assert_int_eq(d->keepcnt, 0);
    kp_cycle_free(c);
    expect_error("http { server { listen 8080 so_keepalive=maybe; } }",
                 "invalid value \"so_keepalive=maybe\" in \"listen\" directive", 1);
    expect_error("http { server { listen 8080 rcvbuf=lots; } }",
                 "invalid value \"rcvbuf=lots\" in \"listen\" directive", 1);
    expect_error("http { server { listen 8080 fastopen=x; } }",
                 "invalid value \"fastopen=x\" in \"listen\" directive", 1);
    expect_error("http { server { listen 8080 deferred; }\nserver { listen 8080 sndbuf=8k; } }",
                 "duplicate listen options for 0.0.0.0:8080", 2);
}
END_TEST

Suite *kp_test_conf_nginx_suite(void)
{
    Suite *s = suite_create("conf_nginx");
    TCase *tc = tcase_create("nginx");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, knobs_accepted);
    tcase_add_test(tc, knobs_checked);
    tcase_add_test(tc, unsupported_named);
    tcase_add_test(tc, families);
    tcase_add_test(tc, response_directives_checked);
    tcase_add_test(tc, listen_parameters);
    tcase_add_test(tc, request_directives);
    suite_add_tcase(s, tc);
    return s;
}
