/*
 * test_kernels.c - the generated kernels of real models against oracles that do not
 * involve LLVM.
 *
 * Four models compiled from text through the whole pipeline (parse, check, derive, lower,
 * JIT): the GLE example (examples/gle_small), a softmax cross-entropy output, a network
 * with a skip connection and learnable τᵐ and τʳ (layers wide enough for whole runs of the dot
 * products), and the general energies of docs/theory.md §8 (priors, a transpose, lateral
 * recurrence read as published, an input's mismatch, back-projected as an error of step
 * k-1). For each:
 *
 *  1. interpreter: every kernel (init, streams, step_inst, step_prosp, step_free, grads,
 *     back_adj) run by the JIT equals the kernel-IR interpreter kir_run bit for bit, on
 *     random values in every buffer, batch 3;
 *  2. derivation: the outputs of every kernel equal the derived expressions of dv_system
 *     (g, q, a, b, c, udot_rhs, m, rate, the scheme formulas of dv_schemes, parameter
 *     gradients G, cost) evaluated by the symbolic engine's evaluator ex_eval, to 1e-12
 *     relative. The sync substitution is done here, from its definition (docs/abi.md,
 *     lower.c): during step k a population reads its own current state and what the others
 *     published at the end of step k-1 (their u(k-1), u̇(k-1)); g reads everything from
 *     step k-1 (states, errors, the weights before that step's update). The published
 *     buffers are made consistent with a known step k-1 by running one step first; then
 *     the own states and the weights are overwritten with new random values, so that the
 *     check sees the difference between current and published values. Two steps are
 *     checked in a row, so the second one also checks what the first published.
 *  3. precision: the f32 build agrees with the f64 build to ~1e-5 relative.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jit.h"
#include "pipeline.h"

enum { BATCH = 3 };

/* ---- the models ---------------------------------------------------------------------------- */

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = 0;
  fclose(f);
  return s;
}

/* Softmax cross-entropy on a linear output, 20 inputs (whole runs of 4 (f64) or 8 (f32) lanes + 4). */
static const char *XENT =
  "model t_xent\n"
  "const beta = 0.7\n"
  "input x[20]\n"
  "target y[5]\n"
  "population h[6] { tau_m = 0.8; tau_r = 0.3; phi = sigmoid }\n"
  "population o[5] { tau_m = [0.5, 0.6, 0.7, 0.8, 0.9]; tau_r = 0.4 }\n"
  "weight W1[h, x]\nbias b1[h]\nweight W2[o, h]\nbias b2[o]\n"
  "cost C = -dot(y, log_softmax(rate(o)))\n"
  "energy = 0.5 * |prosp(h, h.tau_m) - (W1 @ x + b1)|^2\n"
  "       + 0.5 * |prosp(o, o.tau_m) - (W2 @ rate(h) + b2)|^2 + beta * C\n"
  "learn W1, b1, W2, b2 with sgd(0.1)\n"
  "settings { dt = 0.05; gamma = 0.5 }\n";

/* A skip connection x -> h2 and h1 -> o, 17-wide h1, learnable time constants. */
static const char *SKIP =
  "model t_skip\n"
  "input x[3] = [sin(t), cos(2*t), 0.5*t]\n"
  "target y[2]\n"
  "population h1[17] { tau_m = 1.0; tau_r = 0.3; phi = softplus }\n"
  "population h2[4] { tau_m = [0.5, 0.7, 0.9, 1.1]; tau_r = 0.5; phi = tanh }\n"
  "population o[2] { tau_m = 0.5; tau_r = 0.5 }\n"
  "weight W1[h1, x]\nweight W2[h2, h1]\nweight Ws[h2, x]\nweight W3[o, h2]\nweight W4[o, h1]\n"
  "bias b2[h2]\n"
  "energy = 0.5 * |prosp(h1, h1.tau_m) - W1 @ x|^2\n"
  "       + 0.5 * |prosp(h2, h2.tau_m) - (W2 @ rate(h1) + Ws @ x + b2)|^2\n"
  "       + 0.5 * |prosp(o, o.tau_m) - (W3 @ rate(h2) + W4 @ rate(h1))|^2\n"
  "       + 0.5 * |y - rate(o)|^2\n"
  "learn W1, W2, Ws, W3, W4, b2 with sgd(0.1)\n"
  "learn h1.tau_m, h1.tau_r, h2.tau_m, h2.tau_r with sgd(0.01) clamp >= 0.1\n"
  "settings { dt = 0.02; gamma = 0.2 }\n";

/* The constructs of docs/theory.md §8: priors (L2 and L1), a transpose, lateral recurrence in
 * h (9 wide: whole runs of the lanes), a mismatch owned by the input. */
static const char *GENERAL =
  "model t_general\n"
  "const lam = 0.2\nconst mu = 0.03\n"
  "input x[5] = [sin(t), cos(2*t), 0.5*t, 1, sin(3*t)]\n"
  "target y[5]\n"
  "population h[9] { tau_m = 0.6; tau_r = [0.1, 0.2, 0.3, 0.4, 0.5, 0.1, 0.2, 0.3, 0.4]; phi = tanh }\n"
  "population o[5] { tau_m = 0.5; tau_r = 0.3 }\n"
  "weight W1[h, x]\nweight R[h, h]\nweight W2[o, h]\nweight Wd[x, h]\nbias b1[h]\n"
  "cost C = 0.5 * |y - rate(o)|^2\n"
  "energy = 0.5 * |prosp(h, h.tau_m) - (W1 @ x + R @ rate(h) + b1)|^2\n"
  "       + 0.5 * |prosp(o, o.tau_m) - (W2 @ rate(h) + W1' @ rate(h))|^2\n"
  "       + 0.5 * |x - Wd @ rate(h)|^2 + 0.5 * lam * |W1|^2 + mu * sum(abs(R)) + 0.3 * C\n"
  "learn W1, R, W2, Wd, b1 with sgd(0.1)\n"
  "settings { dt = 0.02; gamma = 0.2 }\n";

typedef struct tk_pop { int u, ud, e, g, v, rate; } tk_pop;

typedef struct tk_model {
  dg_ctx d;
  pl_unit u;
  dv_system *s;
  kir_program *p;
  jit_module *jit;
  tk_pop *pop;         /* buffers of each population */
  int *par;            /* buffer of each dv_param */
  int *in, *tg, *cn;   /* inputs, targets, consts */
  int t, dt, gamma, loss, energy, flag;
} tk_model;

static int buf(const tk_model *M, const char *name) {
  int b = kir_find(M->p, name);
  cr_assert(b >= 0, "no buffer %s", name);
  return b;
}

/* src is named path in messages and anchors relative file("...") initialisers. */
static tk_model *compile_at(const char *path, const char *src, bool f32) {
  tk_model *M = calloc(1, sizeof *M);
  dg_init(&M->d, stderr);
  pl_init(&M->u, &M->d);
  cr_assert(pl_front_text(&M->u, path, src) && pl_derive(&M->u) &&
            pl_lower(&M->u, f32 ? "f32" : "f64"), "compilation failed");
  M->s = M->u.sys;
  M->p = M->u.prog;
  char err[2048];
  cg_options o = { .f32 = f32 };
  M->jit = jit_compile(M->p, &o, err, sizeof err);
  cr_assert(M->jit, "jit: %s", err);
  vl_arena *a = &M->u.arena;
  dv_system *s = M->s;
  M->pop = AR_NEWN(a, tk_pop, s->npops);
  for (int i = 0; i < s->npops; i++) {
    const char *n = s->pops[i].decl->name;
    M->pop[i] = (tk_pop){ buf(M, n), buf(M, ar_printf(a, "%s'", n)),
                          buf(M, ar_printf(a, "%s.error", n)), buf(M, ar_printf(a, "%s.g", n)),
                          buf(M, ar_printf(a, "%s.v", n)), buf(M, ar_printf(a, "%s.rate", n)) };
  }
  M->par = AR_NEWN(a, int, s->nparams);
  for (int i = 0; i < s->nparams; i++) M->par[i] = buf(M, s->params[i].name);
  vl_model *m = s->model;
  M->in = AR_NEWN(a, int, m->inputs.len + 1);
  M->tg = AR_NEWN(a, int, m->targets.len + 1);
  M->cn = AR_NEWN(a, int, m->consts.len + 1);
  for (int i = 0; i < m->inputs.len; i++) M->in[i] = buf(M, s->inputs[i]->name);
  for (int i = 0; i < m->targets.len; i++) M->tg[i] = buf(M, s->targets[i]->name);
  for (int i = 0; i < m->consts.len; i++) M->cn[i] = buf(M, s->consts[i]->name);
  M->t = buf(M, "t");
  M->dt = buf(M, "dt");
  M->gamma = buf(M, "gamma");
  M->loss = buf(M, "loss");
  M->energy = buf(M, "energy");
  M->flag = buf(M, "published");
  return M;
}

static tk_model *compile(const char *src, bool f32) { return compile_at("test.vle", src, f32); }

static void release(tk_model *M) {
  jit_free(M->jit);
  pl_free(&M->u);
  free(M);
}

static int param_of(const tk_model *M, const ex_node *sym) {
  for (int i = 0; i < M->s->nparams; i++)
    if (M->s->params[i].sym->sym_kind == sym->sym_kind &&
        M->s->params[i].sym->sym_index == sym->sym_index) return i;
  return -1;
}

/* ---- buffer sets --------------------------------------------------------------------------- */

typedef struct bset { int n; long *len; double **d; } bset;

static uint64_t rng = 1;
static double uni(double lo, double hi) {
  rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
  return lo + (hi - lo) * (double)(rng >> 11) / (double)(1ULL << 53);
}

static bset bs_alloc(const kir_program *p) {
  bset s = { p->nbufs, calloc((size_t)p->nbufs, sizeof(long)),
             calloc((size_t)p->nbufs, sizeof(double *)) };
  for (int i = 0; i < p->nbufs; i++) {
    s.len[i] = kir_size(&p->bufs[i]) * (p->bufs[i].batched ? BATCH : 1);
    s.d[i] = calloc((size_t)s.len[i], sizeof(double));
  }
  return s;
}

static bset bs_copy(const bset *a) {
  bset s = { a->n, calloc((size_t)a->n, sizeof(long)), calloc((size_t)a->n, sizeof(double *)) };
  for (int i = 0; i < a->n; i++) {
    s.len[i] = a->len[i];
    s.d[i] = malloc(sizeof(double) * (size_t)s.len[i]);
    memcpy(s.d[i], a->d[i], sizeof(double) * (size_t)s.len[i]);
  }
  return s;
}

static void bs_set(bset *dst, const bset *src) {   /* same layout: copy the values */
  for (int i = 0; i < src->n; i++) memcpy(dst->d[i], src->d[i], sizeof(double) * (size_t)src->len[i]);
}

static void bs_free(bset *s) {
  for (int i = 0; i < s->n; i++) free(s->d[i]);
  free(s->d);
  free(s->len);
}

static void fill(bset *s, int b, double lo, double hi) {
  for (long j = 0; j < s->len[b]; j++) s->d[b][j] = uni(lo, hi);
}

/* The runtime's pub <-> pubnext pointer swap (step 5 of docs/abi.md). */
static void swap_pubs(const kir_program *p, bset *s) {
  for (int i = 0; i < p->nbufs; i++)
    if (p->bufs[i].role == KR_PUB) {
      int j = p->bufs[i].pair;
      double *t = s->d[i];
      s->d[i] = s->d[j];
      s->d[j] = t;
    }
}

/* Random values everywhere: states, errors, published values, temporaries, gradients,
 * parameters in [-1, 1]; time constants in [0.2, 1.2] (above dt); dt, gamma, t positive;
 * consts as compiled (the descriptor's values: literal vectors live there too). */
static bset random_set(const tk_model *M) {
  const kir_program *p = M->p;
  bset s = bs_alloc(p);
  for (int i = 0; i < p->nbufs; i++) fill(&s, i, -1, 1);
  for (int i = 0; i < M->s->nparams; i++)
    if (M->s->params[i].kind == PK_TAU_M || M->s->params[i].kind == PK_TAU_R)
      fill(&s, M->par[i], 0.2, 1.2);
  fill(&s, M->dt, 0.01, 0.1);
  fill(&s, M->gamma, 0.1, 1.0);
  fill(&s, M->t, 0.0, 5.0);
  json_error_t je;
  json_t *meta = json_loads(p->meta, 0, &je);
  cr_assert(meta, "descriptor: %s", je.text);
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(meta, "consts"), i, c) {
    int b = (int)json_integer_value(json_object_get(c, "buf"));
    json_t *v = json_object_get(c, "value");
    cr_assert_eq((long)json_array_size(v), s.len[b], "const %s", p->bufs[b].name);
    for (long j = 0; j < s.len[b]; j++) s.d[b][j] = json_number_value(json_array_get(v, (size_t)j));
  }
  json_decref(meta);
  return s;
}

/* ---- running kernels: the JIT on one set, the interpreter on a twin ----------------------- */

static void run_jit(const tk_model *M, const char *kernel, bset *s) {
  kir_kernel_fn f = jit_kernel(M->jit, kernel);
  cr_assert(f, "no kernel %s", kernel);
  f(NULL, (void *const *)s->d, BATCH);
}

/* Runs `kernel` through the JIT on J and through kir_run on I (equal before the call) and
 * requires every buffer to be equal bit for bit afterwards. */
static void run_both(const tk_model *M, const char *kernel, bset *J, bset *I) {
  run_jit(M, kernel, J);
  kir_kernel *k = kir_kernel_find(M->p, kernel);
  cr_assert(k, "no kernel %s in the program", kernel);
  kir_run(M->p, k, I->d, BATCH);
  int bad = 0;
  for (int i = 0; i < J->n; i++)
    for (long j = 0; j < J->len[i]; j++)
      if (memcmp(&J->d[i][j], &I->d[i][j], sizeof(double)) && bad++ < 5)
        cr_log_error("%s: %s[%ld]: JIT %.17g, interpreter %.17g", kernel, M->p->bufs[i].name, j,
                     J->d[i][j], I->d[i][j]);
  cr_expect_eq(bad, 0, "%s (model %s): %d values differ between the JIT and kir_run", kernel,
               M->p->model, bad);
}

/* ---- the oracle: derived expressions evaluated by ex_eval ---------------------------------- */

enum { SYM_V = S_PROS_V, SYM_W = S_ADJ_W, SYM_VDOT = S_PROS_VDOT, SYM_G = S_EXTRA,
       SYM_PU, SYM_PUD };   /* u and u̇ as published: a lateral population's read of itself */

/* Where each symbol's value comes from, for batch element b. */
typedef struct env {
  const tk_model *M;
  long b;
  const bset *state[64];   /* per population: u and u̇ */
  const bset *pub;         /* the state a lateral population's read of its own rate sees
                              (docs/theory.md §8: published at step k-1) */
  const bset *err;         /* every e */
  const bset *par;         /* parameters */
  const bset *cur;         /* streams, consts, t, dt, gamma */
  const bset *in;          /* inputs, when not from cur: g reads an input's mismatch
                              (docs/theory.md §8) as of step k-1, a back-projected error */
  const double *extra[4][64];   /* per population, element b only: g, v, v̇, w symbols */
} env;

static const double *at_b(const tk_model *M, const bset *s, int b, long batch_elem) {
  return s->d[b] + (M->p->bufs[b].batched ? batch_elem * kir_size(&M->p->bufs[b]) : 0);
}

static const double *lookup(void *user, const ex_node *sym) {
  env *E = user;
  const tk_model *M = E->M;
  int i = sym->sym_index;
  switch (sym->sym_kind) {
  case S_U: return at_b(M, E->state[i], M->pop[i].u, E->b);
  case S_UDOT: return at_b(M, E->state[i], M->pop[i].ud, E->b);
  case S_E: return at_b(M, E->err, M->pop[i].e, E->b);
  case S_W: case S_B: case S_TAUM: case S_TAUR: {
    int k = param_of(M, sym);
    return k < 0 ? NULL : E->par->d[M->par[k]];
  }
  case S_INPUT: return at_b(M, E->in ? E->in : E->cur, M->in[i], E->b);
  case S_TARGET: return at_b(M, E->cur, M->tg[i], E->b);
  case S_CONST: return E->cur->d[M->cn[i]];
  case S_TIME: return E->cur->d[M->t];
  case S_DT: return E->cur->d[M->dt];
  case S_GAMMA: return E->cur->d[M->gamma];
  case SYM_G: return E->extra[0][i];
  case SYM_V: return E->extra[1][i];
  case SYM_VDOT: return E->extra[2][i];
  case SYM_W: return E->extra[3][i];
  case SYM_PU: return E->pub ? at_b(M, E->pub, M->pop[i].u, E->b) : NULL;
  case SYM_PUD: return E->pub ? at_b(M, E->pub, M->pop[i].ud, E->b) : NULL;
  default: return NULL;
  }
}

/* Value of x for batch element b (n values; a scalar is broadcast to n). Arena memory. */
static double *eval(env *E, ex_node *x, long n) {
  ex_val v;
  vl_arena *a = &((tk_model *)E->M)->u.arena;
  dv_system *s = E->M->s;
  for (int p = 0; p < s->npops; p++) {   /* a lateral read: the published ŭ_p */
    dv_pop *pp = &s->pops[p];
    if (!pp->lateral) continue;
    ex_node *pu = ex_sym(s->x, SYM_PU, p, pp->u->shape, "pu", NULL);
    ex_node *pud = ex_sym(s->x, SYM_PUD, p, pp->u->shape, "pud", NULL);
    ex_node *ub = ex_add(s->x, pu, ex_mul(s->x, pp->taur, pud));
    x = ex_subst(s->x, x, &pp->ub, &ub, 1);
  }
  x = dv_expand(s, x);
  cr_assert(ex_eval(E->M->s->x, x, lookup, E, a, &v), "ex_eval failed");
  long m = v.shape.rows * v.shape.cols;
  if (m == n) return v.v;
  cr_assert_eq(m, 1, "evaluated %ld values, expected %ld", m, n);
  double *r = AR_NEWN(a, double, n);
  for (long i = 0; i < n; i++) r[i] = v.v[0];
  return r;
}

static int nchecked;

/* got (the kernel's values for batch element b) against want, 1e-12 relative. */
static void expect_vec(const double *got, const double *want, long n, const char *model,
                       const char *what, long b) {
  for (long i = 0; i < n; i++) {
    nchecked++;
    cr_expect(fabs(got[i] - want[i]) <= 1e-12 * (1 + fabs(want[i])),
              "%s: %s[%ld] (batch element %ld): kernel %.17g, derivation %.17g", model, what, i,
              b, got[i], want[i]);
  }
}

static const double *bat(const tk_model *M, const bset *s, int b, long e) { return at_b(M, s, b, e); }

/* ---- the sync step against the derivation -------------------------------------------------- */

/* Perturbs what a step may take as given: the own states u, u̇, v of every population, the
 * weights and biases (the back-projections still hold Wᵀ of the old ones), t. The errors
 * stay: they are what the back-projections were computed from. Then the streams. */
static void perturb(const tk_model *M, bset *J, bset *I) {
  for (int i = 0; i < M->s->npops; i++) {
    fill(J, M->pop[i].u, -1, 1);
    fill(J, M->pop[i].ud, -1, 1);
    fill(J, M->pop[i].v, -1, 1);
  }
  for (int i = 0; i < M->s->nparams; i++)
    if (M->s->params[i].kind == PK_WEIGHT || M->s->params[i].kind == PK_BIAS)
      fill(J, M->par[i], -1, 1);
  J->d[M->t][0] += J->d[M->dt][0];
  bs_set(I, J);
  run_both(M, "streams", J, I);
}

/* Checks one step of kernel `kernel` (scheme: 'i'nstantaneous, 'p'rospective, 'f'ree) run
 * on J (and I), given P, the buffers as they were when the published values were computed
 * (u(k-1), u̇(k-1), e(k-1), the parameters of step k-1). Returns nothing; J afterwards holds
 * the state after the step (before the pointer swap). */
static void check_step(const tk_model *M, const char *kernel, char scheme, const bset *P,
                       bset *J, bset *I) {
  dv_system *s = M->s;
  ex_ctx *x = s->x;
  vl_arena *a = &((tk_model *)M)->u.arena;
  const char *mn = M->p->model;
  bset B = bs_copy(J);   /* before the step */
  run_both(M, kernel, J, I);
  bset *A = J;           /* after */
  double flag = B.d[M->flag][0];
  cr_assert(flag == 1.0, "the published flag is %g", flag);
  int np = s->npops;
  for (long b = 0; b < BATCH; b++) {
    env E = { .M = M, .b = b, .par = &B, .cur = &B, .pub = P };
    /* g: everything as of step k-1 (states, errors and the weights of the back-projections) */
    E.err = P;
    E.par = P;
    E.in = P;
    for (int q = 0; q < np; q++) E.state[q] = P;
    double *g[64], *e[64];
    for (int p = 0; p < np; p++) {
      long n = s->pops[p].n;
      if (scheme == 'f') continue;
      g[p] = eval(&E, s->pops[p].g, n);
      expect_vec(bat(M, A, M->pop[p].g, b), g[p], n, mn, ar_printf(a, "%s: g_%s", kernel,
                 s->pops[p].decl->name), b);
    }
    /* loss and the cost part of the energy: the published output, the current target */
    E.par = &B;
    E.in = NULL;
    double *loss = eval(&E, s->cost, 1), *rest = eval(&E, s->rest, 1);
    expect_vec(bat(M, A, M->loss, b), loss, 1, mn, ar_printf(a, "%s: loss", kernel), b);
    double energy = rest[0];
    /* per population: own state current, the others published */
    for (int p = 0; p < np; p++) {
      dv_pop *pp = &s->pops[p];
      const char *pn = pp->decl->name;
      long n = pp->n;
      for (int q = 0; q < np; q++) E.state[q] = q == p ? &B : P;
      E.err = &B;
      ex_node *gsym = ex_sym(x, SYM_G, p, pp->e->shape, "g", NULL);
      dv_schemes sc;
      dv_schemes_with(s, pp, gsym, &sc);
      double *vdot = NULL;
      if (scheme == 'f') {
        e[p] = AR_NEWN(a, double, n);
      } else {
        E.extra[0][p] = g[p];
        if (scheme == 'i') {
          e[p] = eval(&E, sc.inst, n);
        } else {
          E.extra[1][p] = bat(M, &B, M->pop[p].v, b);
          vdot = eval(&E, sc.v_dot, n);
          E.extra[2][p] = vdot;
          e[p] = eval(&E, sc.pros_e, n);
          double *vnew = AR_NEWN(a, double, n);
          const double *v = bat(M, &B, M->pop[p].v, b);
          for (long i = 0; i < n; i++) vnew[i] = v[i] + B.d[M->dt][0] * vdot[i];
          expect_vec(bat(M, A, M->pop[p].v, b), vnew, n, mn, ar_printf(a, "%s: v_%s", kernel,
                     pn), b);
        }
      }
      expect_vec(bat(M, A, M->pop[p].e, b), e[p], n, mn, ar_printf(a, "%s: e_%s", kernel, pn), b);
      /* u̇ from the derived forward dynamics, with this step's e */
      bset Bx = bs_copy(&B);
      memcpy((double *)bat(M, &Bx, M->pop[p].e, b), e[p], sizeof(double) * (size_t)n);
      E.err = &Bx;
      double *ud = eval(&E, pp->udot_rhs, n);
      expect_vec(bat(M, A, M->pop[p].ud, b), ud, n, mn, ar_printf(a, "%s: u'_%s", kernel, pn), b);
      /* the mismatch at the new u̇ is γ e: the energy is Σ ½ |m|² + the rest */
      memcpy((double *)bat(M, &Bx, M->pop[p].ud, b), ud, sizeof(double) * (size_t)n);
      for (int q = 0; q < np; q++) E.state[q] = q == p ? &Bx : P;
      double *m = eval(&E, pp->m, n);
      for (long i = 0; i < n; i++) energy += 0.5 * m[i] * m[i];
      /* the rate from u(k) and the new u̇(k), then u(k+1) = u(k) + dt u̇(k) */
      double *r = eval(&E, pp->rate ? pp->rate : pp->ub_def, n);
      expect_vec(bat(M, A, M->pop[p].rate, b), r, n, mn, ar_printf(a, "%s: rate_%s", kernel, pn), b);
      double *un = AR_NEWN(a, double, n);
      const double *u0 = bat(M, &B, M->pop[p].u, b);
      for (long i = 0; i < n; i++) un[i] = u0[i] + B.d[M->dt][0] * ud[i];
      expect_vec(bat(M, A, M->pop[p].u, b), un, n, mn, ar_printf(a, "%s: u_%s", kernel, pn), b);
      bs_free(&Bx);
      E.extra[0][p] = E.extra[1][p] = E.extra[2][p] = NULL;
    }
    /* the energy: mismatches ~ γ e computed from terms of order 1, hence the looser bound */
    double got = bat(M, A, M->energy, b)[0];
    cr_expect(fabs(got - energy) <= 1e-11 * (1 + fabs(energy)), "%s: %s: energy (batch element "
              "%ld): kernel %.17g, derivation %.17g", mn, kernel, b, got, energy);
    nchecked++;
    cr_expect_eq(bat(M, A, buf(M, "publishednext"), b)[0], 1.0);
  }
  if (scheme == 'f') goto done;
  /* grads: ∂E/∂θ with m -> e, batch mean. Read after the step: the own state as it is then,
   * the others as published. τʳ: −g ⊙ u̇ with g of this step (τʳ_p moves ŭ_p, which only
   * the others read, through the values published at k-1). */
  bset G0 = bs_copy(J);
  run_both(M, "grads", J, I);
  for (int k = 0; k < s->nparams; k++) {
    dv_param *q = &s->params[k];
    if (q->learn < 0) continue;
    long n = q->sym->shape.rows * q->sym->shape.cols;
    double *mean = AR_NEWN(a, double, n);
    for (long b = 0; b < BATCH; b++) {
      env E = { .M = M, .b = b, .par = &G0, .cur = &G0, .err = &G0, .pub = P };
      /* a weight's or bias's presynaptic rates are published, its own population's too
       * (lateral recurrence, docs/theory.md §8): only a time constant's G reads the own
       * state (u̇) current */
      bool own = q->kind == PK_TAU_M || q->kind == PK_TAU_R;
      for (int p = 0; p < np; p++) E.state[p] = p == q->pop && own ? &G0 : P;
      ex_node *G = q->G;
      if (q->kind == PK_TAU_R) {
        dv_pop *pp = &s->pops[q->pop];
        ex_node *gsym = ex_sym(x, SYM_G, q->pop, pp->e->shape, "g", NULL);
        /* the derivation's G is −u̇ ⊙ g(ŭ): check that, then use this step's g */
        cr_assert_eq(ex_simplify(x, G), ex_simplify(x, ex_neg(x, ex_mul(x, pp->udot, pp->g))),
                     "G of %s is not -u' g", q->name);
        G = ex_neg(x, ex_mul(x, pp->udot, gsym));
        E.extra[0][q->pop] = bat(M, &G0, M->pop[q->pop].g, b);
      }
      double *v = eval(&E, G, n);
      for (long i = 0; i < n; i++) mean[i] += v[i] / BATCH;
    }
    expect_vec(J->d[M->p->bufs[M->par[k]].pair], mean, n, mn, ar_printf(a, "grad.%s", q->name), -1);
  }
  bs_free(&G0);
done:
  bs_free(&B);
}

/* A warm-up step (its published inputs were random), then two checked steps. */
static void sync_steps(const char *src, const char *kernel, char scheme, uint64_t seed) {
  rng = seed;
  tk_model *M = compile(src, false);
  bset J = random_set(M);
  for (long b = 0; b < BATCH; b++) J.d[M->flag][b] = 0;   /* as before the first step */
  bset I = bs_copy(&J), P = { 0 };
  run_both(M, "streams", &J, &I);
  for (int k = 0; k < 3; k++) {
    bset before = bs_copy(&J);
    if (k == 0) run_both(M, kernel, &J, &I);
    else check_step(M, kernel, scheme, &P, &J, &I);
    /* what this step published from: u(k) before the update, the new u̇(k) and e(k), the
     * parameters of this step */
    if (k) bs_free(&P);
    P = bs_copy(&J);
    for (int p = 0; p < M->s->npops; p++)
      memcpy(P.d[M->pop[p].u], before.d[M->pop[p].u], sizeof(double) * (size_t)P.len[M->pop[p].u]);
    bs_free(&before);
    swap_pubs(M->p, &J);
    swap_pubs(M->p, &I);
    perturb(M, &J, &I);
  }
  bs_free(&P);
  bs_free(&J);
  bs_free(&I);
  release(M);
  cr_assert_gt(nchecked, 100, "only %d values checked", nchecked);
}

#define GLE_SMALL VLE_SOURCE_DIR "/examples/gle_small/model.vle"

Test(sync, gle_small_prospective) {
  char *src = read_file(GLE_SMALL);
  sync_steps(src, "step_prosp", 'p', 1);
  free(src);
}

Test(sync, gle_small_instantaneous) {
  char *src = read_file(GLE_SMALL);
  sync_steps(src, "step_inst", 'i', 2);
  free(src);
}

Test(sync, gle_small_free) {
  char *src = read_file(GLE_SMALL);
  sync_steps(src, "step_free", 'f', 3);
  free(src);
}

Test(sync, xent_prospective) { sync_steps(XENT, "step_prosp", 'p', 4); }
Test(sync, xent_instantaneous) { sync_steps(XENT, "step_inst", 'i', 5); }
Test(sync, skip_prospective) { sync_steps(SKIP, "step_prosp", 'p', 6); }
Test(sync, skip_instantaneous) { sync_steps(SKIP, "step_inst", 'i', 7); }
Test(sync, skip_free) { sync_steps(SKIP, "step_free", 'f', 8); }
Test(sync, general_prospective) { sync_steps(GENERAL, "step_prosp", 'p', 9); }

/* ---- the exact adjoint's backward step ----------------------------------------------------- */

/* back_adj at random restored states u(k), u̇(k), random w (in the .v buffers) and random
 * gradient sums: top population first, g reads the errors the populations above it have just
 * been given; e = (b/a) g + w, w -= dt ẇ (dv_schemes: adj_e, adj_w_dot); every grad buffer
 * gains the batch mean of G at the new errors. */
static void adjoint_step(const char *src, uint64_t seed) {
  rng = seed;
  tk_model *M = compile(src, false);
  dv_system *s = M->s;
  vl_arena *a = &M->u.arena;
  const char *mn = M->p->model;
  bset J = random_set(M), I = bs_copy(&J);
  run_both(M, "streams", &J, &I);
  bset B = bs_copy(&J), Enew = bs_copy(&J);
  run_both(M, "back_adj", &J, &I);
  double dt = B.d[M->dt][0];
  for (int r = s->npops - 1; r >= 0; r--) {
    dv_pop *pp = NULL;
    for (int i = 0; i < s->npops; i++)
      if (s->pops[i].order == r) pp = &s->pops[i];
    cr_assert(pp && pp->split_ok, "population order %d", r);
    int p = pp->index;
    long n = pp->n;
    ex_node *gsym = ex_sym(s->x, SYM_G, p, pp->e->shape, "g", NULL);
    dv_schemes sc;
    dv_schemes_with(s, pp, gsym, &sc);
    for (long b = 0; b < BATCH; b++) {
      env E = { .M = M, .b = b, .par = &B, .cur = &B, .err = &Enew };
      for (int q = 0; q < s->npops; q++) E.state[q] = &B;
      const char *pn = pp->decl->name;
      double *g = eval(&E, pp->g, n);
      expect_vec(bat(M, &J, M->pop[p].g, b), g, n, mn, ar_printf(a, "back_adj: g_%s", pn), b);
      E.extra[0][p] = g;
      E.extra[3][p] = bat(M, &B, M->pop[p].v, b);
      double *e = eval(&E, sc.adj_e, n), *wdot = eval(&E, sc.adj_w_dot, n);
      expect_vec(bat(M, &J, M->pop[p].e, b), e, n, mn, ar_printf(a, "back_adj: e_%s", pn), b);
      double *w = AR_NEWN(a, double, n);
      for (long i = 0; i < n; i++) w[i] = E.extra[3][p][i] - dt * wdot[i];
      expect_vec(bat(M, &J, M->pop[p].v, b), w, n, mn, ar_printf(a, "back_adj: w_%s", pn), b);
      memcpy((double *)bat(M, &Enew, M->pop[p].e, b), e, sizeof(double) * (size_t)n);
    }
  }
  for (int k = 0; k < s->nparams; k++) {
    dv_param *q = &s->params[k];
    if (q->learn < 0) continue;
    int gb = M->p->bufs[M->par[k]].pair;
    long n = q->sym->shape.rows * q->sym->shape.cols;
    double *want = AR_NEWN(a, double, n), *sum = AR_NEWN(a, double, n);
    for (long b = 0; b < BATCH; b++) {
      env E = { .M = M, .b = b, .par = &B, .cur = &B, .err = &Enew };
      for (int p = 0; p < s->npops; p++) E.state[p] = &B;
      double *v = eval(&E, q->G, n);
      for (long i = 0; i < n; i++) sum[i] += v[i];
    }
    for (long i = 0; i < n; i++) want[i] = B.d[gb][i] + sum[i] / BATCH;
    expect_vec(J.d[gb], want, n, mn, ar_printf(a, "back_adj: grad.%s", q->name), -1);
  }
  bs_free(&B);
  bs_free(&Enew);
  bs_free(&J);
  bs_free(&I);
  release(M);
  cr_assert_gt(nchecked, 50, "only %d values checked", nchecked);
}

Test(adjoint, gle_small) {
  char *src = read_file(GLE_SMALL);
  adjoint_step(src, 11);
  free(src);
}
Test(adjoint, xent) { adjoint_step(XENT, 12); }
Test(adjoint, skip) { adjoint_step(SKIP, 13); }
Test(adjoint, general) { adjoint_step(GENERAL, 14); }

/* ---- streams and init ---------------------------------------------------------------------- */

/* streams: every input and target with a default expression, at t, in every batch element;
 * init: every time constant from its declaration. */
static void streams_and_init(const char *path, const char *src, uint64_t seed) {
  rng = seed;
  tk_model *M = compile_at(path, src, false);
  dv_system *s = M->s;
  vl_model *m = s->model;
  vl_arena *a = &M->u.arena;
  const char *mn = M->p->model;
  bset J = random_set(M), I = bs_copy(&J), B = bs_copy(&J);
  run_both(M, "streams", &J, &I);
  run_both(M, "init", &J, &I);
  int defaults = 0;
  for (int k = 0; k < 2; k++) {
    vl_vec *decls = k ? &m->targets : &m->inputs;
    for (int i = 0; i < decls->len; i++) {
      vl_decl *d = decls->items[i];
      int bf = k ? M->tg[i] : M->in[i];
      long n = kir_size(&M->p->bufs[bf]);
      for (long b = 0; b < BATCH; b++) {
        if (!d->value) {   /* no default: streams leaves it alone */
          expect_vec(bat(M, &J, bf, b), bat(M, &B, bf, b), n, mn, d->name, b);
          continue;
        }
        env E = { .M = M, .b = b, .par = &B, .cur = &B, .err = &B };
        defaults++;
        expect_vec(bat(M, &J, bf, b), eval(&E, dv_expr(s, d->value), n), n, mn,
                   ar_printf(a, "streams: %s", d->name), b);
      }
    }
  }
  for (int i = 0; i < s->npops; i++) {
    vl_decl *d = s->pops[i].decl;
    env E = { .M = M, .b = 0, .par = &B, .cur = &B, .err = &B };
    long n = s->pops[i].n;
    expect_vec(J.d[buf(M, ar_printf(a, "%s.tau_m", d->name))], eval(&E, dv_expr(s, d->tau_m), n),
               n, mn, ar_printf(a, "init: %s.tau_m", d->name), 0);
    expect_vec(J.d[buf(M, ar_printf(a, "%s.tau_r", d->name))], eval(&E, dv_expr(s, d->tau_r), n),
               n, mn, ar_printf(a, "init: %s.tau_r", d->name), 0);
  }
  bs_free(&B);
  bs_free(&J);
  bs_free(&I);
  release(M);
  cr_assert_gt(defaults, 0, "no default streams checked");
}

Test(streams_init, gle_small) {
  char *src = read_file(GLE_SMALL);
  streams_and_init(GLE_SMALL, src, 21);
  free(src);
}
Test(streams_init, skip) { streams_and_init("skip.vle", SKIP, 22); }
Test(streams_init, reference_gle_p1) {
  const char *path = VLE_SOURCE_DIR "/tests/data/gle_p1/model.vle";
  char *src = read_file(path);
  streams_and_init(path, src, 23);
  free(src);
}

/* ---- every kernel: JIT == interpreter on arbitrary buffers --------------------------------- */

static void all_kernels(const char *src, uint64_t seed) {
  rng = seed;
  tk_model *M = compile(src, false);
  cr_assert_geq(M->p->nkernels, 7);
  for (int k = 0; k < M->p->nkernels; k++) {
    bset J = random_set(M), I = bs_copy(&J);
    run_both(M, M->p->kernels[k]->name, &J, &I);
    bs_free(&J);
    bs_free(&I);
  }
  release(M);
}

Test(interp, gle_small) {
  char *src = read_file(GLE_SMALL);
  all_kernels(src, 31);
  free(src);
}
Test(interp, xent) { all_kernels(XENT, 32); }
Test(interp, skip) { all_kernels(SKIP, 33); }
Test(interp, general) { all_kernels(GENERAL, 34); }

/* ---- f32 against f64 ----------------------------------------------------------------------- */

/* Every kernel of the f32 build on the same (float-rounded) values as the f64 build. */
static void f32_vs_f64(const char *src, uint64_t seed) {
  rng = seed;
  tk_model *D = compile(src, false), *F = compile(src, true);
  cr_assert_eq(D->p->nbufs, F->p->nbufs);
  for (int i = 0; i < D->p->nbufs; i++)
    cr_assert_str_eq(D->p->bufs[i].name, F->p->bufs[i].name);
  cr_assert(strstr(F->p->meta, "\"precision\":\"f32\""), "f32 descriptor: %.200s", F->p->meta);
  int bad = 0, total = 0;
  for (int k = 0; k < D->p->nkernels; k++) {
    const char *kn = D->p->kernels[k]->name;
    bset J = random_set(D);
    float **f = calloc((size_t)J.n, sizeof(float *));
    for (int i = 0; i < J.n; i++) {
      f[i] = malloc(sizeof(float) * (size_t)J.len[i]);
      for (long j = 0; j < J.len[i]; j++) J.d[i][j] = f[i][j] = (float)J.d[i][j];
    }
    run_jit(D, kn, &J);
    kir_kernel_fn fn = jit_kernel(F->jit, kn);
    cr_assert(fn, "f32: no kernel %s", kn);
    fn(NULL, (void *const *)f, BATCH);
    for (int i = 0; i < J.n; i++) {
      for (long j = 0; j < J.len[i]; j++) {
        double want = J.d[i][j], got = f[i][j];
        total++;
        if (!(fabs(got - want) <= 1e-5 * fmax(1, fabs(want))) && bad++ < 5)
          cr_log_error("%s: %s[%ld]: f32 %.9g, f64 %.17g", kn, D->p->bufs[i].name, j, got, want);
      }
      free(f[i]);
    }
    free(f);
    bs_free(&J);
  }
  cr_expect_eq(bad, 0, "%s: %d of %d values differ by more than 1e-5 relative", D->p->model, bad,
               total);
  release(D);
  release(F);
}

Test(f32, gle_small) {
  char *src = read_file(GLE_SMALL);
  f32_vs_f64(src, 41);
  free(src);
}
Test(f32, xent) { f32_vs_f64(XENT, 42); }
Test(f32, skip) { f32_vs_f64(SKIP, 43); }
Test(f32, general) { f32_vs_f64(GENERAL, 44); }
