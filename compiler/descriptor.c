/*
 * descriptor.c - the model descriptor (docs/abi.md), written from the lowering's tables
 * (lower_int.h): what the runtime reads to lay out buffers, call kernels, initialise and
 * learn parameters. The runtime's reader is runtime/vle_desc.c.
 */
#include <jansson.h>
#include <string.h>

#include "lower_int.h"
#include "vocab.h"

/* ---- the descriptor (docs/abi.md) --------------------------------------------------------- */


/* Default values of the consts: the checker's evaluation (vl_decl.cval), the one evaluator
 * of constant expressions, so that a model `check` accepts gets the values `check` saw. */
static const double **lw_const_values(lw *L) {
  vl_model *m = L->s->model;
  const double **vals = AR_NEWN(L->a, const double *, m->consts.len + 1);
  for (int i = 0; i < m->consts.len; i++) {
    vl_decl *d = m->consts.items[i];
    vals[i] = d->cval;
    if (!d->cval || d->cval_len != L->s->consts[i]->shape.rows) {
      dg_error(L->d, d->span, "const %s: no value of %ld numbers from the checker (a constant "
               "of at most %ld elements computable from numbers and earlier consts)", d->name,
               L->s->consts[i]->shape.rows, 1000000L);
      L->failed = true;
      vals[i] = AR_NEWN(L->a, double, L->s->consts[i]->shape.rows);
    }
  }
  return vals;
}

static json_t *lw_jnums(const double *v, long n) {
  json_t *a = json_array();
  for (long i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
  return a;
}

static json_t *lw_jinit(const dv_param *q) {
  if (q->kind == PK_TAU_M || q->kind == PK_TAU_R) return json_pack("{s:s}", "dist", "kernel");
  const vl_expr *e = q->decl->init;
  if (!e) return json_pack("{s:s}", "dist", q->kind == PK_WEIGHT ? "glorot" : "zeros");
  if (e->kind == EX_NAME) return json_pack("{s:s}", "dist", e->name);
  const char *dist = e->name;
  if (!strcmp(dist, "file"))
    return json_pack("{s:s, s:s}", "dist", "file", "path",
                     q->decl->init_path ? q->decl->init_path : "");
  json_t *args = json_array();
  for (int i = 0; i < e->nargs && i < 2; i++)
    json_array_append_new(args, json_real(q->decl->init_args[i]));
  return json_pack("{s:s, s:o}", "dist", dist, "args", args);
}

static const char *lw_cmp_name(vl_cmp c) {
  return c == CMP_GE ? ">=" : c == CMP_GT ? ">" : c == CMP_LE ? "<=" : c == CMP_LT ? "<" : "";
}

static const char *lw_kind_name[] = { "weight", "bias", "tau_m", "tau_r" };

static json_t *lw_jparams(lw *L) {
  dv_system *s = L->s;
  json_t *a = json_array();
  for (int i = 0; i < s->nparams; i++) {
    dv_param *q = &s->params[i];
    int b = L->symbuf[q->sym->sym_kind][q->sym->sym_index];
    json_t *o = json_pack("{s:s, s:i, s:i, s:s, s:o, s:i}", "name", q->name,
        "buf", b, "grad", q->learn >= 0 ? L->p->bufs[b].pair : -1, "kind", lw_kind_name[q->kind],
        "init", lw_jinit(q), "learn", q->learn);
    if (L->fused && L->fused[i].lr >= 0)   /* updated by step_*_sgd or grads_sgd, at the
                                              rate in `lr` */
      json_object_set_new(o, "fused_lr", json_integer(L->fused[i].lr));
    json_array_append_new(a, o);
  }
  return a;
}

static json_t *lw_jlearn(lw *L) {
  dv_system *s = L->s;
  vl_model *m = s->model;
  json_t *a = json_array();
  for (int g = 0; g < m->learns.len; g++) {
    vl_decl *l = m->learns.items[g];
    json_t *names = json_array();
    for (int i = 0; i < s->nparams; i++)
      if (s->params[i].learn == g) json_array_append_new(names, json_string(s->params[i].name));
    json_t *o = json_pack("{s:o, s:s, s:f, s:[f,f], s:f}", "params", names,
                          "opt", vv_opt_name((int)l->opt), "lr", l->opt_args[0],
                          "betas", l->opt_args[1], l->opt_args[2], "eps", l->opt_args[3]);
    if (l->clamp_op != CMP_NONE)
      json_object_set_new(o, "clamp", json_pack("{s:s, s:f}", "op", lw_cmp_name(l->clamp_op),
                                                 "value", l->clamp));
    json_array_append_new(a, o);
  }
  return a;
}

static json_t *lw_jpops(lw *L) {
  dv_system *s = L->s;
  json_t *a = json_array();
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    json_array_append_new(a, json_pack("{s:s, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
        "name", p->decl->name, "size", (json_int_t)p->n, "u", L->symbuf[S_U][i],
        "udot", L->symbuf[S_UDOT][i], "e", L->symbuf[S_E][i], "g", L->g[i], "v", L->v[i],
        "rate", L->rate[i], "tau_m", L->symbuf[S_TAUM][i], "tau_r", L->symbuf[S_TAUR][i]));
  }
  return a;
}

static json_t *lw_jstreams(lw *L, const vl_vec *decls, int kind) {
  json_t *a = json_array();
  for (int i = 0; i < decls->len; i++) {
    vl_decl *d = decls->items[i];
    json_t *o = json_pack("{s:s, s:i, s:I, s:b}", "name", d->name, "buf",
                          L->symbuf[kind][i], "size", (json_int_t)d->size, "default",
                          d->value != NULL);
    if (kind == S_TARGET) json_object_set_new(o, "onehot", json_boolean(d->onehot));
    json_array_append_new(a, o);
  }
  return a;
}

static json_t *lw_jconsts(lw *L, const double **cv) {
  vl_model *m = L->s->model;
  json_t *a = json_array();
  for (int i = 0; i < m->consts.len; i++) {
    vl_decl *d = m->consts.items[i];
    json_array_append_new(a, json_pack("{s:s, s:i, s:o}", "name", d->name, "buf",
        L->symbuf[S_CONST][i], "value", lw_jnums(cv[i], L->s->consts[i]->shape.rows)));
  }
  for (int i = 0; i < L->nlitv; i++)
    json_array_append_new(a, json_pack("{s:s, s:i, s:o, s:b}", "name",
        L->p->bufs[L->lits[i].buf].name, "buf", L->lits[i].buf, "value",
        lw_jnums(L->lits[i].vals, L->lits[i].n), "literal", 1));
  return a;
}

static json_t *lw_jbuffers(lw *L) {
  json_t *a = json_array();
  for (int i = 0; i < L->p->nbufs; i++) {
    kir_buf *b = &L->p->bufs[i];
    json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I, s:b, s:i}", "name", b->name,
        "role", vv_role_name((int)b->role), "rows", (json_int_t)b->rows, "cols", (json_int_t)b->cols,
        "batched", b->batched, "pair", b->pair));
  }
  return a;
}

const char *ds_descriptor(lw *L, const lw_options *o) {
  vl_model *m = L->s->model;
  const double **cv = lw_const_values(L);
  json_t *root = json_object();
  json_object_set_new(root, "abi", json_integer(1));
  json_object_set_new(root, "model", json_string(m->name ? m->name : "model"));
  json_object_set_new(root, "hash", json_string(o && o->source_hash ? o->source_hash : ""));
  json_object_set_new(root, "precision", json_string(o && o->precision ? o->precision : "f64"));
  json_object_set_new(root, "settings", json_pack("{s:f, s:f, s:s, s:s, s:I}", "dt", m->dt,
      "gamma", m->gamma, "errors", m->errors ? m->errors : "prospective",
      "scheme", m->scheme ? m->scheme : "sync", "batch", (json_int_t)m->batch));
  if (m->eqprop)   /* equilibrium propagation (docs/abi.md): only then, older ones unchanged */
    json_object_set_new(json_object_get(root, "settings"), "eqprop", json_pack(
        "{s:b, s:I, s:I}", "symmetric", m->ep_symmetric, "free_steps", (json_int_t)m->ep_free,
        "nudged_steps", (json_int_t)m->ep_nudged));
  json_object_set_new(root, "params", lw_jparams(L));   /* before buffers: may add none */
  json_object_set_new(root, "buffers", lw_jbuffers(L));
  json_t *ks = json_array();
  for (int i = 0; i < L->p->nkernels; i++)
    json_array_append_new(ks, json_string(L->p->kernels[i]->name));
  json_object_set_new(root, "kernels", ks);
  if (kir_kernel_find(L->p, "back_bptt")) {   /* what its trajectory must hold besides u, u' */
    json_t *bp = json_array();
    for (int i = 0; i < L->nbptt_pubs; i++) json_array_append_new(bp, json_integer(L->bptt_pubs[i]));
    json_object_set_new(root, "bptt_pubs", bp);
  }
  json_object_set_new(root, "populations", lw_jpops(L));
  json_object_set_new(root, "inputs", lw_jstreams(L, &m->inputs, S_INPUT));
  json_object_set_new(root, "targets", lw_jstreams(L, &m->targets, S_TARGET));
  json_object_set_new(root, "consts", lw_jconsts(L, cv));
  json_object_set_new(root, "learn", lw_jlearn(L));
  json_object_set_new(root, "signals", json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
      "t", L->symbuf[S_TIME][0], "dt", L->symbuf[S_DT][0], "gamma", L->symbuf[S_GAMMA][0],
      "loss", L->loss, "energy", L->energy, "objective", L->objective, "beta", L->beta));
  char *txt = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  const char *r = ar_strdup(L->a, txt);
  free(txt);
  json_decref(root);
  return r;
}

