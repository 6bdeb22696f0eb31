/* diag.c - see diag.h. */
#include "diag.h"

#include <string.h>

static const char *dg_level_name[] = { "error", "warning", "note" };

void dg_init(dg_ctx *d, FILE *out) {
  memset(d, 0, sizeof *d);
  d->out = out ? out : stderr;
  d->max_errors = 50;
}

/* Print the source line of sp with a caret line under the span. Tabs are kept in the
 * caret line so that the caret lines up under the offending text. */
static void dg_show_line(FILE *out, vl_span sp) {
  const char *t = sp.src->text, *end = t + sp.src->len;
  int line = 1;
  while (t < end && line < sp.line) {
    if (*t++ == '\n') line++;
  }
  if (line != sp.line) return;
  const char *eol = t;
  while (eol < end && *eol != '\n') eol++;
  int n = (int)(eol - t);
  if (n > 400) n = 400;     /* do not dump a 20 MB line */
  fprintf(out, "%5d | ", sp.line);
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    fputc(c == 0 ? ' ' : (c < 32 && c != '\t') ? '?' : c, out);
  }
  fputs("\n      | ", out);
  int col = sp.col - 1;
  for (int i = 0; i < col && i < n; i++) fputc(t[i] == '\t' ? '\t' : ' ', out);
  fputc('^', out);
  int len = sp.len;
  if (col + len > n) len = n - col;
  for (int i = 1; i < len; i++) fputc('~', out);
  fputc('\n', out);
}

void dg_vreport(dg_ctx *d, dg_level lvl, vl_span sp, const char *fmt, va_list ap) {
  if (lvl == DG_ERROR) d->errors++;
  if (lvl == DG_WARNING) d->warnings++;
  if (lvl == DG_ERROR && d->max_errors && d->errors > d->max_errors) {
    if (d->errors == d->max_errors + 1) fprintf(d->out, "vlec: too many errors, stopping\n");
    return;
  }
  if (sp.src) fprintf(d->out, "%s:%d:%d: ", sp.src->path, sp.line, sp.col);
  fprintf(d->out, "%s: ", dg_level_name[lvl]);
  vfprintf(d->out, fmt, ap);
  fputc('\n', d->out);
  if (sp.src && sp.line > 0) dg_show_line(d->out, sp);
}

void dg_report(dg_ctx *d, dg_level lvl, vl_span sp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dg_vreport(d, lvl, sp, fmt, ap);
  va_end(ap);
}

void dg_plain(dg_ctx *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  d->errors++;
  fputs("vlec: error: ", d->out);
  vfprintf(d->out, fmt, ap);
  fputc('\n', d->out);
  va_end(ap);
}

vl_span dg_join(vl_span a, vl_span b) {
  if (a.src != b.src || a.line != b.line || b.col < a.col) return a;
  a.len = b.col + b.len - a.col;
  return a;
}
