/*
 * test_examples.c - every example model, and a model using every standard-library function,
 * passes `vlec check`; and every example runs, in a shortened form, through its own
 * commands (the README's vlec call, or run.sh), with a check of what it is meant to show:
 *
 *   gle_small   4000 steps: the loss falls (last 1000 steps against the first 500)
 *   le_teacher  run.sh, 20000 steps: the student's loss falls
 *   lagline     run.sh, batch 4, 500 + 30000 steps: prospective errors bring w and tau_m
 *               much closer to the teacher's than instantaneous errors do
 *   lagnet      run.sh, 2000 steps: the recordings, gradients and the comparison exist, and
 *               vlec's adjoint of h2 agrees with vle_data's independent one
 *   recurrent   run.sh, 20000 steps: prospective errors take the loss far below the untrained
 *               network's, and below the same network without recurrence and below
 *               instantaneous errors; the windowed adjoint's loss falls
 *   predictive_coding  run.sh, 10000 steps: the objective falls with and without the decay,
 *               and the decay keeps the decoder's norm well below the norm without it
 *   feedback_alignment  run.sh, 100000 steps: all three students learn, Kolen-Pollack's
 *               |W2 - B2'| shrinks by (1 - eta lambda)^100000, the plot exists
 *   eqprop      run.sh, 300 epochs: the EP gradients' errors against the reference shrink
 *               with beta (symmetric below one-sided), the loss falls, the plot exists
 *
 * The thresholds are loose (factors, not digits), so that they test the direction of the
 * result and not a particular floating-point trajectory. About 15 s on two cores.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <criterion/criterion.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"

static const char *const models[] = {
  "examples/gle_small/model.vle",  "examples/le_teacher/model.vle",
  "examples/lagline/teacher.vle",  "examples/lagline/student.vle",
  "examples/lagnet/model.vle",     "examples/recurrent/model.vle",
  "examples/predictive_coding/model.vle", "tests/data/stdlib_uses.vle",
  "examples/feedback_alignment/bp.vle", "examples/feedback_alignment/fa.vle",
  "examples/feedback_alignment/kp.vle", "examples/eqprop/model.vle",
};

Test(examples, every_model_checks) {
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' check '%s/%s'", VLEC_PATH, VLE_SOURCE_DIR, models[i]);
    cr_expect_eq(system(cmd), 0, "vlec check %s failed", models[i]);
  }
}

Test(examples, run_scripts_parse) {
  static const char *const scripts[] = {
    "examples/le_teacher/run.sh", "examples/lagline/run.sh", "examples/lagnet/run.sh",
    "examples/recurrent/run.sh", "examples/predictive_coding/run.sh",
    "examples/feedback_alignment/run.sh", "examples/eqprop/run.sh", "scripts/demo.sh",
  };
  for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh -n '%s/%s'", VLE_SOURCE_DIR, scripts[i]);
    cr_expect_eq(system(cmd), 0, "%s has a syntax error", scripts[i]);
  }
}

/* ---- shortened runs ------------------------------------------------------------------- */

/* A fresh output directory for one test (removed by done() when the test passed). */
static const char *scratch(const char *name) {
  static char dir[256];
  snprintf(dir, sizeof dir, "/tmp/vle_examples_%s_XXXXXX", name);
  cr_assert_not_null(mkdtemp(dir));
  return dir;
}

static void done(const char *dir) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

/* Runs a shell command (printf-style) from the source directory, with VLEC and VLE_DATA
 * set to this build's, output to DIR/log. */
static void sh(const char *dir, const char *fmt, ...) {
  char body[2048], cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "cd '%s' && VLEC='%s' VLE_DATA='%s' %s > '%s/log' 2>&1",
           VLE_SOURCE_DIR, VLEC_PATH, VLE_DATA_PATH, body, dir);
  cr_assert_eq(system(cmd), 0, "failed (see %s/log): %s", dir, body);
}

static npy_array load(const char *dir, const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  npy_array a;
  vle_error err;
  cr_assert_eq(npy_read(path, &a, &err), 0, "%s", err.msg);
  return a;
}

/* Mean of a[from, to). */
static double mean(const npy_array *a, size_t from, size_t to) {
  cr_assert(from < to && to <= a->count);
  double s = 0;
  for (size_t i = from; i < to; i++) s += npy_get(a, i);
  return s / (double)(to - from);
}

static double value(const char *dir, const char *rel, long at) {
  npy_array a = load(dir, rel);
  double v = npy_get(&a, at < 0 ? a.count - (size_t)-at : (size_t)at);
  npy_free(&a);
  return v;
}

Test(examples, gle_small_loss_falls) {
  const char *d = scratch("gle_small");
  sh(d, "'%s' run examples/gle_small/model.vle --steps 4000 --seed 1 --record loss,o.rate "
        "--out '%s/run' -q", VLEC_PATH, d);
  npy_array loss = load(d, "run/loss.npy");
  cr_assert_eq(loss.count, 4000);
  double first = mean(&loss, 0, 500), last = mean(&loss, 3000, 4000);
  cr_expect_lt(last, first / 5, "loss %g over the first 500 steps, %g over the last 1000", first, last);
  npy_free(&loss);
  done(d);
}

Test(examples, le_teacher_student_loss_falls) {
  const char *d = scratch("le_teacher");
  sh(d, "OUT='%s' STEPS=20000 sh examples/le_teacher/run.sh", d);
  npy_array loss = load(d, "student/loss.npy");
  cr_assert_eq(loss.count, 20000);
  double first = mean(&loss, 0, 500), last = mean(&loss, 15000, 20000);
  cr_expect_lt(last, first / 20, "loss %g over the first 500 steps, %g over the last 5000", first, last);
  char plot[300];
  snprintf(plot, sizeof plot, "%s/student/plot.svg", d);
  cr_expect_eq(access(plot, F_OK), 0, "no %s", plot);
  npy_free(&loss);
  done(d);
}

/* Sum of the relative errors of the lag line's w0, w1, n1.tau_m, n2.tau_m against the
 * teacher's (1, 2, 1, 2), at snapshot `at` of the recorded trajectories. */
static double lagline_error(const char *dir, const char *scheme, long at) {
  static const char *const names[] = { "w0", "w1", "n1.tau_m", "n2.tau_m" };
  static const double teacher[] = { 1, 2, 1, 2 };
  double sum = 0;
  for (int i = 0; i < 4; i++) {
    char rel[128];
    snprintf(rel, sizeof rel, "%s/%s.npy", scheme, names[i]);
    sum += fabs(value(dir, rel, at) - teacher[i]) / teacher[i];
  }
  return sum;
}

Test(examples, lagline_prospective_beats_instantaneous) {
  const char *d = scratch("lagline");
  sh(d, "OUT='%s' STEPS=30000 WARMUP=500 BATCH=4 sh examples/lagline/run.sh", d);
  double start = lagline_error(d, "prospective", 0);
  double prosp = lagline_error(d, "prospective", -1), inst = lagline_error(d, "instantaneous", -1);
  cr_expect_float_eq(lagline_error(d, "instantaneous", 0), start, 1e-15, "same start");
  cr_expect_lt(prosp, start / 4, "prospective: error %g, at the start %g", prosp, start);
  cr_expect_lt(prosp, inst / 4, "prospective: error %g, instantaneous %g", prosp, inst);
  /* the warm-up learns nothing: the first snapshot (step 100) is the initial value */
  cr_expect_eq(value(d, "prospective/w0.npy", 0), value(d, "prospective/w0.npy", 3));
  char plot[300];
  snprintf(plot, sizeof plot, "%s/lagline.svg", d);
  cr_expect_eq(access(plot, F_OK), 0, "no %s", plot);
  done(d);
}

Test(examples, lagnet_records_errors_and_gradients) {
  const char *d = scratch("lagnet");
  sh(d, "OUT='%s' STEPS=2000 sh examples/lagnet/run.sh", d);
  static const char *const files[] = {
    "run_prospective/h1.error.npy", "run_prospective/h2.error.npy", "run_prospective/o.error.npy",
    "run_instantaneous/h2.error.npy", "grad_prospective/grad/W1.npy", "grad_instantaneous/grad/W2.npy",
  };
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    npy_array a = load(d, files[i]);
    cr_expect(a.count > 0, "%s is empty", files[i]);
    if (strstr(files[i], "error")) cr_expect_eq(a.shape[1], 2000, "%s: steps", files[i]);
    npy_free(&a);
  }
  /* the reference: vlec's adjoint, and vle_data's independent adjoint of h2 from h2.g; the
   * two agree in shape (loose: the sync scheme delays the recorded g by a step) */
  npy_array a = load(d, "run_adjoint/h2.error.npy"), b = load(d, "run_adjoint_h2/h2.error.npy");
  cr_assert_eq(a.count, b.count, "adjoint h2.error: %zu values, vle_data's %zu", a.count, b.count);
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.count; i++) {
    double x = npy_get(&a, i), y = npy_get(&b, i);
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  cr_expect_gt(dot / sqrt(na * nb), 0.995, "cosine(vlec adjoint, vle_data adjoint) of h2.error");
  npy_free(&a);
  npy_free(&b);
  done(d);
}

/* Mean of the first tenth (last: the last tenth) of the recording REL. */
static double tenth(const char *dir, const char *rel, int last) {
  npy_array a = load(dir, rel);
  size_t n = a.count / 10;
  double m = last ? mean(&a, a.count - n, a.count) : mean(&a, 0, n);
  npy_free(&a);
  return m;
}

/* Measured (seeds 1-3, 20000 steps): last tenth's loss 0.0074-0.0098 with prospective
 * errors, 0.085-0.38 without learning, 0.029-0.030 without recurrence, 0.030-0.033 with
 * instantaneous errors; with windows of 50 steps the adjoint's and bptt's fall by 3.4-10x
 * from their first tenth (seeds 1, 2), and bptt ends within 2% of the adjoint. */
Test(examples, recurrent_prospective_recalls) {
  const char *d = scratch("recurrent");
  sh(d, "OUT='%s' STEPS=20000 sh examples/recurrent/run.sh", d);
  double untrained = tenth(d, "no_learning/loss.npy", 1);
  double pro = tenth(d, "prospective/loss.npy", 1), inst = tenth(d, "instantaneous/loss.npy", 1);
  double flat = tenth(d, "no_recurrence/loss.npy", 1);
  double adj0 = tenth(d, "adjoint/loss.npy", 0), adj1 = tenth(d, "adjoint/loss.npy", 1);
  cr_expect_lt(pro, untrained / 8, "prospective %g, untrained %g", pro, untrained);
  cr_expect_lt(pro, flat / 2, "prospective %g, without recurrence %g", pro, flat);
  cr_expect_lt(pro, inst / 2, "prospective %g, instantaneous %g", pro, inst);
  cr_expect_lt(adj1, adj0 / 2, "adjoint: first tenth %g, last %g", adj0, adj1);
  double bp0 = tenth(d, "bptt/loss.npy", 0), bp1 = tenth(d, "bptt/loss.npy", 1);
  cr_expect_lt(bp1, bp0 / 2, "bptt: first tenth %g, last %g", bp0, bp1);
  cr_expect_lt(bp1, flat / 1.5, "bptt %g, without recurrence %g", bp1, flat);
  char plot[300];
  snprintf(plot, sizeof plot, "%s/loss.svg", d);
  cr_expect_eq(access(plot, F_OK), 0, "no %s", plot);
  done(d);
}

/* The Frobenius norm of the last snapshot of a [snapshots, rows, cols] recording. */
static double last_norm(const char *dir, const char *rel) {
  npy_array a = load(dir, rel);
  cr_assert_eq(a.ndim, 3);
  size_t n = (size_t)(a.shape[1] * a.shape[2]);
  double s = 0;
  for (size_t i = a.count - n; i < a.count; i++) s += npy_get(&a, i) * npy_get(&a, i);
  npy_free(&a);
  return sqrt(s);
}

/* Measured (seeds 1-3, 10000 steps): the objective's last tenth 0.042-0.043 with the decay,
 * 0.010 without, 0.38-0.42 without learning; |Wd| 1.03 with the decay, 1.54-1.59 without. */
Test(examples, predictive_coding_decay_bounds_decoder) {
  const char *d = scratch("predictive_coding");
  sh(d, "OUT='%s' STEPS=10000 sh examples/predictive_coding/run.sh", d);
  double untrained = tenth(d, "no_learning/objective.npy", 1);
  double decay = tenth(d, "decay/objective.npy", 1), free_ = tenth(d, "no_decay/objective.npy", 1);
  cr_expect_lt(decay, untrained / 5, "with decay %g, untrained %g", decay, untrained);
  cr_expect_lt(free_, untrained / 20, "without decay %g, untrained %g", free_, untrained);
  double nd = last_norm(d, "decay/Wd.npy"), nf = last_norm(d, "no_decay/Wd.npy");
  cr_expect_lt(nd, 0.8 * nf, "|Wd| %g with the decay, %g without", nd, nf);
  /* the decay is part of the objective: with it, J is at least the prior 0.5 lam |Wd|^2 */
  cr_expect_gt(decay, 0.5 * 0.05 * nd * nd, "objective %g, prior %g", decay, 0.5 * 0.05 * nd * nd);
  done(d);
}

/* |W2 - B2'| of the 1 x 8 W2 and 8 x 1 B2 (the same elements in the same order). */
static double fa_gap(const char *dir, const char *w, const char *b, size_t at) {
  npy_array W = load(dir, w), B = load(dir, b);
  double s = 0;
  for (size_t i = 0; i < 8; i++) {
    double d = npy_get(&W, at * 8 + i) - npy_get(&B, at * 8 + i);
    s += d * d;
  }
  npy_free(&W);
  npy_free(&B);
  return sqrt(s);
}

Test(examples, feedback_alignment_learns_and_aligns) {
  const char *d = scratch("feedback_alignment");
  sh(d, "OUT='%s' STEPS=100000 sh examples/feedback_alignment/run.sh > '%s/out.txt'", d, d);
  static const char *const runs[] = { "bp", "fa", "kp" };
  for (int i = 0; i < 3; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "%s/loss.npy", runs[i]);
    npy_array loss = load(d, rel);
    cr_assert_eq(loss.count, 100000);
    double first = mean(&loss, 0, 10000), last = mean(&loss, 90000, 100000);
    cr_expect_lt(last, first / 3, "%s: loss %g over the first 10000 steps, %g over the last",
                 runs[i], first, last);
    npy_free(&loss);
  }
  /* SGD(0.02), lambda = 0.001: W2 - B2' shrinks by (1 - 2e-5) every step (theory.md §10a) */
  double start = fa_gap(d, "init_kp/params/W2.npy", "init_kp/params/B2.npy", 0);
  double end = fa_gap(d, "kp/params/W2.npy", "kp/params/B2.npy", 0);
  double want = pow(1 - 0.02 * 0.001, 100000);
  cr_expect(fabs(end / start - want) < 1e-6, "|W2 - B2'| went from %g to %g: ratio %.9g, "
            "want %.9g", start, end, end / start, want);
  char plot[300];
  snprintf(plot, sizeof plot, "%s/feedback_alignment.svg", d);
  cr_expect_eq(access(plot, F_OK), 0, "no %s", plot);
  done(d);
}

/* report.py's table: "  one_sided     0.5  3.587e-01      0.998697" */
static double eqprop_error(const char *out, const char *kind, const char *beta) {
  char key[64];
  snprintf(key, sizeof key, "  %-10s %6s  ", kind, beta);
  const char *at = strstr(out, key);
  cr_assert(at, "no line '%s' in %s", key, out);
  return strtod(at + strlen(key), NULL);
}

Test(examples, eqprop_gradient_and_training) {
  const char *d = scratch("eqprop");
  sh(d, "OUT='%s' EPOCHS=300 sh examples/eqprop/run.sh", d);   /* its output: DIR/log */
  char path[512];
  snprintf(path, sizeof path, "%s/log", d);
  FILE *f = fopen(path, "r");
  cr_assert(f);
  static char out[8192];
  out[fread(out, 1, sizeof out - 1, f)] = 0;
  fclose(f);
  const char *betas[] = { "0.5", "0.2", "0.05" };
  for (int k = 0; k < 3; k++) {
    double one = eqprop_error(out, "one_sided", betas[k]), sym = eqprop_error(out, "symmetric",
                                                                              betas[k]);
    cr_expect_lt(sym, one, "beta %s: symmetric %g, one-sided %g", betas[k], sym, one);
    if (k) {
      cr_expect_lt(one, 0.6 * eqprop_error(out, "one_sided", betas[k - 1]), "%s", out);
      cr_expect_lt(sym, 0.3 * eqprop_error(out, "symmetric", betas[k - 1]), "%s", out);
    }
  }
  cr_expect_lt(eqprop_error(out, "symmetric", "0.05"), 0.01, "%s", out);
  double first, last, acc;
  const char *t = strstr(out, "training: epoch 1 loss ");
  cr_assert(t, "%s", out);
  cr_assert_eq(sscanf(t, "training: epoch 1 loss %lf accuracy %*f -> epoch 300 loss %lf accuracy %lf",
                      &first, &last, &acc), 3, "%s", t);
  cr_expect_lt(last, first / 10, "loss %g -> %g", first, last);
  cr_expect_eq(acc, 1.0, "%s", t);
  snprintf(path, sizeof path, "%s/eqprop.svg", d);
  cr_expect_eq(access(path, R_OK), 0, "no plot");
  done(d);
}
