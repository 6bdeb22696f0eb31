/*
 * test_run_learn.c - learning runs of compiled models through `vlec run` (in process):
 * with tau_r = tau_m the prospective and instantaneous errors give the same run; an LE
 * student learns a teacher network's mapping; runs are reproducible from the seed; SGD done
 * by the grads_sgd kernel equals the runtime's optimizer.
 */
#include "run_util.h"

TestSuite(learn, .init = ru_setup, .fini = ru_teardown);

/* Largest difference between two .npy files of the same shape. */
static double npy_maxdiff(const char *a, const char *b) {
  npy_array x = ru_npy(a), y = ru_npy(b);
  cr_assert_eq(x.count, y.count, "%s and %s differ in size", a, b);
  double d = ru_maxdiff(ru_data(&x), ru_data(&y), x.count);
  npy_free(&x);
  npy_free(&y);
  return d;
}

static bool npy_identical(const char *a, const char *b) {
  npy_array x = ru_npy(a), y = ru_npy(b);
  bool same = x.count == y.count && !memcmp(x.data, y.data, x.count * sizeof(double));
  npy_free(&x);
  npy_free(&y);
  return same;
}

/* docs/theory.md §4b/§4c: with a = b (tau_r = tau_m) e = v + a (g - v) / b = g: both schemes give
 * the same errors, so the same run, learning included, up to rounding. */
Test(learn, prospective_equals_instantaneous_when_tau_r_is_tau_m) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/le_242.vle"));
  const char *schemes[2] = { "prospective", "instantaneous" };
  for (int i = 0; i < 2; i++)
    cr_assert_eq(ru_vlec(&m, false, "--errors", schemes[i], "--steps", "3000", "--seed", "5",
                         "--record", "o.rate,h.error", "--out", ru_at(schemes[i]), "-q", NULL),
                 0, "%s", ru_log);
  static const char *files[] = { "o.rate.npy", "h.error.npy", "params/W1.npy", "params/b1.npy",
                                 "params/W2.npy", "params/b2.npy" };
  for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
    char a[64], b[64];
    snprintf(a, sizeof a, "prospective/%s", files[f]);
    snprintf(b, sizeof b, "instantaneous/%s", files[f]);
    double d = npy_maxdiff(a, b);
    cr_expect(d < 1e-12, "%s: prospective and instantaneous differ by %g", files[f], d);
  }
  /* and learning did move the weights: the comparison is not trivial */
  cr_assert_eq(ru_vlec(&m, false, "--steps", "0", "--seed", "5", "--out", ru_at("init"), "-q", NULL), 0);
  cr_assert_gt(npy_maxdiff("init/params/W2.npy", "prospective/params/W2.npy"), 1e-3);
  ld_close(&m);
}

#define TEACH_STEPS 30000
#define TEACH_WINDOW 500     /* steps averaged at the start and at the end */

static double mean(const double *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += v[i];
  return s / n;
}

/* The teacher's output delayed one step (the student's output at step k is its rate of
 * step k - 1, docs/theory.md §6) as the student's target file. */
static void delayed_target(const char *rate, const char *target) {
  npy_array r = ru_npy(rate);
  double *y = calloc(r.count, sizeof *y);
  memcpy(y + 1, r.data, (r.count - 1) * sizeof *y);
  vle_error err;
  cr_assert_eq(npy_write(ru_at(target), NPY_F8, r.ndim, r.shape, y, &err), 0, "%s", err.msg);
  free(y);
  npy_free(&r);
}

Test(learn, le_student_learns_teacher) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/le_student.vle"));
  char steps[16], target[300];
  snprintf(steps, sizeof steps, "%d", TEACH_STEPS);
  cr_assert_eq(ru_vlec(&m, false, "--steps", steps, "--seed", "7", "--no-learn", "--set", "beta=0",
                       "--record", "o.rate", "--out", ru_at("teacher"), "-q", NULL), 0, "%s", ru_log);
  delayed_target("teacher/o.rate.npy", "target.npy");
  snprintf(target, sizeof target, "y=%s", ru_at("target.npy"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", steps, "--seed", "1", "--target", target, "--record",
                       "loss", "--out", ru_at("student"), "-q", NULL), 0, "%s", ru_log);
  npy_array loss = ru_npy("student/loss.npy");
  double first = mean(ru_data(&loss), TEACH_WINDOW);
  double last = mean(ru_data(&loss) + TEACH_STEPS - TEACH_WINDOW, TEACH_WINDOW);
  fprintf(stderr, "LE student (2-6-1, %d steps): mean loss over the first %d steps %.4g, over "
          "the last %d %.4g: %.0fx lower\n", TEACH_STEPS, TEACH_WINDOW, first, TEACH_WINDOW,
          last, first / last);
  cr_expect(first / last > 100, "loss fell only %.1fx (%.4g -> %.4g)", first / last, first, last);
  npy_free(&loss);
  ld_close(&m);
}

Test(learn, reproducible_from_the_seed) {
  ld_model m;
  ru_open(&m, ru_src("tests/data/le_242.vle"));
  const char *runs[3][2] = { { "a", "11" }, { "b", "11" }, { "c", "12" } };
  for (int i = 0; i < 3; i++)
    cr_assert_eq(ru_vlec(&m, false, "--steps", "500", "--seed", runs[i][1], "--record",
                         "o.rate,loss,W1", "--record-every", "100", "--out", ru_at(runs[i][0]),
                         "-q", NULL), 0, "%s", ru_log);
  static const char *files[] = { "o.rate.npy", "loss.npy", "W1.npy", "params/W1.npy", "params/b2.npy" };
  for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
    char a[64], b[64], c[64];
    snprintf(a, sizeof a, "a/%s", files[f]);
    snprintf(b, sizeof b, "b/%s", files[f]);
    snprintf(c, sizeof c, "c/%s", files[f]);
    cr_expect(npy_identical(a, b), "%s: the same seed must give the same bits", files[f]);
    cr_expect(!npy_identical(a, c), "%s: another seed must give another run", files[f]);
  }
  /* the initial parameters themselves differ with the seed (W1 snapshot 0 is after step 100,
   * so look at a run of no steps) */
  cr_assert_eq(ru_vlec(&m, false, "--steps", "0", "--seed", "11", "--out", ru_at("i11"), "-q", NULL), 0);
  cr_assert_eq(ru_vlec(&m, false, "--steps", "0", "--seed", "12", "--out", ru_at("i12"), "-q", NULL), 0);
  cr_assert_gt(npy_maxdiff("i11/params/W1.npy", "i12/params/W1.npy"), 1e-3);
  cr_assert_gt(npy_maxdiff("i11/params/b1.npy", "i12/params/b1.npy"), 1e-3);
  ld_close(&m);
}

/* le_242 with its biases in a learn group of their own, with `clamp` appended: none (plain
 * SGD: the grads_sgd kernel updates them) or one that never binds (the runtime's optimizer
 * updates them, as it must to apply a clamp). The weights are updated in the step either way. */
static const char *le_242_bias_group(const char *rel, const char *clamp) {
  FILE *f = fopen(ru_src("tests/data/le_242.vle"), "r");
  cr_assert(f);
  static char src[4096], out[sizeof src + 256];
  size_t n = fread(src, 1, sizeof src - 1, f);
  fclose(f);
  src[n] = 0;
  const char *learn = "learn W1, b1, W2, b2 with sgd(0.02)";
  char *at = strstr(src, learn);
  cr_assert(at, "le_242.vle changed: no '%s'", learn);
  *at = 0;
  snprintf(out, sizeof out, "%slearn W1, W2 with sgd(0.02)\nlearn b1, b2 with sgd(0.02)%s%s", src,
           clamp, at + strlen(learn));
  return ru_write(rel, out);
}

/* Compiled as `vlec run` compiles for a learning run: only the kernels it needs. */
static void open_learning(ld_model *m, const char *path, bool f32) {
  cr_assert_eq(ld_open_for(m, path, f32, NULL, 1, stderr), 0, "%s does not compile", path);
}

/* Largest difference of two .npy files of any real dtype; *scale: the largest |b|. */
static double npy_maxdiff_any(const char *a, const char *b, double *scale) {
  npy_array x, y;
  vle_error err;
  cr_assert_eq(npy_read(ru_at(a), &x, &err), 0, "%s", err.msg);
  cr_assert_eq(npy_read(ru_at(b), &y, &err), 0, "%s", err.msg);
  cr_assert_eq(x.count, y.count);
  double d = 0;
  *scale = 0;
  for (size_t i = 0; i < x.count; i++) {
    d = fmax(d, fabs(npy_get(&x, i) - npy_get(&y, i)));
    *scale = fmax(*scale, fabs(npy_get(&y, i)));
  }
  npy_free(&x);
  npy_free(&y);
  return d;
}

/* Biases learned with plain SGD are updated by grads_sgd (descriptor: fused_lr), p -= lr G
 * as the runtime's opt_sgd does it: the same trained parameters, also with --warmup (held
 * steps) first. In f32 the kernel computes in float (the runtime in double, rounded once):
 * the same up to rounding. */
Test(learn, sgd_in_grads_kernel_equals_runtime_optimizer) {
  char fused[256], rt[256];   /* ru_at's buffers rotate */
  snprintf(fused, sizeof fused, "%s", le_242_bias_group("fused.vle", ""));
  snprintf(rt, sizeof rt, "%s", le_242_bias_group("runtime.vle", " clamp >= -1000"));
  static const char *files[] = { "params/b1.npy", "params/b2.npy", "params/W1.npy",
                                 "params/W2.npy" };
  for (int f32 = 0; f32 < 2; f32++) {
    ld_model a, b;
    open_learning(&a, fused, f32);
    open_learning(&b, rt, f32);
    int pa = vle_model_find_param(a.model, "b1"), pb = vle_model_find_param(b.model, "b1");
    cr_assert_geq(vle_model_param(a.model, pa)->fused_lr, 0, "b1 is not updated by a kernel");
    cr_assert_lt(vle_model_param(b.model, pb)->fused_lr, 0, "a clamped b1 must be the runtime's");
    const char *prec = f32 ? "f32" : "f64";
    cr_assert_eq(ru_vlec(&a, false, "--steps", "3000", "--warmup", "100", "--seed", "3",
                         "--out", ru_at("fused"), "-q", NULL), 0, "%s", ru_log);
    cr_assert_eq(ru_vlec(&b, false, "--steps", "3000", "--warmup", "100", "--seed", "3",
                         "--out", ru_at("runtime"), "-q", NULL), 0, "%s", ru_log);
    cr_assert_eq(ru_vlec(&a, false, "--steps", "0", "--seed", "3", "--out", ru_at("init"), "-q",
                         NULL), 0, "%s", ru_log);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
      char x[64], y[64], z[64];
      snprintf(x, sizeof x, "fused/%s", files[i]);
      snprintf(y, sizeof y, "runtime/%s", files[i]);
      snprintf(z, sizeof z, "init/%s", files[i]);
      double scale, unused, d = npy_maxdiff_any(x, y, &scale), moved = npy_maxdiff_any(x, z, &unused);
      cr_expect_leq(d, f32 ? 1e-5 * scale : 1e-12, "%s %s: kernel and runtime SGD differ by %g",
                    prec, files[i], d);
      cr_expect_gt(moved, 1e-3, "%s %s: learning did not move it", prec, files[i]);
    }
    ld_close(&a);
    ld_close(&b);
  }
}
