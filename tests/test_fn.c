/*
 * test_fn.c - the elementwise functions of fn.def, every one, against independent numbers:
 * the derivative the symbolic engine builds (fm_deriv) against central finite differences of
 * the oracle (fm_value), the oracle against published values, and the generated code's
 * formula (fm_interp, which the JIT mirrors bit for bit: test_backend) against the oracle.
 * A function added to fn.def is covered here without a new line; gelu has its own values.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "fn_math.h"

static const double xs[] = { -3.1, -1.7, -0.9, -0.3, 0.2, 0.45, 0.8, 1.3, 2.6, 4.0 };

/* Is f smooth at x (no kink or jump within the FD step)? */
static bool smooth_at(ex_fn f, double x) {
  switch (f) {
  case F_RELU: case F_ABS: case F_STEP: case F_SIGN: return fabs(x) > 1e-3;
  case F_HARDTANH: case F_IND1: return fabs(fabs(x) - 1) > 1e-3;
  default: return true;
  }
}

static double in_domain(ex_fn f, double x) {
  return f == F_LOG || f == F_SQRT ? fabs(x) + 0.25 : x;
}

Test(fn, derivative_matches_finite_differences) {
  vl_arena a;
  ar_init(&a);
  ex_ctx *c = ex_new(&a);
  ex_node *x = ex_sym(c, 0, 0, (ex_shape){ EXS_SCALAR, 1, 1 }, "x", NULL);
  for (int f = 0; f < F_COUNT; f++) {
    ex_node *d = fm_deriv(c, (ex_fn)f, x);
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
      double v = in_domain((ex_fn)f, xs[i]);
      if (!smooth_at((ex_fn)f, v)) continue;
      double h = 1e-6, fd = (fm_value((ex_fn)f, v + h) - fm_value((ex_fn)f, v - h)) / (2 * h);
      ex_node *at = ex_num(c, v);
      ex_val out;
      vl_arena s;
      ar_init(&s);
      cr_assert(ex_eval(c, ex_subst(c, d, &x, &at, 1), NULL, NULL, &s, &out));
      cr_expect(fabs(out.v[0] - fd) < 1e-7 * (1 + fabs(fd)), "%s'(%g) = %.12g, FD %.12g",
                fm_name((ex_fn)f, EXP_PLAIN), v, out.v[0], fd);
      ar_free_all(&s);
    }
  }
  ar_free_all(&a);
}

Test(fn, generated_formula_matches_the_oracle) {
  for (int f = 0; f < F_COUNT; f++)
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
      double v = in_domain((ex_fn)f, xs[i]), want = fm_value((ex_fn)f, v);
      double got = fm_interp((ex_fn)f, v);
      cr_expect(fabs(got - want) <= 4e-16 * (1 + fabs(want)), "%s(%g): code %.17g, oracle "
                "%.17g", fm_name((ex_fn)f, EXP_PLAIN), v, got, want);
    }
}

/* gelu(x) = x Φ(x); values from the standard normal table (Φ(1) = 0.841344746068543,
 * Φ(-0.5) = 0.308537538725987, Φ(2) = 0.977249868051821). */
Test(fn, gelu_values) {
  cr_expect(fabs(fm_value(F_GELU, 1.0) - 0.841344746068543) < 1e-14);
  cr_expect(fabs(fm_value(F_GELU, -0.5) + 0.5 * 0.308537538725987) < 1e-14);
  cr_expect(fabs(fm_value(F_GELU, 2.0) - 2 * 0.977249868051821) < 1e-14);
  cr_expect(fm_value(F_GELU, 0.0) == 0);
  /* gelu'(0) = 1/2, gelu'(x) -> 1 for large x and -> 0 for very negative x */
  cr_expect(fabs(fm_value(F_GELU_D, 0.0) - 0.5) < 1e-15);
  cr_expect(fabs(fm_value(F_GELU_D, 8.0) - 1) < 1e-12);
  cr_expect(fabs(fm_value(F_GELU_D, -8.0)) < 1e-12);
}
