/* A configuration context for unit tests of code that compiles directive
 * arguments (variables, regexes): a cycle with an arena and a kp_conf
 * positioned in a fake file "test.conf", line 7, directive args[0]. */
#ifndef KP_TEST_CONF_FIXTURE_H
#define KP_TEST_CONF_FIXTURE_H

#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/arena.h"
#include "kelpie/util/conf.h"
#include "kelpie/proc/cycle.h"

struct conf_fixture {
    struct kp_arena arena;
    struct kp_cycle cycle;
    struct kp_conf cf;
    struct kp_conf_frame top;
    struct kp_conf_file file;
    char err[512];
};

static inline struct conf_fixture *conf_fixture_new(const char *directive)
{
    struct conf_fixture *f = kp_calloc(1, sizeof(*f));

    kp_arena_init(&f->arena, 4096);
    f->cycle.arena = &f->arena;
    f->cycle.conf_path = "/tmp/test.conf";
    kp_cycle_conf_init(&f->cf, &f->cycle, NULL, &f->top, f->err, sizeof(f->err));
    f->file.name = "test.conf";
    f->file.line = 7;
    f->cf.file = &f->file;
    f->cf.args[0] = (char *)directive;
    f->cf.nargs = 1;
    return f;
}

static inline void conf_fixture_free(struct conf_fixture *f)
{
    kp_arena_destroy(&f->arena);
    kp_free(f);
}

#endif
