/*
 * vle_run_api.c - vle_runner (vle.h): the steps of `vlec run` for a sim the caller owns,
 * a chunk at a time, recording into the caller's memory instead of .npy files.
 *
 * It is the run loop's setup and step, not a copy of them: the data come from data.c
 * (ds_load, ds_feed: the same files, shapes, datasets and shuffle), the recordings are
 * chosen and classified by run_rec.c (rn_records_check: the same names, errors and kinds,
 * t added as in `vlec run`), the batch means by rn_batch_mean. What differs is only where
 * a row goes (an array, not a rec_stream) and that the caller drives the loop, so that
 * Python can run millions of steps without a Python call per step and still stop between
 * chunks (Ctrl-C). Data rows are counted from the run's first step (k - k0).
 */
#include <stdlib.h>
#include <string.h>

#include "run_int.h"
#include "vle_err.h"
#include "vle_internal.h"   /* vs_buffer_at, the sim's learn/acc flags */

struct vle_runner {
  rn_options o;               /* the spec as the run loop's options (data.c, run_rec.c) */
  rn_run r;                   /* sim, data, recordings, window, steps */
  rn_kv *kv;                  /* the inputs, then the targets */
  const char **record;
  void **dst;                 /* per recording: the caller's rows, or NULL */
  vle_record_info *info;      /* per recording, computed once (vr_put runs every step) */
  size_t es;                  /* bytes per real */
  bool held;                  /* learning is held by this run (warmup or learn = false) */
};

void vle_run_spec_init(vle_run_spec *spec) {
  memset(spec, 0, sizeof *spec);
  spec->steps = -1;
  spec->epochs = 1;
  spec->window = -1;
  spec->shuffle = true;
  spec->learn = true;
}

/* The spec as rn_options: the fields data.c and run_rec.c read. */
static int vr_options(vle_runner *v, const vle_run_spec *spec, vle_error *err) {
  rn_options *o = &v->o;
  rn_options_init(o, false);
  size_t n = spec->ninputs + spec->ntargets;
  v->kv = calloc(n + 1, sizeof *v->kv);
  v->record = calloc(spec->nrecord + 1, sizeof *v->record);
  if (!v->kv || !v->record) return vle_fail(err, "out of memory");
  for (size_t i = 0; i < n; i++) {
    const vle_stream_file *f = i < spec->ninputs ? &spec->inputs[i] : &spec->targets[i - spec->ninputs];
    if (!f->name || !f->path) return vle_fail(err, "data stream %zu has no name or no file", i);
    v->kv[i] = (rn_kv){ f->name, f->path };
  }
  for (size_t i = 0; i < spec->nrecord; i++) v->record[i] = spec->record[i];
  o->inputs = v->kv;
  o->ninputs = (int)spec->ninputs;
  o->targets = v->kv + spec->ninputs;
  o->ntargets = (int)spec->ntargets;
  o->record = v->record;
  o->nrecord = (int)spec->nrecord;
  o->steps = spec->steps;
  o->record_every = spec->record_every;
  o->param_every = spec->param_every;
  o->warmup = spec->warmup;
  o->epochs = spec->epochs;
  o->window = spec->window;
  o->no_shuffle = !spec->shuffle;
  o->dataset = spec->dataset;
  o->no_learn = !spec->learn;
  o->seed = spec->seed;
  if (spec->steps < -1 || spec->record_every < 0 || spec->param_every < 0 || spec->warmup < 0 ||
      spec->epochs < 1 || spec->window == 0 || spec->window < -1)
    return vle_fail(err, "run: steps, record_every, param_every and warmup must be >= 0, epochs "
                    ">= 1, window > 0 (or -1: the whole run)");
  return 0;
}

/* Steps: the spec's, or the data's length; the data must last that long. */
static int vr_plan_steps(vle_runner *v, vle_error *err) {
  rn_run *r = &v->r;
  r->steps_planned = v->o.steps >= 0 ? v->o.steps : ds_length(&r->data, v->o.epochs);
  if (r->steps_planned < 0)
    return vle_fail(err, "how long should it run? give the number of steps (no data sets the "
                    "length)");
  for (int i = 0; i < r->data.n; i++) {
    const ds_stream *s = &r->data.s[i];
    if (s->kind != DS_DATASET && s->steps && s->steps < r->steps_planned)
      return vle_fail(err, "%s: %lld steps of data for %s, the run needs %lld", s->path,
                      (long long)s->steps, s->name, (long long)r->steps_planned);
  }
  return 0;
}

/* Adjoint windows, when the sim learns or sums gradients, or an error signal is recorded
 * (as rn_plan_windows). */
static int vr_plan_windows(vle_runner *v, vle_error *err) {
  rn_run *r = &v->r;
  bool wants = (r->sim->learn && !v->o.no_learn && vle_model_nlearn(r->m) > 0) || r->sim->acc;
  for (int i = 0; i < v->o.nrecord; i++)
    wants |= rn_sweep_signal(r->m, vle_model_find_buffer(r->m, v->o.record[i]));
  if (!r->sim->adjoint || !wants || r->steps_planned == 0) return 0;   /* adjoint, bptt */
  int64_t dflt = v->o.dataset ? r->data.sample_steps : r->steps_planned;   /* per minibatch */
  int64_t want = v->o.window > 0 ? v->o.window : dflt;
  r->window = want < r->steps_planned ? want : r->steps_planned;
  return vle_sim_adjoint_plan(r->sim, r->window, &r->plan, err);
}

static void vr_describe(const vle_runner *v, int i, vle_record_info *info);

static int vr_load_data(vle_runner *v, vle_error *err) {
  ds_spec spec = ds_spec_of(&v->o, vle_sim_batch(v->r.sim));
  return ds_load(&v->r.data, v->r.m, &spec, err);
}

vle_runner *vle_runner_new(vle_sim *s, const vle_run_spec *spec, vle_error *err) {
  if (!s || !spec) {
    vle_fail(err, "vle_runner_new: no sim or no spec");
    return NULL;
  }
  vle_runner *v = calloc(1, sizeof *v);
  if (!v) {
    vle_fail(err, "out of memory");
    return NULL;
  }
  v->r = (rn_run){ .m = vle_sim_model(s), .o = &v->o, .sim = s, .lock_fd = -1, .loss = -1 };
  v->r.k0 = vle_sim_steps_done(s);
  if (vr_options(v, spec, err) ||
      vr_load_data(v, err) || vr_plan_steps(v, err) ||
      vr_plan_windows(v, err) || rn_records_check(&v->r, err)) {
    vle_runner_free(v);
    return NULL;
  }
  v->dst = calloc((size_t)v->r.nrecs + 1, sizeof *v->dst);
  v->info = calloc((size_t)v->r.nrecs + 1, sizeof *v->info);
  if (!v->dst || !v->info) {
    vle_fail(err, "out of memory");
    vle_runner_free(v);
    return NULL;
  }
  v->es = vle_model_real_size(v->r.m);
  for (int i = 0; i < v->r.nrecs; i++) vr_describe(v, i, &v->info[i]);
  return v;
}

int64_t vle_runner_planned(const vle_runner *v) { return v->r.steps_planned; }
int64_t vle_runner_done(const vle_runner *v) { return v->r.steps_run; }
int vle_runner_nrecords(const vle_runner *v) { return v->r.nrecs; }

/* A recording's interval (as run_rec.c's rn_every): 0 is a parameter read at the end. */
static int64_t vr_every(const vle_runner *v, const rn_rec *rec) {
  if (rec->kind == RN_PARAM) return v->o.param_every ? v->o.param_every : v->o.record_every;
  return v->o.record_every ? v->o.record_every : 1;
}

static const char *const vr_kind_names[] = {
  [RN_BATCHED] = "batched", [RN_SHARED] = "shared", [RN_MEAN] = "mean", [RN_PARAM] = "param",
};

int vle_runner_record(const vle_runner *v, int i, vle_record_info *info, vle_error *err) {
  if (i < 0 || i >= v->r.nrecs)
    return vle_fail(err, "recording %d out of range (the run has %d)", i, v->r.nrecs);
  *info = v->info[i];
  return 0;
}

/* What recording i writes: its shape, interval and rows. */
static void vr_describe(const vle_runner *v, int i, vle_record_info *info) {
  const rn_rec *rec = &v->r.recs[i];
  const vle_buffer_info *b = vle_model_buffer(v->r.m, rec->buf);
  *info = (vle_record_info){ .name = rec->name, .kind = vr_kind_names[rec->kind], .batch = 1,
                             .ndim = 1, .inner = { b->rows * b->cols, 1 },
                             .every = vr_every(v, rec) };
  if (rec->kind == RN_BATCHED) info->batch = vle_sim_batch(v->r.sim);
  if (rec->kind == RN_MEAN) info->ndim = 0, info->inner[0] = 1;
  if (rec->kind == RN_PARAM) {      /* as params/NAME.npy: weights [rows, cols], vectors [rows] */
    const vle_param_info *q = vle_model_param(v->r.m, vle_model_find_param(v->r.m, rec->name));
    bool vec = strcmp(q->kind, "weight") && b->cols == 1;
    info->ndim = vec ? 1 : 2;
    info->inner[0] = b->rows;
    info->inner[1] = vec ? 1 : b->cols;
  }
  info->rows = info->every ? v->r.steps_planned / info->every : 0;
  info->row_reals = (size_t)info->batch * (size_t)info->inner[0] * (size_t)info->inner[1];
}

int vle_runner_bind(vle_runner *v, int i, void *dst, vle_error *err) {
  if (i < 0 || i >= v->r.nrecs)
    return vle_fail(err, "recording %d out of range (the run has %d)", i, v->r.nrecs);
  v->dst[i] = dst;
  return 0;
}

/* Copies the row of recording i (the buffer now, or the batch mean) into row `row`. */
static void vr_put(vle_runner *v, int i, int64_t row) {
  const rn_rec *rec = &v->r.recs[i];
  size_t es = v->es, n = v->info[i].row_reals;
  char *to = (char *)v->dst[i] + (size_t)row * n * es;
  if (rec->kind != RN_MEAN) {
    memcpy(to, vs_buffer_at(v->r.sim, rec->buf), n * es);
    return;
  }
  double mean = rn_batch_mean(&v->r, rec->buf);
  if (es == 8) memcpy(to, &mean, 8);
  else {
    float f = (float)mean;
    memcpy(to, &f, 4);
  }
}

static int vr_check_bound(const vle_runner *v, vle_error *err) {
  for (int i = 0; i < v->r.nrecs; i++)
    if (v->info[i].rows > 0 && !v->dst[i])
      return vle_fail(err, "recording %s has no memory bound (vle_runner_bind)", v->info[i].name);
  return 0;
}

/* After a step: a row of every recording due (the sweep's signals are rewritten later). */
static void vr_record_step(vle_runner *v) {
  for (int i = 0; i < v->r.nrecs; i++) {
    int64_t every = v->info[i].every;
    if (every && v->r.steps_run % every == 0) vr_put(v, i, v->r.steps_run / every - 1);
  }
}

/* The adjoint's sweep revisits step k: the same data as the forward step k. */
static int vr_feed_step(void *user, vle_sim *s, int64_t k, vle_error *err) {
  vle_runner *v = user;
  return v->r.data.n ? ds_feed(&v->r.data, s, k - v->r.k0, err) : 0;
}

/* After the sweep's step k: its error signals into their rows. */
static int vr_observe_step(void *user, vle_sim *s, int64_t k, vle_error *err) {
  (void)s, (void)err;
  vle_runner *v = user;
  for (int i = 0; i < v->r.nrecs; i++) {
    int64_t every = vr_every(v, &v->r.recs[i]), n = k - v->r.k0 + 1;
    if (v->r.recs[i].sweep && every && n % every == 0) vr_put(v, i, n / every - 1);
  }
  return 0;
}

static int vr_window_end(vle_runner *v, vle_error *err) {
  vle_adjoint_hooks hooks = { vr_feed_step, vr_observe_step, v };
  return vle_sim_adjoint_end(v->r.sim, &hooks, err);
}

/* One step i of the run, as rn_loop's body. */
static int vr_one(vle_runner *v, vle_error *err) {
  rn_run *r = &v->r;
  int64_t i = r->steps_run;
  if (r->window && i % r->window == 0) {
    int64_t left = r->steps_planned - i;
    if (vle_sim_adjoint_begin(r->sim, left < r->window ? left : r->window, err)) return -1;
  }
  if (r->data.n && ds_feed(&r->data, r->sim, i, err)) return -1;
  bool hold = v->o.no_learn || i < v->o.warmup;
  vle_sim_hold_learning(r->sim, hold);
  v->held |= hold;
  if (vle_sim_step(r->sim, 1, err)) return -1;
  r->steps_run++;
  vr_record_step(v);
  if (r->window && (r->steps_run % r->window == 0 || r->steps_run == r->steps_planned))
    return vr_window_end(v, err);
  return 0;
}

int64_t vle_runner_step(vle_runner *v, int64_t nsteps, vle_error *err) {
  if (nsteps < 0) return vle_fail(err, "vle_runner_step: %lld steps", (long long)nsteps);
  if (v->r.steps_run == 0 && vr_check_bound(v, err)) return -1;
  int64_t left = v->r.steps_planned - v->r.steps_run, n = nsteps < left ? nsteps : left;
  for (int64_t j = 0; j < n; j++)
    if (vr_one(v, err)) return -1;
  return n;
}

int vle_runner_finish(vle_runner *v, vle_error *err) {
  rn_run *r = &v->r;
  int rc = 0;
  if (r->window && r->sim->adj.open)
    rc = vr_window_end(v, err);     /* stopped early: the partial window, as vlec run */
  if (v->held) vle_sim_hold_learning(r->sim, false);
  v->held = false;
  return rc;
}

void vle_runner_free(vle_runner *v) {
  if (!v) return;
  ds_free(&v->r.data);
  free(v->r.recs);
  free(v->r.scratch);
  free(v->kv);
  free(v->record);
  free(v->dst);
  free(v->info);
  free(v);
}
