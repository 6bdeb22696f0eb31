/*
 * test_epochs.c - training on a dataset (`vlec run --dataset`, runtime/run_epoch.c):
 *
 *   - the per-epoch metrics equal those the test computes itself from the recordings
 *     (loss mean, accuracy by the argmax of the read-out summed over each sample);
 *   - the evaluation equals a separate frozen run from the epoch's checkpoint, and leaves
 *     the training untouched (parameters identical with and without it);
 *   - the plateau schedule's learning rates equal the test's own ReduceLROnPlateau over the
 *     logged evaluation losses, and a training resumed from a checkpoint ends bit for bit
 *     where the uninterrupted one does;
 *   - bad datasets and options are refused before anything is written.
 *
 * The model is a 3-class read-out of noisy one-hot inputs: small enough to run in
 * milliseconds, noisy enough that accuracy is neither 0 nor 1.
 */
#include "run_util.h"

TestSuite(epochs, .init = ru_setup, .fini = ru_teardown);

static const char tiny_vle[] =
  "model tiny\n"
  "const beta = 1\n"
  "input x[3]\n"
  "target y[3] onehot\n"
  "population o[3] { tau_m = 0.2; tau_r = 0.2; phi = linear }\n"
  "weight W[o, x] init normal(0, 0.5)\n"
  "bias b[o] init normal(0, 0.1)\n"
  "cost C = -dot(y, log_softmax(rate(o)))\n"
  "energy = 0.5 * |prosp(o, o.tau_m) - (W @ x + b)|^2 + beta * C\n"
  "learn W, b with sgd(LR)\n"
  "settings { dt = 0.05; gamma = 0; errors = prospective; batch = 2 }\n";

enum { SS = 10, NTRAIN = 8, NEVAL = 4, K = 3 };

/* The model with learning rate lr, compiled. */
static void tiny(ld_model *m, const char *lr) {
  char text[sizeof tiny_vle + 16], *at = strstr(tiny_vle, "LR");
  snprintf(text, sizeof text, "%.*s%s%s", (int)(at - tiny_vle), tiny_vle, lr, at + 2);
  ru_open(m, ru_write("tiny.vle", text));
}

/* Deterministic noise in [-1, 1). */
static double noise(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 0x1p52 - 1;
}

/* n samples of SS steps: label s % 3 (shifted by `shift`), input 0.5 onehot + noise. */
static void write_set(const char *x, const char *y, int n, int steps, int shift, uint64_t seed) {
  double *xv = calloc((size_t)(n * steps * K), sizeof *xv);
  int64_t *yv = calloc((size_t)n, sizeof *yv);
  for (int s = 0; s < n; s++) {
    yv[s] = (s + shift) % K;
    for (int k = 0; k < steps; k++)
      for (int c = 0; c < K; c++)
        xv[(s * steps + k) * K + c] = 0.5 * (c == yv[s]) + 0.6 * noise(&seed);
  }
  vle_error err;
  cr_assert_eq(npy_write(ru_at(x), NPY_F8, 3, (int64_t[]){ n, steps, K }, xv, &err), 0, "%s", err.msg);
  cr_assert_eq(npy_write(ru_at(y), NPY_I8, 1, (int64_t[]){ n }, yv, &err), 0, "%s", err.msg);
  free(xv);
  free(yv);
}

static void write_data(void) {
  write_set("xt.npy", "yt.npy", NTRAIN, SS, 0, 11);
  write_set("xe.npy", "ye.npy", NEVAL, SS, 1, 29);
}

static char arg_buf[8][300];
static const char *arg(int i, const char *name, const char *file) {
  snprintf(arg_buf[i], sizeof arg_buf[i], "%s=%s", name, ru_at(file));
  return arg_buf[i];
}

/* epochs.csv of a run: rows x 8 (epoch, step, train_loss, train_acc, eval_loss, eval_acc,
 * lr, wall_s). */
static int read_epochs(const char *dir, double rows[][8], int max) {
  char path[300];
  snprintf(path, sizeof path, "%s/epochs.csv", ru_at(dir));
  FILE *f = fopen(path, "r");
  cr_assert(f, "no %s", path);
  char line[1024];
  cr_assert(fgets(line, sizeof line, f));
  cr_assert_str_eq(line, "epoch,step,train_loss,train_acc,eval_loss,eval_acc,lr,wall_s\n");
  int n = 0;
  while (n < max && fgets(line, sizeof line, f)) {
    char *p = line;
    for (int c = 0; c < 8; c++) {
      rows[n][c] = strtod(p, &p);
      if (*p == ',') p++;
    }
    n++;
  }
  fclose(f);
  return n;
}

/* Accuracy of the argmax of rate summed over each sample's steps: rate [batch, steps, K],
 * lane b reading sample (mb * batch + b) in file order (--no-shuffle). */
static double accuracy(const npy_array *rate, const char *labels, int64_t k0) {
  npy_array y;
  vle_error err;
  cr_assert_eq(npy_read(ru_at(labels), &y, &err), 0, "%s", err.msg);
  int64_t batch = rate->shape[0], steps = rate->shape[1], nb = y.shape[0] / batch;
  int correct = 0, total = 0;
  for (int64_t b = 0; b < batch; b++)
    for (int64_t blk = 0; blk < steps / SS; blk++) {
      double sum[K] = { 0 };
      for (int k = 0; k < SS; k++)
        for (int c = 0; c < K; c++) sum[c] += ru_data(rate)[((b * steps) + blk * SS + k) * K + c];
      int best = 0;
      for (int c = 1; c < K; c++)
        if (sum[c] > sum[best]) best = c;
      int64_t sample = ((k0 / SS + blk) % nb) * batch + b;
      correct += best == (int)npy_get(&y, (size_t)sample);
      total++;
    }
  npy_free(&y);
  return (double)correct / total;
}

static double mean(const npy_array *a) {
  double s = 0;
  for (size_t i = 0; i < a->count; i++) s += ru_data(a)[i];
  return s / (double)a->count;
}

Test(epochs, train_metrics_equal_the_recordings) {
  ld_model m;
  tiny(&m, "0.05");
  write_data();
  cr_assert_eq(ru_vlec(&m, false, "--dataset", "--epochs", "1", "--no-shuffle", "--input",
                       arg(0, "x", "xt.npy"), "--target", arg(1, "y", "yt.npy"), "--record",
                       "o.rate,loss", "--out", ru_at("a"), "-q", NULL), 0, "%s", ru_log);
  double rows[4][8];
  cr_assert_eq(read_epochs("a", rows, 4), 1);
  npy_array rate = ru_npy("a/o.rate.npy"), loss = ru_npy("a/loss.npy");
  double acc = accuracy(&rate, "yt.npy", 0);
  cr_assert_eq(rows[0][0], 1);
  cr_assert_eq(rows[0][1], NTRAIN / 2 * SS);
  cr_assert_eq(rows[0][3], acc, "train accuracy %g, from the recording %g", rows[0][3], acc);
  cr_assert(acc > 0 && acc < 1, "accuracy %g: the data should make some mistakes", acc);
  cr_assert(fabs(rows[0][2] - mean(&loss)) <= 1e-12 * fabs(mean(&loss)), "loss %.17g vs %.17g",
            rows[0][2], mean(&loss));
  cr_assert(isnan(rows[0][4]) && isnan(rows[0][5]), "no evaluation set: no eval columns");
  npy_free(&rate);
  npy_free(&loss);
  ld_close(&m);
}

/* The evaluation after epoch 1 equals a frozen run of the evaluation set from the epoch's
 * checkpoint, and the training with an evaluation equals the training without. */
Test(epochs, evaluation_is_a_frozen_run_from_the_checkpoint) {
  ld_model m;
  tiny(&m, "0.05");
  write_data();
  cr_assert_eq(ru_vlec(&m, false, "--dataset", "--epochs", "1", "--no-shuffle", "--input",
                       arg(0, "x", "xt.npy"), "--target", arg(1, "y", "yt.npy"),
                       "--eval-input", arg(2, "x", "xe.npy"), "--eval-target",
                       arg(3, "y", "ye.npy"), "--out", ru_at("a"), "-q", NULL), 0, "%s", ru_log);
  /* the checkpoint is at step 40 = 4 samples: the frozen run's dataset index starts at
   * minibatch 4 mod 2 = 0, the evaluation's first */
  char steps[16];
  snprintf(steps, sizeof steps, "%d", NEVAL / 2 * SS);
  cr_assert_eq(ru_vlec(&m, false, "--dataset", "--steps", steps, "--no-shuffle", "--no-learn",
                       "--load-state", ru_at("a/checkpoint.state"), "--input",
                       arg(0, "x", "xe.npy"), "--target", arg(1, "y", "ye.npy"), "--record",
                       "o.rate,loss", "--out", ru_at("b"), "-q", NULL), 0, "%s", ru_log);
  double rows[4][8];
  cr_assert_eq(read_epochs("a", rows, 4), 1);
  npy_array rate = ru_npy("b/o.rate.npy"), loss = ru_npy("b/loss.npy");
  double acc = accuracy(&rate, "ye.npy", NTRAIN / 2 * SS);
  cr_assert_eq(rows[0][5], acc, "eval accuracy %g, frozen run %g", rows[0][5], acc);
  cr_assert(fabs(rows[0][4] - mean(&loss)) <= 1e-12 * fabs(mean(&loss)), "eval loss %.17g vs %.17g",
            rows[0][4], mean(&loss));
  npy_free(&rate);
  npy_free(&loss);

  /* two epochs with and without evaluation: the same parameters, bit for bit */
  const char *outs[2] = { "c", "d" };
  for (int i = 0; i < 2; i++)
    cr_assert_eq(i ? ru_vlec(&m, false, "--dataset", "--epochs", "2", "--input",
                             arg(0, "x", "xt.npy"), "--target", arg(1, "y", "yt.npy"),
                             "--out", ru_at(outs[i]), "-q", NULL)
                   : ru_vlec(&m, false, "--dataset", "--epochs", "2", "--input",
                             arg(0, "x", "xt.npy"), "--target", arg(1, "y", "yt.npy"),
                             "--eval-input", arg(2, "x", "xe.npy"), "--eval-target",
                             arg(3, "y", "ye.npy"), "--out", ru_at(outs[i]), "-q", NULL),
                 0, "%s", ru_log);
  npy_array w1 = ru_npy("c/params/W.npy"), w2 = ru_npy("d/params/W.npy");
  cr_assert_eq(memcmp(w1.data, w2.data, w1.count * sizeof(double)), 0);
  npy_free(&w1);
  npy_free(&w2);
  ld_close(&m);
}

/* The test's own ReduceLROnPlateau (PyTorch's rule: relative threshold 1e-4; more than
 * `patience` bad epochs reduce by `factor` and restart the count). */
static void plateau_lrs(double rows[][8], int n, double lr0, int patience, double factor,
                        double *lrs) {
  double best = INFINITY, lr = lr0;
  int bad = 0;
  for (int e = 0; e < n; e++) {
    lrs[e] = lr;
    if (rows[e][4] < best * (1 - 1e-4)) best = rows[e][4], bad = 0;
    else bad++;
    if (bad > patience) lr *= factor, bad = 0;
  }
}

Test(epochs, plateau_schedule_and_exact_resume) {
  ld_model m;
  tiny(&m, "3.0");        /* large enough that the evaluation loss stops improving */
  write_data();
  enum { E = 8 };
  cr_assert_eq(ru_vlec(&m, false, "--dataset", "--epochs", "8", "--input", arg(0, "x", "xt.npy"),
                       "--target", arg(1, "y", "yt.npy"), "--eval-input", arg(2, "x", "xe.npy"),
                       "--eval-target", arg(3, "y", "ye.npy"), "--lr-schedule", "plateau:1:0.5",
                       "--out", ru_at("a"), "-q", NULL), 0, "%s", ru_log);
  double rows[E][8], lrs[E];
  cr_assert_eq(read_epochs("a", rows, E), E);
  plateau_lrs(rows, E, 3.0, 1, 0.5, lrs);
  for (int e = 0; e < E; e++) cr_assert_eq(rows[e][6], lrs[e], "epoch %d: lr %g, expected %g", e + 1, rows[e][6], lrs[e]);
  cr_assert(lrs[E - 1] < 3.0, "the schedule never reduced the rate: the test shows nothing");

  /* the same training interrupted after 4 epochs, then resumed in place to 8 */
  cr_assert_eq(ru_vlec(&m, false, "--dataset", "--epochs", "4", "--input", arg(0, "x", "xt.npy"),
                       "--target", arg(1, "y", "yt.npy"), "--eval-input", arg(2, "x", "xe.npy"),
                       "--eval-target", arg(3, "y", "ye.npy"), "--lr-schedule", "plateau:1:0.5",
                       "--out", ru_at("b"), "-q", NULL), 0, "%s", ru_log);
  /* as if killed hard (SIGKILL, power): no run.json, only the checkpoint and the log */
  cr_assert_eq(unlink(ru_at("b/run.json")), 0);
  cr_assert_eq(ru_vlec(&m, false, "--dataset", "--epochs", "8", "--input", arg(0, "x", "xt.npy"),
                       "--target", arg(1, "y", "yt.npy"), "--eval-input", arg(2, "x", "xe.npy"),
                       "--eval-target", arg(3, "y", "ye.npy"), "--lr-schedule", "plateau:1:0.5",
                       "--load-state", ru_at("b/checkpoint.state"), "--out", ru_at("b"), "-q",
                       NULL), 0, "%s", ru_log);
  double rows_b[E][8];
  cr_assert_eq(read_epochs("b", rows_b, E), E);
  for (int e = 0; e < E; e++)
    for (int c = 0; c < 7; c++)     /* all but the wall time */
      cr_assert(rows_b[e][c] == rows[e][c] || (isnan(rows_b[e][c]) && isnan(rows[e][c])),
                "epoch %d column %d: %.17g resumed, %.17g straight", e + 1, c, rows_b[e][c], rows[e][c]);
  npy_array w1 = ru_npy("a/params/W.npy"), w2 = ru_npy("b/params/W.npy");
  cr_assert_eq(memcmp(w1.data, w2.data, w1.count * sizeof(double)), 0, "resumed parameters differ");
  npy_free(&w1);
  npy_free(&w2);

  /* a different schedule cannot take over the interrupted one's log */
  cr_assert_eq(ru_vlec(&m, false, "--dataset", "--epochs", "8", "--input", arg(0, "x", "xt.npy"),
                       "--target", arg(1, "y", "yt.npy"), "--eval-input", arg(2, "x", "xe.npy"),
                       "--eval-target", arg(3, "y", "ye.npy"), "--lr-schedule", "step:1:0.9",
                       "--load-state", ru_at("a/checkpoint.state"), "--out", ru_at("c"), "-q",
                       NULL), 1);
  cr_assert(strstr(ru_log, "different schedule"), "%s", ru_log);
  ld_close(&m);
}

/* Refused with the given message (and exit status), nothing written. */
static void refused(ld_model *m, int status, const char *msg, const char **args) {
  const char *a[20] = { 0 };
  for (int i = 0; args[i]; i++) a[i] = args[i];
  int rc = ru_vlec(m, false, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
                   a[11], a[12], a[13], a[14], "--out", ru_at("bad"), "-q", NULL);
  cr_assert_eq(rc, status, "exit %d: %s", rc, ru_log);
  cr_assert(strstr(ru_log, msg), "expected \"%s\" in: %s", msg, ru_log);
  cr_assert(access(ru_at("bad"), F_OK) != 0, "the run directory was made");
}

Test(epochs, bad_datasets_and_options) {
  ld_model m;
  tiny(&m, "0.05");
  write_data();
  write_set("xl.npy", "yl.npy", NEVAL, SS + 2, 0, 5);   /* another sample length */
  write_set("x3.npy", "y3.npy", 3, SS, 0, 5);           /* not a multiple of the batch */
  int64_t badlab[NEVAL] = { 0, 1, 3, 2 };
  vle_error err;
  cr_assert_eq(npy_write(ru_at("yb.npy"), NPY_I8, 1, (int64_t[]){ NEVAL }, badlab, &err), 0);
  const char *xt = arg(0, "x", "xt.npy"), *yt = arg(1, "y", "yt.npy");
  /* a first dimension other than the batch is not guessed to be samples */
  refused(&m, 1, "pass --dataset", (const char *[]){ "--input", xt, "--target", yt, "--steps", "5", NULL });
  refused(&m, 2, "needs --dataset", (const char *[]){ "--input", xt, "--eval-input", arg(2, "x", "xe.npy"), NULL });
  refused(&m, 1, "sample length", (const char *[]){ "--dataset", "--input", xt, "--target", yt,
          "--eval-input", arg(2, "x", "xl.npy"), "--eval-target", arg(3, "y", "yl.npy"), NULL });
  refused(&m, 1, "not a multiple of the batch", (const char *[]){ "--dataset", "--input", xt,
          "--target", yt, "--eval-input", arg(2, "x", "x3.npy"), "--eval-target", arg(3, "y", "y3.npy"), NULL });
  refused(&m, 1, "is missing", (const char *[]){ "--dataset", "--input", xt, "--target", yt,
          "--eval-input", arg(2, "x", "xe.npy"), NULL });
  refused(&m, 1, "not a class of target y", (const char *[]){ "--dataset", "--input", xt,
          "--target", yt, "--eval-input", arg(2, "x", "xe.npy"), "--eval-target", arg(3, "y", "yb.npy"), NULL });
  refused(&m, 1, "no signal", (const char *[]){ "--dataset", "--input", xt, "--target", yt,
          "--readout", "nothing.rate", NULL });
  refused(&m, 1, "3 classes", (const char *[]){ "--dataset", "--input", xt, "--target", yt,
          "--readout", "loss", NULL });
  const char *bad_schedules[] = { "plateau:0:0.5", "step:2:1.5", "step:2:0", "cosine:3",
                                  "plateau:2", "plateau:2:0.5:1", "step:-1:0.5", "step: 2:0.5" };
  for (size_t i = 0; i < sizeof bad_schedules / sizeof *bad_schedules; i++)
    refused(&m, 2, "--lr-schedule", (const char *[]){ "--dataset", "--input", xt, "--target", yt,
            "--lr-schedule", bad_schedules[i], NULL });
  ld_close(&m);
}
