/* csv.c - numeric CSV reading; see csv.h. */
#include "csv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf.h"
#include "vle_err.h"

/* The longest line read: a file without newlines must not take all the memory. */
#define CSV_MAX_LINE (1 << 20)

typedef struct csv_buf { double *v; size_t n, cap; } csv_buf;

static int csv_push(csv_buf *b, double x) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 256;
    double *v = realloc(b->v, cap * sizeof *v);
    if (!v) return -1;
    b->v = v;
    b->cap = cap;
  }
  b->v[b->n++] = x;
  return 0;
}

/* One line (without its '\n') into *line, NUL bytes and all: 1, 0 at the end of the file,
 * -1 when longer than CSV_MAX_LINE, -2 out of memory. */
static int csv_getline(FILE *fp, char **line, size_t *cap, size_t *len) {
  size_t n = 0;
  int c = getc_unlocked(fp);   /* one thread reads fp: no lock per byte */
  if (c == EOF) return 0;
  for (; c != EOF && c != '\n'; c = getc_unlocked(fp)) {
    if (n == CSV_MAX_LINE) return -1;
    if (n + 1 >= *cap) {
      size_t nc = *cap ? 2 * *cap : 256;
      char *q = realloc(*line, nc);
      if (!q) return -2;
      *line = q;
      *cap = nc;
    }
    (*line)[n++] = (char)c;
  }
  if (!*line && !(*line = malloc(*cap = 256))) return -2;
  (*line)[n] = 0;
  *len = n;
  return 1;
}

/* A field: [s, e) of the line, blanks around it left out. */
typedef struct csv_field { const char *s, *e; } csv_field;

static csv_field csv_trim(const char *s, const char *e) {
  while (s < e && strchr(" \t\r", *s)) s++;
  while (e > s && strchr(" \t\r", e[-1])) e--;
  return (csv_field){ s, e };
}

static bool csv_number(csv_field f, double *x) {
  if (f.s == f.e) return false;
  char *end;
  errno = 0;
  *x = strtod(f.s, &end);
  return end == f.e;
}

/* A column name: a letter or '_' first (optionally quoted), and not a number ("nan"). */
static bool csv_name(csv_field f) {
  if (f.e - f.s >= 2 && (*f.s == '"' || *f.s == '\'') && f.e[-1] == *f.s) f = (csv_field){ f.s + 1, f.e - 1 };
  double x;
  return f.s < f.e && (isalpha((unsigned char)*f.s) || *f.s == '_') && !csv_number(f, &x);
}

typedef struct csv_ctx {
  const char *path;
  long lineno;
  vle_error *err;
} csv_ctx;

/* Whether every field of the line is a name (a header line). */
static bool csv_is_header(const char *s, const char *end) {
  for (const char *p = s;; p++) {
    if (p < end && *p != ',') continue;
    if (!csv_name(csv_trim(s, p))) return false;
    if (p == end) return true;
    s = p + 1;
  }
}

/* Parses one line into b; returns the number of values, or -1 with the error set. */
static long csv_values(const csv_ctx *c, const char *s, const char *end, csv_buf *b) {
  long n = 0;
  for (const char *p = s;; p++) {
    if (p < end && *p != ',') continue;
    csv_field f = csv_trim(s, p);
    double x;
    n++;
    if (!csv_number(f, &x))
      return vle_fail(c->err, "%s:%ld: column %ld is not a number: '%.*s'", c->path, c->lineno, n,
                      (int)(f.e - f.s > 40 ? 40 : f.e - f.s), f.s);
    if (csv_push(b, x)) return vle_fail(c->err, "%s: out of memory", c->path);
    if (p == end) return n;
    s = p + 1;
  }
}

static bool csv_blank(const char *s, const char *end) {
  csv_field f = csv_trim(s, end);
  return f.s == f.e || *f.s == '#';
}

/* The field (1-based) byte i of the line is in. */
static long csv_field_at(const char *s, size_t i) {
  long n = 1;
  for (size_t k = 0; k < i; k++) n += s[k] == ',';
  return n;
}

/* One line: 1 a row, 0 skipped (blank, comment, header), -1 an error. */
static int csv_row(csv_ctx *c, const char *line, size_t len, bool first, csv_buf *b, long *n) {
  const char *nul = memchr(line, 0, len);
  if (nul)
    return vle_fail(c->err, "%s:%ld: column %ld: a NUL byte (is this a text file?)", c->path, c->lineno,
                    csv_field_at(line, (size_t)(nul - line)));
  if (csv_blank(line, line + len)) return 0;
  if (first && csv_is_header(line, line + len)) return 0;
  *n = csv_values(c, line, line + len, b);
  return *n < 0 ? -1 : 1;
}

static int csv_parse(FILE *fp, const char *path, csv_buf *b, int64_t *rows, int64_t *cols,
                     vle_error *err) {
  char *line = NULL;
  size_t cap = 0, len = 0;
  long ncols = -1, nrows = 0;
  bool first = true;               /* no line with content seen yet: a header may come */
  csv_ctx c = { path, 0, err };
  int rc = 0, got;
  while (!rc && (got = csv_getline(fp, &line, &cap, &len)) != 0) {
    c.lineno++;
    if (got == -1) rc = vle_fail(err, "%s:%ld: a line longer than %d bytes", path, c.lineno, CSV_MAX_LINE);
    if (got == -2) rc = vle_fail(err, "%s: out of memory", path);
    if (rc) break;
    long n = 0;
    int r = csv_row(&c, line, len, first, b, &n);
    if (r < 0) { rc = -1; break; }
    if (!csv_blank(line, line + len)) first = false;
    if (r == 0) continue;
    if (ncols > 0 && n != ncols)
      rc = vle_fail(err, "%s:%ld: %ld values, expected %ld like the first row", path, c.lineno,
                    n, ncols);
    ncols = n;
    nrows++;
  }
  free(line);
  if (!rc && ferror(fp)) rc = vle_fail(err, "%s: read error", path);
  if (!rc && nrows == 0) rc = vle_fail(err, "%s: no numeric rows", path);
  *rows = nrows;
  *cols = ncols;
  return rc;
}

int csv_read(const char *path, double **data, int64_t *rows, int64_t *cols, vle_error *err) {
  *data = NULL;
  FILE *fp = rf_open(path, err);
  if (!fp) return -1;
  csv_buf b = { 0 };
  int rc = csv_parse(fp, path, &b, rows, cols, err);
  fclose(fp);
  if (rc) { free(b.v); return -1; }
  *data = b.v;
  return 0;
}
