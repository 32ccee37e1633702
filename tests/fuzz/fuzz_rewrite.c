/* libFuzzer target for the configuration of the rewrite module, map and
 * variables: the input is the body of a location (rewrite, set, if (...)
 * { }, return, break) followed, after a first NUL byte if any, by the body
 * of a map block. It is loaded as `-g` text into a whole configuration, so
 * the lexer, the condition parser, the regex compiler and the variable
 * registry all see it. Invariant: a load either succeeds or fails with one
 * error line ending in " in command line"; it never crashes or leaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/proc/cycle.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[128];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

/* An empty main file in a temporary prefix, made once, removed at exit. */
static const char *prefix(void)
{
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/kp_fuzz_rewrite_%d/", (int)getpid());
        mkdir(dir, 0700);
        snprintf(path, sizeof(path), "%skelpie.conf", dir);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        fclose(f);
        atexit(cleanup);
    }
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];

    if (size > 4096)
        return 0;
    const uint8_t *nul = memchr(data, '\0', size);
    size_t loc_len = nul != NULL ? (size_t)(nul - data) : size;
    size_t map_len = nul != NULL ? size - loc_len - 1 : 0;
    const char *map = nul != NULL ? (const char *)nul + 1 : "";
    if (memchr(map, '\0', map_len) != NULL)
        return 0;
    size_t room = loc_len + map_len + 256;
    char *text = malloc(room);
    CHECK(text != NULL);
    snprintf(text, room,
             "http { map $uri $m { %.*s\n} server { listen 127.0.0.1:1; location / { %.*s\n} } }",
             (int)map_len, map, (int)loc_len, (const char *)data);
    struct kp_cycle *c = kp_cycle_load(prefix(), "kelpie.conf", text, err, sizeof(err));
    if (c != NULL) {
        kp_cycle_free(c);
    } else {
        CHECK(strchr(err, '\n') == NULL);
        CHECK(strstr(err, " in command line") != NULL);
    }
    free(text);
    return 0;
}
