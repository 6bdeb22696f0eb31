/*
 * run_args.c - the command line of `vlec run` / `vlec grad` (docs/cli.md) into an
 * rn_options. Usage errors print one line naming the option and what it expects, and
 * return 2; checks that need the model (names, sizes) are left to rn_main.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "vocab.h"

void rn_options_init(rn_options *o, bool grad_mode) {
  memset(o, 0, sizeof *o);
  o->grad_mode = grad_mode;
  o->steps = -1;
  o->time = NAN;
  o->dt = NAN;
  o->window = -1;
  o->epochs = 1;
  o->check_every = 1;
}

void rn_options_free(rn_options *o) {
  for (int i = 0; i < o->nowned_; i++) free(o->owned_[i]);
  free(o->owned_);
  free(o->sets); free(o->inits); free(o->inputs); free(o->targets); free((void *)o->record);
  free(o->eval_inputs); free(o->eval_targets);
  rn_options_init(o, o->grad_mode);
}

/* Remembers a heap string for rn_options_free; returns it (NULL if out of memory). */
static char *rn_own(rn_options *o, char *p) {
  char **q = p ? realloc(o->owned_, (size_t)(o->nowned_ + 1) * sizeof *q) : NULL;
  if (!q) { free(p); return NULL; }
  o->owned_ = q;
  o->owned_[o->nowned_++] = p;
  return p;
}

static const char *rn_cmd(bool grad) { return grad ? "vlec grad" : "vlec run"; }

static int rn_usage(FILE *err, bool grad, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(err, "%s: ", rn_cmd(grad));
  vfprintf(err, fmt, ap);
  fprintf(err, "\n(see '%s --help')\n", rn_cmd(grad));
  va_end(ap);
  return 2;
}

/* Decimal digits only: strtoll/strtoull would also take blanks, a sign, and (base 0) octal
 * 010 or hex; strtoull even wraps " -1" to 2^64 - 1. */
static bool rn_digits(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return false;
  return true;
}

static bool rn_int(const char *s, int64_t lo, int64_t *out) {
  char *end;
  errno = 0;
  if (!rn_digits(s)) return false;      /* every lower bound is >= 0 */
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo) return false;
  *out = v;
  return true;
}

static bool rn_real(const char *s, double *out) {
  char *end;
  errno = 0;
  if (!*s || strchr(" \t\n\v\f\r", *s)) return false;   /* strtod skips blanks */
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) return false;
  *out = v;
  return true;
}

int rn_schedule_parse(const char *spec, rn_sched *out) {
  rn_sched s = { .kind = RN_SCHED_NONE, .scale = 1, .best = INFINITY };
  char kind[16], n[32], f[64], extra;
  /* three fields split at ':' (sscanf's %[^:] stops there); anything after F is an error */
  if (sscanf(spec, "%15[^:]:%31[^:]:%63[^:]%c", kind, n, f, &extra) != 3) return -1;
  if (!strcmp(kind, "step")) s.kind = RN_SCHED_STEP;
  else if (!strcmp(kind, "plateau")) s.kind = RN_SCHED_PLATEAU;
  else return -1;
  if (!rn_int(n, 1, &s.every) || !rn_real(f, &s.factor) || !(s.factor > 0 && s.factor < 1))
    return -1;
  if (out) *out = s;
  return 0;
}

/* Parses "1,2.5,3" into values (NULL: count only). Returns the count, or -1. */
long rn_parse_reals(const char *s, double *values) {
  long n = 0;
  for (const char *p = s;; n++) {
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (errno || end == p || !isfinite(v) || (*end && *end != ',')) return -1;
    if (values) values[n] = v;
    if (!*end) return n + 1;
    p = end + 1;
  }
}

/* Appends NAME=VALUE to a list (split at the first '='). */
static int rn_kv_add(rn_options *o, rn_kv **list, int *n, const char *opt, const char *arg,
                     FILE *err) {
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg || !eq[1])
    return rn_usage(err, o->grad_mode, "--%s %s: expected NAME=VALUE", opt, arg);
  rn_kv *q = realloc(*list, (size_t)(*n + 1) * sizeof *q);
  if (!q) return rn_usage(err, o->grad_mode, "out of memory");
  *list = q;
  char *name = rn_own(o, strndup(arg, (size_t)(eq - arg)));
  if (!name) return rn_usage(err, o->grad_mode, "out of memory");
  q[(*n)++] = (rn_kv){ name, eq + 1 };
  if (!strcmp(opt, "set") && rn_parse_reals(eq + 1, NULL) < 0)
    return rn_usage(err, o->grad_mode, "--set %s: expected numbers separated by commas", arg);
  return 0;
}

static int rn_record_add(rn_options *o, const char *list, FILE *err) {
  char *copy = rn_own(o, strdup(list));
  if (!copy) return rn_usage(err, o->grad_mode, "out of memory");
  /* "h, W" is as good as "h,W": tokens split at commas and blanks */
  for (char *save = NULL, *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
    const char **q = realloc((void *)o->record, (size_t)(o->nrecord + 1) * sizeof *q);
    if (!q) return rn_usage(err, o->grad_mode, "out of memory");
    o->record = q;
    q[o->nrecord++] = tok;
  }
  return 0;
}

static int rn_errors_opt(rn_options *o, const char *v, FILE *err) {
  if (vv_scheme_find(v) < 0)
    return rn_usage(err, o->grad_mode, "--errors %s: expected one of %.*s", v,
                    (int)sizeof VLE_SCHEME_NAMES - 3, VLE_SCHEME_NAMES);
  o->errors = v;
  return 0;
}

/* One option that takes a value. Returns 0, 2 (usage error) or -1 (not such an option). */
static int rn_value_opt(rn_options *o, const char *name, const char *v, FILE *err) {
  bool g = o->grad_mode;
  struct { const char *name; int64_t *dst; int64_t lo; } ints[] = {
    { "steps", &o->steps, 0 }, { "window", &o->window, 1 }, { "record-every", &o->record_every, 1 },
    { "param-every", &o->param_every, 1 },
    { "epochs", &o->epochs, 1 }, { "readout-last", &o->readout_last, 1 }, { "check-every", &o->check_every, 0 }, { "warmup", &o->warmup, 0 },
    { "adjoint-memory", &o->adjoint_memory, 1 }, { "max-memory", &o->max_memory, 1 },
    { "combine-every", &o->combine_every, 1 } };
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
    if (!strcmp(name, ints[i].name))
      return rn_int(v, ints[i].lo, ints[i].dst) ? 0
             : rn_usage(err, g, "--%s %s: expected an integer >= %lld", name, v, (long long)ints[i].lo);
  int64_t iv;
  if (!strcmp(name, "batch")) {
    if (!rn_int(v, 1, &iv) || iv > (1 << 24)) return rn_usage(err, g, "--batch %s: expected an integer in [1, 16777216]", v);
    o->batch = (long)iv;
    return 0;
  }
  if (!strcmp(name, "seed")) {
    char *end;
    errno = 0;
    o->seed = rn_digits(v) ? strtoull(v, &end, 10) : 0;
    return !rn_digits(v) || errno || *end
           ? rn_usage(err, g, "--seed %s: expected a decimal integer in [0, 2^64)", v) : 0;
  }
  if (!strcmp(name, "time"))
    return rn_real(v, &o->time) && o->time > 0 ? 0 : rn_usage(err, g, "--time %s: expected a positive number", v);
  if (!strcmp(name, "threads")) {
    if (!strcmp(v, "auto")) o->threads = 0;
    else if (!rn_int(v, 1, &iv) || iv > 1024)
      return rn_usage(err, g, "--threads %s: expected auto or an integer in [1, 1024]", v);
    else o->threads = (int)iv;
    return 0;
  }
  if (!strcmp(name, "dt"))
    return rn_real(v, &o->dt) && o->dt > 0 ? 0 : rn_usage(err, g, "--dt %s: expected a positive number", v);
  if (!strcmp(name, "errors")) return rn_errors_opt(o, v, err);
  if (!strcmp(name, "set")) return rn_kv_add(o, &o->sets, &o->nsets, name, v, err);
  if (!strcmp(name, "init")) return rn_kv_add(o, &o->inits, &o->ninits, name, v, err);
  if (!strcmp(name, "input")) return rn_kv_add(o, &o->inputs, &o->ninputs, name, v, err);
  if (!strcmp(name, "target")) return rn_kv_add(o, &o->targets, &o->ntargets, name, v, err);
  if (!strcmp(name, "eval-input")) return rn_kv_add(o, &o->eval_inputs, &o->neval_inputs, name, v, err);
  if (!strcmp(name, "eval-target")) return rn_kv_add(o, &o->eval_targets, &o->neval_targets, name, v, err);
  if (!strcmp(name, "lr-schedule")) {
    o->lr_schedule = v;
    return rn_schedule_parse(v, NULL) ? rn_usage(err, g, "--lr-schedule %s: expected "
           "step:N:F (lr times F every N epochs) or plateau:P:F (lr times F after P epochs "
           "without improvement), N, P integers >= 1, 0 < F < 1", v) : 0;
  }
  if (!strcmp(name, "record")) return rn_record_add(o, v, err);
  const char **strs[] = { &o->out, &o->save_state, &o->load_state, &o->readout };
  const char *snames[] = { "out", "save-state", "load-state", "readout" };
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, snames[i])) { *strs[i] = v; return 0; }
  return -1;
}

static bool rn_known_value_opt(const char *name) {
  static const char *names[] = { "steps", "time", "dt", "batch", "seed", "errors", "window",
                                 "set", "init", "input", "target", "record", "record-every",
                                 "param-every", "out", "epochs", "check-every", "save-state", "load-state",
                                 "warmup", "adjoint-memory", "max-memory", "eval-input",
                                 "eval-target", "readout", "readout-last", "lr-schedule", "threads",
                                 "combine-every" };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcmp(name, names[i])) return true;
  return false;
}

static int rn_flag_opt(rn_options *o, const char *name) {
  if (!strcmp(name, "no-learn")) o->no_learn = true;
  else if (!strcmp(name, "quiet")) o->quiet = true;
  else if (!strcmp(name, "no-shuffle")) o->no_shuffle = true;
  else if (!strcmp(name, "dataset")) o->dataset = true;
  else if (!strcmp(name, "force")) o->force = true;
  else return -1;
  return 0;
}

/* Options that take one value for the whole run (the others may repeat: --set, --record...). */
static bool rn_once(const char *name) {
  static const char *many[] = { "set", "init", "input", "target", "record", "eval-input",
                                "eval-target" };
  for (size_t i = 0; i < sizeof many / sizeof *many; i++)
    if (!strcmp(name, many[i])) return false;
  return true;
}

static int rn_check_epoch_opts(const rn_options *o, FILE *err);

int rn_parse_args(int argc, char **argv, rn_options *o, bool grad_mode, FILE *err) {
  rn_options_init(o, grad_mode);
  char seen[32][32];
  int nseen = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) != 0 && strcmp(a, "-q") != 0) {
      if (o->model) return rn_usage(err, grad_mode, "unexpected argument '%s' (the model is '%s')", a, o->model);
      o->model = a;
      continue;
    }
    char name[32];
    const char *eq = strchr(a, '='), *val = NULL;
    size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), a + 2);
    if (!strcmp(a, "-q")) strcpy(name, "quiet");
    if (rn_flag_opt(o, name) == 0) {
      if (eq) return rn_usage(err, grad_mode, "--%s takes no value", name);
      continue;
    }
    if (!rn_known_value_opt(name)) return rn_usage(err, grad_mode, "unknown option '%s'", a);
    val = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
    if (!val) return rn_usage(err, grad_mode, "--%s needs a value", name);
    if (rn_once(name)) {   /* given twice: the first would do nothing, say so */
      for (int k = 0; k < nseen; k++)
        if (!strcmp(seen[k], name)) return rn_usage(err, grad_mode, "--%s is given twice", name);
      if (nseen < (int)(sizeof seen / sizeof *seen)) snprintf(seen[nseen++], sizeof *seen, "%s", name);
    }
    int rc = rn_value_opt(o, name, val, err);
    if (rc) return rc;
  }
  if (!o->model) return rn_usage(err, grad_mode, "no model given (MODEL.vle or MODEL.so)");
  if (o->steps >= 0 && !isnan(o->time)) return rn_usage(err, grad_mode, "give --steps or --time, not both");
  return rn_check_epoch_opts(o, err);
}

/* The options of a dataset training only make sense with --dataset: say so. */
static int rn_check_epoch_opts(const rn_options *o, FILE *err) {
  bool g = o->grad_mode;
  const char *needs = o->neval_inputs || o->neval_targets ? "--eval-input/--eval-target"
                    : o->lr_schedule ? "--lr-schedule" : o->readout ? "--readout"
                    : o->readout_last ? "--readout-last" : NULL;
  if (needs && !o->dataset) return rn_usage(err, g, "%s needs --dataset (a training on samples)", needs);
  if (g && (o->lr_schedule || o->neval_inputs || o->neval_targets))
    return rn_usage(err, g, "%s: vlec grad does not learn", o->lr_schedule ? "--lr-schedule" : "--eval-input/--eval-target");
  return 0;
}

const char *rn_help(bool grad_mode) {
  return grad_mode
    ? "usage: vlec grad MODEL.vle|MODEL.so [options]\n\n"
      "Run with learning off and write grad/NAME.npy for every learnable parameter: the\n"
      "accumulated rule sum_k dt*G_k / beta (beta: the cost's weight in the energy, as\n"
      "'vlec derive' prints it): for --errors bptt exactly the gradient of the objective\n"
      "J = sum_k dt*R_k/beta (R: the energy without the populations' mismatches; the\n"
      "signal 'objective' records R/beta), over windows of --window STEPS (default the\n"
      "whole run, summed); for --errors adjoint that gradient to O(dt); for the local\n"
      "schemes their estimate of it. Takes the options of 'vlec run'; with --warmup W the\n"
      "sums start after the first W steps.\n"
    : "usage: vlec run MODEL.vle|MODEL.so [options]\n\n"
      "  --steps N | --time T     how long to run (default: the length of the data)\n"
      "  --dt DT  --batch B  --seed S   override settings; the seed drives every initialiser\n"
      "  --errors prospective|instantaneous|adjoint|bptt   error scheme\n"
      "  --window STEPS           adjoint, bptt: one optimizer step per window (default: a\n"
      "                           sample with --dataset, else the whole run)\n"
      "  --adjoint-memory MB      adjoint, bptt: trajectory memory bound (default 1024;\n"
      "                           beyond it checkpoints and recomputation)\n"
      "  --set NAME=V[,V...]      override a const or setting (dt, gamma)\n"
      "  --init NAME=FILE.npy     initial value of a parameter\n"
      "  --input NAME=FILE  --target NAME=FILE   data: .npy [steps,n], [batch,steps,n] or,\n"
      "                           with --dataset, [samples,steps,n]; .csv one row a step;\n"
      "                           onehot targets take integer labels [batch] or [batch,steps]\n"
      "  --dataset                the [samples,...] files are a dataset, trained epoch by epoch\n"
      "                           (epochs.csv, checkpoint.state each epoch)\n"
      "  --epochs E  --no-shuffle  dataset epochs in all (default 1), minibatches in file order\n"
      "  --eval-input NAME=FILE  --eval-target NAME=FILE   evaluation set, after every epoch\n"
      "                           (learning off, on a copy of the training's state)\n"
      "  --readout SIGNAL  --readout-last K   the output whose sum over a sample (its last K\n"
      "                           steps) predicts the class: accuracy (default OUT.rate)\n"
      "  --lr-schedule step:N:F|plateau:P:F   learning rate times F every N epochs, or after\n"
      "                           P epochs without a better evaluation loss\n"
      "  --no-learn               freeze all parameters\n"
      "  --warmup W               the first W steps (part of --steps) run without learning\n"
      "  --record LIST            signals to record every step (h, h', h.rate, h.error, loss,\n"
      "                           energy, any buffer) and parameters (at the end)\n"
      "  --record-every K         record the listed signals after every K-th step (steps K,\n"
      "                           2K, ...; t.npy holds their times) and the listed\n"
      "                           parameters every K steps\n"
      "  --param-every P          parameter snapshots every P steps instead (default K)\n"
      "  --out DIR                output directory (default runs/MODEL-TIMESTAMP); an earlier\n"
      "                           run's files there are removed first (not when resuming\n"
      "                           from a state file inside it)\n"
      "  --force                  write into a non-empty DIR that holds no vle run\n"
      "  --check-every N          NaN/Inf check interval in steps (default 1, 0: off)\n"
      "  --max-memory MB          memory the simulation may take (default: the machine's)\n"
      "  --threads N|auto         threads of the kernels (default auto; same results for any N)\n"
      "  --combine-every K        under mpirun: average the ranks' parameters every K optimizer\n"
      "                           steps (local SGD) instead of combining gradients every step\n"
      "  --save-state FILE  --load-state FILE   checkpoint at the end / resume\n"
      "  --quiet, -q              no progress bar or summary\n";
}
