/* test_check.c - the checker: clean models check clean, every model of tests/bad fails
 * with exactly the errors its "# expect:" lines name, the checked tree honours the
 * contract of ast.h, and `vlec check` prints and exits as documented. */
#include <criterion/criterion.h>
#include <dirent.h>

#include "test_util.h"

#define BAD_DIR VLE_SOURCE_DIR "/tests/bad"

static vl_model *tc_ok(tu_run *r, const char *text) {
  tu_check_text(r, "ok.vle", text, -1);
  cr_assert(r->m, "expected a clean check, got:\n%s", r->diag);
  return r->m;
}

/* ---- clean models ------------------------------------------------------------------------ */

Test(check, example_model_is_clean) {
  tu_run r;
  tu_check_file(&r, VLE_SOURCE_DIR "/examples/gle_small/model.vle");
  cr_assert(r.m, "%s", r.diag);
  cr_expect_eq(r.d.errors, 0);
  cr_expect_eq(r.d.warnings, 0, "%s", r.diag);
  vl_model *m = r.m;
  cr_expect_str_eq(m->name, "gle_small");
  cr_expect_eq(m->consts.len, 1);
  cr_expect_eq(m->inputs.len, 1);
  cr_expect_eq(m->targets.len, 1);
  cr_expect_eq(m->pops.len, 3);
  cr_expect_eq(m->weights.len, 3);
  cr_expect_eq(m->biases.len, 3);
  cr_expect_eq(m->learns.len, 1);
  cr_expect_not_null(m->cost);
  cr_expect_not_null(m->energy);
  cr_expect_eq(m->dt, 0.05);
  cr_expect_eq(m->gamma, 0.3);
  cr_expect_str_eq(m->errors, "prospective");
  cr_expect_str_eq(m->scheme, "sync");
  cr_expect_eq(m->batch, 1);
  vl_decl *h1 = m->pops.items[0], *o = m->pops.items[2];
  cr_expect_eq(h1->size, 3);
  cr_expect_eq(h1->phi, BI_TANH);
  cr_expect_eq(o->phi, BI_LINEAR);
  cr_expect_eq(h1->tau_m->shape.kind, SH_VECTOR);
  cr_expect_eq(o->tau_r->shape.kind, SH_SCALAR);
  vl_decl *W2 = m->weights.items[1];
  cr_expect_eq(W2->post, h1 == m->pops.items[0] ? m->pops.items[1] : NULL);
  cr_expect_eq(W2->pre, h1);
  vl_decl *l = m->learns.items[0];
  cr_expect_eq(l->nitems, 6);
  cr_expect_eq(l->items[0].param, m->weights.items[0]);
  cr_expect_eq(l->opt, VLE_OPT_SGD);
  cr_expect_eq(l->opt_args[0], 0.1);
  cr_expect_eq(m->energy->value->shape.kind, SH_SCALAR);
  vl_decl *beta = m->consts.items[0];
  cr_expect_eq(beta->cval_len, 1);
  cr_expect_eq(beta->cval[0], 0.5);
  tu_free(&r);
}

Test(check, reference_model_is_clean) {
  tu_run r;
  tu_check_file(&r, VLE_SOURCE_DIR "/tests/data/gle_p1/model.vle");
  cr_assert(r.m, "%s", r.diag);
  cr_expect_eq(r.d.warnings, 0, "%s", r.diag);
  vl_decl *W1 = r.m->weights.items[0];
  cr_expect(strstr(W1->init_path, "tests/data/gle_p1/W1.npy"), "%s", W1->init_path);
  cr_expect_eq(r.m->dt, 0.02);
  tu_free(&r);
}

/* ---- the bad corpus ------------------------------------------------------------------------ */

/* One expected error: "# expect: LINE:COL: error: MESSAGE". */
typedef struct tc_expect {
  int line, col;
  char msg[256];
} tc_expect;

static int tc_expects(const char *text, tc_expect *ex, int cap) {
  int n = 0;
  const char *p = text;
  while (n < cap && (p = strstr(p, "# expect: "))) {
    p += 10;
    int used = 0;
    if (sscanf(p, "%d:%d: error: %n", &ex[n].line, &ex[n].col, &used) != 2 || !used) continue;
    const char *eol = strchr(p, '\n');
    int len = (int)((eol ? eol : p + strlen(p)) - (p + used));
    snprintf(ex[n].msg, sizeof ex[n].msg, "%.*s", len, p + used);
    n++;
  }
  return n;
}

/* Is there a diagnostic line "...:LINE:COL: error: ...MSG..."? */
static bool tc_has(const char *diag, const tc_expect *e) {
  char where[64];
  snprintf(where, sizeof where, ":%d:%d: error: ", e->line, e->col);
  for (const char *p = diag; (p = strstr(p, where)); p++) {
    const char *eol = strchr(p, '\n');
    const char *m = strstr(p, e->msg);
    if (m && (!eol || m < eol)) return true;
  }
  return false;
}

static char *tc_read(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

Test(check, bad_corpus) {
  DIR *dir = opendir(BAD_DIR);
  cr_assert_not_null(dir);
  int files = 0;
  struct dirent *de;
  while ((de = readdir(dir))) {
    size_t n = strlen(de->d_name);
    if (n < 5 || strcmp(de->d_name + n - 4, ".vle")) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", BAD_DIR, de->d_name);
    tc_expect ex[8];
    int nex = tc_expects(tc_read(path), ex, 8);
    cr_expect_gt(nex, 0, "%s has no '# expect:' line", de->d_name);
    tu_run r;
    tu_check_file(&r, path);
    cr_expect_null(r.m, "%s checked clean", de->d_name);
    for (int i = 0; i < nex; i++)
      cr_expect(tc_has(r.diag, &ex[i]), "%s: missing %d:%d: error: %s\ngot:\n%s", de->d_name,
                ex[i].line, ex[i].col, ex[i].msg, r.diag);
    cr_expect_eq(r.d.errors, nex, "%s: %d errors, %d expected:\n%s", de->d_name, r.d.errors, nex, r.diag);
    tu_free(&r);
    files++;
  }
  closedir(dir);
  cr_expect_geq(files, 40);
}

/* ---- the checked tree ---------------------------------------------------------------------- */

static const char *tc_str(vl_model *m, const vl_expr *e) { return ast_expr_string(m->arena, e); }

Test(check, fn_calls_are_expanded_with_populations_as_arguments) {
  tu_run r;
  vl_model *m = tc_ok(&r,
    "model m\ninput x[2]\npopulation h[2] { tau_m = 1; tau_r = 0.5; phi = relu }\n"
    "weight W[h, x]\n"
    "fn mismatch(p, u) = 0.5 * |prosp(p, p.tau_m) - u|^2\n"
    "fn drive(A, v) = A @ v\n"
    "energy = mismatch(h, drive(W, x)) + sum(h' * rate(h))\n"
    "learn W with adam(0.01)\n");
  const vl_expr *e = m->energy->value;
  cr_expect_str_eq(tc_str(m, e), "0.5 * |prosp(h, h.tau_m) - W @ x|^2 + sum(h' * rate(h))");
  const vl_expr *call = e->lhs;          /* the expansion keeps the span of the call */
  cr_expect_eq(call->span.line, 7);
  cr_expect_eq(call->span.col, 10);
  cr_expect_eq(call->shape.kind, SH_SCALAR);
  const vl_expr *u = call->rhs->lhs->lhs->rhs;    /* W @ x */
  cr_expect_eq(u->op, '@');
  cr_expect_eq(u->shape.kind, SH_VECTOR);
  cr_expect_eq(u->shape.rows, 2);
  cr_expect_eq(u->lhs->sym, m->weights.items[0]);
  vl_decl *l = m->learns.items[0];
  cr_expect_eq(l->opt, VLE_OPT_ADAM);
  cr_expect_eq(l->opt_args[1], 0.9);
  cr_expect_eq(l->opt_args[2], 0.999);
  cr_expect_eq(l->opt_args[3], 1e-8);
  tu_free(&r);
}

/* Every EX_NAME is bound, every shape known, no user call left. */
static void tc_walk(const vl_expr *e) {
  cr_assert_neq(e->shape.kind, SH_UNKNOWN);
  if (e->kind == EX_NAME) cr_assert(e->sym || e->is_time, "%s unbound", e->name);
  if (e->kind == EX_CALL) cr_assert_neq(e->bi, BI_NONE, "call of %s left", e->name);
  if (e->lhs) tc_walk(e->lhs);
  if (e->rhs) tc_walk(e->rhs);
  for (int i = 0; i < e->nargs; i++) tc_walk(e->args[i]);
}

Test(check, contract_of_the_checked_tree) {
  tu_run r;
  tu_check_file(&r, VLE_SOURCE_DIR "/examples/gle_small/model.vle");
  cr_assert(r.m);
  tc_walk(r.m->energy->value);
  tc_walk(r.m->cost->value);
  for (int i = 0; i < r.m->inputs.len; i++) tc_walk(((vl_decl *)r.m->inputs.items[i])->value);
  tu_free(&r);
}

Test(check, lets_consts_and_constant_vectors) {
  tu_run r;
  vl_model *m = tc_ok(&r,
    "model m\nconst n = 4\nconst tau = linspace(0.5, 2, n)\n"
    "population h[n] { tau_m = tau; tau_r = concat([0.1], fill(n - 1, 0.2)) }\n"
    "let e = 0.5 * sumsq(h - mean(h)) + dot(softmax(h), log_softmax(h)) + logsumexp(h)\n"
    "energy = e + |prosp(h)|^2 / t\n"
    "settings { dt = 0.001; gamma = 0; errors = adjoint; scheme = sync; batch = 8 }\n");
  vl_decl *h = m->pops.items[0], *tau = m->consts.items[1], *e = m->lets.items[0];
  cr_expect_eq(h->size, 4);
  cr_expect_eq(tau->cval_len, 4);
  cr_expect_eq(tau->cval[3], 2);
  cr_expect_eq(tau->cval[1], 1);
  cr_expect_eq(h->tau_r->shape.rows, 4);
  cr_expect_eq(e->value->shape.kind, SH_SCALAR);
  cr_expect_null(e->cval);
  cr_expect_eq(m->energy->value->lhs->sym, e);     /* a let stays a name */
  cr_expect_eq(m->batch, 8);
  cr_expect_str_eq(m->errors, "adjoint");
  tu_free(&r);
}

Test(check, learn_taus_and_clamp) {
  tu_run r;
  vl_model *m = tc_ok(&r,
    "model m\npopulation h[2] { tau_m = 1; tau_r = 1 }\nbias b[h] init constant(0.5)\n"
    "energy = |h' + h - b|^2\nlearn h.tau_m, h.tau_r, b with adam(0.1, 0.8, 0.99, 1e-6) clamp >= 0.05\n");
  vl_decl *l = m->learns.items[0];
  cr_expect_str_eq(l->items[0].field, "tau_m");
  cr_expect_str_eq(l->items[1].field, "tau_r");
  cr_expect_null(l->items[2].field);
  cr_expect_eq(l->items[0].param, m->pops.items[0]);
  cr_expect_eq(l->clamp_op, CMP_GE);
  cr_expect_eq(l->clamp, 0.05);
  cr_expect_eq(l->opt_args[1], 0.8);
  tu_free(&r);
}

Test(check, warnings_for_unused_names) {
  tu_run r;
  tc_ok(&r, "model m\nconst k = 1\nlet a = 2\nfn f(v) = v\npopulation h[1] { tau_m = 1; tau_r = 1 }\nenergy = |h|^2\n");
  cr_expect_eq(r.d.warnings, 3, "%s", r.diag);
  cr_expect(strstr(r.diag, "ok.vle:2:7: warning: const 'k' is never used"), "%s", r.diag);
  cr_expect(strstr(r.diag, "ok.vle:3:5: warning: let 'a' is never used"), "%s", r.diag);
  cr_expect(strstr(r.diag, "ok.vle:4:4: warning: fn 'f' is never used"), "%s", r.diag);
  tu_free(&r);
}

Test(check, use_includes_each_file_once) {
  char dir[] = "/tmp/vle-use-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/lib.vle", dir);
  FILE *f = fopen(path, "w");
  fputs("fn sq(v) = v * v\nconst half = 0.5\n", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/model.vle", dir);
  f = fopen(path, "w");
  fputs("model m\nuse \"lib.vle\"\nuse \"./lib.vle\"\npopulation h[1] { tau_m = 1; tau_r = 1 }\n"
        "energy = half * sum(sq(h))\n", f);
  fclose(f);
  tu_run r;
  tu_check_file(&r, path);
  cr_expect(r.m, "%s", r.diag);
  if (r.m) cr_expect_eq(r.m->fns.len, 1);
  tu_free(&r);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_expect_eq(system(cmd), 0);
}

/* ---- vlec check ------------------------------------------------------------------------------ */

Test(vlec, exit_codes) {
  static char out[1 << 16];
  cr_expect_eq(tu_sh(VLEC_PATH " check " VLE_SOURCE_DIR "/examples/gle_small/model.vle 2>&1", out, sizeof out), 0, "%s", out);
  cr_expect_str_eq(out, "");
  cr_expect_eq(tu_sh(VLEC_PATH " check " BAD_DIR "/shape_matvec.vle 2>&1", out, sizeof out), 1);
  cr_expect_eq(tu_sh(VLEC_PATH " check 2>&1", out, sizeof out), 2);
  cr_expect_eq(tu_sh(VLEC_PATH " check a.vle b.vle 2>&1", out, sizeof out), 2);
  cr_expect_eq(tu_sh(VLEC_PATH " check --frobnicate x.vle 2>&1", out, sizeof out), 2);
  cr_expect_eq(tu_sh(VLEC_PATH " check /nonexistent/m.vle 2>&1", out, sizeof out), 1);
  cr_expect(strstr(out, "vlec: error: cannot read '/nonexistent/m.vle'"), "%s", out);
  cr_expect_eq(tu_sh(VLEC_PATH " check --help 2>&1", out, sizeof out), 0);
}

Test(vlec, prints_source_line_and_caret) {
  static char out[1 << 16];
  cr_expect_eq(tu_sh(VLEC_PATH " check " BAD_DIR "/shape_matvec.vle 2>&1", out, sizeof out), 1);
  cr_expect(strstr(out, "shape_matvec.vle:10:"), "%s", out);
  cr_expect(strstr(out, "error: cannot apply W1 [3x2] to a vector of length 3 (h1): W1 expects length 2\n"
                        "   10 | energy = "), "%s", out);
  cr_expect(strstr(out, "^~~~~~~\n"), "%s", out);
  cr_expect_eq(tu_sh(VLEC_PATH " check " BAD_DIR "/settings_unknown.vle 2>&1", out, sizeof out), 1);
  cr_expect(strstr(out, "settings { dt = 0.1; gama = 0.3 }\n      |                      ^~~~\n"), "%s", out);
}

Test(vlec, warnings_only_exit_zero) {
  static char out[1 << 16];
  FILE *f = fopen("/tmp/vle-warn-test.vle", "w");
  /* a valid model (check also derives it: h owns its mismatch) with one unused let */
  fputs("model m\nlet unused = 1\npopulation h[1] { tau_m = 1; tau_r = 1 }\n"
        "energy = 0.5*|h + h.tau_m*h'|^2\n", f);
  fclose(f);
  cr_expect_eq(tu_sh(VLEC_PATH " check /tmp/vle-warn-test.vle 2>&1", out, sizeof out), 0);
  cr_expect(strstr(out, "warning: let 'unused' is never used"), "%s", out);
  remove("/tmp/vle-warn-test.vle");
}
