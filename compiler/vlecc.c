/*
 * vlecc.c - the vlec driver proper: `vlec SUBCOMMAND [args]`, in the compiler library
 * libvlecc.so, which the vlec executable (main.c) loads when it has to compile.
 *
 * The pipeline behind the subcommands is parse -> check -> expressions -> derive -> lower
 * -> LLVM -> JIT/AOT -> runtime; each subcommand runs it as far as it needs.
 */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "run.h"

typedef struct drv_cmd {
  const char *name;
  int (*fn)(int argc, char **argv);
  int (*fn_env)(int argc, char **argv, const drv_env *env);   /* instead: the MPI ranks too */
  const char *summary;
  const char *help;
} drv_cmd;

static const drv_cmd drv_cmds[] = {
  { "check", cmd_check, NULL, "parse and check a model; print diagnostics",
    "usage: vlec check MODEL.vle\n\n"
    "Parse and check MODEL.vle and every file it uses. Diagnostics go to stderr as\n"
    "file:line:col: error: message, with the source line and a caret.\n"
    "Exit status: 0 clean (or warnings only), 1 errors, 2 usage.\n" },
  { "derive", cmd_derive, NULL, "print the derived dynamics, errors and plasticity",
    "usage: vlec derive MODEL.vle [--format text|latex|json] [--locality] [--json]\n\n"
    "Print, per population, the mismatch, the forward dynamics, the back-propagated error g,\n"
    "the error schemes (adjoint, instantaneous, prospective) and every plasticity rule.\n"
    "--locality: instead, the locality report: every factor of every error and rule\n"
    "classified (pre, post, own, global, nonlocal), and whether each is local in space and\n"
    "in time under each error scheme (docs/derive.md \"Locality\"). --json: --format json\n"
    "(whose document always has the \"locality\" object).\n" },
  { "build", cmd_build, NULL, "compile a model to a shared object and a C header",
    "usage: vlec build MODEL.vle -o OUT.so | --cached [--precision f64|f32]\n\n"
    "Ahead-of-time compile MODEL.vle to OUT.so (depending only on libc and libm) and OUT.h.\n"
    "--cached: the compile cache's .so of MODEL.vle instead (built if missing), its path\n"
    "printed (docs/python.md \"The compile cache\").\n" },
  { "run", NULL, cmd_run, "compile (or take from the cache) and simulate or train a model",
    "usage: vlec run MODEL.vle|MODEL.so [options]   (see docs/cli.md)\n" },
  { "grad", NULL, cmd_grad, "write the gradient estimate of every learnable parameter",
    "usage: vlec grad MODEL.vle|MODEL.so [options]   (see docs/cli.md)\n" },
  { "emit", cmd_emit, NULL, "print the optimised LLVM IR",
    "usage: vlec emit MODEL.vle --llvm|--kir [--precision f64|f32]\n"
    "  --llvm  the optimised LLVM IR;  --kir  the kernel IR (the lowered step, statement by\n"
    "  statement)\n" },
  { "plot", cmd_plot, NULL, "draw recorded signals of a run as SVG", NULL },   /* cmd_plot_help */
  { "sweep", NULL, cmd_sweep, "run a grid of runs (seeds, schemes, consts) with a summary", NULL },
};
enum { DRV_NCMDS = sizeof drv_cmds / sizeof drv_cmds[0] };

static void drv_overview(FILE *out) {
  fputs("vlec " VLE_VERSION " - a compiler for learning dynamics\n\n"
        "usage: vlec COMMAND [args]\n\ncommands:\n", out);
  for (int i = 0; i < DRV_NCMDS; i++)
    fprintf(out, "  %-8s %s\n", drv_cmds[i].name, drv_cmds[i].summary);
  fputs("\n'vlec help COMMAND' or 'vlec COMMAND --help' describes one command.\n", out);
}

/* --precision and --no-cache are the driver's (they choose the compiled code), not the run
 * loop's. */
static const char drv_precision_help[] =
  "  --precision f64|f32      the reals of the compiled code (default f64)\n"
  "  --no-cache               JIT-compile MODEL.vle, without the compile cache\n";

int drv_help(const char *cmd) {
  if (!cmd) { drv_overview(stdout); return 0; }
  if (!strcmp(cmd, "run") || !strcmp(cmd, "grad")) {   /* the run loop knows its options */
    if (!strcmp(cmd, "grad")) {   /* grad takes run's options: list them (after run's usage line) */
      fputs(rn_help(true), stdout);
      const char *run = rn_help(false), *opts = strstr(run, "\n\n");
      fputs("\noptions (those of 'vlec run'):\n", stdout);
      fputs(opts ? opts + 2 : run, stdout);
    } else {
      fputs(rn_help(false), stdout);
    }
    fputs(drv_precision_help, stdout);
    return 0;
  }
  if (!strcmp(cmd, "plot")) { fputs(cmd_plot_help(), stdout); return 0; }   /* its parser's text */
  if (!strcmp(cmd, "sweep")) {    /* and the options it hands to every run */
    const char *run = rn_help(false), *opts = strstr(run, "\n\n");
    fputs(cmd_sweep_help(), stdout);
    fputs("\noptions handed to each run (those of 'vlec run'):\n", stdout);
    fputs(opts ? opts + 2 : run, stdout);
    fputs(drv_precision_help, stdout);
    return 0;
  }
  for (int i = 0; i < DRV_NCMDS; i++)
    if (strcmp(cmd, drv_cmds[i].name) == 0) { fputs(drv_cmds[i].help, stdout); return 0; }
  fprintf(stderr, "vlec: unknown command '%s'\n", cmd);
  return 2;
}

int vlec_compiler_main(int argc, char **argv, const drv_env *env) {
  if (argc < 2) { drv_overview(stderr); return 2; }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) return drv_help(NULL);
  if (!strcmp(cmd, "--version")) { puts("vlec " VLE_VERSION); return 0; }
  if (!strcmp(cmd, "help")) return drv_help(argc > 2 ? argv[2] : NULL);
  for (int i = 0; i < DRV_NCMDS; i++) {
    if (strcmp(cmd, drv_cmds[i].name)) continue;
    for (int j = 2; j < argc; j++)
      if (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h")) return drv_help(cmd);
    const drv_cmd *c = &drv_cmds[i];
    return c->fn ? c->fn(argc - 1, argv + 1) : c->fn_env(argc - 1, argv + 1, env);
  }
  fprintf(stderr, "vlec: unknown command '%s' (see 'vlec --help')\n", cmd);
  return 2;
}
