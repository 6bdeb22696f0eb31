/*
 * test_faults_csv.c - malformed CSV data (issue 15, defects 6, 9): a header is a first line
 * whose every field is a name, so a typo in the first data row is an error, not a header
 * that shifts every row by one step; a NUL byte is an error, not a blank line; a line longer
 * than the reader's bound is an error (no unbounded memory). Every error names
 * the file, line and column.
 */
#include "csv.h"
#include "run_util.h"

TestSuite(csv, .init = ru_setup, .fini = ru_teardown);

static const char *file(const char *text, size_t len) {
  const char *p = ru_at("d.csv");
  FILE *f = fopen(p, "wb");
  cr_assert(f);
  fwrite(text, 1, len, f);
  fclose(f);
  return p;
}

static void expect_error(const char *text, size_t len, const char *want) {
  double *v = NULL;
  int64_t rows = 0, cols = 0;
  vle_error err = { { 0 } };
  int rc = csv_read(file(text, len), &v, &rows, &cols, &err);
  free(v);
  cr_assert_eq(rc, -1, "accepted (%lld rows of %lld): %.*s", (long long)rows, (long long)cols,
               (int)len, text);
  cr_assert(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
}

static void expect_rows(const char *text, int64_t want_rows, const double *want) {
  double *v = NULL;
  int64_t rows = 0, cols = 0;
  vle_error err = { { 0 } };
  cr_assert_eq(csv_read(file(text, strlen(text)), &v, &rows, &cols, &err), 0, "%s", err.msg);
  cr_assert_eq(rows, want_rows);
  cr_assert_eq(cols, 2);
  for (int64_t i = 0; i < rows * cols; i++) cr_assert_eq(v[i], want[i], "value %lld", (long long)i);
  free(v);
}

Test(csv, header_of_names) {
  double want[] = { 1, 2, 3, 4 };
  expect_rows("x, y\n1,2\n3,4\n", 2, want);
  expect_rows("\"x0\",_x1\n1,2\n3,4\n", 2, want);
  expect_rows("# comment\n\nx,y\n1,2\n3,4\n", 2, want);
}

Test(csv, typo_in_first_row_is_not_a_header) {
  expect_error("1.0,2.O\n3,4\n5,6\n", 16, "d.csv:1: column 2 is not a number: '2.O'");
}

Test(csv, half_named_first_row_is_not_a_header) {
  expect_error("x,2\n3,4\n", 8, "d.csv:1: column 1 is not a number: 'x'");
}

Test(csv, later_bad_field) {
  expect_error("1,2\n3,four\n", 11, "d.csv:2: column 2 is not a number: 'four'");
  expect_error("1,2\n3,\n", 7, "d.csv:2: column 2 is not a number: ''");
}

Test(csv, nul_bytes) {
  expect_error("\0" "1,2\n3,4\n", 9, "d.csv:1: column 1: a NUL byte");
  expect_error("1,2\n3,4\0" "5\n", 10, "d.csv:2: column 2: a NUL byte");
}

Test(csv, overlong_line) {
  size_t n = (2u << 20) + 10;
  char *big = malloc(n);
  for (size_t i = 0; i < n; i++) big[i] = i % 2 ? ',' : '1';
  expect_error(big, n, "d.csv:1: a line longer than 1048576 bytes");
  free(big);
}
