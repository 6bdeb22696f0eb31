/*
 * test_run_adjoint.c - the `adjoint` error scheme (docs/theory.md §4a, docs/abi.md) end to end:
 * `vlec grad --errors adjoint` on a compiled 2-3-2 GLE network against central finite
 * differences of the discrete loss L = sum_k dt C_k; checkpointed windows against stored
 * ones; learning through windows; the memory plan and its errors.
 */
#include "run_util.h"

TestSuite(adjoint, .init = ru_setup, .fini = ru_teardown);

#define FD_STEPS 400        /* 0.8 time units at dt = 0.002: several time constants */
#define FD_EPS 1e-6

/* L = sum_k dt C_k over FD_STEPS steps of the forward pass (errors do not matter: gamma = 0),
 * from the initial state of seed 3 with one parameter element moved by delta. */
static double fd_loss(const vle_model *m, const char *param, size_t i, double delta) {
  return ru_signal_sum(m, param, i, delta, "loss", FD_STEPS);
}

/* The FD gradient of every element of a parameter. */
static void fd_grad(const vle_model *m, const char *param, double *g, size_t n) {
  for (size_t i = 0; i < n; i++)
    g[i] = (fd_loss(m, param, i, FD_EPS) - fd_loss(m, param, i, -FD_EPS)) / (2 * FD_EPS);
}

Test(adjoint, grad_matches_finite_differences) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/fd_232.vle"));
  char steps[16];
  snprintf(steps, sizeof steps, "%d", FD_STEPS);
  cr_assert_eq(ru_vlec(&m, true, "--errors", "adjoint", "--steps", steps, "--seed", "3", "--out",
                       ru_at("g"), "-q", NULL), 0, "%s", ru_log);
  static const char *params[] = { "W1", "b1", "W2", "b2" };
  for (int p = 0; p < 4; p++) {
    char rel[64];
    snprintf(rel, sizeof rel, "g/grad/%s.npy", params[p]);
    npy_array a = ru_npy(rel);
    double fd[16], cosine, rel_diff;
    cr_assert(a.count <= 16);
    fd_grad(m.model, params[p], fd, a.count);
    ru_compare(ru_data(&a), fd, a.count, &cosine, &rel_diff);
    fprintf(stderr, "adjoint vs FD (%d steps, dt %g) %-2s: cosine %.6f, |adj - fd| / |fd| "
            "= %.4f\n", FD_STEPS, vle_model_settings(m.model)->dt, params[p], cosine, rel_diff);
    cr_expect(cosine > 0.999, "%s: cosine %.6f", params[p], cosine);
    cr_expect(rel_diff < 0.03, "%s: relative difference %.4f", params[p], rel_diff);
    npy_free(&a);
  }
  ld_close(&m);
}

/* ---- checkpoints, windows, data, errors ---------------------------------------------------- */

Test(adjoint, checkpointed_window_equals_stored) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/fd_232.vle"));
  double full[8], ckpt[8];
  vle_adjoint_plan pf, pc;
  ru_window_grads(m.model, "adjoint", 0, 1000, full, &pf);
  ru_window_grads(m.model, "adjoint", 20000, 1000, ckpt, &pc);  /* 80 B a step: 80 kB do not fit */
  cr_assert_eq(pf.checkpoints, 0);
  cr_assert_eq(pf.bytes, 1000 * pf.step_bytes);
  cr_assert_gt(pc.checkpoints, 1, "the small bound must force checkpoints");
  cr_assert_leq(pc.bytes, 20000);
  cr_assert_eq(pc.segment * pc.checkpoints >= 1000, true);
  /* the recomputation repeats the forward pass exactly: the same bits */
  for (int i = 0; i < 8; i++) cr_assert_eq(full[i], ckpt[i], "%d: %.17g vs %.17g", i, full[i], ckpt[i]);
  ld_close(&m);
}

Test(adjoint, data_streams_are_replayed_in_the_sweep) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/fd_232.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--no-learn", "--steps", "300", "--record", "x,y", "--out",
                       ru_at("rec"), "-q", NULL), 0, "%s", ru_log);
  char xin[300], yin[300];
  snprintf(xin, sizeof xin, "x=%s", ru_at("rec/x.npy"));
  snprintf(yin, sizeof yin, "y=%s", ru_at("rec/y.npy"));
  cr_assert_eq(ru_vlec(&m, true, "--errors", "adjoint", "--steps", "300", "--out", ru_at("a"),
                       "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, true, "--errors", "adjoint", "--steps", "300", "--input", xin,
                       "--target", yin, "--window", "300", "--adjoint-memory", "1", "--out",
                       ru_at("b"), "-q", NULL), 0, "%s", ru_log);
  npy_array a = ru_npy("a/grad/W1.npy"), b = ru_npy("b/grad/W1.npy");
  cr_assert_eq(ru_maxdiff(ru_data(&a), ru_data(&b), 6), 0.0, "fed data = the default streams");
  npy_free(&a);
  npy_free(&b);
  ld_close(&m);
}

/* vlec run --errors adjoint: one SGD step per window on sum_k G_k = grad * beta / dt. */
Test(adjoint, learning_steps_once_per_window) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/fd_232.vle"));
  cr_assert_eq(ru_vlec(&m, true, "--steps", "200", "--out", ru_at("g"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, false, "--steps", "200", "--out", ru_at("r"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, false, "--steps", "0", "--out", ru_at("p0"), "-q", NULL), 0, "%s", ru_log);
  npy_array g = ru_npy("g/grad/W2.npy"), w = ru_npy("r/params/W2.npy"), w0 = ru_npy("p0/params/W2.npy");
  for (int i = 0; i < 6; i++) {
    double want = ru_data(&w0)[i] - 0.01 * ru_data(&g)[i] / 0.002;
    cr_assert(fabs(ru_data(&w)[i] - want) < 1e-13, "W2[%d]: %.17g, expected %.17g", i,
              ru_data(&w)[i], want);
  }
  npy_free(&g); npy_free(&w); npy_free(&w0);
  /* two windows: two steps, the second from the updated weights: not the same as one */
  cr_assert_eq(ru_vlec(&m, false, "--steps", "200", "--window", "100", "--out", ru_at("r2"),
                       "-q", NULL), 0, "%s", ru_log);
  npy_array w1 = ru_npy("r/params/W2.npy"), w2 = ru_npy("r2/params/W2.npy");
  cr_assert_gt(ru_maxdiff(ru_data(&w1), ru_data(&w2), 6), 1e-9);
  npy_free(&w1); npy_free(&w2);
  ld_close(&m);
}

Test(adjoint, memory_bound_and_misuse_are_errors) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/fd_232.vle"));
  cr_assert_eq(ru_vlec(&m, true, "--steps", "2000000000", "--adjoint-memory", "1", "--out",
                       ru_at("big"), "-q", NULL), 1);
  cr_assert(strstr(ru_log, "a window of 2000000000 steps needs at least"), "%s", ru_log);
  cr_assert(strstr(ru_log, "--adjoint-memory MB"), "%s", ru_log);
  cr_assert_eq(access(ru_at("big"), F_OK), -1, "nothing written");
  cr_assert_eq(ru_vlec(&m, true, "--adjoint-memory", "0", NULL), 2);
  vle_sim *s = ru_sim(m.model, "prospective", false, 0);
  vle_error err;
  cr_assert_eq(vle_sim_adjoint_begin(s, 10, &err), -1);
  cr_assert(strstr(err.msg, "a window needs a backward scheme, errors=adjoint or bptt"), "%s", err.msg);
  vle_sim_free(s);
  s = ru_sim(m.model, "adjoint", true, 0);
  cr_assert_eq(vle_sim_adjoint_end(s, NULL, &err), -1);
  cr_assert(strstr(err.msg, "no adjoint window is open"), "%s", err.msg);
  cr_assert_eq(vle_sim_adjoint_begin(s, 2, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_step(s, 3, &err), -1);
  cr_assert(strstr(err.msg, "has 2 left, asked for 3"), "%s", err.msg);
  cr_assert_eq(vle_sim_step(s, 2, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_adjoint_end(s, NULL, &err), 0, "%s", err.msg);
  vle_sim_free(s);
  ld_close(&m);
}

/* Recorded adjoint errors are the sweep's: with b = grad of the biases, dt * sum_k e_k / beta
 * = -grad (batch 1, beta = 1), also when the run has several windows and checkpoints. */
Test(adjoint, recorded_errors_are_the_sweeps) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/fd_232.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--no-learn", "--steps", "300", "--window", "120",
                       "--adjoint-memory", "1", "--record", "o.error,h.error,loss", "--out",
                       ru_at("r"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, true, "--steps", "300", "--window", "120", "--out", ru_at("g"), "-q",
                       NULL), 0, "%s", ru_log);
  const char *pairs[2][2] = { { "r/o.error.npy", "g/grad/b2.npy" }, { "r/h.error.npy", "g/grad/b1.npy" } };
  for (int p = 0; p < 2; p++) {
    npy_array e = ru_npy(pairs[p][0]), g = ru_npy(pairs[p][1]);
    size_t n = g.count;
    cr_assert_eq(e.count, 300 * n);
    for (size_t i = 0; i < n; i++) {
      double sum = 0;
      for (int k = 0; k < 300; k++) sum += 0.002 * ru_data(&e)[k * n + i];
      cr_assert(fabs(sum + ru_data(&g)[i]) < 1e-12 * (1 + fabs(sum)), "%s[%zu]: %.17g vs %.17g",
                pairs[p][1], i, -sum, ru_data(&g)[i]);
    }
    cr_assert_neq(ru_data(&e)[0], 0.0, "the first row comes from the sweep too");
    npy_free(&e);
    npy_free(&g);
  }
  ld_close(&m);
}
