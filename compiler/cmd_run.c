/* cmd_run.c - `vlec run` and `vlec grad`: obtain the model (JIT or .so) and hand it to the
 * runtime's run loop (runtime/run.h), which does everything else through the C API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "loader.h"
#include "mcache.h"
#include "runflags.h"
#include "run.h"

/* MODEL.vle through the compile cache (mcache.h): the cached .so, built on a miss, loaded
 * like any .so. Returns -1 when the cache is off or cannot build it (the JIT then compiles
 * the model and reports its errors: a model with errors fails there with the same
 * diagnostics, and one whose full build fails where the JIT's partial one does not still
 * runs), else ld_open's status. A .so holds every kernel: the run is bit for bit the JIT's
 * (tests/python). */
static int cmd_open_cached(ld_model *m, const char *model, bool f32) {
  char *dir = mc_dir();
  if (!dir) return -1;
  bool hit = false;
  char *log = NULL;
  size_t loglen = 0;
  FILE *quiet_build = open_memstream(&log, &loglen);
  char *so = quiet_build ? mc_get(dir, model, f32 ? "f32" : "f64", &hit, quiet_build) : NULL;
  if (quiet_build) fclose(quiet_build);
  if (so && log) fputs(log, stderr);     /* a build's warnings (a hit has none to say) */
  free(log);
  if (!so) {
    free(dir);
    return -1;
  }
  FILE *quiet = hit ? fopen("/dev/null", "w") : NULL;
  int rc = ld_open(m, so, f32, quiet ? quiet : stderr);
  if (quiet) fclose(quiet);
  if (rc && hit) {          /* a damaged entry (its seal says so): built again, once */
    unlink(so);
    free(so);
    so = mc_get(dir, model, f32 ? "f32" : "f64", NULL, stderr);
    rc = so ? ld_open(m, so, f32, stderr) : 1;
  }
  free(so);
  free(dir);
  return rc;
}

/* The files a cached model uses, as its entry lists them, split into paths (into *list,
 * which owns them): a run copies them beside its model.vle. */
static int cmd_model_uses(const char *model, bool f32, char **list, const char ***paths) {
  char *dir = mc_dir();
  *list = dir ? mc_deps(dir, model, f32 ? "f32" : "f64") : NULL;
  free(dir);
  int n = 0;
  for (char *p = *list; p && *p; p++) n += *p == '\n';
  *paths = *list ? calloc((size_t)n + 1, sizeof **paths) : NULL;
  if (!*paths) return 0;
  int k = 0;
  for (char *save = NULL, *t = strtok_r(*list, "\n", &save); t && k < n; t = strtok_r(NULL, "\n", &save))
    (*paths)[k++] = t;
  return k;
}

static int cmd_run_or_grad(int argc, char **argv, bool grad, const drv_env *env) {
  const vle_replicas *rep = env ? env->replicas : NULL;
  bool f32 = false, given = false;
  if (fl_precision(&argc, argv, &f32, &given, stderr)) return 2;
  bool no_cache = fl_flag(&argc, argv, "--no-cache");
  rn_options o;
  int rc = rn_parse_args(argc, argv, &o, grad, stderr);
  if (rc == 0) {
    ld_model m = { 0 };
    bool vle = !ld_is_so(o.model);
    rc = vle && !no_cache ? cmd_open_cached(&m, o.model, f32) : -1;
    /* (MPI: the ranks combine gradients: not the fused-SGD-only kernels of a learning run) */
    if (rc < 0) rc = ld_open_for(&m, o.model, f32, o.errors, grad || o.no_learn ? 0 : rep ? -1 : 1,
                                 stderr);
    if (rc == 0 && !vle && given && (vle_model_precision(m.model) == VLE_F32) != f32) {
      /* a .so has the precision it was built with: the option would do nothing */
      fprintf(stderr, "vlec: --precision %s does nothing for %s, built in %s (rebuild it with "
              "vlec build --precision %s)\n", f32 ? "f32" : "f64", o.model, f32 ? "f64" : "f32",
              f32 ? "f32" : "f64");
      rc = 2;
    }
    char *uses = NULL;
    const char **paths = NULL;
    if (vle) o.model_source = o.model;   /* copied as DIR/model.vle */
    if (rc == 0 && vle && !no_cache) o.nmodel_uses = cmd_model_uses(o.model, f32, &uses, &paths);
    o.model_uses = paths;
    o.replicas = rep;
    if (rc == 0) rc = rn_main(m.model, &o, stderr);
    free(paths);
    free(uses);
    ld_close(&m);
  }
  rn_options_free(&o);
  return rc;
}

int cmd_run(int argc, char **argv, const drv_env *env) { return cmd_run_or_grad(argc, argv, false, env); }
int cmd_grad(int argc, char **argv, const drv_env *env) { return cmd_run_or_grad(argc, argv, true, env); }
