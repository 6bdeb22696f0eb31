/*
 * vle.h - the public C API of libvlert, the vle runtime.
 *
 * A compiled model (a `.so` from `vlec build`, or code from the JIT) is a JSON descriptor
 * plus kernels (docs/abi.md). This library loads it (vle_model), creates simulations of it
 * (vle_sim: all buffers, optimizer and RNG state of one run) and steps them. It has no
 * global mutable state: any number of models and simulations can live in one process, and
 * two simulations never share memory. A vle_sim is not thread-safe, but distinct sims may
 * be used from distinct threads.
 *
 * Errors: every function that can fail takes a `vle_error *err` (may be NULL) and returns
 * NULL or -1; err->msg then holds a one-line message naming the file, buffer, index or
 * value at fault and what was expected.
 *
 * Reals: buffers hold double ("precision": "f64") or float ("f32") elements. Raw pointers
 * (vle_sim_buffer) are in the model's precision; the copy functions (vle_sim_get/_set/
 * _feed) always take doubles and convert.
 *
 * Minimal use (see docs/c-api.md):
 *     vle_error err;
 *     vle_model *m = vle_model_load_so("model.so", &err);
 *     vle_sim_options o; vle_sim_options_init(&o); o.seed = 1;
 *     vle_sim *s = vle_sim_new(m, &o, &err);
 *     vle_sim_step(s, 100, &err);
 *     double r[2]; vle_sim_get(s, "o.rate", r, 2, &err);
 *     vle_sim_free(s); vle_model_free(m);
 */
#ifndef VLE_H
#define VLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vle_vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model ABI this runtime implements (docs/abi.md). */
#define VLE_ABI_VERSION 1
/* Version of the state file format written by vle_sim_save (docs/runtime.md). */
#define VLE_STATE_VERSION 1
/* Bytes an adjoint window may keep by default (trajectory + checkpoints): 1 GiB. */
#define VLE_ADJOINT_MEMORY_DEFAULT ((size_t)1 << 30)

typedef struct vle_error { char msg[1024]; } vle_error;

typedef struct vle_model vle_model;
typedef struct vle_sim vle_sim;

/* ---- descriptor, as parsed ----------------------------------------------------------- */

typedef enum {
#define VLE_ROLE_ENUM_(id, name) VLE_ROLE_##id,
  VLE_ROLES(VLE_ROLE_ENUM_)   /* vle_vocab.h: state, pub, pubnext, param, grad, const, ... */
} vle_role;

typedef struct vle_buffer_info {
  const char *name;      /* unique: "h1", "h1'", "h1.rate", "W1", "grad.W1", "t", "loss" */
  vle_role role;
  long rows, cols;       /* per batch element for batched buffers */
  bool batched;          /* batched: batch * rows * cols reals, laid out [batch][rows*cols] */
  int pair;              /* pub <-> pubnext partner; param -> its grad; else -1 */
} vle_buffer_info;

/* Buffer indices of a population's signals; -1 where the model has none. */
typedef struct vle_population_info {
  const char *name;
  long size;
  int u, udot, e, g, v, rate, tau_m, tau_r;
} vle_population_info;

typedef struct vle_stream_info {      /* an input or a target */
  const char *name;
  int buf;
  long size;
  bool has_default;                   /* the `streams` kernel computes it from t */
  bool onehot;                        /* targets: data are class labels, expanded */
} vle_stream_info;

typedef struct vle_const_info {
  const char *name;
  int buf;
  long size;
  const double *value;                /* size values: the compiled default */
} vle_const_info;

typedef enum {
  VLE_INIT_ZEROS, VLE_INIT_CONSTANT, VLE_INIT_NORMAL, VLE_INIT_UNIFORM, VLE_INIT_GLOROT,
  VLE_INIT_IDENTITY, VLE_INIT_FILE, VLE_INIT_KERNEL
} vle_init_dist;

typedef struct vle_param_info {
  const char *name;
  int buf, grad;                      /* grad: buffer of its gradient, or -1 */
  const char *kind;                   /* "weight", "bias", "tau_m", "tau_r" */
  vle_init_dist dist;
  double args[2];                     /* constant: c; normal: mean, std; uniform: lo, hi */
  const char *path;                   /* VLE_INIT_FILE: absolute path of the .npy */
  int learn;                          /* index of its learn group, or -1 */
  int fused_lr;                       /* SGD done by step_*_sgd or grads_sgd: the buffer of
                                         its rate; -1: updated by the runtime's optimizer */
} vle_param_info;

#define VLE_OPT_ENUM_(id, name, lo, hi) VLE_OPT_##id,
typedef enum { VLE_OPTIMIZERS(VLE_OPT_ENUM_) } vle_opt;   /* vle_vocab.h: sgd, adam */
typedef enum { VLE_CLAMP_NONE, VLE_CLAMP_GE, VLE_CLAMP_GT, VLE_CLAMP_LE, VLE_CLAMP_LT } vle_clamp;

typedef struct vle_learn_info {
  vle_opt opt;
  double lr, beta1, beta2, eps;       /* Adam defaults as PyTorch: 0.9, 0.999, 1e-8 */
  vle_clamp clamp;
  double clamp_value;
  int nparams;
  const int *params;                  /* indices into the model's params */
} vle_learn_info;

typedef struct vle_settings {
  double dt, gamma;
  const char *errors;                 /* "prospective", "instantaneous" or "adjoint" */
  const char *scheme;                 /* "sync" */
  long batch;
  /* Equilibrium propagation (docs/theory.md §10b, docs/runtime.md): a model whose
   * populations follow the gradient flow learns by it, each step one sample: a free phase
   * of ep_free steps, then ep_nudged nudged steps (+β, and −β when symmetric). */
  bool eqprop, ep_symmetric;
  long ep_free, ep_nudged;
} vle_settings;

typedef enum { VLE_F64, VLE_F32 } vle_precision;

/* ---- loading ------------------------------------------------------------------------- */

/* Loads a model built by `vlec build` (dlopen RTLD_NOW|RTLD_LOCAL). Checks the file is a
 * complete ELF object first, so a truncated file is an error rather than a crash, then the
 * ABI version, then the descriptor (every index in range, every kernel present). */
vle_model *vle_model_load_so(const char *path, vle_error *err);

/* Builds a model from a descriptor and a symbol resolver (the JIT's path): `resolve(user,
 * "vle_NAME_KERNEL")` must return each kernel's address (NULL if missing). `abi` is the
 * value of the model's vle_NAME_abi. meta_json is copied. */
vle_model *vle_model_from_symbols(const char *meta_json, uint32_t abi,
                                  void *(*resolve)(void *user, const char *symbol),
                                  void *user, vle_error *err);

/* Frees a model (and dlcloses its .so). Free every vle_sim of it first. NULL is a no-op. */
void vle_model_free(vle_model *m);

/* ---- introspection (pointers live as long as the model) ------------------------------ */

const char *vle_model_get_name(const vle_model *m);
const char *vle_model_hash(const vle_model *m);          /* content hash of the model */
const char *vle_model_descriptor(const vle_model *m);   /* the JSON text */
vle_precision vle_model_precision(const vle_model *m);
size_t vle_model_real_size(const vle_model *m);          /* 8 or 4 */
const vle_settings *vle_model_settings(const vle_model *m);
bool vle_model_has_kernel(const vle_model *m, const char *kernel);

int vle_model_nbuffers(const vle_model *m);
const vle_buffer_info *vle_model_buffer(const vle_model *m, int i);
int vle_model_find_buffer(const vle_model *m, const char *name);      /* -1 if none */
int vle_model_npopulations(const vle_model *m);
const vle_population_info *vle_model_population(const vle_model *m, int i);
int vle_model_ninputs(const vle_model *m);
const vle_stream_info *vle_model_input(const vle_model *m, int i);
int vle_model_ntargets(const vle_model *m);
const vle_stream_info *vle_model_target(const vle_model *m, int i);
int vle_model_nconsts(const vle_model *m);
const vle_const_info *vle_model_const(const vle_model *m, int i);
int vle_model_nparams(const vle_model *m);
const vle_param_info *vle_model_param(const vle_model *m, int i);
int vle_model_find_param(const vle_model *m, const char *name);       /* -1 if none */
int vle_model_nlearn(const vle_model *m);
const vle_learn_info *vle_model_learn(const vle_model *m, int i);
/* Buffer index of a named signal ("t", "dt", "gamma", "loss", "energy"), or -1. */
int vle_model_signal(const vle_model *m, const char *name);
/* Name of a role ("state", "pub", ...). */
const char *vle_role_name(vle_role r);

/* ---- simulations ---------------------------------------------------------------------- */

/* NAME=values: a const (or the settings "dt", "gamma") overridden at run time. count is
 * the const's size, or 1 to broadcast one value. */
typedef struct vle_override { const char *name; const double *values; size_t count; } vle_override;
/* NAME=FILE.npy: a parameter's initial value (shape [rows, cols], or [rows] for a vector). */
typedef struct vle_init_file { const char *name; const char *path; } vle_init_file;

typedef struct vle_sim_options {
  long batch;                 /* 0: the descriptor's default */
  uint64_t seed;              /* drives every initialiser and the sim's random stream */
  double dt, gamma;           /* NaN: the descriptor's default */
  const char *errors;         /* NULL: default; "prospective" | "instantaneous" | "adjoint" */
  const vle_override *sets;
  size_t nsets;
  const vle_init_file *inits;
  size_t ninits;
  bool learn;                 /* run the optimizers (default true) */
  bool accumulate_grads;      /* sum dt * G of every learned parameter (vle_sim_grad_sum) */
  long check_every;           /* NaN/Inf check every N steps (default 1); 0: never */
  size_t adjoint_memory;      /* bytes an adjoint window may keep (trajectory + checkpoints);
                                 0: VLE_ADJOINT_MEMORY_DEFAULT */
  size_t memory_limit;        /* bytes the sim's state (and its NaN-check snapshot) may take,
                                 refused before allocating; 0: the machine's physical
                                 memory; SIZE_MAX: no bound */
  int threads;                /* threads of the kernels: 0 auto (docs/runtime.md "Threads":
                                 one for small networks and batch 1, else every core), N
                                 exactly N; the results are the same bits for every N */
  const struct vle_replicas *replicas;  /* data parallelism (below); NULL: this sim alone */
} vle_sim_options;

/* ---- replicas: data parallelism (docs/scaling.md) -------------------------------------- *
 * R replicas of one simulation (processes, typically MPI ranks) each run a slice of the
 * global batch: replica q the vle_replica_lanes(batch, R, q) lanes starting at *first (the
 * sim's batch option must be that count). They keep identical parameters:
 *   combine_every 1: every optimizer step uses the gradient of the whole batch: each
 *     replica's batch-mean gradient, gathered, and summed in rank order weighted by its
 *     share of the lanes, so every replica sees the same bits and the result does not
 *     depend on how the transport moves the bytes;
 *   combine_every K > 1 (local SGD, a different algorithm): each replica applies its own
 *     gradient, and every K optimizer steps the parameters are replaced by their
 *     lane-weighted mean in rank order (optimizer state stays per replica).
 * The transport is the caller's: allgather puts every replica's n bytes `mine` into
 * all[R][n] in rank order, on every replica; alltoall (optional, NULL: none) sends
 * send[q][n] to replica q and puts what replica q sent this one into recv[q][n]. Neither
 * can fail (a transport that does ends the job, as MPI's default error handler does).
 * vlec's is MPI (docs/cli.md "MPI"). With alltoall and 3 or more replicas, each replica
 * sums 1/R of the parameters (the same sums, the same bits) and an allgather shares them:
 * 2 (R - 1)/R of the parameters received instead of R - 1 times them. Every replica must
 * make the same calls in the same order. Not with accumulate_grads. */
typedef struct vle_replicas {
  int rank, size;             /* this replica, and how many */
  long batch;                 /* the global batch they split */
  int combine_every;          /* 1: gradients every step; K > 1: parameters every K steps */
  void (*allgather)(void *ctx, const void *mine, void *all, size_t n);
  void *ctx;
  void (*alltoall)(void *ctx, const void *send, void *recv, size_t n);
} vle_replicas;

/* The lanes of a batch of `batch` that replica `rank` of `size` runs, and (if first) the
 * first of them: contiguous slices in rank order, the first batch % size one lane longer. */
long vle_replica_lanes(long batch, int size, int rank, long *first);

/* Fills o with the defaults above. */
void vle_sim_options_init(vle_sim_options *o);

/* Allocates every buffer (64-byte aligned) and zeroes it, writes consts, dt and gamma,
 * initialises the parameters (seeded), calls the `init` kernel and checks that every
 * tau_m and tau_r is >= dt. The model must outlive the sim. */
vle_sim *vle_sim_new(const vle_model *m, const vle_sim_options *o, vle_error *err);
void vle_sim_free(vle_sim *s);

/* Runs nsteps steps of docs/abi.md. On a NaN/Inf (checked every check_every steps) it
 * stops, restores the state of the last check that passed and returns -1 with a message
 * naming the buffer, neuron, batch element, step and time. */
int vle_sim_step(vle_sim *s, int64_t nsteps, vle_error *err);

int64_t vle_sim_steps_done(const vle_sim *s);   /* the next step's index k (t = k * dt) */
double  vle_sim_time(const vle_sim *s);         /* t of the next step */
long    vle_sim_batch(const vle_sim *s);
double  vle_sim_dt(const vle_sim *s);
const char *vle_sim_errors(const vle_sim *s);  /* the error scheme in use */
/* The threads the sim's kernels run on, and (if why) a sentence saying why that many. */
int     vle_sim_threads(const vle_sim *s, const char **why);
const vle_model *vle_sim_model(const vle_sim *s);
/* While held, steps neither run the optimizers nor add to the gradient sums (a warm-up
 * without learning); parameters and optimizer state stay as they are. Default: not held. */
void vle_sim_hold_learning(vle_sim *s, bool hold);
/* Multiplies every learning rate of the model by scale (> 0, finite) from the next step
 * on: a learning-rate schedule's factor (the run's --lr-schedule). Default 1. Not part of
 * a saved state: a resumed run sets it again. */
int vle_sim_set_lr_scale(vle_sim *s, double scale, vle_error *err);
double vle_sim_lr_scale(const vle_sim *s);

/* Feeds an input or target from data: from the next step on, after the `streams` kernel,
 * the buffer is overwritten with these values (until fed again or unfed). count is the
 * stream's size (the same for every batch element) or batch * size ([batch][size]). */
int vle_sim_feed(vle_sim *s, const char *name, const double *values, size_t count,
                 vle_error *err);
/* Stops feeding a stream: its default expression (or zeros) applies again. */
int vle_sim_unfeed(vle_sim *s, const char *name, vle_error *err);

/* Raw pointer to a buffer (model precision), or NULL. The pointers of pub/pubnext buffers
 * change at every step (they are swapped), so fetch them again after vle_sim_step. */
void *vle_sim_buffer(vle_sim *s, const char *name, const vle_buffer_info **info);
/* Number of reals in a buffer (batch * rows * cols if batched), 0 if no such buffer. */
size_t vle_sim_count(const vle_sim *s, const char *name);
/* Copies a buffer out as doubles; count must equal vle_sim_count. */
int vle_sim_get(const vle_sim *s, const char *name, double *out, size_t count, vle_error *err);
/* Copies doubles into a buffer (a param, const, state, ...); count must equal vle_sim_count.
 * Settings t/dt/gamma are owned by the sim and refused. */
int vle_sim_set(vle_sim *s, const char *name, const double *in, size_t count, vle_error *err);
/* Sum over the steps so far of dt * G (G the `grads` kernel's output) of a parameter that
 * has a gradient; needs options.accumulate_grads. count = rows * cols. */
int vle_sim_grad_sum(const vle_sim *s, const char *param, double *out, size_t count,
                     vle_error *err);

/* ---- the adjoint scheme (errors = "adjoint", docs/abi.md) ------------------------------
 * A window of K steps: vle_sim_adjoint_begin, then up to K steps with vle_sim_step (the
 * forward pass, step_free; the sim stores u and u' of every population per step, or
 * checkpoints when the window exceeds adjoint_memory), then vle_sim_adjoint_end runs the
 * backward sweep over the steps done: the grad buffers then hold sum_k G_k; with
 * accumulate_grads dt * sum_k G_k is added to the grad sums; when learning, every learned
 * parameter takes one optimizer step on sum_k G_k (and its clamp). Outside a window an
 * adjoint step is the forward pass only. */

/* The run's side of a sweep, called for every step k of the window from the last:
 *  feed     before the sweep revisits step k: feed step k's data (vle_sim_feed) exactly as
 *           before the forward step k (NULL: the feeds in force stay);
 *  observe  after back_adj at step k: vle_sim_get and vle_sim_buffer then read the sweep's
 *           buffers (the adjoint errors h.error, g h.g, w h.v, the restored h and h' of
 *           step k); NULL: nothing.
 * Each returns 0, or -1 with err set (the sweep stops). */
typedef int (*vle_step_fn)(void *user, vle_sim *s, int64_t k, vle_error *err);
typedef struct vle_adjoint_hooks {
  vle_step_fn feed, observe;
  void *user;
} vle_adjoint_hooks;

/* Opens a window of nsteps steps from the next step. Fails if the scheme is not adjoint,
 * the model has no back_adj kernel, a window is open, or it does not fit adjoint_memory. */
int vle_sim_adjoint_begin(vle_sim *s, int64_t nsteps, vle_error *err);
/* The backward sweep over the steps done since begin (0 is fine), then the update. hooks
 * may be NULL. Closes the window, also on error. */
int vle_sim_adjoint_end(vle_sim *s, const vle_adjoint_hooks *hooks, vle_error *err);
/* begin, nsteps x (hooks->feed(k), vle_sim_step), end: one whole window. */
int vle_sim_adjoint_window(vle_sim *s, int64_t nsteps, const vle_adjoint_hooks *hooks,
                           vle_error *err);

/* What a window of nsteps steps would keep: bytes of trajectory + checkpoints (the bound
 * adjoint_memory applies to), steps per segment and checkpoints; bytes of the two state
 * copies the sweep uses besides. Returns -1 if it cannot fit the bound. */
typedef struct vle_adjoint_plan {
  int64_t window, segment, checkpoints;
  size_t bytes, step_bytes, checkpoint_bytes, state_bytes;
} vle_adjoint_plan;
int vle_sim_adjoint_plan(const vle_sim *s, int64_t nsteps, vle_adjoint_plan *plan,
                         vle_error *err);

/* Saves the complete state (every buffer, step counter, optimizer and RNG state, grad
 * sums) to a versioned, checksummed binary file (written to a temporary name, renamed).
 * An open adjoint window is not part of it: save between windows. */
int vle_sim_save(const vle_sim *s, const char *path, vle_error *err);
/* Loads a state saved from a sim of the same model (hash), precision, batch and layout. On
 * any error the sim is unchanged. */
int vle_sim_load(vle_sim *s, const char *path, vle_error *err);

/* The runtime's version string ("0.1.0"). */
const char *vle_runtime_version(void);

/* ---- ABI check ------------------------------------------------------------------------
 * sizeof of a public struct as this library was compiled, by its name without "struct"
 * ("vle_sim_options", "vle_error", ...; the list is in docs/c-api.md), or 0 for a name it
 * does not know. A client built against another vle.h, or one that declares the structs
 * itself (Python's ctypes), compares its own sizes with these before passing a struct. */
size_t vle_abi_size(const char *struct_name);

/* ---- running many steps: a chunk at a time (runtime/vle_run_api.c) --------------------
 * What `vlec run` does between setup and outputs, for a sim the caller owns: feeds the data
 * files of --input/--target (data.h's rules: shared, per batch element, datasets in
 * minibatches, onehot labels), runs the steps with --warmup and adjoint windows, and
 * copies the recorded signals into arrays the caller provides, in chunks of steps, so that
 * a caller (Python) can stop between chunks. Not done here (vlec run's alone): the per-epoch
 * metrics, evaluation, learning-rate schedule and checkpoints of a dataset training, and
 * the replay that pins a NaN found by a later check (check_every > 1) to its step. Step i of the run reads row i of the data
 * (counted from the run's first step, whatever the sim's step count). */
typedef struct vle_stream_file { const char *name, *path; } vle_stream_file;

typedef struct vle_run_spec {
  int64_t steps;              /* -1: the data's length (a dataset: epochs x its steps) */
  const vle_stream_file *inputs, *targets;   /* .npy or .csv files, as --input/--target */
  size_t ninputs, ntargets;
  const char *const *record;  /* signals and parameters, as --record */
  size_t nrecord;
  int64_t record_every;       /* as --record-every (0: every step) */
  int64_t param_every;        /* as --param-every (0: as record_every) */
  int64_t warmup;             /* as --warmup: the first steps run without learning */
  int64_t epochs;             /* as --epochs (default 1) */
  int64_t window;             /* as --window for the adjoint (-1: the whole run) */
  bool shuffle;               /* dataset minibatches shuffled per epoch (default true) */
  bool learn;                 /* false: the whole run holds learning (default true) */
  uint64_t seed;              /* the dataset shuffle's seed (vlec run: --seed) */
  bool dataset;               /* as --dataset: [samples, steps, n] files are a dataset,
                                 presented in minibatches (default false) */
} vle_run_spec;

/* One recording: rows of row_reals reals in the model's precision, written row-major
 * [rows][row_reals]; a batched signal's row is [batch][inner], so the .npy layout of
 * `vlec run` ([batch, rows, inner]) is a transpose of it. */
typedef struct vle_record_info {
  const char *name;
  const char *kind;           /* "batched", "shared", "mean" (loss, energy), "param" */
  long batch;                 /* leading dimension of a row: the sim's batch for "batched" */
  int ndim;                   /* dimensions of one batch element's value: 0, 1 or 2 */
  int64_t inner[2];
  int64_t every;              /* a row after every `every` steps; 0: none (a parameter at the end) */
  int64_t rows;               /* rows the whole run writes */
  size_t row_reals;           /* batch * product(inner) */
} vle_record_info;

typedef struct vle_runner vle_runner;

void vle_run_spec_init(vle_run_spec *spec);
/* Loads the data, plans the steps and the adjoint windows and checks the recordings. The
 * sim must outlive the runner; nothing runs yet. */
vle_runner *vle_runner_new(vle_sim *s, const vle_run_spec *spec, vle_error *err);
int64_t vle_runner_planned(const vle_runner *r);      /* steps of the whole run */
int64_t vle_runner_done(const vle_runner *r);         /* steps run so far */
int vle_runner_nrecords(const vle_runner *r);
int vle_runner_record(const vle_runner *r, int i, vle_record_info *info, vle_error *err);
/* Where recording i goes: info.rows * info.row_reals reals (model precision). Every
 * recording with rows > 0 needs one before the first step. */
int vle_runner_bind(vle_runner *r, int i, void *dst, vle_error *err);
/* Runs up to nsteps more steps (fewer at the end of the run); returns the steps run, or -1
 * (the steps before the failing one stay done and recorded: vle_runner_done). */
int64_t vle_runner_step(vle_runner *r, int64_t nsteps, vle_error *err);
/* Ends the run: sweeps an adjoint window left open by a run stopped early (as `vlec run`
 * does after an interrupt) and releases the hold on learning. */
int vle_runner_finish(vle_runner *r, vle_error *err);
void vle_runner_free(vle_runner *r);

#ifdef __cplusplus
}
#endif
#endif
