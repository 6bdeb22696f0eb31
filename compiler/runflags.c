/* runflags.c - see runflags.h. */
#include "runflags.h"

#include <stdio.h>
#include <string.h>

/* --precision f64|f32 (or --precision=f32) chooses the code the JIT generates; the run loop
 * never sees it. Given twice is an error; *given says whether it was given at all. */
int fl_precision(int *argc, char **argv, bool *f32, bool *given, FILE *err) {
  for (int i = 1; i < *argc; i++) {
    bool eq = !strncmp(argv[i], "--precision=", 12);
    if (!eq && strcmp(argv[i], "--precision")) continue;
    const char *v = eq ? argv[i] + 12 : i + 1 < *argc ? argv[i + 1] : NULL;
    if (!v || (strcmp(v, "f64") && strcmp(v, "f32"))) {
      if (err) fputs("vlec: --precision takes f64 or f32\n", err);
      return 2;
    }
    if (*given) {
      if (err) fputs("vlec: --precision is given twice\n", err);
      return 2;
    }
    *given = true;
    *f32 = !strcmp(v, "f32");
    int n = eq ? 1 : 2;
    for (int j = i; j + n <= *argc; j++) argv[j] = argv[j + n];
    *argc -= n;
    i--;
  }
  return 0;
}

/* Removes every `flag` from argv; says whether there was one. */
bool fl_flag(int *argc, char **argv, const char *flag) {
  bool found = false;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], flag)) continue;
    found = true;
    for (int j = i; j + 1 <= *argc; j++) argv[j] = argv[j + 1];
    (*argc)--;
    i--;
  }
  return found;
}
