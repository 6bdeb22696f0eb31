/*
 * runflags.h - the options `vlec run`/`vlec grad` take besides the run loop's own (run.h):
 * they are removed from argv before rn_parse_args sees it. Shared by the compiler's run
 * command (cmd_run.c) and the vlec executable's cache-hit path (main.c).
 */
#ifndef VLE_RUNFLAGS_H
#define VLE_RUNFLAGS_H

#include <stdbool.h>
#include <stdio.h>

/* --precision f64|f32 (or --precision=f32), removed from argv: *f32, and *given says
 * whether it was given at all. Returns 0, or 2 after a usage error on err (NULL: quiet). */
int fl_precision(int *argc, char **argv, bool *f32, bool *given, FILE *err);
/* Removes every `flag` from argv; says whether there was one. */
bool fl_flag(int *argc, char **argv, const char *flag);

#endif
