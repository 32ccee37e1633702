/* Signal handlers that set flags, and the masks to wait for them without a
 * race. The flags below are kelpie's only globals: a handler has nowhere else
 * to put what it learned. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>

#include "kelpie/os/signal.h"

static volatile sig_atomic_t sig_terminate;
static volatile sig_atomic_t sig_quit;
static volatile sig_atomic_t sig_reload;
static volatile sig_atomic_t sig_reopen;
static volatile sig_atomic_t sig_winch;
static volatile sig_atomic_t sig_child;
static volatile sig_atomic_t sig_upgrade;
static volatile sig_atomic_t sig_ttin;
static volatile sig_atomic_t sig_ttou;
/* Who asked for a reload with the `kelpie -s reload` cookie since the last
 * take (several commands may run at once: each waits for its answer). */
static volatile sig_atomic_t sig_reload_from[KP_SIGNAL_MAX_REQUESTERS];
static volatile sig_atomic_t sig_n_reload_from;
/* Every signal caught, with its sender, for the master's log. */
static volatile sig_atomic_t sig_seen_no[KP_SIGNAL_MAX_SEEN];
static volatile sig_atomic_t sig_seen_from[KP_SIGNAL_MAX_SEEN];
static volatile sig_atomic_t sig_n_seen;

static void seen(int signo, const siginfo_t *info)
{
    if (sig_n_seen >= KP_SIGNAL_MAX_SEEN)
        return;
    sig_seen_no[sig_n_seen] = signo;
    sig_seen_from[sig_n_seen] = info != NULL ? info->si_pid : 0;
    sig_n_seen++;
}

static const int managed[] = {SIGTERM,  SIGINT,  SIGQUIT, SIGHUP,  SIGUSR1,
                              SIGWINCH, SIGCHLD, SIGUSR2, SIGTTIN, SIGTTOU};
#define N_MANAGED (sizeof(managed) / sizeof(managed[0]))

static void on_signal(int signo, siginfo_t *info, void *uctx)
{
    (void)uctx;
    seen(signo, info);
    switch (signo) {
    case SIGTERM:
    case SIGINT:
        sig_terminate = 1;
        break;
    case SIGQUIT:
        sig_quit = 1;
        break;
    case SIGHUP:
        sig_reload = 1;
        break;
    case SIGUSR1:
        sig_reopen = 1;
        break;
    case SIGWINCH:
        sig_winch = 1;
        break;
    case SIGCHLD:
        sig_child = 1;
        break;
    case SIGUSR2:
        sig_upgrade = 1;
        break;
    case SIGTTIN:
        sig_ttin = 1;
        break;
    case SIGTTOU:
        sig_ttou = 1;
        break;
    default:
        break;
    }
}

/* A reload request that says who sent it: `kelpie -s reload` queues
 * KP_SIGNAL_RELOAD_RT (a real-time signal: several commands at once are
 * each delivered, where SIGHUPs would merge into one) with a cookie, and
 * waits for the master's answer. A plain `kill -HUP` gets no answer. */
static void on_hup(int signo, siginfo_t *info, void *uctx)
{
    (void)uctx;
    seen(signo, info);
    sig_reload = 1;
    if (info != NULL && info->si_code == SI_QUEUE &&
        info->si_value.sival_int == KP_SIGNAL_RELOAD_COOKIE &&
        sig_n_reload_from < KP_SIGNAL_MAX_REQUESTERS)
        sig_reload_from[sig_n_reload_from++] = info->si_pid;
}

static void managed_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < N_MANAGED; i++)
        sigaddset(set, managed[i]);
    sigaddset(set, KP_SIGNAL_RELOAD_RT);
}

int kp_signal_install(void)
{
    struct sigaction sa = {.sa_sigaction = on_signal};

    /* Handlers do not nest: each one only stores a flag. */
    managed_set(&sa.sa_mask);
    for (size_t i = 0; i < N_MANAGED; i++) {
        sa.sa_flags = SA_SIGINFO | (managed[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
        if (sigaction(managed[i], &sa, NULL) < 0)
            return -errno;
    }
    struct sigaction hup = {.sa_sigaction = on_hup, .sa_flags = SA_SIGINFO};
    hup.sa_mask = sa.sa_mask;
    sigaddset(&hup.sa_mask, KP_SIGNAL_RELOAD_RT);
    if (sigaction(SIGHUP, &hup, NULL) < 0 || sigaction(KP_SIGNAL_RELOAD_RT, &hup, NULL) < 0)
        return -errno;
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(&ign.sa_mask);
    return sigaction(SIGPIPE, &ign, NULL) < 0 ? -errno : 0;
}

int kp_signal_block(sigset_t *old)
{
    sigset_t set;

    managed_set(&set);
    return sigprocmask(SIG_BLOCK, &set, old) < 0 ? -errno : 0;
}

void kp_signal_wait_mask(const sigset_t *old, sigset_t *mask)
{
    *mask = *old;
    for (size_t i = 0; i < N_MANAGED; i++)
        sigdelset(mask, managed[i]);
    sigdelset(mask, KP_SIGNAL_RELOAD_RT);
}

int kp_signal_restore(const sigset_t *old)
{
    return sigprocmask(SIG_SETMASK, old, NULL) < 0 ? -errno : 0;
}

/* Read-then-clear per flag: with the signals blocked nothing can slip in
 * between the two. */
static bool take_flag(volatile sig_atomic_t *flag)
{
    bool raised = *flag != 0;

    *flag = 0;
    return raised;
}

void kp_signal_take(struct kp_signals *out)
{
    out->terminate = take_flag(&sig_terminate);
    out->quit = take_flag(&sig_quit);
    out->reload = take_flag(&sig_reload);
    out->reopen = take_flag(&sig_reopen);
    out->winch = take_flag(&sig_winch);
    out->child = take_flag(&sig_child);
    out->upgrade = take_flag(&sig_upgrade);
    out->ttin = take_flag(&sig_ttin);
    out->ttou = take_flag(&sig_ttou);
    out->n_reload_from = 0;
    for (sig_atomic_t i = 0; out->reload && i < sig_n_reload_from; i++)
        out->reload_from[out->n_reload_from++] = (pid_t)sig_reload_from[i];
    sig_n_reload_from = 0;
    out->n_seen = 0;
    for (sig_atomic_t i = 0; i < sig_n_seen; i++)
        out->seen[out->n_seen++] =
            (struct kp_signal_seen){(int)sig_seen_no[i], (pid_t)sig_seen_from[i]};
    sig_n_seen = 0;
}

void kp_signal_answer(const struct kp_signals *s, int value)
{
    for (unsigned i = 0; i < s->n_reload_from; i++) {
        if (s->reload_from[i] > 0)
            sigqueue(s->reload_from[i], SIGUSR2, (union sigval){.sival_int = value});
    }
}

bool kp_signal_take_child(void)
{
    return take_flag(&sig_child);
}
