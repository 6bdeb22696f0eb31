/*
 * run_json.c - run.json: what ran (model hash, every option as given and as resolved),
 * how far it got (steps, interrupted, error) and how fast (wall time, steps per second).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af.h"
#include "run_int.h"
#include "vle_err.h"

static json_t *rn_kv_json(const rn_kv *kv, int n) {
  json_t *o = json_object();
  for (int i = 0; i < n; i++) json_object_set_new(o, kv[i].name, json_string(kv[i].value));
  return o;
}

static json_t *rn_strs_json(const char *const *s, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_string(s[i]));
  return a;
}

static json_t *rn_num_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

/* The options as given on the command line (null where not given). */
static json_t *rn_options_json(const rn_run *r) {
  const rn_options *o = r->o;
  json_t *j = json_object();
  json_object_set_new(j, "steps", o->steps >= 0 ? json_integer(o->steps) : json_null());
  json_object_set_new(j, "time", rn_num_or_null(o->time));
  json_object_set_new(j, "dt", rn_num_or_null(o->dt));
  json_object_set_new(j, "batch", o->batch ? json_integer(o->batch) : json_null());
  json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
  json_object_set_new(j, "errors", o->errors ? json_string(o->errors) : json_null());
  json_object_set_new(j, "window", o->window >= 0 ? json_integer(o->window) : json_null());
  json_object_set_new(j, "adjoint_memory_mb", o->adjoint_memory ? json_integer(o->adjoint_memory) : json_null());
  json_object_set_new(j, "max_memory_mb", o->max_memory ? json_integer(o->max_memory) : json_null());
  json_object_set_new(j, "threads", o->threads ? json_integer(o->threads) : json_string("auto"));
  json_object_set_new(j, "set", rn_kv_json(o->sets, o->nsets));
  json_object_set_new(j, "init", rn_kv_json(o->inits, o->ninits));
  json_object_set_new(j, "input", rn_kv_json(o->inputs, o->ninputs));
  json_object_set_new(j, "target", rn_kv_json(o->targets, o->ntargets));
  json_object_set_new(j, "no_learn", json_boolean(o->no_learn));
  json_object_set_new(j, "record", rn_strs_json(o->record, o->nrecord));
  json_object_set_new(j, "record_every", json_integer(o->record_every));
  json_object_set_new(j, "param_every", json_integer(o->param_every));
  json_object_set_new(j, "warmup", json_integer(o->warmup));
  json_object_set_new(j, "dataset", json_boolean(o->dataset));
  json_object_set_new(j, "epochs", json_integer(o->epochs));
  json_object_set_new(j, "eval_input", rn_kv_json(o->eval_inputs, o->neval_inputs));
  json_object_set_new(j, "eval_target", rn_kv_json(o->eval_targets, o->neval_targets));
  json_object_set_new(j, "readout", o->readout ? json_string(o->readout) : json_null());
  json_object_set_new(j, "readout_last", json_integer(o->readout_last));
  json_object_set_new(j, "lr_schedule", o->lr_schedule ? json_string(o->lr_schedule) : json_null());
  json_object_set_new(j, "shuffle", json_boolean(!o->no_shuffle));
  json_object_set_new(j, "check_every", json_integer(o->check_every));
  json_object_set_new(j, "save_state", o->save_state ? json_string(o->save_state) : json_null());
  json_object_set_new(j, "load_state", o->load_state ? json_string(o->load_state) : json_null());
  json_object_set_new(j, "out", json_string(r->out));
  json_object_set_new(j, "quiet", json_boolean(o->quiet));
  json_object_set_new(j, "force", json_boolean(o->force));
  return j;
}

/* The adjoint's windows and their memory (docs/runtime.md). */
static json_t *rn_adjoint_json(const vle_adjoint_plan *p) {
  json_t *j = json_object();
  json_object_set_new(j, "window", json_integer(p->window));
  json_object_set_new(j, "segment", json_integer(p->segment));
  json_object_set_new(j, "checkpoints", json_integer(p->checkpoints));
  json_object_set_new(j, "trajectory_bytes", json_integer((json_int_t)p->bytes));
  json_object_set_new(j, "state_copy_bytes", json_integer((json_int_t)p->state_bytes));
  return j;
}

/* A dataset training: how it was evaluated, and every epoch's line of epochs.csv. */
static json_t *rn_training_json(const rn_run *r) {
  const rn_epochs *ep = &r->ep;
  json_t *j = json_object(), *rows = json_array();
  json_object_set_new(j, "readout", ep->readout >= 0 ? json_pack("{s:s, s:s}", "signal",
      ep->readout_name, "steps", ep->readout_last ? "last" : "all") : json_null());
  if (ep->readout >= 0 && ep->readout_last)
    json_object_set_new(json_object_get(j, "readout"), "last", json_integer(ep->readout_last));
  json_object_set_new(j, "evaluation", ep->has_eval ? json_pack("{s:I, s:s}", "samples",
      (json_int_t)ep->eval.nsamples, "state", "a copy of the training's state at the epoch's "
      "end, learning off; the training goes on from its own state") : json_null());
  json_object_set_new(j, "lr_scale", json_real(ep->sched.scale));
  json_object_set_new(j, "epochs_done", json_integer(ep->done));
  for (int i = 0; i < ep->nrows; i++) {
    const rn_epoch_row *w = &ep->rows[i];
    json_t *o = json_object();
    json_object_set_new(o, "epoch", json_integer(w->epoch));
    json_object_set_new(o, "step", json_integer(w->step));
    json_object_set_new(o, "train_loss", rn_num_or_null(w->train_loss));
    json_object_set_new(o, "train_acc", rn_num_or_null(w->train_acc));
    json_object_set_new(o, "eval_loss", rn_num_or_null(w->eval_loss));
    json_object_set_new(o, "eval_acc", rn_num_or_null(w->eval_acc));
    json_object_set_new(o, "lr", rn_num_or_null(w->lr));
    json_object_set_new(o, "wall_s", rn_num_or_null(w->wall));
    json_array_append_new(rows, o);
  }
  json_object_set_new(j, "epochs", rows);
  return j;
}

/* A run split over MPI ranks (run_rep.c): who ran which lanes, how the ranks combined,
 * and what rank 0 received per step (every exchange: gradients, means, recordings). */
static json_t *rn_mpi_json(const rn_run *r) {
  json_t *j = json_object(), *lanes = json_array();
  json_object_set_new(j, "ranks", json_integer(r->rep.size));
  for (int q = 0; q < r->rep.size; q++)
    json_array_append_new(lanes, json_integer(vle_replica_lanes(r->batch, r->rep.size, q, NULL)));
  json_object_set_new(j, "lanes", lanes);
  json_object_set_new(j, "combine", json_string(r->rep.combine_every == 1 ? "gradients every step"
                                                : "parameters every combine_every updates (local SGD)"));
  json_object_set_new(j, "combine_every", json_integer(r->rep.combine_every));
  json_object_set_new(j, "bytes_received", json_integer((json_int_t)r->rep_bytes));
  json_object_set_new(j, "bytes_per_step", r->steps_run > 0
                      ? json_real((double)r->rep_bytes / (double)r->steps_run) : json_null());
  return j;
}

/* The settings the simulation actually used. */
static json_t *rn_resolved_json(const rn_run *r) {
  json_t *j = json_object();
  json_object_set_new(j, "dt", json_real(vle_sim_dt(r->sim)));
  json_object_set_new(j, "batch", json_integer(r->dp ? r->batch : vle_sim_batch(r->sim)));
  json_object_set_new(j, "errors", json_string(vle_sim_errors(r->sim)));
  const char *why;
  json_object_set_new(j, "threads", json_integer(vle_sim_threads(r->sim, &why)));
  json_object_set_new(j, "threads_why", json_string(why));
  json_object_set_new(j, "scheme", json_string(vle_model_settings(r->m)->scheme));
  json_object_set_new(j, "learn", json_boolean(!r->o->no_learn && !r->o->grad_mode &&
                                               vle_model_nlearn(r->m) > 0));
  json_object_set_new(j, "start_step", json_integer(r->k0));
  if (r->window) json_object_set_new(j, "adjoint", rn_adjoint_json(&r->plan));
  if (r->dp) json_object_set_new(j, "mpi", rn_mpi_json(r));
  double beta;
  if (r->steps_run > 0 && rn_beta(r, &beta, NULL) == 0)   /* written by every step */
    json_object_set_new(j, "objective", json_pack("{s:s, s:f}", "J",
        "sum_k dt * objective_k, objective = R / beta (docs/theory.md, The objective J); "
        "vlec grad reports dJ/dtheta", "beta", beta));
  if (r->data.dataset) {
    json_object_set_new(j, "dataset_samples", json_integer(r->data.nsamples));
    json_object_set_new(j, "sample_steps", json_integer(r->data.sample_steps));
    json_object_set_new(j, "minibatches_per_epoch", json_integer(r->data.nbatches));
  }
  if (r->ep.on) json_object_set_new(j, "training", rn_training_json(r));
  return j;
}

/* The files written, then those of the earlier run a resumed run continued (not twice). */
static json_t *rn_outputs_json(const rn_run *r) {
  json_t *a = rn_strs_json((const char *const *)r->outputs, r->noutputs);
  for (int i = 0; i < r->nkept; i++) {
    bool dup = false;
    for (int k = 0; k < r->noutputs && !dup; k++) dup = !strcmp(r->kept[i], r->outputs[k]);
    if (!dup) json_array_append_new(a, json_string(r->kept[i]));
  }
  return a;
}

/* Each --record file and the signal or parameter it holds: {"h1_dot.npy": "h1'", ...}. */
static json_t *rn_recordings_json(const rn_run *r) {
  json_t *o = json_object();
  for (int i = 0; i < r->nrecs; i++) {
    char *stem = rn_file_stem(r->recs[i].name);
    size_t n = stem ? strlen(stem) + 5 : 0;
    char *file = stem ? malloc(n) : NULL;
    if (file) {
      snprintf(file, n, "%s.npy", stem);
      json_object_set_new(o, file, json_string(r->recs[i].name));
    }
    free(file);
    free(stem);
  }
  return o;
}

/* The used files copied beside model.vle: {"/abs/std/gle.vle": "model_uses/gle.vle"}. */
static json_t *rn_uses_json(const rn_run *r) {
  json_t *o = json_object();
  for (int i = 0, k = 0; i < r->noutputs && k < r->o->nmodel_uses; i++)
    if (!strncmp(r->outputs[i], "model_uses/", 11))
      json_object_set_new(o, r->o->model_uses[k++], json_string(r->outputs[i]));
  return o;
}

static json_t *rn_json(const rn_run *r) {
  json_t *j = json_object();
  json_object_set_new(j, "command", json_string(r->o->grad_mode ? "grad" : "run"));
  json_object_set_new(j, "model", json_string(vle_model_get_name(r->m)));
  json_object_set_new(j, "model_path", r->o->model ? json_string(r->o->model) : json_null());
  json_object_set_new(j, "hash", json_string(vle_model_hash(r->m)));
  json_object_set_new(j, "model_copy", r->model_copied ? json_string("model.vle") : json_null());
  json_object_set_new(j, "model_uses", rn_uses_json(r));
  json_object_set_new(j, "started", r->started[0] ? json_string(r->started) : json_null());
  json_object_set_new(j, "vlec_version", json_string(VLE_VERSION));
  json_object_set_new(j, "commit", json_string(VLE_GIT_COMMIT));
  json_object_set_new(j, "precision", json_string(vle_model_precision(r->m) == VLE_F64 ? "f64" : "f32"));
  json_object_set_new(j, "abi", json_integer(VLE_ABI_VERSION));
  json_object_set_new(j, "runtime_version", json_string(vle_runtime_version()));
  json_object_set_new(j, "options", rn_options_json(r));
  json_object_set_new(j, "resolved", rn_resolved_json(r));
  json_object_set_new(j, "steps_planned", json_integer(r->steps_planned));
  json_object_set_new(j, "steps_run", json_integer(r->steps_run));
  json_object_set_new(j, "time_run", json_real((double)r->steps_run * vle_sim_dt(r->sim)));
  json_object_set_new(j, "wall_time_s", json_real(r->wall));
  json_object_set_new(j, "steps_per_second", json_real(r->wall > 0 ? (double)r->steps_run / r->wall : 0));
  json_object_set_new(j, "final_loss", rn_num_or_null(r->loss_final));
  json_object_set_new(j, "best_loss", rn_num_or_null(r->loss_best));
  json_object_set_new(j, "interrupted", json_boolean(r->interrupted));
  json_object_set_new(j, "signal", r->interrupted ? json_string(rn_signal_name(r->signal)) : json_null());
  json_object_set_new(j, "error", r->error[0] ? json_string(r->error) : json_null());
  json_object_set_new(j, "outputs", rn_outputs_json(r));
  json_object_set_new(j, "recordings", rn_recordings_json(r));
  return j;
}

/* Bytes kept for run.json from the start of the run: its text fits many times over. */
#define RN_JSON_RESERVE (1 << 16)

static char *rn_json_path(const rn_run *r) {
  size_t n = strlen(r->out) + 16;
  char *path = malloc(n);
  if (path) snprintf(path, n, "%s/run.json", r->out);
  return path;
}

int rn_json_reserve(rn_run *r, vle_error *err) {
  if (r->mute) return 0;             /* MPI: rank 0 writes it */
  char *path = rn_json_path(r);
  if (!path) return vle_fail(err, "out of memory");
  int rc = af_open(&r->json, path, err);
  free(path);
  /* best effort: a file system without fallocate still gets its run.json if there is room */
  off_t bytes = RN_JSON_RESERVE + (r->ep.on ? (off_t)r->o->epochs * 400 : 0);  /* per epoch */
  if (!rc) (void)posix_fallocate(fileno(r->json.fp), 0, bytes);
  return rc;
}

int rn_write_json(rn_run *r, vle_error *err) {
  json_t *j = rn_json(r);
  char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(j);
  if (!text) return vle_fail(err, "out of memory");
  int rc = r->json.fp ? 0 : rn_json_reserve(r, err);
  if (!rc) {
    FILE *fp = r->json.fp;
    fputs(text, fp);
    fputc('\n', fp);
    /* the reserved blocks are overwritten, then the rest of them cut off */
    if (fflush(fp) == 0 && ftruncate(fileno(fp), ftello(fp)) == 0) {
      rc = af_commit(&r->json, err);
    } else {
      rc = vle_fail(err, "%s/run.json: write failed: %s", r->out, strerror(errno));
      af_abort(&r->json);
    }
  }
  free(text);
  return rc;
}
