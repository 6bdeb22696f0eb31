/*
 * vle_desc.c - parsing and validating the model descriptor (docs/abi.md) with jansson.
 *
 * Every field is checked before use: types, ranges, buffer indices and the role of the
 * buffer an index points at, sizes against buffer shapes. A bad descriptor is reported as
 * "model descriptor: buffers[3].rows: expected a positive integer" and never crashes.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vle_desc.h"
#include "vle_err.h"
#include "vocab.h"

typedef struct dp {               /* parse context */
  vle_model *m;
  vle_error *err;
} dp;

const char *vle_role_name(vle_role r) { return vv_role_name((int)r); }

static int bad(dp *p, const char *where, const char *expect) {
  return vle_fail(p->err, "model descriptor: %s: expected %s", where, expect);
}

/* ---- typed field access ------------------------------------------------------------ */

static int get_str(dp *p, json_t *o, const char *key, const char *where, const char **out) {
  json_t *v = json_object_get(o, key);
  char w[160];
  snprintf(w, sizeof w, "%s.%s", where, key);
  if (!json_is_string(v) || !json_string_length(v)) return bad(p, w, "a non-empty string");
  *out = json_string_value(v);
  return 0;
}

static int get_num(dp *p, json_t *o, const char *key, const char *where, double *out) {
  json_t *v = json_object_get(o, key);
  char w[160];
  snprintf(w, sizeof w, "%s.%s", where, key);
  if (!json_is_number(v) || !isfinite(json_number_value(v))) return bad(p, w, "a finite number");
  *out = json_number_value(v);
  return 0;
}

static int get_long(dp *p, json_t *o, const char *key, const char *where, long lo, long hi,
                    long *out) {
  json_t *v = json_object_get(o, key);
  char w[160], e[96];
  snprintf(w, sizeof w, "%s.%s", where, key);
  snprintf(e, sizeof e, "an integer in [%ld, %ld]", lo, hi);
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return bad(p, w, e);
  *out = (long)json_integer_value(v);
  return 0;
}

/* Optional boolean (absent: dflt). */
static int get_bool(dp *p, json_t *o, const char *key, const char *where, bool dflt, bool *out) {
  json_t *v = json_object_get(o, key);
  char w[160];
  snprintf(w, sizeof w, "%s.%s", where, key);
  if (!v) { *out = dflt; return 0; }
  if (!json_is_boolean(v)) return bad(p, w, "true or false");
  *out = json_is_true(v);
  return 0;
}

/* A buffer index: -1 allowed when optional; when role >= 0 the buffer must have it. */
static int get_buf(dp *p, json_t *o, const char *key, const char *where, bool optional,
                   int role, int *out) {
  long v;
  if (optional && !json_object_get(o, key)) { *out = -1; return 0; }
  if (get_long(p, o, key, where, optional ? -1 : 0, p->m->nbufs - 1, &v)) return -1;
  *out = (int)v;
  if (v >= 0 && role >= 0 && p->m->bufs[v].role != (vle_role)role)
    return vle_fail(p->err, "model descriptor: %s.%s: buffer %ld ('%s') has role %s, "
                    "expected %s", where, key, v, p->m->bufs[v].name,
                    vle_role_name(p->m->bufs[v].role), vle_role_name((vle_role)role));
  return 0;
}

/* ---- the schema: every key of an object is known, every required one present ---------- */

/* The keys of one kind of object: required ones first, then optional ones (NULL-ended
 * lists). Why strict: a flipped byte that turns "gamma" into "jamma" must not silently
 * make an optional key absent (docs/abi.md "Descriptor"). */
typedef struct dp_keys { const char *const *req, *const *opt; } dp_keys;

static bool in_list(const char *const *l, const char *k) {
  for (; l && *l; l++)
    if (!strcmp(*l, k)) return true;
  return false;
}

static int check_keys(dp *p, json_t *o, const char *where, dp_keys keys) {
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    (void)v;
    if (!in_list(keys.req, k) && !in_list(keys.opt, k))
      return vle_fail(p->err, "model descriptor: %s: unknown key '%.40s' (a corrupt or foreign "
                      "descriptor: rebuild it with vlec build)", where, k);
  }
  for (const char *const *r = keys.req; *r; r++)
    if (!json_object_get(o, *r))
      return vle_fail(p->err, "model descriptor: %s: missing key '%s'", where, *r);
  return 0;
}

#define KEYS(...) ((const char *const[]){ __VA_ARGS__, NULL })
static const dp_keys keys_root = {
  KEYS("abi", "model", "hash", "precision", "settings", "buffers", "kernels", "signals"),
  KEYS("params", "populations", "inputs", "targets", "consts", "learn", "bptt_pubs") };
static const dp_keys keys_settings = { KEYS("dt", "gamma", "errors", "scheme", "batch"),
                                       KEYS("eqprop") };
static const dp_keys keys_eqprop = { KEYS("symmetric", "free_steps", "nudged_steps"), NULL };
static const dp_keys keys_buffer = { KEYS("name", "role", "rows", "cols", "batched", "pair"), NULL };
static const dp_keys keys_population = {
  KEYS("name", "size", "u", "udot", "e", "g", "v", "rate", "tau_m", "tau_r"), NULL };
static const dp_keys keys_stream = { KEYS("name", "buf", "size", "default"), KEYS("onehot") };
static const dp_keys keys_const = { KEYS("name", "buf", "value"), KEYS("literal") };
static const dp_keys keys_init = { KEYS("dist"), KEYS("args", "path") };
static const dp_keys keys_param = { KEYS("name", "buf", "grad", "kind", "init", "learn"),
                                    KEYS("fused_lr") };
static const dp_keys keys_clamp = { KEYS("op", "value"), NULL };
static const dp_keys keys_learn = { KEYS("params", "opt", "lr"), KEYS("betas", "eps", "clamp") };
static const dp_keys keys_signals = { KEYS("t", "dt", "gamma", "loss", "energy"),
                                      KEYS("objective", "beta") };

static long buf_size(const vle_model *m, int b) { return m->bufs[b].rows * m->bufs[b].cols; }

/* ---- sections ---------------------------------------------------------------------- */

static int parse_settings(dp *p, json_t *root) {
  json_t *s = json_object_get(root, "settings");
  vle_settings *st = &p->m->settings;
  if (!json_is_object(s)) return bad(p, "settings", "an object");
  if (check_keys(p, s, "settings", keys_settings)) return -1;
  if (get_num(p, s, "dt", "settings", &st->dt) || get_num(p, s, "gamma", "settings", &st->gamma) ||
      get_str(p, s, "errors", "settings", &st->errors) ||
      get_str(p, s, "scheme", "settings", &st->scheme) ||
      get_long(p, s, "batch", "settings", 1, 1L << 30, &st->batch))
    return -1;
  if (!(st->dt > 0)) return bad(p, "settings.dt", "a positive number");
  if (vv_scheme_find(st->errors) < 0) return bad(p, "settings.errors", "an error scheme");
  json_t *ep = json_object_get(s, "eqprop");
  if (!ep) return 0;
  if (!json_is_object(ep)) return bad(p, "settings.eqprop", "an object");
  st->eqprop = true;
  if (check_keys(p, ep, "settings.eqprop", keys_eqprop) ||
      get_bool(p, ep, "symmetric", "settings.eqprop", false, &st->ep_symmetric) ||
      get_long(p, ep, "free_steps", "settings.eqprop", 1, 100000000, &st->ep_free) ||
      get_long(p, ep, "nudged_steps", "settings.eqprop", 1, 100000000, &st->ep_nudged))
    return -1;
  return 0;
}

static int parse_role(dp *p, const char *r, const char *where, vle_role *out) {
  int role = vv_role_find(r);
  if (role >= 0) { *out = (vle_role)role; return 0; }
  char w[160];
  snprintf(w, sizeof w, "%s.role", where);
  return bad(p, w, "one of state pub pubnext param grad const setting input target signal temp");
}

static int parse_buffer(dp *p, json_t *o, int i) {
  vle_buffer_info *b = &p->m->bufs[i];
  char w[64];
  const char *role;
  long pair;
  snprintf(w, sizeof w, "buffers[%d]", i);
  if (!json_is_object(o)) return bad(p, w, "an object");
  if (check_keys(p, o, w, keys_buffer)) return -1;
  if (get_str(p, o, "name", w, &b->name) || get_str(p, o, "role", w, &role) ||
      parse_role(p, role, w, &b->role) || get_long(p, o, "rows", w, 1, 1L << 31, &b->rows) ||
      get_long(p, o, "cols", w, 1, 1L << 31, &b->cols) ||
      get_bool(p, o, "batched", w, false, &b->batched) ||
      get_long(p, o, "pair", w, -1, p->m->nbufs - 1, &pair))
    return -1;
  if (b->rows * b->cols > (1L << 34)) return bad(p, w, "at most 2^34 reals per buffer");
  b->pair = (int)pair;
  return 0;
}

/* pub <-> pubnext partners of one shape; a param's grad of its shape. */
static int check_pairs(dp *p) {
  vle_model *m = p->m;
  for (int i = 0; i < m->nbufs; i++) {
    vle_buffer_info *b = &m->bufs[i];
    for (int j = 0; j < i; j++)
      if (!strcmp(b->name, m->bufs[j].name))
        return vle_fail(p->err, "model descriptor: buffers[%d] and buffers[%d] are both "
                        "named '%s'", j, i, b->name);
    bool paired = b->role == VLE_ROLE_PUB || b->role == VLE_ROLE_PUBNEXT;
    if (paired && b->pair < 0)
      return vle_fail(p->err, "model descriptor: buffers[%d] ('%s', %s) has no pair", i,
                      b->name, vle_role_name(b->role));
    if (b->pair < 0) continue;
    const vle_buffer_info *q = &m->bufs[b->pair];
    vle_role want = b->role == VLE_ROLE_PUB ? VLE_ROLE_PUBNEXT
                  : b->role == VLE_ROLE_PUBNEXT ? VLE_ROLE_PUB : VLE_ROLE_GRAD;
    if (!paired && b->role != VLE_ROLE_PARAM)
      return vle_fail(p->err, "model descriptor: buffers[%d] ('%s', %s) has pair %d; only "
                      "pub, pubnext and param buffers have one", i, b->name,
                      vle_role_name(b->role), b->pair);
    if (q->role != want || q->rows != b->rows || q->cols != b->cols ||
        (paired && (q->pair != i || q->batched != b->batched)))
      return vle_fail(p->err, "model descriptor: buffers[%d] ('%s') is paired with buffers[%d] "
                      "('%s'), expected a %s of the same shape%s", i, b->name, b->pair,
                      q->name, vle_role_name(want), paired ? " paired back" : "");
  }
  return 0;
}

static int parse_buffers(dp *p, json_t *root) {
  json_t *a = json_object_get(root, "buffers");
  if (!json_is_array(a) || json_array_size(a) == 0) return bad(p, "buffers", "a non-empty array");
  p->m->nbufs = (int)json_array_size(a);
  p->m->bufs = calloc((size_t)p->m->nbufs, sizeof *p->m->bufs);
  if (!p->m->bufs) return vle_fail(p->err, "out of memory");
  for (int i = 0; i < p->m->nbufs; i++)
    if (parse_buffer(p, json_array_get(a, (size_t)i), i)) return -1;
  return check_pairs(p);
}


static int parse_kernels(dp *p, json_t *root) {
  json_t *a = json_object_get(root, "kernels");
  if (!json_is_array(a)) return bad(p, "kernels", "an array of kernel names");
  vle_model *m = p->m;
  m->nkernels = (int)json_array_size(a);
  m->kernel_names = calloc((size_t)m->nkernels + 1, sizeof *m->kernel_names);
  if (!m->kernel_names) return vle_fail(p->err, "out of memory");
  for (int i = 0; i < m->nkernels; i++) {
    json_t *k = json_array_get(a, (size_t)i);
    char w[48];
    snprintf(w, sizeof w, "kernels[%d]", i);
    if (!json_is_string(k) || !json_string_length(k)) return bad(p, w, "a kernel name");
    m->kernel_names[i] = json_string_value(k);
  }
  for (int k = 0; k < 2; k++) {
    const char *need = vv_kernel_name(k ? VK_PUB_INIT : VK_INIT);
    if (!vle_model_has_kernel(m, need))
      return vle_fail(p->err, "model descriptor: kernels: the required kernel '%s' is missing "
                      "(a model built by an older vlec: rebuild it)", need);
  }
  static const char *steps[] = { "step_inst", "step_prosp", "step_free", "step_inst_sgd",
                                  "step_prosp_sgd" };
  bool any = false;
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
    any = any || vle_model_has_kernel(m, steps[i]);
  if (!any)
    return vle_fail(p->err, "model descriptor: kernels: no step kernel (step_inst, step_prosp "
                    "or step_free)");
  return 0;
}

static int parse_population(dp *p, json_t *o, int i) {
  vle_population_info *q = &p->m->pops[i];
  char w[48];
  snprintf(w, sizeof w, "populations[%d]", i);
  if (!json_is_object(o)) return bad(p, w, "an object");
  if (check_keys(p, o, w, keys_population)) return -1;
  if (get_str(p, o, "name", w, &q->name) || get_long(p, o, "size", w, 1, 1L << 31, &q->size))
    return -1;
  struct { const char *key; int *dst; } f[] = {
    { "u", &q->u }, { "udot", &q->udot }, { "e", &q->e }, { "g", &q->g }, { "v", &q->v },
    { "rate", &q->rate }, { "tau_m", &q->tau_m }, { "tau_r", &q->tau_r } };
  for (size_t k = 0; k < sizeof f / sizeof *f; k++) {
    if (get_buf(p, o, f[k].key, w, true, -1, f[k].dst)) return -1;
    if (*f[k].dst >= 0 && buf_size(p->m, *f[k].dst) != q->size)
      return vle_fail(p->err, "model descriptor: %s.%s: buffer '%s' has %ld reals, the "
                      "population has %ld neurons", w, f[k].key, p->m->bufs[*f[k].dst].name,
                      buf_size(p->m, *f[k].dst), q->size);
  }
  return 0;
}

static int parse_stream(dp *p, json_t *o, const char *sec, int i, vle_role role,
                        vle_stream_info *s) {
  char w[48];
  snprintf(w, sizeof w, "%s[%d]", sec, i);
  if (!json_is_object(o)) return bad(p, w, "an object");
  if (check_keys(p, o, w, keys_stream)) return -1;
  if (get_str(p, o, "name", w, &s->name) || get_buf(p, o, "buf", w, false, (int)role, &s->buf) ||
      get_long(p, o, "size", w, 1, 1L << 31, &s->size) ||
      get_bool(p, o, "default", w, false, &s->has_default) ||
      get_bool(p, o, "onehot", w, false, &s->onehot))
    return -1;
  if (buf_size(p->m, s->buf) != s->size || !p->m->bufs[s->buf].batched)
    return vle_fail(p->err, "model descriptor: %s: buffer '%s' is not a batched buffer of "
                    "size %ld", w, p->m->bufs[s->buf].name, s->size);
  return 0;
}

static int parse_const(dp *p, json_t *o, int i) {
  vle_const_info *c = &p->m->consts[i];
  char w[48];
  snprintf(w, sizeof w, "consts[%d]", i);
  if (!json_is_object(o)) return bad(p, w, "an object");
  if (check_keys(p, o, w, keys_const)) return -1;
  if (get_str(p, o, "name", w, &c->name) ||
      get_buf(p, o, "buf", w, false, VLE_ROLE_CONST, &c->buf))
    return -1;
  c->size = buf_size(p->m, c->buf);
  json_t *v = json_object_get(o, "value");
  char e[64];
  snprintf(e, sizeof e, "an array of %ld numbers", c->size);
  if (!json_is_array(v) || (long)json_array_size(v) != c->size)
    return bad(p, strcat(w, ".value"), e);
  double *vals = calloc((size_t)c->size, sizeof *vals);
  if (!vals) return vle_fail(p->err, "out of memory");
  c->value = vals;
  for (long k = 0; k < c->size; k++) {
    json_t *x = json_array_get(v, (size_t)k);
    if (!json_is_number(x)) return bad(p, strcat(w, ".value"), e);
    vals[k] = json_number_value(x);
  }
  return 0;
}

static const char *dist_names[] = { "zeros", "constant", "normal", "uniform", "glorot",
                                    "identity", "file", "kernel" };
static const int dist_nargs[] = { 0, 1, 2, 2, 0, 0, 0, 0 };

static int parse_init(dp *p, json_t *o, const char *where, vle_param_info *q) {
  char w[96];
  snprintf(w, sizeof w, "%s.init", where);
  if (!json_is_object(o)) return bad(p, w, "an object {\"dist\": ...}");
  if (check_keys(p, o, w, keys_init)) return -1;
  const char *d;
  if (get_str(p, o, "dist", w, &d)) return -1;
  size_t n = sizeof dist_names / sizeof *dist_names, k = 0;
  while (k < n && strcmp(d, dist_names[k])) k++;
  if (k == n) return bad(p, w, "dist one of zeros constant normal uniform glorot identity file kernel");
  q->dist = (vle_init_dist)k;
  if (q->dist == VLE_INIT_FILE) return get_str(p, o, "path", w, &q->path);
  json_t *args = json_object_get(o, "args");
  if (!dist_nargs[k]) return 0;
  char e[64];
  snprintf(e, sizeof e, "args: an array of %d numbers", dist_nargs[k]);
  if (!json_is_array(args) || (int)json_array_size(args) != dist_nargs[k]) return bad(p, w, e);
  for (int a = 0; a < dist_nargs[k]; a++) {
    json_t *x = json_array_get(args, (size_t)a);
    if (!json_is_number(x) || !isfinite(json_number_value(x))) return bad(p, w, e);
    q->args[a] = json_number_value(x);
  }
  return 0;
}

static int parse_param(dp *p, json_t *o, int i) {
  vle_param_info *q = &p->m->params[i];
  char w[48];
  long learn;
  snprintf(w, sizeof w, "params[%d]", i);
  if (!json_is_object(o)) return bad(p, w, "an object");
  if (check_keys(p, o, w, keys_param)) return -1;
  if (get_str(p, o, "name", w, &q->name) ||
      get_buf(p, o, "buf", w, false, VLE_ROLE_PARAM, &q->buf) ||
      get_buf(p, o, "grad", w, true, VLE_ROLE_GRAD, &q->grad) ||
      get_str(p, o, "kind", w, &q->kind) ||
      parse_init(p, json_object_get(o, "init"), w, q) ||
      get_buf(p, o, "fused_lr", w, true, VLE_ROLE_SETTING, &q->fused_lr))
    return -1;
  if (json_object_get(o, "learn")) {
    if (get_long(p, o, "learn", w, -1, p->m->nlearn - 1, &learn)) return -1;
  } else {
    learn = -1;
  }
  q->learn = (int)learn;
  if (q->grad >= 0 && p->m->bufs[q->buf].pair != q->grad)
    return vle_fail(p->err, "model descriptor: %s.grad: buffer %d is not the pair of the "
                    "parameter's buffer '%s'", w, q->grad, p->m->bufs[q->buf].name);
  if (q->learn >= 0 && q->grad < 0)
    return vle_fail(p->err, "model descriptor: %s ('%s') is learned but has no grad buffer",
                    w, q->name);
  return 0;
}

static int parse_clamp(dp *p, json_t *o, const char *where, vle_learn_info *l) {
  l->clamp = VLE_CLAMP_NONE;
  if (!o || json_is_null(o)) return 0;
  static const char *ops[] = { ">=", ">", "<=", "<" };
  char w[96];
  snprintf(w, sizeof w, "%s.clamp", where);
  if (!json_is_object(o)) return bad(p, w, "null or {\"op\": \">=\", \"value\": number}");
  if (check_keys(p, o, w, keys_clamp)) return -1;
  const char *op;
  if (get_str(p, o, "op", w, &op) || get_num(p, o, "value", w, &l->clamp_value)) return -1;
  for (int k = 0; k < 4; k++)
    if (!strcmp(op, ops[k])) { l->clamp = (vle_clamp)(k + 1); return 0; }
  return bad(p, w, "op one of >= > <= <");
}

static int parse_learn(dp *p, json_t *o, int i) {
  vle_learn_info *l = &p->m->learn[i];
  char w[48];
  const char *opt;
  snprintf(w, sizeof w, "learn[%d]", i);
  if (!json_is_object(o)) return bad(p, w, "an object");
  if (check_keys(p, o, w, keys_learn)) return -1;
  if (get_str(p, o, "opt", w, &opt) || get_num(p, o, "lr", w, &l->lr)) return -1;
  int id = vv_opt_find(opt);
  if (id < 0) return bad(p, w, "opt, an optimizer (sgd, adam)");
  l->opt = (vle_opt)id;
  l->beta1 = 0.9; l->beta2 = 0.999; l->eps = 1e-8;      /* PyTorch's defaults */
  json_t *betas = json_object_get(o, "betas");
  if (betas) {
    if (!json_is_array(betas) || json_array_size(betas) != 2 ||
        !json_is_number(json_array_get(betas, 0)) || !json_is_number(json_array_get(betas, 1)))
      return bad(p, w, "betas: an array of 2 numbers");
    l->beta1 = json_number_value(json_array_get(betas, 0));
    l->beta2 = json_number_value(json_array_get(betas, 1));
    if (!(l->beta1 >= 0 && l->beta1 < 1 && l->beta2 >= 0 && l->beta2 < 1))
      return bad(p, w, "betas in [0, 1)");
  }
  if (json_object_get(o, "eps") && get_num(p, o, "eps", w, &l->eps)) return -1;
  if (parse_clamp(p, json_object_get(o, "clamp"), w, l)) return -1;
  json_t *names = json_object_get(o, "params");
  if (!json_is_array(names)) return bad(p, w, "params: an array of parameter names");
  int *idx = calloc(json_array_size(names) + 1, sizeof *idx);
  if (!idx) return vle_fail(p->err, "out of memory");
  l->params = idx;
  l->nparams = (int)json_array_size(names);
  for (int k = 0; k < l->nparams; k++) {
    json_t *n = json_array_get(names, (size_t)k);
    idx[k] = json_is_string(n) ? vle_model_find_param(p->m, json_string_value(n)) : -1;
    if (idx[k] < 0)
      return vle_fail(p->err, "model descriptor: %s.params[%d]: not the name of a parameter",
                      w, k);
    if (p->m->params[idx[k]].learn != i)
      return vle_fail(p->err, "model descriptor: %s.params[%d]: parameter '%s' has learn %d, "
                      "expected %d", w, k, p->m->params[idx[k]].name,
                      p->m->params[idx[k]].learn, i);
  }
  return 0;
}

/* Parses one array section with a per-element function. */
static int parse_section(dp *p, json_t *root, const char *key, size_t elsize, void **out,
                         int *n, int (*fn)(dp *, json_t *, int)) {
  json_t *a = json_object_get(root, key);
  if (!a) { *n = 0; return 0; }
  if (!json_is_array(a)) return bad(p, key, "an array");
  *n = (int)json_array_size(a);
  *out = calloc((size_t)*n + 1, elsize);
  if (!*out) return vle_fail(p->err, "out of memory");
  for (int i = 0; i < *n; i++)
    if (fn(p, json_array_get(a, (size_t)i), i)) return -1;
  return 0;
}

static int parse_input(dp *p, json_t *o, int i) {
  return parse_stream(p, o, "inputs", i, VLE_ROLE_INPUT, &p->m->inputs[i]);
}
static int parse_target(dp *p, json_t *o, int i) {
  return parse_stream(p, o, "targets", i, VLE_ROLE_TARGET, &p->m->targets[i]);
}

/* bptt_pubs: the pub buffers back_bptt reads, which its trajectory stores (absent: every pub). */
static int parse_bptt_pubs(dp *p, json_t *root) {
  json_t *a = json_object_get(root, "bptt_pubs");
  vle_model *m = p->m;
  m->nbptt_pubs = -1;
  if (!a) return 0;
  if (!json_is_array(a)) return bad(p, "bptt_pubs", "an array of buffer indices");
  m->nbptt_pubs = (int)json_array_size(a);
  m->bptt_pubs = calloc((size_t)m->nbptt_pubs + 1, sizeof *m->bptt_pubs);
  if (!m->bptt_pubs) return vle_fail(p->err, "out of memory");
  for (int i = 0; i < m->nbptt_pubs; i++) {
    json_t *b = json_array_get(a, (size_t)i);
    char w[48];
    snprintf(w, sizeof w, "bptt_pubs[%d]", i);
    if (!json_is_integer(b) || json_integer_value(b) < 0 || json_integer_value(b) >= m->nbufs ||
        m->bufs[json_integer_value(b)].role != VLE_ROLE_PUB)
      return bad(p, w, "the index of a pub buffer");
    m->bptt_pubs[i] = (int)json_integer_value(b);
  }
  return 0;
}

static int parse_signals(dp *p, json_t *root) {
  json_t *s = json_object_get(root, "signals");
  vle_model *m = p->m;
  if (!json_is_object(s)) return bad(p, "signals", "an object");
  if (check_keys(p, s, "signals", keys_signals)) return -1;
  if (get_buf(p, s, "t", "signals", false, VLE_ROLE_SETTING, &m->sig_t) ||
      get_buf(p, s, "dt", "signals", false, VLE_ROLE_SETTING, &m->sig_dt) ||
      get_buf(p, s, "gamma", "signals", true, VLE_ROLE_SETTING, &m->sig_gamma) ||
      get_buf(p, s, "loss", "signals", true, VLE_ROLE_SIGNAL, &m->sig_loss) ||
      get_buf(p, s, "energy", "signals", true, VLE_ROLE_SIGNAL, &m->sig_energy) ||
      get_buf(p, s, "objective", "signals", true, VLE_ROLE_SIGNAL, &m->sig_objective) ||
      get_buf(p, s, "beta", "signals", true, VLE_ROLE_SIGNAL, &m->sig_beta))
    return -1;
  int sc[] = { m->sig_t, m->sig_dt, m->sig_gamma };
  for (int k = 0; k < 3; k++)
    if (sc[k] >= 0 && (buf_size(m, sc[k]) != 1 || m->bufs[sc[k]].batched))
      return vle_fail(p->err, "model descriptor: signals: setting '%s' must be a shared scalar",
                      m->bufs[sc[k]].name);
  return 0;
}

static int parse_header(dp *p, json_t *root) {
  const char *prec;
  long abi;
  if (get_long(p, root, "abi", "descriptor", 0, 1L << 30, &abi)) return -1;
  if (abi != VLE_ABI_VERSION)
    return vle_fail(p->err, "model descriptor says ABI %ld, this runtime supports %d "
                    "(rebuild it with vlec build)", abi, VLE_ABI_VERSION);
  if (get_str(p, root, "model", "descriptor", &p->m->name) ||
      get_str(p, root, "hash", "descriptor", &p->m->hash) ||
      get_str(p, root, "precision", "descriptor", &prec))
    return -1;
  if (!strcmp(prec, "f64")) { p->m->prec = VLE_F64; p->m->es = 8; }
  else if (!strcmp(prec, "f32")) { p->m->prec = VLE_F32; p->m->es = 4; }
  else return bad(p, "precision", "\"f64\" or \"f32\"");
  return 0;
}

int vd_parse(vle_model *m, const char *meta, vle_error *err) {
  json_error_t je;
  json_t *root = json_loads(meta, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return vle_fail(err, "model descriptor: invalid JSON at line %d, column %d: %s", je.line,
                    je.column, je.text);
  m->json = root;
  dp p = { m, err };
  if (!json_is_object(root)) return bad(&p, "descriptor", "a JSON object");
  if (check_keys(&p, root, "descriptor", keys_root)) return -1;
  /* learn[] is counted before params[] (params name their group), parsed after */
  json_t *learn = json_object_get(root, "learn");
  m->nlearn = json_is_array(learn) ? (int)json_array_size(learn) : 0;
  if (parse_header(&p, root) || parse_settings(&p, root) || parse_buffers(&p, root) ||
      parse_kernels(&p, root) || parse_bptt_pubs(&p, root) || parse_signals(&p, root) ||
      parse_section(&p, root, "populations", sizeof *m->pops, (void **)&m->pops, &m->npops,
                    parse_population) ||
      parse_section(&p, root, "inputs", sizeof *m->inputs, (void **)&m->inputs, &m->ninputs,
                    parse_input) ||
      parse_section(&p, root, "targets", sizeof *m->targets, (void **)&m->targets,
                    &m->ntargets, parse_target) ||
      parse_section(&p, root, "consts", sizeof *m->consts, (void **)&m->consts, &m->nconsts,
                    parse_const) ||
      parse_section(&p, root, "params", sizeof *m->params, (void **)&m->params, &m->nparams,
                    parse_param) ||
      parse_section(&p, root, "learn", sizeof *m->learn, (void **)&m->learn, &m->nlearn,
                    parse_learn))
    return -1;
  if (m->nlearn && !vle_model_has_kernel(m, "grads") && !vle_model_has_kernel(m, "grads_sgd"))
    return vle_fail(err, "model descriptor: kernels: the model learns but has no 'grads' kernel");
  return 0;
}

void vd_free(vle_model *m) {
  for (int i = 0; m->consts && i < m->nconsts; i++) free((void *)m->consts[i].value);
  for (int i = 0; m->learn && i < m->nlearn; i++) free((void *)m->learn[i].params);
  free(m->bufs); free(m->pops); free(m->inputs); free(m->targets); free(m->consts);
  free(m->params); free(m->learn); free(m->kernel_names); free(m->bptt_pubs);
  json_decref((json_t *)m->json);
}

const char *vd_kernel_name(int k) { return vv_kernel_name((vle_kernel_id)k); }
