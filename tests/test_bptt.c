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
#define BP_SAMPLE 12       /* elements checked per tensor */
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

/* dJ/dθ_i by central differences, summed over the windows of `window` steps of a run of
 * `steps` steps. */
static void bp_fd(const vle_model *m, const char *param, size_t i, double *g, int steps,
                  int window) {
  *g = 0;
  for (int k0 = 0; k0 < steps; k0 += window)
    *g += (bp_objective(m, param, i, BP_EPS, k0, window) -
           bp_objective(m, param, i, -BP_EPS, k0, window)) / (2 * BP_EPS);
}

/* `vlec grad --errors bptt [--window W]` of every learned parameter against bp_fd. */
static void bp_check(const char *path, int window) {
  char model[512];   /* ru_src and ru_write return rotating buffers that ru_at reuses */
  snprintf(model, sizeof model, "%s", path[0] == '/' ? path : ru_src(path));
  ld_model m;
  ru_open(&m, model);
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
    /* every element of a small tensor, else BP_SAMPLE of them spread over it */
    size_t n = a.count <= BP_SAMPLE ? a.count : BP_SAMPLE, *at = calloc(n, sizeof *at);
    double *fd = calloc(n, sizeof *fd), *g = calloc(n, sizeof *g), cosine, diff;
    for (size_t i = 0; i < n; i++) {
      at[i] = i * a.count / n;
      g[i] = ru_data(&a)[at[i]];
      bp_fd(m.model, q->name, at[i], &fd[i], BP_STEPS, window);
    }
    ru_compare(g, fd, n, &cosine, &diff);
    double gn = 0, fn = 0;
    for (size_t i = 0; i < n; i++) gn += g[i] * g[i], fn += fd[i] * fd[i];
    if (fn == 0) diff = gn;   /* J does not depend on it (a feedback matrix): both 0 */
    if (getenv("VLE_TEST_VERBOSE"))
      fprintf(stderr, "%s %s (window %d): bptt vs FD: |g - fd| / |fd| = %.3g\n", model,
              q->name, window, diff);
    cr_expect(diff < BP_TOL, "%s %s: |bptt - fd| / |fd| = %.3g", model, q->name, diff);
    free(fd);
    free(g);
    free(at);
    npy_free(&a);
    checked++;
  }
  cr_assert_gt(checked, 0, "%s learns nothing", model);
  ld_close(&m);
}

/* A bundled model's text, to be edited (bp_edit: the first `from` becomes `to`). */
static void bp_read(const char *rel, char *text, size_t cap) {
  FILE *f = fopen(ru_src(rel), "r");
  cr_assert(f, "%s", rel);
  size_t n = fread(text, 1, cap - 1, f);
  fclose(f);
  text[n] = 0;
}

static void bp_edit(char *text, const char *from, const char *to) {
  char *at = strstr(text, from);
  cr_assert(at, "a bundled model changed: no '%s'", from);
  size_t old = strlen(from), new = strlen(to);
  memmove(at + new, at + old, strlen(at + old) + 1);
  memcpy(at, to, new);
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
Test(bptt, self_coupling_through_u) { bp_check("tests/data/bptt/self_coupling.vle", BP_STEPS); }
Test(bptt, nonlinear_leak) { bp_check("tests/data/bptt/leak.vle", BP_STEPS); }
Test(bptt, softmax_cost) { bp_check("tests/data/bptt/xent.vle", BP_STEPS); }

/* Every bundled example whose streams have default values (lagline's and mnist1d's come from
 * data files; without them their inputs are zero, which still exercises every path). */
Test(bptt, examples_match_fd) {
  static const char *const models[] = {
    "examples/gle_small/model.vle", "examples/lagnet/model.vle",
    "examples/recurrent/model.vle", "examples/predictive_coding/model.vle",
    "examples/le_teacher/model.vle", "examples/feedback_alignment/kp.vle",
    "examples/lagline/student.vle",
  };
  for (size_t i = 0; i < sizeof models / sizeof *models; i++) bp_check(models[i], BP_STEPS);
}

/* The MNIST-1D network (7 layers, softmax cross-entropy) with a default input stream and a
 * fixed class instead of its data files, at batch 1. */
Test(bptt, mnist1d_network_matches_fd) {
  static char text[16384];
  bp_read("examples/mnist1d/model.vle", text, sizeof text);
  bp_edit(text, "input  x[1] ", "input  x[1] = [sin(0.7*t) + 0.5*cos(1.9*t)]");
  bp_edit(text, "target y[10] onehot", "target y[10] = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]");
  bp_edit(text, "batch = 100", "batch = 1");
  bp_check(ru_write("mnist1d.vle", text), BP_STEPS);
}

/* ---- windows, checkpoints, learning, the .so ------------------------------------------------ */

/* Checkpointed segments recompute the forward pass exactly: the same bits as a stored window. */
Test(bptt, checkpointed_window_equals_stored) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/fd_232.vle"));
  double full[8], ckpt[8];
  vle_adjoint_plan pf, pc;
  ru_window_grads(m.model, "bptt", 0, 1000, full, &pf);
  ru_window_grads(m.model, "bptt", 30000, 1000, ckpt, &pc);
  cr_assert_eq(pf.checkpoints, 0);
  cr_assert_gt(pf.step_bytes, 80, "bptt stores the pubs it reads besides u and u'");
  cr_assert_gt(pc.checkpoints, 1, "the small bound must force checkpoints");
  cr_assert_leq(pc.bytes, 30000);
  for (int i = 0; i < 8; i++) cr_assert_eq(full[i], ckpt[i], "%d: %.17g vs %.17g", i, full[i], ckpt[i]);
  ld_close(&m);
}

/* The grads of `vlec grad --errors bptt --window 50` from the JIT and from a built .so. */
Test(bptt, so_equals_jit) {
  ld_model jit, so;
  ru_open(&jit, ru_src("tests/data/fd_232.vle"));
  char cmd[1024], out[4096];
  snprintf(cmd, sizeof cmd, VLEC_PATH " build '%s' -o '%s' 2>&1", ru_src("tests/data/fd_232.vle"),
           ru_at("m.so"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  ru_open(&so, ru_at("m.so"));
  const char *args[] = { "--errors", "bptt", "--steps", "200", "--window", "50", "--seed", "3", "-q" };
  cr_assert_eq(ru_vlec(&jit, true, args[0], args[1], args[2], args[3], args[4], args[5], args[6],
                       args[7], args[8], "--out", ru_at("j"), NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&so, true, args[0], args[1], args[2], args[3], args[4], args[5], args[6],
                       args[7], args[8], "--out", ru_at("s"), NULL), 0, "%s", ru_log);
  static const char *params[] = { "W1", "b1", "W2", "b2" };
  for (int p = 0; p < 4; p++) {
    char a[64], b[64];
    snprintf(a, sizeof a, "j/grad/%s.npy", params[p]);
    snprintf(b, sizeof b, "s/grad/%s.npy", params[p]);
    npy_array x = ru_npy(a), y = ru_npy(b);
    cr_assert_eq(x.count, y.count);
    cr_expect_eq(memcmp(x.data, y.data, x.count * sizeof(double)), 0, "%s differs", params[p]);
    npy_free(&x);
    npy_free(&y);
  }
  ld_close(&jit);
  ld_close(&so);
}

/* Truncated BPTT learns: the loss of the last 500 steps falls against the first 500's, and
 * against the same run without learning. gle_small's rate (0.1, for one step per step) over
 * 40 steps' gradient is one step of 4 rate-steps: its windows learn at 0.003. */
Test(bptt, learns_with_windows) {
  static char text[8192];
  bp_read("examples/gle_small/model.vle", text, sizeof text);
  bp_edit(text, "with sgd(0.1)", "with sgd(0.003)");
  ld_model m;
  ru_open(&m, ru_write("gs.vle", text));
  cr_assert_eq(ru_vlec(&m, false, "--errors", "bptt", "--window", "40", "--steps", "4000",
                       "--record", "loss", "--out", ru_at("l"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, false, "--errors", "bptt", "--no-learn", "--steps", "4000",
                       "--record", "loss", "--out", ru_at("n"), "-q", NULL), 0, "%s", ru_log);
  npy_array l = ru_npy("l/loss.npy"), n = ru_npy("n/loss.npy");
  cr_assert_eq(l.count, 4000);
  double first = 0, last = 0, fixed = 0;
  for (int k = 0; k < 500; k++) {
    first += ru_data(&l)[k];
    last += ru_data(&l)[3500 + k];
    fixed += ru_data(&n)[3500 + k];
  }
  fprintf(stderr, "bptt learning gle_small: loss %.4g (first 500 steps) -> %.4g (last 500); "
          "without learning %.4g\n", first / 500, last / 500, fixed / 500);
  cr_expect_lt(last, 0.5 * first);
  cr_expect_lt(last, 0.5 * fixed);
  npy_free(&l);
  npy_free(&n);
  ld_close(&m);
}

/* The models no scheme of theory.md §4 can train learn with bptt (measured, 20000 steps,
 * windows of 50: the last tenth's loss 0.089 against 0.35 without learning for the
 * self-coupling, 0.097 against 0.52 for the nonlinear leak). */
Test(bptt, models_without_a_split_learn) {
  static const char *const models[] = { "tests/data/bptt/self_coupling.vle",
                                        "tests/data/bptt/leak.vle" };
  for (int i = 0; i < 2; i++) {
    ld_model m;
    ru_open(&m, ru_src(models[i]));
    cr_assert_eq(ru_vlec(&m, false, "--errors", "bptt", "--window", "50", "--steps", "20000",
                         "--record", "loss", "--out", ru_at("l"), "-q", NULL), 0, "%s", ru_log);
    cr_assert_eq(ru_vlec(&m, false, "--errors", "bptt", "--no-learn", "--steps", "20000",
                         "--record", "loss", "--out", ru_at("n"), "-q", NULL), 0, "%s", ru_log);
    npy_array l = ru_npy("l/loss.npy"), n = ru_npy("n/loss.npy");
    double learned = 0, fixed = 0;
    for (size_t k = 18000; k < 20000; k++) {
      learned += ru_data(&l)[k];
      fixed += ru_data(&n)[k];
    }
    cr_expect_lt(learned, 0.5 * fixed, "%s: %g learned, %g without", models[i], learned / 2000,
                 fixed / 2000);
    npy_free(&l);
    npy_free(&n);
    ld_close(&m);
  }
}
