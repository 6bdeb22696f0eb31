/*
 * test_expr.c - the symbolic engine (compiler/expr.h).
 *
 *  1. random expressions: ex_grad and ex_fwd against central finite differences of
 *     ex_eval, w.r.t. every symbol (vectors, matrices, a scalar);
 *  2. canonical forms and the simplifier;
 *  3. printers;
 *  4. sizes: the DAG of a gradient grows linearly with depth; deep chains do not overflow.
 * All randomness comes from fixed seeds.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "expr.h"

/* ---- a deterministic generator (splitmix64) ---------------------------------------- */

typedef struct rng {
  unsigned long long s;
} rng;

static unsigned long long next_u64(rng *r) {
  unsigned long long z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double uniform(rng *r, double lo, double hi) {
  return lo + (hi - lo) * (double)(next_u64(r) >> 11) / 9007199254740992.0;
}
static int pick(rng *r, int n) { return (int)(next_u64(r) % (unsigned long long)n); }

/* ---- symbols and their values ------------------------------------------------------ */

enum { NSYM = 6, MAXV = 16 };

typedef struct world {
  ex_ctx *c;
  ex_node *sym[NSYM];            /* x (3), z (3), y (4), A (4x3), B (3x3), s (scalar) */
  ex_node *tan[NSYM];            /* tangent symbols dx, ... for ex_fwd */
  double val[NSYM][MAXV];
  double dir[NSYM][MAXV];
  ex_node *kinks[64];            /* arguments of relu/abs/hardtanh: keep away from kinks */
  int nkinks;
} world;

static const double *lookup(void *user, const ex_node *s) {
  world *w = user;
  return s->sym_kind == 0 ? w->val[s->sym_index] : w->dir[s->sym_index];
}

static void make_world(world *w, vl_arena *a) {
  memset(w, 0, sizeof *w);
  w->c = ex_new(a);
  static const char *names[NSYM] = {"x", "z", "y", "A", "B", "s"};
  static const char *dnames[NSYM] = {"dx", "dz", "dy", "dA", "dB", "ds"};
  ex_shape shapes[NSYM] = {
    {EXS_VECTOR, 3, 1}, {EXS_VECTOR, 3, 1}, {EXS_VECTOR, 4, 1},
    {EXS_MATRIX, 4, 3}, {EXS_MATRIX, 3, 3}, {EXS_SCALAR, 1, 1},
  };
  for (int i = 0; i < NSYM; i++) {
    w->sym[i] = ex_sym(w->c, 0, i, shapes[i], names[i], NULL);
    w->tan[i] = ex_sym(w->c, 1, i, shapes[i], dnames[i], NULL);
  }
}

static long nelem(const ex_node *x) { return x->shape.rows * x->shape.cols; }

static double eval1(world *w, ex_node *f) {
  vl_arena a;
  ar_init(&a);
  ex_val v;
  bool ok = ex_eval(w->c, f, lookup, w, &a, &v);
  cr_assert(ok);
  double r = v.v[0];
  ar_free_all(&a);
  return r;
}

/* ---- random expressions ------------------------------------------------------------ */

static ex_node *gen_vec(world *w, rng *r, long n, int depth);
static ex_node *gen_scalar(world *w, rng *r, int depth);

static ex_node *vec_leaf(world *w, rng *r, long n) {
  ex_ctx *c = w->c;
  if (n == 3) return pick(r, 3) ? w->sym[pick(r, 2)] : ex_matvec(c, w->sym[4], w->sym[0]);
  return pick(r, 2) ? w->sym[2] : ex_matvec(c, w->sym[3], w->sym[pick(r, 2)]);
}

static ex_node *positive(world *w, rng *r, long n, int depth) {   /* >= 0.5 everywhere */
  ex_ctx *c = w->c;
  ex_node *a = gen_vec(w, r, n, depth);
  switch (pick(r, 3)) {
  case 0: return ex_add(c, ex_num(c, 1), ex_pow(c, a, ex_num(c, 2)));
  case 1: return ex_add(c, ex_num(c, 0.5), ex_fn1(c, F_SOFTPLUS, a));
  default: return ex_add(c, ex_num(c, 2), ex_fn1(c, F_SIN, a));
  }
}

static ex_node *kink(world *w, ex_fn f, ex_node *a) {
  if (w->nkinks < 64) w->kinks[w->nkinks++] = a;
  return ex_fn1(w->c, f, a);
}

/* The matrix operand of a matrix product: A (4x3), or a rank-one update of it. */
static ex_node *gen_mat(world *w, rng *r, int depth) {
  ex_ctx *c = w->c;
  ex_node *A = w->sym[3];
  switch (depth > 0 ? pick(r, 5) : 0) {
  case 0: return A;
  case 1: return ex_add(c, A, ex_outer(c, gen_vec(w, r, 4, depth - 1), gen_vec(w, r, 3, depth - 1)));
  case 2: return ex_mul(c, gen_scalar(w, r, depth - 1), A);
  case 3: return ex_fn1(c, F_TANH, ex_mul(c, A, ex_outer(c, w->sym[2], gen_vec(w, r, 3, depth - 1))));
  default: return ex_sub(c, ex_mul(c, A, A), ex_mul(c, ex_num(c, 0.5), A));
  }
}

static ex_node *gen_vec(world *w, rng *r, long n, int depth) {
  ex_ctx *c = w->c;
  if (depth <= 0) return vec_leaf(w, r, n);
  int d = depth - 1;
  switch (pick(r, 22)) {
  case 0: return ex_add(c, gen_vec(w, r, n, d), gen_vec(w, r, n, d));
  case 1: return ex_sub(c, gen_vec(w, r, n, d), gen_vec(w, r, n, d));
  case 2: return ex_mul(c, gen_vec(w, r, n, d), gen_vec(w, r, n, d));
  case 3: return ex_div(c, gen_vec(w, r, n, d), positive(w, r, n, d));
  case 4: return ex_pow(c, gen_vec(w, r, n, d), ex_num(c, 2 + pick(r, 2)));
  case 5: return ex_pow(c, positive(w, r, n, d), ex_num(c, pick(r, 2) ? 1.5 : -2));
  case 6: return ex_mul(c, gen_scalar(w, r, d), gen_vec(w, r, n, d));
  case 7: return ex_fn1(c, F_TANH, gen_vec(w, r, n, d));
  case 8: return ex_fn1(c, F_SIGMOID, gen_vec(w, r, n, d));
  case 9: return ex_fn1(c, F_SOFTPLUS, gen_vec(w, r, n, d));
  case 10: return ex_fn1(c, F_EXP, ex_fn1(c, F_TANH, gen_vec(w, r, n, d)));
  case 11: return ex_fn1(c, F_LOG, positive(w, r, n, d));
  case 12: return ex_fn1(c, F_SIN, gen_vec(w, r, n, d));
  case 13: return ex_fn1(c, F_COS, gen_vec(w, r, n, d));
  case 14: return ex_fn1(c, F_SQRT, positive(w, r, n, d));
  case 15: return kink(w, (ex_fn[]){F_RELU, F_ABS, F_HARDTANH}[pick(r, 3)], gen_vec(w, r, n, d));
  case 16: return ex_softmax(c, gen_vec(w, r, n, d));
  case 17: return ex_log_softmax(c, gen_vec(w, r, n, d));
  case 18: return ex_add(c, gen_vec(w, r, n, d), ex_bcast(c, gen_scalar(w, r, d), n));
  case 19:
    if (n == 4) return ex_matvec(c, gen_mat(w, r, d), gen_vec(w, r, 3, d));
    return ex_mattvec(c, gen_mat(w, r, d), gen_vec(w, r, 4, d));
  case 20:
    if (n == 3) return ex_matvec(c, w->sym[4], gen_vec(w, r, 3, d));
    return ex_mul(c, ex_num(c, uniform(r, -2, 2)), gen_vec(w, r, n, d));
  default: return vec_leaf(w, r, n);
  }
}

static ex_node *gen_scalar(world *w, rng *r, int depth) {
  ex_ctx *c = w->c;
  long n = pick(r, 2) ? 3 : 4;
  if (depth <= 0) return pick(r, 2) ? w->sym[5] : ex_sum(c, vec_leaf(w, r, n));
  int d = depth - 1;
  switch (pick(r, 8)) {
  case 0: return ex_sum(c, gen_vec(w, r, n, d));
  case 1: return ex_dot(c, gen_vec(w, r, n, d), gen_vec(w, r, n, d));
  case 2: return ex_sumsq(c, gen_vec(w, r, n, d));
  case 3: return ex_mean(c, gen_vec(w, r, n, d));
  case 4: return ex_logsumexp(c, gen_vec(w, r, n, d));
  case 5: return ex_mul(c, w->sym[5], gen_scalar(w, r, d));
  case 6: return ex_fn1(c, F_TANH, gen_scalar(w, r, d));
  default: return ex_add(c, gen_scalar(w, r, d), ex_num(c, uniform(r, -1, 1)));
  }
}

/* ---- checking derivatives ---------------------------------------------------------- */

static void random_point(world *w, rng *r) {
  for (int i = 0; i < NSYM; i++)
    for (int k = 0; k < MAXV; k++) {
      w->val[i][k] = uniform(r, -1.2, 1.2);
      w->dir[i][k] = uniform(r, -1, 1);
    }
}

/* Are all kink arguments at least 1e-3 away from 0 and +-1 at this point? */
static bool smooth_here(world *w) {
  vl_arena a;
  ar_init(&a);
  ex_val v[64];
  bool ok = ex_eval_many(w->c, w->kinks, w->nkinks, lookup, w, &a, v);
  for (int i = 0; ok && i < w->nkinks; i++)
    for (long k = 0; k < nelem(w->kinks[i]); k++) {
      double x = v[i].v[k];
      if (fabs(x) < 1e-3 || fabs(fabs(x) - 1) < 1e-3) ok = false;
    }
  ar_free_all(&a);
  return ok;
}

/* Central difference of f along the direction `dir` (NULL: along element k of sym i). */
static double fd(world *w, ex_node *f, int sym, long k, double h) {
  double *slot = &w->val[sym][k], x0 = *slot;
  *slot = x0 + h;
  double fp = eval1(w, f);
  *slot = x0 - h;
  double fm = eval1(w, f);
  *slot = x0;
  return (fp - fm) / (2 * h);
}

static double fd_dir(world *w, ex_node *f, double h) {
  double save[NSYM][MAXV];
  memcpy(save, w->val, sizeof save);
  for (int i = 0; i < NSYM; i++)
    for (int k = 0; k < MAXV; k++) w->val[i][k] = save[i][k] + h * w->dir[i][k];
  double fp = eval1(w, f);
  for (int i = 0; i < NSYM; i++)
    for (int k = 0; k < MAXV; k++) w->val[i][k] = save[i][k] - h * w->dir[i][k];
  double fm = eval1(w, f);
  memcpy(w->val, save, sizeof save);
  return (fp - fm) / (2 * h);
}

/* Richardson-extrapolated central differences: error O(h^4), so 1e-6 is comfortable. */
static double fd_rich(world *w, ex_node *f, int sym, long k) {
  double h = 1e-3;
  return (4 * fd(w, f, sym, k, h / 2) - fd(w, f, sym, k, h)) / 3;
}
static double fd_dir_rich(world *w, ex_node *f) {
  double h = 1e-3;
  return (4 * fd_dir(w, f, h / 2) - fd_dir(w, f, h)) / 3;
}

static double rel_err(double a, double b) { return fabs(a - b) / fmax(1, fmax(fabs(a), fabs(b))); }

/* Check grad and fwd of one random f; returns false when no smooth point was found. */
static bool check_one(unsigned seed) {
  vl_arena a;
  ar_init(&a);
  world w;
  make_world(&w, &a);
  rng r = {seed * 7919ull + 17};
  ex_node *f = gen_scalar(&w, &r, 2 + pick(&r, 3));

  int tries = 0;
  do random_point(&w, &r);
  while (!smooth_here(&w) && ++tries < 50);
  if (tries == 50) { ar_free_all(&a); return false; }

  ex_node *g[NSYM];
  ex_grad(w.c, f, w.sym, NSYM, g);
  vl_arena sa;
  ar_init(&sa);
  ex_val gv[NSYM];
  cr_assert(ex_eval_many(w.c, g, NSYM, lookup, &w, &sa, gv));
  double along = 0;                                   /* <grad, dir> for the fwd check */
  for (int i = 0; i < NSYM; i++) {
    cr_assert(ex_is_zero(g[i]) || nelem(g[i]) == nelem(w.sym[i]),
              "seed %u: gradient %d has the wrong shape", seed, i);
    for (long k = 0; k < nelem(w.sym[i]); k++) {
      double gk = nelem(g[i]) == 1 ? gv[i].v[0] : gv[i].v[k];
      double nk = fd_rich(&w, f, i, k);
      along += gk * w.dir[i][k];
      cr_assert(rel_err(gk, nk) < 1e-6, "seed %u: d/d%s[%ld]: symbolic %.12g, numeric %.12g\n  f = %s",
                seed, w.sym[i]->name, k, gk, nk, ex_to_string(&sa, f, EXP_PLAIN));
    }
  }
  ex_node *df = ex_fwd(w.c, f, w.sym, w.tan, NSYM);
  double dfv = eval1(&w, df), nd = fd_dir_rich(&w, f);
  cr_assert(rel_err(dfv, nd) < 1e-6, "seed %u: fwd %.12g, numeric %.12g", seed, dfv, nd);
  cr_assert(rel_err(dfv, along) < 1e-9, "seed %u: fwd %.12g, grad.dir %.12g", seed, dfv, along);

  /* the simplifier must not change values either */
  ex_node *fs = ex_simplify(w.c, f);
  cr_assert(rel_err(eval1(&w, fs), eval1(&w, f)) < 1e-12, "seed %u: simplify changed f", seed);
  ar_free_all(&sa);
  ar_free_all(&a);
  return true;
}

static void check_range(unsigned from, unsigned to) {
  int checked = 0;
  for (unsigned seed = from; seed < to; seed++) checked += check_one(seed);
  cr_assert(checked >= (int)(to - from) * 9 / 10, "only %d smooth cases", checked);
}

/* 300 random expressions in six groups (each group runs in its own process). */
Test(random_grad, seeds_000_050) { check_range(0, 50); }
Test(random_grad, seeds_050_100) { check_range(50, 100); }
Test(random_grad, seeds_100_150) { check_range(100, 150); }
Test(random_grad, seeds_150_200) { check_range(150, 200); }
Test(random_grad, seeds_200_250) { check_range(200, 250); }
Test(random_grad, seeds_250_300) { check_range(250, 300); }
