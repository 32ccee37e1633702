/* Replays fuzz inputs without libFuzzer: every regular file named on the
 * command line, or found (non-recursively, hidden files skipped) in a
 * directory named there, is fed once to LLVMFuzzerTestOneInput. Linked with
 * one fuzz_<target>.c, it lets `make check` rerun corpora and crashers; a
 * violated invariant aborts. Exit status 1 if an argument cannot be read. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kelpie/util/alloc.h"

#include "fuzz.h"

/* Feed one file, read into an exact-size buffer. Returns 0 or -errno. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *data;
    size_t n;

    if (f == NULL)
        return -errno;
    if (fstat(fileno(f), &st) < 0) {
        fclose(f);
        return -errno;
    }
    data = kp_alloc((size_t)st.st_size);
    n = fread(data, 1, (size_t)st.st_size, f);
    fclose(f);
    if (n != (size_t)st.st_size) {
        kp_free(data);
        return -EIO;
    }
    LLVMFuzzerTestOneInput(data, n);
    kp_free(data);
    return 0;
}

/* Feed every visible regular file of dir; returns the count or -errno. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    long count = 0;

    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;

        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
            stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (replay_file(path) < 0) {
            closedir(d);
            return -EIO;
        }
        count++;
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    long total = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        long n;

        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return EXIT_FAILURE;
        }
        n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -EIO;
        if (n < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror((int)-n));
            return EXIT_FAILURE;
        }
        total += n;
    }
    printf("replay: %ld inputs, no invariant violated\n", total);
    return EXIT_SUCCESS;
}
