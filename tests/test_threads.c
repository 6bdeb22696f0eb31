/*
 * test_threads.c - threads (docs/runtime.md "Threads"): a simulation gives the same bits on
 * 1, 2, 3 and 4 threads, in f64 and f32, learning and not, under every error scheme, with SGD
 * fused into the step's sweeps and with Adam (whose gradients a batch reduction computes),
 * accumulating gradients; the JIT and a built .so alike; `--threads` and run.json; auto's
 * choice. The network has rows that are not multiples of the update's blocks of 6 and a
 * batch of 13 (not a multiple of the forward's groups of 6, nor of any thread count), and
 * every batch element its own initial state, so a batch element computed from another's
 * data, or a row updated twice or not at all, shows.
 */
#include "run_util.h"
#include "test_util.h"

TestSuite(threads, .init = ru_setup, .fini = ru_teardown);

static const char *TH_MODEL =
  "model thr\n"
  "const beta = 1.0\n"
  "input  x[64] = sin(linspace(0.5, 2.0, 64) * t + linspace(0.0, 3.0, 64))\n"
  "target y[10] = 0.5 * sin(linspace(0.3, 1.1, 10) * t + linspace(1.0, 2.0, 10))\n"
  "population h1[70] { tau_m = linspace(0.5, 1.5, 70); tau_r = linspace(0.1, 0.5, 70); phi = tanh }\n"
  "population h2[65] { tau_m = linspace(0.5, 1.5, 65); tau_r = linspace(0.1, 0.5, 65); phi = tanh }\n"
  "population o[10] { tau_m = linspace(0.5, 1.5, 10); tau_r = linspace(0.1, 0.5, 10); phi = linear }\n"
  "weight W1[h1, x] init uniform(-0.3, 0.3)\n"
  "bias   b1[h1] init uniform(-0.1, 0.1)\n"
  "weight W2[h2, h1] init uniform(-0.3, 0.3)\n"
  "bias   b2[h2] init uniform(-0.1, 0.1)\n"
  "weight W3[o, h2] init uniform(-0.3, 0.3)\n"
  "bias   b3[o] init uniform(-0.1, 0.1)\n"
  "cost C = 0.5 * |y - rate(o)|^2\n"
  "energy = 0.5 * |prosp(h1, h1.tau_m) - (W1 @ x + b1)|^2\n"
  "       + 0.5 * |prosp(h2, h2.tau_m) - (W2 @ rate(h1) + b2)|^2\n"
  "       + 0.5 * |prosp(o, o.tau_m) - (W3 @ rate(h2) + b3)|^2\n"
  "       + beta * C\n"
  "%s\n"
  "settings { dt = 0.05; gamma = 0.1; errors = prospective }\n";

static const char *TH_SGD = "learn W1, b1, W2, b2, W3, b3 with sgd(0.05)";
static const char *TH_ADAM = "learn W1, b1 with adam(0.01)\nlearn W2, b2, W3, b3 with sgd(0.05)";

enum { TH_BATCH = 13, TH_STEPS = 40 };

/* A whole file of the temporary directory (malloc, NUL-terminated); its length into *n. */
static unsigned char *th_slurp(const char *rel, size_t *n) {
  FILE *f = fopen(ru_at(rel), "rb");
  cr_assert(f, "cannot read %s", rel);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  unsigned char *p = malloc((size_t)len + 1);
  *n = fread(p, 1, (size_t)len, f);
  p[*n] = 0;
  fclose(f);
  return p;
}

static const char *th_write(const char *rel, const char *learn) {
  char src[4096];
  snprintf(src, sizeof src, TH_MODEL, learn);
  return ru_write(rel, src);
}

/* A sim on `threads` threads, every batched state given its own values per batch element. */
static vle_sim *th_sim(const vle_model *m, const char *errors, bool learn, bool acc, int threads) {
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.errors = errors;
  o.learn = learn;
  o.accumulate_grads = acc;
  o.seed = 5;
  o.batch = TH_BATCH;
  o.threads = threads;
  vle_error err;
  vle_sim *s = vle_sim_new(m, &o, &err);
  cr_assert(s, "%s", err.msg);
  cr_assert_eq(vle_sim_threads(s, NULL), threads, "asked %d threads", threads);
  for (int i = 0; i < vle_model_nbuffers(m); i++) {
    const vle_buffer_info *b = vle_model_buffer(m, i);
    if (b->role != VLE_ROLE_STATE || !b->batched) continue;
    size_t n = vle_sim_count(s, b->name);
    double *v = malloc(n * sizeof *v);
    for (size_t j = 0; j < n; j++) v[j] = 0.4 * sin(1.7 * (double)j + 0.3 * i);
    cr_assert_eq(vle_sim_set(s, b->name, v, n, &err), 0, "%s", err.msg);
    free(v);
  }
  return s;
}

/* Every buffer of the sim (and the gradient sums), as doubles, one after another. */
static double *th_all(const vle_sim *s, const vle_model *m, size_t *n) {
  size_t total = 0;
  for (int i = 0; i < vle_model_nbuffers(m); i++) total += vle_sim_count(s, vle_model_buffer(m, i)->name);
  double *v = malloc(total * sizeof *v), *p = v;
  vle_error err;
  for (int i = 0; i < vle_model_nbuffers(m); i++) {
    const char *name = vle_model_buffer(m, i)->name;
    size_t c = vle_sim_count(s, name);
    cr_assert_eq(vle_sim_get(s, name, p, c, &err), 0, "%s", err.msg);
    p += c;
  }
  *n = total;
  return v;
}

/* TH_STEPS steps; the adjoint and bptt schemes in two windows (their backward sweeps run
 * the back kernels, and learning happens at the window's end). */
static void th_run(vle_sim *s, const char *errors) {
  vle_error err;
  bool window = !strcmp(errors, "adjoint") || !strcmp(errors, "bptt");
  for (int w = 0; w < 2; w++) {
    int rc = window ? vle_sim_adjoint_window(s, TH_STEPS / 2, NULL, &err)
                    : vle_sim_step(s, TH_STEPS / 2, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
  }
}

/* The run on 2, 3, 4 threads equals the run on 1 bit for bit; learning moved W1 (so the
 * comparison covers the updates). */
static void th_same(const vle_model *m, const char *what, const char *errors, bool learn, bool acc) {
  size_t n1, n;
  vle_error err;
  vle_sim *s = th_sim(m, errors, learn, acc, 1);
  size_t nw = vle_sim_count(s, "W1");
  double *w0 = malloc(nw * sizeof *w0), *w1 = malloc(nw * sizeof *w1);
  cr_assert_eq(vle_sim_get(s, "W1", w0, nw, &err), 0, "%s", err.msg);
  th_run(s, errors);
  cr_assert_eq(vle_sim_get(s, "W1", w1, nw, &err), 0, "%s", err.msg);
  if (learn) cr_assert_gt(ru_maxdiff(w0, w1, nw), 1e-6, "%s %s: learning did not move W1", what, errors);
  double *ref = th_all(s, m, &n1);
  double *gs = NULL;
  if (acc) {
    gs = malloc(nw * sizeof *gs);
    cr_assert_eq(vle_sim_grad_sum(s, "W1", gs, nw, &err), 0, "%s", err.msg);
    double mx = 0;
    for (size_t i = 0; i < nw; i++) mx = fmax(mx, fabs(gs[i]));
    cr_assert_gt(mx, 0, "%s %s: no gradient summed", what, errors);
  }
  vle_sim_free(s);
  for (int t = 2; t <= 4; t++) {
    s = th_sim(m, errors, learn, acc, t);
    th_run(s, errors);
    double *v = th_all(s, m, &n);
    cr_assert_eq(n, n1);
    size_t i = 0;
    while (i < n && !memcmp(&v[i], &ref[i], sizeof *v)) i++;
    cr_expect_eq(i, n, "%s, errors %s, learn %d: %d threads differ from 1 at value %zu: %.17g vs %.17g",
                 what, errors, learn, t, i, i < n ? v[i] : 0, i < n ? ref[i] : 0);
    if (acc) {
      cr_assert_eq(vle_sim_grad_sum(s, "W1", w1, nw, &err), 0, "%s", err.msg);
      cr_expect(!memcmp(w1, gs, nw * sizeof *w1), "%s %s: gradient sums differ on %d threads", what, errors, t);
    }
    free(v);
    vle_sim_free(s);
  }
  free(ref);
  free(gs);
  free(w0);
  free(w1);
}

static void th_schemes(const char *learn_line, bool f32) {
  ld_model m;
  const char *path = th_write(f32 ? "thr32.vle" : "thr.vle", learn_line);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  int rc = ld_open(&m, path, f32, f);
  fclose(f);
  cr_assert_eq(rc, 0, "%s", text);
  free(text);
  const char *what = f32 ? "f32" : "f64";
  const char *schemes[] = { "prospective", "instantaneous", "adjoint", "bptt" };
  for (int k = 0; k < 4; k++) {
    th_same(m.model, what, schemes[k], true, false);
    th_same(m.model, what, schemes[k], false, false);
  }
  th_same(m.model, what, "prospective", false, true);
  ld_close(&m);
}

Test(threads, same_bits_f64_sgd, .timeout = 60) { th_schemes(TH_SGD, false); }
Test(threads, same_bits_f32_sgd, .timeout = 60) { th_schemes(TH_SGD, true); }
Test(threads, same_bits_adam, .timeout = 60) {
  th_schemes(TH_ADAM, false);
  th_schemes(TH_ADAM, true);
}

/* `vlec run --threads`: run.json says what ran and why; the outputs equal one thread's;
 * a bad count is a usage error. */
Test(threads, cli_option_and_run_json, .timeout = 60) {
  ld_model m;
  ru_open(&m, th_write("cli.vle", TH_SGD));
  const char *outs[2] = { "c1", "c2" }, *counts[2] = { "1", "3" };
  for (int i = 0; i < 2; i++)
    cr_assert_eq(ru_vlec(&m, false, "--steps", "30", "--batch", "5", "--threads", counts[i],
                         "--out", ru_at(outs[i]), "-q", NULL), 0, "%s", ru_log);
  size_t n1, n2;
  unsigned char *a = th_slurp("c1/params/W2.npy", &n1), *b = th_slurp("c2/params/W2.npy", &n2);
  cr_expect(n1 == n2 && !memcmp(a, b, n1), "W2 after 3 threads differs from 1 thread");
  free(a);
  free(b);
  size_t nj;
  char *json = (char *)th_slurp("c2/run.json", &nj);
  cr_expect(strstr(json, "\"threads\": 3,"), "run.json lacks resolved threads 3:\n%s", json);
  cr_expect(strstr(json, "\"threads_why\": \"3 as asked\""), "run.json lacks why:\n%s", json);
  free(json);
  cr_expect_eq(ru_vlec(&m, false, "--steps", "3", "--threads", "0", "--out", ru_at("c3"), "-q",
                       NULL), 2);
  cr_expect(strstr(ru_log, "--threads 0: expected auto or an integer"), "%s", ru_log);
  cr_expect_eq(ru_vlec(&m, false, "--steps", "3", "--threads", "auto", "--out", ru_at("c4"), "-q",
                       NULL), 0, "%s", ru_log);
  ld_close(&m);
}

/* The per-step NaN check, shared out over the team when the state is large: a NaN in the
 * last batch element (the last thread's share) is found, named, and rolled back. */
Test(threads, nan_check_in_every_share, .timeout = 30) {
  ld_model m;
  ru_open(&m, th_write("nan.vle", TH_SGD));
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 64;             /* ~700 KB of checked state: the scan goes to the team */
  o.threads = 2;
  o.learn = false;          /* a snapshot at every check: the rollback goes one step back */
  vle_error err;
  vle_sim *s = vle_sim_new(m.model, &o, &err);
  cr_assert(s, "%s", err.msg);
  cr_assert_eq(vle_sim_step(s, 3, &err), 0, "%s", err.msg);
  size_t n = vle_sim_count(s, "h2");
  double *v = malloc(n * sizeof *v);
  cr_assert_eq(vle_sim_get(s, "h2", v, n, &err), 0, "%s", err.msg);
  v[n - 1] = NAN;
  cr_assert_eq(vle_sim_set(s, "h2", v, n, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_step(s, 1, &err), -1, "a NaN went unnoticed");
  cr_expect(strstr(err.msg, "batch element 63"), "%s", err.msg);
  cr_expect_eq(vle_sim_steps_done(s), 3, "rolled back to the last good state");
  free(v);
  vle_sim_free(s);
  ld_close(&m);
}
