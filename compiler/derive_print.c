/*
 * derive_print.c - `vlec derive` output: the derived system in the notation of the papers
 * (text with Unicode, LaTeX, or JSON). Before printing, recognisable subexpressions are
 * replaced by their usual names: φ′(ŭ_p), r_p = φ(ŭ_p), and ŭ_p = u_p + τʳ_p ⊙ u̇_p.
 */
#include "derive.h"
#include "locality.h"
#include "vocab.h"

#include <jansson.h>
#include <string.h>

typedef struct dp_names {
  ex_node **from, **to;
  int n;
} dp_names;

static void dp_add(vl_arena *a, dp_names *nm, ex_node *from, ex_node *to, int cap) {
  (void)a;
  if (!from || nm->n >= cap) return;
  for (int i = 0; i < nm->n; i++)
    if (nm->from[i] == from) return;
  nm->from[nm->n] = from;
  nm->to[nm->n] = to;
  nm->n++;
}

/* The display substitutions: r_p for φ(ŭ_p), then ŭ_p for u_p + τʳ_p ⊙ u̇_p. */
static dp_names dp_make_names(dv_system *s) {
  ex_ctx *x = s->x;
  vl_arena *a = ex_arena(x);
  int cap = 3 * s->npops + 1;
  dp_names nm = { AR_NEWN(a, ex_node *, cap), AR_NEWN(a, ex_node *, cap), 0 };
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    if (p->decl->phi == BI_LINEAR) continue;
    ex_node *r = ex_sym(x, S_DISP_R, i, p->u->shape, ar_printf(a, "r_%s", p->decl->name),
                        ar_printf(a, "r_{%s}", p->decl->name));
    dp_add(a, &nm, p->rate, r, cap);
    dp_add(a, &nm, ex_subst(x, p->rate, &p->ub_def, &p->ub, 1), r, cap);
  }
  for (int i = 0; i < s->npops; i++)   /* (a gradient-flow population's ŭ is u itself) */
    if (!s->pops[i].decl->flow) dp_add(a, &nm, s->pops[i].ub_def, s->pops[i].ub, cap);
  return nm;
}

static ex_node *dp_show(dv_system *s, const dp_names *nm, ex_node *e) {
  for (int i = 0; i < nm->n; i++) e = ex_subst(s->x, e, &nm->from[i], &nm->to[i], 1);
  return e;
}

ex_node *dv_display(dv_system *s, ex_node *e) {
  dp_names nm = dp_make_names(s);
  return dp_show(s, &nm, e);
}

static const char *dp_str(dv_system *s, const dp_names *nm, ex_node *e, ex_style st) {
  return ex_to_string(ex_arena(s->x), dp_show(s, nm, e), st);
}

/* d/dt of a parameter's name: a combining dot over its first character. */
static const char *dp_dotted(vl_arena *a, const char *name, bool latex) {
  if (latex) return ar_printf(a, "\\dot{%s}", name);
  int first = 1;
  while (((unsigned char)name[first] & 0xC0) == 0x80) first++;   /* a whole UTF-8 char */
  return ar_printf(a, "%.*s\u0307%s", first, name, name + first);
}

/* Columns a string takes in a terminal: UTF-8 lead bytes, less combining marks. */
static int dp_width(const char *s) {
  int w = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p & 0xC0) == 0x80) continue;
    if (p[0] == 0xCC && p[1] >= 0x80 && p[1] <= 0xBF) continue;   /* U+0300..U+033F */
    if (p[0] == 0xCD && p[1] <= 0xAF) continue;                   /* U+0340..U+036F */
    w++;
  }
  return w;
}

/* ---- text -------------------------------------------------------------------------------- */

static const char *dp_phi_name(const dv_pop *p) {
  return p->decl->phi_fn ? p->decl->phi_fn->name : ast_builtin_name(p->decl->phi);
}

/* dv_tidy_sign on every term of a sum (for printing). */
static ex_node *dp_tidy_terms(ex_ctx *x, ex_node *e) {
  ex_node **t;
  int n = ex_terms(e, &t);
  ex_node *sum = ex_num(x, 0);
  for (int i = 0; i < n; i++) sum = ex_add(x, sum, dv_tidy_sign(x, t[i]));
  return sum;
}

/* A gradient-flow population (docs/theory.md §10b): its dynamics, no error. */
static void dp_text_flow(FILE *out, dv_system *s, const dp_names *nm, dv_pop *p) {
  ex_ctx *x = s->x;
  fprintf(out, "population %s [%ld]   \u03c6 = %s   gradient flow (dynamics = gradient)\n",
          p->decl->name, p->n, dp_phi_name(p));
  fprintf(out, "  dynamics       %s = \u2212\u2202E\u03b3/\u2202u_%s = %s\n",
          dp_str(s, nm, ex_mul(x, p->a, p->udot), EXP_TEXT), p->decl->name,
          dp_str(s, nm, dp_tidy_terms(x, ex_simplify(x, ex_neg(x, p->c))), EXP_TEXT));
  fprintf(out, "  error          none: the model learns by equilibrium propagation\n\n");
}

static void dp_text_pop(FILE *out, dv_system *s, const dp_names *nm, dv_pop *p) {
  ex_ctx *x = s->x;
  ex_style T = EXP_TEXT;
  if (p->decl->flow) {
    dp_text_flow(out, s, nm, p);
    return;
  }
  fprintf(out, "population %s [%ld]   \u03c6 = %s\n", p->decl->name, p->n,
          dp_phi_name(p));
  fprintf(out, "  mismatch       m = %s\n", dp_str(s, nm, p->m, T));
  fprintf(out, "  dynamics       %s = %s\n", dp_str(s, nm, ex_mul(x, p->a, p->udot), T),
          dp_str(s, nm, ex_simplify(x, ex_sub(x, ex_mul(x, s->gamma, p->e), p->c)), T));
  fprintf(out, "  error          g = %s\n", dp_str(s, nm, p->g_show, T));
  fprintf(out, "                 q = %s,  a = %s,  b = %s\n", dp_str(s, nm, p->q, T),
          dp_str(s, nm, p->a, T), dp_str(s, nm, p->b, T));
  if (!p->split_ok) {
    fprintf(out, "  the split Q = q e - g, P = a e - b g fails: %s\n", p->split_why);
    fprintf(out, "  no error scheme of docs/theory.md §4 (adjoint, instantaneous, prospective) is "
            "defined for this population;\n  bptt (§9, below) gives the exact gradient\n\n");
    return;
  }
  dv_schemes sc;
  dv_schemes_with(s, p, p->g_show, &sc);
  fprintf(out, "  adjoint        e = %s,   \u1e87 = %s,  w(T) = 0\n",
          dp_str(s, nm, sc.adj_e, T), dp_str(s, nm, sc.adj_w_dot, T));
  fprintf(out, "  instantaneous  e = %s\n", dp_str(s, nm, sc.inst, T));
  fprintf(out, "  prospective    %s = %s,   e = %s\n\n",
          dp_str(s, nm, ex_mul(x, p->b, ex_sym(x, S_DISP_DOT, p->index, p->e->shape,
                 ar_printf(ex_arena(x), "v\u0307_%s", p->decl->name), NULL)), T),
          dp_str(s, nm, ex_simplify(x, ex_sub(x, p->g_show, sc.v)), T),
          dp_str(s, nm, sc.pros_e, T));
}

static ex_node *dp_eta(dv_system *s) {
  return ex_sym(s->x, S_DISP_ETA, 0, (ex_shape){ EXS_SCALAR, 1, 1 }, "\u03b7", "\\eta");
}

/* θ̇ = −η G, as printed. */
static ex_node *dp_rule(dv_system *s, const dv_param *p) {
  ex_ctx *x = s->x;
  return dv_tidy_sign(x, ex_simplify(x, ex_mul(x, dp_eta(s), ex_neg(x, p->G))));
}

/* After a rule: what feedback alignment does to it (theory.md §10). */
static const char *dp_fb_note(dv_system *s, const dv_param *p) {
  vl_arena *a = ex_arena(s->x);
  if (p->fb_of >= 0)
    return p->fb_decl->fb_rule ? ar_printf(a, "   (Kolen-Pollack: the transpose of %s's update, "
                                 "decay %g)", s->params[p->fb_of].name, p->fb_decl->fb_decay)
                               : ar_printf(a, "   (fixed feedback matrix of %s)",
                                           s->params[p->fb_of].name);
  if (p->fb >= 0 && p->fb_decl->fb_rule)
    return ar_printf(a, "   (with the Kolen-Pollack decay %g)", p->fb_decl->fb_decay);
  return "";
}

/* The replaced back-projections: Wᵀ v in g becomes B v. */
static void dp_text_feedback(FILE *out, dv_system *s) {
  if (!s->model->feedbacks.len) return;
  fprintf(out, "feedback alignment (docs/theory.md \u00a710: every g above reads B v "
          "where weight transport reads W\u1d40 v)\n");
  for (int i = 0; i < s->nparams; i++) {
    dv_param *w = &s->params[i];
    if (w->fb < 0) continue;
    const char *b = s->params[w->fb].name;
    if (w->fb_decl->fb_rule)
      fprintf(out, "  %s\u1d40 e \u2192 %s e   Kolen-Pollack, \u03bb = %g: %s \u2212 %s\u1d40 "
              "shrinks by (1 \u2212 \u03b7\u03bb) per SGD step\n", w->name, b,
              w->fb_decl->fb_decay, w->name, b);
    else
      fprintf(out, "  %s\u1d40 e \u2192 %s e   fixed\n", w->name, b);
  }
  fputc('\n', out);
}

/* Equilibrium propagation: the phases, the update, and ∂E/∂θ of every learned parameter. */
static void dp_text_eqprop(FILE *out, dv_system *s, const dp_names *nm) {
  vl_model *m = s->model;
  fprintf(out, "equilibrium propagation (docs/theory.md \u00a710b), per sample:\n"
          "  free phase     %ld steps with \u03b3 = 0 (E\u03b3 = E + (\u03b3 \u2212 1) "
          "\u03b2 C: the cost off)\n", m->ep_free);
  if (m->ep_symmetric)
    fprintf(out, "  nudged phases  %ld steps with \u03b3 = +1 and %ld with \u03b3 = \u22121, "
            "both from the free state\n  update         \u0394\u03b8 = \u2212(\u03b7/(2\u03b2))"
            " (\u2202E/\u2202\u03b8|\u03b3=+1 \u2212 \u2202E/\u2202\u03b8|\u03b3=\u22121)\n",
            m->ep_nudged, m->ep_nudged);
  else
    fprintf(out, "  nudged phase   %ld steps with \u03b3 = 1 from the free state\n"
            "  update         \u0394\u03b8 = \u2212(\u03b7/\u03b2) (\u2202E/\u2202\u03b8|"
            "\u03b3=1 \u2212 \u2202E/\u2202\u03b8|\u03b3=0)\n", m->ep_nudged);
  fprintf(out, "  \u03b2 = %s; then the state returns to the free equilibrium\n\n",
          dp_str(s, nm, s->beta, EXP_TEXT));
  fprintf(out, "\u2202E\u03b3/\u2202\u03b8 (evaluated at the end of each phase)\n");
  for (int i = 0; i < s->nparams; i++) {
    dv_param *p = &s->params[i];
    if (!p->used) continue;
    const char *lhs = ar_printf(ex_arena(s->x), "\u2202E/\u2202%s", p->sym->name);
    fprintf(out, "  %s%*s = %s%s\n", lhs, 12 - dp_width(lhs), "",
            dp_str(s, nm, dv_tidy_sign(s->x, p->G), EXP_TEXT),
            p->learn >= 0 ? "" : "   (not learned)");
  }
  fprintf(out, "\ncost           C = %s   (the objective: C at the free equilibrium)\n",
          dp_str(s, nm, s->cost_sym, EXP_TEXT));
  fprintf(out, "\n(derived in %.2f ms; %ld expression nodes created, %ld in the result)\n",
          s->millis, s->nodes_raw, s->nodes_final);
}

static void dp_text(FILE *out, dv_system *s) {
  dp_names nm = dp_make_names(s);
  ex_ctx *x = s->x;
  fprintf(out, "model %s\n\n", s->model->name ? s->model->name : "?");
  for (int i = 0; i < s->npops; i++) dp_text_pop(out, s, &nm, &s->pops[i]);
  for (int i = 0; i < s->nclamped; i++) {
    dv_clamped *c = &s->clamped[i];
    fprintf(out, "%s %s [%ld]   (clamped: no dynamics; the term stays in R)\n"
            "  mismatch       m = %s\n  error          e = m\n\n", c->target ? "target" : "input",
            c->name, c->n, dp_str(s, &nm, c->m, EXP_TEXT));
  }
  dp_text_feedback(out, s);
  if (s->model->eqprop) {
    dp_text_eqprop(out, s, &nm);
    return;
  }
  fprintf(out, "plasticity (\u03b8\u0307 = \u2212\u03b7 \u2202E/\u2202\u03b8 with m \u2192 e)\n");
  for (int i = 0; i < s->nparams; i++) {
    dv_param *p = &s->params[i];
    if (!p->used && p->fb_of < 0) continue;
    const char *lhs = dp_dotted(ex_arena(x), p->sym->name, false);
    fprintf(out, "  %s%*s = %s%s%s\n", lhs, 12 - dp_width(lhs), "",
            p->fb_of >= 0 && p->learn < 0 ? "0" : dp_str(s, &nm, dp_rule(s, p), EXP_TEXT),
            p->learn >= 0 || p->fb_of >= 0 ? "" : "   (not learned)", dp_fb_note(s, p));
  }
  fprintf(out, "\ncost           C = %s\n", dp_str(s, &nm, s->cost_sym, EXP_TEXT));
  fprintf(out, "objective      J = (1/\u03b2) \u222b R dt,  \u03b2 = %s,  R/\u03b2 = %s\n"
          "               (R: the energy without the populations' mismatches; vlec grad "
          "reports \u2202J/\u2202\u03b8)\n", dp_str(s, &nm, s->beta, EXP_TEXT),
          dp_str(s, &nm, s->objective_sym, EXP_TEXT));
  fprintf(out, "bptt           \u03bb_k = (\u2202F_k/\u2202s_k)\u1d40 \u03bb_k+1 + dt "
          "\u2202j_k/\u2202s_k,  \u2202J_d/\u2202\u03b8 = \u03a3_k (\u2202F_k/\u2202\u03b8)"
          "\u1d40 \u03bb_k+1 + dt \u2202j_k/\u2202\u03b8\n"
          "               (docs/theory.md \u00a79: the exact gradient of the discrete J_d, by "
          "reverse mode of the step F_k\n               with e = 0; defined for every model "
          "that runs: `vlec emit --kir` shows back_bptt)\n");
  fprintf(out, "\n(derived in %.2f ms; %ld expression nodes created, %ld in the result)\n",
          s->millis, s->nodes_raw, s->nodes_final);
}

/* ---- LaTeX ------------------------------------------------------------------------------- */

static void dp_latex(FILE *out, dv_system *s) {
  dp_names nm = dp_make_names(s);
  ex_ctx *x = s->x;
  ex_style L = EXP_LATEX;
  fprintf(out, "%% vlec derive --format latex: model %s\n\\begin{align*}\n",
          s->model->name ? s->model->name : "?");
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    if (p->decl->flow) {   /* gradient flow: the dynamics only (docs/theory.md §10b) */
      fprintf(out, "&\\text{population } %s: && %s &= %s \\\\\n", p->decl->name,
              dp_str(s, &nm, ex_mul(x, p->a, p->udot), L),
              dp_str(s, &nm, dp_tidy_terms(x, ex_simplify(x, ex_neg(x, p->c))), L));
      continue;
    }
    dv_schemes sc;
    dv_schemes_with(s, p, p->g_show, &sc);
    fprintf(out, "&\\text{population } %s: && m &= %s \\\\\n", p->decl->name,
            dp_str(s, &nm, p->m, L));
    fprintf(out, "&&& %s &= %s \\\\\n", dp_str(s, &nm, ex_mul(x, p->a, p->udot), L),
            dp_str(s, &nm, ex_simplify(x, ex_sub(x, ex_mul(x, s->gamma, p->e), p->c)), L));
    fprintf(out, "&&& g &= %s \\\\\n", dp_str(s, &nm, p->g_show, L));
    fprintf(out, "&&& e_{\\text{inst}} &= %s \\\\\n", dp_str(s, &nm, sc.inst, L));
    fprintf(out, "&&& e_{\\text{pros}} &= %s, \\quad \\dot v = %s \\\\\n",
            dp_str(s, &nm, sc.pros_e, L), dp_str(s, &nm, sc.v_dot, L));
    fprintf(out, "&&& e_{\\text{adj}} &= %s, \\quad \\dot w = %s \\\\\n",
            dp_str(s, &nm, sc.adj_e, L), dp_str(s, &nm, sc.adj_w_dot, L));
  }
  for (int i = 0; i < s->nclamped; i++)
    fprintf(out, "&\\text{%s } %s: && e = m &= %s \\\\\n",
            s->clamped[i].target ? "target" : "input", s->clamped[i].name,
            dp_str(s, &nm, s->clamped[i].m, L));
  for (int i = 0; i < s->nparams; i++) {
    dv_param *p = &s->params[i];
    if (!p->used && p->fb_of < 0) continue;
    if (s->model->eqprop) {   /* equilibrium propagation: ∂E_γ/∂θ, taken at each phase */
      fprintf(out, "&&& \\frac{\\partial E_\\gamma}{\\partial %s} &= %s \\\\\n",
              p->sym->latex ? p->sym->latex : p->sym->name, dp_str(s, &nm, p->G, L));
      continue;
    }
    fprintf(out, "&&& %s &= %s \\\\\n", dp_dotted(ex_arena(x), p->sym->latex ? p->sym->latex
            : p->sym->name, true),
            p->fb_of >= 0 && p->learn < 0 ? "0" : dp_str(s, &nm, dp_rule(s, p), L));
  }
  fprintf(out, "&&& C &= %s \\\\\n", dp_str(s, &nm, s->cost_sym, L));
  fprintf(out, "&&& J &= \\frac{1}{\\beta}\\int R\\,dt, \\quad \\beta = %s, \\quad "
          "R/\\beta = %s\n\\end{align*}\n", dp_str(s, &nm, s->beta, L),
          dp_str(s, &nm, s->objective_sym, L));
}

/* ---- JSON (documented in docs/derive.md) -------------------------------------------------- */

static json_t *dp_jexpr(dv_system *s, const dp_names *nm, ex_node *e) {
  return json_pack("{s:s, s:s, s:s}", "text", dp_str(s, nm, e, EXP_TEXT),
                   "latex", dp_str(s, nm, e, EXP_LATEX), "plain", dp_str(s, nm, e, EXP_PLAIN));
}

static json_t *dp_jpop(dv_system *s, const dp_names *nm, dv_pop *p) {
  ex_ctx *x = s->x;
  dv_schemes sc;
  dv_schemes_with(s, p, p->g_show, &sc);
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(p->decl->name));
  json_object_set_new(o, "size", json_integer(p->n));
  json_object_set_new(o, "phi", json_string(dp_phi_name(p)));
  json_object_set_new(o, "mismatch", dp_jexpr(s, nm, p->m));
  json_object_set_new(o, "a", dp_jexpr(s, nm, p->a));
  json_object_set_new(o, "c", dp_jexpr(s, nm, p->c));
  json_object_set_new(o, "udot", dp_jexpr(s, nm, p->udot_rhs));
  json_object_set_new(o, "q", dp_jexpr(s, nm, p->q));
  json_object_set_new(o, "b", dp_jexpr(s, nm, p->b));
  json_object_set_new(o, "g", dp_jexpr(s, nm, p->g_show));
  json_object_set_new(o, "split_ok", json_boolean(p->split_ok));
  if (!p->split_ok) json_object_set_new(o, "split_why", json_string(p->split_why));
  json_object_set_new(o, "order", json_integer(p->order));
  json_t *sch = json_object();
  json_object_set_new(sch, "instantaneous", json_pack("{s:o}", "e", dp_jexpr(s, nm, sc.inst)));
  json_object_set_new(sch, "prospective", json_pack("{s:o, s:o}", "v_dot",
                      dp_jexpr(s, nm, sc.v_dot), "e", dp_jexpr(s, nm, sc.pros_e)));
  json_object_set_new(sch, "adjoint", json_pack("{s:o, s:o}", "e", dp_jexpr(s, nm, sc.adj_e),
                      "w_dot", dp_jexpr(s, nm, sc.adj_w_dot)));
  json_object_set_new(o, "schemes", sch);
  (void)x;
  return o;
}

static const char *dp_kind_name[] = { "weight", "bias", "tau_m", "tau_r" };

/* Only for models with feedback lines: older documents stay as they were. */
static json_t *dp_jfeedback(dv_system *s) {
  json_t *fb = json_array();
  for (int i = 0; i < s->nparams; i++) {
    dv_param *w = &s->params[i];
    if (w->fb < 0) continue;
    json_t *o = json_pack("{s:s, s:s, s:s}", "weight", w->name, "matrix",
                          s->params[w->fb].name, "rule",
                          w->fb_decl->fb_rule ? "kolen_pollack" : "fixed");
    if (w->fb_decl->fb_rule) json_object_set_new(o, "lambda", json_real(w->fb_decl->fb_decay));
    json_array_append_new(fb, o);
  }
  return fb;
}

static void dp_json(FILE *out, dv_system *s) {
  dp_names nm = dp_make_names(s);
  json_t *root = json_object();
  json_object_set_new(root, "model", json_string(s->model->name ? s->model->name : ""));
  json_t *pops = json_array();
  for (int i = 0; i < s->npops; i++) json_array_append_new(pops, dp_jpop(s, &nm, &s->pops[i]));
  json_object_set_new(root, "populations", pops);
  if (s->nclamped) {   /* only when there are some: older documents stay as they were */
    json_t *cl = json_array();
    for (int i = 0; i < s->nclamped; i++)
      json_array_append_new(cl, json_pack("{s:s, s:s, s:I, s:o}", "name", s->clamped[i].name,
          "kind", s->clamped[i].target ? "target" : "input", "size",
          (json_int_t)s->clamped[i].n, "mismatch", dp_jexpr(s, &nm, s->clamped[i].m)));
    json_object_set_new(root, "clamped", cl);
  }
  json_t *params = json_array();
  for (int i = 0; i < s->nparams; i++) {
    dv_param *p = &s->params[i];
    json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:b, s:o, s:o}",
        "name", p->name, "kind", dp_kind_name[p->kind], "learned", p->learn >= 0,
        "used", p->used, "G", dp_jexpr(s, &nm, p->G),
        "rule", dp_jexpr(s, &nm, dp_rule(s, p))));
  }
  json_object_set_new(root, "params", params);
  if (s->model->feedbacks.len) json_object_set_new(root, "feedback", dp_jfeedback(s));
  if (s->model->eqprop)   /* only then: older documents stay as they were */
    json_object_set_new(root, "eqprop", json_pack("{s:b, s:I, s:I}", "symmetric",
                        s->model->ep_symmetric, "free_steps", (json_int_t)s->model->ep_free,
                        "nudged_steps", (json_int_t)s->model->ep_nudged));
  json_object_set_new(root, "cost", dp_jexpr(s, &nm, s->cost_sym));
  json_t *avail = json_object();   /* the error schemes defined for this model */
  bool split = true;
  for (int i = 0; i < s->npops; i++) split = split && s->pops[i].split_ok;
  for (int id = 0; id < VLE_NSCHEMES; id++)
    json_object_set_new(avail, vv_scheme((vle_scheme)id)->name,
                        json_boolean(split || !vv_scheme((vle_scheme)id)->split));
  json_object_set_new(root, "schemes", avail);
  json_object_set_new(root, "objective", json_pack("{s:o, s:o}", "beta",
                      dp_jexpr(s, &nm, s->beta), "integrand", dp_jexpr(s, &nm,
                      s->objective_sym)));
  json_object_set_new(root, "locality", (json_t *)lc_json(s, lc_build(s)));
  json_object_set_new(root, "stats", json_pack("{s:f, s:I, s:I}", "derive_ms", s->millis,
                      "nodes_created", (json_int_t)s->nodes_raw,
                      "nodes_result", (json_int_t)s->nodes_final));
  json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  fputc('\n', out);
  json_decref(root);
}

void dv_print(FILE *out, dv_system *s, dv_format f) {
  if (f == DV_TEXT) dp_text(out, s);
  else if (f == DV_LATEX) dp_latex(out, s);
  else dp_json(out, s);
}
