/*
 * csv.h - numeric CSV: one row per step, one column per element of the stream.
 *
 * Values are separated by commas (spaces around them are ignored). Blank lines and lines
 * starting with '#' are skipped; a first line whose every field is a name (a letter or '_'
 * first, optionally quoted, not "nan"/"inf") is a header and skipped; any other field that
 * is not a number is an error. Every row must have the same number of values. A NUL byte or
 * a line longer than 1 MiB is an error. Errors name file:line and the column (field).
 */
#ifndef VLE_CSV_H
#define VLE_CSV_H

#include <stdint.h>
#include "vle.h"

/* Reads path into a malloc'd row-major array *data of *rows x *cols doubles. */
int csv_read(const char *path, double **data, int64_t *rows, int64_t *cols, vle_error *err);

#endif
