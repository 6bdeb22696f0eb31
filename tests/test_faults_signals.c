/*
 * test_faults_signals.c - signals to a running `vlec run` (issue 15, defect 11): SIGTERM
 * and SIGHUP (Slurm, `timeout`, `docker stop`) behave like SIGINT: complete outputs, a
 * run.json that says interrupted and by what, exit 128 + the signal. A SIGKILL leaves no
 * temporary file in the run directory. The child runs the shared built model; waits are
 * polls with generous hang guards, never timing assertions.
 */
#include <dirent.h>
#include <jansson.h>
#include <signal.h>

#include "faults_util.h"

TestSuite(signals, .init = ru_setup, .fini = ru_teardown);

/* vlec run on the shared model for (practically) ever, recording the loss into out/. */
static pid_t start_run(void) {
  const char *so = fu_so();
  fflush(NULL);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    FILE *e = freopen(ru_at("stderr.txt"), "w", stderr);
    (void)e;
    execl(VLEC_PATH, "vlec", "run", so, "--steps", "1000000000", "--record", "loss,h",
          "--out", ru_at("out"), "-q", (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* Polls (10 ms) until the run has stepped: its directory exists and a second has passed
 * since (the guard: 30 s for the directory). */
static void wait_running(pid_t pid) {
  for (int i = 0; access(ru_at("out"), F_OK) != 0; i++) {
    cr_assert(i < 3000, "the run did not start");
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "the run ended early");
    usleep(10000);
  }
  usleep(300000);
}

/* Waits for the child (guard: 60 s, then SIGKILL and a failure); returns fu_status. */
static int reap(pid_t pid) {
  int st;
  for (int i = 0; waitpid(pid, &st, WNOHANG) == 0; i++) {
    if (i == 6000) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      cr_assert_fail("the run did not stop within 60 s of the signal");
    }
    usleep(10000);
  }
  return fu_status(st);
}

/* No NAME.tmp.* file in out/. */
static void expect_no_temporaries(void) {
  DIR *d = opendir(ru_at("out"));
  cr_assert(d);
  for (struct dirent *e; (e = readdir(d));)
    cr_expect(!strstr(e->d_name, ".tmp"), "temporary file left: %s", e->d_name);
  closedir(d);
}

static void stop_with(int sig, const char *name) {
  pid_t pid = start_run();
  wait_running(pid);
  kill(pid, sig);
  int rc = reap(pid);
  char err[4096] = "";
  FILE *f = fopen(ru_at("stderr.txt"), "r");
  if (f) { err[fread(err, 1, sizeof err - 1, f)] = 0; fclose(f); }
  cr_assert_eq(rc, 128 + sig, "%s: status %d: %s", name, rc, err);
  json_error_t je;
  json_t *j = json_load_file(ru_at("out/run.json"), 0, &je);
  cr_assert(j, "%s: no run.json: %s", name, je.text);
  cr_assert(json_is_true(json_object_get(j, "interrupted")));
  cr_assert_str_eq(json_string_value(json_object_get(j, "signal")), name);
  json_int_t run = json_integer_value(json_object_get(j, "steps_run"));
  json_decref(j);
  cr_assert(run > 0, "%s: no steps", name);
  npy_array loss = ru_npy("out/loss.npy"), h = ru_npy("out/h.npy");
  cr_assert_eq(loss.shape[0], run, "loss.npy holds every step run");
  cr_assert_eq(h.shape[1], run, "h.npy holds every step run ([batch, steps, n])");
  npy_free(&loss);
  npy_free(&h);
  expect_no_temporaries();
}

Test(signals, sigint, .timeout = 120) { stop_with(SIGINT, "SIGINT"); }
Test(signals, sigterm, .timeout = 120) { stop_with(SIGTERM, "SIGTERM"); }
Test(signals, sighup, .timeout = 120) { stop_with(SIGHUP, "SIGHUP"); }

/* A SIGKILL cannot be handled: no run.json, but no temporary file either (O_TMPFILE). */
Test(signals, sigkill_leaves_no_temporaries, .timeout = 120) {
  pid_t pid = start_run();
  wait_running(pid);
  kill(pid, SIGKILL);
  cr_assert_eq(reap(pid), 1000 + SIGKILL);
  expect_no_temporaries();
}
