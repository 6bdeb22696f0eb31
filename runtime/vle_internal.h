/*
 * vle_internal.h - the structures behind vle_model and vle_sim, shared by vle_model.c
 * (descriptor, loading), vle_sim.c (creation, stepping) and vle_state.c (save/load).
 * Not installed; nothing outside runtime/ should include it.
 */
#ifndef VLE_INTERNAL_H
#define VLE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"
#include "vle.h"
#include "vle_vocab.h"

typedef void (*vle_kernel_fn)(const void *ctx, void *const *bufs, int64_t batch);

/* Kernels the runtime knows by name: vle_vocab.h (VK_*); a descriptor may list others. */

struct vle_model {
  void *json;                    /* json_t root: the strings of the infos point into it */
  char *meta;                    /* the descriptor text */
  void *dl;                      /* dlopen handle, or NULL (JIT) */
  const char *name, *hash;
  vle_precision prec;
  size_t es;                     /* bytes per real */
  vle_settings settings;
  int nbufs, npops, ninputs, ntargets, nconsts, nparams, nlearn, nkernels;
  vle_buffer_info *bufs;
  vle_population_info *pops;
  vle_stream_info *inputs, *targets;
  vle_const_info *consts;
  vle_param_info *params;
  vle_learn_info *learn;
  const char **kernel_names;
  vle_kernel_fn kernels[VK_COUNT];   /* NULL where the model has none */
  bool threads;                  /* its kernels take a vle_team (vle_<model>_threads) */
  bool threaded[VK_COUNT];       /* the kernel shares its work out (vle_<model>_<k>_threaded) */
  int sig_t, sig_dt, sig_gamma, sig_loss, sig_energy, sig_objective, sig_beta;
  int *bptt_pubs, nbptt_pubs;    /* the pubs back_bptt reads (-1: not listed, every pub) */
};

/* The mutable state of a sim that a save, a load and a NaN rollback move as a whole. */
typedef struct vle_sim_state {
  unsigned char *mem;            /* buffers (64-byte aligned offsets), then optimizer m, v
                                    and the grad sums (doubles) */
  void **bufs;                   /* current pointer of every buffer: tab, or tab + nbufs */
  void **tab;                    /* 2 x nbufs pointers: as placed, and with every pub pair
                                    swapped. All pairs swap every step, so a swap is a switch
                                    of tables (vs_advance). */
  int parity;                    /* which table bufs is */
  int64_t step;
  rng_state rng;
  int64_t *opt_t;                /* Adam step count per learn group */
} vle_sim_state;

/* The window of the adjoint and bptt schemes (vle_adj.c, docs/runtime.md "The adjoint
 * scheme"). The forward pass stores u(k) before and u'(k) after each step (bptt: also the
 * published buffers the step reads) into `traj`, one slot per step
 * of the current segment of `seg` steps; when the window does not fit in `limit` bytes it
 * also keeps a checkpoint (the evolving buffers) at the start of every segment, and the
 * backward sweep recomputes each earlier segment from its checkpoint. */
typedef struct vle_adj {
  size_t limit;                  /* bytes for trajectory + checkpoints */
  bool open;                     /* a window is being stepped */
  int64_t k0, len, done;         /* first step, planned steps, steps done so far */
  int64_t seg;                   /* steps per segment (== len: everything stored) */
  size_t step_bytes;             /* u and u' of every population (+ pubs), one step */
  vle_kernel_fn back;            /* the backward step: back_adj or back_bptt */
  size_t ckpt_bytes;             /* the evolving buffers, one checkpoint */
  int *ckpt_bufs;                /* their indices (state, pub, pubnext, signal, input, target) */
  int nckpt_bufs;
  unsigned char *traj;           /* [seg][step_bytes] */
  unsigned char *ckpt;           /* [segments][ckpt_bytes], used when seg < len */
  size_t traj_cap, ckpt_cap;     /* bytes allocated */
  vle_sim_state work, fwd;       /* the sweep's buffers; a segment's recomputation */
} vle_adj;

/* Equilibrium propagation (vle_ep.c): the free state kept across the nudged phases, and
 * the phases' gradients. */
typedef struct vle_ep {
  bool on;
  unsigned char *save;           /* the evolving bytes of the free equilibrium */
  int parity;                    /* its pub swap parity */
  double *g0, *g1;               /* grads of the learned parameters (opt_params order) */
} vle_ep;

typedef struct vs_range { size_t off, len; } vs_range;   /* bytes of a state's mem */
typedef struct vs_pair { int pub, next; } vs_pair;       /* buffer indices */

/* The groups of buffers in a state's mem, in memory order (vle_sim.c vs_group). */
enum { VS_G_STREAM, VS_G_PUB, VS_G_CHECKED, VS_G_PUBNEXT, VS_G_PARAM, VS_G_OTHER, VS_NGROUPS };

struct vle_sim {
  const vle_model *m;
  long batch;
  double dt, gamma;
  const char *errors;
  vle_kernel_fn step_fn;
  int64_t checks;                     /* NaN/Inf checks done (a snapshot every 256 when learning) */
  vle_kernel_fn step_sgd, grads_sgd;  /* step_*_sgd and grads_sgd when learning with fused
                                         SGD parameters (docs/abi.md), else NULL */
  bool learn, acc;
  bool adjoint;                  /* errors = adjoint or bptt: the steps are the forward pass
                                    of a window (vle_adj.c) */
  vle_kernel_id back;            /* their backward kernel (VK_COUNT for a local scheme) */
  bool hold;                     /* vle_sim_hold_learning: no optimizer, no grad sums */
  double lr_scale;               /* vle_sim_set_lr_scale: every learning rate times this */
  bool replay;                   /* vs_set_replay: check every step, snapshot every check */
  vs_pair *pubs;                 /* the pub buffers and their pubnext partners (swapped */
  int npubs;                     /* every step: vle_sim_state.tab) */
  int *checked, nchecked;        /* buffers the NaN check scans every time (states, pubs,
                                    signals); the parameters follow at [nchecked, nall) */
  int nall;
  int *opt_params, nopt_all;     /* the learned parameters: first those the runtime's
                                    optimizer updates also when the _sgd kernels run */
  int nopt_fused;                /* (no fused_lr), then the others: [0, nopt_fused) */
  long check_every;
  size_t mem_size;               /* bytes of state.mem */
  size_t buf_bytes;              /* bytes of the buffers part of state.mem */
  size_t *count;                 /* reals per buffer */
  size_t *buf_off;               /* offset of each buffer in mem (initial placement) */
  size_t group_off[VS_NGROUPS + 1];   /* where each group of buffers starts in mem, and
                                         where the last ends (64-byte aligned) */
  size_t *opt_off;               /* per param: offset (in doubles) of m in opt_mem; v follows;
                                    SIZE_MAX when not trained by Adam */
  size_t *gsum_off;              /* per param: offset (doubles) of its grad sum, or SIZE_MAX */
  size_t n_opt, n_gsum;          /* doubles of optimizer state and grad sums */
  vle_sim_state st;
  vle_sim_state snap;            /* last state that passed the NaN check (if checking) */
  vs_range *snap_ranges;         /* what the snapshot copies (vle_sim.c vs_snap_ranges) */
  int nsnap_ranges;
  double **feed;                 /* per buffer: fed values [batch][size], or NULL */
  int *fed, nfed;                /* the buffers with a feed (each step applies only them) */
  vle_adj adj;
  vle_ep ep;                     /* settings.eqprop: each step is one EP sample (vle_ep.c) */
  vle_sim_state *view;           /* what vle_sim_get/_buffer read: &st, or the adjoint's
                                    sweep state during its observer (vle_adj.c) */
  const vle_replicas *rep;       /* the replicas it is one of (vle_rep.c), NULL: alone */
  double *rep_w;                 /* [size]: each replica's share of the batch */
  unsigned char *rep_mine, *rep_all;   /* the learned parameters' reals: this replica's, all */
  unsigned char *rep_part;       /* alltoall: this replica's part of the sums */
  size_t rep_n;                  /* reals of the learned parameters */
  size_t rep_chunk;              /* alltoall: reals of each replica's part, 0: no alltoall */
  int64_t rep_updates;           /* optimizer steps so far (local SGD's period) */
  struct tm_team *team;          /* the kernels' threads (team.h), NULL for one */
  char threads_why[200];         /* why that many (vle_sim_threads) */
};

/* Calls a kernel on the sim's buffers `bufs`: on its team when it has one. */
void vs_kernel(const vle_sim *s, vle_kernel_fn fn, void *const *bufs);

/* vle_rep.c: replicas that split the batch. vp_init checks the options (after the
 * learned parameters are indexed); vs_learn calls vp_before_update (gradients combined)
 * and vp_after_update (local SGD: parameters averaged every K updates). */
int  vp_init(vle_sim *s, const vle_sim_options *o, vle_error *err);
void vp_free(vle_sim *s);
void vp_before_update(vle_sim *s);
void vp_after_update(vle_sim *s);
/* Whether every replica may go on after a step that can fail on one alone (an adjoint
 * sweep): rc this replica's status; -1 on every replica when any failed. */
int  vp_agree(vle_sim *s, int rc, vle_error *err);

/* Doubles after the buffers in mem: optimizer state, then the grad sums. */
static inline double *vs_opt_mem(const vle_sim *s, const vle_sim_state *st) {
  return (double *)(void *)(st->mem + s->buf_bytes);
}
static inline double *vs_gsum_mem(const vle_sim *s, const vle_sim_state *st) {
  return vs_opt_mem(s, st) + s->n_opt;
}

/* Element i of a real array of element size es, as a double, and back. */
static inline double re_get(const void *p, size_t i, size_t es) {
  return es == 8 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}
static inline void re_set(void *p, size_t i, size_t es, double v) {
  if (es == 8) ((double *)p)[i] = v;
  else ((float *)p)[i] = (float)v;
}

/* dst <- src (vle_sim.c): memory, buffer pointers (swap parity), step, RNG, Adam steps. */
void vs_state_copy(const vle_sim *s, vle_sim_state *dst, const vle_sim_state *src);
/* The state file's bytes in memory (vle_state.c; malloc'ed), and a state from such bytes
 * (validated as a file is; path names them in messages). The run's evaluation takes one
 * before it and restores it after, so that evaluating never changes the training. */
int vs_state_bytes(const vle_sim *s, unsigned char **data, size_t *n, vle_error *err);
int vs_state_from_bytes(vle_sim *s, const char *path, const unsigned char *p, size_t n,
                        vle_error *err);
/* While on, every step is checked for NaN/Inf and every good step becomes the snapshot: a
 * failure then rolls back exactly to the step before the bad one. The run switches it on
 * to replay from the last snapshot after a check found a NaN (run.c rn_replay). */
static inline void vs_set_replay(vle_sim *s, bool on) { s->replay = on; }
/* A zeroed state of the sim's layout, and its release (vle_sim.c). */
int  vs_state_alloc(vle_sim *s, vle_sim_state *st, vle_error *err);
/* The two pointer tables of st as placed (vs_state_alloc), e.g. after pointing some
 * buffers elsewhere (the backward sweep reads the stored trajectory in place). */
void vs_state_tab(const vle_sim *s, vle_sim_state *st);
void vs_state_free(vle_sim_state *st);
/* The scheme's part of step st->step on st: t, streams, fed data, the step kernel. */
void vs_forward(vle_sim *s, vle_sim_state *st);
/* Makes table `parity` st's buffer pointers (0: as placed, 1: every pub pair swapped). */
void vs_set_parity(const vle_sim *s, vle_sim_state *st, int parity);
/* Swaps every pub/pubnext pair of st and advances its step counter. */
void vs_advance(vle_sim *s, vle_sim_state *st);
/* Writes t = k dt, calls streams and applies the fed data, on st. */
void vs_streams(vle_sim *s, vle_sim_state *st);
/* Optimizer step on the grad buffers (vle_sim.c); dt * grad into the grad sums. */
void vs_learn(vle_sim *s, bool fused);   /* fused: leave out what the _sgd kernels updated */
void vs_accumulate(vle_sim *s);
/* vle_sim_feed and vle_sim_buffer by buffer index (the run loop looks names up once). */
int vs_feed_at(vle_sim *s, int b, const double *values, size_t count, vle_error *err);
static inline void *vs_buffer_at(const vle_sim *s, int b) { return s->view->bufs[b]; }
/* A NaN/Inf in buffer b of st: -1 with a message naming it and `when`; else 0. */
int vs_check_buffer(const vle_sim *s, const vle_sim_state *st, int b, const char *when,
                    vle_error *err);

/* vle_adj.c: the adjoint's hooks around a forward step of the sim, and its cleanup. */
void va_before_step(vle_sim *s);
void va_after_step(vle_sim *s);
void va_free(vle_adj *a);

/* vle_ep.c: set up equilibrium propagation (after the layout and the learned parameters'
 * index), one step of it (one sample), and its cleanup. */
int vs_ep_init(vle_sim *s, vle_error *err);
void vs_ep_step(vle_sim *s);
void vs_ep_free(vle_ep *e);

/* Reals in buffer i for a batch of `batch`. */
size_t vm_buf_count(const vle_model *m, int i, long batch);

#endif
