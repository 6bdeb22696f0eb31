/*
 * test_svgplot.c - the SVG chart writer: nice ticks, well-formed documents, NaN gaps,
 * panels, legends, log axes, determinism and atomic saving.
 *
 * Well-formedness is checked twice: by a minimal tag-balance parser here (always), and by
 * xmllint when it is installed (the test is skipped otherwise).
 */
/* POSIX: mkstemp, fdopen, fchmod, open_memstream, mkdtemp (the build defines it too). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svgplot.h"

/* ---- helpers ------------------------------------------------------------------------- */

/* The chart's SVG as a NUL-terminated string (caller frees). */
static char *render(const sp_chart *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_not_null(f);
  cr_assert_eq(sp_write(c, f), 0);
  fclose(f);
  return buf;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* A minimal XML check: every element closed in order, attributes quoted, '&' only in
 * the five predefined entities, nothing after the root. Returns NULL or a message. */
static const char *xml_check(const char *s) {
  static char msg[160];
  const char *stack[512];
  size_t stack_len[512];
  int depth = 0, roots = 0;
  for (const char *p = s; *p;) {
    if (*p == '&') {
      static const char *const ents[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
      bool ok = false;
      for (int i = 0; i < 5; i++) ok |= strncmp(p, ents[i], strlen(ents[i])) == 0;
      if (!ok) return "bare '&'";
      p++;
      continue;
    }
    if (*p != '<') {
      if (*p == '>') return "stray '>'";
      p++;
      continue;
    }
    if (p[1] == '?') {                         /* declaration */
      const char *e = strstr(p, "?>");
      if (!e) return "unterminated <?";
      p = e + 2;
      continue;
    }
    bool closing = p[1] == '/';
    const char *name = p + 1 + closing;
    size_t nlen = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:_");
    if (nlen == 0) return "empty tag name";
    const char *q = name + nlen;
    char quote = 0;
    for (; *q && (quote || *q != '>'); q++) {
      if (quote) { if (*q == quote) quote = 0; else if (*q == '<') return "'<' in attribute"; }
      else if (*q == '"' || *q == '\'') quote = *q;
      else if (*q == '<') return "'<' inside a tag";
    }
    if (!*q) return "unterminated tag";
    bool empty = q[-1] == '/';
    if (closing) {
      if (depth == 0) return "close without open";
      depth--;
      if (stack_len[depth] != nlen || strncmp(stack[depth], name, nlen)) {
        snprintf(msg, sizeof msg, "</%.*s> closes <%.*s>", (int)nlen, name,
                 (int)stack_len[depth], stack[depth]);
        return msg;
      }
    } else if (!empty) {
      if (depth == 0) roots++;
      if (depth == 512) return "too deep";
      stack[depth] = name;
      stack_len[depth++] = nlen;
    } else if (depth == 0) {
      roots++;
    }
    p = q + 1;
  }
  if (depth) return "unclosed element";
  if (roots != 1) return "not exactly one root element";
  return NULL;
}

static void assert_well_formed(const char *svg) {
  const char *why = xml_check(svg);
  cr_assert_null(why, "SVG not well-formed: %s", why ? why : "");
  cr_assert_null(strstr(svg, "nan"), "a NaN leaked into the output");
  cr_assert_null(strstr(svg, "inf"), "an infinity leaked into the output");
}

static bool is_nice_step(double step) {
  double mag = pow(10.0, floor(log10(step) + 1e-9));
  double m = step / mag;
  return fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9;
}

/* ---- ticks --------------------------------------------------------------------------- */

static void check_linear(double lo, double hi, int target) {
  sp_ticks t;
  sp_nice_ticks(lo, hi, target, &t);
  cr_assert(is_nice_step(t.step), "step %g for [%g, %g]", t.step, lo, hi);
  cr_assert_leq(t.lo, lo, "axis starts at %g above data %g", t.lo, lo);
  cr_assert_geq(t.hi, hi, "axis ends at %g below data %g", t.hi, hi);
  cr_assert_geq(t.n, 2);
  cr_assert_leq(t.n, 13, "%d ticks for [%g, %g]", t.n, lo, hi);
  for (int i = 1; i < t.n; i++)
    cr_assert_float_eq(t.v[i] - t.v[i - 1], t.step, t.step * 1e-9 + fabs(t.v[i]) * 1e-14,
                       "uneven ticks for [%g, %g]", lo, hi);
  /* Ticks sit on multiples of the step (a nice tick is a round number). */
  for (int i = 0; i < t.n; i++) {
    double k = t.v[i] / t.step;
    cr_assert_float_eq(k, round(k), 1e-6, "tick %g not a multiple of %g", t.v[i], t.step);
  }
  /* Not wastefully wide: at most one step of slack at each end. */
  cr_assert_leq(lo - t.lo, t.step);
  cr_assert_leq(t.hi - hi, t.step);
}

Test(ticks, linear_ranges_are_nice_and_cover_the_data) {
  static const double r[][2] = {
    { 0, 1 }, { 0, 0.97 }, { -1, 1 }, { 0.3, 0.30000000000000004 + 0.7 }, { -0.013, 0.021 },
    { 0, 49999 }, { 0, 99.95 }, { 1e-7, 3e-7 }, { -5e8, 7e9 }, { 123.4, 123.9 },
    { -0.9999, -0.0001 }, { 1, 1.0000001 }, { 0.1, 0.7 },
  };
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
    for (int target = 2; target <= 10; target++) check_linear(r[i][0], r[i][1], target);
}

Test(ticks, examples) {
  sp_ticks t;
  sp_nice_ticks(0, 1, 5, &t);
  cr_assert_float_eq(t.step, 0.2, 1e-12);
  cr_assert_eq(t.n, 6);
  sp_nice_ticks(0, 49999, 5, &t);
  cr_assert_float_eq(t.step, 10000, 1e-9);
  cr_assert_float_eq(t.hi, 50000, 1e-9);
  sp_nice_ticks(-0.9, 0.9, 4, &t);
  cr_assert_float_eq(t.step, 0.5, 1e-12);
  cr_assert_float_eq(t.lo, -1, 1e-12);
}

Test(ticks, degenerate_and_invalid_ranges) {
  sp_ticks t;
  sp_nice_ticks(3, 3, 5, &t);
  cr_assert_lt(t.lo, 3);
  cr_assert_gt(t.hi, 3);
  sp_nice_ticks(0, 0, 5, &t);
  cr_assert_lt(t.lo, 0);
  cr_assert_gt(t.hi, 0);
  sp_nice_ticks(NAN, 1, 5, &t);
  cr_assert_float_eq(t.lo, 0, 1e-12);
  cr_assert_float_eq(t.hi, 1, 1e-12);
  sp_nice_ticks(2, 1, 5, &t);      /* reversed */
  cr_assert_float_eq(t.lo, 0, 1e-12);
  sp_nice_ticks(-1e308, 1e308, 5, &t);
  cr_assert(isfinite(t.lo) && isfinite(t.hi) && t.n >= 2);
}

Test(ticks, log_decades) {
  sp_ticks t;
  sp_log_ticks(3e-5, 0.7, &t);
  cr_assert_float_eq(t.lo, 1e-5, 1e-20);
  cr_assert_float_eq(t.hi, 1, 1e-12);
  cr_assert_eq(t.n, 6);
  sp_log_ticks(0.01, 100, &t);     /* exact powers of ten stay the ends */
  cr_assert_float_eq(t.lo, 0.01, 1e-15);
  cr_assert_float_eq(t.hi, 100, 1e-9);
  sp_log_ticks(1e-30, 1e10, &t);   /* many decades: every k-th decade */
  cr_assert_leq(t.n, 10);
  cr_assert_leq(t.lo, 1e-30);
  cr_assert_geq(t.hi, 1e10);
  sp_log_ticks(0.5, 0.5, &t);
  cr_assert_leq(t.lo, 0.5);
  cr_assert_geq(t.hi, 0.5);
  cr_assert_lt(t.lo, t.hi);
  sp_log_ticks(-1, 5, &t);         /* invalid: a default */
  cr_assert_float_eq(t.lo, 1, 1e-12);
}

Test(ticks, labels) {
  char b[64];
  sp_format_tick(-1e-17, 0.1, b, sizeof b);
  cr_assert_str_eq(b, "0");
  sp_format_tick(-0.0, 1, b, sizeof b);
  cr_assert_str_eq(b, "0");
  sp_format_tick(0.25, 0.05, b, sizeof b);
  cr_assert_str_eq(b, "0.25");
  sp_format_tick(0.30000000000000004, 0.1, b, sizeof b);
  cr_assert_str_eq(b, "0.3");
  sp_format_tick(50000, 10000, b, sizeof b);
  cr_assert_str_eq(b, "50000");
  sp_format_tick(-3, 1, b, sizeof b);
  cr_assert_str_eq(b, "-3");
  sp_format_tick(2e6, 1e6, b, sizeof b);
  cr_assert_str_eq(b, "2e6");
  sp_format_tick(3e-7, 1e-7, b, sizeof b);
  cr_assert_str_eq(b, "3e-7");
  sp_format_tick(2.5e-6, 5e-7, b, sizeof b);
  cr_assert_str_eq(b, "2.5e-6");
}

/* ---- documents ----------------------------------------------------------------------- */

static sp_chart *three_panels(void) {
  enum { N = 500 };
  double x[N], y[N];
  sp_chart *c = sp_chart_new("three <panels> & \"quotes\"");
  sp_panel *p = sp_panel_add(c, "loss", "t", "C");
  sp_panel_set_logy(p, true);
  for (int i = 0; i < N; i++) x[i] = 0.01 * i, y[i] = exp(-x[i]);
  sp_series_add(p, "loss", x, y, N);
  p = sp_panel_add(c, "h1.rate", "t", "rate");
  for (int k = 0; k < 3; k++) {
    for (int i = 0; i < N; i++) y[i] = sin(x[i] * (k + 1));
    char lab[32];
    snprintf(lab, sizeof lab, "h1.rate[%d]", k);
    sp_series_add(p, lab, x, y, N);
  }
  p = sp_panel_add(c, "W1", "t", NULL);
  for (int i = 0; i < N; i++) y[i] = 1 - exp(-x[i]);
  sp_series_add(p, "W1[0,0]", x, y, N);
  return c;
}

Test(svg, well_formed_with_panels_and_legend) {
  sp_chart *c = three_panels();
  char *svg = render(c);
  assert_well_formed(svg);
  cr_assert_eq(count(svg, "class=\"panel\""), 3);
  cr_assert_eq(count(svg, "class=\"legend\""), 5);
  cr_assert_not_null(strstr(svg, ">h1.rate[2]</text>"));
  cr_assert_not_null(strstr(svg, "three &lt;panels&gt; &amp; &quot;quotes&quot;"));
  cr_assert_not_null(strstr(svg, "font-family=\"system-ui"));
  cr_assert_not_null(strstr(svg, "#0072B2"));       /* Okabe-Ito, first colour */
  free(svg);
  sp_chart_free(c);
}

Test(svg, deterministic) {
  sp_chart *a = three_panels(), *b = three_panels();
  char *sa = render(a), *sb = render(b);
  cr_assert_str_eq(sa, sb);
  free(sa); free(sb);
  sp_chart_free(a); sp_chart_free(b);
}

/* Number of subpaths (M commands) in the d attribute of the first data path. */
static int subpaths_of_first_line(const char *svg) {
  const char *p = strstr(svg, "clip-path=\"url(#clip-0)\"");
  cr_assert_not_null(p);
  p = strstr(p, " d=\"");
  cr_assert_not_null(p);
  int m = 0;
  for (p += 4; *p != '"'; p++) m += *p == 'M';
  return m;
}

Test(svg, nan_and_inf_break_the_line) {
  double y[9] = { 1, 2, NAN, 3, 4, INFINITY, 5, -INFINITY, 6 };
  sp_chart *c = sp_chart_new(NULL);
  sp_series_add(sp_panel_add(c, NULL, NULL, NULL), "y", NULL, y, 9);
  char *svg = render(c);
  assert_well_formed(svg);
  cr_assert_eq(subpaths_of_first_line(svg), 4);
  free(svg);
  sp_chart_free(c);
}

Test(svg, nan_does_not_stretch_the_axis) {
  double y[4] = { 0.1, NAN, 0.4, INFINITY };
  sp_chart *c = sp_chart_new(NULL);
  sp_series_add(sp_panel_add(c, NULL, NULL, NULL), NULL, NULL, y, 4);
  char *svg = render(c);
  assert_well_formed(svg);
  /* y ticks 0.1 ... 0.4: nothing beyond 0.5 */
  cr_assert_not_null(strstr(svg, ">0.4</text>"));
  cr_assert_null(strstr(svg, ">1</text>"));
  cr_assert_eq(count(svg, "class=\"legend\""), 0);   /* no label, no legend */
  free(svg);
  sp_chart_free(c);
}

Test(svg, all_nan_panel_says_so) {
  double y[3] = { NAN, NAN, NAN };
  sp_chart *c = sp_chart_new("empty");
  sp_series_add(sp_panel_add(c, "nothing", NULL, NULL), "y", NULL, y, 3);
  sp_panel_add(c, "no series at all", NULL, NULL);
  sp_panel *lp = sp_panel_add(c, "log of negatives", NULL, NULL);
  sp_panel_set_logy(lp, true);
  double neg[2] = { -1, 0 };
  sp_series_add(lp, "neg", NULL, neg, 2);
  char *svg = render(c);
  assert_well_formed(svg);
  cr_assert_eq(count(svg, ">no finite data</text>"), 2);
  cr_assert_eq(count(svg, ">no positive finite data for a log axis</text>"), 1);
  free(svg);
  sp_chart_free(c);
}

Test(svg, log_axis_skips_non_positive_values) {
  double y[5] = { 1, 0.1, 0, 0.01, -3 };
  sp_chart *c = sp_chart_new(NULL);
  sp_panel *p = sp_panel_add(c, NULL, NULL, NULL);
  sp_panel_set_logy(p, true);
  sp_series_add(p, "loss", NULL, y, 5);
  char *svg = render(c);
  assert_well_formed(svg);
  cr_assert_eq(subpaths_of_first_line(svg), 2);
  cr_assert_not_null(strstr(svg, ">0.01</text>"));
  free(svg);
  sp_chart_free(c);
}

Test(svg, hostile_labels_stay_well_formed) {
  double y[2] = { 0, 1 };
  sp_chart *c = sp_chart_new("bad \x01\x7f bytes \xff\xc3(");
  sp_panel *p = sp_panel_add(c, "</g>]]>", "<x>", "&amp;");
  sp_series_add(p, "a\"b'c<d>e&f", NULL, y, 2);
  sp_series_add(p, "a very long label that will not fit into the legend column at all", NULL,
                y, 2);
  char *svg = render(c);
  assert_well_formed(svg);
  cr_assert_not_null(strstr(svg, "a&quot;b&apos;c&lt;d&gt;e&amp;f"));
  cr_assert_not_null(strstr(svg, "…</text>"));
  free(svg);
  sp_chart_free(c);
}

Test(svg, many_series_get_a_shortened_legend) {
  double y[2] = { 0, 1 };
  sp_chart *c = sp_chart_new(NULL);
  sp_chart_set_size(c, 800, 100);
  sp_panel *p = sp_panel_add(c, "many", NULL, NULL);
  for (int i = 0; i < 40; i++) {
    char lab[16];
    snprintf(lab, sizeof lab, "n%d", i);
    y[1] = i;
    sp_series_add(p, lab, NULL, y, 2);
  }
  char *svg = render(c);
  assert_well_formed(svg);
  size_t shown = count(svg, "class=\"legend\"");
  cr_assert_lt(shown, 40);
  cr_assert_geq(shown, 2);
  char more[32];
  snprintf(more, sizeof more, "+ %zu more", 40 - shown);
  cr_assert_not_null(strstr(svg, more));
  cr_assert_not_null(strstr(svg, "stroke-dasharray"));   /* past 8 colours: dashes */
  free(svg);
  sp_chart_free(c);
}

Test(svg, long_series_are_reduced_per_pixel) {
  enum { N = 1000000 };
  double *y = malloc(N * sizeof *y);
  for (int i = 0; i < N; i++) y[i] = sin(i * 0.001) + 0.1 * sin(i * 0.37);
  sp_chart *c = sp_chart_new(NULL);
  sp_series_add(sp_panel_add(c, NULL, NULL, NULL), "y", NULL, y, N);
  char *svg = render(c);
  assert_well_formed(svg);
  cr_assert_lt(strlen(svg), 150000, "SVG of %zu bytes", strlen(svg));
  free(svg);
  free(y);
  sp_chart_free(c);
}

Test(svg, single_points_between_gaps_are_drawn) {
  double y[5] = { NAN, 1, NAN, 2, NAN };
  sp_chart *c = sp_chart_new(NULL);
  sp_series_add(sp_panel_add(c, NULL, NULL, NULL), "dots", NULL, y, 5);
  char *svg = render(c);
  assert_well_formed(svg);
  cr_assert_eq(subpaths_of_first_line(svg), 2);
  /* each lone point is closed by a zero-length L, so its round cap shows */
  const char *d = strstr(strstr(svg, "clip-path=\"url(#clip-0)\""), " d=\"");
  cr_assert_eq(count(d, "L") >= 2, true);
  free(svg);
  sp_chart_free(c);
}

/* ---- files --------------------------------------------------------------------------- */

Test(save, writes_atomically_and_reports_errors) {
  char dir[] = "/tmp/vle_svgplot_XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/plot.svg", dir);
  sp_chart *c = three_panels();
  char err[256] = "";
  cr_assert_eq(sp_save(c, path, err, sizeof err), 0, "%s", err);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  fclose(f);

  /* Nothing but plot.svg in the directory: the temporary file was renamed. */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "test \"$(ls -A %s)\" = plot.svg", dir);
  cr_assert_eq(system(cmd), 0);

  /* xmllint, where installed, must accept the file. */
  if (system("command -v xmllint >/dev/null 2>&1") == 0) {
    snprintf(cmd, sizeof cmd, "xmllint --noout %s", path);
    cr_assert_eq(system(cmd), 0, "xmllint rejects %s", path);
  }

  char bad[300];
  snprintf(bad, sizeof bad, "%s/no/such/dir/plot.svg", dir);
  cr_assert_eq(sp_save(c, bad, err, sizeof err), -1);
  cr_assert_not_null(strstr(err, bad), "message: %s", err);

  unlink(path);
  rmdir(dir);
  sp_chart_free(c);
}

Test(save, xmllint_accepts_every_document, .description = "skipped without xmllint") {
  if (system("command -v xmllint >/dev/null 2>&1") != 0) cr_skip_test("xmllint not installed");
  char path[] = "/tmp/vle_svgplot_lint_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  double y[5] = { NAN, 1e-9, 0, 1e9, -INFINITY };
  sp_chart *c = sp_chart_new("ünïcödé \xe2\x80\x94 and \xff");
  sp_panel *p = sp_panel_add(c, "log", NULL, NULL);
  sp_panel_set_logy(p, true);
  sp_series_add(p, "y<1>", NULL, y, 5);
  sp_series_add(sp_panel_add(c, "lin", "t", "y"), "y&", NULL, y, 5);
  char err[256];
  cr_assert_eq(sp_save(c, path, err, sizeof err), 0, "%s", err);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "xmllint --noout %s", path);
  cr_assert_eq(system(cmd), 0);
  unlink(path);
  sp_chart_free(c);
}

/* ---- fitted axes, faint bands, text that fits ---------------------------------------- */

/* The largest x coordinate of the path drawn in the given colour (the first such path). */
static double max_path_x(const char *svg, const char *color) {
  char key[64];
  snprintf(key, sizeof key, "<path stroke=\"%s\"", color);
  const char *p = strstr(svg, key);
  cr_assert_not_null(p);
  p = strstr(p, " d=\"") + 4;
  double best = -1e300;
  while (*p && *p != '"') {
    while (*p == 'M' || *p == 'L' || *p == ' ') p++;
    char *end;
    double x = strtod(p, &end);
    cr_assert_neq(end, p);
    best = x > best ? x : best;
    p = end;
    (void)strtod(p, &end);       /* y */
    p = end;
  }
  return best;
}

/* lagline's x axis ran to 1500 while the data ended at 1050: the axis ends at the data. */
Test(svg, x_axis_ends_where_the_data_end) {
  enum { N = 1051 };
  double x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = i, y[i] = sin(0.01 * i);
  sp_chart *c = sp_chart_new(NULL);
  sp_panel *p = sp_panel_add(c, "w", "t", "w");
  sp_series_add(p, NULL, x, y, N);
  char *svg = render(c);
  cr_assert_null(strstr(svg, ">1500</text>"));
  cr_assert_null(strstr(svg, ">1200</text>"));
  cr_assert_not_null(strstr(svg, ">1000</text>"));
  /* no legend: plot area from 76 to 880 - 24; the last point lies on its right edge */
  cr_assert_float_eq(max_path_x(svg, "#0072B2"), 880 - 24, 0.01);
  free(svg);
  sp_chart_free(c);
}

/* A raw band behind its running mean: pale, same colour, no legend entry, and a single
 * outlier 14 decades down does not stretch the log axis. */
Test(svg, faint_band_behind_its_mean) {
  enum { N = 1000 };
  double y[N], m[N];
  for (int i = 0; i < N; i++) y[i] = (i % 2 ? 2.0 : 0.5) * exp(-0.002 * i), m[i] = 1.25 * exp(-0.002 * i);
  y[500] = 1e-16;
  sp_chart *c = sp_chart_new(NULL);
  sp_panel *p = sp_panel_add(c, "loss", "t", "loss");
  sp_panel_set_logy(p, true);
  sp_series_add(p, NULL, NULL, y, N);
  sp_series_set_faint(p);
  sp_series_add(p, "mean", NULL, m, N);
  char *svg = render(c);
  assert_well_formed(svg);
  cr_assert_eq(count(svg, "class=\"raw\""), 1);
  cr_assert_eq(count(svg, "<path stroke=\"#0072B2\""), 3);  /* band, line, legend swatch */
  cr_assert_eq(count(svg, "#D55E00"), 0);
  cr_assert_eq(count(svg, "class=\"legend\""), 1);
  cr_assert_null(strstr(svg, "10⁻¹⁶"));
  cr_assert_null(strstr(svg, "10⁻⁸"));
  free(svg);
  sp_chart_free(c);
  /* no decade below the axis's end gets a label (it used to be drawn under the frame) */
  double z[2] = { 3e-13, 0.5 };
  c = sp_chart_new(NULL);
  p = sp_panel_add(c, "loss", "t", "loss");
  sp_panel_set_logy(p, true);
  sp_series_add(p, NULL, NULL, z, 2);
  svg = render(c);
  cr_assert_not_null(strstr(svg, ">10⁻¹²</text>"));
  cr_assert_null(strstr(svg, ">10⁻¹⁴</text>"));
  free(svg);
  sp_chart_free(c);
}

/* Long legend labels widen the legend column instead of running off the picture; a title
 * longer than the chart is shortened with an ellipsis. */
Test(svg, text_never_runs_off_the_picture) {
  double y[2] = { 0, 1 };
  char lab[41], title[301];
  memset(lab, 'a', 40), lab[40] = '\0';
  memset(title, 'T', 300), title[300] = '\0';
  sp_chart *c = sp_chart_new(title);
  sp_panel *p = sp_panel_add(c, title, NULL, NULL);
  sp_series_add(p, lab, NULL, y, 2);
  char *svg = render(c);
  char want[64];
  snprintf(want, sizeof want, ">%s</text>", lab);
  cr_assert_not_null(strstr(svg, want), "the 40-character label is shortened");
  /* the label starts at the legend's x and fits the 880 px width at 6.6 px a character */
  const char *t = strstr(svg, "class=\"legend\"");
  while (t > svg && strncmp(t, "<text x=\"", 9)) t--;
  cr_assert_leq(strtod(t + 9, NULL) + 40 * 6.6, 880);
  cr_assert_eq(count(svg, "…</text>"), 2);              /* chart title and panel title */
  free(svg);
  sp_chart_free(c);
}
