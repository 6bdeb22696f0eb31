/* test_robust.c - hostile input: nothing may crash, hang, exhaust the stack or memory,
 * and every failure is a clear "file:line:col: error:" (or "vlec: error:") with status 1.
 * Big inputs are generated here, never committed. */
#include <criterion/criterion.h>
#include <time.h>

#include "test_util.h"

/* Check text with the default error cap (as vlec runs); returns the diagnostics. */
typedef struct tr_run {
  vl_arena a;
  char *diag;
  size_t len;
  int errors;
  bool ok;
} tr_run;

static void tr_check(tr_run *r, const char *text, long len) {
  ar_init(&r->a);
  FILE *f = open_memstream(&r->diag, &r->len);
  dg_ctx d;
  dg_init(&d, f);
  vl_model *m = fe_load_text(&r->a, &d, "in.vle", text, len);
  r->ok = m && ck_check(m, &d);
  r->errors = d.errors;
  fclose(f);
}

static void tr_free(tr_run *r) { free(r->diag); ar_free_all(&r->a); }

/* n copies of s, then tail (malloc). */
static char *tr_repeat(const char *head, const char *s, long n, const char *tail) {
  size_t hl = strlen(head), sl = strlen(s), tl = strlen(tail);
  char *b = malloc(hl + sl * (size_t)n + tl + 1), *p = b;
  memcpy(p, head, hl); p += hl;
  for (long i = 0; i < n; i++) { memcpy(p, s, sl); p += sl; }
  memcpy(p, tail, tl + 1);
  return b;
}

static void tr_expect_error(const char *text, long len, const char *msg) {
  tr_run r;
  tr_check(&r, text, len < 0 ? (long)strlen(text) : len);
  cr_expect(!r.ok);
  cr_expect(strstr(r.diag, msg), "expected '%s' in:\n%.2000s", msg, r.diag);
  cr_expect(r.errors > 0 && r.errors < 1000000);
  tr_free(&r);
}

Test(robust, empty_and_comment_only) {
  tr_expect_error("", 0, "in.vle:1:1: error: missing 'model NAME' line");
  tr_expect_error("# only a comment, no newline", -1, "error: missing 'model NAME' line");
  tr_expect_error("model m\n# unterminated comment", -1, "in.vle:1:1: error: the model has no energy");
}

Test(robust, nul_bytes_and_invalid_utf8) {
  const char nul[] = "model m\nenergy = 1\0 + 2\n";
  tr_expect_error(nul, sizeof nul - 1, "in.vle:2:11: error: unexpected NUL byte");
  tr_expect_error("model m\nenergy = \xff\xfe 1\n", -1, "in.vle:2:10: error: non-ASCII text");
  tr_expect_error("model m\nenergy = \"abc\n", -1, "in.vle:2:10: error: unterminated string");
}

Test(robust, random_bytes) {
  unsigned seed = 12345;
  char buf[4096];
  for (int round = 0; round < 300; round++) {
    int n = (int)(rand_r(&seed) % sizeof buf);
    for (int i = 0; i < n; i++) buf[i] = (char)(rand_r(&seed) & 0xff);
    tr_run r;
    tr_check(&r, buf, n);
    if (!r.ok) cr_expect_gt(r.errors, 0);
    tr_free(&r);
  }
}

Test(robust, random_tokens) {
  static const char *const toks[] = {
    "model ", "m ", "energy ", "= ", "population ", "h", "[", "]", "{", "}", "(", ")", "|", "'",
    ".", ",", ";", "+", "-", "*", "/", "@", "^", "1 ", "0.5 ", "t ", "tau_m ", "fn ", "f", "let ",
    "learn ", "with ", "sgd", "weight ", "W", "\n", "prosp", "rate", "const ", "x ", "input ", "use ",
  };
  unsigned seed = 777;
  char buf[2048];
  for (int round = 0; round < 2000; round++) {
    size_t n = 0;
    int k = (int)(rand_r(&seed) % 200);
    for (int i = 0; i < k; i++) {
      const char *t = toks[rand_r(&seed) % (sizeof toks / sizeof toks[0])];
      size_t l = strlen(t);
      if (n + l >= sizeof buf) break;
      memcpy(buf + n, t, l);
      n += l;
    }
    tr_run r;
    tr_check(&r, buf, (long)n);
    if (!r.ok) cr_expect_gt(r.errors, 0);
    tr_free(&r);
  }
}

Test(robust, deep_nesting) {
  char *t = tr_repeat("model m\nenergy = ", "(", 100000, "1");
  tr_expect_error(t, -1, "error: brackets nested too deeply (the limit is 200)");
  free(t);
  t = tr_repeat("model m\nenergy = ", "-", 100000, "1\n");
  tr_expect_error(t, (long)strlen(t), "error: expression nested too deeply");
  free(t);
  t = tr_repeat("model m\nenergy = ", "|", 100000, "1\n");
  tr_expect_error(t, (long)strlen(t), "error: expression nested too deeply");
  free(t);
  t = tr_repeat("model m\nenergy = 1", " + 1", 100000, "\n");
  tr_expect_error(t, (long)strlen(t), "error: expression too deeply nested or too long (more than 1000 levels)");
  free(t);
  t = tr_repeat("model m\nenergy = 1", "^1", 100000, "\n");
  tr_expect_error(t, (long)strlen(t), "error: expression nested too deeply");
  free(t);
  t = tr_repeat("model m\nenergy = 1", "'", 100000, "\n");
  tr_expect_error(t, (long)strlen(t), "error: expression too deeply nested or too long");
  free(t);
}

Test(robust, absurd_sizes) {
  tr_expect_error("model m\npopulation h[99999999999999] { tau_m = 1; tau_r = 1 }\nenergy = |h|^2\n", -1,
                  "in.vle:2:14: error: the size of population 'h' is too large");
  tr_expect_error("model m\nconst n = 1e300\npopulation h[n] { tau_m = fill(n, 1); tau_r = 1 }\nenergy = |h|^2\n", -1,
                  "error: the size of population 'h' is too large");
  tr_expect_error("model m\npopulation h[1] { tau_m = 1; tau_r = 1 }\nenergy = sum(fill(1e15, 1)) + |h|^2\n", -1,
                  "error: the length of fill is too large");
}

/* fn f_k(x) = f_{k-1}(x) * f_{k-1}(x): 2^40 nodes if expanded naively. */
Test(robust, fn_expansion_bomb) {
  char *t = malloc(1 << 16), *p = t;
  p += sprintf(p, "model m\nfn f0(x) = x + 1\n");
  for (int k = 1; k <= 40; k++) p += sprintf(p, "fn f%d(x) = f%d(x) * f%d(x)\n", k, k - 1, k - 1);
  sprintf(p, "population h[1] { tau_m = 1; tau_r = 1 }\nenergy = sum(f40(h))\n");
  time_t start = time(NULL);
  tr_expect_error(t, (long)strlen(t), "error: expanding fn calls makes this expression too large");
  cr_expect_lt(time(NULL) - start, 20);
  free(t);
}

Test(robust, long_chains_and_many_declarations) {
  /* 200 000 lets, each using the one before: no recursion follows the chain. */
  long n = 200000;
  char *t = malloc((size_t)n * 40 + 200), *p = t;
  p += sprintf(p, "model m\nconst a0 = 1\n");
  for (long i = 1; i <= n; i++) p += sprintf(p, "const a%ld = a%ld + 1\n", i, i - 1);
  sprintf(p, "population h[1] { tau_m = a%ld; tau_r = 1 }\nenergy = |h|^2\n", n);
  tr_run r;
  time_t start = time(NULL);
  tr_check(&r, t, (long)strlen(t));
  cr_expect(r.ok, "%.2000s", r.diag);
  cr_expect_lt(time(NULL) - start, 30);
  tr_free(&r);
  /* the same number of unused, duplicate declarations: capped output, linear time */
  p = t;
  p += sprintf(p, "model m\n");
  for (long i = 0; i < n; i++) p += sprintf(p, "const a = %ld\n", i);
  tr_check(&r, t, (long)strlen(t));
  cr_expect(!r.ok);
  cr_expect_lt(r.len, 100000);
  cr_expect_lt(time(NULL) - start, 60);
  tr_free(&r);
  free(t);
}

Test(robust, vlec_on_huge_binary_and_missing_files) {
  static char out[1 << 16];
  const char *big = "/tmp/vle-robust-big.vle";
  FILE *f = fopen(big, "w");
  cr_assert_not_null(f);
  char line[] = "const c = 1\n";
  for (long i = 0; i < 20L * 1024 * 1024 / (long)(sizeof line - 1) + 1; i++) fputs(line, f);
  fclose(f);
  cr_expect_eq(tu_sh(VLEC_PATH " check /tmp/vle-robust-big.vle 2>&1", out, sizeof out), 1);
  cr_expect(strstr(out, "vlec: error: cannot read '/tmp/vle-robust-big.vle': file too large (the limit is 16 MiB)"), "%s", out);
  remove(big);

  f = fopen("/tmp/vle-robust-bin.vle", "wb");
  fwrite("model m\n\0\1\2", 1, 11, f);
  fclose(f);
  cr_expect_eq(tu_sh(VLEC_PATH " check /tmp/vle-robust-bin.vle 2>&1", out, sizeof out), 1);
  cr_expect(strstr(out, "/tmp/vle-robust-bin.vle:2:1: error: '/tmp/vle-robust-bin.vle' is a binary file"), "%s", out);
  remove("/tmp/vle-robust-bin.vle");

  cr_expect_eq(tu_sh(VLEC_PATH " check /tmp 2>&1", out, sizeof out), 1);
  cr_expect(strstr(out, "vlec: error: cannot read '/tmp'"), "%s", out);

  f = fopen("/tmp/vle-robust-size.vle", "w");
  fputs("model m\npopulation h[99999999999999] { tau_m = 1; tau_r = 1 }\nenergy = |h|^2\n", f);
  fclose(f);
  cr_expect_eq(tu_sh(VLEC_PATH " check /tmp/vle-robust-size.vle 2>&1", out, sizeof out), 1);
  cr_expect(strstr(out, "/tmp/vle-robust-size.vle:2:14: error: the size of population 'h' is too large"), "%s", out);
  remove("/tmp/vle-robust-size.vle");
}
