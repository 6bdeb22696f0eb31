/*
 * test_runtime_run.c - rn_parse_args / rn_main (the loop of `vlec run` and `vlec grad`) on
 * the mock model: recordings and their shapes, run.json, data streams (shared, per batch
 * element, datasets with shuffled minibatches, CSV, onehot labels), data errors, grad
 * mode, NaN, SIGINT, checkpoints, and the C client of a built .so.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mock/mock.h"
#include "npy.h"
#include "run.h"
#include "seal.h"

static vle_error err;
static char dir[64];
static char errbuf[4096];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/vle_run_XXXXXX");
  cr_assert(mkdtemp(dir));
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) {}
}

TestSuite(run, .init = setup, .fini = teardown);

static const char *at(const char *rel) {
  static char bufs[8][256];
  static int i;
  char *p = bufs[i++ % 8];
  snprintf(p, 256, "%s/%s", dir, rel);
  return p;
}

/* Runs `vlec run|grad` with the given arguments (NULL-terminated) on the mock; the message
 * log goes to errbuf. Returns the exit status. */
static int vrun(bool grad, ...) {
  char *argv[64];
  int argc = 0;
  argv[argc++] = grad ? "grad" : "run";
  argv[argc++] = "mock.vle";
  va_list ap;
  va_start(ap, grad);
  for (char *a; (a = va_arg(ap, char *));) argv[argc++] = a;
  va_end(ap);
  FILE *log = fmemopen(errbuf, sizeof errbuf, "w");
  rn_options o;
  int rc = rn_parse_args(argc, argv, &o, grad, log);
  if (rc == 0) {
    vle_model *m = mock_load(false, &err);
    rc = rn_main(m, &o, log);
    vle_model_free(m);
  }
  fclose(log);
  rn_options_free(&o);
  return rc;
}

static npy_array load(const char *rel) {
  npy_array a;
  cr_assert_eq(npy_read(at(rel), &a, &err), 0, "%s", err.msg);
  return a;
}

static void expect_shape(const npy_array *a, int nd, int64_t s0, int64_t s1, int64_t s2) {
  int64_t want[3] = { s0, s1, s2 };
  cr_assert_eq(a->ndim, nd, "ndim %d, expected %d", a->ndim, nd);
  for (int i = 0; i < nd; i++)
    cr_assert_eq(a->shape[i], want[i], "dim %d: %lld, expected %lld", i, (long long)a->shape[i],
                 (long long)want[i]);
}

static json_t *run_json(void) {
  json_error_t je;
  json_t *j = json_load_file(at("out/run.json"), 0, &je);
  cr_assert(j, "run.json: %s", je.text);
  return j;
}

static void save_npy(const char *rel, npy_dtype t, int nd, int64_t s0, int64_t s1, int64_t s2,
                     const void *data) {
  int64_t shape[3] = { s0, s1, s2 };
  cr_assert_eq(npy_write(at(rel), t, nd, shape, data, &err), 0, "%s", err.msg);
}

static bool no_temp_files(const char *d) {
  DIR *dp = opendir(d);
  if (!dp) return true;
  bool ok = true;
  for (struct dirent *e; (e = readdir(dp));) ok &= !strstr(e->d_name, ".tmp.");
  closedir(dp);
  return ok;
}

/* ---- recordings and run.json ------------------------------------------------------------- */

Test(run, recording_shapes_and_values) {
  cr_assert_eq(vrun(false, "--steps", "20", "--batch", "3", "--record", "h,h.rate,loss",
                    "--record", "W,energy,t", "--out", at("out"), "-q", NULL), 0, "%s", errbuf);
  npy_array rate = load("out/h.rate.npy"), loss = load("out/loss.npy"), w = load("out/W.npy"),
            t = load("out/t.npy"), pw = load("out/params/W.npy"), pb = load("out/params/b.npy");
  expect_shape(&rate, 3, 3, 20, 1);
  expect_shape(&loss, 1, 20, 0, 0);
  expect_shape(&w, 2, 1, 1, 0);
  expect_shape(&t, 2, 20, 1, 0);
  expect_shape(&pw, 2, 1, 1, 0);
  expect_shape(&pb, 1, 1, 0, 0);
  /* the same run by hand: recorded value at k == the value after step k */
  vle_model *m = mock_load(false, &err);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 3;
  vle_sim *s = vle_sim_new(m, &o, &err);
  for (int k = 0; k < 20; k++) {
    vle_sim_step(s, 1, &err);
    double r[3], l[3];
    vle_sim_get(s, "h.rate", r, 3, &err);
    vle_sim_get(s, "loss", l, 3, &err);
    for (int b = 0; b < 3; b++) cr_assert_eq(((double *)rate.data)[b * 20 + k], r[b]);
    cr_assert_float_eq(((double *)loss.data)[k], (l[0] + l[1] + l[2]) / 3, 1e-15);
    cr_assert_float_eq(((double *)t.data)[k], 0.1 * k, 1e-15);
  }
  double wf;
  vle_sim_get(s, "W", &wf, 1, &err);
  cr_assert_eq(((double *)pw.data)[0], wf);
  vle_sim_free(s);
  vle_model_free(m);
  npy_free(&rate); npy_free(&loss); npy_free(&w); npy_free(&t); npy_free(&pw); npy_free(&pb);
  cr_assert(no_temp_files(at("out")) && no_temp_files(at("out/params")));
}

Test(run, batch1_shapes_and_record_every) {
  cr_assert_eq(vrun(false, "--steps", "20", "--record", "h', W, h.tau_r", "--record-every", "5",
                    "--out", at("o1"), "-q", NULL), 0, "blanks around names are fine: %s", errbuf);
  cr_assert_eq(vrun(false, "--steps=20", "--record=h',W,h.tau_r,V", "--record-every=5",
                    "--out", at("out"), "-q", NULL), 0, "%s", errbuf);
  npy_array u = load("out/h_dot.npy"), w = load("out/W.npy"), tr = load("out/h.tau_r.npy"),
            v = load("out/V.npy");
  expect_shape(&u, 3, 1, 4, 1);   /* [batch, steps, n] at batch 1 too; thinned: steps 5, 10, 15, 20 */
  expect_shape(&w, 3, 4, 1, 1);
  expect_shape(&tr, 2, 4, 1, 0);
  expect_shape(&v, 3, 4, 6, 4);
  npy_array pt = load("out/params/h.tau_r.npy");
  cr_assert_eq(((double *)tr.data)[3], ((double *)pt.data)[0], "last snapshot = final value");
  npy_free(&u); npy_free(&w); npy_free(&tr); npy_free(&v); npy_free(&pt);
}

Test(run, run_json_contents) {
  cr_assert_eq(vrun(false, "--time", "1.0", "--seed", "7", "--set", "tau=0.6", "--record", "loss",
                    "--out", at("out"), "-q", NULL), 0, "%s", errbuf);
  json_t *j = run_json();
  cr_assert_str_eq(json_string_value(json_object_get(j, "hash")), "mockhash-f64");
  cr_assert_str_eq(json_string_value(json_object_get(j, "command")), "run");
  cr_assert_eq(json_integer_value(json_object_get(j, "steps_run")), 10);
  cr_assert_eq(json_integer_value(json_object_get(j, "steps_planned")), 10);
  cr_assert(json_is_false(json_object_get(j, "interrupted")));
  cr_assert(json_is_null(json_object_get(j, "error")));
  cr_assert(json_real_value(json_object_get(j, "wall_time_s")) >= 0);
  cr_assert(json_is_number(json_object_get(j, "steps_per_second")));
  json_t *o = json_object_get(j, "options");
  cr_assert_eq(json_integer_value(json_object_get(o, "seed")), 7);
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "set"), "tau")), "0.6");
  cr_assert_eq(json_real_value(json_object_get(o, "time")), 1.0);
  json_t *res = json_object_get(j, "resolved");
  cr_assert_str_eq(json_string_value(json_object_get(res, "errors")), "prospective");
  cr_assert_eq(json_integer_value(json_object_get(res, "batch")), 1);
  cr_assert(json_array_size(json_object_get(j, "outputs")) >= 10);
  json_decref(j);
}

Test(run, default_out_dir) {
  char cwd[512];
  cr_assert(getcwd(cwd, sizeof cwd));
  cr_assert_eq(chdir(dir), 0);
  int rc = vrun(false, "--steps", "3", "-q", NULL);
  DIR *dp = opendir("runs");
  cr_assert(dp, "runs/ created");
  int n = 0;
  for (struct dirent *e; (e = readdir(dp));) n += !strncmp(e->d_name, "mock-", 5);
  closedir(dp);
  cr_assert_eq(chdir(cwd), 0);
  cr_assert_eq(rc, 0, "%s", errbuf);
  cr_assert_eq(n, 1);
}

/* ---- data ---------------------------------------------------------------------------------- */

Test(run, input_shared_direct_and_csv) {
  double x[10];
  for (int k = 0; k < 10; k++) x[k] = k * 0.5;
  save_npy("x.npy", NPY_F8, 2, 10, 1, 0, x);
  char arg[300];
  snprintf(arg, sizeof arg, "x=%s", at("x.npy"));
  cr_assert_eq(vrun(false, "--batch", "2", "--input", arg, "--record", "x", "--out", at("out"), "-q", NULL), 0, "%s", errbuf);
  npy_array r = load("out/x.npy");
  expect_shape(&r, 3, 2, 10, 1);
  for (int k = 0; k < 10; k++) cr_assert(((double *)r.data)[k] == x[k] && ((double *)r.data)[10 + k] == x[k]);
  npy_free(&r);
  /* [batch, steps, n] as float32 */
  float xb[2 * 5 * 2];
  for (int i = 0; i < 20; i++) xb[i] = (float)i;
  save_npy("x2.npy", NPY_F4, 3, 2, 5, 2, xb);
  snprintf(arg, sizeof arg, "x2=%s", at("x2.npy"));
  cr_assert_eq(vrun(false, "--batch", "2", "--input", arg, "--record", "x2", "--out", at("out"), "-q", NULL), 0, "%s", errbuf);
  r = load("out/x2.npy");
  expect_shape(&r, 3, 2, 5, 2);
  for (int i = 0; i < 20; i++) cr_assert_eq(((double *)r.data)[i], xb[i]);
  npy_free(&r);
  /* CSV, one row a step; the length of the data sets the run's length */
  FILE *fp = fopen(at("x.csv"), "w");
  fputs("x\n1\n2\n3\n", fp);
  fclose(fp);
  snprintf(arg, sizeof arg, "x=%s", at("x.csv"));
  cr_assert_eq(vrun(false, "--input", arg, "--record", "x", "--out", at("out"), "-q", NULL), 0, "%s", errbuf);
  r = load("out/x.npy");
  expect_shape(&r, 3, 1, 3, 1);
  cr_assert(((double *)r.data)[2] == 3);
  npy_free(&r);
}

/* A dataset of 6 samples x 4 steps, sample s step k = 10 s + k, in minibatches of 2. */
static void dataset_run(const char *seed, bool shuffle, const char *out) {
  double x[6 * 4];
  for (int s = 0; s < 6; s++)
    for (int k = 0; k < 4; k++) x[s * 4 + k] = 10 * s + k;
  save_npy("ds.npy", NPY_F8, 3, 6, 4, 1, x);
  char arg[300];
  snprintf(arg, sizeof arg, "x=%s", at("ds.npy"));
  int rc = shuffle ? vrun(false, "--batch", "2", "--dataset", "--epochs", "2", "--seed", seed,
                          "--input", arg, "--record", "x", "--out", at(out), "-q", NULL)
                   : vrun(false, "--batch", "2", "--dataset", "--epochs", "2", "--no-shuffle", "--input", arg,
                          "--record", "x", "--out", at(out), "-q", NULL);
  cr_assert_eq(rc, 0, "%s", errbuf);
}

/* The sample each (batch element, minibatch) saw, checking steps within a sample. */
static void dataset_samples(const char *rel, int samples[2][6]) {
  npy_array r = load(rel);
  expect_shape(&r, 3, 2, 24, 1);
  const double *v = r.data;
  for (int b = 0; b < 2; b++)
    for (int j = 0; j < 6; j++) {
      int s = (int)v[b * 24 + j * 4] / 10;
      for (int k = 0; k < 4; k++) cr_assert_eq(v[b * 24 + j * 4 + k], 10 * s + k);
      samples[b][j] = s;
    }
  npy_free(&r);
}

Test(run, dataset_minibatches_shuffled_reproducibly) {
  int a[2][6], b[2][6], c[2][6], d[2][6];
  dataset_run("3", true, "o1");
  dataset_run("3", true, "o2");
  dataset_run("4", true, "o3");
  dataset_run("3", false, "o4");
  dataset_samples("o1/x.npy", a);
  dataset_samples("o2/x.npy", b);
  dataset_samples("o3/x.npy", c);
  dataset_samples("o4/x.npy", d);
  cr_assert_eq(memcmp(a, b, sizeof a), 0, "same seed, same schedule");
  cr_assert_neq(memcmp(a, c, sizeof a), 0, "another seed, another schedule");
  for (int e = 0; e < 2; e++) {            /* each epoch presents every sample once */
    int seen[6] = { 0 };
    for (int j = 3 * e; j < 3 * e + 3; j++) seen[a[0][j]]++, seen[a[1][j]]++;
    for (int s = 0; s < 6; s++) cr_assert_eq(seen[s], 1, "epoch %d sample %d", e, s);
  }
  for (int j = 0; j < 6; j++) cr_assert(d[0][j] == 2 * (j % 3) && d[1][j] == 2 * (j % 3) + 1);
  json_t *jr;
  json_error_t je;
  cr_assert((jr = json_load_file(at("o1/run.json"), 0, &je)));
  cr_assert_eq(json_integer_value(json_object_get(json_object_get(jr, "resolved"), "dataset_samples")), 6);
  json_decref(jr);
}

Test(run, onehot_labels) {
  int64_t labels[2] = { 2, 0 };
  save_npy("lab.npy", NPY_I8, 1, 2, 0, 0, labels);
  char arg[300];
  snprintf(arg, sizeof arg, "lab=%s", at("lab.npy"));
  cr_assert_eq(vrun(false, "--batch", "2", "--steps", "3", "--target", arg, "--record", "lab",
                    "--out", at("out"), "-q", NULL), 0, "%s", errbuf);
  npy_array r = load("out/lab.npy");
  expect_shape(&r, 3, 2, 3, 3);
  const double *v = r.data;
  for (int k = 0; k < 3; k++)
    for (int c = 0; c < 3; c++) {
      cr_assert_eq(v[k * 3 + c], c == 2 ? 1.0 : 0.0);
      cr_assert_eq(v[9 + k * 3 + c], c == 0 ? 1.0 : 0.0);
    }
  npy_free(&r);
  /* per-step labels [batch, steps] as uint8 */
  unsigned char ls[2 * 2] = { 0, 1, 2, 2 };
  save_npy("lab2.npy", NPY_U1, 2, 2, 2, 0, ls);
  snprintf(arg, sizeof arg, "lab=%s", at("lab2.npy"));
  cr_assert_eq(vrun(false, "--batch", "2", "--target", arg, "--record", "lab", "--out", at("out"), "-q", NULL), 0, "%s", errbuf);
  r = load("out/lab.npy");
  expect_shape(&r, 3, 2, 2, 3);
  cr_assert(((double *)r.data)[3 + 1] == 1.0 && ((double *)r.data)[6 + 2] == 1.0);
  npy_free(&r);
}

Test(run, label_out_of_range) {
  int32_t labels[2] = { 1, 3 };
  save_npy("lab.npy", NPY_I4, 1, 2, 0, 0, labels);
  char arg[300];
  snprintf(arg, sizeof arg, "lab=%s", at("lab.npy"));
  cr_assert_eq(vrun(false, "--batch", "2", "--steps", "3", "--target", arg, "--out", at("out"), NULL), 1);
  cr_assert(strstr(errbuf, "lab.npy: label 3 at index 1 is not a class of target lab (expected an integer in [0, 2])"), "%s", errbuf);
  cr_assert_eq(access(at("out"), F_OK), -1, "nothing written on a data error");
}

static void expect_data_error(const char *opt, const char *arg, const char *want) {
  cr_assert_eq(vrun(false, "--steps", "5", opt, arg, "--out", at("out"), NULL), 1, "%s", errbuf);
  cr_assert(strstr(errbuf, want), "'%s' lacks '%s'", errbuf, want);
}

Test(run, data_errors) {
  char arg[300];
  snprintf(arg, sizeof arg, "x=%s", at("missing.npy"));
  expect_data_error("--input", arg, "missing.npy: cannot open");
  double x[6] = { 1, 2, 3, 4, 5, 6 };
  save_npy("x.npy", NPY_F8, 2, 3, 2, 0, x);
  snprintf(arg, sizeof arg, "x=%s", at("x.npy"));
  expect_data_error("--input", arg, "x.npy: x has 1 elements: expected shape [steps, 1], [batch, steps, 1] or [samples, steps, 1], the file has shape (3, 2)");
  snprintf(arg, sizeof arg, "x2=%s", at("x.npy"));
  expect_data_error("--input", arg, "x.npy: 3 steps of data for x2, the run needs 5");
  x[3] = NAN;
  save_npy("n.npy", NPY_F8, 2, 3, 2, 0, x);
  snprintf(arg, sizeof arg, "x2=%s", at("n.npy"));
  expect_data_error("--input", arg, "n.npy: element 3 is nan: data must be finite");
  snprintf(arg, sizeof arg, "nope=%s", at("x.npy"));
  expect_data_error("--input", arg, "--input nope: the model has no input of that name (inputs: x, x2)");
  expect_data_error("--record", "h,bogus", "--record bogus: the model has no signal or parameter");
  expect_data_error("--errors", "adjoint", "--no-learn");
  expect_data_error("--set", "tau=0.01", "tau_m of neuron 0 is 0.01, smaller than dt = 0.1");
  snprintf(arg, sizeof arg, "W=%s", at("x.npy"));
  expect_data_error("--init", arg, "parameter W is 1x1, the file has shape (3, 2)");
  cr_assert_eq(vrun(false, "--out", at("out"), NULL), 1);
  cr_assert(strstr(errbuf, "give --steps N or --time T"), "%s", errbuf);
}

Test(run, usage_errors) {
  cr_assert_eq(vrun(false, "--steps", "abc", NULL), 2);
  cr_assert(strstr(errbuf, "vlec run: --steps abc: expected an integer >= 0"), "%s", errbuf);
  cr_assert_eq(vrun(false, "--frobnicate", NULL), 2);
  cr_assert(strstr(errbuf, "unknown option '--frobnicate'"), "%s", errbuf);
  cr_assert_eq(vrun(false, "--set", "tau", NULL), 2);
  cr_assert(strstr(errbuf, "expected NAME=VALUE"), "%s", errbuf);
  cr_assert_eq(vrun(false, "--set", "tau=1,x", NULL), 2);
  cr_assert_eq(vrun(false, "--errors", "magic", NULL), 2);
  cr_assert_eq(vrun(false, "--steps", "3", "--time", "1", NULL), 2);
  cr_assert_eq(vrun(true, "--batch", NULL), 2);
  cr_assert(strstr(errbuf, "vlec grad: --batch needs a value"), "%s", errbuf);
  rn_options o;
  char *argv[] = { "run", "--steps", "3", NULL };
  FILE *log = fmemopen(errbuf, sizeof errbuf, "w");
  cr_assert_eq(rn_parse_args(3, argv, &o, false, log), 2);
  fclose(log);
  cr_assert(strstr(errbuf, "no model given"), "%s", errbuf);
  rn_options_free(&o);
  cr_assert(strstr(rn_help(false), "--record-every"));
}

/* ---- grad, NaN, SIGINT, checkpoints ------------------------------------------------------ */

Test(run, grad_mode) {
  cr_assert_eq(vrun(true, "--steps", "15", "--batch", "2", "--set", "beta=2", "--out", at("out"), "-q", NULL), 0, "%s", errbuf);
  npy_array gw = load("out/grad/W.npy"), gb = load("out/grad/b.npy"), gt = load("out/grad/h.tau_r.npy");
  expect_shape(&gw, 2, 1, 1, 0);
  expect_shape(&gb, 1, 1, 0, 0);
  cr_assert_eq(gw.dtype, NPY_F8);
  cr_assert_eq(access(at("out/grad/V.npy"), F_OK), -1, "V is not learnable");
  vle_model *m = mock_load(false, &err);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 2;
  o.learn = false;
  o.accumulate_grads = true;
  double beta = 2;
  vle_override set = { "beta", &beta, 1 };
  o.sets = &set;
  o.nsets = 1;
  vle_sim *s = vle_sim_new(m, &o, &err);
  double sw = 0, sb = 0;
  for (int k = 0; k < 15; k++) {
    vle_sim_step(s, 1, &err);
    double g;
    vle_sim_get(s, "grad.W", &g, 1, &err);
    sw += 0.1 * g;
    vle_sim_get(s, "grad.b", &g, 1, &err);
    sb += 0.1 * g;
  }
  cr_assert_float_eq(((double *)gw.data)[0], sw / 2, 1e-14);
  cr_assert_float_eq(((double *)gb.data)[0], sb / 2, 1e-14);
  npy_array pw = load("out/params/W.npy");
  cr_assert_eq(((double *)pw.data)[0], 0.5, "grad does not learn");
  vle_sim_free(s);
  vle_model_free(m);
  npy_free(&gw); npy_free(&gb); npy_free(&gt); npy_free(&pw);
  cr_assert_eq(vrun(true, "--steps", "3", "--errors", "adjoint", "--out", at("o2"), NULL), 1);
  cr_assert(strstr(errbuf, "has no kernel back_adj"), "%s", errbuf);
}

/* --warmup W: the first W steps run as usual but do not learn (nor, in grad mode, add to
 * the gradient sums); the result equals a sim held for W steps, then released. */
Test(run, warmup_steps_without_learning) {
  cr_assert_eq(vrun(false, "--steps", "12", "--warmup", "5", "--batch", "2", "--record", "W",
                    "--record-every", "1", "--out", at("out"), "-q", NULL), 0, "%s", errbuf);
  cr_assert_eq(vrun(true, "--steps", "12", "--warmup=5", "--batch", "2", "--out", at("g"), "-q",
                    NULL), 0, "%s", errbuf);
  npy_array w = load("out/W.npy"), pw = load("out/params/W.npy"), gw = load("g/grad/W.npy");
  expect_shape(&w, 3, 12, 1, 1);
  vle_model *m = mock_load(false, &err);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 2;
  vle_sim *s = vle_sim_new(m, &o, &err);
  o.learn = false;
  o.accumulate_grads = true;
  vle_sim *g = vle_sim_new(m, &o, &err);
  double w0;
  vle_sim_get(s, "W", &w0, 1, &err);
  double sum = 0;
  for (int k = 0; k < 12; k++) {
    vle_sim_hold_learning(s, k < 5);
    vle_sim_hold_learning(g, k < 5);
    vle_sim_step(s, 1, &err);
    vle_sim_step(g, 1, &err);
    double wk, gk;
    vle_sim_get(s, "W", &wk, 1, &err);
    vle_sim_get(g, "grad.W", &gk, 1, &err);
    if (k >= 5) sum += 0.1 * gk;
    cr_assert_eq(((double *)w.data)[k], wk, "step %d", k);
    if (k < 5) cr_assert_eq(wk, w0, "no learning in the warm-up (step %d)", k);
  }
  cr_assert_neq(((double *)w.data)[11], w0, "learning after the warm-up");
  cr_assert_eq(((double *)pw.data)[0], ((double *)w.data)[11]);
  cr_assert_float_eq(((double *)gw.data)[0], sum, 1e-14, "grad sums start after the warm-up");
  json_t *j = run_json();
  cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "options"), "warmup")), 5);
  json_decref(j);
  cr_assert_eq(vrun(false, "--steps", "3", "--warmup", "-1", NULL), 2);
  cr_assert(strstr(errbuf, "--warmup"), "%s", errbuf);
  vle_sim_free(s);
  vle_sim_free(g);
  vle_model_free(m);
  npy_free(&w); npy_free(&pw); npy_free(&gw);
}

Test(run, nan_stops_with_complete_outputs) {
  /* a huge input drives u' to 1e308 at step 4 and u past the largest double at step 5 */
  double big[10];
  for (int k = 0; k < 10; k++) big[k] = k < 4 ? 1 : 1e308;
  save_npy("x.npy", NPY_F8, 2, 10, 1, 0, big);
  char arg[300];
  snprintf(arg, sizeof arg, "x=%s", at("x.npy"));
  cr_assert_eq(vrun(false, "--input", arg, "--record", "h,loss", "--out", at("out"), "-q", NULL), 1);
  cr_assert(strstr(errbuf, "Inf in h (neuron 0, batch element 0) at step 5 (t = 0.5); the "
                    "simulation was rolled back"), "%s", errbuf);
  json_t *j = run_json();
  cr_assert_eq(json_integer_value(json_object_get(j, "steps_run")), 5);
  cr_assert(json_is_string(json_object_get(j, "error")));
  json_decref(j);
  npy_array h = load("out/h.npy");
  expect_shape(&h, 3, 1, 5, 1);
  npy_free(&h);
}

/* issue 15, defect 7: a NaN found by a sparse check (--check-every 1000) at step 999 is
 * replayed from the last good snapshot (step 0): the message names step 5, where it first
 * appeared, and run.json, the recordings and the parameters all end at step 5, as a run of
 * exactly 5 steps does. */
Test(run, nan_found_late_is_reported_at_its_first_step) {
  static double big[2000];
  for (int k = 0; k < 2000; k++) big[k] = k < 4 ? 1 : 1e308;
  save_npy("x.npy", NPY_F8, 2, 2000, 1, 0, big);
  char arg[300];
  snprintf(arg, sizeof arg, "x=%s", at("x.npy"));
  cr_assert_eq(vrun(false, "--input", arg, "--check-every", "1000", "--record", "h,loss,W",
                    "--out", at("out"), "-q", NULL), 1);
  cr_assert(strstr(errbuf, "at step 5 (t = 0.5)"), "%s", errbuf);
  json_t *j = run_json();
  cr_assert_eq(json_integer_value(json_object_get(j, "steps_run")), 5);
  json_decref(j);
  npy_array h = load("out/h.npy"), l = load("out/loss.npy"), w = load("out/params/W.npy");
  expect_shape(&h, 3, 1, 5, 1);
  expect_shape(&l, 1, 5, 0, 0);
  cr_assert_eq(vrun(false, "--input", arg, "--steps", "5", "--record", "h", "--out", at("ref"),
                    "-q", NULL), 0, "%s", errbuf);
  npy_array hr = load("ref/h.npy"), wr = load("ref/params/W.npy");
  cr_assert_eq(memcmp(h.data, hr.data, 5 * sizeof(double)), 0, "the kept rows are the run's");
  cr_assert_eq(memcmp(w.data, wr.data, w.count * sizeof(double)), 0,
               "the parameters written are those after step 4");
  npy_free(&h); npy_free(&l); npy_free(&w); npy_free(&hr); npy_free(&wr);
}

Test(run, sigint_stops_cleanly) {
  pid_t pid = fork();
  if (pid == 0) {
    int rc = vrun(false, "--steps", "2000000000", "--record", "h,loss", "--out", at("out"), "-q", NULL);
    _exit(rc);
  }
  /* the handler is installed before the out dir is made: wait for it, then a few steps */
  for (int i = 0; i < 1000 && access(at("out"), F_OK) != 0; i++) usleep(10000);
  usleep(100000);
  kill(pid, SIGINT);
  int st;
  waitpid(pid, &st, 0);
  cr_assert(WIFEXITED(st), "the run was killed instead of stopping");
  cr_assert_eq(WEXITSTATUS(st), 130);
  json_t *j = run_json();
  cr_assert(json_is_true(json_object_get(j, "interrupted")));
  json_int_t n = json_integer_value(json_object_get(j, "steps_run"));
  cr_assert(n > 0 && n < 2000000000);
  json_decref(j);
  npy_array h = load("out/h.npy"), l = load("out/loss.npy");
  expect_shape(&h, 3, 1, n, 1);
  expect_shape(&l, 1, n, 0, 0);
  npy_free(&h); npy_free(&l);
  cr_assert(no_temp_files(at("out")));
}

Test(run, checkpoint_resume_bit_exact) {
  cr_assert_eq(vrun(false, "--steps", "20", "--batch", "2", "--out", at("full"), "-q", NULL), 0, "%s", errbuf);
  cr_assert_eq(vrun(false, "--steps", "8", "--batch", "2", "--save-state", at("s.bin"), "--out", at("a"), "-q", NULL), 0, "%s", errbuf);
  cr_assert_eq(vrun(false, "--steps", "12", "--batch", "2", "--load-state", at("s.bin"), "--record", "t",
                    "--out", at("b"), "-q", NULL), 0, "%s", errbuf);
  const char *names[] = { "W", "b", "h.tau_r" };
  for (int i = 0; i < 3; i++) {
    char p1[64], p2[64];
    snprintf(p1, sizeof p1, "full/params/%s.npy", names[i]);
    snprintf(p2, sizeof p2, "b/params/%s.npy", names[i]);
    npy_array x = load(p1), y = load(p2);
    cr_assert_eq(memcmp(x.data, y.data, x.count * 8), 0, "%s differs after resume", names[i]);
    npy_free(&x); npy_free(&y);
  }
  npy_array t = load("b/t.npy");
  cr_assert_float_eq(((double *)t.data)[0], 0.8, 1e-15, "resumed at step 8");
  npy_free(&t);
}

/* ---- the C client of a built model --------------------------------------------------------- */

Test(run, so_client_prints_signal) {
  char so[128], cmd[512], outp[128];
  snprintf(so, sizeof so, "%s/mock.so", dir);
  snprintf(cmd, sizeof cmd, "cc -shared -fPIC -DMOCK_SO -o %s %s/tests/mock/mock_model.c -lm", so, VLE_SOURCE_DIR);
  if (system(cmd) != 0) cr_skip_test("no C compiler");
  cr_assert_eq(seal_append(so, &err), 0, "%s", err.msg);   /* as vlec build does */
  snprintf(cmd, sizeof cmd, "%s/so_client", VLE_BUILD_DIR);
  if (access(cmd, X_OK) != 0) cr_skip_test("so_client not built");
  snprintf(outp, sizeof outp, "%s/client.txt", dir);
  snprintf(cmd, sizeof cmd, "%s/so_client %s 10 h.rate 2 > %s", VLE_BUILD_DIR, so, outp);
  cr_assert_eq(system(cmd), 0);
  FILE *fp = fopen(outp, "r");
  double got[2];
  cr_assert_eq(fscanf(fp, "%lf %lf", &got[0], &got[1]), 2);
  fclose(fp);
  vle_model *m = mock_load(false, &err);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 2;
  vle_sim *s = vle_sim_new(m, &o, &err);
  vle_sim_step(s, 10, &err);
  double want[2];
  vle_sim_get(s, "h.rate", want, 2, &err);
  cr_assert(got[0] == want[0] && got[1] == want[1], "%.17g vs %.17g", got[0], want[0]);
  vle_sim_free(s);
  vle_model_free(m);
}
