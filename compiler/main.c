/*
 * main.c - the vlec executable: `vlec SUBCOMMAND [args]`.
 *
 * The compiler (vlecc.c and everything behind it, linked to LLVM) is a shared library,
 * libvlecc.so, loaded here when a command needs it. Loading LLVM takes about 50 ms, many
 * times what a small model's first step takes, so the commands that need no compiler are
 * served without it (docs/python.md "The compile cache"):
 *   vlec run|grad MODEL.vle ...     when the model's .so is in the compile cache;
 *   vlec build MODEL.vle --cached   when the entry exists (its path is printed).
 * Anything else, and anything these paths cannot do exactly as the compiler would (a
 * usage error, a damaged entry), goes to the compiler, which then does it all: the output
 * of vlec is the same either way.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "mckey.h"
#include "mpirep.h"
#include "run.h"
#include "runflags.h"

/* Whether argv asks for help anywhere (the compiler prints it). */
static bool vl_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
  return false;
}

static bool vl_is_vle(const char *path) {
  size_t n = strlen(path);
  return n > 4 && !strcmp(path + n - 4, ".vle");
}

/* The cached .so of a .vle (malloc), or NULL: a miss, or the cache is off. */
static char *vl_cached(const char *model, bool f32) {
  char *dir = mc_dir(), *so = dir ? mc_lookup(dir, model, f32 ? "f32" : "f64") : NULL;
  free(dir);
  return so;
}

/* vlec run|grad (argv[1]) of a cached model; -1: not served here (argv untouched). */
static int vl_run_cached(int argc, char **argv, const drv_env *env) {
  bool grad = !strcmp(argv[1], "grad");
  char **av = malloc((size_t)argc * sizeof *av);
  if (!av) return -1;
  int ac = argc - 1;
  memcpy(av, argv + 1, (size_t)ac * sizeof *av);      /* av[0]: the subcommand */
  bool f32 = false, given = false;
  int status = -1;
  if (fl_precision(&ac, av, &f32, &given, NULL) || fl_flag(&ac, av, "--no-cache")) {
    free(av);
    return -1;
  }
  rn_options o;
  rn_options_init(&o, grad);
  FILE *quiet = fopen("/dev/null", "w");
  int rc = quiet ? rn_parse_args(ac, av, &o, grad, quiet) : 2;
  if (quiet) fclose(quiet);
  char *so = rc == 0 && o.model && vl_is_vle(o.model) ? vl_cached(o.model, f32) : NULL;
  vle_model *m = so ? vle_model_load_so(so, NULL) : NULL;   /* damaged: the compiler rebuilds */
  if (m) {
    o.model_source = o.model;                          /* copied as DIR/model.vle */
    o.replicas = env->replicas;
    status = rn_main(m, &o, stderr);
    vle_model_free(m);
  }
  free(so);
  rn_options_free(&o);
  free(av);
  return status;
}

/* vlec build MODEL.vle --cached [--precision P] of an entry that exists; -1: not here. */
static int vl_build_cached(int argc, char **argv) {
  const char *model = NULL, *prec = "f64";
  bool cached = false;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--cached")) cached = true;
    else if (!strcmp(argv[i], "--precision") && i + 1 < argc) prec = argv[++i];
    else if (argv[i][0] != '-' && !model) model = argv[i];
    else return -1;
  }
  if (!cached || !model || (strcmp(prec, "f64") && strcmp(prec, "f32"))) return -1;
  char *so = vl_cached(model, !strcmp(prec, "f32"));
  if (!so) return -1;
  puts(so);
  free(so);
  return 0;
}

/* libvlecc.so next to this program (the build directory) or in ../lib (installed). */
static void *vl_open_compiler(char *tried, size_t n) {
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return NULL;
  exe[len] = 0;
  char *slash = strrchr(exe, '/');
  if (slash) *slash = 0;
  const char *rel[] = { "libvlecc.so", "../lib/libvlecc.so" };
  void *h = NULL;
  for (int i = 0; i < 2 && !h; i++) {
    snprintf(tried, n, "%s/%s", exe, rel[i]);
    if (access(tried, F_OK) == 0) h = dlopen(tried, RTLD_NOW | RTLD_LOCAL);
  }
  return h;
}

static int vl_main(int argc, char **argv, const drv_env *env) {
  if (argc >= 2 && !vl_wants_help(argc, argv)) {
    int rc = -1;
    if (!strcmp(argv[1], "run") || !strcmp(argv[1], "grad")) rc = vl_run_cached(argc, argv, env);
    else if (!strcmp(argv[1], "build")) rc = vl_build_cached(argc, argv);
    if (rc >= 0) return rc;
  }
  char path[4200] = "";
  void *h = vl_open_compiler(path, sizeof path);
  int (*compiler_main)(int, char **, const drv_env *) = h
    ? (int (*)(int, char **, const drv_env *))dlsym(h, "vlec_compiler_main") : NULL;
  if (!compiler_main) {
    fprintf(stderr, "vlec: cannot load the compiler %s: %s\n", path[0] ? path : "libvlecc.so",
            h || path[0] ? dlerror() : "no path to this program");
    return 1;
  }
  return compiler_main(argc, argv, env);
}

/* Under mpirun, run, grad and sweep start MPI (mpirep.h): the ranks split the batch, or the
 * sweep's runs. Every other command runs as it would alone, on every rank. */
int main(int argc, char **argv) {
  vle_replicas rep = { 0 };
  bool ranked = argc >= 2 && (!strcmp(argv[1], "run") || !strcmp(argv[1], "grad") ||
                              !strcmp(argv[1], "sweep"));
  if (ranked && mr_start(&argc, &argv, &rep, stderr) < 0) return 1;
  drv_env env = { rep.size > 1 ? &rep : NULL };   /* one rank: the run as it is */
  return mr_stop(&rep, vl_main(argc, argv, &env));
}
