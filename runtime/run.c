/*
 * run.c - rn_main: the loop behind `vlec run` and `vlec grad` (docs/cli.md).
 *
 *   options -> sim (vle_sim_new) -> data (data.h) -> out dir + recordings (rec.h)
 *   -> for each step: feed data, vle_sim_step, record, progress; stop on SIGINT
 *   -> close recordings, params/ and grad/, --save-state, run.json (run_json.c)
 *
 * Every output is complete or absent: recordings and files are renamed into place when
 * done, also after an interrupt or a NaN (the steps run so far are written, run.json says
 * why it stopped).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run_int.h"
#include "vle_err.h"
#include "vle_internal.h"   /* vs_set_replay */

/* The one static of the runtime: a signal handler can only reach a global. The number of
 * the first SIGINT, SIGTERM or SIGHUP (what Ctrl-C, Slurm, `timeout` and `docker stop`
 * send), read between steps. */
static volatile sig_atomic_t rn_sigint;

/* The first signal asks the loop to stop at the next step and write complete outputs; a
 * second one means "now": the default action, at once, even in the middle of an adjoint
 * sweep (the temporary files it leaves are never seen: af.c). */
static void rn_on_signal(int sig) {
  if (rn_sigint) {
    signal(sig, SIG_DFL);       /* async-signal-safe, as raise is */
    raise(sig);                 /* blocked until this handler returns, then fatal */
    return;
  }
  rn_sigint = sig;
}

static const int rn_signals[] = { SIGINT, SIGTERM, SIGHUP };
enum { RN_NSIGNALS = sizeof rn_signals / sizeof *rn_signals };

double rn_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *rn_signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

/* ---- setup -------------------------------------------------------------------------------- */

/* --set NAME=V,... and --init NAME=FILE into the sim's options (arrays owned by r). */
static int rn_sim_options(rn_run *r, vle_sim_options *so, vle_error *err) {
  const rn_options *o = r->o;
  vle_sim_options_init(so);
  so->batch = r->lanes;          /* the whole batch, or this rank's lanes of it */
  so->replicas = r->dp ? &r->rep : NULL;
  so->seed = o->seed;
  so->dt = o->dt;
  so->errors = o->errors;
  so->learn = !o->no_learn && !o->grad_mode;
  so->accumulate_grads = o->grad_mode;
  so->check_every = (long)o->check_every;
  so->adjoint_memory = (size_t)o->adjoint_memory << 20;
  so->memory_limit = (size_t)o->max_memory << 20;
  so->threads = o->threads;
  r->sets = calloc((size_t)o->nsets + 1, sizeof *r->sets);
  r->inits = calloc((size_t)o->ninits + 1, sizeof *r->inits);
  if (!r->sets || !r->inits) return vle_fail(err, "out of memory");
  for (int i = 0; i < o->nsets; i++) {
    long n = rn_parse_reals(o->sets[i].value, NULL);
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return vle_fail(err, "out of memory");
    rn_parse_reals(o->sets[i].value, v);
    r->sets[i] = (vle_override){ o->sets[i].name, v, (size_t)n };
  }
  for (int i = 0; i < o->ninits; i++) r->inits[i] = (vle_init_file){ o->inits[i].name, o->inits[i].value };
  so->sets = r->sets;
  so->nsets = (size_t)o->nsets;
  so->inits = r->inits;
  so->ninits = (size_t)o->ninits;
  return 0;
}

/* How many steps: --steps, --time, or the data's length. */
static int rn_plan_steps(rn_run *r, vle_error *err) {
  const rn_options *o = r->o;
  double dt = vle_sim_dt(r->sim);
  if (o->steps >= 0) r->steps_planned = o->steps;
  else if (!isnan(o->time)) {
    double n = round(o->time / dt);
    if (!(n <= 0x1p53))               /* llround would be undefined beyond int64 */
      return vle_fail(err, "--time %g is %g steps of dt = %g: more than the step counter's "
                      "2^53", o->time, n, dt);
    r->steps_planned = (int64_t)n;
  }
  else if (r->data.dataset && o->dataset) {      /* --epochs counts from the first epoch */
    int64_t total = ds_length(&r->data, o->epochs);
    if (r->k0 > total)
      return vle_fail(err, "the loaded state is at step %lld, past the %lld steps of %lld "
                      "epochs: give a larger --epochs to train on", (long long)r->k0,
                      (long long)total, (long long)o->epochs);
    r->steps_planned = total - r->k0;
  }
  else r->steps_planned = ds_length(&r->data, o->epochs);
  if (r->steps_planned < 0)
    return vle_fail(err, "how long should it run? give --steps N or --time T (no data file sets "
                    "the length)");
  if (r->steps_planned > INT64_MAX - r->k0)
    return vle_fail(err, "%lld steps after the loaded state's %lld overflow the step counter",
                    (long long)r->steps_planned, (long long)r->k0);
  int64_t end = r->k0 + r->steps_planned;
  for (int i = 0; i < r->data.n; i++) {
    const ds_stream *s = &r->data.s[i];
    if (s->kind != DS_DATASET && s->steps && s->steps < end)
      return vle_fail(err, "%s: %lld steps of data for %s, the run needs %lld", s->path,
                      (long long)s->steps, s->name, (long long)end);
  }
  return 0;
}

/* errors=adjoint or bptt with gradients to learn from or to write, or errors to record: windows of --window steps
 * (default the whole run), planned now so that a window too large for the memory bound is
 * an error before anything is written. */
static int rn_plan_windows(rn_run *r, vle_error *err) {
  bool wants = r->o->grad_mode || (!r->o->no_learn && vle_model_nlearn(r->m) > 0);
  for (int i = 0; i < r->o->nrecord; i++)      /* errors exist only in the sweep */
    wants |= rn_sweep_signal(r->m, vle_model_find_buffer(r->m, r->o->record[i]));
  if (!r->sim->adjoint || !wants || r->steps_planned == 0) return 0;   /* adjoint, bptt */
  int64_t dflt = r->o->dataset ? r->data.sample_steps : r->steps_planned;   /* per minibatch */
  int64_t want = r->o->window > 0 ? r->o->window : dflt;
  r->window = want < r->steps_planned ? want : r->steps_planned;
  int64_t epoch = r->data.nbatches * r->data.sample_steps;
  if (r->o->dataset && (epoch % r->window || r->k0 % r->window))
    return vle_fail(err, "--window %lld does not divide an epoch of %lld steps%s: a window may "
                    "not span an epoch's end (the evaluation and checkpoint sit there)",
                    (long long)r->window, (long long)epoch, r->k0 % r->window ? " (or the "
                    "loaded state's step)" : "");
  return vle_sim_adjoint_plan(r->sim, r->window, &r->plan, err);
}

int rn_mkdirs(const char *path, vle_error *err) {
  char *p = strdup(path);
  if (!p) return vle_fail(err, "out of memory");
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s) continue;
    char c = *s;
    *s = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      int e = errno;
      vle_fail(err, "%s: cannot create directory: %s", p, strerror(e));
      free(p);
      return -1;
    }
    *s = c;
    if (!c) break;
  }
  free(p);
  return 0;
}

/* runs/MODEL-YYYYmmdd-HHMMSS, with -2, -3... if taken (malloc). */
static char *rn_default_out(const rn_run *r) {
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  const char *name = vle_model_get_name(r->m);
  size_t cap = strlen(name) + sizeof stamp + 16;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  int n = snprintf(buf, cap, "runs/%s-%s", name, stamp);
  for (int i = 2; access(buf, F_OK) == 0 && i < 1000; i++) snprintf(buf + n, cap - (size_t)n, "-%d", i);
  return buf;
}

/* --out, or the default; no length limit (no fixed buffer to cut a path at). Under MPI
 * only rank 0 has one. */
static int rn_out_dir(rn_run *r, vle_error *err) {
  if (r->mute) return 0;
  r->out = r->o->out ? strdup(r->o->out) : rn_default_out(r);
  if (!r->out) return vle_fail(err, "out of memory");
  r->out_created = access(r->out, F_OK) != 0;
  return rn_mkdirs(r->out, err) || rn_dir_prepare(r, err) ? -1 : 0;
}

/* ---- the loop ------------------------------------------------------------------------------- */

static void rn_progress(rn_run *r, int64_t done, bool last) {
  if (!r->progress) return;
  double now = rn_now();
  if (!last && now - r->last_progress < 0.1) return;
  r->last_progress = now;
  double frac = r->steps_planned ? (double)done / (double)r->steps_planned : 1;
  int w = 30, fill = (int)(frac * w);
  double rate = done / (now - r->t_start > 1e-9 ? now - r->t_start : 1e-9);
  fputc('\r', stderr);
  if (r->ep.on)
    fprintf(stderr, "epoch %lld/%lld ", (long long)(r->ep.done + 1 < r->o->epochs ? r->ep.done + 1
            : r->o->epochs), (long long)r->o->epochs);
  fprintf(stderr, "[%.*s%*s] %3.0f%% %lld/%lld steps %9.0f steps/s", fill,
          "==============================", w - fill, "", 100 * frac, (long long)done,
          (long long)r->steps_planned, rate);
  if (r->ep.on && r->ep.nrows && !isnan(r->ep.rows[r->ep.nrows - 1].eval_acc))
    fprintf(stderr, "  eval acc %.1f%%", 100 * r->ep.rows[r->ep.nrows - 1].eval_acc);
  if (r->ep.on && done > 0 && !last) {
    double eta = (now - r->t_start) / (double)done * (double)(r->steps_planned - done);
    fprintf(stderr, "  ETA %02d:%02d", (int)(eta / 60), (int)fmod(eta, 60));
  }
  if (r->loss_n) fprintf(stderr, "  loss %.4g", r->loss_sum / (double)r->loss_n);
  if (done < r->o->warmup) fputs("  (warm-up: not learning)", stderr);
  else if (r->o->warmup) fputs("                         ", stderr);   /* erase it */
  r->loss_sum = 0;
  r->loss_n = 0;
  if (last) fputc('\n', stderr);
  fflush(stderr);
}

/* The batch mean loss of this step: the progress bar's running mean, run.json's final and
 * best (lowest; a NaN is never the best) loss. */
static void rn_track_loss(rn_run *r) {
  if (r->loss < 0) return;
  double v = rn_batch_mean(r, r->loss);
  r->loss_final = v;
  if (!isnan(v) && !(v >= r->loss_best)) r->loss_best = v;
  if (!r->progress) return;
  r->loss_sum += v;
  r->loss_n++;
}

/* The adjoint's sweep revisits step k: the same data as the forward step k. */
static int rn_feed_step(void *user, vle_sim *s, int64_t k, vle_error *err) {
  rn_run *r = user;
  return ds_feed(&r->data, s, k, err);
}

/* After the sweep's step k: the errors it computed into their recordings. */
static int rn_observe_step(void *user, vle_sim *s, int64_t k, vle_error *err) {
  (void)s;
  return rn_record_sweep(user, k, err);
}

/* Opens an adjoint window before step i of the run, when one starts there. */
static int rn_window_begin(rn_run *r, int64_t i, vle_error *err) {
  if (!r->window || i % r->window) return 0;
  int64_t left = r->steps_planned - i;
  return vle_sim_adjoint_begin(r->sim, left < r->window ? left : r->window, err);
}

/* Sweeps the window after step i (or the partial one when the loop stopped early). */
static int rn_window_end(rn_run *r, int64_t i, bool stopped, vle_error *err) {
  if (!r->window || (!stopped && (i + 1) % r->window && i + 1 < r->steps_planned)) return 0;
  if (stopped && r->steps_run % r->window == 0) return 0;   /* no window open */
  vle_adjoint_hooks hooks = { rn_feed_step, rn_observe_step, r };
  return vle_sim_adjoint_end(r->sim, &hooks, err);
}

/* A check found a NaN/Inf at step k and rolled the sim back to its last snapshot, up to
 * 256 checks (or --check-every N steps) earlier. The run replays from there with the same
 * data, checking and keeping every step, so that the message names the first bad step and
 * the state, the parameters written, the recordings and run.json all end just before it.
 * An adjoint window's stored trajectory cannot be replayed: there the sim stays at the
 * snapshot, and the recordings and run.json are cut back to it. Returns -1. */
static int rn_replay(rn_run *r, int64_t k, vle_error *err) {
  if (!r->window) {
    vs_set_replay(r->sim, true);
    vle_error e = { { 0 } };
    for (int64_t j = vle_sim_steps_done(r->sim); j <= k; j++) {
      vle_sim_hold_learning(r->sim, j - r->k0 < r->o->warmup);
      if ((r->data.n && ds_feed(&r->data, r->sim, j, &e)) || vle_sim_step(r->sim, 1, &e)) {
        *err = e;                /* the first bad step, exactly */
        break;
      }
    }
    vs_set_replay(r->sim, false);
  }
  r->steps_run = vle_sim_steps_done(r->sim) - r->k0;
  if (r->loss >= 0 && r->steps_run > 0) r->loss_final = rn_batch_mean(r, r->loss);
  vle_error e;
  if (rn_records_truncate(r, &e)) {
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, " (and %.200s)", e.msg);
  }
  return -1;
}

/* Step k: data, the step, recordings, the adjoint window's sweep, metrics and epochs.
 * Under MPI the ranks agree after the step (a NaN on one stops all: no replay, which
 * would step the ranks apart) and at the end; in between every exchange runs on every
 * rank, whatever failed on one (run_rep.c). */
static int rn_step(rn_run *r, int64_t i, vle_error *err) {
  int64_t k = r->k0 + i;
  if (rn_window_begin(r, i, err) || (r->data.n && ds_feed(&r->data, r->sim, k, err)))
    return -1;
  vle_sim_hold_learning(r->sim, i < r->o->warmup);      /* --warmup: no learning yet */
  int rc = vle_sim_step(r->sim, 1, err), sig = 0;
  if (r->dp && rn_rep_agree(r, rc, &sig, err)) return -1;
  if (rc) return vle_sim_steps_done(r->sim) <= k ? rn_replay(r, k, err) : -1;
  r->steps_run++;
  rc = rn_record_step(r, err);
  if (!rc || r->dp) rc |= rn_window_end(r, i, false, err);
  if (!rc || r->dp) {
    rn_track_loss(r);
    rn_ep_step(r, k);
    rc |= rn_ep_end(r, k, r->log, err);
  }
  if (r->dp) {
    sig = rn_sigint;
    rc = rn_rep_agree(r, rc, &sig, err);
    if (sig) r->signal = sig;      /* every rank stops before the next step */
  }
  if (!rc) rn_progress(r, r->steps_run, false);
  return rc ? -1 : 0;
}

static int rn_loop(rn_run *r, vle_error *err) {
  r->t_start = rn_now();
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(r->started, sizeof r->started, "%Y-%m-%dT%H:%M:%SZ", &tm);
  for (int64_t i = 0; i < r->steps_planned; i++) {
    if (r->dp ? r->signal != 0 : rn_sigint != 0) {
      r->interrupted = true;
      if (!r->dp) r->signal = rn_sigint;
      return rn_window_end(r, i, true, err);
    }
    if (rn_step(r, i, err)) return -1;
  }
  return 0;
}

/* ---- main ----------------------------------------------------------------------------------- */

static void rn_free(rn_run *r) {
  rn_records_abort(r);
  if (r->json.fp) af_abort(&r->json);
  for (int i = 0; r->sets && i < r->o->nsets; i++) free((void *)r->sets[i].values);
  free(r->sets);
  free(r->inits);
  rn_ep_free(r);
  rn_rep_free(r);
  ds_free(&r->data);
  vle_sim_free(r->sim);
  rn_dir_release(r, false);
  rn_dir_free(r);
  free(r->out);
}

/* Whether the sim's buffer v->name holds v's values (one value: every element), compared
 * at the model's precision. */
static bool rn_same_values(const rn_run *r, const vle_override *v) {
  size_t n = vle_sim_count(r->sim, v->name);
  bool f32 = vle_model_real_size(r->m) == 4;
  double *have = n && (v->count == n || v->count == 1) ? malloc(n * sizeof *have) : NULL;
  bool same = have && !vle_sim_get(r->sim, v->name, have, n, NULL);
  for (size_t k = 0; same && k < n; k++) {
    double want = v->values[v->count == 1 ? 0 : k];
    same = f32 ? (float)have[k] == (float)want : have[k] == want;
  }
  free(have);
  return same;
}

/* A resumed run keeps the saved settings and consts: --dt or --set values that differ from
 * them are refused, not silently dropped (run.json would claim them). Equal ones pass. */
static int rn_check_resume(rn_run *r, vle_error *err) {
  const rn_options *o = r->o;
  bool f32 = vle_model_real_size(r->m) == 4;
  if (!isnan(o->dt) && (f32 ? (float)o->dt != (float)vle_sim_dt(r->sim) : o->dt != vle_sim_dt(r->sim)))
    return vle_fail(err, "--dt %g conflicts with the loaded state's dt = %g: a resumed run goes "
                    "on with the saved settings (drop --dt, or start without --load-state)",
                    o->dt, vle_sim_dt(r->sim));
  for (int i = 0; i < o->nsets; i++) {
    const vle_override *v = &r->sets[i];
    if (rn_same_values(r, v)) continue;
      return vle_fail(err, "--set %s conflicts with the loaded state's %s: a resumed run goes on "
                      "with the saved settings and consts (drop --set, or start without "
                      "--load-state)", o->sets[i].name, v->name);
  }
  return 0;
}

/* Everything before the first step. */
static int rn_setup(rn_run *r, vle_error *err) {
  vle_sim_options so;
  long batch = r->o->batch > 0 ? r->o->batch : vle_model_settings(r->m)->batch;
  if (rn_rep_setup(r, batch, err) || rn_sim_options(r, &so, err)) return -1;
  if (!(r->sim = vle_sim_new(r->m, &so, err))) return -1;
  if (r->o->load_state && (vle_sim_load(r->sim, r->o->load_state, err) || rn_check_resume(r, err)))
    return -1;
  r->k0 = vle_sim_steps_done(r->sim);
  ds_spec spec = ds_spec_of(r->o, r->batch);
  spec.lane0 = r->lane0;
  spec.lanes = r->lanes;
  if (ds_load(&r->data, r->m, &spec, err) || rn_plan_steps(r, err) || rn_plan_windows(r, err) ||
      rn_ep_setup(r, err) || rn_records_check(r, err) || rn_out_dir(r, err) ||
      rn_json_reserve(r, err) || rn_records_open(r, err) || rn_ep_open_log(r, err))
    return -1;
  return 0;
}

/* Outputs after the loop (also after an interrupt or a step error): each is attempted
 * whatever happened to the others (a full disk: keep what fits); the first error is
 * reported. */
static int rn_finish(rn_run *r, vle_error *err) {
  if (r->mute) return 0;                /* another MPI rank: rank 0 writes */
  vle_error e[5] = { { { 0 } } };
  int bad[5] = {
    rn_records_close(r, &e[0]), rn_write_params(r, &e[1]),
    r->o->grad_mode ? rn_write_grads(r, &e[2]) : 0,
    r->o->save_state ? vle_sim_save(r->sim, r->o->save_state, &e[3]) : 0,
    rn_dir_copy_model(r, &e[4]) };
  for (int i = 0; i < 5; i++)
    if (bad[i]) {
      *err = e[i];
      return -1;
    }
  return 0;
}

/* Options that would do nothing in this run say so (they are not errors: a script may pass
 * the same --warmup to runs of several lengths). */
static void rn_warn_idle_options(const rn_run *r, FILE *log) {
  const rn_options *o = r->o;
  if (!log) return;
  long long steps = (long long)r->steps_planned;
  if (o->warmup > 0 && o->warmup >= r->steps_planned && !o->grad_mode && !o->no_learn &&
      vle_model_nlearn(r->m) > 0)
    fprintf(log, "warning: --warmup %lld covers the whole run of %lld steps: nothing is "
            "learned\n", (long long)o->warmup, steps);
  if (o->record_every > 0 && o->record_every > r->steps_planned)
    fprintf(log, "warning: --record-every %lld is longer than the run of %lld steps: it "
            "thins nothing\n", (long long)o->record_every, steps);
  if (r->data.dataset && r->data.nsamples % r->data.batch)
    fprintf(log, "warning: %lld of the %lld samples do not fill a minibatch of %ld: each epoch "
            "leaves them out (%s)\n", (long long)(r->data.nsamples % r->data.batch),
            (long long)r->data.nsamples, r->data.batch, o->no_shuffle ? "the last ones"
            : "different ones each epoch, as shuffled");
  if (o->combine_every > 0 && !r->dp)
    fprintf(log, "warning: --combine-every %lld does nothing in a run of one process (it "
            "is for mpirun -np R: docs/cli.md \"MPI\")\n", (long long)o->combine_every);
  if (o->param_every > 0 && o->param_every > r->steps_planned)
    fprintf(log, "warning: --param-every %lld is longer than the run of %lld steps: no "
            "parameter snapshot is taken\n", (long long)o->param_every, steps);
}

static void rn_summary(const rn_run *r, FILE *log) {
  if (r->o->quiet || !log) return;
  char loss[48] = "";
  if (!isnan(r->loss_final)) snprintf(loss, sizeof loss, ", final loss %.4g", r->loss_final);
  fprintf(log, "%s %lld steps in %.3g s (%.0f steps/s)%s%s; outputs in %s\n",
          r->o->grad_mode ? "gradients over" : "ran", (long long)r->steps_run, r->wall,
          r->wall > 0 ? (double)r->steps_run / r->wall : 0.0, loss,
          r->interrupted ? ", interrupted" : "", r->out);
}

/* The loop and the outputs, once set up. Returns the exit status. */
static int rn_execute(rn_run *r, FILE *log, vle_error *err) {
  int status = 0;
  if (rn_loop(r, err)) {
    status = 1;
    snprintf(r->error, sizeof r->error, "%s", err->msg);
  }
  r->wall = rn_now() - r->t_start;
  rn_progress(r, r->steps_run, true);
  vle_error ferr = { { 0 } };
  if (rn_finish(r, &ferr)) {            /* run.json says so: written below all the same */
    if (status) {
      size_t n = strlen(r->error);
      snprintf(r->error + n, sizeof r->error - n, " (and writing the outputs failed: %s)", ferr.msg);
    } else {
      snprintf(r->error, sizeof r->error, "%s", ferr.msg);
    }
    status = 1;
  }
  if (!r->mute && rn_write_json(r, &ferr)) {
    if (r->error[0]) vle_fail(err, "%s (and run.json: %s)", r->error, ferr.msg);
    else *err = ferr;
    return 1;
  }
  if (status) {
    vle_fail(err, "%s", r->error);
    return status;
  }
  rn_summary(r, log);
  return r->interrupted ? 128 + r->signal : 0;     /* the shell's convention: 130 for ^C */
}

int rn_main(const vle_model *m, const rn_options *o, FILE *log) {
  rn_run r = { .m = m, .o = o, .lock_fd = -1, .loss_final = NAN, .loss_best = NAN, .log = log };
  vle_error err = { { 0 } };
  struct sigaction sa = { .sa_handler = rn_on_signal }, old[RN_NSIGNALS];
  sigemptyset(&sa.sa_mask);
  rn_sigint = 0;
  for (int i = 0; i < RN_NSIGNALS; i++) sigaction(rn_signals[i], &sa, &old[i]);
  if (o->replicas && o->replicas->size > 1 && o->replicas->rank != 0)
    r.log = log = NULL;               /* MPI: rank 0 speaks for all (rn_rep_agree) */
  r.progress = !o->quiet && log && isatty(fileno(stderr));
  r.loss = vle_model_signal(m, "loss");
  int status, sig = 0, rc = rn_setup(&r, &err);
  if (r.dp) rc = rn_rep_agree(&r, rc, &sig, &err);
  if (rc) {
    status = 1;
    rn_records_abort(&r);
    if (r.json.fp) af_abort(&r.json);
    rn_dir_release(&r, r.out_created);
    if (r.out_created) rmdir(r.out);  /* empty: no run directory without a run */
  } else {
    rn_warn_idle_options(&r, log);
    status = rn_execute(&r, log, &err);
  }
  if (log && status == 1) fprintf(log, "error: %s\n", err.msg);
  if (log && r.interrupted && status > 128)
    fprintf(log, "interrupted (%s) after %lld steps; outputs are complete\n",
            rn_signal_name(r.signal), (long long)r.steps_run);
  for (int i = 0; i < RN_NSIGNALS; i++) sigaction(rn_signals[i], &old[i], NULL);
  rn_free(&r);
  return status;
}
