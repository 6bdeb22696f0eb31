/*
 * csv.h - numeric CSV: one row per step, one column per element of the stream.
 *
 * Values are separated by commas (spaces around them are ignored). Blank lines and lines
 * starting with '#' are skipped; a first line that is not numeric is taken as a header and
 * skipped. Every row must have the same number of values. Errors name file:line:column.
 */
#ifndef VLE_CSV_H
#define VLE_CSV_H

#include <stdint.h>
#include "vle.h"

/* Reads path into a malloc'd row-major array *data of *rows x *cols doubles. */
int csv_read(const char *path, double **data, int64_t *rows, int64_t *cols, vle_error *err);

#endif
