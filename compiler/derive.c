/*
 * derive.c - the derivation of theory.md §2-5: energy in, dynamics, errors, plasticity out.
 *
 * The pass, in order:
 *   1. symbols for every model quantity (dv_syms), and the energy's DAG built term by term
 *      from the checked AST, so every DAG term remembers the source span of its AST term;
 *   2. ownership (§2): each term c·‖m‖² (c a number) is offered to the populations whose u̇
 *      it contains elementwise and affinely; exactly one must take it; the rest of E is the
 *      cost part;
 *   3. per population: m = a ⊙ u̇ + c (a > 0), the forward dynamics (§3);
 *   4. per population: Q and P from reverse mode on F_p = Σ_{k≠p} ⟨m_k, e_k⟩ + rest, with the
 *      prospective voltages ŭ_p = u_p + b ⊙ u̇_p held as leaves, which gives g_p and b_p
 *      structurally (the split of §4), and q_p from the own mismatch;
 *   5. per parameter: G = ∂F/∂θ with F = Σ_k ⟨m_k, e_k⟩ + rest (§5).
 * Everything is an expression of the symbolic engine; nothing is evaluated here.
 */
#include "derive.h"
#include "fn_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct dv_term {
  ex_node *x;         /* the DAG of the term (signed) */
  vl_span span;       /* its AST term */
  bool from_cost;     /* it refers to the `cost` declaration */
  int owner;          /* population that owns it, or -1 (cost part) */
  ex_node *m;         /* the mismatch, when owned */
  const char *why;    /* why a term that reads a population's u' was not taken as its
                         mismatch (for the message when that population ends up without) */
} dv_term;

typedef struct dv_state {
  dv_system *s;
  dg_ctx *d;
  vl_arena *a;
  ex_node **let_val;  /* memo: value of model->lets[i] */
  ex_node *cost_val;
  dv_term *terms;
  int nterms, cap;
} dv_state;

/* ---- symbols ------------------------------------------------------------------------ */

static ex_shape dv_vec(long n) { return (ex_shape){ EXS_VECTOR, n, 1 }; }
static ex_shape dv_scalar(void) { return (ex_shape){ EXS_SCALAR, 1, 1 }; }

static ex_shape dv_shape_of(const vl_shape *s) {
  if (s->kind == SH_VECTOR) return dv_vec(s->rows);
  if (s->kind == SH_MATRIX) return (ex_shape){ EXS_MATRIX, s->rows, s->cols };
  return dv_scalar();
}

static ex_node *dv_sym(dv_system *s, int kind, int index, ex_shape sh, const char *name,
                       const char *latex) {
  return ex_sym(s->x, kind, index, sh, name, latex);
}

/* Names as the papers write them: u_h1, u̇_h1, e_h1, τᵐ_h1, τʳ_h1. */
/* The symbols are created time constants first, then states, so that the canonical order
 * of the engine (creation order) prints τᵐ ⊙ u̇ and −u + W r + b as the papers do. */
static void dv_pop_tau_syms(dv_system *s, vl_arena *a, dv_pop *p) {
  const char *n = p->decl->name;
  ex_shape v = dv_vec(p->n);
  p->taum = dv_sym(s, S_TAUM, p->index, v, ar_printf(a, "\u03c4\u1d50_%s", n),
                   ar_printf(a, "\\tau^m_{%s}", n));
  p->taur = dv_sym(s, S_TAUR, p->index, v, ar_printf(a, "\u03c4\u02b3_%s", n),
                   ar_printf(a, "\\tau^r_{%s}", n));
}

static void dv_pop_syms(dv_system *s, vl_arena *a, dv_pop *p) {
  const char *n = p->decl->name;
  ex_shape v = dv_vec(p->n);
  p->u    = dv_sym(s, S_U, p->index, v, ar_printf(a, "u_%s", n), ar_printf(a, "u_{%s}", n));
  p->udot = dv_sym(s, S_UDOT, p->index, v, ar_printf(a, "u\u0307_%s", n),
                   ar_printf(a, "\\dot{u}_{%s}", n));
  p->ub   = dv_sym(s, S_UB, p->index, v, ar_printf(a, "\u016d_%s", n),
                   ar_printf(a, "\\breve{u}_{%s}", n));
  /* a gradient-flow population's rate is φ(u): ŭ = u (docs/theory.md §10b) */
  p->ub_def = p->decl->flow ? p->u : ex_add(s->x, p->u, ex_mul(s->x, p->taur, p->udot));
  s->ub_syms[p->index] = p->ub;
  s->ub_defs[p->index] = p->ub_def;
}

static void dv_pop_err_syms(dv_system *s, vl_arena *a, dv_pop *p) {
  const char *n = p->decl->name;
  p->e = dv_sym(s, S_E, p->index, dv_vec(p->n), ar_printf(a, "e_%s", n),
                ar_printf(a, "e_{%s}", n));
}

static int dv_index_of(const vl_vec *v, const vl_decl *d) {
  for (int i = 0; i < v->len; i++)
    if (v->items[i] == d) return i;
  return -1;
}

static void dv_make_syms(dv_system *s, vl_arena *a) {
  vl_model *m = s->model;
  s->npops = m->pops.len;
  s->pops = AR_NEWN(a, dv_pop, s->npops > 0 ? s->npops : 1);
  s->ub_syms = AR_NEWN(a, ex_node *, s->npops + 1);
  s->ub_defs = AR_NEWN(a, ex_node *, s->npops + 1);
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    p->decl = m->pops.items[i];
    p->index = i;
    p->n = p->decl->size;
    p->split_ok = true;
    dv_pop_tau_syms(s, a, p);
  }
  for (int i = 0; i < s->npops; i++) dv_pop_syms(s, a, &s->pops[i]);
  s->inputs = AR_NEWN(a, ex_node *, m->inputs.len + 1);
  for (int i = 0; i < m->inputs.len; i++) {
    vl_decl *d = m->inputs.items[i];
    s->inputs[i] = dv_sym(s, S_INPUT, i, dv_vec(d->size), d->name, d->name);
  }
  s->targets = AR_NEWN(a, ex_node *, m->targets.len + 1);
  for (int i = 0; i < m->targets.len; i++) {
    vl_decl *d = m->targets.items[i];
    s->targets[i] = dv_sym(s, S_TARGET, i, dv_vec(d->size), d->name, d->name);
  }
  s->consts = AR_NEWN(a, ex_node *, m->consts.len + 1);
  for (int i = 0; i < m->consts.len; i++) {
    vl_decl *d = m->consts.items[i];
    s->consts[i] = dv_sym(s, S_CONST, i, dv_shape_of(&d->value->shape), d->name, d->name);
  }
  s->t = dv_sym(s, S_TIME, 0, dv_scalar(), "t", "t");
  s->dt = dv_sym(s, S_DT, 0, dv_scalar(), "dt", "\\Delta t");
}

/* Parameters: every weight and bias, and both time constants of every population. */
static void dv_make_params(dv_system *s, vl_arena *a) {
  vl_model *m = s->model;
  int n = m->weights.len + m->biases.len + 2 * s->npops;
  s->params = AR_NEWN(a, dv_param, n + 1);
  s->nparams = 0;
  for (int i = 0; i < m->weights.len; i++) {
    vl_decl *d = m->weights.items[i];
    dv_param *p = &s->params[s->nparams++];
    p->name = d->name; p->kind = PK_WEIGHT; p->decl = d; p->learn = -1;
    p->pop = dv_index_of(&m->pops, d->post);
    p->sym = dv_sym(s, S_W, i, (ex_shape){ EXS_MATRIX, d->post->size, d->pre->size },
                    d->name, d->name);
  }
  for (int i = 0; i < m->biases.len; i++) {
    vl_decl *d = m->biases.items[i];
    dv_param *p = &s->params[s->nparams++];
    p->name = d->name; p->kind = PK_BIAS; p->decl = d; p->learn = -1;
    p->pop = dv_index_of(&m->pops, d->post);
    p->sym = dv_sym(s, S_B, i, dv_vec(d->post->size), d->name, d->name);
  }
  for (int i = 0; i < s->npops; i++) {
    for (int k = 0; k < 2; k++) {
      dv_param *p = &s->params[s->nparams++];
      p->name = ar_printf(a, "%s.%s", s->pops[i].decl->name, k ? "tau_r" : "tau_m");
      p->kind = k ? PK_TAU_R : PK_TAU_M;
      p->decl = s->pops[i].decl;
      p->pop = i;
      p->learn = -1;
      p->sym = k ? s->pops[i].taur : s->pops[i].taum;
    }
  }
}

static int dv_weight_param(dv_system *s, const vl_decl *d) {
  for (int i = 0; i < s->nparams; i++)
    if (s->params[i].decl == d && s->params[i].kind == PK_WEIGHT) return i;
  return -1;
}

/* Link every `feedback W = B` (checked: both weights, B of the shape of Wᵀ). */
static void dv_link_feedback(dv_system *s) {
  for (int i = 0; i < s->nparams; i++) s->params[i].fb = s->params[i].fb_of = -1;
  for (int k = 0; k < s->model->feedbacks.len; k++) {
    const vl_decl *f = s->model->feedbacks.items[k];
    int w = dv_weight_param(s, f->fb_w), b = dv_weight_param(s, f->fb_b);
    s->params[w].fb = b;
    s->params[b].fb_of = w;
    s->params[w].fb_decl = s->params[b].fb_decl = f;
  }
}

static dv_param *dv_find_param(dv_system *s, const vl_decl *d, const char *field) {
  for (int i = 0; i < s->nparams; i++) {
    dv_param *p = &s->params[i];
    if (p->decl != d) continue;
    if (!field && (p->kind == PK_WEIGHT || p->kind == PK_BIAS)) return p;
    if (field && !strcmp(field, "tau_m") && p->kind == PK_TAU_M) return p;
    if (field && !strcmp(field, "tau_r") && p->kind == PK_TAU_R) return p;
  }
  return NULL;
}

static void dv_mark_learned(dv_system *s) {
  vl_model *m = s->model;
  for (int g = 0; g < m->learns.len; g++) {
    vl_decl *l = m->learns.items[g];
    for (int i = 0; i < l->nitems; i++) {
      dv_param *p = dv_find_param(s, l->items[i].param, l->items[i].field);
      if (p) p->learn = g;
    }
  }
}

/* ---- AST -> DAG ------------------------------------------------------------------------ */

static ex_node *dv_build(dv_state *st, const vl_expr *e);

static dv_pop *dv_pop_of(dv_system *s, const vl_expr *e) {
  if (e->kind != EX_NAME || !e->sym || e->sym->kind != D_POP) return NULL;
  int i = dv_index_of(&s->model->pops, e->sym);
  return i < 0 ? NULL : &s->pops[i];
}

/* φ(x) for a population's transfer function (linear is the identity). */
static ex_node *dv_apply_phi(dv_system *s, vl_builtin phi, ex_node *x) {
  ex_fn f = fm_of_builtin(phi);
  return f == F_COUNT ? x : ex_fn1(s->x, f, x);
}

/* prosp(h, τ): with h's own τʳ this is the prospective voltage ŭ_h, kept as a symbol so
 * that the split of theory.md §4 can be read off the DAG (dv_errors); any other τ gives
 * the plain expression. */
static ex_node *dv_prosp(dv_system *s, dv_pop *p, ex_node *tau) {
  if (tau == p->taur) return p->ub;
  return ex_add(s->x, p->u, ex_mul(s->x, tau, p->udot));
}

static ex_node *dv_build(dv_state *st, const vl_expr *e);

/* rate(h) = φ(ŭ_h) with ŭ_h the symbol (p->rate: the same with ŭ_h written out). φ is a
 * built-in, or a user fn whose checked expansion fn(prosp(h)) the checker kept. */
static ex_node *dv_pop_rate(dv_state *st, dv_pop *p) {
  dv_system *s = st->s;
  if (!p->rate_sym) {
    p->rate_sym = p->decl->phi_fn ? dv_build(st, p->decl->phi_rate)
                                  : dv_apply_phi(s, p->decl->phi, p->ub);
    p->rate = dv_expand(s, p->rate_sym);
  }
  return p->rate_sym;
}

ex_node *dv_expand(dv_system *s, ex_node *x) {
  return s->npops ? ex_subst(s->x, x, s->ub_syms, s->ub_defs, s->npops) : x;
}

/* The elements of a constant vector expression (for concat). */
static int dv_elements(ex_ctx *x, ex_node *v, ex_node **out, int max) {
  if (v->shape.kind == EXS_SCALAR) { if (max > 0) out[0] = v; return 1; }
  double c;
  if (ex_is_num(v, &c)) {   /* a vector of equal numbers is one shaped number (ex_vec) */
    for (long i = 0; i < v->shape.rows && i < max; i++) out[i] = ex_num(x, c);
    return (int)v->shape.rows;
  }
  if (v->op != X_VEC) return -1;
  for (int i = 0; i < v->nargs && i < max; i++) out[i] = v->args[i];
  return v->nargs;
}

static ex_node *dv_num_arg(dv_state *st, const vl_expr *e, double *out) {
  ex_node *n = dv_build(st, e);
  if (!ex_is_num(n, out)) {
    dg_error(st->d, e->span, "expected a number here");
    *out = 0;
  }
  return n;
}

static ex_node *dv_build_vecfn(dv_state *st, const vl_expr *e) {
  dv_system *s = st->s;
  ex_ctx *x = s->x;
  if (e->bi == BI_FILL) {
    double n;
    dv_num_arg(st, e->args[0], &n);
    ex_node *v = dv_build(st, e->args[1]);
    long len = (long)n > 0 ? (long)n : 1;
    ex_node **el = AR_NEWN(st->a, ex_node *, len);
    for (long i = 0; i < len; i++) el[i] = v;
    return ex_vec(x, el, (int)len);
  }
  if (e->bi == BI_LINSPACE) {
    double a, b, n;
    dv_num_arg(st, e->args[0], &a);
    dv_num_arg(st, e->args[1], &b);
    dv_num_arg(st, e->args[2], &n);
    long len = (long)n > 0 ? (long)n : 1;
    ex_node **el = AR_NEWN(st->a, ex_node *, len);
    for (long i = 0; i < len; i++)
      el[i] = ex_num(x, len == 1 ? a : a + (b - a) * (double)i / (double)(len - 1));
    return ex_vec(x, el, (int)len);
  }
  /* concat */
  long total = e->shape.rows;
  ex_node **el = AR_NEWN(st->a, ex_node *, total + 1);
  int k = 0;
  for (int i = 0; i < e->nargs; i++) {
    ex_node *v = dv_build(st, e->args[i]);
    int n = dv_elements(x, v, el + k, (int)(total - k));
    if (n < 0) {
      dg_error(st->d, e->args[i]->span, "concat needs constant vectors or scalars");
      return ex_zero_like(x, dv_vec(total));
    }
    k += n;
  }
  return ex_vec(x, el, k);
}

static ex_node *dv_build_call(dv_state *st, const vl_expr *e) {
  dv_system *s = st->s;
  ex_ctx *x = s->x;
  ex_fn f = fm_of_builtin(e->bi);
  if (f != F_COUNT) return ex_fn1(x, f, dv_build(st, e->args[0]));
  switch (e->bi) {
  case BI_LINEAR: return dv_build(st, e->args[0]);
  case BI_SOFTMAX: return ex_softmax(x, dv_build(st, e->args[0]));
  case BI_LOG_SOFTMAX: return ex_log_softmax(x, dv_build(st, e->args[0]));
  case BI_LOGSUMEXP: return ex_logsumexp(x, dv_build(st, e->args[0]));
  case BI_SUM: return ex_sum(x, dv_build(st, e->args[0]));
  case BI_MEAN: return ex_mean(x, dv_build(st, e->args[0]));
  case BI_SUMSQ: return ex_sumsq(x, dv_build(st, e->args[0]));
  case BI_DOT: return ex_dot(x, dv_build(st, e->args[0]), dv_build(st, e->args[1]));
  case BI_PROSP: {
    dv_pop *p = dv_pop_of(s, e->args[0]);
    if (!p) break;
    return dv_prosp(s, p, e->nargs > 1 ? dv_build(st, e->args[1]) : p->taur);
  }
  case BI_RATE: {
    dv_pop *p = dv_pop_of(s, e->args[0]);
    if (!p) break;
    return dv_pop_rate(st, p);
  }
  case BI_FILL: case BI_CONCAT: case BI_LINSPACE:
    return dv_build_vecfn(st, e);
  default: break;
  }
  dg_error(st->d, e->span, "internal: cannot derive call of '%s'", e->name ? e->name : "?");
  return ex_num(x, 0);
}

static ex_node *dv_build_name(dv_state *st, const vl_expr *e) {
  dv_system *s = st->s;
  vl_model *m = s->model;
  if (e->is_time || !e->sym) return s->t;
  vl_decl *d = e->sym;
  switch (d->kind) {
  case D_POP: return s->pops[dv_index_of(&m->pops, d)].u;
  case D_INPUT: return s->inputs[dv_index_of(&m->inputs, d)];
  case D_TARGET: return s->targets[dv_index_of(&m->targets, d)];
  case D_CONST: return s->consts[dv_index_of(&m->consts, d)];
  case D_WEIGHT: case D_BIAS: return dv_find_param(s, d, NULL)->sym;
  case D_LET: {
    int i = dv_index_of(&m->lets, d);
    if (!st->let_val[i]) st->let_val[i] = dv_build(st, d->value);
    return st->let_val[i];
  }
  case D_COST:
    if (!st->cost_val) st->cost_val = dv_build(st, d->value);
    return st->cost_val;
  default: break;
  }
  dg_error(st->d, e->span, "internal: cannot derive name '%s'", e->name);
  return ex_num(s->x, 0);
}

static bool dv_is_norm_squared(const vl_expr *e) {
  return e->kind == EX_BINARY && e->op == '^' && e->lhs->kind == EX_NORM &&
         e->rhs->kind == EX_NUM && e->rhs->num == 2.0;
}

static ex_node *dv_build_binary(dv_state *st, const vl_expr *e) {
  ex_ctx *x = st->s->x;
  if (dv_is_norm_squared(e)) return ex_sumsq(x, dv_build(st, e->lhs->lhs));
  if (e->op == '@' && e->lhs->kind == EX_DERIV)   /* W' @ v (the checker allows it only here) */
    return ex_mattvec(x, dv_build(st, e->lhs->lhs), dv_build(st, e->rhs));
  ex_node *l = dv_build(st, e->lhs), *r = dv_build(st, e->rhs);
  switch (e->op) {
  case '+': return ex_add(x, l, r);
  case '-': return ex_sub(x, l, r);
  case '*': return ex_mul(x, l, r);
  case '/': return ex_div(x, l, r);
  case '^': return ex_pow(x, l, r);
  case '@': return ex_matvec(x, l, r);
  }
  return ex_num(x, 0);
}

/* Expects a checked expression; the recursion depth is bounded by the parser's nesting
 * limit. */
static ex_node *dv_build(dv_state *st, const vl_expr *e) {
  dv_system *s = st->s;
  switch (e->kind) {
  case EX_NUM: return ex_num(s->x, e->num);
  case EX_NAME: return dv_build_name(st, e);
  case EX_BINARY: return dv_build_binary(st, e);
  case EX_NEG: return ex_neg(s->x, dv_build(st, e->lhs));
  case EX_DERIV: {
    dv_pop *p = dv_pop_of(s, e->lhs);
    if (p) return p->udot;
    break;
  }
  case EX_FIELD: {
    dv_pop *p = dv_pop_of(s, e->lhs);
    if (p && !strcmp(e->name, "tau_m")) return p->taum;
    if (p && !strcmp(e->name, "tau_r")) return p->taur;
    break;
  }
  case EX_CALL: return dv_build_call(st, e);
  case EX_VEC: {
    ex_node **el = AR_NEWN(st->a, ex_node *, e->nargs + 1);
    for (int i = 0; i < e->nargs; i++) el[i] = dv_build(st, e->args[i]);
    return ex_vec(s->x, el, e->nargs);
  }
  case EX_NORM: return ex_fn1(s->x, F_SQRT, ex_sumsq(s->x, dv_build(st, e->lhs)));
  case EX_STR: break;
  }
  dg_error(st->d, e->span, "internal: expression not supported by the derivation");
  return ex_num(s->x, 0);
}

/* ---- 1. the energy, term by term --------------------------------------------------------- */

static bool dv_refers_to(const vl_expr *e, const vl_decl *d, int depth) {
  if (!e || !d || depth > 10000) return false;
  if (e->kind == EX_NAME && e->sym == d) return true;
  if (e->kind == EX_NAME && e->sym && e->sym->kind == D_LET)
    return dv_refers_to(e->sym->value, d, depth + 1);
  if (dv_refers_to(e->lhs, d, depth + 1) || dv_refers_to(e->rhs, d, depth + 1)) return true;
  for (int i = 0; i < e->nargs; i++)
    if (dv_refers_to(e->args[i], d, depth + 1)) return true;
  return false;
}

static void dv_add_term(dv_state *st, ex_node *x, vl_span sp, bool from_cost) {
  st->terms = ar_grow(st->a, st->terms, st->nterms, &st->cap, sizeof *st->terms);
  st->terms[st->nterms++] = (dv_term){ x, sp, from_cost, -1, NULL, NULL };
}

/* Split the energy's AST at its top-level + and -, build each piece, and split each
 * piece's DAG into its own top-level terms (a let may hold a sum). */
static void dv_collect_terms(dv_state *st, const vl_expr *e, bool neg) {
  if (e->kind == EX_BINARY && (e->op == '+' || e->op == '-')) {
    dv_collect_terms(st, e->lhs, neg);
    dv_collect_terms(st, e->rhs, e->op == '-' ? !neg : neg);
    return;
  }
  ex_node *x = dv_build(st, e);
  if (neg) x = ex_neg(st->s->x, x);
  bool from_cost = st->s->model->cost && dv_refers_to(e, st->s->model->cost, 0);
  ex_node **parts;
  int n = ex_terms(x, &parts);
  for (int i = 0; i < n; i++) dv_add_term(st, parts[i], e->span, from_cost);
}

/* ---- 2. ownership ------------------------------------------------------------------------ */

/* Does x depend on numbers and consts only (a precision, a scale: nothing of the state, the
 * parameters, the data or the time)? */
static bool dv_const_only(const ex_node *x) {
  if (x->op == X_NUM) return true;
  if (x->op == X_SYM) return x->sym_kind == S_CONST;
  if (x->op == X_MATVEC || x->op == X_MATTVEC || x->op == X_OUTER) return false;
  for (int i = 0; i < x->nargs; i++)
    if (!dv_const_only(x->args[i])) return false;
  return true;
}

static const double *dv_const_lookup(void *user, const ex_node *sym) {
  dv_system *s = user;
  if (sym->sym_kind != S_CONST) return NULL;
  const vl_decl *d = s->model->consts.items[sym->sym_index];
  return d->cval;
}

/* Is every element of the constant w positive, with every const at its default? */
static bool dv_positive(dv_system *s, ex_node *w) {
  vl_arena scratch = { 0 };
  ex_val v = { 0 };
  bool ok = ex_eval(s->x, w, dv_const_lookup, s, &scratch, &v);
  for (long i = 0; ok && i < v.shape.rows * v.shape.cols; i++) ok = v.v[i] > 0;
  ar_free_all(&scratch);
  return ok;
}

/* The factors of a product (x itself, in *one, when it is not one). */
static int dv_factors(ex_node *x, ex_node **one, ex_node ***out) {
  if (x->op == X_MUL) { *out = x->args; return x->nargs; }
  *one = x;
  *out = one;
  return 1;
}

/* √w for a positive constant w, factor by factor so that it prints as written: √(σ²) = |σ|,
 * √(2 · 0.125) = 0.5. */
static ex_node *dv_sqrt(ex_ctx *x, ex_node *w) {
  ex_node **f, *one, *r = ex_num(x, 1);
  int n = dv_factors(w, &one, &f);
  for (int i = 0; i < n; i++) {
    double c, e;
    if (ex_is_num(f[i], &c) && f[i]->shape.kind == EXS_SCALAR)
      r = ex_mul(x, r, ex_num(x, sqrt(c)));
    else if (f[i]->op == X_POW && ex_is_num(f[i]->args[1], &e) && fmod(e, 2) == 0)
      r = ex_mul(x, r, ex_pow(x, ex_fn1(x, F_ABS, f[i]->args[0]), ex_num(x, e / 2)));
    else
      r = ex_mul(x, r, ex_pow(x, f[i], ex_num(x, 0.5)));
  }
  return r;
}

/* Is term = Σ_i w_i m_i² with a positive constant weight w (numbers, scalar and per-neuron
 * consts, however they are distributed: c·½‖m‖², ½‖σ ⊙ m‖², ½ m·(π ⊙ m), ½‖m‖²/σ²)? Then
 * √(2w) ⊙ m is its mismatch (theory.md §8), returned; else NULL with *why saying what
 * kept it from being one (NULL: it does not look like a square at all). */
static ex_node *dv_match_square(dv_system *s, ex_node *term, const char **why) {
  ex_ctx *x = s->x;
  *why = NULL;
  ex_node **f, *k = ex_num(x, 1), *sum = NULL, *one;
  int n = dv_factors(term, &one, &f);
  for (int i = 0; i < n; i++) {
    if (f[i]->op == X_SUM && !sum) sum = f[i];
    else if (f[i]->shape.kind == EXS_SCALAR && dv_const_only(f[i])) k = ex_mul(x, k, f[i]);
    else return NULL;
  }
  if (!sum) return NULL;
  ex_node **g, *w = k, *m = NULL, *one2;
  int ng = dv_factors(sum->args[0], &one2, &g);
  for (int i = 0; i < ng; i++) {
    double two;
    if (dv_const_only(g[i])) w = ex_mul(x, w, g[i]);   /* σ², π: part of the weight */
    else if (!m && g[i]->op == X_POW && ex_is_num(g[i]->args[1], &two) && two == 2.0 &&
             g[i]->args[0]->shape.kind == EXS_VECTOR)
      m = g[i]->args[0];
    else return NULL;
  }
  if (!m) return NULL;
  ex_node *w2 = ex_simplify(x, ex_mul(x, ex_num(x, 2), w));
  if (!dv_positive(s, w2)) {
    *why = "its weight is not a positive constant (a mismatch term is w * |m|^2 / 2 with "
           "w > 0, a number or consts)";
    return NULL;
  }
  return ex_mul(x, dv_sqrt(x, w2), m);
}

/* Does x reach y only through + and * (not inside a function, power or matrix product)? */
static bool dv_linear_in(const ex_node *x, const ex_node *y, int depth) {
  if (x == y) return true;
  if (!ex_contains(x, y)) return true;
  if (depth > 64) return false;
  if (x->op != X_ADD && x->op != X_MUL && x->op != X_BCAST) return false;
  for (int i = 0; i < x->nargs; i++)
    if (!dv_linear_in(x->args[i], y, depth + 1)) return false;
  return true;
}

/* Does x reach y along some path of +, * and powers only (y written "bare", not inside a
 * function or matrix product)? */
static bool dv_bare_in(const ex_node *x, const ex_node *y, int depth) {
  if (x == y) return true;
  if (depth > 64 || !ex_contains(x, y)) return false;
  if (x->op != X_ADD && x->op != X_MUL && x->op != X_POW && x->op != X_BCAST) return false;
  for (int i = 0; i < x->nargs; i++)
    if (dv_bare_in(x->args[i], y, depth + 1)) return true;
  return false;
}

/* ∂(Σ m)/∂y: the diagonal of ∂m/∂y when m depends on y elementwise. */
static ex_node *dv_diag(dv_system *s, ex_node *m, ex_node *y) {
  ex_node *g;
  ex_grad(s->x, ex_sum(s->x, m), &y, 1, &g);
  return g;
}

/* x with every ŭ_p reached through a call, product or reduction (not along + * ^ alone)
 * replaced by mark. */
static ex_node *dv_mark_inner(ex_ctx *x, ex_node *n, ex_node *ub, ex_node *mark, int depth) {
  if (n == ub || !ex_contains(n, ub)) return n;
  if (depth > 64) return ex_subst(x, n, &ub, &mark, 1);
  ex_node *a[2];
  switch (n->op) {
  case X_ADD: case X_MUL: {
    ex_node **args = AR_NEWN(ex_arena(x), ex_node *, n->nargs);
    for (int i = 0; i < n->nargs; i++) args[i] = dv_mark_inner(x, n->args[i], ub, mark, depth + 1);
    return n->op == X_ADD ? ex_addn(x, args, n->nargs) : ex_muln(x, args, n->nargs);
  }
  case X_POW:
    a[0] = dv_mark_inner(x, n->args[0], ub, mark, depth + 1);
    a[1] = ex_subst(x, n->args[1], &ub, &mark, 1);
    return ex_pow(x, a[0], a[1]);
  case X_BCAST:
    return ex_bcast_to(x, dv_mark_inner(x, n->args[0], ub, mark, depth + 1), n->shape);
  default:
    return ex_subst(x, n, &ub, &mark, 1);
  }
}

/* p's own mismatch msym (ŭ symbols) as p reads it under sync (theory.md §8, lateral
 * recurrence): every bare ŭ_p (the mismatch's own prospective voltage) written out, every
 * ŭ_p inside a call or product (a rate read through W_rec) kept as the symbol ŭ_p, a
 * published value; the other populations' ŭ written out too with `others`. NULL when msym
 * reads ŭ_p nowhere but bare (no lateral read). */
static ex_node *dv_own_view(dv_system *s, ex_node *msym, dv_pop *p, bool others) {
  ex_ctx *x = s->x;
  ex_node *mark = ex_sym(x, S_UB_INNER, p->index, p->ub->shape, p->ub->name, p->ub->latex);
  ex_node *t = dv_mark_inner(x, msym, p->ub, mark, 0);
  if (!ex_contains(t, mark)) return NULL;
  t = ex_subst(x, t, &p->ub, &p->ub_def, 1);
  if (others) t = dv_expand(s, t);
  return ex_subst(x, t, &mark, &p->ub, 1);
}

static bool dv_candidate(dv_system *s, ex_node *m, dv_pop *p) {
  if (m->shape.rows != p->n || !ex_contains(m, p->udot)) return false;
  if (!ex_elementwise_in(m, p->udot)) return false;
  return !ex_contains(dv_diag(s, m, p->udot), p->udot);
}

/* Does the term (its mismatch with ŭ symbols) read population p only through its
 * prospective voltage ŭ_p = prosp(p), as a rate or a penalty on one does? */
static bool dv_reads_only_ub(dv_system *s, ex_node *msym, int p) {
  return !ex_contains(msym, s->pops[p].u) && !ex_contains(msym, s->pops[p].udot);
}

/* Offer a squared term to the populations; returns the owner or -1 (cost part), and in
 * *own the mismatch as the owner reads it: m, or its lateral view (dv_own_view) when m
 * reads the owner's rate inside a call (then m itself is not affine in u̇). */
static int dv_owner_of(dv_state *st, dv_term *t, ex_node *m, ex_node *msym, ex_node **own) {
  dv_system *s = st->s;
  int cand[64], nc = 0;
  ex_node *view[64];
  for (int i = 0; i < s->npops && nc < 64; i++) {
    ex_node *v = m;
    if (!dv_candidate(s, v, &s->pops[i])) {
      v = dv_own_view(s, msym, &s->pops[i], true);
      if (!v || !dv_candidate(s, v, &s->pops[i])) continue;
    }
    view[nc] = v;
    cand[nc++] = i;
  }
  if (nc > 1) {   /* prefer the population compared with its drive, outside every call */
    int k = 0;
    for (int i = 0; i < nc; i++)
      if (dv_linear_in(view[i], s->pops[cand[i]].udot, 0)) {
        view[k] = view[i];
        cand[k++] = cand[i];
      }
    if (k >= 1) nc = k;
  }
  *own = nc >= 1 ? view[0] : m;
  if (nc == 1) return cand[0];
  if (nc > 1) {
    dg_error(st->d, t->span, "energy term has two owners: both %s and %s appear affinely in "
             "its mismatch; write one population's prospective voltage outside every weight "
             "product", s->pops[cand[0]].decl->name, s->pops[cand[1]].decl->name);
    return -2;
  }
  /* No candidate: a term that looks like a population's mismatch (its u̇ outside every call)
   * but is not affine in it is an error; anything else belongs to the cost. */
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    if (m->shape.rows == p->n && dv_bare_in(m, p->udot, 0) && !t->from_cost &&
        !dv_reads_only_ub(s, msym, i)) {   /* a rate (user φ written out) is no mismatch */
      dg_error(st->d, t->span, "energy term is not affine in %s': its mismatch must have the "
               "form a * %s' + c with a independent of %s'", p->decl->name, p->decl->name,
               p->decl->name);
      return -2;
    }
  }
  return -1;
}

/* a must be positive: is m's coefficient of u̇ a negative number (then m is flipped)? */
static bool dv_negative(dv_system *s, ex_node *m, dv_pop *p) {
  ex_node *a = dv_diag(s, m, p->udot);
  double c;
  return (ex_is_num(a, &c) && c < 0) || (a->op == X_MUL && ex_is_num(a->args[0], &c) && c < 0);
}

static bool dv_has_target(dv_system *s, const ex_node *m) {
  for (int i = 0; i < s->model->targets.len; i++)
    if (ex_contains(m, s->targets[i])) return true;
  return false;
}

/* A population offered several squared terms keeps its mismatch and leaves the others to the
 * rest of E: a term with a target yields to one without (the cost written inline,
 * 0.5 * |y - rate(o)|^2 with a linear output, is affine in o'), and a term that reads the
 * population only through ŭ (a penalty lam * |rate(h)|^2 on a linear h) yields to one that
 * reads its u or u' otherwise (h + h.tau_m * h' compared with its drive, theory.md §2). */
static bool dv_yields_to_mismatch(dv_state *st, int o, int self, ex_node **ms, ex_node **msym,
                                  int *owner) {
  dv_system *s = st->s;
  bool target = dv_has_target(s, ms[self]), via_ub = dv_reads_only_ub(s, msym[self], o);
  if (!target && !via_ub) return false;
  for (int j = 0; j < st->nterms; j++) {
    if (j == self || owner[j] != o) continue;
    if (target && !dv_has_target(s, ms[j])) return true;
    if (via_ub && !dv_reads_only_ub(s, msym[j], o)) return true;
  }
  return false;
}

/* Why the mismatch m of a term that reads p's u' is not p's. */
static const char *dv_why_not(dv_state *st, ex_node *m, dv_pop *p, int owner) {
  dv_system *s = st->s;
  vl_arena *a = st->a;
  const char *n = p->decl->name;
  if (owner >= 0)
    return ar_printf(a, "it is the mismatch of population %s, which appears in it outside "
                     "every weight product and function call", s->pops[owner].decl->name);
  if (m->shape.rows != p->n)
    return ar_printf(a, "its mismatch has %ld elements and %s has %ld", m->shape.rows, n, p->n);
  if (!ex_elementwise_in(m, p->udot))
    return ar_printf(a, "it reads %s' through a weight product or a reduction; a mismatch "
                     "must depend on %s' element by element", n, n);
  return ar_printf(a, "it is not affine in %s': its coefficient of %s' depends on %s' (a "
                   "mismatch is a * %s' + c with a independent of %s')", n, n, n, n, n);
}

/* p was offered no mismatch: name the term the user probably meant, and why it was not
 * taken, rather than only the population. */
static void dv_no_mismatch(dv_state *st, dv_pop *p, ex_node **ms, const int *owner) {
  dv_system *s = st->s;
  const char *n = p->decl->name;
  for (int j = 0; j < st->nterms; j++) {
    dv_term *t = &st->terms[j];
    if (t->from_cost || t->owner >= 0 || !ex_contains(dv_expand(s, t->x), p->udot)) continue;
    if (owner[j] == -2) return;   /* reported already (two owners, not affine) */
    const char *why = t->why ? t->why
        : !ms[j] ? "it is not of the form w * |m|^2 (a squared norm times a positive "
                   "constant weight)"
        : dv_why_not(st, ms[j], p, owner[j]);
    dg_error(st->d, t->span, "this energy term is not the mismatch of population %s: %s", n,
             why);
    dg_note(st->d, p->decl->name_span, "population %s owns no other mismatch term", n);
    return;
  }
  dg_error(st->d, p->decl->name_span, "population %s owns no mismatch term of the energy "
           "(expected a term 0.5 * |%s + %s.tau_m * %s' - ...|^2)", n, n, n, n);
}

static bool dv_assign_owners(dv_state *st) {
  dv_system *s = st->s;
  int errs = st->d->errors;
  vl_span *first = AR_NEWN(st->a, vl_span, s->npops + 1);
  ex_node **ms = AR_NEWN(st->a, ex_node *, st->nterms + 1);
  int *owner = AR_NEWN(st->a, int, st->nterms + 1);
  ex_node **msym = AR_NEWN(st->a, ex_node *, st->nterms + 1);
  ex_node **mown = AR_NEWN(st->a, ex_node *, st->nterms + 1);
  for (int i = 0; i < st->nterms; i++) {   /* ownership is decided on the expanded form */
    dv_term *t = &st->terms[i];
    msym[i] = t->from_cost ? NULL : dv_match_square(s, t->x, &t->why);
    ms[i] = mown[i] = msym[i] ? dv_expand(s, msym[i]) : NULL;
    owner[i] = ms[i] ? dv_owner_of(st, t, ms[i], msym[i], &mown[i]) : -1;
  }
  for (int i = 0; i < st->nterms; i++) {
    dv_term *t = &st->terms[i];
    ex_node *m = mown[i];
    int o = owner[i];
    if (o < 0 || dv_yields_to_mismatch(st, o, i, ms, msym, owner)) continue;
    dv_pop *p = &s->pops[o];
    if (p->m) {
      dg_error(st->d, t->span, "population %s owns two mismatch terms of the energy",
               p->decl->name);
      dg_note(st->d, first[o], "its first mismatch term is here");
      continue;
    }
    t->owner = o;
    bool neg = dv_negative(s, m, p);
    p->m = t->m = neg ? ex_neg(s->x, m) : m;
    p->m_sym = neg ? ex_neg(s->x, msym[i]) : msym[i];
    p->m_span = first[o] = t->span;
    p->lateral = m != ms[i];
    if (p->lateral) p->m_read = dv_own_view(s, p->m_sym, p, false);
  }
  for (int i = 0; i < s->npops; i++)
    if (!s->pops[i].m) dv_no_mismatch(st, &s->pops[i], ms, owner);
  return st->d->errors == errs;
}

/* Does m read a weight whose post side is decl (a prediction of that signal)? */
static bool dv_predicts(dv_system *s, ex_node *m, const vl_decl *decl) {
  for (int i = 0; i < s->nparams; i++) {
    dv_param *p = &s->params[i];
    if (p->kind == PK_WEIGHT && p->decl->post == decl && ex_contains(m, p->sym)) return true;
  }
  return false;
}

/* The signal among syms[0..n) whose mismatch the squared term msym is (n_x elements, x
 * read elementwise and affinely), or -1. */
static int dv_clamped_owner(dv_system *s, ex_node *msym, ex_node **syms, const vl_vec *decls,
                            bool target) {
  for (int i = 0; i < decls->len; i++) {
    const vl_decl *d = decls->items[i];
    if (msym->shape.rows != d->size || !ex_contains(msym, syms[i])) continue;
    if (!dv_linear_in(msym, syms[i], 0) || !ex_elementwise_in(msym, syms[i])) continue;
    if (target && !dv_predicts(s, msym, d)) continue;   /* an inline cost stays a cost */
    return i;
  }
  return -1;
}

/* The unowned squared terms that are mismatches of clamped signals (theory.md §8). */
static void dv_find_clamped(dv_state *st) {
  dv_system *s = st->s;
  vl_model *m = s->model;
  s->clamped = AR_NEWN(st->a, dv_clamped, st->nterms + 1);
  for (int i = 0; i < st->nterms; i++) {
    dv_term *t = &st->terms[i];
    const char *why;
    if (t->owner >= 0 || t->from_cost) continue;
    ex_node *msym = dv_match_square(s, t->x, &why);
    if (!msym || msym->shape.kind != EXS_VECTOR) continue;
    for (int k = 0; k < 2; k++) {
      ex_node **syms = k ? s->targets : s->inputs;
      const vl_vec *decls = k ? &m->targets : &m->inputs;
      int j = dv_clamped_owner(s, msym, syms, decls, k == 1);
      if (j < 0) continue;
      const vl_decl *d = decls->items[j];
      ex_node *a = dv_diag(s, msym, syms[j]);
      double c;
      bool neg = (ex_is_num(a, &c) && c < 0) ||
                 (a->op == X_MUL && ex_is_num(a->args[0], &c) && c < 0);
      s->clamped[s->nclamped++] = (dv_clamped){ d->name, k == 1, d->size,
                                                neg ? ex_neg(s->x, msym) : msym };
      break;
    }
  }
}

/* ---- 3. forward dynamics ----------------------------------------------------------------- */

static void dv_forward(dv_system *s, dv_pop *p) {
  ex_ctx *x = s->x;
  p->a = ex_simplify(x, dv_diag(s, p->m, p->udot));
  ex_node *zero = ex_zero_like(x, p->udot->shape);
  p->c = ex_simplify(x, ex_subst(x, p->m, &p->udot, &zero, 1));
  p->udot_rhs = ex_simplify(x, ex_div(x, ex_sub(x, ex_mul(x, s->gamma, p->e), p->c), p->a));
}

/* ---- 4. errors: the split Q = q e - g, P = a e - b g -------------------------------------- */

static bool dv_state_free(dv_system *s, ex_node *x) {
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    if (ex_contains(x, p->u) || ex_contains(x, p->udot) || ex_contains(x, p->e) ||
        ex_contains(x, p->ub))   /* a lateral population's own published rate */
      return false;
  }
  for (int i = 0; i < s->model->inputs.len; i++)
    if (ex_contains(x, s->inputs[i])) return false;
  for (int i = 0; i < s->model->targets.len; i++)
    if (ex_contains(x, s->targets[i])) return false;
  return !ex_contains(x, s->t);
}

/* An expression as `derive` prints it (ASCII, for messages). */
static const char *dv_show(dv_system *s, ex_node *e) {
  return ex_to_string(ex_arena(s->x), e, EXP_PLAIN);
}

static void dv_split_fail(vl_arena *a, dv_pop *p, const char *why) {
  if (!p->split_ok) return;
  p->split_ok = false;
  p->split_why = ar_strdup(a, why);
}

/* A term k read by population p: the mismatch of k with k's own ŭ written out (it belongs
 * to k's q and a, not to p's g), or the cost part (k < 0). */
static ex_node *dv_read_term(dv_system *s, int k) {
  if (k < 0) return s->rest_sym;
  dv_pop *q = &s->pops[k];
  if (q->lateral) return q->m_read;   /* its own rate read through W_rec feeds g_q */
  return ex_subst(s->x, q->m_sym, &q->ub, &q->ub_def, 1);
}

/* Every term other than p's own must read p only through ŭ_p (theory.md §4: then
 * P_rest = τʳ ⊙ Q_rest and b = τʳ). */
static void dv_check_reads(dv_system *s, vl_arena *a, ex_node **terms) {
  for (int k = -1; k < s->npops; k++) {
    ex_node *t = terms[k + 1];
    for (int i = 0; i < s->npops; i++) {
      dv_pop *p = &s->pops[i];
      if (i == k) continue;
      if (ex_contains(t, p->udot))
        dv_split_fail(a, p, "another term reads its u' outside its prospective voltage "
                            "prosp(h) = h + h.tau_r * h'");
      else if (ex_contains(t, p->u))
        dv_split_fail(a, p, "another term reads its u directly, not through its prospective "
                            "voltage prosp(h) = h + h.tau_r * h'");
    }
  }
}

/* −(−a − b) ⊙ c as (a + b) ⊙ c: a population read by several terms (two weights, or its
 * own rate through W_rec) gets its g as a negated sum, which the constructors distribute only
 * when the sum stands alone; distributed here when most of the sum's terms are negated. For
 * printing: g_show only. */
ex_node *dv_tidy_sign(ex_ctx *x, ex_node *g) {
  double c;
  if (g->op != X_MUL || !ex_is_num(g->args[0], &c) || c != -1) return g;
  int neg = -1;   /* the factor that is a sum of negated terms */
  for (int i = 1; i < g->nargs && neg < 0; i++) {
    ex_node *f = g->args[i];
    int minus = 0;
    for (int k = 0; f->op == X_ADD && k < f->nargs; k++)
      minus += f->args[k]->op == X_MUL && ex_is_num(f->args[k]->args[0], &c) && c < 0;
    if (f->op == X_ADD && 2 * minus > f->nargs) neg = i;
  }
  if (neg < 0) return g;
  ex_node *r = ex_neg(x, g->args[neg]);   /* distributed by the constructor */
  for (int i = 1; i < g->nargs; i++)
    if (i != neg) r = ex_mul(x, r, g->args[i]);
  return r;
}

/* ---- feedback alignment (theory.md §10) ------------------------------------------------ */

typedef struct dv_fb_subst {
  ex_node **from, **to;
  int n, cap;
} dv_fb_subst;

/* Every back-projection Wᵀ v in g whose W has a feedback matrix B becomes B v. */
static void dv_fb_find(dv_system *s, ex_node *n, unsigned char *seen, dv_fb_subst *sb) {
  if (seen[n->id]) return;
  seen[n->id] = 1;
  if (n->op == X_MATTVEC && n->args[0]->op == X_SYM && n->args[0]->sym_kind == S_W) {
    dv_param *w = &s->params[n->args[0]->sym_index];   /* weights come first, in order */
    if (w->fb >= 0) {
      vl_arena *a = ex_arena(s->x);
      int cap = sb->cap;
      sb->from = ar_grow(a, sb->from, sb->n, &cap, sizeof *sb->from);
      sb->to = ar_grow(a, sb->to, sb->n, &sb->cap, sizeof *sb->to);
      sb->from[sb->n] = n;
      sb->to[sb->n++] = ex_matvec(s->x, s->params[w->fb].sym, n->args[1]);
      w->fb_hit = true;
      return;
    }
  }
  for (int i = 0; i < n->nargs; i++) dv_fb_find(s, n->args[i], seen, sb);
}

static ex_node *dv_fb_replace(dv_system *s, ex_node *g) {
  if (!s->model->feedbacks.len) return g;   /* no feedback: g untouched, bit for bit */
  unsigned char *seen = AR_NEWN(ex_arena(s->x), unsigned char, ex_total_nodes(s->x) + 1);
  dv_fb_subst sb = { 0 };
  dv_fb_find(s, g, seen, &sb);
  return sb.n ? ex_subst(s->x, g, sb.from, sb.to, sb.n) : g;
}

/* Gᵀ of a weight's update, term by term: c · a bᵀ → c · b aᵀ; terms that read W itself (a
 * prior, theory.md §10: not transposed into B) are dropped. NULL when a term is neither. */
static ex_node *dv_transpose_task(ex_ctx *x, ex_node *G, ex_node *W) {
  if (ex_contains(G, W)) {
    if (G->op != X_ADD) return ex_zero_like(x, (ex_shape){ EXS_MATRIX, W->shape.cols,
                                                          W->shape.rows });
    ex_node *r = ex_zero_like(x, (ex_shape){ EXS_MATRIX, W->shape.cols, W->shape.rows });
    for (int i = 0; i < G->nargs; i++) {
      ex_node *t = dv_transpose_task(x, G->args[i], W);
      if (!t) return NULL;
      r = ex_add(x, r, t);
    }
    return r;
  }
  double c;
  if (ex_is_num(G, &c)) return ex_zero_like(x, (ex_shape){ EXS_MATRIX, W->shape.cols,
                                                          W->shape.rows });
  if (G->op == X_OUTER) return ex_outer(x, G->args[1], G->args[0]);
  if (G->op == X_ADD || G->op == X_MUL) {
    ex_node *r = G->op == X_ADD ? ex_zero_like(x, (ex_shape){ EXS_MATRIX, W->shape.cols,
                                                             W->shape.rows }) : ex_num(x, 1);
    int mats = 0;
    for (int i = 0; i < G->nargs; i++) {
      ex_node *f = G->args[i];
      if (G->op == X_MUL && f->shape.kind == EXS_SCALAR) { r = ex_mul(x, r, f); continue; }
      ex_node *t = dv_transpose_task(x, f, W);
      if (!t || (G->op == X_MUL && mats++)) return NULL;
      r = G->op == X_ADD ? ex_add(x, r, t) : ex_mul(x, r, t);
    }
    return r;
  }
  return NULL;
}

const char *dv_feedback_grads(dv_system *s, ex_node **G) {
  ex_ctx *x = s->x;
  for (int i = 0; i < s->nparams; i++) {
    dv_param *w = &s->params[i];
    if (w->fb < 0 || !w->fb_decl->fb_rule) continue;
    dv_param *b = &s->params[w->fb];
    ex_node *lam = ex_num(x, w->fb_decl->fb_decay);
    ex_node *t = dv_transpose_task(x, G[i], w->sym);
    if (!t) return w->name;
    G[w->fb] = ex_add(x, t, ex_mul(x, lam, b->sym));
    G[i] = ex_add(x, G[i], ex_mul(x, lam, w->sym));
  }
  return NULL;
}

/* One reverse sweep of F with every ŭ as a leaf gives all g_p = −∂F/∂ŭ_p at once. */
static void dv_errors(dv_system *s, vl_arena *a) {
  ex_ctx *x = s->x;
  int np = s->npops;
  ex_node **terms = AR_NEWN(a, ex_node *, np + 2);
  ex_node *F = terms[0] = dv_read_term(s, -1);
  for (int k = 0; k < np; k++) {
    terms[k + 1] = dv_read_term(s, k);
    F = ex_add(x, F, ex_dot(x, terms[k + 1], s->pops[k].e));
  }
  ex_node **adj = AR_NEWN(a, ex_node *, np + 1);
  ex_grad(x, F, s->ub_syms, np, adj);
  dv_check_reads(s, a, terms);
  for (int i = 0; i < np; i++) {
    dv_pop *p = &s->pops[i];
    p->g_show = ex_simplify(x, dv_fb_replace(s, ex_neg(x, adj[i])));
    p->g = ex_simplify(x, dv_expand(s, p->g_show));
    p->g_show = dv_tidy_sign(x, p->g_show);   /* printing only: p->g is what is lowered */
    p->b = p->taur;
    if (!ex_elementwise_in(p->m, p->u)) {
      dv_split_fail(a, p, "q, the coefficient of u in its own mismatch, is not elementwise: the "
                          "mismatch couples u across neurons (self-coupling through u, as in "
                          "W @ h)");
      p->q = ex_num(x, 1);
    } else {
      p->q = ex_simplify(x, dv_diag(s, p->m, p->u));
    }
    const char *n = p->decl->name;
    if (!dv_state_free(s, p->q))
      dv_split_fail(a, p, ar_printf(a, "q = %s, the coefficient of u in its own mismatch, "
                    "depends on the state (a nonlinear leak)", dv_show(s, p->q)));
    if (!dv_state_free(s, p->a))
      dv_split_fail(a, p, ar_printf(a, "a = %s, the coefficient of %s' in its own mismatch, "
                    "depends on the state (a state-dependent time constant)", dv_show(s, p->a),
                    n));
  }
}

/* ---- 5. plasticity ------------------------------------------------------------------------ */

static void dv_plasticity(dv_system *s, dv_state *st) {
  ex_node **wrt = AR_NEWN(st->a, ex_node *, s->nparams + 1);
  ex_node **G = AR_NEWN(st->a, ex_node *, s->nparams + 1);
  for (int i = 0; i < s->nparams; i++) wrt[i] = s->params[i].sym;
  ex_grad(s->x, s->F, wrt, s->nparams, G);
  const char *bad = dv_feedback_grads(s, G);
  for (int i = 0; bad && i < s->nparams; i++)
    if (s->params[i].name == bad)
      dg_error(st->d, s->params[i].fb_decl->span, "Kolen-Pollack: the update of %s is not a "
               "sum of outer products, so it has no transpose to give its feedback matrix",
               bad);
  for (int i = 0; i < s->nparams; i++) {
    dv_param *p = &s->params[i];
    if (p->kind == PK_TAU_R) G[i] = dv_fb_replace(s, G[i]);   /* τʳ's rule reads g */
    p->G = ex_simplify(s->x, G[i]);
    p->used = ex_contains(s->energy, p->sym);
    if (p->fb_of >= 0) {   /* a feedback matrix carries errors back, it is no part of E */
      if (p->used)
        dg_error(st->d, p->decl->name_span, "%s is the feedback matrix of %s, but the energy "
                 "reads it: a feedback matrix only carries errors back (docs/theory.md §10)",
                 p->name, s->params[p->fb_of].name);
      continue;
    }
    if (!p->used && (p->kind == PK_WEIGHT || p->kind == PK_BIAS))
      dg_warning(st->d, p->decl->name_span, "the energy does not depend on %s", p->name);
    if (!p->used && p->learn >= 0)
      dg_warning(st->d, p->decl->name_span, "%s is learned but the energy does not depend "
                 "on it: it will not change", p->name);
  }
}

/* Feed-forward order: p after every population its forward dynamics reads. */
static void dv_order(dv_system *s) {
  int done = 0;
  for (int i = 0; i < s->npops; i++) s->pops[i].order = -1;
  for (int round = 0; round < s->npops && done < s->npops; round++) {
    for (int i = 0; i < s->npops; i++) {
      dv_pop *p = &s->pops[i];
      if (p->order >= 0) continue;
      bool ready = true;
      for (int k = 0; k < s->npops && ready; k++)
        if (k != i && s->pops[k].order < 0 && ex_contains(p->c, s->pops[k].u)) ready = false;
      if (ready) p->order = done++;
    }
  }
  for (int i = 0; i < s->npops; i++)   /* recurrent loops: declaration order */
    if (s->pops[i].order < 0) s->pops[i].order = done++;
}

/* The largest num/den (τʳ/τᵐ or τᵐ/τʳ) of p's neurons with every const at its default (0 if
 * not computable). */
static double dv_tau_ratio(dv_state *st, const vl_expr *num, const vl_expr *den) {
  dv_system *s = st->s;
  ex_node *ratio = ex_div(s->x, dv_build(st, num), dv_build(st, den));
  vl_arena scratch = { 0 };
  ex_val v = { 0 };
  double r = 0;
  if (ex_eval(s->x, ratio, dv_const_lookup, s, &scratch, &v))
    for (long i = 0; i < v.shape.rows * v.shape.cols; i++) r = fmax(r, v.v[i]);
  ar_free_all(&scratch);
  return r;
}

/* A loop across populations (p reads q's state, ..., q reads p's) is read one step late under
 * sync (docs/theory.md §6): stable when the loop's gain is small. A population on a loop that
 * looks ahead further than it integrates (τʳ > τᵐ) multiplies that gain each step, and the
 * step, and the adjoint that lags the loop's errors by one step likewise, can grow without
 * bound as dt shrinks (found by the differential tests): say so. */
static void dv_warn_fast_loops(dv_state *st) {
  dv_system *s = st->s;
  int n = s->npops;
  bool *reach = AR_NEWN(st->a, bool, (size_t)n * (size_t)n + 1);   /* reach[i*n+k]: i reads k */
  for (int i = 0; i < n; i++)
    for (int k = 0; k < n; k++)
      reach[i * n + k] = k != i ? ex_contains(s->pops[i].c, s->pops[k].u)
                                : ex_contains(s->pops[i].c, s->pops[i].ub);   /* lateral */
  for (int m = 0; m < n; m++)   /* transitive closure */
    for (int i = 0; i < n; i++)
      for (int k = 0; k < n; k++)
        reach[i * n + k] = reach[i * n + k] || (reach[i * n + m] && reach[m * n + k]);
  for (int i = 0; i < n; i++) {
    dv_pop *p = &s->pops[i];
    double r;
    if (!reach[i * n + i]) continue;
    bool self = ex_contains(p->c, p->ub);
    const char *how = self ? "through its own rate (lateral recurrence)" : "across populations";
    if ((r = dv_tau_ratio(st, p->decl->tau_r, p->decl->tau_m)) > 1)
      dg_warning(st->d, p->decl->name_span, "population %s is on a loop %s and "
                 "looks ahead further than it integrates (tau_r/tau_m up to %g): the sync step "
                 "reads the loop one step late, which grows without bound as dt shrinks when the "
                 "loop's gain times tau_r/tau_m exceeds 1, and so does the adjoint's backward "
                 "sweep (docs/theory.md §7)", p->decl->name, how, r);
    /* Its errors go round the loop too: prospective errors e = v + (tau_m/tau_r)(g - v) pass
     * a loop partner's error on amplified (found writing examples/recurrent). */
    if ((r = dv_tau_ratio(st, p->decl->tau_m, p->decl->tau_r)) > 1)
      dg_warning(st->d, p->decl->name_span, "population %s is on a loop %s and its "
                 "prospective errors amplify the errors coming round the loop by up to "
                 "tau_m/tau_r = %g each step (e = v + (tau_m/tau_r)(g - v)): errors = "
                 "prospective diverges when that times the loop's gain exceeds 1 (instantaneous "
                 "errors do not amplify; docs/theory.md §7)", p->decl->name, how, r);
  }
}

/* β: E built once more with the declared cost as one opaque scalar κ; β = ∂E/∂κ must be a
 * constant (then E is linear in the cost, theory.md §4). Returns false on an error. */
static bool dv_objective(dv_state *st) {
  dv_system *s = st->s;
  vl_model *m = s->model;
  ex_ctx *x = s->x;
  s->beta = ex_num(x, 1);
  if (m->cost) {
    ex_node *kappa = ex_sym(x, S_COST_OF, 0, (ex_shape){ EXS_SCALAR, 1, 1 }, m->cost->name,
                            NULL);
    ex_node *saved = st->cost_val;
    ex_node **lets = st->let_val;
    st->cost_val = kappa;
    st->let_val = AR_NEWN(st->a, ex_node *, m->lets.len + 1);
    ex_node *Ek = dv_build(st, m->energy->value);
    st->cost_val = saved;
    st->let_val = lets;
    ex_node *beta;
    ex_grad(x, Ek, &kappa, 1, &beta);
    beta = ex_simplify(x, beta);
    if (ex_contains(beta, kappa) || !dv_const_only(beta)) {
      dg_error(st->d, m->energy->value->span, "the cost %s must enter the energy linearly, as "
               "beta * %s with beta a constant (docs/theory.md §4): its weight here is %s",
               m->cost->name, m->cost->name, dv_show(s, ex_contains(beta, kappa) ?
               ex_subst(x, beta, &kappa, &s->cost_sym, 1) : beta));
      return false;
    }
    if (ex_is_zero(beta))
      dg_warning(st->d, m->cost->name_span, "the cost %s does not enter the energy: nothing "
                 "is learned from it, and `vlec grad` (which divides by its weight) is "
                 "undefined", m->cost->name);
    s->beta = beta;
  }
  bool zero = ex_is_zero(s->beta);
  s->objective_sym = ex_simplify(x, zero ? s->rest_sym : ex_div(x, s->rest_sym, s->beta));
  s->objective = dv_expand(s, s->objective_sym);
  bool learns = false;
  for (int i = 0; i < s->nparams; i++) learns = learns || s->params[i].learn >= 0;
  if (learns && ex_is_zero(s->rest))
    dg_warning(st->d, m->energy->value->span, "the model learns, but its objective J is "
               "identically zero (every term of the energy is a population's mismatch and "
               "there is no cost): nothing drives learning");
  return true;
}

/* Gradient-flow populations (docs/theory.md §10b): with E_γ = E + (γ − 1) β C, the cost
 * scaled by the phase's nudge γ (0 free, 1 nudged, −1 the symmetric negative phase; the
 * nudge strength is γβ), τᵐ ⊙ u̇ = −∂E_γ/∂u, written as the mismatch m = τᵐ ⊙ u̇ + ∂E_γ/∂u
 * (a = τᵐ, c = ∂E_γ/∂u) so that the adjoint's forward step (e = 0) integrates it; no error
 * (g = 0, no split: the model learns by equilibrium propagation) and G = ∂E_γ/∂θ, which the
 * runtime evaluates at the end of each phase. The objective is the cost C. */
static bool dv_flow(dv_state *st) {
  dv_system *s = st->s;
  vl_model *m = s->model;
  ex_ctx *x = s->x;
  int np = s->npops;
  for (int i = 0; i < np; i++)
    if (ex_contains(s->energy, s->pops[i].udot)) {
      dg_error(st->d, m->energy->value->span, "the energy reads the velocity of population %s, "
               "which follows the gradient flow (dynamics = gradient): tau_m u' = -dE/du needs "
               "an energy of u alone (write rate(%s) or %s, not prosp(%s, tau))",
               s->pops[i].decl->name, s->pops[i].decl->name, s->pops[i].decl->name,
               s->pops[i].decl->name);
      return false;
    }
  if (!m->cost || ex_is_zero(s->beta)) {
    dg_error(st->d, m->cost ? m->cost->name_span : m->energy->value->span, "equilibrium "
             "propagation nudges the network with beta * C: the energy needs a declared cost C "
             "with a nonzero weight beta (docs/theory.md §10b)");
    return false;
  }
  ex_node *Eg = ex_add(x, s->energy, ex_mul(x, ex_sub(x, s->gamma, ex_num(x, 1)),
                                            ex_mul(x, s->beta, s->cost)));
  s->F = Eg;
  ex_node **wrt = AR_NEWN(st->a, ex_node *, np + 1), **du = AR_NEWN(st->a, ex_node *, np + 1);
  for (int i = 0; i < np; i++) wrt[i] = s->pops[i].u;
  ex_grad(x, Eg, wrt, np, du);
  for (int i = 0; i < np; i++) {
    dv_pop *p = &s->pops[i];
    dv_pop_rate(st, p);
    p->a = p->taum;
    p->c = ex_simplify(x, du[i]);
    p->m = p->m_sym = ex_add(x, ex_mul(x, p->a, p->udot), p->c);
    p->udot_rhs = ex_simplify(x, ex_div(x, ex_neg(x, p->c), p->a));
    p->g = p->g_show = ex_zero_like(x, p->u->shape);
    p->q = ex_num(x, 1);
    p->b = p->taur;
    p->split_ok = false;
    p->split_why = "it follows the gradient flow (dynamics = gradient): no error, the model "
                   "learns by equilibrium propagation";
  }
  for (int i = 0; i < s->nparams; i++)
    if (s->params[i].learn >= 0 && (s->params[i].kind == PK_TAU_M ||
                                    s->params[i].kind == PK_TAU_R)) {
      dg_error(st->d, s->params[i].decl->name_span, "%s: equilibrium propagation learns "
               "weights and biases, not time constants", s->params[i].name);
      return false;
    }
  s->objective_sym = s->cost_sym;
  s->objective = s->cost;
  return true;
}

static double dv_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

dv_system *dv_derive(vl_model *m, dg_ctx *d, vl_arena *a) {
  double t0 = dv_now_ms();
  dv_system *s = AR_NEW(a, dv_system);
  s->model = m;
  s->x = ex_new(a);
  dv_state st = { .s = s, .d = d, .a = a };
  st.let_val = AR_NEWN(a, ex_node *, m->lets.len + 1);
  dv_make_syms(s, a);
  dv_make_params(s, a);
  for (int i = 0; i < s->npops; i++) dv_pop_err_syms(s, a, &s->pops[i]);
  s->gamma = dv_sym(s, S_GAMMA, 0, dv_scalar(), "\u03b3", "\\gamma");
  dv_mark_learned(s);
  dv_link_feedback(s);
  int errs = d->errors;
  if (!m->energy || !m->energy->value) return NULL;
  s->energy = dv_build(&st, m->energy->value);
  dv_collect_terms(&st, m->energy->value, false);
  if (d->errors != errs || (!m->eqprop && !dv_assign_owners(&st))) return NULL;

  if (!m->eqprop) dv_find_clamped(&st);
  s->rest_sym = ex_num(s->x, 0);
  for (int i = 0; i < st.nterms; i++)
    if (st.terms[i].owner < 0) s->rest_sym = ex_add(s->x, s->rest_sym, st.terms[i].x);
  s->cost_sym = m->cost ? dv_build(&st, m->cost->value) : s->rest_sym;
  s->rest = dv_expand(s, s->rest_sym);
  s->cost = dv_expand(s, s->cost_sym);
  if (!dv_objective(&st)) return NULL;
  s->energy = dv_expand(s, s->energy);
  long raw0;
  if (m->eqprop) {
    raw0 = ex_total_nodes(s->x);
    if (!dv_flow(&st)) return NULL;
  } else {
    s->F = s->rest;
    for (int i = 0; i < s->npops; i++) {   /* a lateral read is a plain rate for plasticity */
      dv_pop *p = &s->pops[i];
      s->F = ex_add(s->x, s->F, ex_dot(s->x, p->lateral ? dv_expand(s, p->m) : p->m, p->e));
      dv_pop_rate(&st, p);
    }
    raw0 = ex_total_nodes(s->x);
    for (int i = 0; i < s->npops; i++) dv_forward(s, &s->pops[i]);
    dv_errors(s, a);
    for (int i = 0; i < s->nparams; i++) {
      dv_param *w = &s->params[i];
      if (w->fb >= 0 && !w->fb_hit)
        dg_error(d, w->fb_decl->fb_w_span, "%s is never back-projected: no error is sent back "
                 "through it as %s' e, so feedback matrix %s would not be used (a weight that "
                 "the energy uses only transposed, %s' @ v, sends its errors back as %s e, "
                 "which feedback does not replace)", w->name, w->name, s->params[w->fb].name,
                 w->name, w->name);
    }
  }
  dv_plasticity(s, &st);
  dv_order(s);
  if (!m->eqprop) dv_warn_fast_loops(&st);
  s->nodes_raw = ex_total_nodes(s->x) - raw0;
  ex_node **roots = AR_NEWN(a, ex_node *, 3 * s->npops + s->nparams + 1);
  int nr = 0;
  for (int i = 0; i < s->npops; i++) {
    roots[nr++] = s->pops[i].udot_rhs;
    roots[nr++] = s->pops[i].g;
  }
  for (int i = 0; i < s->nparams; i++) roots[nr++] = s->params[i].G;
  s->nodes_final = ex_count(roots, nr);
  s->millis = dv_now_ms() - t0;
  return d->errors == errs ? s : NULL;
}

ex_node *dv_expr(dv_system *s, const vl_expr *e) {
  dg_ctx d;
  dg_init(&d, stderr);
  dv_state st = { .s = s, .d = &d, .a = ex_arena(s->x) };
  st.let_val = AR_NEWN(st.a, ex_node *, s->model->lets.len + 1);
  return dv_build(&st, e);
}

void dv_schemes_of(dv_system *s, const dv_pop *p, dv_schemes *o) {
  dv_schemes_with(s, p, p->g, o);
}

/* The one place where the schemes' formulas are written (theory.md §4a-c). Built as written,
 * not simplified: the lowering compiles them as they are (the operations of the reference
 * code), and dv_schemes_with simplifies them for printing. */
void dv_schemes_build(ex_ctx *x, const dv_scheme_in *in, dv_schemes *o) {
  ex_node *g = in->g, *a = in->a, *b = in->b, *q = in->q;
  ex_node *one = ex_num(x, 1);
  o->v = in->v;
  o->vdot = in->vdot;
  o->w = in->w;
  /* (4b) LE: e = g / q */
  o->inst = ex_div(x, g, q);
  /* (4c) GLE: b v̇ = g − v,  e = (v + (a/q) v̇) / q  (= (1/q) D⁺_{a/q} I⁻_b [g]) */
  o->v_dot = ex_div(x, ex_sub(x, g, in->v), b);
  o->pros_e = ex_div(x, ex_add(x, in->v, ex_mul(x, ex_div(x, a, q), in->vdot)), q);
  /* (4a) the adjoint, backward in time: e = (b/a) g + w,  a ẇ = q w − (1 − q b / a) g */
  o->adj_e = ex_add(x, ex_mul(x, ex_div(x, b, a), g), in->w);
  ex_node *k = ex_sub(x, one, ex_div(x, ex_mul(x, q, b), a));
  o->adj_w_dot = ex_div(x, ex_sub(x, ex_mul(x, q, in->w), ex_mul(x, k, g)), a);
}

void dv_schemes_with(dv_system *s, const dv_pop *p, ex_node *g, dv_schemes *o) {
  ex_ctx *x = s->x;
  vl_arena *a = ex_arena(x);
  const char *n = p->decl->name;
  ex_shape sh = p->e->shape;
  dv_scheme_in in = { .g = g, .a = p->a, .b = p->b, .q = p->q };
  in.v = ex_sym(x, S_PROS_V, p->index, sh, ar_printf(a, "v_%s", n), ar_printf(a, "v_{%s}", n));
  in.vdot = ex_sym(x, S_PROS_VDOT, p->index, sh, ar_printf(a, "v\u0307_%s", n),
                   ar_printf(a, "\\dot{v}_{%s}", n));
  in.w = ex_sym(x, S_ADJ_W, p->index, sh, ar_printf(a, "w_%s", n), ar_printf(a, "w_{%s}", n));
  dv_schemes_build(x, &in, o);
  ex_node **eqs[] = { &o->inst, &o->v_dot, &o->pros_e, &o->adj_e, &o->adj_w_dot };
  for (size_t i = 0; i < sizeof eqs / sizeof *eqs; i++) *eqs[i] = ex_simplify(x, *eqs[i]);
}
