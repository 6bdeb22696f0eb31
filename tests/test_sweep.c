/*
 * test_sweep.c - `vlec sweep` (issue 19): every combination of the grid runs into its own
 * directory, each exactly the `vlec run` it stands for (bit for bit), the summary holds
 * each run's figures from its run.json, a second sweep skips what is complete and reruns
 * what is not, and usage errors say what is wrong.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy.h"

static char dir[64];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/vle_sweep_XXXXXX");
  cr_assert(mkdtemp(dir));
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) {}
}

TestSuite(sweep, .init = setup, .fini = teardown, .timeout = 120);

static int sh(const char *fmt, const char *a, const char *b) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, fmt, a, b);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "no %s", path);
  static char buf[1 << 16];
  buf[fread(buf, 1, sizeof buf - 1, f)] = 0;
  fclose(f);
  return buf;
}

static bool same_file(const char *a, const char *b) {
  npy_array x, y;
  vle_error err;
  cr_assert_eq(npy_read(a, &x, &err), 0, "%s", err.msg);
  cr_assert_eq(npy_read(b, &y, &err), 0, "%s", err.msg);
  bool same = x.count == y.count && !memcmp(x.data, y.data, x.count * 8);
  npy_free(&x);
  npy_free(&y);
  return same;
}

static const char *model = VLE_SOURCE_DIR "/examples/gle_small/model.vle";

Test(sweep, grid_runs_resume_and_summary) {
  char out[128], path[256], ref[256];
  snprintf(out, sizeof out, "%s/sw", dir);
  cr_assert_eq(sh("'" VLEC_PATH "' sweep '%s' --out '%s' --seeds 1,2 --schemes "
                  "prospective,instantaneous -j 2 --steps 300 --record loss 2>/dev/null",
                  model, out), 0);
  const char *runs[] = { "seed1-errors_prospective", "seed1-errors_instantaneous",
                         "seed2-errors_prospective", "seed2-errors_instantaneous" };
  const char *seeds[] = { "1", "1", "2", "2" }, *schemes[] = { "prospective", "instantaneous",
                          "prospective", "instantaneous" };
  char *summary = strdup(slurp((snprintf(path, sizeof path, "%s/summary.csv", out), path)));
  cr_assert(!strncmp(summary, "run,seed,errors,status,steps_run,", 33), "%s", summary);
  for (int i = 0; i < 4; i++) {
    /* the same run by hand: identical loss, bit for bit */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'" VLEC_PATH "' run '%%s' --steps 300 --record loss --seed %s "
             "--errors %s --out '%%s' -q", seeds[i], schemes[i]);
    snprintf(ref, sizeof ref, "%s/ref%d", dir, i);
    cr_assert_eq(sh(cmd, model, ref), 0);
    snprintf(path, sizeof path, "%s/%s/loss.npy", out, runs[i]);
    char refloss[300];
    snprintf(refloss, sizeof refloss, "%s/loss.npy", ref);
    cr_assert(same_file(path, refloss), "%s differs from its vlec run", runs[i]);
    /* its summary line: done, 300 steps, run.json's final loss */
    snprintf(path, sizeof path, "%s/%s/run.json", out, runs[i]);
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert(j);
    char want[512];
    snprintf(want, sizeof want, "%s,%s,%s,done,300,", runs[i], seeds[i], schemes[i]);
    char *line = strstr(summary, want);
    cr_assert(line, "no line %s in\n%s", want, summary);
    char *f = line + strlen(want);
    f = strchr(f, ',') + 1;                  /* past wall_s */
    cr_assert_float_eq(strtod(f, NULL), json_real_value(json_object_get(j, "final_loss")),
                       1e-9 * fabs(json_real_value(json_object_get(j, "final_loss"))));
    json_decref(j);
  }
  free(summary);
  /* again: nothing to run; after one run.json is gone, that run alone runs again */
  struct stat st0, st1;
  snprintf(path, sizeof path, "%s/%s/run.json", out, runs[0]);
  cr_assert_eq(stat(path, &st0), 0);
  snprintf(ref, sizeof ref, "%s/%s/run.json", out, runs[3]);
  cr_assert_eq(unlink(ref), 0);
  char log[256];
  snprintf(log, sizeof log, "%s/sweep.log", dir);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'" VLEC_PATH "' sweep '%s' --out '%s' --seeds 1,2 --schemes "
           "prospective,instantaneous --steps 300 --record loss 2>'%s'", model, out, log);
  cr_assert_eq(system(cmd), 0);
  cr_assert(strstr(slurp(log), "3 complete already, 1 to run"), "%s", slurp(log));
  cr_assert_eq(stat(path, &st1), 0);
  cr_assert_eq(st0.st_mtime, st1.st_mtime, "a complete run was run again");
  cr_assert(access(ref, F_OK) == 0, "the incomplete run was not rerun");
}

Test(sweep, usage_errors) {
  char out[128];
  snprintf(out, sizeof out, "%s/u", dir);
  cr_assert_eq(sh("'" VLEC_PATH "' sweep '%s' --out '%s' --seed 3 2>/dev/null", model, out), 2);
  cr_assert_eq(sh("'" VLEC_PATH "' sweep '%s' --out '%s' --vary beta=1,2 --set beta=3 2>/dev/null",
                  model, out), 2);
  cr_assert_eq(sh("'" VLEC_PATH "' sweep '%s' %s--seeds 1,2 2>/dev/null", model, ""), 2);
  cr_assert_eq(sh("'" VLEC_PATH "' sweep --out '%s' '%s' 2>/dev/null", out, model), 2);
  cr_assert(access(out, F_OK) != 0, "a usage error made the directory");
}
