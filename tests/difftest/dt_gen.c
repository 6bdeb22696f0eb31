/* dt_gen.c - see dt_gen.h. */
#include "dt_gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a seeded stream (splitmix64): the generator must not depend on libc's rand ---------- */

typedef struct dtg_rng { uint64_t s; } dtg_rng;

static uint64_t rng_next(dtg_rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rng_unit(dtg_rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static double rng_uniform(dtg_rng *r, double lo, double hi) { return lo + (hi - lo) * rng_unit(r); }
static int rng_int(dtg_rng *r, int lo, int hi) {
  return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}
static bool rng_chance(dtg_rng *r, double p) { return rng_unit(r) < p; }
/* Values rounded to 4 decimals: readable models, and still exact doubles both sides. */
static double rng_round(dtg_rng *r, double lo, double hi) {
  return round(rng_uniform(r, lo, hi) * 1e4) / 1e4;
}

unsigned dtg_default_flags(void) {
  const char *e = getenv("DT_FLAGS");
  return e && *e ? (unsigned)strtoul(e, NULL, 0) : DTG_DEFAULT_FLAGS;
}

const char *dtg_flag_names(unsigned flags, char *buf, size_t len) {
  static const char *names[] = { "cost_name", "sigma_factor", "prosp_q", "user_phi", "lateral",
                                 "extra_cost", "const_factor", "lin_penalty", "fast_loop", "tau_const",
                                 "gelu", "prior", "tied", "predict_input" };
  _Static_assert(sizeof names / sizeof *names == DTG_NFLAGS, "a name for every flag");
  buf[0] = 0;
  for (int i = 0; i < DTG_NFLAGS; i++)
    if (flags & (1u << i)) {
      size_t n = strlen(buf);
      snprintf(buf + n, len - n, "%s%s", n ? "," : "", names[i]);
    }
  return buf;
}

/* ---- the model's pieces ------------------------------------------------------------------- */

static int add_param(dtg_model *m, dtg_rng *r, dtg_pkind kind, int pop, const char *name,
                     int rows, int cols, double scale) {
  dtg_param *p = &m->par[m->npar];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->kind = kind;
  p->pop = pop;
  p->rows = rows;
  p->cols = cols;
  p->learn = kind == DTG_P_WEIGHT || kind == DTG_P_BIAS;
  for (int i = 0; i < rows * cols; i++) p->v[i] = rng_round(r, -scale, scale);
  return m->npar++;
}

static int add_const(dtg_model *m, const char *name, int n, const double *v) {
  dtg_const *c = &m->cst[m->ncst];
  snprintf(c->name, sizeof c->name, "%s", name);
  c->n = n;
  memcpy(c->v, v, (size_t)n * sizeof *v);
  return m->ncst++;
}

/* A time constant: a vector of per-neuron values or one value for all, written directly or
 * through a const. */
static int add_tau(dtg_model *m, dtg_rng *r, int p, dtg_pkind kind, dtg_tauform *form, double lo,
                   double hi) {
  dtg_pop *P = &m->pop[p];
  char name[24];
  snprintf(name, sizeof name, "%s.%s", P->name, kind == DTG_P_TAU_M ? "tau_m" : "tau_r");
  int i = add_param(m, r, kind, p, name, P->n, 1, 0);
  bool vec = P->n > 1 && rng_chance(r, 0.5);
  double a = rng_round(r, lo, hi);
  *form = vec ? DTG_TAU_VECTOR : DTG_TAU_SCALAR;
  /* draws only under the flag: the models of the other flags stay what they were */
  if (vec && (m->flags & DTG_F_TAU_CONST) && rng_chance(r, 0.5))
    *form = rng_chance(r, 0.5) ? DTG_TAU_CONST : DTG_TAU_FILL;
  if (*form == DTG_TAU_FILL) {
    int split = rng_int(r, 1, P->n - 1);
    double b = rng_round(r, lo, hi);
    for (int j = 0; j < P->n; j++) m->par[i].v[j] = j < split ? a : b;
  } else {
    for (int j = 0; j < P->n; j++) m->par[i].v[j] = vec ? rng_round(r, lo, hi) : a;
  }
  return i;
}

static void add_src(dtg_model *m, dtg_rng *r, int p, dtg_src_kind kind, int from, double gain) {
  dtg_pop *P = &m->pop[p];
  int cols = kind == DTG_SRC_INPUT ? m->nin : m->pop[from].n;
  char name[24];
  snprintf(name, sizeof name, "W%d", m->npar);
  dtg_src *s = &P->src[P->nsrc++];
  s->kind = kind;
  s->from = from;
  s->w = add_param(m, r, DTG_P_WEIGHT, p, name, P->n, cols, gain * 1.5 / sqrt(cols));
  s->fn = kind == DTG_SRC_RATE && m->nfn && rng_chance(r, 0.3) ? rng_int(r, 0, m->nfn - 1) : -1;
}

/* The owned term's scale: plain, c*0.5*|.|^2, or a scalar/vector precision s. */
static void pick_scale(dtg_model *m, dtg_rng *r, int p) {
  dtg_pop *P = &m->pop[p];
  double u = rng_unit(r), v[DTG_MAXN];
  char name[16];
  snprintf(name, sizeof name, "k_%s", P->name);
  P->kconst = -1;
  if (u < 0.4) { P->scale = DTG_SCALE_ONE; return; }
  if (u < 0.6) {
    P->scale = DTG_SCALE_C;
    v[0] = rng_round(r, 0.3, 3.0);
    P->kconst = add_const(m, name, 1, v);
    m->cst[P->kconst].literal = !(m->flags & DTG_F_CONST_FACTOR);
    return;
  }
  P->scale = (m->flags & DTG_F_SIGMA_FACTOR) && rng_chance(r, 0.5) ? DTG_SCALE_SIGMA_FACT
                                                                    : DTG_SCALE_SIGMA;
  int n = P->n > 1 && rng_chance(r, 0.5) ? P->n : 1;
  for (int i = 0; i < n; i++) v[i] = rng_round(r, 0.5, 2.0);
  P->kconst = add_const(m, name, n, v);
}

static void make_pop(dtg_model *m, dtg_rng *r, int p, int nhid) {
  dtg_pop *P = &m->pop[p];
  bool out = p == nhid;
  snprintf(P->name, sizeof P->name, out ? "o" : "h%d", p + 1);
  P->n = out ? rng_int(r, 1, 3) : rng_int(r, 1, DTG_MAXN);
  P->phi = out ? (rng_chance(r, 0.6) ? DTG_LINEAR : (dtg_phi)rng_int(r, 1, DTG_NBASE - 1))
               : (dtg_phi)rng_int(r, 0, DTG_NBASE - 1);
  if ((m->flags & DTG_F_GELU) && !out && rng_chance(r, 0.2)) P->phi = DTG_GELU;
  bool user = (m->flags & DTG_F_USER_PHI) && m->nfn && rng_chance(r, 0.3);
  P->phi_fn = user ? rng_int(r, 0, m->nfn - 1) : -1;
  P->tau_m = add_tau(m, r, p, DTG_P_TAU_M, &P->tau_m_form, 0.2, 1.5);
  P->tau_r = add_tau(m, r, p, DTG_P_TAU_R, &P->tau_r_form, 0.05, 1.5);
  m->par[P->tau_m].learn = rng_chance(r, 0.2);
  m->par[P->tau_r].learn = rng_chance(r, 0.15);
  P->explicit_prosp = rng_chance(r, 0.3);
  pick_scale(m, r, p);
  P->bias = -1;
}

/* A loop q -> p (q later) closes a cycle p -> ... -> q -> p through u': each population's u'
 * reads the rates of the one before, which read its u' through tau_r. With a gain around
 * the cycle near or above 1 the sync scheme's one-step delay is no longer a small
 * perturbation: its trajectories depend on rounding as dt -> 0, and the continuous adjoint
 * diverges (tests/data/difftest/fast_loop.vle). So every population on the cycle looks ahead
 * less than the cycle integrates: tau_r <= min tau_m / 2 over the cycle (one value for all
 * neurons keeps a scalar scalar; a fill keeps its blocks). */
static void slow_cycle(dtg_model *m, int p, int q) {
  double lim = INFINITY;
  for (int c = p; c <= q; c++)
    for (int j = 0; j < m->pop[c].n; j++) lim = fmin(lim, 0.5 * m->par[m->pop[c].tau_m].v[j]);
  for (int c = p; c <= q; c++)
    for (int j = 0; j < m->pop[c].n; j++) {
      double *tr = &m->par[m->pop[c].tau_r].v[j];
      *tr = fmin(*tr, lim);
    }
}

/* Sources: the layer below, skips from the input or earlier layers, loops from later ones. */
static void wire_pop(dtg_model *m, dtg_rng *r, int p) {
  dtg_pop *P = &m->pop[p];
  add_src(m, r, p, p == 0 ? DTG_SRC_INPUT : DTG_SRC_RATE, p - 1, 1.0);
  if (p > 0 && rng_chance(r, 0.3)) add_src(m, r, p, DTG_SRC_INPUT, 0, 1.0);
  for (int q = 0; q < p - 1; q++)
    if (rng_chance(r, 0.25)) add_src(m, r, p, DTG_SRC_RATE, q, 1.0);
  for (int q = p + 1; q < m->npop; q++)
    if (rng_chance(r, 0.15) && P->nsrc < DTG_MAXSRC) {
      bool fast = m->flags & DTG_F_FAST_LOOP;
      add_src(m, r, p, DTG_SRC_RATE, q, fast ? 0.5 : 0.25);
      if (!fast) slow_cycle(m, p, q);
    }
  if (rng_chance(r, 0.6)) {
    char name[16];
    snprintf(name, sizeof name, "b%d", p + 1);
    P->bias = add_param(m, r, DTG_P_BIAS, p, name, P->n, 1, 0.3);
  }
}

static void make_streams(dtg_model *m, dtg_rng *r) {
  m->nin = rng_int(r, 1, DTG_MAXIN);
  for (int i = 0; i < m->nin; i++) {
    m->in_amp[i] = rng_round(r, 0.3, 1.2);
    m->in_w[i] = rng_round(r, 0.5, 4.0);
    m->in_ph[i] = rng_round(r, -2, 2);
    m->in_off[i] = rng_round(r, -0.3, 0.3);
  }
  for (int i = 0; i < DTG_MAXN; i++) {
    m->tg_amp[i] = rng_round(r, 0.2, 0.8);
    m->tg_w[i] = rng_round(r, 0.5, 3.0);
    m->tg_ph[i] = rng_round(r, -2, 2);
    m->tg_off[i] = rng_round(r, -0.3, 0.3);
  }
}

static void make_cost(dtg_model *m, dtg_rng *r, int nhid) {
  static const char *names[] = { "nudge", "kappa", "wc", "strength" };
  double v = rng_round(r, 0.3, 1.5);
  bool other = (m->flags & DTG_F_COST_NAME) && rng_chance(r, 0.7);
  m->beta = add_const(m, other ? names[rng_int(r, 0, 3)] : "beta", 1, &v);
  m->lam = m->lam_pop = -1;
  if ((m->flags & DTG_F_EXTRA_COST) && rng_chance(r, 0.4)) {
    v = rng_round(r, 0.05, 0.3);
    int p = rng_int(r, 0, nhid - 1);
    /* lam*|rate(h)|^2 on a linear h is affine in h': a second mismatch of h (docs/theory.md §2) */
    while (!(m->flags & DTG_F_LIN_PENALTY) && p < nhid && m->pop[p].phi == DTG_LINEAR &&
           m->pop[p].phi_fn < 0)
      p++;
    if (p < nhid) {
      m->lam = add_const(m, "lam", 1, &v);
      m->lam_pop = p;
    }
  }
}

/* DTG_F_LATERAL: W @ rate(h) in h's own mismatch, in about one population of five: a cycle
 * of one, capped like every other (tau_r <= tau_m / 2). Drawn from its own stream r, after
 * the wiring, so that the flag adds lateral sources to the models of the other flags
 * instead of drawing different ones. */
static void add_lateral(dtg_model *m, dtg_rng *r) {
  bool fast = m->flags & DTG_F_FAST_LOOP;
  for (int p = 0; p < m->npop; p++)
    if (rng_chance(r, 0.2) && m->pop[p].nsrc < DTG_MAXSRC) {
      add_src(m, r, p, DTG_SRC_RATE, p, fast ? 0.5 : 0.25);
      if (!fast) slow_cycle(m, p, p);
    }
}

/* Whether population `to` is reachable from `from` along the rates the populations read. */
static bool reaches(const dtg_model *m, int from, int to) {
  bool seen[DTG_MAXPOP] = { false };
  int stack[DTG_MAXPOP], n = 0;
  stack[n++] = from;
  seen[from] = true;
  while (n) {
    int c = stack[--n];
    if (c == to) return true;
    for (int d = 0; d < m->npop; d++)
      for (int s = 0; s < m->pop[d].nsrc; s++)
        if (m->pop[d].src[s].kind == DTG_SRC_RATE && m->pop[d].src[s].from == c && !seen[d])
          seen[d] = true, stack[n++] = d;
  }
  return false;
}

/* DTG_F_TIED: population d reads an earlier population c through the transpose of a weight
 * already declared, W[p, q] with rows |c| and cols |d| (a decoder reusing an encoder, as in
 * tests/data/trust/tied.vle). The edge c -> d closes no cycle (d does not reach c): a tied
 * weight carries the gain of its first use, and on a cycle that gain is what slow_cycle keeps
 * small (with it, the twins at tau_r := tau_m of EQUAL and LOCAL met the fast_loop.vle
 * instability: seed 6 of flags 0x16ef, prospective vs instantaneous 1e-8, 3e-5, 1.9 at
 * dt = 0.002, 0.001, 0.0005, while bptt stayed at 1e-8). */
static void add_tied(dtg_model *m, dtg_rng *r) {
  for (int d = 1; d < m->npop; d++) {
    dtg_pop *D = &m->pop[d];
    if (!rng_chance(r, 0.5) || D->nsrc >= DTG_MAXSRC) continue;
    int cand[DTG_MAXPOP * DTG_MAXSRC][2], n = 0;
    for (int p = 0; p < m->npop; p++)
      for (int s = 0; s < m->pop[p].nsrc; s++) {
        const dtg_src *S = &m->pop[p].src[s];
        const dtg_param *W = &m->par[S->w];
        if (S->transpose || W->cols != D->n) continue;
        for (int c = 0; c < d; c++)
          if (m->pop[c].n == W->rows && !reaches(m, d, c)) cand[n][0] = S->w, cand[n++][1] = c;
      }
    if (!n) continue;
    int k = rng_int(r, 0, n - 1);
    dtg_src *T = &D->src[D->nsrc++];
    T->kind = DTG_SRC_RATE;
    T->from = cand[k][1];
    T->w = cand[k][0];
    T->transpose = true;
    T->fn = m->nfn && rng_chance(r, 0.3) ? rng_int(r, 0, m->nfn - 1) : -1;
  }
}

/* DTG_F_PREDICT_INPUT: the network predicts its input from a population's rate through a
 * decoder Wd[x, h]; the term belongs to the input (e_x = m_x) and stays in R. */
static void add_pred(dtg_model *m, dtg_rng *r) {
  m->pred_w = m->pred_pop = -1;
  if (!(m->flags & DTG_F_PREDICT_INPUT) || !rng_chance(r, 0.5)) return;
  m->pred_pop = rng_int(r, 0, m->npop - 1);
  int h = m->pop[m->pred_pop].n;
  char name[16];
  snprintf(name, sizeof name, "Wd%d", m->npar);
  m->pred_w = add_param(m, r, DTG_P_WEIGHT, -1, name, m->nin, h, 1.5 / sqrt(h));
}

/* DTG_F_PRIOR: up to two priors, each on a learned weight or bias (never twice the same). An
 * L1 prior's values stay >= 1e-3 from 0: J's central differences (step 1e-6) then never
 * straddle the kink of |.|. */
static void add_priors(dtg_model *m, dtg_rng *r) {
  m->nprior = 0;
  if (!(m->flags & DTG_F_PRIOR)) return;
  for (int k = 0; k < 2; k++) {
    if (!rng_chance(r, 0.5)) continue;
    int i = rng_int(r, 0, m->npar - 1), tries = 0;
    while (tries++ < m->npar &&
           (!m->par[i].learn || (m->nprior && m->prior[0].par == i)))
      i = (i + 1) % m->npar;
    if (!m->par[i].learn || (m->nprior && m->prior[0].par == i)) continue;
    bool l1 = rng_chance(r, 0.5);
    double v = rng_round(r, 0.01, 0.3);
    char name[16];
    snprintf(name, sizeof name, "lp%d", m->nprior + 1);
    if (l1)
      for (int j = 0; j < m->par[i].rows * m->par[i].cols; j++)
        if (fabs(m->par[i].v[j]) < 1e-3) m->par[i].v[j] = m->par[i].v[j] < 0 ? -1e-3 : 1e-3;
    m->prior[m->nprior].par = i;
    m->prior[m->nprior].l1 = l1;
    m->prior[m->nprior++].lam = add_const(m, name, 1, &v);
  }
}

static void make_fns(dtg_model *m, dtg_rng *r) {
  m->nfn = rng_int(r, 0, DTG_MAXFN);
  for (int i = 0; i < m->nfn; i++) {
    snprintf(m->fn[i].name, sizeof m->fn[i].name, "f%d", i + 1);
    m->fn[i].form = rng_int(r, 0, 1);
    m->fn[i].c = rng_round(r, 0.05, 0.5);
  }
}

void dtg_generate(dtg_model *m, uint64_t seed, unsigned attempt, unsigned flags) {
  memset(m, 0, sizeof *m);
  dtg_rng r = { seed * 0x2545F4914F6CDD1Dull + 1 + attempt * 0x9E3779B97F4A7C15ull };
  m->seed = seed;
  m->flags = flags;
  snprintf(m->name, sizeof m->name, "dt%llu", (unsigned long long)seed);
  make_streams(m, &r);
  make_fns(m, &r);
  int nhid = rng_int(&r, 1, 4);
  m->npop = nhid + 1;
  for (int p = 0; p < m->npop; p++) make_pop(m, &r, p, nhid);
  for (int p = 0; p < m->npop; p++) wire_pop(m, &r, p);
  make_cost(m, &r, nhid);
  m->dt = 0.001;
  m->gamma = rng_round(&r, 0.1, 0.5);
  /* the constructs of docs/theory.md §8, drawn last and only under their flags: each adds
   * to the model the other flags draw */
  if (flags & DTG_F_LATERAL) {
    dtg_rng r2 = { r.s ^ 0xD1B54A32D192ED03ull };
    add_lateral(m, &r2);
  }
  if (flags & DTG_F_TIED) add_tied(m, &r);
  add_pred(m, &r);
  add_priors(m, &r);
}

/* ---- edits (reduction of a failing model) ----------------------------------------------- */

/* Whether weight w has a use other than source k of population p. */
static bool other_use(const dtg_model *m, int w, int p, int k) {
  for (int q = 0; q < m->npop; q++)
    for (int s = 0; s < m->pop[q].nsrc; s++)
      if (m->pop[q].src[s].w == w && !(q == p && s == k)) return true;
  return false;
}

/* Drops the priors on parameter i (it is about to be dropped). */
static void drop_priors(dtg_model *m, int i) {
  for (int k = 0; k < m->nprior; k++)
    if (m->prior[k].par == i) {
      m->cst[m->prior[k].lam].literal = true;   /* not declared any more */
      memmove(&m->prior[k], &m->prior[k + 1], (size_t)(m->nprior - k - 1) * sizeof m->prior[0]);
      m->nprior--;
      k--;
    }
}

static bool edit_nosrc(dtg_model *m, int p, int k) {
  dtg_pop *P = &m->pop[p];
  if (k < 1 || k >= P->nsrc) return false;
  int w = P->src[k].w;
  /* the use that declares a weight goes only with its transposed uses */
  if (!P->src[k].transpose && other_use(m, w, p, k)) return false;
  if (!P->src[k].transpose) {
    m->par[w].dead = true;
    m->par[w].learn = false;
    drop_priors(m, w);
  }
  memmove(&P->src[k], &P->src[k + 1], (size_t)(P->nsrc - k - 1) * sizeof P->src[0]);
  P->nsrc--;
  return true;
}

static bool edit_nobias(dtg_model *m, int p) {
  if (m->pop[p].bias < 0) return false;
  m->par[m->pop[p].bias].dead = true;
  m->par[m->pop[p].bias].learn = false;
  drop_priors(m, m->pop[p].bias);
  m->pop[p].bias = -1;
  return true;
}

static bool edit_all(dtg_model *m, int what) {
  bool any = false;
  for (int p = 0; p < m->npop; p++) {
    dtg_pop *P = &m->pop[p];
    for (int s = 0; what == 0 && s < P->nsrc; s++) any |= P->src[s].fn >= 0, P->src[s].fn = -1;
    if (what == 0) any |= P->phi_fn >= 0, P->phi_fn = -1;
    if (what == 1)
      for (int t = 0; t < 2; t++) {
        dtg_param *q = &m->par[t ? P->tau_r : P->tau_m];
        any |= q->learn;
        q->learn = false;
      }
  }
  return any;
}

/* Keeps neuron 0 of population p: the first row of what p receives, the first column of
 * what it sends, the first element of its vectors. */
/* Whether population p's size is tied to another's by a transposed use (DTG_F_TIED): W[a, b]
 * read as W' @ rate(c) in d needs |c| = |a| and |d| = |b|. */
static bool tied_size(const dtg_model *m, int p) {
  for (int d = 0; d < m->npop; d++)
    for (int s = 0; s < m->pop[d].nsrc; s++) {
      const dtg_src *T = &m->pop[d].src[s];
      if (!T->transpose) continue;
      if (d == p || T->from == p || m->par[T->w].pop == p) return true;
      for (int q = 0; q < m->npop; q++)
        for (int k = 0; k < m->pop[q].nsrc; k++) {
          const dtg_src *S = &m->pop[q].src[k];
          if (S->w == T->w && !S->transpose && S->kind == DTG_SRC_RATE && S->from == p) return true;
        }
    }
  return false;
}

static bool edit_n1(dtg_model *m, int p) {
  dtg_pop *P = &m->pop[p];
  if (P->n == 1 || tied_size(m, p)) return false;
  if (m->pred_pop == p) {   /* the decoder Wd[x, p] keeps its first column */
    dtg_param *d = &m->par[m->pred_w];
    for (int row = 0; row < d->rows; row++) d->v[row] = d->v[row * d->cols];
    d->cols = 1;
  }
  for (int i = 0; i < m->npar; i++) {
    dtg_param *q = &m->par[i];
    if (q->pop == p) q->rows = 1;
    for (int r = 0; r < m->npop; r++)
      for (int s = 0; s < m->pop[r].nsrc; s++)
        if (m->pop[r].src[s].w == i && m->pop[r].src[s].kind == DTG_SRC_RATE &&
            !m->pop[r].src[s].transpose && m->pop[r].src[s].from == p) {
          for (int row = 0; row < q->rows; row++) q->v[row] = q->v[row * q->cols];
          q->cols = 1;
        }
  }
  if (P->kconst >= 0) m->cst[P->kconst].n = 1;
  P->n = 1;
  P->tau_m_form = P->tau_r_form = DTG_TAU_SCALAR;
  return true;
}

bool dtg_edit(dtg_model *m, const char *edit) {
  char op[16];
  int p = -1, k = -1;
  int n = sscanf(edit, "%15s %d %d", op, &p, &k);
  bool has_p = n >= 2 && p >= 0 && p < m->npop;
  if (n >= 1 && !strcmp(op, "nofn")) return edit_all(m, 0);
  if (n >= 1 && !strcmp(op, "fixtau")) return edit_all(m, 1);
  if (n >= 1 && !strcmp(op, "noprior")) {
    bool any = m->nprior > 0;
    while (m->nprior) drop_priors(m, m->prior[0].par);
    return any;
  }
  if (n >= 1 && !strcmp(op, "nopred")) {
    if (m->pred_w < 0) return false;
    m->par[m->pred_w].dead = true;
    m->par[m->pred_w].learn = false;
    drop_priors(m, m->pred_w);
    m->pred_w = m->pred_pop = -1;
    return true;
  }
  if (n >= 1 && !strcmp(op, "nolam")) {
    bool any = m->lam >= 0;
    m->lam = m->lam_pop = -1;
    return any;
  }
  if (has_p && !strcmp(op, "nosrc") && n == 3) return edit_nosrc(m, p, k);
  if (has_p && !strcmp(op, "nobias")) return edit_nobias(m, p);
  if (has_p && !strcmp(op, "n1")) return edit_n1(m, p);
  if (has_p && !strcmp(op, "one")) {
    bool any = m->pop[p].scale != DTG_SCALE_ONE;
    m->pop[p].scale = DTG_SCALE_ONE;
    if (m->pop[p].kconst >= 0) m->cst[m->pop[p].kconst].literal = true;   /* not declared */
    m->pop[p].kconst = -1;
    return any;
  }
  return false;
}

/* ---- shared maths ----------------------------------------------------------------------- */

double dtg_phi_eval(dtg_phi f, double x) {
  switch (f) {
  case DTG_LINEAR: return x;
  case DTG_TANH: return tanh(x);
  case DTG_SIGMOID: return 1 / (1 + exp(-x));
  case DTG_SOFTPLUS: return log1p(exp(-fabs(x))) + fmax(x, 0);
  case DTG_SIN: return sin(x);
  case DTG_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
  case DTG_NPHI: break;
  }
  abort();   /* a phi without a formula is a bug of the generator */
}

const char *dtg_phi_name(dtg_phi f) {
  static const char *n[DTG_NPHI] = { "linear", "tanh", "sigmoid", "softplus", "sin", "gelu" };
  if ((unsigned)f >= DTG_NPHI) abort();
  return n[f];
}

double dtg_rate_eval(const dtg_model *m, const dtg_pop *p, double x) {
  return p->phi_fn >= 0 ? dtg_fn_eval(&m->fn[p->phi_fn], x) : dtg_phi_eval(p->phi, x);
}

double dtg_fn_eval(const dtg_fn *f, double v) {
  return f->form == 0 ? tanh(v) + f->c * v : f->c * sin(v) + v;
}

double dtg_scale_k(const dtg_model *m, const dtg_pop *p, int i) {
  if (p->scale == DTG_SCALE_ONE) return 1;
  const dtg_const *c = &m->cst[p->kconst];
  if (p->scale == DTG_SCALE_C) return sqrt(c->v[0]);
  return c->v[c->n == 1 ? 0 : i];
}

bool dtg_has_q(const dtg_model *m) {
  for (int p = 0; p < m->npop; p++)
    for (int i = 0; i < m->pop[p].n; i++)
      if (dtg_scale_k(m, &m->pop[p], i) != 1) return true;
  return false;
}

/* ---- printing ------------------------------------------------------------------------- */

/* A number the parser reads back exactly; negatives in parentheses. */
static void num(FILE *o, double v) { fprintf(o, v < 0 ? "(%.17g)" : "%.17g", v); }

static void vec(FILE *o, const double *v, int n, bool as_vector) {
  if (!as_vector) { num(o, v[0]); return; }
  fputc('[', o);
  for (int i = 0; i < n; i++) {
    if (i) fputs(", ", o);
    num(o, v[i]);
  }
  fputc(']', o);
}

static void print_streams(const dtg_model *m, FILE *o) {
  fprintf(o, "input x[%d] = [", m->nin);
  for (int i = 0; i < m->nin; i++) {
    fputs(i ? ", " : "", o);
    num(o, m->in_amp[i]); fputs("*sin(", o); num(o, m->in_w[i]); fputs("*t + ", o);
    num(o, m->in_ph[i]); fputs(") + ", o); num(o, m->in_off[i]);
  }
  const dtg_pop *out = &m->pop[m->npop - 1];
  fprintf(o, "]\ntarget y[%d] = [", out->n);
  for (int i = 0; i < out->n; i++) {
    fputs(i ? ", " : "", o);
    num(o, m->tg_amp[i]); fputs("*cos(", o); num(o, m->tg_w[i]); fputs("*t + ", o);
    num(o, m->tg_ph[i]); fputs(") + ", o); num(o, m->tg_off[i]);
  }
  fputs("]\n", o);
}

/* The const a time constant is written through (DTG_TAU_CONST, DTG_TAU_FILL), if any. */
static void print_tau_const(const dtg_model *m, const dtg_pop *P, int which, FILE *o) {
  dtg_tauform f = which ? P->tau_r_form : P->tau_m_form;
  const double *v = m->par[which ? P->tau_r : P->tau_m].v;
  if (f != DTG_TAU_CONST && f != DTG_TAU_FILL) return;
  fprintf(o, "const %s_%s = ", which ? "tr" : "tm", P->name);
  if (f == DTG_TAU_CONST) vec(o, v, P->n, true);
  else {
    int k = 1;
    while (k < P->n && v[k] == v[0]) k++;
    if (k == P->n) fprintf(o, "fill(%d, %.17g)", P->n, v[0]);
    else fprintf(o, "concat(fill(%d, %.17g), fill(%d, %.17g))", k, v[0], P->n - k, v[k]);
  }
  fputc('\n', o);
}

static void print_tau(const dtg_model *m, const dtg_pop *P, int which, FILE *o) {
  dtg_tauform f = which ? P->tau_r_form : P->tau_m_form;
  if (f == DTG_TAU_CONST || f == DTG_TAU_FILL) fprintf(o, "%s_%s", which ? "tr" : "tm", P->name);
  else vec(o, m->par[which ? P->tau_r : P->tau_m].v, P->n, f == DTG_TAU_VECTOR);
}

static void print_pops(const dtg_model *m, FILE *o) {
  for (int p = 0; p < m->npop; p++) {
    const dtg_pop *P = &m->pop[p];
    print_tau_const(m, P, 0, o);
    print_tau_const(m, P, 1, o);
    fprintf(o, "population %s[%d] { tau_m = ", P->name, P->n);
    print_tau(m, P, 0, o);
    fputs("; tau_r = ", o);
    print_tau(m, P, 1, o);
    fprintf(o, "; phi = %s }\n", P->phi_fn >= 0 ? m->fn[P->phi_fn].name : dtg_phi_name(P->phi));
  }
}

static void print_params(const dtg_model *m, FILE *o) {
  for (int i = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (p->dead) continue;
    if (i == m->pred_w) {
      fprintf(o, "weight %s[x, %s]\n", p->name, m->pop[m->pred_pop].name);
      continue;
    }
    const char *post = m->pop[p->pop].name;
    if (p->kind == DTG_P_BIAS) fprintf(o, "bias %s[%s]\n", p->name, post);
    if (p->kind != DTG_P_WEIGHT) continue;
    for (int q = 0; q < m->npop; q++)
      for (int s = 0; s < m->pop[q].nsrc; s++)
        if (m->pop[q].src[s].w == i && !m->pop[q].src[s].transpose) {
          const dtg_src *S = &m->pop[q].src[s];
          fprintf(o, "weight %s[%s, %s]\n", p->name, post,
                  S->kind == DTG_SRC_INPUT ? "x" : m->pop[S->from].name);
        }
  }
}

static void print_drive(const dtg_model *m, const dtg_pop *P, FILE *o) {
  fputc('(', o);
  for (int s = 0; s < P->nsrc; s++) {
    const dtg_src *S = &P->src[s];
    fprintf(o, "%s%s%s @ ", s ? " + " : "", m->par[S->w].name, S->transpose ? "'" : "");
    if (S->kind == DTG_SRC_INPUT) fputc('x', o);
    else if (S->fn >= 0) fprintf(o, "%s(rate(%s))", m->fn[S->fn].name, m->pop[S->from].name);
    else fprintf(o, "rate(%s)", m->pop[S->from].name);
  }
  if (P->bias >= 0) fprintf(o, " + %s", m->par[P->bias].name);
  fputc(')', o);
}

static void print_term(const dtg_model *m, const dtg_pop *P, FILE *o) {
  char pr[48];
  if (P->explicit_prosp) snprintf(pr, sizeof pr, "%s + %s.tau_m * %s'", P->name, P->name, P->name);
  else snprintf(pr, sizeof pr, "prosp(%s, %s.tau_m)", P->name, P->name);
  const char *k = P->kconst >= 0 ? m->cst[P->kconst].name : "";
  switch (P->scale) {
  case DTG_SCALE_ONE: fprintf(o, "0.5 * |%s - ", pr); break;
  case DTG_SCALE_C:
    if (m->cst[P->kconst].literal) fprintf(o, "%.17g * |%s - ", 0.5 * m->cst[P->kconst].v[0], pr);
    else fprintf(o, "%s * 0.5 * |%s - ", k, pr);
    break;
  case DTG_SCALE_SIGMA: fprintf(o, "0.5 * |%s * (%s) - %s * ", k, pr, k); break;
  case DTG_SCALE_SIGMA_FACT: fprintf(o, "0.5 * |%s * (%s - ", k, pr); break;
  }
  print_drive(m, P, o);
  fputs(P->scale == DTG_SCALE_SIGMA_FACT ? ")|^2" : "|^2", o);
}

static void print_energy(const dtg_model *m, FILE *o) {
  fputs("cost C = 0.5 * |y - rate(o)|^2\nenergy = ", o);
  for (int p = 0; p < m->npop; p++) {
    fputs(p ? "\n       + " : "", o);
    print_term(m, &m->pop[p], o);
  }
  fprintf(o, "\n       + %s * C", m->cst[m->beta].name);
  if (m->lam >= 0) fprintf(o, " + %s * |rate(%s)|^2", m->cst[m->lam].name, m->pop[m->lam_pop].name);
  if (m->pred_w >= 0)
    fprintf(o, "\n       + 0.5 * |x - %s @ rate(%s)|^2", m->par[m->pred_w].name,
            m->pop[m->pred_pop].name);
  for (int k = 0; k < m->nprior; k++) {
    const char *lp = m->cst[m->prior[k].lam].name, *w = m->par[m->prior[k].par].name;
    if (m->prior[k].l1) fprintf(o, "\n       + %s * sum(abs(%s))", lp, w);
    else fprintf(o, "\n       + 0.5 * %s * |%s|^2", lp, w);
  }
  fputc('\n', o);
}

static void print_learn(const dtg_model *m, FILE *o) {
  for (int tau = 0; tau < 2; tau++) {
    int n = 0;
    for (int i = 0; i < m->npar; i++) {
      const dtg_param *p = &m->par[i];
      bool is_tau = p->kind == DTG_P_TAU_M || p->kind == DTG_P_TAU_R;
      if (!p->learn || is_tau != (tau == 1)) continue;
      fprintf(o, "%s%s", n++ ? ", " : "learn ", p->name);
    }
    if (n) fprintf(o, " with sgd(%s)\n", tau ? "0.01" : "0.1");
  }
}

static bool fn_used(const dtg_model *m, int f) {
  for (int p = 0; p < m->npop; p++) {
    if (m->pop[p].phi_fn == f) return true;
    for (int s = 0; s < m->pop[p].nsrc; s++)
      if (m->pop[p].src[s].fn == f) return true;
  }
  return false;
}

void dtg_text(const dtg_model *m, FILE *o) {
  fprintf(o, "# generated by tests/difftest/dt_gen.c, seed %llu, flags %#x\nmodel %s\n",
          (unsigned long long)m->seed, m->flags, m->name);
  for (int i = 0; i < m->ncst; i++) {
    if (m->cst[i].literal) continue;
    fprintf(o, "const %s = ", m->cst[i].name);
    vec(o, m->cst[i].v, m->cst[i].n, m->cst[i].n > 1);
    fputc('\n', o);
  }
  for (int i = 0; i < m->nfn; i++)
    if (fn_used(m, i))
      fprintf(o, m->fn[i].form == 0 ? "fn %s(v) = tanh(v) + %.17g * v\n"
                                    : "fn %s(v) = %.17g * sin(v) + v\n",
            m->fn[i].name, m->fn[i].c);
  print_streams(m, o);
  print_pops(m, o);
  print_params(m, o);
  print_energy(m, o);
  print_learn(m, o);
  fprintf(o, "settings { dt = %.17g; gamma = %.17g; errors = prospective }\n", m->dt, m->gamma);
}

char *dtg_text_alloc(const dtg_model *m) {
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);
  dtg_text(m, f);
  fclose(f);
  return s;
}
