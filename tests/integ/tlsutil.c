/* Helpers of the TLS integration tests (see tlsutil.h). */
#include "tlsutil.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kp_t_sh(char **out, const char *fmt, ...)
{
    char cmd[4096], *err = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char *const argv[] = {"/bin/sh", "-c", cmd, NULL};
    int rc = kp_h_run(argv, out, &err);
    free(err);
    return rc;
}

void kp_t_make_cert(const struct kp_h_server *s, const char *name, const char *type, const char *cn)
{
    const char *alg = strcmp(type, "rsa") == 0 ? "-newkey rsa:2048"
                                               : "-newkey ec -pkeyopt ec_paramgen_curve:P-256";
    char *out = NULL;
    int rc = kp_t_sh(&out,
                     "cd %sconf && " KP_T_OPENSSL " req -x509 %s -nodes -keyout %s.key -out "
                     "%s.crt -days 2 -subj /CN=%s -addext subjectAltName=DNS:%s 2>&1",
                     s->prefix, alg, name, name, cn, cn);

    ck_assert_msg(rc == 0, "openssl req for %s: %s", name, out);
    free(out);
}
