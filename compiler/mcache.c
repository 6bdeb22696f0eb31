/* mcache.c - the compile cache; see mcache.h. */
#include "mcache.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <llvm-c/TargetMachine.h>

#include "aot.h"
#include "pipeline.h"
#include "run_int.h"   /* rn_mkdirs */

#define MC_FORMAT 1    /* bump when the key or the layout changes */

/* snprintf into a new string (asprintf is a GNU extension). */
static char *mc_printf(const char *fmt, const char *a, const char *b) {
  int n = snprintf(NULL, 0, fmt, a, b);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s) snprintf(s, (size_t)n + 1, fmt, a, b);
  return s;
}

char *mc_dir(void) {
  const char *off = getenv("VLE_NO_CACHE");
  if (off && *off && strcmp(off, "0")) return NULL;
  const char *d = getenv("VLE_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (d && *d) return strdup(d);
  if (xdg && *xdg) return mc_printf("%s/vle%s", xdg, "");
  if (home && *home) return mc_printf("%s/.cache/vle%s", home, "");
  return NULL;
}

static uint64_t mc_fnv(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}
#define MC_FNV0 0xcbf29ce484222325ULL

/* A whole file (malloc), or NULL. */
static char *mc_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      char *b = realloc(buf, cap = cap ? 2 * cap : 8192);
      if (!b) break;
      buf = b;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      fclose(f);
      *len = n;
      return buf;
    }
  }
  fclose(f);
  free(buf);
  return NULL;
}

/* What the code depends on besides the sources: format, vlec, CPU, precision. A rebuilt
 * vlec (another size or mtime of /proc/self/exe) is another compiler. */
static void mc_tool_id(FILE *k, const char *precision) {
  struct stat st;
  long long size = 0, mtime = 0;
  if (stat("/proc/self/exe", &st) == 0)
    size = (long long)st.st_size, mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  char *cpu = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
  fprintf(k, "vle-cache %d\nvlec %s\nexe %lld %lld\ncpu %s %s\nprecision %s\n", MC_FORMAT,
          VLE_VERSION, size, mtime, cpu ? cpu : "?", feat ? feat : "?", precision);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(feat);
}

/* KEY1's text: tool, absolute path and text of the main source (malloc). */
static char *mc_key1_text(const char *abs, const char *text, size_t len, const char *precision) {
  char *s = NULL;
  size_t n = 0;
  FILE *k = open_memstream(&s, &n);
  if (!k) return NULL;
  mc_tool_id(k, precision);
  fprintf(k, "source %s %016llx\n", abs, (unsigned long long)mc_fnv(MC_FNV0, text, len));
  fclose(k);
  return s;
}

static void mc_hex(char out[17], const char *text) {
  snprintf(out, 17, "%016llx", (unsigned long long)mc_fnv(MC_FNV0, text, strlen(text)));
}

/* KEY2 = KEY1's text + "use PATH HASH" per used file. */
static uint64_t mc_key2_add(uint64_t h, const char *path, const char *text, size_t len) {
  char line[PATH_MAX + 64];
  int n = snprintf(line, sizeof line, "use %s %016llx\n", path,
                   (unsigned long long)mc_fnv(MC_FNV0, text, len));
  return mc_fnv(h, line, (size_t)n);
}

static char *mc_entry(const char *dir, const char *key, const char *ext) {
  char *k = mc_printf("%s/%s", dir, key), *p = k ? mc_printf("%s%s", k, ext) : NULL;
  free(k);
  return p;
}

/* The used files of KEY1.deps hashed as they are now: KEY2, or 0 when one is missing. */
static uint64_t mc_key2_now(const char *dir, const char *k1, const char *k1text) {
  char *deps = mc_entry(dir, k1, ".deps");
  size_t n = 0;
  char *list = deps ? mc_slurp(deps, &n) : NULL;
  free(deps);
  if (!list) return 0;
  uint64_t h = mc_fnv(MC_FNV0, k1text, strlen(k1text));
  for (char *line = list, *end; line < list + n && h; line = end + 1) {
    end = memchr(line, '\n', (size_t)(list + n - line));
    if (!end) break;
    *end = 0;
    size_t len;
    char *text = mc_slurp(line, &len);
    h = text ? mc_key2_add(h, line, text, len) : 0;
    free(text);
  }
  free(list);
  return h;
}

char *mc_lookup(const char *dir, const char *path, const char *precision) {
  char *abs = realpath(path, NULL), *so = NULL;
  size_t len;
  char *text = abs ? mc_slurp(abs, &len) : NULL;
  char *k1text = text ? mc_key1_text(abs, text, len, precision) : NULL;
  if (k1text) {
    char k1[17], k2[17];
    mc_hex(k1, k1text);
    uint64_t h = mc_key2_now(dir, k1, k1text);
    snprintf(k2, sizeof k2, "%016llx", (unsigned long long)h);
    so = h ? mc_entry(dir, k2, ".so") : NULL;
    if (so && access(so, R_OK) != 0) {
      free(so);
      so = NULL;
    }
  }
  free(abs);
  free(text);
  free(k1text);
  return so;
}

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
