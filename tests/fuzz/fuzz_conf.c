/* libFuzzer target for the configuration parser, through kp_cycle_load() as
 * `kelpie -t` runs it.
 *
 * The input is cut at NUL bytes into up to four parts: the main file
 * kelpie.conf, two files it may include (a.conf and sub/b.conf, by name or
 * by glob, so include chains and loops are reachable) and the -g text.
 * They are written into a private directory that serves as the prefix.
 * Invariants: the load either succeeds, and the files it read are dumped
 * as -T would, or fails with exactly one line that fits the buffer and ends
 * with " in command line" or " in FILE:LINE", FILE being one of the files
 * written and LINE at most its line count + 1. Time and memory stay bounded
 * by the parser's own limits (block nesting, include depth and loops, file
 * count and size); `make fuzz` enforces that with -timeout and -rss_limit_mb.
 * Inputs containing ".." are skipped so that an include cannot wander out
 * of the private directory through a relative path. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/proc/cycle.h"

#include "fuzz.h"

#define NPARTS 4 /* kelpie.conf, a.conf, sub/b.conf, -g */

static const char *const names[NPARTS - 1] = {"kelpie.conf", "a.conf", "sub/b.conf"};

static char dir[64]; /* the prefix, with a trailing '/' */

static void path_of(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s%s", dir, name);
}

static void cleanup(void)
{
    char path[128];

    for (int i = 0; i < NPARTS - 1; i++) {
        path_of(path, sizeof(path), names[i]);
        unlink(path);
    }
    path_of(path, sizeof(path), "sub");
    rmdir(path);
    rmdir(dir);
}

/* The private directory, made once per process and removed at exit. */
static void make_dir(void)
{
    char path[128];

    if (dir[0] != '\0')
        return;
    strcpy(dir, "/tmp/kp_fuzz_conf_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    strcat(dir, "/");
    path_of(path, sizeof(path), "sub");
    CHECK(mkdir(path, 0700) == 0);
    atexit(cleanup);
}

static void write_part(const char *name, const uint8_t *p, size_t len)
{
    char path[128];
    int fd;

    path_of(path, sizeof(path), name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, p, len) == (ssize_t)len);
    close(fd);
}

/* Number of lines of part i, as the parser counts them (newlines + 1). */
static unsigned lines_of(const uint8_t *p, size_t len)
{
    unsigned n = 1;

    for (size_t i = 0; i < len; i++)
        n += p[i] == '\n';
    return n;
}

/* The error must end with " in command line" or " in FILE:LINE" for a file
 * written, with LINE in range. */
static void check_error(const char *err, size_t errlen, const uint8_t *part[NPARTS],
                        const size_t len[NPARTS])
{
    size_t n = strlen(err);
    char path[128];

    CHECK(n > 0 && n < errlen);
    for (size_t i = 0; i < n; i++)
        CHECK(err[i] != '\n' && err[i] != '\r');
    if (n > 16 && strcmp(err + n - 16, " in command line") == 0) {
        CHECK(part[NPARTS - 1] != NULL);
        return;
    }
    const char *colon = strrchr(err, ':');
    CHECK(colon != NULL && colon[1] >= '1' && colon[1] <= '9');
    char *end;
    unsigned long line = strtoul(colon + 1, &end, 10);
    CHECK(*end == '\0');
    for (int i = 0; i < NPARTS - 1; i++) {
        path_of(path, sizeof(path), names[i]);
        size_t plen = strlen(path);
        if ((size_t)(colon - err) < plen + 4 || memcmp(colon - plen, path, plen) != 0 ||
            memcmp(colon - plen - 4, " in ", 4) != 0)
            continue;
        CHECK(line <= lines_of(part[i], len[i]));
        return;
    }
    /* An include can reach a file outside the test's directory (a CI run
     * found a glob of every .conf file two levels down from the root,
     * which named /etc/appstream.conf): its name and line can only be
     * checked for their form. */
    const char *in = NULL;
    for (const char *q = err; (q = strstr(q, " in /")) != NULL && q < colon; q++)
        in = q;
    if (in != NULL && strncmp(in + 4, dir, strlen(dir)) != 0)
        return;
    fprintf(stderr, "no file:line in: %s\n", err);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[NPARTS] = {NULL}, *p = data, *end = data + size;
    size_t len[NPARTS] = {0};
    char err[1024], *extra = NULL;

    if (memmem(data, size, "..", 2) != NULL)
        return 0;
    make_dir();
    /* a part exists if a NUL ended the one before; missing files are empty */
    for (int i = 0; i < NPARTS && p != NULL; i++) {
        const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
        part[i] = p;
        len[i] = (size_t)((nul != NULL ? nul : end) - p);
        p = nul != NULL ? nul + 1 : NULL;
    }
    for (int i = 0; i < NPARTS - 1; i++)
        write_part(names[i], part[i] != NULL ? part[i] : data, len[i]);
    if (part[NPARTS - 1] != NULL) {
        extra = kp_alloc(len[NPARTS - 1] + 1);
        memcpy(extra, part[NPARTS - 1], len[NPARTS - 1]);
        extra[len[NPARTS - 1]] = '\0';
    }
    struct kp_cycle *cycle = kp_cycle_load(dir, "kelpie.conf", extra, err, sizeof(err));
    if (cycle == NULL) {
        check_error(err, sizeof(err), part, len);
    } else {
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0 && kp_cycle_dump(cycle, fd) == 0);
        close(fd);
        kp_cycle_free(cycle);
    }
    kp_free(extra);
    return 0;
}
