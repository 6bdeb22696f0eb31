/* kir_matvec.c - micro-benchmark: the matrix parts of a GLE step, JIT-compiled kernel IR
 * against the same loops written by hand in C.
 *
 *   h = W x            (KS_MATVEC)
 *   bp = W^T e         (KS_MATVEC, trans)
 *   G = mean_b e x^T   (KS_BREDUCE)
 *
 * Not part of the CMake build (it is a measurement, not a test). Build from the repository
 * root after `cmake --build build`:
 *
 *   cc -O3 -march=native -std=c17 -D_DEFAULT_SOURCE -Icompiler -I/usr/lib/llvm-19/include \
 *      bench/kir_matvec.c build/libvlecomp.a -L/usr/lib/llvm-19/lib -lLLVM -lm -o kir_matvec
 *   ./kir_matvec [cols rows [fp-mode]]        # fp-mode: 0 strict, 1 contract, 2 fast
 *
 * Each timing is the minimum over 40 rounds (robust against a busy machine).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "jit.h"

static double bm_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* The hand-written reference: what one would write in C for batch 1. */
__attribute__((noinline)) static void bm_hand(const double *restrict W, const double *restrict x,
                                              double *restrict h, const double *restrict e,
                                              double *restrict bp, double *restrict G, long m,
                                              long n) {
  for (long r = 0; r < m; r++) {
    double s = 0;
    for (long c = 0; c < n; c++) s += W[r * n + c] * x[c];
    h[r] = s;
  }
  for (long c = 0; c < n; c++) bp[c] = 0;
  for (long r = 0; r < m; r++)
    for (long c = 0; c < n; c++) bp[c] += W[r * n + c] * e[r];
  for (long r = 0; r < m; r++)
    for (long c = 0; c < n; c++) G[r * n + c] = e[r] * x[c];
}

static kir_program *bm_program(vl_arena *a, long n, long m) {
  kir_program *p = kir_new(a, "bench");
  int x = kir_buffer(p, "x", KR_INPUT, n, 1, true);
  int W = kir_buffer(p, "W", KR_PARAM, m, n, false);
  int h = kir_buffer(p, "h", KR_STATE, m, 1, true);
  int e = kir_buffer(p, "e", KR_STATE, m, 1, true);
  int bp = kir_buffer(p, "bp", KR_STATE, n, 1, true);
  int G = kir_buffer(p, "G", KR_GRAD, m, n, false);
  kir_stmt *s = kir_emit(p, kir_kernel_new(p, "mv"), KS_MATVEC, h);
  s->mat = W;
  s->src = x;
  s = kir_emit(p, kir_kernel_new(p, "mvt"), KS_MATVEC, bp);
  s->mat = W;
  s->src = e;
  s->trans = true;
  s = kir_emit(p, kir_kernel_new(p, "outer"), KS_BREDUCE, G);
  s->mean = true;
  s->expr = kir_op2(p, KE_MUL, kir_load(p, e, KI_R), kir_load(p, x, KI_C));
  return p;
}

/* Minimum time of one call of f over 40 rounds of reps calls. */
static double bm_time(void (*f)(void *), void *arg, int reps) {
  double best = 1e300;
  for (int round = 0; round < 40; round++) {
    double t0 = bm_now();
    for (int i = 0; i < reps; i++) f(arg);
    double t = (bm_now() - t0) / reps;
    if (t < best) best = t;
  }
  return best;
}

typedef struct bm_call {
  kir_kernel_fn fn;
  void **bufs;
  long m, n;
} bm_call;

static void bm_run_kernel(void *arg) {
  bm_call *c = arg;
  c->fn(NULL, c->bufs, 1);
}

static void bm_run_hand(void *arg) {
  bm_call *c = arg;
  double **b = (double **)c->bufs;
  bm_hand(b[1], b[0], b[2], b[3], b[4], b[5], c->m, c->n);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 256, m = argc > 2 ? atol(argv[2]) : 256;
  cg_options o = {.fp = argc > 3 ? (cg_fpmode)atoi(argv[3]) : CG_FP_STRICT};
  vl_arena a;
  ar_init(&a);
  kir_program *p = bm_program(&a, n, m);
  char err[2048];
  double t0 = bm_now();
  jit_module *jm = jit_compile(p, &o, err, sizeof err);
  if (!jm) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  printf("%ld x %ld, JIT compile %.1f ms\n", m, n, (bm_now() - t0) / 1e6);
  void *bufs[6];
  for (int i = 0; i < 6; i++) {
    long len = kir_size(&p->bufs[i]);
    double *d = malloc(sizeof(double) * (size_t)len);
    for (long j = 0; j < len; j++) d[j] = (double)rand() / RAND_MAX - 0.5;
    bufs[i] = d;
  }
  int reps = (int)(2e6 / (double)(m * n)) + 1;
  const char *names[3] = {"mv", "mvt", "outer"};
  double total = 0;
  for (int k = 0; k < 3; k++) {
    bm_call c = {jit_kernel(jm, names[k]), bufs, m, n};
    double t = bm_time(bm_run_kernel, &c, reps);
    total += t;
    printf("  %-6s %10.0f ns\n", names[k], t);
  }
  bm_call h = {NULL, bufs, m, n};
  double th = bm_time(bm_run_hand, &h, reps);
  printf("  JIT total %.0f ns, hand-written C %.0f ns (%.2fx)\n", total, th, th / total);
  jit_free(jm);
  ar_free_all(&a);
  return 0;
}
