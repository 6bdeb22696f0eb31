/* af.c - atomic file writing; see af.h. */
#include "af.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vle_err.h"

int af_open(af_file *f, const char *path, vle_error *err) {
  memset(f, 0, sizeof *f);
  size_t n = strlen(path);
  f->path = strdup(path);
  f->tmp = malloc(n + 16);
  if (!f->path || !f->tmp) {
    af_abort(f);
    return vle_fail(err, "%s: out of memory", path);
  }
  /* a dot-prefixed name would be nicer but needs splitting the directory; a suffix is
   * enough: nothing reads *.tmp.XXXXXX */
  snprintf(f->tmp, n + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(f->tmp);
  if (fd < 0) {
    int e = errno;
    free(f->tmp);
    f->tmp = NULL;
    af_abort(f);
    return vle_fail(err, "%s: cannot create: %s", path, strerror(e));
  }
  f->fp = fdopen(fd, "wb");
  if (!f->fp) {
    close(fd);
    af_abort(f);
    return vle_fail(err, "%s: cannot open: %s", path, strerror(errno));
  }
  return 0;
}

int af_commit(af_file *f, vle_error *err) {
  int bad = ferror(f->fp);
  int e = errno;
  if (fclose(f->fp) != 0 && !bad) { bad = 1; e = errno; }
  f->fp = NULL;
  if (!bad && rename(f->tmp, f->path) != 0) { bad = 1; e = errno; }
  if (bad) {
    vle_fail(err, "%s: write failed: %s", f->path, strerror(e));
    af_abort(f);
    return -1;
  }
  free(f->tmp);
  free(f->path);
  f->tmp = f->path = NULL;
  return 0;
}

void af_abort(af_file *f) {
  if (f->fp) fclose(f->fp);
  if (f->tmp) unlink(f->tmp);
  free(f->tmp);
  free(f->path);
  memset(f, 0, sizeof *f);
}
