/*
 * aot.h - ahead-of-time output: a kernel program as a shared library plus a C header.
 *
 * aot_build() writes SO_PATH (the kernels and the globals of docs/abi.md, position-
 * independent, depending on nothing but libc and libm) and the header next to it (SO_PATH
 * with ".so" replaced by ".h"): declarations of every exported symbol and a comment listing
 * the buffers (index, name, role, shape). Both are written under temporary names and renamed
 * into place at the end, so a failed build leaves neither a partial file nor a changed old
 * one. The object file is linked by `cc -shared` (override the program with $VLE_CC).
 */
#ifndef VLE_AOT_H
#define VLE_AOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "kir.h"
#include "llvm.h"

/* Builds so_path and its header. false on failure (reason in err); nothing written then. */
bool aot_build(const kir_program *p, const cg_options *o, const char *so_path,
               char *err, size_t errlen);

/* The header aot_build writes, to any stream (for `vlec emit` and tests). */
void aot_write_header(FILE *out, const kir_program *p, const cg_options *o);

/* The header's path for so_path ("m.so" -> "m.h", anything else: append ".h") into buf;
 * NULL when it does not fit in n bytes. */
char *aot_header_path(char *buf, size_t n, const char *so_path);

#endif
