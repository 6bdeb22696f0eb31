/*
 * test_golden.c - the reference case gle_p1 (tests/data/gle_p1: a 3-4-2 GLE network,
 * prospective errors, SGD on W1 b1 W2 b2, expected values from an independent
 * implementation) reproduced within its tolerance (1e-10) along every path a model can take:
 *
 *   jit   model.vle -> ld_open (parse, derive, lower, JIT) -> vle_sim, in this process;
 *   so    `vlec build` (a subprocess) -> model.so -> vle_model_load_so;
 *   client  the same .so run by tests/c_api/so_client, a program linked only against
 *         libvlert: its printed values must equal the JIT's bit for bit.
 *
 * The two examples of docs/c-api.md (C and Python ctypes) are extracted from the document,
 * built and run on the same .so: they must print the JIT's numbers.
 *
 * And a .so that is not what the runtime expects is refused with a message that says why:
 * an ABI version other than 1 (a real build with the exported vle_<model>_abi patched to 2)
 * and a truncated file.
 *
 * expected.json: output[k] is the rate of o published at the end of step k-1 (what the
 * model outputs during step k; zeros at k = 0), o_rate[k] the rate of o computed in step k,
 * loss[k] = 0.5 |y(t_k) - output[k]|^2, and W1 b1 W2 b2 the parameters after 100 steps.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "npy.h"
#include "seal.h"
#include "loader.h"
#include "vle.h"

#define REF_DIR VLE_SOURCE_DIR "/tests/data/gle_p1"
#ifndef SO_CLIENT_PATH
#define SO_CLIENT_PATH VLE_BUILD_DIR "/so_client"
#endif

/* ---- the reference ----------------------------------------------------------------------- */

typedef struct gold {
  json_t *root;
  int steps;
  double tol;
} gold;

static gold gold_load(void) {
  json_error_t je;
  gold g = { json_load_file(REF_DIR "/expected.json", 0, &je), 0, 0 };
  cr_assert(g.root, "%s/expected.json: %s (line %d)", REF_DIR, je.text, je.line);
  g.steps = (int)json_integer_value(json_object_get(g.root, "steps"));
  g.tol = json_real_value(json_object_get(g.root, "tolerance"));
  cr_assert(g.steps == 100 && g.tol > 0 && g.tol <= 1e-10, "steps %d, tolerance %g", g.steps,
            g.tol);
  return g;
}

/* Element i of the (flattened, row-major) array `key`, or row `k` of it with `k >= 0`. */
static double gold_at(const gold *g, const char *key, int k, int i) {
  json_t *a = json_object_get(g->root, key);
  cr_assert(json_is_array(a), "expected.json has no array %s", key);
  if (k >= 0) {
    a = json_array_get(a, (size_t)k);
    if (json_is_number(a) && i == 0) return json_number_value(a);   /* loss[k]: a scalar */
  }
  json_t *row0 = json_array_get(a, 0);
  if (json_is_array(row0)) {   /* a matrix: [[...], [...]] */
    size_t cols = json_array_size(row0);
    a = json_array_get(a, (size_t)i / cols);
    i = (int)((size_t)i % cols);
  }
  json_t *v = json_array_get(a, (size_t)i);
  cr_assert(json_is_number(v), "expected.json: %s[%d][%d] is not a number", key, k, i);
  return json_number_value(v);
}

/* Number of reals in expected.json's `key` (a vector or a matrix). */
static size_t gold_count(const gold *g, const char *key) {
  json_t *a = json_object_get(g->root, key);
  json_t *row0 = json_array_get(a, 0);
  return json_is_array(row0) ? json_array_size(a) * json_array_size(row0) : json_array_size(a);
}

static void expect_close(double got, double want, double tol, const char *what, int k, int i) {
  cr_expect(fabs(got - want) <= tol, "%s (step %d, element %d): got %.17g, expected %.17g "
            "(difference %.3g > %g)", what, k, i, got, want, fabs(got - want), tol);
}

/* ---- running a model against the reference ----------------------------------------------- */

/* What a run produced: o.rate and loss after every step, the final parameters. */
typedef struct trace {
  double rate[100][2], loss[100];
  double W1[12], b1[4], W2[8], b2[2];
} trace;

static void get(vle_sim *s, const char *name, double *out, size_t n) {
  vle_error err;
  cr_assert_eq(vle_sim_count(s, name), n, "%s: %zu values, expected %zu", name,
               vle_sim_count(s, name), n);
  cr_assert_eq(vle_sim_get(s, name, out, n, &err), 0, "%s", err.msg);
}

static void run_trace(const vle_model *m, trace *t) {
  vle_error err;
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.seed = 1;   /* the parameters come from files: the seed must not matter */
  vle_sim *s = vle_sim_new(m, &o, &err);
  cr_assert(s, "%s", err.msg);
  cr_assert_eq(vle_sim_batch(s), 1);
  for (int k = 0; k < 100; k++) {
    cr_assert_eq(vle_sim_step(s, 1, &err), 0, "step %d: %s", k, err.msg);
    get(s, "o.rate", t->rate[k], 2);
    get(s, "loss", &t->loss[k], 1);
  }
  get(s, "W1", t->W1, 12);
  get(s, "b1", t->b1, 4);
  get(s, "W2", t->W2, 8);
  get(s, "b2", t->b2, 2);
  vle_sim_free(s);
}

static void expect_param(const gold *g, const char *name, const double *got, size_t n) {
  cr_assert_eq(gold_count(g, name), n, "%s: expected.json has %zu values, the model %zu", name,
               gold_count(g, name), n);
  for (size_t i = 0; i < n; i++) expect_close(got[i], gold_at(g, name, -1, (int)i), g->tol, name,
                                              100, (int)i);
}

static void expect_gold(const trace *t) {
  gold g = gold_load();
  for (int k = 0; k < g.steps; k++) {
    for (int i = 0; i < 2; i++) {
      expect_close(t->rate[k][i], gold_at(&g, "o_rate", k, i), g.tol, "o_rate", k, i);
      /* the output during step k is what o published at the end of step k-1 */
      double out = k == 0 ? 0.0 : t->rate[k - 1][i];
      expect_close(out, gold_at(&g, "output", k, i), g.tol, "output", k, i);
    }
    expect_close(t->loss[k], gold_at(&g, "loss", k, 0), g.tol, "loss", k, 0);
  }
  expect_param(&g, "W1", t->W1, 12);
  expect_param(&g, "b1", t->b1, 4);
  expect_param(&g, "W2", t->W2, 8);
  expect_param(&g, "b2", t->b2, 2);
  json_decref(g.root);
}

/* ---- helpers: temp dir, subprocesses, the built .so -------------------------------------- */

static char tmp[64];

static void setup(void) {
  snprintf(tmp, sizeof tmp, "/tmp/vle_golden_XXXXXX");
  cr_assert(mkdtemp(tmp), "mkdtemp failed");
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd)) {}
}

TestSuite(golden, .init = setup, .fini = teardown);

static const char *at(const char *rel) {
  static char bufs[8][256];
  static int i;
  char *p = bufs[i++ % 8];
  snprintf(p, 256, "%s/%s", tmp, rel);
  return p;
}

/* Runs a shell command with stdout+stderr captured into out; returns the exit status. */
static int sh(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char *out, size_t cap, const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  FILE *p = popen(cmd, "r");
  cr_assert(p, "popen %s", cmd);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `vlec build` of the reference model into the temp dir; returns the .so's path. */
static const char *build_so(void) {
  static char out[8192];
  const char *so = at("case_p1.so");
  int rc = sh(out, sizeof out, "'%s' build '%s/model.vle' -o '%s' 2>&1", VLEC_PATH, REF_DIR, so);
  cr_assert_eq(rc, 0, "vlec build failed (%d):\n%s", rc, out);
  cr_assert_eq(access(so, R_OK), 0, "vlec build wrote no %s", so);
  return so;
}

static void jit_trace(trace *t) {
  ld_model lm;
  char *log = NULL;
  size_t loglen = 0;
  FILE *err = open_memstream(&log, &loglen);
  int rc = ld_open(&lm, REF_DIR "/model.vle", false, err);
  fclose(err);
  cr_assert_eq(rc, 0, "ld_open failed:\n%s", log);
  free(log);
  cr_assert(lm.jit, "a .vle must go through the JIT");
  run_trace(lm.model, t);
  ld_close(&lm);
}

/* ---- the three paths --------------------------------------------------------------------- */

Test(golden, jit_in_process) {
  trace t;
  jit_trace(&t);
  expect_gold(&t);
}

Test(golden, vlec_build_so) {
  const char *so = build_so();
  vle_error err;
  vle_model *m = vle_model_load_so(so, &err);
  cr_assert(m, "%s", err.msg);
  cr_assert_str_eq(vle_model_get_name(m), "case_p1");
  trace t;
  run_trace(m, &t);
  vle_model_free(m);
  expect_gold(&t);
  /* and the .so computes exactly what the JIT computes (the same machine code modulo PIC) */
  trace j;
  jit_trace(&j);
  cr_expect(memcmp(&t, &j, sizeof t) == 0, "the .so and the JIT differ");
}

/* so_client prints every element of SIGNAL after STEPS steps with %.17g. */
static void client_values(const char *so, const char *signal, double *v, size_t n) {
  char out[8192];
  cr_assert_eq(access(SO_CLIENT_PATH, X_OK), 0, "%s is not built", SO_CLIENT_PATH);
  int rc = sh(out, sizeof out, "'%s' '%s' 100 '%s' 2>&1", SO_CLIENT_PATH, so, signal);
  cr_assert_eq(rc, 0, "so_client %s failed (%d):\n%s", signal, rc, out);
  char *p = out;
  for (size_t i = 0; i < n; i++) {
    char *end;
    v[i] = strtod(p, &end);
    cr_assert(end != p, "so_client %s: %zu values, expected %zu:\n%s", signal, i, n, out);
    p = end;
  }
  while (*p == '\n' || *p == ' ') p++;
  cr_assert_eq(*p, 0, "so_client %s printed more than %zu values:\n%s", signal, n, out);
}

static void expect_same_print(const double *client, const double *jit, size_t n,
                              const char *what) {
  for (size_t i = 0; i < n; i++) {
    char a[32], b[32];
    snprintf(a, sizeof a, "%.17g", client[i]);
    snprintf(b, sizeof b, "%.17g", jit[i]);
    cr_expect_str_eq(a, b, "%s[%zu]: so_client printed %s, the JIT gives %s", what, i, a, b);
  }
}

Test(golden, so_client_links_only_libvlert) {
  const char *so = build_so();
  /* the client needs nothing of the compiler: no LLVM library among its dependencies */
  char out[8192];
  cr_assert_eq(sh(out, sizeof out, "ldd '%s' 2>&1", SO_CLIENT_PATH), 0, "ldd: %s", out);
  cr_expect(strstr(out, "libvlert"), "so_client does not link libvlert:\n%s", out);
  cr_expect(!strstr(out, "LLVM") && !strstr(out, "llvm"), "so_client links LLVM:\n%s", out);

  trace j;
  jit_trace(&j);
  double rate[2], loss, W1[12], b1[4], W2[8], b2[2];
  client_values(so, "o.rate", rate, 2);
  client_values(so, "loss", &loss, 1);
  client_values(so, "W1", W1, 12);
  client_values(so, "b1", b1, 4);
  client_values(so, "W2", W2, 8);
  client_values(so, "b2", b2, 2);
  expect_same_print(rate, j.rate[99], 2, "o.rate");
  expect_same_print(&loss, &j.loss[99], 1, "loss");
  expect_same_print(W1, j.W1, 12, "W1");
  expect_same_print(b1, j.b1, 4, "b1");
  expect_same_print(W2, j.W2, 8, "W2");
  expect_same_print(b2, j.b2, 2, "b2");
  /* and so against the reference too */
  gold g = gold_load();
  for (int i = 0; i < 2; i++) expect_close(rate[i], gold_at(&g, "o_rate", 99, i), g.tol,
                                           "so_client o.rate", 99, i);
  expect_close(loss, gold_at(&g, "loss", 99, 0), g.tol, "so_client loss", 99, 0);
  expect_param(&g, "W1", W1, 12);
  expect_param(&g, "b2", b2, 2);
  json_decref(g.root);
}

/* ---- malformed .so files ----------------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len);
  cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert(f, "cannot write %s", path);
  cr_assert_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

/* File offset of the bytes of dynamic symbol `name` in an ELF64 shared object: its value
 * (a virtual address) mapped through the section that holds it. */
static size_t elf_symbol_offset(const unsigned char *b, size_t n, const char *name) {
  const Elf64_Ehdr *eh = (const void *)b;
  cr_assert(n > sizeof *eh && !memcmp(eh->e_ident, ELFMAG, SELFMAG) &&
            eh->e_ident[EI_CLASS] == ELFCLASS64, "not an ELF64 file");
  const Elf64_Shdr *sh = (const void *)(b + eh->e_shoff);
  for (int i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type != SHT_DYNSYM) continue;
    const Elf64_Sym *sym = (const void *)(b + sh[i].sh_offset);
    const char *str = (const char *)b + sh[sh[i].sh_link].sh_offset;
    for (size_t j = 0; j < sh[i].sh_size / sizeof *sym; j++) {
      if (strcmp(str + sym[j].st_name, name)) continue;
      const Elf64_Shdr *sec = &sh[sym[j].st_shndx];
      return sec->sh_offset + (sym[j].st_value - sec->sh_addr);
    }
  }
  cr_assert_fail("no dynamic symbol %s", name);
  return 0;
}

Test(golden, wrong_abi_is_rejected) {
  const char *so = build_so();
  size_t n;
  unsigned char *b = slurp(so, &n);
  size_t off = elf_symbol_offset(b, n, "vle_case_p1_abi");
  uint32_t abi;
  memcpy(&abi, b + off, 4);
  cr_assert_eq(abi, 1, "the built .so says ABI %u", abi);
  abi = 2;
  memcpy(b + off, &abi, 4);
  const char *bad = at("abi2.so");
  spit(bad, b, n - SEAL_BYTES);      /* sealed anew, as the vlec of ABI 2 would have */
  free(b);

  vle_error err = { { 0 } };
  cr_assert_eq(seal_append(bad, &err), 0, "%s", err.msg);
  cr_assert_null(vle_model_load_so(bad, &err), "an ABI-2 model was accepted");
  char want[512];
  snprintf(want, sizeof want, "%s was built for ABI 2, this runtime supports 1 (rebuild it "
           "with vlec build)", bad);
  cr_expect_str_eq(err.msg, want);
  /* the unpatched file still loads: the patch is the only difference */
  vle_model *m = vle_model_load_so(so, &err);
  cr_assert(m, "%s", err.msg);
  vle_model_free(m);
}

Test(golden, truncated_so_is_rejected) {
  const char *so = build_so();
  size_t n;
  unsigned char *b = slurp(so, &n);
  const char *cut = at("cut.so");
  /* cut at half the file: the section header table (at the end) is gone */
  spit(cut, b, n / 2);
  vle_error err = { { 0 } };
  cr_assert_null(vle_model_load_so(cut, &err), "a truncated .so was accepted");
  cr_expect(strstr(err.msg, cut) && strstr(err.msg, "truncated or corrupt shared object") &&
            strstr(err.msg, "rebuild it with vlec build"), "message: %s", err.msg);
  char size[64];
  snprintf(size, sizeof size, "the file has %zu bytes", n / 2);
  cr_expect(strstr(err.msg, size), "message does not give the size (%s): %s", size, err.msg);
  /* cut inside the ELF header: not even a header */
  spit(cut, b, 10);
  cr_assert_null(vle_model_load_so(cut, &err));
  cr_expect(strstr(err.msg, "not a shared object (no ELF header at byte 0)"), "message: %s",
            err.msg);
  free(b);
}

/* ---- the examples of docs/c-api.md, as written there --------------------------------------- */

/* The fenced block after the marker `<!-- test: TAG -->` of docs/c-api.md, into path. */
static void doc_block(const char *tag, const char *path) {
  size_t n;
  unsigned char *doc = slurp(VLE_SOURCE_DIR "/docs/c-api.md", &n);
  char *s = realloc(doc, n + 1);
  s[n] = 0;
  char marker[64];
  snprintf(marker, sizeof marker, "<!-- test: %s -->", tag);
  char *m = strstr(s, marker);
  cr_assert(m, "docs/c-api.md has no %s", marker);
  char *a = strstr(m, "```");
  cr_assert(a);
  a = strchr(a, '\n') + 1;
  char *b = strstr(a, "\n```");
  cr_assert(b, "unterminated block after %s", marker);
  spit(path, (unsigned char *)a, (size_t)(b - a) + 1);
  free(s);
}

/* The examples print "t = 2  loss = L" and "o.rate[i] = R" with %.17g: the JIT's values. */
static void expect_example_output(const char *out, const trace *j) {
  char want[512];
  snprintf(want, sizeof want, "t = 2  loss = %.17g\no.rate[0] = %.17g\no.rate[1] = %.17g\n",
           j->loss[99], j->rate[99][0], j->rate[99][1]);
  cr_expect_str_eq(out, want);
}

Test(golden, c_api_doc_examples_run) {
#ifdef VLE_SANITIZED
  /* the examples are built with plain cc (or run by Python) against an instrumented
   * libvlert, which the sanitizer runtime refuses to load that way */
  cr_skip_test("not under ASan/UBSan");
#endif
  const char *so = build_so();
  trace j;
  jit_trace(&j);
  char out[8192];
  const char *src = at("run_so.c"), *exe = at("run_so");
  doc_block("c-short", src);
  int rc = sh(out, sizeof out, "cc -std=c17 -Wall -Wextra -Werror -D_DEFAULT_SOURCE '%s' -I'%s/runtime' "
              "-L'%s' -lvlert -Wl,-rpath,'%s' -o '%s' 2>&1", src, VLE_SOURCE_DIR, VLE_BUILD_DIR,
              VLE_BUILD_DIR, exe);
  if (rc == 127) cr_skip_test("no C compiler");
  cr_assert_eq(rc, 0, "the C example of docs/c-api.md does not compile:\n%s", out);
  cr_assert_eq(sh(out, sizeof out, "'%s' '%s' 100 2>&1", exe, so), 0, "%s", out);
  expect_example_output(out, &j);

  if (access("/usr/bin/python3", X_OK) != 0) return;
  const char *py = at("run_so.py");
  doc_block("python", py);
  rc = sh(out, sizeof out, "VLERT='%s/libvlert.so' /usr/bin/python3 '%s' '%s' 100 2>&1",
          VLE_BUILD_DIR, py, so);
  cr_assert_eq(rc, 0, "the Python example of docs/c-api.md failed:\n%s", out);
  expect_example_output(out, &j);
}

/* The second C example of docs/c-api.md (batch 4, --set beta=0.5, x fed by the program)
 * prints o.rate[0] of batch element 0 after 1000 steps: `vlec run` with the same options and
 * the same x from a file must record that very value. And the state it saves loads. */
Test(golden, c_api_doc_data_example_matches_vlec_run) {
#ifdef VLE_SANITIZED
  cr_skip_test("not under ASan/UBSan");
#endif
  const char *so = build_so();
  char out[8192];
  const char *src = at("client.c"), *exe = at("client"), *x = at("x.npy"), *dir = at("data_run");
  doc_block("c-data", src);
  int rc = sh(out, sizeof out, "cc -std=c17 -Wall -Wextra -Werror -D_DEFAULT_SOURCE '%s' -I'%s/runtime' "
              "-L'%s' -lvlert -Wl,-rpath,'%s' -o '%s' 2>&1", src, VLE_SOURCE_DIR, VLE_BUILD_DIR,
              VLE_BUILD_DIR, exe);
  if (rc == 127) cr_skip_test("no C compiler");
  cr_assert_eq(rc, 0, "the data example of docs/c-api.md does not compile:\n%s", out);
  cr_assert_eq(sh(out, sizeof out, "cd '%s' && '%s' '%s' 2>&1", tmp, exe, so), 0, "%s", out);
  static double xs[1000][3];
  for (int k = 0; k < 1000; k++) xs[k][0] = 0.3 * k / 1000.0, xs[k][1] = -0.1, xs[k][2] = 0.2;
  vle_error err;
  cr_assert_eq(npy_write(x, NPY_F8, 2, (int64_t[]){ 1000, 3 }, xs, &err), 0, "%s", err.msg);
  char run[8192];
  cr_assert_eq(sh(run, sizeof run, "'%s' run '%s' --steps 1000 --batch 4 --seed 1 --set beta=0.5 "
                  "--input x='%s' --record o.rate --quiet --out '%s' 2>&1", VLEC_PATH, so, x, dir),
               0, "%s", run);
  char path[512];
  snprintf(path, sizeof path, "%s/o.rate.npy", dir);
  npy_array a;
  cr_assert_eq(npy_read(path, &a, &err), 0, "%s", err.msg);
  cr_assert(a.ndim == 3 && a.shape[0] == 4 && a.shape[1] == 1000 && a.shape[2] == 2);
  char want[64];
  snprintf(want, sizeof want, "%.17g\n", npy_get(&a, 999 * 2));   /* [0, 999, 0] */
  npy_free(&a);
  cr_expect_str_eq(out, want);
  /* the saved state is complete: a sim of the same model and batch loads it */
  vle_model *m = vle_model_load_so(so, &err);
  cr_assert(m, "%s", err.msg);
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 4;
  vle_sim *s = vle_sim_new(m, &o, &err);
  cr_assert(s, "%s", err.msg);
  cr_expect_eq(vle_sim_load(s, at("state.bin"), &err), 0, "%s", err.msg);
  cr_expect_eq(vle_sim_steps_done(s), 1000);
  vle_sim_free(s);
  vle_model_free(m);
}

/* vle_abi_size knows every struct vle.h declares (a struct added to the header but not to
 * runtime/vle_abi.c would let a ctypes client go unchecked), with its size here, and
 * answers 0 for a name it does not know. */
Test(golden, abi_sizes_cover_every_public_struct) {
  size_t n;
  unsigned char *h = slurp(VLE_SOURCE_DIR "/runtime/vle.h", &n);
  char *s = realloc(h, n + 1);
  s[n] = 0;
  int found = 0;
  for (char *p = s; (p = strstr(p, "typedef struct ")); p += 15) {
    char name[64];
    if (sscanf(p + 15, "%63[a-z_0-9] {", name) != 1 || !strchr(p, '{') ||
        strchr(p, '{') > strchr(p, ';'))
      continue;                                 /* an opaque typedef: vle_model, vle_sim */
    found++;
    cr_expect_neq(vle_abi_size(name), 0, "vle_abi_size does not know %s", name);
  }
  free(s);
  cr_expect_geq(found, 16, "only %d structs found in vle.h", found);
  cr_expect_eq(vle_abi_size("vle_sim_options"), sizeof(vle_sim_options));
  cr_expect_eq(vle_abi_size("vle_error"), 1024);
  cr_expect_eq(vle_abi_size("vle_sim_opts"), 0);
  cr_expect_eq(vle_abi_size(NULL), 0);
}

/* `vlec run` JIT-compiles only the kernels the run needs: for a learning run, the step with
 * SGD fused into it, which also serves the --warmup steps (with its rates at zero). Its
 * outputs must equal those of the .so, which carries every kernel and runs the plain step
 * during the warmup. */
Test(golden, cli_learning_run_matches_so_with_warmup) {
  const char *so = build_so();
  char out[8192];
  const char *a = at("cli"), *b = at("so");
  const char *opts = "--steps 100 --warmup 30 --record o.rate,loss --quiet";
  cr_assert_eq(sh(out, sizeof out, "'%s' run '%s/model.vle' %s --out '%s' 2>&1", VLEC_PATH,
                  REF_DIR, opts, a), 0, "%s", out);
  cr_assert_eq(sh(out, sizeof out, "'%s' run '%s' %s --out '%s' 2>&1", VLEC_PATH, so, opts, b),
               0, "%s", out);
  const char *files[] = { "o.rate.npy", "loss.npy", "params/W1.npy", "params/W2.npy",
                          "params/b1.npy", "params/b2.npy" };
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
    snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
    size_t na, nb;
    unsigned char *x = slurp(pa, &na), *y = slurp(pb, &nb);
    cr_assert(na == nb && !memcmp(x, y, na), "%s differs between the JIT run and the .so", files[i]);
    free(x);
    free(y);
  }
}
