/* par_bound.c - what two threads can reach on this machine at best (issue 19): a pure FMA
 * loop (registers only: the core's FMA pipes) and a streaming copy (memory bandwidth), each
 * run on 1 and on N threads at once; prints the ratio N threads / 1 thread, the bound of any
 * threaded speed-up of a compute-bound (FMA) or memory-bound (copy) step.
 *   cc -O2 -mfma -mavx2 -pthread par_bound.c -o par_bound && ./par_bound [threads] [reps] */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct { int kind; long n; double *a, *b; double sink; } job;

/* 12 independent vector FMA chains (4-cycle latency x 2 pipes + slack): the FMA peak. */
static void fma_loop(job *j) {
  __m256d acc[12], m = _mm256_set1_pd(0.999999), c = _mm256_set1_pd(1e-7);
  for (int k = 0; k < 12; k++) acc[k] = _mm256_set1_pd(k);
  for (long i = 0; i < j->n; i++)
    for (int k = 0; k < 12; k++) acc[k] = _mm256_fmadd_pd(acc[k], m, c);
  double s = 0, t[4];
  for (int k = 0; k < 12; k++) { _mm256_storeu_pd(t, acc[k]); s += t[0] + t[1] + t[2] + t[3]; }
  j->sink = s;
}

/* b = a over 64 MB (far beyond the caches), n times. */
static void copy_loop(job *j) {
  for (long r = 0; r < j->n; r++) { memcpy(j->b, j->a, 8u << 23); j->a[r % 1000] += 1; }
  j->sink = j->b[7];
}

static void *run(void *p) {
  job *j = p;
  if (j->kind == 0) fma_loop(j); else copy_loop(j);
  return NULL;
}

/* Wall time of `nt` threads each doing the same job at once. */
static double timed(int kind, long n, int nt) {
  pthread_t th[64];
  job jobs[64];
  for (int t = 0; t < nt; t++) {
    jobs[t] = (job){ kind, n, NULL, NULL, 0 };
    if (kind == 1) {
      jobs[t].a = aligned_alloc(64, 8u << 23);
      jobs[t].b = aligned_alloc(64, 8u << 23);
      memset(jobs[t].a, 1, 8u << 23);
      memset(jobs[t].b, 0, 8u << 23);
    }
  }
  double t0 = now();
  for (int t = 0; t < nt; t++) pthread_create(&th[t], NULL, run, &jobs[t]);
  for (int t = 0; t < nt; t++) pthread_join(th[t], NULL);
  double dt = now() - t0;
  for (int t = 0; t < nt; t++) { free(jobs[t].a); free(jobs[t].b); }
  return dt;
}

int main(int argc, char **argv) {
  int nt = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 3;
  if (nt < 1 || nt > 64) nt = 2;
  const char *names[2] = { "fma", "copy" };
  long n[2] = { 100000000, 20 };
  for (int kind = 0; kind < 2; kind++) {
    double best1 = 1e30, bestn = 1e30;
    for (int r = 0; r < reps; r++) {
      double a = timed(kind, n[kind], 1), b = timed(kind, n[kind], nt);
      if (a < best1) best1 = a;
      if (b < bestn) bestn = b;
    }
    /* nt threads did nt times the work of one */
    printf("%s threads=%d one=%.3fs all=%.3fs speedup=%.2f\n", names[kind], nt, best1, bestn,
           nt * best1 / bestn);
  }
  return 0;
}
