/*
 * check_expr.c - checking expressions: resolve names, expand fn calls, infer shapes.
 *
 * One recursive pass, ck_expr, does all three for let/cost/energy and every other
 * expression of a declaration. fn bodies are only resolved where they are declared
 * (ck_fn_body: their shapes depend on the arguments); each call then clones the body,
 * substitutes the (already checked) arguments for the parameters, and checks the clone in
 * the caller's place. Errors inside an expansion carry a note pointing at the call.
 *
 * Shapes that could not be inferred are SH_UNKNOWN; an operation on an unknown operand is
 * unknown too and reports nothing, so one mistake gives one error.
 */
#include <stdlib.h>
#include <string.h>

#include "check_impl.h"

/* ---- shapes ----------------------------------------------------------------------------- */

vl_shape ck_scalar(void) { return (vl_shape){ SH_SCALAR, 1, 1 }; }
vl_shape ck_vector(long n) { return (vl_shape){ SH_VECTOR, n, 1 }; }
static vl_shape ck_unknown(void) { return (vl_shape){ SH_UNKNOWN, 0, 0 }; }

const char *ck_shape_text(ck_ctx *c, vl_shape s) {
  switch (s.kind) {
  case SH_SCALAR: return "a scalar";
  case SH_VECTOR: return ar_printf(c->a, "a vector of length %ld", s.rows);
  case SH_MATRIX: return ar_printf(c->a, "a weight [%ldx%ld]", s.rows, s.cols);
  default: return "an unknown value";
  }
}

vl_shape ck_decl_shape(const vl_decl *d) {
  switch (d->kind) {
  case D_CONST: case D_LET: case D_COST:
    return d->value ? d->value->shape : ck_unknown();
  case D_INPUT: case D_TARGET: case D_POP: case D_BIAS:
    return d->size > 0 ? ck_vector(d->size) : ck_unknown();
  case D_WEIGHT:
    if (!d->post || !d->pre || d->post->size <= 0 || d->pre->size <= 0) return ck_unknown();
    return (vl_shape){ SH_MATRIX, d->post->size, d->pre->size };
  default:
    return ck_unknown();
  }
}

/* An expression as text for messages, cut to a readable length. */
static const char *ck_text(ck_ctx *c, const vl_expr *e) {
  char *s = ast_expr_string_short(c->a, e, 24);
  if (strlen(s) > 40) strcpy(s + 37, "...");
  return s;
}

/* ---- names ------------------------------------------------------------------------------ */

/* The name refers to nothing: say so, with a close name when one is cheap to find. */
static void ck_unknown_name(ck_ctx *c, const char *what, const char *name, vl_span sp) {
  const char *hint = NULL;
  if (c->hints_left > 0) {
    c->hints_left--;
    hint = st_closest(&c->names, name);
  }
  if (hint) ck_err(c, sp, "unknown %s '%s' (did you mean '%s'?)", what, name, hint);
  else ck_err(c, sp, "unknown %s '%s'", what, name);
}

/* Is there a path of references from the let/fn `from` to the declaration `to`? Used to
 * tell a cycle from a plain forward reference. Iterative: the chain may be long. */
static bool ck_refers(ck_ctx *c, vl_decl *from, const vl_decl *to);

vl_decl *ck_lookup(ck_ctx *c, const char *name, vl_span sp) {
  vl_decl *d = st_get(&c->names, name);
  if (!d) {
    ck_unknown_name(c, "name", name, sp);
    return NULL;
  }
  if (c->cur && d == c->cur) {
    if (d->kind == D_FN) ck_err(c, sp, "fn '%s' calls itself: recursion is not allowed", name);
    else ck_err(c, sp, "'%s' is defined in terms of itself", name);
    return NULL;
  }
  if (c->cur && d->order > c->cur->order) {
    bool cyc = (d->kind == D_LET || d->kind == D_FN) && c->cur->name && c->cycle_checks_left-- > 0 &&
               ck_refers(c, d, c->cur);
    if (cyc) ck_err(c, sp, "cycle in definitions: '%s' and '%s' refer to each other", c->cur->name, name);
    else ck_err(c, sp, "'%s' is used before its definition", name);
    ck_note(c, d->name_span, "'%s' is defined here", name);
    return NULL;
  }
  return d;
}

/* Collect the global names e refers to (calls included) into out. */
static void ck_names_in(ck_ctx *c, const vl_expr *e, vl_vec *out, int depth) {
  if (!e || depth > CK_MAX_CHECK_DEPTH) return;
  if ((e->kind == EX_NAME || e->kind == EX_CALL) && e->name) {
    vl_decl *d = st_get(&c->names, e->name);
    if (d) vec_push(c->a, out, d);
  }
  ck_names_in(c, e->lhs, out, depth + 1);
  ck_names_in(c, e->rhs, out, depth + 1);
  for (int i = 0; i < e->nargs; i++) ck_names_in(c, e->args[i], out, depth + 1);
}

static bool ck_refers(ck_ctx *c, vl_decl *from, const vl_decl *to) {
  vl_vec todo = { 0 };
  bool *seen = AR_NEWN(c->a, bool, c->m->decls.len);
  vec_push(c->a, &todo, from);
  seen[from->order] = true;
  for (int i = 0; i < todo.len; i++) {
    vl_decl *d = todo.items[i];
    if (d == to) return true;
    if (d->kind != D_LET && d->kind != D_FN) continue;
    vl_vec refs = { 0 };
    ck_names_in(c, d->value, &refs, 0);
    for (int j = 0; j < refs.len; j++) {
      vl_decl *r = refs.items[j];
      if (!seen[r->order]) { seen[r->order] = true; vec_push(c->a, &todo, r); }
    }
  }
  return false;
}

/* A parameter of the fn being resolved? */
static int ck_param_index(const ck_ctx *c, const char *name) {
  if (!c->fn) return -1;
  for (int i = 0; i < c->fn->nparams; i++)
    if (!strcmp(c->fn->params[i], name)) return i;
  return -1;
}

/* Bind an EX_NAME: a fn parameter, the time t, or a declaration. */
static bool ck_bind(ck_ctx *c, vl_expr *e) {
  if (e->sym || e->is_time || e->param) return true;
  int p = ck_param_index(c, e->name);
  if (p >= 0) { e->param = p + 1; return true; }
  if (!strcmp(e->name, "t")) { e->is_time = true; return true; }
  if (ast_builtin_lookup(e->name) != BI_NONE) {
    ck_err(c, e->span, "'%s' is a built-in function: call it, as in %s(x)", e->name, e->name);
    return false;
  }
  e->sym = ck_lookup(c, e->name, e->span);
  if (!e->sym) return false;
  e->sym->used = true;
  if (e->sym->kind == D_FN) {
    ck_err(c, e->span, "'%s' is a fn: call it with its arguments", e->name);
    e->sym = NULL;
    return false;
  }
  return true;
}

/* ---- fn bodies ---------------------------------------------------------------------------- */

/* Resolve the names of a fn body (recursively), without shapes. */
static void ck_resolve(ck_ctx *c, vl_expr *e, int depth) {
  if (!e || depth > CK_MAX_CHECK_DEPTH) return;
  if (e->kind == EX_NAME) ck_bind(c, e);
  if (e->kind == EX_CALL && ast_builtin_lookup(e->name) == BI_NONE) {
    if (ck_param_index(c, e->name) >= 0)
      ck_err(c, e->span, "'%s' is a parameter, not a function: fn arguments cannot be called", e->name);
    else if (!st_get(&c->names, e->name))
      ck_unknown_name(c, "function", e->name, e->span);
    else {
      vl_decl *f = ck_lookup(c, e->name, e->span);
      if (f && f->kind != D_FN) ck_err(c, e->span, "'%s' is not a function", e->name);
      if (f) f->used = true;
    }
  }
  ck_resolve(c, e->lhs, depth + 1);
  ck_resolve(c, e->rhs, depth + 1);
  for (int i = 0; i < e->nargs; i++) ck_resolve(c, e->args[i], depth + 1);
}

void ck_fn_body(ck_ctx *c, vl_decl *fn) {
  int errors = c->d->errors;
  c->fn = fn;
  ck_resolve(c, fn->value, 0);
  c->fn = NULL;
  if (c->d->errors != errors) ck_info_of(c, fn)->bad = true;
}

/* A copy of body with parameter i replaced by a copy of args[i]. Shapes are kept (the
 * arguments are checked already); the budget bounds what nested expansion can create. */
static vl_expr *ck_clone(ck_ctx *c, const vl_expr *e, vl_expr **args, int depth) {
  if (!e) return NULL;
  if (--c->clone_budget < 0 || depth > CK_MAX_CHECK_DEPTH) return NULL;
  if (e->kind == EX_NAME && e->param && args) return ck_clone(c, args[e->param - 1], NULL, depth);
  vl_expr *n = ar_dup(c->a, e, sizeof *e);
  n->lhs = e->lhs ? ck_clone(c, e->lhs, args, depth + 1) : NULL;
  n->rhs = e->rhs ? ck_clone(c, e->rhs, args, depth + 1) : NULL;
  if (e->nargs) {
    n->args = AR_NEWN(c->a, vl_expr *, e->nargs);
    for (int i = 0; i < e->nargs; i++) {
      n->args[i] = ck_clone(c, e->args[i], args, depth + 1);
      if (!n->args[i]) return NULL;
    }
  }
  if ((e->lhs && !n->lhs) || (e->rhs && !n->rhs)) return NULL;
  return n;
}

/* name(args) where name is a user fn: check the arguments, then check a substituted copy
 * of the body in the caller's place. The copy keeps the span of the call. */
static vl_expr *ck_expand(ck_ctx *c, vl_expr *call, vl_decl *fn) {
  fn->used = true;
  if (call->nargs != fn->nparams) {
    ck_err(c, call->span, "fn '%s' takes %d argument%s, got %d", fn->name, fn->nparams,
           fn->nparams == 1 ? "" : "s", call->nargs);
    return call;
  }
  int errors = c->d->errors;
  for (int i = 0; i < call->nargs; i++) call->args[i] = ck_expr(c, call->args[i]);
  if (c->d->errors != errors || ck_info_of(c, fn)->bad) return call;
  vl_expr *body = ck_clone(c, fn->value, call->args, 0);
  if (!body) {
    ck_err(c, call->span, "expanding fn calls makes this expression too large (more than %ld nodes)",
           CK_CLONE_BUDGET);
    c->clone_budget = 0;
    return call;
  }
  body->span = call->span;
  ck_frame fr = { fn, call->span, c->frames };
  c->frames = &fr;
  body = ck_expr(c, body);
  c->frames = fr.up;
  return body;
}

/* ---- built-ins ---------------------------------------------------------------------------- */

static bool ck_arity(ck_ctx *c, vl_expr *e, int lo, int hi) {
  if (e->nargs >= lo && e->nargs <= hi) return true;
  const char *want = lo == hi ? ar_printf(c->a, "%d argument%s", lo, lo == 1 ? "" : "s")
                   : hi > 100 ? ar_printf(c->a, "at least %d argument%s", lo, lo == 1 ? "" : "s")
                   : ar_printf(c->a, "%d to %d arguments", lo, hi);
  ck_err(c, e->span, "%s takes %s, got %d", e->name, want, e->nargs);
  return false;
}

/* The population an argument names (h in prosp(h), rate(h), h', h.tau_m), or NULL. */
static vl_decl *ck_pop_of(const vl_expr *e) {
  return e->kind == EX_NAME && e->sym && e->sym->kind == D_POP ? e->sym : NULL;
}

static bool ck_known(const vl_expr *e) { return e->shape.kind != SH_UNKNOWN; }

static vl_decl *ck_need_pop(ck_ctx *c, const vl_expr *call, const vl_expr *arg) {
  vl_decl *p = ck_pop_of(arg);
  if (!p && ck_known(arg))
    ck_err(c, arg->span, "%s needs a population as its first argument, got %s", call->name,
           ck_text(c, arg));
  return p;
}

/* prosp(h) | prosp(h, tau) | rate(h) */
static vl_shape ck_bi_pop(ck_ctx *c, vl_expr *e) {
  vl_decl *p = ck_need_pop(c, e, e->args[0]);
  if (!p || p->size <= 0) return ck_unknown();
  if (e->nargs == 2) {
    vl_expr *tau = e->args[1];
    if (tau->shape.kind == SH_VECTOR && tau->shape.rows != p->size) {
      ck_err(c, tau->span, "the time constant of prosp(%s, ...) is %s, but %s has %ld neurons",
             p->name, ck_shape_text(c, tau->shape), p->name, p->size);
      return ck_unknown();
    }
    if (!ck_known(tau)) return ck_unknown();
  }
  return ck_vector(p->size);
}

static vl_shape ck_bi_elementwise(ck_ctx *c, vl_expr *e) { (void)c; return e->args[0]->shape; }

static vl_shape ck_bi_to_vector(ck_ctx *c, vl_expr *e) {
  vl_expr *a = e->args[0];
  if (a->shape.kind == SH_SCALAR) {
    ck_err(c, a->span, "%s needs a vector, got a scalar", e->name);
    return ck_unknown();
  }
  return a->shape;
}

static vl_shape ck_bi_reduce(ck_ctx *c, vl_expr *e) {
  if (e->bi == BI_DOT) {
    vl_shape a = e->args[0]->shape, b = e->args[1]->shape;
    if (a.kind == SH_UNKNOWN || b.kind == SH_UNKNOWN) return ck_unknown();
    if (a.kind != b.kind || a.rows != b.rows) {
      ck_err(c, e->span, "dot needs two values of the same shape, got %s and %s",
             ck_shape_text(c, a), ck_shape_text(c, b));
      return ck_unknown();
    }
  }
  return ck_known(e->args[0]) ? ck_scalar() : ck_unknown();
}

/* fill(n, v) | linspace(a, b, n): n must be a constant whole number. */
static vl_shape ck_bi_build(ck_ctx *c, vl_expr *e) {
  vl_expr *nexp = e->bi == BI_FILL ? e->args[0] : e->args[2];
  for (int i = 0; i < e->nargs; i++) {
    if (e->args[i] == nexp || e->args[i]->shape.kind != SH_VECTOR) continue;
    ck_err(c, e->args[i]->span, "%s needs scalar arguments, got %s", e->name,
           ck_shape_text(c, e->args[i]->shape));
    return ck_unknown();
  }
  long n;
  const char *what = ar_printf(c->a, "the length of %s", e->name);
  if (!ck_eval_int(c, nexp, what, 1, FE_MAX_DIM, &n)) return ck_unknown();
  return ck_vector(n);
}

static vl_shape ck_bi_concat(ck_ctx *c, vl_expr *e) {
  long n = 0;
  for (int i = 0; i < e->nargs; i++) {
    vl_shape s = e->args[i]->shape;
    if (s.kind == SH_UNKNOWN) return ck_unknown();
    n += s.rows;
  }
  if (n > FE_MAX_DIM) {
    ck_err(c, e->span, "concat makes a vector of %ld elements (the limit is %ld)", n, FE_MAX_DIM);
    return ck_unknown();
  }
  return ck_vector(n);
}

typedef struct ck_bi_rule {
  int lo, hi;                                   /* arity */
  vl_shape (*shape)(ck_ctx *c, vl_expr *e);
} ck_bi_rule;

static const ck_bi_rule *ck_rule(vl_builtin b) {
  static const ck_bi_rule elementwise = { 1, 1, ck_bi_elementwise },
    to_vector = { 1, 1, ck_bi_to_vector }, reduce = { 1, 1, ck_bi_reduce },
    dot = { 2, 2, ck_bi_reduce }, prosp = { 1, 2, ck_bi_pop }, rate = { 1, 1, ck_bi_pop },
    fill = { 2, 2, ck_bi_build }, linspace = { 3, 3, ck_bi_build },
    concat = { 1, 1 << 30, ck_bi_concat };
  if (ast_builtin_elementwise(b)) return &elementwise;
  switch (b) {
  case BI_SOFTMAX: case BI_LOG_SOFTMAX: return &to_vector;
  case BI_LOGSUMEXP: case BI_SUM: case BI_MEAN: case BI_SUMSQ: return &reduce;
  case BI_DOT: return &dot;
  case BI_PROSP: return &prosp;
  case BI_RATE: return &rate;
  case BI_FILL: return &fill;
  case BI_LINSPACE: return &linspace;
  case BI_CONCAT: return &concat;
  default: break;
  }
  fprintf(stderr, "internal error: built-in '%s' has no checking rule\n", ast_builtin_name(b));
  abort();
}

/* Built-ins that take a matrix (a weight in a parameter term): the elementwise ones and
 * the sums. */
static bool ck_takes_matrix(vl_builtin b) {
  return ast_builtin_elementwise(b) || b == BI_SUM || b == BI_MEAN || b == BI_SUMSQ;
}

/* A built-in call: arity, arguments (populations are plain values here), then the rule. */
static vl_expr *ck_builtin(ck_ctx *c, vl_expr *e, vl_builtin b) {
  e->bi = b;
  const ck_bi_rule *r = ck_rule(b);
  if (!ck_arity(c, e, r->lo, r->hi)) return e;
  for (int i = 0; i < e->nargs; i++)
    e->args[i] = ck_takes_matrix(b) ? ck_matrix_ok(c, e->args[i]) : ck_value(c, e->args[i]);
  for (int i = 0; i < e->nargs; i++)
    if (!ck_known(e->args[i]) && b != BI_PROSP && b != BI_RATE) return e;
  e->shape = r->shape(c, e);
  return e;
}

static vl_expr *ck_call(ck_ctx *c, vl_expr *e) {
  vl_builtin b = ast_builtin_lookup(e->name);
  if (b != BI_NONE) return ck_builtin(c, e, b);
  vl_decl *f = st_get(&c->names, e->name);
  if (!f) {
    for (int i = 0; i < e->nargs; i++) e->args[i] = ck_expr(c, e->args[i]);
    ck_unknown_name(c, "function", e->name, e->span);
    return e;
  }
  f = ck_lookup(c, e->name, e->span);
  if (f && f->kind != D_FN) {
    ck_err(c, e->span, "'%s' is %s %s, not a function", e->name, ck_article(f->kind), ck_kind_name(f->kind));
    return e;
  }
  return f ? ck_expand(c, e, f) : e;
}

/* ---- operators ---------------------------------------------------------------------------- */

/* Is e a weight, or the transpose W' of one (docs/theory.md §8: tied weights)? */
static bool ck_is_weight_or_transpose(const vl_expr *e) {
  if (e->kind == EX_DERIV) e = e->lhs;
  return e->kind == EX_NAME && e->sym && e->sym->kind == D_WEIGHT;
}

/* W @ v: W a weight [post, pre] (or W' [pre, post]), v a vector of length n_pre. A matrix
 * computed from weights (2 * W) is refused: the code generator multiplies by a weight's
 * buffer. */
static vl_shape ck_matvec(ck_ctx *c, vl_expr *e) {
  vl_expr *W = e->lhs, *v = e->rhs;
  if (W->shape.kind != SH_MATRIX) {
    if (ck_known(W))
      ck_err(c, W->span, "the left operand of @ must be a weight, got %s (%s)",
             ck_shape_text(c, W->shape), ck_text(c, W));
    return ck_unknown();
  }
  if (!ck_is_weight_or_transpose(W)) {
    ck_err(c, W->span, "the left operand of @ must be a weight or its transpose W', got a "
           "matrix computed from weights (%s)", ck_text(c, W));
    return ck_unknown();
  }
  if (!ck_known(v)) return ck_unknown();
  if (v->shape.kind != SH_VECTOR || v->shape.rows != W->shape.cols) {
    ck_err(c, e->span, "cannot apply %s [%ldx%ld] to %s (%s): %s expects length %ld",
           ck_text(c, W), W->shape.rows, W->shape.cols, ck_shape_text(c, v->shape),
           ck_text(c, v), ck_text(c, W), W->shape.cols);
    return ck_unknown();
  }
  return ck_vector(W->shape.rows);
}

static const char *ck_verb(char op) {
  switch (op) {
  case '+': return "add";
  case '-': return "subtract";
  case '*': return "multiply";
  case '/': return "divide";
  default: return "combine";
  }
}

/* + - * /: elementwise, a scalar broadcasts; ^: the exponent is a scalar. */
static vl_shape ck_elementwise(ck_ctx *c, vl_expr *e) {
  vl_shape a = e->lhs->shape, b = e->rhs->shape;
  if (a.kind == SH_UNKNOWN || b.kind == SH_UNKNOWN) return ck_unknown();
  if (e->op == '^') {
    if (b.kind == SH_SCALAR) return a;
    ck_err(c, e->rhs->span, "the exponent of ^ must be a scalar, got %s", ck_shape_text(c, b));
    return ck_unknown();
  }
  if (a.kind == SH_SCALAR) return b;
  if (b.kind == SH_SCALAR) return a;
  if ((a.kind == SH_MATRIX) == (b.kind == SH_MATRIX) && a.rows == b.rows && a.cols == b.cols)
    return a;
  ck_err(c, e->span, "cannot %s %s (%s) and %s (%s)", ck_verb(e->op), ck_shape_text(c, a),
         ck_text(c, e->lhs), ck_shape_text(c, b), ck_text(c, e->rhs));
  return ck_unknown();
}

static vl_expr *ck_binary(ck_ctx *c, vl_expr *e) {
  e->lhs = e->op == '@' ? ck_expr(c, e->lhs) : ck_matrix_ok(c, e->lhs);
  e->rhs = e->op == '@' || e->op == '^' ? ck_value(c, e->rhs) : ck_matrix_ok(c, e->rhs);
  e->shape = e->op == '@' ? ck_matvec(c, e) : ck_elementwise(c, e);
  return e;
}

/* h' : the time derivative of a population. A weight here would be a transpose. */
static vl_expr *ck_deriv(ck_ctx *c, vl_expr *e) {
  e->lhs = ck_expr(c, e->lhs);
  vl_decl *p = ck_pop_of(e->lhs);
  if (p) {
    if (p->size > 0) e->shape = ck_vector(p->size);
    return e;
  }
  if (e->lhs->shape.kind == SH_MATRIX && e->lhs->kind == EX_NAME) {
    /* W': the transpose of a weight, [pre, post]; only the left operand of @ takes it
     * (ck_value and ck_matrix_ok refuse it anywhere else) */
    e->shape = (vl_shape){ SH_MATRIX, e->lhs->shape.cols, e->lhs->shape.rows };
    return e;
  }
  if (e->lhs->shape.kind == SH_MATRIX)
    ck_err(c, e->span, "' transposes a weight, not %s: write W' @ v", ck_text(c, e->lhs));
  else if (ck_known(e->lhs))
    ck_err(c, e->span, "' (the time derivative) applies to a population, not to %s",
           ck_text(c, e->lhs));
  return e;
}

/* h.tau_m | h.tau_r */
static vl_expr *ck_field(ck_ctx *c, vl_expr *e) {
  e->lhs = ck_expr(c, e->lhs);
  vl_decl *p = ck_pop_of(e->lhs);
  if (!p) {
    if (ck_known(e->lhs))
      ck_err(c, e->span, ".%s applies to a population, not to %s", e->name, ck_text(c, e->lhs));
    return e;
  }
  if (strcmp(e->name, "tau_m") && strcmp(e->name, "tau_r")) {
    ck_err(c, e->span, "population '%s' has no field '%s' (only tau_m and tau_r can be read)",
           p->name, e->name);
    return e;
  }
  if (p->size > 0) e->shape = ck_vector(p->size);
  return e;
}

/* [a, b, c]: scalar elements. */
static vl_expr *ck_vec(ck_ctx *c, vl_expr *e) {
  bool ok = true;
  for (int i = 0; i < e->nargs; i++) {
    e->args[i] = ck_value(c, e->args[i]);
    if (e->args[i]->shape.kind == SH_VECTOR) {
      ck_err(c, e->args[i]->span, "the elements of [...] must be scalars, got %s (use concat to join vectors)",
             ck_shape_text(c, e->args[i]->shape));
      ok = false;
    }
    ok = ok && ck_known(e->args[i]);
  }
  if (ok) e->shape = ck_vector(e->nargs);
  return e;
}

static vl_expr *ck_name(ck_ctx *c, vl_expr *e) {
  if (!ck_bind(c, e)) return e;
  if (e->is_time) e->shape = ck_scalar();
  else if (e->sym && !ck_info_of(c, e->sym)->bad) e->shape = ck_decl_shape(e->sym);
  return e;
}

/* ---- the pass --------------------------------------------------------------------------- */

static vl_expr *ck_expr_kind(ck_ctx *c, vl_expr *e) {
  switch (e->kind) {
  case EX_NUM: e->shape = ck_scalar(); return e;
  case EX_STR:
    ck_err(c, e->span, "a string is only allowed as the argument of file(...)");
    return e;
  case EX_NAME: return ck_name(c, e);
  case EX_BINARY: return ck_binary(c, e);
  case EX_NEG:
    e->lhs = ck_matrix_ok(c, e->lhs);
    e->shape = e->lhs->shape;
    return e;
  case EX_DERIV: return ck_deriv(c, e);
  case EX_FIELD: return ck_field(c, e);
  case EX_CALL: return ck_call(c, e);
  case EX_VEC: return ck_vec(c, e);
  case EX_NORM:
    e->lhs = ck_matrix_ok(c, e->lhs);
    if (ck_known(e->lhs)) e->shape = ck_scalar();
    return e;
  }
  return e;
}

vl_expr *ck_expr(ck_ctx *c, vl_expr *e) {
  if (++c->depth > CK_MAX_CHECK_DEPTH) {
    if (c->depth == CK_MAX_CHECK_DEPTH + 1)
      ck_err(c, e->span, "expression too deeply nested after expanding fn calls");
    c->depth--;
    return e;
  }
  e->shape = ck_unknown();
  e = ck_expr_kind(c, e);
  c->depth--;
  return e;
}

vl_expr *ck_value(ck_ctx *c, vl_expr *e) {
  e = ck_matrix_ok(c, e);
  if (e->shape.kind != SH_MATRIX) return e;
  ck_err(c, e->span, "a weight can only be used as the left operand of @ (W @ v or W' @ v) or "
         "in a parameter term reduced to a scalar (|W|^2, sum(abs(W))); '%s' is a matrix here",
         ck_text(c, e));
  e->shape = ck_unknown();
  return e;
}

/* An operand that may be a matrix: a weight, or an elementwise expression of weights on the
 * way to a reduction (a prior 0.5 * lam * |W|^2, docs/theory.md §8). Whatever stays a matrix
 * reaches a ck_value and is refused there. A transpose is not one of these. */
vl_expr *ck_matrix_ok(ck_ctx *c, vl_expr *e) {
  e = ck_expr(c, e);
  if (e->shape.kind == SH_MATRIX && e->kind == EX_DERIV) {
    ck_err(c, e->span, "%s (a transpose) can only be used as the left operand of @",
           ck_text(c, e));
    e->shape = ck_unknown();
  }
  return e;
}

/* ---- dependencies --------------------------------------------------------------------------- */

int ck_deps(ck_ctx *c, const vl_expr *e, const vl_expr **on) {
  if (!e) return 0;
  int deps = 0;
  if (e->kind == EX_NAME && e->is_time) deps = CK_DEP_TIME;
  if (e->kind == EX_NAME && e->sym) {
    switch (e->sym->kind) {
    case D_CONST: break;
    case D_LET: case D_COST: deps = ck_info_of(c, e->sym)->deps; break;
    default: deps = CK_DEP_STATE;
    }
  }
  if (e->kind == EX_FIELD || e->kind == EX_DERIV || (e->kind == EX_CALL && (e->bi == BI_PROSP || e->bi == BI_RATE)))
    deps |= CK_DEP_STATE;
  if (deps && on && !*on) *on = e;
  deps |= ck_deps(c, e->lhs, on) | ck_deps(c, e->rhs, on);
  for (int i = 0; i < e->nargs; i++) deps |= ck_deps(c, e->args[i], on);
  return deps;
}
