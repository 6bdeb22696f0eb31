/*
 * vle_sim.c - a simulation of a model: memory layout, initialisation and the step of
 * docs/abi.md. One vle_sim owns all of its memory; nothing here is static.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "npy.h"
#include "opt.h"
#include "vle_err.h"
#include "vle_desc.h"
#include "team.h"
#include "vle_internal.h"
#include "vocab.h"

#define VS_ALIGN 64
#define VS_NONE SIZE_MAX

static size_t vs_round_up(size_t n) { return (n + VS_ALIGN - 1) / VS_ALIGN * VS_ALIGN; }

void vle_sim_options_init(vle_sim_options *o) {
  memset(o, 0, sizeof *o);
  o->dt = NAN;
  o->gamma = NAN;
  o->learn = true;
  o->check_every = 1;
}

/* ---- memory --------------------------------------------------------------------------- */

/* Where a buffer goes in mem. Each group is one byte range, so that what runs every step is
 * one pass each. The NaN check scans the states and signals and the slots the pubs point at:
 * after an even number of steps the pubs' own (the pub group before the states), after an
 * odd number their partners' (the pubnext group after them), and then the parameters when
 * learning (vs_check_finite). The snapshot copies everything before the parameters, and the
 * parameters when learning (vs_snap_ranges). */
static int vs_group(vle_role r) {
  switch (r) {
  case VLE_ROLE_INPUT: case VLE_ROLE_TARGET: return VS_G_STREAM;
  case VLE_ROLE_PUB: return VS_G_PUB;
  case VLE_ROLE_STATE: case VLE_ROLE_SIGNAL: return VS_G_CHECKED;
  case VLE_ROLE_PUBNEXT: return VS_G_PUBNEXT;
  case VLE_ROLE_PARAM: return VS_G_PARAM;
  default: return VS_G_OTHER;
  }
}

/* A buffer's alignment: a cache line for one of at least that size, else its size rounded up
 * to a power of two. A small buffer then never straddles two cache lines, and a tiny model's
 * buffers lie close together: fewer bytes for the per-step NaN scan and snapshot. */
static size_t vs_align_of(size_t bytes) {
  size_t a = 8;
  while (a < bytes && a < VS_ALIGN) a *= 2;
  return a;
}

/* Offsets of the buffers: group by group (vs_group), each group 64-byte aligned and its
 * buffers by decreasing alignment (no gaps between them), then Adam's m and v, then the grad
 * sums. Gaps and the ends of groups are zero padding that nothing writes. */
static size_t vs_place_buffers(vle_sim *s) {
  const vle_model *m = s->m;
  size_t off = 0;
  for (int g = 0; g < VS_NGROUPS; g++) {
    off = vs_round_up(off);
    s->group_off[g] = off;
    for (size_t a = VS_ALIGN; a >= 8; a /= 2)
      for (int i = 0; i < m->nbufs; i++) {
        size_t bytes = s->count[i] * m->es;
        if (vs_group(m->bufs[i].role) != g || vs_align_of(bytes) != a) continue;
        s->buf_off[i] = off;
        off += bytes;
        off = (off + a - 1) / a * a;
      }
  }
  off = vs_round_up(off);
  s->group_off[VS_NGROUPS] = off;
  return off;
}

static int vs_layout(vle_sim *s, vle_error *err) {
  const vle_model *m = s->m;
  s->count = calloc((size_t)m->nbufs, sizeof *s->count);
  s->buf_off = calloc((size_t)m->nbufs, sizeof *s->buf_off);
  s->opt_off = calloc((size_t)m->nparams + 1, sizeof *s->opt_off);
  s->gsum_off = calloc((size_t)m->nparams + 1, sizeof *s->gsum_off);
  s->feed = calloc((size_t)m->nbufs, sizeof *s->feed);
  s->fed = calloc((size_t)m->nbufs + 1, sizeof *s->fed);
  if (!s->count || !s->buf_off || !s->opt_off || !s->gsum_off || !s->feed || !s->fed)
    return vle_fail(err, "out of memory");
  for (int i = 0; i < m->nbufs; i++) s->count[i] = vm_buf_count(m, i, s->batch);
  size_t off = vs_place_buffers(s);
  s->buf_bytes = off;
  for (int p = 0; p < m->nparams; p++) {
    const vle_param_info *q = &m->params[p];
    size_t n = s->count[q->buf];
    s->opt_off[p] = s->gsum_off[p] = VS_NONE;
    if (q->learn >= 0 && m->learn[q->learn].opt == VLE_OPT_ADAM) {
      s->opt_off[p] = s->n_opt;
      s->n_opt += 2 * n;
    }
  }
  for (int p = 0; p < m->nparams; p++) {
    if (m->params[p].grad < 0 || !s->acc) continue;
    s->gsum_off[p] = s->n_gsum;
    s->n_gsum += s->count[m->params[p].buf];
  }
  s->mem_size = vs_round_up(s->buf_bytes + (s->n_opt + s->n_gsum) * sizeof(double));
  if (s->mem_size == 0) s->mem_size = VS_ALIGN;
  return 0;
}

int vs_state_alloc(vle_sim *s, vle_sim_state *st, vle_error *err) {
  size_t n = (size_t)s->m->nbufs;
  st->mem = aligned_alloc(VS_ALIGN, s->mem_size);
  st->tab = calloc(2 * n + 1, sizeof *st->tab);
  st->opt_t = calloc((size_t)s->m->nlearn + 1, sizeof *st->opt_t);
  if (!st->mem || !st->tab || !st->opt_t)
    return vle_fail(err, "out of memory for %zu bytes of simulation state", s->mem_size);
  memset(st->mem, 0, s->mem_size);
  vs_state_tab(s, st);
  st->bufs = st->tab;
  st->parity = 0;
  return 0;
}

void vs_state_tab(const vle_sim *s, vle_sim_state *st) {
  size_t n = (size_t)s->m->nbufs;
  for (size_t i = 0; i < n; i++) st->tab[i] = st->tab[n + i] = st->mem + s->buf_off[i];
  for (int k = 0; k < s->npubs; k++) {
    st->tab[n + (size_t)s->pubs[k].pub] = st->tab[s->pubs[k].next];
    st->tab[n + (size_t)s->pubs[k].next] = st->tab[s->pubs[k].pub];
  }
}

void vs_state_free(vle_sim_state *st) {
  free(st->mem);
  free(st->tab);
  free(st->opt_t);
}

/* Makes table `parity` the buffer pointers of st. */
void vs_set_parity(const vle_sim *s, vle_sim_state *st, int parity) {
  st->parity = parity;
  st->bufs = st->tab + (size_t)parity * (size_t)s->m->nbufs;
}

/* dst <- src, the pub pairs' swap parity included. */
void vs_state_copy(const vle_sim *s, vle_sim_state *dst, const vle_sim_state *src) {
  memcpy(dst->mem, src->mem, s->mem_size);
  vs_set_parity(s, dst, src->parity);
  dst->step = src->step;
  dst->rng = src->rng;
  memcpy(dst->opt_t, src->opt_t, (size_t)s->m->nlearn * sizeof *dst->opt_t);
}

/* What a step can change, and so what the NaN check's snapshot must keep: the evolving
 * buffers (streams, states, pubs, signals), the parameters when learning, and the optimizer
 * state and grad sums. Consts, settings, temporaries and grad buffers are left out: for a
 * large network the weights dominate the state, and copying them every step cost several
 * times the step itself. The layout put those buffers first (vs_group): two byte ranges. */
static int vs_snap_ranges(vle_sim *s, vle_error *err) {
  s->snap_ranges = calloc(2, sizeof *s->snap_ranges);
  if (!s->snap_ranges) return vle_fail(err, "out of memory");
  int n = 0;
  s->snap_ranges[n++] = (vs_range){ 0, s->group_off[s->learn ? VS_G_OTHER : VS_G_PARAM] };
  if (s->mem_size > s->buf_bytes)
    s->snap_ranges[n++] = (vs_range){ s->buf_bytes, s->mem_size - s->buf_bytes };
  s->nsnap_ranges = n;
  return 0;
}

/* dst <- src for what a step changes (vs_snap_ranges), for the NaN check's snapshot and
 * rollback. Both sides must have been full copies of each other once (vs_state_copy). */
static void vs_snapshot(const vle_sim *s, vle_sim_state *dst, const vle_sim_state *src) {
  for (int i = 0; i < s->nsnap_ranges; i++)
    memcpy(dst->mem + s->snap_ranges[i].off, src->mem + s->snap_ranges[i].off, s->snap_ranges[i].len);
  vs_set_parity(s, dst, src->parity);
  dst->step = src->step;
  dst->rng = src->rng;
  memcpy(dst->opt_t, src->opt_t, (size_t)s->m->nlearn * sizeof *dst->opt_t);
}

void vle_sim_free(vle_sim *s) {
  if (!s) return;
  free(s->pubs);
  free(s->checked);
  free(s->opt_params);
  free(s->snap_ranges);
  vs_state_free(&s->st);
  vs_state_free(&s->snap);
  va_free(&s->adj);
  vs_ep_free(&s->ep);
  for (int i = 0; s->feed && i < s->m->nbufs; i++) free(s->feed[i]);
  free(s->feed);
  free(s->fed);
  free(s->count);
  free(s->buf_off);
  free(s->opt_off);
  free(s->gsum_off);
  vp_free(s);
  tm_free(s->team);
  free(s);
}

/* ---- options --------------------------------------------------------------------------- */

static int vs_scheme(vle_sim *s, const char *errors, vle_error *err) {
  const vle_model *m = s->m;
  if (strcmp(m->settings.scheme, "sync"))
    return vle_fail(err, "model '%s': scheme '%s' is not supported by this runtime (only sync)",
                    m->name, m->settings.scheme);
  if (m->settings.eqprop) {   /* learns by equilibrium propagation (vle_ep.c), not by errors */
    s->errors = "eqprop";
    return 0;
  }
  int id = vv_scheme_find(errors);
  if (id < 0)
    return vle_fail(err, "unknown error scheme '%s' (expected one of %.*s)", errors,
                    (int)sizeof VLE_SCHEME_NAMES - 3, VLE_SCHEME_NAMES);
  const vv_scheme_info *sc = vv_scheme((vle_scheme)id);
  s->errors = sc->name;
  s->adjoint = !sc->local;
  s->back = sc->back;
  s->step_fn = m->kernels[sc->kernel];
  /* Learning with SGD: the variant that updates the fused weights in its sweeps over them
   * (docs/abi.md), when the model has one; grads_sgd then leaves those weights out. */
  bool combined = s->rep && s->rep->combine_every == 1;   /* grads leave the step kernel */
  if (s->learn && !s->acc && !combined && sc->sgd != VK_COUNT && m->kernels[sc->sgd] &&
      m->kernels[VK_GRADS_SGD]) {
    s->step_sgd = m->kernels[sc->sgd];
    s->grads_sgd = m->kernels[VK_GRADS_SGD];
  }
  /* A model JIT-compiled for a learning run may carry only step_*_sgd; it serves held
   * steps too, with its rates at zero (vle_sim_hold_learning). */
  if (!s->step_fn && !s->step_sgd)
    return vle_fail(err, "model '%s' has no kernel %s for errors=%s (no error scheme of "
                    "docs/theory.md §4 is defined for it: `vlec derive` says why)", m->name,
                    vv_kernel_name(sc->kernel), errors);
  if (combined && s->learn && (!s->step_fn || (sc->local && !m->kernels[VK_GRADS])))
    return vle_fail(err, "model '%s' was built for fused SGD only (no %s kernel): replicas "
                    "that combine gradients need it (build it with `vlec build`)", m->name,
                    s->step_fn ? vv_kernel_name(VK_GRADS) : vv_kernel_name(sc->kernel));
  if (!sc->local && (s->learn || s->acc) && !m->kernels[sc->back])
    return vle_fail(err, "model '%s' has no kernel %s (%s): errors=%s can only run its forward "
                    "pass, with learning off (--no-learn) and no gradients; errors=bptt "
                    "gives exact gradients for every model", m->name, vv_kernel_name(sc->back),
                    sc->back == VK_BACK_ADJ ? "the continuous adjoint needs the split of "
                    "docs/theory.md §4: `vlec derive` says why it fails"
                    : "the model was built without it", errors);
  return 0;
}

/* The learned parameters vs_learn updates, those the _sgd kernels can update (fused_lr)
 * last, so that what the runtime's optimizer does in either case is a prefix of the list.
 * (Each update touches only its own parameter and state: the order is free.) */
static int vs_index_params(vle_sim *s, vle_error *err) {
  const vle_model *m = s->m;
  s->opt_params = calloc((size_t)m->nparams + 1, sizeof *s->opt_params);
  if (!s->opt_params) return vle_fail(err, "out of memory");
  for (int pass = 0; pass < 2; pass++) {
    for (int p = 0; p < m->nparams; p++)
      if (m->params[p].learn >= 0 && (m->params[p].fused_lr >= 0) == pass)
        s->opt_params[s->nopt_all++] = p;
    if (!pass) s->nopt_fused = s->nopt_all;
  }
  return 0;
}

/* The buffers a step swaps and the NaN check scans, listed once: a small model's step is
 * shorter than a loop over all its buffers' roles. */
static int vs_index_buffers(vle_sim *s, vle_error *err) {
  const vle_model *m = s->m;
  s->pubs = calloc((size_t)m->nbufs + 1, sizeof *s->pubs);
  s->checked = calloc((size_t)m->nbufs + 1, sizeof *s->checked);
  if (!s->pubs || !s->checked) return vle_fail(err, "out of memory");
  for (int b = 0; b < m->nbufs; b++) {
    vle_role r = m->bufs[b].role;
    if (r == VLE_ROLE_PUB) s->pubs[s->npubs++] = (vs_pair){ b, m->bufs[b].pair };
    if (r == VLE_ROLE_STATE || r == VLE_ROLE_PUB || r == VLE_ROLE_SIGNAL)
      s->checked[s->nchecked++] = b;
  }
  s->nall = s->nchecked;
  for (int b = 0; b < m->nbufs; b++)
    if (m->bufs[b].role == VLE_ROLE_PARAM && s->learn) s->checked[s->nall++] = b;
  return vs_index_params(s, err);
}

static int vs_apply_options(vle_sim *s, const vle_sim_options *o, vle_error *err) {
  const vle_model *m = s->m;
  s->batch = o->batch > 0 ? o->batch : m->settings.batch;
  s->dt = isnan(o->dt) ? m->settings.dt : o->dt;
  s->gamma = isnan(o->gamma) ? m->settings.gamma : o->gamma;
  s->learn = o->learn && m->nlearn > 0;
  s->acc = o->accumulate_grads;
  s->check_every = o->check_every < 0 ? 0 : o->check_every;
  s->adj.limit = o->adjoint_memory ? o->adjoint_memory : VLE_ADJOINT_MEMORY_DEFAULT;
  if (o->batch < 0 || s->batch > (1L << 24))
    return vle_fail(err, "batch %ld: expected 1 to 16777216", o->batch);
  for (size_t i = 0; i < o->nsets; i++) {          /* settings first: dt may be --set */
    const vle_override *v = &o->sets[i];
    bool is_dt = !strcmp(v->name, "dt"), is_gamma = !strcmp(v->name, "gamma");
    if (!is_dt && !is_gamma) continue;
    if (v->count != 1)
      return vle_fail(err, "--set %s: expected one value, got %zu", v->name, v->count);
    *(is_dt ? &s->dt : &s->gamma) = v->values[0];
  }
  if (!(s->dt > 0) || !isfinite(s->dt)) return vle_fail(err, "dt = %g: expected a positive number", s->dt);
  if (!isfinite(s->gamma)) return vle_fail(err, "gamma = %g: expected a finite number", s->gamma);
  if (vs_index_buffers(s, err) || vp_init(s, o, err)) return -1;
  if (m->settings.eqprop && o->errors)
    return vle_fail(err, "model '%s' learns by equilibrium propagation (its populations follow "
                    "the gradient flow): it has no error scheme, so errors=%s does not apply",
                    m->name, o->errors);
  return vs_scheme(s, o->errors ? o->errors : m->settings.errors, err);
}

/* ---- initial values --------------------------------------------------------------------- */

static void vs_fill(vle_sim *s, int buf, const double *v, size_t n) {
  for (size_t i = 0; i < s->count[buf]; i++)
    re_set(s->st.bufs[buf], i, s->m->es, v[n == 1 ? 0 : i % n]);
}

/* The rate buffers of SGD done by kernels (fused_lr): each learn group's rate times the
 * schedule's scale, or 0 while held. */
static void vs_fused_rates(vle_sim *s, bool held) {
  const vle_model *m = s->m;
  for (int i = 0; i < m->nparams; i++) {
    const vle_param_info *q = &m->params[i];
    if (q->fused_lr < 0 || q->learn < 0) continue;
    double lr = held ? 0.0 : m->learn[q->learn].lr * s->lr_scale;
    vs_fill(s, q->fused_lr, &lr, 1);
  }
}

static int vs_find_const(const vle_model *m, const char *name) {
  for (int i = 0; i < m->nconsts; i++)
    if (!strcmp(m->consts[i].name, name)) return i;
  return -1;
}

static int vs_write_consts(vle_sim *s, const vle_sim_options *o, vle_error *err) {
  const vle_model *m = s->m;
  for (int i = 0; i < m->nconsts; i++)
    vs_fill(s, m->consts[i].buf, m->consts[i].value, (size_t)m->consts[i].size);
  for (size_t i = 0; i < o->nsets; i++) {
    const vle_override *v = &o->sets[i];
    if (!strcmp(v->name, "dt") || !strcmp(v->name, "gamma")) continue;
    int c = vs_find_const(m, v->name);
    if (c < 0)
      return vle_fail(err, "--set %s: the model has no const or setting of that name", v->name);
    if (v->count != 1 && v->count != (size_t)m->consts[c].size)
      return vle_fail(err, "--set %s: the const has %ld values, got %zu", v->name,
                      m->consts[c].size, v->count);
    vs_fill(s, m->consts[c].buf, v->values, v->count);
  }
  double dt = s->dt, gamma = s->gamma, zero = 0;
  vs_fill(s, m->sig_dt, &dt, 1);
  vs_fill(s, m->sig_t, &zero, 1);
  if (m->sig_gamma >= 0) vs_fill(s, m->sig_gamma, &gamma, 1);
  vs_fused_rates(s, false);
  return 0;
}

/* Whether an .npy shape fits a parameter of rows x cols. */
static bool vs_shape_fits(const npy_array *a, long rows, long cols) {
  if (a->ndim == 2) return a->shape[0] == rows && a->shape[1] == cols;
  if (a->ndim == 1) return a->shape[0] == rows * cols && (rows == 1 || cols == 1);
  return a->ndim == 0 && rows * cols == 1;
}

static int vs_init_file(vle_sim *s, int p, const char *path, vle_error *err) {
  const vle_param_info *q = &s->m->params[p];
  const vle_buffer_info *b = &s->m->bufs[q->buf];
  npy_array a;
  if (npy_read(path, &a, err)) return -1;
  int rc = 0;
  if (!vs_shape_fits(&a, b->rows, b->cols)) {
    char shape[96];
    npy_shape_str(&a, shape, sizeof shape);
    rc = vle_fail(err, "%s: parameter %s is %ldx%ld, the file has shape %s", path, q->name,
                  b->rows, b->cols, shape);
  } else {
    for (size_t i = 0; i < a.count && !rc; i++) {
      double x = npy_get(&a, i);
      if (!isfinite(x)) rc = vle_fail(err, "%s: element %zu of parameter %s is %g", path, i, q->name, x);
      re_set(s->st.bufs[q->buf], i, s->m->es, x);
    }
  }
  npy_free(&a);
  return rc;
}

/* Draws a parameter from its distribution with its own named stream of the seed. */
static int vs_init_dist(vle_sim *s, int p, uint64_t seed, vle_error *err) {
  const vle_param_info *q = &s->m->params[p];
  const vle_buffer_info *b = &s->m->bufs[q->buf];
  size_t n = s->count[q->buf];
  void *dst = s->st.bufs[q->buf];
  rng_state g;
  rng_seed_named(&g, seed, q->name);
  if (q->dist == VLE_INIT_FILE) return vs_init_file(s, p, q->path, err);
  if (q->dist == VLE_INIT_NORMAL) {
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return vle_fail(err, "out of memory");
    rng_normal_fill(&g, tmp, n, q->args[0], q->args[1]);
    for (size_t i = 0; i < n; i++) re_set(dst, i, s->m->es, tmp[i]);
    free(tmp);
    return 0;
  }
  double lo = q->args[0], hi = q->args[1];
  if (q->dist == VLE_INIT_GLOROT) {     /* fan_in = cols (pre), fan_out = rows (post) */
    hi = sqrt(6.0 / (double)(b->rows + b->cols));
    lo = -hi;
  }
  for (size_t i = 0; i < n; i++) {
    double x = 0;
    switch (q->dist) {
    case VLE_INIT_CONSTANT: x = q->args[0]; break;
    case VLE_INIT_UNIFORM: case VLE_INIT_GLOROT: x = lo + (hi - lo) * rng_uniform(&g); break;
    case VLE_INIT_IDENTITY: x = b->cols == 1 || (long)i / b->cols == (long)i % b->cols; break;
    default: break;                     /* zeros; kernel: the init kernel writes it */
    }
    re_set(dst, i, s->m->es, x);
  }
  return 0;
}

static int vs_find_init(const vle_sim_options *o, const vle_model *m, int p) {
  for (size_t i = 0; i < o->ninits; i++)
    if (!strcmp(o->inits[i].name, m->params[p].name)) return (int)i;
  return -1;
}

/* Before the init kernel (kernel_pass false): every parameter from its dist or --init file;
 * after it (true): the --init files of kernel-initialised parameters, which the kernel
 * would otherwise overwrite. */
static int vs_init_params(vle_sim *s, const vle_sim_options *o, bool kernel_pass, vle_error *err) {
  const vle_model *m = s->m;
  for (int p = 0; p < m->nparams; p++) {
    int f = vs_find_init(o, m, p);
    bool is_kernel = m->params[p].dist == VLE_INIT_KERNEL;
    if (kernel_pass ? (f < 0 || !is_kernel) : (f >= 0 && is_kernel)) continue;
    if (f >= 0 ? vs_init_file(s, p, o->inits[f].path, err) : vs_init_dist(s, p, o->seed, err))
      return -1;
  }
  for (size_t i = 0; !kernel_pass && i < o->ninits; i++)
    if (vle_model_find_param(m, o->inits[i].name) < 0)
      return vle_fail(err, "--init %s: the model has no parameter of that name", o->inits[i].name);
  return 0;
}

/* docs/theory.md §7: tau_m, tau_r >= dt, read after the init kernel computed them. */
static int vs_check_tau(const vle_sim *s, vle_error *err) {
  const vle_model *m = s->m;
  for (int p = 0; p < m->npops; p++) {
    const vle_population_info *q = &m->pops[p];
    int bufs[2] = { q->tau_m, q->tau_r };
    for (int k = 0; k < 2; k++) {
      if (bufs[k] < 0) continue;
      for (size_t i = 0; i < s->count[bufs[k]]; i++) {
        double tau = re_get(s->st.bufs[bufs[k]], i, m->es);
        if (tau >= s->dt) continue;
        return vle_fail(err, "population %s: %s of neuron %zu is %g, smaller than dt = %g "
                        "(use a larger time constant or a smaller --dt)", q->name,
                        k ? "tau_r" : "tau_m", i % (size_t)q->size, tau, s->dt);
      }
    }
  }
  return 0;
}

/* The state, and the snapshot the NaN check keeps, against the memory bound: refused with
 * the figures before anything is allocated (a --batch of 2^24 asked for 37 GB). */
static int vs_check_memory(const vle_sim *s, const vle_sim_options *o, vle_error *err) {
  double need = (double)s->mem_size * (s->check_every ? 2 : 1);
  double have = o->memory_limit ? (double)o->memory_limit
                : (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
  if (o->memory_limit == SIZE_MAX || !(have > 0) || need <= have) return 0;
  return vle_fail(err, "model '%s' at batch %ld needs %.0f MB (%.0f MB of buffers and state%s), "
                  "more than the %.0f MB %s; use a smaller --batch, or allow it with "
                  "--max-memory MB (vle_sim_options.memory_limit)", s->m->name, s->batch,
                  need / 1e6, (double)s->mem_size / 1e6,
                  s->check_every ? ", twice: the NaN check keeps a snapshot" : "", have / 1e6,
                  o->memory_limit ? "allowed" : "of memory of this machine");
}

/* Multiply-adds per step below which threads do not pay (docs/runtime.md "Threads"): a step
 * of ~1 ms. On the shared 2-core machine 784-300-100-10 at batch 10 (2.7e6, ~0.25 ms a step)
 * ran 3x slower on 2 threads under load; 100-100-10 at batch 100 (1.1e6) 0.7x on a quiet
 * machine; at batch 100 784-300-100-10 (2.7e7) 1.2-1.6x faster. */
#define VS_THREADS_MIN_WORK 1e7

/* Threads of other processes running now: the runnable count of /proc/loadavg (which
 * counts this thread) less one, the median of 5 samples 2 ms apart (a snapshot catches
 * the machine between two time slices; the 1-minute average lags a minute behind a machine
 * that has gone quiet); 0 where unknown. */
static int vs_others_running(void) {
  int v[5], n = 0;
  for (int k = 0; k < 5; k++) {
    FILE *f = fopen("/proc/loadavg", "r");
    int run = 0, all = 0;
    if (f) {
      if (fscanf(f, "%*f %*f %*f %d/%d", &run, &all) != 2) run = 1;
      fclose(f);
      v[n++] = run > 1 ? run - 1 : 0;
    }
    if (k < 4) nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
  }
  for (int i = 1; i < n; i++)       /* insertion sort of <= 5 */
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      int t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return n ? v[n / 2] : 0;
}

/* How many threads the kernels run on (o->threads, or auto), and why; starts the team. */
static int vs_threads(vle_sim *s, const vle_sim_options *o, vle_error *err) {
  const vle_model *m = s->m;
  int cores = tm_cores(), n = 1;
  double work = 0;                 /* multiply-adds of the products per step, about */
  for (int p = 0; p < m->nparams; p++) {
    const vle_buffer_info *b = &m->bufs[m->params[p].buf];
    if (b->rows > 1 && b->cols > 1) work += (double)b->rows * (double)b->cols;
  }
  work *= (double)s->batch;
  char *why = s->threads_why;
  size_t len = sizeof s->threads_why;
  if (o->threads < 0)
    return vle_fail(err, "threads: %d is not a thread count (0 for auto, or 1 or more)",
                    o->threads);
  if (!m->threads) {
    snprintf(why, len, "the model was built without threads (rebuild it with this vlec)");
  } else if (o->threads > 0) {
    n = o->threads;
    snprintf(why, len, "%d as asked", n);
  } else if (cores < 2) {
    snprintf(why, len, "auto: this process may run on 1 core");
  } else if (s->batch < 2) {
    snprintf(why, len, "auto: batch 1 (threads share out batch elements and rows; at batch 1 "
             "a step is too short to pay for them)");
  } else if (work < VS_THREADS_MIN_WORK) {
    snprintf(why, len, "auto: %.3g multiply-adds per step (weights x batch), below %.0e where "
             "threads pay", work, VS_THREADS_MIN_WORK);
  } else {
    /* cores other processes keep busy: a thread that has to share a core holds up every
     * barrier of the team (a step then takes longer than on one thread) */
    int others = vs_others_running(), idle = cores - others;
    n = idle < s->batch ? idle : (int)s->batch;
    if (n < 2)
      snprintf(why, len, "auto: the machine is busy (%d other threads running on %d cores)",
               others, cores);
    else
      snprintf(why, len, "auto: %.3g multiply-adds per step (weights x batch), %d of %d cores "
               "(%d other threads running)", work, n, cores, others);
    if (n < 1) n = 1;
  }
  if (n < 2) return 0;
  const char *fail = NULL;
  if (!(s->team = tm_new(n, &fail))) return vle_fail(err, "threads: %s", fail);
  return 0;
}

int vle_sim_threads(const vle_sim *s, const char **why) {
  if (why) *why = s->threads_why;
  return tm_size(s->team);
}

static int vs_init(vle_sim *s, const vle_sim_options *o, vle_error *err) {
  if (vs_apply_options(s, o, err) || vs_threads(s, o, err) || vs_layout(s, err) ||
      (s->m->settings.eqprop && vs_ep_init(s, err)) || vs_check_memory(s, o, err) ||
      vs_state_alloc(s, &s->st, err) ||
      vs_write_consts(s, o, err) || vs_init_params(s, o, false, err))
    return -1;
  rng_seed(&s->st.rng, o->seed);
  vs_kernel(s, s->m->kernels[VK_INIT], s->st.bufs);
  if (vs_init_params(s, o, true, err) || vs_check_tau(s, err)) return -1;
  /* after every parameter: a published value may depend on time constants */
  vs_kernel(s, s->m->kernels[VK_PUB_INIT], s->st.bufs);
  if (s->check_every && (vs_state_alloc(s, &s->snap, err) || vs_snap_ranges(s, err))) return -1;
  if (s->check_every) vs_state_copy(s, &s->snap, &s->st);
  return 0;
}

vle_sim *vle_sim_new(const vle_model *m, const vle_sim_options *o, vle_error *err) {
  vle_sim_options dflt;
  if (!o) {
    vle_sim_options_init(&dflt);
    o = &dflt;
  }
  vle_sim *s = calloc(1, sizeof *s);
  if (!s) {
    vle_fail(err, "out of memory");
    return NULL;
  }
  s->m = m;
  s->lr_scale = 1;
  s->view = &s->st;
  if (vs_init(s, o, err)) {
    vle_sim_free(s);
    return NULL;
  }
  return s;
}

/* ---- stepping --------------------------------------------------------------------------- */

static void vs_apply_feeds(vle_sim *s, vle_sim_state *st) {
  for (int j = 0; j < s->nfed; j++) {
    int i = s->fed[j];
    for (size_t k = 0; k < s->count[i]; k++) re_set(st->bufs[i], k, s->m->es, s->feed[i][k]);
  }
}

void vs_learn(vle_sim *s, bool fused) {
  const vle_model *m = s->m;
  vle_sim_state *st = &s->st;
  for (int g = 0; g < m->nlearn; g++) st->opt_t[g]++;
  vp_before_update(s);
  int n_opt = fused ? s->nopt_fused : s->nopt_all;
  for (int k = 0; k < n_opt; k++) {
    int p = s->opt_params[k];
    const vle_param_info *q = &m->params[p];
    const vle_learn_info *l = &m->learn[q->learn];
    size_t n = s->count[q->buf];
    if (l->opt == VLE_OPT_SGD) {
      opt_sgd(st->bufs[q->buf], st->bufs[q->grad], n, m->es, l->lr * s->lr_scale);
    } else {
      vle_learn_info scaled = *l;
      scaled.lr = l->lr * s->lr_scale;
      double *mv = vs_opt_mem(s, st) + s->opt_off[p];
      opt_adam(st->bufs[q->buf], st->bufs[q->grad], mv, mv + n, n, m->es, &scaled, st->opt_t[q->learn]);
    }
    opt_clamp(st->bufs[q->buf], n, m->es, l->clamp, l->clamp_value);
  }
  vp_after_update(s);
}

void vs_accumulate(vle_sim *s) {
  const vle_model *m = s->m;
  double *sum = vs_gsum_mem(s, &s->st);
  for (int p = 0; p < m->nparams; p++) {
    if (s->gsum_off[p] == VS_NONE) continue;
    const void *g = s->st.bufs[m->params[p].grad];
    for (size_t i = 0; i < s->count[m->params[p].buf]; i++)
      sum[s->gsum_off[p] + i] += s->dt * re_get(g, i, m->es);
  }
}

void vs_streams(vle_sim *s, vle_sim_state *st) {
  const vle_model *m = s->m;
  re_set(st->bufs[m->sig_t], 0, m->es, (double)st->step * s->dt);
  if (m->kernels[VK_STREAMS]) vs_kernel(s, m->kernels[VK_STREAMS], st->bufs);
  vs_apply_feeds(s, st);
}

void vs_forward(vle_sim *s, vle_sim_state *st) {
  vs_streams(s, st);
  vs_kernel(s, s->step_fn, st->bufs);
}

void vs_advance(vle_sim *s, vle_sim_state *st) {
  vs_set_parity(s, st, st->parity ^ 1);   /* every pub pair swapped (vs_state_alloc) */
  st->step++;
}

/* One step of docs/abi.md. The local schemes learn (or accumulate) every step; the adjoint's
 * forward pass (step_free, e = 0) has no gradient here: a window's sweep computes it. */
static void vs_step_once(vle_sim *s) {
  if (s->ep.on) {   /* one sample of equilibrium propagation */
    vs_ep_step(s);
    return;
  }
  const vle_model *m = s->m;
  bool local = !s->adjoint;   /* not the adjoint's forward pass */
  bool learn = local && s->learn && !s->hold, acc = local && s->acc && !s->hold;
  bool fused = learn && s->step_sgd;   /* the SGD of the fused weights runs in the step */
  if (s->adj.open) va_before_step(s);
  if (fused || !s->step_fn) {   /* no plain step: the _sgd one, rates at 0 while held */
    vs_streams(s, &s->st);
    vs_kernel(s, s->step_sgd, s->st.bufs);
  } else {
    vs_forward(s, &s->st);
  }
  if (s->adj.open) va_after_step(s);
  vle_kernel_fn grads = fused ? s->grads_sgd : m->kernels[VK_GRADS];
  if ((learn || acc) && grads) vs_kernel(s, grads, s->st.bufs);
  if (acc) vs_accumulate(s);
  if (learn) vs_learn(s, fused);
  vs_advance(s, &s->st);
}

/* A kernel that shares its work out runs on the team; the others (small ones: streams,
 * biases) on this thread alone, without waking the team. */
void vs_kernel(const vle_sim *s, vle_kernel_fn fn, void *const *bufs) {
  bool team = false;
  for (int k = 0; s->team && k < VK_COUNT && !team; k++)
    team = s->m->kernels[k] == fn && s->m->threaded[k];
  if (team) tm_run(s->team, fn, bufs, s->batch);
  else fn(NULL, bufs, s->batch);
}


/* Describes element i of buffer b: "neuron 2, batch element 0" / "row 1, col 2". */
static void vs_where(const vle_sim *s, int b, size_t i, char *out, size_t len) {
  const vle_buffer_info *bi = &s->m->bufs[b];
  size_t per = (size_t)bi->rows * (size_t)bi->cols, j = i % per;
  int o = bi->cols == 1 ? snprintf(out, len, "neuron %zu", j)
                        : snprintf(out, len, "row %zu, col %zu", j / (size_t)bi->cols, j % (size_t)bi->cols);
  long first = 0;               /* a replica names the element of the whole batch */
  if (s->rep) vle_replica_lanes(s->rep->batch, s->rep->size, s->rep->rank, &first);
  if (bi->batched && o >= 0 && (size_t)o < len)
    snprintf(out + o, len - (size_t)o, ", batch element %zu", i / per + (size_t)first);
}

/* Index of the first NaN/Inf in p[0..n), or n. Off the per-step path (vs_check_finite
 * scans the whole checked group at once), so a plain loop. */
static size_t vs_first_nonfinite(const void *p, size_t n, size_t es) {
  size_t i = 0;
  while (i < n && isfinite(re_get(p, i, es))) i++;
  return i;
}

/* The error for element i of buffer b of st, which is not finite. */
static int vs_fail_nonfinite(const vle_sim *s, const vle_sim_state *st, int b, size_t i,
                             const char *when, vle_error *err) {
  double x = re_get(st->bufs[b], i, s->m->es);
  char where[96];
  vs_where(s, b, i, where, sizeof where);
  return vle_fail(err, "%s in %s (%s) %s", isnan(x) ? "NaN" : "Inf", s->m->bufs[b].name, where, when);
}

int vs_check_buffer(const vle_sim *s, const vle_sim_state *st, int b, const char *when,
                    vle_error *err) {
  size_t i = vs_first_nonfinite(st->bufs[b], s->count[b], s->m->es);
  return i == s->count[b] ? 0 : vs_fail_nonfinite(s, st, b, i, when, err);
}

/* Whether any real in p[0..len) is NaN or Inf; p 64-byte aligned, len a multiple of 64.
 * A real is NaN or Inf exactly when its exponent bits are all ones, and then (and only then)
 * adding one at the exponent's lowest bit carries into the real's top bit: an and, an add and
 * an or per 64-bit word (one f64 or two f32), on vectors of four words. This runs every step
 * over all the states: on x86-64 it is also built for AVX2 and the loader picks that version
 * where the CPU has it (the default build targets SSE2 only). */
typedef uint64_t vs_words __attribute__((vector_size(32), aligned(32), may_alias));
#if defined(__x86_64__) && defined(__GNUC__) && !defined(VLE_SANITIZED)
__attribute__((target_clones("avx2", "default")))
#endif
static bool vs_range_nonfinite(const unsigned char *p, size_t len, size_t es) {
  const uint64_t expo = es == 8 ? 0x7ff0000000000000ULL : 0x7f8000007f800000ULL;
  const uint64_t one = es == 8 ? 0x0010000000000000ULL : 0x0080000000800000ULL;
  const uint64_t top = es == 8 ? 0x8000000000000000ULL : 0x8000000080000000ULL;
  const vs_words *w = (const vs_words *)(const void *)p;
  vs_words acc0 = { 0 }, acc1 = { 0 };
  for (size_t i = 0; i < len / sizeof *w; i += 2) {
    acc0 |= (w[i] & expo) + one;
    acc1 |= (w[i + 1] & expo) + one;
  }
  acc0 |= acc1;
  return ((acc0[0] | acc0[1] | acc0[2] | acc0[3]) & top) != 0;
}

/* The scan of vs_range_nonfinite shared out over a team: member t scans its share of
 * the range in runs of 64 bytes (the scan's unit) and says whether it found one. */
typedef struct vs_scan {
  const unsigned char *p;
  size_t len, es;
  bool hit[64];
} vs_scan;

static void vs_scan_share(const vle_team *m, void *arg) {
  vs_scan *a = arg;
  size_t runs = a->len / 64, n = (size_t)m->nthreads, t = (size_t)m->tid;
  size_t lo = runs * t / n * 64, hi = runs * (t + 1) / n * 64;
  if (t < 64) a->hit[t] = hi > lo && vs_range_nonfinite(a->p + lo, hi - lo, a->es);
}

/* Below this many bytes the scan is not worth waking the team (~10 us). */
enum { VS_SCAN_TEAM_MIN = 256 << 10 };

static bool vs_range_nonfinite_team(const vle_sim *s, const unsigned char *p, size_t len) {
  int n = tm_size(s->team);
  if (!s->team || n > 64 || len < VS_SCAN_TEAM_MIN || len % 64)
    return vs_range_nonfinite(p, len, s->m->es);
  vs_scan a = { .p = p, .len = len, .es = s->m->es };
  tm_each(s->team, vs_scan_share, &a);
  bool hit = false;
  for (int t = 0; t < n; t++) hit |= a.hit[t];
  return hit;
}

/* NaN/Inf anywhere in the evolving buffers after step s->st.step - 1? This runs every step,
 * so the common case is one scan over one byte range: the states and signals and the slots
 * the pubs now point at (vs_group; and the parameters when learning): only on a hit are the
 * buffers searched one by one, in descriptor order, for the first bad element to report.
 * With the parameters the range also spans the pubnext slots (stale values the next step
 * overwrites), which the search does not check: a hit there alone is no error. */
static int vs_check_finite(vle_sim *s, bool params, vle_error *err) {
  const size_t *g = s->group_off;
  size_t from = g[s->st.parity ? VS_G_CHECKED : VS_G_PUB];
  size_t to = params && s->learn ? g[VS_G_OTHER] : g[s->st.parity ? VS_G_PARAM : VS_G_PUBNEXT];
  if (!vs_range_nonfinite_team(s, s->st.mem + from, to - from)) return 0;
  int n = params ? s->nall : s->nchecked;
  for (int c = 0; c < n; c++) {
    int b = s->checked[c];
    size_t i = vs_first_nonfinite(s->st.bufs[b], s->count[b], s->m->es);
    if (i == s->count[b]) continue;
    int64_t k = s->st.step - 1;
    char when[200];
    snprintf(when, sizeof when, "at step %lld (t = %g); the simulation was rolled back to its "
             "last good state (%lld steps done, t = %g)", (long long)k, (double)k * s->dt,
             (long long)s->snap.step, (double)s->snap.step * s->dt);
    return vs_fail_nonfinite(s, &s->st, b, i, when, err);
  }
  return 0;
}

int vle_sim_step(vle_sim *s, int64_t nsteps, vle_error *err) {
  if (s->adj.open && s->adj.done + nsteps > s->adj.len)
    return vle_fail(err, "the adjoint window of %lld steps has %lld left, asked for %lld (end "
                    "it with vle_sim_adjoint_end first)", (long long)s->adj.len,
                    (long long)(s->adj.len - s->adj.done), (long long)nsteps);
  /* Every check_every steps the states are checked, so a NaN or Inf is reported at the step
   * that made it (a bad parameter makes a bad state within a step). Without learning the
   * last good state is kept at every check (only states change: cheap); when learning it is
   * taken every VS_SNAP_CHECKS checks, after also checking the parameters, since copying
   * every learned weight each step would cost as much as the step itself (and every 64, 2-5%
   * of a large network's step: 256 makes it < 1%). */
  enum { VS_SNAP_CHECKS = 256 };
  for (int64_t n = 0; n < nsteps; n++) {
    vs_step_once(s);
    /* (check_every is 1 by default: then no 64-bit division, a large part of a tiny step) */
    if (!s->replay && (!s->check_every || (s->check_every > 1 && s->st.step % s->check_every)))
      continue;
    bool snap = s->replay || !s->learn || ++s->checks % VS_SNAP_CHECKS == 0;
    if (vs_check_finite(s, snap, err)) {
      vs_snapshot(s, &s->st, &s->snap);
      s->adj.open = false;            /* the rolled-back window cannot be swept */
      return -1;
    }
    if (snap) vs_snapshot(s, &s->snap, &s->st);
  }
  return 0;
}

/* ---- access ---------------------------------------------------------------------------- */

int64_t vle_sim_steps_done(const vle_sim *s) { return s->st.step; }
double vle_sim_time(const vle_sim *s) { return (double)s->st.step * s->dt; }
long vle_sim_batch(const vle_sim *s) { return s->batch; }
double vle_sim_dt(const vle_sim *s) { return s->dt; }
const char *vle_sim_errors(const vle_sim *s) { return s->errors; }
const vle_model *vle_sim_model(const vle_sim *s) { return s->m; }
void vle_sim_hold_learning(vle_sim *s, bool hold) {
  if (s->hold == hold) return;
  s->hold = hold;
  if (s->step_fn || !s->step_sgd) return;
  vs_fused_rates(s, hold);  /* only step_*_sgd exists: it must not move the weights while held */
}

int vle_sim_set_lr_scale(vle_sim *s, double scale, vle_error *err) {
  if (!(scale > 0) || !isfinite(scale))
    return vle_fail(err, "learning-rate scale %g: expected a positive finite number", scale);
  s->lr_scale = scale;
  vs_fused_rates(s, s->hold && !s->step_fn && s->step_sgd);
  return 0;
}

double vle_sim_lr_scale(const vle_sim *s) { return s->lr_scale; }

static int vs_buf(const vle_sim *s, const char *name, vle_error *err) {
  int b = vle_model_find_buffer(s->m, name);
  if (b < 0) vle_fail(err, "model '%s' has no buffer named '%s'", s->m->name, name);
  return b;
}

static int vs_count_ok(const vle_sim *s, int b, size_t count, vle_error *err) {
  if (count == s->count[b]) return 0;
  return vle_fail(err, "buffer '%s' holds %zu reals, got %zu", s->m->bufs[b].name, s->count[b], count);
}

void *vle_sim_buffer(vle_sim *s, const char *name, const vle_buffer_info **info) {
  int b = vle_model_find_buffer(s->m, name);
  if (info) *info = b >= 0 ? &s->m->bufs[b] : NULL;
  return b >= 0 ? s->view->bufs[b] : NULL;
}

size_t vle_sim_count(const vle_sim *s, const char *name) {
  int b = vle_model_find_buffer(s->m, name);
  return b >= 0 ? s->count[b] : 0;
}

int vle_sim_get(const vle_sim *s, const char *name, double *out, size_t count, vle_error *err) {
  int b = vs_buf(s, name, err);
  if (b < 0 || vs_count_ok(s, b, count, err)) return -1;
  for (size_t i = 0; i < count; i++) out[i] = re_get(s->view->bufs[b], i, s->m->es);
  return 0;
}

int vle_sim_set(vle_sim *s, const char *name, const double *in, size_t count, vle_error *err) {
  int b = vs_buf(s, name, err);
  if (b < 0 || vs_count_ok(s, b, count, err)) return -1;
  if (s->m->bufs[b].role == VLE_ROLE_SETTING)
    return vle_fail(err, "'%s' is a setting owned by the simulation (give it in the options)", name);
  for (size_t i = 0; i < count; i++) re_set(s->st.bufs[b], i, s->m->es, in[i]);
  return 0;
}

int vle_sim_feed(vle_sim *s, const char *name, const double *values, size_t count,
                 vle_error *err) {
  int b = vs_buf(s, name, err);
  return b < 0 ? -1 : vs_feed_at(s, b, values, count, err);
}

int vs_feed_at(vle_sim *s, int b, const double *values, size_t count, vle_error *err) {
  const char *name = s->m->bufs[b].name;
  vle_role r = s->m->bufs[b].role;
  if (r != VLE_ROLE_INPUT && r != VLE_ROLE_TARGET)
    return vle_fail(err, "'%s' is a %s buffer; only inputs and targets can be fed", name, vle_role_name(r));
  size_t per = s->count[b] / (size_t)s->batch;
  if (count != per && count != s->count[b])
    return vle_fail(err, "feeding '%s': expected %zu values (or %zu = batch x %zu), got %zu",
                    name, per, s->count[b], per, count);
  if (!s->feed[b]) {
    if (!(s->feed[b] = malloc(s->count[b] * sizeof(double)))) return vle_fail(err, "out of memory");
    s->fed[s->nfed++] = b;
  }
  for (size_t i = 0; i < s->count[b]; i++) s->feed[b][i] = values[count == per ? i % per : i];
  return 0;
}

int vle_sim_unfeed(vle_sim *s, const char *name, vle_error *err) {
  int b = vs_buf(s, name, err);
  if (b < 0) return -1;
  if (!s->feed[b]) return 0;
  free(s->feed[b]);
  s->feed[b] = NULL;
  for (int j = 0; j < s->nfed; j++)   /* fed buffers are distinct: their order is free */
    if (s->fed[j] == b) s->fed[j] = s->fed[--s->nfed];
  return 0;
}

int vle_sim_grad_sum(const vle_sim *s, const char *param, double *out, size_t count,
                     vle_error *err) {
  int p = vle_model_find_param(s->m, param);
  if (p < 0) return vle_fail(err, "model '%s' has no parameter named '%s'", s->m->name, param);
  if (s->gsum_off[p] == VS_NONE)
    return vle_fail(err, "parameter '%s': no gradient sum (it has no grad buffer, or the sim was "
                    "created without accumulate_grads)", param);
  if (vs_count_ok(s, s->m->params[p].buf, count, err)) return -1;
  memcpy(out, vs_gsum_mem(s, &s->st) + s->gsum_off[p], count * sizeof *out);
  return 0;
}
