/* run_int.h - the state of one rn_main call, shared by run.c, run_rec.c and run_json.c. */
#ifndef VLE_RUN_INT_H
#define VLE_RUN_INT_H

#include <stdint.h>
#include <stdio.h>

#include "data.h"
#include "rec.h"
#include "run.h"
#include "vle.h"

typedef enum {
  RN_BATCHED,                 /* a batched buffer, every step: [batch, steps, n] */
  RN_SHARED,                  /* a shared buffer, every step: [steps, n] */
  RN_MEAN,                    /* loss, energy: batch mean every step: [steps] */
  RN_PARAM,                   /* a parameter: at the end, or every K steps [snapshots, ...] */
} rn_rec_kind;

typedef struct rn_rec {
  const char *name;
  rn_rec_kind kind;
  int buf;                    /* buffer index (RN_PARAM: the parameter's buffer) */
  bool open;                  /* a rec_stream is being written */
  bool sweep;                 /* an adjoint error signal: the sweep rewrites its rows */
  rec_stream r;
} rn_rec;

/* Sums over an epoch (or an evaluation): the batch-mean loss per step, and predictions. */
typedef struct rn_metric {
  double loss_sum;
  int64_t loss_n;
  int64_t correct, total;
} rn_metric;

/* One line of epochs.csv (NaN: no such value). */
typedef struct rn_epoch_row {
  int64_t epoch, step;
  double train_loss, train_acc, eval_loss, eval_acc, lr, wall;
} rn_epoch_row;

/* A training on a dataset (run_epoch.c). */
typedef struct rn_epochs {
  bool on;                    /* --dataset */
  int64_t len;                /* steps per epoch: minibatches x steps per sample */
  int64_t done;               /* epochs completed, those before a resume included */
  int readout;                /* the read-out buffer, or -1: no accuracy */
  char readout_name[256];
  long readout_size;          /* = the classes */
  int64_t readout_last;       /* sum a sample's last K steps; 0: all */
  double *sums;               /* [batch][classes]: the read-out summed over the sample so far */
  rn_metric train;            /* this epoch so far */
  ds_set eval;                /* --eval-input/--eval-target */
  bool has_eval;
  rn_sched sched;
  double wall0;               /* a resumed training: the wall time its log had reached */
  FILE *log;                  /* DIR/epochs.csv */
  bool checkpointed;
  rn_epoch_row *rows;         /* every epoch's line (run.json) */
  int nrows, caprows;
} rn_epochs;

typedef struct rn_run {
  const vle_model *m;
  const rn_options *o;
  vle_sim *sim;
  ds_set data;
  vle_override *sets;
  vle_init_file *inits;
  char *out;                  /* output directory */
  bool out_created;           /* rn_main made it (removed again if setup fails) */
  int lock_fd;                /* DIR/.vle.lock, flock'ed while the run lasts; -1: none */
  bool lock_made;             /* this run created the lock file */
  rn_rec *recs;
  int nrecs;
  double *scratch;            /* batch reals (means) */
  int64_t k0;                 /* step index the run starts at (0, or a loaded state's) */
  int64_t window;             /* adjoint windows of this many steps; 0: none (local scheme,
                                 or adjoint with nothing to learn or estimate) */
  vle_adjoint_plan plan;      /* the first window's memory plan (run.json) */
  int64_t steps_planned, steps_run;
  double t_start, wall, last_progress, loss_sum;
  int64_t loss_n;
  int loss;                   /* the loss buffer (batch mean every step: the progress bar,
                                 run.json's final and best loss), or -1: looked up once */
  double loss_final, loss_best;   /* batch means; NaN: no loss, or no step */
  bool model_copied;          /* DIR/model.vle written */
  char started[32];           /* the run's start, ISO 8601 UTC (run.json) */
  bool progress, interrupted;
  int signal;                 /* the signal that interrupted it (SIGINT, SIGTERM, SIGHUP) */
  char error[1024];           /* why the loop stopped early, or "" */
  char **outputs;             /* files written, relative to out */
  af_file json;               /* run.json, opened (and its blocks reserved) before the first
                                 step: a disk that fills during the run cannot take it */
  int noutputs;
  char **kept;                /* a run resumed in place: the earlier run's outputs, listed in
                                 run.json too (its files are this run's) */
  int nkept;
  rn_epochs ep;               /* --dataset: epochs, evaluation, schedule, log */
  long batch;                 /* the run's batch (all ranks together) */
  long lane0, lanes;          /* the lanes of it this process runs (all, when alone) */
  bool dp, mute;              /* split over MPI ranks (run_rep.c); another rank writes */
  vle_replicas rep;           /* the sim's view of the ranks (dp), counting bytes */
  uint64_t rep_bytes;         /* bytes this rank received */
  long rep_max_lanes;         /* the most lanes a rank runs */
  void *rep_send, *rep_all, *rep_row;   /* exchange scratch (rn_rep_reserve) */
  size_t rep_room;            /* bytes per lane it has room for */
  FILE *log;                  /* messages (rn_main's log; NULL: none) */
} rn_run;

double rn_now(void);
/* "SIGINT", "SIGTERM", "SIGHUP" (run.json, messages). */
const char *rn_signal_name(int sig);
/* DIR/NAME (malloc; NULL: out of memory). */
char *rn_join(const char *dir, const char *name);
/* mkdir -p */
int rn_mkdirs(const char *path, vle_error *err);
/* The batch mean of a batched scalar buffer (loss, energy) after the last step. */
double rn_batch_mean(rn_run *r, int buf);

/* run_rec.c: --record, params/, grad/ */
int  rn_records_check(rn_run *r, vle_error *err);
/* Whether buffer b is a population's error, g or w (.v): what the adjoint's sweep computes. */
bool rn_sweep_signal(const vle_model *m, int b);
/* Rewrites step k's row of every sweep signal recording from the sweep's buffers. */
int  rn_record_sweep(rn_run *r, int64_t k, vle_error *err);
int  rn_records_open(rn_run *r, vle_error *err);
int  rn_record_step(rn_run *r, vle_error *err);
/* Cuts every open recording back to the rows of the r->steps_run steps (rn_replay). */
int  rn_records_truncate(rn_run *r, vle_error *err);
int  rn_records_close(rn_run *r, vle_error *err);
void rn_records_abort(rn_run *r);
int  rn_write_params(rn_run *r, vle_error *err);
int  rn_write_grads(rn_run *r, vle_error *err);
/* β, the weight of the cost in the energy, from the model's signal objective.beta. */
int  rn_beta(const rn_run *r, double *beta, vle_error *err);
/* The file name (without .npy) of a signal's recording: the name with every ' written as
 * _dot (h1' -> h1_dot), so that no file name needs quoting in a shell (malloc; NULL: out
 * of memory). docs/cli.md. */
char *rn_file_stem(const char *name);
/* Remembers an output file, [DIR/]NAME.npy relative to the out dir, for run.json. */
void rn_output(rn_run *r, const char *dir, const char *name);
/* Remembers any other output file (relative to the out dir) for run.json. */
void rn_output_file(rn_run *r, const char *file);

/* run_rep.c: a run split over MPI ranks. Every function here is an exchange every rank
 * makes at the same point; alone (r->dp false) each returns its own value. */
enum { RN_REP_MSG = 480 };       /* bytes of a failure's message between ranks */
/* The split of the batch and the checks; before the sim is made. */
int  rn_rep_setup(rn_run *r, long batch, vle_error *err);
/* Scratch for exchanges of up to bytes_per_lane per lane (and messages), before step 0. */
int  rn_rep_reserve(rn_run *r, size_t bytes_per_lane, vle_error *err);
void rn_rep_free(rn_run *r);
/* The whole batch's row of a batched buffer, from every rank's lanes (in rank order). */
const void *rn_rep_lanes(rn_run *r, const void *mine, size_t bytes_per_lane);
/* Sums over the ranks, in rank order. */
double  rn_rep_sum(rn_run *r, double mine);
int64_t rn_rep_count(rn_run *r, int64_t mine);
/* Whether every rank may go on: rc is this rank's status (err its message); returns -1 on
 * every rank when any failed, with the first failing rank's message in err. *signal: this
 * rank's interrupting signal (0: none), set to any rank's. */
int  rn_rep_agree(rn_run *r, int rc, int *signal, vle_error *err);

/* run_epoch.c: a training on a dataset (--dataset). rn_ep_setup after the data and the
 * steps are planned (replays a resumed training's schedule); rn_ep_open_log once the run
 * directory is ready; rn_ep_step after each step k; rn_ep_end after it too: at an epoch's
 * end the metrics, evaluation, schedule, log line and checkpoint. */
int  rn_ep_setup(rn_run *r, vle_error *err);
int  rn_ep_open_log(rn_run *r, vle_error *err);
void rn_ep_step(rn_run *r, int64_t k);
int  rn_ep_end(rn_run *r, int64_t k, FILE *log, vle_error *err);
void rn_ep_free(rn_run *r);

/* run_dir.c: locks the run directory r->out, then removes an earlier run's files from it
 * (or refuses a directory that is not a run's; docs/runtime.md). */
int  rn_dir_prepare(rn_run *r, vle_error *err);
/* Unlocks it (remove_lock: and removes the lock file, for a directory about to go). */
void rn_dir_release(rn_run *r, bool remove_lock);
/* Copies o->model_source into the run directory as model.vle (nothing without one). */
int  rn_dir_copy_model(rn_run *r, vle_error *err);
/* Frees what rn_dir_prepare kept (r->kept). */
void rn_dir_free(rn_run *r);

/* run_json.c: rn_json_reserve opens run.json's temporary file with room for its text;
 * rn_write_json fills it in (and opens it first if the run never reserved it). */
int rn_json_reserve(rn_run *r, vle_error *err);
int rn_write_json(rn_run *r, vle_error *err);

#endif
