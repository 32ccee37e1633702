/* The command line against the real binary: -v/-V/-h, -t on good and broken
 * configurations (one line naming file:line, exit 1), -T, -g, -s. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static int run_kelpie(const char *a1, const char *a2, const char *a3, const char *a4,
                      const char *a5, const char *a6, char **out, char **err)
{
    char *argv[] = {(char *)kp_h_binary(),
                    (char *)a1,
                    (char *)a2,
                    (char *)a3,
                    (char *)a4,
                    (char *)a5,
                    (char *)a6,
                    NULL};
    return kp_h_run(argv, out, err);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(version_and_help)
{
    char *out, *err;

    ck_assert_int_eq(run_kelpie("-v", NULL, NULL, NULL, NULL, NULL, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "kelpie version: kelpie/"));
    free(out);
    free(err);
    ck_assert_int_eq(run_kelpie("-V", NULL, NULL, NULL, NULL, NULL, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "built by "));
    ck_assert_ptr_nonnull(strstr(err, "configure arguments:"));
    ck_assert_ptr_nonnull(strstr(err, "allocator: "));
    free(out);
    free(err);
    ck_assert_int_eq(run_kelpie("-h", NULL, NULL, NULL, NULL, NULL, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "Usage: kelpie"));
    /* nginx's help ends with a blank line, on stderr like the rest */
    size_t n = strlen(err);
    ck_assert_msg(n > 20 && strcmp(err + n - 20, "configuration file\n\n") == 0, "help ends: %s",
                  err + (n > 40 ? n - 40 : 0));
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    ck_assert_int_eq(run_kelpie("-x", NULL, NULL, NULL, NULL, NULL, &out, &err), 1);
    ck_assert_str_eq(err, "kelpie: invalid option: \"x\"\n");
    free(out);
    free(err);
    ck_assert_int_eq(run_kelpie("-s", "bogus", NULL, NULL, NULL, NULL, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "invalid option: \"-s bogus\""));
    free(out);
    free(err);
    /* an option without its value: nginx's words */
    ck_assert_int_eq(run_kelpie("-s", NULL, NULL, NULL, NULL, NULL, &out, &err), 1);
    ck_assert_str_eq(err, "kelpie: option \"-s\" requires parameter\n");
    free(out);
    free(err);
    ck_assert_int_eq(run_kelpie("-p", NULL, NULL, NULL, NULL, NULL, &out, &err), 1);
    ck_assert_str_eq(err, "kelpie: option \"-p\" requires directory name\n");
    free(out);
    free(err);
}
END_TEST

/* -e names the default error log (nginx's option): relative to the prefix,
 * checked by -t like the configured one, "stderr" allowed. */
START_TEST(error_log_option)
{
    struct kp_h_server s;
    char *out, *err, path[512];

    kp_h_prepare(&s);
    kp_h_write(&s, "conf/e.conf", "pid logs/e.pid;\nevents { }\nhttp { }\n");
    ck_assert_int_eq(
        run_kelpie("-t", "-p", s.prefix, "-c", "conf/e.conf", "-enodir/e.log", &out, &err), 1);
    snprintf(path, sizeof(path), "open() \"%snodir/e.log\" failed", s.prefix);
    ck_assert_msg(strstr(err, path) != NULL, "want %s, got: %s", path, err);
    free(out);
    free(err);
    ck_assert_int_eq(
        run_kelpie("-t", "-p", s.prefix, "-c", "conf/e.conf", "-elogs/e.log", &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "test is successful"));
    free(out);
    free(err);
    snprintf(path, sizeof(path), "%slogs/e.log", s.prefix);
    ck_assert_int_eq(access(path, F_OK), 0);
    ck_assert_int_eq(run_kelpie("-t", "-p", s.prefix, "-c", "conf/e.conf", "-estderr", &out, &err),
                     0);
    free(out);
    free(err);
    kp_h_stop(&s);
}
END_TEST

START_TEST(test_good_config_and_dump)
{
    struct kp_h_server s;
    char *out, *err;

    kp_h_prepare(&s);
    kp_h_config(&s, "worker_processes 2;", "server { listen 127.0.0.1:@PORT@; root html; }");
    ck_assert_int_eq(run_kelpie("-t", "-p", s.prefix, "-c", "conf/kelpie.conf", NULL, &out, &err),
                     0);
    ck_assert_ptr_nonnull(strstr(err, "test is successful"));
    ck_assert_ptr_nonnull(strstr(err, s.prefix));
    free(out);
    free(err);
    ck_assert_int_eq(run_kelpie("-T", "-p", s.prefix, "-c", "conf/kelpie.conf", NULL, &out, &err),
                     0);
    ck_assert_ptr_nonnull(strstr(out, "# configuration file "));
    ck_assert_ptr_nonnull(strstr(out, "worker_processes 2;"));
    /* as nginx -T: each file's text, then a line feed of its own */
    size_t n = strlen(out);
    ck_assert_msg(n > 3 && strcmp(out + n - 3, "}\n\n") == 0, "dump ends: %s", out);
    free(out);
    free(err);
    ck_assert_int_eq(run_kelpie("-tq", "-p", s.prefix, "-c", "conf/kelpie.conf", NULL, &out, &err),
                     0);
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
    /* -g adds main-context directives; repeating one from the file is a duplicate. */
    ck_assert_int_eq(
        run_kelpie("-t", "-p", s.prefix, "-g", "worker_rlimit_nofile 4096;", NULL, &out, &err), 0);
    free(out);
    free(err);
    ck_assert_int_eq(
        run_kelpie("-t", "-p", s.prefix, "-g", "worker_processes 3;", NULL, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "\"worker_processes\" directive is duplicate"));
    free(out);
    free(err);
    kp_h_stop(&s);
}
END_TEST

/* A broken configuration: its text and the message expected on stderr,
 * where the config file's line is given as its number after the file name. */
struct broken {
    const char *conf;
    const char *message;
    int line;
};

static const struct broken broken_configs[] = {
    {"events {}\nhttp {\n listne 80;\n}\n", "unknown directive \"listne\"", 3},
    {"events {}\nworker_connections 10;\n", "\"worker_connections\" directive is not allowed here",
     2},
    {"events {}\nworker_processes;\n",
     "invalid number of arguments in \"worker_processes\" directive", 2},
    {"events {}\nworker_processes lots;\n",
     "invalid value \"lots\" in \"worker_processes\" directive", 2},
    {"events {}\npid a.pid;\npid b.pid;\n", "\"pid\" directive is duplicate", 3},
    {"events {}\n}\n", "unexpected \"}\"", 2},
    {"events {\n worker_connections 10;\n", "unexpected end of file, expecting \"}\"", 3},
    {"events {}\nworker_processes 2\n", "unexpected end of file, expecting \";\" or \"}\"", 3},
    {"events {}\nerror_log \"logs/x.log;\n", "unexpected end of file", 3},
    {"events {}\ninclude missing.conf;\n", "open() \"", 2},
    {"events { use kqueue; }\n", "invalid value \"kqueue\" in \"use\" directive", 1},
    {"events {}\nhttp {\n server {\n  listen 127.0.0.1:99999;\n }\n}\n", "listen", 4},
    {"events {}\nhttp {\n client_max_body_size 1q;\n}\n",
     "invalid value \"1q\" in \"client_max_body_size\" directive", 3},
    {"events {}\nhttp {\n keepalive_timeout 5x;\n}\n",
     "invalid value \"5x\" in \"keepalive_timeout\" directive", 3},
    {"events {}\nhttp {\n access_log logs/a.log nosuch;\n}\n", "unknown log format \"nosuch\"", 3},
    {"events {}\nhttp {\n server {\n  location /a {}\n  location /a {}\n }\n}\n",
     "duplicate location \"/a\"", 5},
    {"events {}\nhttp {\n sendfile maybe;\n}\n",
     "invalid value \"maybe\" in \"sendfile\" directive", 3},
    {"events {}\nhttp {\n server {\n  root;\n }\n}\n",
     "invalid number of arguments in \"root\" directive", 4},
    {"events {}\nerror_log logs/e.log verbose;\n", "invalid log level \"verbose\"", 2},
    {"events {}\nhttp {\n server {\n  location / {\n   error_log logs/l.log loud;\n  }\n }\n}\n",
     "invalid log level \"loud\"", 5},
};

START_TEST(broken_config_is_one_line_with_file_and_line)
{
    const struct broken *b = &broken_configs[_i];
    struct kp_h_server s;
    char expect[512], *out, *err;

    kp_h_prepare(&s);
    kp_h_write(&s, "conf/kelpie.conf", b->conf);
    /* Without -t: exactly one line, the [emerg] with file:line, exit 1. */
    ck_assert_int_eq(run_kelpie("-p", s.prefix, "-c", "conf/kelpie.conf", NULL, NULL, &out, &err),
                     1);
    snprintf(expect, sizeof(expect), "%sconf/kelpie.conf:%d\n", s.prefix, b->line);
    ck_assert_msg(strncmp(err, "kelpie: [emerg] ", 16) == 0, "got: %s", err);
    ck_assert_msg(strstr(err, b->message) != NULL, "want \"%s\", got: %s", b->message, err);
    ck_assert_msg(strstr(err, expect) != NULL, "want \"%s\", got: %s", expect, err);
    ck_assert_uint_eq(count_lines(err), 1);
    free(out);
    free(err);
    /* With -t the same line, then nginx's "test failed" line naming the
     * file as opened (under the prefix). */
    ck_assert_int_eq(run_kelpie("-t", "-p", s.prefix, "-c", "conf/kelpie.conf", NULL, &out, &err),
                     1);
    ck_assert_ptr_nonnull(strstr(err, expect));
    snprintf(expect, sizeof(expect), "kelpie: configuration file %sconf/kelpie.conf test failed\n",
             s.prefix);
    ck_assert_msg(strstr(err, expect) != NULL, "want \"%s\", got: %s", expect, err);
    free(out);
    free(err);
    s.alerts_expected = true;
    kp_h_stop(&s);
}
END_TEST

START_TEST(signal_without_master_fails)
{
    struct kp_h_server s;
    char *out, *err;

    kp_h_prepare(&s);
    kp_h_config(&s, "", "");
    ck_assert_int_eq(run_kelpie("-p", s.prefix, "-s", "stop", NULL, NULL, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "kelpie.pid"));
    free(out);
    free(err);
    /* no pid file: nginx's open() line; one without a number: nginx's words */
    char want[600];
    snprintf(want, sizeof(want),
             "kelpie: [error] open() \"%slogs/kelpie.pid\" failed (2: No such file or directory)\n",
             s.prefix);
    ck_assert_int_eq(run_kelpie("-p", s.prefix, "-s", "quit", NULL, NULL, &out, &err), 1);
    ck_assert_str_eq(err, want);
    free(out);
    free(err);
    kp_h_write(&s, "logs/kelpie.pid", "garbage\n");
    snprintf(want, sizeof(want),
             "kelpie: [error] invalid PID number \"garbage\" in \"%slogs/kelpie.pid\"\n", s.prefix);
    ck_assert_int_eq(run_kelpie("-p", s.prefix, "-s", "reopen", NULL, NULL, &out, &err), 1);
    ck_assert_str_eq(err, want);
    free(out);
    free(err);
    /* A stale pid file naming no process (pid_max is at most 4194304, so no
     * process has that number): nginx's alert for the kill(). */
    kp_h_write(&s, "logs/kelpie.pid", "4194304\n");
    ck_assert_int_eq(run_kelpie("-p", s.prefix, "-s", "reload", NULL, NULL, &out, &err), 1);
    ck_assert_str_eq(err, "kelpie: [alert] kill(4194304, 1) failed (3: No such process)\n");
    free(out);
    free(err);
    ck_assert_int_eq(run_kelpie("-p", s.prefix, "-s", "stop", NULL, NULL, &out, &err), 1);
    ck_assert_str_eq(err, "kelpie: [alert] kill(4194304, 15) failed (3: No such process)\n");
    free(out);
    free(err);
    /* A stale pid file naming a process that is not kelpie: nothing is sent. */
    kp_h_write(&s, "logs/kelpie.pid", "1\n");
    ck_assert_int_eq(run_kelpie("-p", s.prefix, "-s", "reload", NULL, NULL, &out, &err), 1);
    ck_assert_msg(strstr(err, "kelpie is not running") != NULL, "got: %s", err);
    free(out);
    free(err);
    kp_h_stop(&s);
}
END_TEST

/* What only running it would find: a log that cannot be opened, a pid file
 * in a missing directory. -t finds it too, and a start fails with the
 * reason on the terminal (before it would detach) instead of a master
 * without workers. */
START_TEST(unrunnable_config_refused)
{
    static const char *const cases[][2] = {
        {"pid logs/k.pid;\n",
         "access_log /no/such/dir/a.log;\nserver { listen 127.0.0.1:@PORT@; }\n"},
        {"pid /no/such/dir/k.pid;\n", "server { listen 127.0.0.1:@PORT@; }\n"},
    };
    struct kp_h_server s;
    char *out, *err;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kp_h_prepare(&s);
        char main_text[256];
        snprintf(main_text, sizeof(main_text), "daemon on;\nerror_log logs/error.log;\n%s",
                 cases[i][0]);
        kp_h_config_raw(&s, main_text, "", cases[i][1]);
        ck_assert_int_eq(run_kelpie("-t", "-p", s.prefix, NULL, NULL, NULL, &out, &err), 1);
        ck_assert_msg(strstr(err, "/no/such/dir/") != NULL && strstr(err, "test failed") != NULL,
                      "-t: %s", err);
        free(out);
        free(err);
        ck_assert_int_eq(run_kelpie("-p", s.prefix, NULL, NULL, NULL, NULL, &out, &err), 1);
        ck_assert_msg(strstr(err, "[emerg]") != NULL && strstr(err, "/no/such/dir/") != NULL,
                      "start: %s", err);
        free(out);
        free(err);
        s.alerts_expected = true;
        kp_h_stop(&s);
    }
}
END_TEST

/* A single process cannot reload: `-s reload` says so at once instead of
 * waiting for an answer that never comes, and the server keeps serving. */
START_TEST(reload_single_process_refused)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char *out, *err;

    kp_h_start_with(&s, "master_process off;",
                    "access_log off; server { listen 127.0.0.1:@PORT@; "
                    "location / { return 200 ok; } }");
    ck_assert_int_eq(run_kelpie("-p", s.prefix, "-s", "reload", NULL, NULL, &out, &err), 1);
    ck_assert_msg(strstr(err, "master_process off") != NULL, "got: %s", err);
    free(out);
    free(err);
    ck_assert_int_eq(kp_h_request(s.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* Words too long for a message line: a 1 MiB word (beyond the 4 KiB word
 * limit), a 4000-byte value quoted whole in "invalid value", and one with
 * a newline inside its quotes. The message is shortened, the file:line never. */
START_TEST(huge_word_keeps_file_and_line)
{
    static const size_t sizes[] = {1u << 20, 4000, 2000};
    struct kp_h_server s;
    char expect[512], *out, *err;

    kp_h_prepare(&s);
    snprintf(expect, sizeof(expect), " in %sconf/kelpie.conf:%d\n", s.prefix, 2);
    for (int i = 0; i < 3; i++) {
        size_t n = sizes[i];
        char *word = malloc(n + 1), *conf = malloc(2 * n + 64);
        memset(word, 'w', n);
        word[n] = '\0';
        strcpy(conf, "events {}\nworker_processes \"");
        strcat(conf, word);
        if (i == 2) {
            strcat(conf, "\n");
            strcat(conf, word);
        }
        strcat(conf, "\";\n");
        kp_h_write(&s, "conf/kelpie.conf", conf);
        if (i == 2) /* the newline inside the quotes counts */
            snprintf(expect, sizeof(expect), " in %sconf/kelpie.conf:%d\n", s.prefix, 3);
        ck_assert_int_eq(
            run_kelpie("-p", s.prefix, "-c", "conf/kelpie.conf", NULL, NULL, &out, &err), 1);
        ck_assert_msg(strncmp(err, "kelpie: [emerg] ", 16) == 0, "got: %.80s", err);
        ck_assert_uint_eq(count_lines(err), 1);
        ck_assert_msg(strlen(err) > strlen(expect) &&
                          strcmp(err + strlen(err) - strlen(expect), expect) == 0,
                      "case %d: %s", i, err);
        free(out);
        free(err);
        /* -t: the same [emerg] line, then nginx's "test failed" line */
        ck_assert_int_eq(
            run_kelpie("-t", "-p", s.prefix, "-c", "conf/kelpie.conf", NULL, &out, &err), 1);
        ck_assert_uint_eq(count_lines(err), 2);
        char *nl = strchr(err, '\n');
        ck_assert(nl - err + 1 > (long)strlen(expect) &&
                  strncmp(nl + 1 - strlen(expect), expect, strlen(expect)) == 0);
        ck_assert_ptr_nonnull(strstr(nl, "test failed"));
        free(out);
        free(err);
        free(word);
        free(conf);
    }
    s.alerts_expected = true;
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, version_and_help);
    tcase_add_test(tc, test_good_config_and_dump);
    tcase_add_test(tc, error_log_option);
    tcase_add_loop_test(tc, broken_config_is_one_line_with_file_and_line, 0,
                        (int)(sizeof(broken_configs) / sizeof(broken_configs[0])));
    tcase_add_test(tc, huge_word_keeps_file_and_line);
    tcase_add_test(tc, signal_without_master_fails);
    tcase_add_test(tc, unrunnable_config_refused);
    tcase_add_test(tc, reload_single_process_refused);
    suite_add_tcase(s, tc);
    return s;
}
