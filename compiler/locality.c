/*
 * locality.c - the locality report (locality.h; docs/derive.md "Locality").
 *
 * A walk over each expression carries a frame: who "the neuron" is and which units are its
 * pre- and postsynaptic partners. A matrix product changes the frame: W v with W a synapse
 * onto the neuron reads v at W's presynaptic unit; Wᵀ v (weight transport) and B v (a
 * feedback matrix) read v at W's postsynaptic unit, delivered backward. A leaf is then
 * classified by its unit: the neuron itself (own), a partner (pre, post), an external
 * signal or a setting (global), or any other neuron (non-local: its private state).
 * Units: populations 0..npops-1, then inputs, then targets.
 */
#include "locality.h"

#include <jansson.h>
#include <string.h>

#include "vocab.h"

#define LC_NAME_(id, name, what) name,
#define LC_WHAT_(id, name, what) what,
static const char *const lc_names[] = { LC_CLASSES(LC_NAME_) };
static const char *const lc_whats[] = { LC_CLASSES(LC_WHAT_) };

const char *lc_class_name(lc_class c) { return lc_names[c]; }
const char *lc_class_meaning(lc_class c) { return lc_whats[c]; }

static const char LC_OWN_[] = "the neuron's own", LC_POST_[] = "the postsynaptic unit",
                  LC_PRE_[] = "the presynaptic unit";

/* A detail that only repeats its class (printed in JSON, not in text). */
static bool lc_generic(const char *d) { return d == LC_OWN_ || d == LC_POST_ || d == LC_PRE_; }

typedef struct lc_frame {
  int own, post, pre;      /* units, or -1 */
  const char *via;         /* how `post` signals arrive ("through W2ᵀ"), or NULL */
  int param;               /* the rule's parameter, or -1 */
} lc_frame;

/* A (node, frame) pair already walked: walking it again adds no factor. Keys live in an
 * open-addressing table, so that a DAG with much sharing is walked in linear time. */
typedef struct lc_seen { const ex_node *x; lc_frame f; } lc_seen;

typedef struct lc_walk {
  dv_system *s;
  lc_item *it;
  int cap;
  int nin;                 /* inputs */
  lc_seen *seen;           /* the table (x NULL: empty), nseen of cseen slots used */
  size_t nseen, cseen;
} lc_walk;

static vl_arena *lc_arena(lc_walk *w) { return ex_arena(w->s->x); }

static void lc_add(lc_walk *w, lc_class c, const char *what, const char *detail) {
  lc_item *it = w->it;
  for (int i = 0; i < it->nf; i++)
    if (it->f[i].cls == c && !strcmp(it->f[i].what, what)) return;
  if (it->nf == w->cap) {
    int cap = w->cap ? 2 * w->cap : 8;
    lc_factor *f = AR_NEWN(lc_arena(w), lc_factor, cap);
    if (it->nf) memcpy(f, it->f, sizeof *f * (size_t)it->nf);
    it->f = f;
    w->cap = cap;
  }
  it->f[it->nf++] = (lc_factor){ c, what, detail };
  if (c == LC_NONLOCAL) it->space_own = false;
}

static int lc_vec_index(const vl_vec *v, const vl_decl *d) {
  for (int i = 0; i < v->len; i++)
    if (v->items[i] == d) return i;
  return -1;
}

/* The unit of a weight's or bias's post/pre declaration. */
static int lc_unit_of_decl(lc_walk *w, const vl_decl *d) {
  vl_model *m = w->s->model;
  int i;
  if ((i = lc_vec_index(&m->pops, d)) >= 0) return i;
  if ((i = lc_vec_index(&m->inputs, d)) >= 0) return w->s->npops + i;
  if ((i = lc_vec_index(&m->targets, d)) >= 0) return w->s->npops + w->nin + i;
  return -1;
}

static int lc_param_of(lc_walk *w, const ex_node *sym) {
  for (int i = 0; i < w->s->nparams; i++)
    if (w->s->params[i].sym == sym) return i;
  return -1;
}

/* A unit seen from the frame. */
static void lc_unit(lc_walk *w, const lc_frame *f, int unit, const char *what) {
  int npops = w->s->npops;
  if (unit == f->own) lc_add(w, LC_OWN, what, LC_OWN_);
  else if (unit == f->post) lc_add(w, LC_POST, what, f->via ? f->via : LC_POST_);
  else if (unit == f->pre) lc_add(w, LC_PRE, what, LC_PRE_);
  else if (unit >= npops + w->nin) lc_add(w, LC_GLOBAL, what, "the cost's target");
  else if (unit >= npops) lc_add(w, LC_GLOBAL, what, "an external input");
  else lc_add(w, LC_NONLOCAL, what, "another neuron's private state");
}

static void lc_expr(lc_walk *w, const lc_frame *f, const ex_node *x);

/* A parameter read elementwise (not as the matrix of a product). */
static void lc_param_leaf(lc_walk *w, const lc_frame *f, const ex_node *x) {
  int k = lc_param_of(w, x);
  if (k >= 0 && k == f->param) { lc_add(w, LC_OWN, x->name, "the parameter's own value"); return; }
  const dv_param *p = k >= 0 ? &w->s->params[k] : NULL;
  if (p && p->kind == PK_BIAS) { lc_unit(w, f, lc_unit_of_decl(w, p->decl->post), x->name); return; }
  lc_add(w, LC_NONLOCAL, x->name, "another synapse's weight");
}

static void lc_leaf(lc_walk *w, const lc_frame *f, const ex_node *x) {
  dv_sym_kind k = (dv_sym_kind)x->sym_kind;
  switch (k) {
  case S_U: case S_UDOT: case S_E: case S_TAUM: case S_TAUR: case S_UB: case S_UB_INNER:
  case S_PROS_V: case S_PROS_VDOT: case S_ADJ_W: case S_DISP_R: case S_DISP_DOT:
    if (k == S_E) w->it->reads[x->sym_index] = true;
    lc_unit(w, f, x->sym_index, x->name);
    return;
  case S_INPUT: lc_unit(w, f, w->s->npops + x->sym_index, x->name); return;
  case S_TARGET: lc_unit(w, f, w->s->npops + w->nin + x->sym_index, x->name); return;
  case S_W: case S_B: lc_param_leaf(w, f, x); return;
  case S_CONST: lc_add(w, LC_GLOBAL, x->name, "a model constant"); return;
  case S_TIME: case S_GAMMA: case S_DT: case S_DISP_ETA: case S_COST_OF:
    lc_add(w, LC_GLOBAL, x->name, "a setting"); return;
  case S_BUF: case S_EXTRA:   /* (S_NSYM is S_PROS_V) */
    break;
  }
  lc_add(w, LC_NONLOCAL, x->name ? x->name : "?", "a symbol the report does not know");
}

/* M v with M a weight: the synapse itself is classified by its post unit, v is read at the
 * unit the product delivers from. */
static void lc_product(lc_walk *w, const lc_frame *f, const ex_node *x) {
  const ex_node *M = x->args[0], *v = x->args[1];
  int k = M->op == X_SYM ? lc_param_of(w, M) : -1;
  if (k < 0 || w->s->params[k].kind != PK_WEIGHT) {
    lc_expr(w, f, M);
    lc_expr(w, f, v);
    return;
  }
  const dv_param *p = &w->s->params[k];
  vl_arena *a = lc_arena(w);
  int post = lc_unit_of_decl(w, p->decl->post), pre = lc_unit_of_decl(w, p->decl->pre);
  lc_frame in = { -1, -1, -1, NULL, -1 };
  if (x->op == X_MATTVEC) {
    lc_add(w, LC_NONLOCAL, ar_printf(a, "%s\u1d40", M->name), "weight transport");
    in.post = post;
    in.via = ar_printf(a, "through %s\u1d40", M->name);
  } else if (p->fb_of >= 0) {
    /* B [n_pre(W) x n_post(W)] carries W's postsynaptic errors to W's presynaptic unit,
     * which B's declaration names as its post. */
    if (k == f->param || post == f->own) lc_add(w, LC_OWN, M->name, "its own feedback synapses");
    else lc_unit(w, f, post, M->name);
    in.post = pre;
    in.via = ar_printf(a, "through the feedback matrix %s", M->name);
  } else {
    if (k == f->param || post == f->own) lc_add(w, LC_OWN, M->name, "its own synapses");
    else lc_unit(w, f, post, M->name);
    in.pre = pre;
  }
  lc_expr(w, &in, v);
}

static bool lc_same_frame(const lc_frame *a, const lc_frame *b) {
  return a->own == b->own && a->post == b->post && a->pre == b->pre && a->via == b->via &&
         a->param == b->param;
}

static size_t lc_hash(const ex_node *x, const lc_frame *f) {
  size_t h = (size_t)x->id * 2654435761u;
  h ^= (size_t)(f->own + 7) * 40503u ^ (size_t)(f->post + 11) * 9973u ^
       (size_t)(f->pre + 13) * 7919u ^ (size_t)(f->param + 17) * 104729u ^ (size_t)f->via;
  return h;
}

/* Marks (x, f) walked; false when it already was. */
static bool lc_first_visit(lc_walk *w, const ex_node *x, const lc_frame *f) {
  if (2 * (w->nseen + 1) > w->cseen) {   /* grow (and rehash) at half full */
    size_t c = w->cseen ? 2 * w->cseen : 256;
    lc_seen *t = AR_NEWN(lc_arena(w), lc_seen, c);
    for (size_t i = 0; i < w->cseen; i++) {
      if (!w->seen[i].x) continue;
      size_t j = lc_hash(w->seen[i].x, &w->seen[i].f) & (c - 1);
      while (t[j].x) j = (j + 1) & (c - 1);
      t[j] = w->seen[i];
    }
    w->seen = t;
    w->cseen = c;
  }
  size_t j = lc_hash(x, f) & (w->cseen - 1);
  for (; w->seen[j].x; j = (j + 1) & (w->cseen - 1))
    if (w->seen[j].x == x && lc_same_frame(&w->seen[j].f, f)) return false;
  w->seen[j] = (lc_seen){ x, *f };
  w->nseen++;
  return true;
}

static void lc_expr(lc_walk *w, const lc_frame *f, const ex_node *x) {
  if (x->op != X_NUM && !lc_first_visit(w, x, f)) return;
  switch (x->op) {
  case X_NUM: return;
  case X_SYM: lc_leaf(w, f, x); return;
  case X_MATVEC: case X_MATTVEC: lc_product(w, f, x); return;
  case X_VEC: case X_ADD: case X_MUL: case X_POW: case X_FN: case X_OUTER: case X_SUM:
  case X_SOFTMAX: case X_LOGSUMEXP: case X_BCAST:
    for (int i = 0; i < x->nargs; i++) lc_expr(w, f, x->args[i]);
    return;
  }
}

static lc_item lc_item_new(dv_system *s, const char *name) {
  lc_item it = { 0 };
  it.name = name;
  it.reads = AR_NEWN(ex_arena(s->x), bool, s->npops + 1);
  it.space_own = true;
  return it;
}

static void lc_walk_into(dv_system *s, lc_item *it, const lc_frame *f, ex_node *const *xs,
                         int n) {
  lc_walk w = { s, it, 0, s->model->inputs.len, NULL, 0, 0 };
  for (int i = 0; i < n; i++)
    if (xs[i]) lc_expr(&w, f, dv_display(s, xs[i]));
}

static void lc_error(dv_system *s, const dv_pop *p, lc_item *it) {
  *it = lc_item_new(s, p->decl->name);
  it->defined = p->split_ok;
  it->reads_error = true;
  lc_frame f = { p->index, -1, -1, NULL, -1 };
  ex_node *xs[] = { p->g_show ? p->g_show : p->g, p->q, p->a, p->b };
  lc_walk_into(s, it, &f, xs, 4);
}

static void lc_rule(dv_system *s, int k, lc_item *it) {
  const dv_param *p = &s->params[k];
  *it = lc_item_new(s, p->name);
  it->defined = p->learn >= 0 || (p->fb_of >= 0 && p->fb_decl->fb_rule);
  lc_walk w0 = { s, it, 0, s->model->inputs.len, NULL, 0, 0 };
  lc_frame f = { -1, -1, -1, NULL, k };
  if (p->kind == PK_WEIGHT) {
    f.post = lc_unit_of_decl(&w0, p->decl->post);
    f.pre = lc_unit_of_decl(&w0, p->decl->pre);
  } else {
    f.own = p->pop;
  }
  ex_node *G = p->G;
  lc_walk_into(s, it, &f, &G, 1);
  for (int i = 0; i < s->npops; i++) it->reads_error |= it->reads[i];
  if (s->model->eqprop) {   /* Δθ = −(η/β)(G^β − G⁰): β and the phase are global signals */
    lc_walk w = { s, it, 0, s->model->inputs.len, NULL, 0, 0 };
    lc_add(&w, LC_GLOBAL, "\u03b2, the phase", "the nudge and the phase signal");
  }
}

/* Space locality through the errors read: the greatest fixpoint (recurrent reads start
 * local and stay so unless some error on the cycle is not). */
static void lc_close(lc_report *r) {
  for (int i = 0; i < r->nerrors; i++) r->errors[i].space = r->errors[i].space_own;
  for (bool changed = true; changed;) {
    changed = false;
    for (int i = 0; i < r->nerrors; i++) {
      lc_item *e = &r->errors[i];
      for (int j = 0; j < r->nerrors && e->space; j++)
        if (e->reads[j] && !r->errors[j].space) { e->space = false; changed = true; }
    }
  }
  for (int i = 0; i < r->nrules; i++) {
    lc_item *it = &r->rules[i];
    it->space = it->space_own;
    for (int j = 0; j < r->nerrors; j++)
      if (it->reads[j] && !r->errors[j].space) it->space = false;
  }
}

lc_report *lc_build(dv_system *s) {
  vl_arena *a = ex_arena(s->x);
  lc_report *r = AR_NEW(a, lc_report);
  r->errors = AR_NEWN(a, lc_item, s->npops + 1);
  r->nerrors = s->npops;
  for (int i = 0; i < s->npops; i++) lc_error(s, &s->pops[i], &r->errors[i]);
  r->rules = AR_NEWN(a, lc_item, s->nparams + 1);
  for (int k = 0; k < s->nparams; k++) {
    const dv_param *p = &s->params[k];
    if (!p->used && p->fb_of < 0) continue;
    if (p->fb_of >= 0 && !p->fb_decl->fb_rule) continue;   /* a fixed B has no rule */
    lc_rule(s, k, &r->rules[r->nrules++]);
  }
  lc_close(r);
  r->scheme = s->model->eqprop ? "eqprop" : s->model->errors ? s->model->errors : "";
  return r;
}

bool lc_time_local(const lc_item *it, int scheme) {
  return !it->reads_error || vv_scheme((vle_scheme)scheme)->local;
}

/* Equilibrium propagation has no error scheme: its rules read what is at the synapse at
 * the end of each phase, forward in time (no backward sweep), the free phase's product
 * kept until the nudged phase ends. */
static const char LC_EP_TIME[] = "two phases forward in time, no backward sweep (the synapse "
                                 "keeps its free-phase product until the nudged phase ends)";

/* ---- text ------------------------------------------------------------------------------ */

static const char *lc_yes(bool b) { return b ? "yes" : "no"; }

/* One line per class that occurs: "  post     e_h2 (through W2ᵀ), ...". */
static void lc_text_factors(FILE *out, const lc_item *it) {
  for (int c = 0; c < LC_NCLASSES; c++) {
    bool any = false;
    for (int i = 0; i < it->nf; i++) {
      if ((int)it->f[i].cls != c) continue;
      if (!any) fprintf(out, "    %-9s", lc_names[c]);
      else fputs(", ", out);
      if (lc_generic(it->f[i].detail)) fputs(it->f[i].what, out);
      else fprintf(out, "%s (%s)", it->f[i].what, it->f[i].detail);
      any = true;
    }
    if (any) fputc('\n', out);
  }
}

static void lc_text_why(FILE *out, const lc_report *r, const lc_item *it) {
  if (!it->space_own) {
    fprintf(out, "no (");
    bool first = true;
    for (int i = 0; i < it->nf; i++)
      if (it->f[i].cls == LC_NONLOCAL) {
        fprintf(out, "%s%s: %s", first ? "" : "; ", it->f[i].what, it->f[i].detail);
        first = false;
      }
    fprintf(out, ")");
  } else if (!it->space) {
    fprintf(out, "no (reads the error of");
    for (int j = 0; j < r->nerrors; j++)
      if (it->reads[j] && !r->errors[j].space) fprintf(out, " %s", r->errors[j].name);
    fprintf(out, ", not local in space)");
  } else {
    fprintf(out, "yes");
  }
}

static void lc_text_schemes(FILE *out, const lc_item *it, const char *scheme) {
  if (!strcmp(scheme, "eqprop")) {
    fprintf(out, "    in time: yes, %s\n", LC_EP_TIME);
    return;
  }
  fprintf(out, "    in time:");
  for (int k = 0; k < VLE_NSCHEMES; k++)
    fprintf(out, "%s %s%s %s", k ? "," : "", vv_scheme((vle_scheme)k)->name,
            k == vv_scheme_find(scheme) ? "*" : "", lc_yes(lc_time_local(it, k)));
  fprintf(out, "%s\n", it->reads_error ? "" : "   (reads no error)");
}

static void lc_text_scheme_header(FILE *out, const lc_report *r) {
  fprintf(out, "a scheme not local in time (");
  for (int k = 0, n = 0; k < VLE_NSCHEMES; k++)
    if (!vv_scheme((vle_scheme)k)->local)
      fprintf(out, "%s%s", n++ ? ", " : "", vv_scheme((vle_scheme)k)->name);
  fprintf(out, ") runs a backward sweep over a stored trajectory;\n"
          "* marks the model's scheme (settings.errors = %s)\n\n", r->scheme);
}

void lc_print_text(FILE *out, dv_system *s, const lc_report *r) {
  fprintf(out, "locality (docs/derive.md \"Locality\"); classes:\n");
  for (int c = 0; c < LC_NCLASSES; c++) fprintf(out, "  %-9s%s\n", lc_names[c], lc_whats[c]);
  if (!strcmp(r->scheme, "eqprop")) {
    fprintf(out, "the model learns by equilibrium propagation: no errors, no error scheme\n\n");
  } else {
    lc_text_scheme_header(out, r);
  }
  for (int i = 0; i < r->nerrors; i++) {
    const lc_item *it = &r->errors[i];
    if (s->pops[i].decl->flow) {
      fprintf(out, "error of %s   none (gradient flow: the model learns by equilibrium "
              "propagation)\n", it->name);
      continue;
    }
    fprintf(out, "error of %s   local in space: ", it->name);
    lc_text_why(out, r, it);
    fputc('\n', out);
    lc_text_factors(out, it);
    if (it->defined) lc_text_schemes(out, it, r->scheme);
    else fprintf(out, "    no error scheme is defined (the split fails)\n");
  }
  for (int i = 0; i < r->nrules; i++) {
    const lc_item *it = &r->rules[i];
    fprintf(out, "\nrule of %s%s   local in space: ", it->name,
            it->defined ? "" : " (not learned)");
    lc_text_why(out, r, it);
    fputc('\n', out);
    lc_text_factors(out, it);
    lc_text_schemes(out, it, r->scheme);
  }
}

/* ---- JSON ------------------------------------------------------------------------------ */

static json_t *lc_jitem(const lc_report *r, const lc_item *it, bool error) {
  json_t *o = json_object();
  json_object_set_new(o, error ? "population" : "param", json_string(it->name));
  json_t *fs = json_array();
  for (int i = 0; i < it->nf; i++)
    json_array_append_new(fs, json_pack("{s:s, s:s, s:s}", "factor", it->f[i].what, "class",
                          lc_names[it->f[i].cls], "detail", it->f[i].detail));
  json_object_set_new(o, "factors", fs);
  json_t *rd = json_array();
  for (int j = 0; j < r->nerrors; j++)
    if (it->reads[j]) json_array_append_new(rd, json_string(r->errors[j].name));
  json_object_set_new(o, "reads_errors", rd);
  json_object_set_new(o, error ? "defined" : "learned", json_boolean(it->defined));
  json_object_set_new(o, "local_in_space", json_boolean(it->space));
  json_t *sch = json_object();
  if (!strcmp(r->scheme, "eqprop")) {
    bool t = !error;   /* a gradient-flow population has no error to be local */
    json_object_set_new(sch, "eqprop", json_pack("{s:b, s:b, s:s}", "local_in_time", t,
                        "local", t && it->space, "note", LC_EP_TIME));
    json_object_set_new(o, "schemes", sch);
    json_object_set_new(o, "local_in_time", json_boolean(t));
    json_object_set_new(o, "local", json_boolean(t && it->space));
    return o;
  }
  for (int k = 0; k < VLE_NSCHEMES; k++) {
    bool t = lc_time_local(it, k);
    json_object_set_new(sch, vv_scheme((vle_scheme)k)->name, json_pack("{s:b, s:b}",
                        "local_in_time", t, "local", t && it->space));
  }
  json_object_set_new(o, "schemes", sch);
  int k = vv_scheme_find(r->scheme);
  if (k >= 0) {   /* under the model's own scheme (settings.errors) */
    json_object_set_new(o, "local_in_time", json_boolean(lc_time_local(it, k)));
    json_object_set_new(o, "local", json_boolean(it->space && lc_time_local(it, k)));
  }
  return o;
}

void *lc_json(dv_system *s, const lc_report *r) {
  json_t *o = json_object();
  json_t *cl = json_object();
  for (int c = 0; c < LC_NCLASSES; c++)
    json_object_set_new(cl, lc_names[c], json_string(lc_whats[c]));
  json_object_set_new(o, "classes", cl);
  json_object_set_new(o, "errors_scheme", json_string(r->scheme));
  json_t *es = json_array(), *rs = json_array();
  for (int i = 0; i < r->nerrors; i++) json_array_append_new(es, lc_jitem(r, &r->errors[i], true));
  for (int i = 0; i < r->nrules; i++) json_array_append_new(rs, lc_jitem(r, &r->rules[i], false));
  json_object_set_new(o, "errors", es);
  json_object_set_new(o, "rules", rs);
  (void)s;
  return o;
}
