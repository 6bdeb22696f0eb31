/*
 * faults_util.h - helpers of the fault-injection suites (tests/test_faults_*.c, prefix fu_):
 * one built model shared by every case and every suite (tests/data/faults.vle compiled once
 * into the build directory, rebuilt when vlec is newer), and `vlec` run as a child under a
 * hang guard, with its exit status decoded (a signal death is not an exit code).
 * Include after run_util.h.
 */
#ifndef VLE_FAULTS_UTIL_H
#define VLE_FAULTS_UTIL_H

#include <sys/stat.h>

#include "run_util.h"

/* How a child ended: its exit code, or 1000 + the signal that killed it. `timeout` exits
 * 124 on a hang (the guard: 60 s, far beyond any case's second). */
static inline int fu_status(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return WIFSIGNALED(st) ? 1000 + WTERMSIG(st) : -1;
}

/* `sh -c cmd` with stdout and stderr into out; returns fu_status of the shell, which
 * reports a child killed by signal N as exit 128 + N. */
static inline int fu_sh(const char *cmd, char *out, size_t cap) {
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  return fu_status(pclose(p));
}

static inline time_t fu_mtime(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_mtime : 0;
}

/* tests/data/faults.vle built into VLE_BUILD_DIR/faults-cache/faults.so, once for all
 * cases and suites (rebuilt when vlec, libvlert or the model is newer): built into a
 * temporary name and renamed, so two test processes may race. */
static inline const char *fu_so(void) {
  static char so[512], rt[512];
  snprintf(so, sizeof so, "%s/faults-cache/faults.so", VLE_BUILD_DIR);
  snprintf(rt, sizeof rt, "%s/libvlert.so", VLE_BUILD_DIR);
  time_t t = fu_mtime(so);
  if (t && t >= fu_mtime(VLEC_PATH) && t >= fu_mtime(rt) &&
      t >= fu_mtime(ru_src("tests/data/faults.vle")))
    return so;
  char cmd[4096], out[4096];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/faults-cache' && '%s' build '%s' -o '%s.%d.so' 2>&1 && "
           "mv -f '%s.%d.so' '%s' && rm -f '%s.%d.h'", VLE_BUILD_DIR, VLEC_PATH,
           ru_src("tests/data/faults.vle"), so, (int)getpid(), so, (int)getpid(), so, so,
           (int)getpid());
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "building the shared model: %s", out);
  return so;
}

/* Reads a whole file (malloc); its length into *n. */
static inline unsigned char *fu_slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot read %s", path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  rewind(f);
  unsigned char *p = malloc(*n + 1);
  cr_assert_eq(fread(p, 1, *n, f), *n);
  p[*n] = 0;
  fclose(f);
  return p;
}

/* Runs fn(arg) in a forked child (a crash there is its own); returns fu_status of it. */
static inline int fu_fork(int (*fn)(const void *), const void *arg) {
  fflush(NULL);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) _exit(fn(arg));
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  return fu_status(st);
}

static inline void fu_spit(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert(f, "cannot write %s", path);
  cr_assert_eq(fwrite(p, 1, n, f), n);
  cr_assert_eq(fclose(f), 0);
}

#endif
