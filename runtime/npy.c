/* npy.c - NumPy .npy reading and writing; see npy.h. */
#include "npy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "af.h"
#include "rf.h"
#include "vle_err.h"

static const struct { npy_dtype t; const char *descr; size_t size; } npy_types[] = {
  { NPY_F8, "<f8", 8 }, { NPY_F4, "<f4", 4 }, { NPY_I8, "<i8", 8 }, { NPY_I4, "<i4", 4 },
  { NPY_I2, "<i2", 2 }, { NPY_U1, "|u1", 1 }, { NPY_BOOL, "|b1", 1 }, { NPY_I1, "|i1", 1 },
  { NPY_U2, "<u2", 2 }, { NPY_U4, "<u4", 4 }, { NPY_U8, "<u8", 8 },
};
enum { NPY_NTYPES = sizeof npy_types / sizeof npy_types[0] };

size_t npy_dtype_size(npy_dtype t) { return npy_types[t].size; }
const char *npy_dtype_descr(npy_dtype t) { return npy_types[t].descr; }
bool npy_dtype_is_int(npy_dtype t) { return t != NPY_F8 && t != NPY_F4; }

void npy_free(npy_array *a) {
  free(a->data);
  a->data = NULL;
}

double npy_get(const npy_array *a, size_t i) {
  const unsigned char *p = (const unsigned char *)a->data + i * npy_dtype_size(a->dtype);
  switch (a->dtype) {
  case NPY_F8: { double v; memcpy(&v, p, 8); return v; }
  case NPY_F4: { float v; memcpy(&v, p, 4); return v; }
  case NPY_I8: { int64_t v; memcpy(&v, p, 8); return (double)v; }
  case NPY_I4: { int32_t v; memcpy(&v, p, 4); return v; }
  case NPY_I2: { int16_t v; memcpy(&v, p, 2); return v; }
  case NPY_U1: return *p;
  case NPY_BOOL: return *p != 0;
  case NPY_I1: return (int8_t)*p;
  case NPY_U2: { uint16_t v; memcpy(&v, p, 2); return v; }
  case NPY_U4: { uint32_t v; memcpy(&v, p, 4); return v; }
  case NPY_U8: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
  }
  return 0;
}

void npy_shape_str(const npy_array *a, char *buf, size_t len) {
  size_t o = (size_t)snprintf(buf, len, "(");
  for (int i = 0; i < a->ndim && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, i ? ", %lld" : "%lld", (long long)a->shape[i]);
  if (o < len) snprintf(buf + o, len - o, a->ndim == 1 ? ",)" : ")");
}

/* ---- header parsing: a Python dict literal such as
 *      {'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }                      */

typedef struct npy_hdr {
  const char *path;
  const char *s;      /* header text */
  size_t len, pos;
  size_t base;        /* file offset of s[0], for messages */
  vle_error *err;
} npy_hdr;

static int hdr_fail(npy_hdr *h, const char *expect) {
  return vle_fail(h->err, "%s: bad .npy header at byte %zu: expected %s", h->path,
                  h->base + h->pos, expect);
}

static void hdr_ws(npy_hdr *h) {
  while (h->pos < h->len && (h->s[h->pos] == ' ' || h->s[h->pos] == '\n' ||
                             h->s[h->pos] == '\t' || h->s[h->pos] == '\r'))
    h->pos++;
}

static bool hdr_eat(npy_hdr *h, char c) {
  hdr_ws(h);
  if (h->pos < h->len && h->s[h->pos] == c) { h->pos++; return true; }
  return false;
}

/* A quoted string into out (at most cap-1 chars). */
static int hdr_string(npy_hdr *h, char *out, size_t cap) {
  hdr_ws(h);
  if (h->pos >= h->len || (h->s[h->pos] != '\'' && h->s[h->pos] != '"'))
    return hdr_fail(h, "a quoted string");
  char q = h->s[h->pos++];
  size_t n = 0;
  while (h->pos < h->len && h->s[h->pos] != q) {
    if (n + 1 == cap) return hdr_fail(h, "a shorter string (keys and dtypes are short)");
    out[n++] = h->s[h->pos++];
  }
  if (h->pos >= h->len) return hdr_fail(h, "a closing quote");
  h->pos++;
  out[n] = 0;
  return 0;
}

static int hdr_bool(npy_hdr *h, bool *v) {
  hdr_ws(h);
  if (h->len - h->pos >= 4 && !strncmp(h->s + h->pos, "True", 4)) { *v = true; h->pos += 4; return 0; }
  if (h->len - h->pos >= 5 && !strncmp(h->s + h->pos, "False", 5)) { *v = false; h->pos += 5; return 0; }
  return hdr_fail(h, "True or False");
}

static int hdr_shape(npy_hdr *h, npy_array *a) {
  if (!hdr_eat(h, '(')) return hdr_fail(h, "'(' starting the shape");
  a->ndim = 0;
  for (;;) {
    if (hdr_eat(h, ')')) return 0;
    hdr_ws(h);
    if (h->pos >= h->len || h->s[h->pos] < '0' || h->s[h->pos] > '9')
      return hdr_fail(h, "a non-negative integer in the shape");
    if (a->ndim == NPY_MAXDIM) return hdr_fail(h, "at most 8 dimensions");
    int64_t v = 0;
    while (h->pos < h->len && h->s[h->pos] >= '0' && h->s[h->pos] <= '9') {
      if (v > (INT64_MAX - 9) / 10) return hdr_fail(h, "a dimension that fits in 64 bits");
      v = v * 10 + (h->s[h->pos++] - '0');
    }
    if (h->pos < h->len && h->s[h->pos] == 'L') h->pos++;   /* Python 2 long suffix */
    a->shape[a->ndim++] = v;
    if (!hdr_eat(h, ',') && !(hdr_ws(h), h->pos < h->len && h->s[h->pos] == ')'))
      return hdr_fail(h, "',' or ')' in the shape");
  }
}

static int hdr_descr(npy_hdr *h, const char *d, npy_array *a) {
  char norm[16];
  snprintf(norm, sizeof norm, "%.15s", d);
  if (norm[0] == '=') norm[0] = '<';            /* native order: this runtime is little-endian */
  if (!strcmp(norm, "<u1") || !strcmp(norm, "|u1") || !strcmp(norm, "u1")) strcpy(norm, "|u1");
  if (!strcmp(norm, "<i1") || !strcmp(norm, "|i1") || !strcmp(norm, "i1")) strcpy(norm, "|i1");
  if (!strcmp(norm, "<b1") || !strcmp(norm, "|b1") || !strcmp(norm, "?")) strcpy(norm, "|b1");
  for (int i = 0; i < NPY_NTYPES; i++)
    if (!strcmp(norm, npy_types[i].descr)) { a->dtype = npy_types[i].t; return 0; }
  if (d[0] == '>')
    return vle_fail(h->err, "%s: big-endian data ('%s') is not supported: save it as "
                    "little-endian (arr.astype('<%s'))", h->path, d, d + 1);
  return vle_fail(h->err, "%s: unsupported dtype '%s' (expected one of <f8 <f4 <i8 <i4 <i2 "
                  "|i1 <u8 <u4 <u2 |u1 |b1)", h->path, d);
}

static int hdr_parse(npy_hdr *h, npy_array *a) {
  bool have_descr = false, have_fo = false, have_shape = false;
  if (!hdr_eat(h, '{')) return hdr_fail(h, "'{' starting the header dict");
  while (!hdr_eat(h, '}')) {
    char key[32], val[32];
    if (hdr_string(h, key, sizeof key)) return -1;
    if (!hdr_eat(h, ':')) return hdr_fail(h, "':' after a key");
    if (!strcmp(key, "descr")) {
      if (hdr_string(h, val, sizeof val) || hdr_descr(h, val, a)) return -1;
      have_descr = true;
    } else if (!strcmp(key, "fortran_order")) {
      bool fo = false;
      if (hdr_bool(h, &fo)) return -1;
      if (fo) return vle_fail(h->err, "%s: Fortran-order arrays are not supported: save a "
                              "C-ordered array (np.ascontiguousarray)", h->path);
      have_fo = true;
    } else if (!strcmp(key, "shape")) {
      if (hdr_shape(h, a)) return -1;
      have_shape = true;
    } else {
      return hdr_fail(h, "one of the keys 'descr', 'fortran_order', 'shape'");
    }
    if (!hdr_eat(h, ',')) {
      if (!hdr_eat(h, '}')) return hdr_fail(h, "',' or '}'");
      break;
    }
  }
  if (!have_descr || !have_fo || !have_shape)
    return vle_fail(h->err, "%s: bad .npy header: missing '%s'", h->path,
                    !have_descr ? "descr" : !have_fo ? "fortran_order" : "shape");
  return 0;
}

/* ---- reading ------------------------------------------------------------------------ */

static int npy_read_fp(FILE *fp, const char *path, npy_array *a, vle_error *err) {
  unsigned char pre[12];
  size_t got = fread(pre, 1, 10, fp);
  if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    if (got >= 6 && memcmp(pre, "\x93NUMPY", 6) != 0)
      return vle_fail(err, "%s: not a .npy file: bad magic at byte 0 (expected \\x93NUMPY)",
                      path);
    return vle_fail(err, "%s: truncated .npy file: %zu bytes, the preamble needs 10", path, got);
  }
  int major = pre[6];
  size_t hlen, hstart;
  if (major == 1) {
    hlen = pre[8] | (size_t)pre[9] << 8;
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (fread(pre + 10, 1, 2, fp) != 2)
      return vle_fail(err, "%s: truncated .npy file at byte 10: expected a 4-byte header length",
                      path);
    hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    hstart = 12;
  } else {
    return vle_fail(err, "%s: unsupported .npy version %d.%d at byte 6 (expected 1.0, 2.0 or 3.0)",
                    path, major, pre[7]);
  }
  if (hlen > (1u << 24))
    return vle_fail(err, "%s: bad .npy header at byte 8: header length %zu is implausible",
                    path, hlen);
  char *text = malloc(hlen + 1);
  if (!text) return vle_fail(err, "%s: out of memory", path);
  size_t hgot = fread(text, 1, hlen, fp);
  if (hgot != hlen) {
    free(text);
    return vle_fail(err, "%s: truncated .npy file: header ends at byte %zu, expected %zu bytes "
                    "of header from byte %zu", path, hstart + hgot, hlen, hstart);
  }
  text[hlen] = 0;
  npy_hdr h = { path, text, hlen, 0, hstart, err };
  memset(a, 0, sizeof *a);
  int rc = hdr_parse(&h, a);
  free(text);
  if (rc) return -1;

  size_t count = 1, es = npy_dtype_size(a->dtype);
  for (int i = 0; i < a->ndim; i++) {
    if (a->shape[i] && count > SIZE_MAX / 16 / (size_t)a->shape[i])
      return vle_fail(err, "%s: array shape too large", path);
    count *= (size_t)a->shape[i];
  }
  a->count = count;
  size_t nbytes = count * es, off = hstart + hlen;
  a->data = malloc(nbytes ? nbytes : 1);
  if (!a->data) return vle_fail(err, "%s: out of memory for %zu bytes", path, nbytes);
  size_t dgot = fread(a->data, 1, nbytes, fp);
  if (dgot != nbytes) {
    npy_free(a);
    return vle_fail(err, "%s: truncated .npy file: expected %zu bytes of data from byte %zu "
                    "(shape and dtype %s), found %zu", path, nbytes, off,
                    npy_dtype_descr(a->dtype), dgot);
  }
  if (fgetc(fp) != EOF) {
    npy_free(a);
    return vle_fail(err, "%s: bad .npy file: data continues past byte %zu where the header's "
                    "shape says it ends", path, off + nbytes);
  }
  return 0;
}

int npy_read(const char *path, npy_array *a, vle_error *err) {
  memset(a, 0, sizeof *a);
  FILE *fp = rf_open(path, err);
  if (!fp) return -1;
  int rc = npy_read_fp(fp, path, a, err);
  fclose(fp);
  return rc;
}

/* ---- writing ------------------------------------------------------------------------ */

int npy_write_header(FILE *fp, npy_dtype t, int ndim, const int64_t *shape, size_t total) {
  char dict[256];
  size_t o = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, "
                              "'shape': (", npy_dtype_descr(t));
  for (int i = 0; i < ndim && o < sizeof dict; i++)
    o += (size_t)snprintf(dict + o, sizeof dict - o, "%lld, ", (long long)shape[i]);
  if (ndim >= 2 && o < sizeof dict) o -= 2;            /* (3, 4) but (3,) for 1-d */
  else if (ndim == 1) o -= 1;
  if (o < sizeof dict) o += (size_t)snprintf(dict + o, sizeof dict - o, "), }");
  if (o >= sizeof dict || 10 + o + 1 > total || total > 65535 + 10) return -1;
  size_t hlen = total - 10;
  unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                            (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8) };
  fwrite(pre, 1, 10, fp);
  fwrite(dict, 1, o, fp);
  for (size_t i = o; i + 1 < hlen; i++) fputc(' ', fp);
  fputc('\n', fp);
  return ferror(fp) ? -1 : 0;
}

/* Smallest multiple of 64 that holds the header (NumPy aligns data to 64 bytes). */
static size_t npy_header_size(int ndim) { return ndim <= 4 ? 128 : 256; }

int npy_write(const char *path, npy_dtype t, int ndim, const int64_t *shape, const void *data,
              vle_error *err) {
  size_t count = 1;
  for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
  af_file f;
  if (af_open(&f, path, err)) return -1;
  if (npy_write_header(f.fp, t, ndim, shape, npy_header_size(ndim)) != 0) {
    af_abort(&f);
    return vle_fail(err, "%s: cannot write the .npy header", path);
  }
  fwrite(data, npy_dtype_size(t), count, f.fp);
  return af_commit(&f, err);
}
