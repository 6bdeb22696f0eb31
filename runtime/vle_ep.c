/*
 * vle_ep.c - equilibrium propagation (docs/theory.md §10b, docs/runtime.md "Equilibrium
 * propagation"): a model whose populations follow the gradient flow learns by it, and one
 * step of the sim is one sample (one row of the data, t fixed):
 *
 *   free      ep_free steps of the forward kernel (step_free) with γ = 0: relax to u⁰;
 *             G⁰ = ∂E/∂θ at u⁰ (the grads kernel, batch mean)
 *   nudged    from u⁰, ep_nudged steps with γ = +1 (the cost weighted γβ): G⁺ at u^β
 *   symmetric from u⁰ again, ep_nudged steps with γ = −1: G⁻ at u^{−β}
 *   update    the contrast G⁺ − G⁰, or (G⁺ − G⁻)/2 when symmetric: the optimizer takes it
 *             divided by β, the grad sums (vle_sim_grad_sum) add dt times it, which
 *             `vlec grad` divides by β as for every scheme
 *
 * and the state returns to the free equilibrium u⁰, which the step's recordings see and the
 * next sample starts from. β is the weight of the cost in the energy (the beta signal the
 * step writes). Expects: a model with settings.eqprop and the kernels step_free and grads
 * (grads only when learning or accumulating). Guarantees: parameters change only through
 * vs_learn; γ is restored to the sim's value after the step.
 */
#include <stdlib.h>
#include <string.h>

#include "vle_err.h"
#include "vle_internal.h"

/* The bytes a phase changes: streams, pubs, states, signals and pubnexts (vs_group order),
 * everything before the parameters. */
static size_t ep_lo(const vle_sim *s) { return s->group_off[VS_G_STREAM]; }
static size_t ep_len(const vle_sim *s) { return s->group_off[VS_G_PARAM] - ep_lo(s); }

/* Reals of every learned parameter's grad buffer, in opt_params order. */
static size_t ep_grad_count(const vle_sim *s) {
  size_t n = 0;
  for (int k = 0; k < s->nopt_all; k++) n += s->count[s->m->params[s->opt_params[k]].grad];
  return n;
}

int vs_ep_init(vle_sim *s, vle_error *err) {
  const vle_model *m = s->m;
  if (!m->kernels[VK_FREE])
    return vle_fail(err, "model '%s' follows the gradient flow but has no kernel step_free",
                    m->name);
  if ((s->learn || s->acc) && !m->kernels[VK_GRADS])
    return vle_fail(err, "model '%s' has no kernel grads: equilibrium propagation cannot learn",
                    m->name);
  if (m->sig_beta < 0 || m->sig_gamma < 0)
    return vle_fail(err, "model '%s': equilibrium propagation needs the signals beta and gamma",
                    m->name);
  s->errors = "eqprop";
  s->adjoint = false;
  s->step_fn = m->kernels[VK_FREE];
  s->ep.on = true;
  s->ep.save = malloc(ep_len(s) + 1);
  size_t n = ep_grad_count(s);
  s->ep.g0 = calloc(2 * n + 1, sizeof *s->ep.g0);
  if (!s->ep.save || !s->ep.g0) return vle_fail(err, "out of memory");
  s->ep.g1 = s->ep.g0 + n;
  return 0;
}

void vs_ep_free(vle_ep *e) {
  free(e->save);
  free(e->g0);
  memset(e, 0, sizeof *e);
}

static void ep_set_gamma(vle_sim *s, double g) {
  re_set(s->st.bufs[s->m->sig_gamma], 0, s->m->es, g);
}

/* n steps of the forward kernel at the current sample; the pub pairs swap after each. */
static void ep_phase(vle_sim *s, double gamma, long n) {
  ep_set_gamma(s, gamma);
  for (long i = 0; i < n; i++) {
    vs_kernel(s, s->step_fn, s->st.bufs);
    vs_set_parity(s, &s->st, s->st.parity ^ 1);
  }
}

static void ep_save(vle_sim *s) {
  memcpy(s->ep.save, s->st.mem + ep_lo(s), ep_len(s));
  s->ep.parity = s->st.parity;
}

static void ep_restore(vle_sim *s) {
  memcpy(s->st.mem + ep_lo(s), s->ep.save, ep_len(s));
  vs_set_parity(s, &s->st, s->ep.parity);
}

/* The grads kernel at the current state, copied out to g (or, with scale != 0, combined
 * into the grad buffers: grad = scale * (grad − g)). */
static void ep_grads(vle_sim *s, double *g, double scale) {
  const vle_model *m = s->m;
  vs_kernel(s, m->kernels[VK_GRADS], s->st.bufs);
  size_t j = 0;
  for (int k = 0; k < s->nopt_all; k++) {
    int b = m->params[s->opt_params[k]].grad;
    void *gb = s->st.bufs[b];
    for (size_t i = 0; i < s->count[b]; i++, j++) {
      double v = re_get(gb, i, m->es);
      if (scale == 0) g[j] = v;
      else re_set(gb, i, m->es, scale * (v - g[j]));
    }
  }
}

static void ep_scale_grads(vle_sim *s, double f) {
  const vle_model *m = s->m;
  for (int k = 0; k < s->nopt_all; k++) {
    int b = m->params[s->opt_params[k]].grad;
    for (size_t i = 0; i < s->count[b]; i++)
      re_set(s->st.bufs[b], i, m->es, f * re_get(s->st.bufs[b], i, m->es));
  }
}

void vs_ep_step(vle_sim *s) {
  const vle_settings *st = &s->m->settings;
  bool learn = s->learn && !s->hold, acc = s->acc && !s->hold;
  vs_streams(s, &s->st);
  ep_phase(s, 0, st->ep_free);
  if (learn || acc) {
    double beta = re_get(s->st.bufs[s->m->sig_beta], 0, s->m->es);
    ep_save(s);
    ep_grads(s, s->ep.g0, 0);                  /* G⁰ */
    ep_phase(s, 1, st->ep_nudged);
    if (st->ep_symmetric) {
      ep_grads(s, s->ep.g1, 0);                /* G⁺ */
      ep_restore(s);
      ep_phase(s, -1, st->ep_nudged);
      ep_grads(s, s->ep.g1, -0.5);             /* grad = (G⁺ − G⁻)/2 */
    } else {
      ep_grads(s, s->ep.g0, 1);                /* grad = G⁺ − G⁰ */
    }
    ep_restore(s);
    /* The grad sums hold Σ dt·grad, which `vlec grad` divides by β like every scheme's
     * (docs/theory.md, the objective J); the optimizer takes grad/β. */
    if (acc) vs_accumulate(s);
    if (learn) {
      ep_scale_grads(s, 1 / beta);
      vs_learn(s, false);
    }
  }
  ep_set_gamma(s, s->gamma);
  vs_advance(s, &s->st);
}
