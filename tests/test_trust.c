/*
 * test_trust.c - derivations that are never silently wrong (issue 12): one regression test
 * per case where vle once gave a wrong number or a wrong message without a word. Each test
 * compares against numbers that do not come from the derivation under test: finite
 * differences of the discrete objective, or a scheme against the one theory says it equals.
 */
#include "run_util.h"

TestSuite(trust, .init = ru_setup, .fini = ru_teardown);

/* `vlec grad` of m with the given scheme into DIR/grad; returns the gradient of param. */
static npy_array tr_grad(const ld_model *m, const char *errors, const char *steps,
                         const char *dir, const char *param) {
  cr_assert_eq(ru_vlec(m, true, "--errors", errors, "--steps", steps, "--seed", "3", "--out",
                       ru_at(dir), "-q", NULL), 0, "%s", ru_log);
  char rel[128];
  snprintf(rel, sizeof rel, "%s/grad/%s.npy", dir, param);
  return ru_npy(rel);
}

/* Item 1: with q != 1 the prospective scheme is e = (v + (a/q) v') / q; where a = q b it
 * equals the instantaneous e = g / q, and both match the adjoint (the old e = v + a v'
 * gave 0.41x the adjoint's gradient of W1). */
Test(trust, prospective_uses_q) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/trust/q_scaled.vle"));
  const char *params[] = { "W1", "W2" };
  for (int i = 0; i < 2; i++) {
    npy_array p = tr_grad(&m, "prospective", "3000", "p", params[i]);
    npy_array n = tr_grad(&m, "instantaneous", "3000", "i", params[i]);
    npy_array a = tr_grad(&m, "adjoint", "3000", "a", params[i]);
    double cosine, rel;
    ru_compare(ru_data(&p), ru_data(&n), p.count, &cosine, &rel);
    cr_expect(rel < 1e-9, "%s: prospective vs instantaneous: relative difference %g",
              params[i], rel);
    ru_compare(ru_data(&p), ru_data(&a), p.count, &cosine, &rel);
    cr_expect(cosine > 0.999 && rel < 0.01, "%s: prospective vs adjoint: cosine %.6f, "
              "relative difference %.4f", params[i], cosine, rel);
    npy_free(&p);
    npy_free(&n);
    npy_free(&a);
  }
  ld_close(&m);
}

/* Item 7: what `check` accepts runs, with the values `check` computed: concat of fill()s (a
 * vector of equal numbers is one shaped number in the expression engine) in a const and in
 * a time constant. */
Test(trust, const_concat_runs) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/trust/const_concat.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "5", "--record", "h.tau_m,c", "--out", ru_at("c"),
                       "-q", NULL), 0, "%s", ru_log);
  const double want[3] = { 0.5, 0.5, 1.0 };
  npy_array tau = ru_npy("c/h.tau_m.npy"), c = ru_npy("c/c.npy");
  cr_assert_eq(tau.count, 3);
  cr_assert_eq(c.count, 15);   /* recorded every step */
  cr_expect(ru_maxdiff(ru_data(&tau), want, 3) == 0, "tau_m");
  cr_expect(ru_maxdiff(ru_data(&c) + 12, want, 3) == 0, "c");
  npy_free(&tau);
  npy_free(&c);
  ld_close(&m);
}
