/*
 * run_rec.c - what a run writes besides run.json: the --record signals (rec.h streams),
 * parameters at the end (params/NAME.npy) and gradient estimates (grad/NAME.npy).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "npy.h"
#include "run_int.h"
#include "vle_err.h"
#include "vle_internal.h"   /* vs_buffer_at: no lookup by name every step */

static npy_dtype rn_dtype(const vle_model *m) { return vle_model_real_size(m) == 8 ? NPY_F8 : NPY_F4; }

/* A parameter's file shape: weights [rows, cols]; vectors (biases, time constants) [rows]. */
static int rn_param_shape(const vle_model *m, int p, int64_t shape[2]) {
  const vle_param_info *q = vle_model_param(m, p);
  const vle_buffer_info *b = vle_model_buffer(m, q->buf);
  shape[0] = b->rows;
  shape[1] = b->cols;
  return strcmp(q->kind, "weight") && b->cols == 1 ? 1 : 2;
}

char *rn_file_stem(const char *name) {
  size_t n = strlen(name) + 1;
  for (const char *c = name; *c; c++) n += (*c == '\'') * 3;
  char *s = malloc(n), *o = s;
  for (const char *c = name; s && *c; c++) {
    if (*c != '\'') {
      *o++ = *c;
      continue;
    }
    memcpy(o, "_dot", 4);
    o += 4;
  }
  if (s) *o = 0;
  return s;
}

void rn_output_file(rn_run *r, const char *file) {
  char **q = realloc(r->outputs, (size_t)(r->noutputs + 1) * sizeof *q);
  if (!q) return;
  r->outputs = q;
  if ((q[r->noutputs] = strdup(file))) r->noutputs++;
}

void rn_output(rn_run *r, const char *dir, const char *name) {
  char *stem = rn_file_stem(name);
  size_t n = stem ? (dir ? strlen(dir) + 1 : 0) + strlen(stem) + 8 : 0;
  char *file = stem ? malloc(n) : NULL;
  if (file) {
    snprintf(file, n, "%s%s%s.npy", dir ? dir : "", dir ? "/" : "", stem);
    rn_output_file(r, file);
  }
  free(file);
  free(stem);
}

/* OUT/[DIR/]STEM.npy: the file of the signal or parameter `name` (rn_file_stem). */
static char *rn_path(const rn_run *r, const char *dir, const char *name) {
  char *stem = rn_file_stem(name);
  if (!stem) return NULL;
  size_t n = strlen(r->out) + (dir ? strlen(dir) + 1 : 0) + strlen(stem) + 8;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s%s%s.npy", r->out, dir ? dir : "", dir ? "/" : "", stem);
  free(stem);
  return p;
}

/* ---- --record --------------------------------------------------------------------------- */

static bool rn_recordable(const vle_buffer_info *b) {
  return b->role != VLE_ROLE_TEMP && b->role != VLE_ROLE_PUBNEXT && b->role != VLE_ROLE_GRAD;
}

/* The compiler's own buffers: published copies (pub*, bp*, the `published` flag), literal
 * vectors (lit*) and fused learning rates (lr.*). They can be recorded by name, for debugging
 * the generated step, but are not what the model calls its signals. */
static bool rn_internal(const vle_buffer_info *b) {
  const char *n = b->name;
  if (b->role == VLE_ROLE_PUB || !strncmp(n, "lr.", 3)) return true;
  if (strncmp(n, "lit", 3) || !n[3]) return false;
  for (n += 3; *n; n++)
    if (*n < '0' || *n > '9') return false;
  return true;
}

/* Edit distance of a and b (insertions, deletions, substitutions), capped at 9. */
static int rn_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 9;
  int d[64][64];
  for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
      d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
  return d[la][lb] < 9 ? d[la][lb] : 9;
}

static int rn_unknown_signal(const rn_run *r, const char *name, vle_error *err) {
  char list[1024] = "";
  const char *best = NULL;
  int dbest = 9;
  for (int i = 0; i < vle_model_nbuffers(r->m); i++) {
    const vle_buffer_info *b = vle_model_buffer(r->m, i);
    if (!rn_recordable(b) || rn_internal(b)) continue;
    size_t o = strlen(list);
    if (o + strlen(b->name) + 8 < sizeof list)
      snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", b->name);
    int dist = rn_distance(name, b->name);
    if (dist < dbest) dbest = dist, best = b->name;
  }
  bool close = best && dbest <= 2 && (size_t)dbest < strlen(name);
  return vle_fail(err, "--record %s: the model has no signal or parameter of that name%s%s%s "
                  "(recordable: %s)", name, close ? "; did you mean '" : "", close ? best : "",
                  close ? "'?" : "", list);
}

bool rn_sweep_signal(const vle_model *m, int b) {
  for (int p = 0; b >= 0 && p < vle_model_npopulations(m); p++) {
    const vle_population_info *q = vle_model_population(m, p);
    if (b == q->e || b == q->g || b == q->v) return true;
  }
  return false;
}

/* Two signals must never share a file: h1' and a signal named h1_dot both map to h1_dot.npy
 * (rn_file_stem); such a pair is refused before the run. */
static int rn_records_unique(const rn_run *r, vle_error *err) {
  int rc = 0;
  for (int i = 0; i < r->nrecs && !rc; i++) {
    char *a = rn_file_stem(r->recs[i].name);
    for (int j = 0; a && j < i && !rc; j++) {
      char *b = rn_file_stem(r->recs[j].name);
      if (b && !strcmp(a, b))
        rc = vle_fail(err, "--record: %s and %s would both be written to %s.npy (a ' in a "
                      "name is written _dot): record them in separate runs",
                      r->recs[j].name, r->recs[i].name, a);
      if (!b) rc = vle_fail(err, "out of memory");
      free(b);
    }
    if (!a) rc = vle_fail(err, "out of memory");
    free(a);
  }
  return rc;
}

/* With any signal recorded, the time of its rows: the signal t at the recorded steps, as
 * t.npy (recs has room for it: nrecord + 1). */
static void rn_record_time(rn_run *r) {
  int t = vle_model_find_buffer(r->m, "t"), signals = 0;
  for (int i = 0; i < r->nrecs; i++) {
    if (r->recs[i].kind != RN_PARAM) signals++;
    if (!strcmp(r->recs[i].name, "t")) return;
  }
  if (!signals || t < 0 || !rn_recordable(vle_model_buffer(r->m, t))) return;
  r->recs[r->nrecs++] = (rn_rec){ .name = "t", .buf = t,
                                  .kind = vle_model_buffer(r->m, t)->batched ? RN_BATCHED : RN_SHARED };
}

int rn_records_check(rn_run *r, vle_error *err) {
  const vle_model *m = r->m;
  r->recs = calloc((size_t)r->o->nrecord + 1, sizeof *r->recs);
  r->scratch = malloc((size_t)vle_sim_batch(r->sim) * sizeof *r->scratch);
  if (!r->recs || !r->scratch) return vle_fail(err, "out of memory");
  for (int i = 0; i < r->o->nrecord; i++) {
    const char *name = r->o->record[i];
    bool dup = false;
    for (int j = 0; j < r->nrecs; j++) dup |= !strcmp(r->recs[j].name, name);
    if (dup) continue;
    int p = vle_model_find_param(m, name), b = vle_model_find_buffer(m, name);
    rn_rec *rec = &r->recs[r->nrecs];
    *rec = (rn_rec){ .name = name, .buf = b };
    if (p >= 0) rec->kind = RN_PARAM, rec->buf = vle_model_param(m, p)->buf;
    else if (b < 0 || !rn_recordable(vle_model_buffer(m, b))) return rn_unknown_signal(r, name, err);
    else if (b == vle_model_signal(m, "loss") || b == vle_model_signal(m, "energy") ||
             b == vle_model_signal(m, "objective"))
      rec->kind = RN_MEAN;
    else rec->kind = vle_model_buffer(m, b)->batched ? RN_BATCHED : RN_SHARED;
    rec->sweep = r->window && rn_sweep_signal(m, b) && rec->kind != RN_PARAM;
    r->nrecs++;
  }
  rn_record_time(r);
  size_t lane = 0;                /* MPI: room to gather a batched row of any recording */
  for (int i = 0; i < r->nrecs; i++) {
    const vle_buffer_info *b = vle_model_buffer(m, r->recs[i].buf);
    size_t n = (size_t)(b->rows * b->cols) * vle_model_real_size(m);
    if (r->recs[i].kind == RN_BATCHED && n > lane) lane = n;
  }
  return rn_records_unique(r, err) || rn_rep_reserve(r, lane, err) ? -1 : 0;
}

/* The batch the recordings hold: the whole run's (all MPI ranks'). */
static long rn_batch(const rn_run *r) { return r->dp ? r->batch : vle_sim_batch(r->sim); }

/* A recording's interval in steps: a row after steps K, 2K, ... of the run; 0 (a parameter
 * without --record-every or --param-every): one value at the end. */
static int64_t rn_every(const rn_run *r, const rn_rec *rec) {
  if (rec->kind == RN_PARAM) return r->o->param_every ? r->o->param_every : r->o->record_every;
  return r->o->record_every ? r->o->record_every : 1;
}

static int rn_record_open(rn_run *r, rn_rec *rec, vle_error *err) {
  const vle_buffer_info *b = vle_model_buffer(r->m, rec->buf);
  int64_t inner[2] = { b->rows * b->cols, 0 };
  int nd = rec->kind == RN_MEAN ? 0 : 1;
  if (rec->kind == RN_PARAM) nd = rn_param_shape(r->m, vle_model_find_param(r->m, rec->name), inner);
  int64_t batch = rec->kind == RN_BATCHED ? rn_batch(r) : 0;
  if (r->mute) {                  /* another MPI rank writes it: this one only takes part */
    rec->open = true;
    return 0;
  }
  char *path = rn_path(r, NULL, rec->name);
  if (!path) return vle_fail(err, "out of memory");
  int rc = rec_open(&rec->r, path, rn_dtype(r->m), batch, nd, inner, err);
  free(path);
  rec->open = rc == 0;
  return rc;
}

/* Bytes the recordings of the planned run will take: rows (every K-th step) times a row's
 * reals (the batch for batched signals, one for batch means). */
static double rn_records_bytes(const rn_run *r) {
  double bytes = 0;
  for (int i = 0; i < r->nrecs; i++) {
    const rn_rec *rec = &r->recs[i];
    int64_t every = rn_every(r, rec);
    if (every == 0) continue;
    const vle_buffer_info *b = vle_model_buffer(r->m, rec->buf);
    double row = rec->kind == RN_MEAN ? 1 : (double)(b->rows * b->cols) *
                 (rec->kind == RN_BATCHED ? (double)rn_batch(r) : 1);
    bytes += (double)(r->steps_planned / every) * row * (double)vle_model_real_size(r->m);
  }
  return bytes;
}

/* A run whose recordings cannot fit on the disk is refused before its first step, with the
 * figures (a disk that fills during the run still keeps the complete rows: docs/runtime.md). */
static int rn_check_disk(const rn_run *r, vle_error *err) {
  struct statvfs fs;
  double need = rn_records_bytes(r);
  if (need == 0 || r->mute || statvfs(r->out, &fs) != 0) return 0;   /* no figure: the run finds out */
  double free_bytes = (double)fs.f_bavail * (double)fs.f_frsize;
  if (need <= free_bytes) return 0;
  return vle_fail(err, "the recordings of this run need %.3g MB and %s has %.3g MB free: record "
                  "fewer signals, thin them with --record-every K, or write elsewhere (--out)",
                  need / 1e6, r->out, free_bytes / 1e6);
}

int rn_records_open(rn_run *r, vle_error *err) {
  if (rn_check_disk(r, err)) return -1;
  for (int i = 0; i < r->nrecs; i++) {
    rn_rec *rec = &r->recs[i];
    if (rn_every(r, rec) == 0) continue;   /* a parameter written at the end */
    if (rn_record_open(r, rec, err)) return -1;
  }
  return 0;
}

int rn_records_truncate(rn_run *r, vle_error *err) {
  for (int i = 0; i < r->nrecs; i++) {
    rn_rec *rec = &r->recs[i];
    if (rec->open && rec_truncate(&rec->r, r->steps_run / rn_every(r, rec), err)) return -1;
  }
  return 0;
}

/* The mean over the whole batch (all MPI ranks': their sums added in rank order). */
double rn_batch_mean(rn_run *r, int buf) {
  const void *p = vs_buffer_at(r->sim, buf);
  long batch = vle_sim_batch(r->sim);
  bool f64 = vle_model_real_size(r->m) == 8;
  double sum = 0;
  for (long i = 0; i < batch; i++) sum += f64 ? ((const double *)p)[i] : ((const float *)p)[i];
  return r->dp ? rn_rep_sum(r, sum) / (double)r->batch : sum / (double)batch;
}

/* rn_batch_mean in the model's precision, in r->scratch: a row of a [steps] recording. */
static const void *rn_batch_mean_row(rn_run *r, int buf) {
  double mean = rn_batch_mean(r, buf);
  if (vle_model_real_size(r->m) == 8) r->scratch[0] = mean;
  else ((float *)r->scratch)[0] = (float)mean;
  return r->scratch;
}

/* A recording's row of this step: under MPI every rank's lanes of a batched signal,
 * gathered (run_rep.c), whichever rank writes it. */
static const void *rn_record_row(rn_run *r, const rn_rec *rec) {
  if (rec->kind == RN_MEAN) return rn_batch_mean_row(r, rec->buf);
  const void *mine = vs_buffer_at(r->sim, rec->buf);
  if (rec->kind != RN_BATCHED || !r->dp) return mine;
  const vle_buffer_info *b = vle_model_buffer(r->m, rec->buf);
  return rn_rep_lanes(r, mine, (size_t)(b->rows * b->cols) * vle_model_real_size(r->m));
}

/* (Under MPI a rank whose write failed goes on taking part in the other recordings'
 * exchanges; the error is reported at the step's end: run_rep.c.) */
int rn_record_step(rn_run *r, vle_error *err) {
  int rc = 0;
  for (int i = 0; i < r->nrecs && (!rc || r->dp); i++) {
    rn_rec *rec = &r->recs[i];
    if (!rec->open || r->steps_run % rn_every(r, rec)) continue;
    const void *row = rn_record_row(r, rec);
    if (!r->mute && !rc) rc = rec_append(&rec->r, row, err);
  }
  return rc;
}

int rn_record_sweep(rn_run *r, int64_t k, vle_error *err) {
  int rc = 0;
  for (int i = 0; i < r->nrecs && (!rc || r->dp); i++) {
    rn_rec *rec = &r->recs[i];
    int64_t every = rn_every(r, rec), n = k - r->k0 + 1;   /* steps of the run up to k */
    if (!rec->open || !rec->sweep || n % every) continue;
    const void *row = rn_record_row(r, rec);
    if (!r->mute && !rc) rc = rec_put(&rec->r, n / every - 1, row, err);
  }
  return rc;
}

/* A parameter's current value to a complete .npy. */
static int rn_write_param(rn_run *r, int p, const char *dir, vle_error *err) {
  const vle_param_info *q = vle_model_param(r->m, p);
  int64_t shape[2];
  int nd = rn_param_shape(r->m, p, shape);
  char *path = rn_path(r, dir, q->name);
  if (!path) return vle_fail(err, "out of memory");
  int rc = npy_write(path, rn_dtype(r->m), nd, shape, vle_sim_buffer(r->sim, vle_model_buffer(r->m, q->buf)->name, NULL), err);
  free(path);
  if (!rc) rn_output(r, dir, q->name);
  return rc;
}

/* Closes every recording, also after one failed (a full disk fails them all, and each
 * keeps what it can); the first error is reported. */
int rn_records_close(rn_run *r, vle_error *err) {
  int rc = 0;
  for (int i = 0; i < r->nrecs; i++) {
    rn_rec *rec = &r->recs[i];
    vle_error e = { { 0 } };
    int bad;
    if (rec->kind == RN_PARAM && !rec->open) {
      bad = rn_write_param(r, vle_model_find_param(r->m, rec->name), NULL, &e);
    } else {
      rec->open = false;
      bad = rec_close(&rec->r, &e);
      if (!bad) rn_output(r, NULL, rec->name);
    }
    if (bad && !rc) *err = e;
    rc |= bad;
  }
  return rc ? -1 : 0;
}

void rn_records_abort(rn_run *r) {
  for (int i = 0; r->recs && i < r->nrecs; i++)
    if (r->recs[i].open && !r->mute) rec_abort(&r->recs[i].r);
  free(r->recs);
  free(r->scratch);
  for (int i = 0; i < r->noutputs; i++) free(r->outputs[i]);
  free(r->outputs);
  r->recs = NULL;
  r->scratch = NULL;
  r->outputs = NULL;
  r->nrecs = r->noutputs = 0;
}

static int rn_subdir(rn_run *r, const char *sub, vle_error *err) {
  size_t n = strlen(r->out) + strlen(sub) + 2;
  char *p = malloc(n);
  if (!p) return vle_fail(err, "out of memory");
  snprintf(p, n, "%s/%s", r->out, sub);
  int rc = rn_mkdirs(p, err);
  free(p);
  return rc;
}

int rn_write_params(rn_run *r, vle_error *err) {
  if (vle_model_nparams(r->m) == 0) return 0;
  if (rn_subdir(r, "params", err)) return -1;
  for (int p = 0; p < vle_model_nparams(r->m); p++)
    if (rn_write_param(r, p, "params", err)) return -1;
  return 0;
}

/* β, the weight of the declared cost in the energy (theory.md §4), as the model computes it
 * from its consts' run-time values (the signal `objective.beta`). */
int rn_beta(const rn_run *r, double *beta, vle_error *err) {
  int b = vle_model_signal(r->m, "beta");
  if (b < 0)
    return vle_fail(err, "model '%s' has no beta signal (built by an older vlec: rebuild it)",
                    vle_model_get_name(r->m));
  const char *name = vle_model_buffer(r->m, b)->name;
  size_t n = vle_sim_count(r->sim, name);    /* one per batch element, all equal */
  double *v = malloc(n * sizeof *v);
  int rc = !v ? vle_fail(err, "out of memory") : vle_sim_get(r->sim, name, v, n, err);
  *beta = rc ? 0 : v[0];
  free(v);
  return rc;
}

/* grad/NAME.npy = sum_k dt G_k / beta (float64) for every learnable parameter: ∂J/∂θ. */
int rn_write_grads(rn_run *r, vle_error *err) {
  double beta = 0;
  if (rn_beta(r, &beta, err)) return -1;
  if (beta == 0)
    return vle_fail(err, "the weight beta of the cost in the energy is 0: the objective J = "
                    "(1/beta) sum_k dt R_k, and the gradient estimate sum dt G / beta, are "
                    "undefined");
  if (rn_subdir(r, "grad", err)) return -1;
  for (int p = 0; p < vle_model_nparams(r->m); p++) {
    const vle_param_info *q = vle_model_param(r->m, p);
    if (q->learn < 0 || q->grad < 0) continue;
    int64_t shape[2];
    int nd = rn_param_shape(r->m, p, shape);
    size_t n = (size_t)(shape[0] * shape[1]);
    double *g = malloc(n * sizeof *g);
    char *path = rn_path(r, "grad", q->name);
    int rc = !g || !path ? vle_fail(err, "out of memory") : vle_sim_grad_sum(r->sim, q->name, g, n, err);
    for (size_t i = 0; !rc && i < n; i++) g[i] /= beta;
    if (!rc) rc = npy_write(path, NPY_F8, nd, shape, g, err);
    free(g);
    free(path);
    if (rc) return -1;
    rn_output(r, "grad", q->name);
  }
  return 0;
}
