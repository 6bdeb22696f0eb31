/*
 * test_faults_concurrency.c - several vlec processes on the same files at once (issue 15,
 * the campaign's concurrency cases): whoever wins, every file is complete and loadable,
 * never a mix of two writers or half of one, and nothing crashes or hangs.
 *
 *   - 4 runs saving --save-state to one file: it loads, and equals one of the 4 runs';
 *   - 4 `vlec build -o` of one .so: it loads and runs (its seal checks every byte);
 *   - 3 runs aimed at one --out: exactly one runs, the others fail at once naming the lock,
 *     and the directory holds that one run, complete.
 */
#include "run_util.h"
#include "faults_util.h"

#include <jansson.h>

TestSuite(concurrent, .init = ru_setup, .fini = ru_teardown, .timeout = 240);

/* Starts `sh -c cmd` in the background; returns its pid. */
static pid_t spawn(const char *cmd) {
  fflush(NULL);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  return pid;
}

static int reap(pid_t pid) {
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  return fu_status(st);
}

Test(concurrent, save_state_to_one_file) {
  const char *so = fu_so();
  enum { N = 4 };
  pid_t pid[N];
  char cmd[2048];
  for (int i = 0; i < N; i++) {
    /* each run its own seed and --out; all save to s.state */
    snprintf(cmd, sizeof cmd, "timeout 60 '%s' run '%s' --steps 20000 --seed %d --out '%s/o%d' "
             "--save-state '%s' -q 2>/dev/null", VLEC_PATH, so, i + 1, ru_dir, i, ru_at("s.state"));
    pid[i] = spawn(cmd);
  }
  for (int i = 0; i < N; i++) cr_assert_eq(reap(pid[i]), 0, "run %d", i);
  /* the file is one whole state: loads, and its W is one run's final W */
  vle_error err;
  vle_model *m = vle_model_load_so(so, &err);
  cr_assert(m, "%s", err.msg);
  vle_sim *s = ru_sim(m, NULL, true, 1);
  cr_assert_eq(vle_sim_load(s, ru_at("s.state"), &err), 0, "%s", err.msg);
  size_t n = vle_sim_count(s, "W");
  double *w = malloc(n * sizeof *w);
  cr_assert_eq(vle_sim_get(s, "W", w, n, &err), 0, "%s", err.msg);
  int matches = 0;
  for (int i = 0; i < N; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "o%d/params/W.npy", i);
    npy_array a = ru_npy(rel);
    matches += a.count == n && !memcmp(a.data, w, n * sizeof *w);
    npy_free(&a);
  }
  cr_assert_eq(matches, 1, "the saved state is exactly one run's");
  free(w);
  vle_sim_free(s);
  vle_model_free(m);
}

Test(concurrent, build_one_so) {
  enum { N = 4 };
  pid_t pid[N];
  char cmd[2048];
  for (int i = 0; i < N; i++) {
    snprintf(cmd, sizeof cmd, "timeout 120 '%s' build '%s' -o '%s' 2>/dev/null", VLEC_PATH,
             ru_src("tests/data/faults.vle"), ru_at("m.so"));
    pid[i] = spawn(cmd);
  }
  for (int i = 0; i < N; i++) cr_assert_eq(reap(pid[i]), 0, "build %d", i);
  vle_error err;
  vle_model *m = vle_model_load_so(ru_at("m.so"), &err);     /* the seal checks every byte */
  cr_assert(m, "%s", err.msg);
  vle_sim *s = ru_sim(m, NULL, true, 1);
  cr_assert_eq(vle_sim_step(s, 100, &err), 0, "%s", err.msg);
  vle_sim_free(s);
  vle_model_free(m);
}

Test(concurrent, runs_into_one_out) {
  const char *so = fu_so();
  enum { N = 3 };
  pid_t pid[N];
  char cmd[2048];
  for (int i = 0; i < N; i++) {
    snprintf(cmd, sizeof cmd, "timeout 60 '%s' run '%s' --steps 300000 --record loss --out '%s' "
             "-q 2>'%s/err%d'", VLEC_PATH, so, ru_at("out"), ru_dir, i);
    pid[i] = spawn(cmd);
  }
  int ok = 0, locked = 0;
  for (int i = 0; i < N; i++) {
    int rc = reap(pid[i]);
    char rel[16];
    snprintf(rel, sizeof rel, "err%d", i);
    size_t n;
    unsigned char *text = fu_slurp(ru_at(rel), &n);
    if (rc == 0) ok++;
    else if (rc == 1 && strstr((char *)text, "another vlec run is writing into this directory")) locked++;
    else cr_assert_fail("run %d: exit %d: %s", i, rc, text);
    free(text);
  }
  /* a later start may also find the first one finished and replace its run: then two ran
   * one after the other, and the directory holds the last one */
  cr_assert(ok >= 1 && ok + locked == N, "%d ran, %d locked out", ok, locked);
  json_t *j = json_load_file(ru_at("out/run.json"), 0, NULL);
  cr_assert(j, "no run.json");
  cr_assert_eq(json_integer_value(json_object_get(j, "steps_run")), 300000);
  json_decref(j);
  npy_array l = ru_npy("out/loss.npy");
  cr_assert_eq(l.shape[0], 300000, "loss.npy complete");
  npy_free(&l);
}
