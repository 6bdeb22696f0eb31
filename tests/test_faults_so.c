/*
 * test_faults_so.c - corrupt built models (issue 15, defect 2). Single-byte flips across a
 * built .so: every one is refused before dlopen with exit 1 (before: crashes inside dlopen or
 * a kernel, or exit 0 with other numbers). The descriptor schema is strict: an unknown key
 * ("gamma" flipped to "jamma") or a missing one is an error, not a silent default.
 */
#include "faults_util.h"

TestSuite(so, .init = ru_setup, .fini = ru_teardown);

static char out[16384];

/* Loads a .so and steps it: 0 when it ran, 1 when refused (in a forked child, so that a
 * crash is a signal death the parent sees, not the end of the test). */
static int load_and_step(const void *path) {
  vle_error err;
  vle_model *m = vle_model_load_so(path, &err);
  if (!m) return 1;
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_sim *s = vle_sim_new(m, &o, &err);
  int rc = s && !vle_sim_step(s, 3, &err) ? 0 : 2;
  vle_sim_free(s);
  vle_model_free(m);
  return rc;
}

/* Flips of one bit at offsets spread over the file, the seal included: every one refused
 * before dlopen (before: crashes inside dlopen or a kernel, or a silently other model). */
Test(so, byte_flips_are_refused, .timeout = 120) {
  size_t n;
  unsigned char *p = fu_slurp(fu_so(), &n);
  enum { FLIPS = 160 };
  int ran = 0;
  for (int i = 0; i < FLIPS; i++) {
    size_t at = i == FLIPS - 1 ? n - 1 : (size_t)i * (n / (FLIPS - 1)) + 7 * (size_t)i % 97;
    p[at] ^= 0x10;
    fu_spit(ru_at("flip.so"), p, n);
    p[at] ^= 0x10;
    int rc = fu_fork(load_and_step, ru_at("flip.so"));
    cr_expect(rc == 1, "flip at byte %zu of %zu: %s %d", at, n, rc >= 1000 ? "signal" : "exit",
              rc >= 1000 ? rc - 1000 : rc);
    ran += rc == 0;
  }
  cr_expect_eq(ran, 0, "%d of %d flipped files ran", ran, FLIPS);
  free(p);
}

/* The same through vlec, a few offsets: exit 1 with a message, no output directory. */
Test(so, vlec_refuses_flipped_files) {
  size_t n;
  unsigned char *p = fu_slurp(fu_so(), &n);
  size_t offsets[] = { 1, n / 3, n / 2, n - 30 };
  for (size_t i = 0; i < sizeof offsets / sizeof *offsets; i++) {
    p[offsets[i]] ^= 0x10;
    fu_spit(ru_at("flip.so"), p, n);
    p[offsets[i]] ^= 0x10;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "timeout 60 '%s' run '%s' --steps 3 --out '%s' -q 2>&1",
             VLEC_PATH, ru_at("flip.so"), ru_at("out"));
    int rc = fu_sh(cmd, out, sizeof out);
    cr_expect_eq(rc, 1, "flip at byte %zu of %zu: exit %d: %s", offsets[i], n, rc, out);
    cr_expect(strstr(out, "error: "), "flip at byte %zu: no message: %s", offsets[i], out);
    cr_expect_eq(access(ru_at("out"), F_OK), -1, "flip at byte %zu: outputs written", offsets[i]);
  }
  free(p);
}

/* The intact file runs (the baseline of the flips). */
Test(so, intact_runs) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --steps 3 --out '%s' -q 2>&1", VLEC_PATH, fu_so(),
           ru_at("out"));
  cr_assert_eq(fu_sh(cmd, out, sizeof out), 0, "%s", out);
}

/* A sealed file cut short, or with bytes appended, is refused. */
Test(so, truncated_or_extended) {
  size_t n;
  unsigned char *p = fu_slurp(fu_so(), &n);
  fu_spit(ru_at("cut.so"), p, n - 1);
  vle_error err;
  cr_assert_null(vle_model_load_so(ru_at("cut.so"), &err));
  cr_assert(strstr(err.msg, "seal"), "%s", err.msg);
  unsigned char *q = malloc(n + 5);
  memcpy(q, p, n);
  memcpy(q + n, "extra", 5);
  fu_spit(ru_at("long.so"), q, n + 5);
  cr_assert_null(vle_model_load_so(ru_at("long.so"), &err));
  cr_assert(strstr(err.msg, "seal"), "%s", err.msg);
  free(p);
  free(q);
}

/* ---- the descriptor's schema ------------------------------------------------------------ */

static void dummy_kernel(const void *ctx, void *const *bufs, int64_t batch) {
  (void)ctx; (void)bufs; (void)batch;
}
static void *resolve_any(void *user, const char *sym) {
  (void)user; (void)sym;
  void (*f)(const void *, void *const *, int64_t) = dummy_kernel;
  void *v;
  memcpy(&v, &f, sizeof v);   /* POSIX: function and object pointers convert */
  return v;
}

/* The descriptor text of the built model, with `from` replaced by `to` once. */
static char *edited_meta(const char *from, const char *to) {
  size_t n;
  unsigned char *p = fu_slurp(fu_so(), &n);
  const char *start = NULL;
  for (size_t i = 0; !start && i + 6 < n; i++)
    if (!memcmp(p + i, "{\"abi\"", 6)) start = (const char *)p + i;
  cr_assert(start, "no descriptor in the .so");
  const char *at = strstr(start, from);
  cr_assert(at, "'%s' not in the descriptor", from);
  size_t len = strlen(start), na = strlen(to), nf = strlen(from);
  char *meta = malloc(len + na + 1);
  memcpy(meta, start, (size_t)(at - start));
  memcpy(meta + (at - start), to, na);
  strcpy(meta + (at - start) + na, at + nf);
  free(p);
  return meta;
}

static void expect_schema_error(const char *from, const char *to, const char *want) {
  char *meta = edited_meta(from, to);
  vle_error err;
  vle_model *m = vle_model_from_symbols(meta, 1, resolve_any, NULL, &err);
  free(meta);
  if (m) vle_model_free(m);
  cr_assert_null(m, "'%s' -> '%s' accepted", from, to);
  cr_assert(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
}

Test(so, descriptor_as_built_is_valid) {
  char *meta = edited_meta("\"abi\"", "\"abi\"");
  vle_error err;
  vle_model *m = vle_model_from_symbols(meta, 1, resolve_any, NULL, &err);
  free(meta);
  cr_assert(m, "%s", err.msg);
  vle_model_free(m);
}

Test(so, unknown_signal_key) {
  expect_schema_error("\"gamma\":2", "\"jamma\":2", "signals: unknown key 'jamma'");
}
Test(so, unknown_top_level_key) {
  expect_schema_error("\"precision\"", "\"extra\":1,\"precision\"", "descriptor: unknown key 'extra'");
}
Test(so, missing_buffer_key) {
  expect_schema_error("\"batched\":false,", "", "buffers[0]: missing key 'batched'");
}
Test(so, unknown_param_key) {
  expect_schema_error("\"kind\":\"weight\"", "\"kind\":\"weight\",\"lr\":1", "params[0]: unknown key 'lr'");
}
