/*
 * svgplot.h - a small, dependency-free SVG line-chart writer (used by `vlec plot`).
 *
 * A chart is a title and one or more panels stacked vertically; a panel is a line chart of
 * one or more series (x values, y values) with "nice" axis ticks (steps of 1, 2 or 5 times a
 * power of ten), axis labels, a legend to its right and an optional logarithmic y axis.
 *
 *     sp_chart *c = sp_chart_new("run 42");
 *     sp_panel *p = sp_panel_add(c, "loss", "t", "C");
 *     sp_panel_set_logy(p, true);
 *     sp_series_add(p, "loss", x, y, n);          // x may be NULL: 0, 1, 2, ...
 *     char err[256];
 *     if (sp_save(c, "plot.svg", err, sizeof err)) fprintf(stderr, "%s\n", err);
 *     sp_chart_free(c);
 *
 * Properties callers and tests rely on:
 *   - Series data are copied; the caller keeps ownership of its arrays.
 *   - Non-finite values (NaN, +-Inf), and values <= 0 on a log axis, are gaps: the line
 *     breaks there and they do not influence the axis range.
 *   - Axes are fitted to the data: the x axis runs from the first to the last x drawn, the
 *     y axis over the data plus 4 % (of the log span on a log axis); ticks lie inside.
 *   - Text never runs off the picture: the legend column widens for long labels (up to a
 *     limit), and what still does not fit is shortened with an ellipsis. A panel with no drawable point
 *     says so instead of drawing an axis over nothing.
 *   - Long series are reduced per pixel column to first/min/max/last (the M4 scheme), so the
 *     drawn envelope is exact and a 10^6-point series stays a small file.
 *   - Output is deterministic: the same chart gives the same bytes (C-locale number
 *     formatting, fixed precision, no time stamps, no random ids).
 *   - sp_save writes to a temporary file beside the target and renames it: the file is
 *     complete or absent.
 * No global mutable state; a chart is not thread-safe, distinct charts are independent.
 */
#ifndef VLE_SVGPLOT_H
#define VLE_SVGPLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct sp_chart sp_chart;
typedef struct sp_panel sp_panel;

/* ---- building a chart ----------------------------------------------------------------- */

/* A new, empty chart. title may be NULL. Returns NULL when out of memory. */
sp_chart *sp_chart_new(const char *title);
void      sp_chart_free(sp_chart *c);                   /* NULL is a no-op */

/* Overall width and the height of each panel's plotting area, in pixels (defaults 880 and
 * 200). Values below a sane minimum are raised to it. */
void sp_chart_set_size(sp_chart *c, int width, int panel_height);

/* Every panel shows only x in [lo, hi] (a time window; -INFINITY / INFINITY: from the
 * data's start / to its end), and with last > 0 only the last `last` of that (ending at the
 * largest x drawn in any panel). Axes fit the data inside the window. Returns 0, or -1
 * (nothing changed) when lo < hi does not hold or last is negative or not finite. */
int sp_chart_set_window(sp_chart *c, double lo, double hi, double last);

/* Appends a panel below the existing ones. Any string may be NULL. Returns NULL when out of
 * memory. The panel belongs to the chart. */
sp_panel *sp_panel_add(sp_chart *c, const char *title, const char *xlabel, const char *ylabel);
void      sp_panel_set_logy(sp_panel *p, bool logy);
/* Replaces the y label (NULL: none). Returns 0, or -1 when out of memory. */
int       sp_panel_set_ylabel(sp_panel *p, const char *ylabel);

/* Adds a line: n points (x[i], y[i]); x == NULL means x[i] = i. label may be NULL (no
 * legend entry). Colours follow the Okabe-Ito palette in order of addition, then repeat
 * with dashes. Returns 0, or -1 when out of memory. */
int sp_series_add(sp_panel *p, const char *label, const double *x, const double *y, size_t n);

/* A reference line at y (a teacher's value, a target level) across the panel, grey and
 * dotted, with an optional label at its right end; the y axis includes it. At most 16 per
 * panel. Returns 0, or -1 (full, y not finite, out of memory). */
int sp_panel_add_ref(sp_panel *p, double y, const char *label);

/* Draws the series added last dashed, so that a line exactly on top of another (a signal
 * on its target) lets the one below show through. */
void sp_series_set_dashed(sp_panel *p);

/* Marks the series added last as raw data behind a smoothed line: drawn thin and pale in
 * the colour of the next (solid) series added, without a legend entry; on the y axis it
 * counts from its 10th to its 99th percentile only, so that rare outliers do not squash the
 * lines over it (a panel of faint series only counts them whole). */
void sp_series_set_faint(sp_panel *p);

/* ---- writing -------------------------------------------------------------------------- */

/* Writes the SVG document to out. Returns 0, or -1 on a write error. */
int sp_write(const sp_chart *c, FILE *out);
/* Writes the SVG to path atomically. Returns 0, or -1 with a message in err. */
int sp_save(const sp_chart *c, const char *path, char *err, size_t errlen);

/* ---- axis ticks (exposed for tests and for callers that lay out their own axes) ------- */

enum { SP_MAX_TICKS = 32 };

typedef struct sp_ticks {
  double lo, hi;               /* axis range; covers the data range given */
  double step;                 /* linear: tick spacing; log: decades per tick */
  int n;                       /* number of ticks, lo and hi included */
  double v[SP_MAX_TICKS];      /* tick values, ascending */
} sp_ticks;

/* Linear ticks for data in [lo, hi] with about `target` intervals (clamped to 2..10):
 * step = {1, 2, 5} x 10^k, axis ends at multiples of step. A degenerate range (lo == hi) is
 * widened around the value; non-finite or reversed input gives the range [0, 1]. */
void sp_nice_ticks(double lo, double hi, int target, sp_ticks *t);
/* Logarithmic ticks for positive data in [lo, hi]: the axis runs from the decade at or
 * below lo to the decade at or above hi; ticks at every decade, or every 2nd, 5th, ...
 * decade when there are many. Non-positive input gives [1, 10]. */
void sp_log_ticks(double lo, double hi, sp_ticks *t);

/* The label of tick value v on an axis with the given step ("0.25", "1e-05", "-3"); never
 * "-0". Writes at most len bytes (NUL included). */
void sp_format_tick(double v, double step, char *buf, size_t len);

#endif
