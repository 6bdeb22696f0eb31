/*
 * pipeline.h - the compiler's stages, run in order on one compilation unit:
 *   parse + check (frontend.h) -> derive (derive.h) -> lower (lower.h) -> back end.
 * A unit owns one arena; pl_free drops everything at once.
 */
#ifndef VLE_PIPELINE_H
#define VLE_PIPELINE_H

#include <stdbool.h>
#include "derive.h"
#include "diag.h"
#include "kir.h"

typedef struct pl_unit {
  vl_arena arena;
  dg_ctx *d;
  vl_model *model;
  dv_system *sys;
  kir_program *prog;
  char hash[17];           /* FNV-1a 64 of the main source, hex */
  double ms_front, ms_derive, ms_lower;
} pl_unit;

void pl_init(pl_unit *u, dg_ctx *d);
bool pl_front(pl_unit *u, const char *path);
bool pl_front_text(pl_unit *u, const char *path, const char *text);
bool pl_derive(pl_unit *u);
bool pl_lower(pl_unit *u, const char *precision);
/* Only the kernels of one error scheme (NULL: the model's), for the JIT. */
bool pl_lower_for(pl_unit *u, const char *precision, const char *errors, int learn);
/* All of the above for a file. */
bool pl_compile(pl_unit *u, const char *path, const char *precision);
void pl_free(pl_unit *u);
double pl_now_ms(void);

#endif
