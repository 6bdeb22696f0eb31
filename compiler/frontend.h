/*
 * frontend.h - the front end: load (read, parse, resolve `use`) and check a model.
 *
 *   fe_  loading and parsing: text -> vl_model with unresolved names (grammar/ does the
 *        parsing proper; frontend.c reads files and follows `use`).
 *   ck_  checking: names, fn expansion, shapes, fields, parameters, settings (check*.c).
 *
 * Every function reports through the dg_ctx it is given and never prints anything else.
 * A NULL or false result means at least one error was reported.
 */
#ifndef VLE_FRONTEND_H
#define VLE_FRONTEND_H

#include <stdbool.h>
#include "ast.h"

/* Limits that keep hostile input from exhausting memory, stack or time. Each is reported
 * as an ordinary error at the place it is exceeded (docs/language.md lists them). */
enum {
  FE_MAX_FILE_BYTES = 16 * 1024 * 1024,  /* a model file */
  FE_MAX_NEST = 200,                     /* open ( [ { at one point */
  FE_MAX_DEPTH = 1000,                   /* height of one expression tree */
  FE_MAX_USE_DEPTH = 64,                 /* chain of nested `use` */
};
#define FE_MAX_DIM 10000000L             /* a population, input or target size */
#define FE_MAX_WEIGHTS 1000000000L       /* elements of one weight matrix */

/* Options of a load. The zero value is the default (files may `use` other files). */
typedef struct fe_opts {
  bool no_use;             /* refuse `use` (the fuzzer must not read arbitrary files) */
} fe_opts;

/* Parse one buffer (not necessarily NUL-terminated; NUL bytes are errors) and resolve its
 * `use` declarations. path names it in messages and anchors relative `use` paths. */
vl_model *fe_load_text(vl_arena *a, dg_ctx *d, const char *path, const char *text, long len);
vl_model *fe_load_text_opts(vl_arena *a, dg_ctx *d, const char *path, const char *text,
                            long len, const fe_opts *o);
/* Read a file and fe_load_text it; missing, unreadable, binary (NUL bytes) and too large
 * files are reported as errors. */
vl_model *fe_load_file(vl_arena *a, dg_ctx *d, const char *path);

/* Check a loaded model and fill its tables (see the contract in ast.h). */
bool ck_check(vl_model *m, dg_ctx *d);

/* fe_load_file + ck_check: NULL on any error. */
vl_model *fe_compile(vl_arena *a, dg_ctx *d, const char *path);

#endif
