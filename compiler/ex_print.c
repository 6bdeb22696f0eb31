/*
 * ex_print.c - print expressions the way papers write them.
 *
 *   TEXT   Unicode: φ′(ŭ) ⊙ Wᵀ e,  e rᵀ,  ½ ‖m‖²,  (γ e − c)/τ,  x²
 *   LATEX  \odot, ^\top, \frac{..}{..}, \lVert m \rVert^2
 *   PLAIN  ASCII: * for elementwise products, @ for matrix products, ' for transposes, ^
 *
 * A precedence printer: each node has a binding strength and is parenthesised only where
 * its context binds tighter. From loosest to tightest: sums, products (⊙, juxtaposition
 * of scalars, /), matrix products (W x, Wᵀ x, e rᵀ, and a b), powers, atoms. Matrix
 * products bind tighter than ⊙, so φ′(ŭ) ⊙ Wᵀ e means φ′(ŭ) ⊙ (Wᵀ e), as in papers.
 * The printer recognises the derivative forms the differentiator builds: 1 − tanh(x)²
 * prints as tanh′(x), σ(x) (1 − σ(x)) as σ′(x), step as relu′ and ind1 as hardtanh′.
 * It prints the DAG as a tree (shared nodes are repeated): it is meant for reading.
 */
#include "ex_internal.h"
#include "fn_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


enum { P_SUM = 1, P_PROD, P_MATMUL, P_POW, P_ATOM };

typedef struct printer {
  vl_arena *a;
  char *buf;
  size_t len, cap;
  ex_style style;
} printer;

static void put(printer *p, const char *s) {
  size_t n = strlen(s);
  if (p->len + n + 1 > p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 256;
    while (cap < p->len + n + 1) cap *= 2;
    char *b = ar_alloc(p->a, cap);
    if (p->len) memcpy(b, p->buf, p->len);
    p->buf = b;
    p->cap = cap;
  }
  memcpy(p->buf + p->len, s, n + 1);
  p->len += n;
}

/* Pick the spelling for the current style. */
static const char *sty(const printer *p, const char *text, const char *latex, const char *plain) {
  return p->style == EXP_TEXT ? text : p->style == EXP_LATEX ? latex : plain;
}

static void print(printer *p, const ex_node *x, int ctx);
static void print_sum(printer *p, const ex_node *x, bool flip);

/* ---- numbers ----------------------------------------------------------------------- */

/* The shortest decimal that reads back as v. */
static void put_decimal(printer *p, double v) {
  char s[40];
  if (isinf(v)) { put(p, sty(p, "∞", "\\infty", "inf")); return; }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(s, sizeof s, "%.*g", prec, v);
    if (strtod(s, NULL) == v) break;
  }
  put(p, s);
}

/* A non-negative number: ½ and \frac{1}{2} for one half, decimals otherwise. */
static void put_magnitude(printer *p, double v) {
  if (v == 0.5) put(p, sty(p, "½", "\\frac{1}{2}", "0.5"));
  else put_decimal(p, v);
}

static void put_minus(printer *p) { put(p, sty(p, "−", "-", "-")); }

static void print_num(printer *p, double v) {
  if (v < 0) put_minus(p);
  put_magnitude(p, fabs(v));
}

/* ---- names ------------------------------------------------------------------------- */

const char *ex_fn_name(ex_fn f) { return fm_name(f, EXP_PLAIN); }

/* How a function prints (fn.def); derivatives print as the derivative they stand for. */
static const char *fn_print_name(const printer *p, ex_fn f) { return fm_name(f, p->style); }

static void print_call(printer *p, const char *name, const ex_node *arg) {
  put(p, name);
  put(p, sty(p, "(", "\\left(", "("));
  print(p, arg, P_SUM);
  put(p, sty(p, ")", "\\right)", ")"));
}

/* ---- recognising the derivative forms ---------------------------------------------- */

/* Is x the number v? */
static bool is_value(const ex_node *x, double v) { return x->op == X_NUM && x->num == v; }

/* x = -y: a product with coefficient -1 and one other factor; returns y. */
static const ex_node *negated(const ex_node *x) {
  if (x->op == X_MUL && x->nargs == 2 && is_value(x->args[0], -1)) return x->args[1];
  return NULL;
}

/* 1 - f: returns f, or NULL. */
static const ex_node *one_minus(const ex_node *x) {
  if (x->op != X_ADD || x->nargs != 2 || !is_value(x->args[0], 1)) return NULL;
  return negated(x->args[1]);
}

/* 1 - tanh(y)^2: returns tanh(y). */
static const ex_node *tanh_prime(const ex_node *x) {
  const ex_node *t = one_minus(x);
  if (!t || t->op != X_POW || !is_value(t->args[1], 2)) return NULL;
  t = t->args[0];
  return t->op == X_FN && t->fn == F_TANH ? t : NULL;
}

/* ---- precedence -------------------------------------------------------------------- */

static int prec(const ex_node *x) {
  switch (x->op) {
  case X_NUM: return x->num < 0 ? P_SUM : P_ATOM;
  case X_ADD: return tanh_prime(x) ? P_ATOM : P_SUM;
  case X_MUL: return x->args[0]->op == X_NUM && x->args[0]->num < 0 ? P_SUM : P_PROD;
  case X_POW:
    if (x->args[1]->op == X_NUM && x->args[1]->num < 0) return P_PROD;   /* 1/x */
    return P_POW;
  case X_MATVEC:
  case X_MATTVEC:
  case X_OUTER: return P_MATMUL;
  case X_SUM: return x->args[0]->op == X_MUL ? P_MATMUL : P_ATOM;    /* aᵀ b, ‖v‖², Σ(v) */
  case X_BCAST: return prec(x->args[0]);
  default: return P_ATOM;
  }
}

/* ---- powers ------------------------------------------------------------------------ */

static void put_superscript(printer *p, double e) {
  static const char *const digit[10] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  char s[32];
  snprintf(s, sizeof s, "%.0f", e);
  for (const char *q = s; *q; q++) put(p, *q == '-' ? "⁻" : digit[*q - '0']);
}

/* base^e, e a number or an expression. */
static void print_power(printer *p, const ex_node *base, const ex_node *e) {
  print(p, base, P_ATOM);
  double v;
  bool num = ex_is_num(e, &v);
  if (p->style == EXP_TEXT && num && v == floor(v) && fabs(v) < 1e6) {
    put_superscript(p, v);
  } else if (p->style == EXP_LATEX) {
    put(p, "^{");
    print(p, e, P_SUM);
    put(p, "}");
  } else {
    put(p, "^");
    print(p, e, num && v >= 0 ? P_SUM : P_ATOM);
  }
}

/* A factor with exponent e < 0 printed in a denominator as base^-e. */
static void print_inverted(printer *p, const ex_node *f, int ctx) {
  double e = -f->args[1]->num;
  if (e == 1) { print(p, f->args[0], ctx); return; }
  ex_node num = {.op = X_NUM, .num = e};
  print_power(p, f->args[0], &num);
}

/* ---- products ---------------------------------------------------------------------- */

/* One factor of a product as printed: a node, or σ′(y) standing for σ(y) (1 − σ(y)). */
typedef struct item {
  const ex_node *x;
  const ex_node *sigmoid_arg;    /* non-NULL: print σ′ of this */
  bool flip;                     /* a sum printed with all its signs flipped */
} item;

/* Pair up σ(y) and 1 − σ(y) among the factors into σ′(y); returns the number of items. */
static int collect_items(vl_arena *a, const ex_node *const *f, int n, item *out) {
  int *mate = AR_NEWN(a, int, n);            /* 1 + index of the σ(y) paired with f[i] */
  bool *paired = AR_NEWN(a, bool, n);
  for (int i = 0; i < n; i++) {
    const ex_node *s = one_minus(f[i]);
    if (!s || s->op != X_FN || s->fn != F_SIGMOID) continue;
    for (int m = 0; m < n && !mate[i]; m++)
      if (f[m] == s && !paired[m]) { mate[i] = m + 1; paired[m] = true; }
  }
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (paired[i]) continue;
    if (mate[i]) out[k++] = (item){f[mate[i] - 1], f[mate[i] - 1]->args[0], false};
    else out[k++] = (item){f[i], NULL, false};
  }
  return k;
}

/* Where a factor goes in a printed product: scalars, then vectors that are atoms or
 * powers, then parenthesised ones, then matrix products: β φ′(ŭ) ⊙ (y − r) ⊙ Wᵀ e. */
static int print_rank(const item *it) {
  if (ex_is_scalar(it->x)) return 0;
  if (it->sigmoid_arg) return 1;
  int p = prec(it->x);
  return p >= P_POW ? 1 : p == P_MATMUL ? 3 : 2;
}

static void print_item(printer *p, item it, int ctx) {
  if (it.sigmoid_arg) {
    print_call(p, sty(p, "σ′", "\\sigma'", "sigmoid'"), it.sigmoid_arg);
  } else if (it.flip) {
    if (ctx > P_SUM) put(p, sty(p, "(", "\\left(", "("));
    print_sum(p, it.x, true);
    if (ctx > P_SUM) put(p, sty(p, ")", "\\right)", ")"));
  } else {
    print(p, it.x, ctx);
  }
}

/* Factors in the order people write them (print_rank): scalars juxtaposed, vectors ⊙.
 * The factor `flip` (may be NULL) is a sum printed with its signs flipped. */
static void print_factors(printer *p, const ex_node *const *f, int n, const ex_node *flip) {
  item buf[32];
  item *it = n <= 32 ? buf : ar_alloc(p->a, sizeof(item) * (size_t)n);
  int k = collect_items(p->a, f, n, it);
  for (int i = 0; i < k; i++) it[i].flip = it[i].x == flip && !it[i].sigmoid_arg;
  bool first = true, prev_vector = false;
  for (int rank = 0; rank < 4; rank++) {
    for (int i = 0; i < k; i++) {
      if (print_rank(&it[i]) != rank) continue;
      bool vector = rank > 0;
      if (!first) {
        if (p->style == EXP_PLAIN) put(p, " * ");
        else if (vector && prev_vector) put(p, sty(p, " ⊙ ", " \\odot ", ""));
        else put(p, sty(p, " ", " \\, ", ""));
      }
      print_item(p, it[i], P_PROD + 1);
      first = false;
      prev_vector = vector;
    }
  }
}

static bool is_negative(const ex_node *x) {
  if (x->op == X_NUM) return x->num < 0;
  return x->op == X_MUL && x->args[0]->op == X_NUM && x->args[0]->num < 0;
}

/* The sum among the factors that a leading minus can be moved into, as in
 * −(h − b − W r)/τ = (b − h + W r)/τ: the only sum, with no more positive terms than
 * negative ones. NULL if there is none. */
static const ex_node *sum_to_flip(const ex_node *const *f, int n) {
  const ex_node *sum = NULL;
  for (int i = 0; i < n; i++) {
    if (f[i]->op != X_ADD || tanh_prime(f[i])) continue;
    if (sum) return NULL;
    sum = f[i];
  }
  if (!sum) return NULL;
  int neg = 0;
  for (int i = 0; i < sum->nargs; i++) neg += is_negative(sum->args[i]);
  return 2 * neg >= sum->nargs ? sum : NULL;
}

/* Denominator factors: scalars first, like print_factors. */
static void print_denominator(printer *p, const ex_node *const *den, int nd) {
  const char *sep = sty(p, " ", " \\, ", " * ");
  bool first = true;
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < nd; i++) {
      if (ex_is_scalar(den[i]) != (pass == 0)) continue;
      if (!first) put(p, sep);
      print_inverted(p, den[i], nd > 1 ? P_PROD + 1 : P_POW);
      first = false;
    }
}

/* A product; `negate` flips its sign (used for the terms of a sum after a minus). */
static void print_product(printer *p, const ex_node *x, bool negate) {
  double coef = 1;
  const ex_node *const *f = (const ex_node *const *)x->args;
  int n = x->nargs;
  if (n > 0 && f[0]->op == X_NUM) { coef = f[0]->num; f++; n--; }
  if (negate) coef = -coef;

  const ex_node *nbuf[32], *dbuf[32];
  const ex_node **num = n <= 32 ? nbuf : ar_alloc(p->a, sizeof(ex_node *) * (size_t)n);
  const ex_node **den = n <= 32 ? dbuf : ar_alloc(p->a, sizeof(ex_node *) * (size_t)n);
  int nn = 0, nd = 0;
  for (int i = 0; i < n; i++) {
    if (f[i]->op == X_POW && f[i]->args[1]->op == X_NUM && f[i]->args[1]->num < 0) den[nd++] = f[i];
    else num[nn++] = f[i];
  }
  const ex_node *flip = coef < 0 ? sum_to_flip(num, nn) : NULL;
  if (flip) coef = -coef;
  if (coef < 0) { put_minus(p); coef = -coef; }

  if (p->style == EXP_LATEX && nd > 0) {
    if (coef != 1) { put_magnitude(p, coef); put(p, " \\, "); }
    put(p, "\\frac{");
    if (nn == 0) put(p, "1");
    else if (nn == 1 && flip) print_sum(p, num[0], true);
    else if (nn == 1) print(p, num[0], P_SUM);
    else print_factors(p, num, nn, flip);
    put(p, "}{");
    print_denominator(p, den, nd);
    put(p, "}");
    return;
  }
  if (coef != 1 || nn == 0) {
    put_magnitude(p, coef);
    if (nn > 0) put(p, p->style == EXP_PLAIN ? " * " : " ");
  }
  bool paren_num = nd > 0 && nn > 1;                    /* (a b)/c reads better */
  if (paren_num) put(p, "(");
  print_factors(p, num, nn, flip);
  if (paren_num) put(p, ")");
  if (nd == 0) return;
  put(p, "/");
  if (nd > 1) put(p, "(");
  print_denominator(p, den, nd);
  if (nd > 1) put(p, ")");
}

/* ---- sums -------------------------------------------------------------------------- */

/* The magnitude of a term: the term itself, or the term with its sign flipped. */
static void print_magnitude(printer *p, const ex_node *t) {
  if (!is_negative(t)) print(p, t, P_SUM + 1);
  else if (t->op == X_NUM) put_magnitude(p, -t->num);
  else if (negated(t)) print(p, negated(t), P_SUM + 1);
  else print_product(p, t, true);
}

/* Terms in canonical order, except that a negative constant goes last and the sum starts
 * with a positive term when there is one: x − 1, b − a. With `flip`, every sign flips. */
static void print_sum(printer *p, const ex_node *x, bool flip) {
  const ex_node *t[64];
  const ex_node **v = x->nargs <= 64 ? t : ar_alloc(p->a, sizeof(ex_node *) * (size_t)x->nargs);
  int n = 0;
  bool neg_const = x->args[0]->op == X_NUM && is_negative(x->args[0]) != flip;
  for (int i = neg_const; i < x->nargs; i++) v[n++] = x->args[i];
  if (neg_const) v[n++] = x->args[0];
  for (int i = 0; i < n; i++)
    if (is_negative(v[i]) == flip) {           /* rotate the first positive term up */
      const ex_node *first = v[i];
      memmove(v + 1, v, sizeof(ex_node *) * (size_t)i);
      v[0] = first;
      break;
    }
  for (int i = 0; i < n; i++) {
    bool minus = is_negative(v[i]) != flip;
    if (i > 0) put(p, minus ? "" : " + ");
    if (minus) {
      if (i > 0) put(p, " ");
      put_minus(p);
      if (i > 0) put(p, " ");
    }
    print_magnitude(p, v[i]);
  }
}

/* ---- the rest ---------------------------------------------------------------------- */

static void print_symbol(printer *p, const ex_node *x) {
  put(p, p->style == EXP_LATEX && x->latex ? x->latex : x->name ? x->name : "?");
}

static void put_transpose(printer *p) { put(p, sty(p, "ᵀ", "^\\top", "'")); }

/* W x, Wᵀ x, e rᵀ */
static void print_matprod(printer *p, const ex_node *x) {
  const char *mul = sty(p, " ", " ", " @ ");
  if (x->op == X_OUTER) {
    print(p, x->args[0], P_MATMUL);
    put(p, mul);
    print(p, x->args[1], P_ATOM);
    put_transpose(p);
    return;
  }
  print(p, x->args[0], P_POW);
  if (x->op == X_MATTVEC) put_transpose(p);
  put(p, mul);
  print(p, x->args[1], P_MATMUL);
}

/* ‖v‖², aᵀ b, or Σ(x). */
static void print_reduction(printer *p, const ex_node *x) {
  const ex_node *v = x->args[0];
  if (p->style != EXP_PLAIN && v->op == X_POW && is_value(v->args[1], 2)) {
    put(p, sty(p, "‖", "\\lVert ", ""));
    print(p, v->args[0], P_SUM);
    put(p, sty(p, "‖²", " \\rVert^2", ""));
    return;
  }
  if (p->style != EXP_PLAIN && v->op == X_MUL && v->nargs == 2 &&
      v->shape.kind == EXS_VECTOR && !ex_is_scalar(v->args[0]) && !ex_is_scalar(v->args[1])) {
    print(p, v->args[0], P_ATOM);
    put_transpose(p);
    put(p, " ");
    print(p, v->args[1], P_MATMUL);
    return;
  }
  print_call(p, sty(p, "Σ", "\\sum", "sum"), v);
}

static void print_vec(printer *p, const ex_node *x) {
  put(p, "[");
  for (int i = 0; i < x->nargs; i++) {
    if (i) put(p, ", ");
    print(p, x->args[i], P_SUM);
  }
  put(p, "]");
}

static void print_fn(printer *p, const ex_node *x) {
  const ex_node *a = x->args[0];
  if (x->fn == F_ABS) {
    put(p, sty(p, "|", "\\lvert ", "abs("));
    print(p, a, P_SUM);
    put(p, sty(p, "|", " \\rvert", ")"));
  } else if (x->fn == F_SQRT && p->style == EXP_LATEX) {
    put(p, "\\sqrt{");
    print(p, a, P_SUM);
    put(p, "}");
  } else if (x->fn == F_SQRT && p->style == EXP_TEXT && prec(a) == P_ATOM) {
    put(p, "√");
    print(p, a, P_ATOM);
  } else {
    print_call(p, fn_print_name(p, x->fn), a);
  }
}

static void print_node(printer *p, const ex_node *x) {
  switch (x->op) {
  case X_NUM: print_num(p, x->num); return;
  case X_SYM: print_symbol(p, x); return;
  case X_VEC: print_vec(p, x); return;
  case X_ADD:
    if (tanh_prime(x)) print_call(p, sty(p, "tanh′", "\\tanh'", "tanh'"), tanh_prime(x)->args[0]);
    else print_sum(p, x, false);
    return;
  case X_MUL: print_product(p, x, false); return;
  case X_POW:
    if (prec(x) == P_PROD) {                         /* a negative power alone: 1/x */
      ex_node one = {.op = X_NUM, .num = 1};
      ex_node *f[2] = {&one, (ex_node *)x};
      ex_node prod = {.op = X_MUL, .shape = x->shape, .nargs = 2, .args = f};
      print_product(p, &prod, false);
    } else {
      print_power(p, x->args[0], x->args[1]);
    }
    return;
  case X_FN: print_fn(p, x); return;
  case X_MATVEC:
  case X_MATTVEC:
  case X_OUTER: print_matprod(p, x); return;
  case X_SUM: print_reduction(p, x); return;
  case X_SOFTMAX: print_call(p, sty(p, "softmax", "\\operatorname{softmax}", "softmax"), x->args[0]); return;
  case X_LOGSUMEXP: print_call(p, sty(p, "logsumexp", "\\operatorname{logsumexp}", "logsumexp"), x->args[0]); return;
  case X_BCAST: print(p, x->args[0], P_SUM); return;
  }
}

static void print(printer *p, const ex_node *x, int ctx) {
  bool paren = prec(x) < ctx;
  if (paren) put(p, sty(p, "(", "\\left(", "("));
  print_node(p, x);
  if (paren) put(p, sty(p, ")", "\\right)", ")"));
}

char *ex_to_string(vl_arena *a, const ex_node *x, ex_style style) {
  printer p = {.a = a, .style = style};
  put(&p, "");
  print(&p, x, P_SUM);
  return p.buf;
}

void ex_print(FILE *out, const ex_node *x, ex_style style) {
  vl_arena a;
  ar_init(&a);
  fputs(ex_to_string(&a, x, style), out);
  ar_free_all(&a);
}
