/*
 * test_runtime_core.c - libvlert with the hand-written mock model (tests/mock): descriptor
 * validation, simulation creation, initialisers, the step protocol, optimizers, clamps,
 * pointer swaps, independence of sims, save/load, NaN detection, .so loading.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mock/mock.h"
#include "npy.h"
#include "opt.h"
#include "rng.h"
#include "seal.h"
#include "vle.h"

static vle_error err;

static vle_model *load_ok(bool f32) {
  vle_model *m = mock_load(f32, &err);
  cr_assert(m, "mock model failed to load: %s", err.msg);
  return m;
}

static vle_sim *sim_ok(const vle_model *m, const vle_sim_options *o) {
  vle_sim *s = vle_sim_new(m, o, &err);
  cr_assert(s, "vle_sim_new failed: %s", err.msg);
  return s;
}

static double get1(vle_sim *s, const char *name) {
  double v = NAN;
  cr_assert_eq(vle_sim_get(s, name, &v, 1, &err), 0, "%s", err.msg);
  return v;
}

/* Loading an edited descriptor must fail with a message containing `want`. */
static void expect_bad_meta(const char *from, const char *to, const char *want) {
  char *meta = mock_meta_edit(false, from, to);
  cr_assert(meta, "edit target '%s' not in the mock descriptor", from);
  memset(&err, 0, sizeof err);
  vle_model *m = mock_load_meta(meta, &err);
  free(meta);
  cr_assert_null(m, "descriptor with '%s' accepted", to);
  cr_assert(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
}

/* ---- descriptor ------------------------------------------------------------------------- */

Test(descriptor, introspection) {
  vle_model *m = load_ok(false);
  cr_assert_str_eq(vle_model_get_name(m), "mock");
  cr_assert_str_eq(vle_model_hash(m), "mockhash-f64");
  cr_assert_eq(vle_model_precision(m), VLE_F64);
  cr_assert_eq(vle_model_nbuffers(m), 31);
  cr_assert_eq(vle_model_npopulations(m), 1);
  cr_assert_eq(vle_model_population(m, 0)->tau_m, 11);
  cr_assert_eq(vle_model_ninputs(m), 2);
  cr_assert_eq(vle_model_ntargets(m), 2);
  cr_assert(vle_model_target(m, 1)->onehot);
  cr_assert_eq(vle_model_nconsts(m), 2);
  cr_assert_float_eq(vle_model_const(m, 0)->value[0], 0.5, 0);
  cr_assert_eq(vle_model_nparams(m), 9);
  cr_assert_eq(vle_model_param(m, 4)->dist, VLE_INIT_NORMAL);
  cr_assert_float_eq(vle_model_param(m, 4)->args[1], 2.0, 0);
  cr_assert_eq(vle_model_nlearn(m), 2);
  const vle_learn_info *l = vle_model_learn(m, 1);
  cr_assert_eq(l->opt, VLE_OPT_ADAM);
  cr_assert_eq(l->clamp, VLE_CLAMP_GE);
  cr_assert_eq(l->nparams, 1);
  cr_assert_eq(l->params[0], 3);
  cr_assert_eq(vle_model_find_buffer(m, "h.rate@next"), 6);
  cr_assert_eq(vle_model_buffer(m, 5)->role, VLE_ROLE_PUB);
  cr_assert_null(vle_model_buffer(m, 31));
  cr_assert_eq(vle_model_signal(m, "beta"), 30);
  cr_assert_eq(vle_model_signal(m, "loss"), 21);
  cr_assert_float_eq(vle_model_settings(m)->dt, 0.1, 0);
  cr_assert(vle_model_has_kernel(m, "grads"));
  vle_model_free(m);
}

Test(descriptor, bad_json) { expect_bad_meta("\"abi\": 1,", "\"abi\": 1,,", "invalid JSON"); }
Test(descriptor, index_out_of_range) {
  expect_bad_meta("\"buf\": 16,", "\"buf\": 99,", "inputs[0].buf: expected an integer in [0, 30]");
}
Test(descriptor, wrong_role) {
  expect_bad_meta("\"buf\": 16,", "\"buf\": 14,", "has role const, expected input");
}
Test(descriptor, nonpositive_size) {
  expect_bad_meta("\"rows\": 6, \"cols\": 4", "\"rows\": 0, \"cols\": 4", "buffers[23].rows");
}
Test(descriptor, bad_pair) {
  expect_bad_meta("\"pair\": 6}", "\"pair\": 7}", "buffers[5] ('h.rate') is paired with buffers[7]");
}
Test(descriptor, descriptor_abi) { expect_bad_meta("\"abi\": 1", "\"abi\": 2", "ABI 2"); }
Test(descriptor, bad_precision) {
  expect_bad_meta("\"precision\": \"f64\"", "\"precision\": \"f16\"", "precision");
}
Test(descriptor, unknown_learn_param) {
  expect_bad_meta("[\"W\", \"b\"]", "[\"W\", \"nope\"]", "learn[0].params[1]");
}
Test(descriptor, const_size) {
  expect_bad_meta("\"value\": [0.5]", "\"value\": [0.5, 1]", "consts[0].value");
}
Test(descriptor, missing_kernel_symbol) {
  expect_bad_meta("\"grads\"]", "\"grads\", \"extra\"]", "symbol vle_mock_extra is missing");
}

Test(descriptor, wrong_abi_symbol) {
  vle_model *m = vle_model_from_symbols(vle_mock_meta, 2, mock_resolve, NULL, &err);
  cr_assert_null(m);
  cr_assert(strstr(err.msg, "built for ABI 2, this runtime supports 1 (rebuild it with vlec build)"),
            "%s", err.msg);
}

/* Every prefix of the descriptor is invalid JSON or incomplete: always a clean error. */
Test(descriptor, truncations_never_crash) {
  size_t n = strlen(vle_mock_meta);
  char *buf = malloc(n + 1);
  for (size_t i = 0; i < n; i += 7) {
    memcpy(buf, vle_mock_meta, i);
    buf[i] = 0;
    vle_model *m = mock_load_meta(buf, &err);
    cr_assert_null(m, "prefix of %zu bytes accepted", i);
    cr_assert(err.msg[0]);
  }
  free(buf);
}

/* ---- creation and initialisation ---------------------------------------------------------- */

Test(sim, creation_and_init) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_sim *s = sim_ok(m, &o);
  cr_assert_eq(vle_sim_batch(s), 1);
  cr_assert_float_eq(get1(s, "dt"), 0.1, 0);
  cr_assert_float_eq(get1(s, "gamma"), 0.5, 0);
  cr_assert_float_eq(get1(s, "tau"), 0.5, 0);
  cr_assert_float_eq(get1(s, "h.tau_m"), 0.5, 0);   /* written by the init kernel */
  cr_assert_float_eq(get1(s, "h.tau_r"), 0.2, 0);
  cr_assert_float_eq(get1(s, "W"), 0.5, 0);
  double I[9], Z[4], U[24], C[4];
  vle_sim_get(s, "I", I, 9, &err);
  for (int i = 0; i < 9; i++) cr_assert_eq(I[i], i % 4 == 0 ? 1.0 : 0.0);
  vle_sim_get(s, "Z", Z, 4, &err);
  for (int i = 0; i < 4; i++) cr_assert(Z[i] >= -1 && Z[i] < 2);
  vle_sim_get(s, "U", U, 24, &err);
  for (int i = 0; i < 24; i++) cr_assert(fabs(U[i]) <= sqrt(6.0 / 10.0));
  vle_sim_get(s, "C", C, 4, &err);
  cr_assert_eq(C[3], 0.25);
  void *p = vle_sim_buffer(s, "V", NULL);
  cr_assert_eq((uintptr_t)p % 64, 0, "buffers are 64-byte aligned");
  vle_sim_free(s);
  vle_model_free(m);
}

Test(sim, seeded_init_reproducible) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.seed = 42;
  vle_sim *a = sim_ok(m, &o), *b = sim_ok(m, &o);
  o.seed = 43;
  vle_sim *c = sim_ok(m, &o);
  double va[24], vb[24], vc[24];
  vle_sim_get(a, "V", va, 24, &err);
  vle_sim_get(b, "V", vb, 24, &err);
  vle_sim_get(c, "V", vc, 24, &err);
  cr_assert_eq(memcmp(va, vb, sizeof va), 0);
  cr_assert_neq(memcmp(va, vc, sizeof va), 0);
  vle_sim_free(a); vle_sim_free(b); vle_sim_free(c);
  vle_model_free(m);
}

Test(rng, normal_statistics) {
  enum { N = 100000 };
  double *x = malloc(N * sizeof *x);
  rng_state g;
  rng_seed(&g, 7);
  rng_normal_fill(&g, x, N, 0.5, 2.0);
  double mean = 0, var = 0;
  for (int i = 0; i < N; i++) mean += x[i];
  mean /= N;
  for (int i = 0; i < N; i++) var += (x[i] - mean) * (x[i] - mean);
  double sd = sqrt(var / (N - 1));
  /* standard errors: 2/sqrt(N) = 0.0063 for the mean, ~0.0045 for the std */
  cr_assert(fabs(mean - 0.5) < 0.03, "mean %g", mean);
  cr_assert(fabs(sd - 2.0) < 0.03, "std %g", sd);
  free(x);
}

Test(rng, uniform_and_below) {
  rng_state g;
  rng_seed(&g, 1);
  double sum = 0;
  int hist[10] = { 0 };
  for (int i = 0; i < 100000; i++) {
    double u = rng_uniform(&g);
    cr_assert(u >= 0 && u < 1);
    sum += u;
    hist[rng_below(&g, 10)]++;
  }
  cr_assert(fabs(sum / 100000 - 0.5) < 0.01);
  for (int k = 0; k < 10; k++) cr_assert(abs(hist[k] - 10000) < 500, "bin %d: %d", k, hist[k]);
}

Test(rng, known_first_output) {
  /* xoshiro256** from state {1, 2, 3, 4}: first output 11520 (reference implementation) */
  rng_state g = { { 1, 2, 3, 4 } };
  cr_assert_eq(rng_next(&g), 11520);
  cr_assert_eq(rng_next(&g), 0);
  cr_assert_eq(rng_next(&g), 1509978240);
}

Test(sim, tau_below_dt_is_an_error) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  double tau = 0.05;
  vle_override set = { "tau", &tau, 1 };
  o.sets = &set;
  o.nsets = 1;
  cr_assert_null(vle_sim_new(m, &o, &err));
  cr_assert(strstr(err.msg, "population h: tau_m of neuron 0 is 0.05, smaller than dt = 0.1"),
            "%s", err.msg);
  tau = 0.7;
  vle_sim *s = sim_ok(m, &o);
  cr_assert_float_eq(get1(s, "h.tau_m"), 0.7, 0);
  vle_sim_free(s);
  vle_model_free(m);
}

Test(sim, bad_overrides) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  double v[2] = { 1, 2 };
  vle_override set = { "nope", v, 1 };
  o.sets = &set;
  o.nsets = 1;
  cr_assert_null(vle_sim_new(m, &o, &err));
  cr_assert(strstr(err.msg, "--set nope: the model has no const or setting"), "%s", err.msg);
  set = (vle_override){ "tau", v, 2 };
  cr_assert_null(vle_sim_new(m, &o, &err));
  cr_assert(strstr(err.msg, "the const has 1 values, got 2"), "%s", err.msg);
  set = (vle_override){ "dt", v, 1 };   /* dt = 1 > tau_m = 0.5 */
  cr_assert_null(vle_sim_new(m, &o, &err));
  v[0] = 0.01;
  vle_sim *s = sim_ok(m, &o);
  cr_assert_eq(get1(s, "dt"), 0.01);
  vle_sim_free(s);
  vle_model_free(m);
}

/* ---- the step ------------------------------------------------------------------------------ */

/* Step 0 with errors=instantaneous, computed by hand from mock_model.c. */
Test(step, first_step_by_hand) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.errors = "instantaneous";
  vle_sim *s = sim_ok(m, &o);
  void *pub0 = vle_sim_buffer(s, "h.rate", NULL), *next0 = vle_sim_buffer(s, "h.rate@next", NULL);
  cr_assert_eq(vle_sim_step(s, 1, &err), 0, "%s", err.msg);
  /* x = sin 0 = 0, y = 0.5, out = 0: g = e = 0.5, u' = (0 + 0.5 * 0.5) / 0.5 = 0.5 */
  cr_assert_float_eq(get1(s, "h'"), 0.5, 1e-15);
  cr_assert_float_eq(get1(s, "h"), 0.05, 1e-15);
  cr_assert_float_eq(get1(s, "loss"), 0.125, 1e-15);
  cr_assert_float_eq(get1(s, "h.rate"), 0.1, 1e-15);       /* swapped in: u + tau_r u' */
  cr_assert_eq(vle_sim_buffer(s, "h.rate", NULL), next0, "pub and pubnext pointers swap");
  cr_assert_eq(vle_sim_buffer(s, "h.rate@next", NULL), pub0);
  /* SGD: G_W = -e x = 0, G_b = -0.5: b = 0 + 0.1 * 0.5 */
  cr_assert_float_eq(get1(s, "W"), 0.5, 1e-15);
  cr_assert_float_eq(get1(s, "b"), 0.05, 1e-15);
  /* Adam, t = 1, G = 0.5: tau_r = 0.2 - 0.01 * 0.5 / (0.5 + 1e-8) */
  cr_assert_float_eq(get1(s, "h.tau_r"), 0.2 - 0.1 * (0.05 / (0.5 + 1e-8)), 1e-15);
  cr_assert_eq(vle_sim_steps_done(s), 1);
  cr_assert_float_eq(vle_sim_time(s), 0.1, 1e-15);
  cr_assert_eq(vle_sim_step(s, 1, &err), 0);
  cr_assert_float_eq(get1(s, "t"), 0.1, 1e-15);
  cr_assert_eq(vle_sim_buffer(s, "h.rate", NULL), pub0, "swapped back after two steps");
  vle_sim_free(s);
  vle_model_free(m);
}

Test(step, no_learn_freezes_params) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.learn = false;
  vle_sim *s = sim_ok(m, &o);
  vle_sim_step(s, 20, &err);
  cr_assert_eq(get1(s, "b"), 0.0);
  cr_assert_eq(get1(s, "h.tau_r"), 0.2);
  cr_assert_neq(get1(s, "h"), 0.0);
  vle_sim_free(s);
  vle_model_free(m);
}

Test(step, feed_overrides_stream) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 2;
  vle_sim *s = sim_ok(m, &o);
  double x[2] = { 2.0, -1.0 };
  cr_assert_eq(vle_sim_feed(s, "x", x, 2, &err), 0, "%s", err.msg);
  vle_sim_step(s, 1, &err);
  double got[2];
  vle_sim_get(s, "x", got, 2, &err);
  cr_assert_eq(got[0], 2.0);
  cr_assert_eq(got[1], -1.0);
  vle_sim_unfeed(s, "x", &err);
  vle_sim_step(s, 1, &err);
  vle_sim_get(s, "x", got, 2, &err);
  cr_assert_float_eq(got[1], sin(0.1), 1e-15);
  cr_assert_eq(vle_sim_feed(s, "W", x, 1, &err), -1);
  cr_assert(strstr(err.msg, "only inputs and targets"));
  cr_assert_eq(vle_sim_feed(s, "x2", x, 3, &err), -1);
  cr_assert(strstr(err.msg, "expected 2 values (or 4 = batch x 2), got 3"), "%s", err.msg);
  vle_sim_free(s);
  vle_model_free(m);
}

static void run_and_get(vle_sim *s, int n, double out[4]) {
  vle_sim_step(s, n, &err);
  out[0] = get1(s, "h");
  out[1] = get1(s, "W");
  out[2] = get1(s, "h.tau_r");
  out[3] = get1(s, "h.rate");
}

Test(step, independent_sims_identical) {
  vle_model *m = load_ok(false), *m2 = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_sim *alone = sim_ok(m, &o);
  double ref[4];
  run_and_get(alone, 50, ref);
  vle_sim *a = sim_ok(m, &o), *b = sim_ok(m2, &o), *c = sim_ok(m, &o);
  for (int k = 0; k < 50; k++) {         /* interleaved */
    vle_sim_step(a, 1, &err);
    vle_sim_step(c, 1, &err);
    vle_sim_step(b, 1, &err);
  }
  double ra[4], rb[4], rc[4];
  run_and_get(a, 0, ra);
  run_and_get(b, 0, rb);
  run_and_get(c, 0, rc);
  cr_assert_eq(memcmp(ref, ra, sizeof ref), 0);
  cr_assert_eq(memcmp(ref, rb, sizeof ref), 0);
  cr_assert_eq(memcmp(ref, rc, sizeof ref), 0);
  vle_sim_free(alone); vle_sim_free(a); vle_sim_free(b); vle_sim_free(c);
  vle_model_free(m);
  vle_model_free(m2);
}

Test(step, f32_matches_f64) {
  vle_model *m = load_ok(false), *m32 = load_ok(true);
  cr_assert_eq(vle_model_real_size(m32), 4);
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_sim *a = sim_ok(m, &o), *b = sim_ok(m32, &o);
  double ra[4], rb[4];
  run_and_get(a, 50, ra);
  run_and_get(b, 50, rb);
  for (int i = 0; i < 4; i++) cr_assert(fabs(ra[i] - rb[i]) < 1e-5, "%d: %g vs %g", i, ra[i], rb[i]);
  float *p = vle_sim_buffer(b, "W", NULL);
  cr_assert_float_eq(*p, (float)rb[1], 0);
  vle_sim_free(a); vle_sim_free(b);
  vle_model_free(m); vle_model_free(m32);
}

Test(step, adjoint_forward_only) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.errors = "adjoint";
  cr_assert_null(vle_sim_new(m, &o, &err));
  cr_assert(strstr(err.msg, "has no kernel back_adj"), "%s", err.msg);
  o.learn = false;
  vle_sim *s = sim_ok(m, &o);
  vle_sim_step(s, 3, &err);
  cr_assert_eq(get1(s, "h.error"), 0.0);
  vle_sim_free(s);
  vle_model_free(m);
}

Test(step, grad_accumulation) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.learn = false;
  o.accumulate_grads = true;
  vle_sim *s = sim_ok(m, &o);
  double sum = 0;
  for (int k = 0; k < 10; k++) {
    vle_sim_step(s, 1, &err);
    sum += 0.1 * get1(s, "grad.W");
  }
  double got;
  cr_assert_eq(vle_sim_grad_sum(s, "W", &got, 1, &err), 0, "%s", err.msg);
  cr_assert_float_eq(got, sum, 1e-15);
  cr_assert_eq(get1(s, "W"), 0.5);
  cr_assert_eq(vle_sim_grad_sum(s, "V", &got, 1, &err), -1);
  vle_sim_free(s);
  vle_model_free(m);
}

Test(step, init_from_file) {
  vle_model *m = load_ok(false);
  char path[] = "/tmp/vle_test_initXXXXXX";
  int fd = mkstemp(path);
  close(fd);
  double w = 0.7;
  int64_t shape[2] = { 1, 1 };
  cr_assert_eq(npy_write(path, NPY_F8, 2, shape, &w, &err), 0, "%s", err.msg);
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_init_file init = { "W", path };
  o.inits = &init;
  o.ninits = 1;
  vle_sim *s = sim_ok(m, &o);
  cr_assert_eq(get1(s, "W"), 0.7);
  vle_sim_free(s);
  init.name = "V";                       /* 6x4 from a 1x1 file */
  cr_assert_null(vle_sim_new(m, &o, &err));
  cr_assert(strstr(err.msg, "parameter V is 6x4, the file has shape (1, 1)"), "%s", err.msg);
  init.name = "h.tau_m";                 /* kernel-initialised: the file wins */
  vle_sim *s2 = sim_ok(m, &o);
  cr_assert_eq(get1(s2, "h.tau_m"), 0.7);
  vle_sim_free(s2);
  init.name = "nope";
  cr_assert_null(vle_sim_new(m, &o, &err));
  cr_assert(strstr(err.msg, "--init nope"), "%s", err.msg);
  unlink(path);
  vle_model_free(m);
}

/* ---- optimizers and clamps --------------------------------------------------------------- */

Test(opt, sgd) {
  double th[2] = { 1.0, -1.0 }, g[2] = { 0.5, -2.0 };
  opt_sgd(th, g, 2, 8, 0.1);
  cr_assert_eq(th[0], 1.0 - 0.1 * 0.5);
  cr_assert_eq(th[1], -1.0 + 0.1 * 2.0);
  float tf[1] = { 1.0f }, gf[1] = { 0.5f };
  opt_sgd(tf, gf, 1, 4, 0.1);
  cr_assert_float_eq(tf[0], 0.95f, 1e-7);
}

/* Values from PyTorch's Adam algorithm (lr 0.1, betas (0.9, 0.999), eps 1e-8), theta0 = 1. */
Test(opt, adam_pytorch_sequence) {
  const double grads[5] = { 1.0, -2.0, 0.5, 0.0, 3.0 };
  const double want[5] = { 0.900000001, 0.9366103534720749, 0.9502794196738216,
                           0.9614762869563946, 0.92383877428251 };
  vle_learn_info l = { .opt = VLE_OPT_ADAM, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };
  double th = 1.0, m = 0, v = 0;
  for (int t = 1; t <= 5; t++) {
    opt_adam(&th, &grads[t - 1], &m, &v, 1, 8, &l, t);
    cr_assert(fabs(th - want[t - 1]) < 1e-15, "step %d: %.17g vs %.17g", t, th, want[t - 1]);
  }
  float thf = 1.0f, gf;
  m = v = 0;
  for (int t = 1; t <= 5; t++) {
    gf = (float)grads[t - 1];
    opt_adam(&thf, &gf, &m, &v, 1, 4, &l, t);
  }
  cr_assert(fabs(thf - want[4]) < 1e-6);
}

Test(opt, clamps) {
  double x[4] = { 0.05, 0.1, 0.2, -1 };
  opt_clamp(x, 4, 8, VLE_CLAMP_GE, 0.1);
  cr_assert(x[0] == 0.1 && x[1] == 0.1 && x[2] == 0.2 && x[3] == 0.1);
  double y[3] = { 0.05, 0.1, 0.2 };
  opt_clamp(y, 3, 8, VLE_CLAMP_GT, 0.1);
  cr_assert(y[0] > 0.1 && y[1] > 0.1 && y[0] == nextafter(0.1, 1) && y[2] == 0.2);
  double z[3] = { 0.05, 0.1, 0.2 };
  opt_clamp(z, 3, 8, VLE_CLAMP_LE, 0.1);
  cr_assert(z[0] == 0.05 && z[1] == 0.1 && z[2] == 0.1);
  double w[3] = { 0.05, 0.1, 0.2 };
  opt_clamp(w, 3, 8, VLE_CLAMP_LT, 0.1);
  cr_assert(w[0] == 0.05 && w[1] < 0.1 && w[2] < 0.1);
  float f[2] = { 0.05f, 0.1f };
  opt_clamp(f, 2, 4, VLE_CLAMP_GT, 0.1);
  cr_assert(f[0] > 0.1f && f[1] > 0.1f && f[0] == nextafterf(0.1f, 1));
}

Test(opt, clamp_in_sim) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.errors = "instantaneous";
  vle_sim *s = sim_ok(m, &o);
  /* G_tau_r = mean(e) > 0 early on: Adam lowers tau_r by ~lr per step until the clamp */
  for (int k = 0; k < 30; k++) {
    vle_sim_step(s, 1, &err);
    cr_assert(get1(s, "h.tau_r") >= 0.15);
    if (k >= 5 && k <= 11) cr_assert_eq(get1(s, "h.tau_r"), 0.15, "held at the bound, step %d", k);
  }
  cr_assert(get1(s, "h.tau_r") > 0.2, "free again once G changes sign");
  vle_sim_free(s);
  vle_model_free(m);
}

/* ---- NaN detection ------------------------------------------------------------------------- */

Test(nan, detected_and_rolled_back) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 3;
  o.learn = false;   /* without learning the rollback goes to the step before the fault */
  vle_sim *s = sim_ok(m, &o);
  cr_assert_eq(vle_sim_step(s, 3, &err), 0);
  double before[3], after[3];
  vle_sim_get(s, "h", before, 3, &err);
  double x[3] = { 0, NAN, 0 };
  vle_sim_feed(s, "x", x, 3, &err);
  cr_assert_eq(vle_sim_step(s, 2, &err), -1);
  cr_assert(strstr(err.msg, "NaN in h (neuron 0, batch element 1) at step 3 (t = 0.3)"), "%s", err.msg);
  cr_assert(strstr(err.msg, "rolled back"), "%s", err.msg);
  cr_assert_eq(vle_sim_steps_done(s), 3);
  vle_sim_get(s, "h", after, 3, &err);
  cr_assert_eq(memcmp(before, after, sizeof before), 0);
  vle_sim_unfeed(s, "x", &err);
  cr_assert_eq(vle_sim_step(s, 2, &err), 0, "continues after the rollback");
  vle_sim_free(s);
  vle_model_free(m);
}

Test(nan, param_matrix_message) {
  vle_model *m = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_sim *s = sim_ok(m, &o);
  double v[24] = { 0 };
  v[6] = INFINITY;
  vle_sim_set(s, "V", v, 24, &err);
  /* learning: parameters are checked (and the rollback state kept) every 256 checks */
  cr_assert_eq(vle_sim_step(s, 255, &err), 0);
  cr_assert_eq(vle_sim_step(s, 1, &err), -1);
  cr_assert(strstr(err.msg, "Inf in V (row 1, col 2) at step 255"), "%s", err.msg);
  cr_assert_eq(vle_sim_steps_done(s), 0, "rolled back to the last kept state");
  vle_sim_free(s);
  vle_model_free(m);
}

/* The mock's prospective step, then a NaN written into element poison.i of buffer poison.buf
 * after the step numbered poison.step (counted here): a fault in exactly one place. */
typedef struct poison_at { int buf; size_t i; int64_t step, calls; bool f32; } poison_at;
static poison_at poison;

static void poison_after(void *const *bufs) {
  if (poison.calls++ != poison.step) return;
  if (poison.f32) ((float *)bufs[poison.buf])[poison.i] = NAN;
  else ((double *)bufs[poison.buf])[poison.i] = NAN;
}
static void poison_step(const void *ctx, void *const *bufs, int64_t batch) {
  vle_mock_step_prosp(ctx, bufs, batch);
  poison_after(bufs);
}
static void poison_step32(const void *ctx, void *const *bufs, int64_t batch) {
  vle_mock32_step_prosp(ctx, bufs, batch);
  poison_after(bufs);
}
static void *poison_resolve(void *user, const char *sym) {
  if (!strcmp(sym, "vle_mock_step_prosp")) return (void *)poison_step;
  if (!strcmp(sym, "vle_mock32_step_prosp")) return (void *)poison_step32;
  return mock_resolve(user, sym);
}

/* A sim of batch 3 whose step k writes a NaN into element i of buffer b; without learning
 * unless `learn` (then also the parameters are checked, every 256 checks). */
static vle_sim *poisoned_sim_l(const vle_model *m, bool f32, int b, size_t i, int64_t k, bool learn) {
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 3;
  o.learn = learn;
  vle_sim *s = sim_ok(m, &o);
  poison = (poison_at){ .buf = b, .i = i, .step = k, .f32 = f32 };
  return s;
}

/* Without learning: rolled back to the step before a fault. */
static vle_sim *poisoned_sim(const vle_model *m, bool f32, int b, size_t i, int64_t k) {
  return poisoned_sim_l(m, f32, b, i, k, false);
}

/* The check scans the checked buffers as one byte range and searches them one by one only
 * on a hit: a NaN in any element of any of them (states, pubs, signals), wherever the layout
 * put it, in f64 and in f32 (two reals per word of the scan), after an even and an odd step
 * (the pubs in one slot of their pair or the other), is reported by name, element and step,
 * and rolled back. A pub's NaN is written into its pubnext slot, which the swap after the
 * step makes the pub. */
Test(nan, every_checked_element) {
  for (int f32 = 0; f32 < 2; f32++) {
    vle_model *m = vle_model_from_symbols(f32 ? vle_mock32_meta : vle_mock_meta, 1,
                                          poison_resolve, NULL, &err);
    cr_assert(m, "%s", err.msg);
    int tested = 0;
    for (int b = 0; b < vle_model_nbuffers(m); b++) {
      const vle_buffer_info *bi = vle_model_buffer(m, b);
      if (bi->role != VLE_ROLE_STATE && bi->role != VLE_ROLE_PUB && bi->role != VLE_ROLE_SIGNAL)
        continue;
      size_t per = (size_t)(bi->rows * bi->cols);
      for (size_t i = 0; i < 3 * per; i++)
        for (int k = 2; k <= 3; k++) {
          vle_sim *s = poisoned_sim(m, f32, bi->role == VLE_ROLE_PUB ? bi->pair : b, i, k);
          cr_assert_eq(vle_sim_step(s, 5, &err), -1, "NaN in %s[%zu] at step %d (f32 %d) not "
                       "reported", bi->name, i, k, f32);
          char want[160];
          snprintf(want, sizeof want, "NaN in %s (neuron %zu, batch element %zu) at step %d "
                   "(t = %g)", bi->name, i % per, i / per, k, k * 0.1);
          cr_assert(strstr(err.msg, want), "%s (wanted: %s)", err.msg, want);
          cr_assert_eq(vle_sim_steps_done(s), k);
          vle_sim_free(s);
          tested++;
        }
    }
    cr_assert_eq(tested, 2 * 3 * 9, "every state, pub and signal of the mock, batch 3");
    vle_model_free(m);
  }
}

/* The pubnext slots are not checked: a NaN left in the slot a step read (after the swap, the
 * pubnext the next step overwrites) is no error, and the run is the same as without it; also
 * at a check of the parameters when learning (step 255: the 256th check), whose scan spans
 * those slots. */
Test(nan, stale_pubnext_slot_is_no_error) {
  vle_model *m = vle_model_from_symbols(vle_mock_meta, 1, poison_resolve, NULL, &err);
  cr_assert(m, "%s", err.msg);
  int pub = vle_model_find_buffer(m, "h.rate");
  for (int learn = 0; learn < 2; learn++) {
    vle_sim *clean = poisoned_sim_l(m, false, pub, 0, -1, learn);
    cr_assert_eq(vle_sim_step(clean, 300, &err), 0, "%s", err.msg);
    vle_sim *s = poisoned_sim_l(m, false, pub, 1, learn ? 255 : 2, learn);
    cr_assert_eq(vle_sim_step(s, 300, &err), 0, "%s", err.msg);
    double a[3], b[3];
    vle_sim_get(clean, "h", a, 3, &err);
    vle_sim_get(s, "h", b, 3, &err);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    vle_sim_free(clean);
    vle_sim_free(s);
  }
  vle_model_free(m);
}

/* ---- save and load -------------------------------------------------------------------------- */

static char state_path[64];

static void all_buffers(vle_sim *s, double *out, size_t *n) {
  const vle_model *m = vle_sim_model(s);
  *n = 0;
  for (int i = 0; i < vle_model_nbuffers(m); i++) {
    const char *name = vle_model_buffer(m, i)->name;
    size_t c = vle_sim_count(s, name);
    vle_sim_get(s, name, out + *n, c, &err);
    *n += c;
  }
}

static vle_sim *saved_sim(vle_model *m) {
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 2;
  o.seed = 9;
  vle_sim *s = sim_ok(m, &o);
  vle_sim_step(s, 7, &err);
  snprintf(state_path, sizeof state_path, "/tmp/vle_state_%d.bin", (int)getpid());
  cr_assert_eq(vle_sim_save(s, state_path, &err), 0, "%s", err.msg);
  return s;
}

Test(state, round_trip_bit_exact) {
  vle_model *m = load_ok(false);
  vle_sim *a = saved_sim(m);
  vle_sim_step(a, 5, &err);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 2;
  vle_sim *b = sim_ok(m, &o);                 /* other seed: everything comes from the file */
  cr_assert_eq(vle_sim_load(b, state_path, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_steps_done(b), 7);
  vle_sim_step(b, 5, &err);
  static double va[4096], vb[4096];
  size_t na, nb;
  all_buffers(a, va, &na);
  all_buffers(b, vb, &nb);
  cr_assert_eq(na, nb);
  cr_assert_eq(memcmp(va, vb, na * sizeof *va), 0, "bit-exact after load + 5 steps");
  unlink(state_path);
  vle_sim_free(a); vle_sim_free(b);
  vle_model_free(m);
}

/* Rewrites the state file through fn, then expects load to fail with `want`. */
static void expect_bad_state(void (*fn)(unsigned char *, long *), const char *want) {
  vle_model *m = load_ok(false);
  vle_sim *a = saved_sim(m);
  FILE *fp = fopen(state_path, "rb");
  static unsigned char buf[1 << 16];
  long n = (long)fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  fn(buf, &n);
  fp = fopen(state_path, "wb");
  fwrite(buf, 1, (size_t)n, fp);
  fclose(fp);
  double h0[2], h1[2];
  vle_sim_get(a, "h", h0, 2, &err);
  cr_assert_eq(vle_sim_load(a, state_path, &err), -1);
  cr_assert(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
  vle_sim_get(a, "h", h1, 2, &err);
  cr_assert_eq(memcmp(h0, h1, sizeof h0), 0, "a failed load leaves the sim unchanged");
  cr_assert_eq(vle_sim_steps_done(a), 7);
  unlink(state_path);
  vle_sim_free(a);
  vle_model_free(m);
}

static void flip_byte(unsigned char *b, long *n) { b[*n / 2] ^= 0x10; }
static void truncate_it(unsigned char *b, long *n) { (void)b; *n -= 100; }
static void bump_version(unsigned char *b, long *n) { (void)n; b[8] = 2; }
static void bad_magic(unsigned char *b, long *n) { (void)n; b[0] = 'X'; }
static void tiny(unsigned char *b, long *n) { (void)b; *n = 10; }

Test(state, corrupted) { expect_bad_state(flip_byte, "checksum mismatch"); }
Test(state, truncated) { expect_bad_state(truncate_it, "checksum mismatch"); }
Test(state, wrong_version) { expect_bad_state(bump_version, "state file version 2 at byte 8, this runtime reads version 1"); }
Test(state, bad_magic) { expect_bad_state(bad_magic, "not a vle state file"); }
Test(state, too_short) { expect_bad_state(tiny, "truncated state file"); }

Test(state, other_model_or_batch) {
  vle_model *m = load_ok(false), *m32 = load_ok(true);
  vle_sim *a = saved_sim(m);
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_sim *b = sim_ok(m32, &o);
  cr_assert_eq(vle_sim_load(b, state_path, &err), -1);
  cr_assert(strstr(err.msg, "saved from another model"), "%s", err.msg);
  vle_sim *c = sim_ok(m, &o);                 /* batch 1 vs 2 */
  cr_assert_eq(vle_sim_load(c, state_path, &err), -1);
  cr_assert(strstr(err.msg, "saved with batch 2, this simulation has batch 1"), "%s", err.msg);
  unlink(state_path);
  vle_sim_free(a); vle_sim_free(b); vle_sim_free(c);
  vle_model_free(m); vle_model_free(m32);
}

/* ---- loading a .so ------------------------------------------------------------------------ */

static char so_dir[64];

/* Compiles the mock into a shared object with the system's C compiler (skips without one). */
static const char *build_mock_so(const char *name, const char *defines) {
  static char path[128];
  if (!so_dir[0]) {
    snprintf(so_dir, sizeof so_dir, "/tmp/vle_so_XXXXXX");
    cr_assert(mkdtemp(so_dir));
  }
  snprintf(path, sizeof path, "%s/%s", so_dir, name);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cc -shared -fPIC -O1 -DMOCK_SO %s -o %s %s/tests/mock/mock_model.c -lm",
           defines, path, VLE_SOURCE_DIR);
  if (system(cmd) != 0) cr_skip_test("no C compiler to build the mock .so");
  vle_error e;
  cr_assert_eq(seal_append(path, &e), 0, "%s", e.msg);   /* as vlec build does */
  return path;
}

Test(so, load_and_run_matches_symbols) {
  const char *path = build_mock_so("mock.so", "");
  vle_model *m = vle_model_load_so(path, &err);
  cr_assert(m, "%s", err.msg);
  cr_assert_str_eq(vle_model_get_name(m), "mock");
  vle_model *ref = load_ok(false);
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_sim *a = sim_ok(m, &o), *b = sim_ok(ref, &o);
  double ra[4], rb[4];
  run_and_get(a, 40, ra);
  run_and_get(b, 40, rb);
  for (int i = 0; i < 4; i++) cr_assert(fabs(ra[i] - rb[i]) < 1e-12);
  vle_sim_free(a); vle_sim_free(b);
  vle_model_free(m); vle_model_free(ref);
}

Test(so, wrong_abi) {
  const char *path = build_mock_so("mock_abi2.so", "-DMOCK_ABI=2");
  cr_assert_null(vle_model_load_so(path, &err));
  cr_assert(strstr(err.msg, "mock_abi2.so was built for ABI 2, this runtime supports 1 "
                            "(rebuild it with vlec build)"), "%s", err.msg);
}

Test(so, truncated_and_garbage) {
  const char *path = build_mock_so("mock.so", "");
  FILE *fp = fopen(path, "rb");
  static unsigned char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  char cut[160];
  snprintf(cut, sizeof cut, "%s/cut.so", so_dir);
  size_t lens[] = { 0, 10, 64, 200, n / 3, n / 2, n - 1 };
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    fp = fopen(cut, "wb");
    fwrite(buf, 1, lens[i], fp);
    fclose(fp);
    cr_assert_null(vle_model_load_so(cut, &err), "%zu bytes loaded", lens[i]);
    cr_assert(err.msg[0]);
  }
  fp = fopen(cut, "wb");
  fputs("this is not an ELF file", fp);
  fclose(fp);
  cr_assert_null(vle_model_load_so(cut, &err));
  cr_assert(strstr(err.msg, "not a shared object"), "%s", err.msg);
  cr_assert_null(vle_model_load_so("/nonexistent/x.so", &err));
  cr_assert(strstr(err.msg, "cannot open"), "%s", err.msg);
}
