/*
 * team.c - see team.h. A job is published by bumping `job_gen`; workers wait for it to
 * change (spin, then futex), run the kernel with their vle_team and meet the caller at the
 * barrier that ends every tm_run. The barrier is a counter and a generation: the last to
 * arrive resets the counter and bumps the generation, the others wait for the bump (spin,
 * then futex; a futex wake only when someone sleeps, counted in `sleepers`: the seq_cst
 * order of "sleepers++, then read gen" against "gen++, then read sleepers" guarantees that a
 * sleeper is either woken or sees the new generation).
 */
#define _GNU_SOURCE
#include "team.h"

#include <linux/futex.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Spins before sleeping: ~10-50 us, longer than a barrier between statements takes when
 * both threads are running, far shorter than the time between steps worth sleeping through. */
enum { TM_SPIN = 4000 };

typedef struct tm_word {
  _Atomic uint32_t gen;
  _Atomic uint32_t sleepers;
} tm_word;

struct tm_team {
  int n;
  pthread_t *th;
  vle_team *members;              /* n: tid, nthreads, barrier, pool = this team */
  tm_word job;                    /* bumped per tm_run (and to quit) */
  tm_kernel fn;                   /* the job: a kernel, */
  void *const *bufs;
  int64_t batch;
  tm_task task;                   /* or (fn NULL) a runtime task */
  void *arg;
  _Atomic int quit;
  _Atomic uint32_t arrived;       /* at the barrier */
  tm_word bar;
};

static void tm_futex(_Atomic uint32_t *w, int op, uint32_t val) {
  syscall(SYS_futex, (uint32_t *)w, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

static inline void tm_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Waits until w->gen differs from seen. */
static void tm_wait(tm_word *w, uint32_t seen) {
  for (int i = 0; i < TM_SPIN; i++) {
    if (atomic_load_explicit(&w->gen, memory_order_acquire) != seen) return;
    tm_pause();
  }
  atomic_fetch_add(&w->sleepers, 1);
  while (atomic_load(&w->gen) == seen) tm_futex(&w->gen, FUTEX_WAIT, seen);
  atomic_fetch_sub(&w->sleepers, 1);
}

static void tm_bump(tm_word *w) {
  atomic_fetch_add(&w->gen, 1);
  if (atomic_load(&w->sleepers)) tm_futex(&w->gen, FUTEX_WAKE, INT_MAX);
}

static void tm_barrier(const vle_team *m) {
  tm_team *t = m->pool;
  uint32_t gen = atomic_load(&t->bar.gen);
  if (atomic_fetch_add(&t->arrived, 1) == (uint32_t)t->n - 1) {
    atomic_store(&t->arrived, 0);
    tm_bump(&t->bar);
  } else {
    tm_wait(&t->bar, gen);
  }
}

static void *tm_worker(void *arg) {
  vle_team *m = arg;
  tm_team *t = m->pool;
  uint32_t seen = 0;
  for (;;) {
    tm_wait(&t->job, seen);
    seen = atomic_load(&t->job.gen);
    if (atomic_load(&t->quit)) return NULL;
    if (t->fn) t->fn(m, t->bufs, t->batch);
    else t->task(m, t->arg);
    tm_barrier(m);
  }
}

tm_team *tm_new(int nthreads, const char **why) {
  if (nthreads < 2) return NULL;
  tm_team *t = calloc(1, sizeof *t);
  if (!t || !(t->th = calloc((size_t)nthreads, sizeof *t->th)) ||
      !(t->members = calloc((size_t)nthreads, sizeof *t->members))) {
    if (t) free(t->th);
    free(t);
    if (why) *why = "out of memory for the team";
    return NULL;
  }
  t->n = nthreads;
  for (int i = 0; i < nthreads; i++)
    t->members[i] = (vle_team){ .tid = i, .nthreads = nthreads, .barrier = tm_barrier, .pool = t };
  for (int i = 1; i < nthreads; i++)
    if (pthread_create(&t->th[i], NULL, tm_worker, &t->members[i])) {
      t->n = i;              /* the workers started so far quit */
      tm_free(t);
      if (why) *why = "a thread could not be created";
      return NULL;
    }
  return t;
}

void tm_free(tm_team *t) {
  if (!t) return;
  atomic_store(&t->quit, 1);
  tm_bump(&t->job);
  for (int i = 1; i < t->n; i++) pthread_join(t->th[i], NULL);
  free(t->th);
  free(t->members);
  free(t);
}

int tm_size(const tm_team *t) { return t ? t->n : 1; }

void tm_each(tm_team *t, tm_task task, void *arg) {
  t->fn = NULL;
  t->task = task;
  t->arg = arg;
  tm_bump(&t->job);
  task(&t->members[0], arg);
  tm_barrier(&t->members[0]);
}

void tm_run(tm_team *t, tm_kernel fn, void *const *bufs, int64_t batch) {
  t->fn = fn;
  t->bufs = bufs;
  t->batch = batch;
  tm_bump(&t->job);            /* seq_cst: the job's fields are visible to whoever sees it */
  fn(&t->members[0], bufs, batch);
  tm_barrier(&t->members[0]);
}

int tm_cores(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set)) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}
