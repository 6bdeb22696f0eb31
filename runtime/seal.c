/* seal.c - the integrity seal of a built model; see seal.h. */
#include "seal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "rf.h"
#include "vle_err.h"

static const char seal_magic[8] = { 'V', 'L', 'E', 'S', 'E', 'A', 'L', '1' };

/* FNV-1a 64 over the first n bytes of fp (from its current position); -1 on a short read. */
static int seal_hash(FILE *fp, uint64_t n, uint64_t *h) {
  unsigned char buf[1 << 16];
  *h = 0xcbf29ce484222325ULL;
  while (n) {
    size_t want = n < sizeof buf ? (size_t)n : sizeof buf;
    if (fread(buf, 1, want, fp) != want) return -1;
    for (size_t i = 0; i < want; i++) *h = (*h ^ buf[i]) * 0x100000001b3ULL;
    n -= want;
  }
  return 0;
}

static uint64_t seal_size(FILE *fp) {
  struct stat st;
  return fstat(fileno(fp), &st) == 0 ? (uint64_t)st.st_size : 0;
}

int seal_append(const char *path, vle_error *err) {
  FILE *fp = rf_open(path, err);
  if (!fp) return -1;
  uint64_t n = seal_size(fp), h;
  int bad = seal_hash(fp, n, &h);
  fclose(fp);
  if (bad) return vle_fail(err, "%s: read error while sealing", path);
  unsigned char t[SEAL_BYTES];
  memcpy(t, seal_magic, 8);
  memcpy(t + 8, &n, 8);         /* little-endian hosts only (docs/runtime.md) */
  memcpy(t + 16, &h, 8);
  fp = fopen(path, "ab");
  if (!fp) return vle_fail(err, "%s: cannot open to seal: %s", path, strerror(errno));
  bad = fwrite(t, 1, sizeof t, fp) != sizeof t;
  if (fclose(fp) != 0) bad = 1;
  return bad ? vle_fail(err, "%s: cannot write the seal: %s", path, strerror(errno)) : 0;
}

int seal_verify(const char *path, vle_error *err) {
  FILE *fp = rf_open(path, err);
  if (!fp) return -1;
  uint64_t size = seal_size(fp), n = 0, h = 0, want = 0;
  unsigned char t[SEAL_BYTES];
  int rc = 0;
  if (size < SEAL_BYTES || fseek(fp, (long)(size - SEAL_BYTES), SEEK_SET) != 0 ||
      fread(t, 1, SEAL_BYTES, fp) != SEAL_BYTES || memcmp(t, seal_magic, 8) != 0) {
    rc = vle_fail(err, "%s: no vle seal at the end of the file (not built by vlec build, or "
                  "truncated or stripped since: rebuild it with vlec build)", path);
  } else {
    memcpy(&n, t + 8, 8);
    memcpy(&want, t + 16, 8);
    rewind(fp);
    if (n != size - SEAL_BYTES)
      rc = vle_fail(err, "%s: the seal covers %llu bytes, the file has %llu before it: it was "
                    "cut or extended; rebuild it with vlec build", path, (unsigned long long)n,
                    (unsigned long long)(size - SEAL_BYTES));
    else if (seal_hash(fp, n, &h) || h != want)
      rc = vle_fail(err, "%s: the file does not match the seal vlec build gave it (its hash "
                    "differs): it is corrupt or was modified; rebuild it with vlec build", path);
  }
  fclose(fp);
  return rc;
}
