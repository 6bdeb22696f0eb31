/*
 * vle_internal.h - the structures behind vle_model and vle_sim, shared by vle_model.c
 * (descriptor, loading), vle_sim.c (creation, stepping) and vle_state.c (save/load).
 * Not installed; nothing outside runtime/ should include it.
 */
#ifndef VLE_INTERNAL_H
#define VLE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"
#include "vle.h"

typedef void (*vle_kernel_fn)(const void *ctx, void *const *bufs, int64_t batch);

/* Kernels the runtime knows by name (docs/abi.md); a descriptor may list others. */
typedef enum { VK_INIT, VK_STREAMS, VK_INST, VK_PROSP, VK_FREE, VK_GRADS,
               VK_INST_SGD, VK_PROSP_SGD, VK_GRADS_SGD, VK_COUNT } vle_kernel_id;

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
  int sig_t, sig_dt, sig_gamma, sig_loss, sig_energy;
};

/* The mutable state of a sim that a save, a load and a NaN rollback move as a whole. */
typedef struct vle_sim_state {
  unsigned char *mem;            /* buffers (64-byte aligned offsets), then optimizer m, v
                                    and the grad sums (doubles) */
  void **bufs;                   /* current pointer of every buffer (pub pairs swap) */
  int64_t step;
  rng_state rng;
  int64_t *opt_t;                /* Adam step count per learn group */
} vle_sim_state;

struct vle_sim {
  const vle_model *m;
  long batch;
  double dt, gamma;
  const char *errors;
  vle_kernel_fn step_fn;
  vle_kernel_fn step_sgd, grads_sgd;  /* step_*_sgd and grads_sgd when learning with fused
                                         SGD weights (docs/abi.md), else NULL */
  bool learn, acc;
  bool hold;                     /* vle_sim_hold_learning: no optimizer, no grad sums */
  long check_every;
  size_t mem_size;               /* bytes of state.mem */
  size_t buf_bytes;              /* bytes of the buffers part of state.mem */
  size_t *count;                 /* reals per buffer */
  size_t *buf_off;               /* offset of each buffer in mem (initial placement) */
  size_t *opt_off;               /* per param: offset (in doubles) of m in opt_mem; v follows;
                                    SIZE_MAX when not trained by Adam */
  size_t *gsum_off;              /* per param: offset (doubles) of its grad sum, or SIZE_MAX */
  size_t n_opt, n_gsum;          /* doubles of optimizer state and grad sums */
  vle_sim_state st;
  vle_sim_state snap;            /* last state that passed the NaN check (if checking) */
  double **feed;                 /* per buffer: fed values [batch][size], or NULL */
};

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

/* Reals in buffer i for a batch of `batch`. */
size_t vm_buf_count(const vle_model *m, int i, long batch);

#endif
