/* Unit tests for the configuration machinery (util/conf.c) driven by a test
 * directive table: words, quotes, escapes, comments, line numbers, limits,
 * dispatch checks, generic setters and table-driven merging. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/arena.h"
#include "kelpie/util/conf.h"

struct test_conf {
    unsigned num;
    uint64_t big;
    bool flag;
    size_t size;
    uint64_t msec;
    char *str;
    char *path;
};

#define T(m) KP_CONF_SLOT_MAIN, KP_CONF_FIELD(struct test_conf, m)

static char got[65536]; /* statements recorded by record(): "w|a|b;" */

static int record(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cmd;
    (void)conf;
    for (size_t i = 0; i < cf->nargs; i++) {
        strcat(got, cf->args[i]);
        strcat(got, i + 1 < cf->nargs ? "|" : ";");
    }
    return 0;
}

static int nest(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_conf_seen seen = {NULL, 0};
    struct kp_conf_frame frame = {KP_CONF_MAIN, {conf, NULL, NULL}, &seen, NULL};

    (void)cmd;
    return kp_conf_parse_block(cf, &frame);
}

static const struct kp_conf_cmd cmds[] = {
    {"w", KP_CONF_MAIN, 0, KP_CONF_MAX_ARGS, KP_CONF_MULTI, record, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"once", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, record, KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"ev", KP_CONF_EVENTS, KP_CONF_NOARGS, 0, record, KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"b", KP_CONF_MAIN, KP_CONF_NOARGS, KP_CONF_BLOCK | KP_CONF_MULTI, nest, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"num", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_num, T(num)},
    {"big", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_num, T(big)},
    {"flag", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_flag, T(flag)},
    {"size", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_size, T(size)},
    {"msec", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_msec, T(msec)},
    {"str", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_str, T(str)},
    {"path", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_path, T(path)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};

static const struct kp_conf_cmd *const tables[] = {cmds, NULL};

static struct kp_arena arena;
static struct kp_conf_files files;
static struct kp_conf_target target;
static struct test_conf tc;
static struct kp_conf_seen top_seen;
static char err[1024];

static void setup(void)
{
    kp_arena_init(&arena, 4096);
    memset(&files, 0, sizeof(files));
    memset(&tc, 0, sizeof(tc));
    target = (struct kp_conf_target){
        .arena = &arena, .prefix = "/p/", .conf_path = "/p/conf/t.conf", .files = &files};
}

static void teardown(void)
{
    kp_arena_destroy(&arena);
}

/* Parse text as the file name into tc with errlen bytes of err; returns 0
 * or -EINVAL (err set). */
static int run_as(const char *text, const char *name, size_t errlen)
{
    struct kp_conf_frame top = {KP_CONF_MAIN, {&tc, NULL, NULL}, &top_seen, NULL};
    struct kp_conf *cf = kp_calloc(1, sizeof(*cf));

    got[0] = '\0';
    memset(&top_seen, 0, sizeof(top_seen));
    kp_conf_init(cf, &target, tables, &top, err, errlen);
    int rc = kp_conf_parse_text(cf, name, text, strlen(text), false);
    kp_free(cf);
    return rc;
}

/* Parse text as the file "t.conf"; returns 0 or -EINVAL (err set). */
static int run(const char *text)
{
    return run_as(text, "t.conf", sizeof(err));
}

static void expect_ok(const char *text, const char *want)
{
    ck_assert_msg(run(text) == 0, "%s: %s", text, err);
    ck_assert_str_eq(got, want);
}

static void expect_err(const char *text, const char *want)
{
    ck_assert_int_eq(run(text), -EINVAL);
    ck_assert_str_eq(err, want);
}

START_TEST(words_and_quotes)
{
    expect_ok("w a \"b c\" 'd e';", "w|a|b c|d e;");
    expect_ok("w\n  a\n  b\n;", "w|a|b;");
    expect_ok("w \"\";", "w|;");
    expect_ok("w;w;", "w;w;");
    expect_ok("w a;\r\nw b;\r\n", "w|a;w|b;");
    expect_ok("w 'say \"hi\"' \"it's\";", "w|say \"hi\"|it's;");
    expect_ok("w \"a\"\t'b';", "w|a|b;");
    /* nginx's exception: ')' may follow a quote (if ($a = "b")), as a word */
    expect_ok("w ($a = \"b\");", "w|($a|=|b|);");
    /* "${name}" in a bare word keeps its braces (index ${server_name}.html;);
     * a '{' elsewhere still opens a block */
    expect_ok("w ${a}.html x${b}y ${c};", "w|${a}.html|x${b}y|${c};");
    expect_ok("b{w ${a};}", "w|${a};");
    expect_ok("", "");
}
END_TEST

START_TEST(escapes)
{
    expect_ok("w \"a\\\"b\" 'c\\'d' \"e\\\\f\";", "w|a\"b|c'd|e\\f;");
    expect_ok("w \"g\\nh\" \"t\\tx\" \"r\\rx\";", "w|g\nh|t\tx|r\rx;");
    /* unknown escapes keep their backslash, as for regular expressions */
    expect_ok("w \"\\d+\";", "w|\\d+;");
    /* in bare words too; an escaped ';' does not end the word */
    expect_ok("w a\\\"b c\\;d;", "w|a\"b|c\\;d;");
}
END_TEST

START_TEST(comments)
{
    expect_ok("# whole line\nw a; # after\n#last", "w|a;");
    expect_ok("w a#b;", "w|a#b;");
    expect_ok("w \"#not a comment\";", "w|#not a comment;");
    expect_ok("w a # until the end of the line ; still comment\n b;", "w|a|b;");
}
END_TEST

START_TEST(line_numbers)
{
    expect_err("w a;\n\nw \"x\ny\";\nnope;", "unknown directive \"nope\" in t.conf:5");
    expect_err("w a\\\nb;\nnope;", "unknown directive \"nope\" in t.conf:3");
    expect_err("# c\n# c\n\n  nope\n  ;", "unknown directive \"nope\" in t.conf:5");
}
END_TEST

START_TEST(structure_errors)
{
    expect_err("w a", "unexpected end of file, expecting \";\" or \"}\" in t.conf:1");
    expect_err("b {\nw;\n", "unexpected end of file, expecting \"}\" in t.conf:3");
    expect_err("w;\n}", "unexpected \"}\" in t.conf:2");
    expect_err("b { w a }", "unexpected \"}\" in t.conf:1");
    expect_err(";", "unexpected \";\" in t.conf:1");
    expect_err("{ }", "unexpected \"{\" in t.conf:1");
    expect_err("w \"abc", "unexpected end of file in quoted string in t.conf:1");
    expect_err("w 'abc\n\n", "unexpected end of file in quoted string in t.conf:3");
    expect_err("w \"a\"b;", "unexpected \"b\" in t.conf:1");
    expect_err("b;", "directive \"b\" has no opening \"{\" in t.conf:1");
    expect_err("w { }", "directive \"w\" is not terminated by \";\" in t.conf:1");
    expect_ok("b { w 1; b { w 2; } } w 3;", "w|1;w|2;w|3;");
}
END_TEST

START_TEST(dispatch_errors)
{
    expect_err("nope 1;", "unknown directive \"nope\" in t.conf:1");
    expect_err("ev;", "\"ev\" directive is not allowed here in t.conf:1");
    expect_err("once;", "invalid number of arguments in \"once\" directive in t.conf:1");
    expect_err("once a b;", "invalid number of arguments in \"once\" directive in t.conf:1");
    expect_err("once a;\nonce b;", "\"once\" directive is duplicate in t.conf:2");
    /* a block has its own list: the same directive in a nested block is fine */
    expect_ok("once a; b { once b; }", "once|a;once|b;");
    expect_err("b { b x { } }", "invalid number of arguments in \"b\" directive in t.conf:1");
}
END_TEST

START_TEST(limits)
{
    char *text = kp_alloc(6 * KP_CONF_MAX_TOKEN);
    char want[128];

    /* one word: KP_CONF_MAX_TOKEN bytes pass, one more does not */
    strcpy(text, "w ");
    memset(text + 2, 'a', KP_CONF_MAX_TOKEN);
    strcpy(text + 2 + KP_CONF_MAX_TOKEN, ";");
    ck_assert_int_eq(run(text), 0);
    strcpy(text + 2 + KP_CONF_MAX_TOKEN, "a;");
    snprintf(want, sizeof(want), "too long parameter \"%.32s...\" started in t.conf:1", text + 2);
    expect_err(text, want);
    /* all words of one statement share KP_CONF_MAX_STMT bytes */
    strcpy(text, "w");
    for (int i = 0; i < 5; i++) {
        size_t len = strlen(text);
        text[len] = ' ';
        memset(text + len + 1, 'b', 4000);
        text[len + 4001] = '\0';
    }
    strcat(text, ";");
    ck_assert_int_eq(run(text), -EINVAL);
    ck_assert(strncmp(err, "too long parameter \"bbbb", 24) == 0);
    /* KP_CONF_MAX_ARGS arguments pass, one more does not */
    strcpy(text, "w");
    for (int i = 0; i < KP_CONF_MAX_ARGS; i++)
        strcat(text, " x");
    strcat(text, ";");
    ck_assert_int_eq(run(text), 0);
    strcpy(text + strlen(text) - 1, " x;");
    expect_err(text, "invalid number of arguments in \"w\" directive in t.conf:1");
    kp_free(text);
}
END_TEST

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* A message that does not fit loses the middle of its long word, never the
 * location; control bytes in a word do not split the line. */
START_TEST(errors_keep_location)
{
    char *text = kp_alloc(KP_CONF_MAX_TOKEN + 64);
    char name[300];

    strcpy(text, "num ");
    memset(text + 4, '7', KP_CONF_MAX_TOKEN - 1);
    strcpy(text + 3 + KP_CONF_MAX_TOKEN, "x;");
    ck_assert_int_eq(run(text), -EINVAL);
    ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
    ck_assert(strncmp(err, "invalid value \"7777", 19) == 0);
    ck_assert_ptr_nonnull(strstr(err, "7..."));
    ck_assert(ends_with(err, "77x\" in \"num\" directive in t.conf:1"));
    /* a small buffer still ends with the whole location */
    ck_assert_int_eq(run_as(text, "t.conf", 100), -EINVAL);
    ck_assert_uint_eq(strlen(err), 99);
    ck_assert(ends_with(err, "\" directive in t.conf:1"));
    /* a file name longer than the buffer keeps its end and the line */
    memset(name, 'd', sizeof(name) - 8);
    strcpy(name + sizeof(name) - 8, "/t.conf");
    ck_assert_int_eq(run_as("\n\nnum x;", name, 200), -EINVAL);
    ck_assert(strncmp(err, "invalid value \"x\" in \"num\" directive in ...ddd", 46) == 0);
    ck_assert(ends_with(err, "ddd/t.conf:3"));
    ck_assert_uint_le(strlen(err), 199);
    expect_err("num \"1\\n2\\r\\t\";",
               "invalid value \"1\\x0a2\\x0d\\x09\" in \"num\" directive in t.conf:1");
    kp_free(text);
}
END_TEST

START_TEST(block_depth)
{
    char text[256] = "";

    for (int i = 0; i < KP_CONF_MAX_DEPTH; i++)
        strcat(text, "b { ");
    for (int i = 0; i < KP_CONF_MAX_DEPTH; i++)
        strcat(text, "} ");
    ck_assert_int_eq(run(text), 0);
    strcpy(text, "b { ");
    for (int i = 0; i < KP_CONF_MAX_DEPTH; i++)
        strcat(text, "b { ");
    expect_err(text, "too deep block nesting in \"b\" directive in t.conf:1");
}
END_TEST

START_TEST(generic_setters)
{
    ck_assert_int_eq(run("num 2147483647; big 9007199254740993; flag On; size 2m; "
                         "msec 1m30s; str \"a b\"; path logs/x.log;"),
                     0);
    ck_assert_uint_eq(tc.num, 2147483647u);
    ck_assert_uint_eq(tc.big, 9007199254740993u);
    ck_assert(tc.flag);
    ck_assert_uint_eq(tc.size, 2u << 20);
    ck_assert_uint_eq(tc.msec, 90000);
    ck_assert_str_eq(tc.str, "a b");
    ck_assert_str_eq(tc.path, "/p/logs/x.log");
    ck_assert_int_eq(run("path /abs/x;"), 0);
    ck_assert_str_eq(tc.path, "/abs/x");
    expect_err("num 2147483648;", "invalid value \"2147483648\" in \"num\" directive in t.conf:1");
    expect_err("num -1;", "invalid value \"-1\" in \"num\" directive in t.conf:1");
    expect_err(
        "flag yes;",
        "invalid value \"yes\" in \"flag\" directive, it must be \"on\" or \"off\" in t.conf:1");
    expect_err("size 1t;", "invalid value \"1t\" in \"size\" directive in t.conf:1");
    expect_err("msec 1m1h;", "invalid value \"1m1h\" in \"msec\" directive in t.conf:1");
}
END_TEST

START_TEST(command_line_errors)
{
    struct kp_conf_frame top = {KP_CONF_MAIN, {&tc, NULL, NULL}, &top_seen, NULL};
    struct kp_conf *cf = kp_calloc(1, sizeof(*cf));
    const char *g = "once a; once b;";

    kp_conf_init(cf, &target, tables, &top, err, sizeof(err));
    ck_assert_int_eq(kp_conf_parse_text(cf, "command line", g, strlen(g), true), -EINVAL);
    ck_assert_str_eq(err, "\"once\" directive is duplicate in command line");
    kp_free(cf);
}
END_TEST

START_TEST(merge_by_table)
{
    struct test_conf parent = {7, 8, true, 9, 10, "p", "/p"}, child = {0};

    ck_assert_int_eq(run("num 1; flag off;"), 0);
    child.num = tc.num;
    child.flag = tc.flag;
    kp_conf_merge(cmds, KP_CONF_SLOT_MAIN, &top_seen, &child, &parent);
    ck_assert_uint_eq(child.num, 1);
    ck_assert(!child.flag);
    ck_assert_uint_eq(child.big, 8);
    ck_assert_uint_eq(child.size, 9);
    ck_assert_uint_eq(child.msec, 10);
    ck_assert_str_eq(child.str, "p");
    ck_assert_str_eq(child.path, "/p");
}
END_TEST

START_TEST(grow_lists)
{
    int *v = NULL;
    size_t n = 0;

    for (int i = 0; i < 1000; i++) {
        int *e = KP_CONF_PUSH(&arena, v, n);
        ck_assert_int_eq(*e, 0);
        *e = i;
    }
    ck_assert_uint_eq(n, 1000);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(v[i], i);
    ck_assert_str_eq(kp_conf_join(&arena, "/a/", "b/c"), "/a/b/c");
    ck_assert_str_eq(kp_conf_join(&arena, "/a/", "/b"), "/b");
}
END_TEST

Suite *kp_test_conf_lexer_suite(void)
{
    Suite *s = suite_create("conf_lexer");
    TCase *tc_core = tcase_create("lexer");

    tcase_add_checked_fixture(tc_core, setup, teardown);
    tcase_add_test(tc_core, words_and_quotes);
    tcase_add_test(tc_core, escapes);
    tcase_add_test(tc_core, comments);
    tcase_add_test(tc_core, line_numbers);
    tcase_add_test(tc_core, structure_errors);
    tcase_add_test(tc_core, dispatch_errors);
    tcase_add_test(tc_core, limits);
    tcase_add_test(tc_core, errors_keep_location);
    tcase_add_test(tc_core, block_depth);
    tcase_add_test(tc_core, generic_setters);
    tcase_add_test(tc_core, command_line_errors);
    tcase_add_test(tc_core, merge_by_table);
    tcase_add_test(tc_core, grow_lists);
    suite_add_tcase(s, tc_core);
    return s;
}
