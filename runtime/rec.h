/*
 * rec.h - recording a signal to .npy while a run goes on, with memory independent of the
 * number of steps.
 *
 * A recording gets one row per step (or per snapshot) of `batch` x `inner` reals; the file
 * holds [batch, steps, inner...] for a batched signal (batch 1 included, so that analysis
 * code never special-cases it) and [steps, inner...] for one that is not (cli.md). The
 * number of steps is only known at the end:
 *  - batch 1: rows go straight into the temporary .npy behind a reserved header, which is
 *    rewritten with the final shape when the recording is closed;
 *  - batch > 1: rows go step-major into an unlinked spill file and are transposed into the
 *    .npy in chunks at the end.
 * The .npy is renamed into place only when complete (af.h); an aborted recording leaves
 * nothing behind.
 */
#ifndef VLE_REC_H
#define VLE_REC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "af.h"
#include "npy.h"

typedef struct rec_stream {
  af_file out;                /* the .npy being written */
  FILE *spill;                /* batch > 1: step-major rows */
  npy_dtype dtype;
  size_t es;
  int64_t batch, rowlen;      /* rowlen = product of inner */
  bool batch_dim;             /* the file's first dimension is the batch */
  int inner_ndim;
  int64_t inner[2];
  int64_t nrows;
} rec_stream;

/* Starts a recording at path; inner is the shape of one batch element's value (0-2 dims);
 * batch 0: not a batched signal (one value per row, no batch dimension in the file). */
int rec_open(rec_stream *r, const char *path, npy_dtype t, int64_t batch, int inner_ndim,
             const int64_t *inner, vle_error *err);
/* Appends one row: batch * rowlen elements of the recording's dtype, [batch][rowlen]. */
int rec_append(rec_stream *r, const void *row, vle_error *err);
/* Overwrites row `row` (< rows appended so far) with batch * rowlen elements: the adjoint's
 * sweep fills in the errors of steps already recorded. */
int rec_put(rec_stream *r, int64_t row, const void *data, vle_error *err);
/* Keeps only the first `rows` rows (<= those appended): a run that stops at an earlier step
 * than it recorded (a NaN found by a later check) cuts its recordings back to that step. */
int rec_truncate(rec_stream *r, int64_t rows, vle_error *err);
/* Completes the file (final shape, transpose) and renames it into place. After a write
 * error it keeps the rows that reached the file in full (rec_rows says how many). */
int rec_close(rec_stream *r, vle_error *err);
/* Rows recorded (after rec_close: rows in the file). */
int64_t rec_rows(const rec_stream *r);
/* Drops the recording: nothing appears under its name. */
void rec_abort(rec_stream *r);

#endif
