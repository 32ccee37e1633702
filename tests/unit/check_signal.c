/* Unit tests for the signal flags: handlers, read-and-clear, SIGPIPE ignored,
 * and the block / wait-mask pattern that keeps signals from being lost. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kelpie/os/signal.h"

static bool none(const struct kp_signals *s)
{
    return !s->terminate && !s->quit && !s->reload && !s->reopen && !s->winch && !s->child &&
           !s->ttin && !s->ttou;
}

START_TEST(signal_install)
{
    struct sigaction sa;

    ck_assert_int_eq(kp_signal_install(), 0);
    ck_assert_int_eq(kp_signal_install(), 0);
    ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
    ck_assert_ptr_eq((void *)sa.sa_handler, (void *)SIG_IGN);
    ck_assert_int_eq(sigaction(SIGTERM, NULL, &sa), 0);
    ck_assert_ptr_ne((void *)sa.sa_handler, (void *)SIG_DFL);
    ck_assert_int_eq(sa.sa_flags & SA_RESTART, 0);
    ck_assert_int_eq(sigaction(SIGCHLD, NULL, &sa), 0);
    ck_assert_int_ne(sa.sa_flags & SA_NOCLDSTOP, 0);
    /* A write to a closed pipe fails instead of killing the process. */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    close(p[0]);
    ck_assert_int_eq(write(p[1], "x", 1), -1);
    close(p[1]);
}
END_TEST

START_TEST(signal_flags)
{
    struct kp_signals s;

    ck_assert_int_eq(kp_signal_install(), 0);
    kp_signal_take(&s);
    ck_assert(none(&s));
    raise(SIGHUP);
    raise(SIGUSR1);
    kp_signal_take(&s);
    ck_assert(s.reload);
    ck_assert(s.reopen);
    ck_assert(!s.terminate && !s.quit && !s.winch && !s.child);
    /* Each signal is listed with its sender, for the master's log. */
    ck_assert_uint_eq(s.n_seen, 2);
    ck_assert_int_eq(s.seen[0].signo, SIGHUP);
    ck_assert_int_eq(s.seen[1].signo, SIGUSR1);
    ck_assert_int_eq(s.seen[0].from, getpid());
    ck_assert_int_eq(s.seen[1].from, getpid());
    kp_signal_take(&s);
    ck_assert(none(&s));
    ck_assert_uint_eq(s.n_seen, 0);
    raise(SIGINT);
    kp_signal_take(&s);
    ck_assert(s.terminate);
    raise(SIGTERM);
    raise(SIGQUIT);
    raise(SIGWINCH);
    kp_signal_take(&s);
    ck_assert(s.terminate && s.quit && s.winch);
    /* Handled, not the default stop: TTIN/TTOU scale the workers. */
    raise(SIGTTIN);
    kp_signal_take(&s);
    ck_assert(s.ttin && !s.ttou);
    raise(SIGTTOU);
    kp_signal_take(&s);
    ck_assert(s.ttou && !s.ttin);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    kp_signal_take(&s);
    ck_assert(s.child);
}
END_TEST

/* Taking only the child flag leaves every other flag, the reload requester
 * included, for the next full take: a reload queued while the master waits
 * for new workers must not be lost. */
START_TEST(signal_take_child_only)
{
    struct kp_signals s;

    ck_assert_int_eq(kp_signal_install(), 0);
    kp_signal_take(&s);
    ck_assert(!kp_signal_take_child());
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    ck_assert_int_eq(
        sigqueue(getpid(), SIGHUP, (union sigval){.sival_int = KP_SIGNAL_RELOAD_COOKIE}), 0);
    raise(SIGQUIT);
    ck_assert(kp_signal_take_child());
    ck_assert(!kp_signal_take_child());
    kp_signal_take(&s);
    ck_assert(s.reload && s.quit && !s.child);
    ck_assert_uint_eq(s.n_reload_from, 1);
    ck_assert_int_eq(s.reload_from[0], getpid());
}
END_TEST

/* `kelpie -s reload` queues a real-time signal: several requests before a
 * take are each recorded (SIGHUPs would merge into one), and a plain
 * reload records no requester. */
START_TEST(signal_reload_requesters_queue)
{
    struct kp_signals s;
    sigset_t old, wait_mask;

    ck_assert_int_eq(kp_signal_install(), 0);
    kp_signal_take(&s);
    ck_assert_int_eq(kp_signal_block(&old), 0);
    kp_signal_wait_mask(&old, &wait_mask);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sigqueue(getpid(), KP_SIGNAL_RELOAD_RT,
                                  (union sigval){.sival_int = KP_SIGNAL_RELOAD_COOKIE}),
                         0);
    struct timespec zero = {0, 0};
    /* Deliver everything queued: real-time signals arrive one by one. */
    for (int i = 0; i < 3; i++)
        pselect(0, NULL, NULL, NULL, &zero, &wait_mask);
    kp_signal_take(&s);
    ck_assert(s.reload);
    ck_assert_uint_eq(s.n_reload_from, 3);
    for (unsigned i = 0; i < 3; i++)
        ck_assert_int_eq(s.reload_from[i], getpid());
    raise(SIGHUP);
    pselect(0, NULL, NULL, NULL, &zero, &wait_mask);
    kp_signal_take(&s);
    ck_assert(s.reload);
    ck_assert_uint_eq(s.n_reload_from, 0);
    ck_assert_int_eq(kp_signal_restore(&old), 0);
}
END_TEST

/* Blocked, a signal stays pending; waiting with the wait mask delivers it. */
START_TEST(signal_block_and_wait)
{
    struct kp_signals s;
    sigset_t old, wait_mask, now;

    ck_assert_int_eq(kp_signal_install(), 0);
    ck_assert_int_eq(kp_signal_block(&old), 0);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, NULL, &now), 0);
    ck_assert(sigismember(&now, SIGQUIT));
    ck_assert(!sigismember(&old, SIGQUIT));
    kp_signal_wait_mask(&old, &wait_mask);
    ck_assert(!sigismember(&wait_mask, SIGQUIT));
    raise(SIGQUIT);
    kp_signal_take(&s);
    ck_assert(!s.quit);
    sigsuspend(&wait_mask);
    kp_signal_take(&s);
    ck_assert(s.quit);
    ck_assert_int_eq(kp_signal_restore(&old), 0);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, NULL, &now), 0);
    ck_assert(!sigismember(&now, SIGQUIT));
}
END_TEST

Suite *kp_test_signal_suite(void)
{
    Suite *s = suite_create("signal");
    TCase *tc = tcase_create("signal");

    tcase_add_test(tc, signal_install);
    tcase_add_test(tc, signal_flags);
    tcase_add_test(tc, signal_take_child_only);
    tcase_add_test(tc, signal_reload_requesters_queue);
    tcase_add_test(tc, signal_block_and_wait);
    suite_add_tcase(s, tc);
    return s;
}
