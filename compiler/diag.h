/*
 * diag.h - diagnostics with source spans.
 *
 * Every error the compiler reports, from the lexer to the last pass, carries a span into
 * a source file and is printed as
 *
 *     file:line:col: error: message
 *       12 | energy = 0.5 * |W1 @ h2|^2
 *          |                 ^~~~~~~
 *
 * A diagnostics context (dg_ctx) is passed explicitly: there is no global state, so several
 * compilations can run in one process.
 */
#ifndef VLE_DIAG_H
#define VLE_DIAG_H

#include <stdarg.h>
#include <stdio.h>

/* One loaded source file. The text is NUL-terminated; len excludes the terminator. */
typedef struct vl_source {
  const char *path;      /* as given (relative or absolute), used in messages */
  const char *text;
  long len;
} vl_source;

/* A span: 1-based line and column of its first character, and its length in bytes on
 * that line (at least 1 when printed). src may be NULL for spans of synthesized nodes. */
typedef struct vl_span {
  const vl_source *src;
  int line, col;
  int len;
} vl_span;

typedef enum { DG_ERROR, DG_WARNING, DG_NOTE } dg_level;

typedef struct dg_ctx {
  FILE *out;             /* where messages go (stderr by default) */
  int errors, warnings;
  int max_errors;        /* stop printing after this many errors (0: unlimited) */
  int color;             /* reserved: colour output when out is a terminal */
} dg_ctx;

void dg_init(dg_ctx *d, FILE *out);
void dg_report(dg_ctx *d, dg_level lvl, vl_span sp, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void dg_vreport(dg_ctx *d, dg_level lvl, vl_span sp, const char *fmt, va_list ap);
#define dg_error(d, sp, ...)   dg_report((d), DG_ERROR, (sp), __VA_ARGS__)
#define dg_warning(d, sp, ...) dg_report((d), DG_WARNING, (sp), __VA_ARGS__)
#define dg_note(d, sp, ...)    dg_report((d), DG_NOTE, (sp), __VA_ARGS__)

/* An error that is about a whole file or the command line, not a place in a model. */
void dg_plain(dg_ctx *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A span that covers from the start of a to the end of b (same line), or a if not. */
vl_span dg_join(vl_span a, vl_span b);

#endif
