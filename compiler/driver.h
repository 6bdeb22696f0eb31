/*
 * driver.h - the vlec subcommands. main.c parses the subcommand name and hands the rest of
 * the command line to one of these. Each returns the process exit status:
 * 0 success, 1 error in the model or data, 2 usage error.
 */
#ifndef VLE_DRIVER_H
#define VLE_DRIVER_H

#include "vle.h"

/* What the vlec executable knows before a command runs: the MPI ranks it is one of
 * (mpirep.h; NULL when not launched by mpirun, or as one rank). run, grad and sweep use it. */
typedef struct drv_env { const vle_replicas *replicas; } drv_env;

int cmd_check(int argc, char **argv);
int cmd_derive(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_run(int argc, char **argv, const drv_env *env);    /* vlec run */
int cmd_grad(int argc, char **argv, const drv_env *env);   /* vlec grad */
int cmd_emit(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_sweep(int argc, char **argv, const drv_env *env);
const char *cmd_sweep_help(void);      /* the usage text of vlec sweep */
const char *cmd_plot_help(void);       /* the usage text of vlec plot, every option in it */

/* Print the help of one subcommand (or the overview for NULL) to stdout. Returns 0, or 2
 * for an unknown name. */
int drv_help(const char *cmd);

/* The whole of `vlec` (vlecc.c): what the vlec executable calls in libvlecc.so. */
int vlec_compiler_main(int argc, char **argv, const drv_env *env);

#endif
