/* test_backend.c - the back end: kir builders/verify/dump, the reference interpreter, LLVM
 * code generation through the JIT and through a shared library.
 *
 * The programs are written by hand in kernel IR. Each test fills every buffer with random
 * numbers, runs a kernel with kir_run on one copy and with generated code on another, and
 * compares all buffers: ~1e-12 relative in double (in practice bit for bit: the strict FP
 * mode mirrors the interpreter operation by operation), ~1e-5 in float.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aot.h"
#include "jit.h"
#include "kir.h"
#include "llvm.h"
#include "mathfn.h"

/* ---- random buffers ---------------------------------------------------------------- */

static double tb_uniform(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / (double)(1ULL << 53) * 2.0 - 1.0;
}

typedef struct tb_set {
  int n;
  long *len;
  double **d;     /* f64 buffers */
  float **f;      /* f32 buffers (NULL unless made) */
} tb_set;

static long tb_len(const kir_program *p, int id, int64_t batch) {
  const kir_buf *b = &p->bufs[id];
  return kir_size(b) * (b->batched ? batch : 1);
}

static tb_set tb_random(const kir_program *p, int64_t batch, uint64_t seed) {
  tb_set s = {p->nbufs, calloc((size_t)p->nbufs, sizeof(long)),
              calloc((size_t)p->nbufs, sizeof(double *)), NULL};
  for (int i = 0; i < p->nbufs; i++) {
    s.len[i] = tb_len(p, i, batch);
    s.d[i] = malloc(sizeof(double) * (size_t)s.len[i]);
    for (long j = 0; j < s.len[i]; j++) s.d[i][j] = tb_uniform(&seed);
  }
  return s;
}

static tb_set tb_copy(const tb_set *a) {
  tb_set s = {a->n, calloc((size_t)a->n, sizeof(long)), calloc((size_t)a->n, sizeof(double *)),
              NULL};
  for (int i = 0; i < a->n; i++) {
    s.len[i] = a->len[i];
    s.d[i] = malloc(sizeof(double) * (size_t)s.len[i]);
    memcpy(s.d[i], a->d[i], sizeof(double) * (size_t)s.len[i]);
  }
  return s;
}

/* Rounds the doubles to float and keeps float copies, so both sides start equal. */
static void tb_make_f32(tb_set *s) {
  s->f = calloc((size_t)s->n, sizeof(float *));
  for (int i = 0; i < s->n; i++) {
    s->f[i] = malloc(sizeof(float) * (size_t)s->len[i]);
    for (long j = 0; j < s->len[i]; j++) {
      s->f[i][j] = (float)s->d[i][j];
      s->d[i][j] = s->f[i][j];
    }
  }
}

static void tb_free(tb_set *s) {
  for (int i = 0; i < s->n; i++) {
    free(s->d[i]);
    if (s->f) free(s->f[i]);
  }
  free(s->d);
  free(s->f);
  free(s->len);
}

static bool tb_close(double a, double b, double rel, double abs_) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  if (a == b) return true;
  double m = fmax(fabs(a), fabs(b));
  return fabs(a - b) <= rel * m + abs_;
}

/* Compares the interpreter's buffers with generated code's: f64 bit for bit (the two follow
 * the same operation order, kir.h), f32 to 1e-5 (the interpreter computes in double). */
static int tb_compare(const kir_program *p, const tb_set *ref, const tb_set *got, bool f32,
                      const char *what) {
  int bad = 0;
  for (int i = 0; i < ref->n; i++)
    for (long j = 0; j < ref->len[i]; j++) {
      double r = ref->d[i][j], g = f32 ? got->f[i][j] : got->d[i][j];
      bool ok = f32 ? tb_close(r, g, 1e-5, 1e-5) : (r == g || (isnan(r) && isnan(g)));
      if (!ok && bad++ < 5)
        cr_log_error("%s: buffer %s[%ld]: interpreter %.17g, generated %.17g", what,
                     p->bufs[i].name, j, r, g);
    }
  return bad;
}

static void tb_call(kir_kernel_fn f, tb_set *s, bool f32, int64_t batch) {
  void **bufs = calloc((size_t)s->n, sizeof(void *));
  for (int i = 0; i < s->n; i++) bufs[i] = f32 ? (void *)s->f[i] : (void *)s->d[i];
  f(NULL, bufs, batch);
  free(bufs);
}

static void tb_interp(const kir_program *p, const kir_kernel *k, tb_set *s, int64_t batch) {
  kir_run(p, k, s->d, batch);
}

/* Runs every kernel of p on random buffers through kir_run and through m; all must agree. */
static void tb_check_module(const kir_program *p, jit_module *m, bool f32, int64_t batch) {
  for (int k = 0; k < p->nkernels; k++) {
    tb_set ref = tb_random(p, batch, 1234 + (uint64_t)k * 77 + (uint64_t)batch);
    if (f32) tb_make_f32(&ref);
    tb_set got = tb_copy(&ref);
    if (f32) tb_make_f32(&got);
    kir_kernel_fn f = jit_kernel(m, p->kernels[k]->name);
    cr_assert(f, "kernel %s not found", p->kernels[k]->name);
    tb_interp(p, p->kernels[k], &ref, batch);
    tb_call(f, &got, f32, batch);
    char what[128];
    snprintf(what, sizeof what, "%s.%s %s batch %ld", p->model, p->kernels[k]->name,
             f32 ? "f32" : "f64", (long)batch);
    cr_expect_eq(tb_compare(p, &ref, &got, f32, what), 0, "%s disagrees", what);
    tb_free(&ref);
    tb_free(&got);
  }
}

static jit_module *tb_jit(const kir_program *p, const cg_options *o) {
  char err[4096] = "";
  jit_module *m = jit_compile(p, o, err, sizeof err);
  cr_assert(m, "jit_compile(%s): %s", p->model, err);
  return m;
}

static void tb_check(const kir_program *p, const cg_options *o) {
  jit_module *m = tb_jit(p, o);
  tb_check_module(p, m, o->f32, 1);
  tb_check_module(p, m, o->f32, 3);
  jit_free(m);
}

/* ---- hand-written programs --------------------------------------------------------- */

#define L(b, i) kir_load(p, (b), (i))
#define C(v) kir_const(p, (v))
#define OP(o, a, b) kir_op2(p, (o), (a), (b))
#define FN(f, a) kir_fn(p, (f), (a))

static kir_stmt *tb_map(kir_program *p, kir_kernel *k, int dst, kir_expr *e, bool acc) {
  kir_stmt *s = kir_emit(p, k, KS_MAP, dst);
  s->expr = e;
  s->accumulate = acc;
  return s;
}

static kir_stmt *tb_matvec(kir_program *p, kir_kernel *k, int dst, int mat, int src,
                           bool trans, bool acc) {
  kir_stmt *s = kir_emit(p, k, KS_MATVEC, dst);
  s->mat = mat;
  s->src = src;
  s->trans = trans;
  s->accumulate = acc;
  return s;
}

static kir_stmt *tb_breduce(kir_program *p, kir_kernel *k, int dst, kir_expr *e, bool mean,
                            bool acc) {
  kir_stmt *s = kir_emit(p, k, KS_BREDUCE, dst);
  s->expr = e;
  s->mean = mean;
  s->accumulate = acc;
  return s;
}

static kir_stmt *tb_vreduce(kir_program *p, kir_kernel *k, int dst, kir_expr *e, long n,
                            bool max, bool acc) {
  kir_stmt *s = kir_emit(p, k, KS_VREDUCE, dst);
  s->expr = e;
  s->n = n;
  s->is_max = max;
  s->accumulate = acc;
  return s;
}

/* A 2-layer GLE-like step with a softmax output: every statement kind in its natural use.
 * Sizes are parameters so the same program serves as the "large" benchmark. */
static kir_program *tb_gle(vl_arena *a, const char *name, long nin, long nh, long nout) {
  kir_program *p = kir_new(a, name);
  p->meta = "{\"abi\": 1, \"model\": \"gle\"}";
  int x = kir_buffer(p, "x", KR_INPUT, nin, 1, true);
  int y = kir_buffer(p, "y", KR_TARGET, nout, 1, true);
  int W1 = kir_buffer(p, "W1", KR_PARAM, nh, nin, false);
  int b1 = kir_buffer(p, "b1", KR_PARAM, nh, 1, false);
  int W2 = kir_buffer(p, "W2", KR_PARAM, nout, nh, false);
  int h1 = kir_buffer(p, "h1", KR_STATE, nh, 1, true);
  int r1 = kir_buffer(p, "h1.rate", KR_SIGNAL, nh, 1, true);
  int h2 = kir_buffer(p, "h2", KR_STATE, nout, 1, true);
  int mx = kir_buffer(p, "max", KR_TEMP, 1, 1, true);
  int sm = kir_buffer(p, "softmax", KR_TEMP, nout, 1, true);
  int sum = kir_buffer(p, "sum", KR_TEMP, 1, 1, true);
  int e2 = kir_buffer(p, "h2.error", KR_SIGNAL, nout, 1, true);
  int e1 = kir_buffer(p, "h1.error", KR_SIGNAL, nh, 1, true);
  int loss = kir_buffer(p, "loss", KR_SIGNAL, 1, 1, true);
  int gW1 = kir_buffer(p, "grad.W1", KR_GRAD, nh, nin, false);
  int gW2 = kir_buffer(p, "grad.W2", KR_GRAD, nout, nh, false);
  int dt = kir_buffer(p, "dt", KR_SETTING, 1, 1, false);
  p->bufs[W1].pair = gW1;
  p->bufs[W2].pair = gW2;

  kir_kernel *k = kir_kernel_new(p, "step");
  tb_matvec(p, k, h1, W1, x, false, false)->comment = "h1 = W1 x";
  tb_map(p, k, h1, L(b1, KI_RC), true);
  tb_map(p, k, r1, FN(F_TANH, L(h1, KI_RC)), false);
  tb_matvec(p, k, h2, W2, r1, false, false);
  tb_vreduce(p, k, mx, L(h2, KI_RC), nout, true, false);
  tb_map(p, k, sm, FN(F_EXP, OP(KE_SUB, L(h2, KI_RC), L(mx, KI_0))), false);
  tb_vreduce(p, k, sum, L(sm, KI_R), nout, false, false);
  tb_map(p, k, sm, OP(KE_DIV, L(sm, KI_RC), L(sum, KI_0)), false);
  tb_map(p, k, e2, OP(KE_SUB, L(y, KI_RC), L(sm, KI_RC)), false);
  tb_vreduce(p, k, loss, OP(KE_MUL, C(0.5), OP(KE_POW, L(e2, KI_RC), C(2))), nout, false, false);
  tb_matvec(p, k, e1, W2, e2, true, false)->comment = "e1 = W2^T e2";
  tb_map(p, k, e1, OP(KE_MUL, L(e1, KI_RC),
                      OP(KE_SUB, C(1), OP(KE_POW, L(r1, KI_RC), C(2)))), false);

  kir_kernel *g = kir_kernel_new(p, "grads");
  tb_breduce(p, g, gW2, OP(KE_MUL, L(e2, KI_R), L(r1, KI_C)), true, false);
  tb_breduce(p, g, gW1, OP(KE_MUL, L(e1, KI_R), L(x, KI_C)), true, false);
  tb_map(p, g, W1, OP(KE_ADD, L(W1, KI_RC), OP(KE_MUL, L(dt, KI_0), L(gW1, KI_RC))), false);
  tb_map(p, g, W2, OP(KE_MUL, L(dt, KI_0), L(gW2, KI_RC)), true);
  return p;
}

/* Every elementwise function and operator, on shifted inputs where the domain needs it. */
static kir_program *tb_funcs(vl_arena *a) {
  kir_program *p = kir_new(a, "funcs");
  const long n = 7;
  int u = kir_buffer(p, "u", KR_STATE, n, 1, true);
  int w = kir_buffer(p, "w", KR_STATE, n, 1, true);
  int s = kir_buffer(p, "s", KR_CONST, 1, 1, false);
  int out[F_COUNT + 12];
  for (int i = 0; i < F_COUNT + 12; i++) {
    char name[16];
    snprintf(name, sizeof name, "o%d", i);
    out[i] = kir_buffer(p, name, KR_SIGNAL, n, 1, true);
  }
  int outer = kir_buffer(p, "outer", KR_TEMP, n, n, true);
  kir_kernel *k = kir_kernel_new(p, "fns");
  for (int f = 0; f < F_COUNT; f++) {
    kir_expr *x = OP(KE_MUL, C(3), L(u, KI_RC));   /* cover both sides of +-1 */
    if (f == F_LOG || f == F_SQRT) x = OP(KE_ADD, FN(F_ABS, x), C(0.25));
    tb_map(p, k, out[f], FN((ex_fn)f, x), f % 2 == 1);
  }
  kir_expr *pos = OP(KE_ADD, FN(F_ABS, L(u, KI_RC)), C(0.5));
  int o = F_COUNT;
  tb_map(p, k, out[o++], OP(KE_POW, L(u, KI_RC), C(3)), false);
  tb_map(p, k, out[o++], OP(KE_POW, pos, C(-2)), false);
  tb_map(p, k, out[o++], OP(KE_POW, pos, C(0.5)), false);
  tb_map(p, k, out[o++], OP(KE_POW, pos, C(-0.5)), false);
  tb_map(p, k, out[o++], OP(KE_POW, pos, C(1.7)), false);
  tb_map(p, k, out[o++], OP(KE_POW, L(u, KI_RC), C(0)), false);
  tb_map(p, k, out[o++], OP(KE_POW, pos, L(w, KI_RC)), false);   /* non-constant exponent */
  tb_map(p, k, out[o++], OP(KE_MAX, L(u, KI_RC), L(w, KI_RC)), false);
  tb_map(p, k, out[o++], kir_op1(p, KE_NEG, OP(KE_SUB, L(u, KI_RC), L(s, KI_0))), true);
  tb_map(p, k, out[o++], OP(KE_DIV, L(u, KI_RC), pos), false);
  /* sin and cos of one value: LLVM may fuse them into sincos, which the JIT must resolve */
  tb_map(p, k, out[o++], OP(KE_ADD, FN(F_SIN, L(w, KI_RC)), FN(F_COS, L(w, KI_RC))), false);
  tb_map(p, k, out[o++], OP(KE_POW, L(u, KI_RC), C(16)), false);
  /* a rank-1 matrix per batch element: KI_R and KI_C in a map */
  tb_map(p, k, outer, OP(KE_MUL, L(u, KI_R), FN(F_TANH, L(w, KI_C))), false);
  tb_map(p, k, outer, OP(KE_MUL, L(s, KI_0), L(outer, KI_RC)), true);
  return p;
}

/* The variants of the structured statements: accumulate, trans, mean, max, shared operands. */
static kir_program *tb_reduce(vl_arena *a) {
  kir_program *p = kir_new(a, "reduce");
  int M = kir_buffer(p, "M", KR_PARAM, 5, 3, false);
  int x = kir_buffer(p, "x", KR_STATE, 3, 1, true);
  int z = kir_buffer(p, "z", KR_STATE, 5, 1, true);
  int xs = kir_buffer(p, "xs", KR_CONST, 3, 1, false);
  int y1 = kir_buffer(p, "y1", KR_SIGNAL, 5, 1, true);
  int y2 = kir_buffer(p, "y2", KR_SIGNAL, 3, 1, true);
  int ys = kir_buffer(p, "ys", KR_TEMP, 5, 1, false);
  int G[4], V[5];
  for (int i = 0; i < 4; i++) G[i] = kir_buffer(p, (const char *[]){"g0", "g1", "g2", "g3"}[i], KR_GRAD, 5, 3, false);
  for (int i = 0; i < 5; i++) V[i] = kir_buffer(p, (const char *[]){"v0", "v1", "v2", "v3", "vs"}[i], KR_SIGNAL, 1, 1, i < 4);
  int gv = kir_buffer(p, "gv", KR_GRAD, 3, 1, false);

  kir_kernel *mv = kir_kernel_new(p, "matvecs");
  tb_matvec(p, mv, y1, M, x, false, true);
  tb_matvec(p, mv, y2, M, z, true, true);
  tb_matvec(p, mv, y1, M, xs, false, true);     /* shared source, batched destination */
  tb_matvec(p, mv, ys, M, xs, false, false);    /* all shared: no batch loop */
  tb_matvec(p, mv, xs, M, ys, true, false);

  kir_kernel *br = kir_kernel_new(p, "breduces");
  for (int i = 0; i < 4; i++)
    tb_breduce(p, br, G[i], OP(KE_MUL, L(z, KI_R), OP(KE_ADD, L(x, KI_C), L(M, KI_RC))),
               i & 1, i & 2);
  tb_breduce(p, br, gv, OP(KE_MUL, L(x, KI_RC), L(xs, KI_RC)), true, false);  /* flat loop */

  kir_kernel *vr = kir_kernel_new(p, "vreduces");
  for (int i = 0; i < 4; i++)
    tb_vreduce(p, vr, V[i], OP(KE_MUL, L(z, KI_RC), L(ys, KI_R)), 5, i & 1, i & 2);
  tb_vreduce(p, vr, V[4], FN(F_EXP, L(xs, KI_RC)), 3, false, true);   /* shared scalar */
  tb_map(p, vr, ys, OP(KE_MUL, L(ys, KI_RC), L(V[4], KI_0)), false);  /* shared map */
  return p;
}

/* A sweep (forward, back-projection and SGD update in one pass over M), with every part
 * and without the optional ones, and the same products as separate statements. */
static kir_program *tb_sweep(vl_arena *a, long rows, long cols) {
  kir_program *p = kir_new(a, "sweep");
  int M = kir_buffer(p, "M", KR_PARAM, rows, cols, false);
  int N = kir_buffer(p, "N", KR_PARAM, rows, cols, false);
  int r = kir_buffer(p, "r", KR_PUB, cols, 1, true);
  int e = kir_buffer(p, "e", KR_STATE, rows, 1, true);
  int f = kir_buffer(p, "f", KR_TEMP, rows, 1, true);
  int bp = kir_buffer(p, "bp", KR_PUBNEXT, cols, 1, true);
  int f2 = kir_buffer(p, "f2", KR_TEMP, rows, 1, true);
  int lr = kir_buffer(p, "lr", KR_SETTING, 1, 1, false);
  kir_kernel *k = kir_kernel_new(p, "all");
  int w = kir_buffer(p, "w", KR_TEMP, kir_work_rows(rows), 1, true);
  kir_stmt *s = kir_emit(p, k, KS_SWEEP, f);
  s->mat = M; s->src = r; s->src2 = e; s->dst2 = bp; s->row = e; s->scale = lr; s->work = w;
  kir_kernel *k2 = kir_kernel_new(p, "parts");
  s = kir_emit(p, k2, KS_SWEEP, f2);          /* forward only */
  s->mat = N; s->src = r;
  s = kir_emit(p, k2, KS_SWEEP, -1);          /* update only, no work buffer */
  s->mat = N; s->src = r; s->row = e; s->scale = lr;
  return p;
}

Test(jit, sweep_matches_interpreter) {
  vl_arena a;
  ar_init(&a);
  cg_options o = {0};
  tb_check(tb_sweep(&a, 7, 37), &o);    /* a block of 4 rows and 3 more; 4 runs of lanes + 5 */
  tb_check(tb_sweep(&a, 3, 4), &o);     /* no whole block, no whole run of lanes */
  tb_check(tb_sweep(&a, 8, 16), &o);    /* whole blocks and runs only */
  tb_check(tb_sweep(&a, 9, 17), &o);
  tb_check(tb_sweep(&a, 11, 3001), &o); /* batched: panels of 6 rows (L2-sized), and 5 more */
  tb_check(tb_sweep(&a, 9, 32768), &o); /* 2.3 MB: batch 1 prefetches the next block */
  cg_options o32 = {.f32 = true};       /* f32: other lanes, blocks and panels */
  tb_check(tb_sweep(&a, 7, 37), &o32);
  tb_check(tb_sweep(&a, 11, 3001), &o32);
  /* batches that fill the forward's groups of 6 batch elements exactly, or leave 1-5 over
   * (done by pairs) */
  const kir_program *p = tb_sweep(&a, 9, 37);
  jit_module *m = tb_jit(p, &o);
  for (int64_t b = 2; b <= 13; b++) tb_check_module(p, m, false, b);
  jit_free(m);
  /* long rows, groups of 6 and pairs, over panels of 24 rows and 7 more (f64: an odd
   * remainder, by a loop over single rows) or one of 31 rows (f32) */
  for (int f = 0; f < 2; f++) {
    p = tb_sweep(&a, 31, 1201);
    m = tb_jit(p, f ? &o32 : &o);
    for (int64_t b = 5; b <= 8; b++) tb_check_module(p, m, f, b);
    jit_free(m);
  }
  ar_free_all(&a);
}

/* ---- kir: builders, verify, dump --------------------------------------------------- */

Test(kir, builders_and_find) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = tb_gle(&a, "gle", 4, 5, 3);
  cr_expect_eq(kir_find(p, "W1"), 2);
  cr_expect_eq(kir_find(p, "nope"), -1);
  cr_expect_eq(p->bufs[kir_find(p, "W1")].pair, kir_find(p, "grad.W1"));
  cr_expect(kir_kernel_find(p, "grads"));
  cr_expect_null(kir_kernel_find(p, "nope"));
  cr_expect_eq(kir_kernel_find(p, "step")->nstmts, 12);
  cr_expect(kir_verify(p, stderr));
  cr_expect(kir_verify(tb_funcs(&a), stderr));
  cr_expect(kir_verify(tb_reduce(&a), stderr));
  ar_free_all(&a);
}

Test(kir, dump_lists_buffers_and_statements) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = tb_gle(&a, "gle", 4, 5, 3);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  kir_dump(f, p);
  fclose(f);
  cr_expect(strstr(text, "kir program gle"));
  cr_expect(strstr(text, "grad.W1"));
  cr_expect(strstr(text, "h1 = W1 @ x    # h1 = W1 x"), "%s", text);
  cr_expect(strstr(text, "h1.error = W2^T @ h2.error"), "%s", text);
  cr_expect(strstr(text, "grad.W2 = mean_b (h2.error[r] * h1.rate[c])"), "%s", text);
  cr_expect(strstr(text, "max = max_i<3 h2"), "%s", text);
  free(text);
  ar_free_all(&a);
}

/* Builds a one-statement program with one flaw; kir_verify must reject it. */
static bool tb_verify_one(int flaw) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = kir_new(&a, flaw == 9 ? "bad name" : "v");
  int v = kir_buffer(p, "v", KR_STATE, 3, 1, true);
  int w = kir_buffer(p, "w", KR_STATE, 4, 1, true);
  int M = kir_buffer(p, "M", KR_PARAM, 3, 4, false);
  int sh = kir_buffer(p, "sh", KR_PARAM, 3, 1, false);
  int sc = kir_buffer(p, "sc", KR_SIGNAL, 1, 1, true);
  kir_kernel *k = kir_kernel_new(p, "k");
  switch (flaw) {
  case 0: tb_map(p, k, v, L(v, KI_RC), false); break;                       /* fine */
  case 1: tb_map(p, k, v, L(w, KI_RC), false); break;                       /* size */
  case 2: tb_map(p, k, sh, L(v, KI_RC), false); break;                      /* batched into shared */
  case 3: tb_matvec(p, k, v, M, v, false, false); break;                    /* shapes */
  case 4: tb_breduce(p, k, v, L(v, KI_RC), true, false); break;             /* batched dst */
  case 5: tb_vreduce(p, k, sc, L(w, KI_C), 4, false, false); break;         /* KI_C */
  case 6: tb_map(p, k, v, L(v, KI_R), false); break;                        /* dst read at r */
  case 7: tb_map(p, k, v, L(99, KI_RC), false); break;                      /* range */
  case 8: tb_map(p, k, v, L(sh, KI_0), false); break;                       /* KI_0 on vector */
  case 9: tb_map(p, k, v, C(1), false); break;                              /* model name */
  case 10: tb_vreduce(p, k, v, L(v, KI_RC), 3, false, false); break;        /* dst not scalar */
  }
  bool ok = kir_verify(p, NULL);
  ar_free_all(&a);
  return ok;
}

Test(kir, verify_rejects_malformed_programs) {
  cr_expect(tb_verify_one(0));
  for (int i = 1; i <= 10; i++) cr_expect_not(tb_verify_one(i), "flaw %d accepted", i);
}

/* ---- interpreter: a few values by hand -------------------------------------------- */

Test(interp, matvec_and_softmax_by_hand) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = kir_new(&a, "hand");
  int M = kir_buffer(p, "M", KR_PARAM, 2, 3, false);
  int x = kir_buffer(p, "x", KR_STATE, 3, 1, true);
  int y = kir_buffer(p, "y", KR_STATE, 2, 1, true);
  int t = kir_buffer(p, "t", KR_STATE, 3, 1, true);
  int mx = kir_buffer(p, "mx", KR_TEMP, 1, 1, true);
  int g = kir_buffer(p, "g", KR_GRAD, 2, 3, false);
  kir_kernel *k = kir_kernel_new(p, "k");
  tb_matvec(p, k, y, M, x, false, false);
  tb_matvec(p, k, t, M, y, true, false);
  tb_vreduce(p, k, mx, L(x, KI_RC), 3, true, false);
  tb_breduce(p, k, g, OP(KE_MUL, L(y, KI_R), L(x, KI_C)), true, false);
  double Mv[6] = {1, 2, 3, 4, 5, 6}, xv[6] = {1, 0, -1, 2, 2, 2}, yv[4], tv[6], mv[2], gv[6];
  double *bufs[] = {Mv, xv, yv, tv, mv, gv};
  kir_run(p, k, bufs, 2);
  cr_expect_eq(yv[0], -2); cr_expect_eq(yv[1], -2);    /* batch 0: [1-3, 4-6] */
  cr_expect_eq(yv[2], 12); cr_expect_eq(yv[3], 30);    /* batch 1 */
  cr_expect_eq(tv[0], -10); cr_expect_eq(tv[1], -14); cr_expect_eq(tv[2], -18);
  cr_expect_eq(mv[0], 1); cr_expect_eq(mv[1], 2);
  cr_expect_eq(gv[0], (-2 * 1 + 12 * 2) / 2.0);        /* mean_b y[0] x[0] */
  cr_expect_eq(gv[5], (-2 * -1 + 30 * 2) / 2.0);
  ar_free_all(&a);
}

/* ---- JIT against the interpreter --------------------------------------------------- */

Test(jit, gle_step_f64) {
  vl_arena a;
  ar_init(&a);
  cg_options o = {0};
  tb_check(tb_gle(&a, "gle", 4, 5, 3), &o);
  ar_free_all(&a);
}

Test(jit, gle_step_large_f64) {
  vl_arena a;
  ar_init(&a);
  cg_options o = {0};
  tb_check(tb_gle(&a, "gle_large", 37, 64, 10), &o);
  ar_free_all(&a);
}

Test(jit, funcs_f64) {
  vl_arena a;
  ar_init(&a);
  cg_options o = {0};
  tb_check(tb_funcs(&a), &o);
  ar_free_all(&a);
}

Test(jit, reduce_f64) {
  vl_arena a;
  ar_init(&a);
  cg_options o = {0};
  tb_check(tb_reduce(&a), &o);
  ar_free_all(&a);
}

Test(jit, all_f32) {
  vl_arena a;
  ar_init(&a);
  cg_options o = {.f32 = true};
  tb_check(tb_gle(&a, "gle", 4, 5, 3), &o);
  tb_check(tb_gle(&a, "gle_large", 37, 64, 10), &o);
  tb_check(tb_funcs(&a), &o);
  tb_check(tb_reduce(&a), &o);
  ar_free_all(&a);
}

Test(jit, unoptimised_and_generic_cpu_agree) {
  vl_arena a;
  ar_init(&a);
  cg_options o = {.no_opt = true};
  tb_check(tb_gle(&a, "gle", 4, 5, 3), &o);
  tb_check(tb_reduce(&a), &o);
  o = (cg_options){.generic_cpu = true};
  tb_check(tb_funcs(&a), &o);
  ar_free_all(&a);
}

Test(jit, globals_and_no_process_symbols) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = tb_gle(&a, "gle", 4, 5, 3);
  cg_options o = {0};
  jit_module *m = tb_jit(p, &o);
  cr_expect_str_eq((const char *)jit_lookup(m, "vle_model_name"), "gle");
  const uint32_t *abi = jit_lookup(m, "vle_gle_abi");
  cr_assert(abi);
  cr_expect_eq(*abi, 1);
  cr_expect_str_eq((const char *)jit_lookup(m, "vle_gle_meta"), p->meta);
  cr_expect(jit_kernel(m, "step"));
  cr_expect_null(jit_kernel(m, "nope"));
  /* the process has printf, but the JIT's symbol space does not */
  cr_expect_null(jit_lookup(m, "printf"));
  cr_expect_null(jit_lookup(m, "jit_compile"));
  jit_free(m);
  ar_free_all(&a);
}

Test(jit, several_modules_coexist) {
  vl_arena a;
  ar_init(&a);
  cg_options o = {0}, of = {.f32 = true};
  kir_program *p1 = tb_gle(&a, "gle", 4, 5, 3), *p2 = tb_reduce(&a);
  jit_module *m1 = tb_jit(p1, &o), *m2 = tb_jit(p2, &o), *m3 = tb_jit(p1, &of);
  cr_expect_str_eq((const char *)jit_lookup(m1, "vle_model_name"), "gle");
  cr_expect_str_eq((const char *)jit_lookup(m2, "vle_model_name"), "reduce");
  jit_free(m1);
  tb_check_module(p2, m2, false, 3);
  tb_check_module(p1, m3, true, 2);
  jit_free(m2);
  jit_free(m3);
  ar_free_all(&a);
}

Test(jit, rejects_invalid_program) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = kir_new(&a, "bad");
  int v = kir_buffer(p, "v", KR_STATE, 3, 1, true);
  int w = kir_buffer(p, "w", KR_STATE, 4, 1, true);
  tb_map(p, kir_kernel_new(p, "k"), v, L(w, KI_RC), false);
  char err[1024] = "";
  cg_options o = {0};
  cr_expect_null(jit_compile(p, &o, err, sizeof err));
  cr_expect(strstr(err, "load size does not match"), "%s", err);
  ar_free_all(&a);
}

Test(jit, empty_kernel_and_zero_batch) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = tb_gle(&a, "gle", 4, 5, 3);
  kir_kernel_new(p, "init");
  cg_options o = {0};
  jit_module *m = tb_jit(p, &o);
  tb_set s = tb_random(p, 1, 5), t = tb_copy(&s);
  tb_call(jit_kernel(m, "init"), &s, false, 1);
  tb_call(jit_kernel(m, "step"), &s, false, 0);   /* no batch elements: touches nothing */
  cr_expect_eq(tb_compare(p, &t, &s, false, "untouched"), 0);
  tb_free(&s);
  tb_free(&t);
  jit_free(m);
  ar_free_all(&a);
}

/* ---- emitted IR -------------------------------------------------------------------- */

static char *tb_ir(const kir_program *p, const cg_options *o) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  cr_expect(cg_emit_ir(p, o, f));
  fclose(f);
  return text;
}

Test(emit, ir_is_optimised_and_vectorised) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = tb_gle(&a, "gle", 37, 64, 10);
  cg_options o = {0};
  char *ir = tb_ir(p, &o);
  cr_expect(strstr(ir, "define void @vle_gle_step(ptr"), "no kernel");
  cr_expect(strstr(ir, "define void @vle_gle_grads(ptr"), "no kernel");
  cr_expect_null(strstr(ir, "define internal"), "the bodies were not inlined");
  cr_expect(strstr(ir, "constant [4 x i8] c\"gle\\00\""), "no model name");
  cr_expect(strstr(ir, "@vle_gle_abi = "), "no abi");
  cr_expect(strstr(ir, "constant i32 1"), "no abi");
  cr_expect(strstr(ir, "x double>"), "nothing was vectorised");
  cr_expect(strstr(ir, "!alias.scope"), "no alias scopes from the noalias bodies");
  cr_expect_null(strstr(ir, "reassoc"), "strict mode must not reassociate");
  cr_expect_null(strstr(ir, "fast "), "strict mode must not use fast-math");
  cr_expect_null(strstr(ir, "@tanh("), "tanh is inline (mathfn.h), not a libm call");
  free(ir);
  o.fp = CG_FP_CONTRACT;
  ir = tb_ir(p, &o);
  cr_expect(strstr(ir, "contract "), "contract mode sets the contract flag");
  cr_expect_null(strstr(ir, "reassoc"), "contract mode must not reassociate");
  free(ir);
  o.fp = CG_FP_FAST;
  ir = tb_ir(p, &o);
  cr_expect(strstr(ir, "fast "), "fast mode sets fast-math flags");
  free(ir);
  o = (cg_options){.f32 = true};
  ir = tb_ir(p, &o);
  cr_expect(strstr(ir, "x float>"), "f32 not vectorised");
  cr_expect_null(strstr(ir, "@tanhf("), "f32 tanh is inline (mathfn.h), not a call");
  free(ir);
  ar_free_all(&a);
}

/* ---- mathfn: the inline tanh against libm ------------------------------------------- */

/* Distance in units in the last place between two doubles of the same sign. */
static double tb_ulps(double a, double b) {
  if (a == b) return 0;
  return fabs(a - b) / (nextafter(fabs(b), INFINITY) - fabs(b));
}

Test(mathfn, tanh_within_3_ulp_of_libm) {
  double worst = 0, at = 0;
  /* a dense sweep over both branches and the switch at 0.625, plus tiny and large values */
  for (int i = -200000; i <= 200000; i++) {
    double x = i * 1.3e-4;
    double u = tb_ulps(mf_tanh(x), tanh(x));
    if (u > worst) { worst = u; at = x; }
  }
  const double edge[] = {0, -0.0, 1e-300, 5e-324, 1e-8, 0.625, nextafter(0.625, 0), 21.9, 22,
                         23, 700, 1e300, -1e300};
  for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
    double u = tb_ulps(mf_tanh(edge[i]), tanh(edge[i]));
    if (u > worst) { worst = u; at = edge[i]; }
  }
  cr_expect(worst <= 3, "mf_tanh is %g ulp from libm at x = %.17g", worst, at);
  cr_expect(signbit(mf_tanh(-0.0)), "tanh(-0) = -0");
  cr_expect(isnan(mf_tanh(NAN)), "NaN in, NaN out");
  cr_expect_eq(mf_tanh(INFINITY), 1.0);
  cr_expect_eq(mf_tanh(-INFINITY), -1.0);
}

/* sin and cos: absolutely within 3e-16 of libm (the reduction keeps the error absolute, not
 * growing with |x|), relatively within 1 ulp-ish near 0, NaN where libm has no meaningful
 * answer (|x| >= 2^52, Inf, NaN). */
Test(mathfn, sin_cos_close_to_libm) {
  double worst = 0, at = 0, worst_rel = 0, at_rel = 0;
  for (int i = -300000; i <= 300000; i++) {
    double x = i * 3.3e-3;
    for (int f = 0; f < 2; f++) {
      double got = f ? mf_cos(x) : mf_sin(x), want = f ? cos(x) : sin(x), e = fabs(got - want);
      if (e > worst) { worst = e; at = x; }
      if (fabs(x) < 0.78 && want != 0 && e / fabs(want) > worst_rel) { worst_rel = e / fabs(want); at_rel = x; }
    }
  }
  for (double x = 1e3; x < 4e15; x *= 1.37)
    for (int f = 0; f < 2; f++) {
      double e = fabs((f ? mf_cos(x) : mf_sin(x)) - (f ? cos(x) : sin(x)));
      if (e > worst) { worst = e; at = x; }
    }
  cr_expect(worst <= 3e-16, "sin/cos %g from libm at x = %.17g", worst, at);
  cr_expect(worst_rel <= 3e-16, "sin/cos relative error %g near 0, at x = %.17g", worst_rel, at_rel);
  cr_expect(signbit(mf_sin(-0.0)) && mf_sin(-0.0) == 0, "sin(-0) = -0");
  cr_expect_eq(mf_sin(1e-300), 1e-300);
  cr_expect_eq(mf_cos(0), 1.0);
  cr_expect(isnan(mf_sin(INFINITY)) && isnan(mf_cos(-INFINITY)) && isnan(mf_sin(NAN)));
  cr_expect(isnan(mf_sin(0x1p52)) && isnan(mf_cos(-1e300)), "no meaningless values for huge x");
}

/* ---- ahead of time: .so and .h ----------------------------------------------------- */

static char *tb_tmpdir(void) {
  char *d = strdup("/tmp/vle-test-XXXXXX");
  cr_assert(mkdtemp(d));
  return d;
}

static void tb_rmtree(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

static bool tb_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Runs every kernel through the .so and through the JIT: identical bits. */
static void tb_so_vs_jit(const kir_program *p, void *so, jit_module *m, bool f32) {
  for (int k = 0; k < p->nkernels; k++) {
    char sym[256];
    void *fp = dlsym(so, cg_symbol(sym, sizeof sym, p->model, p->kernels[k]->name));
    cr_assert(fp, "%s missing from the .so", sym);
    kir_kernel_fn f;
    memcpy(&f, &fp, sizeof f);
    tb_set s1 = tb_random(p, 3, 99 + (uint64_t)k), s2 = tb_copy(&s1);
    if (f32) { tb_make_f32(&s1); tb_make_f32(&s2); }
    tb_call(f, &s1, f32, 3);
    tb_call(jit_kernel(m, p->kernels[k]->name), &s2, f32, 3);
    for (int i = 0; i < p->nbufs; i++) {
      size_t n = (size_t)s1.len[i] * (f32 ? sizeof(float) : sizeof(double));
      cr_expect_eq(memcmp(f32 ? (void *)s1.f[i] : (void *)s1.d[i],
                          f32 ? (void *)s2.f[i] : (void *)s2.d[i], n), 0,
                   "%s: buffer %s differs between .so and JIT", sym, p->bufs[i].name);
    }
    tb_free(&s1);
    tb_free(&s2);
  }
}

static void tb_aot_roundtrip(const kir_program *p, const cg_options *o) {
  char *dir = tb_tmpdir(), so_path[512], h_path[512], err[4096] = "";
  snprintf(so_path, sizeof so_path, "%s/%s.so", dir, p->model);
  snprintf(h_path, sizeof h_path, "%s/%s.h", dir, p->model);
  cr_assert(aot_build(p, o, so_path, err, sizeof err), "aot_build: %s", err);
  cr_expect(tb_exists(h_path));
  void *so = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
  cr_assert(so, "dlopen: %s", dlerror());
  cr_expect_str_eq((const char *)dlsym(so, "vle_model_name"), p->model);
  char sym[256];
  snprintf(sym, sizeof sym, "vle_%s_abi", p->model);
  const uint32_t *abi = dlsym(so, sym);
  cr_assert(abi);
  cr_expect_eq(*abi, 1);
  snprintf(sym, sizeof sym, "vle_%s_meta", p->model);
  cr_expect_str_eq((const char *)dlsym(so, sym), p->meta ? p->meta : "");
  jit_module *m = tb_jit(p, o);
  tb_so_vs_jit(p, so, m, o->f32);
  jit_free(m);
  dlclose(so);
  /* nothing left behind but the two outputs */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 2", dir);
  cr_expect_eq(system(cmd), 0, "temporary files left in %s", dir);
  tb_rmtree(dir);
  free(dir);
}

Test(aot, so_matches_jit_bit_for_bit) {
  vl_arena a;
  ar_init(&a);
  cg_options o = {0}, of = {.f32 = true};
  tb_aot_roundtrip(tb_gle(&a, "gle", 37, 64, 10), &o);
  tb_aot_roundtrip(tb_funcs(&a), &o);
  tb_aot_roundtrip(tb_reduce(&a), &of);
  ar_free_all(&a);
}

Test(aot, so_needs_only_libc_and_libm) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = tb_funcs(&a);
  char *dir = tb_tmpdir(), so_path[512], cmd[1024], err[4096] = "";
  snprintf(so_path, sizeof so_path, "%s/funcs.so", dir);
  cg_options o = {0};
  cr_assert(aot_build(p, &o, so_path, err, sizeof err), "%s", err);
  /* every NEEDED entry must be libc or libm */
  snprintf(cmd, sizeof cmd,
           "readelf -d '%s' | grep NEEDED | grep -v -E '\\[(libc|libm)\\.so\\.6\\]'", so_path);
  cr_expect_neq(system(cmd), 0, "the .so needs more than libc and libm");
  snprintf(cmd, sizeof cmd, "readelf -d '%s' | grep -q NEEDED", so_path);
  cr_expect_eq(system(cmd), 0, "readelf found no NEEDED entries");
  snprintf(cmd, sizeof cmd,
           "ldd '%s' | grep -v -E 'linux-vdso|libc\\.so|libm\\.so|ld-linux' | grep -q .",
           so_path);
  cr_expect_neq(system(cmd), 0, "ldd lists more than libc/libm/ld-linux");
  tb_rmtree(dir);
  free(dir);
  ar_free_all(&a);
}

Test(aot, header_declares_symbols_and_buffers) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = tb_gle(&a, "gle", 4, 5, 3);
  char *dir = tb_tmpdir(), so_path[512], h_path[512], err[4096] = "";
  snprintf(so_path, sizeof so_path, "%s/model.so", dir);
  snprintf(h_path, sizeof h_path, "%s/model.h", dir);
  cg_options o = {0};
  cr_assert(aot_build(p, &o, so_path, err, sizeof err), "%s", err);
  FILE *f = fopen(h_path, "r");
  cr_assert(f);
  char text[16384];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = 0;
  fclose(f);
  cr_expect(strstr(text, "extern const char vle_model_name[];"), "%s", text);
  cr_expect(strstr(text, "extern const uint32_t vle_gle_abi;"));
  cr_expect(strstr(text, "extern const char vle_gle_meta[];"));
  cr_expect(strstr(text, "void vle_gle_step(const void *ctx, void *const *bufs, int64_t batch);"));
  cr_expect(strstr(text, "void vle_gle_grads(const void *ctx, void *const *bufs, int64_t batch);"));
  cr_expect(strstr(text, "grad.W1"));
  cr_expect(strstr(text, "param"));
  cr_expect(strstr(text, "VLE_GLE_NBUFS 17"), "%s", text);
  /* the header compiles */
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "printf '#include \"%s\"\\nint main(void){return 0;}\\n' | "
           "cc -std=c17 -Wall -Werror -fsyntax-only -x c -", h_path);
  cr_expect_eq(system(cmd), 0, "the header does not compile");
  tb_rmtree(dir);
  free(dir);
  ar_free_all(&a);
}

Test(aot, failed_build_leaves_no_output) {
  vl_arena a;
  ar_init(&a);
  char *dir = tb_tmpdir(), so_path[512], h_path[512], err[4096] = "";
  snprintf(so_path, sizeof so_path, "%s/bad.so", dir);
  snprintf(h_path, sizeof h_path, "%s/bad.h", dir);
  cg_options o = {0};
  /* an invalid program */
  kir_program *p = kir_new(&a, "bad");
  int v = kir_buffer(p, "v", KR_STATE, 3, 1, true);
  tb_map(p, kir_kernel_new(p, "k"), v, L(v, KI_R), false);
  cr_expect_not(aot_build(p, &o, so_path, err, sizeof err));
  cr_expect(err[0]);
  cr_expect_not(tb_exists(so_path));
  cr_expect_not(tb_exists(h_path));
  /* a directory that does not exist */
  char nodir[600];
  snprintf(nodir, sizeof nodir, "%s/no/such/dir/gle.so", dir);
  cr_expect_not(aot_build(tb_gle(&a, "gle", 4, 5, 3), &o, nodir, err, sizeof err));
  /* a previous good output survives a failed rebuild untouched */
  snprintf(so_path, sizeof so_path, "%s/gle.so", dir);
  cr_assert(aot_build(tb_gle(&a, "gle", 4, 5, 3), &o, so_path, err, sizeof err), "%s", err);
  struct stat before, after;
  cr_assert_eq(stat(so_path, &before), 0);
  p->model = "gle";   /* same output name, still invalid */
  cr_expect_not(aot_build(p, &o, so_path, err, sizeof err));
  cr_assert_eq(stat(so_path, &after), 0);
  cr_expect_eq(before.st_ino, after.st_ino);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 2", dir);
  cr_expect_eq(system(cmd), 0, "stray files in %s", dir);
  tb_rmtree(dir);
  free(dir);
  ar_free_all(&a);
}

/* ---- compile time ------------------------------------------------------------------ */

Test(jit, compile_time_is_reported) {
  vl_arena a;
  ar_init(&a);
  kir_program *p = tb_gle(&a, "gle_large", 37, 64, 10);
  kir_program *q = tb_funcs(&a);
  cg_options o = {0};
  struct timespec t0, t1, t2;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  jit_module *m = tb_jit(p, &o);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  jit_module *n = tb_jit(q, &o);
  clock_gettime(CLOCK_MONOTONIC, &t2);
  double ms1 = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  double ms2 = (double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6;
  cr_log_info("JIT compile: gle_large (2 kernels, 16 stmts) %.1f ms; funcs (%d stmts) %.1f ms",
              ms1, kir_kernel_find(q, "fns")->nstmts, ms2);
  fprintf(stderr, "JIT compile: gle_large %.1f ms; funcs %.1f ms\n", ms1, ms2);
  cr_expect_lt(ms1, 5000.0);
  jit_free(m);
  jit_free(n);
  ar_free_all(&a);
}
