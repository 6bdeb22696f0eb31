/*
 * test_outputs.c - what a run tells the researcher about its outputs (issue 13): the names it
 * can record are the model's signals, not the compiler's internal buffers, and a misspelt
 * name gets a suggestion; files honour the umask; a run directory holds one run; run.json
 * says when, with what and how well it ran.
 */
#define _GNU_SOURCE      /* strptime, timegm */
#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "af.h"
#include "run_util.h"

TestSuite(outputs, .init = ru_setup, .fini = ru_teardown);

Test(outputs, recordable_names_and_did_you_mean) {
  ld_model m;
  ru_open(&m, ru_src("examples/gle_small/model.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "2", "--record", "h1.rte", "--out", ru_at("o"),
                       "-q", NULL), 1, "%s", ru_log);
  cr_expect(strstr(ru_log, "did you mean 'h1.rate'?"), "%s", ru_log);
  const char *list = strstr(ru_log, "(recordable: ");
  cr_assert(list, "%s", ru_log);
  static const char *want[] = { "h1.rate", "o.error", "loss", "objective", "W1", "h2.tau_m" };
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    cr_expect(strstr(list, want[i]), "%s missing: %s", want[i], list);
  static const char *internal[] = { "pub0", "bp0", "lit0", "published", "lr." };
  for (size_t i = 0; i < sizeof internal / sizeof *internal; i++)
    cr_expect(!strstr(list, internal[i]), "%s listed: %s", internal[i], list);
  /* far from every name: no suggestion */
  cr_assert_eq(ru_vlec(&m, false, "--steps", "2", "--record", "zzzzzz", "--out", ru_at("p"),
                       "-q", NULL), 1, "%s", ru_log);
  cr_expect(!strstr(ru_log, "did you mean"), "%s", ru_log);
  ld_close(&m);
}

/* Options that do nothing say so: the same option twice is an error, a warm-up or a record
 * interval longer than the run is a warning. */
Test(outputs, idle_options_say_so) {
  ld_model m;
  ru_open(&m, ru_src("examples/gle_small/model.vle"));
  cr_expect_eq(ru_vlec(&m, false, "--steps", "3", "--steps", "4", "--out", ru_at("a"), "-q",
                       NULL), 2, "%s", ru_log);
  cr_expect(strstr(ru_log, "--steps is given twice"), "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, false, "--steps", "3", "--warmup", "5", "--record-every", "9",
                       "--record", "W1", "--out", ru_at("b"), "-q", NULL), 0, "%s", ru_log);
  cr_expect(strstr(ru_log, "warning: --warmup 5 covers the whole run of 3 steps"), "%s", ru_log);
  cr_expect(strstr(ru_log, "warning: --record-every 9 is longer than the run"), "%s", ru_log);
  ld_close(&m);
}

/* The mode of the file at rel in the suite's directory (permission bits). */
static unsigned out_mode(const char *rel) {
  struct stat st;
  cr_assert_eq(stat(ru_at(rel), &st), 0, "%s missing", rel);
  return (unsigned)(st.st_mode & 07777);
}

/* Files honour the umask: recordings and run.json are 0666 & ~umask, whichever way af.c
 * made its temporary file (O_TMPFILE, or mkstemp's private 0600 file). */
Test(outputs, files_honour_the_umask) {
  ld_model m;
  ru_open(&m, ru_src("examples/gle_small/model.vle"));
  static const unsigned masks[] = { 022, 077 };
  for (size_t i = 0; i < 2; i++) {
    mode_t old = umask(masks[i]);
    char dir[16], npy[32], json[32], named[32];
    snprintf(dir, sizeof dir, "u%u", (unsigned)i);
    snprintf(npy, sizeof npy, "%s/h1.rate.npy", dir);
    snprintf(json, sizeof json, "%s/run.json", dir);
    snprintf(named, sizeof named, "named%u", (unsigned)i);
    int rc = ru_vlec(&m, false, "--steps", "3", "--record", "h1.rate", "--out", ru_at(dir),
                     "-q", NULL);
    af_file f;
    vle_error err;
    int rn = af_open_opt(&f, ru_at(named), false, &err);
    if (rn == 0) {
      fputs("x", f.fp);
      rn = af_commit(&f, &err);
    }
    umask(old);
    cr_assert_eq(rc, 0, "%s", ru_log);
    cr_assert_eq(rn, 0, "%s", err.msg);
    unsigned want = 0666 & ~masks[i];
    cr_expect_eq(out_mode(npy), want, "umask %03o: %s is %04o", masks[i], npy, out_mode(npy));
    cr_expect_eq(out_mode(json), want, "umask %03o: run.json is %04o", masks[i], out_mode(json));
    cr_expect_eq(out_mode(named), want, "umask %03o: mkstemp path gives %04o", masks[i],
                 out_mode(named));
  }
  ld_close(&m);
}

static bool out_exists(const char *rel) { return access(ru_at(rel), F_OK) == 0; }

/* A run directory holds exactly one run: a 100-step run into the directory of a 300-step
 * run leaves none of the earlier run's files (recordings, parameter snapshots, params/,
 * the default plot), while a file the user put there stays. */
Test(outputs, reused_out_holds_one_run) {
  ld_model m;
  ru_open(&m, ru_src("examples/gle_small/model.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "300", "--record", "loss,h1.rate,W1",
                       "--record-every", "100", "--out", ru_at("d"), "-q", NULL), 0, "%s", ru_log);
  ru_write("d/plot.svg", "<svg/>");
  ru_write("d/notes.txt", "mine");
  cr_assert(out_exists("d/h1.rate.npy") && out_exists("d/W1.npy"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "100", "--record", "loss", "--out", ru_at("d"),
                       "-q", NULL), 0, "%s", ru_log);
  cr_expect(!out_exists("d/h1.rate.npy"), "the earlier run's h1.rate.npy is left");
  cr_expect(!out_exists("d/W1.npy"), "the earlier run's W1.npy is left");
  cr_expect(!out_exists("d/plot.svg"), "the earlier run's plot is left");
  cr_expect(out_exists("d/notes.txt"), "a file that is not the run's was removed");
  npy_array a = ru_npy("d/loss.npy");
  cr_expect_eq(a.shape[0], 100);
  npy_free(&a);
  ld_close(&m);
}

/* A non-empty directory that holds no vle run is refused (nothing written into it) unless
 * --force. */
Test(outputs, foreign_directory_needs_force) {
  ld_model m;
  ru_open(&m, ru_src("examples/gle_small/model.vle"));
  cr_assert_eq(mkdir(ru_at("f"), 0777), 0);
  ru_write("f/data.txt", "not a run");
  cr_assert_eq(ru_vlec(&m, false, "--steps", "3", "--record", "loss", "--out", ru_at("f"),
                       "-q", NULL), 1, "%s", ru_log);
  cr_expect(strstr(ru_log, "not a vle run directory"), "%s", ru_log);
  cr_expect(strstr(ru_log, "--force"), "%s", ru_log);
  cr_expect(!out_exists("f/run.json") && !out_exists("f/loss.npy") && !out_exists("f/.vle.lock"),
            "a refused directory was written into");
  cr_assert_eq(ru_vlec(&m, false, "--steps", "3", "--record", "loss", "--out", ru_at("f"),
                       "--force", "-q", NULL), 0, "%s", ru_log);
  cr_expect(out_exists("f/run.json") && out_exists("f/loss.npy") && out_exists("f/data.txt"));
  ld_close(&m);
}

/* A run whose directory is locked by another run (the lock held here, as a running vlec
 * holds it) fails at once with a clear message and touches nothing. */
Test(outputs, locked_directory_fails_fast) {
  ld_model m;
  ru_open(&m, ru_src("examples/gle_small/model.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "3", "--record", "loss", "--out", ru_at("l"),
                       "-q", NULL), 0, "%s", ru_log);
  int fd = open(ru_at("l/.vle.lock"), O_RDWR);
  cr_assert(fd >= 0);
  cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
  int rc = ru_vlec(&m, false, "--steps", "5", "--record", "loss", "--out", ru_at("l"), "-q", NULL);
  close(fd);
  cr_expect_eq(rc, 1, "%s", ru_log);
  cr_expect(strstr(ru_log, "another vlec run is writing into this directory"), "%s", ru_log);
  npy_array a = ru_npy("l/loss.npy");            /* the first run's, untouched */
  cr_expect_eq(a.shape[0], 3);
  npy_free(&a);
  ld_close(&m);
}

/* Resuming from a state file inside the directory continues in place: the earlier run's
 * files stay; resuming from a state file elsewhere starts a new run: they go. */
Test(outputs, resume_in_place) {
  ld_model m;
  ru_open(&m, ru_src("examples/gle_small/model.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "20", "--record", "loss,h1.rate", "--save-state",
                       ru_at("r/state.vst"), "--out", ru_at("r"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, false, "--steps", "10", "--record", "loss", "--load-state",
                       ru_at("r/state.vst"), "--save-state", ru_at("r/state.vst"), "--out",
                       ru_at("r"), "-q", NULL), 0, "%s", ru_log);
  cr_expect(out_exists("r/h1.rate.npy"), "resuming in place removed the run's files");
  cr_expect(out_exists("r/state.vst"));
  rename(ru_at("r/state.vst"), ru_at("elsewhere.vst"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "10", "--record", "loss", "--load-state",
                       ru_at("elsewhere.vst"), "--out", ru_at("r"), "-q", NULL), 0, "%s", ru_log);
  cr_expect(!out_exists("r/h1.rate.npy"), "a new run kept the earlier run's files");
  ld_close(&m);
}

/* The whole file at path (malloc, NUL-terminated), or NULL. */
static char *out_slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  for (int c; (c = fgetc(f)) != EOF;) fputc(c, m);
  fclose(m);
  fclose(f);
  return buf;
}

/* run.json says when, with what and how well: the start time (ISO 8601 UTC), vlec's version
 * and commit, the model's source copied as model.vle, the final and the best batch-mean
 * loss (checked against loss.npy); the summary line prints the final loss. */
Test(outputs, run_json_provenance_and_losses) {
  char cmd[1024], out[4096];
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --steps 200 --record loss --out '%s' 2>&1", VLEC_PATH,
           ru_src("examples/gle_small/model.vle"), ru_at("p"));
  time_t before = time(NULL);
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  json_error_t je;
  json_t *j = json_load_file(ru_at("p/run.json"), 0, &je);
  cr_assert(j, "%s", je.text);
  const char *started = json_string_value(json_object_get(j, "started"));
  cr_assert(started);
  struct tm tm = { 0 };
  const char *end = strptime(started, "%Y-%m-%dT%H:%M:%SZ", &tm);
  cr_expect(end && !*end, "started = %s", started);
  time_t t = timegm(&tm);
  cr_expect(t >= before - 1 && t <= time(NULL), "started = %s", started);
  cr_expect_str_eq(json_string_value(json_object_get(j, "vlec_version")), VLE_VERSION);
  const char *commit = json_string_value(json_object_get(j, "commit"));
  cr_expect(commit && *commit, "no commit");
  cr_expect_str_eq(json_string_value(json_object_get(j, "model_copy")), "model.vle");
  char *src = out_slurp(ru_src("examples/gle_small/model.vle")), *copy = out_slurp(ru_at("p/model.vle"));
  cr_assert(src && copy);
  cr_expect_str_eq(copy, src);
  npy_array a = ru_npy("p/loss.npy");
  const double *l = ru_data(&a);
  double best = l[0];
  for (int64_t k = 1; k < a.shape[0]; k++) best = fmin(best, l[k]);
  double final = json_real_value(json_object_get(j, "final_loss"));
  cr_expect_eq(final, l[a.shape[0] - 1]);
  cr_expect_eq(json_real_value(json_object_get(j, "best_loss")), best);
  cr_expect(best < final, "a run that learns has a best loss below its last: %g %g", best, final);
  char want[64];
  snprintf(want, sizeof want, "final loss %.4g;", final);
  cr_expect(strstr(out, want), "%s missing in: %s", want, out);
  npy_free(&a);
  free(src);
  free(copy);
  json_decref(j);
}

/* Recording file names need no quoting in a shell: h1' is written h1_dot.npy, run.json maps
 * each file to its signal, and two signals that would share a file are refused. */
Test(outputs, shell_safe_file_names) {
  ld_model m;
  ru_open(&m, ru_src("examples/gle_small/model.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "5", "--record", "h1',h1", "--out", ru_at("s"),
                       "-q", NULL), 0, "%s", ru_log);
  cr_expect(!out_exists("s/h1'.npy"));
  npy_array d = ru_npy("s/h1_dot.npy"), u = ru_npy("s/h1.npy");
  cr_expect_eq(d.ndim, 3, "[batch, steps, n] at batch 1 too");
  cr_expect_eq(d.shape[1], 5);
  /* u' is not u: the two files hold different signals */
  cr_expect(ru_maxdiff(ru_data(&d), ru_data(&u), d.count) > 0);
  json_t *j = json_load_file(ru_at("s/run.json"), 0, NULL);
  cr_assert(j);
  json_t *recs = json_object_get(j, "recordings");
  cr_expect_str_eq(json_string_value(json_object_get(recs, "h1_dot.npy")), "h1'");
  cr_expect_str_eq(json_string_value(json_object_get(recs, "h1.npy")), "h1");
  json_decref(j);
  npy_free(&d);
  npy_free(&u);
  ld_close(&m);
  /* a population named h1_dot: its u and h1' would share h1_dot.npy */
  char *src = out_slurp(ru_src("examples/gle_small/model.vle"));
  cr_assert(src);
  FILE *f = fopen(ru_at("coll.vle"), "w");
  for (const char *c = src; *c; c++) {     /* h2 -> h1_dot, the whole word */
    bool word = c[0] == 'h' && c[1] == '2' && (c == src || !isalnum((unsigned char)c[-1])) &&
                !isalnum((unsigned char)c[2]) && c[2] != '_';
    if (word) fputs("h1_dot", f), c++;
    else fputc(*c, f);
  }
  fclose(f);
  free(src);
  ru_open(&m, ru_at("coll.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "3", "--record", "h1',h1_dot", "--out",
                       ru_at("c"), "-q", NULL), 1, "%s", ru_log);
  cr_expect(strstr(ru_log, "h1' and h1_dot would both be written to h1_dot.npy"), "%s", ru_log);
  cr_expect(!out_exists("c"), "a refused run left its directory");
  ld_close(&m);
}

/* --record-every K thins the signals (rows after steps K, 2K, ...: the same values as rows
 * K-1, 2K-1, ... of a full recording), t.npy holds those steps' times, and --param-every P
 * sets the parameters' own interval. */
Test(outputs, record_every_thins_signals) {
  ld_model m;
  ru_open(&m, ru_src("examples/gle_small/model.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--steps", "12", "--record", "loss,h1.rate", "--out",
                       ru_at("full"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, false, "--steps", "12", "--record", "loss,h1.rate,W1",
                       "--record-every", "4", "--param-every", "6", "--out", ru_at("thin"),
                       "-q", NULL), 0, "%s", ru_log);
  npy_array fl = ru_npy("full/loss.npy"), fr = ru_npy("full/h1.rate.npy"), ft = ru_npy("full/t.npy");
  npy_array tl = ru_npy("thin/loss.npy"), tr = ru_npy("thin/h1.rate.npy"), tt = ru_npy("thin/t.npy");
  npy_array w = ru_npy("thin/W1.npy"), pw = ru_npy("thin/params/W1.npy");
  cr_assert_eq(fl.shape[0], 12);
  cr_assert_eq(ft.shape[0], 12);
  cr_assert_eq(tl.shape[0], 3);
  cr_assert_eq(tr.shape[1], 3);          /* [batch, steps, n]: steps second */
  cr_assert_eq(tt.shape[0], 3);
  int64_t n = fr.shape[2];
  cr_assert_eq(tr.shape[2], n);
  double dt = 0.05;                                  /* gle_small's dt */
  for (int i = 0; i < 3; i++) {
    int k = 4 * (i + 1) - 1;
    cr_expect_eq(ru_data(&tl)[i], ru_data(&fl)[k], "loss row %d", i);
    cr_expect_eq(ru_maxdiff(ru_data(&tr) + i * n, ru_data(&fr) + k * n, (size_t)n), 0, "rate row %d", i);
    cr_expect_float_eq(ru_data(&tt)[i], k * dt, 1e-12, "t row %d: %g", i, ru_data(&tt)[i]);
    cr_expect_eq(ru_data(&tt)[i], ru_data(&ft)[k]);
  }
  cr_assert_eq(w.shape[0], 2, "snapshots after steps 6 and 12");
  size_t size = (size_t)(w.shape[1] * w.shape[2]);
  cr_expect_eq(ru_maxdiff(ru_data(&w) + size, ru_data(&pw), size), 0, "last snapshot = params/");
  npy_free(&fl); npy_free(&fr); npy_free(&ft); npy_free(&tl); npy_free(&tr); npy_free(&tt);
  npy_free(&w); npy_free(&pw);
  ld_close(&m);
}

/* The adjoint's sweep fills in the errors of steps already recorded: thinned, it fills the
 * rows of the recorded steps only, with the values of a full recording's rows. */
Test(outputs, record_every_thins_adjoint_errors) {
  ld_model m;
  ru_open(&m, ru_src("examples/lagnet/model.vle"));
  cr_assert_eq(ru_vlec(&m, false, "--errors", "adjoint", "--steps", "20", "--record", "h1.error",
                       "--out", ru_at("af"), "-q", NULL), 0, "%s", ru_log);
  cr_assert_eq(ru_vlec(&m, false, "--errors", "adjoint", "--steps", "20", "--record", "h1.error",
                       "--record-every", "4", "--out", ru_at("at"), "-q", NULL), 0, "%s", ru_log);
  npy_array f = ru_npy("af/h1.error.npy"), t = ru_npy("at/h1.error.npy");
  cr_assert_eq(t.shape[1], 5);
  int64_t n = f.shape[2];
  for (int i = 0; i < 5; i++)
    cr_expect_eq(ru_maxdiff(ru_data(&t) + i * n, ru_data(&f) + (4 * i + 3) * n, (size_t)n), 0,
                 "row %d", i);
  cr_expect(ru_maxdiff(ru_data(&f), ru_data(&f) + n, (size_t)n) > 0, "rows that differ");
  npy_free(&f);
  npy_free(&t);
  ld_close(&m);
}

/* A run whose recordings cannot fit on the disk is refused before anything is written,
 * with the figures: 1e11 rows of h1.rate (3 reals), loss and t (1 each), 8 bytes a real:
 * 4e12 bytes, more than any disk this runs on. */
Test(outputs, recording_larger_than_the_disk_is_refused) {
  ld_model m;
  ru_open(&m, ru_src("examples/gle_small/model.vle"));
  int rc = ru_vlec(&m, false, "--steps", "100000000000", "--record", "h1.rate,loss", "--out",
                   ru_at("big"), "-q", NULL);
  cr_assert_eq(rc, 1, "%s", ru_log);
  cr_assert(strstr(ru_log, "the recordings of this run need 4e+06 MB"), "%s", ru_log);
  cr_assert(!out_exists("big"), "a refused run leaves no directory");
  /* thinned, the same run fits: the check counts rows, not steps */
  cr_assert_eq(ru_vlec(&m, false, "--steps", "100", "--record", "h1.rate", "--record-every",
                       "10", "--out", ru_at("small"), "-q", NULL), 0, "%s", ru_log);
  ld_close(&m);
}

/* The model's used files go beside its copy (issue 13): model_uses/NAME, byte for byte the
 * files it used, listed in run.json. Through the command line and the compile cache (a
 * cache of the test's own). */
Test(outputs, used_files_are_copied) {
  char cmd[2048], out[4096];
  snprintf(cmd, sizeof cmd, "env -u VLE_NO_CACHE VLE_CACHE_DIR='%s' '%s' run '%s' --steps 5 "
           "--out '%s' -q 2>&1", ru_at("cache"), VLEC_PATH,
           ru_src("examples/mnist1d/model.vle"), ru_at("u"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  const char *names[] = { "gle.vle", "costs.vle" };
  for (int i = 0; i < 2; i++) {
    char rel[64], src[64];
    snprintf(rel, sizeof rel, "u/model_uses/%s", names[i]);
    snprintf(src, sizeof src, "stdlib/%s", names[i]);
    snprintf(cmd, sizeof cmd, "cmp '%s' '%s' 2>&1", ru_at(rel), ru_src(src));
    cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s differs from %s: %s", rel, src, out);
  }
  json_t *j = json_load_file(ru_at("u/run.json"), 0, NULL);
  cr_assert(j);
  json_t *uses = json_object_get(j, "model_uses");
  cr_assert_eq(json_object_size(uses), 2, "run.json lists the two used files");
  const char *v = NULL;
  const char *key;
  json_t *val;
  json_object_foreach(uses, key, val) if (strstr(key, "stdlib/gle.vle")) v = json_string_value(val);
  cr_assert(v && !strcmp(v, "model_uses/gle.vle"), "%s", v ? v : "none");
  json_decref(j);
}
