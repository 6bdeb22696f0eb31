/*
 * test_fa.c - feedback alignment (docs/theory.md §10, `feedback W = B`): the recorded hidden
 * error is φ′ ⊙ B e computed here from the recorded B, e and rates; B = Wᵀ fixed reproduces
 * weight transport (forward errors, and the adjoint's gradient from `vlec grad`); Kolen–Pollack
 * shrinks W − Bᵀ by exactly (1 − ηλ) per SGD step (through `vlec run` and the C API); derive
 * prints the replaced back-projection and refuses a feedback matrix the energy reads.
 * (The checker's refusals are in tests/bad/fb_*.vle, run by test_check.)
 */
#include "run_util.h"

TestSuite(fa, .init = ru_setup, .fini = ru_teardown);

/* tests/data/fa_gle.vle is examples/gle_small with B2 [h1, h2], the feedback matrix of W2
 * (h2 ← h1), declared and bound by the line that replaces FEEDBACK. */
static char *fa_text(const char *feedback, const char *learn) {
  FILE *f = fopen(ru_src("tests/data/fa_gle.vle"), "r");
  cr_assert(f);
  static char text[8192], out[8192];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  char *at = strstr(text, "#FEEDBACK\n"), *lat = strstr(text, "#LEARN\n");
  cr_assert(at && lat && at < lat);
  snprintf(out, sizeof out, "%.*s%s\n%.*s%s\n%s", (int)(at - text), text, feedback,
           (int)(lat - at - 10), at + 10, learn, lat + 7);
  return out;
}

static const char *fa_model(const char *rel, const char *feedback, const char *learn) {
  return ru_write(rel, fa_text(feedback, learn));
}

#define FA_LEARN "learn W1, b1, W2, b2, W3, b3 with sgd(0.1)"

/* e_h1(k) = φ′(ŭ_h1) ⊙ B2 e_h2 with the values published at step k − 1 (the sync step reads
 * every back-projection one step late, docs/theory.md §6); φ = tanh: φ′ = 1 − r². */
static double fa_hidden_error_gap(const char *dir, const char *hidden, int steps) {
  char p[4][128];
  snprintf(p[0], sizeof p[0], "%s/%s.npy", dir, hidden);
  snprintf(p[1], sizeof p[1], "%s/h1.rate.npy", dir);
  snprintf(p[2], sizeof p[2], "%s/h2.error.npy", dir);
  snprintf(p[3], sizeof p[3], "%s/params/B2.npy", dir);
  npy_array e1 = ru_npy(p[0]), r1 = ru_npy(p[1]), e2 = ru_npy(p[2]), B = ru_npy(p[3]);
  cr_assert_eq(e1.count, (size_t)steps * 3);
  cr_assert_eq(B.count, 9u);
  const double *E1 = ru_data(&e1), *R1 = ru_data(&r1), *E2 = ru_data(&e2), *b = ru_data(&B);
  double gap = 0, size = 0;
  for (int k = 1; k < steps; k++)
    for (int i = 0; i < 3; i++) {
      double be = 0;
      for (int j = 0; j < 3; j++) be += b[i * 3 + j] * E2[(k - 1) * 3 + j];
      double want = (1 - R1[(k - 1) * 3 + i] * R1[(k - 1) * 3 + i]) * be;
      gap = fmax(gap, fabs(want - E1[k * 3 + i]));
      size = fmax(size, fabs(want));
    }
  cr_assert_gt(size, 1e-3, "the hidden error is too small for the comparison to mean much");
  npy_free(&e1); npy_free(&r1); npy_free(&e2); npy_free(&B);
  return gap;
}

Test(fa, hidden_error_is_phi_prime_times_B_e) {
  ld_model m;
  ru_open(&m, fa_model("fixed.vle", "feedback W2 = B2", FA_LEARN));
  /* instantaneous: e = g; prospective: the g buffer feeds the low-pass */
  cr_assert_eq(ru_vlec(&m, false, "--errors", "instantaneous", "--steps", "300", "--seed", "4",
                       "--record", "h1.error,h1.rate,h2.error,B2", "--out", ru_at("inst"), "-q",
                       NULL), 0, "%s", ru_log);
  double gap = fa_hidden_error_gap("inst", "h1.error", 300);
  cr_expect(gap < 1e-14, "instantaneous: e_h1 differs from (1 - r^2) B2 e_h2 by %g", gap);
  cr_assert_eq(ru_vlec(&m, false, "--errors", "prospective", "--steps", "300", "--seed", "4",
                       "--record", "h1.g,h1.rate,h2.error,B2", "--out", ru_at("pros"), "-q",
                       NULL), 0, "%s", ru_log);
  gap = fa_hidden_error_gap("pros", "h1.g", 300);
  cr_expect(gap < 1e-14, "prospective: g_h1 differs from (1 - r^2) B2 e_h2 by %g", gap);
  ld_close(&m);
}

/* Writes the transpose of the rows x cols matrix in src (an .npy of the run dir) to dst. */
static void fa_write_transpose(const char *src, const char *dst) {
  npy_array a = ru_npy(src);
  cr_assert_eq(a.ndim, 2);
  int64_t r = a.shape[0], c = a.shape[1], shape[2] = { c, r };
  double *t = malloc((size_t)(r * c) * sizeof *t);
  for (int64_t i = 0; i < r; i++)
    for (int64_t j = 0; j < c; j++) t[j * r + i] = ru_data(&a)[i * c + j];
  vle_error err;
  cr_assert_eq(npy_write(ru_at(dst), NPY_F8, 2, shape, t, &err), 0, "%s", err.msg);
  free(t);
  npy_free(&a);
}

static double fa_npy_maxdiff(const char *a, const char *b) {
  npy_array x = ru_npy(a), y = ru_npy(b);
  cr_assert_eq(x.count, y.count);
  double d = ru_maxdiff(ru_data(&x), ru_data(&y), x.count);
  npy_free(&x);
  npy_free(&y);
  return d;
}

#define FA_INIT(dir) "--init", "W1=" dir "/W1.npy", "--init", "W2=" dir "/W2.npy", \
  "--init", "W3=" dir "/W3.npy", "--init", "b1=" dir "/b1.npy", "--init", "b2=" dir "/b2.npy", \
  "--init", "b3=" dir "/b3.npy"

/* With B2 = W2ᵀ and nothing learned, B2 e is W2ᵀ e: the run is weight transport's. */
Test(fa, B_equal_W_transpose_is_weight_transport) {
  ld_model wt, fa;
  ru_open(&wt, fa_model("wt.vle", "", FA_LEARN));
  ru_open(&fa, fa_model("fa.vle", "feedback W2 = B2", FA_LEARN));
  cr_assert_eq(ru_vlec(&wt, false, "--steps", "0", "--seed", "9", "--out", ru_at("init"), "-q",
                       NULL), 0, "%s", ru_log);
  fa_write_transpose("init/params/W2.npy", "B2T.npy");
  char dir[128], b2[160];
  snprintf(dir, sizeof dir, "%s/init/params", ru_dir);
  snprintf(b2, sizeof b2, "B2=%s/B2T.npy", ru_dir);
  char ini[6][200];
  const char *names[6] = { "W1", "W2", "W3", "b1", "b2", "b3" };
  for (int i = 0; i < 6; i++) snprintf(ini[i], sizeof ini[i], "%s=%s/%s.npy", names[i], dir, names[i]);
#define INITS "--init", ini[0], "--init", ini[1], "--init", ini[2], "--init", ini[3], \
              "--init", ini[4], "--init", ini[5]
  const char *rec = "h1.error,h2.error,o.rate,loss";
  cr_assert_eq(ru_vlec(&wt, false, "--no-learn", "--steps", "2000", INITS, "--record", rec,
                       "--out", ru_at("wt"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&fa, false, "--no-learn", "--steps", "2000", INITS, "--init", b2,
                       "--record", rec, "--out", ru_at("fa"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&fa, false, "--no-learn", "--steps", "2000", INITS, "--record", rec,
                       "--out", ru_at("rand"), "-q", NULL), 0, "%s", ru_log);
#undef INITS
  static const char *files[] = { "h1.error.npy", "h2.error.npy", "o.rate.npy", "loss.npy" };
  for (int f = 0; f < 4; f++) {
    char a[64], b[64], c[64];
    snprintf(a, sizeof a, "wt/%s", files[f]);
    snprintf(b, sizeof b, "fa/%s", files[f]);
    snprintf(c, sizeof c, "rand/%s", files[f]);
    double d = fa_npy_maxdiff(a, b);
    cr_expect(d < 1e-13, "%s: B2 = W2' differs from weight transport by %g", files[f], d);
    if (f == 0)   /* a random B2 does change h1's error: the comparison is not trivial */
      cr_expect_gt(fa_npy_maxdiff(a, c), 1e-4, "a random B2 gives weight transport's errors");
  }
  ld_close(&wt);
  ld_close(&fa);
}

/* ‖W2 − B2ᵀ‖ (Frobenius) from W2 [3,3] and B2 [3,3] snapshots k. */
static double fa_misalignment(const double *W, const double *B) {
  double s = 0;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) s += (W[i * 3 + j] - B[j * 3 + i]) * (W[i * 3 + j] - B[j * 3 + i]);
  return sqrt(s);
}

/* theory.md §10 under SGD with rate η and decay λ: W ← W − η(G + λW), B ← B − η(Gᵀ + λB),
 * so W − Bᵀ ← (1 − ηλ)(W − Bᵀ) whatever G is: over 400 steps the factor 0.995^400. */
Test(fa, kolen_pollack_shrinks_misalignment_geometrically) {
  ld_model m;
  ru_open(&m, fa_model("kp.vle", "feedback W2 = B2 with kolen_pollack(0.05)",
                       "learn W1, b1, W2, B2, b2, W3, b3 with sgd(0.1)"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "0", "--seed", "2", "--out", ru_at("k0"), "-q",
                       NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, false, "--steps", "2000", "--seed", "2", "--record", "W2,B2,loss",
                       "--record-every", "400", "--out", ru_at("kp"), "-q", NULL), 0, "%s",
               ru_log);
  npy_array w0 = ru_npy("k0/params/W2.npy"), b0 = ru_npy("k0/params/B2.npy");
  npy_array W = ru_npy("kp/W2.npy"), B = ru_npy("kp/B2.npy");
  cr_assert_eq(W.count, 5 * 9u);
  double d = fa_misalignment(ru_data(&w0), ru_data(&b0)), factor = pow(1 - 0.1 * 0.05, 400);
  cr_assert_gt(d, 0.5, "B2 starts aligned: nothing to test");
  double d0 = d;
  for (int k = 0; k < 5; k++) {
    double next = fa_misalignment(ru_data(&W) + 9 * k, ru_data(&B) + 9 * k);
    cr_expect(fabs(next / d - factor) < 1e-9 * factor + 1e-12 / d,
              "snapshot %d: |W2 - B2'| went from %g to %g, ratio %.12g, want %.12g", k, d,
              next, next / d, factor);
    d = next;
  }
  cr_expect(d / d0 < 1e-4, "after 2000 steps |W2 - B2'| is %g of its start", d / d0);
  /* and W2 did learn: it is not only decaying */
  npy_array wend = ru_npy("kp/params/W2.npy");
  double moved = 0, decayed = 0;
  for (int i = 0; i < 9; i++) {
    moved = fmax(moved, fabs(ru_data(&wend)[i] - ru_data(&w0)[i] * pow(1 - 0.005, 2000)));
    decayed = fmax(decayed, fabs(ru_data(&w0)[i]));
  }
  cr_expect_gt(moved, 1e-3, "W2 only decayed");
  npy_free(&w0); npy_free(&b0); npy_free(&W); npy_free(&B); npy_free(&wend);
  (void)decayed;
  ld_close(&m);
}

/* `vlec derive` (text and JSON) shows the replaced back-projection; a feedback matrix that
 * the energy reads, or one for a weight that nothing back-projects, is refused. */
Test(fa, derive_prints_and_refuses) {
  const char *fixed = fa_model("fixed.vle", "feedback W2 = B2", FA_LEARN);
  char cmd[1024], out[1 << 16];
  snprintf(cmd, sizeof cmd, "'%s' derive '%s' 2>&1", VLEC_PATH, fixed);
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  cr_expect(strstr(out, "error          g = (1 \u2212 r_h1\u00b2) \u2299 B2 e_h2\n"), "%s", out);
  cr_expect(strstr(out, "W2\u1d40 e \u2192 B2 e   fixed"), "%s", out);
  snprintf(cmd, sizeof cmd, "'%s' derive --format json '%s' 2>&1", VLEC_PATH, fixed);
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  cr_expect(strstr(out, "\"weight\": \"W2\",\n      \"matrix\": \"B2\",\n      \"rule\": \"fixed\""),
            "%s", out);
  cr_expect(strstr(out, "\"plain\": \"(1 - r_h1^2) * (B2 @ e_h2)\"") != NULL ||
            strstr(out, "B2 @ e_h2") != NULL, "%s", out);
  const char *kp = fa_model("kp.vle", "feedback W2 = B2 with kolen_pollack(0.05)",
                            "learn W1, b1, W2, B2, b2, W3, b3 with sgd(0.1)");
  snprintf(cmd, sizeof cmd, "'%s' derive '%s' 2>&1", VLEC_PATH, kp);
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  cr_expect(strstr(out, "= \u03b7 (r_h1 e_h2\u1d40 \u2212 0.05 B2)   (Kolen-Pollack: the "
                        "transpose of W2's update, decay 0.05)"), "%s", out);
  cr_expect(strstr(out, "= \u03b7 (e_h2 r_h1\u1d40 \u2212 0.05 W2)   (with the Kolen-Pollack "
                        "decay 0.05)"), "%s", out);
  /* B2 in the energy */
  char *text = fa_text("feedback W2 = B2", FA_LEARN), *cost = strstr(text, "+ beta * C");
  cr_assert(cost);
  char buf[8192];
  snprintf(buf, sizeof buf, "%.*s+ 0.005 * |B2|^2 %s", (int)(cost - text), text, cost);
  const char *bad = ru_write("bad.vle", buf);
  snprintf(cmd, sizeof cmd, "'%s' check '%s' 2>&1", VLEC_PATH, bad);
  cr_expect_neq(tu_sh(cmd, out, sizeof out), 0);
  cr_expect(strstr(out, "error: B2 is the feedback matrix of W2, but the energy reads it"), "%s",
            out);
  /* a weight the energy never reads sends no error back */
  const char *unused = fa_model("unused.vle", "weight Wx[h2, h1]\nweight Bx[h1, h2]\n"
                                "feedback Wx = Bx", FA_LEARN);
  snprintf(cmd, sizeof cmd, "'%s' check '%s' 2>&1", VLEC_PATH, unused);
  cr_expect_neq(tu_sh(cmd, out, sizeof out), 0);
  cr_expect(strstr(out, ":23:10: error: Wx is never back-projected: no error is sent back through "
                        "it as Wx' e, so feedback matrix Bx would not be used"), "%s", out);
}

/* The adjoint (4a) with feedback: with B2 = W2ᵀ it is the exact adjoint, so `vlec grad` gives
 * weight transport's gradient; with a random B2 it is the adjoint of the modified system, an
 * estimate that differs (docs/theory.md §10a). W1's gradient is the one B2 reaches. */
Test(fa, adjoint_with_B_equal_W_transpose_is_the_gradient) {
  ld_model wt, fa;
  ru_open(&wt, fa_model("wt.vle", "", FA_LEARN));
  ru_open(&fa, fa_model("fa.vle", "feedback W2 = B2", FA_LEARN));
  cr_assert_eq(ru_vlec(&wt, false, "--steps", "0", "--seed", "5", "--out", ru_at("init"), "-q",
                       NULL), 0, "%s", ru_log);
  fa_write_transpose("init/params/W2.npy", "B2T.npy");
  char ini[7][200];
  const char *names[6] = { "W1", "W2", "W3", "b1", "b2", "b3" };
  for (int i = 0; i < 6; i++)
    snprintf(ini[i], sizeof ini[i], "%s=%s/init/params/%s.npy", names[i], ru_dir, names[i]);
  snprintf(ini[6], sizeof ini[6], "B2=%s/B2T.npy", ru_dir);
#define INITS "--init", ini[0], "--init", ini[1], "--init", ini[2], "--init", ini[3], \
              "--init", ini[4], "--init", ini[5]
  cr_assert_eq(ru_vlec(&wt, true, "--steps", "400", INITS, "--out", ru_at("gwt"), "-q", NULL),
               0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&fa, true, "--steps", "400", INITS, "--init", ini[6], "--out",
                       ru_at("gfa"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&fa, true, "--steps", "400", INITS, "--out", ru_at("grand"), "-q", NULL),
               0, "%s", ru_log);
#undef INITS
  npy_array a = ru_npy("gwt/grad/W1.npy"), b = ru_npy("gfa/grad/W1.npy"), c = ru_npy("grand/grad/W1.npy");
  double scale = 0;
  for (size_t i = 0; i < a.count; i++) scale = fmax(scale, fabs(ru_data(&a)[i]));
  cr_assert_gt(scale, 1e-6);
  double same = ru_maxdiff(ru_data(&a), ru_data(&b), a.count);
  double other = ru_maxdiff(ru_data(&a), ru_data(&c), a.count);
  cr_expect(same < 1e-12 * scale + 1e-15, "grad W1 with B2 = W2' differs by %g (scale %g)", same,
            scale);
  cr_expect(other > 1e-3 * scale, "a random B2 gives the same gradient estimate (%g)", other);
  npy_free(&a); npy_free(&b); npy_free(&c);
  ld_close(&wt);
  ld_close(&fa);
}

/* B is a parameter of the C API like any weight: set it, step with Kolen–Pollack learning,
 * and read W2 and B2 back; their misalignment shrank by (1 − ηλ)^steps. */
Test(fa, c_api_sets_and_reads_B) {
  ld_model m;
  ru_open(&m, fa_model("kp.vle", "feedback W2 = B2 with kolen_pollack(0.05)",
                       "learn W1, b1, W2, B2, b2, W3, b3 with sgd(0.1)"));
  vle_sim *s = ru_sim(m.model, NULL, true, 8);
  vle_error err;
  cr_assert_eq(vle_sim_count(s, "B2"), 9u);
  double W[9], B[9], B0[9] = { 1, -2, 3, 0.5, 0, -1, 2, 2, -0.5 };
  cr_assert_eq(vle_sim_set(s, "B2", B0, 9, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_get(s, "W2", W, 9, &err), 0, "%s", err.msg);
  double d0 = fa_misalignment(W, B0);
  cr_assert_eq(vle_sim_step(s, 300, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_get(s, "W2", W, 9, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_get(s, "B2", B, 9, &err), 0, "%s", err.msg);
  double ratio = fa_misalignment(W, B) / d0, want = pow(1 - 0.1 * 0.05, 300);
  cr_expect(fabs(ratio - want) < 1e-9, "ratio %.12g, want %.12g", ratio, want);
  vle_sim_free(s);
  ld_close(&m);
}
