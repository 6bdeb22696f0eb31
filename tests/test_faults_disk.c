/*
 * test_faults_disk.c - writes that fail mid-run (issue 15, defect 12): a recording keeps
 * every complete row, run.json is written with the error, the exit status is 1; a failing
 * --save-state leaves run.json too. The full disk is a file size limit (RLIMIT_FSIZE, no
 * privileges needed) on the child vlec.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sys/resource.h>

#include "faults_util.h"

TestSuite(disk, .init = ru_setup, .fini = ru_teardown);

static char out[8192];

/* vlec run ARGS... with every file limited to `limit` bytes; returns fu_status. */
static int run_limited(long limit, const char *const *args) {
  fflush(NULL);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    struct rlimit rl = { (rlim_t)limit, (rlim_t)limit };
    if (limit > 0) setrlimit(RLIMIT_FSIZE, &rl);
    signal(SIGXFSZ, SIG_IGN);            /* then a write past the limit fails with EFBIG */
    FILE *e = freopen(ru_at("stderr.txt"), "w", stderr);
    (void)e;
    char *argv[32];
    int n = 0;
    argv[n++] = "vlec";
    argv[n++] = "run";
    for (; *args && n < 31; args++) argv[n++] = (char *)*args;
    argv[n] = NULL;
    alarm(60);                           /* the hang guard */
    execv(VLEC_PATH, argv);
    _exit(127);
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  FILE *f = fopen(ru_at("stderr.txt"), "r");
  out[0] = 0;
  if (f) { out[fread(out, 1, sizeof out - 1, f)] = 0; fclose(f); }
  return fu_status(st);
}

static json_t *run_json(const char *dir) {
  char rel[64];
  snprintf(rel, sizeof rel, "%s/run.json", dir);
  json_error_t je;
  json_t *j = json_load_file(ru_at(rel), 0, &je);
  cr_assert(j, "no %s: %s", rel, je.text);
  return j;
}

/* Every file capped at 200000 bytes: h.npy (16 bytes a step behind a 128-byte header)
 * fills after 12492 steps. Those rows are kept, equal to an unlimited run's. */
Test(disk, file_size_limit_keeps_complete_rows, .timeout = 120) {
  const char *so = fu_so();
  const char *a[] = { so, "--steps", "100000", "--record", "h", "--out", ru_at("full"), "-q", NULL };
  int rc = run_limited(200000, a);
  cr_assert_eq(rc, 1, "status %d: %s", rc, out);
  cr_assert(strstr(out, "File too large"), "%s", out);
  json_t *j = run_json("full");
  const char *e = json_string_value(json_object_get(j, "error"));
  cr_assert(e && strstr(e, "h.npy: write failed"), "run.json error: %s", e ? e : "null");
  json_int_t steps = json_integer_value(json_object_get(j, "steps_run"));
  json_decref(j);
  npy_array h = ru_npy("full/h.npy");
  const int64_t rows = (200000 - 128) / 16;
  cr_assert_eq(h.shape[1], rows, "h.npy keeps the complete rows");
  cr_assert(steps >= rows, "run.json: %lld steps run, the file has %lld", (long long)steps, (long long)rows);
  const char *b[] = { so, "--steps", "12492", "--record", "h", "--out", ru_at("ref"), "-q", NULL };
  cr_assert_eq(run_limited(0, b), 0, "%s", out);
  npy_array ref = ru_npy("ref/h.npy");
  cr_assert_eq(ref.count, h.count);
  cr_assert_eq(memcmp(ref.data, h.data, h.count * 8), 0, "the kept rows are the run's rows");
  npy_free(&h);
  npy_free(&ref);
}

/* --save-state into a directory that does not exist: exit 1, run.json with the error, the
 * recordings complete. */
Test(disk, failing_save_state_still_writes_run_json) {
  const char *a[] = { fu_so(), "--steps", "50", "--record", "h", "--save-state",
                      ru_at("missing/dir/s.bin"), "--out", ru_at("o"), "-q", NULL };
  int rc = run_limited(0, a);
  cr_assert_eq(rc, 1, "status %d: %s", rc, out);
  json_t *j = run_json("o");
  const char *e = json_string_value(json_object_get(j, "error"));
  cr_assert(e && strstr(e, "s.bin"), "run.json error: %s", e ? e : "null");
  json_decref(j);
  npy_array h = ru_npy("o/h.npy");
  cr_assert_eq(h.shape[1], 50);
  npy_free(&h);
}

/* ---- a real full file system: a 256 KiB tmpfs (root only; skipped elsewhere) ------------ */

#include <sys/mount.h>
#include <sys/stat.h>

static void unmount_and_teardown(void) {
  umount2(ru_at("small"), MNT_DETACH);
  ru_teardown();
}

TestSuite(fulldisk, .init = ru_setup, .fini = unmount_and_teardown);

/* A run whose recordings need more than the disk has is refused before its first step:
 * nothing is written (a disk that fills during the run keeps the complete rows:
 * disk::file_size_limit_keeps_complete_rows). h.npy needs 100000 x 2 x 8 bytes, the tmpfs
 * has 256 KiB. */
Test(fulldisk, recording_larger_than_the_disk_is_refused, .timeout = 120) {
  cr_assert_eq(mkdir(ru_at("small"), 0700), 0);
  if (mount("tmpfs", ru_at("small"), "tmpfs", 0, "size=256k") != 0)
    cr_skip_test("cannot mount a small tmpfs here (%s): the full-disk case is skipped",
                 strerror(errno));
  const char *so = fu_so();
  const char *a[] = { so, "--steps", "100000", "--record", "h", "--out", ru_at("small/run"),
                      "-q", NULL };
  int rc = run_limited(0, a);
  cr_assert_eq(rc, 1, "status %d: %s", rc, out);
  cr_assert(strstr(out, "the recordings of this run need"), "%s", out);
  cr_assert(access(ru_at("small/run"), F_OK) != 0, "a refused run leaves no directory");
  /* the same run thinned to fit goes ahead */
  const char *b[] = { so, "--steps", "100000", "--record", "h", "--record-every", "100",
                      "--out", ru_at("small/run"), "-q", NULL };
  cr_assert_eq(run_limited(0, b), 0, "%s", out);
  npy_array h = ru_npy("small/run/h.npy");
  cr_assert_eq(h.shape[1], 1000);
  npy_free(&h);
}
