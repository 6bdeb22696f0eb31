/*
 * test_runtime_npy.c - .npy reading and writing (every dtype, versions 1-3, the error
 * cases) and numeric CSV.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "npy.h"

static vle_error err;
static char path[64];

static const char *tmp(const char *ext) {
  snprintf(path, sizeof path, "/tmp/vle_npy_%d%s", (int)getpid(), ext);
  return path;
}

static void write_raw(const char *p, const void *data, size_t n) {
  FILE *fp = fopen(p, "wb");
  fwrite(data, 1, n, fp);
  fclose(fp);
}

static size_t read_raw(const char *p, unsigned char *buf, size_t cap) {
  FILE *fp = fopen(p, "rb");
  size_t n = fread(buf, 1, cap, fp);
  fclose(fp);
  return n;
}

/* Writes a .npy with an explicit header (version 1, 2 or 3) and payload. */
static void write_npy(const char *p, int version, const char *dict, const void *data, size_t n) {
  unsigned char buf[4096];
  size_t pre = version == 1 ? 10 : 12, dl = strlen(dict);
  size_t total = (pre + dl + 1 + 63) / 64 * 64, hl = total - pre;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)version;
  buf[7] = 0;
  if (version == 1) { buf[8] = hl & 0xff; buf[9] = (unsigned char)(hl >> 8); }
  else { buf[8] = hl & 0xff; buf[9] = (hl >> 8) & 0xff; buf[10] = (hl >> 16) & 0xff; buf[11] = 0; }
  memcpy(buf + pre, dict, dl);
  memset(buf + pre + dl, ' ', hl - dl - 1);
  buf[total - 1] = '\n';
  memcpy(buf + total, data, n);
  write_raw(p, buf, total + n);
}

static void expect_read_error(const char *want) {
  npy_array a;
  cr_assert_eq(npy_read(path, &a, &err), -1, "read succeeded");
  cr_assert(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
  cr_assert(strstr(err.msg, path), "'%s' does not name the file", err.msg);
}

Test(npy, round_trip_every_dtype) {
  unsigned char data[6 * 8];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 37 + 1);
  npy_dtype types[] = { NPY_F8, NPY_F4, NPY_I8, NPY_I4, NPY_I2, NPY_U1, NPY_BOOL };
  for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
    if (types[k] == NPY_BOOL) for (size_t i = 0; i < 6; i++) data[i] = i & 1;
    if (types[k] == NPY_F8) { double d[6] = { 1.5, -2, 0, 1e300, -1e-300, 3 }; memcpy(data, d, sizeof d); }
    if (types[k] == NPY_F4) { float f[6] = { 1.5f, -2, 0, 1e30f, -1e-30f, 3 }; memcpy(data, f, sizeof f); }
    int64_t shape[2] = { 2, 3 };
    cr_assert_eq(npy_write(tmp(".npy"), types[k], 2, shape, data, &err), 0, "%s", err.msg);
    npy_array a;
    cr_assert_eq(npy_read(path, &a, &err), 0, "%s: %s", npy_dtype_descr(types[k]), err.msg);
    cr_assert_eq(a.dtype, types[k]);
    cr_assert_eq(a.ndim, 2);
    cr_assert(a.shape[0] == 2 && a.shape[1] == 3 && a.count == 6);
    cr_assert_eq(memcmp(a.data, data, 6 * npy_dtype_size(types[k])), 0);
    npy_free(&a);
  }
  unlink(path);
}

Test(npy, header_is_aligned_and_numpy_like) {
  double d[3] = { 1, 2, 3 };
  int64_t shape[1] = { 3 };
  npy_write(tmp(".npy"), NPY_F8, 1, shape, d, &err);
  unsigned char buf[256];
  size_t n = read_raw(path, buf, sizeof buf);
  cr_assert_eq(n, 128 + 24);
  cr_assert_eq(memcmp(buf + 10, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 57), 0);
  cr_assert_eq(buf[127], '\n');
  int64_t s0[1];
  npy_write(path, NPY_F8, 0, s0, d, &err);          /* a scalar */
  npy_array a;
  cr_assert_eq(npy_read(path, &a, &err), 0, "%s", err.msg);
  cr_assert(a.ndim == 0 && a.count == 1 && npy_get(&a, 0) == 1);
  npy_free(&a);
  unlink(path);
}

Test(npy, versions_2_and_3) {
  double d[2] = { 4, 5 };
  for (int v = 1; v <= 3; v++) {
    write_npy(tmp(".npy"), v, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", d, 16);
    npy_array a;
    cr_assert_eq(npy_read(path, &a, &err), 0, "v%d: %s", v, err.msg);
    cr_assert(npy_get(&a, 1) == 5);
    npy_free(&a);
  }
  unlink(path);
}

Test(npy, errors) {
  double d[4] = { 0 };
  write_npy(tmp(".npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", d, 24);
  expect_read_error("truncated .npy file: expected 32 bytes of data from byte 128");
  write_npy(path, 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", d, 16);
  expect_read_error("big-endian");
  write_npy(path, 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }", d, 16);
  expect_read_error("Fortran-order");
  write_npy(path, 1, "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", d, 16);
  expect_read_error("unsupported dtype '<c16'");
  write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, x), }", d, 16);
  expect_read_error("bad .npy header at byte 64: expected a non-negative integer in the shape");
  write_npy(path, 1, "{'descr': '<f8', 'shape': (2,), }", d, 16);
  expect_read_error("missing 'fortran_order'");
  write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", d, 16);
  expect_read_error("data continues past byte 136");
  write_npy(path, 4, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", d, 8);
  expect_read_error("unsupported .npy version 4.0 at byte 6");
  write_raw(path, "NUMPY is not here", 17);
  expect_read_error("bad magic at byte 0");
  write_raw(path, "\x93NUMPY\x01\x00\x50\x00{'descr'", 17);
  expect_read_error("truncated .npy file: header ends at byte 17");
  write_raw(path, "\x93NU", 4);
  expect_read_error("truncated .npy file: 4 bytes");
  unlink(path);
  npy_array a;
  cr_assert_eq(npy_read("/nonexistent/a.npy", &a, &err), -1);
  cr_assert(strstr(err.msg, "/nonexistent/a.npy: cannot open"));
}

Test(npy, write_is_atomic) {
  double d[1] = { 1 };
  int64_t shape[1] = { 1 };
  cr_assert_eq(npy_write("/nonexistent/dir/x.npy", NPY_F8, 1, shape, d, &err), -1);
  cr_assert(strstr(err.msg, "/nonexistent/dir/x.npy: cannot create"), "%s", err.msg);
}

Test(csv, read) {
  const char *text = "# comment\nx0, x1\n1, 2.5\n\n-3,4e-1\n";
  write_raw(tmp(".csv"), text, strlen(text));
  double *v;
  int64_t r, c;
  cr_assert_eq(csv_read(path, &v, &r, &c, &err), 0, "%s", err.msg);
  cr_assert(r == 2 && c == 2);
  cr_assert(v[0] == 1 && v[1] == 2.5 && v[2] == -3 && v[3] == 0.4);
  free(v);
  const char *bad = "1,2\n3\n";
  write_raw(path, bad, strlen(bad));
  cr_assert_eq(csv_read(path, &v, &r, &c, &err), -1);
  cr_assert(strstr(err.msg, ":2: 1 values, expected 2"), "%s", err.msg);
  const char *nan = "1,2\n3,abc\n";
  write_raw(path, nan, strlen(nan));
  cr_assert_eq(csv_read(path, &v, &r, &c, &err), -1);
  cr_assert(strstr(err.msg, ":2: column 2 is not a number"), "%s", err.msg);
  write_raw(path, "", 0);
  cr_assert_eq(csv_read(path, &v, &r, &c, &err), -1);
  cr_assert(strstr(err.msg, "no numeric rows"), "%s", err.msg);
  unlink(path);
}
