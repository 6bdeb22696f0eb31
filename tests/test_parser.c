/* test_parser.c - the grammar: every declaration form, precedence, associativity, spans,
 * and syntax errors with what was expected. */
#include <criterion/criterion.h>

#include "parse.h"
#include "test_util.h"

/* The parse of one buffer: declarations and diagnostics. */
typedef struct tp_parse {
  vl_arena a;
  vl_source src;
  vl_vec decls;
  char *diag;
  size_t len;
  bool ok;
} tp_parse;

static void tp_run(tp_parse *p, const char *text) {
  ar_init(&p->a);
  p->src = (vl_source){ "t.vle", text, (long)strlen(text) };
  memset(&p->decls, 0, sizeof p->decls);
  FILE *f = open_memstream(&p->diag, &p->len);
  dg_ctx d;
  dg_init(&d, f);
  p->ok = ps_parse(&p->a, &d, &p->src, &p->decls);
  fclose(f);
}

static void tp_free(tp_parse *p) { free(p->diag); ar_free_all(&p->a); }

/* A fully parenthesised prefix form, to see the tree exactly. */
static void tp_sexp(FILE *f, const vl_expr *e) {
  switch (e->kind) {
  case EX_NUM: fprintf(f, "%g", e->num); break;
  case EX_STR: fprintf(f, "\"%s\"", e->name); break;
  case EX_NAME: fputs(e->name, f); break;
  case EX_BINARY: fprintf(f, "(%c ", e->op); tp_sexp(f, e->lhs); fputc(' ', f); tp_sexp(f, e->rhs); fputc(')', f); break;
  case EX_NEG: fputs("(neg ", f); tp_sexp(f, e->lhs); fputc(')', f); break;
  case EX_DERIV: fputs("(' ", f); tp_sexp(f, e->lhs); fputc(')', f); break;
  case EX_FIELD: fputs("(. ", f); tp_sexp(f, e->lhs); fprintf(f, " %s)", e->name); break;
  case EX_NORM: fputs("(norm ", f); tp_sexp(f, e->lhs); fputc(')', f); break;
  case EX_CALL: case EX_VEC:
    fprintf(f, "(%s", e->kind == EX_VEC ? "vec" : e->name);
    for (int i = 0; i < e->nargs; i++) { fputc(' ', f); tp_sexp(f, e->args[i]); }
    fputc(')', f);
    break;
  }
}

/* Parse "energy = SRC" and return its tree in prefix form (static buffer). */
static const char *tp_expr(const char *src) {
  static char out[4096];
  char text[4096];
  snprintf(text, sizeof text, "energy = %s\n", src);
  tp_parse p;
  tp_run(&p, text);
  cr_assert(p.ok, "parse of '%s' failed:\n%s", src, p.diag);
  vl_decl *d = p.decls.items[0];
  FILE *f = fmemopen(out, sizeof out, "w");
  tp_sexp(f, d->value);
  fclose(f);
  tp_free(&p);
  return out;
}

/* ast_print_expr of "energy = SRC" (static buffer). */
static const char *tp_print(const char *src) {
  static char out[4096];
  char text[4096];
  snprintf(text, sizeof text, "energy = %s\n", src);
  tp_parse p;
  tp_run(&p, text);
  cr_assert(p.ok, "parse of '%s' failed:\n%s", src, p.diag);
  FILE *f = fmemopen(out, sizeof out, "w");
  ast_print_expr(f, ((vl_decl *)p.decls.items[0])->value);
  fclose(f);
  tp_free(&p);
  return out;
}

#define EXPECT_TREE(src, want) cr_expect_str_eq(tp_expr(src), want, "for %s", src)

Test(parser, precedence) {
  EXPECT_TREE("a + b * c", "(+ a (* b c))");
  EXPECT_TREE("a * b + c", "(+ (* a b) c)");
  EXPECT_TREE("W @ x + b", "(+ (@ W x) b)");
  EXPECT_TREE("a * W @ x", "(@ (* a W) x)");
  EXPECT_TREE("-x^2", "(neg (^ x 2))");
  EXPECT_TREE("-a * b", "(* (neg a) b)");
  EXPECT_TREE("2^-1", "(^ 2 (neg 1))");
  EXPECT_TREE("h'^2", "(^ (' h) 2)");
  EXPECT_TREE("h.tau_m * h'", "(* (. h tau_m) (' h))");
  EXPECT_TREE("|v|^2", "(^ (norm v) 2)");
  EXPECT_TREE("0.5 * |y - rate(o)|^2", "(* 0.5 (^ (norm (- y (rate o))) 2))");
  EXPECT_TREE("|a - |b||", "(norm (- a (norm b)))");
}

Test(parser, associativity) {
  EXPECT_TREE("a - b - c", "(- (- a b) c)");
  EXPECT_TREE("a / b / c", "(/ (/ a b) c)");
  EXPECT_TREE("a ^ b ^ c", "(^ a (^ b c))");
  EXPECT_TREE("- - a", "(neg (neg a))");
  EXPECT_TREE("h''", "(' (' h))");
}

Test(parser, primaries) {
  EXPECT_TREE("[1, 2.5, 1e-3, 2.5E+2]", "(vec 1 2.5 0.001 250)");
  EXPECT_TREE("prosp(h, h.tau_m)", "(prosp h (. h tau_m))");
  EXPECT_TREE("f()", "(f)");
  EXPECT_TREE("file(\"w.npy\")", "(file \"w.npy\")");
  EXPECT_TREE("((a))", "a");
}

Test(parser, newlines_continue_expressions) {
  EXPECT_TREE("a\n + b\n - c", "(- (+ a b) c)");
  EXPECT_TREE("a *\n b", "(* a b)");
}

Test(parser, print_round_trip) {
  cr_expect_str_eq(tp_print("a - (b - c)"), "a - (b - c)");
  cr_expect_str_eq(tp_print("(a - b) - c"), "a - b - c");
  cr_expect_str_eq(tp_print("(a^b)^c"), "(a^b)^c");
  cr_expect_str_eq(tp_print("a^b^c"), "a^b^c");
  cr_expect_str_eq(tp_print("(-x)^2"), "(-x)^2");
  cr_expect_str_eq(tp_print("0.5*|prosp(h, h.tau_m) - (W @ x + b)|^2"),
                   "0.5 * |prosp(h, h.tau_m) - (W @ x + b)|^2");
  cr_expect_str_eq(tp_print("(h + g)'"), "(h + g)'");
}

Test(parser, every_declaration) {
  tp_parse p;
  tp_run(&p,
    "model m\n"
    "use \"lib.vle\"\n"
    "use std.gle\n"
    "const beta = 0.5\n"
    "input x[2] = [sin(t), 1]\n"
    "input z[3]\n"
    "target y[2] onehot\n"
    "target y2[2] = [t, t] onehot\n"
    "population h[3] { tau_m = 1; tau_r = 2\n phi = tanh; }\n"
    "population g[1] { }\n"
    "weight W[h, x] init normal(0, 0.1)\n"
    "weight V[h, h]\n"
    "bias b[h] init zeros\n"
    "fn f(a, b) = a + b\n"
    "fn k() = 1\n"
    "let l = f(x, x)\n"
    "cost C = |y|^2\n"
    "energy = C\n"
    "learn W, b, h.tau_m with adam(0.1, 0.9, 0.99, 1e-8) clamp >= 0.1\n"
    "learn V with sgd(0.1)\n"
    "settings { dt = 0.1; errors = adjoint }\n");
  cr_assert(p.ok, "%s", p.diag);
  vl_decl_kind want[] = { D_MODEL, D_USE, D_USE, D_CONST, D_INPUT, D_INPUT, D_TARGET, D_TARGET,
                          D_POP, D_POP, D_WEIGHT, D_WEIGHT, D_BIAS, D_FN, D_FN, D_LET, D_COST,
                          D_ENERGY, D_LEARN, D_LEARN, D_SETTINGS };
  cr_assert_eq(p.decls.len, (int)(sizeof want / sizeof want[0]));
  for (int i = 0; i < p.decls.len; i++) cr_expect_eq(((vl_decl *)p.decls.items[i])->kind, want[i], "decl %d", i);
  vl_decl **d = (vl_decl **)p.decls.items;
  cr_expect_str_eq(d[0]->name, "m");
  cr_expect_str_eq(d[1]->use_path, "lib.vle");
  cr_expect_str_eq(d[2]->use_std, "gle");
  cr_expect(d[6]->onehot && !d[6]->value);
  cr_expect(d[7]->onehot && d[7]->value);
  cr_expect_eq(d[8]->nfields, 3);
  cr_expect_str_eq(d[8]->fields[2].key, "phi");
  cr_expect_eq(d[9]->nfields, 0);
  cr_expect_str_eq(d[10]->post_name, "h");
  cr_expect_str_eq(d[10]->pre_name, "x");
  cr_expect_eq(d[10]->init->kind, EX_CALL);
  cr_expect_null(d[11]->init);
  cr_expect_eq(d[12]->init->kind, EX_NAME);
  cr_expect_eq(d[13]->nparams, 2);
  cr_expect_str_eq(d[13]->params[1], "b");
  cr_expect_eq(d[14]->nparams, 0);
  cr_expect_eq(d[18]->nitems, 3);
  cr_expect_eq(d[18]->items[2].ref->kind, EX_FIELD);
  cr_expect_eq(d[18]->clamp_op, CMP_GE);
  cr_expect_str_eq(d[18]->opt_call->name, "adam");
  cr_expect_eq(d[19]->clamp_op, CMP_NONE);
  cr_expect_eq(d[20]->nfields, 2);
  tp_free(&p);
}

Test(parser, spans) {
  tp_parse p;
  tp_run(&p, "model m\n\nenergy =  foo + W @ x1\n");
  cr_assert(p.ok);
  vl_decl *e = p.decls.items[1];
  cr_expect_eq(e->span.line, 3);
  cr_expect_eq(e->span.col, 1);
  cr_expect_eq(e->span.len, 6);
  vl_expr *v = e->value;               /* foo + (W @ x1) */
  cr_expect_eq(v->span.col, 11);
  cr_expect_eq(v->span.len, 12);
  cr_expect_eq(v->lhs->span.col, 11);
  cr_expect_eq(v->lhs->span.len, 3);
  cr_expect_eq(v->rhs->span.col, 17);
  cr_expect_eq(v->rhs->span.len, 6);
  cr_expect_eq(v->rhs->rhs->span.col, 21);
  cr_expect_eq(v->rhs->rhs->span.len, 2);
  tp_free(&p);
}

Test(parser, syntax_error_says_what_was_expected) {
  tp_parse p;
  tp_run(&p, "model m\nconst a = \nweight W[h x]\n");
  cr_expect(!p.ok);
  cr_expect(strstr(p.diag, "t.vle:3:1: error: unexpected 'weight', expected an expression"), "%s", p.diag);
  tp_free(&p);
  tp_run(&p, "model m\nweight W[h x]\n");
  cr_expect(strstr(p.diag, "t.vle:2:12: error: unexpected name 'x', expected ','"), "%s", p.diag);
  tp_free(&p);
  tp_run(&p, "model m\nenergy = (a + b\n");
  cr_expect(strstr(p.diag, "t.vle:3:1: error: unexpected end of file, expected an operator, '(' or ')'"), "%s", p.diag);
  tp_free(&p);
}

Test(parser, several_errors_are_reported) {
  tp_parse p;
  tp_run(&p, "model m\nconst a = 1 +\nconst b = * 2\nlet c = (1\nenergy = 1\n");
  cr_expect(strstr(p.diag, ":3:1: error:"), "%s", p.diag);
  cr_expect(strstr(p.diag, ":3:11: error:"), "%s", p.diag);
  cr_expect(strstr(p.diag, ":5:1: error:"), "%s", p.diag);
  tp_free(&p);
}

Test(parser, semicolons_and_newlines_in_blocks) {
  tp_parse p;
  tp_run(&p, "population h[2] {\n  tau_m = 1\n  tau_r = 2;;\n  phi = relu\n}\n");
  cr_assert(p.ok, "%s", p.diag);
  cr_expect_eq(((vl_decl *)p.decls.items[0])->nfields, 3);
  tp_free(&p);
}
