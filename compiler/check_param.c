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

/* ---- settings ------------------------------------------------------------------------- */

/* The error schemes: runtime/vle_vocab.h, the list the runtime reads too. */
#define CK_SCHEME_NAME_(id, name, kernel, sgd, local) name,
static const char *const ck_errors_names[] = { VLE_SCHEMES(CK_SCHEME_NAME_) NULL };
/* The update schemes the back end implements (docs/theory.md §6); add new ones here. */
static const char *const ck_scheme_names[] = { "sync", NULL };

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
  static const char *const keys[] = { "dt", "gamma", "errors", "scheme", "batch" };
  for (int k = 0; k < (int)(sizeof keys / sizeof keys[0]); k++)
    if (!strcmp(keys[k], key)) return k;
  return -1;
}

void ck_settings(ck_ctx *c, vl_decl *d) {
  vl_field *seen[5] = { 0 };
  for (int i = 0; i < d->nfields; i++) {
    vl_field *f = &d->fields[i];
    int k = ck_setting_key(f->key);
    if (k < 0) {
      ck_err(c, f->key_span, "unknown setting '%s' (expected dt, gamma, errors, scheme or batch)", f->key);
    } else if (seen[k]) {
      ck_err(c, f->key_span, "setting '%s' is given twice", f->key);
      ck_note(c, seen[k]->key_span, "first given here");
    } else {
      seen[k] = f;
      ck_setting(c, c->m, f);
    }
  }
}
