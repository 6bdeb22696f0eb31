/*
 * loader.h - a runnable model from a path: MODEL.vle is compiled through the whole pipeline
 * and JIT-compiled in process; MODEL.so is loaded by the runtime (no compiler involved).
 * Both end as a vle_model of the runtime library, so everything after this is the same.
 */
#ifndef VLE_LOADER_H
#define VLE_LOADER_H

#include <stdbool.h>
#include <stdio.h>
#include "vle.h"

typedef struct ld_model {
  vle_model *model;
  struct jit_module *jit;   /* NULL for a .so */
  double ms_compile;        /* parse to machine code */
} ld_model;

/* Returns 0, or 1 after printing the error (diagnostics with source locations for a .vle). */
int  ld_open(ld_model *m, const char *path, bool f32, FILE *err);
/* The same, JIT-compiling only the kernels of one error scheme (NULL: the model's). */
int  ld_open_for(ld_model *m, const char *path, bool f32, const char *errors, int learn,
                 FILE *err);   /* learn: 1 the run learns, 0 it does not, -1 unknown */
void ld_close(ld_model *m);
bool ld_is_so(const char *path);

#endif
