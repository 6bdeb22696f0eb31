/*
 * cmd_plot.c - `vlec plot RUN_DIR [SIGNAL ...] [options] [-o FILE]`: draw the recordings of a
 * `vlec run --out RUN_DIR` as one SVG of vertically stacked panels.
 *
 * What it reads (docs/cli.md, "Outputs"):
 *   RUN_DIR/NAME.npy     a recorded signal: [steps] (loss, energy), [steps, n] (batch 1) or
 *                        [batch, steps, n]; one panel, one line per neuron, batch element 0.
 *   RUN_DIR/NAME.npy     where RUN_DIR/params/NAME.npy also exists, NAME is a parameter and
 *                        the file its trajectory from --record NAME --record-every K:
 *                        shape [snapshots, ...shape of the parameter]; one line per element.
 *                        A parameter recorded at the end only (same shape as params/NAME.npy)
 *                        has no time course and is left out.
 *   RUN_DIR/run.json     optional: dt (x axis in model time t = k*dt; else in steps),
 *                        record_every (spacing of parameter snapshots), model (the title).
 * Without SIGNAL arguments it plots loss (log y axis when every value is positive), energy,
 * then every other recording in name order. A SIGNAL is a recording's name ("h1.rate",
 * "loss", "W1"), with or without ".npy".
 *
 * Several RUN_DIRs (every leading argument that is a directory) draw each signal of every
 * run into the same panel, each line labelled with its run (the directory's last
 * component), so that runs compare at a glance; without SIGNALs, the recordings of the
 * first RUN_DIR.
 *
 * The loss is drawn as a running mean (--smooth N, default 1/100 of the run) over its raw
 * values as a pale band; --from/--to/--last show a time window of every panel; a SIGNAL
 * A+B overlays recordings in one panel; -o FILE.png / FILE.pdf convert through rsvg-convert
 * (docs/plot.md).
 *
 * Exit status: 0 written, 1 missing or unreadable data (or no converter), 2 usage.
 */
/* POSIX: mkstemp, fdopen, fchmod, open_memstream, mkdtemp (the build defines it too). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "driver.h"
#include "csv.h"
#include "npy.h"
#include "svgplot.h"

enum { PLOT_MAX_LINES = 64 };   /* more lines than this make a panel unreadable */

static const char plot_usage[] =
  "usage: vlec plot RUN_DIR [RUN_DIR ...] [SIGNAL ...] [--from T] [--to T] [--last T]\n"
  "                 [--ref NAME=V ...] [--smooth N] [-o FILE.svg|.png|.pdf]\n"
  "Draw the recordings of a `vlec run --out RUN_DIR` as SVG (default RUN_DIR/plot.svg):\n"
  "loss (log scale), energy and every recorded signal, or only the SIGNALs named.\n"
  "Several RUN_DIRs: each panel overlays the runs, lines labelled by run.\n"
  "  -o FILE, -oFILE, --output FILE, --output=FILE   the file to write: FILE.svg, or\n"
  "               FILE.png / FILE.pdf through rsvg-convert (Debian: librsvg2-bin)\n"
  "  --from T, --to T   show only x from T, up to T (model time; steps where run.json\n"
  "               gives no dt)\n"
  "  --last T     show only the last T of the run (a zoom on the end)\n"
  "  A SIGNAL may be A+B+...: those recordings in one panel (a signal against its\n"
  "  target: o.rate+target)\n"
  "  --ref NAME=V a reference line at V in NAME's panel (the teacher's value); repeatable\n"
  "  --smooth N   draw the loss as a running mean over N steps, the raw values pale\n"
  "               behind it (default: 1/100 of the run; 1: raw values only)\n";

/* `vlec help plot` prints the same text, so the help lists every option this parser takes. */
const char *cmd_plot_help(void) { return plot_usage; }

typedef struct plot_args {
  const char **dirs;        /* RUN_DIR arguments (pointers into argv) */
  int ndirs;
  const char *out;          /* NULL: RUN_DIR/plot.svg */
  const char **names;       /* SIGNAL arguments (pointers into argv) */
  int nnames;
  long smooth;              /* running-mean window of the loss in steps; 0: automatic */
  double from, to, last;    /* the time window: -inf, +inf, 0 when not given */
  const char **refs;        /* --ref NAME=V arguments (pointers into argv) */
  bool *ref_used;           /* whether ref i found its panel */
  int nrefs;
} plot_args;

/* What run.json tells about the x axis. Everything is optional. */
typedef struct plot_run {
  const char *dir;
  double dt;                /* 0: unknown, x in steps */
  long steps;               /* 0: unknown */
  long record_every;        /* signal rows after steps K, 2K, ... (0: unknown, every step) */
  long param_every;         /* parameter snapshots every P steps (0: unknown) */
  long epoch_steps;         /* steps per epoch of a dataset run of several epochs; 0: none */
  char model[128];
  const char *label;        /* with several runs: the run's name in the legend */
  long smooth;              /* --smooth: the loss's running-mean window; 0: automatic */
} plot_run;

/* ---- small helpers ------------------------------------------------------------------- */

static int plot_usage_error(const char *fmt, const char *arg) {
  fputs("vlec plot: ", stderr);
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  fputs(plot_usage, stderr);
  return 2;
}

/* "DIR/NAME" (malloc'd; NULL when out of memory). */
static char *plot_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static bool plot_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool plot_ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- arguments ----------------------------------------------------------------------- */

static bool plot_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A whole number >= 1 (the whole string). Returns 0, or -1. */
static int plot_count(const char *v, long *out) {
  if (!v || !*v) return -1;
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (*end || errno || n < 1) return -1;
  *out = n;
  return 0;
}

/* The output format named by the file's extension: "svg", "png", "pdf", or NULL for any
 * other (a picture in a format its name does not say would be a wrong file). */
static const char *plot_format(const char *path) {
  static const char *const formats[] = { "svg", "png", "pdf" };
  const char *dot = strrchr(path, '.');
  if (!dot || strchr(dot, '/')) return NULL;
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
    if (!strcasecmp(dot + 1, formats[i])) return formats[i];
  return NULL;
}

/* A finite number (the whole string). Returns 0, or -1. */
static int plot_time(const char *v, double *out) {
  if (!v || !*v) return -1;
  char *end;
  double d = strtod(v, &end);
  if (*end || !isfinite(d)) return -1;
  *out = d;
  return 0;
}

/* The value of option `opt` at argv[*i] ("--opt V" or "--opt=V"), or NULL when missing. */
static const char *plot_value(int argc, char **argv, int *i, size_t optlen) {
  const char *s = argv[*i];
  if (s[optlen] == '=') return s + optlen + 1;
  return *i + 1 < argc ? argv[++*i] : NULL;
}

static bool plot_is_opt(const char *s, const char *opt) {
  size_t n = strlen(opt);
  return !strncmp(s, opt, n) && (s[n] == '\0' || s[n] == '=');
}

/* The first argument is the RUN_DIR; further arguments are RUN_DIRs while they name
 * directories (a recording's name never does), then SIGNALs. */
/* Options that take one value and may be given once: a second one is a usage error, not
 * a silent override. */
enum { PLOT_OPT_OUT, PLOT_OPT_FROM, PLOT_OPT_TO, PLOT_OPT_LAST, PLOT_OPT_SMOOTH, PLOT_NOPTS };

/* The value of an option that takes a value (argv[*i] is the option); NULL when missing. */
static const char *plot_opt_value(int argc, char **argv, int *i, int *which) {
  static const char *const names[PLOT_NOPTS] = { "--output", "--from", "--to", "--last",
                                                 "--smooth" };
  const char *s = argv[*i];
  if (!strcmp(s, "-o")) { *which = PLOT_OPT_OUT; return *i + 1 < argc ? argv[++*i] : NULL; }
  if (!strncmp(s, "-o", 2) && s[2] != '-') { *which = PLOT_OPT_OUT; return s + 2; }
  for (int k = 0; k < PLOT_NOPTS; k++)
    if (plot_is_opt(s, names[k])) {
      *which = k;
      return plot_value(argc, argv, i, strlen(names[k]));
    }
  *which = -1;
  return NULL;
}

/* Stores the value v of option `which` (argv's spelling in opt). Returns 0 or 2. */
static int plot_set_option(plot_args *a, int which, const char *opt, const char *v) {
  if (!v) return plot_usage_error("%s needs a value", opt);
  switch (which) {
  case PLOT_OPT_OUT: a->out = v; return 0;
  case PLOT_OPT_FROM:
    return plot_time(v, &a->from) ? plot_usage_error("--from needs a time, not '%s'", v) : 0;
  case PLOT_OPT_TO:
    return plot_time(v, &a->to) ? plot_usage_error("--to needs a time, not '%s'", v) : 0;
  case PLOT_OPT_LAST:
    return plot_time(v, &a->last) || !(a->last > 0)
             ? plot_usage_error("--last needs a time span > 0, not '%s'", v) : 0;
  case PLOT_OPT_SMOOTH:
    return plot_count(v, &a->smooth)
             ? plot_usage_error("--smooth needs a whole number of steps >= 1, not '%s'", v) : 0;
  default:
    return plot_usage_error("internal error: option '%s' has no handler", opt);
  }
}

/* Splits a --ref argument "NAME=V" (at its last '=': names hold none) into NAME (into buf,
 * when given) and the finite number V. Returns 0, or -1. */
static int plot_ref_split(const char *arg, char *buf, size_t len, double *y) {
  const char *eq = arg ? strrchr(arg, '=') : NULL;
  if (!eq || eq == arg || plot_time(eq + 1, y)) return -1;
  if (buf) snprintf(buf, len, "%.*s", (int)(eq - arg), arg);
  return 0;
}

static int plot_parse_args(int argc, char **argv, plot_args *a) {
  *a = (plot_args){ .from = -INFINITY, .to = INFINITY };
  a->names = calloc((size_t)argc + 1, sizeof *a->names);
  a->dirs = calloc((size_t)argc + 1, sizeof *a->dirs);
  a->refs = calloc((size_t)argc + 1, sizeof *a->refs);
  a->ref_used = calloc((size_t)argc + 1, sizeof *a->ref_used);
  if (!a->names || !a->dirs || !a->refs || !a->ref_used) { fputs("vlec plot: out of memory\n", stderr); return 1; }
  bool seen[PLOT_NOPTS] = { false };
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    int which;
    if (plot_is_opt(s, "--ref")) {
      const char *v = plot_value(argc, argv, &i, 5);
      double y;
      if (plot_ref_split(v, NULL, 0, &y))
        return plot_usage_error("--ref needs NAME=VALUE (w0=1), not '%s'", v ? v : "");
      a->refs[a->nrefs++] = v;
      continue;
    }
    const char *v = plot_opt_value(argc, argv, &i, &which);
    if (which >= 0) {
      if (seen[which]) return plot_usage_error("option '%s' given twice", s);
      seen[which] = true;
      int rc = plot_set_option(a, which, s, v);
      if (rc) return rc;
    } else if (s[0] == '-' && s[1]) {
      return plot_usage_error("unknown option '%s'", s);
    } else if (!a->ndirs || (!a->nnames && plot_is_dir(s))) {
      a->dirs[a->ndirs++] = s;
    } else {
      a->names[a->nnames++] = s;
    }
  }
  if (!a->ndirs) return plot_usage_error("%s", "missing RUN_DIR");
  if (a->out && !*a->out) return plot_usage_error("%s", "empty output file name");
  if (!(a->from < a->to)) return plot_usage_error("%s", "--from must come before --to");
  if (a->out && !plot_format(a->out))
    return plot_usage_error("%s: the output must end in .svg, .png or .pdf", a->out);
  return 0;
}

/* ---- run.json ------------------------------------------------------------------------ */

/* A number stored under key at the top level or in "options" / "settings" / "resolved"
 * (where `vlec run` writes the dt it used when no --dt was given), spelled with
 * '_' or '-' (so "record_every" also finds "record-every"). Numbers given as strings, as
 * a command line would give them, count too. */
static bool plot_json_number(json_t *root, const char *key, double *out) {
  char dashed[64];
  snprintf(dashed, sizeof dashed, "%s", key);
  for (char *p = dashed; *p; p++) if (*p == '_') *p = '-';
  json_t *where[4] = { root, json_object_get(root, "options"), json_object_get(root, "settings"),
                       json_object_get(root, "resolved") };
  for (int w = 0; w < 4; w++) {
    if (!json_is_object(where[w])) continue;
    for (int spelling = 0; spelling < 2; spelling++) {
      json_t *v = json_object_get(where[w], spelling ? dashed : key);
      if (json_is_number(v)) { *out = json_number_value(v); return true; }
      if (json_is_string(v)) {
        char *end;
        double d = strtod(json_string_value(v), &end);
        if (end != json_string_value(v) && !*end) { *out = d; return true; }
      }
    }
  }
  return false;
}

static void plot_read_run_json(plot_run *r) {
  char *path = plot_join(r->dir, "run.json");
  if (!path || !plot_is_file(path)) { free(path); return; }
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root) {
    /* Optional file: say why it is ignored, then go on in steps. */
    fprintf(stderr, "vlec plot: warning: %s:%d: %s (ignored)\n", path, jerr.line, jerr.text);
    free(path);
    return;
  }
  double v;
  if (plot_json_number(root, "dt", &v) && v > 0 && isfinite(v)) r->dt = v;
  if ((plot_json_number(root, "steps_run", &v) || plot_json_number(root, "steps", &v)) && v >= 1)
    r->steps = (long)v;
  if (plot_json_number(root, "record_every", &v) && v >= 1) r->record_every = (long)v;
  if (plot_json_number(root, "param_every", &v) && v >= 1) r->param_every = (long)v;
  /* A dataset run of several epochs: epoch e covers steps [e*S, (e+1)*S), with S the
   * minibatches per epoch times the steps per sample. */
  double epochs, mb, ss;
  if (plot_json_number(root, "epochs", &epochs) && epochs >= 2 &&
      plot_json_number(root, "minibatches_per_epoch", &mb) && mb >= 1 &&
      plot_json_number(root, "sample_steps", &ss) && ss >= 1)
    r->epoch_steps = (long)mb * (long)ss;
  json_t *model = json_object_get(root, "model");
  if (json_is_object(model)) model = json_object_get(model, "name");
  if (json_is_string(model)) snprintf(r->model, sizeof r->model, "%s", json_string_value(model));
  json_decref(root);
  free(path);
}

/* ---- listing the recordings ---------------------------------------------------------- */

/* Sort key: loss first, energy second, the rest by name (byte order: deterministic,
 * independent of the locale). */
static int plot_rank(const char *name) {
  return !strcmp(name, "loss") ? 0 : !strcmp(name, "energy") ? 1 : 2;
}

static int plot_cmp_names(const void *pa, const void *pb) {
  const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
  int ra = plot_rank(a), rb = plot_rank(b);
  return ra != rb ? ra - rb : strcmp(a, b);
}

static void plot_free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

/* The names (without .npy) of the .npy files in dir, in plotting order. Returns 0 or 1. */
static int plot_list(const char *dir, char ***out, size_t *nout) {
  *out = NULL;
  *nout = 0;
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "vlec plot: %s: %s\n", dir, strerror(errno));
    return 1;
  }
  size_t n = 0, cap = 0;
  char **names = NULL;
  int rc = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.' || !plot_ends_with(e->d_name, ".npy")) continue;
    char *path = plot_join(dir, e->d_name);
    bool regular = path && plot_is_file(path);
    free(path);
    if (!regular) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown) { rc = 1; break; }
      names = grown;
    }
    size_t len = strlen(e->d_name) - 4;
    if (!(names[n] = malloc(len + 1))) { rc = 1; break; }
    memcpy(names[n], e->d_name, len);
    names[n++][len] = '\0';
  }
  closedir(d);
  if (rc) {
    fputs("vlec plot: out of memory\n", stderr);
    plot_free_names(names, n);
    return 1;
  }
  if (n) qsort(names, n, sizeof *names, plot_cmp_names);
  *out = names;
  *nout = n;
  return 0;
}

/* ---- panels -------------------------------------------------------------------------- */

static const char *plot_xlabel(const plot_run *r) {
  return r->dt > 0 ? "t (model time)" : "step";
}

/* x of recorded step k. */
static double plot_step_x(const plot_run *r, size_t k) {
  return r->dt > 0 ? (double)k * r->dt : (double)k;
}

/* Row k of a signal recording: with --record-every K the rows are steps K-1, 2K-1, ... */
static double plot_row_x(const plot_run *r, size_t k) {
  size_t K = r->record_every > 1 ? (size_t)r->record_every : 1;
  return plot_step_x(r, (k + 1) * K - 1);
}

/* The legend label of line `elem` of a recording: NAME[i] for one run (NULL when the
 * recording has one line), "run" or "run: NAME[i]" for several. */
static const char *plot_label(char *buf, size_t len, const plot_run *r, const char *elem,
                              bool several_lines) {
  if (!r->label) {
    if (!several_lines) return NULL;
    snprintf(buf, len, "%s", elem);
  } else if (several_lines) {
    snprintf(buf, len, "%s: %s", r->label, elem);
  } else {
    snprintf(buf, len, "%s", r->label);
  }
  return buf;
}

/* The running-mean window of a loss of `steps` values: --smooth, else 1/100 of the run
 * (about a hundred independent means across the plot: the trend shows, the step-to-step
 * noise of a per-step loss, which spans decades, does not). 1: no smoothing. */
static long plot_window(const plot_run *r, int64_t steps) {
  long w = r->smooth ? r->smooth : (long)(steps / 100);
  return w < 1 ? 1 : w > steps ? (long)steps : w;
}

/* The centred running mean of y[0..n) over w values (fewer at the ends), NaN and Inf
 * left out; NaN where a window holds no finite value. Uses prefix sums: O(n). */
static int plot_running_mean(const double *y, size_t n, long w, double *out) {
  double *sum = malloc((n + 1) * sizeof *sum);
  size_t *cnt = malloc((n + 1) * sizeof *cnt);
  if (!sum || !cnt) { free(sum); free(cnt); return -1; }
  sum[0] = 0, cnt[0] = 0;
  for (size_t k = 0; k < n; k++) {
    bool ok = isfinite(y[k]);
    sum[k + 1] = sum[k] + (ok ? y[k] : 0);
    cnt[k + 1] = cnt[k] + ok;
  }
  size_t before = (size_t)(w / 2), after = (size_t)(w - 1 - w / 2);
  for (size_t k = 0; k < n; k++) {
    size_t lo = k > before ? k - before : 0, hi = k + after + 1 < n ? k + after + 1 : n;
    size_t c = cnt[hi] - cnt[lo];
    out[k] = c ? (sum[hi] - sum[lo]) / (double)c : NAN;
  }
  free(sum);
  free(cnt);
  return 0;
}

/* Where the lines of one recording go: the panel (made by the first run that has the
 * recording) and whether every value so far fits a log axis. */
typedef struct plot_target {
  sp_panel *panel;
  bool any, positive;       /* some value > 0; none < 0 */
  const char *title;        /* an overlay's title ("o.rate + target"); NULL: the recording's */
  bool dashed;              /* the recording being added is an overlay's second or later */
} plot_target;

/* One line of a panel; in an overlay the second recording is drawn dashed over the first,
 * so that where a signal lies exactly on its target both stay visible. 1: out of memory. */
static int plot_line(sp_panel *p, const plot_target *pt, const char *label, const double *x,
                     const double *y, size_t n) {
  if (sp_series_add(p, label, x, y, n)) {
    fputs("vlec plot: out of memory\n", stderr);
    return 1;
  }
  if (pt->dashed) sp_series_set_dashed(p);
  return 0;
}

/* The loss a (shape [steps]) as its running mean over w steps, with the raw values as a
 * pale band behind it. x and y are scratch arrays of steps + 1 values. */
static int plot_loss(sp_panel *p, plot_target *pt, const plot_run *r, const npy_array *a,
                     long w, double *x, double *y) {
  size_t steps = (size_t)a->shape[0];
  double *m = malloc((steps + 1) * sizeof *m);
  int rc = m ? 0 : -1;
  for (size_t k = 0; k < steps; k++) {
    x[k] = plot_row_x(r, k);
    y[k] = npy_get(a, k);
    if (isfinite(y[k])) { pt->any |= y[k] > 0; pt->positive &= y[k] >= 0; }
  }
  char label[400];
  snprintf(label, sizeof label, "running mean (%ld steps)", w);
  if (rc == 0) rc = plot_running_mean(y, steps, w, m);
  if (rc == 0) rc = sp_series_add(p, NULL, x, y, steps);
  if (rc == 0) sp_series_set_faint(p);
  if (rc == 0) rc = sp_series_add(p, r->label ? r->label : label, x, m, steps);
  free(m);
  if (rc) fputs("vlec plot: out of memory\n", stderr);
  return rc ? 1 : 0;
}

/* The lines of a recorded signal a, shape [steps], [steps, n] or [batch, steps, n]. */
static int plot_signal(sp_chart *c, plot_target *pt, const plot_run *r, const char *name,
                       const npy_array *a) {
  int64_t batch = a->ndim == 3 ? a->shape[0] : 1;
  int64_t steps = a->ndim == 1 ? a->shape[0] : a->shape[a->ndim - 2];
  int64_t n = a->ndim == 1 ? 1 : a->shape[a->ndim - 1];
  int64_t lines = n < PLOT_MAX_LINES ? n : PLOT_MAX_LINES;

  bool smooth = !strcmp(name, "loss") && a->ndim == 1 && plot_window(r, steps) > 1;
  long w = plot_window(r, steps);
  char title[256];
  int o = snprintf(title, sizeof title, "%s", name);
  if (smooth)
    o += snprintf(title + o, sizeof title - (size_t)o, "   (running mean over %ld steps%s; "
                  "raw values pale)", w, r->dt > 0 ? "" : "");
  if (batch > 1)
    o += snprintf(title + o, sizeof title - (size_t)o, "   (batch element 0 of %lld)",
                  (long long)batch);
  if (lines < n)
    snprintf(title + o, sizeof title - (size_t)o, "   (first %lld of %lld neurons)",
             (long long)lines, (long long)n);

  double *x = malloc(((size_t)steps + 1) * sizeof *x), *y = malloc(((size_t)steps + 1) * sizeof *y);
  if (!pt->panel)
    pt->panel = sp_panel_add(c, pt->title ? pt->title : title, plot_xlabel(r), pt->title ? pt->title : name);
  sp_panel *p = pt->panel;
  if (!x || !y || !p) { free(x); free(y); fputs("vlec plot: out of memory\n", stderr); return 1; }
  if (smooth) {
    int rc = plot_loss(p, pt, r, a, w, x, y);
    free(x);
    free(y);
    return rc;
  }

  for (int64_t j = 0; j < lines; j++) {
    for (int64_t k = 0; k < steps; k++) {
      x[k] = plot_row_x(r, (size_t)k);
      y[k] = npy_get(a, (size_t)(k * n + j));     /* batch element 0 is the first block */
      if (isfinite(y[k])) { pt->any |= y[k] > 0; pt->positive &= y[k] >= 0; }
    }
    char elem[160], label[400];
    /* In an overlay every line needs its name, even a recording's only one. */
    if (pt->title && n == 1) snprintf(elem, sizeof elem, "%s", name);
    else snprintf(elem, sizeof elem, "%s[%lld]", name, (long long)j);
    if (plot_line(p, pt, plot_label(label, sizeof label, r, elem, n > 1 || pt->title), x, y,
                  (size_t)steps)) {
      free(x); free(y);
      return 1;
    }
  }
  free(x);
  free(y);
  return 0;
}

/* The multi-index label NAME[i,j] of flat element e of a parameter of shape pshape. */
static void plot_elem_label(char *buf, size_t len, const char *name, const npy_array *pshape,
                            size_t e) {
  int64_t idx[NPY_MAXDIM] = { 0 };
  for (int d = pshape->ndim - 1; d >= 0; d--) {
    idx[d] = (int64_t)e % pshape->shape[d];
    e /= (size_t)pshape->shape[d];
  }
  int o = snprintf(buf, len, "%s[", name);
  for (int d = 0; d < pshape->ndim && o < (int)len; d++)
    o += snprintf(buf + o, len - (size_t)o, d ? ",%lld" : "%lld", (long long)idx[d]);
  if (pshape->ndim == 0) o += snprintf(buf + o, len - (size_t)o, "0");
  if (o < (int)len) snprintf(buf + o, len - (size_t)o, "]");
}

/* A panel of a parameter trajectory a, shape [snapshots, ...pshape]. Snapshot j is taken
 * at step j*K, K from run.json's param_every or record_every (else steps / snapshots; else x counts
 * snapshots). */
static int plot_param(sp_chart *c, plot_target *pt, const plot_run *r, const char *name,
                      const npy_array *a, const npy_array *pshape) {
  size_t snaps = (size_t)a->shape[0];
  size_t elems = pshape->count;
  size_t lines = elems < PLOT_MAX_LINES ? elems : PLOT_MAX_LINES;
  long every = r->param_every ? r->param_every : r->record_every ? r->record_every
             : (r->steps && snaps) ? (long)((size_t)r->steps / snaps) : 0;

  char title[256];
  int o = snprintf(title, sizeof title, "%s   (parameter", name);
  if (every) o += snprintf(title + o, sizeof title - (size_t)o, ", every %ld steps", every);
  o += snprintf(title + o, sizeof title - (size_t)o, ")");
  if (lines < elems)
    snprintf(title + o, sizeof title - (size_t)o, "   (first %zu of %zu elements)", lines, elems);

  double *x = malloc((snaps + 1) * sizeof *x), *y = malloc((snaps + 1) * sizeof *y);
  if (!pt->panel)
    pt->panel = sp_panel_add(c, pt->title ? pt->title : title, every ? plot_xlabel(r) : "snapshot",
                             pt->title ? pt->title : name);
  sp_panel *p = pt->panel;
  if (!x || !y || !p) { free(x); free(y); fputs("vlec plot: out of memory\n", stderr); return 1; }
  for (size_t e = 0; e < lines; e++) {
    for (size_t j = 0; j < snaps; j++) {
      x[j] = every ? plot_step_x(r, j * (size_t)every) : (double)j;
      y[j] = npy_get(a, j * elems + e);
    }
    char elem[160], label[400];
    plot_elem_label(elem, sizeof elem, name, pshape, e);
    if (pt->title && elems == 1) snprintf(elem, sizeof elem, "%s", name);   /* an overlay */
    const char *l = plot_label(label, sizeof label, r, elem, true);
    if (r->label && elems == 1 && !pt->title) l = r->label;
    if (plot_line(p, pt, l, x, y, snaps)) {
      free(x); free(y);
      return 1;
    }
  }
  free(x);
  free(y);
  return 0;
}

/* Whether a (shape [S, ...]) is a trajectory of a parameter of shape pshape. */
static bool plot_is_trajectory(const npy_array *a, const npy_array *pshape) {
  if (a->ndim != pshape->ndim + 1) return false;
  for (int d = 0; d < pshape->ndim; d++)
    if (a->shape[d + 1] != pshape->shape[d]) return false;
  return true;
}

/* Adds the lines of recording `name` of run r to pt's panel. explicit: named on the command
 * line, so anything that cannot be plotted is an error; otherwise it is skipped with a
 * note. Returns 0 (added or skipped) or 1. */
static int plot_one_run(sp_chart *c, plot_target *pt, const plot_run *r, const char *name,
                        bool explicit_) {
  char file[512];
  snprintf(file, sizeof file, "%s.npy", name);
  char *path = plot_join(r->dir, file);
  if (!path) { fputs("vlec plot: out of memory\n", stderr); return 1; }
  vle_error err;
  npy_array a = { 0 }, pa = { 0 };
  int rc = 0;
  if (npy_read(path, &a, &err)) {
    fprintf(stderr, "vlec plot: %s\n", err.msg);
    free(path);
    return explicit_ ? 1 : 0;
  }

  /* A parameter is known by its final value in params/; that tells its shape. */
  snprintf(file, sizeof file, "params/%s.npy", name);
  char *ppath = plot_join(r->dir, file);
  bool is_param = ppath && plot_is_file(ppath) && npy_read(ppath, &pa, &err) == 0;
  char shape[96];
  npy_shape_str(&a, shape, sizeof shape);

  if (is_param && plot_is_trajectory(&a, &pa)) {
    rc = plot_param(c, pt, r, name, &a, &pa);
  } else if (is_param) {
    fprintf(stderr, "vlec plot: %s: %s holds the final value of parameter %s, not a "
                    "trajectory (record it with --record %s --record-every K)%s\n",
            path, shape, name, name, explicit_ ? "" : "; skipped");
    rc = explicit_;
  } else if (a.ndim >= 1 && a.ndim <= 3) {
    rc = plot_signal(c, pt, r, name, &a);
  } else {
    fprintf(stderr, "vlec plot: %s: shape %s is not a recording ([steps], [steps, n] or "
                    "[batch, steps, n])%s\n", path, shape, explicit_ ? "" : "; skipped");
    rc = explicit_;
  }
  if (is_param) npy_free(&pa);
  npy_free(&a);
  free(ppath);
  free(path);
  return rc;
}

/* The panel of recordings names[0..n) (one, or an overlay A+B): the lines of every run
 * that holds them. Returns 0 or 1. */
/* Whether run r has an epochs.csv (its learning curves come from there). */
static bool plot_has_epochs_csv(const plot_run *r) {
  char *path = plot_join(r->dir, "epochs.csv");
  bool yes = path && plot_is_file(path);
  free(path);
  return yes;
}

/* The mean loss of each whole epoch of run r (loss.npy, shape [steps]) as a line in *panel
 * (made on first use): a dataset run's learning curve, one point per epoch. Returns 0 or 1;
 * a run without epochs or a loss of another shape adds nothing. */
static int plot_epochs_run(sp_chart *c, sp_panel **panel, const plot_run *r) {
  if (!r->epoch_steps || plot_has_epochs_csv(r)) return 0;   /* epochs.csv draws them */
  char *path = plot_join(r->dir, "loss.npy");
  vle_error err;
  npy_array a = { 0 };
  if (!path || npy_read(path, &a, &err) || a.ndim != 1) { free(path); npy_free(&a); return 0; }
  free(path);
  size_t S = (size_t)r->epoch_steps, E = (size_t)a.shape[0] / S;
  double *x = malloc((E + 1) * sizeof *x), *y = malloc((E + 1) * sizeof *y);
  int rc = x && y ? 0 : 1;
  for (size_t e = 0; rc == 0 && e < E; e++) {
    double sum = 0;
    size_t n = 0;
    for (size_t k = e * S; k < (e + 1) * S; k++) {
      double v = npy_get(&a, k);
      if (isfinite(v)) sum += v, n++;
    }
    x[e] = (double)(e + 1);
    y[e] = n ? sum / (double)n : NAN;
  }
  if (rc == 0 && E > 0 && !*panel) {
    *panel = sp_panel_add(c, "loss per epoch   (mean over each epoch)", "epoch", "loss (log scale)");
    if (*panel) sp_panel_set_logy(*panel, true);
  }
  if (rc == 0 && E > 0) rc = !*panel || sp_series_add(*panel, r->label, x, y, E);
  if (rc) fputs("vlec plot: out of memory\n", stderr);
  free(x);
  free(y);
  npy_free(&a);
  return rc;
}

/* Column c of an epochs.csv table (rows x 8, run_epoch.c), scaled, into y; false when the
 * column holds no number at all (no evaluation set, no labels). */
static bool plot_csv_column(const double *t, int64_t rows, int c, double scale, double *y) {
  bool any = false;
  for (int64_t i = 0; i < rows; i++) {
    y[i] = t[i * 8 + c] * scale;
    any |= isfinite(y[i]);
  }
  return any;
}

/* The learning curves of a training on a dataset, from its epochs.csv: loss per epoch
 * (training and evaluation) and, where there are labels, accuracy per epoch. A run without
 * epochs.csv adds nothing. *loss and *acc are made on first use (one line per run and
 * kind). Returns 0, 1 (out of memory, or an epochs.csv that does not read). */
static int plot_epochs_csv(sp_chart *c, sp_panel **loss, sp_panel **acc, const plot_run *r,
                           int nruns) {
  char *path = plot_join(r->dir, "epochs.csv");
  if (!path || !plot_is_file(path)) { free(path); return path ? 0 : 1; }
  double *t = NULL;
  int64_t rows = 0, cols = 0;
  vle_error err = { { 0 } };
  if (csv_read(path, &t, &rows, &cols, &err) || cols != 8) {
    fprintf(stderr, "vlec plot: %s: %s\n", path, cols != 8 && !err.msg[0] ? "expected the 8 "
            "columns vlec run writes" : err.msg);
    free(path);
    free(t);
    return 1;
  }
  free(path);
  double *x = malloc((size_t)(rows + 1) * sizeof *x), *y = malloc((size_t)(rows + 1) * sizeof *y);
  int rc = x && y ? 0 : 1;
  for (int64_t i = 0; rc == 0 && i < rows; i++) x[i] = t[i * 8];
  static const struct { int col; const char *what; bool acc; } lines[] = {
    { 2, "train", false }, { 4, "eval", false }, { 3, "train", true }, { 5, "eval", true } };
  for (size_t k = 0; rc == 0 && k < sizeof lines / sizeof *lines; k++) {
    if (!plot_csv_column(t, rows, lines[k].col, lines[k].acc ? 100 : 1, y)) continue;
    sp_panel **p = lines[k].acc ? acc : loss;
    if (!*p) {
      *p = lines[k].acc ? sp_panel_add(c, "accuracy per epoch", "epoch", "accuracy (%)")
                        : sp_panel_add(c, "loss per epoch   (mean over each epoch)", "epoch", "loss");
      if (!*p) { rc = 1; break; }
    }
    char label[300];
    if (nruns > 1) snprintf(label, sizeof label, "%s %s", r->label, lines[k].what);
    else snprintf(label, sizeof label, "%s", lines[k].what);
    rc = sp_series_add(*p, label, x, y, (size_t)rows);
  }
  if (rc && !err.msg[0]) fputs("vlec plot: out of memory\n", stderr);
  free(x);
  free(y);
  free(t);
  return rc;
}

/* Every run's learning curves (plot_epochs_csv); *added counts the panels. */
static int plot_learning_curves(sp_chart *c, const plot_run *runs, int nruns, int *added) {
  sp_panel *loss = NULL, *acc = NULL;
  for (int i = 0; i < nruns; i++)
    if (plot_epochs_csv(c, &loss, &acc, &runs[i], nruns)) return 1;
  *added += (loss != NULL) + (acc != NULL);
  return 0;
}

/* Adds the --ref lines that name one of names[0..n) to panel p. Returns 0 or 1. */
static int plot_add_refs(sp_panel *p, const plot_args *a, char **names, int n) {
  for (int i = 0; i < a->nrefs; i++) {
    char name[512], label[600];
    double y = 0;
    (void)plot_ref_split(a->refs[i], name, sizeof name, &y);     /* checked by the parser */
    for (int k = 0; k < n; k++) {
      if (strcmp(name, names[k])) continue;
      /* "= 1" in a panel of its own; "w0=1" in an overlay, where the name is needed. */
      if (n > 1) snprintf(label, sizeof label, "%s", a->refs[i]);
      else snprintf(label, sizeof label, "= %s", strrchr(a->refs[i], '=') + 1);
      if (sp_panel_add_ref(p, y, label)) {
        fprintf(stderr, "vlec plot: --ref %s: cannot add it (at most 16 per panel)\n", a->refs[i]);
        return 1;
      }
      a->ref_used[i] = true;
    }
  }
  return 0;
}

static int plot_one(sp_chart *c, const plot_run *runs, int nruns, char **names, int n,
                    const char *title, bool explicit_, int *added, const plot_args *a) {
  plot_target pt = { .positive = true, .title = n > 1 ? title : NULL };
  for (int k = 0; k < n; k++) {
    const char *name = names[k];
    pt.dashed = k > 0;
    for (int i = 0; i < nruns; i++) {
      if (i > 0) {      /* a run without this recording adds nothing to a comparison */
        char file[600];
        snprintf(file, sizeof file, "%s/%s.npy", runs[i].dir, name);
        if (!plot_is_file(file)) {
          fprintf(stderr, "vlec plot: %s: no such recording; %s shows the other runs only\n",
                  file, name);
          continue;
        }
      }
      if (plot_one_run(c, &pt, &runs[i], name, explicit_)) return 1;
    }
  }
  /* The loss spans decades while it is learned: a log axis shows that, a linear one hides
   * all but the first drop. Only where no value is negative; an exact 0 (a step where the
   * output hits the target) is a gap. */
  if (pt.panel && n == 1 && !strcmp(names[0], "loss") && pt.any && pt.positive) {
    sp_panel_set_logy(pt.panel, true);
    if (sp_panel_set_ylabel(pt.panel, "loss (log scale)")) {
      fputs("vlec plot: out of memory\n", stderr);
      return 1;
    }
  }
  if (pt.panel && plot_add_refs(pt.panel, a, names, n)) return 1;
  *added += pt.panel != NULL;
  /* Under the per-step loss of a dataset run of several epochs: its learning curve. */
  if (pt.panel && n == 1 && !strcmp(names[0], "loss")) {
    sp_panel *ep = NULL;
    for (int i = 0; i < nruns; i++)
      if (plot_epochs_run(c, &ep, &runs[i])) return 1;
    *added += ep != NULL;
  }
  return 0;
}

/* "loss, energy, h1.rate" into buf, for a message that says what there is. */
static void plot_names_str(char **names, size_t n, char *buf, size_t len) {
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", names[i]);
  if (n == 0) snprintf(buf, len, "nothing");
}

/* One SIGNAL argument: a recording, or several joined by '+' drawn in one panel. Each
 * must exist in the first run (the message lists what it holds). Returns 0 or 1. */
static int plot_named(sp_chart *c, const plot_run *runs, int nruns, const char *arg,
                      char **have, size_t nhave, int *added, const plot_args *a) {
  enum { MAX_PARTS = 16 };
  char buf[512], title[600];
  char *parts[MAX_PARTS];
  int np = 0;
  snprintf(buf, sizeof buf, "%s", arg);
  int o = 0;
  title[0] = '\0';
  for (char *save = NULL, *t = strtok_r(buf, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
    if (np == MAX_PARTS) {
      fprintf(stderr, "vlec plot: %s: more than %d recordings in one panel\n", arg, MAX_PARTS);
      return 1;
    }
    if (plot_ends_with(t, ".npy")) t[strlen(t) - 4] = '\0';
    parts[np++] = t;
    o += snprintf(title + o, sizeof title - (size_t)o, "%s%s", np > 1 ? " + " : "", t);
    if (o >= (int)sizeof title) o = (int)sizeof title - 1;
  }
  if (np == 0 || strstr(arg, "++") || arg[0] == '+' || plot_ends_with(arg, "+")) {
    fprintf(stderr, "vlec plot: '%s': an empty recording name (write A+B)\n", arg);
    return 1;
  }
  for (int k = 0; k < np; k++) {
    char file[600];
    snprintf(file, sizeof file, "%s/%s.npy", runs[0].dir, parts[k]);
    if (!plot_is_file(file)) {
      char list[1024];
      plot_names_str(have, nhave, list, sizeof list);
      fprintf(stderr, "vlec plot: %s: no such recording (%s holds: %s)\n", file, runs[0].dir, list);
      return 1;
    }
  }
  return plot_one(c, runs, nruns, parts, np, title, true, added, a);
}

static int plot_build(sp_chart *c, const plot_run *runs, int nruns, const plot_args *a,
                      int *added) {
  const plot_run *r = &runs[0];
  char **names;
  size_t n;
  if (plot_list(r->dir, &names, &n)) return 1;
  int rc = 0;
  if (a->nnames == 0) {
    for (size_t i = 0; i < n && rc == 0; i++)
      rc = plot_one(c, runs, nruns, &names[i], 1, NULL, false, added, a);
    if (rc == 0) rc = plot_learning_curves(c, runs, nruns, added);
    if (rc == 0 && *added == 0) {
      fprintf(stderr, "vlec plot: %s: nothing to plot (no recordings; run with --record "
                      "LIST --out %s)\n", r->dir, r->dir);
      rc = 1;
    }
  }
  for (int i = 0; i < a->nnames && rc == 0; i++)
    rc = plot_named(c, runs, nruns, a->names[i], names, n, added, a);
  /* A --ref that names no panel would do nothing: say so. */
  for (int i = 0; i < a->nrefs && rc == 0; i++)
    if (!a->ref_used[i]) {
      fprintf(stderr, "vlec plot: --ref %s: no panel shows that recording\n", a->refs[i]);
      rc = 1;
    }
  plot_free_names(names, n);
  return rc;
}

/* The last component of a directory path ("runs/demo/prospective/" -> "prospective"). */
static void plot_basename(const char *dir, char *buf, size_t len) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  size_t b = n;
  while (b > 0 && dir[b - 1] != '/') b--;
  snprintf(buf, len, "%.*s", (int)(n - b), dir + b);
}

/* The length of the directory prefix ("runs/lagnet/", slash included) that every dir has,
 * each dir being that prefix and one more component; 0 where they do not share one. */
static size_t plot_common_parent(const char **dirs, int n) {
  const char *slash = strrchr(dirs[0], '/');
  if (!slash || slash == dirs[0] || slash[1] == '\0') return 0;
  size_t len = (size_t)(slash - dirs[0]) + 1;
  for (int i = 1; i < n; i++)
    if (strncmp(dirs[i], dirs[0], len) || strchr(dirs[i] + len, '/') || !dirs[i][len]) return 0;
  return len;
}

/* ---- PNG and PDF through rsvg-convert ------------------------------------------------ */

static const char plot_converter[] = "rsvg-convert";

/* Whether rsvg-convert is an executable file in a directory of $PATH. */
static bool plot_have_converter(void) {
  const char *path = getenv("PATH");
  if (!path) return false;
  for (const char *p = path; ; ) {
    const char *colon = strchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    char file[4096];
    snprintf(file, sizeof file, "%.*s/%s", (int)n, n ? p : ".", plot_converter);
    if (plot_is_file(file) && access(file, X_OK) == 0) return true;
    if (!colon) return false;
    p = colon + 1;
  }
}

/* Runs rsvg-convert -f FORMAT -o OUT SVG (no shell: file names may hold any byte).
 * Returns 0, or -1 with a message on stderr. */
static int plot_run_converter(const char *format, const char *svg, const char *out) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "vlec plot: %s: cannot start %s: %s\n", out, plot_converter, strerror(errno));
    return -1;
  }
  if (pid == 0) {
    execlp(plot_converter, plot_converter, "-f", format, "-o", out, svg, (char *)NULL);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) { st = -1; break; }
  if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "vlec plot: %s: %s failed (%s %d)\n", out, plot_converter,
            st != -1 && WIFSIGNALED(st) ? "signal" : "exit status",
            st == -1 ? -1 : WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    return -1;
  }
  return 0;
}

/* Writes the chart as PNG or PDF: the SVG into a temporary file beside the target, the
 * converter's output into another, renamed into place only when the converter succeeded
 * and wrote something, so the target is complete or untouched. Returns 0 or 1. */
static int plot_save_converted(const sp_chart *c, const char *path, const char *format) {
  if (!plot_have_converter()) {
    fprintf(stderr, "vlec plot: %s: .%s output needs %s, which is not on PATH (Debian: "
                    "apt-get install librsvg2-bin); or write SVG: -o FILE.svg\n",
            path, format, plot_converter);
    return 1;
  }
  size_t n = strlen(path) + 32;
  char *svg = malloc(n), *tmp = malloc(n);
  int rc = 1, fd = -1;
  if (!svg || !tmp) { fputs("vlec plot: out of memory\n", stderr); goto done; }
  snprintf(svg, n, "%s.tmpXXXXXX", path);
  snprintf(tmp, n, "%s.outXXXXXX", path);
  if ((fd = mkstemp(tmp)) < 0) {
    fprintf(stderr, "vlec plot: %s: cannot create: %s\n", path, strerror(errno));
    goto done;
  }
  close(fd);
  (void)chmod(tmp, 0644);                /* mkstemp's 0600: a picture others may read */
  if ((fd = mkstemp(svg)) < 0) {
    fprintf(stderr, "vlec plot: %s: cannot create: %s\n", path, strerror(errno));
    unlink(tmp);
    goto done;
  }
  close(fd);
  char err[1024];
  struct stat st;
  if (sp_save(c, svg, err, sizeof err)) {
    fprintf(stderr, "vlec plot: %s\n", err);
  } else if (plot_run_converter(format, svg, tmp) == 0) {
    if (stat(tmp, &st) != 0 || st.st_size == 0)
      fprintf(stderr, "vlec plot: %s: %s wrote nothing\n", path, plot_converter);
    else if (rename(tmp, path) != 0)
      fprintf(stderr, "vlec plot: %s: cannot write: %s\n", path, strerror(errno));
    else
      rc = 0;
  }
  unlink(svg);
  if (rc) unlink(tmp);
done:
  free(svg);
  free(tmp);
  return rc;
}

/* Writes the chart to path in the format its extension names. Returns 0 or 1. */
static int plot_save(const sp_chart *c, const char *path) {
  const char *format = plot_format(path);
  if (format && strcmp(format, "svg")) return plot_save_converted(c, path, format);
  char err[1024];
  if (sp_save(c, path, err, sizeof err)) {
    fprintf(stderr, "vlec plot: %s\n", err);
    return 1;
  }
  return 0;
}

static void plot_free_args(plot_args *a) {
  free(a->refs);
  free(a->ref_used);
  free(a->names);
  free(a->dirs);
}

int cmd_plot(int argc, char **argv) {
  plot_args a;
  int rc = plot_parse_args(argc, argv, &a);
  if (rc) { plot_free_args(&a); return rc; }

  for (int i = 0; i < a.ndirs; i++) {
    struct stat st;
    if (stat(a.dirs[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
      fprintf(stderr, "vlec plot: %s: %s\n", a.dirs[i],
              stat(a.dirs[i], &st) != 0 ? strerror(errno) : "not a directory");
      plot_free_args(&a);
      return 1;
    }
  }
  size_t nd = a.ndirs > 0 ? (size_t)a.ndirs : 1;
  plot_run *runs = calloc(nd, sizeof *runs);
  char (*labels)[128] = calloc(nd, sizeof *labels);
  if (!runs || !labels) {
    fputs("vlec plot: out of memory\n", stderr);
    free(runs); free(labels); plot_free_args(&a);
    return 1;
  }
  /* Several runs: lines are labelled by the directory's last component, or by the whole
   * path where two runs share it. */
  for (int i = 0; i < a.ndirs; i++) plot_basename(a.dirs[i], labels[i], sizeof labels[i]);
  bool distinct = true;
  for (int i = 0; i < a.ndirs; i++)
    for (int j = 0; j < i; j++) distinct &= strcmp(labels[i], labels[j]) != 0;
  for (int i = 0; i < a.ndirs; i++) {
    runs[i].dir = a.dirs[i];
    runs[i].smooth = a.smooth;
    if (a.ndirs > 1) runs[i].label = distinct ? labels[i] : a.dirs[i];
    plot_read_run_json(&runs[i]);
  }

  /* The title names the runs; several runs in one folder as "folder: a, b, c" rather than
   * repeating the folder (which made lagnet's title run off the picture). */
  char title[640];
  int o = runs[0].model[0] ? snprintf(title, sizeof title, "%s  ·  ", runs[0].model) : 0;
  size_t common = a.ndirs > 1 && distinct ? plot_common_parent(a.dirs, a.ndirs) : 0;
  if (common)
    o += snprintf(title + o, sizeof title - (size_t)o, "%.*s: ", (int)common - 1, a.dirs[0]);
  for (int i = 0; i < a.ndirs && o < (int)sizeof title; i++)
    o += snprintf(title + o, sizeof title - (size_t)o, "%s%s", i ? ", " : "",
                  common ? labels[i] : a.dirs[i]);
  sp_chart *c = sp_chart_new(title);
  if (c) (void)sp_chart_set_window(c, a.from, a.to, a.last);   /* checked by the parser */
  char *out = a.out ? NULL : plot_join(a.dirs[0], "plot.svg");
  const char *out_path = a.out ? a.out : out;
  int added = 0;
  if (!c || !out_path) {
    fputs("vlec plot: out of memory\n", stderr);
    rc = 1;
  } else {
    rc = plot_build(c, runs, a.ndirs, &a, &added);
  }
  if (rc == 0) {
    rc = plot_save(c, out_path);
    if (rc == 0) {
      fprintf(stderr, "vlec plot: wrote %s (%d panel%s)\n", out_path, added, added == 1 ? "" : "s");
    }
  }
  sp_chart_free(c);
  free(out);
  free(runs);
  free(labels);
  plot_free_args(&a);
  return rc;
}
