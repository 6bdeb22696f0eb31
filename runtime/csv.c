/* csv.c - numeric CSV reading; see csv.h. */
#include "csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf.h"
#include "vle_err.h"

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

static bool csv_blank(const char *s) {
  s += strspn(s, " \t\r\n");
  return *s == 0 || *s == '#';
}

/* Parses one line into b; returns the number of values, -1 (not numeric: *col set) or
 * -2 (out of memory). */
static long csv_line(char *s, csv_buf *b, long *col) {
  long n = 0;
  for (;;) {
    char *end;
    s += strspn(s, " \t");
    errno = 0;
    double x = strtod(s, &end);
    if (end == s) { *col = n + 1; return -1; }
    s = end + strspn(end, " \t\r\n");
    if (*s != ',' && *s != 0) { *col = n + 1; return -1; }
    if (csv_push(b, x)) return -2;
    n++;
    if (*s == 0) return n;
    s++;
  }
}

static int csv_parse(FILE *fp, const char *path, csv_buf *b, int64_t *rows, int64_t *cols,
                     vle_error *err) {
  char *line = NULL;
  size_t cap = 0;
  long lineno = 0, ncols = -1, nrows = 0;
  int rc = 0;
  while (getline(&line, &cap, fp) >= 0) {
    lineno++;
    if (csv_blank(line)) continue;
    long col = 0;
    long n = csv_line(line, b, &col);
    if (n == -2) { rc = vle_fail(err, "%s: out of memory", path); break; }
    if (n == -1) {
      if (nrows == 0 && ncols < 0) { ncols = 0; b->n = 0; continue; }   /* header */
      rc = vle_fail(err, "%s:%ld: column %ld is not a number", path, lineno, col);
      break;
    }
    if (ncols > 0 && n != ncols) {
      rc = vle_fail(err, "%s:%ld: %ld values, expected %ld like the first row", path, lineno,
                    n, ncols);
      break;
    }
    ncols = n;
    nrows++;
  }
  free(line);
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
