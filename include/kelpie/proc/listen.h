/* Opening the cycle's listening sockets, reusing the ones an older cycle
 * already has for the same address (a reload must not close and reopen a
 * socket that clients are connecting to: they would see resets). */
#ifndef KP_LISTEN_H
#define KP_LISTEN_H

#include "kelpie/proc/cycle.h"
#include "kelpie/util/log.h"
#include "kelpie/os/inherit.h"

/* Open every listening socket of cycle; with `reuseport`, one socket per
 * worker (worker_processes). Sockets of old (may be NULL) with the same
 * address and options are taken over: their fds move to cycle and are set to
 * -1 in old. A `listen unix:PATH` removes a stale socket file first (see
 * os/socket.h). Logs each failure with the address. Returns 0, or -errno
 * with nothing newly opened left open (taken-over fds go back to old; the
 * files of new UNIX-domain sockets are removed). */
int kp_listen_open(struct kp_cycle *cycle, struct kp_cycle *old, const struct kp_log *log);
/* Undo kp_listen_open after it succeeded (a reload that failed later):
 * taken-over sockets return to old, the rest of cycle's are closed. */
void kp_listen_give_back(struct kp_cycle *cycle, struct kp_cycle *old);
/* Close every listening fd of cycle (those still owned by it). With
 * remove_files, the UNIX-domain sockets among them that this process owns
 * (bound, or taken over in a binary upgrade) lose their file as well: for a
 * stop of the service, and for the sockets a reload drops. Not while another
 * master of an upgrade still serves on them. */
void kp_listen_close(struct kp_cycle *cycle, bool remove_files);
/* Close this process's descriptors of cycle's listening sockets and leave
 * cycle as it is: for a child that inherited them and will never use them
 * (a new worker, for the sockets a reload drops; an old worker that drains,
 * for all of them). The sockets stay open in the processes that still hold
 * them; a socket nobody holds any more stops taking connections at once. */
void kp_listen_close_copies(const struct kp_cycle *cycle);

/* The listening sockets this process was handed at exec (systemd's socket
 * activation, or the old master of a binary upgrade), as collected by
 * kp_inherit_collect (os/inherit.h) into in[0..n), as a cycle of their own for
 * kp_listen_open(cycle, inherited, log) to take over from: a `listen` whose address (and reuseport)
 * matches a handed socket uses it instead of binding. Reuseport sockets with the same address form
 * one entry. Descriptors that are not listening stream sockets (TCP or UNIX-domain) are logged and
 * closed. Returns NULL when nothing usable was handed over. Free with kp_listen_inherited_done().
 */
struct kp_cycle *kp_listen_inherited(const struct kp_inherited *in, size_t n,
                                     const struct kp_log *log);
/* After kp_listen_open: close the handed sockets that no `listen` took
 * (each logged at notice) and free inherited. NULL is accepted. */
void kp_listen_inherited_done(struct kp_cycle *inherited, const struct kp_log *log);
/* In a child about to exec a new binary: keep every listening fd of cycle
 * open across the exec and write the KELPIE variable's value naming them
 * into buf. Returns 0 or -errno (-ENAMETOOLONG: buf too small). */
int kp_listen_export(const struct kp_cycle *cycle, char *buf, size_t size);

#endif
