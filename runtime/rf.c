/* rf.c - opening input files by type; see rf.h. */
#include "rf.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af.h"       /* af_kind */
#include "vle_err.h"

static int rf_regular(const char *path, const struct stat *st, vle_error *err) {
  if (S_ISREG(st->st_mode)) return 0;
  return vle_fail(err, "%s: is %s, not a regular file", path, af_kind(st->st_mode));
}

int rf_check(const char *path, vle_error *err) {
  struct stat st;
  if (stat(path, &st) != 0) return vle_fail(err, "%s: cannot open: %s", path, strerror(errno));
  return rf_regular(path, &st, err);
}

FILE *rf_open(const char *path, vle_error *err) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    vle_fail(err, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    vle_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  if (rf_regular(path, &st, err)) {
    close(fd);
    return NULL;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  FILE *fp = fdopen(fd, "rb");
  if (!fp) {
    vle_fail(err, "%s: cannot open: %s", path, strerror(errno));
    close(fd);
  }
  return fp;
}
