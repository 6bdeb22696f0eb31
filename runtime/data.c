/* data.c - data streams of a run; see data.h. */
#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "npy.h"
#include "vle_err.h"
#include "vle_internal.h"   /* vs_feed_at: no lookup by name every step */

/* A file as doubles with its shape (CSV: [rows, cols]). */
typedef struct ds_array { double *v; int ndim; int64_t shape[NPY_MAXDIM]; size_t count; } ds_array;

static bool ds_is_csv(const char *path) {
  size_t n = strlen(path);
  return n >= 4 && !strcmp(path + n - 4, ".csv");
}

static int ds_read_npy(const char *path, ds_array *a, vle_error *err) {
  npy_array raw;
  if (npy_read(path, &raw, err)) return -1;
  a->ndim = raw.ndim;
  memcpy(a->shape, raw.shape, sizeof a->shape);
  a->count = raw.count;
  a->v = malloc((raw.count ? raw.count : 1) * sizeof *a->v);
  if (a->v)
    for (size_t i = 0; i < raw.count; i++) a->v[i] = npy_get(&raw, i);
  npy_free(&raw);
  return a->v ? 0 : vle_fail(err, "%s: out of memory", path);
}

static int ds_read(const char *path, ds_array *a, vle_error *err) {
  memset(a, 0, sizeof *a);
  if (ds_is_csv(path)) {
    a->ndim = 2;
    if (csv_read(path, &a->v, &a->shape[0], &a->shape[1], err)) return -1;
    a->count = (size_t)(a->shape[0] * a->shape[1]);
  } else if (ds_read_npy(path, a, err)) {
    return -1;
  }
  for (size_t i = 0; i < a->count; i++)
    if (!isfinite(a->v[i]))
      return vle_fail(err, "%s: element %zu is %g: data must be finite", path, i, a->v[i]);
  return 0;
}

static void ds_shape_str(const ds_array *a, char *buf, size_t len) {
  npy_array t = { .ndim = a->ndim };
  memcpy(t.shape, a->shape, sizeof t.shape);
  npy_shape_str(&t, buf, len);
}

/* Labels: integers in [0, size). */
static int ds_check_labels(const ds_stream *s, const ds_array *a, vle_error *err) {
  for (size_t i = 0; i < a->count; i++) {
    double x = a->v[i];
    if (x != floor(x) || x < 0 || x >= (double)s->size)
      return vle_fail(err, "%s: label %g at index %zu is not a class of target %s (expected an "
                      "integer in [0, %ld])", s->path, x, i, s->name, s->size - 1);
  }
  return 0;
}

/* [samples, ...] is a dataset with --dataset; without, its first dimension must be the
 * batch (one sample per batch element), and anything else is refused, not guessed. */
static int ds_samples_kind(ds_stream *s, const ds_spec *spec, vle_error *err) {
  if (spec->dataset) {
    s->kind = DS_DATASET;
    return 0;
  }
  s->kind = DS_DIRECT;
  if (s->nsamples == spec->batch) return 0;
  return vle_fail(err, "%s: %s has %lld in its first dimension but the batch is %ld: to present "
                  "the file as a dataset of %lld samples in minibatches, pass --dataset (or give "
                  "--batch %lld for one sample per batch element)", s->path, s->name,
                  (long long)s->nsamples, spec->batch, (long long)s->nsamples,
                  (long long)s->nsamples);
}

/* Decides the kind of a stream from its shape (see data.h). */
static int ds_classify(ds_stream *s, const ds_array *a, const ds_spec *spec, vle_error *err) {
  char shape[96];
  ds_shape_str(a, shape, sizeof shape);
  if (s->onehot) {
    if (a->ndim != 1 && a->ndim != 2)
      return vle_fail(err, "%s: target %s is onehot: expected integer labels of shape [batch] or "
                      "[batch, steps] (or [samples] / [samples, steps]), the file has shape %s",
                      s->path, s->name, shape);
    s->nsamples = a->shape[0];
    s->steps = a->ndim == 2 ? a->shape[1] : 0;
    return ds_check_labels(s, a, err) || ds_samples_kind(s, spec, err) ? -1 : 0;
  }
  int64_t n = a->shape[a->ndim - 1];
  bool scalar_1d = a->ndim == 1 && s->size == 1;
  if (!scalar_1d && (a->ndim < 2 || a->ndim > 3 || n != s->size))
    return vle_fail(err, "%s: %s has %ld elements: expected shape [steps, %ld], [batch, steps, "
                    "%ld] or [samples, steps, %ld], the file has shape %s", s->path, s->name,
                    s->size, s->size, s->size, s->size, shape);
  if (a->ndim <= 2) {
    s->kind = DS_SHARED;
    s->nsamples = 1;
    s->steps = a->shape[0];
  } else {
    s->nsamples = a->shape[0];
    s->steps = a->shape[1];
    if (ds_samples_kind(s, spec, err)) return -1;
  }
  if (s->steps < 1) return vle_fail(err, "%s: no steps of data (shape %s)", s->path, shape);
  return 0;
}

static const vle_stream_info *ds_find(const vle_model *m, const char *name, bool target) {
  int n = target ? vle_model_ntargets(m) : vle_model_ninputs(m);
  for (int i = 0; i < n; i++) {
    const vle_stream_info *s = target ? vle_model_target(m, i) : vle_model_input(m, i);
    if (!strcmp(s->name, name)) return s;
  }
  return NULL;
}

static int ds_unknown(const vle_model *m, const char *name, bool target, const char *opt,
                      vle_error *err) {
  char list[512] = "";
  int n = target ? vle_model_ntargets(m) : vle_model_ninputs(m);
  for (int i = 0; i < n; i++) {
    const vle_stream_info *s = target ? vle_model_target(m, i) : vle_model_input(m, i);
    size_t o = strlen(list);
    snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", s->name);
  }
  return vle_fail(err, "--%s%s %s: the model has no %s of that name (%s: %s)", opt,
                  target ? "target" : "input", name, target ? "target" : "input",
                  target ? "targets" : "inputs", n ? list : "none");
}

static int ds_add(ds_set *d, const vle_model *m, const rn_kv *kv, bool target,
                  const ds_spec *spec, vle_error *err) {
  const vle_stream_info *info = ds_find(m, kv->name, target);
  if (!info) return ds_unknown(m, kv->name, target, spec->opt, err);
  for (int i = 0; i < d->n; i++)
    if (!strcmp(d->s[i].name, kv->name))
      return vle_fail(err, "%s is fed twice (%s and %s)", kv->name, d->s[i].path, kv->value);
  ds_stream *s = &d->s[d->n];
  *s = (ds_stream){ .name = info->name, .buf = info->buf, .path = kv->value,
                    .size = info->size, .onehot = target && info->onehot, .target = target };
  ds_array a;
  int rc = ds_read(kv->value, &a, err);
  if (!rc) rc = ds_classify(s, &a, spec, err);
  if (rc) { free(a.v); return -1; }
  s->values = a.v;
  d->n++;
  return 0;
}

/* Every dataset stream must agree on the number of samples and steps per sample. */
static int ds_check_dataset(ds_set *d, vle_error *err) {
  const ds_stream *first = NULL;
  for (int i = 0; i < d->n; i++) {
    const ds_stream *s = &d->s[i];
    if (s->kind != DS_DATASET) continue;
    if (!first) first = s;
    if (s->nsamples != first->nsamples)
      return vle_fail(err, "%s has %lld samples but %s has %lld: dataset files must agree",
                      s->path, (long long)s->nsamples, first->path, (long long)first->nsamples);
    if (s->steps && d->sample_steps && s->steps != d->sample_steps)
      return vle_fail(err, "%s has %lld steps per sample, other dataset files %lld", s->path,
                      (long long)s->steps, (long long)d->sample_steps);
    if (s->steps) d->sample_steps = s->steps;
  }
  if (!first) return 0;
  d->dataset = true;
  d->nsamples = first->nsamples;
  if (!d->sample_steps)
    return vle_fail(err, "%s: labels of %lld samples but no file says how many steps a sample "
                    "lasts (give inputs of shape [samples, steps, n] or labels [samples, steps])",
                    first->path, (long long)first->nsamples);
  if (d->nsamples < d->batch)
    return vle_fail(err, "%s: a dataset of %lld samples is smaller than the batch (%ld)",
                    first->path, (long long)d->nsamples, d->batch);
  d->nbatches = d->nsamples / d->batch;
  d->perm = malloc((size_t)d->nsamples * sizeof *d->perm);
  return d->perm ? 0 : vle_fail(err, "out of memory");
}

ds_spec ds_spec_of(const rn_options *o, long batch) {
  return (ds_spec){ .inputs = o->inputs, .targets = o->targets, .ninputs = o->ninputs,
                    .ntargets = o->ntargets, .batch = batch, .seed = o->seed,
                    .shuffle = !o->no_shuffle, .dataset = o->dataset, .opt = "" };
}

int ds_load(ds_set *d, const vle_model *m, const ds_spec *spec, vle_error *err) {
  memset(d, 0, sizeof *d);
  d->batch = spec->batch;
  d->lane0 = spec->lanes ? spec->lane0 : 0;
  d->lanes = spec->lanes ? spec->lanes : spec->batch;
  d->seed = spec->seed;
  d->shuffle = spec->shuffle;
  d->perm_epoch = -1;
  d->s = calloc((size_t)(spec->ninputs + spec->ntargets) + 1, sizeof *d->s);
  if (!d->s) return vle_fail(err, "out of memory");
  long maxsize = 1;
  for (int i = 0; i < spec->ninputs + spec->ntargets; i++) {
    bool target = i >= spec->ninputs;
    const rn_kv *kv = target ? &spec->targets[i - spec->ninputs] : &spec->inputs[i];
    if (ds_add(d, m, kv, target, spec, err)) return -1;
    if (d->s[d->n - 1].size > maxsize) maxsize = d->s[d->n - 1].size;
  }
  d->row = malloc((size_t)spec->batch * (size_t)maxsize * sizeof *d->row);
  if (!d->row) return vle_fail(err, "out of memory");
  if (ds_check_dataset(d, err)) return -1;
  if (spec->dataset && !d->dataset)
    return vle_fail(err, "--%sdataset: no --%sinput or --%starget file has samples (a dataset "
                    "needs inputs [samples, steps, n] or labels [samples] / [samples, steps])",
                    spec->opt, spec->opt, spec->opt);
  return 0;
}

int64_t ds_length(const ds_set *d, int64_t epochs) {
  if (d->dataset) return epochs * d->nbatches * d->sample_steps;
  int64_t len = -1;
  for (int i = 0; i < d->n; i++)
    if (d->s[i].steps && (len < 0 || d->s[i].steps < len)) len = d->s[i].steps;
  return len;
}

/* The permutation of one epoch: from (seed, epoch) alone, so any step can be fed in any
 * order (a resumed run continues the same schedule). */
static void ds_epoch_perm(ds_set *d, int64_t epoch) {
  if (d->perm_epoch == epoch) return;
  for (int64_t i = 0; i < d->nsamples; i++) d->perm[i] = i;
  if (d->shuffle) {
    rng_state g;
    rng_seed_named(&g, d->seed + (uint64_t)epoch * 0x9e3779b97f4a7c15ULL, "dataset-shuffle");
    rng_shuffle(&g, d->perm, (size_t)d->nsamples);
  }
  d->perm_epoch = epoch;
}

/* The sample batch lane b (of the whole batch) reads at step k from stream s, and the step
 * within it (*kk). */
static int64_t ds_sample(ds_set *d, const ds_stream *s, int64_t k, long b, int64_t *kk) {
  *kk = k;
  if (s->kind == DS_SHARED) return 0;
  if (s->kind == DS_DIRECT) return b;
  int64_t block = k / d->sample_steps;
  *kk = k % d->sample_steps;
  ds_epoch_perm(d, block / d->nbatches);
  return d->perm[(block % d->nbatches) * d->batch + b];
}

/* Fills d->row with step k's values of stream s for the lanes this process runs. */
static void ds_fill(ds_set *d, const ds_stream *s, int64_t k) {
  for (long b = 0; b < d->lanes; b++) {
    int64_t kk, sample = ds_sample(d, s, k, d->lane0 + b, &kk);
    double *out = d->row + b * s->size;
    if (s->onehot) {
      double label = s->values[sample * (s->steps ? s->steps : 1) + (s->steps ? kk : 0)];
      for (long c = 0; c < s->size; c++) out[c] = c == (long)label;
    } else {
      memcpy(out, s->values + (sample * s->steps + kk) * s->size, (size_t)s->size * sizeof *out);
    }
  }
}

int ds_feed(ds_set *d, vle_sim *s, int64_t k, vle_error *err) {
  for (int i = 0; i < d->n; i++) {
    const ds_stream *st = &d->s[i];
    if (st->kind != DS_DATASET && st->steps && k >= st->steps)
      return vle_fail(err, "%s: %lld steps of data, the run needs step %lld", st->path,
                      (long long)st->steps, (long long)k);
    ds_fill(d, st, k);
    if (vs_feed_at(s, st->buf, d->row, (size_t)d->lanes * (size_t)st->size, err)) return -1;
  }
  return 0;
}

long ds_label(ds_set *d, int st, int64_t k, long b) {
  const ds_stream *s = &d->s[st];
  if (!s->onehot || (s->kind != DS_DATASET && s->steps && k >= s->steps)) return -1;
  int64_t kk, sample = ds_sample(d, s, k, d->lane0 + b, &kk);
  return (long)s->values[sample * (s->steps ? s->steps : 1) + (s->steps ? kk : 0)];
}

int ds_onehot_stream(const ds_set *d) {
  for (int i = 0; i < d->n; i++)
    if (d->s[i].onehot) return i;
  return -1;
}

void ds_free(ds_set *d) {
  for (int i = 0; d->s && i < d->n; i++) free(d->s[i].values);
  free(d->s);
  free(d->perm);
  free(d->row);
  memset(d, 0, sizeof *d);
}
