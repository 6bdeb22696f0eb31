/* loader.c - see loader.h. */
#include "loader.h"

#include <string.h>

#include "jit.h"
#include "pipeline.h"
#include "rf.h"

bool ld_is_so(const char *path) {
  size_t n = strlen(path);
  return n > 3 && !strcmp(path + n - 3, ".so");
}

static void *ld_resolve(void *user, const char *symbol) { return jit_lookup(user, symbol); }

static int ld_jit(ld_model *m, const char *path, bool f32, const char *errors, bool only,
                  int learn, FILE *err) {
  double t0 = pl_now_ms();
  dg_ctx d;
  dg_init(&d, err);
  pl_unit u;
  pl_init(&u, &d);
  int rc = 1;
  const char *prec = f32 ? "f32" : "f64";
  bool ok = pl_front(&u, path) && pl_derive(&u) &&
            (only ? pl_lower_for(&u, prec, errors, learn) : pl_lower(&u, prec));
  if (ok) {
    char msg[1024];
    cg_options o = { .f32 = f32 };
    m->jit = jit_compile(u.prog, &o, msg, sizeof msg);
    if (!m->jit) {
      fprintf(err, "vlec: error: %s: code generation failed: %s\n", path, msg);
    } else {
      vle_error e = { { 0 } };
      m->model = vle_model_from_symbols(u.prog->meta, 1, ld_resolve, m->jit, &e);
      if (m->model) rc = 0;
      else fprintf(err, "vlec: error: %s: %s\n", path, e.msg);
    }
  }
  pl_free(&u);
  m->ms_compile = pl_now_ms() - t0;
  return rc;
}

static int ld_open_so(ld_model *m, const char *path, FILE *err) {
  vle_error e = { { 0 } };
  m->model = vle_model_load_so(path, &e);
  if (m->model) return 0;
  fprintf(err, "vlec: error: %s\n", e.msg);
  return 1;
}

/* A model must be a regular file: a FIFO with no writer would block the front end's read
 * (and dlopen) forever. */
static int ld_check_file(const char *path, FILE *err) {
  vle_error e = { { 0 } };
  if (!rf_check(path, &e)) return 0;
  fprintf(err, "vlec: error: %s\n", e.msg);
  return 1;
}

int ld_open(ld_model *m, const char *path, bool f32, FILE *err) {
  memset(m, 0, sizeof *m);
  if (ld_check_file(path, err)) return 1;
  if (!ld_is_so(path)) return ld_jit(m, path, f32, NULL, false, -1, err);
  return ld_open_so(m, path, err);
}

int ld_open_for(ld_model *m, const char *path, bool f32, const char *errors, int learn,
                FILE *err) {
  memset(m, 0, sizeof *m);
  if (ld_check_file(path, err)) return 1;
  if (!ld_is_so(path)) return ld_jit(m, path, f32, errors, true, learn, err);
  return ld_open_so(m, path, err);
}

void ld_close(ld_model *m) {
  vle_model_free(m->model);
  if (m->jit) jit_free(m->jit);
  memset(m, 0, sizeof *m);
}
