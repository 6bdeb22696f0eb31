/*
 * check_param.c - parameters and run settings: `init DIST` of weights and biases,
 * `learn ... with OPT clamp CMP`, and `settings { ... }`. Every number here is needed at
 * compile time, so each is checked as a constant and evaluated (check_eval.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_impl.h"
#include "vocab.h"

/* ---- init ------------------------------------------------------------------------------ */

typedef struct ck_dist {
  const char *name;
  int nargs;
  const char *args;        /* for arity messages */
  bool weights_only;
} ck_dist;

static const ck_dist ck_dists[] = {
  { "zeros", 0, "", false },          { "constant", 1, "c", false },
  { "normal", 2, "mean, std", false }, { "uniform", 2, "lo, hi", false },
  { "glorot", 0, "", true },          { "identity", 0, "", true },
  { "file", 1, "\"path.npy\"", false },
};
enum { CK_NDISTS = sizeof ck_dists / sizeof ck_dists[0] };

static const ck_dist *ck_find_dist(const char *name) {
  for (int i = 0; i < CK_NDISTS; i++)
    if (!strcmp(ck_dists[i].name, name)) return &ck_dists[i];
  return NULL;
}

/* file("p"): p relative to the declaring file; a missing file is only a warning, since
 * `--init NAME=FILE` can supply the values at run time. */
static void ck_init_file(ck_ctx *c, vl_decl *d, vl_expr *arg) {
  if (arg->kind != EX_STR) {
    ck_err(c, arg->span, "file(...) takes a path in quotes, as in file(\"w.npy\")");
    return;
  }
  const char *from = d->file->path, *slash = strrchr(from, '/');
  d->init_path = arg->name[0] == '/' || !slash ? arg->name
               : ar_printf(c->a, "%.*s/%s", (int)(slash - from), from, arg->name);
  if (access(d->init_path, R_OK) != 0)
    ck_warn(c, arg->span, "initialiser file '%s' is not readable (looked for '%s')", arg->name,
            d->init_path);
}

/* The numeric arguments of a distribution, with their range checks. */
static void ck_init_numbers(ck_ctx *c, const ck_dist *dist, vl_decl *d) {
  vl_expr *e = d->init;
  double *v = d->init_args;
  bool ok = true;
  for (int i = 0; i < e->nargs && i < 2; i++) {
    e->args[i] = ck_value(c, e->args[i]);
    ok = ck_eval_number(c, e->args[i], ar_printf(c->a, "an argument of %s", dist->name), &v[i]) && ok;
  }
  if (!ok) return;
  if (!strcmp(dist->name, "normal") && v[1] < 0)
    ck_err(c, e->args[1]->span, "the std of normal must be >= 0, got %g", v[1]);
  if (!strcmp(dist->name, "uniform") && v[0] > v[1])
    ck_err(c, e->span, "uniform(lo, hi) needs lo <= hi, got %g > %g", v[0], v[1]);
}

void ck_init(ck_ctx *c, vl_decl *d) {
  vl_expr *e = d->init;
  if (!e) return;
  if (e->kind != EX_NAME && e->kind != EX_CALL) {
    ck_err(c, e->span, "init takes a distribution such as normal(0, 0.1), zeros or file(\"w.npy\")");
    return;
  }
  const ck_dist *dist = ck_find_dist(e->name);
  if (!dist) {
    ck_err(c, e->span, "unknown initialiser '%s' (expected zeros, constant, normal, uniform, "
           "glorot, identity or file)", e->name);
    return;
  }
  int nargs = e->kind == EX_CALL ? e->nargs : 0;
  if (nargs != dist->nargs) {
    ck_err(c, e->span, "%s takes %d argument%s (%s), got %d", dist->name, dist->nargs,
           dist->nargs == 1 ? "" : "s", dist->args, nargs);
    return;
  }
  if (dist->weights_only && d->kind != D_WEIGHT) {
    ck_err(c, e->span, "%s initialises weights, not biases", dist->name);
    return;
  }
  if (!strcmp(dist->name, "file")) ck_init_file(c, d, e->args[0]);
  else if (nargs) ck_init_numbers(c, dist, d);
}

/* ---- learn ------------------------------------------------------------------------------ */

/* The parameter an item names: W, b, pop.tau_m or pop.tau_r. */
static bool ck_learn_item(ck_ctx *c, vl_learn_item *it) {
  vl_expr *r = it->ref;
  const char *field = NULL;
  if (r->kind == EX_FIELD && r->lhs->kind == EX_NAME) {
    field = r->name;
    r = r->lhs;
  }
  if (r->kind != EX_NAME) {
    ck_err(c, it->ref->span, "learn takes parameter names (weights, biases, pop.tau_m, pop.tau_r), "
           "got %s", ast_expr_string_short(c->a, it->ref, 24));
    return false;
  }
  vl_decl *d = ck_lookup(c, r->name, r->span);
  if (!d) return false;
  r->sym = d;
  bool is_tau = field && d->kind == D_POP && (!strcmp(field, "tau_m") || !strcmp(field, "tau_r"));
  bool is_wb = !field && (d->kind == D_WEIGHT || d->kind == D_BIAS);
  if (!is_tau && !is_wb) {
    ck_err(c, it->ref->span, "cannot learn %s: it is not a parameter (learn takes weights, biases, "
           "pop.tau_m and pop.tau_r)", ast_expr_string_short(c->a, it->ref, 24));
    return false;
  }
  it->param = d;
  it->field = field ? (!strcmp(field, "tau_m") ? "tau_m" : "tau_r") : NULL;
  it->ref->shape = is_tau ? ck_vector(d->size) : ck_decl_shape(d);
  return true;
}

/* A parameter may be learned once, by one optimizer. */
static void ck_learn_unique(ck_ctx *c, vl_decl *d, int k) {
  vl_learn_item *it = &d->items[k];
  int slot = !it->field ? 0 : !strcmp(it->field, "tau_m") ? 1 : 2;
  const vl_learn_item **first = &ck_info_of(c, it->param)->learned[slot];
  if (!*first) { *first = it; return; }
  ck_err(c, it->ref->span, "%s is learned twice", ast_expr_string_short(c->a, it->ref, 24));
  ck_note(c, (*first)->ref->span, "first learned here");
}

/* sgd(rate) | adam(rate) | adam(rate, beta1, beta2, eps): PyTorch's Adam defaults. */
static void ck_optimizer(ck_ctx *c, vl_decl *d) {
  vl_expr *e = d->opt_call;
  int opt = e->kind == EX_CALL || e->kind == EX_NAME ? vv_opt_find(e->name) : -1;
  if (opt < 0) {
    ck_err(c, e->span, "unknown optimizer %s (expected sgd(rate) or adam(rate))", ast_expr_string_short(c->a, e, 24));
    return;
  }
  int n = e->kind == EX_CALL ? e->nargs : 0, lo = vv_opt_min_args(opt), hi = vv_opt_max_args(opt);
  if (n != lo && n != hi) {   /* the optional arguments come all together */
    ck_err(c, e->span, opt == VLE_OPT_SGD ? "sgd takes 1 argument (rate), got %d"
                       : "adam takes 1 or 4 arguments (rate[, beta1, beta2, eps]), got %d", n);
    return;
  }
  d->opt = (vle_opt)opt;
  double *v = d->opt_args;
  v[1] = 0.9; v[2] = 0.999; v[3] = 1e-8;
  static const char *const names[] = { "the learning rate", "beta1", "beta2", "eps" };
  for (int i = 0; i < n; i++) {
    e->args[i] = ck_value(c, e->args[i]);
    if (!ck_eval_number(c, e->args[i], names[i], &v[i])) continue;
    bool beta = i == 1 || i == 2;
    if (beta && !(v[i] >= 0 && v[i] < 1))
      ck_err(c, e->args[i]->span, "%s must be in [0, 1), got %g", names[i], v[i]);
    if (!beta && !(v[i] > 0))
      ck_err(c, e->args[i]->span, "%s must be positive, got %g", names[i], v[i]);
  }
}

void ck_learn(ck_ctx *c, vl_decl *d) {
  for (int k = 0; k < d->nitems; k++)
    if (ck_learn_item(c, &d->items[k])) ck_learn_unique(c, d, k);
  ck_optimizer(c, d);
  if (d->clamp_op != CMP_NONE) {
    d->clamp_value = ck_value(c, d->clamp_value);
    ck_eval_number(c, d->clamp_value, "the clamp bound", &d->clamp);
  }
}

/* ---- feedback ----------------------------------------------------------------------------- */

/* A name that must be a weight (W or B of a feedback line). */
static vl_decl *ck_fb_weight(ck_ctx *c, const char *name, vl_span sp, const char *role) {
  vl_decl *d = ck_lookup(c, name, sp);
  if (!d) return NULL;
  d->used = true;
  if (d->kind == D_WEIGHT) return d;
  ck_err(c, sp, "feedback needs a weight as %s, but '%s' is %s %s", role, name,
         ck_article(d->kind), ck_kind_name(d->kind));
  return NULL;
}

/* The earlier feedback line that already names d as W (want_w) or as B, or NULL. */
static vl_decl *ck_fb_find(ck_ctx *c, const vl_decl *d, bool want_w) {
  for (int i = 0; i < c->m->feedbacks.len; i++) {
    vl_decl *f = c->m->feedbacks.items[i];
    if ((want_w ? f->fb_w : f->fb_b) == d) return f;
  }
  return NULL;
}

/* B is the back-projection's matrix: it maps the errors of W's post side to its pre side,
 * so it has the shape of Wᵀ, [pre of W, post of W]. */
static bool ck_fb_shape(ck_ctx *c, vl_decl *d, const vl_decl *W, const vl_decl *B) {
  if (B->post == W->pre && B->pre == W->post) return true;
  ck_err(c, d->fb_b_span, "feedback matrix %s must have the shape of %s' (declared "
         "weight %s[%s, %s]), but it is %s[%s, %s]", B->name, W->name, B->name,
         W->pre_name, W->post_name, B->name, B->post_name, B->pre_name);
  return false;
}

/* Each weight has one feedback matrix, each matrix serves one weight, and no matrix is both. */
static bool ck_fb_unique(ck_ctx *c, vl_decl *d, vl_decl *W, vl_decl *B) {
  struct { vl_decl *w; bool as_w; vl_span sp; const char *msg; } k[] = {
    { W, true, d->fb_w_span, "%s already has a feedback matrix" },
    { B, false, d->fb_b_span, "%s is already the feedback matrix of another weight" },
    { W, false, d->fb_w_span, "%s is a feedback matrix: it carries errors back and has none "
                              "of its own" },
    { B, true, d->fb_b_span, "%s has a feedback matrix of its own, so it cannot be one" },
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    vl_decl *f = ck_fb_find(c, k[i].w, k[i].as_w);
    if (!f) continue;
    ck_err(c, k[i].sp, k[i].msg, k[i].w->name);
    ck_note(c, f->span, "see this feedback line");
    return false;
  }
  return true;
}

/* with kolen_pollack(lambda), lambda > 0 the decay shared by W and B. */
static void ck_fb_rule(ck_ctx *c, vl_decl *d) {
  vl_expr *e = d->fb_rule;
  if (!e) return;
  if (e->kind != EX_CALL || strcmp(e->name, "kolen_pollack") || e->nargs != 1) {
    ck_err(c, e->span, "unknown feedback rule %s (expected kolen_pollack(lambda), or nothing "
           "for a fixed feedback matrix)", ast_expr_string_short(c->a, e, 24));
    d->fb_rule = NULL;   /* reported once: the learn lines are then checked as for a fixed B */
    return;
  }
  e->args[0] = ck_value(c, e->args[0]);
  double v;
  if (!ck_eval_number(c, e->args[0], "the decay lambda", &v)) return;
  if (!(v > 0))
    ck_err(c, e->args[0]->span, "the Kolen-Pollack decay lambda must be positive (it is what "
           "aligns the feedback matrix with the weight), got %g", v);
  d->fb_decay = v;
}

void ck_feedback(ck_ctx *c, vl_decl *d) {
  vl_decl *W = ck_fb_weight(c, d->fb_w_name, d->fb_w_span, "W (feedback W = B)");
  vl_decl *B = ck_fb_weight(c, d->fb_b_name, d->fb_b_span, "B (feedback W = B)");
  ck_fb_rule(c, d);
  if (!W || !B || ck_info_of(c, W)->bad || ck_info_of(c, B)->bad) return;
  if (W->pre && W->pre->kind != D_POP) {
    ck_err(c, d->fb_w_span, "%s is never back-projected: its pre side %s is an %s, which "
           "has no error to receive", W->name, W->pre_name, ck_kind_name(W->pre->kind));
    return;
  }
  if (W == B) {
    ck_err(c, d->fb_b_span, "feedback %s = %s is weight transport itself: name a separate "
           "matrix of the shape of %s'", W->name, B->name, W->name);
    return;
  }
  if (!ck_fb_shape(c, d, W, B) || !ck_fb_unique(c, d, W, B)) return;
  d->fb_w = W;
  d->fb_b = B;
  vec_push(c->a, &c->m->feedbacks, d);
}

/* The learn line that learns d (a weight), or NULL. */
static vl_decl *ck_learn_line_of(ck_ctx *c, const vl_decl *d) {
  for (int g = 0; g < c->m->learns.len; g++) {
    vl_decl *l = c->m->learns.items[g];
    for (int i = 0; i < l->nitems; i++)
      if (l->items[i].param == d && !l->items[i].field) return l;
  }
  return NULL;
}

/* A fixed B is not learned; a Kolen–Pollack B is learned on W's own learn line, so that it
 * gets W's optimizer and rate (its update is the transpose of W's, theory.md §10). */
void ck_feedback_learning(ck_ctx *c) {
  for (int i = 0; i < c->m->feedbacks.len; i++) {
    vl_decl *f = c->m->feedbacks.items[i];
    vl_decl *lw = ck_learn_line_of(c, f->fb_w), *lb = ck_learn_line_of(c, f->fb_b);
    const char *w = f->fb_w->name, *b = f->fb_b->name;
    if (!f->fb_rule && lb) {
      ck_err(c, lb->span, "%s is a fixed feedback matrix (feedback %s = %s): it cannot be "
             "learned; add `with kolen_pollack(lambda)` to the feedback line to learn it", b,
             w, b);
      ck_note(c, f->span, "the feedback line is here");
    } else if (f->fb_rule && !lw) {
      ck_err(c, f->span, "Kolen-Pollack learns %s from the updates of %s, but %s is not "
             "learned", b, w, w);
    } else if (f->fb_rule && lb != lw) {
      ck_err(c, lb ? lb->span : f->span, "with Kolen-Pollack, %s must be learned on the same "
             "learn line as %s (it takes the transpose of %s's update, with the same "
             "optimizer): write `learn %s, %s with ...`", b, w, w, w, b);
      ck_note(c, lw->span, "%s is learned here", w);
    }
  }
}

/* ---- settings ------------------------------------------------------------------------- */

/* The error schemes: runtime/vle_vocab.h, the list the runtime reads too. */
#define CK_SCHEME_NAME_(id, name, kernel, sgd, back, split) name,
static const char *const ck_errors_names[] = { VLE_SCHEMES(CK_SCHEME_NAME_) NULL };
/* The update schemes the back end implements (docs/theory.md §6); add new ones here. */
static const char *const ck_scheme_names[] = { "sync", NULL };
/* Equilibrium propagation's nudging (docs/theory.md §10b). */
static const char *const ck_eqprop_names[] = { "one_sided", "symmetric", NULL };

/* errors = NAME | scheme = NAME: one of a list (a string is accepted too). */
static const char *ck_setting_word(ck_ctx *c, vl_field *f, const char *const *allowed) {
  vl_expr *v = f->value;
  if (v->kind == EX_NAME || v->kind == EX_STR)
    for (int i = 0; allowed[i]; i++)
      if (!strcmp(v->name, allowed[i])) return allowed[i];
  const char *list = "";
  for (int i = 0; allowed[i]; i++)
    list = ar_printf(c->a, "%s%s%s", list, i == 0 ? "" : allowed[i + 1] ? ", " : " or ", allowed[i]);
  ck_err(c, v->span, "%s must be %s, got %s", f->key, list, ast_expr_string_short(c->a, v, 24));
  return NULL;
}

static void ck_setting(ck_ctx *c, vl_model *m, vl_field *f) {
  double v;
  const char *w;
  if (!strcmp(f->key, "errors")) {
    if ((w = ck_setting_word(c, f, ck_errors_names))) m->errors = w;
  } else if (!strcmp(f->key, "scheme")) {
    if ((w = ck_setting_word(c, f, ck_scheme_names))) m->scheme = w;
  } else if (!strcmp(f->key, "eqprop")) {
    if ((w = ck_setting_word(c, f, ck_eqprop_names))) m->ep_symmetric = !strcmp(w, "symmetric");
    if (!m->ep_span.line) m->ep_span = f->key_span;
  } else if (!strcmp(f->key, "free_steps") || !strcmp(f->key, "nudged_steps")) {
    long n;
    bool free = f->key[0] == 'f';
    f->value = ck_value(c, f->value);
    if (ck_eval_int(c, f->value, f->key, 1, 100000000, &n)) *(free ? &m->ep_free : &m->ep_nudged) = n;
    if (!m->ep_span.line) m->ep_span = f->key_span;
  } else if (!strcmp(f->key, "batch")) {
    long b;
    f->value = ck_value(c, f->value);
    if (ck_eval_int(c, f->value, "batch", 1, 1000000, &b)) m->batch = b;
  } else {
    bool dt = !strcmp(f->key, "dt");
    f->value = ck_value(c, f->value);
    if (!ck_eval_number(c, f->value, f->key, &v)) return;
    if (dt ? !(v > 0 && isfinite(v)) : !(v >= 0 && isfinite(v)))
      ck_err(c, f->value->span, "%s must be %s, got %g", f->key, dt ? "positive" : ">= 0", v);
    else if (dt) m->dt = v;
    else m->gamma = v;
  }
}

/* The index of a settings key, or -1. */
static int ck_setting_key(const char *key) {
  static const char *const keys[] = { "dt", "gamma", "errors", "scheme", "batch", "eqprop",
                                      "free_steps", "nudged_steps" };
  for (int k = 0; k < (int)(sizeof keys / sizeof keys[0]); k++)
    if (!strcmp(keys[k], key)) return k;
  return -1;
}

void ck_settings(ck_ctx *c, vl_decl *d) {
  vl_field *seen[8] = { 0 };
  for (int i = 0; i < d->nfields; i++) {
    vl_field *f = &d->fields[i];
    int k = ck_setting_key(f->key);
    if (k < 0) {
      ck_err(c, f->key_span, "unknown setting '%s' (expected dt, gamma, errors, scheme, batch, "
             "eqprop, free_steps or nudged_steps)", f->key);
    } else if (seen[k]) {
      ck_err(c, f->key_span, "setting '%s' is given twice", f->key);
      ck_note(c, seen[k]->key_span, "first given here");
    } else {
      seen[k] = f;
      ck_setting(c, c->m, f);
    }
  }
}
