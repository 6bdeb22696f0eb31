/*
 * fn_math.h - the maths of the elementwise functions of fn.def, all in one place (prefix
 * fm_): for each function
 *   - its value on doubles (fm_value): the derivation's oracle (ex_eval, constant folding,
 *     the checker's constants), libm formulas, deliberately independent of the generated code;
 *   - its derivative as an expression (fm_deriv), for the symbolic engine;
 *   - the generated code (fm_code): one formula over a handful of primitive operations,
 *     which the code generator (llvm.c) turns into LLVM IR and the kernel-IR interpreter
 *     (kirinterp.c) evaluates on doubles, so that the two agree bit for bit by construction.
 * Every switch here lists every function: a function added to fn.def and not here is a
 * compile-time warning (-Wswitch), and an unreachable path aborts, never a silent fallback.
 */
#ifndef VLE_FN_MATH_H
#define VLE_FN_MATH_H

#include "ast.h"
#include "expr.h"

/* The function of an elementwise built-in of the language (fn.def), F_COUNT for linear
 * (the identity) and for the built-ins that are not elementwise. */
ex_fn fm_of_builtin(vl_builtin b);

double fm_value(ex_fn f, double x);
ex_node *fm_deriv(ex_ctx *c, ex_fn f, ex_node *x);

/* ---- the generated code's primitives ------------------------------------------------ */
typedef enum {
  FM_NEG, FM_EXP, FM_LOG, FM_LOG1P, FM_ERF, FM_FABS, FM_SQRT,
  FM_TANH, FM_SIN, FM_COS      /* mathfn.h's inline versions (vectorisable) */
} fm_op1;
typedef enum { FM_ADD, FM_SUB, FM_MUL, FM_DIV, FM_MAX } fm_op2;

/* A value of a back end: a double (the interpreter) or an LLVM value (the code generator). */
typedef struct fm_val { double x; void *ir; } fm_val;

typedef struct fm_ops {
  void *ctx;
  fm_val (*num)(void *ctx, double v);
  fm_val (*op1)(void *ctx, fm_op1 op, fm_val a);
  fm_val (*op2)(void *ctx, fm_op2 op, fm_val a, fm_val b);
  /* x > y ? a : b, and x < y ? a : b (ordered: false when x or y is NaN) */
  fm_val (*gt)(void *ctx, fm_val x, fm_val y, fm_val a, fm_val b);
  fm_val (*lt)(void *ctx, fm_val x, fm_val y, fm_val a, fm_val b);
} fm_ops;

fm_val fm_code(const fm_ops *o, ex_fn f, fm_val x);
/* fm_code on doubles: what the interpreter computes for f(x). */
double fm_interp(ex_fn f, double x);

/* ---- names (fn.def) ----------------------------------------------------------------- */
const char *fm_name(ex_fn f, ex_style style);

#endif
