/*
 * test_eqprop.c - gradient-flow populations and equilibrium propagation (docs/theory.md
 * §10b) on tests/data/ep_small.vle, a 2-3-1 layered Hopfield network on one sample:
 *
 *  - the free phase reaches the minimum of E: ∂E/∂u, computed here by hand from the sim's
 *    u and parameters (u − σ′(u) ⊙ (input + feedback)), is below 1e-9;
 *  - the EP update agrees with central finite differences of the cost at the free
 *    equilibrium, J(θ) = ½ (y − σ(u_o*(θ)))², computed here from the relaxed state: cosine
 *    > 0.99 and the relative error shrinking with β (0.1, 0.03, 0.01), one-sided (O(β)) and
 *    symmetric (O(β²), smaller than one-sided at each β);
 *  - `vlec grad` writes the same estimate; `vlec run` learns (the cost drops); a `.so`
 *    built by `vlec build` gives the C API the same step as the JIT, bit for bit;
 *  - the checker's refusals (mixed dynamics, tau_r, settings without gradient flow).
 */
#include "run_util.h"

TestSuite(eqprop, .init = ru_setup, .fini = ru_teardown);

#define EP_N 13   /* W1 (3x2), b1 (3), W2 (1x3), b2 (1) */
static const char *const ep_params[] = { "W1", "b1", "W2", "b2" };
static const size_t ep_sizes[] = { 6, 3, 3, 1 };

static const char *ep_model(const char *rel, const char *settings) {
  FILE *f = fopen(ru_src("tests/data/ep_small.vle"), "r");
  cr_assert(f);
  static char text[4096], out[4096];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  char *at = strstr(text, "\n#SETTINGS\n");
  cr_assert(at);
  snprintf(out, sizeof out, "%.*s\n%s\n", (int)(at - text), text, settings);
  return ru_write(rel, out);
}

static double ep_sig(double z) { return 1 / (1 + exp(-z)); }

/* A sim with learning off (acc: summing the EP estimate), beta set, seed 4. */
static vle_sim *ep_sim(const vle_model *m, double beta, bool acc) {
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.learn = false;
  o.accumulate_grads = acc;
  o.seed = 4;
  static double b;
  b = beta;
  static vle_override set;
  set = (vle_override){ "beta", &b, 1 };
  o.sets = &set;
  o.nsets = 1;
  vle_error err;
  vle_sim *s = vle_sim_new(m, &o, &err);
  cr_assert(s, "%s", err.msg);
  return s;
}

static void ep_get_params(vle_sim *s, double *th) {
  vle_error err;
  for (int i = 0, j = 0; i < 4; j += (int)ep_sizes[i], i++)
    cr_assert_eq(vle_sim_get(s, ep_params[i], th + j, ep_sizes[i], &err), 0, "%s", err.msg);
}
static void ep_set_params(vle_sim *s, const double *th) {
  vle_error err;
  for (int i = 0, j = 0; i < 4; j += (int)ep_sizes[i], i++)
    cr_assert_eq(vle_sim_set(s, ep_params[i], th + j, ep_sizes[i], &err), 0, "%s", err.msg);
}

/* The free equilibrium's cost with parameters th: one step (a free phase, no learning). */
static double ep_cost(const vle_model *m, const double *th) {
  vle_sim *s = ep_sim(m, 0.1, false);
  ep_set_params(s, th);
  vle_error err;
  cr_assert_eq(vle_sim_step(s, 1, &err), 0, "%s", err.msg);
  double uo;
  cr_assert_eq(vle_sim_get(s, "o", &uo, 1, &err), 0, "%s", err.msg);
  vle_sim_free(s);
  double r = ep_sig(uo);
  return 0.5 * (0.8 - r) * (0.8 - r);
}

/* The EP estimate at th (the grad sum of one step is dt β times it). */
static void ep_estimate(const vle_model *m, double beta, const double *th, double *g) {
  vle_sim *s = ep_sim(m, beta, true);
  ep_set_params(s, th);
  vle_error err;
  cr_assert_eq(vle_sim_step(s, 1, &err), 0, "%s", err.msg);
  double dt = vle_sim_dt(s);
  for (int i = 0, j = 0; i < 4; j += (int)ep_sizes[i], i++)
    cr_assert_eq(vle_sim_grad_sum(s, ep_params[i], g + j, ep_sizes[i], &err), 0, "%s",
                 err.msg);
  for (int i = 0; i < EP_N; i++) g[i] /= dt * beta;
  vle_sim_free(s);
}

static double ep_dot(const double *a, const double *b) {
  double d = 0;
  for (int i = 0; i < EP_N; i++) d += a[i] * b[i];
  return d;
}

Test(eqprop, free_phase_reaches_the_minimum_of_E) {
  ld_model lm;
  ru_open(&lm, ep_model("ep.vle", "settings { dt = 0.1; free_steps = 600; nudged_steps = 300 }"));
  vle_sim *s = ep_sim(lm.model, 0.1, false);
  vle_error err;
  cr_assert_eq(vle_sim_step(s, 1, &err), 0, "%s", err.msg);
  double th[EP_N], uh[3], uo;
  ep_get_params(s, th);
  cr_assert_eq(vle_sim_get(s, "h", uh, 3, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_get(s, "o", &uo, 1, &err), 0, "%s", err.msg);
  const double x[2] = { 0.6, -0.4 }, *W1 = th, *b1 = th + 6, *W2 = th + 9, *b2 = th + 12;
  /* E = ½|u|² − σ(u_h)·(W1 x + b1) − σ(u_o)(W2 σ(u_h) + b2) at β = 0 (the free phase) */
  double ro = ep_sig(uo), norm = 0, size = 0;
  for (int i = 0; i < 3; i++) {
    double rh = ep_sig(uh[i]), drive = W1[2 * i] * x[0] + W1[2 * i + 1] * x[1] + b1[i] +
                                       W2[i] * ro;
    double dE = uh[i] - rh * (1 - rh) * drive;
    norm += dE * dE;
    size += uh[i] * uh[i];
  }
  double drive = b2[0];
  for (int i = 0; i < 3; i++) drive += W2[i] * ep_sig(uh[i]);
  double dEo = uo - ro * (1 - ro) * drive;
  norm += dEo * dEo;
  size += uo * uo;
  cr_expect_gt(sqrt(size), 0.05, "the equilibrium is trivial: the test would mean little");
  cr_expect_lt(sqrt(norm), 1e-9, "|dE/du| = %g at the end of the free phase", sqrt(norm));
  vle_sim_free(s);
  ld_close(&lm);
}

/* The relative error of the EP estimate against central differences, for one β. */
static double ep_error(const vle_model *m, const double *th, const double *fd, double beta,
                       double *cosine) {
  double g[EP_N], d[EP_N];
  ep_estimate(m, beta, th, g);
  for (int i = 0; i < EP_N; i++) d[i] = g[i] - fd[i];
  *cosine = ep_dot(g, fd) / sqrt(ep_dot(g, g) * ep_dot(fd, fd));
  return sqrt(ep_dot(d, d) / ep_dot(fd, fd));
}

static void ep_agrees(const char *settings, bool symmetric, double *errs) {
  ld_model lm;
  ru_open(&lm, ep_model(symmetric ? "sym.vle" : "one.vle", settings));
  vle_sim *s = ep_sim(lm.model, 0.1, false);
  double th[EP_N], fd[EP_N], tp[EP_N];
  ep_get_params(s, th);
  vle_sim_free(s);
  const double h = 1e-5;
  for (int i = 0; i < EP_N; i++) {
    memcpy(tp, th, sizeof tp);
    tp[i] = th[i] + h;
    double jp = ep_cost(lm.model, tp);
    tp[i] = th[i] - h;
    fd[i] = (jp - ep_cost(lm.model, tp)) / (2 * h);
  }
  cr_assert_gt(sqrt(ep_dot(fd, fd)), 1e-3, "the cost's gradient is too small to compare");
  const double betas[3] = { 0.1, 0.03, 0.01 };
  for (int k = 0; k < 3; k++) {
    double cosine;
    errs[k] = ep_error(lm.model, th, fd, betas[k], &cosine);
    cr_expect_gt(cosine, 0.99, "%s beta = %g: cosine %g", symmetric ? "symmetric" : "one-sided",
                 betas[k], cosine);
    cr_log_info("%s beta = %g: relative error %.3e, cosine %.8f\n", symmetric ? "symmetric"
                : "one-sided", betas[k], errs[k], cosine);
    if (k) cr_expect_lt(errs[k], errs[k - 1], "the error does not shrink with beta");
  }
  ld_close(&lm);
}

Test(eqprop, update_agrees_with_finite_differences) {
  double one[3], sym[3];
  ep_agrees("settings { dt = 0.1; free_steps = 600; nudged_steps = 300 }", false, one);
  ep_agrees("settings { dt = 0.1; eqprop = symmetric; free_steps = 600; nudged_steps = 300 }",
            true, sym);
  for (int k = 0; k < 3; k++)
    cr_expect_lt(sym[k], one[k], "symmetric nudging is not better at beta %d", k);
  /* one-sided O(β): a third of β, about a third of the error; symmetric O(β²) */
  cr_expect_lt(one[2], 0.2 * one[0]);
  cr_expect_lt(sym[2], 0.05 * sym[0]);
}

/* `vlec grad --steps 1` writes dt times the estimate; `vlec run` learns the
 * sample (its cost falls); a `.so` from `vlec build` steps like the JIT. */
Test(eqprop, grad_run_and_shared_object) {
  char path[512];   /* (ru_at's buffers rotate) */
  snprintf(path, sizeof path, "%s", ep_model("cli.vle", "settings { dt = 0.1; free_steps = "
                                             "300; nudged_steps = 150 }"));
  ld_model lm;
  ru_open(&lm, path);
  vle_sim *s = ep_sim(lm.model, 0.1, false);
  double th[EP_N], g[EP_N];
  ep_get_params(s, th);
  vle_sim_free(s);
  ep_estimate(lm.model, 0.1, th, g);
  cr_assert_eq(ru_vlec(&lm, true, "--steps", "1", "--seed", "4", "--out", ru_at("g"), "-q",
                       NULL), 0, "%s", ru_log);
  for (int i = 0, j = 0; i < 4; j += (int)ep_sizes[i], i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "g/grad/%s.npy", ep_params[i]);
    npy_array a = ru_npy(rel);
    cr_assert_eq(a.count, ep_sizes[i]);
    for (size_t k = 0; k < ep_sizes[i]; k++)
      cr_expect_float_eq(ru_data(&a)[k], 0.1 * g[j + (int)k], 1e-12 * (1 + fabs(g[j])),
                         "%s[%zu]", ep_params[i], k);
    npy_free(&a);
  }
  /* learning: 500 presentations of the one sample with sgd(1) */
  cr_assert_eq(ru_vlec(&lm, false, "--steps", "500", "--seed", "4", "--record", "loss", "--out",
                       ru_at("r"), "-q", NULL), 0, "%s", ru_log);
  npy_array loss = ru_npy("r/loss.npy");
  cr_assert_eq(loss.count, 500u);
  double first = ru_data(&loss)[0], last = ru_data(&loss)[499];
  cr_log_info("cost %g -> %g over 500 EP steps\n", first, last);
  cr_expect_lt(last, 0.5 * first, "EP does not learn: cost %g -> %g", first, last);
  npy_free(&loss);
  /* the .so: three learning steps, the same parameters as the JIT's */
  char cmd[1024], out[4096];
  snprintf(cmd, sizeof cmd, "'%s' build '%s' -o '%s' 2>&1", VLEC_PATH, path, ru_at("ep.so"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  ld_model so;
  ru_open(&so, ru_at("ep.so"));
  double pj[EP_N], ps[EP_N];
  vle_sim *a = ru_sim(lm.model, NULL, true, 4), *b = ru_sim(so.model, NULL, true, 4);
  vle_error err;
  cr_assert_eq(vle_sim_step(a, 3, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_step(b, 3, &err), 0, "%s", err.msg);
  cr_expect_str_eq(vle_sim_errors(b), "eqprop");
  ep_get_params(a, pj);
  ep_get_params(b, ps);
  ep_get_params(ru_sim(so.model, NULL, false, 4), th);
  cr_expect_gt(ru_maxdiff(pj, th, EP_N), 1e-6, "the parameters did not move");
  cr_expect_lt(ru_maxdiff(pj, ps, EP_N), 1e-13, "the .so and the JIT differ");
  vle_sim_free(a);
  vle_sim_free(b);
  ld_close(&so);
  ld_close(&lm);
}

/* The checker: both kinds of population mixed, tau_r on a gradient-flow population, EP
 * settings without one, a bad dynamics word; the derivation: no cost. */
Test(eqprop, refusals) {
  struct { const char *from, *to, *msg; } cases[] = {
    { "population o[1] { tau_m = 1; phi = sigmoid; dynamics = gradient }",
      "population o[1] { tau_m = 1; tau_r = 1; phi = sigmoid }",
      "error: population 'o' owns a mismatch, but 'h' follows the gradient flow" },
    { "population o[1] { tau_m = 1; phi = sigmoid; dynamics = gradient }",
      "population o[1] { tau_m = 1; tau_r = 0.5; phi = sigmoid; dynamics = gradient }",
      "error: population 'o' follows the gradient flow (dynamics = gradient): its rate is "
      "phi(u), it has no tau_r" },
    { "dynamics = gradient }\npopulation o",
      "dynamics = uphill }\npopulation o", "error: dynamics must be mismatch or gradient, got uphill" },
    { "+ beta * C", "+ 0 * C", "error: equilibrium propagation nudges the network with beta * C" },
  };
  char cmd[1024], out[8192];
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    FILE *f = fopen(ru_src("tests/data/ep_small.vle"), "r");
    char text[4096], buf[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *at = strstr(text, cases[k].from);
    cr_assert(at, "%s", cases[k].from);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - text), text, cases[k].to,
             at + strlen(cases[k].from));
    snprintf(cmd, sizeof cmd, "'%s' derive '%s' 2>&1", VLEC_PATH, ru_write("bad.vle", buf));
    cr_expect_eq(tu_sh(cmd, out, sizeof out), 1, "%s", out);
    cr_expect(strstr(out, cases[k].msg), "case %zu: %s", k, out);
  }
  /* EP settings in a model without gradient flow */
  snprintf(cmd, sizeof cmd, "sed 's/errors = prospective/errors = prospective; free_steps = 5/' "
           "'%s' > '%s' && '%s' check '%s' 2>&1", ru_src("examples/gle_small/model.vle"),
           ru_at("gle.vle"), VLEC_PATH, ru_at("gle.vle"));
  cr_expect_eq(tu_sh(cmd, out, sizeof out), 1, "%s", out);
  cr_expect(strstr(out, "error: equilibrium propagation settings, but no population follows "
                        "the gradient flow"), "%s", out);
}
