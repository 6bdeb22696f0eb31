/*
 * test_mpi.c - `mpirun -np R vlec run|sweep` (docs/cli.md "MPI"), the real thing: OpenMPI
 * ranks on this machine (--oversubscribe, shared memory only), against the same command
 * run as one process:
 *   - R = 1, 2, 4 ranks: the learned parameters after 1000 steps within 1e-12 (relative) of
 *     one process at the same batch; the recordings of the whole batch gathered on rank 0;
 *     the batch-mean loss; the same R twice gives the same bits; run.json says how it ran;
 *   - a dataset training with an evaluation set: the same epochs.csv figures; equilibrium
 *     propagation;
 *   - a sweep spread over 2 ranks: every run done, one summary;
 *   - a NaN on one rank stops all ranks with that rank's message; vlec grad is refused.
 * The ranks themselves are tested without MPI in test_replicas.c.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"
#include "test_util.h"

static char dir[64];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/vle_mpi_XXXXXX");
  cr_assert(mkdtemp(dir));
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) {}
}

TestSuite(mpi, .init = setup, .fini = teardown, .timeout = 240);

#ifdef VLE_MPIEXEC
static char out[16384];

static const char *at(const char *rel) {
  static char bufs[8][256];
  static int i;
  char *p = bufs[i++ % 8];
  snprintf(p, 256, "%s/%s", dir, rel);
  return p;
}

/* `mpirun -np R vlec ARGS` (R 0: plain vlec), in dir; output into out. Returns the status.
 * Shared memory only, and without the kernel's cross-process copy (CMA), which containers
 * without ptrace rights refuse (OpenMPI then fails every large message). */
static int mpi(int R, const char *fmt, ...) {
  char args[4096], cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  /* Under ASan, LeakSanitizer would report OpenMPI's own allocations, kept past
   * MPI_Finalize by components it has already unloaded (no frame to suppress them by):
   * leak checking is off for the ranks; every other check of ASan/UBSan stays on. */
#ifdef VLE_SANITIZED
  const char *env = "LSAN_OPTIONS=detect_leaks=0 ";
#else
  const char *env = "";
#endif
  if (R > 0)
    snprintf(cmd, sizeof cmd, "cd '%s' && %sOMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
             "'%s' -np %d --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none '%s' %s 2>&1", dir, env, VLE_MPIEXEC,
             R, VLEC_PATH, args);
  else
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s 2>&1", dir, VLEC_PATH, args);
  return tu_sh(cmd, out, sizeof out);
}

/* Whether mpirun can start 2 processes here at all (a machine without a working launcher:
 * the tests of vlec under MPI are skipped, saying why; a failure of vlec itself fails). */
static void need_launcher(void) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 '%s' -np 2 "
           "--oversubscribe true 2>&1", VLE_MPIEXEC);
  if (tu_sh(cmd, out, sizeof out) != 0)
    cr_skip_test("mpirun cannot start 2 processes on this machine: %.500s", out);
}

static npy_array load(const char *rel) {
  npy_array a;
  vle_error err;
  cr_assert_eq(npy_read(at(rel), &a, &err), 0, "%s", err.msg);
  cr_assert_eq(a.dtype, NPY_F8, "%s is not float64", rel);
  return a;
}

/* max |a - b| / max |b| of two .npy files of the same shape. */
static double rel_diff(const char *a_rel, const char *b_rel) {
  npy_array a = load(a_rel), b = load(b_rel);
  cr_assert_eq(a.count, b.count, "%s and %s differ in size", a_rel, b_rel);
  const double *x = (const double *)a.data, *y = (const double *)b.data;
  double d = 0, m = 0;
  for (size_t i = 0; i < a.count; i++) d = fmax(d, fabs(x[i] - y[i])), m = fmax(m, fabs(y[i]));
  npy_free(&a);
  npy_free(&b);
  return d / m;
}

static bool same_file(const char *a_rel, const char *b_rel) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", at(a_rel), at(b_rel));
  return system(cmd) == 0;
}

/* examples/gle_small (SGD), and per-lane inputs and targets [batch, steps, 2]: every lane
 * its own phase, so lanes fed from another rank's slice would show. */
static void write_data(int batch, int steps) {
  int64_t shape[3] = { batch, steps, 2 };
  double *x = malloc((size_t)batch * (size_t)steps * 2 * sizeof *x), *y = malloc((size_t)batch * (size_t)steps * 2 * sizeof *y);
  for (int b = 0; b < batch; b++)
    for (int k = 0; k < steps; k++) {
      double t = 0.05 * k, ph = 0.9 * b;
      double *xv = x + ((size_t)b * (size_t)steps + (size_t)k) * 2, *yv = y + ((size_t)b * (size_t)steps + (size_t)k) * 2;
      xv[0] = sin(1.3 * t + ph), xv[1] = cos(0.7 * t + 1.7 * ph) + 0.2;
      yv[0] = 0.5 * sin(1.3 * t + ph - 0.5), yv[1] = -0.3 + 0.2 * cos(0.4 * t + ph);
    }
  vle_error err;
  cr_assert_eq(npy_write(at("x.npy"), NPY_F8, 3, shape, x, &err), 0, "%s", err.msg);
  cr_assert_eq(npy_write(at("y.npy"), NPY_F8, 3, shape, y, &err), 0, "%s", err.msg);
  free(x);
  free(y);
}

static json_t *run_json(const char *rel) {
  json_t *j = json_load_file(at(rel), 0, NULL);
  cr_assert(j, "%s is not JSON", rel);
  return j;
}

#define MODEL VLE_SOURCE_DIR "/examples/gle_small/model.vle"
#define RUN_ARGS "run " MODEL " --batch 5 --input x=x.npy --target y=y.npy --record W1,W2,W3,b3,o.rate,loss -q"

Test(mpi, ranks_agree_with_one_process) {
  need_launcher();
  write_data(5, 1000);
  cr_assert_eq(mpi(0, RUN_ARGS " --out one"), 0, "%s", out);
  const char *files[] = { "W1.npy", "W2.npy", "W3.npy", "b3.npy" };
  for (int R = 1; R <= 4; R *= 2) {
    char name[32];
    snprintf(name, sizeof name, "r%d", R);
    cr_assert_eq(mpi(R, RUN_ARGS " --out %s", name), 0, "%d ranks: %s", R, out);
    for (int f = 0; f < 4; f++) {
      char a[64], b[64];
      snprintf(a, sizeof a, "%s/%s", name, files[f]);
      snprintf(b, sizeof b, "one/%s", files[f]);
      double d = rel_diff(a, b);
      cr_expect_leq(d, 1e-12, "%d ranks: %s ends %.3g (relative) from one process", R, files[f], d);
    }
    char a[64];
    snprintf(a, sizeof a, "%s/o.rate.npy", name);      /* [5, 1000, 2]: every lane, gathered */
    npy_array rate = load(a);
    cr_expect(rate.ndim == 3 && rate.shape[0] == 5 && rate.shape[1] == 1000, "o.rate of %d ranks: "
              "not [5, 1000, 2]", R);
    npy_free(&rate);
    cr_expect_leq(rel_diff(a, "one/o.rate.npy"), 1e-12, "%d ranks: o.rate differs", R);
    snprintf(a, sizeof a, "%s/loss.npy", name);
    cr_expect_leq(rel_diff(a, "one/loss.npy"), 1e-12, "%d ranks: the batch-mean loss differs", R);
  }
  json_t *j = run_json("r4/run.json"), *m = json_object_get(json_object_get(j, "resolved"), "mpi");
  cr_assert(json_is_object(m), "run.json of 4 ranks has no resolved.mpi");
  cr_expect_eq(json_integer_value(json_object_get(m, "ranks")), 4);
  json_t *lanes = json_object_get(m, "lanes");      /* 5 lanes over 4 ranks: 2, 1, 1, 1 */
  cr_expect(json_array_size(lanes) == 4 && json_integer_value(json_array_get(lanes, 0)) == 2 &&
            json_integer_value(json_array_get(lanes, 3)) == 1, "lanes not [2, 1, 1, 1]");
  /* 4 ranks sum a part of the 32 parameters each (8 reals): rank 0 receives 3 parts of
   * every rank's gradients, then the 3 other parts' sums: 2 x 3 x 8 reals, and a few bytes of
   * means, agreements and recordings; an allgather of everything would be 3 x 32 reals */
  double bytes = json_real_value(json_object_get(m, "bytes_per_step"));
  cr_expect(bytes >= 2 * 3 * 8 * 8.0 && bytes < 3 * 32 * 8.0, "bytes per step %g", bytes);
  cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "resolved"), "batch")), 5);
  json_decref(j);
  j = run_json("r1/run.json");      /* one rank is the plain run */
  cr_expect(!json_object_get(json_object_get(j, "resolved"), "mpi"), "1 rank reports mpi");
  json_decref(j);
  /* the same ranks again: the same bits */
  cr_assert_eq(mpi(2, RUN_ARGS " --out r2b"), 0, "%s", out);
  cr_expect(same_file("r2/W1.npy", "r2b/W1.npy") && same_file("r2/o.rate.npy", "r2b/o.rate.npy"),
            "2 ranks twice: different bits");
}

/* Local SGD is a different algorithm: it runs, says so, and (combining every 1000 of 1000
 * steps) is not the gradient-combining run. */
Test(mpi, local_sgd) {
  need_launcher();
  write_data(4, 200);
  const char *args = "run " MODEL " --batch 4 --input x=x.npy --target y=y.npy --record W3 -q --steps 200";
  cr_assert_eq(mpi(2, "%s --out g", args), 0, "%s", out);
  cr_assert_eq(mpi(2, "%s --out l --combine-every 10", args), 0, "%s", out);
  json_t *j = run_json("l/run.json");
  json_t *m = json_object_get(json_object_get(j, "resolved"), "mpi");
  cr_expect_eq(json_integer_value(json_object_get(m, "combine_every")), 10);
  cr_expect(strstr(json_string_value(json_object_get(m, "combine")), "local SGD"));
  json_decref(j);
  cr_expect_gt(rel_diff("l/W3.npy", "g/W3.npy"), 1e-9, "local SGD equals combined gradients");
}

/* A training on a dataset with an evaluation set: the epochs' figures of 2 ranks are those
 * of one process (losses: 1e-12; accuracies: the same counts). */
Test(mpi, dataset_training_with_evaluation) {
  need_launcher();
  enum { S = 12, T = 20 };
  int64_t xs[3] = { S, T, 2 }, ls[1] = { S };
  double x[S * T * 2], lab[S];
  for (int s = 0; s < S; s++) {
    lab[s] = s % 2;
    for (int k = 0; k < T * 2; k++) x[s * T * 2 + k] = (s % 2 ? 0.6 : -0.6) + 0.3 * sin(1.1 * s + 0.7 * k);
  }
  vle_error err;
  cr_assert_eq(npy_write(at("dx.npy"), NPY_F8, 3, xs, x, &err), 0, "%s", err.msg);
  cr_assert_eq(npy_write(at("dl.npy"), NPY_F8, 1, ls, lab, &err), 0, "%s", err.msg);
  const char *model =
    "model cls\nconst beta = 0.5\ninput x[2] = [0, 0]\ntarget y[2] = [0, 0] onehot\n"
    "population h[4] { tau_m = 0.5; tau_r = 0.5; phi = tanh }\n"
    "population o[2] { tau_m = 0.5; tau_r = 0.5; phi = linear }\n"
    "weight W1[h, x] init normal(0, 0.8)\nweight W2[o, h] init normal(0, 0.8)\n"
    "cost C = 0.5 * |y - rate(o)|^2\n"
    "energy = 0.5 * |prosp(h, h.tau_m) - W1 @ x|^2 + 0.5 * |prosp(o, o.tau_m) - W2 @ rate(h)|^2 + beta * C\n"
    "learn W1, W2 with sgd(0.2)\nsettings { dt = 0.1; gamma = 0.5; errors = prospective }\n";
  FILE *f = fopen(at("cls.vle"), "w");
  fputs(model, f);
  fclose(f);
  const char *args = "run cls.vle --dataset --batch 4 --epochs 3 --input x=dx.npy --target y=dl.npy "
                     "--eval-input x=dx.npy --eval-target y=dl.npy -q";
  cr_assert_eq(mpi(0, "%s --out e1", args), 0, "%s", out);
  cr_assert_eq(mpi(2, "%s --out e2", args), 0, "%s", out);
  json_t *a = run_json("e1/run.json"), *b = run_json("e2/run.json");
  json_t *ea = json_object_get(json_object_get(json_object_get(a, "resolved"), "training"), "epochs");
  json_t *eb = json_object_get(json_object_get(json_object_get(b, "resolved"), "training"), "epochs");
  cr_assert_eq(json_array_size(ea), 3);
  cr_assert_eq(json_array_size(eb), 3);
  const char *keys[] = { "train_loss", "eval_loss", "train_acc", "eval_acc" };
  for (size_t e = 0; e < 3; e++)
    for (int k = 0; k < 4; k++) {
      double va = json_number_value(json_object_get(json_array_get(ea, e), keys[k]));
      double vb = json_number_value(json_object_get(json_array_get(eb, e), keys[k]));
      cr_expect_leq(fabs(va - vb), 1e-12 * fabs(va), "epoch %zu %s: %.17g (one process) vs %.17g "
                    "(2 ranks)", e + 1, keys[k], va, vb);
    }
  json_decref(a);
  json_decref(b);
  cr_expect(access(at("e2/checkpoint.state"), F_OK) != 0, "2 ranks wrote a checkpoint of rank 0's lanes");
}

/* Equilibrium propagation (examples/eqprop, XOR as a dataset of 4, 50 samples): 2 ranks
 * within 1e-9 of one process. Its gradient is a contrast of two equilibria, (G+ - G0)/beta:
 * the cancellation enlarges the last bits the batch sum's order moves (measured 2.5e-11). */
Test(mpi, eqprop_dataset) {
  need_launcher();
  const char *args = "run " VLE_SOURCE_DIR "/examples/eqprop/model.vle --dataset --epochs 50 "
                     "--batch 4 --seed 3 -q --input x=" VLE_SOURCE_DIR "/examples/eqprop/xor_x.npy "
                     "--target y=" VLE_SOURCE_DIR "/examples/eqprop/xor_labels.npy";
  cr_assert_eq(mpi(0, "%s --out p1", args), 0, "%s", out);
  cr_assert_eq(mpi(2, "%s --out p2", args), 0, "%s", out);
  double w1 = rel_diff("p2/params/W1.npy", "p1/params/W1.npy");
  double w2 = rel_diff("p2/params/W2.npy", "p1/params/W2.npy");
  cr_expect_leq(w1, 1e-9, "W1: %.3g", w1);
  cr_expect_leq(w2, 1e-9, "W2: %.3g", w2);
}

Test(mpi, sweep_spread_over_ranks) {
  need_launcher();
  write_data(2, 100);
  cr_assert_eq(mpi(2, "sweep " MODEL " --out sw --seeds 1,2,3 --batch 2 --input x=x.npy "
                   "--target y=y.npy"), 0, "%s", out);
  char *csv = NULL;
  size_t n = 0;
  FILE *f = fopen(at("sw/summary.csv"), "r");
  cr_assert(f, "no summary: %s", out);
  cr_assert_gt(getdelim(&csv, &n, 0, f), 0);
  fclose(f);
  int done = 0;
  for (const char *p = csv; (p = strstr(p, ",done,")); p++) done++;
  cr_expect_eq(done, 3, "summary:\n%s", csv);
  free(csv);
  cr_expect(strstr(out, "MPI rank 1 of 2"), "rank 1 ran nothing:\n%s", out);
  /* each run is the plain `vlec run` it stands for */
  cr_assert_eq(mpi(0, "run " MODEL " --seed 2 --batch 2 --input x=x.npy --target y=y.npy --out s2 -q"), 0, "%s", out);
  cr_expect(same_file("s2/params/W1.npy", "sw/seed2/params/W1.npy"), "the sweep's seed 2 differs");
}

/* A NaN in one rank's lanes stops every rank at that step, with that rank's message (rank
 * 0 writes it into run.json). */
Test(mpi, failure_on_one_rank_stops_all) {
  need_launcher();
  write_data(4, 100);
  npy_array x = load("x.npy");
  ((double *)x.data)[(3 * 100 + 40) * 2] = 1e308;     /* lane 3 (rank 1's), step 40 */
  vle_error err;
  cr_assert_eq(npy_write(at("x.npy"), NPY_F8, 3, x.shape, x.data, &err), 0, "%s", err.msg);
  npy_free(&x);
  int rc = mpi(2, "run " MODEL " --batch 4 --input x=x.npy --target y=y.npy --out bad -q --set gamma=0");
  cr_expect_eq(rc, 1, "exit %d:\n%s", rc, out);
  cr_expect(strstr(out, "MPI rank 1: "), "the message does not name rank 1:\n%s", out);
  cr_expect(strstr(out, "batch element 3)"), "the message does not name lane 3 of the batch:\n%s", out);
  json_t *j = run_json("bad/run.json");
  const char *e = json_string_value(json_object_get(j, "error"));
  cr_expect(e && strstr(e, "MPI rank 1"), "run.json's error: %s", e ? e : "(none)");
  cr_expect_lt(json_integer_value(json_object_get(j, "steps_run")), 45);
  json_decref(j);
}

Test(mpi, grad_refused) {
  need_launcher();
  write_data(2, 10);
  int rc = mpi(2, "grad " MODEL " --batch 2 --input x=x.npy --target y=y.npy --out g -q");
  cr_expect_eq(rc, 1, "exit %d:\n%s", rc, out);
  cr_expect(strstr(out, "not supported"), "%s", out);
}
#else
Test(mpi, built_without_mpi) {
  cr_skip_test("vlec was built without MPI (libopenmpi-dev not found at configure time)");
}
#endif
