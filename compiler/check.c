/*
 * check.c - the checker's driver (prefix ck_): names first, then every declaration in
 * order, then the model-wide rules and warnings, and the tables of vl_model.
 *
 * Declarations are checked in order and a name may only be used after its declaration,
 * so each one can rely on everything it names being checked already (sizes known, consts
 * evaluated). This also makes cycles impossible except through a forward reference, which
 * is where they are reported (check_expr.c).
 */
#include <stdarg.h>
#include <string.h>

#include "check_impl.h"

/* ---- reporting -------------------------------------------------------------------------- */

/* Was the last error printed? Past max_errors they are only counted, and their notes
 * must not be printed either (each note prints a source line: a flood of them on a huge
 * file would take quadratic time). */
static bool ck_printing(const ck_ctx *c) {
  return !c->d->max_errors || c->d->errors <= c->d->max_errors;
}

void ck_note(ck_ctx *c, vl_span sp, const char *fmt, ...) {
  if (!ck_printing(c)) return;
  va_list ap;
  va_start(ap, fmt);
  dg_vreport(c->d, DG_NOTE, sp, fmt, ap);
  va_end(ap);
}

/* The notes that say which fn expansion an error happened in, innermost first. */
static void ck_expansion_notes(ck_ctx *c) {
  for (ck_frame *f = c->frames; f; f = f->up)
    ck_note(c, f->call, "in the expansion of fn '%s' called here", f->fn->name);
}

void ck_err(ck_ctx *c, vl_span sp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dg_vreport(c->d, DG_ERROR, sp, fmt, ap);
  va_end(ap);
  ck_expansion_notes(c);
}

/* Said once, when the warnings are cut short. */
static void ck_warn_plain(ck_ctx *c) {
  fprintf(c->d->out, "vlec: warning: more than %d warnings; the rest are not shown\n", CK_MAX_WARNINGS);
  c->d->warnings++;
}

void ck_warn(ck_ctx *c, vl_span sp, const char *fmt, ...) {
  if (++c->warnings > CK_MAX_WARNINGS) {
    if (c->warnings == CK_MAX_WARNINGS + 1) ck_warn_plain(c);
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  dg_vreport(c->d, DG_WARNING, sp, fmt, ap);
  va_end(ap);
}

ck_info *ck_info_of(ck_ctx *c, const vl_decl *d) { return &c->info[d->order]; }

const char *ck_kind_name(vl_decl_kind k) {
  static const char *const names[] = {
    [D_MODEL] = "model", [D_USE] = "use", [D_CONST] = "const", [D_INPUT] = "input",
    [D_TARGET] = "target", [D_POP] = "population", [D_WEIGHT] = "weight", [D_BIAS] = "bias",
    [D_FN] = "fn", [D_LET] = "let", [D_COST] = "cost", [D_ENERGY] = "energy",
    [D_LEARN] = "learn", [D_SETTINGS] = "settings", [D_FEEDBACK] = "feedback",
  };
  return names[k];
}

const char *ck_article(vl_decl_kind k) {
  return k != D_USE && strchr("aeiou", ck_kind_name(k)[0]) ? "an" : "a";   /* "a use" */
}

/* ---- names -------------------------------------------------------------------------------- */

/* Names that would shadow something the language gives meaning to. */
static bool ck_reserved(ck_ctx *c, const char *name, vl_span sp) {
  if (!strcmp(name, "t")) {
    ck_err(c, sp, "'t' is reserved: it is the time");
    return true;
  }
  if (ast_builtin_lookup(name) != BI_NONE) {
    ck_err(c, sp, "'%s' is a built-in function and cannot be redefined", name);
    return true;
  }
  return false;
}

/* Enter every named declaration; a duplicate gets an error and a note at the first. */
static void ck_declare(ck_ctx *c) {
  for (int i = 0; i < c->m->decls.len; i++) {
    vl_decl *d = c->m->decls.items[i];
    if (!d->name || d->kind == D_MODEL) continue;
    if (ck_reserved(c, d->name, d->name_span)) { ck_info_of(c, d)->bad = true; continue; }
    vl_decl *first = st_put(&c->names, d);
    if (!first) continue;
    ck_err(c, d->name_span, "'%s' is already defined (as %s %s)", d->name, ck_article(first->kind), ck_kind_name(first->kind));
    ck_note(c, first->name_span, "'%s' is first defined here", d->name);
    ck_info_of(c, d)->bad = true;
  }
}

/* ---- sizes and vectors ------------------------------------------------------------------- */

/* name[n] of inputs, targets and populations. */
static void ck_size(ck_ctx *c, vl_decl *d) {
  d->size_expr = ck_value(c, d->size_expr);
  const char *what = ar_printf(c->a, "the size of %s '%s'", ck_kind_name(d->kind), d->name);
  long n;
  if (ck_eval_int(c, d->size_expr, what, 1, FE_MAX_DIM, &n)) d->size = n;
}

/* A value that must be a scalar or a vector of the declaration's size. */
static bool ck_fits(ck_ctx *c, vl_decl *d, vl_expr *v, const char *what) {
  if (v->shape.kind == SH_SCALAR || v->shape.kind == SH_UNKNOWN || d->size <= 0) return true;
  if (v->shape.kind == SH_VECTOR && v->shape.rows == d->size) return true;
  ck_err(c, v->span, "%s is %s, but %s has %ld %s", what, ck_shape_text(c, v->shape), d->name,
         d->size, d->kind == D_POP ? "neurons" : "elements");
  return false;
}

/* ---- declarations, one function per kind --------------------------------------------------- */

/* A value that must be constant (const, time constants): name what it depends on. */
static bool ck_constant(ck_ctx *c, vl_expr *v, const char *what) {
  const vl_expr *on = NULL;
  if (!ck_deps(c, v, &on)) return true;
  if (on && on->kind == EX_NAME && on->is_time)
    ck_err(c, on->span, "%s must be constant, but depends on the time t", what);
  else if (on && on->kind == EX_NAME)
    ck_err(c, on->span, "%s must be constant, but depends on '%s'", what, on->name);
  else
    ck_err(c, on ? on->span : v->span, "%s must be constant, but depends on the network's state", what);
  return false;
}

/* const NAME = expr */
static void ck_const(ck_ctx *c, vl_decl *d) {
  vec_push(c->a, &c->m->consts, d);
  d->value = ck_value(c, d->value);
  if (ck_constant(c, d->value, ar_printf(c->a, "const '%s'", d->name))) ck_keep_value(c, d);
  else ck_info_of(c, d)->bad = true;
}

/* input NAME[n] (= expr)? (onehot)? | target NAME[n] (= expr)? (onehot)? */
static void ck_stream(ck_ctx *c, vl_decl *d) {
  ck_size(c, d);
  if (d->onehot && d->kind == D_INPUT)
    ck_err(c, d->onehot_span, "onehot is for targets (class labels); an input cannot be onehot");
  if (d->value) {
    d->value = ck_value(c, d->value);
    const vl_expr *on = NULL;
    if (ck_deps(c, d->value, &on) & CK_DEP_STATE)
      ck_err(c, on->span, "the default stream of '%s' may depend only on t and constants, not on %s",
             d->name, ast_expr_string_short(c->a, on, 24));
    else
      ck_fits(c, d, d->value, ar_printf(c->a, "the default stream of '%s'", d->name));
  }
  vec_push(c->a, d->kind == D_INPUT ? &c->m->inputs : &c->m->targets, d);
}

/* tau_m / tau_r: constant, scalar or of length n, positive (checked element by element,
 * as long as the evaluation budget lasts). */
static void ck_tau(ck_ctx *c, vl_decl *p, vl_field *f) {
  const char *what = ar_printf(c->a, "%s of population '%s'", f->key, p->name);
  f->value = ck_value(c, f->value);
  if (!ck_fits(c, p, f->value, what) || !ck_constant(c, f->value, what)) return;
  long n = f->value->shape.kind == SH_VECTOR ? f->value->shape.rows : 1;
  for (long i = 0; i < n; i++) {
    double v;
    if (!ck_eval(c, f->value, i, &v)) return;
    if (v > 0) continue;
    if (n == 1) ck_err(c, f->value->span, "%s must be positive, got %g", what, v);
    else ck_err(c, f->value->span, "%s must be positive, but element %ld is %g", what, i + 1, v);
    return;
  }
}

/* A node of a synthesised expression, at span sp. */
static vl_expr *ck_node(ck_ctx *c, vl_expr_kind kind, const char *name, vl_span sp) {
  vl_expr *e = AR_NEW(c->a, vl_expr);
  e->kind = kind;
  e->name = name;
  e->span = sp;
  e->depth = 1;
  return e;
}

/* phi = f for a user fn of one argument (docs/theory.md §8): the rate is f(prosp(h)), checked
 * like any call of f, and f must give a vector of h's size. */
static void ck_phi_fn(ck_ctx *c, vl_decl *p, vl_field *f, vl_decl *fn) {
  vl_span sp = f->value->span;
  if (fn->nparams != 1) {
    ck_err(c, sp, "phi = %s: a fn used as phi takes one argument, %s takes %d", fn->name,
           fn->name, fn->nparams);
    return;
  }
  vl_expr *h = ck_node(c, EX_NAME, p->name, sp);
  vl_expr *prosp = ck_node(c, EX_CALL, "prosp", sp), *call = ck_node(c, EX_CALL, fn->name, sp);
  prosp->args = AR_NEWN(c->a, vl_expr *, 1);
  prosp->args[0] = h;
  prosp->nargs = 1;
  prosp->depth = 2;
  call->args = AR_NEWN(c->a, vl_expr *, 1);
  call->args[0] = prosp;
  call->nargs = 1;
  call->depth = 3;
  if (fn->order > p->order) {
    ck_err(c, sp, "'%s' is used before its definition", fn->name);
    ck_note(c, fn->name_span, "'%s' is defined here", fn->name);
    return;
  }
  /* The call reads p itself (its prospective voltage), which is not a cycle: p's rate is
   * what is being defined. fn's body was checked at its own declaration. */
  vl_decl *cur = c->cur;
  c->cur = NULL;
  int errors = c->d->errors;
  vl_expr *rate = ck_expr(c, call);
  c->cur = cur;
  if (c->d->errors != errors) return;
  if (rate->shape.kind != SH_VECTOR || rate->shape.rows != p->size) {
    ck_err(c, sp, "phi = %s: %s(prosp(%s)) must be a vector of %ld, like %s, got %s", fn->name,
           fn->name, p->name, p->size, p->name, ck_shape_text(c, rate->shape));
    return;
  }
  p->phi = BI_NONE;
  p->phi_fn = fn;
  p->phi_rate = rate;
}

/* phi = NAME: an elementwise built-in, or a user fn of one argument. */
static void ck_phi(ck_ctx *c, vl_decl *p, vl_field *f) {
  vl_builtin b = f->value->kind == EX_NAME ? ast_builtin_lookup(f->value->name) : BI_NONE;
  if (ast_builtin_phi(b)) { p->phi = b; return; }
  vl_decl *fn = f->value->kind == EX_NAME && b == BI_NONE ? st_get(&c->names, f->value->name)
                                                          : NULL;
  if (fn && fn->kind == D_FN) {
    fn->used = true;
    ck_phi_fn(c, p, f, fn);
    return;
  }
  ck_err(c, f->value->span, "phi must name an elementwise built-in function (%s) or a fn of "
         "one argument, got %s", ast_phi_names(), ast_expr_string_short(c->a, f->value, 24));
}

/* A known field given for the first time (seen[] remembers the first of each key). */
static vl_field *ck_pop_field(ck_ctx *c, vl_field *f, vl_field *seen[4]) {
  static const char *const keys[4] = { "tau_m", "tau_r", "phi", "dynamics" };
  for (int k = 0; k < 4; k++) {
    if (strcmp(f->key, keys[k])) continue;
    if (!seen[k]) return seen[k] = f;
    ck_err(c, f->key_span, "field '%s' is given twice", f->key);
    ck_note(c, seen[k]->key_span, "first given here");
    return NULL;
  }
  ck_err(c, f->key_span, "unknown population field '%s' (fields: tau_m, tau_r, phi, dynamics)",
         f->key);
  return NULL;
}

/* population NAME[n] { tau_m = ...; tau_r = ...; phi = ... } */
/* dynamics = mismatch (the default: the population owns a mismatch term) | gradient (it
 * follows the gradient flow of the energy, docs/theory.md §10b). */
static void ck_dynamics(ck_ctx *c, vl_decl *p, vl_field *f) {
  const vl_expr *v = f->value;
  p->dynamics = f;
  if (v->kind == EX_NAME && !strcmp(v->name, "gradient")) p->flow = true;
  else if (!(v->kind == EX_NAME && !strcmp(v->name, "mismatch")))
    ck_err(c, v->span, "dynamics must be mismatch or gradient, got %s",
           ast_expr_string_short(c->a, v, 24));
}

static void ck_pop(ck_ctx *c, vl_decl *p) {
  ck_size(c, p);
  vl_field *seen[4] = { 0 };
  for (int i = 0; i < p->nfields; i++) {
    vl_field *f = ck_pop_field(c, &p->fields[i], seen);
    if (!f) continue;
    if (!strcmp(f->key, "phi")) { ck_phi(c, p, f); continue; }
    if (!strcmp(f->key, "dynamics")) { ck_dynamics(c, p, f); continue; }
    ck_tau(c, p, f);
    if (!strcmp(f->key, "tau_m")) p->tau_m = f->value;
    else p->tau_r = f->value;
  }
  if (!p->tau_m) ck_err(c, p->name_span, "population '%s' has no tau_m", p->name);
  if (p->flow && p->tau_r) {
    ck_err(c, seen[1]->key_span, "population '%s' follows the gradient flow (dynamics = "
           "gradient): its rate is phi(u), it has no tau_r", p->name);
  } else if (p->flow) {
    p->tau_r = p->tau_m;   /* a buffer like any population's; ŭ = u does not read it */
  } else if (!p->tau_r) {
    ck_err(c, p->name_span, "population '%s' has no tau_r", p->name);
  }
  vec_push(c->a, &c->m->pops, p);
}

/* What a weight or bias is attached to: a population, or an input for a weight's pre side;
 * with `clamped`, a weight's post side may also be an input or a target (a prediction of a
 * clamped signal, docs/theory.md §8: its mismatch belongs to the signal). */
static vl_decl *ck_end(ck_ctx *c, const char *name, vl_span sp, bool pre, bool clamped) {
  vl_decl *e = ck_lookup(c, name, sp);
  if (!e) return NULL;
  e->used = true;
  if (e->kind == D_POP || (pre && e->kind == D_INPUT)) return e;
  if (clamped && (e->kind == D_INPUT || e->kind == D_TARGET)) return e;
  ck_err(c, sp, "'%s' is %s %s, but %s", name, ck_article(e->kind), ck_kind_name(e->kind),
         pre ? "the pre side must be a population or an input"
         : clamped ? "the post side must be a population, an input or a target"
                   : "the post side must be a population");
  return NULL;
}

/* weight NAME[post, pre] (init DIST)? */
static void ck_weight(ck_ctx *c, vl_decl *w) {
  w->post = ck_end(c, w->post_name, w->post_span, false, true);
  w->pre = ck_end(c, w->pre_name, w->pre_span, true, false);
  if (w->post && w->pre && w->post->size > 0 && w->pre->size > 0 &&
      (double)w->post->size * (double)w->pre->size > (double)FE_MAX_WEIGHTS) {
    ck_err(c, w->name_span, "weight '%s' would have %ld x %ld elements (the limit is %ld)",
           w->name, w->post->size, w->pre->size, FE_MAX_WEIGHTS);
    w->post = w->pre = NULL;
  }
  ck_init(c, w);
  vec_push(c->a, &c->m->weights, w);
}

/* bias NAME[post] (init DIST)? */
static void ck_bias(ck_ctx *c, vl_decl *b) {
  b->post = ck_end(c, b->post_name, b->post_span, false, false);
  if (b->post) b->size = b->post->size;
  ck_init(c, b);
  vec_push(c->a, &c->m->biases, b);
}

/* fn NAME(params) = expr: parameters distinct and not reserved; body names resolved. */
static void ck_fn(ck_ctx *c, vl_decl *f) {
  if (f->nparams > CK_MAX_PARAMS) {
    ck_err(c, f->name_span, "fn '%s' has %d parameters (the limit is %d)", f->name, f->nparams, CK_MAX_PARAMS);
    ck_info_of(c, f)->bad = true;
    vec_push(c->a, &c->m->fns, f);
    return;
  }
  for (int i = 0; i < f->nparams; i++) {
    if (ck_reserved(c, f->params[i], f->param_spans[i])) ck_info_of(c, f)->bad = true;
    for (int j = 0; j < i; j++)
      if (!strcmp(f->params[i], f->params[j])) {
        ck_err(c, f->param_spans[i], "parameter '%s' is given twice", f->params[i]);
        ck_info_of(c, f)->bad = true;
      }
  }
  ck_fn_body(c, f);
  vec_push(c->a, &c->m->fns, f);
}

/* let / cost / energy NAME = expr; cost and energy are scalars. */
static void ck_named_expr(ck_ctx *c, vl_decl *d) {
  int errors = c->d->errors;
  d->value = ck_value(c, d->value);
  ck_info *in = ck_info_of(c, d);
  in->deps = ck_deps(c, d->value, &in->dep_on);
  vl_shape s = d->value->shape;
  if (d->kind != D_LET && s.kind != SH_SCALAR && s.kind != SH_UNKNOWN)
    ck_err(c, d->value->span, "the %s must be a scalar, but is %s", d->kind == D_COST ? "cost" : "energy",
           ck_shape_text(c, s));
  if (c->d->errors != errors) in->bad = true;
  if (d->kind == D_LET) {
    ck_keep_value(c, d);
    vec_push(c->a, &c->m->lets, d);
  }
}

/* model NAME: first, and once. */
static void ck_model(ck_ctx *c, vl_decl *d) {
  if (c->m->name) {
    ck_err(c, d->span, "a second model line (a file declares one model)");
    return;
  }
  c->m->name = d->name;
  if (d->order != 0) ck_err(c, d->span, "'model %s' must be the first declaration", d->name);
}

/* energy = expr: once. Also keeps the cost (once). */
static void ck_once(ck_ctx *c, vl_decl *d, vl_decl **slot, const char *what) {
  if (*slot) {
    ck_err(c, d->span, "a second %s (a model has one)", what);
    ck_note(c, (*slot)->span, "the first %s is here", what);
    return;
  }
  *slot = d;
}

static void ck_decl(ck_ctx *c, vl_decl *d, vl_decl **settings) {
  c->cur = d;
  switch (d->kind) {
  case D_MODEL: ck_model(c, d); break;
  case D_USE: break;
  case D_CONST: ck_const(c, d); break;
  case D_INPUT: case D_TARGET: ck_stream(c, d); break;
  case D_POP: ck_pop(c, d); break;
  case D_WEIGHT: ck_weight(c, d); break;
  case D_BIAS: ck_bias(c, d); break;
  case D_FN: ck_fn(c, d); break;
  case D_LET: ck_named_expr(c, d); break;
  case D_COST: ck_once(c, d, &c->m->cost, "cost"); ck_named_expr(c, d); break;
  case D_ENERGY: ck_once(c, d, &c->m->energy, "energy"); ck_named_expr(c, d); break;
  case D_LEARN: vec_push(c->a, &c->m->learns, d); ck_learn(c, d); break;
  case D_SETTINGS: ck_once(c, d, settings, "settings block"); ck_settings(c, d); break;
  case D_FEEDBACK: ck_feedback(c, d); break;
  }
  ck_info_of(c, d)->checked = true;
  c->cur = NULL;
}

/* ---- the model as a whole ----------------------------------------------------------------- */

static vl_span ck_file_start(const vl_model *m) { return (vl_span){ m->main, 1, 1, 1 }; }

static void ck_model_rules(ck_ctx *c) {
  if (!c->m->name) ck_err(c, ck_file_start(c->m), "missing 'model NAME' line (it must come first)");
  if (!c->m->energy)
    ck_err(c, ck_file_start(c->m), "the model has no energy (add 'energy = ...')");
}

/* A let, fn or const that nothing uses is probably a mistake. */
static void ck_unused(ck_ctx *c) {
  for (int i = 0; i < c->m->decls.len; i++) {
    vl_decl *d = c->m->decls.items[i];
    bool named = d->kind == D_LET || d->kind == D_FN || d->kind == D_CONST;
    if (named && !d->used && !ck_info_of(c, d)->bad && d->file == c->m->main)
      ck_warn(c, d->name_span, "%s '%s' is never used", ck_kind_name(d->kind), d->name);
  }
}

static void ck_defaults(vl_model *m) {
  m->dt = 0.01;
  m->gamma = 0;
  m->errors = "prospective";
  m->scheme = "sync";
  m->batch = 1;
  m->ep_free = 100;
  m->ep_nudged = 20;
}

/* Equilibrium propagation: a model whose populations follow the gradient flow learns by it;
 * then all of them must (docs/theory.md §10b), and its settings mean nothing elsewhere. */
static void ck_eqprop(ck_ctx *c) {
  vl_model *m = c->m;
  const vl_decl *flow = NULL, *owner = NULL;
  for (int i = 0; i < m->pops.len; i++) {
    const vl_decl *p = m->pops.items[i];
    if (p->flow && !flow) flow = p;
    if (!p->flow && !owner) owner = p;
  }
  if (flow && owner) {
    ck_err(c, owner->name_span, "population '%s' owns a mismatch, but '%s' follows the "
           "gradient flow (dynamics = gradient): equilibrium propagation needs every population "
           "to follow it (mixing both kinds is not supported)", owner->name, flow->name);
    ck_note(c, flow->dynamics->key_span, "'%s' follows the gradient flow here", flow->name);
  }
  if (!flow && m->ep_span.line)
    ck_err(c, m->ep_span, "equilibrium propagation settings, but no population follows the "
           "gradient flow (give populations `dynamics = gradient`)");
  if (flow && m->feedbacks.len)
    ck_err(c, ((vl_decl *)m->feedbacks.items[0])->span, "feedback matrices replace the "
           "back-projections of errors; an equilibrium propagation model has none");
  m->eqprop = flow != NULL;
}

bool ck_check(vl_model *m, dg_ctx *d) {
  ck_ctx c = { .m = m, .a = m->arena, .d = d, .clone_budget = CK_CLONE_BUDGET,
               .eval_budget = CK_EVAL_BUDGET, .hints_left = 20,
               .cycle_checks_left = 20 };
  int errors = d->errors;
  ck_defaults(m);
  st_init(&c.names, m->arena);
  c.info = AR_NEWN(m->arena, ck_info, m->decls.len ? m->decls.len : 1);
  ck_declare(&c);
  vl_decl *settings = NULL;
  for (int i = 0; i < m->decls.len; i++) ck_decl(&c, m->decls.items[i], &settings);
  ck_feedback_learning(&c);
  ck_eqprop(&c);
  ck_model_rules(&c);
  if (d->errors == errors) ck_unused(&c);
  return d->errors == errors;
}
