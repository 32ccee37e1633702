/* What the TLS integration tests share: shell command lines run through the
 * harness, and certificates made with the openssl command. */
#ifndef KP_TEST_TLSUTIL_H
#define KP_TEST_TLSUTIL_H

#include "harness.h"

#define KP_T_OPENSSL "/usr/bin/openssl"

/* Run a shell command line with /bin/sh (stderr as the command line says);
 * *out (malloc'ed) gets its stdout. Returns its exit code. */
int kp_t_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* conf/NAME.crt and conf/NAME.key in s's prefix: a self-signed certificate
 * for cn (also its subjectAltName), type "ec" (P-256) or "rsa" (2048 bits).
 * Fails the test when openssl does. */
void kp_t_make_cert(const struct kp_h_server *s, const char *name, const char *type,
                    const char *cn);

#endif
