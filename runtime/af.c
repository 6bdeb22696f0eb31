/* af.c - atomic file writing; see af.h. */
/* O_TMPFILE (Linux) is a GNU extension of <fcntl.h>; everything else here is POSIX. */
#define _GNU_SOURCE
#include "af.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vle_err.h"

const char *af_kind(mode_t mode) {
  switch (mode & S_IFMT) {
  case S_IFREG: return "a regular file";
  case S_IFDIR: return "a directory";
  case S_IFCHR: return "a character device";
  case S_IFBLK: return "a block device";
  case S_IFIFO: return "a FIFO";
  case S_IFSOCK: return "a socket";
  case S_IFLNK: return "a symbolic link";
  }
  return "a file of unknown type";
}

/* Writes straight into an existing character device or FIFO: replacing it by a regular file
 * would break the system (a /dev/null that is a file). O_NONBLOCK so that a FIFO with no
 * reader is an error, not a hang; cleared again once open. */

/* The stdio stream of an opened output descriptor; on failure the file is dropped. */
static int af_stream(af_file *f, int fd, const char *path, vle_error *err) {
  f->fp = fdopen(fd, "wb");
  if (f->fp) return 0;
  int e = errno;
  close(fd);
  af_abort(f);
  return vle_fail(err, "%s: cannot open: %s", path, strerror(e));
}
static int af_open_through(af_file *f, const char *path, vle_error *err) {
  int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    free(f->path);
    f->path = NULL;
    if (e == ENXIO) return vle_fail(err, "%s: a FIFO with no reader: refusing to wait for one", path);
    return vle_fail(err, "%s: cannot open: %s", path, strerror(e));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return af_stream(f, fd, path, err);
}

/* The name to rename onto: path, or what a symbolic link at path resolves to (so the link
 * stays a link). NULL with err set when path names something that must not be replaced. */
static char *af_target(const char *path, bool *through, vle_error *err) {
  struct stat st, lst;
  *through = false;
  if (stat(path, &st) != 0) return strdup(path);     /* new, or a dangling link: replaced */
  if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
    *through = true;
    return strdup(path);
  }
  if (!S_ISREG(st.st_mode)) {
    vle_fail(err, "%s: is %s, not a regular file: refusing to replace it", path,
             af_kind(st.st_mode));
    return NULL;
  }
  if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) return realpath(path, NULL);
  return strdup(path);
}

/* An unnamed file in the target's directory (Linux O_TMPFILE): until af_commit gives it a
 * name nothing of it is visible, so a SIGKILL or a crash leaves no temporary file behind.
 * -1 where the file system cannot (then a named temporary file, removed on any failure we
 * live through). */
static int af_open_unnamed(const char *path) {
#ifdef O_TMPFILE
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
  if (!dir) return -1;
  int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
  free(dir);
  return fd;
#else
  (void)path;
  return -1;
#endif
}

/* Gives the unnamed file f its final name: linked under a fresh temporary name, renamed
 * over the target (a link cannot replace a file). */
static int af_link_unnamed(af_file *f) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fileno(f->fp));
  size_t n = strlen(f->path) + 48;
  char *tmp = malloc(n);
  if (!tmp) return ENOMEM;
  int e = 0;
  for (unsigned k = 0;; k++) {
    snprintf(tmp, n, "%s.tmp.%ld.%u", f->path, (long)getpid(), k);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) break;
    if (errno != EEXIST || k == 1000) { e = errno; break; }
  }
  if (!e && rename(tmp, f->path) != 0) {
    e = errno;
    unlink(tmp);
  }
  free(tmp);
  return e;
}

/* The process's umask, read without changing it (/proc/self/status, Linux >= 4.7): the
 * umask(2) set-and-restore dance would race with any other thread creating files. */
static mode_t af_umask(void) {
  FILE *fp = fopen("/proc/self/status", "r");
  char line[128];
  unsigned mask = 0;
  bool found = false;
  while (fp && !found && fgets(line, sizeof line, fp))
    found = sscanf(line, "Umask: %o", &mask) == 1;
  if (fp) fclose(fp);
  if (found) return (mode_t)mask;
  mode_t old = umask(022);         /* no /proc: the classic way */
  umask(old);
  return old;
}

/* mkstemp's file is 0600 whatever the umask; the final file must be 0666 & ~umask like
 * any program's output (O_TMPFILE's open already applies the umask to 0666). */
static int af_open_named(af_file *f, const char *path, vle_error *err) {
  size_t n = strlen(f->path);
  f->tmp = malloc(n + 16);
  if (!f->tmp) {
    af_abort(f);
    return vle_fail(err, "%s: out of memory", path);
  }
  /* a dot-prefixed name would be nicer but needs splitting the directory; a suffix is
   * enough: nothing reads *.tmp.XXXXXX */
  snprintf(f->tmp, n + 16, "%s.tmp.XXXXXX", f->path);
  int fd = mkstemp(f->tmp);
  if (fd < 0) {
    int e = errno;
    free(f->tmp);
    f->tmp = NULL;
    af_abort(f);
    return vle_fail(err, "%s: cannot create: %s", path, strerror(e));
  }
  if (fchmod(fd, 0666 & ~af_umask()) != 0) {
    int e = errno;
    close(fd);
    af_abort(f);
    return vle_fail(err, "%s: cannot set the mode: %s", path, strerror(e));
  }
  return af_stream(f, fd, path, err);
}

int af_open_opt(af_file *f, const char *path, bool unnamed_ok, vle_error *err) {
  memset(f, 0, sizeof *f);
  bool through;
  vle_error kind = { { 0 } };
  f->path = af_target(path, &through, &kind);
  if (!f->path) return kind.msg[0] ? (*err = kind, -1) : vle_fail(err, "%s: out of memory", path);
  if (through) return af_open_through(f, path, err);
  int ufd = unnamed_ok ? af_open_unnamed(f->path) : -1;
  if (ufd >= 0) {
    f->unnamed = true;
    if ((f->fp = fdopen(ufd, "wb"))) return 0;
    close(ufd);
    af_abort(f);
    return vle_fail(err, "%s: cannot open: %s", path, strerror(errno));
  }
  return af_open_named(f, path, err);
}

int af_open(af_file *f, const char *path, vle_error *err) {
  return af_open_opt(f, path, true, err);
}

int af_commit(af_file *f, vle_error *err) {
  int bad = ferror(f->fp);
  int e = errno;
  if (fflush(f->fp) != 0 && !bad) { bad = 1; e = errno; }
  if (!bad && f->unnamed && (e = af_link_unnamed(f)) != 0) bad = 1;
  if (fclose(f->fp) != 0 && !bad) { bad = 1; e = errno; }
  f->fp = NULL;
  if (!bad && f->tmp && rename(f->tmp, f->path) != 0) { bad = 1; e = errno; }
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

int af_recover(af_file *f) {
  return af_reopen(&f->fp);
}

int af_reopen(FILE **fp) {
  int fd = dup(fileno(*fp));
  fclose(*fp);                     /* its flush may fail again: what did not fit is lost */
  *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;   /* "w": fdopen never truncates */
  if (*fp) return 0;
  if (fd >= 0) close(fd);
  return -1;
}

void af_abort(af_file *f) {
  if (f->fp) fclose(f->fp);
  if (f->tmp) unlink(f->tmp);
  free(f->tmp);
  free(f->path);
  memset(f, 0, sizeof *f);
}
