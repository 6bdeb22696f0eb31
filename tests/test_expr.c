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
#include <signal.h>
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
  switch (pick(r, 24)) {
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
  case 18:                                     /* a broadcast scalar */
    if (pick(r, 2)) return ex_add(c, gen_vec(w, r, n, d), ex_bcast(c, gen_scalar(w, r, d), n));
    return ex_matvec(c, w->sym[n == 3 ? 4 : 3], ex_bcast(c, gen_scalar(w, r, d), 3));
  case 19:
    if (n == 4) return ex_matvec(c, gen_mat(w, r, d), gen_vec(w, r, 3, d));
    return ex_mattvec(c, gen_mat(w, r, d), gen_vec(w, r, 4, d));
  case 20:
    if (n == 3) return ex_matvec(c, w->sym[4], gen_vec(w, r, 3, d));
    return ex_mul(c, ex_num(c, uniform(r, -2, 2)), gen_vec(w, r, n, d));
  case 21: return ex_pow(c, positive(w, r, n, d), ex_mul(c, ex_num(c, 0.5), w->sym[5]));
  case 22: {                                   /* a vector literal of scalar expressions */
    ex_node *e[4];
    for (long i = 0; i < n; i++) e[i] = i % 2 ? gen_scalar(w, r, d) : ex_num(c, (double)i);
    return ex_vec(c, e, (int)n);
  }
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
  cr_assert_eq(ex_simplify(w.c, fs), fs, "seed %u: simplify is not idempotent", seed);
  for (int i = 0; i < NSYM; i++) {
    ex_node *gs = ex_simplify(w.c, g[i]);
    ex_val a1, a2;
    cr_assert(ex_eval(w.c, gs, lookup, &w, &sa, &a1) && ex_eval(w.c, g[i], lookup, &w, &sa, &a2));
    for (long k = 0; k < nelem(gs); k++)
      cr_assert(rel_err(a1.v[k], a2.v[k]) < 1e-10, "seed %u: simplify changed d/d%s", seed, w.sym[i]->name);
  }
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

/* ---- canonical forms --------------------------------------------------------------- */

typedef struct fixture {
  vl_arena a;
  ex_ctx *c;
  ex_node *x, *y, *z, *s, *t, *W;     /* vectors of 3, scalars, a 3x3 matrix */
} fixture;

/* In place: the context keeps a pointer to the arena, which must not move. */
static void fx(fixture *fp) {
#define f (*fp)
  ar_init(&f.a);
  f.c = ex_new(&f.a);
  ex_shape v = {EXS_VECTOR, 3, 1}, sc = {EXS_SCALAR, 1, 1}, m = {EXS_MATRIX, 3, 3};
  f.x = ex_sym(f.c, 0, 0, v, "x", NULL);
  f.y = ex_sym(f.c, 0, 1, v, "y", NULL);
  f.z = ex_sym(f.c, 0, 2, v, "z", NULL);
  f.s = ex_sym(f.c, 0, 3, sc, "s", NULL);
  f.t = ex_sym(f.c, 0, 4, sc, "t", NULL);
  f.W = ex_sym(f.c, 0, 5, m, "W", NULL);
#undef f
}

static bool ex_shape_eq_test(ex_shape a, ex_shape b) {
  return a.kind == b.kind && a.rows == b.rows && a.cols == b.cols;
}

static const char *str(fixture *f, ex_node *x, ex_style st) { return ex_to_string(&f->a, x, st); }

#define N(v) ex_num(c, (v))

/* Two names for one (kind, index, shape) would merge two quantities: a caller's bug, fatal. */
Test(canonical, symbol_identity_has_one_name, .signal = SIGABRT) {
  fixture f;
  fx(&f);
  ex_sym(f.c, 0, 0, f.x->shape, "other name", NULL);
}

Test(canonical, hash_consing) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  cr_assert_eq(ex_sym(c, 0, 0, f.x->shape, f.x->name, NULL), f.x);
  cr_assert_eq(ex_add(c, f.x, f.y), ex_add(c, f.y, f.x));
  cr_assert_eq(ex_mul(c, f.x, ex_mul(c, f.y, f.z)), ex_mul(c, ex_mul(c, f.z, f.x), f.y));
  cr_assert_eq(ex_add(c, f.x, ex_add(c, f.y, f.z)), ex_add(c, ex_add(c, f.z, f.y), f.x));
  long before = ex_total_nodes(c);
  ex_fn1(c, F_TANH, ex_add(c, f.x, f.y));
  ex_fn1(c, F_TANH, ex_add(c, f.y, f.x));
  cr_assert_eq(ex_total_nodes(c), before + 1);
  ar_free_all(&f.a);
}

Test(canonical, zeros_and_like_terms) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  ex_node *d = ex_sub(c, f.x, f.x);
  cr_assert(ex_is_zero(d));
  cr_assert_eq(d->shape.kind, EXS_VECTOR, "x - x keeps the shape of x");
  cr_assert_eq(ex_add(c, ex_mul(c, N(2), f.x), ex_mul(c, N(3), f.x)), ex_mul(c, N(5), f.x));
  cr_assert_eq(ex_add(c, f.x, N(0)), f.x);
  cr_assert_eq(ex_mul(c, f.x, N(1)), f.x);
  cr_assert(ex_is_zero(ex_mul(c, f.x, N(0))));
  cr_assert_eq(ex_mul(c, f.x, N(0))->shape.rows, 3);
  cr_assert_eq(ex_neg(c, ex_neg(c, f.x)), f.x);
  ex_node *xy = ex_mul(c, f.x, f.y);
  cr_assert(ex_is_zero(ex_sub(c, ex_add(c, xy, f.z), ex_add(c, f.z, ex_mul(c, f.y, f.x)))));
  /* many terms: sort-and-merge collection */
  ex_node *terms[1000];
  for (int i = 0; i < 1000; i++) terms[i] = ex_mul(c, N(i % 2 ? 2 : -1), i % 3 ? f.x : f.y);
  ex_node *big = ex_addn(c, terms, 1000);
  ex_node *want = ex_add(c, ex_mul(c, N(333), f.x), ex_mul(c, N(167), f.y));
  cr_assert_eq(big, want, "got %s", str(&f, big, EXP_PLAIN));
  ar_free_all(&f.a);
}

Test(canonical, powers_and_quotients) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  cr_assert_eq(ex_mul(c, f.x, f.x), ex_pow(c, f.x, N(2)));
  cr_assert_eq(ex_mul(c, ex_pow(c, f.x, N(2)), ex_pow(c, f.x, N(3))), ex_pow(c, f.x, N(5)));
  cr_assert_eq(ex_pow(c, ex_pow(c, f.x, N(2)), N(3)), ex_pow(c, f.x, N(6)));
  cr_assert_eq(ex_pow(c, ex_mul(c, N(2), f.x), N(2)), ex_mul(c, N(4), ex_pow(c, f.x, N(2))));
  ex_node *one = ex_div(c, f.x, f.x);
  cr_assert(ex_is_one(one) && one->shape.kind == EXS_VECTOR);
  /* τ ⊙ φ′ ⊙ v / (φ′ ⊙ v) = τ */
  ex_node *phi1 = ex_fn1(c, F_STEP, f.y);
  ex_node *num = ex_muln(c, (ex_node *[]){f.z, phi1, f.x}, 3);
  cr_assert_eq(ex_div(c, num, ex_mul(c, phi1, f.x)), f.z);
  cr_assert_eq(ex_div(c, ex_mul(c, f.s, f.x), f.s), f.x);
  ar_free_all(&f.a);
}

Test(canonical, constants) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  cr_assert_eq(ex_add(c, N(2), N(3)), N(5));
  cr_assert_eq(ex_fn1(c, F_TANH, N(0)), N(0));
  cr_assert_eq(ex_pow(c, N(2), N(10)), N(1024));
  ex_node *v12 = ex_vec(c, (ex_node *[]){N(1), N(2)}, 2);
  ex_node *v34 = ex_vec(c, (ex_node *[]){N(3), N(4)}, 2);
  cr_assert_eq(ex_add(c, v12, v34), ex_vec(c, (ex_node *[]){N(4), N(6)}, 2));
  cr_assert_eq(ex_mul(c, N(2), v12), ex_vec(c, (ex_node *[]){N(2), N(4)}, 2));
  cr_assert_eq(ex_sum(c, v34), N(7));
  ex_node *y2 = ex_sym(c, 0, 9, v12->shape, "y2", NULL);
  ex_node *vy = ex_mul(c, v12, y2);            /* a constant vector absorbs coefficients */
  cr_assert_eq(ex_add(c, ex_mul(c, N(2), vy), ex_mul(c, N(3), vy)),
               ex_mul(c, ex_vec(c, (ex_node *[]){N(5), N(10)}, 2), y2));
  cr_assert_eq(ex_vec(c, (ex_node *[]){N(1), N(1)}, 2), ex_num_like(c, 1, (ex_shape){EXS_VECTOR, 2, 1}));
  cr_assert_eq(ex_sum(c, ex_bcast(c, f.s, 3)), ex_mul(c, N(3), f.s));
  cr_assert_eq(ex_add(c, f.x, ex_bcast(c, f.s, 3)), ex_add(c, f.s, f.x));
  cr_assert_eq(ex_mean(c, ex_num_like(c, 4, f.x->shape)), N(4));
  ar_free_all(&f.a);
}

Test(canonical, matrix_products) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  ex_node *Wx = ex_matvec(c, f.W, f.x);
  cr_assert_eq(ex_matvec(c, f.W, ex_mul(c, N(2), f.x)), ex_mul(c, N(2), Wx));
  cr_assert_eq(ex_matvec(c, f.W, ex_mul(c, f.s, f.x)), ex_mul(c, f.s, Wx));
  cr_assert_eq(ex_matvec(c, ex_mul(c, f.s, f.W), f.x), ex_mul(c, f.s, Wx));
  ex_node *Wsum = ex_matvec(c, f.W, ex_add(c, f.x, f.y));
  cr_assert_eq(Wsum->op, X_MATVEC, "W (x + y) is not expanded");
  ex_node *z0 = ex_matvec(c, f.W, N(0));
  cr_assert(ex_is_zero(z0) && z0->shape.kind == EXS_VECTOR && z0->shape.rows == 3);
  ex_node *o0 = ex_outer(c, f.x, ex_zero_like(c, f.y->shape));
  cr_assert(ex_is_zero(o0) && o0->shape.kind == EXS_MATRIX);
  cr_assert_eq(ex_outer(c, ex_mul(c, f.s, f.x), f.y), ex_mul(c, f.s, ex_outer(c, f.x, f.y)));
  /* (x yᵀ) z = x (y·z) */
  cr_assert_eq(ex_matvec(c, ex_outer(c, f.x, f.y), f.z), ex_mul(c, f.x, ex_dot(c, f.y, f.z)));
  ar_free_all(&f.a);
}

/* ---- the simplifier ---------------------------------------------------------------- */

Test(simplify, pulls_common_factors) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  ex_node *e = ex_add(c, ex_mul(c, f.x, f.y), ex_mul(c, f.x, f.z));
  cr_assert_eq(ex_simplify(c, e), ex_mul(c, f.x, ex_add(c, f.y, f.z)));
  /* a/τ + b/τ = (a + b)/τ; and -s x - s y = -s (x + y) */
  ex_node *q = ex_add(c, ex_div(c, f.x, f.z), ex_div(c, f.y, f.z));
  cr_assert_eq(ex_simplify(c, q), ex_div(c, ex_add(c, f.x, f.y), f.z));
  ex_node *n = ex_sub(c, ex_neg(c, ex_mul(c, f.s, f.x)), ex_mul(c, f.s, f.y));
  cr_assert_str_eq(str(&f, ex_simplify(c, n), EXP_TEXT), "−s (x + y)");
  /* partial: x y + x z + t  ->  t + x (y + z) */
  ex_node *p = ex_addn(c, (ex_node *[]){ex_mul(c, f.x, f.y), ex_mul(c, f.x, f.z), f.s}, 3);
  cr_assert_eq(ex_simplify(c, p), ex_add(c, f.s, ex_mul(c, f.x, ex_add(c, f.y, f.z))));
  ar_free_all(&f.a);
}

Test(simplify, cancels_quotients) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  /* (x y + x z)/x = y + z once the sum is factored */
  ex_node *e = ex_div(c, ex_add(c, ex_mul(c, f.x, f.y), ex_mul(c, f.x, f.z)), f.x);
  cr_assert_eq(ex_simplify(c, e), ex_add(c, f.y, f.z));
  /* τ ⊙ (φ′ ⊙ a + φ′ ⊙ b) / (φ′ ⊙ (a + b)) = τ */
  ex_node *phi1 = ex_fn1(c, F_IND1, f.s);
  ex_node *num = ex_mul(c, f.z, ex_add(c, ex_mul(c, phi1, f.x), ex_mul(c, phi1, f.y)));
  ex_node *den = ex_mul(c, phi1, ex_add(c, f.x, f.y));
  cr_assert_eq(ex_simplify(c, ex_div(c, num, den)), f.z);
  ar_free_all(&f.a);
}

Test(simplify, merges_matrix_products) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  ex_node *e = ex_add(c, ex_mattvec(c, f.W, f.x), ex_mul(c, N(2), ex_mattvec(c, f.W, f.y)));
  ex_node *want = ex_mattvec(c, f.W, ex_add(c, f.x, ex_mul(c, N(2), f.y)));
  cr_assert_eq(ex_simplify(c, e), want);
  ar_free_all(&f.a);
}

/* ---- walks ------------------------------------------------------------------------- */

Test(walk, subst_contains_terms) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  ex_node *inner = ex_add(c, f.x, ex_matvec(c, f.W, f.y));
  ex_node *e = ex_add(c, ex_fn1(c, F_TANH, inner), f.z);
  ex_node *r = ex_subst(c, e, (ex_node *[]){f.x}, (ex_node *[]){f.z}, 1);
  cr_assert_eq(r, ex_add(c, ex_fn1(c, F_TANH, ex_add(c, f.z, ex_matvec(c, f.W, f.y))), f.z));
  cr_assert_eq(ex_subst(c, e, (ex_node *[]){inner}, (ex_node *[]){f.y}, 1),
               ex_add(c, ex_fn1(c, F_TANH, f.y), f.z), "internal nodes can be replaced");
  ex_node *r0 = ex_subst(c, e, (ex_node *[]){inner}, (ex_node *[]){N(0)}, 1);
  cr_assert_eq(r0, f.z, "the scalar 0 replaces a vector");
  cr_assert(ex_contains(e, f.W) && ex_contains(e, inner) && !ex_contains(e, f.s));
  cr_assert(ex_elementwise_in(e, f.x) && ex_elementwise_in(e, f.z));
  cr_assert(!ex_elementwise_in(e, f.y) && ex_elementwise_in(e, f.s));
  cr_assert_eq(ex_count(&e, 1), 8);   /* x W y Wy x+Wy tanh z sum */
  ex_node **t;
  cr_assert_eq(ex_terms(e, &t), 2);
  cr_assert_eq(ex_terms(f.x, &t), 1);
  cr_assert_eq(t[0], f.x);
  ar_free_all(&f.a);
}

/* ---- differentiation details ------------------------------------------------------- */

Test(grad, shapes_and_leaves) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  ex_node *m = ex_sub(c, f.y, ex_matvec(c, f.W, f.x));
  ex_node *E = ex_mul(c, N(0.5), ex_sumsq(c, m));
  ex_node *g[4];
  ex_grad(c, E, (ex_node *[]){f.x, f.z, f.W, m}, 4, g);
  cr_assert(ex_is_zero(g[1]) && ex_shape_eq_test(g[1]->shape, f.z->shape));
  cr_assert_eq(g[3], m, "m in wrt acts as a leaf: dE/dm = m");
  cr_assert(ex_is_zero(g[0]), "the sweep stops at m, so x is not reached");
  cr_assert(ex_is_zero(g[2]));
  /* without m as a leaf: dE/dW = (W x - y) xᵀ, an outer product */
  ex_grad(c, E, (ex_node *[]){f.x, f.W}, 2, g);
  cr_assert_eq(g[1], ex_outer(c, ex_neg(c, m), f.x));
  cr_assert_eq(g[0], ex_mattvec(c, f.W, ex_neg(c, m)));
  cr_assert_str_eq(str(&f, g[1], EXP_TEXT), "(W x − y) xᵀ");
  /* with an opaque mismatch symbol the sign comes out in front: −m xᵀ */
  ex_node *ms = ex_sym(c, 9, 0, f.y->shape, "m", NULL);
  ex_grad(c, ex_dot(c, ms, m), &f.W, 1, g);
  cr_assert_eq(g[0], ex_neg(c, ex_outer(c, ms, f.x)));
  cr_assert_str_eq(str(&f, g[0], EXP_TEXT), "−m xᵀ");
  /* W used twice: the gradient is a sum of outer products */
  ex_node *F = ex_add(c, ex_dot(c, f.y, ex_matvec(c, f.W, f.x)), ex_dot(c, f.z, ex_mattvec(c, f.W, f.y)));
  ex_grad(c, F, &f.W, 1, g);
  cr_assert_eq(g[0], ex_add(c, ex_outer(c, f.y, f.x), ex_outer(c, f.y, f.z)));
  ar_free_all(&f.a);
}

/* ---- printers ---------------------------------------------------------------------- */

/* A GLE layer h fed by g: m = h + τᵐ ⊙ ḣ − W φ(g + τʳ ⊙ ġ) − b. */
typedef struct gle {
  fixture f;
  ex_node *h, *hd, *g, *gd, *taum, *taur, *b, *e, *m, *gbreve;
} gle;

static void make_gle(gle *Lp, ex_fn phi) {
#define L (*Lp)
  fx(&L.f);
  ex_ctx *c = L.f.c;
  ex_shape v = {EXS_VECTOR, 3, 1};
  L.taum = ex_sym(c, 1, 4, v, "τᵐ", "\\tau^m");    /* parameters first: they print first */
  L.taur = ex_sym(c, 1, 5, v, "τʳ", "\\tau^r");
  L.h = ex_sym(c, 1, 0, v, "h", NULL);
  L.hd = ex_sym(c, 1, 1, v, "ḣ", "\\dot{h}");
  L.g = ex_sym(c, 1, 2, v, "g", NULL);
  L.gd = ex_sym(c, 1, 3, v, "ġ", "\\dot{g}");
  L.b = ex_sym(c, 1, 6, v, "b", NULL);
  L.e = ex_sym(c, 1, 7, v, "e", NULL);
  L.gbreve = ex_add(c, L.g, ex_mul(c, L.taur, L.gd));
  ex_node *drive = ex_add(c, ex_matvec(c, L.f.W, ex_fn1(c, phi, L.gbreve)), L.b);
  L.m = ex_sub(c, ex_add(c, L.h, ex_mul(c, L.taum, L.hd)), drive);
#undef L
}

Test(print, gle_backprop) {
  gle L;
  make_gle(&L, F_TANH);
  ex_ctx *c = L.f.c;
  /* g_g = -(∂m/∂g)ᵀ e: the error the layer above sends down */
  ex_node *gr;
  ex_grad(c, ex_neg(c, ex_dot(c, L.e, L.m)), &L.g, 1, &gr);
  cr_assert_str_eq(str(&L.f, gr, EXP_TEXT), "tanh′(g + τʳ ⊙ ġ) ⊙ Wᵀ e");
  cr_assert_str_eq(str(&L.f, gr, EXP_LATEX),
                   "\\tanh'\\left(g + \\tau^r \\odot \\dot{g}\\right) \\odot W^\\top e");
  cr_assert_str_eq(str(&L.f, gr, EXP_PLAIN), "tanh'(g + τʳ * ġ) * W' @ e");
  /* the weight update e rᵀ */
  ex_grad(c, ex_neg(c, ex_dot(c, L.e, L.m)), &L.f.W, 1, &gr);
  cr_assert_str_eq(str(&L.f, gr, EXP_TEXT), "e tanh(g + τʳ ⊙ ġ)ᵀ");
  cr_assert_str_eq(str(&L.f, gr, EXP_PLAIN), "e @ tanh(g + τʳ * ġ)'");
  /* the energy */
  ex_node *E = ex_mul(c, ex_num(c, 0.5), ex_sumsq(c, L.m));
  cr_assert_str_eq(str(&L.f, E, EXP_TEXT), "½ ‖h − b − W tanh(g + τʳ ⊙ ġ) + τᵐ ⊙ ḣ‖²");
  cr_assert_str_eq(str(&L.f, E, EXP_LATEX),
                   "\\frac{1}{2} \\lVert h - b - W \\tanh\\left(g + \\tau^r \\odot \\dot{g}\\right) + \\tau^m \\odot \\dot{h} \\rVert^2");
  ar_free_all(&L.f.a);
}

Test(print, gle_forward_dynamics) {
  gle L;
  make_gle(&L, F_SIGMOID);
  ex_ctx *c = L.f.c;
  /* u̇ from m = 0: solve the affine m = a ⊙ ḣ + c for ḣ = -c / a */
  ex_node *cpart = ex_subst(c, L.m, &L.hd, (ex_node *[]){ex_num(c, 0)}, 1);
  ex_node *hdot = ex_neg(c, ex_div(c, cpart, L.taum));
  cr_assert_str_eq(str(&L.f, ex_simplify(c, hdot), EXP_TEXT), "(b − h + W σ(g + τʳ ⊙ ġ))/τᵐ");
  cr_assert_str_eq(str(&L.f, ex_simplify(c, hdot), EXP_LATEX),
                   "\\frac{b - h + W \\sigma\\left(g + \\tau^r \\odot \\dot{g}\\right)}{\\tau^m}");
  ex_node *gr;
  ex_grad(c, ex_neg(c, ex_dot(c, L.e, L.m)), &L.gd, 1, &gr);
  cr_assert_str_eq(str(&L.f, gr, EXP_TEXT), "τʳ ⊙ σ′(g + τʳ ⊙ ġ) ⊙ Wᵀ e");
  ar_free_all(&L.f.a);
}

Test(print, small_forms) {
  fixture f;
  fx(&f);
  ex_ctx *c = f.c;
  cr_assert_str_eq(str(&f, ex_pow(c, f.x, N(2)), EXP_TEXT), "x²");
  cr_assert_str_eq(str(&f, ex_pow(c, f.x, N(2)), EXP_PLAIN), "x^2");
  cr_assert_str_eq(str(&f, ex_pow(c, f.x, N(2)), EXP_LATEX), "x^{2}");
  cr_assert_str_eq(str(&f, ex_mul(c, N(2), f.x), EXP_TEXT), "2 x");
  cr_assert_str_eq(str(&f, ex_sub(c, f.x, N(1)), EXP_TEXT), "x − 1");
  cr_assert_str_eq(str(&f, ex_sub(c, f.y, f.x), EXP_TEXT), "y − x");
  cr_assert_str_eq(str(&f, ex_sub(c, N(0), f.x), EXP_TEXT), "−x");
  cr_assert_str_eq(str(&f, ex_div(c, f.x, f.y), EXP_TEXT), "x/y");
  cr_assert_str_eq(str(&f, ex_div(c, N(1), f.y), EXP_TEXT), "1/y");
  cr_assert_str_eq(str(&f, ex_div(c, ex_add(c, f.x, f.y), ex_mul(c, f.s, f.z)), EXP_TEXT),
                   "(x + y)/(s z)");
  cr_assert_str_eq(str(&f, ex_mul(c, ex_add(c, f.x, f.y), f.z), EXP_TEXT), "z ⊙ (x + y)");
  cr_assert_str_eq(str(&f, ex_mul(c, f.s, f.z), EXP_TEXT), "s z");
  cr_assert_str_eq(str(&f, ex_outer(c, f.x, ex_add(c, f.y, f.z)), EXP_TEXT), "x (y + z)ᵀ");
  cr_assert_str_eq(str(&f, ex_dot(c, f.x, f.y), EXP_TEXT), "xᵀ y");
  cr_assert_str_eq(str(&f, ex_sum(c, f.x), EXP_TEXT), "Σ(x)");
  cr_assert_str_eq(str(&f, ex_fn1(c, F_ABS, f.x), EXP_TEXT), "|x|");
  cr_assert_str_eq(str(&f, ex_fn1(c, F_SQRT, f.x), EXP_TEXT), "√x");
  cr_assert_str_eq(str(&f, ex_fn1(c, F_SQRT, f.x), EXP_LATEX), "\\sqrt{x}");
  cr_assert_str_eq(str(&f, ex_num(c, -0.25), EXP_TEXT), "−0.25");
  cr_assert_str_eq(str(&f, ex_matvec(c, f.W, ex_mul(c, f.x, f.y)), EXP_TEXT), "W (x ⊙ y)");
  cr_assert_str_eq(str(&f, ex_log_softmax(c, f.x), EXP_TEXT), "x − logsumexp(x)");
  ar_free_all(&f.a);
}

/* ---- sizes ------------------------------------------------------------------------- */

/* Nodes of the loss and all its gradients for an L-layer tanh network. */
static long layered_size(int L) {
  vl_arena a;
  ar_init(&a);
  ex_ctx *c = ex_new(&a);
  ex_shape v = {EXS_VECTOR, 1000, 1}, m = {EXS_MATRIX, 1000, 1000};
  ex_node *wrt[2 * 64 + 1];
  ex_node *h = ex_sym(c, 0, 0, v, "x", NULL);
  wrt[0] = h;
  for (int k = 0; k < L; k++) {
    ex_node *W = wrt[1 + 2 * k] = ex_sym(c, 1, k, m, "W", NULL);
    ex_node *b = wrt[2 + 2 * k] = ex_sym(c, 2, k, v, "b", NULL);
    h = ex_fn1(c, F_TANH, ex_add(c, ex_matvec(c, W, h), b));
  }
  ex_node *y = ex_sym(c, 3, 0, v, "y", NULL);
  ex_node *loss = ex_mul(c, ex_num(c, 0.5), ex_sumsq(c, ex_sub(c, h, y)));
  ex_node *g[2 * 64 + 2];
  ex_grad(c, loss, wrt, 2 * L + 1, g);
  g[2 * L + 1] = loss;
  long n = ex_count(g, 2 * L + 2);
  ar_free_all(&a);
  return n;
}

Test(size, gradient_grows_linearly) {
  long n5 = layered_size(5), n10 = layered_size(10), n20 = layered_size(20), n40 = layered_size(40);
  long d1 = n10 - n5, d2 = n20 - n10, d3 = n40 - n20;
  cr_assert(d2 == 2 * d1 && d3 == 2 * d2, "not linear: %ld %ld %ld %ld", n5, n10, n20, n40);
  cr_assert(n10 < 200, "10 layers of 1000 units: %ld nodes", n10);
}

static const double *chain_lookup(void *user, const ex_node *s) {
  (void)s;
  return user;
}

/* x_{k+1} = ½ sin(x_k) + x_0 for 100000 steps: no recursion anywhere may overflow. */
Test(size, deep_chain) {
  vl_arena a, sa;
  ar_init(&a);
  ar_init(&sa);
  ex_ctx *c = ex_new(&a);
  ex_node *x0 = ex_sym(c, 0, 0, (ex_shape){EXS_SCALAR, 1, 1}, "x", NULL), *x = x0;
  for (int k = 0; k < 100000; k++) x = ex_add(c, ex_mul(c, N(0.5), ex_fn1(c, F_SIN, x)), x0);
  double p = 0.3, pp = p + 1e-6, pm = p - 1e-6;
  ex_val v, vp, vm, gv;
  cr_assert(ex_eval(c, x, chain_lookup, &p, &sa, &v));
  cr_assert(ex_eval(c, x, chain_lookup, &pp, &sa, &vp));
  cr_assert(ex_eval(c, x, chain_lookup, &pm, &sa, &vm));
  ex_node *g;
  ex_grad(c, x, &x0, 1, &g);
  cr_assert(ex_eval(c, g, chain_lookup, &p, &sa, &gv));
  cr_assert(fabs(gv.v[0] - (vp.v[0] - vm.v[0]) / 2e-6) < 1e-6);
  cr_assert_lt(ex_count(&g, 1), 10 * 100000);
  ex_node *s = ex_simplify(c, x);
  cr_assert_eq(s, x);
  ex_node *d = ex_fwd(c, x, &x0, (ex_node *[]){N(1)}, 1);
  ex_val dv;
  cr_assert(ex_eval(c, d, chain_lookup, &p, &sa, &dv));
  cr_assert(fabs(dv.v[0] - gv.v[0]) < 1e-9);
  cr_assert(ex_contains(x, x0) && ex_elementwise_in(x, x0));
  ar_free_all(&sa);
  ar_free_all(&a);
}
