/*
 * fn_math.c - the maths of every elementwise function of fn.def: value, derivative and
 * generated code, function by function (see fn_math.h).
 */
#include "fn_math.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mathfn.h"

static _Noreturn void fm_bad(const char *where, ex_fn f) {
  fprintf(stderr, "internal error: %s: function %d is not in fn.def\n", where, (int)f);
  abort();
}

/* ---- values: the oracle ---------------------------------------------------------------- */

static double fm_sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }

/* log(1 + e^x) without overflow. */
static double fm_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* The standard normal's density and distribution function. */
static double fm_npdf(double x) { return exp(-0.5 * x * x) / sqrt(2 * M_PI); }
static double fm_ncdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

double fm_value(ex_fn f, double x) {
  switch (f) {
  case F_TANH: return tanh(x);
  case F_SIGMOID: return fm_sigmoid(x);
  case F_SOFTPLUS: return fm_softplus(x);
  case F_RELU: return x > 0 ? x : 0;
  case F_HARDTANH: return x < -1 ? -1 : x > 1 ? 1 : x;
  case F_GELU: return x * fm_ncdf(x);
  case F_EXP: return exp(x);
  case F_LOG: return log(x);
  case F_SIN: return sin(x);
  case F_COS: return cos(x);
  case F_SQRT: return sqrt(x);
  case F_ABS: return fabs(x);
  case F_STEP: return x > 0 ? 1 : 0;
  case F_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
  case F_IND1: return fabs(x) < 1 ? 1 : 0;
  case F_GELU_D: return fm_ncdf(x) + x * fm_npdf(x);
  case F_COUNT: break;
  }
  fm_bad("fm_value", f);
}

/* ---- derivatives ----------------------------------------------------------------------- */

ex_node *fm_deriv(ex_ctx *c, ex_fn f, ex_node *x) {
  ex_node *one = ex_num(c, 1);
  switch (f) {
  case F_TANH: return ex_sub(c, one, ex_pow(c, ex_fn1(c, F_TANH, x), ex_num(c, 2)));
  case F_SIGMOID: {
    ex_node *s = ex_fn1(c, F_SIGMOID, x);
    return ex_mul(c, s, ex_sub(c, one, s));
  }
  case F_SOFTPLUS: return ex_fn1(c, F_SIGMOID, x);
  case F_RELU: return ex_fn1(c, F_STEP, x);
  case F_HARDTANH: return ex_fn1(c, F_IND1, x);
  case F_GELU: return ex_fn1(c, F_GELU_D, x);
  case F_EXP: return ex_fn1(c, F_EXP, x);
  case F_LOG: return ex_pow(c, x, ex_num(c, -1));
  case F_SIN: return ex_fn1(c, F_COS, x);
  case F_COS: return ex_neg(c, ex_fn1(c, F_SIN, x));
  case F_SQRT: return ex_div(c, ex_num(c, 0.5), ex_fn1(c, F_SQRT, x));
  case F_ABS: return ex_fn1(c, F_SIGN, x);
  case F_STEP:
  case F_SIGN:
  case F_IND1: return ex_zero_like(c, x->shape);    /* piecewise constant */
  case F_GELU_D: {   /* gelu''(x) = φ(x) (2 − x²), φ the standard normal density */
    ex_node *x2 = ex_pow(c, x, ex_num(c, 2));
    ex_node *pdf = ex_mul(c, ex_num(c, 1 / sqrt(2 * M_PI)),
                          ex_fn1(c, F_EXP, ex_mul(c, ex_num(c, -0.5), x2)));
    return ex_mul(c, pdf, ex_sub(c, ex_num(c, 2), x2));
  }
  case F_COUNT: break;
  }
  fm_bad("fm_deriv", f);
}

/* ---- the generated code ---------------------------------------------------------------- */

#define N(v) o->num(o->ctx, (v))
#define U(op, a) o->op1(o->ctx, FM_##op, (a))
#define B(op, a, b) o->op2(o->ctx, FM_##op, (a), (b))
#define GT(x, y, a, b) o->gt(o->ctx, (x), (y), (a), (b))
#define LT(x, y, a, b) o->lt(o->ctx, (x), (y), (a), (b))

/* Φ(x) = (1 + erf(x / √2)) / 2 */
static fm_val fm_code_ncdf(const fm_ops *o, fm_val x) {
  return B(MUL, N(0.5), B(ADD, N(1), U(ERF, B(MUL, x, N(M_SQRT1_2)))));
}

fm_val fm_code(const fm_ops *o, ex_fn f, fm_val x) {
  switch (f) {
  case F_TANH: return U(TANH, x);
  case F_SIGMOID: return B(DIV, N(1), B(ADD, N(1), U(EXP, U(NEG, x))));
  case F_SOFTPLUS:   /* log1p(e^−|x|) + max(x, 0): stable for large |x| */
    return B(ADD, U(LOG1P, U(EXP, U(NEG, U(FABS, x)))), B(MAX, x, N(0)));
  case F_RELU: return GT(x, N(0), x, N(0));
  case F_HARDTANH: return GT(x, N(1), N(1), LT(x, N(-1), N(-1), x));
  case F_GELU: return B(MUL, x, fm_code_ncdf(o, x));
  case F_EXP: return U(EXP, x);
  case F_LOG: return U(LOG, x);
  case F_SIN: return U(SIN, x);
  case F_COS: return U(COS, x);
  case F_SQRT: return U(SQRT, x);
  case F_ABS: return U(FABS, x);
  case F_STEP: return GT(x, N(0), N(1), N(0));
  case F_SIGN: return GT(x, N(0), N(1), LT(x, N(0), N(-1), N(0)));
  case F_IND1: return LT(U(FABS, x), N(1), N(1), N(0));
  case F_GELU_D: {   /* Φ(x) + x φ(x) */
    fm_val pdf = B(MUL, N(1 / sqrt(2 * M_PI)), U(EXP, B(MUL, N(-0.5), B(MUL, x, x))));
    return B(ADD, fm_code_ncdf(o, x), B(MUL, x, pdf));
  }
  case F_COUNT: break;
  }
  fm_bad("fm_code", f);
}

#undef N
#undef U
#undef B
#undef GT
#undef LT

/* ---- the interpreter's back end: doubles ----------------------------------------------- */

static fm_val fm_d(double x) { return (fm_val){ x, NULL }; }
static fm_val fi_num(void *ctx, double v) { (void)ctx; return fm_d(v); }

static fm_val fi_op1(void *ctx, fm_op1 op, fm_val a) {
  (void)ctx;
  double x = a.x;
  switch (op) {
  case FM_NEG: return fm_d(-x);
  case FM_EXP: return fm_d(exp(x));
  case FM_LOG: return fm_d(log(x));
  case FM_LOG1P: return fm_d(log1p(x));
  case FM_ERF: return fm_d(erf(x));
  case FM_FABS: return fm_d(fabs(x));
  case FM_SQRT: return fm_d(sqrt(x));
  case FM_TANH: return fm_d(mf_tanh(x));   /* inline in the generated code (mathfn.h) */
  case FM_SIN: return fm_d(mf_sin(x));
  case FM_COS: return fm_d(mf_cos(x));
  }
  abort();
}

static fm_val fi_op2(void *ctx, fm_op2 op, fm_val a, fm_val b) {
  (void)ctx;
  switch (op) {
  case FM_ADD: return fm_d(a.x + b.x);
  case FM_SUB: return fm_d(a.x - b.x);
  case FM_MUL: return fm_d(a.x * b.x);
  case FM_DIV: return fm_d(a.x / b.x);
  case FM_MAX: return fm_d(fmax(a.x, b.x));
  }
  abort();
}

static fm_val fi_gt(void *ctx, fm_val x, fm_val y, fm_val a, fm_val b) {
  (void)ctx;
  return x.x > y.x ? a : b;
}

static fm_val fi_lt(void *ctx, fm_val x, fm_val y, fm_val a, fm_val b) {
  (void)ctx;
  return x.x < y.x ? a : b;
}

double fm_interp(ex_fn f, double x) {
  static const fm_ops ops = { NULL, fi_num, fi_op1, fi_op2, fi_gt, fi_lt };
  return fm_code(&ops, f, fm_d(x)).x;
}

ex_fn fm_of_builtin(vl_builtin b) {
  switch (b) {
#define FN(id, name, phi, text, latex, plain) case BI_##id: return F_##id;
#define FND(id, text, latex, plain)
#include "fn.def"
#undef FN
#undef FND
  default: return F_COUNT;
  }
}

/* ---- names ------------------------------------------------------------------------------ */

#define FM_NAMES_(id, name, phi, text, latex, plain) [F_##id] = { text, latex, plain },
#define FM_NAMES_D_(id, text, latex, plain) [F_##id] = { text, latex, plain },
static const char *const fm_names[F_COUNT][3] = {
#define FN FM_NAMES_
#define FND FM_NAMES_D_
#include "fn.def"
#undef FN
#undef FND
};

const char *fm_name(ex_fn f, ex_style style) {
  if ((unsigned)f >= F_COUNT) return "?";
  return fm_names[f][style == EXP_LATEX ? 1 : style == EXP_PLAIN ? 2 : 0];
}
