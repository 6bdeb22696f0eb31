/*
 * check_eval.c - constant evaluation, with every const at its default value.
 *
 * Constants stay symbolic in the checked model (they are run-time parameters); the
 * checker evaluates them only where it needs a number now: sizes, time constants it must
 * check for positivity, optimizer arguments, clamps, settings, initialiser arguments.
 *
 * Evaluation is by element: ck_eval(e, i) is element i of e, so checking that a vector of
 * a million time constants is positive needs no vector storage. Consts and constant lets
 * keep their value (vl_decl.cval), so chains of them cost nothing to follow. A budget of
 * element evaluations bounds the time hostile input can make it take.
 */
#include <math.h>
#include <string.h>

#include "check_impl.h"
#include "fn_math.h"

static bool ck_eval_elem(ck_ctx *c, const vl_expr *e, long i, double *out);

/* The index to read from a child: scalars broadcast. */
static long ck_idx(const vl_expr *e, long i) { return e->shape.kind == SH_VECTOR ? i : 0; }

static long ck_len(const vl_expr *e) { return e->shape.kind == SH_VECTOR ? e->shape.rows : 1; }

static bool ck_arith(char op, double a, double b, double *out) {
  switch (op) {
  case '+': *out = a + b; return true;
  case '-': *out = a - b; return true;
  case '*': *out = a * b; return true;
  case '/': *out = a / b; return true;
  case '^': *out = pow(a, b); return true;
  default: return false;                  /* @: weights are never constant */
  }
}

/* An elementwise built-in on a number: linear is the identity, the rest fn_math.c's value. */
static double ck_apply(vl_builtin b, double x) {
  ex_fn f = fm_of_builtin(b);
  return f == F_COUNT ? x : fm_value(f, x);
}

/* A reduction over the elements of v: sum, sum of squares, max (for logsumexp). */
typedef enum { CK_RSUM, CK_RSUMSQ, CK_RMAX, CK_RSUMEXP } ck_red;

static bool ck_reduce(ck_ctx *c, const vl_expr *v, ck_red r, double shift, double *out) {
  long n = ck_len(v);
  double acc = r == CK_RMAX ? -INFINITY : 0;
  for (long k = 0; k < n; k++) {
    double x;
    if (!ck_eval_elem(c, v, k, &x)) return false;
    if (r == CK_RSUM) acc += x;
    else if (r == CK_RSUMSQ) acc += x * x;
    else if (r == CK_RMAX) acc = x > acc ? x : acc;
    else acc += exp(x - shift);
  }
  *out = acc;
  return true;
}

static bool ck_logsumexp(ck_ctx *c, const vl_expr *v, double *out) {
  double m, s;
  if (!ck_reduce(c, v, CK_RMAX, 0, &m) || !ck_reduce(c, v, CK_RSUMEXP, m, &s)) return false;
  *out = m + log(s);
  return true;
}

/* concat(a, b, ...): element i lies in the argument that covers it. */
static bool ck_concat_elem(ck_ctx *c, const vl_expr *e, long i, double *out) {
  for (int k = 0; k < e->nargs; k++) {
    long n = ck_len(e->args[k]);
    if (i < n) return ck_eval_elem(c, e->args[k], ck_idx(e->args[k], i), out);
    i -= n;
  }
  return false;
}

static bool ck_call_elem(ck_ctx *c, const vl_expr *e, long i, double *out) {
  const vl_expr *a = e->nargs > 0 ? e->args[0] : NULL;
  double x, y;
  switch (e->bi) {
  case BI_SUM: return ck_reduce(c, a, CK_RSUM, 0, out);
  case BI_MEAN:
    if (!ck_reduce(c, a, CK_RSUM, 0, &x)) return false;
    *out = x / (double)ck_len(a);
    return true;
  case BI_SUMSQ: return ck_reduce(c, a, CK_RSUMSQ, 0, out);
  case BI_LOGSUMEXP: return ck_logsumexp(c, a, out);
  case BI_SOFTMAX: case BI_LOG_SOFTMAX:
    if (!ck_logsumexp(c, a, &y) || !ck_eval_elem(c, a, i, &x)) return false;
    *out = e->bi == BI_SOFTMAX ? exp(x - y) : x - y;
    return true;
  case BI_DOT: {
    double s = 0;
    for (long k = 0; k < ck_len(a); k++) {
      if (!ck_eval_elem(c, a, k, &x) || !ck_eval_elem(c, e->args[1], k, &y)) return false;
      s += x * y;
    }
    *out = s;
    return true;
  }
  case BI_FILL: return ck_eval_elem(c, e->args[1], 0, out);
  case BI_LINSPACE: {
    double lo, hi;
    long n = e->shape.rows;
    if (!ck_eval_elem(c, e->args[0], 0, &lo) || !ck_eval_elem(c, e->args[1], 0, &hi)) return false;
    *out = n > 1 ? lo + (hi - lo) * (double)i / (double)(n - 1) : lo;
    return true;
  }
  case BI_CONCAT: return ck_concat_elem(c, e, i, out);
  case BI_PROSP: case BI_RATE: case BI_NONE: case BI_COUNT: return false;
  default:
    if (!ast_builtin_elementwise(e->bi)) return false;
    if (!ck_eval_elem(c, a, ck_idx(a, i), &x)) return false;
    *out = ck_apply(e->bi, x);
    return true;
  }
}

static bool ck_name_elem(const vl_expr *e, long i, double *out) {
  const vl_decl *d = e->sym;
  if (!d || !d->cval || (d->kind != D_CONST && d->kind != D_LET)) return false;
  *out = d->cval[d->cval_len > 1 ? i : 0];
  return true;
}

static bool ck_eval_elem(ck_ctx *c, const vl_expr *e, long i, double *out) {
  if (!e || e->shape.kind == SH_UNKNOWN || e->shape.kind == SH_MATRIX) return false;
  if (--c->eval_budget < 0) return false;
  if (i < 0 || i >= ck_len(e)) i = 0;
  double a, b;
  switch (e->kind) {
  case EX_NUM: *out = e->num; return true;
  case EX_NAME: return ck_name_elem(e, i, out);
  case EX_NEG:
    if (!ck_eval_elem(c, e->lhs, ck_idx(e->lhs, i), &a)) return false;
    *out = -a;
    return true;
  case EX_BINARY:
    return ck_eval_elem(c, e->lhs, ck_idx(e->lhs, i), &a) &&
           ck_eval_elem(c, e->rhs, ck_idx(e->rhs, i), &b) && ck_arith(e->op, a, b, out);
  case EX_NORM:
    if (!ck_reduce(c, e->lhs, CK_RSUMSQ, 0, &a)) return false;
    *out = sqrt(a);
    return true;
  case EX_VEC: return ck_eval_elem(c, e->args[i], 0, out);
  case EX_CALL: return ck_call_elem(c, e, i, out);
  default: return false;
  }
}

bool ck_eval(ck_ctx *c, const vl_expr *e, long i, double *out) {
  return ck_eval_elem(c, e, i, out);
}

/* The first name that keeps e from being a constant, for messages. */
static const char *ck_not_const_reason(ck_ctx *c, const vl_expr *e) {
  const vl_expr *on = NULL;
  if (!ck_deps(c, e, &on) || !on) return "";
  if (on->kind == EX_NAME && on->is_time) return " (it depends on the time t)";
  if (on->kind == EX_NAME) return ar_printf(c->a, " (it depends on '%s')", on->name);
  return " (it depends on the network's state)";
}

bool ck_eval_number(ck_ctx *c, vl_expr *e, const char *what, double *out) {
  if (e->shape.kind == SH_UNKNOWN) return false;
  if (e->shape.kind != SH_SCALAR) {
    ck_err(c, e->span, "%s must be a number, got %s", what, ck_shape_text(c, e->shape));
    return false;
  }
  if (ck_eval(c, e, 0, out)) return true;
  ck_err(c, e->span, "%s must be a constant number%s", what, ck_not_const_reason(c, e));
  return false;
}

bool ck_eval_int(ck_ctx *c, vl_expr *e, const char *what, long lo, long hi, long *out) {
  double v;
  if (!ck_eval_number(c, e, what, &v)) return false;
  if (v != floor(v) || v < (double)lo) {
    ck_err(c, e->span, "%s must be a whole number >= %ld, got %g", what, lo, v);
    return false;
  }
  if (v > (double)hi) {
    ck_err(c, e->span, "%s is too large: %.15g (the limit is %ld)", what, v, hi);
    return false;
  }
  *out = (long)v;
  return true;
}

void ck_keep_value(ck_ctx *c, vl_decl *d) {
  vl_expr *v = d->value;
  if (!v || (v->shape.kind != SH_SCALAR && v->shape.kind != SH_VECTOR)) return;
  if (ck_deps(c, v, NULL)) return;
  long n = ck_len(v);
  if (n > CK_MAX_CVAL) return;
  double *vals = AR_NEWN(c->a, double, n);
  for (long i = 0; i < n; i++)
    if (!ck_eval(c, v, i, &vals[i])) return;
  d->cval = vals;
  d->cval_len = n;
}
