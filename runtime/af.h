/*
 * af.h - atomic file writing: write to a temporary file beside the target, then rename.
 *
 * Why: every output of the runtime (npy, state files, run.json) must be complete or absent;
 * a crash, a full disk or a Ctrl-C in the middle must never leave a half-written file under
 * the final name. rename(2) within one directory is atomic on POSIX file systems. Where the
 * file system has O_TMPFILE (Linux: ext4, xfs, btrfs, tmpfs) the temporary file has no name
 * until the commit, so even a SIGKILL leaves nothing behind; elsewhere it is NAME.tmp.XXXXXX,
 * removed on every failure the process lives through.
 *
 * Only regular files are ever replaced: an existing character device or FIFO is written
 * through (a FIFO needs a reader, else an error rather than a hang), a symbolic link to a
 * regular file is followed (the link stays), anything else (a directory, a block device, a
 * socket) is refused.
 */
#ifndef VLE_AF_H
#define VLE_AF_H

#include <stdio.h>
#include <sys/types.h>
#include "vle.h"

typedef struct af_file {
  FILE *fp;          /* write here */
  char *path;        /* final name */
  char *tmp;         /* temporary name (same directory); NULL: written through, or unnamed */
  bool unnamed;      /* an O_TMPFILE file: named only by af_commit */
} af_file;

/* "a directory", "a character device", ... for messages (st_mode's type bits). */
const char *af_kind(mode_t mode);
/* Opens a temporary file for `path`. Returns 0, or -1 with err set. The final file's mode
 * is 0666 & ~umask, like any program's output. */
int  af_open(af_file *f, const char *path, vle_error *err);
/* The same; unnamed_ok false skips O_TMPFILE (the named-temporary path every file system
 * has: tests reach it through this). */
int  af_open_opt(af_file *f, const char *path, bool unnamed_ok, vle_error *err);
/* Flushes, closes and renames onto the final name. Returns 0, or -1 (temp removed). */
int  af_commit(af_file *f, vle_error *err);
/* After a write error (a full disk): drops what the stream still buffers and gives f a
 * fresh stream on the same file, error flag clear, so that the caller can cut the file to
 * what was really written and commit that. 0, or -1 (then only af_abort is left). */
int  af_recover(af_file *f);
/* The same for any stream (a spill file): *fp replaced by a fresh stream on its file. */
int  af_reopen(FILE **fp);
/* Closes and removes the temporary file (nothing appears under the final name). */
void af_abort(af_file *f);

#endif
