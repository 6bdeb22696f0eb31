/*
 * data.h - data streams of a run: --input/--target files fed into a simulation each step.
 *
 * A file is .npy or .csv (CSV is read as a 2-d array [rows, cols]). For a stream of size n:
 *   [steps, n]            the same values for every batch element; row k at step k
 *   [batch, steps, n]     first dimension equal to the batch: element b reads sample b
 *   [samples, steps, n]   with --dataset (and only then): a dataset, presented in minibatches
 *                         of `batch` samples for `steps` steps each, for a number of epochs,
 *                         shuffled per epoch from the seed (the last partial minibatch of an
 *                         epoch is dropped); without --dataset a first dimension other than
 *                         the batch is an error, never guessed to mean samples
 * A `target ... onehot` takes integer class labels instead: [batch] or [batch, steps]
 * (or [samples] / [samples, steps] for a dataset), expanded to one-hot vectors.
 * All dataset files of a run must agree on samples and steps; they share one permutation.
 */
#ifndef VLE_DATA_H
#define VLE_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "rng.h"
#include "run.h"
#include "vle.h"

typedef enum { DS_SHARED, DS_DIRECT, DS_DATASET } ds_kind;

typedef struct ds_stream {
  const char *name, *path;
  int buf;                    /* the model's buffer it feeds */
  long size;                  /* elements per batch element */
  bool onehot;
  bool target;                /* a --target (else an --input) */
  ds_kind kind;
  int64_t nsamples;           /* first dimension for DIRECT/DATASET, 1 for SHARED */
  int64_t steps;              /* steps of data per sample; 0: labels constant in time */
  double *values;             /* [nsamples][steps][size], or labels [nsamples][steps|1] */
} ds_stream;

typedef struct ds_set {
  ds_stream *s;
  int n;
  long batch;
  long lane0, lanes;          /* the lanes this process feeds (MPI: a slice of the batch) */
  uint64_t seed;
  bool shuffle;
  bool dataset;               /* some stream is a dataset */
  int64_t nsamples, sample_steps, nbatches;  /* of the dataset */
  int64_t perm_epoch;         /* epoch whose permutation perm holds, -1 none */
  int64_t *perm;
  double *row;                /* [batch][max size] scratch for one step's values */
} ds_set;

/* What to load: the streams NAME=FILE, and how a dataset among them is presented. */
typedef struct ds_spec {
  const rn_kv *inputs, *targets;
  int ninputs, ntargets;
  long batch;
  long lane0, lanes;          /* the lanes fed (a rank's slice under MPI); lanes 0: all */
  uint64_t seed;
  bool shuffle;
  bool dataset;               /* --dataset: [samples, ...] files are datasets */
  const char *opt;            /* the options' prefix in messages: "" or "eval-" */
} ds_spec;

/* The training streams of a run: --input/--target of o at the given batch. */
ds_spec ds_spec_of(const rn_options *o, long batch);
/* Loads and checks every stream of spec for model m. */
int ds_load(ds_set *d, const vle_model *m, const ds_spec *spec, vle_error *err);
/* The class of the sample the fed lane b (0: lane0) reads at step k from the onehot target stream st
 * (an index into d->s), or -1 when that stream has no label there. */
long ds_label(ds_set *d, int st, int64_t k, long b);
/* The index of the first onehot target stream, or -1. */
int ds_onehot_stream(const ds_set *d);
/* Steps the data define (-1: none sets the length; a dataset: epochs x batches x steps). */
int64_t ds_length(const ds_set *d, int64_t epochs);
/* Feeds step k's values of every stream into s. */
int ds_feed(ds_set *d, vle_sim *s, int64_t k, vle_error *err);
void ds_free(ds_set *d);

#endif
