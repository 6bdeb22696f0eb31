/*
 * cmd_sweep.c - `vlec sweep`: a grid of otherwise identical `vlec run`s (seeds, error
 * schemes, values of consts or settings), each in its own directory under --out, run as
 * local processes (-j of them at once), with a summary table of their final and best
 * metrics. Resumable: a run that completed is skipped, a dataset training with a checkpoint
 * goes on from it, anything else starts over (docs/cli.md "vlec sweep").
 *
 * Each run is this very executable (/proc/self/exe) with `run`, so a sweep runs exactly what
 * the same `vlec run` command would. Under mpirun the runs are dealt out to the ranks (run i
 * to rank i mod R, each rank -j at a time; a shared --out directory), and rank 0 writes the
 * summary once all are done.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "driver.h"

enum { SW_MAX_VARY = 8, SW_MAX_VALUES = 256 };

typedef struct sw_axis {          /* one dimension of the grid */
  const char *name;               /* "seed", "errors", or a const/setting for --set */
  char *values[SW_MAX_VALUES];
  int n;
} sw_axis;

typedef struct sw_args {
  const char *model, *out;
  int jobs;
  sw_axis axes[SW_MAX_VARY + 2];
  int naxes;
  char **pass;                    /* the options handed to every run */
  int npass;
  bool dataset;                   /* --dataset among them: runs resume from checkpoints */
  char *owned[SW_MAX_VARY + 2][2];  /* the copies the axes point into, freed at the end */
} sw_args;

typedef struct sw_run {
  char name[512];                 /* its directory under --out */
  int idx[SW_MAX_VARY + 2];       /* the value of each axis */
  pid_t pid;
  int status;                     /* exit status; -1 not run yet */
  bool skipped;                   /* complete before this sweep */
  bool other;                     /* another MPI rank's */
} sw_run;

static const char sw_usage_text[] =
  "usage: vlec sweep MODEL.vle|MODEL.so --out DIR [grid] [-j N] [options of vlec run]\n"
  "(the model first)\n\n"
  "Runs every combination of the grid as its own 'vlec run' into DIR/NAME, -j at a time,\n"
  "and writes DIR/summary.csv (one line per run: its grid values, exit status, steps,\n"
  "wall time, final and best loss, and for a training on a dataset the final evaluation\n"
  "loss and the final and best evaluation accuracy). Run it again to resume: complete\n"
  "runs are skipped, a dataset training goes on from its checkpoint.state.\n\n"
  "grid (each a comma-separated list; default: a single value):\n"
  "  --seeds S1,S2,...        seeds\n"
  "  --schemes E1,E2,...      error schemes (--errors of each run)\n"
  "  --vary NAME=V1,V2,...    a const or setting (dt, gamma), --set NAME=V in each run;\n"
  "                           repeatable (at most 8)\n"
  "  -j N                     runs at once, as local processes (default 1)\n"
  "Every other option goes to each run unchanged (not --out, --seed, --errors, or a --set of\n"
  "a varied NAME). Each run's messages go to DIR/logs/NAME.log.\n"
  "Under mpirun -np R the runs are spread over the ranks (run i on rank i mod R, -j at a\n"
  "time on each; DIR must be shared by all); rank 0 writes the summary.\n";

const char *cmd_sweep_help(void) { return sw_usage_text; }

static int sw_usage(const char *fmt, const char *arg) {
  fputs("vlec sweep: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\n(see 'vlec sweep --help')\n", stderr);
  return 2;
}

/* "a,b,c" into the axis's values (the string is split in place). */
static int sw_axis_values(sw_axis *ax, char *list) {
  for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (ax->n == SW_MAX_VALUES) return sw_usage("--%s: more than 256 values", ax->name);
    ax->values[ax->n++] = t;
  }
  return ax->n ? 0 : sw_usage("--%s: no values", ax->name);
}

/* A value safe in a directory name: letters, digits, '.', '-', '+'; anything else '_'. */
static void sw_clean(char *dst, size_t len, const char *src) {
  size_t i = 0;
  for (; src[i] && i + 1 < len; i++) {
    char c = src[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '+';
    dst[i] = ok ? c : '_';
  }
  dst[i] = 0;
}

static bool sw_is(const char *a, const char *opt, const char **val, int argc, char **argv,
                  int *i) {
  size_t n = strlen(opt);
  if (strncmp(a, opt, n)) return false;
  if (a[n] == '=') { *val = a + n + 1; return true; }
  if (a[n]) return false;
  *val = *i + 1 < argc ? argv[++*i] : NULL;
  return true;
}

static void sw_free(sw_args *s) {
  for (int x = 0; x < SW_MAX_VARY + 2; x++) free(s->owned[x][0]), free(s->owned[x][1]);
  free(s->pass);
}

static int sw_parse(int argc, char **argv, sw_args *s) {
  memset(s, 0, sizeof *s);
  s->jobs = 1;
  s->pass = calloc((size_t)argc + 1, sizeof *s->pass);
  if (!s->pass) return sw_usage("%s", "out of memory");
  sw_axis *seeds = NULL, *schemes = NULL;
  /* The model comes first: after it, a word that is not an option is the value of one. */
  if (argc < 2 || argv[1][0] == '-') return sw_usage("%s", "the model comes first: vlec sweep MODEL.vle --out DIR ...");
  s->model = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    if (sw_is(a, "--out", &v, argc, argv, &i)) {
      if (!v || s->out) return sw_usage("%s", v ? "--out is given twice" : "--out needs a value");
      s->out = v;
    } else if (sw_is(a, "-j", &v, argc, argv, &i) || sw_is(a, "--jobs", &v, argc, argv, &i)) {
      char *end;
      long j = v ? strtol(v, &end, 10) : 0;
      if (!v || *end || j < 1 || j > 1024) return sw_usage("-j %s: expected an integer in [1, 1024]", v ? v : "");
      s->jobs = (int)j;
    } else if (sw_is(a, "--seeds", &v, argc, argv, &i) || sw_is(a, "--schemes", &v, argc, argv, &i)) {
      bool seed = !strncmp(a, "--seeds", 7);
      if (!v) return sw_usage("%s needs a value", a);
      if (seed ? seeds : schemes) return sw_usage("%s is given twice", seed ? "--seeds" : "--schemes");
      sw_axis *ax = &s->axes[s->naxes++];
      ax->name = seed ? "seed" : "errors";
      if (seed) seeds = ax; else schemes = ax;
      s->owned[s->naxes - 1][0] = strdup(v);
      if (!s->owned[s->naxes - 1][0] || sw_axis_values(ax, s->owned[s->naxes - 1][0])) return 2;
    } else if (sw_is(a, "--vary", &v, argc, argv, &i)) {
      const char *eq = v ? strchr(v, '=') : NULL;
      if (!eq || eq == v || !eq[1]) return sw_usage("--vary %s: expected NAME=V1,V2,...", v ? v : "");
      if (s->naxes == SW_MAX_VARY + 2) return sw_usage("%s", "--vary: at most 8");
      sw_axis *ax = &s->axes[s->naxes++];
      ax->name = s->owned[s->naxes - 1][0] = strndup(v, (size_t)(eq - v));
      s->owned[s->naxes - 1][1] = strdup(eq + 1);
      if (!ax->name || !s->owned[s->naxes - 1][1] || sw_axis_values(ax, s->owned[s->naxes - 1][1]))
        return 2;
    } else if (!strcmp(a, "--seed") || !strncmp(a, "--seed=", 7) || !strcmp(a, "--errors") ||
               !strncmp(a, "--errors=", 9)) {
      return sw_usage("%s: the sweep sets it for each run (use --seeds / --schemes)", a);
    } else {
      if (!strcmp(a, "--dataset")) s->dataset = true;
      s->pass[s->npass++] = argv[i];
    }
  }
  if (!s->out) return sw_usage("%s", "--out DIR is required: every run goes to a directory inside it");
  for (int k = 0; k < s->npass; k++)      /* a --set of a varied name would be overridden */
    for (int x = 0; x < s->naxes; x++) {
      const char *p = s->pass[k], *n = s->axes[x].name;
      size_t len = strlen(n);
      if (!strcmp(p, "--set") && k + 1 < s->npass && !strncmp(s->pass[k + 1], n, len) && s->pass[k + 1][len] == '=')
        return sw_usage("--set %s: the sweep varies it", n);
    }
  return 0;
}

/* ---- the runs ---------------------------------------------------------------------------- */

static int sw_count(const sw_args *s) {
  int n = 1;
  for (int x = 0; x < s->naxes; x++) n *= s->axes[x].n;
  return n;
}

/* Run number r's grid values (mixed radix, the first axis slowest) and name. */
static void sw_make_run(const sw_args *s, int r, sw_run *run) {
  memset(run, 0, sizeof *run);
  run->status = -1;
  int rem = r;
  for (int x = s->naxes - 1; x >= 0; x--) {
    run->idx[x] = rem % s->axes[x].n;
    rem /= s->axes[x].n;
  }
  size_t o = 0;   /* seed3-errors_prospective-beta_0.5 */
  for (int x = 0; x < s->naxes && o < sizeof run->name; x++) {
    char n[64], v[128];
    sw_clean(n, sizeof n, s->axes[x].name);
    sw_clean(v, sizeof v, s->axes[x].values[run->idx[x]]);
    bool seed = !strcmp(s->axes[x].name, "seed");
    o += (size_t)snprintf(run->name + o, sizeof run->name - o, "%s%s%s%s", x ? "-" : "", n,
                          seed ? "" : "_", v);
  }
  if (!s->naxes) snprintf(run->name, sizeof run->name, "run");
}

static char *sw_path(const char *out, const char *name, const char *file) {
  size_t n = strlen(out) + strlen(name) + (file ? strlen(file) : 0) + 3;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s%s%s", out, name, file ? "/" : "", file ? file : "");
  return p;
}

static json_t *sw_run_json(const sw_args *s, const sw_run *run) {
  char *p = sw_path(s->out, run->name, "run.json");
  json_t *j = p ? json_load_file(p, 0, NULL) : NULL;
  free(p);
  return j;
}

/* A run whose run.json says it ran every planned step without an error. */
static bool sw_complete(json_t *j) {
  return j && json_is_null(json_object_get(j, "error")) &&
         json_is_false(json_object_get(j, "interrupted")) &&
         json_integer_value(json_object_get(j, "steps_run")) ==
         json_integer_value(json_object_get(j, "steps_planned"));
}

static bool sw_exists(const char *path) { return path && access(path, F_OK) == 0; }

/* A run started by a sweep under mpirun is a process of its own, not an MPI rank: the
 * launcher's variables would make it start MPI (mpirep.c). */
static void sw_scrub_mpi_env(void) {
  extern char **environ;
  static const char *prefixes[] = { "OMPI_", "PMIX_", "PMI_" };
  for (bool again = true; again;) {
    again = false;
    for (char **e = environ; *e && !again; e++)
      for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes && !again; i++) {
        if (strncmp(*e, prefixes[i], strlen(prefixes[i]))) continue;
        char name[256];
        size_t n = strcspn(*e, "=");
        snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), *e);
        again = unsetenv(name) == 0;
      }
  }
}

/* Starts one run: `vlec run MODEL PASS... --out DIR/NAME --seed S --errors E --set N=V -q`. */
static int sw_start(const sw_args *s, sw_run *run) {
  char **argv = calloc((size_t)s->npass + 3 * (size_t)s->naxes + 12, sizeof *argv);
  char *dir = sw_path(s->out, run->name, NULL), *ckpt = sw_path(s->out, run->name, "checkpoint.state");
  char *log = sw_path(s->out, "logs", run->name);
  char *logf = log ? malloc(strlen(log) + 5) : NULL;
  if (!argv || !dir || !ckpt || !logf) {
    fputs("vlec sweep: out of memory\n", stderr);
    return -1;
  }
  sprintf(logf, "%s.log", log);
  int a = 0;
  argv[a++] = "vlec";
  argv[a++] = "run";
  argv[a++] = (char *)s->model;
  for (int k = 0; k < s->npass; k++) argv[a++] = s->pass[k];
  argv[a++] = "--out";
  argv[a++] = dir;
  char sets[SW_MAX_VARY + 2][300];
  for (int x = 0; x < s->naxes; x++) {
    const sw_axis *ax = &s->axes[x];
    const char *v = ax->values[run->idx[x]];
    if (!strcmp(ax->name, "seed")) argv[a++] = "--seed", argv[a++] = (char *)v;
    else if (!strcmp(ax->name, "errors")) argv[a++] = "--errors", argv[a++] = (char *)v;
    else {
      snprintf(sets[x], sizeof sets[x], "%s=%s", ax->name, v);
      argv[a++] = "--set";
      argv[a++] = sets[x];
    }
  }
  char *json = sw_path(s->out, run->name, "run.json");
  if (s->dataset && sw_exists(ckpt)) argv[a++] = "--load-state", argv[a++] = ckpt;
  /* its own directory, left by a run killed before it wrote run.json: start over in it */
  else if (sw_exists(dir) && !sw_exists(json)) argv[a++] = "--force";
  free(json);
  argv[a++] = "-q";
  argv[a] = NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    sw_scrub_mpi_env();
    execv("/proc/self/exe", argv);
    fprintf(stderr, "vlec sweep: cannot start vlec: %s\n", strerror(errno));
    _exit(127);
  }
  free(argv); free(dir); free(ckpt); free(log); free(logf);
  if (pid < 0) {
    fprintf(stderr, "vlec sweep: fork: %s\n", strerror(errno));
    return -1;
  }
  run->pid = pid;
  return 0;
}

/* ---- the summary -------------------------------------------------------------------------- */

static void sw_num(FILE *f, json_t *v) {
  if (json_is_number(v)) fprintf(f, ",%.10g", json_number_value(v));
  else fputs(",", f);
}

/* The training's last evaluation loss and accuracy, and its best accuracy. */
static void sw_training(FILE *f, json_t *j) {
  json_t *eps = json_object_get(json_object_get(json_object_get(j, "resolved"), "training"), "epochs");
  size_t n = json_array_size(eps);
  json_t *last = n ? json_array_get(eps, n - 1) : NULL;
  double best = NAN;
  for (size_t i = 0; i < n; i++) {
    json_t *a = json_object_get(json_array_get(eps, i), "eval_acc");
    if (json_is_number(a) && !(json_number_value(a) <= best)) best = json_number_value(a);
  }
  sw_num(f, last ? json_object_get(last, "eval_loss") : NULL);
  sw_num(f, last ? json_object_get(last, "eval_acc") : NULL);
  if (isnan(best)) fputs(",", f);
  else fprintf(f, ",%.10g", best);
}

static int sw_summary(const sw_args *s, const sw_run *runs, int n) {
  char *path = sw_path(s->out, "summary.csv", NULL), *tmp = path ? malloc(strlen(path) + 8) : NULL;
  if (!tmp) return -1;
  sprintf(tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    fprintf(stderr, "vlec sweep: %s: %s\n", tmp, strerror(errno));
    free(path); free(tmp);
    return -1;
  }
  fputs("run", f);
  for (int x = 0; x < s->naxes; x++) fprintf(f, ",%s", s->axes[x].name);
  fputs(",status,steps_run,wall_s,final_loss,best_loss,final_eval_loss,final_eval_acc,"
        "best_eval_acc\n", f);
  for (int r = 0; r < n; r++) {
    fprintf(f, "%s", runs[r].name);
    for (int x = 0; x < s->naxes; x++) fprintf(f, ",%s", s->axes[x].values[runs[r].idx[x]]);
    json_t *j = sw_run_json(s, &runs[r]);
    const char *st = sw_complete(j) ? "done" : runs[r].status == -1 && !j ? "not run"
                   : json_is_true(json_object_get(j, "interrupted")) ? "interrupted" : "failed";
    fprintf(f, ",%s", st);
    sw_num(f, json_object_get(j, "steps_run"));
    sw_num(f, json_object_get(j, "wall_time_s"));
    sw_num(f, json_object_get(j, "final_loss"));
    sw_num(f, json_object_get(j, "best_loss"));
    sw_training(f, j);
    fputc('\n', f);
    json_decref(j);
  }
  int rc = fclose(f) || rename(tmp, path) ? -1 : 0;
  if (rc) fprintf(stderr, "vlec sweep: %s: %s\n", path, strerror(errno));
  free(path);
  free(tmp);
  return rc;
}

/* ---- main ------------------------------------------------------------------------------- */

static int sw_mkdir(const char *p) {
  if (mkdir(p, 0777) == 0 || errno == EEXIST) return 0;
  fprintf(stderr, "vlec sweep: %s: %s\n", p, strerror(errno));
  return -1;
}

/* Waits for one child; records its status. Returns the run's index, or -1. */
static int sw_wait(sw_run *runs, int n) {
  int st;
  pid_t pid;
  while ((pid = wait(&st)) < 0 && errno == EINTR) {}
  if (pid < 0) return -1;
  for (int r = 0; r < n; r++)
    if (runs[r].pid == pid) {
      runs[r].pid = 0;
      runs[r].status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return r;
    }
  return -1;
}

int cmd_sweep(int argc, char **argv, const drv_env *env) {
  const vle_replicas *mpi = env ? env->replicas : NULL;
  int me = mpi ? mpi->rank : 0, ranks = mpi ? mpi->size : 1;
  sw_args s;
  int rc = sw_parse(argc, argv, &s);
  if (rc) {
    sw_free(&s);
    return rc;
  }
  int n = sw_count(&s);
  sw_run *runs = calloc((size_t)n, sizeof *runs);
  char *logs = sw_path(s.out, "logs", NULL);
  if (!runs || !logs || sw_mkdir(s.out) || sw_mkdir(logs)) {
    free(runs);
    free(logs);
    sw_free(&s);
    return 1;
  }
  free(logs);
  int todo = 0, done = 0, failed = 0, already = 0;
  for (int r = 0; r < n; r++) {
    sw_make_run(&s, r, &runs[r]);
    json_t *j = sw_run_json(&s, &runs[r]);
    runs[r].skipped = sw_complete(j);
    runs[r].other = r % ranks != me;
    json_decref(j);
    todo += !runs[r].skipped && !runs[r].other;
    already += runs[r].skipped;
  }
  char who[32] = "";
  if (mpi) snprintf(who, sizeof who, " (MPI rank %d of %d)", me, ranks);
  fprintf(stderr, "vlec sweep%s: %d runs in %s, %d complete already, %d to run here, %d at a "
          "time\n", who, n, s.out, already, todo, s.jobs);
  /* SIGINT reaches the runs too (one process group): they stop with complete outputs; the
   * sweep waits for them and writes the summary. */
  struct sigaction ign = { .sa_handler = SIG_IGN }, old;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGINT, &ign, &old);
  int next = 0, running = 0;
  bool stop = false;
  while (next < n || running) {
    while (!stop && running < s.jobs && next < n) {
      sw_run *run = &runs[next++];
      if (run->skipped || run->other) continue;
      if (sw_start(&s, run)) { stop = true; break; }
      running++;
    }
    if (!running) break;
    int r = sw_wait(runs, n);
    if (r < 0) break;
    running--;
    done++;
    failed += runs[r].status != 0;
    if (runs[r].status == 130 || runs[r].status == 128 + SIGINT) stop = true;   /* Ctrl-C */
    fprintf(stderr, "vlec sweep%s: [%d/%d] %s: %s (exit %d)\n", who, done, todo, runs[r].name,
            runs[r].status ? "failed, see logs/" : "done", runs[r].status);
    if (me == 0) sw_summary(&s, runs, n);
  }
  sigaction(SIGINT, &old, NULL);
  if (mpi) {               /* every rank's runs done (the exchange waits for them all) */
    int mine[2] = { failed, stop }, all[2 * ranks];
    mpi->allgather(mpi->ctx, mine, all, sizeof mine);
    for (int q = 0; q < ranks; q++)
      if (q != me) failed += all[2 * q], stop |= all[2 * q + 1];
  }
  rc = me == 0 && sw_summary(&s, runs, n) ? 1 : 0;
  if (me == 0) {
    int complete = 0;
    for (int r = 0; r < n; r++) {
      json_t *j = sw_run_json(&s, &runs[r]);
      complete += sw_complete(j);
      json_decref(j);
    }
    fprintf(stderr, "vlec sweep: %d of %d runs complete; summary in %s/summary.csv\n",
            complete, n, s.out);
  }
  free(runs);
  sw_free(&s);
  if (stop) return 130;
  return rc || failed ? 1 : 0;
}
