/*
 * run.h - the loop behind `vlec run` and `vlec grad` (docs/cli.md), over any
 * vle_model (JIT or .so). The driver obtains the model and calls:
 *
 *     rn_options o;
 *     int rc = rn_parse_args(argc, argv, &o, grad_mode, stderr);   // 2: usage error
 *     if (rc == 0) { vle_model *m = ...load o.model...; rc = rn_main(m, &o, stderr); }
 *     rn_options_free(&o);
 *
 * rn_main returns the process exit status: 0 success, 1 an error in the model or data
 * (message on `log`), 130 interrupted by SIGINT (outputs complete, run.json says so).
 */
#ifndef VLE_RUN_H
#define VLE_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vle.h"

typedef struct rn_kv { const char *name, *value; } rn_kv;   /* NAME=VALUE of an option */

typedef struct rn_options {
  const char *model;          /* MODEL.vle or MODEL.so (positional) */
  const char *model_source;   /* the .vle source file the model was compiled from, copied
                                 into the run directory as model.vle; NULL: none (a .so) */
  const char *const *model_uses;   /* the files the model `use`s (absolute paths), copied
                                     into DIR/model_uses/ beside model.vle */
  int nmodel_uses;
  bool grad_mode;             /* vlec grad: learning off, write grad/NAME.npy */
  int64_t steps;              /* --steps; -1: unset */
  double time;                /* --time; NaN: unset */
  double dt;                  /* --dt; NaN: the model's */
  long batch;                 /* --batch; 0: the model's */
  uint64_t seed;              /* --seed (default 0) */
  const char *errors;         /* --errors; NULL: the model's */
  int64_t window;             /* --window (adjoint); -1: the whole run */
  int64_t adjoint_memory;     /* --adjoint-memory MB (adjoint); 0: the runtime's default */
  int64_t max_memory;         /* --max-memory MB for the sim's state; 0: physical memory */
  int threads;                /* --threads N; 0: auto (vle_sim_options.threads) */
  rn_kv *sets, *inits, *inputs, *targets;
  int nsets, ninits, ninputs, ntargets;
  bool no_learn;              /* --no-learn */
  const char **record;        /* --record LIST, split at commas */
  int nrecord;
  int64_t record_every;       /* --record-every K: signals after every K-th step, and
                                 parameter snapshots unless --param-every; 0: every step /
                                 parameters at the end only */
  int64_t param_every;        /* --param-every P: parameter snapshots; 0: as record_every */
  const char *out;            /* --out DIR; NULL: runs/MODEL-TIMESTAMP */
  bool force;                 /* --force: write into a non-empty DIR holding no vle run */
  bool quiet;                 /* --quiet */
  int64_t warmup;             /* --warmup W: the first W steps run without learning */
  bool dataset;               /* --dataset: [samples, ...] files are a dataset */
  int64_t epochs;             /* --epochs E: a dataset's epochs in all (a resumed training
                                 goes on to E; default 1) */
  rn_kv *eval_inputs, *eval_targets;   /* --eval-input / --eval-target: the evaluation set */
  int neval_inputs, neval_targets;
  const char *readout;        /* --readout SIGNAL: the output whose per-sample sum (argmax)
                                 is the prediction; NULL: the model's, if it says */
  int64_t readout_last;       /* --readout-last K: sum only a sample's last K steps; 0: all */
  const char *lr_schedule;    /* --lr-schedule step:N:F | plateau:P:F; NULL: none */
  bool no_shuffle;            /* --no-shuffle: dataset minibatches in file order */
  int64_t check_every;        /* --check-every N: NaN/Inf check interval (default 1; 0 off) */
  const char *save_state;     /* --save-state FILE: the sim's state at the end */
  const char *load_state;     /* --load-state FILE: resume from a saved state */
  int64_t combine_every;      /* --combine-every K under MPI: 1 (default) gradients every
                                 step; K > 1 local SGD (vle.h "replicas") */
  const vle_replicas *replicas;   /* the MPI ranks this process is one of (the driver's
                                 transport, docs/cli.md "MPI"); NULL: alone */
  char **owned_;              /* strings and arrays rn_options_free releases */
  int nowned_;
} rn_options;

/* A learning-rate schedule (--lr-schedule, run_epoch.c): the factor on every learning rate
 * after each epoch. */
typedef enum { RN_SCHED_NONE, RN_SCHED_STEP, RN_SCHED_PLATEAU } rn_sched_kind;
typedef struct rn_sched {
  rn_sched_kind kind;
  int64_t every;              /* step: N epochs; plateau: the patience P */
  double factor;              /* F, in (0, 1) */
  double scale;               /* the factor now (1 at the start) */
  double best;                /* plateau: the best metric so far */
  int64_t bad;                /* plateau: epochs since it improved */
} rn_sched;

/* Parses "step:N:F" or "plateau:P:F" (out may be NULL: just check). Returns 0 or -1. */
int rn_schedule_parse(const char *spec, rn_sched *out);

/* Defaults as above; no allocation. */
void rn_options_init(rn_options *o, bool grad_mode);
void rn_options_free(rn_options *o);

/* Parses the command line of `vlec run` / `vlec grad` (argv[0] is the subcommand's name).
 * Returns 0, or 2 after printing a usage error to err. */
int rn_parse_args(int argc, char **argv, rn_options *o, bool grad_mode, FILE *err);

/* Parses "1,2.5,3" into values (NULL: just count). Returns the count, or -1 if malformed. */
long rn_parse_reals(const char *s, double *values);

/* The options' help text (for `vlec run --help`). */
const char *rn_help(bool grad_mode);

/* Runs (or, in grad mode, estimates gradients) and writes the outputs of cli.md. */
int rn_main(const vle_model *m, const rn_options *o, FILE *log);

#endif
