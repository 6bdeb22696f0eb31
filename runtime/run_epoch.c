/*
 * run_epoch.c - a training on a dataset, epoch by epoch (`vlec run --dataset`, docs/cli.md
 * "Training on a dataset"):
 *
 *   each step     the batch-mean loss, and the read-out summed per sample (its argmax is
 *                 the sample's prediction, compared with its label: accuracy)
 *   each epoch    evaluation on --eval-input/--eval-target with learning off, from a copy
 *                 of the training's state that is thrown away after (evaluating never
 *                 changes the training); the learning-rate schedule; a line of
 *                 DIR/epochs.csv (written in place, flushed: readable during the run and
 *                 after a crash); DIR/checkpoint.state (atomic)
 *   on resume     --load-state of a checkpoint: the schedule's state is replayed from the
 *                 epochs.csv beside it, so that the resumed training is the one that was
 *                 interrupted, bit for bit
 *
 * Expects: rn_setup has loaded the training data (r->data) and the sim. Guarantees: the
 * training's steps are exactly those of a run without any of this (evaluation and the log
 * only read), except for the schedule's learning-rate factor.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run_int.h"
#include "vle_err.h"
#include "vle_internal.h"   /* vs_state_bytes: the evaluation's copy of the state */

/* PyTorch's ReduceLROnPlateau defaults, which the GLE paper's code uses: an epoch improves
 * on the best when it is lower by more than this fraction of it ... */
#define EP_PLATEAU_REL 1e-4
/* ... and a reduction that would change the learning rate by less than this is skipped. */
#define EP_PLATEAU_EPS 1e-8

static const char ep_header[] = "epoch,step,train_loss,train_acc,eval_loss,eval_acc,lr,wall_s";

/* ---- the schedule ------------------------------------------------------------------------ */

/* After epoch e (1, 2, ...) with the schedule's metric (the evaluation loss, else the
 * training loss): step multiplies by the factor every N epochs; plateau after more than P
 * epochs without improvement (PyTorch's ReduceLROnPlateau: relative threshold 1e-4, the
 * count restarts after a reduction, none below a change of 1e-8). */
static void ep_schedule(rn_sched *s, int64_t e, double metric, double base_lr) {
  if (s->kind == RN_SCHED_STEP) {
    if (e % s->every == 0) s->scale *= s->factor;
    return;
  }
  if (s->kind != RN_SCHED_PLATEAU) return;
  if (metric < s->best * (1 - EP_PLATEAU_REL)) {
    s->best = metric;
    s->bad = 0;
  } else {
    s->bad++;
  }
  if (s->bad > s->every) {
    if (base_lr * s->scale * (1 - s->factor) > EP_PLATEAU_EPS) s->scale *= s->factor;
    s->bad = 0;
  }
}

/* The schedule's metric of an epoch row: the evaluation loss when there is one. */
static double ep_metric(const rn_epoch_row *row) {
  return isnan(row->eval_loss) ? row->train_loss : row->eval_loss;
}

static double ep_base_lr(const rn_run *r) {
  return vle_model_nlearn(r->m) ? vle_model_learn(r->m, 0)->lr : 0;
}

/* ---- per-step metrics -------------------------------------------------------------------- */

static void ep_metrics_reset(rn_metric *m) { memset(m, 0, sizeof *m); }

/* The read-out of this step into the per-lane sums; at a sample's last step, its argmax
 * against the sample's label. k: the step within data d (training: the run's step). */
static void ep_readout(rn_run *r, ds_set *d, int64_t k, rn_metric *m) {
  rn_epochs *ep = &r->ep;
  if (ep->readout < 0) return;
  int64_t ss = d->sample_steps, kk = k % ss;
  long n = ep->readout_size, batch = vle_sim_batch(r->sim);
  if (ep->readout_last == 0 || kk >= ss - ep->readout_last) {
    const void *p = vs_buffer_at(r->sim, ep->readout);
    size_t es = vle_model_real_size(r->m);
    for (long i = 0; i < batch * n; i++) ep->sums[i] += re_get(p, (size_t)i, es);
  }
  if (kk != ss - 1) return;
  for (long b = 0; b < batch; b++) {
    const double *v = ep->sums + b * n;
    long best = 0;
    for (long c = 1; c < n; c++)
      if (v[c] > v[best]) best = c;
    long label = ds_label(d, ds_onehot_stream(d), k, b);
    m->correct += best == label;
    m->total++;
  }
  memset(ep->sums, 0, (size_t)(batch * n) * sizeof *ep->sums);
}

static void ep_loss(rn_run *r, rn_metric *m) {
  if (r->loss < 0) return;
  m->loss_sum += rn_batch_mean(r, r->loss);
  m->loss_n++;
}

/* After the run's step k, whose loss rn_track_loss has just taken (loss_final). */
void rn_ep_step(rn_run *r, int64_t k) {
  if (!r->ep.on) return;
  if (r->loss >= 0) {
    r->ep.train.loss_sum += r->loss_final;
    r->ep.train.loss_n++;
  }
  ep_readout(r, &r->data, k, &r->ep.train);
}

/* The predictions of every MPI rank's lanes (the losses are the whole batch's already). */
static void ep_metrics_total(rn_run *r, rn_metric *m) {
  m->correct = rn_rep_count(r, m->correct);
  m->total = rn_rep_count(r, m->total);
}

static double ep_mean_loss(const rn_metric *m) { return m->loss_n ? m->loss_sum / (double)m->loss_n : NAN; }
static double ep_accuracy(const rn_metric *m) { return m->total ? (double)m->correct / (double)m->total : NAN; }

/* ---- evaluation -------------------------------------------------------------------------- */

/* The evaluation set once, learning off, from the training's state, which is restored
 * after (whatever happened: a NaN in the evaluation is reported, the training's state is
 * back). */
static int ep_evaluate(rn_run *r, rn_metric *m, vle_error *err) {
  rn_epochs *ep = &r->ep;
  unsigned char *saved;
  size_t n;
  if (vs_state_bytes(r->sim, &saved, &n, err)) return -1;
  ep_metrics_reset(m);
  memset(ep->sums, 0, (size_t)(vle_sim_batch(r->sim) * ep->readout_size) * sizeof *ep->sums);
  vle_sim_hold_learning(r->sim, true);
  int rc = 0;
  int64_t len = ep->eval.nbatches * ep->eval.sample_steps;
  for (int64_t k = 0; k < len && !rc; k++) {
    rc = ds_feed(&ep->eval, r->sim, k, err) || vle_sim_step(r->sim, 1, err) ? -1 : 0;
    int sig = 0;
    if (r->dp) rc = rn_rep_agree(r, rc, &sig, err);   /* a NaN on one rank stops all */
    if (!rc) {
      ep_loss(r, m);
      ep_readout(r, &ep->eval, k, m);
    }
  }
  ep_metrics_total(r, m);
  vle_error e2;
  if (vs_state_from_bytes(r->sim, "the state before the evaluation", saved, n, &e2) && !rc)
    rc = vle_fail(err, "%s", e2.msg);
  free(saved);
  if (rc && strncmp(err->msg, "evaluation", 10)) {
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    vle_fail(err, "evaluation after epoch %lld: %s", (long long)(ep->done + 1), msg);
  }
  return rc;
}

/* ---- the log ------------------------------------------------------------------------------- */

/* %.17g: the value read back is the value (a resumed training replays its schedule from
 * these); "nan" where there is none (no evaluation set, no labels). */
static void ep_csv_num(FILE *fp, double v) {
  if (isnan(v)) fputs(",nan", fp);
  else fprintf(fp, ",%.17g", v);
}

static void ep_write_row(FILE *fp, const rn_epoch_row *row) {
  fprintf(fp, "%lld,%lld", (long long)row->epoch, (long long)row->step);
  ep_csv_num(fp, row->train_loss);
  ep_csv_num(fp, row->train_acc);
  ep_csv_num(fp, row->eval_loss);
  ep_csv_num(fp, row->eval_acc);
  ep_csv_num(fp, row->lr);
  ep_csv_num(fp, row->wall);
  fputc('\n', fp);
}

static int ep_add_row(rn_epochs *ep, const rn_epoch_row *row, vle_error *err) {
  if (ep->nrows == ep->caprows) {
    int cap = ep->caprows ? 2 * ep->caprows : 64;
    rn_epoch_row *q = realloc(ep->rows, (size_t)cap * sizeof *q);
    if (!q) return vle_fail(err, "out of memory");
    ep->rows = q;
    ep->caprows = cap;
  }
  ep->rows[ep->nrows++] = *row;
  return 0;
}

/* A field of an epochs.csv line ("nan": none). */
static bool ep_field(char **p, double *v) {
  char *end;
  errno = 0;
  *v = strtod(*p, &end);
  if (errno || end == *p) return false;
  if (*end == ',') end++;
  *p = end;
  return true;
}

static bool ep_parse_row(char *line, rn_epoch_row *row) {
  double f[8];
  char *p = line;
  for (int i = 0; i < 8; i++)
    if (!ep_field(&p, &f[i])) return false;
  if (*p && *p != '\n') return false;
  *row = (rn_epoch_row){ (int64_t)f[0], (int64_t)f[1], f[2], f[3], f[4], f[5], f[6], f[7] };
  return row->epoch >= 1 && (double)row->epoch == f[0];
}

/* DIR/epochs.csv beside a state file (malloc). */
static char *ep_log_beside(const char *state) {
  const char *slash = strrchr(state, '/');
  size_t dir = slash ? (size_t)(slash - state) + 1 : 0;
  char *p = malloc(dir + sizeof "epochs.csv");
  if (p) {
    memcpy(p, state, dir);
    strcpy(p + dir, "epochs.csv");
  }
  return p;
}

/* A resumed training: the rows of the epochs before the loaded state, from the epochs.csv
 * beside it; the schedule replayed over them must give the learning rates they logged. */
static int ep_replay(rn_run *r, vle_error *err) {
  rn_epochs *ep = &r->ep;
  char *path = ep_log_beside(r->o->load_state);
  if (!path) return vle_fail(err, "out of memory");
  FILE *fp = fopen(path, "r");
  char line[1024];
  int rc = 0;
  if (!fp) {
    if (ep->sched.kind == RN_SCHED_PLATEAU && ep->done > 0)
      rc = vle_fail(err, "%s: cannot open (%s): resuming a plateau schedule needs the epochs "
                    "it has seen, logged beside the state", path, strerror(errno));
    free(path);
    return rc;
  }
  for (int ln = 1; !rc && fgets(line, sizeof line, fp); ln++) {
    rn_epoch_row row;
    if (ln == 1) {
      if (strncmp(line, ep_header, sizeof ep_header - 1))
        rc = vle_fail(err, "%s:1: expected the header \"%s\"", path, ep_header);
      continue;
    }
    if (!ep_parse_row(line, &row))
      rc = vle_fail(err, "%s:%d: not an epochs.csv line", path, ln);
    else if (row.epoch > ep->done) break;          /* after the checkpoint: dropped */
    else if (row.epoch != ep->nrows + 1)
      rc = vle_fail(err, "%s:%d: epoch %lld, expected %d", path, ln, (long long)row.epoch, ep->nrows + 1);
    else rc = ep_add_row(ep, &row, err);
  }
  fclose(fp);
  if (ep->nrows) ep->wall0 = ep->rows[ep->nrows - 1].wall;
  if (!rc && ep->nrows != ep->done && ep->sched.kind == RN_SCHED_PLATEAU)
    rc = vle_fail(err, "%s: %d epochs logged, the state is after epoch %lld: cannot replay the "
                  "plateau schedule", path, ep->nrows, (long long)ep->done);
  for (int i = 0; !rc && i < ep->nrows; i++) {
    ep_schedule(&ep->sched, ep->rows[i].epoch, ep_metric(&ep->rows[i]), ep_base_lr(r));
    double lr = ep_base_lr(r) * ep->sched.scale;
    if (i + 1 < ep->nrows && !isnan(ep->rows[i + 1].lr) && ep->rows[i + 1].lr != lr)
      rc = vle_fail(err, "%s: epoch %lld logs lr %.17g, the schedule %s gives %.17g: a "
                    "different schedule than the interrupted training's", path,
                    (long long)ep->rows[i + 1].epoch, ep->rows[i + 1].lr, r->o->lr_schedule, lr);
  }
  free(path);
  return rc;
}

/* ---- setup --------------------------------------------------------------------------------- */

/* --readout, or the model's only population as large as the labels' classes. */
static int ep_find_readout(rn_run *r, vle_error *err) {
  rn_epochs *ep = &r->ep;
  ep->readout = -1;
  int st = ds_onehot_stream(&r->data);
  if (st < 0) {
    if (r->o->readout) return vle_fail(err, "--readout: accuracy needs class labels (a `target ... onehot`)");
    return 0;
  }
  long classes = r->data.s[st].size;
  const char *name = r->o->readout, *pop = NULL;
  char buf[256];
  if (!name) {
    for (int i = 0; i < vle_model_npopulations(r->m); i++) {
      const vle_population_info *p = vle_model_population(r->m, i);
      if (p->size != classes) continue;
      if (pop) return vle_fail(err, "populations %s and %s both have %ld neurons, one per class: "
                               "say which is the output with --readout NAME.rate", pop, p->name,
                               classes);
      pop = p->name;
      snprintf(buf, sizeof buf, "%s.rate", p->name);
    }
    int found = pop != NULL;
    if (!found) return vle_fail(err, "no population has %ld neurons, one per class of %s: name the "
                                "read-out with --readout SIGNAL", classes, r->data.s[st].name);
    name = buf;
  }
  int b = vle_model_find_buffer(r->m, name);
  const vle_buffer_info *bi = b >= 0 ? vle_model_buffer(r->m, b) : NULL;
  if (!bi) return vle_fail(err, "--readout %s: the model has no signal of that name", name);
  if (!bi->batched || bi->rows * bi->cols != classes)
    return vle_fail(err, "--readout %s: %ld values per batch element, the labels of %s have %ld "
                    "classes", name, bi->rows * bi->cols, r->data.s[st].name, classes);
  snprintf(ep->readout_name, sizeof ep->readout_name, "%s", name);
  ep->readout = b;
  ep->readout_size = classes;
  if (r->o->readout_last > r->data.sample_steps)
    return vle_fail(err, "--readout-last %lld: a sample has only %lld steps",
                    (long long)r->o->readout_last, (long long)r->data.sample_steps);
  ep->readout_last = r->o->readout_last;
  return 0;
}

/* The evaluation set: a dataset of the same streams, sample length and batch. */
static int ep_load_eval(rn_run *r, vle_error *err) {
  const rn_options *o = r->o;
  rn_epochs *ep = &r->ep;
  if (!o->neval_inputs && !o->neval_targets) return 0;
  ds_spec spec = { .inputs = o->eval_inputs, .targets = o->eval_targets,
                   .ninputs = o->neval_inputs, .ntargets = o->neval_targets,
                   .batch = r->dp ? r->batch : vle_sim_batch(r->sim), .lane0 = r->lane0,
                   .lanes = r->dp ? r->lanes : 0, .shuffle = false, .dataset = true,
                   .opt = "eval-" };
  if (ds_load(&ep->eval, r->m, &spec, err)) return -1;
  ep->has_eval = true;
  const ds_set *t = &r->data, *e = &ep->eval;
  for (int i = 0; i < t->n; i++) {
    bool found = false;
    for (int k = 0; k < e->n; k++) found |= !strcmp(t->s[i].name, e->s[k].name);
    if (t->s[i].kind == DS_DATASET && !found)
      return vle_fail(err, "--eval-%s %s=FILE is missing: the evaluation set gives every "
                      "stream the training set gives", t->s[i].target ? "target" : "input", t->s[i].name);
  }
  if (e->sample_steps != t->sample_steps)
    return vle_fail(err, "%s: samples of %lld steps, the training's have %lld: the evaluation "
                    "set must have the training's sample length", e->s[0].path,
                    (long long)e->sample_steps, (long long)t->sample_steps);
  if (e->nsamples % e->batch)
    return vle_fail(err, "%s: %lld samples are not a multiple of the batch %ld: every "
                    "evaluation sample counts (choose a batch that divides it)", e->s[0].path,
                    (long long)e->nsamples, e->batch);
  return 0;
}

int rn_ep_setup(rn_run *r, vle_error *err) {
  rn_epochs *ep = &r->ep;
  ep->readout = -1;
  if (!r->o->dataset) return 0;
  ep->on = true;
  ep->len = r->data.nbatches * r->data.sample_steps;
  ep->done = r->k0 / ep->len;
  if (r->o->lr_schedule) rn_schedule_parse(r->o->lr_schedule, &ep->sched);
  else ep->sched = (rn_sched){ .kind = RN_SCHED_NONE, .scale = 1, .best = INFINITY };
  if (ep_find_readout(r, err) || ep_load_eval(r, err)) return -1;
  ep->sums = calloc((size_t)(vle_sim_batch(r->sim) * (ep->readout_size ? ep->readout_size : 1)),
                    sizeof *ep->sums);
  if (!ep->sums) return vle_fail(err, "out of memory");
  if (r->o->load_state && ep_replay(r, err)) return -1;
  return vle_sim_set_lr_scale(r->sim, ep->sched.scale, err);
}

/* ---- each epoch ---------------------------------------------------------------------------- */

int rn_ep_open_log(rn_run *r, vle_error *err) {
  rn_epochs *ep = &r->ep;
  if (!ep->on || r->mute) return 0;
  char *path = rn_join(r->out, "epochs.csv");
  if (!path) return vle_fail(err, "out of memory");
  ep->log = fopen(path, "w");
  int e = errno;
  free(path);
  if (!ep->log) return vle_fail(err, "%s/epochs.csv: cannot create: %s", r->out, strerror(e));
  fprintf(ep->log, "%s\n", ep_header);
  for (int i = 0; i < ep->nrows; i++) ep_write_row(ep->log, &ep->rows[i]);
  rn_output_file(r, "epochs.csv");
  return fflush(ep->log) ? vle_fail(err, "%s/epochs.csv: %s", r->out, strerror(errno)) : 0;
}

static void ep_print(const rn_run *r, const rn_epoch_row *row, FILE *log) {
  if (r->o->quiet || !log) return;
  if (r->progress) fputc('\r', stderr);
  fprintf(log, "epoch %lld/%lld: train loss %.4g", (long long)row->epoch,
          (long long)r->o->epochs, row->train_loss);
  if (!isnan(row->train_acc)) fprintf(log, " acc %.2f%%", 100 * row->train_acc);
  if (r->ep.has_eval) fprintf(log, " | eval loss %.4g", row->eval_loss);
  if (!isnan(row->eval_acc)) fprintf(log, " acc %.2f%%", 100 * row->eval_acc);
  fprintf(log, " | lr %.3g | %.1f s%*s\n", row->lr, row->wall, 20, "");
  fflush(log);
}

static int ep_checkpoint(rn_run *r, vle_error *err) {
  char *path = rn_join(r->out, "checkpoint.state");
  if (!path) return vle_fail(err, "out of memory");
  int rc = vle_sim_save(r->sim, path, err);
  free(path);
  if (!rc && !r->ep.checkpointed) rn_output_file(r, "checkpoint.state");
  r->ep.checkpointed = true;
  return rc;
}

int rn_ep_end(rn_run *r, int64_t k, FILE *log, vle_error *err) {
  rn_epochs *ep = &r->ep;
  if (!ep->on || (k + 1) % ep->len) return 0;
  ep_metrics_total(r, &ep->train);
  rn_epoch_row row = { .epoch = (k + 1) / ep->len, .step = k + 1,
                       .train_loss = ep_mean_loss(&ep->train), .train_acc = ep_accuracy(&ep->train),
                       .eval_loss = NAN, .eval_acc = NAN,
                       .lr = ep_base_lr(r) * ep->sched.scale };
  ep_metrics_reset(&ep->train);
  if (ep->has_eval) {
    rn_metric m;
    if (ep_evaluate(r, &m, err)) return -1;
    row.eval_loss = ep_mean_loss(&m);
    row.eval_acc = ep_accuracy(&m);
  }
  row.wall = ep->wall0 + rn_now() - r->t_start;
  ep_schedule(&ep->sched, row.epoch, ep_metric(&row), ep_base_lr(r));
  if (vle_sim_set_lr_scale(r->sim, ep->sched.scale, err) || ep_add_row(ep, &row, err)) return -1;
  ep->done = row.epoch;
  if (r->mute) return 0;
  ep_write_row(ep->log, &row);
  if (fflush(ep->log)) return vle_fail(err, "%s/epochs.csv: %s", r->out, strerror(errno));
  ep_print(r, &row, log);
  /* under MPI the state is split over the ranks: no checkpoint (docs/cli.md "MPI") */
  return r->dp ? 0 : ep_checkpoint(r, err);
}

void rn_ep_free(rn_run *r) {
  rn_epochs *ep = &r->ep;
  if (ep->log) fclose(ep->log);
  ds_free(&ep->eval);
  free(ep->sums);
  free(ep->rows);
  memset(ep, 0, sizeof *ep);
}
