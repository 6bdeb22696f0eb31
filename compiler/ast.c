/* ast.c - printing expressions and naming built-ins; see ast.h. */
#include "ast.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ast_bi_names[BI_COUNT] = {
  [BI_NONE] = "?",
  [BI_LINEAR] = "linear",
#define FN(id, name, phi, text, latex, plain) [BI_##id] = name,
#define FND(id, text, latex, plain)
#include "fn.def"
#undef FN
#undef FND
  [BI_SOFTMAX] = "softmax", [BI_LOG_SOFTMAX] = "log_softmax",
  [BI_LOGSUMEXP] = "logsumexp", [BI_SUM] = "sum", [BI_MEAN] = "mean", [BI_SUMSQ] = "sumsq",
  [BI_DOT] = "dot",
  [BI_PROSP] = "prosp", [BI_RATE] = "rate",
  [BI_FILL] = "fill", [BI_CONCAT] = "concat", [BI_LINSPACE] = "linspace",
};

const char *ast_builtin_name(vl_builtin b) {
  return (b > BI_NONE && b < BI_COUNT) ? ast_bi_names[b] : "?";
}

/* Per built-in: 1 = elementwise, 2 = elementwise and allowed as phi. */
static const unsigned char ast_bi_kind[BI_COUNT] = {
  [BI_LINEAR] = 2,
#define FN(id, name, phi, text, latex, plain) [BI_##id] = (phi) ? 2 : 1,
#define FND(id, text, latex, plain)
#include "fn.def"
#undef FN
#undef FND
};

bool ast_builtin_elementwise(vl_builtin b) { return b > BI_NONE && b < BI_COUNT && ast_bi_kind[b]; }
bool ast_builtin_phi(vl_builtin b) { return b > BI_NONE && b < BI_COUNT && ast_bi_kind[b] == 2; }

const char *ast_phi_names(void) {
  static const char names[] = "linear"
#define FN(id, name, phi, text, latex, plain) ", " name
#define FND(id, text, latex, plain)
#include "fn.def"
#undef FN
#undef FND
    ;
  return names;
}

vl_builtin ast_builtin_lookup(const char *name) {
  for (int b = BI_NONE + 1; b < BI_COUNT; b++)
    if (!strcmp(ast_bi_names[b], name)) return (vl_builtin)b;
  return BI_NONE;
}

/* ---- printing with the fewest parentheses that keep the meaning ----------------------
 * Binding strength, loosest first, as in the grammar: + - | * / @ | unary - | ^ | postfix. */
enum { PR_ADD = 1, PR_MUL, PR_NEG, PR_POW, PR_POSTFIX };

static int ast_prec(const vl_expr *e) {
  if (e->kind == EX_NEG) return PR_NEG;
  if (e->kind != EX_BINARY) return PR_POSTFIX;
  switch (e->op) {
  case '+': case '-': return PR_ADD;
  case '^': return PR_POW;
  default: return PR_MUL;
  }
}

/* Printing carries a budget of nodes: messages print huge expanded trees as "..." once
 * it runs out, so formatting a message never costs more than a few dozen nodes. */
static void ast_print(FILE *out, const vl_expr *e, long *budget);

static void ast_print_paren(FILE *out, const vl_expr *e, bool paren, long *budget) {
  if (paren) fputc('(', out);
  ast_print(out, e, budget);
  if (paren) fputc(')', out);
}

static void ast_print_list(FILE *out, vl_expr *const *args, int n, long *budget) {
  for (int i = 0; i < n && *budget > 0; i++) {
    if (i) fputs(", ", out);
    ast_print(out, args[i], budget);
  }
}

/* a op b: the left operand needs parentheses when it binds more loosely (or, for the
 * right-associative ^, as loosely); the right operand in the mirror case. */
static void ast_print_binary(FILE *out, const vl_expr *e, long *budget) {
  int p = ast_prec(e);
  bool right_assoc = e->op == '^';
  ast_print_paren(out, e->lhs, ast_prec(e->lhs) < p || (right_assoc && ast_prec(e->lhs) == p), budget);
  if (e->op == '^') fputc('^', out);
  else fprintf(out, " %c ", e->op);
  ast_print_paren(out, e->rhs, ast_prec(e->rhs) < p || (!right_assoc && ast_prec(e->rhs) == p), budget);
}

static void ast_print(FILE *out, const vl_expr *e, long *budget) {
  if (!e) { fputs("<null>", out); return; }
  if (--*budget < 0) { fputs("...", out); return; }
  switch (e->kind) {
  case EX_NUM: fprintf(out, "%g", e->num); break;
  case EX_STR: fprintf(out, "\"%s\"", e->name); break;
  case EX_NAME: fputs(e->name ? e->name : "?", out); break;
  case EX_BINARY: ast_print_binary(out, e, budget); break;
  case EX_NEG:
    fputc('-', out);
    ast_print_paren(out, e->lhs, ast_prec(e->lhs) < PR_NEG, budget);
    break;
  case EX_DERIV:
    ast_print_paren(out, e->lhs, ast_prec(e->lhs) < PR_POSTFIX, budget);
    fputc('\'', out);
    break;
  case EX_FIELD:
    ast_print_paren(out, e->lhs, ast_prec(e->lhs) < PR_POSTFIX, budget);
    fprintf(out, ".%s", e->name);
    break;
  case EX_CALL:
    fprintf(out, "%s(", e->name);
    ast_print_list(out, e->args, e->nargs, budget);
    fputc(')', out);
    break;
  case EX_VEC:
    fputc('[', out);
    ast_print_list(out, e->args, e->nargs, budget);
    fputc(']', out);
    break;
  case EX_NORM:
    fputc('|', out);
    ast_print(out, e->lhs, budget);
    fputc('|', out);
    break;
  }
}

void ast_print_expr(FILE *out, const vl_expr *e) {
  long budget = LONG_MAX;
  ast_print(out, e, &budget);
}

char *ast_expr_string(vl_arena *a, const vl_expr *e) {
  return ast_expr_string_short(a, e, LONG_MAX);
}

char *ast_expr_string_short(vl_arena *a, const vl_expr *e, long max_nodes) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return ar_strdup(a, "?");
  ast_print(f, e, &max_nodes);
  fclose(f);
  char *s = ar_strdup(a, buf);
  free(buf);
  return s;
}
