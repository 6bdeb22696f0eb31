/* svgplot.c - a small SVG line-chart writer; see svgplot.h. */
/* POSIX: mkstemp, fdopen, fchmod, open_memstream, mkdtemp (the build defines it too). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "svgplot.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the chart model ----------------------------------------------------------------- */

typedef struct sp_series {
  char *label;
  double *x, *y;
  size_t n;
  bool faint;               /* raw data behind a smoothed line: pale, no legend entry */
  bool dashed;              /* sp_series_set_dashed */
} sp_series;

enum { SP_MAX_REFS = 16 };

/* A reference line: a horizontal line at a known value (a teacher's weight). */
typedef struct sp_ref {
  double y;
  char *label;
} sp_ref;

struct sp_panel {
  char *title, *xlabel, *ylabel;
  bool logy;
  sp_ref refs[SP_MAX_REFS];
  size_t nrefs;
  sp_series *s;
  size_t ns, cap;
};

struct sp_chart {
  char *title;
  int width, panel_h;
  double wlo, whi;          /* the time window shown (+-inf: the data's ends) */
  double last;              /* > 0: show only the last `last` of the x axis */
  sp_panel **p;
  size_t np, cap;
};

/* Layout, in pixels. The legend sits right of the plot area so that it never hides data. */
enum {
  SP_DEFAULT_W = 880, SP_DEFAULT_PH = 200, SP_MIN_W = 320, SP_MIN_PH = 80,
  SP_MARGIN_L = 76,      /* y tick labels and the rotated y label */
  SP_LEGEND_W = 176,     /* legend column right of the plot area */
  SP_MARGIN_R = 24,      /* right margin when no panel has a legend */
  SP_TITLE_H = 40,       /* chart title row */
  SP_TOP_PAD = 12,       /* top margin when the chart has no title */
  SP_PTITLE_H = 24,      /* panel title row */
  SP_XAXIS_H = 44,       /* x tick labels and x label below a plot area */
  SP_GAP = 10,           /* space between panels */
  SP_LEGEND_ROW = 18,
  SP_LEGEND_CHARS = 48,  /* longer legend labels are shortened */
  SP_LEGEND_MAX_W = 360, /* the legend column grows with its labels up to this */
};

/* Estimated advance of one character, in pixels, per font size used (system-ui averages
 * about 0.55 em; these err on the wide side so that estimated text always fits). */
static const double sp_char_w11 = 6.6, sp_char_w13b = 8.2, sp_char_w16b = 10.0;

static const char *const sp_font =
  "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

/* Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour
 * vision deficiency. Black goes last and yellow next-to-last: yellow is faint on white. */
static const char *const sp_palette[] = {
  "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
};
enum { SP_NCOLORS = sizeof sp_palette / sizeof sp_palette[0] };
/* After each round of colours, the next round is dashed differently. */
static const char *const sp_dashes[] = { NULL, "6 3", "2 2", "8 3 2 3" };
enum { SP_NDASHES = sizeof sp_dashes / sizeof sp_dashes[0] };

static char *sp_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

sp_chart *sp_chart_new(const char *title) {
  sp_chart *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->width = SP_DEFAULT_W;
  c->panel_h = SP_DEFAULT_PH;
  c->wlo = -INFINITY;
  c->whi = INFINITY;
  if (title && !(c->title = sp_strdup(title))) { free(c); return NULL; }
  return c;
}

static void sp_panel_free(sp_panel *p) {
  for (size_t i = 0; i < p->ns; i++) {
    free(p->s[i].label);
    free(p->s[i].x);
    free(p->s[i].y);
  }
  free(p->s);
  for (size_t i = 0; i < p->nrefs; i++) free(p->refs[i].label);
  free(p->title);
  free(p->xlabel);
  free(p->ylabel);
  free(p);
}

void sp_chart_free(sp_chart *c) {
  if (!c) return;
  for (size_t i = 0; i < c->np; i++) sp_panel_free(c->p[i]);
  free(c->p);
  free(c->title);
  free(c);
}

void sp_chart_set_size(sp_chart *c, int width, int panel_height) {
  c->width = width < SP_MIN_W ? SP_MIN_W : width;
  c->panel_h = panel_height < SP_MIN_PH ? SP_MIN_PH : panel_height;
}

/* Grows *arr (of *cap elements of size sz) to hold at least need elements. */
static int sp_grow(void **arr, size_t *cap, size_t need, size_t sz) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap * 2 : 4;
  while (ncap < need) ncap *= 2;
  void *a = realloc(*arr, ncap * sz);
  if (!a) return -1;
  *arr = a;
  *cap = ncap;
  return 0;
}

sp_panel *sp_panel_add(sp_chart *c, const char *title, const char *xlabel, const char *ylabel) {
  if (sp_grow((void **)&c->p, &c->cap, c->np + 1, sizeof *c->p)) return NULL;
  sp_panel *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->title = sp_strdup(title);
  p->xlabel = sp_strdup(xlabel);
  p->ylabel = sp_strdup(ylabel);
  if ((title && !p->title) || (xlabel && !p->xlabel) || (ylabel && !p->ylabel)) {
    sp_panel_free(p);
    return NULL;
  }
  c->p[c->np++] = p;
  return p;
}

void sp_panel_set_logy(sp_panel *p, bool logy) { p->logy = logy; }

int sp_panel_set_ylabel(sp_panel *p, const char *ylabel) {
  char *d = sp_strdup(ylabel);
  if (ylabel && !d) return -1;
  free(p->ylabel);
  p->ylabel = d;
  return 0;
}

int sp_chart_set_window(sp_chart *c, double lo, double hi, double last) {
  if (isnan(lo) || isnan(hi) || !(lo < hi) || !(last >= 0) || !isfinite(last)) return -1;
  c->wlo = lo;
  c->whi = hi;
  c->last = last;
  return 0;
}

int sp_panel_add_ref(sp_panel *p, double y, const char *label) {
  if (p->nrefs == SP_MAX_REFS || !isfinite(y)) return -1;
  char *l = sp_strdup(label);
  if (label && !l) return -1;
  p->refs[p->nrefs++] = (sp_ref){ y, l };
  return 0;
}

void sp_series_set_dashed(sp_panel *p) {
  if (p->ns) p->s[p->ns - 1].dashed = true;
}

void sp_series_set_faint(sp_panel *p) {
  if (p->ns) p->s[p->ns - 1].faint = true;
}

int sp_series_add(sp_panel *p, const char *label, const double *x, const double *y, size_t n) {
  if (sp_grow((void **)&p->s, &p->cap, p->ns + 1, sizeof *p->s)) return -1;
  sp_series s = { sp_strdup(label), malloc((n ? n : 1) * sizeof(double)),
                  malloc((n ? n : 1) * sizeof(double)), n, false, false };
  if ((label && !s.label) || !s.x || !s.y) {
    free(s.label); free(s.x); free(s.y);
    return -1;
  }
  for (size_t i = 0; i < n; i++) s.x[i] = x ? x[i] : (double)i;
  if (n) memcpy(s.y, y, n * sizeof(double));
  p->s[p->ns++] = s;
  return 0;
}

/* ---- ticks --------------------------------------------------------------------------- */

/* The smallest of {1, 2, 5, 10} x 10^k that is >= raw. */
static double sp_nice_step(double raw) {
  double mag = pow(10.0, floor(log10(raw)));
  double norm = raw / mag;
  double m = norm <= 1.0 ? 1.0 : norm <= 2.0 ? 2.0 : norm <= 5.0 ? 5.0 : 10.0;
  return m * mag;
}

/* Index k of the largest multiple k*step <= v, exact under rounding (the loops fix the
 * off-by-one that floor(v/step) can have when v/step rounds across an integer). */
static double sp_floor_mult(double v, double step) {
  double k = floor(v / step);
  while ((k + 1) * step <= v) k += 1;
  while (k * step > v) k -= 1;
  return k;
}

static double sp_ceil_mult(double v, double step) {
  double k = ceil(v / step);
  while ((k - 1) * step >= v) k -= 1;
  while (k * step < v) k += 1;
  return k;
}

void sp_nice_ticks(double lo, double hi, int target, sp_ticks *t) {
  if (!isfinite(lo) || !isfinite(hi) || lo > hi) lo = 0, hi = 1;
  /* Keep hi - lo finite. */
  const double big = 1e300;
  lo = lo < -big ? -big : lo > big ? big : lo;
  hi = hi < -big ? -big : hi > big ? big : hi;
  if (hi - lo <= fabs(hi) * 1e-12 || hi - lo < 1e-300) {   /* degenerate: widen around it */
    double mid = 0.5 * (lo + hi);
    double half = mid == 0 ? 1.0 : fabs(mid) * 0.1;
    lo = mid - half;
    hi = mid + half;
  }
  target = target < 2 ? 2 : target > 10 ? 10 : target;
  double step = sp_nice_step((hi - lo) / target);
  double k0 = sp_floor_mult(lo, step), k1 = sp_ceil_mult(hi, step);
  t->step = step;
  t->n = (int)(k1 - k0) + 1;
  if (t->n > SP_MAX_TICKS) t->n = SP_MAX_TICKS;   /* cannot happen with target <= 10 */
  for (int i = 0; i < t->n; i++) t->v[i] = (k0 + i) * step;
  t->lo = t->v[0];
  t->hi = t->v[t->n - 1];
}

void sp_log_ticks(double lo, double hi, sp_ticks *t) {
  if (!(lo > 0) || !(hi > 0) || !isfinite(lo) || !isfinite(hi) || lo > hi) lo = 1, hi = 10;
  double e0 = floor(log10(lo)), e1 = ceil(log10(hi));
  /* log10 may round an exact power of ten the wrong way; correct against pow. */
  if (pow(10.0, e0) > lo) e0 -= 1;
  if (pow(10.0, e1) < hi) e1 += 1;
  if (e1 <= e0) e1 = e0 + 1;
  static const double every[] = { 1, 2, 5, 10, 20, 50, 100, 200 };
  double k = every[0];
  for (size_t i = 0; i < sizeof every / sizeof every[0]; i++) {
    k = every[i];
    if ((e1 - e0) / k <= 8) break;
  }
  e0 = floor(e0 / k) * k;
  e1 = ceil(e1 / k) * k;
  t->step = k;
  t->n = (int)((e1 - e0) / k) + 1;
  if (t->n > SP_MAX_TICKS) t->n = SP_MAX_TICKS;
  for (int i = 0; i < t->n; i++) t->v[i] = pow(10.0, e0 + i * k);
  t->lo = t->v[0];
  t->hi = t->v[t->n - 1];
}

/* Rewrites printf's exponent "e+06" / "e-05" as "e6" / "e-5". */
static void sp_tidy_exponent(char *buf) {
  char *e = strchr(buf, 'e');
  if (!e) return;
  char *src = e + 1, *dst = e + 1;
  if (*src == '+') src++;
  else if (*src == '-') *dst++ = *src++;
  while (*src == '0' && src[1]) src++;
  memmove(dst, src, strlen(src) + 1);
}

void sp_format_tick(double v, double step, char *buf, size_t len) {
  if (!len) return;
  if (!(step > 0) || !isfinite(step)) step = fabs(v) > 0 ? fabs(v) : 1;
  if (fabs(v) < step * 1e-6) v = 0;              /* also turns -0 into 0 */
  if (v == 0) { snprintf(buf, len, "0"); return; }
  double a = fabs(v);
  if (a >= 1e-4 && a < 1e6 && step >= 1e-6) {
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, len, "%.*f", dec, v);
  } else {
    int digits = (int)(floor(log10(a)) - floor(log10(step) + 1e-9)) + 1;
    digits = digits < 1 ? 1 : digits > 15 ? 15 : digits;
    snprintf(buf, len, "%.*e", digits - 1, v);
    sp_tidy_exponent(buf);
  }
}

/* Label of the decade 10^e on a log axis: plain where short, else 10 with a Unicode
 * superscript exponent (no markup, so it renders in any SVG viewer). */
static void sp_format_decade(double e, char *buf, size_t len) {
  if (e >= -3 && e <= 4) {
    snprintf(buf, len, "%.*f", e < 0 ? (int)-e : 0, pow(10.0, e));
    return;
  }
  static const char *const sup[] = { "⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹" };
  char digits[16];
  snprintf(digits, sizeof digits, "%d", (int)fabs(e));
  size_t o = (size_t)snprintf(buf, len, "10%s", e < 0 ? "⁻" : "");
  for (const char *d = digits; *d && o < len; d++)
    o += (size_t)snprintf(buf + o, len - o, "%s", sup[*d - '0']);
}

/* ---- text output helpers ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is invalid. */
static size_t sp_utf8_len(const unsigned char *s) {
  if (s[0] < 0x80) return 1;
  size_t n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || s[0] == 0xC0 || s[0] == 0xC1 || s[0] > 0xF4) return 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return n;
}

/* Writes at most max_chars characters of s as XML character data: markup characters
 * escaped, control characters and invalid UTF-8 replaced by '?' (XML forbids them), and an
 * ellipsis where the text was cut. Why: labels come from file names, which can hold any
 * byte, and the document must stay well-formed whatever they hold. */
static void sp_put_text(FILE *f, const char *s, size_t max_chars) {
  const unsigned char *u = (const unsigned char *)(s ? s : "");
  for (size_t chars = 0; *u; chars++) {
    if (chars == max_chars) { fputs("…", f); return; }
    size_t n = sp_utf8_len(u);
    if (n == 0) { fputc('?', f); u++; continue; }
    if (n > 1) { fwrite(u, 1, n, f); u += n; continue; }
    switch (*u) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&apos;", f); break;
    default: fputc(*u < 0x20 || *u == 0x7F ? '?' : *u, f);
    }
    u++;
  }
}

/* A coordinate with at most two decimals and no trailing zeros: compact and deterministic. */
static void sp_num(char *buf, size_t len, double v) {
  if (!isfinite(v)) v = 0;
  if (fabs(v) < 0.005) v = 0;
  snprintf(buf, len, "%.2f", v);
  char *dot = strchr(buf, '.');
  if (!dot) return;
  char *end = buf + strlen(buf) - 1;
  while (end > dot && *end == '0') *end-- = '\0';
  if (end == dot) *end = '\0';
}

static void sp_put_num(FILE *f, double v) {
  char b[48];
  sp_num(b, sizeof b, v);
  fputs(b, f);
}

/* ---- per-panel geometry -------------------------------------------------------------- */

/* The x window a panel shows (sp_chart_set_window). */
typedef struct sp_window { double lo, hi; } sp_window;

typedef struct sp_frame {
  double x0, y0, w, h;      /* plotting area */
  double xlo, xhi, ylo, yhi;/* the data range shown: the axes end here, fitted to the data */
  sp_ticks xt, yt;          /* ticks inside [xlo, xhi] and [ylo, yhi] */
  bool logy;
  bool ydecades;            /* log axis with ticks at powers of ten only */
  bool empty;               /* no drawable point */
  sp_window win;
} sp_frame;

static bool sp_drawable(double x, double y, bool logy) {
  return isfinite(x) && isfinite(y) && (!logy || y > 0);
}

static bool sp_in_x(const sp_window *w, double x) { return x >= w->lo && x <= w->hi; }

static int sp_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* A raw band spans the 10th to 99th percentile of its values on the y axis: a per-step
 * loss dips by decades wherever the output crosses its target, and those dips would
 * otherwise squash the mean drawn over it into a corner; rises are rarer and matter more. */
static bool sp_faint_range(const sp_panel *p, const sp_window *win, const sp_series *s,
                           double *lo, double *hi) {
  double *v = malloc((s->n ? s->n : 1) * sizeof *v);
  size_t m = 0;
  if (!v) return false;
  for (size_t k = 0; k < s->n; k++)
    if (sp_drawable(s->x[k], s->y[k], p->logy) && sp_in_x(win, s->x[k])) v[m++] = s->y[k];
  if (m) {
    qsort(v, m, sizeof *v, sp_cmp_double);
    *lo = v[(m - 1) / 10];
    *hi = v[(m - 1) - (m - 1) / 100];
  }
  free(v);
  return m > 0;
}

static bool sp_has_solid(const sp_panel *p) {
  for (size_t i = 0; i < p->ns; i++)
    if (!p->s[i].faint) return true;
  return false;
}

/* Data range of the drawable points of a panel (within its x range, where one is set).
 * Returns false when there are none. */
static bool sp_panel_range(const sp_panel *p, const sp_window *win, double *xlo, double *xhi,
                           double *ylo, double *yhi) {
  bool any = false, solid = sp_has_solid(p);
  *xlo = *ylo = DBL_MAX;
  *xhi = *yhi = -DBL_MAX;
  for (size_t i = 0; i < p->ns; i++) {
    const sp_series *s = &p->s[i];
    double flo, fhi;
    if (s->faint && solid) {
      if (sp_faint_range(p, win, s, &flo, &fhi)) {
        *ylo = flo < *ylo ? flo : *ylo;
        *yhi = fhi > *yhi ? fhi : *yhi;
      }
    }
    for (size_t k = 0; k < s->n; k++) {
      if (!sp_drawable(s->x[k], s->y[k], p->logy) || !sp_in_x(win, s->x[k])) continue;
      any = true;
      if (s->x[k] < *xlo) *xlo = s->x[k];
      if (s->x[k] > *xhi) *xhi = s->x[k];
      if (s->faint && solid) continue;
      if (s->y[k] < *ylo) *ylo = s->y[k];
      if (s->y[k] > *yhi) *yhi = s->y[k];
    }
  }
  /* Reference lines are part of what the panel says: the axis shows them. */
  for (size_t i = 0; any && i < p->nrefs; i++) {
    double y = p->refs[i].y;
    if (p->logy && !(y > 0)) continue;
    *ylo = y < *ylo ? y : *ylo;
    *yhi = y > *yhi ? y : *yhi;
  }
  return any;
}

/* Keeps the ticks of t that lie in [lo, hi] (with a little slack for rounding). */
static void sp_ticks_within(sp_ticks *t, double lo, double hi) {
  double eps = (hi - lo) * 1e-9;
  int n = 0;
  for (int i = 0; i < t->n; i++)
    if (t->v[i] >= lo - eps && t->v[i] <= hi + eps) t->v[n++] = t->v[i];
  t->n = n;
}

/* Ticks of a log axis over [lo, hi]: the decades inside; where fewer than two, 1, 2 and 5
 * times a power of ten; where still fewer, linear nice ticks (a narrow range). */
static bool sp_log_ticks_within(double lo, double hi, int target, sp_ticks *t) {
  sp_log_ticks(lo, hi, t);
  /* Compared in decades: a slack relative to hi - lo would let 10^-14 onto an axis that
   * ends at 10^-13. */
  for (int i = 0; i < t->n; i++) t->v[i] = log10(t->v[i]);
  sp_ticks_within(t, log10(lo), log10(hi));
  for (int i = 0; i < t->n; i++) t->v[i] = pow(10.0, t->v[i]);
  if (t->n >= 2) return true;
  t->n = 0;
  for (double e = floor(log10(lo)); e <= ceil(log10(hi)) && t->n < SP_MAX_TICKS - 3; e++) {
    static const double m[] = { 1, 2, 5 };
    for (int i = 0; i < 3; i++) {
      double v = m[i] * pow(10.0, e);
      if (v >= lo && v <= hi) t->v[t->n++] = v;
    }
  }
  t->step = 0;        /* labels are formatted per value */
  if (t->n >= 2) return false;
  sp_nice_ticks(lo, hi, target, t);
  sp_ticks_within(t, lo, hi);
  return false;
}

/* Widens [*lo, *hi] by frac of its span on each side (of its log span on a log axis), so
 * that lines do not run along the frame; a degenerate range is widened around its value. */
static void sp_pad(double *lo, double *hi, double frac, bool logy) {
  if (logy) {
    double a = log10(*lo), b = log10(*hi);
    double pad = b - a > 1e-9 ? (b - a) * frac : 0.1;
    *lo = pow(10.0, a - pad);
    *hi = pow(10.0, b + pad);
    return;
  }
  if (*hi - *lo <= fabs(*hi) * 1e-12 || *hi - *lo < 1e-300) {
    sp_ticks t;
    sp_nice_ticks(*lo, *hi, 2, &t);
    *lo = t.lo, *hi = t.hi;
    return;
  }
  double pad = (*hi - *lo) * frac;
  *lo -= pad;
  *hi += pad;
}

static sp_frame sp_frame_make(const sp_panel *p, const sp_window *win, double x0, double y0,
                              double w, double h) {
  sp_frame fr = { .x0 = x0, .y0 = y0, .w = w, .h = h, .logy = p->logy, .win = *win };
  double xlo, xhi, ylo, yhi;
  fr.empty = !sp_panel_range(p, win, &xlo, &xhi, &ylo, &yhi);
  if (fr.empty) xlo = 0, xhi = 1, ylo = p->logy ? 1 : 0, yhi = p->logy ? 10 : 1;
  /* The x axis runs exactly over the data (time has no margin to show); y gets 4 %. */
  sp_pad(&xlo, &xhi, 0, false);
  sp_pad(&ylo, &yhi, 0.04, p->logy);
  fr.xlo = xlo, fr.xhi = xhi, fr.ylo = ylo, fr.yhi = yhi;
  int xtarget = (int)(w / 110);        /* about one x tick per 110 px */
  int ytarget = (int)(h / 40);
  sp_nice_ticks(xlo, xhi, xtarget, &fr.xt);
  sp_ticks_within(&fr.xt, xlo, xhi);
  if (p->logy) {
    fr.ydecades = sp_log_ticks_within(ylo, yhi, ytarget, &fr.yt);
  } else {
    sp_nice_ticks(ylo, yhi, ytarget, &fr.yt);
    sp_ticks_within(&fr.yt, ylo, yhi);
  }
  return fr;
}

static double sp_px(const sp_frame *fr, double x) {
  return fr->x0 + (x - fr->xlo) / (fr->xhi - fr->xlo) * fr->w;
}

static double sp_py(const sp_frame *fr, double y) {
  double f = fr->logy ? (log10(y) - log10(fr->ylo)) / (log10(fr->yhi) - log10(fr->ylo))
                      : (y - fr->ylo) / (fr->yhi - fr->ylo);
  return fr->y0 + fr->h - f * fr->h;
}

/* A grid line at a whole pixel plus one half, so a 1 px line covers exactly one pixel row. */
static double sp_crisp(double v) { return floor(v) + 0.5; }


/* ---- drawing ------------------------------------------------------------------------- */

static void sp_hline(FILE *f, double x0, double x1, double y) {
  fputs("<path d=\"M", f); sp_put_num(f, x0); fputc(' ', f); sp_put_num(f, y);
  fputc('H', f); sp_put_num(f, x1); fputs("\"/>\n", f);
}

static void sp_vline(FILE *f, double x, double y0, double y1) {
  fputs("<path d=\"M", f); sp_put_num(f, x); fputc(' ', f); sp_put_num(f, y0);
  fputc('V', f); sp_put_num(f, y1); fputs("\"/>\n", f);
}

/* <text x=".." y=".." ATTRS>TEXT</text>, TEXT shortened to max_chars characters. */
static void sp_text(FILE *f, double x, double y, const char *attrs, const char *s,
                    size_t max_chars) {
  fputs("<text x=\"", f); sp_put_num(f, x); fputs("\" y=\"", f); sp_put_num(f, y);
  fprintf(f, "\" %s>", attrs);
  sp_put_text(f, s, max_chars);
  fputs("</text>\n", f);
}

static void sp_draw_grid(FILE *f, const sp_frame *fr) {
  double x1 = fr->x0 + fr->w, y1 = fr->y0 + fr->h;
  fputs("<g fill=\"none\" stroke-width=\"1\" shape-rendering=\"crispEdges\">\n", f);
  double e0 = fr->logy ? floor(log10(fr->ylo)) : 0, e1 = fr->logy ? ceil(log10(fr->yhi)) : 0;
  if (fr->logy && fr->ydecades && e1 - e0 <= 7) {
    /* Minor lines at 2..9 x 10^k make a log axis readable at a glance. */
    fputs("<g stroke=\"#f3f3f3\">\n", f);
    for (double e = e0; e < e1; e++)
      for (int m = 2; m <= 9; m++) {
        double v = m * pow(10.0, e);
        if (v > fr->ylo && v < fr->yhi) sp_hline(f, fr->x0, x1, sp_crisp(sp_py(fr, v)));
      }
    fputs("</g>\n", f);
  }
  fputs("<g stroke=\"#e3e3e3\">\n", f);
  for (int i = 0; i < fr->yt.n; i++) sp_hline(f, fr->x0, x1, sp_crisp(sp_py(fr, fr->yt.v[i])));
  for (int i = 0; i < fr->xt.n; i++) sp_vline(f, sp_crisp(sp_px(fr, fr->xt.v[i])), fr->y0, y1);
  fputs("</g>\n", f);
  /* The frame on top of the grid: a quiet box, darker than the grid. */
  fputs("<rect stroke=\"#b8b8b8\" x=\"", f); sp_put_num(f, sp_crisp(fr->x0));
  fputs("\" y=\"", f); sp_put_num(f, sp_crisp(fr->y0));
  fputs("\" width=\"", f); sp_put_num(f, floor(fr->w));
  fputs("\" height=\"", f); sp_put_num(f, floor(fr->h));
  fputs("\"/>\n</g>\n", f);
}

static void sp_draw_tick_labels(FILE *f, const sp_frame *fr) {
  char buf[64];
  fputs("<g font-size=\"11\" fill=\"#555555\">\n", f);
  for (int i = 0; i < fr->yt.n; i++) {
    if (fr->ydecades) sp_format_decade(round(log10(fr->yt.v[i])), buf, sizeof buf);
    else sp_format_tick(fr->yt.v[i], fr->yt.step > 0 ? fr->yt.step : fr->yt.v[i], buf, sizeof buf);
    sp_text(f, fr->x0 - 7, sp_py(fr, fr->yt.v[i]) + 4, "text-anchor=\"end\"", buf, 32);
  }
  for (int i = 0; i < fr->xt.n; i++) {
    sp_format_tick(fr->xt.v[i], fr->xt.step, buf, sizeof buf);
    sp_text(f, sp_px(fr, fr->xt.v[i]), fr->y0 + fr->h + 16, "text-anchor=\"middle\"", buf, 32);
  }
  fputs("</g>\n", f);
}

static void sp_draw_axis_labels(FILE *f, const sp_panel *p, const sp_frame *fr) {
  if (p->xlabel)
    sp_text(f, fr->x0 + fr->w / 2, fr->y0 + fr->h + 36,
            "text-anchor=\"middle\" font-size=\"12\" fill=\"#333333\"", p->xlabel, 80);
  if (p->ylabel) {
    /* Rotated about its own anchor, centred on the plot area's height. */
    fputs("<text transform=\"translate(", f); sp_put_num(f, 18); fputc(' ', f);
    sp_put_num(f, fr->y0 + fr->h / 2);
    fputs(") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333333\">", f);
    sp_put_text(f, p->ylabel, (size_t)(fr->h / 7.5));
    fputs("</text>\n", f);
  }
}

/* Path output with a pen state: M starts a subpath after a gap, L follows once, then
 * implicit line-tos. A subpath of one point is closed with a zero-length L so that the
 * round cap draws it as a dot (an isolated sample between gaps stays visible). */
typedef struct sp_pen {
  FILE *f;
  int npts;          /* points in the current subpath */
  double lx, ly;     /* last point written */
} sp_pen;

static void sp_pen_point(sp_pen *pen, double x, double y) {
  /* Far outside the view the renderer's precision suffers; nothing visible changes. */
  x = x < -1e5 ? -1e5 : x > 1e5 ? 1e5 : x;
  y = y < -1e5 ? -1e5 : y > 1e5 ? 1e5 : y;
  char bx[48], by[48];
  sp_num(bx, sizeof bx, x);
  sp_num(by, sizeof by, y);
  fputs(pen->npts == 0 ? "M" : pen->npts == 1 ? "L" : " ", pen->f);
  fprintf(pen->f, "%s %s", bx, by);
  pen->npts++;
  pen->lx = x;
  pen->ly = y;
}

static void sp_pen_up(sp_pen *pen) {
  if (pen->npts == 1) {
    fputc('L', pen->f); sp_put_num(pen->f, pen->lx); fputc(' ', pen->f); sp_put_num(pen->f, pen->ly);
  }
  pen->npts = 0;
}

/* One pixel column's worth of points, reduced to first, lowest, highest and last (M4):
 * drawn in their original order this gives the same picture as all points would. */
typedef struct sp_bucket {
  bool open;
  double col;
  size_t idx[4];              /* first, min, max, last (indices into the series) */
  double px[4], py[4];
} sp_bucket;

static void sp_bucket_flush(sp_bucket *b, sp_pen *pen) {
  if (!b->open) return;
  /* Emit the four in index order, each index once. */
  int order[4] = { 0, 1, 2, 3 };
  for (int i = 1; i < 4; i++)
    for (int j = i; j > 0 && b->idx[order[j]] < b->idx[order[j - 1]]; j--) {
      int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
    }
  size_t last = SIZE_MAX;
  for (int i = 0; i < 4; i++) {
    int k = order[i];
    if (b->idx[k] == last) continue;
    last = b->idx[k];
    sp_pen_point(pen, b->px[k], b->py[k]);
  }
  b->open = false;
}

static void sp_bucket_add(sp_bucket *b, size_t i, double px, double py) {
  if (!b->open) {
    b->open = true;
    for (int k = 0; k < 4; k++) b->idx[k] = i, b->px[k] = px, b->py[k] = py;
    return;
  }
  if (py < b->py[1]) b->idx[1] = i, b->px[1] = px, b->py[1] = py;
  if (py > b->py[2]) b->idx[2] = i, b->px[2] = px, b->py[2] = py;
  b->idx[3] = i, b->px[3] = px, b->py[3] = py;
}

/* The colour index of series i: solid series count in order; a faint series takes the
 * colour of the solid series that follows it (its smoothed line). */
static size_t sp_color_index(const sp_panel *p, size_t i) {
  size_t k = 0;
  for (size_t j = 0; j < i; j++) k += !p->s[j].faint;
  return k;
}

/* The dash pattern of a series with colour index ci: none for a band, "6 3" where asked
 * for, else by round of colours. */
static const char *sp_series_dash(const sp_series *s, size_t ci) {
  if (s->faint) return NULL;
  const char *d = sp_dashes[(ci / SP_NCOLORS) % SP_NDASHES];
  return s->dashed && !d ? sp_dashes[1] : d;
}

static size_t sp_solid_count(const sp_panel *p) { return sp_color_index(p, p->ns); }

static void sp_draw_series(FILE *f, const sp_frame *fr, const sp_panel *p, size_t i) {
  const sp_series *s = &p->s[i];
  size_t index = sp_color_index(p, i);
  const char *dash = sp_series_dash(s, index);
  fprintf(f, "<path stroke=\"%s\" stroke-width=\"%s\"", sp_palette[index % SP_NCOLORS],
          s->faint || sp_solid_count(p) > SP_NCOLORS ? "1" : "1.5");
  if (s->faint) fputs(" stroke-opacity=\"0.22\" class=\"raw\"", f);
  if (dash) fprintf(f, " stroke-dasharray=\"%s\"", dash);
  fputs(" d=\"", f);
  sp_pen pen = { .f = f };
  sp_bucket b = { .open = false };
  for (size_t i = 0; i < s->n; i++) {
    /* Outside the window only the neighbours of points inside are drawn (the line runs
     * on to the frame, where the clip path cuts it); the rest would only fill the file. */
    bool near = sp_in_x(&fr->win, s->x[i]) || (i + 1 < s->n && sp_in_x(&fr->win, s->x[i + 1])) ||
                (i > 0 && sp_in_x(&fr->win, s->x[i - 1]));
    if (!near) continue;
    if (!sp_drawable(s->x[i], s->y[i], fr->logy)) {   /* a gap: end the subpath */
      sp_bucket_flush(&b, &pen);
      sp_pen_up(&pen);
      continue;
    }
    double px = sp_px(fr, s->x[i]), py = sp_py(fr, s->y[i]);
    double col = floor(px);                          /* one-pixel columns */
    if (b.open && col != b.col) sp_bucket_flush(&b, &pen);
    if (!b.open) b.col = col;
    sp_bucket_add(&b, i, px, py);
  }
  sp_bucket_flush(&b, &pen);
  sp_pen_up(&pen);
  fputs("\"/>\n", f);
}

static size_t sp_labelled(const sp_panel *p) {
  size_t n = 0;
  for (size_t i = 0; i < p->ns; i++) n += p->s[i].label != NULL && !p->s[i].faint;
  return n;
}

static void sp_draw_legend(FILE *f, const sp_panel *p, const sp_frame *fr, size_t chars) {
  size_t total = sp_labelled(p);
  if (!total) return;
  size_t rows = (size_t)(fr->h / SP_LEGEND_ROW);
  if (rows < 2) rows = 2;
  size_t shown = total <= rows ? total : rows - 1;   /* keep a row for "+k more" */
  double x = fr->x0 + fr->w + 14, y = fr->y0 + 10;
  fputs("<g font-size=\"11\" fill=\"#333333\">\n", f);
  size_t row = 0;
  for (size_t i = 0; i < p->ns && row < shown; i++) {
    if (!p->s[i].label || p->s[i].faint) continue;
    size_t ci = sp_color_index(p, i);
    const char *dash = sp_series_dash(&p->s[i], ci);
    fprintf(f, "<path stroke=\"%s\" stroke-width=\"2\"", sp_palette[ci % SP_NCOLORS]);
    if (dash) fprintf(f, " stroke-dasharray=\"%s\"", dash);
    fputs(" d=\"M", f); sp_put_num(f, x); fputc(' ', f); sp_put_num(f, y);
    fputs("h20\"/>\n", f);
    sp_text(f, x + 26, y + 4, "class=\"legend\"", p->s[i].label, chars);
    y += SP_LEGEND_ROW;
    row++;
  }
  if (shown < total) {
    char more[64];
    snprintf(more, sizeof more, "+ %zu more", total - shown);
    sp_text(f, x + 26, y + 4, "fill=\"#777777\"", more, 32);
  }
  fputs("</g>\n", f);
}

/* Reference lines: grey and dotted, drawn under the data (a backdrop the lines run onto);
 * the label at the left end, above the line, where a learning curve usually starts away
 * from its target. */
static void sp_draw_refs(FILE *f, const sp_panel *p, const sp_frame *fr) {
  for (size_t i = 0; i < p->nrefs; i++) {
    double y = p->refs[i].y;
    if (fr->logy && !(y > 0)) continue;
    fputs("<g class=\"ref\" stroke=\"#444444\" stroke-width=\"1\" stroke-dasharray=\"2 3\">\n", f);
    sp_hline(f, fr->x0, fr->x0 + fr->w, sp_crisp(sp_py(fr, y)));
    fputs("</g>\n", f);
    if (p->refs[i].label)
      sp_text(f, fr->x0 + 4, sp_py(fr, y) - 4, "font-size=\"11\" fill=\"#444444\"",
              p->refs[i].label, 40);
  }
}

/* Where the chart's text must fit: the characters a legend label and a panel title may
 * take, and the legend column's width. */
typedef struct sp_fit {
  size_t legend_chars, ptitle_chars;
} sp_fit;

static void sp_draw_panel(FILE *f, const sp_panel *p, size_t index, const sp_frame *fr,
                          const sp_fit *fit) {
  fprintf(f, "<g class=\"panel\" id=\"panel-%zu\">\n", index);
  if (p->title)
    sp_text(f, fr->x0, fr->y0 - 8, "font-size=\"13\" font-weight=\"600\" fill=\"#222222\"",
            p->title, fit->ptitle_chars);
  sp_draw_grid(f, fr);
  if (fr->empty) {
    sp_text(f, fr->x0 + fr->w / 2, fr->y0 + fr->h / 2 + 4,
            "text-anchor=\"middle\" font-size=\"12\" fill=\"#888888\"",
            p->logy ? "no positive finite data for a log axis" : "no finite data", 64);
  } else {
    sp_draw_tick_labels(f, fr);
    fprintf(f, "<clipPath id=\"clip-%zu\"><rect x=\"", index);
    sp_put_num(f, fr->x0); fputs("\" y=\"", f); sp_put_num(f, fr->y0 - 2);
    fputs("\" width=\"", f); sp_put_num(f, fr->w); fputs("\" height=\"", f);
    sp_put_num(f, fr->h + 4);
    fputs("\"/></clipPath>\n", f);
    sp_draw_refs(f, p, fr);
    fprintf(f, "<g clip-path=\"url(#clip-%zu)\" fill=\"none\" stroke-linejoin=\"round\" "
               "stroke-linecap=\"round\">\n", index);
    for (size_t i = 0; i < p->ns; i++) sp_draw_series(f, fr, p, i);
    fputs("</g>\n", f);
  }
  sp_draw_axis_labels(f, p, fr);
  sp_draw_legend(f, p, fr, fit->legend_chars);
  fputs("</g>\n", f);
}

/* Characters of s (UTF-8 sequences count once). */
static size_t sp_chars(const char *s) {
  size_t n = 0;
  for (const unsigned char *u = (const unsigned char *)s; *u; u++) n += (*u & 0xC0) != 0x80;
  return n;
}

/* The longest legend label of the chart, in characters (0: no legend). */
static size_t sp_longest_label(const sp_chart *c) {
  size_t m = 0;
  for (size_t i = 0; i < c->np; i++)
    for (size_t k = 0; k < c->p[i]->ns; k++) {
      const sp_series *s = &c->p[i]->s[k];
      if (s->label && !s->faint && sp_chars(s->label) > m) m = sp_chars(s->label);
    }
  return m;
}

/* The legend column is as wide as its longest label needs (up to SP_LEGEND_MAX_W and half
 * the chart); labels longer than that are shortened with an ellipsis rather than cut off
 * by the edge of the picture. */
static double sp_legend_width(const sp_chart *c, size_t *chars) {
  size_t longest = sp_longest_label(c);
  if (!longest) { *chars = 0; return SP_MARGIN_R; }
  double max_w = SP_LEGEND_MAX_W < c->width / 2 ? SP_LEGEND_MAX_W : c->width / 2;
  double w = 14 + 26 + longest * sp_char_w11 + 8;
  *chars = longest;
  if (w < SP_LEGEND_W) w = SP_LEGEND_W;
  if (w > max_w) w = max_w, *chars = (size_t)((w - 14 - 26 - 8) / sp_char_w11);
  if (*chars > SP_LEGEND_CHARS) *chars = SP_LEGEND_CHARS;
  return w;
}

/* The window every panel shows: --from/--to as given; with `last`, the last stretch of
 * that length before the largest x of any drawable point (so the panels stay aligned). */
static sp_window sp_chart_window(const sp_chart *c) {
  sp_window w = { c->wlo, c->whi };
  if (!(c->last > 0)) return w;
  double end = -INFINITY;
  for (size_t i = 0; i < c->np; i++)
    for (size_t k = 0; k < c->p[i]->ns; k++) {
      const sp_series *s = &c->p[i]->s[k];
      for (size_t j = 0; j < s->n; j++)
        if (sp_drawable(s->x[j], s->y[j], c->p[i]->logy) && sp_in_x(&w, s->x[j]) && s->x[j] > end)
          end = s->x[j];
    }
  if (isfinite(end)) w.lo = end - c->last, w.hi = end;
  return w;
}

int sp_write(const sp_chart *c, FILE *f) {
  double top = c->title ? SP_TITLE_H : SP_TOP_PAD;
  sp_fit fit;
  double right = sp_legend_width(c, &fit.legend_chars);
  double pw = c->width - SP_MARGIN_L - right;
  /* Titles start at the plot area's left edge and may run over the legend column. */
  fit.ptitle_chars = (size_t)((c->width - SP_MARGIN_L - 8) / sp_char_w13b);
  size_t title_chars = (size_t)((c->width - SP_MARGIN_L - 8) / sp_char_w16b);
  double slot = SP_PTITLE_H + c->panel_h + SP_XAXIS_H + SP_GAP;
  sp_window win = sp_chart_window(c);
  int height = (int)(top + (c->np ? c->np : 1) * slot);
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" font-family=\"%s\">\n",
          c->width, height, c->width, height, sp_font);
  fputs("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);
  if (c->title)
    sp_text(f, SP_MARGIN_L, 26, "font-size=\"16\" font-weight=\"600\" fill=\"#111111\"",
            c->title, title_chars);
  for (size_t i = 0; i < c->np; i++) {
    double y0 = top + i * slot + SP_PTITLE_H;
    sp_frame fr = sp_frame_make(c->p[i], &win, SP_MARGIN_L, y0, pw, c->panel_h);
    sp_draw_panel(f, c->p[i], i, &fr, &fit);
  }
  fputs("</svg>\n", f);
  return ferror(f) ? -1 : 0;
}

/* ---- atomic save --------------------------------------------------------------------- */

int sp_save(const sp_chart *c, const char *path, char *err, size_t errlen) {
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp) { snprintf(err, errlen, "%s: out of memory", path); return -1; }
  /* The temporary file lies beside the target, so the rename stays within one file
   * system and is atomic. */
  snprintf(tmp, n + 16, "%s.tmpXXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    free(tmp);
    return -1;
  }
  /* mkstemp creates mode 0600; a plot is an ordinary document that others may read. */
  (void)fchmod(fd, 0644);
  FILE *f = fdopen(fd, "w");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    close(fd); unlink(tmp); free(tmp);
    return -1;
  }
  int rc = sp_write(c, f);
  int saved = errno;
  if (fclose(f) != 0 && rc == 0) rc = -1, saved = errno;
  if (rc == 0 && rename(tmp, path) != 0) rc = -1, saved = errno;
  if (rc != 0) {
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(saved));
    unlink(tmp);
  }
  free(tmp);
  return rc;
}
