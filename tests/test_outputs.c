/*
 * test_outputs.c - what a run tells the researcher about its outputs (issue 13): the names it
 * can record are the model's signals, not the compiler's internal buffers, and a misspelt
 * name gets a suggestion.
 */
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
