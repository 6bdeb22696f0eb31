/*
 * test_plot.c - `vlec plot` (cmd_plot) on synthetic run directories: default panels,
 * named signals, parameter trajectories, run.json, and the exit status of every error.
 * cmd_plot is called in-process; the run directories are written with the runtime's
 * npy_write, as `vlec run` writes them.
 */
/* POSIX: mkstemp, fdopen, fchmod, open_memstream, mkdtemp (the build defines it too). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "npy.h"

/* ---- fixtures ------------------------------------------------------------------------ */

static void write_npy(const char *dir, const char *name, int ndim, const int64_t *shape,
                      double (*f)(size_t i)) {
  size_t n = 1;
  for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
  double *v = malloc((n ? n : 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = f(i);
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  vle_error err;
  cr_assert_eq(npy_write(path, NPY_F8, ndim, shape, v, &err), 0, "%s", err.msg);
  free(v);
}

static double f_loss(size_t i) { return 0.5 * exp(-0.01 * (double)i) + 1e-6; }
static double f_wave(size_t i) { return sin(0.05 * (double)i); }
static double f_w(size_t i) { return 0.01 * (double)i; }

static void write_text(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

/* A run directory like `vlec run --record loss,h1.rate,o.rate,W1 --record-every 100
 * --batch 2 --steps 1000 --out DIR` leaves behind. */
static char *make_run(void) {
  static char dir[64];
  snprintf(dir, sizeof dir, "/tmp/vle_plot_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  char sub[96];
  snprintf(sub, sizeof sub, "%s/params", dir);
  cr_assert_eq(mkdir(sub, 0755), 0);
  write_npy(dir, "loss.npy", 1, (int64_t[]){ 1000 }, f_loss);
  write_npy(dir, "h1.rate.npy", 3, (int64_t[]){ 2, 1000, 3 }, f_wave);
  write_npy(dir, "o.rate.npy", 3, (int64_t[]){ 2, 1000, 1 }, f_wave);
  write_npy(dir, "W1.npy", 3, (int64_t[]){ 10, 3, 2 }, f_w);       /* trajectory */
  write_npy(dir, "params/W1.npy", 2, (int64_t[]){ 3, 2 }, f_w);
  write_npy(dir, "b1.npy", 1, (int64_t[]){ 3 }, f_w);               /* final value only */
  write_npy(dir, "params/b1.npy", 1, (int64_t[]){ 3 }, f_w);
  write_text(dir, "run.json",
             "{\"model\": \"gle_small\", \"options\": {\"dt\": 0.05, \"record_every\": 1,"
             " \"param_every\": 100},"
             " \"steps\": 1000}\n");
  return dir;
}

static void remove_run(const char *dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

static int plot(int n, ...) {
  char *argv[16] = { "plot" };
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) argv[i + 1] = va_arg(ap, char *);
  va_end(ap);
  return cmd_plot(n + 1, argv);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *s = malloc((size_t)n + 1);
  s[fread(s, 1, (size_t)n, f)] = '\0';
  fclose(f);
  return s;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

static void lint(const char *path) {
  if (system("command -v xmllint >/dev/null 2>&1") != 0) return;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
  cr_assert_eq(system(cmd), 0, "xmllint rejects %s", path);
}

static void quiet(void) { cr_redirect_stderr(); }

/* ---- tests --------------------------------------------------------------------------- */

TestSuite(plot, .init = quiet);

Test(plot, default_plots_every_recording) {
  char *dir = make_run();
  cr_assert_eq(plot(1, dir), 0);
  char path[128];
  snprintf(path, sizeof path, "%s/plot.svg", dir);
  char *svg = slurp(path);
  cr_assert_not_null(svg, "no %s", path);
  lint(path);
  /* loss, W1 (trajectory), h1.rate, o.rate; b1 has no time course */
  cr_assert_eq(count(svg, "class=\"panel\""), 4);
  cr_assert_not_null(strstr(svg, "gle_small"));
  cr_assert_not_null(strstr(svg, ">loss   (running mean over 10 steps; raw values pale)</text>"));
  cr_assert_not_null(strstr(svg, ">loss (log scale)</text>"));     /* the y label */
  cr_assert_not_null(strstr(svg, "h1.rate   (batch element 0 of 2)"));
  cr_assert_not_null(strstr(svg, ">h1.rate[2]</text>"));
  cr_assert_not_null(strstr(svg, ">W1[2,1]</text>"));
  cr_assert_not_null(strstr(svg, "every 100 steps"));
  cr_assert_not_null(strstr(svg, ">t (model time)</text>"));
  cr_assert_null(strstr(svg, ">b1"));
  /* loss first, on a log axis (decade labels) */
  const char *loss = strstr(svg, ">loss   ("), *h1 = strstr(svg, "h1.rate");
  cr_assert_lt(loss, h1);
  cr_assert_not_null(strstr(svg, ">0.001</text>") ? svg : strstr(svg, ">0.01</text>"));
  free(svg);
  remove_run(dir);
}

Test(plot, named_signals_and_output_file) {
  char *dir = make_run();
  char out[128];
  snprintf(out, sizeof out, "%s/only.svg", dir);
  cr_assert_eq(plot(4, dir, "o.rate.npy", "-o", out), 0);
  char *svg = slurp(out);
  cr_assert_not_null(svg);
  lint(out);
  cr_assert_eq(count(svg, "class=\"panel\""), 1);
  cr_assert_null(strstr(svg, ">loss</text>"));
  free(svg);
  char def[128];
  snprintf(def, sizeof def, "%s/plot.svg", dir);
  cr_assert_eq(access(def, F_OK), -1, "the default file was written too");
  remove_run(dir);
}

Test(plot, steps_when_there_is_no_run_json) {
  char *dir = make_run();
  char p[128];
  snprintf(p, sizeof p, "%s/run.json", dir);
  unlink(p);
  cr_assert_eq(plot(2, dir, "h1.rate"), 0);
  snprintf(p, sizeof p, "%s/plot.svg", dir);
  char *svg = slurp(p);
  cr_assert_not_null(strstr(svg, ">step</text>"));
  /* x axis in steps, fitted to the data: 0 ... 999, so no tick at 1000 */
  cr_assert_not_null(strstr(svg, ">800</text>"));
  cr_assert_null(strstr(svg, ">1000</text>"));
  free(svg);
  remove_run(dir);
}

Test(plot, broken_run_json_is_ignored) {
  char *dir = make_run();
  write_text(dir, "run.json", "{not json");
  cr_assert_eq(plot(2, dir, "loss"), 0);
  remove_run(dir);
}

Test(plot, two_dimensional_recording_is_steps_by_neurons) {
  char *dir = make_run();
  write_npy(dir, "h2.npy", 2, (int64_t[]){ 50, 4 }, f_wave);
  cr_assert_eq(plot(2, dir, "h2"), 0);
  char p[128];
  snprintf(p, sizeof p, "%s/plot.svg", dir);
  char *svg = slurp(p);
  cr_assert_eq(count(svg, "class=\"legend\""), 4);
  cr_assert_null(strstr(svg, "batch element"));
  free(svg);
  remove_run(dir);
}

Test(plot, nan_in_recording_is_fine) {
  char *dir = make_run();
  double v[3] = { 1, NAN, 0.5 };
  vle_error err;
  char p[128];
  snprintf(p, sizeof p, "%s/loss.npy", dir);
  cr_assert_eq(npy_write(p, NPY_F8, 1, (int64_t[]){ 3 }, v, &err), 0);
  cr_assert_eq(plot(2, dir, "loss"), 0);
  snprintf(p, sizeof p, "%s/plot.svg", dir);
  lint(p);
  remove_run(dir);
}

/* Several RUN_DIRs: one panel per signal, the runs' lines in it, labelled by run. */
Test(plot, several_runs_share_panels) {
  char a[64], b[64];
  snprintf(a, sizeof a, "%s", make_run());
  snprintf(b, sizeof b, "%s", make_run());
  char out[128];
  snprintf(out, sizeof out, "%s/both.svg", a);
  cr_assert_eq(plot(6, a, b, "loss", "W1", "-o", out), 0);
  char *svg = slurp(out);
  cr_assert_not_null(svg);
  lint(out);
  cr_assert_eq(count(svg, "class=\"panel\""), 2);
  char label[128];
  snprintf(label, sizeof label, ">%s</text>", strrchr(b, '/') + 1);       /* loss of run b */
  cr_assert_not_null(strstr(svg, label), "%s", label);
  snprintf(label, sizeof label, ">%s: W1[2,1]</text>", strrchr(a, '/') + 1);
  cr_assert_not_null(strstr(svg, label), "%s", label);
  free(svg);
  /* a run without the recording is left out of that panel; nothing named: the first
   * run's recordings */
  snprintf(out, sizeof out, "%s/o.rate.npy", b);
  cr_assert_eq(remove(out), 0);
  snprintf(out, sizeof out, "%s/all.svg", a);
  cr_assert_eq(plot(4, a, b, "-o", out), 0);
  svg = slurp(out);
  cr_assert_eq(count(svg, "class=\"panel\""), 4);
  free(svg);
  remove_run(a);
  remove_run(b);
}

Test(plot, errors_in_data_exit_1) {
  char *dir = make_run();
  cr_assert_eq(plot(1, "/nonexistent/run/dir"), 1);
  cr_assert_eq(plot(2, dir, "no_such_signal"), 1);
  cr_assert_eq(plot(2, dir, "b1"), 1);                  /* final value, no trajectory */
  write_text(dir, "bad.npy", "not an npy file");
  cr_assert_eq(plot(2, dir, "bad"), 1);
  write_npy(dir, "cube.npy", 4, (int64_t[]){ 1, 2, 2, 2 }, f_w);
  cr_assert_eq(plot(2, dir, "cube"), 1);
  /* ...but unplottable files are skipped, with a note, when nothing is named */
  cr_assert_eq(plot(1, dir), 0);
  char file[128];
  snprintf(file, sizeof file, "%s/loss.npy", dir);
  cr_assert_eq(plot(1, file), 1);                      /* not a directory */
  char out[160];
  snprintf(out, sizeof out, "%s/missing/dir/plot.svg", dir);
  cr_assert_eq(plot(3, dir, "-o", out), 1);
  remove_run(dir);
}

Test(plot, empty_directory_exit_1) {
  char dir[] = "/tmp/vle_plot_empty_XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  cr_assert_eq(plot(1, dir), 1);
  char p[128];
  snprintf(p, sizeof p, "%s/plot.svg", dir);
  cr_assert_eq(access(p, F_OK), -1, "nothing may be written on error");
  rmdir(dir);
}

Test(plot, usage_errors_exit_2) {
  cr_assert_eq(plot(0), 2);
  cr_assert_eq(plot(2, "/tmp", "-o"), 2);
  cr_assert_eq(plot(2, "/tmp", "--bogus"), 2);
  cr_assert_eq(plot(3, "/tmp", "-o", ""), 2);
  /* an option given twice is an error, not a silent override */
  cr_assert_eq(plot(5, "/tmp", "-o", "a.svg", "--output=b.svg"), 2);
  cr_assert_eq(plot(5, "/tmp", "--smooth", "3", "--smooth=4"), 2);
  cr_assert_eq(plot(4, "/tmp", "--last=1", "--last", "2"), 2);
}

/* ---- the loss as a running mean ------------------------------------------------------ */

static double f_flicker(size_t i) { return i % 2 ? 1.0 : 1e-12; }

/* The y coordinates of the first path that starts with `key`; returns how many. */
static size_t path_ys(const char *svg, const char *key, double *ys, size_t cap) {
  const char *p = strstr(svg, key);
  cr_assert_not_null(p, "%s", key);
  p = strstr(p, " d=\"") + 4;
  size_t n = 0;
  while (*p && *p != '"' && n < cap) {
    while (*p == 'M' || *p == 'L' || *p == ' ') p++;
    char *end;
    (void)strtod(p, &end);
    ys[n++] = strtod(end, &end);
    p = end;
  }
  return n;
}

/* A loss flickering between 1e-12 and 1 every step (a solid band over 12 decades when
 * drawn raw) has the running mean 0.5 over any even window: a flat line, with the raw
 * values as a pale band behind it. */
Test(plot, loss_is_drawn_as_a_running_mean) {
  char *dir = make_run();
  write_npy(dir, "loss.npy", 1, (int64_t[]){ 1000 }, f_flicker);
  cr_assert_eq(plot(4, dir, "loss", "--smooth", "20"), 0);
  char p[128];
  snprintf(p, sizeof p, "%s/plot.svg", dir);
  char *svg = slurp(p);
  cr_assert_not_null(strstr(svg, "running mean over 20 steps"));
  cr_assert_eq(count(svg, "class=\"raw\""), 1);
  static double ys[8192];
  size_t n = path_ys(svg, "<path stroke=\"#0072B2\" stroke-width=\"1.5\"", ys, 8192);
  cr_assert_gt(n, 10);
  size_t flat = 0;
  for (size_t i = 0; i < n; i++) flat += fabs(ys[i] - ys[n / 2]) < 0.01;
  cr_assert_geq(flat, n - 20, "%zu of %zu points at the mean", flat, n);
  free(svg);
  /* --smooth 1: the raw values only, no band */
  cr_assert_eq(plot(3, dir, "loss", "--smooth=1"), 0);
  svg = slurp(p);
  cr_assert_eq(count(svg, "class=\"raw\""), 0);
  cr_assert_null(strstr(svg, "running mean"));
  free(svg);
  remove_run(dir);
}

Test(plot, smooth_needs_a_count) {
  char *dir = make_run();
  cr_assert_eq(plot(3, dir, "--smooth", "0"), 2);
  cr_assert_eq(plot(3, dir, "--smooth", "ten"), 2);
  cr_assert_eq(plot(2, dir, "--smooth"), 2);
  remove_run(dir);
}

/* ---- time windows and overlays ------------------------------------------------------- */

static char *plot_to_string(const char *dir) {
  char p[128];
  snprintf(p, sizeof p, "%s/plot.svg", dir);
  char *svg = slurp(p);
  cr_assert_not_null(svg);
  return svg;
}

/* make_run's o.rate runs over t = 0 ... 49.95 (1000 steps, dt 0.05). */
Test(plot, from_to_and_last_zoom_the_x_axis) {
  char *dir = make_run();
  cr_assert_eq(plot(5, dir, "o.rate", "--from", "10", "--to=20"), 0);
  char *svg = plot_to_string(dir);
  cr_assert_not_null(strstr(svg, ">10</text>"));
  cr_assert_not_null(strstr(svg, ">20</text>"));
  cr_assert_null(strstr(svg, ">30</text>"));
  cr_assert_null(strstr(svg, ">40</text>"));
  free(svg);
  cr_assert_eq(plot(4, dir, "o.rate", "--last", "5"), 0);
  svg = plot_to_string(dir);
  cr_assert_not_null(strstr(svg, ">45</text>"));
  cr_assert_null(strstr(svg, ">40</text>"));
  cr_assert_null(strstr(svg, ">10</text>"));
  free(svg);
  /* the y axis fits the window: W1's entries are 0.01 * flat index, so from t = 40 on
   * (snapshots 8 and 9) between 0.48 and 0.59; the axis no longer reaches 0 */
  cr_assert_eq(plot(4, dir, "W1", "--from", "40"), 0);
  svg = plot_to_string(dir);
  cr_assert_null(strstr(svg, ">0</text>"));
  cr_assert_null(strstr(svg, ">0.2</text>"));
  free(svg);
  remove_run(dir);
}

Test(plot, bad_windows_are_usage_errors) {
  char *dir = make_run();
  cr_assert_eq(plot(5, dir, "--from", "5", "--to", "1"), 2);
  cr_assert_eq(plot(3, dir, "--last", "-1"), 2);
  cr_assert_eq(plot(3, dir, "--last", "0"), 2);
  cr_assert_eq(plot(3, dir, "--from", "abc"), 2);
  cr_assert_eq(plot(2, dir, "--to"), 2);
  remove_run(dir);
}

/* A signal against its target in one panel: SIGNAL+SIGNAL. */
Test(plot, overlay_draws_a_signal_against_its_target) {
  char *dir = make_run();
  write_npy(dir, "target.npy", 3, (int64_t[]){ 2, 1000, 1 }, f_wave);
  cr_assert_eq(plot(2, dir, "o.rate+target.npy"), 0);
  char *svg = plot_to_string(dir);
  cr_assert_eq(count(svg, "class=\"panel\""), 1);
  cr_assert_not_null(strstr(svg, ">o.rate + target</text>"));
  cr_assert_not_null(strstr(svg, "class=\"legend\">o.rate</text>"));
  cr_assert_not_null(strstr(svg, "class=\"legend\">target</text>"));
  cr_assert_not_null(strstr(svg, "#0072B2"));
  /* the target dashed over the signal, so that both show where they coincide */
  cr_assert_not_null(strstr(svg, "<path stroke=\"#D55E00\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\""));
  cr_assert_null(strstr(svg, "<path stroke=\"#0072B2\" stroke-width=\"1.5\" stroke-dasharray"));
  free(svg);
  cr_assert_eq(plot(2, dir, "o.rate+nothere"), 1);
  cr_assert_eq(plot(2, dir, "o.rate+"), 1);
  remove_run(dir);
}

/* ---- PNG and PDF --------------------------------------------------------------------- */

/* Files in dir other than the run's own (temporary files left behind, a wrong picture). */
static size_t leftovers(const char *dir, const char *stem) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '^%s' > '%s/.n'", dir, stem, dir);
  cr_assert_geq(system(cmd), 0);
  char p[128];
  snprintf(p, sizeof p, "%s/.n", dir);
  char *n = slurp(p);
  size_t k = (size_t)atoi(n);
  free(n);
  unlink(p);
  return k;
}

/* Runs vlec plot with PATH = bin only (so that rsvg-convert is what bin holds), then
 * restores PATH for the shell commands of the test. */
static int plot_with_path(const char *bin, const char *dir, const char *out, const char *sig) {
  char *old = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  setenv("PATH", bin, 1);
  int rc = sig ? plot(4, dir, sig, "-o", out) : plot(3, dir, "-o", out);
  setenv("PATH", old, 1);
  free(old);
  return rc;
}

/* A directory holding one executable rsvg-convert script with the given body. */
static void fake_converter(const char *bin, const char *body) {
  char p[160];
  snprintf(p, sizeof p, "%s/rsvg-convert", bin);
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f);
  fprintf(f, "#!/bin/sh\nPATH=/usr/bin:/bin\n%s\n", body);
  fclose(f);
  cr_assert_eq(chmod(p, 0755), 0);
}

/* -o x.png without rsvg-convert: an error, exit 1, and no file at all (it used to be SVG
 * in a .png file). */
Test(plot, png_without_converter_is_an_error_and_no_file) {
  char *dir = make_run();
  char bin[96], out[128];
  snprintf(bin, sizeof bin, "%s/bin", dir);
  cr_assert_eq(mkdir(bin, 0755), 0);
  snprintf(out, sizeof out, "%s/pic.png", dir);
  cr_assert_eq(plot_with_path(bin, dir, out, NULL), 1);
  cr_assert_eq(leftovers(dir, "pic"), 0);
  /* a converter that fails: still no file, no temporary left behind */
  fake_converter(bin, "exit 3");
  snprintf(out, sizeof out, "%s/pic.pdf", dir);
  cr_assert_eq(plot_with_path(bin, dir, out, NULL), 1);
  cr_assert_eq(leftovers(dir, "pic"), 0);
  remove_run(dir);
}

/* The converter is called as rsvg-convert -f FORMAT -o TMP SVG; what it writes becomes
 * the file, and the SVG it was given is the chart. */
Test(plot, png_and_pdf_go_through_rsvg_convert) {
  char *dir = make_run();
  char bin[96], out[128];
  snprintf(bin, sizeof bin, "%s/bin", dir);
  cr_assert_eq(mkdir(bin, 0755), 0);
  fake_converter(bin, "[ \"$1\" = -f ] && [ \"$3\" = -o ] || exit 9\n"
                      "{ echo \"format $2\"; grep -c 'class=\"panel\"' \"$5\"; } > \"$4\"");
  snprintf(out, sizeof out, "%s/pic.PNG", dir);
  cr_assert_eq(plot_with_path(bin, dir, out, "loss"), 0);
  char *got = slurp(out);
  cr_assert_str_eq(got, "format png\n1\n");
  free(got);
  snprintf(out, sizeof out, "%s/pic.pdf", dir);
  cr_assert_eq(plot_with_path(bin, dir, out, "loss+W1"), 0);
  got = slurp(out);
  cr_assert_str_eq(got, "format pdf\n1\n");
  free(got);
  cr_assert_eq(leftovers(dir, "pic"), 2);
  remove_run(dir);
}

Test(plot, real_png_where_rsvg_convert_is_installed) {
  if (system("command -v rsvg-convert >/dev/null 2>&1") != 0)
    cr_skip_test("rsvg-convert is not installed");
  char *dir = make_run();
  char out[128];
  snprintf(out, sizeof out, "%s/pic.png", dir);
  cr_assert_eq(plot(4, dir, "loss", "-o", out), 0);
  FILE *f = fopen(out, "rb");
  unsigned char magic[8] = { 0 };
  cr_assert_eq(fread(magic, 1, 8, f), 8);
  fclose(f);
  cr_assert_eq(memcmp(magic, "\x89PNG\r\n\x1a\n", 8), 0);
  remove_run(dir);
}

Test(plot, unknown_output_format_is_a_usage_error) {
  char *dir = make_run();
  cr_assert_eq(plot(3, dir, "-o", "/tmp/vle_plot_x.jpg"), 2);
  cr_assert_eq(plot(3, dir, "-o", "/tmp/vle_plot_x"), 2);
  cr_assert_eq(access("/tmp/vle_plot_x.jpg", F_OK), -1);
  remove_run(dir);
}

/* --ref NAME=V: a reference line in NAME's panel, and the axis shows it. */
Test(plot, ref_draws_a_reference_line) {
  char *dir = make_run();
  /* W1's entries run from 0 to 0.59; a teacher's value of 2 stretches the axis to it */
  cr_assert_eq(plot(6, dir, "W1", "o.rate", "--ref", "W1=2", "--ref=o.rate=-3"), 0);
  char *svg = plot_to_string(dir);
  cr_assert_eq(count(svg, "class=\"ref\""), 2);
  cr_assert_not_null(strstr(svg, ">= 2</text>"));
  cr_assert_not_null(strstr(svg, ">= -3</text>"));
  cr_assert_not_null(strstr(svg, ">2.0</text>") ? svg : strstr(svg, ">2</text>"));
  cr_assert_not_null(strstr(svg, ">-3</text>") ? svg : strstr(svg, ">-3.0</text>"));
  free(svg);
  cr_assert_eq(plot(4, dir, "W1", "--ref", "nothere=1"), 1);    /* no such panel */
  cr_assert_eq(plot(4, dir, "W1", "--ref", "W1"), 2);
  cr_assert_eq(plot(4, dir, "W1", "--ref", "W1=x"), 2);
  cr_assert_eq(plot(4, dir, "W1", "--ref", "=1"), 2);
  remove_run(dir);
}

/* ---- per-epoch learning curves ------------------------------------------------------- */

static double f_epochs(size_t i) { return pow(10.0, -(double)(i / 250 + 1)) * (i % 2 ? 1.5 : 0.5); }

/* A dataset run of 4 epochs of 250 steps (5 minibatches of 50 steps): under the per-step
 * loss, one point per epoch at the epoch's mean (0.1, 0.01, 0.001, 1e-4: equally spaced
 * on the log axis). */
Test(plot, epochs_get_a_learning_curve) {
  char *dir = make_run();
  write_npy(dir, "loss.npy", 1, (int64_t[]){ 1000 }, f_epochs);
  write_text(dir, "run.json", "{\"options\": {\"dt\": 0.05, \"epochs\": 4},"
             " \"resolved\": {\"minibatches_per_epoch\": 5, \"sample_steps\": 50}}\n");
  cr_assert_eq(plot(2, dir, "loss"), 0);
  char *svg = plot_to_string(dir);
  cr_assert_eq(count(svg, "class=\"panel\""), 2);
  const char *ep = strstr(svg, ">loss per epoch   (mean over each epoch)</text>");
  cr_assert_not_null(ep);
  cr_assert_not_null(strstr(ep, ">epoch</text>"));
  static double ys[64];
  size_t n = path_ys(ep, "<path stroke=\"#0072B2\" stroke-width=\"1.5\"", ys, 64);
  cr_assert_eq(n, 4);
  for (size_t i = 1; i + 1 < n; i++)
    cr_assert_float_eq(ys[i + 1] - ys[i], ys[i] - ys[i - 1], 0.02, "y %zu", i);
  cr_assert_gt(ys[1], ys[0]);                       /* falling loss: larger y in SVG */
  free(svg);
  /* one epoch: no learning curve */
  write_text(dir, "run.json", "{\"options\": {\"epochs\": 1},"
             " \"resolved\": {\"minibatches_per_epoch\": 5, \"sample_steps\": 50}}\n");
  cr_assert_eq(plot(2, dir, "loss"), 0);
  svg = plot_to_string(dir);
  cr_assert_eq(count(svg, "class=\"panel\""), 1);
  free(svg);
  remove_run(dir);
}

/* --record-every K thins signals: row k is step (k+1)K - 1 (docs/cli.md), and the x axis
 * says so: 10 rows of o.rate recorded every 100 steps of dt 0.05 end at t = 49.95. */
Test(plot, thinned_signal_rows_at_their_steps) {
  char *dir = make_run();
  write_npy(dir, "o.rate.npy", 2, (int64_t[]){ 10, 1 }, f_w);
  write_text(dir, "run.json",
             "{\"model\": \"gle_small\", \"options\": {\"dt\": 0.05, \"record_every\": 100},"
             " \"steps\": 1000}\n");
  cr_assert_eq(plot(2, dir, "o.rate"), 0);
  char *svg = plot_to_string(dir);
  cr_expect_not_null(strstr(svg, ">40</text>"), "the x axis reaches t = 49.95");
  free(svg);
  remove_run(dir);
}
