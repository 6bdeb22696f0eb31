/*
 * run_dir.c - a run directory holds exactly one run (docs/runtime.md, "What vle promises about your files").
 *
 *   lock      DIR/.vle.lock, flock'ed for the whole run: a second run aimed at DIR fails
 *             at once instead of interleaving its files with the first one's;
 *   clean     an earlier vle run in DIR (a run.json written by vlec) loses all its files
 *             first (those its run.json lists, its params/ grad/ recordings/ folders,
 *             run.json, model.vle, t.npy, plot.svg) so that no old recording sits beside
 *             the new run.json; a run resuming from a state file inside DIR goes on in place;
 *   refuse    a non-empty DIR that holds no vle run is somebody else's: refused unless
 *             --force.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af.h"
#include "rf.h"
#include "run_int.h"
#include "vle_err.h"

#define RN_LOCK ".vle.lock"

char *rn_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static int rn_dir_lock(rn_run *r, vle_error *err) {
  char *path = rn_join(r->out, RN_LOCK);
  if (!path) return vle_fail(err, "out of memory");
  r->lock_made = access(path, F_OK) != 0;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  int e = errno;
  free(path);
  if (fd < 0) return vle_fail(err, "%s/%s: cannot create the lock file: %s", r->out, RN_LOCK, strerror(e));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    e = errno;
    close(fd);
    if (e == EWOULDBLOCK)
      return vle_fail(err, "%s: another vlec run is writing into this directory (it holds %s/%s); "
                      "wait for it to finish or choose another --out", r->out, r->out, RN_LOCK);
    return vle_fail(err, "%s/%s: cannot lock: %s", r->out, RN_LOCK, strerror(e));
  }
  r->lock_fd = fd;
  return 0;
}

void rn_dir_release(rn_run *r, bool remove_lock) {
  if (r->lock_fd < 0) return;
  if (remove_lock) {
    char *path = rn_join(r->out, RN_LOCK);
    if (path) unlink(path);
    free(path);
  }
  close(r->lock_fd);
  r->lock_fd = -1;
}

/* Whether DIR has entries besides the lock file. -1 with err set when it cannot be read. */
static int rn_dir_used(const char *dir, vle_error *err) {
  DIR *d = opendir(dir);
  if (!d) return vle_fail(err, "%s: cannot read the directory: %s", dir, strerror(errno));
  int used = 0;
  for (struct dirent *e; !used && (e = readdir(d));)
    used = strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, RN_LOCK);
  closedir(d);
  return used;
}

/* DIR/run.json as written by vlec (an object with its "command" and "runtime_version"), or
 * NULL: no run.json, or someone else's. */
static json_t *rn_dir_run_json(const char *dir) {
  char *path = rn_join(dir, "run.json");
  json_t *j = path ? json_load_file(path, 0, NULL) : NULL;
  free(path);
  if (j && json_is_object(j) && json_is_string(json_object_get(j, "command")) &&
      json_is_string(json_object_get(j, "runtime_version")))
    return j;
  json_decref(j);
  return NULL;
}

/* Whether --load-state names a file inside the run directory: the run resumes its own
 * checkpoint and goes on in place. */
static bool rn_dir_resumes(const rn_run *r) {
  if (!r->o->load_state) return false;
  char *state = realpath(r->o->load_state, NULL), *dir = realpath(r->out, NULL);
  size_t n = dir ? strlen(dir) : 0;
  bool inside = state && dir && !strncmp(state, dir, n) && state[n] == '/';
  free(state);
  free(dir);
  return inside;
}

/* Removes DIR/REL when it is a plain name inside DIR (no "..", not absolute) naming a file
 * or a link: run.json is data, never trusted to point elsewhere. */
static int rn_dir_unlink(const char *dir, const char *rel, vle_error *err) {
  if (!*rel || rel[0] == '/' || strstr(rel, "..")) return 0;
  char *path = rn_join(dir, rel);
  if (!path) return vle_fail(err, "out of memory");
  struct stat st;
  int rc = 0;
  if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode) && unlink(path) != 0)
    rc = vle_fail(err, "%s: cannot remove the earlier run's file: %s", path, strerror(errno));
  free(path);
  return rc;
}

/* Removes the files of the flat folder DIR/SUB, then SUB if that leaves it empty. */
static int rn_dir_clear_sub(const char *dir, const char *sub, vle_error *err) {
  char *path = rn_join(dir, sub);
  if (!path) return vle_fail(err, "out of memory");
  DIR *d = opendir(path);
  int rc = 0;
  for (struct dirent *e; d && !rc && (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) rc = rn_dir_unlink(path, e->d_name, err);
  if (d) closedir(d);
  if (d && !rc) rmdir(path);       /* a folder of its own inside stays, with SUB */
  free(path);
  return rc;
}

/* Every file of the earlier run described by j. */
static int rn_dir_clean(const char *dir, json_t *j, vle_error *err) {
  json_t *outs = json_object_get(j, "outputs"), *v;
  size_t i;
  json_array_foreach(outs, i, v)
    if (json_is_string(v) && rn_dir_unlink(dir, json_string_value(v), err)) return -1;
  static const char *subs[] = { "params", "grad", "recordings", "model_uses" };
  for (size_t k = 0; k < sizeof subs / sizeof *subs; k++)
    if (rn_dir_clear_sub(dir, subs[k], err)) return -1;
  static const char *files[] = { "t.npy", "model.vle", "plot.svg", "run.json" };
  for (size_t k = 0; k < sizeof files / sizeof *files; k++)
    if (rn_dir_unlink(dir, files[k], err)) return -1;
  return 0;
}

/* A run resumed in place owns the earlier run's files: remembered for its run.json, so that
 * the run after it removes them too. */
static int rn_dir_keep(rn_run *r, json_t *j, vle_error *err) {
  json_t *outs = json_object_get(j, "outputs"), *v;
  size_t i;
  json_array_foreach(outs, i, v) {
    if (!json_is_string(v)) continue;
    char **q = realloc(r->kept, (size_t)(r->nkept + 1) * sizeof *q);
    if (!q || !(q[r->nkept] = strdup(json_string_value(v)))) {
      if (q) r->kept = q;
      return vle_fail(err, "out of memory");
    }
    r->kept = q;
    r->nkept++;
  }
  return 0;
}

void rn_dir_free(rn_run *r) {
  for (int i = 0; i < r->nkept; i++) free(r->kept[i]);
  free(r->kept);
  r->kept = NULL;
  r->nkept = 0;
}

int rn_dir_prepare(rn_run *r, vle_error *err) {
  if (rn_dir_lock(r, err)) return -1;
  int used = rn_dir_used(r->out, err);
  if (used <= 0) return used;
  json_t *j = rn_dir_run_json(r->out);
  if (!j) {
    /* a training killed hard (no run.json yet) resumes from its checkpoint in place */
    if (r->o->force || rn_dir_resumes(r)) return 0;
    rn_dir_release(r, r->lock_made);   /* a refused directory keeps no lock file of ours */
    return vle_fail(err, "%s: not empty and not a vle run directory (no run.json written by "
                    "vlec): refusing to mix a run into it; choose a new or empty --out, or "
                    "pass --force", r->out);
  }
  int rc = rn_dir_resumes(r) ? rn_dir_keep(r, j, err) : rn_dir_clean(r->out, j, err);
  json_decref(j);
  return rc;
}

/* The model's source beside its outputs: a run directory says what ran even after the .vle
 * it came from was edited (run.json's hash tells the two apart). */
/* Copies the file src to DIR/rel (atomic). */
static int rn_dir_copy(rn_run *r, const char *src, const char *rel, vle_error *err) {
  FILE *in = rf_open(src, err);
  if (!in) return -1;
  char *path = rn_join(r->out, rel);
  af_file f;
  int rc = path ? af_open(&f, path, err) : vle_fail(err, "out of memory");
  free(path);
  char buf[1 << 14];
  size_t n;
  while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, f.fp);
  if (!rc && ferror(in)) {
    af_abort(&f);
    rc = vle_fail(err, "%s: read failed", src);
  } else if (!rc) {
    rc = af_commit(&f, err);
  }
  fclose(in);
  return rc;
}

/* model_uses/NAME for the i-th used file: its base name, with -2, -3... when two used
 * files share one (malloc). */
static char *rn_dir_use_name(const rn_run *r, int i) {
  const char *const *u = r->o->model_uses;
  const char *base = strrchr(u[i], '/') ? strrchr(u[i], '/') + 1 : u[i];
  int same = 0;
  for (int k = 0; k < i; k++) {
    const char *b = strrchr(u[k], '/') ? strrchr(u[k], '/') + 1 : u[k];
    same += !strcmp(b, base);
  }
  size_t n = strlen(base) + 32;
  char *rel = malloc(n);
  if (rel && same) snprintf(rel, n, "model_uses/%d-%s", same + 1, base);
  else if (rel) snprintf(rel, n, "model_uses/%s", base);
  return rel;
}

int rn_dir_copy_model(rn_run *r, vle_error *err) {
  if (!r->o->model_source) return 0;
  if (rn_dir_copy(r, r->o->model_source, "model.vle", err)) return -1;
  r->model_copied = true;
  if (r->o->nmodel_uses) {
    char *dir = rn_join(r->out, "model_uses");
    if (!dir) return vle_fail(err, "out of memory");
    int rc = mkdir(dir, 0777) != 0 && errno != EEXIST
             ? vle_fail(err, "%s: cannot create: %s", dir, strerror(errno)) : 0;
    free(dir);
    if (rc) return -1;
  }
  for (int i = 0; i < r->o->nmodel_uses; i++) {
    char *rel = rn_dir_use_name(r, i);
    int rc = rel ? rn_dir_copy(r, r->o->model_uses[i], rel, err) : vle_fail(err, "out of memory");
    if (!rc) rn_output_file(r, rel);
    free(rel);
    if (rc) return -1;
  }
  return 0;
}
