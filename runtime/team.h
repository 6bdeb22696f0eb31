/*
 * team.h - a simulation's team of threads for its kernels (docs/runtime.md "Threads").
 *
 * tm_new starts nthreads-1 workers; tm_run(t, fn, bufs, batch) calls fn on every member at
 * once (the caller is member 0) with its own vle_team (vle_vocab.h) and returns when all have
 * returned. The barrier spins briefly, then sleeps on a futex: cheap between statements of a
 * step, and no CPU burnt while the simulation does something else. Each simulation owns its
 * team (no global state): several simulations, each with a team, coexist in one process.
 * A team is used by one thread at a time (the simulation's caller).
 */
#ifndef VLE_TEAM_H
#define VLE_TEAM_H

#include <stdint.h>
#include "vle_vocab.h"

typedef struct tm_team tm_team;
typedef void (*tm_kernel)(const void *ctx, void *const *bufs, int64_t batch);

/* NULL when nthreads < 2 or when a thread cannot be created (*why then says so). */
tm_team *tm_new(int nthreads, const char **why);
void     tm_free(tm_team *t);
int      tm_size(const tm_team *t);
void     tm_run(tm_team *t, tm_kernel fn, void *const *bufs, int64_t batch);
/* task(member, arg) on every member at once (the caller is member 0): the runtime's own
 * per-step work, shared out by member->tid. */
typedef void (*tm_task)(const vle_team *member, void *arg);
void     tm_each(tm_team *t, tm_task task, void *arg);

/* The cores this process may run on (sched_getaffinity), at least 1. */
int      tm_cores(void);

#endif
