/* mcache.c - the compile cache; see mcache.h. */
#include "mcache.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aot.h"
#include "pipeline.h"
#include "mckey.h"
#include "run_int.h"   /* rn_mkdirs */













/* The files the model used (each once, in order, the main file excluded). */
static int mc_used(const pl_unit *u, const vl_source **out, int cap) {
  int n = 0;
  for (int i = 0; i < u->model->decls.len; i++) {
    const vl_decl *dc = u->model->decls.items[i];
    const vl_source *s = dc->file;
    bool seen = !s || s == u->model->main;
    for (int j = 0; j < n && !seen; j++) seen = out[j] == s;
    if (seen) continue;
    if (n == cap) return -1;
    out[n++] = s;
  }
  return n;
}

/* Writes KEY1.deps (temporary name, renamed). */
static int mc_write_deps(const char *dir, const char *k1, char **paths, int n) {
  char pid[32];
  snprintf(pid, sizeof pid, ".%ld.tmp", (long)getpid());
  char *deps = mc_entry(dir, k1, ".deps"), *tmp = deps ? mc_printf("%s%s", deps, pid) : NULL;
  if (!tmp) {
    free(deps);
    return -1;
  }
  FILE *f = fopen(tmp, "w");
  int rc = f ? 0 : -1;
  for (int i = 0; f && i < n; i++) fprintf(f, "%s\n", paths[i]);
  if (f && (fclose(f) != 0 || rename(tmp, deps) != 0)) rc = -1;
  if (rc) unlink(tmp);
  free(tmp);
  free(deps);
  return rc;
}

enum { MC_MAX_USED = 4096 };

/* Compiles path and stores it: the .so under KEY2, then KEY1.deps. */
static char *mc_build(const char *dir, const char *path, const char *precision, FILE *err) {
  dg_ctx d;
  dg_init(&d, err);
  pl_unit u;
  pl_init(&u, &d);
  char *so = NULL, *abs = realpath(path, NULL), *k1text = NULL, *paths[MC_MAX_USED];
  const vl_source *used[MC_MAX_USED];
  int nused = 0;
  vle_error e;
  char msg[1024];
  if (!pl_compile(&u, path, precision)) goto done;
  const vl_source *main = u.model->main;
  nused = mc_used(&u, used, MC_MAX_USED);
  if (!abs || nused < 0 || !(k1text = mc_key1_text(abs, main->text, (size_t)main->len, precision))) {
    fprintf(err, "vlec: error: %s: cannot key the compile cache (out of memory?)\n", path);
    nused = 0;
    goto done;
  }
  char k1[17], k2[17];
  mc_hex(k1, k1text);
  uint64_t h = mc_fnv(MC_FNV0, k1text, strlen(k1text));
  int have = 0;
  for (; have < nused; have++) {
    if (!(paths[have] = realpath(used[have]->path, NULL))) break;
    h = mc_key2_add(h, paths[have], used[have]->text, (size_t)used[have]->len);
  }
  nused = have;
  snprintf(k2, sizeof k2, "%016llx", (unsigned long long)h);
  if (rn_mkdirs(dir, &e)) {
    fprintf(err, "vlec: error: compile cache: %s (VLE_NO_CACHE=1 or --no-cache runs without it)\n", e.msg);
    goto done;
  }
  cg_options o = { .f32 = !strcmp(precision, "f32") };
  so = mc_entry(dir, k2, ".so");
  if (so && !aot_build(u.prog, &o, so, msg, sizeof msg)) {
    fprintf(err, "vlec: error: %s\n", msg);
    free(so);
    so = NULL;
  }
  if (so && mc_write_deps(dir, k1, paths, nused))   /* not fatal: the next lookup misses */
    fprintf(err, "vlec: warning: compile cache: cannot write %s/%s.deps: %s\n", dir, k1,
            strerror(errno));
done:
  for (int i = 0; i < nused; i++) free(paths[i]);
  free(abs);
  free(k1text);
  pl_free(&u);
  return so;
}

char *mc_get(const char *dir, const char *path, const char *precision, bool *hit, FILE *err) {
  char *so = mc_lookup(dir, path, precision);
  if (hit) *hit = so != NULL;
  return so ? so : mc_build(dir, path, precision, err);
}
