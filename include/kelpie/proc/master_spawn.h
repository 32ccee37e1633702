/* The master's workers: forking them (CPU pinning, privilege drop, the
 * parent-death signal happen on the child side), signalling them, reaping
 * them, and respawning a current-generation worker that died without being
 * told to: at once, unless it keeps dying within a second of its start (the
 * third such death in a row waits 1 s, then 2, 4, ... up to 30 s), and never
 * more than KP_RESPAWN_MAX_STARTS (5) starts of one worker index within any
 * KP_RESPAWN_WINDOW_MS (10 s), its first start included. */
#ifndef KP_MASTER_SPAWN_H
#define KP_MASTER_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kelpie/proc/master_state.h"

/* Fork worker `index` of `generation` into a free scoreboard slot and a free
 * m->kids entry. In the child this never returns (the worker runs and exits).
 * Returns 0, -ENOSPC when no slot is free, or -errno from fork (logged). */
int kp_master_spawn_worker(struct kp_master *m, unsigned index, unsigned generation);
/* Start generation m->generation: m->n_workers = worker_processes, fresh
 * respawn bookkeeping, the scoreboard's generation set, every worker forked
 * (failures are logged; the rest still start). */
void kp_master_spawn_generation(struct kp_master *m);
/* SIGTTIN: one worker more in the current generation (the next index), up
 * to half the scoreboard's slots (a reload must still fit). Logged. */
void kp_master_spawn_more(struct kp_master *m);
/* SIGTTOU: one worker fewer, never below one: the worker with the highest
 * index is told to quit gracefully and is not respawned. Logged. */
void kp_master_spawn_fewer(struct kp_master *m);
/* Send sig to every live worker, or only to those of older generations. */
void kp_master_spawn_signal(struct kp_master *m, int sig, bool old_only);
/* How many workers (any generation) have not been reaped yet. */
size_t kp_master_spawn_live(const struct kp_master *m);
/* Reap every exited worker without blocking: log its exit, release the
 * accept mutex and scoreboard slot it held, and schedule a respawn when it
 * belongs to the current generation and no stop is in progress. */
/* A worker process pid is gone (reaped): release the accept mutex if one of
 * its reactors held it (ringing the bell), and retire its slots (one per
 * reactor thread). */
void kp_master_spawn_forget(struct kp_master *m, pid_t pid);
void kp_master_spawn_reap(struct kp_master *m);
/* Respawn every worker whose respawn is due now (counted in the scoreboard).
 * Returns the milliseconds until the next pending one, or -1 if none. */
int64_t kp_master_spawn_due(struct kp_master *m);
/* Sleep about ms with signals deliverable, reaping children meanwhile; every
 * other signal stays raised for the main loop. */
void kp_master_spawn_nap(struct kp_master *m, int ms);

#endif
