/*
 * lower_int.h - the lowering's tables (lower.c), shared with the descriptor writer
 * (descriptor.c), which turns them into the model descriptor of docs/abi.md. Not for other
 * modules.
 */
#ifndef VLE_LOWER_INT_H
#define VLE_LOWER_INT_H

#include "lower.h"

typedef enum { LM_RC, LM_R, LM_C } lw_mode;

typedef struct lw_pub {
  ex_node *node;          /* the published expression (over u_q, u̇_q, constants) */
  int pub, next;          /* buffers */
} lw_pub;

typedef struct lw_bp {
  ex_node *node;          /* Wᵀ arg, as derived (or W arg, for a weight used transposed) */
  ex_node *arg;           /* arg as derived */
  int W, pub, next;
  bool trans;             /* Wᵀ arg; false: W arg, the error sent back through W' @ v */
} lw_bp;

/* A literal vector: a constant buffer the runtime fills from the descriptor. */
typedef struct lw_lit { ex_node *node; int buf; double *vals; long n; } lw_lit;

/* A parameter whose SGD update runs in a kernel rather than in the runtime's optimizer.
 * A weight whose gradient is an outer product G = -(row r^T) is updated inside the step
 * (kir.h KS_SWEEP): W -= lr G is W += lr row r^T, fused with the forward product W r and the
 * back-projection W^T e into one pass over W. Any other parameter learned with plain SGD
 * (biases, mostly) is updated by grads_sgd right after its gradient, p -= lr G elementwise:
 * what the runtime's optimizer would do, without a call per parameter and step. */
typedef struct lw_fused {
  int W, lr;              /* buffers: the swept weight (or -1) and the rate (a setting the
                             runtime writes; -1: the parameter is not fused) */
  ex_node *r, *row;       /* the update's column and row vectors */
  ex_node *fwd;           /* the forward product W @ r (its temp is shared with u') */
  int bp;                 /* the back-projection of W done by the sweep, or -1 */
} lw_fused;

typedef struct lw {
  dv_system *s;
  ex_ctx *x;
  kir_program *p;
  vl_arena *a;
  dg_ctx *d;
  int *symbuf[S_NSYM];    /* model symbol (kind, index) -> buffer */
  lw_pub *pubs; int npubs, pubcap;
  lw_bp *bps; int nbps, bpcap;
  int *memo; long memocap; /* node id -> temp buffer, within one phase */
  int ntemps, nlits;
  bool failed;
  /* per population buffers */
  int *g, *v, *rate;
  int loss, energy, objective, beta;   /* signals: the objective's integrand R/β, and β */
  int flag, flagnext;     /* "something was published": 0 before the first step, then 1 */
  /* Elementwise assignments of one phase, emitted together by lw_flush. */
  int *gdst; kir_expr **gexpr; const char **gwhat; int gn, gcap;
  struct lw_fused *fused;  /* per parameter: its fused SGD sweep, or NULL */
  bool *bp_fused;          /* per back-projection: computed by a sweep */
  struct lw_lit *lits; int nlitv, litcap;
  int *bptt_pubs, nbptt_pubs;  /* the pubs back_bptt reads (lower_bptt.c), or 0 of them */
} lw;

/* The derived system in sync form (lower.c lw_prepare): every population's expressions with
 * the other populations' values replaced by their published buffers. */
typedef struct lw_sync {
  ex_node **g, **a, **b, **q, **c;   /* per population */
  ex_node *loss, *energy, *objective;
  ex_node **G;                       /* per parameter (NULL when not learned) */
  ex_node **bp_arg;                  /* per back-projection: its argument at step end */
} lw_sync;

/* lower.c's building blocks, for the passes in other files (lower_bptt.c). */
int       lw_buf(lw *L, const char *name, kir_role role, long rows, long cols, bool batched);
int       lw_temp(lw *L, long rows);                 /* a batched scratch vector */
ex_node  *lw_vecsym(lw *L, int buf);                 /* a buffer as a vector symbol */
kir_expr *lw_elem(lw *L, kir_kernel *k, ex_node *n, lw_mode mode);
int       lw_vecbuf(lw *L, kir_kernel *k, ex_node *n);   /* a batched buffer holding n */
int       lw_add_literal(lw *L, ex_node *node, const double *vals, long n);   /* a const */
/* G = coef * (a r^T), coef a product of scalars: the outer product, coef in *coef; or NULL. */
ex_node  *lw_outer_of(lw *L, ex_node *G, ex_node **coef);
/* mat gb += mean_b (coef a) rᵀ, outer = a ⊗ r (lw_outer_of): the register-tiled sweep of
 * kir.h KS_SWEEP (each element's batch sum in batch order), for a weight's gradient. */
void      lw_sweep_mean(lw *L, kir_kernel *k, int gb, ex_node *outer, ex_node *coef,
                        const char *comment);
kir_stmt *lw_assign(lw *L, kir_kernel *k, int dst, ex_node *n, const char *what);
/* Queue dst = n for the current phase; lw_flush emits the phase's assignments grouped by
 * loop shape; lw_phase forgets the temporaries materialised so far (buffers changed). */
void      lw_queue(lw *L, kir_kernel *k, int dst, ex_node *n, const char *what);
void      lw_flush(lw *L, kir_kernel *k);
void      lw_phase(lw *L);

/* lower_bptt.c: back_bptt, one backward step of the discrete adjoint (theory.md §9). */
void      lw_back_bptt(lw *L, const lw_sync *y);

/* The JSON descriptor of the lowered model (docs/abi.md): buffers, kernels, parameters,
 * populations, streams, consts, learning groups and signals. */
const char *ds_descriptor(lw *L, const lw_options *o);

#endif
