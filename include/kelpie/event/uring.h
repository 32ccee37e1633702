/* What the rest of kelpie needs to know about the io_uring backend
 * (event/uring.c) without including liburing: whether it can run here, and
 * which library it was built with. The backend itself is reached through
 * the loop (kp_loop_init with KP_EVENT_IO_URING). */
#ifndef KP_URING_H
#define KP_URING_H

#include <stdbool.h>
#include <stddef.h>

/* Whether this process can use io_uring the way the backend does: create a
 * ring, with the operations and features it relies on. Returns 0, or -errno
 * with why (len bytes, NUL-terminated) saying what failed and, when it can
 * tell, the cause (kelpie built without liburing, kernel.io_uring_disabled,
 * a seccomp filter, an old kernel). Costs one ring creation, closed again. */
int kp_uring_probe(char *why, size_t len);

/* "liburing 2.3", or "no" when built without it (configure --without-io_uring). */
const char *kp_uring_library(void);

#endif
