/*
 * ex_simplify.c - the rewrites too costly or too opinionated for the constructors.
 *
 * Expects: any expression (already canonical, as every node is).
 * Guarantees: an equal expression (same value everywhere both are defined) in which no
 *   sum has two terms sharing an elementwise factor (a b + a c is a (b + c), a/τ + b/τ is
 *   (a + b)/τ) and no sum has two matrix products with the same matrix and coefficient-only
 *   factors (W x + 2 W y is W (x + 2 y)). Factoring a sum lets the constructors cancel
 *   quotients: (τ ⊙ a ⊙ v + τ ⊙ b ⊙ v)/(a + b) becomes τ ⊙ v. Never expands anything.
 * Cost: one bottom-up pass over the DAG; factoring a sum of n terms is O(n^2 log n) in the
 *   worst case (each step sorts the factors and removes at least one term).
 */
#include "ex_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- factoring common elementwise factors out of a sum ----------------------------- */

/* One occurrence of base^exp in term `term`; key is the base id, doubled, plus one for
 * negative exponents (so 1/τ and τ are different factors). */
typedef struct occ {
  int key, term;
  ex_node *base;
  double exp;
} occ;

static int by_key(const void *a, const void *b) {
  const occ *x = a, *y = b;
  if (x->key != y->key) return (x->key > y->key) - (x->key < y->key);
  return (x->term > y->term) - (x->term < y->term);
}

/* The factors of a term other than its numeric coefficient. */
static int factors_of(ex_node *t, ex_node ***out) {
  if (t->op == X_MUL) {
    int skip = t->args[0]->op == X_NUM;
    *out = t->args + skip;
    return t->nargs - skip;
  }
  if (t->op == X_NUM) return 0;
  return ex_terms(t, out);   /* a one-element array holding t (t is not a sum here) */
}

/* A factor as base^exp with a numeric exponent (exp = 1 for anything else). */
static ex_node *decompose(ex_node *f, double *e) {
  *e = 1;
  if (f->op == X_POW && f->args[1]->op == X_NUM) { *e = f->args[1]->num; return f->args[0]; }
  return f;
}

static void push_occ(ex_node *f, int term, occ *o, int *n) {
  double e;
  ex_node *base = decompose(f, &e);
  o[(*n)++] = (occ){base->id * 2 + (e < 0), term, base, e};
}

/* The factor shared by the most terms (at least two), with the smallest power they all
 * have; NULL when no two terms share a factor. */
static ex_node *best_factor(ex_ctx *c, ex_node *const *t, int n) {
  int total = 0;
  ex_node **f;
  for (int i = 0; i < n; i++) total += factors_of(t[i], &f);
  if (total < 2) return NULL;
  occ *o = AR_NEWN(ex_arena(c), occ, total);
  int no = 0;
  for (int i = 0; i < n; i++) {
    int k = factors_of(t[i], &f);
    for (int j = 0; j < k; j++) push_occ(f[j], i, o, &no);
  }
  qsort(o, (size_t)no, sizeof *o, by_key);
  int best = -1, best_len = 1;
  for (int i = 0, j; i < no; i = j) {
    for (j = i; j < no && o[j].key == o[i].key; j++) {}
    if (j - i > best_len) { best = i; best_len = j - i; }
  }
  if (best < 0) return NULL;
  double e = o[best].exp;
  for (int i = best; i < best + best_len; i++)
    if (fabs(o[i].exp) < fabs(e)) e = o[i].exp;
  return ex_pow(c, o[best].base, ex_num(c, e));
}

static bool has_factor(ex_node *t, ex_node *g) {
  double eg, ef;
  ex_node *base = decompose(g, &eg);
  ex_node **f;
  int k = factors_of(t, &f);
  for (int j = 0; j < k; j++)
    if (decompose(f[j], &ef) == base && (ef < 0) == (eg < 0)) return true;
  return false;
}

static bool all_negative(ex_node *x) {
  ex_node **t;
  int n = ex_terms(x, &t);
  for (int i = 0; i < n; i++) {
    bool neg = (t[i]->op == X_NUM && t[i]->num < 0) ||
               (t[i]->op == X_MUL && t[i]->args[0]->op == X_NUM && t[i]->args[0]->num < 0);
    if (!neg) return false;
  }
  return true;
}

static ex_node *factor_sum(ex_ctx *c, ex_node *x);

/* g (Σ t_i / g) over the terms that have the factor g, plus the others. */
static ex_node *pull_out(ex_ctx *c, ex_node *const *t, int n, ex_node *g) {
  vl_arena *a = ex_arena(c);
  ex_node **in = AR_NEWN(a, ex_node *, n), **out = AR_NEWN(a, ex_node *, n + 1);
  int ni = 0, no = 0;
  ex_node *ginv = ex_pow(c, g, ex_num(c, -1));
  for (int i = 0; i < n; i++) {
    if (has_factor(t[i], g)) in[ni++] = ex_mul(c, t[i], ginv);
    else out[no++] = t[i];
  }
  ex_node *inner = factor_sum(c, ex_addn(c, in, ni));
  if (all_negative(inner)) {                 /* -a b - a c is -a (b + c) */
    inner = ex_neg(c, inner);
    g = ex_neg(c, g);
  }
  out[no++] = ex_mul(c, g, inner);
  return ex_addn(c, out, no);
}

static ex_node *factor_sum(ex_ctx *c, ex_node *x) {
  while (x->op == X_ADD) {
    ex_node *g = best_factor(c, x->args, x->nargs);
    if (!g) break;
    ex_node *y = pull_out(c, x->args, x->nargs, g);
    if (y == x) break;
    x = y;
  }
  return x;
}

/* ---- merging matrix products with the same matrix ---------------------------------- */

/* t = k (W @ v) with k a number: returns the product and sets *k. */
static ex_node *as_matprod(ex_node *t, double *k) {
  *k = 1;
  if (t->op == X_MUL && t->nargs == 2 && t->args[0]->op == X_NUM) {
    *k = t->args[0]->num;
    t = t->args[1];
  }
  return t->op == X_MATVEC || t->op == X_MATTVEC ? t : NULL;
}

typedef struct mp {
  ex_node *prod;         /* W @ v or W^T @ v */
  double k;
  int pos;               /* position in the sum, to keep the order stable */
} mp;

static int by_matrix(const void *a, const void *b) {
  const mp *x = a, *y = b;
  int kx = x->prod->args[0]->id * 2 + (x->prod->op == X_MATTVEC);
  int ky = y->prod->args[0]->id * 2 + (y->prod->op == X_MATTVEC);
  if (kx != ky) return (kx > ky) - (kx < ky);
  return (x->pos > y->pos) - (x->pos < y->pos);
}

/* W x + 2 W y = W (x + 2 y): one matrix product instead of two. Sort by matrix, merge. */
static ex_node *merge_matprods(ex_ctx *c, ex_node *x) {
  if (x->op != X_ADD) return x;
  int n = x->nargs, nm = 0, no = 0;
  mp *m = AR_NEWN(ex_arena(c), mp, n);
  ex_node **out = AR_NEWN(ex_arena(c), ex_node *, n);
  for (int i = 0; i < n; i++) {
    double k;
    ex_node *p = as_matprod(x->args[i], &k);
    if (p) m[nm++] = (mp){p, k, i};
    else out[no++] = x->args[i];
  }
  if (nm < 2) return x;
  qsort(m, (size_t)nm, sizeof *m, by_matrix);
  bool merged = false;
  for (int i = 0, j; i < nm; i = j) {
    ex_node *W = m[i].prod->args[0];
    ex_op op = m[i].prod->op;
    for (j = i; j < nm && m[j].prod->args[0] == W && m[j].prod->op == op; j++) {}
    if (j - i == 1) { out[no++] = x->args[m[i].pos]; continue; }
    ex_node **v = AR_NEWN(ex_arena(c), ex_node *, j - i);
    for (int l = i; l < j; l++) v[l - i] = ex_mul(c, ex_num(c, m[l].k), m[l].prod->args[1]);
    ex_node *arg = ex_addn(c, v, j - i);
    out[no++] = op == X_MATVEC ? ex_matvec(c, W, arg) : ex_mattvec(c, W, arg);
    merged = true;
  }
  return merged ? ex_addn(c, out, no) : x;
}

/* ---- the pass ---------------------------------------------------------------------- */

ex_node *ex_simplify(ex_ctx *c, ex_node *x) {
  vl_arena tmp;
  ar_init(&tmp);
  int n;
  ex_node **order = ex_topo(&tmp, &x, 1, NULL, NULL, &n);
  ex_node **now = AR_NEWN(&tmp, ex_node *, x->id + 1);     /* id -> simplified */
  for (int k = 0; k < n; k++) {
    ex_node *y = order[k];
    ex_node **args = AR_NEWN(&tmp, ex_node *, y->nargs + 1);
    bool changed = false;
    for (int i = 0; i < y->nargs; i++) {
      args[i] = now[y->args[i]->id];
      changed = changed || args[i] != y->args[i];
    }
    ex_node *z = changed ? ex_rebuild(c, y, args) : y;
    now[y->id] = factor_sum(c, merge_matprods(c, z));
  }
  ex_node *r = now[x->id];
  ar_free_all(&tmp);
  return r;
}
