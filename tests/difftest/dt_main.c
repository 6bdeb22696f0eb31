/*
 * dt_main.c - `difftest`: the long run of the differential tests (docs/testing.md).
 *
 *   difftest [--count N] [--from SEED] [--state FILE] [--keep DIR] [--flags F] [--dt DT]
 *            [--jit] [--seed S [--edits E] [--reduce CHECK]]
 *
 * Runs N models (default 1000) from seed SEED, or from the seed after the one recorded in
 * FILE (resumable: FILE is rewritten after every model). A failing model's source and its
 * message go to DIR (default difftest-failures). --seed S runs one seed and prints its
 * model and every check's numbers; with --reduce CHECK (forward, adjoint, equal, local, rule
 * or refused) it first shrinks the model while that check keeps failing and prints the
 * edits (dtg_edit) that a regression case replays; --edits "E; E" applies such edits first.
 * Exit status 1 if any check failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dt_check.h"

typedef struct dt_opts {
  long count;
  uint64_t from, one;
  bool single;
  const char *state, *keep;
  unsigned flags;
  double dt;          /* --dt: overrides the generated step (0: keep) */
  bool jit;           /* --jit: LLVM code instead of the reference interpreter */
  const char *reduce; /* --reduce CHECK (with --seed): reduce the failure of CHECK ("refused") */
  const char *edits;  /* --edits "E; E" (with --seed): apply these dtg_edit steps first */
} dt_opts;

static int usage(void) {
  fputs("usage: difftest [--count N] [--from SEED] [--state FILE] [--keep DIR] [--flags F] "
        "[--dt DT] [--jit] [--seed S [--edits E] [--reduce CHECK]]\n", stderr);
  return 2;
}

static int parse(int argc, char **argv, dt_opts *o) {
  *o = (dt_opts){ .count = 1000, .from = 1, .keep = "difftest-failures",
                  .flags = dtg_default_flags() };
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--jit")) { o->jit = true; continue; }
    if (!v) return usage();
    i++;
    if (!strcmp(a, "--count")) o->count = strtol(v, NULL, 10);
    else if (!strcmp(a, "--from")) o->from = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--state")) o->state = v;
    else if (!strcmp(a, "--keep")) o->keep = v;
    else if (!strcmp(a, "--reduce")) o->reduce = v;
    else if (!strcmp(a, "--edits")) o->edits = v;
    else if (!strcmp(a, "--dt")) o->dt = strtod(v, NULL);
    else if (!strcmp(a, "--flags")) o->flags = (unsigned)strtoul(v, NULL, 0);
    else if (!strcmp(a, "--seed")) { o->one = strtoull(v, NULL, 10); o->single = true; }
    else return usage();
  }
  return 0;
}

static uint64_t resume_from(const dt_opts *o) {
  FILE *f = o->state ? fopen(o->state, "r") : NULL;
  unsigned long long last;
  uint64_t from = o->from;
  if (f && fscanf(f, "%llu", &last) == 1) from = last + 1;
  if (f) fclose(f);
  return from;
}

static void save_state(const dt_opts *o, uint64_t seed) {
  if (!o->state) return;
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s.tmp", o->state);
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f, "%llu\n", (unsigned long long)seed);
  fclose(f);
  rename(tmp, o->state);
}

/* Keeps a failing model: DIR/seed-N.vle with the failure as a comment on top. */
static void keep(const dt_opts *o, const dtg_model *m, const dtc_result *r) {
  if (mkdir(o->keep, 0777) && errno != EEXIST) return;
  char path[1024];
  snprintf(path, sizeof path, "%s/seed-%llu.vle", o->keep, (unsigned long long)m->seed);
  FILE *f = fopen(path, "w");
  if (!f) return;
  fprintf(f, "# difftest failure (flags %#x): %s\n", m->flags, r->msg);
  dtg_text(m, f);
  fclose(f);
}

static int apply_edits(dtg_model *m, const char *list) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *e = strtok_r(buf, ";", &save); e; e = strtok_r(NULL, ";", &save))
    if (!dtg_edit(m, e)) {
      fprintf(stderr, "difftest: edit '%s' does not apply\n", e);
      return 1;
    }
  return 0;
}

static int reduce(const dt_opts *o, dtg_model *m, const char *dir) {
  int kind = DTC_N;
  for (int k = 0; k < DTC_N; k++)
    if (!strcmp(o->reduce, dtc_name(k))) kind = k;
  if (kind == DTC_N && strcmp(o->reduce, "refused")) return usage();
  char edits[1024];
  if (!dtc_reduce(m, dir, o->jit, kind, edits, sizeof edits)) {
    fprintf(stderr, "difftest: seed %llu does not fail %s\n", (unsigned long long)m->seed, o->reduce);
    return 1;
  }
  printf("edits: %s\n", edits);
  return 0;
}

static void print_one(const dtg_model *m, const dtc_result *r) {
  dtg_text(m, stdout);
  printf("compiled: %s %s\n", r->compiled ? "yes" : "no", r->msg);
  for (int k = 0; k < DTC_N; k++)
    if (r->ran[k])
      printf("  %-8s %s  deviation %.3g  cosine %.7f  (%.0f ms)\n", dtc_name(k),
             r->ok[k] ? "ok  " : "FAIL", r->dev[k], r->cos[k], r->ms[k]);
  printf("  compile %.0f ms\n", r->ms_compile);
}

int main(int argc, char **argv) {
  dt_opts o;
  if (parse(argc, argv, &o)) return 2;
  char dir[] = "/tmp/vle_difftest_XXXXXX";
  if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
  dtc_tally t = { 0 };
  bool ok = true;
  uint64_t from = o.single ? o.one : resume_from(&o);
  long count = o.single ? 1 : o.count;
  for (uint64_t seed = from; seed < from + (uint64_t)count; seed++) {
    dtg_model m;
    dtc_generate(&m, seed, o.flags);
    if (o.dt > 0) m.dt = o.dt;
    if (o.single && o.edits && apply_edits(&m, o.edits)) return 2;
    if (o.single && o.reduce && reduce(&o, &m, dir)) return 2;
    dtc_result r;
    bool pass = dtc_run(&m, dir, o.jit, &r);
    if (o.single) print_one(&m, &r);
    else if (!pass) {
      printf("seed %llu: %s\n", (unsigned long long)seed, r.msg);
      keep(&o, &m, &r);
    }
    ok = ok && pass;
    dtc_tally_add(&t, seed, &r);
    save_state(&o, seed);
    if (!o.single && (seed - from + 1) % 100 == 0) dtc_tally_print(&t, stdout), fflush(stdout);
  }
  char names[128];
  printf("seeds %llu..%llu, flags %#x (%s)\n", (unsigned long long)from,
         (unsigned long long)(from + (uint64_t)count - 1), o.flags,
         dtg_flag_names(o.flags, names, sizeof names));
  dtc_tally_print(&t, stdout);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) {}
  return ok ? 0 : 1;
}
