/* stdpath.c - see stdpath.h. */
#include "stdpath.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sp_is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* EXE/REL into buf when that is a directory. */
static int sp_near_exe(char *buf, size_t n, const char *rel) {
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return 0;
  exe[len] = 0;
  char *slash = strrchr(exe, '/');
  if (!slash) return 0;
  *slash = 0;
  int w = snprintf(buf, n, "%s/%s", exe, rel);
  return w > 0 && (size_t)w < n && sp_is_dir(buf);
}

const char *sp_stdlib_dir(char *buf, size_t n) {
  const char *env = getenv("VLE_STDLIB_DIR");
  if (env && *env) snprintf(buf, n, "%s", env);
  else if (!sp_near_exe(buf, n, "../share/vle/stdlib") && !sp_near_exe(buf, n, "../stdlib"))
    snprintf(buf, n, "%s", VLE_STDLIB_DIR);
  return buf;
}
