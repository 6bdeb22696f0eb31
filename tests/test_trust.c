/*
 * test_trust.c - derivations that are never silently wrong (issue 12): one regression test
 * per case where vle once gave a wrong number or a wrong message without a word. Each test
 * compares against numbers that do not come from the derivation under test: finite
 * differences of the discrete objective, or a scheme against the one theory says it equals.
 */
#include "run_util.h"
#include "pipeline.h"

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

/* Compiles text that must fail; returns what the compiler said. */
static const char *tr_refused(const char *rel, const char *text) {
  static char msg[8192];
  const char *path = ru_write(rel, text);
  FILE *f = fmemopen(msg, sizeof msg, "w");
  ld_model m;
  int rc = ld_open(&m, path, false, f);
  fclose(f);
  cr_assert_neq(rc, 0, "%s was accepted", rel);
  return msg;
}

/* Item 4: quantities computed from published values agree with the zero published rates at
 * step 0: a published log_softmax of the output (loss[0] = log 3), and a time constant that
 * reads another population's rate (the dynamics divided by a zero buffer: "Inf at step 0"). */
Test(trust, published_values_before_step_0) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/trust/xent.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "2", "--no-learn", "--record", "loss", "--out",
                       ru_at("x"), "-q", NULL), 0, "%s", ru_log);
  npy_array loss = ru_npy("x/loss.npy");
  cr_expect(fabs(ru_data(&loss)[0] - log(3.0)) < 1e-12, "loss[0] = %.17g, want log 3",
            ru_data(&loss)[0]);
  npy_free(&loss);
  ld_close(&m);
  ru_open(&m, ru_src("tests/data/trust/state_dep_a.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "50", "--no-learn", "--errors", "adjoint",
                       "--record", "h'", "--out", ru_at("s"), "-q", NULL), 0, "%s", ru_log);
  /* h' at step 0: a = 0.2 (1 + sum of the zero published rates), u = 0, input W2 r_g = 0 */
  npy_array hd = ru_npy("s/h_dot.npy");
  cr_expect(ru_data(&hd)[0] == 0, "h'[0] = %g", ru_data(&hd)[0]);
  npy_free(&hd);
  ld_close(&m);
}

/* Item 6: a model whose local split fails is refused for learning, naming the coefficient,
 * instead of printing an adjoint that does not exist ("no kernel back_adj" at run time). */
Test(trust, broken_split_names_the_coefficient) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  pl_unit u;
  dg_ctx d;
  dg_init(&d, f);
  pl_init(&u, &d);
  cr_assert(pl_front(&u, ru_src("tests/data/trust/state_dep_a.vle")) && pl_derive(&u));
  dv_print(f, u.sys, DV_TEXT);
  fclose(f);
  cr_expect(strstr(text, "a = 0.2 + 0.2 * sum(sigmoid("), "%s", text);
  cr_expect(strstr(text, "no error scheme of docs/theory.md"), "%s", text);
  cr_expect(!strstr(text, "population h [1]   \xcf\x86 = linear\n  mismatch") ||
            !strstr(strstr(text, "population h [1]"), "adjoint        e ="), "%s", text);
  free(text);
  pl_free(&u);
  ld_model m;
  ru_open(&m, ru_src("tests/data/trust/state_dep_a.vle"));
  cr_assert_eq(ru_vlec(&m, true, "--steps", "5", "--errors", "adjoint", "--out", ru_at("g"),
                       "-q", NULL), 1, "%s", ru_log);
  ld_close(&m);
}

/* Item 6: owner detection does not depend on how a constant factor is written, and a term
 * that is not accepted is named with the reason. */
Test(trust, scaled_mismatch_owners) {
  static const char *head =
    "model s\nconst sigma = 2\nconst pi = [1, 2, 3]\ninput x[2] = [sin(t), cos(t)]\n"
    "population h[3] { tau_m = 0.2; tau_r = 0.2; phi = tanh }\n"
    "weight W[h, x] init normal(0, 1)\n";
  static const char *ok[] = {
    "energy = 0.5*|sigma*(prosp(h, h.tau_m) - W@x)|^2\n",
    "energy = 0.5*|sigma*prosp(h, h.tau_m) - sigma*(W@x)|^2\n",
    "energy = 0.5*|prosp(h, h.tau_m) - W@x|^2/sigma^2\n",
    "energy = sigma*0.5*|prosp(h, h.tau_m) - W@x|^2\n",
    "energy = 0.5*dot(prosp(h, h.tau_m) - W@x, pi*(prosp(h, h.tau_m) - W@x))\n",
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    char text[1024];
    snprintf(text, sizeof text, "%s%s", head, ok[i]);
    ld_model m;
    ru_open(&m, ru_write("ok.vle", text));
    ld_close(&m);
  }
  char text[1024];
  snprintf(text, sizeof text, "%s%s", head, "energy = -0.5*|prosp(h, h.tau_m) - W@x|^2\n");
  const char *msg = tr_refused("neg.vle", text);
  cr_expect(strstr(msg, "ok.vle") || strstr(msg, "neg.vle:7:10: error: this energy term is not "
            "the mismatch of population h: its weight is not a positive constant"), "%s", msg);
  snprintf(text, sizeof text, "%s%s", head, "energy = 0.5*|prosp(h, h.tau_m) - W@x|^4\n");
  msg = tr_refused("pow4.vle", text);
  cr_expect(strstr(msg, "pow4.vle:7:10: error: this energy term is not the mismatch of "
            "population h: it is not of the form"), "%s", msg);
}

/* Item 5: `vlec check` makes every check `derive` and `run` make, the normal form included:
 * a term that is not affine in h', a population without a mismatch, two owners. */
Test(trust, check_checks_the_normal_form) {
  static const char *head =
    "model c\ninput x[2] = [sin(t), cos(t)]\n"
    "population h[2] { tau_m = 0.2; tau_r = 0.2; phi = tanh }\n"
    "population o[2] { tau_m = 0.2; tau_r = 0.2 }\n"
    "weight W[h, x] init normal(0, 1)\nweight V[o, h] init normal(0, 1)\n";
  static const struct { const char *energy, *want; } bad[] = {
    { "energy = 0.5*|h.tau_m * h'^2 + h - W@x|^2 + 0.5*|prosp(o, o.tau_m) - V@rate(h)|^2\n",
      "not affine in h'" },
    { "energy = 0.5*|prosp(h, h.tau_m) - W@x|^2\n", "population o owns no mismatch" },
    { "energy = 0.5*|prosp(h, h.tau_m) - W@x|^2 + 0.5*|prosp(o, o.tau_m) - prosp(h, h.tau_m)|^2\n",
      "has two owners" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char text[1024], cmd[512], out[4096];
    snprintf(text, sizeof text, "%s%s", head, bad[i].energy);
    snprintf(cmd, sizeof cmd, VLEC_PATH " check '%s' 2>&1", ru_write("c.vle", text));
    cr_expect_eq(tu_sh(cmd, out, sizeof out), 1, "case %zu: %s", i, out);
    cr_expect(strstr(out, bad[i].want), "case %zu: %s", i, out);
  }
}

#define TR_STEPS 400
#define TR_EPS 1e-6

/* J = sum_k dt objective_k over TR_STEPS steps from seed 3, one element of param moved. */
static double tr_objective(const vle_model *m, const char *param, size_t i, double delta) {
  return ru_signal_sum(m, param, i, delta, "objective", TR_STEPS);
}

/* `vlec grad --errors adjoint` against central finite differences of J, every parameter
 * tensor named (at most 16 elements each). */
static void tr_grad_vs_fd_of(const char *model, const char *const *params, int np) {
  ld_model m;
  ru_open(&m, ru_src(model));
  char steps[16];
  snprintf(steps, sizeof steps, "%d", TR_STEPS);
  for (int p = 0; p < np; p++) {
    npy_array a = tr_grad(&m, "adjoint", steps, "g", params[p]);
    double fd[16], cosine, rel;
    cr_assert(a.count <= 16);
    for (size_t i = 0; i < a.count; i++)
      fd[i] = (tr_objective(m.model, params[p], i, TR_EPS) -
               tr_objective(m.model, params[p], i, -TR_EPS)) / (2 * TR_EPS);
    ru_compare(ru_data(&a), fd, a.count, &cosine, &rel);
    if (getenv("VLE_TEST_VERBOSE"))
      fprintf(stderr, "%s %s: adjoint vs FD: cosine %.8f, relative difference %.3g\n", model,
              params[p], cosine, rel);
    cr_expect(cosine > 0.999 && rel < 0.03, "%s: adjoint vs FD of J: cosine %.6f, relative "
              "difference %.4f", params[p], cosine, rel);
    npy_free(&a);
  }
  ld_close(&m);
}

static void tr_grad_vs_fd(const char *model) {
  static const char *const params[] = { "W1", "b1", "W2", "b2" };
  tr_grad_vs_fd_of(model, params, 4);
}

/* A function added to fn.def only (gelu) learns like the others. */
Test(trust, gelu_as_phi) { tr_grad_vs_fd("tests/data/trust/gelu.vle"); }

/* Priors (docs/theory.md §8): 0.5*lam*|W1|^2, mu*sum(abs(W2)), 0.5*lam*|b2|^2 and
 * 0.5*lam*|h.tau_m - 0.1|^2 enter the gradient and J. */
Test(trust, priors_enter_gradient_and_J) { tr_grad_vs_fd("tests/data/trust/prior.vle"); }

/* With gamma = 0 a prior does not move the trajectory, so the prior's part of `vlec grad` is
 * exactly its term of G summed over the run: lam (tau - 0.1) T / beta for h.tau_m and
 * lam W1 T / beta for W1 (T = 400 dt = 0.8, beta = nudge = 0.5), between lam = 0.3 and
 * lam = 0 (the adjoint's own O(dt) error on tau_m, 4% here, cancels). */
Test(trust, prior_gradient_is_exact) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/trust/prior.vle"));
  cr_assert_eq(ru_vlec(&m, true, "--errors", "adjoint", "--steps", "400", "--seed", "3", "--out",
                       ru_at("l3"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, true, "--errors", "adjoint", "--steps", "400", "--seed", "3", "--set",
                       "lam=0", "--out", ru_at("l0"), "-q", NULL), 0, "%s", ru_log);
  static const double tau[3] = { 0.1, 0.2, 0.15 };
  npy_array a = ru_npy("l3/grad/h.tau_m.npy"), b = ru_npy("l0/grad/h.tau_m.npy");
  for (int i = 0; i < 3; i++) {
    double want = 0.3 * (tau[i] - 0.1) * 0.8 / 0.5, got = ru_data(&a)[i] - ru_data(&b)[i];
    cr_expect(fabs(got - want) < 1e-12, "h.tau_m[%d]: %.17g, expected %.17g", i, got, want);
  }
  npy_array w = ru_npy("l3/params/W1.npy"), c = ru_npy("l3/grad/W1.npy"), d = ru_npy("l0/grad/W1.npy");
  for (size_t i = 0; i < w.count; i++) {
    double want = 0.3 * ru_data(&w)[i] * 0.8 / 0.5, got = ru_data(&c)[i] - ru_data(&d)[i];
    cr_expect(fabs(got - want) < 1e-12, "W1[%zu]: %.17g, expected %.17g", i, got, want);
  }
  npy_free(&a); npy_free(&b); npy_free(&w); npy_free(&c); npy_free(&d);
  ld_close(&m);
}

/* The emitted step applies the prior's term of the rule: at step 0 every error is zero
 * (nothing published yet), so one SGD step with rate 0.01 is exactly the prior's:
 * W1 <- W1 - 0.01 lam W1 and W2 <- W2 - 0.01 mu sign(W2) (lam = 0.3, mu = 0.05), in every
 * scheme that learns online. */
Test(trust, priors_step_is_the_rule) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/trust/prior.vle"));
  static const char *schemes[] = { "instantaneous", "prospective" };
  for (int s = 0; s < 2; s++) {
    cr_assert_eq(ru_vlec(&m, false, "--errors", schemes[s], "--steps", "0", "--seed", "3",
                         "--record", "W1,W2", "--out", ru_at("p0"), "-q", NULL), 0, "%s", ru_log);
    cr_assert_eq(ru_vlec(&m, false, "--errors", schemes[s], "--steps", "1", "--seed", "3",
                         "--record", "W1,W2", "--out", ru_at("p1"), "-q", NULL), 0, "%s", ru_log);
    npy_array a1 = ru_npy("p0/W1.npy"), b1 = ru_npy("p1/W1.npy");
    npy_array a2 = ru_npy("p0/W2.npy"), b2 = ru_npy("p1/W2.npy");
    for (size_t i = 0; i < a1.count; i++) {
      double w = ru_data(&a1)[i];
      cr_expect(fabs(ru_data(&b1)[i] - (w - 0.01 * 0.3 * w)) < 1e-15, "%s W1[%zu]", schemes[s], i);
    }
    for (size_t i = 0; i < a2.count; i++) {
      double w = ru_data(&a2)[i], sg = w > 0 ? 1 : w < 0 ? -1 : 0;
      cr_expect(fabs(ru_data(&b2)[i] - (w - 0.01 * 0.05 * sg)) < 1e-15, "%s W2[%zu]", schemes[s], i);
    }
    npy_free(&a1); npy_free(&b1); npy_free(&a2); npy_free(&b2);
  }
  ld_close(&m);
}

/* Tied weights (docs/theory.md §8): W1 @ x drives h and W1' @ rate(h) drives o; W1's
 * gradient sums both uses. */
Test(trust, transposed_weight_sums_both_uses) { tr_grad_vs_fd("tests/data/trust/tied.vle"); }

/* Lateral recurrence (docs/theory.md §8): R @ rate(h) in h's own mismatch, read as published;
 * g_h gains tanh'(prosp(h)) ⊙ R^T e_h. */
Test(trust, lateral_recurrence) {
  static const char *const params[] = { "W1", "b1", "R", "W2", "b2" };
  tr_grad_vs_fd_of("tests/data/trust/lateral.vle", params, 5);
}

/* A mismatch owned by an input (docs/theory.md §8): e_x = x - Wd r_h feeds g_h, the term is
 * in J. */
Test(trust, input_owned_mismatch) {
  static const char *const params[] = { "W1", "b1", "Wd" };
  tr_grad_vs_fd_of("tests/data/trust/predict_input.vle", params, 3);
}

/* Each construct of docs/theory.md §8 learns online: with GLE's prospective errors and SGD
 * the objective J's integrand (priors included) falls by more than half over 20000 steps
 * (measured: prior 0.249 -> 0.035, tied 0.025 -> 0.005, lateral 0.015 -> 0.004,
 * predict_input 0.136 -> 0.033). */
Test(trust, general_energies_learn) {
  static const char *models[] = { "prior", "tied", "lateral", "predict_input" };
  for (int i = 0; i < 4; i++) {
    char path[128];
    snprintf(path, sizeof path, "tests/data/trust/%s.vle", models[i]);
    ld_model m;
    ru_open(&m, ru_src(path));
    cr_assert_eq(ru_vlec(&m, false, "--errors", "prospective", "--steps", "20000", "--seed", "3",
                         "--record", "objective", "--out", ru_at(models[i]), "-q", NULL), 0,
                 "%s", ru_log);
    char rel[128];
    snprintf(rel, sizeof rel, "%s/objective.npy", models[i]);
    npy_array o = ru_npy(rel);
    cr_assert_eq(o.count, 20000);
    double first = 0, last = 0;
    for (int k = 0; k < 2000; k++) {
      first += ru_data(&o)[k];
      last += ru_data(&o)[20000 - 2000 + k];
    }
    cr_expect(last < 0.5 * first, "%s: mean objective %g over the first 2000 steps, %g over "
              "the last", models[i], first / 2000, last / 2000);
    npy_free(&o);
    ld_close(&m);
  }
}

/* A user fn as phi: its derivative is derived (docs/theory.md §8). */
Test(trust, user_fn_as_phi) { tr_grad_vs_fd("tests/data/trust/fn_phi.vle"); }

/* Items 2 and 3: the cost weight is found in the energy whatever it is called (it was the
 * const named `beta`, else 1: off by 1/nudge here), and grad differentiates the objective J
 * (penalty included), which the recorded `objective` integrates. */
Test(trust, grad_is_dJ_whatever_beta_is_called) {
  tr_grad_vs_fd("tests/data/trust/penalty.vle");
  ld_model m;
  ru_open(&m, ru_src("tests/data/trust/penalty.vle"));
  /* objective_k = C_k + (lam/nudge) |r_h published at step k|^2 (the rate of step k-1) */
  cr_assert_eq(ru_vlec(&m, false, "--steps", "20", "--no-learn", "--record",
                       "objective,loss,h.rate", "--out", ru_at("r"), "-q", NULL), 0, "%s",
               ru_log);
  npy_array obj = ru_npy("r/objective.npy"), loss = ru_npy("r/loss.npy"),
            r = ru_npy("r/h.rate.npy");
  for (int k = 1; k < 20; k++) {
    const double *rk = ru_data(&r) + 3 * (k - 1);
    double pen = 0.3 / 0.5 * (rk[0] * rk[0] + rk[1] * rk[1] + rk[2] * rk[2]);
    cr_expect(fabs(ru_data(&obj)[k] - ru_data(&loss)[k] - pen) < 1e-12, "step %d", k);
  }
  npy_free(&obj);
  npy_free(&loss);
  npy_free(&r);
  ld_close(&m);
}

/* Item 2: a cost that enters the energy nonlinearly has no weight beta: an error. */
Test(trust, nonlinear_cost_is_refused) {
  const char *msg = tr_refused("nl.vle",
    "model nl\ninput x[2] = [sin(t), cos(t)]\ntarget y[2] = [0, 1]\n"
    "population o[2] { tau_m = 0.2; tau_r = 0.2 }\nweight W[o, x] init normal(0, 1)\n"
    "cost C = 0.5*|y - rate(o)|^2\n"
    "energy = 0.5*|prosp(o, o.tau_m) - W@x|^2 + 0.1*C^2\n");
  cr_expect(strstr(msg, "the cost C must enter the energy linearly"), "%s", msg);
}

/* Item 6: self-coupling through u and a nonlinear leak name q and say why the split fails. */
Test(trust, self_coupling_and_leak_name_q) {
  static const char *head =
    "model s\ninput x[2] = [sin(t), cos(t)]\ntarget y[2] = [0, 1]\n"
    "population h[2] { tau_m = 0.2; tau_r = 0.2; phi = tanh }\n"
    "weight W[h, x] init normal(0, 1)\nweight R[h, h] init normal(0, 0.1)\n"
    "cost C = 0.5*|y - rate(h)|^2\n";
  static const struct { const char *energy, *want; } cases[] = {
    { "energy = 0.5*|prosp(h, h.tau_m) - W@x - R@h|^2 + C\n",
      "q, the coefficient of u in its own mismatch, is not elementwise" },
    { "energy = 0.5*|tanh(h) + h.tau_m*h' - W@x|^2 + C\n",
      "the coefficient of u in its own mismatch, depends on the state (a nonlinear leak)" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char text[1024], *out = NULL;
    size_t len = 0;
    snprintf(text, sizeof text, "%s%s", head, cases[i].energy);
    FILE *f = open_memstream(&out, &len);
    dg_ctx d;
    dg_init(&d, f);
    pl_unit u;
    pl_init(&u, &d);
    cr_assert(pl_front_text(&u, "s.vle", text) && pl_derive(&u), "case %zu", i);
    dv_print(f, u.sys, DV_TEXT);
    fclose(f);
    cr_expect(strstr(out, cases[i].want), "case %zu: %s", i, out);
    cr_expect(strstr(out, "no error scheme of docs/theory.md"), "case %zu: %s", i, out);
    free(out);
    pl_free(&u);
  }
}

/* A loop whose prospective errors amplify: `check` warns with the factor, and the warning
 * is true: prospective errors diverge where instantaneous ones stay finite. */
Test(trust, error_loop_warns_and_diverges) {
  char cmd[1024], out[8192];
  snprintf(cmd, sizeof cmd, VLEC_PATH " check '%s' 2>&1", ru_src("tests/data/trust/error_loop.vle"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "prospective errors amplify the errors coming round the loop by up "
                        "to tau_m/tau_r = 4"), "%s", out);
  ld_model m;
  ru_open(&m, ru_src("tests/data/trust/error_loop.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "1000", "--seed", "1", "--no-learn", "--out",
                       ru_at("p"), "-q", NULL), 1, "%s", ru_log);
  cr_assert(strstr(ru_log, "NaN") || strstr(ru_log, "Inf"), "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, false, "--steps", "1000", "--seed", "1", "--no-learn", "--errors",
                       "instantaneous", "--out", ru_at("i"), "-q", NULL), 0, "%s", ru_log);
  ld_close(&m);
}
