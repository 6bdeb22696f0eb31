/*
 * npy.h - NumPy .npy files (format versions 1.0, 2.0, 3.0), read and written.
 *
 * Supported: little-endian (or byte-order-free) f8, f4, every signed and unsigned integer
 * (i1..i8, u1..u8; read as doubles, so integers beyond 2^53 are rounded) and bool, C order.
 * Everything else (Fortran order, big-endian, other dtypes, object arrays) is rejected with a
 * message that names the file, the byte offset and what was expected. Writes go through
 * af.h: a file is complete or absent.
 */
#ifndef VLE_NPY_H
#define VLE_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "vle.h"

#define NPY_MAXDIM 8

typedef enum { NPY_F8, NPY_F4, NPY_I8, NPY_I4, NPY_I2, NPY_U1, NPY_BOOL, NPY_I1, NPY_U2, NPY_U4,
               NPY_U8 } npy_dtype;

typedef struct npy_array {
  npy_dtype dtype;
  int ndim;                     /* 0 for a scalar */
  int64_t shape[NPY_MAXDIM];
  size_t count;                 /* product of shape (1 for a scalar) */
  void *data;                   /* count elements of dtype, host (little-endian) order */
} npy_array;

size_t      npy_dtype_size(npy_dtype t);
const char *npy_dtype_descr(npy_dtype t);   /* "<f8", "|u1", "|b1", ... */
bool        npy_dtype_is_int(npy_dtype t);  /* integer or bool */

/* Reads path into *a (a->data malloc'd; npy_free releases it). Returns 0 or -1 + err. */
int    npy_read(const char *path, npy_array *a, vle_error *err);
void   npy_free(npy_array *a);
/* Element i of a as a double. */
double npy_get(const npy_array *a, size_t i);
/* "(3, 4)" style shape text for messages. */
void   npy_shape_str(const npy_array *a, char *buf, size_t len);

/* Writes a complete file (temp + rename). Returns 0 or -1 + err. */
int npy_write(const char *path, npy_dtype t, int ndim, const int64_t *shape, const void *data,
              vle_error *err);
/* Writes a v1.0 header padded to exactly `total` bytes (a multiple of 64, >= 128 is ample for
 * any shape): lets a streaming writer reserve the header and rewrite it when the final
 * shape is known. Returns 0, or -1 if it does not fit. */
int npy_write_header(FILE *fp, npy_dtype t, int ndim, const int64_t *shape, size_t total);

#endif
