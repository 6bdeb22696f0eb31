/*
 * vle_vocab.h - the vocabulary that the compiler and the runtime share across the ABI
 * (docs/abi.md): kernel names and error schemes. Each list is one X-macro; every table on
 * either side is generated from it, so an entry is added here once, and a `switch` that does
 * not handle a new entry is a compile-time warning (-Wswitch), never a silent fallback.
 *
 * Installed with vle.h (it is part of the model ABI); C17, no other dependencies.
 */
#ifndef VLE_VOCAB_H
#define VLE_VOCAB_H

/* Buffer roles: X(ID, "name"); VLE_ROLE_ID in vle.h, KR_ID in the compiler's kir.h. */
#define VLE_ROLES(X)                                                                       \
  X(STATE, "state")       /* carried from step to step (u, u', v, e); batched */           \
  X(PUB, "pub")           /* published at step k-1, read at step k; batched */             \
  X(PUBNEXT, "pubnext")   /* published at step k, becomes pub by a pointer swap */         \
  X(PARAM, "param")       /* a parameter (weights, biases, time constants); shared */      \
  X(GRAD, "grad")         /* a parameter's gradient (batch mean); shared */                \
  X(CONST, "const")       /* a model `const` (--set); shared */                            \
  X(SETTING, "setting")   /* t, dt, gamma, learning rates; shared scalars */               \
  X(INPUT, "input")       /* an input stream; batched */                                   \
  X(TARGET, "target")     /* a target stream; batched */                                   \
  X(SIGNAL, "signal")     /* per-step outputs: loss, energy, objective, rates; batched */  \
  X(TEMP, "temp")         /* scratch within a kernel */

/* Optimizers: X(ID, "name", fewest arguments, most arguments) in a `learn` line
 * (sgd(rate), adam(rate[, beta1, beta2, eps])); VLE_OPT_ID in vle.h. */
#define VLE_OPTIMIZERS(X)                                                                  \
  X(SGD, "sgd", 1, 1)                                                                      \
  X(ADAM, "adam", 1, 4)

/* Kernels a model may carry: X(ID, "name"). A descriptor lists the ones its model has; the
 * runtime calls them by these names (`vle_<model>_<name>` in a .so). */
#define VLE_KERNELS(X)                                                                     \
  X(INIT, "init")                 /* time constants computed from the model */             \
  X(PUB_INIT, "pub_init")         /* published values before the first step (§6.5) */      \
  X(STREAMS, "streams")           /* inputs and targets given as functions of t */         \
  X(INST, "step_inst")            /* one step, instantaneous errors */                     \
  X(PROSP, "step_prosp")          /* one step, prospective errors */                       \
  X(FREE, "step_free")            /* one step with e = 0: the adjoint's forward pass */    \
  X(GRADS, "grads")               /* the parameters' gradients G of the step */            \
  X(BACK_ADJ, "back_adj")         /* one backward step of the exact adjoint */             \
  X(BACK_BPTT, "back_bptt")       /* one backward step of the discrete adjoint (bptt) */   \
  X(INST_SGD, "step_inst_sgd")    /* step_inst with the fused SGD updates */               \
  X(PROSP_SGD, "step_prosp_sgd")  /* step_prosp with the fused SGD updates */              \
  X(GRADS_SGD, "grads_sgd")       /* grads, then SGD on the parameters not fused */

#define VLE_KERNEL_ENUM_(id, name) VK_##id,
typedef enum { VLE_KERNELS(VLE_KERNEL_ENUM_) VK_COUNT } vle_kernel_id;

/* Error schemes (docs/theory.md §4, §9): X(ID, "name", step kernel, step kernel with fused
 * SGD, backward kernel, split). A local scheme (no backward kernel: VK_COUNT) runs forward in
 * time with the step; the adjoint and bptt run their forward pass with e = 0 (step_free) over
 * a window and then a backward sweep, one backward kernel call per step. split: the scheme is
 * written in terms of the split of §4 (q, a, b) and exists only where it holds. */
#define VLE_SCHEMES(X)                                                                     \
  X(PROSPECTIVE, "prospective", VK_PROSP, VK_PROSP_SGD, VK_COUNT, 1) /* GLE, §4c, default */\
  X(INSTANTANEOUS, "instantaneous", VK_INST, VK_INST_SGD, VK_COUNT, 1) /* LE, §4b */       \
  X(ADJOINT, "adjoint", VK_FREE, VK_COUNT, VK_BACK_ADJ, 1) /* continuous adjoint, §4a */   \
  X(BPTT, "bptt", VK_FREE, VK_COUNT, VK_BACK_BPTT, 0)      /* discrete adjoint, §9 */

#define VLE_SCHEME_ENUM_(id, name, kernel, sgd, back, split) VLE_SCHEME_##id,
typedef enum { VLE_SCHEMES(VLE_SCHEME_ENUM_) VLE_NSCHEMES } vle_scheme;

/* The names of all schemes, "prospective, instantaneous, adjoint, bptt", for messages. */
#define VLE_SCHEME_LIST_(id, name, kernel, sgd, back, split) name ", "
#define VLE_SCHEME_NAMES VLE_SCHEMES(VLE_SCHEME_LIST_)

/* The team a kernel call belongs to (docs/abi.md "Threads"): with ctx = a vle_team of
 * nthreads > 1, every member calls the kernel at once with the same bufs and batch and its own
 * tid (0 .. nthreads-1); a model's threaded kernels share the work out so that each result is
 * computed by one member, in the order of the serial code (the results do not depend on
 * nthreads), and call barrier(team) between dependent statements: it returns once every member
 * has called it. ctx NULL (or nthreads 1): the serial code. Generated code reads the fields at
 * their offsetof; the layout is part of the ABI. */
#include <stdint.h>
typedef struct vle_team {
  int64_t tid;                               /* this member: 0 .. nthreads-1 */
  int64_t nthreads;
  void (*barrier)(const struct vle_team *);  /* waits for every member */
  void *pool;                                /* the runtime's, for barrier */
} vle_team;

#endif
