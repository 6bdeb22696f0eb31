/*
 * seal.h - the integrity seal of a built model (.so): a 24-byte trailer that vlec build
 * appends after linking, "VLESEAL1", the length of everything before it (u64) and its
 * FNV-1a 64 hash (u64), both little-endian.
 *
 * Why: a flipped byte in a shared object may crash inside dlopen, crash in a kernel, or run
 * to exit 0 with a silently different model (a descriptor key "gamma" turned "jamma"). The
 * seal covers every byte, the descriptor and the code alike, and is verified before dlopen
 * touches the file. It catches accidents (bit rot, truncation, a partial copy), not a
 * deliberate forgery: loading a shared object runs its code anyway. The loader ignores
 * bytes after the ELF image, so the trailer changes nothing else.
 */
#ifndef VLE_SEAL_H
#define VLE_SEAL_H

#include "vle.h"

#define SEAL_BYTES 24

/* Appends the seal to the file at path. 0, or -1 with err set. */
int seal_append(const char *path, vle_error *err);
/* Checks the seal of the file at path: 0 when intact, else -1 with a message that says
 * whether the seal is missing or does not match. */
int seal_verify(const char *path, vle_error *err);

#endif
