/*
 * rf.h - opening a file the runtime reads (data, states, models, initial values).
 *
 * Why: fopen on a FIFO with no writer blocks forever, and a directory or /dev/zero reads as
 * an empty or endless file with a misleading message. Every input must be a regular file
 * (or a link to one); anything else is refused by its type before a byte is read.
 */
#ifndef VLE_RF_H
#define VLE_RF_H

#include <stdio.h>
#include "vle.h"

/* Opens path for reading ("rb"). NULL with err set ("PATH: is a FIFO, not a regular file",
 * "PATH: cannot open: ..."). The check is on the opened descriptor, so a file swapped in
 * between is caught too; O_NONBLOCK makes the open of a FIFO return at once. */
FILE *rf_open(const char *path, vle_error *err);
/* The same check without opening (a shared object goes to dlopen by name): 0, or -1. */
int   rf_check(const char *path, vle_error *err);

#endif
