/* Process signals as flags. The handlers only set volatile sig_atomic_t flags
 * (the one kind of global state kelpie has); the master and the workers read
 * and clear them from their main loop with kp_signal_take().
 *
 * The race-free pattern: block the managed signals with kp_signal_block() and
 * unblock them only while waiting (epoll_pwait/ppoll/pselect through
 * kp_loop.wait_mask, or sigsuspend in the master) with the mask from
 * kp_signal_wait_mask(). A signal then either interrupts the wait or is
 * pending when it starts; it is never lost between a check and a wait.
 *
 *   SIGTERM, SIGINT  terminate (fast stop)      SIGQUIT  graceful quit
 *   SIGHUP           reload                     SIGUSR1  reopen log files
 *   SIGWINCH         stop workers (master)      SIGCHLD  a child exited
 *   SIGTTIN          one worker more (master)   SIGTTOU  one worker fewer (master);
 *                    handled, so that neither ever stops a process
 *   SIGPIPE          ignored: a write to a closed socket fails with EPIPE */
#ifndef KP_SIGNAL_H
#define KP_SIGNAL_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#define KP_SIGNAL_MAX_REQUESTERS 16
#define KP_SIGNAL_MAX_SEEN       16

/* One signal as caught, for the log: its number and who sent it (0 when
 * the kernel did not say). */
struct kp_signal_seen {
    int signo;
    pid_t from;
};

struct kp_signals {
    bool terminate;
    bool quit;
    bool reload;
    bool reopen;
    bool winch;
    bool child;
    bool upgrade; /* SIGUSR2: binary upgrade (the master; a worker ignores it) */
    bool ttin;    /* SIGTTIN: one worker more (master) */
    bool ttou;    /* SIGTTOU: one worker fewer (master) */
    /* with reload: the pids of the `kelpie -s reload` commands waiting for
     * the outcome (beyond the first KP_SIGNAL_MAX_REQUESTERS, a command
     * gets no answer and reports a timeout) */
    pid_t reload_from[KP_SIGNAL_MAX_REQUESTERS];
    unsigned n_reload_from;
    /* every signal caught since the last take, in order (the first
     * KP_SIGNAL_MAX_SEEN of them), so the master can log it as nginx does */
    struct kp_signal_seen seen[KP_SIGNAL_MAX_SEEN];
    unsigned n_seen;
};

/* The signal `kelpie -s reload` queues: a reload like SIGHUP, but
 * real-time, so that requests from several commands are not merged. */
#define KP_SIGNAL_RELOAD_RT (SIGRTMIN + 1)

/* The sigqueue() value that marks a reload request from `kelpie -s reload`. */
#define KP_SIGNAL_RELOAD_COOKIE 0x6b6c7069

/* Install the flag-setting handlers (without SA_RESTART, so that blocking
 * calls return EINTR) and ignore SIGPIPE. Idempotent. Returns 0 or -errno. */
int kp_signal_install(void);
/* Block the managed signals; the previous mask goes to *old (may be NULL).
 * Returns 0 or -errno. */
int kp_signal_block(sigset_t *old);
/* *mask = old without the managed signals: the mask to wait with. */
void kp_signal_wait_mask(const sigset_t *old, sigset_t *mask);
/* Restore a mask saved by kp_signal_block. Returns 0 or -errno. */
int kp_signal_restore(const sigset_t *old);
/* Copy the flags raised since the last call into *out and clear them. Call
 * with the managed signals blocked so that none arrives between the read and
 * the clear. */
void kp_signal_take(struct kp_signals *out);
/* Answer every `kelpie -s reload` in s (SIGUSR2 carrying value). */
void kp_signal_answer(const struct kp_signals *s, int value);
/* Read and clear only the SIGCHLD flag, leaving the others raised for the
 * next kp_signal_take (a master waiting for new workers reaps meanwhile but
 * acts on nothing else). Call with the managed signals blocked. */
bool kp_signal_take_child(void);

#endif
