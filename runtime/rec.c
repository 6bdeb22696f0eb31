/* rec.c - streaming .npy recordings; see rec.h. */
#include "rec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "vle_err.h"

#define REC_HEADER 128                 /* bytes reserved for the header: fits 4 dims */
#define REC_CHUNK (8u << 20)           /* bytes of spill read at a time when transposing */

int rec_open(rec_stream *r, const char *path, npy_dtype t, int64_t batch, int inner_ndim,
             const int64_t *inner, vle_error *err) {
  memset(r, 0, sizeof *r);
  r->dtype = t;
  r->es = npy_dtype_size(t);
  r->batch = batch ? batch : 1;
  r->batch_dim = batch > 0;
  r->inner_ndim = inner_ndim;
  r->rowlen = 1;
  for (int i = 0; i < inner_ndim; i++) r->rowlen *= (r->inner[i] = inner[i]);
  if (af_open(&r->out, path, err)) return -1;
  static const char zeros[REC_HEADER];
  fwrite(zeros, 1, REC_HEADER, r->out.fp);     /* the header is written at the end */
  if (batch > 1 && !(r->spill = tmpfile())) {
    af_abort(&r->out);
    return vle_fail(err, "%s: cannot create a spill file: %s", path, strerror(errno));
  }
  return 0;
}

int rec_append(rec_stream *r, const void *row, vle_error *err) {
  FILE *fp = r->spill ? r->spill : r->out.fp;
  size_t n = (size_t)(r->batch * r->rowlen);
  if (fwrite(row, r->es, n, fp) != n)
    return vle_fail(err, "%s: write failed: %s", r->out.path, strerror(errno));
  r->nrows++;
  return 0;
}

int rec_put(rec_stream *r, int64_t row, const void *data, vle_error *err) {
  FILE *fp = r->spill ? r->spill : r->out.fp;
  size_t n = (size_t)(r->batch * r->rowlen);
  off_t off = (off_t)(r->spill ? 0 : REC_HEADER) + (off_t)row * (off_t)(n * r->es);
  if (row < 0 || row >= r->nrows)
    return vle_fail(err, "%s: row %lld is not recorded yet", r->out.path, (long long)row);
  if (fseeko(fp, off, SEEK_SET) || fwrite(data, r->es, n, fp) != n || fseeko(fp, 0, SEEK_END))
    return vle_fail(err, "%s: write failed: %s", r->out.path, strerror(errno));
  return 0;
}

/* Spill [nrows][batch][rowlen] -> out [batch][nrows][rowlen], a chunk of rows at a time. */
static int rec_transpose(rec_stream *r, vle_error *err) {
  size_t rowbytes = (size_t)r->rowlen * r->es, stepbytes = rowbytes * (size_t)r->batch;
  size_t chunk = REC_CHUNK / stepbytes ? REC_CHUNK / stepbytes : 1;
  unsigned char *buf = malloc(chunk * stepbytes);
  if (!buf) return vle_fail(err, "%s: out of memory", r->out.path);
  rewind(r->spill);
  int rc = 0;
  for (int64_t k0 = 0; k0 < r->nrows && !rc; k0 += (int64_t)chunk) {
    size_t nk = (size_t)(r->nrows - k0) < chunk ? (size_t)(r->nrows - k0) : chunk;
    if (fread(buf, stepbytes, nk, r->spill) != nk) {
      rc = vle_fail(err, "%s: reading back the spill file failed", r->out.path);
      break;
    }
    for (int64_t b = 0; b < r->batch; b++) {
      long off = (long)(REC_HEADER + ((size_t)b * (size_t)r->nrows + (size_t)k0) * rowbytes);
      fseek(r->out.fp, off, SEEK_SET);
      for (size_t k = 0; k < nk; k++)
        fwrite(buf + k * stepbytes + (size_t)b * rowbytes, 1, rowbytes, r->out.fp);
    }
  }
  free(buf);
  return rc;
}

/* After a write error (a full disk, a file size limit): keep the rows that reached the file
 * in full, cut off the rest, so the recording is complete up to a step instead of lost. */
static int rec_salvage(rec_stream *r) {
  FILE **fp = r->spill ? &r->spill : &r->out.fp;
  if (!ferror(*fp) && fflush(*fp) == 0) return 0;
  if (r->spill ? af_reopen(&r->spill) : af_recover(&r->out)) return -1;
  struct stat st;
  off_t head = r->spill ? 0 : REC_HEADER;
  off_t rowbytes = (off_t)(r->batch * r->rowlen) * (off_t)r->es;
  if (fstat(fileno(*fp), &st) != 0) return -1;
  int64_t rows = st.st_size > head ? (int64_t)((st.st_size - head) / rowbytes) : 0;
  if (rows < r->nrows) r->nrows = rows;
  return ftruncate(fileno(*fp), head + (off_t)r->nrows * rowbytes) == 0 ? 0 : -1;
}

int64_t rec_rows(const rec_stream *r) { return r->nrows; }

int rec_truncate(rec_stream *r, int64_t rows, vle_error *err) {
  if (rows >= r->nrows) return 0;
  FILE *fp = r->spill ? r->spill : r->out.fp;
  off_t head = r->spill ? 0 : REC_HEADER;
  off_t rowbytes = (off_t)(r->batch * r->rowlen) * (off_t)r->es;
  if (fflush(fp) || ftruncate(fileno(fp), head + (off_t)rows * rowbytes) ||
      fseeko(fp, 0, SEEK_END))
    return vle_fail(err, "%s: cannot cut the recording back: %s", r->out.path, strerror(errno));
  r->nrows = rows;
  return 0;
}

int rec_close(rec_stream *r, vle_error *err) {
  if (rec_salvage(r)) {
    vle_fail(err, "%s: write failed, and the rows written could not be kept", r->out.path);
    rec_abort(r);
    return -1;
  }
  int64_t shape[4];
  int nd = 0;
  if (r->batch_dim) shape[nd++] = r->batch;
  shape[nd++] = r->nrows;
  for (int i = 0; i < r->inner_ndim; i++) shape[nd++] = r->inner[i];
  if (r->spill && rec_transpose(r, err)) {
    rec_abort(r);
    return -1;
  }
  if (fseek(r->out.fp, 0, SEEK_SET) || npy_write_header(r->out.fp, r->dtype, nd, shape, REC_HEADER)) {
    vle_fail(err, "%s: cannot write the .npy header", r->out.path);
    rec_abort(r);
    return -1;
  }
  if (r->spill) fclose(r->spill);
  r->spill = NULL;
  return af_commit(&r->out, err);
}

void rec_abort(rec_stream *r) {
  if (r->spill) fclose(r->spill);
  r->spill = NULL;
  af_abort(&r->out);
}
