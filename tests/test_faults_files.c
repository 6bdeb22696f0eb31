/*
 * test_faults_files.c - what vle does to the files it is pointed at (issue 15, defects 3, 4):
 * an output path that names a device node, a FIFO or a directory is never replaced by a
 * regular file (written through, or refused); a symlink to a regular file keeps being a
 * link. Device nodes are made with mknod in the suite's temporary directory, never the
 * machine's own /dev/null (skipped when not root).
 */
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "run_util.h"

TestSuite(files, .init = ru_setup, .fini = ru_teardown);

static char out[8192];

/* A character device like /dev/null (1, 3) at rel, or false when mknod is not permitted. */
static bool make_null_node(const char *rel) {
  return mknod(ru_at(rel), S_IFCHR | 0666, makedev(1, 3)) == 0;
}

static mode_t kind_of(const char *rel) {
  struct stat st;
  cr_assert_eq(lstat(ru_at(rel), &st), 0, "%s vanished", rel);
  return st.st_mode & S_IFMT;
}

static vle_sim *a_sim(ld_model *m) {
  ru_open(m, ru_src("tests/data/faults.vle"));
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_error err;
  vle_sim *s = vle_sim_new(m->model, &o, &err);
  cr_assert(s, "%s", err.msg);
  return s;
}

Test(files, save_state_writes_through_a_device_node) {
  if (!make_null_node("null")) cr_skip_test("mknod not permitted here (not root)");
  ld_model m;
  vle_sim *s = a_sim(&m);
  vle_error err;
  cr_assert_eq(vle_sim_save(s, ru_at("null"), &err), 0, "%s", err.msg);
  cr_assert_eq(kind_of("null"), S_IFCHR, "the device node was replaced");
  vle_sim_free(s);
  ld_close(&m);
}

Test(files, npy_writes_through_a_device_node) {
  if (!make_null_node("null")) cr_skip_test("mknod not permitted here (not root)");
  double v[2] = { 1, 2 };
  int64_t shape[1] = { 2 };
  vle_error err;
  cr_assert_eq(npy_write(ru_at("null"), NPY_F8, 1, shape, v, &err), 0, "%s", err.msg);
  cr_assert_eq(kind_of("null"), S_IFCHR, "the device node was replaced");
}

Test(files, fifo_without_reader_is_refused_not_replaced) {
  cr_assert_eq(mkfifo(ru_at("fifo"), 0600), 0);
  ld_model m;
  vle_sim *s = a_sim(&m);
  vle_error err;
  cr_assert_eq(vle_sim_save(s, ru_at("fifo"), &err), -1);
  cr_assert(strstr(err.msg, "a FIFO with no reader"), "%s", err.msg);
  cr_assert_eq(kind_of("fifo"), S_IFIFO, "the FIFO was replaced");
  vle_sim_free(s);
  ld_close(&m);
}

Test(files, directory_is_refused) {
  cr_assert_eq(mkdir(ru_at("dir"), 0700), 0);
  double v[2] = { 1, 2 };
  int64_t shape[1] = { 2 };
  vle_error err;
  cr_assert_eq(npy_write(ru_at("dir"), NPY_F8, 1, shape, v, &err), -1);
  cr_assert(strstr(err.msg, "is a directory"), "%s", err.msg);
  cr_assert_eq(kind_of("dir"), S_IFDIR);
}

Test(files, symlink_to_a_file_stays_a_link) {
  double v[2] = { 1, 2 };
  int64_t shape[1] = { 2 };
  vle_error err;
  cr_assert_eq(npy_write(ru_at("real.npy"), NPY_F8, 1, shape, v, &err), 0, "%s", err.msg);
  cr_assert_eq(symlink(ru_at("real.npy"), ru_at("link.npy")), 0);
  double w[2] = { 3, 4 };
  cr_assert_eq(npy_write(ru_at("link.npy"), NPY_F8, 1, shape, w, &err), 0, "%s", err.msg);
  cr_assert_eq(kind_of("link.npy"), S_IFLNK, "the link was replaced by a file");
  npy_array a = ru_npy("real.npy");
  cr_assert_eq(ru_data(&a)[0], 3, "written to the link's target");
  npy_free(&a);
}

/* `vlec build -o NODE` refuses: a shared library is not something to pour into a device. */
Test(files, build_refuses_a_device_node) {
  if (!make_null_node("null.so")) cr_skip_test("mknod not permitted here (not root)");
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' build '%s' -o '%s' 2>&1", VLEC_PATH,
           ru_src("tests/data/faults.vle"), ru_at("null.so"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "not a regular file"), "%s", out);
  cr_assert_eq(kind_of("null.so"), S_IFCHR, "the device node was replaced");
  cr_assert_eq(access(ru_at("null.h"), F_OK), -1, "no header either");
}

/* ---- defect 4: no path is cut at a fixed buffer ------------------------------------------ */

/* A directory path under the suite's directory, `len` bytes or more, in 200-byte components. */
static const char *long_dir(size_t len) {
  static char p[2048];
  snprintf(p, sizeof p, "%s", ru_dir);
  while (strlen(p) < len) {
    size_t n = strlen(p);
    p[n] = '/';
    memset(p + n + 1, 'd', 200);
    p[n + 201] = 0;
  }
  return p;
}

/* --out longer than 511 bytes: the run writes there (before: into a truncated path, exit 0). */
Test(files, long_out_directory) {
  const char *dir = long_dir(700);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --steps 3 --record h --out '%s' -q 2>&1", VLEC_PATH,
           ru_src("tests/data/faults.vle"), dir);
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  char path[2200];
  snprintf(path, sizeof path, "%s/run.json", dir);
  cr_assert_eq(access(path, F_OK), 0, "run.json is not in the --out directory");
  snprintf(path, sizeof path, "%s/h.npy", dir);
  cr_assert_eq(access(path, F_OK), 0, "h.npy is not in the --out directory");
}

/* A TMPDIR longer than 40 bytes: vlec build uses it (before: cut at 40 bytes). */
Test(files, long_tmpdir_for_build) {
  const char *dir = long_dir(300);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  cr_assert_eq(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "TMPDIR='%s' '%s' build '%s' -o '%s' 2>&1", dir, VLEC_PATH,
           ru_src("tests/data/faults.vle"), ru_at("m.so"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  cr_assert_eq(access(ru_at("m.so"), F_OK), 0);
}

/* An -o longer than any path the system takes is refused as such, not cut. */
Test(files, overlong_build_output_refused) {
  static char so[5000], cmd[6000];
  snprintf(so, sizeof so, "%s/", ru_dir);
  size_t n = strlen(so);
  memset(so + n, 'x', 4200);
  strcpy(so + n + 4200, ".so");
  snprintf(cmd, sizeof cmd, "'%s' build '%s' -o '%s' 2>&1", VLEC_PATH,
           ru_src("tests/data/faults.vle"), so);
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "path too long"), "%s", out);
}

/* A .npy header string longer than the reader's buffer is an error at its byte, not cut. */
Test(files, long_npy_header_string) {
  char hdr[118];
  int n = snprintf(hdr, sizeof hdr, "{'descr': '<f8%040d', 'fortran_order': False, 'shape': (1,), }", 0);
  memset(hdr + n, ' ', sizeof hdr - (size_t)n - 1);
  hdr[sizeof hdr - 1] = '\n';
  FILE *f = fopen(ru_at("long.npy"), "wb");
  unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, sizeof hdr, 0 };
  double v = 1;
  fwrite(pre, 1, 10, f);
  fwrite(hdr, 1, sizeof hdr, f);
  fwrite(&v, 8, 1, f);
  fclose(f);
  npy_array a;
  vle_error err;
  cr_assert_eq(npy_read(ru_at("long.npy"), &a, &err), -1);
  cr_assert(strstr(err.msg, "bad .npy header at byte 52: expected a shorter string"), "%s", err.msg);
}
