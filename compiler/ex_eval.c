/*
 * ex_eval.c - the numeric oracle: evaluate expressions on doubles.
 *
 * Deliberately plain: one loop over the nodes in topological order (no recursion, so any
 * depth is fine), one memo slot per node, each operation written out from its definition.
 * It relies on nothing the simplifier does, only on the meaning of each node kind, so the
 * tests can use it to check the simplifier and the differentiator. Values are row-major.
 */
#include "ex_internal.h"
#include "fn_math.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* Element i of a value of n elements, where a single element broadcasts. */
static double at(const double *v, long n, long i) { return n == 1 ? v[0] : v[i]; }

static void eval_add(const ex_node *x, double **arg, double *y, long n) {
  for (long i = 0; i < n; i++) y[i] = 0;
  for (int k = 0; k < x->nargs; k++) {
    long m = ex_size(x->args[k]->shape);
    for (long i = 0; i < n; i++) y[i] += at(arg[k], m, i);
  }
}

static void eval_mul(const ex_node *x, double **arg, double *y, long n) {
  for (long i = 0; i < n; i++) y[i] = 1;
  for (int k = 0; k < x->nargs; k++) {
    long m = ex_size(x->args[k]->shape);
    for (long i = 0; i < n; i++) y[i] *= at(arg[k], m, i);
  }
}

/* y = W x (or W^T x) for W of rows x cols, row-major. */
static void eval_matvec(const ex_node *x, double **arg, double *y, bool transposed) {
  long r = x->args[0]->shape.rows, c = x->args[0]->shape.cols;
  const double *W = arg[0], *v = arg[1];
  if (!transposed) {
    for (long i = 0; i < r; i++) {
      y[i] = 0;
      for (long j = 0; j < c; j++) y[i] += W[i * c + j] * v[j];
    }
  } else {
    for (long j = 0; j < c; j++) {
      y[j] = 0;
      for (long i = 0; i < r; i++) y[j] += W[i * c + j] * v[i];
    }
  }
}

/* softmax into y (when y != NULL); returns logsumexp. Shifted by the max for stability. */
static double eval_softmax(const double *v, long n, double *y) {
  double mx = -INFINITY, z = 0;
  for (long i = 0; i < n; i++) mx = fmax(mx, v[i]);
  for (long i = 0; i < n; i++) z += exp(v[i] - mx);
  if (y)
    for (long i = 0; i < n; i++) y[i] = exp(v[i] - mx) / z;
  return mx + log(z);
}

/* The value of x given the values of its arguments; false when a symbol is unknown. */
static bool eval_node(const ex_node *x, double **arg, double *y, ex_lookup_fn lookup,
                      void *user) {
  long n = ex_size(x->shape);
  switch (x->op) {
  case X_NUM:
    for (long i = 0; i < n; i++) y[i] = x->num;
    return true;
  case X_SYM: {
    const double *v = lookup(user, x);
    if (!v) return false;
    memcpy(y, v, sizeof(double) * (size_t)n);
    return true;
  }
  case X_VEC:
    for (int i = 0; i < x->nargs; i++) y[i] = arg[i][0];
    return true;
  case X_ADD: eval_add(x, arg, y, n); return true;
  case X_MUL: eval_mul(x, arg, y, n); return true;
  case X_POW:
    for (long i = 0; i < n; i++) y[i] = pow(arg[0][i], arg[1][0]);
    return true;
  case X_FN:
    for (long i = 0; i < n; i++) y[i] = fm_value(x->fn, arg[0][i]);
    return true;
  case X_MATVEC: eval_matvec(x, arg, y, false); return true;
  case X_MATTVEC: eval_matvec(x, arg, y, true); return true;
  case X_OUTER: {
    long r = x->shape.rows, c = x->shape.cols;
    for (long i = 0; i < r; i++)
      for (long j = 0; j < c; j++) y[i * c + j] = arg[0][i] * arg[1][j];
    return true;
  }
  case X_SUM: {
    long m = ex_size(x->args[0]->shape);
    y[0] = 0;
    for (long i = 0; i < m; i++) y[0] += arg[0][i];
    return true;
  }
  case X_SOFTMAX: eval_softmax(arg[0], n, y); return true;
  case X_LOGSUMEXP: y[0] = eval_softmax(arg[0], x->args[0]->shape.rows, NULL); return true;
  case X_BCAST:
    for (long i = 0; i < n; i++) y[i] = arg[0][0];
    return true;
  }
  assert(0 && "bad ex_op");
  return false;
}

bool ex_eval_many(ex_ctx *c, ex_node *const *xs, int n, ex_lookup_fn lookup, void *user,
                  vl_arena *scratch, ex_val *out) {
  (void)c;
  if (n == 0) return true;
  int nn;
  ex_node **order = ex_topo(scratch, xs, n, NULL, NULL, &nn);
  double **val = AR_NEWN(scratch, double *, ex_max_id(xs, n) + 1);
  double *abuf[16];
  for (int k = 0; k < nn; k++) {
    ex_node *x = order[k];
    double **arg = x->nargs <= 16 ? abuf : AR_NEWN(scratch, double *, x->nargs);
    for (int i = 0; i < x->nargs; i++) arg[i] = val[x->args[i]->id];
    val[x->id] = AR_NEWN(scratch, double, ex_size(x->shape));
    if (!eval_node(x, arg, val[x->id], lookup, user)) return false;
  }
  for (int i = 0; i < n; i++) out[i] = (ex_val){xs[i]->shape, val[xs[i]->id]};
  return true;
}

bool ex_eval(ex_ctx *c, ex_node *x, ex_lookup_fn lookup, void *user, vl_arena *scratch,
             ex_val *out) {
  return ex_eval_many(c, &x, 1, lookup, user, scratch, out);
}
