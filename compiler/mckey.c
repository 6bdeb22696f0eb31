/* mckey.c - the compile cache's keys and lookups; see mckey.h and mcache.h. */
#include "mckey.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MC_FORMAT 1    /* bump when the key or the layout changes */

/* snprintf into a new string (asprintf is a GNU extension). */
char *mc_printf(const char *fmt, const char *a, const char *b) {
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

uint64_t mc_fnv(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

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

/* The first line of /proc/cpuinfo that starts with key ("model name", "flags"), or "?". */
static void mc_cpuinfo(FILE *k, const char *key) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[8192];
  size_t n = strlen(key);
  bool found = false;
  while (f && !found && fgets(line, sizeof line, f))
    if (!strncmp(line, key, n) && (line[n] == ' ' || line[n] == '\t' || line[n] == ':')) {
      fputs(line, k);
      found = true;
    }
  if (f) fclose(f);
  if (!found) fprintf(k, "%s ?\n", key);
}

/* The compiler library, next to the running program as main.c loads it (libvlecc.so in
 * the build directory, ../lib/libvlecc.so installed), or the program itself (a test that
 * links the compiler statically): a rebuilt compiler is another compiler. */
static void mc_compiler_id(FILE *k) {
  char exe[4096], path[4200];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  struct stat st;
  bool ok = false;
  if (len > 0) {
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    const char *rel[] = { "libvlecc.so", "../lib/libvlecc.so" };
    for (int i = 0; i < 2 && !ok; i++) {
      snprintf(path, sizeof path, "%s/%s", exe, rel[i]);
      ok = stat(path, &st) == 0;
    }
  }
  if (!ok) ok = stat("/proc/self/exe", &st) == 0;
  fprintf(k, "compiler %lld %lld\n", ok ? (long long)st.st_size : 0LL,
          ok ? (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec : 0LL);
}

/* What the code depends on besides the sources: the format, vlec's version, the compiler
 * library, the CPU (the code is tuned for the host's) and the precision. */
static void mc_tool_id(FILE *k, const char *precision) {
  fprintf(k, "vle-cache %d\nvlec %s\n", MC_FORMAT, VLE_VERSION);
  mc_compiler_id(k);
  mc_cpuinfo(k, "model name");
  mc_cpuinfo(k, "flags");
  fprintf(k, "precision %s\n", precision);
}

/* KEY1's text: tool, absolute path and text of the main source (malloc). */
char *mc_key1_text(const char *abs, const char *text, size_t len, const char *precision) {
  char *s = NULL;
  size_t n = 0;
  FILE *k = open_memstream(&s, &n);
  if (!k) return NULL;
  mc_tool_id(k, precision);
  fprintf(k, "source %s %016llx\n", abs, (unsigned long long)mc_fnv(MC_FNV0, text, len));
  fclose(k);
  return s;
}

void mc_hex(char out[17], const char *text) {
  snprintf(out, 17, "%016llx", (unsigned long long)mc_fnv(MC_FNV0, text, strlen(text)));
}

/* KEY2 = KEY1's text + "use PATH HASH" per used file. */
uint64_t mc_key2_add(uint64_t h, const char *path, const char *text, size_t len) {
  char line[PATH_MAX + 64];
  int n = snprintf(line, sizeof line, "use %s %016llx\n", path,
                   (unsigned long long)mc_fnv(MC_FNV0, text, len));
  return mc_fnv(h, line, (size_t)n);
}

char *mc_entry(const char *dir, const char *key, const char *ext) {
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

/* KEY1's text of the source at path as it is now (malloc), and its hex into k1; NULL when
 * the source cannot be read. */
static char *mc_key1_now(const char *path, const char *precision, char k1[17]) {
  char *abs = realpath(path, NULL);
  size_t len;
  char *text = abs ? mc_slurp(abs, &len) : NULL;
  char *k1text = text ? mc_key1_text(abs, text, len, precision) : NULL;
  if (k1text) mc_hex(k1, k1text);
  free(abs);
  free(text);
  return k1text;
}

char *mc_deps(const char *dir, const char *path, const char *precision) {
  char k1[17], *list = NULL, *k1text = mc_key1_now(path, precision, k1);
  char *deps = k1text ? mc_entry(dir, k1, ".deps") : NULL;
  size_t len;
  list = deps ? mc_slurp(deps, &len) : NULL;
  char *z = list ? realloc(list, len + 1) : NULL;   /* a string */
  if (z) z[len] = 0, list = z;
  else free(list), list = NULL;
  free(deps);
  free(k1text);
  return list;
}

char *mc_lookup(const char *dir, const char *path, const char *precision) {
  char k1[17], k2[17], *so = NULL, *k1text = mc_key1_now(path, precision, k1);
  if (k1text) {
    uint64_t h = mc_key2_now(dir, k1, k1text);
    snprintf(k2, sizeof k2, "%016llx", (unsigned long long)h);
    so = h ? mc_entry(dir, k2, ".so") : NULL;
    if (so && access(so, R_OK) != 0) {
      free(so);
      so = NULL;
    }
  }
  free(k1text);
  return so;
}
