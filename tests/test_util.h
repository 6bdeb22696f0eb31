/*
 * test_util.h - helpers shared by the front-end tests (prefix tu_): run the loader and
 * the checker in process with diagnostics captured in memory, and run vlec.
 */
#ifndef VLE_TEST_UTIL_H
#define VLE_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "frontend.h"

typedef struct tu_run {
  vl_arena a;
  dg_ctx d;
  vl_model *m;       /* NULL when loading or checking failed */
  char *diag;        /* everything printed (malloc) */
  size_t len;
} tu_run;

/* Load text (named path) and, if it loads, check it. */
static inline void tu_check_text(tu_run *r, const char *path, const char *text, long len) {
  ar_init(&r->a);
  FILE *f = open_memstream(&r->diag, &r->len);
  dg_init(&r->d, f);
  r->d.max_errors = 0;
  r->m = fe_load_text(&r->a, &r->d, path, text, len < 0 ? (long)strlen(text) : len);
  if (r->m && !ck_check(r->m, &r->d)) r->m = NULL;
  fclose(f);
}

static inline void tu_check_file(tu_run *r, const char *path) {
  ar_init(&r->a);
  FILE *f = open_memstream(&r->diag, &r->len);
  dg_init(&r->d, f);
  r->d.max_errors = 0;
  r->m = fe_compile(&r->a, &r->d, path);
  fclose(f);
}

static inline void tu_free(tu_run *r) {
  free(r->diag);
  ar_free_all(&r->a);
}

/* Run a shell command, capturing stdout+stderr; returns the exit status. */
static inline int tu_sh(const char *cmd, char *out, size_t cap) {
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
