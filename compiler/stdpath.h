/*
 * stdpath.h - where `use std.NAME` finds stdlib/NAME.vle, at run time (docs/python.md,
 * "Installing"): an installed or moved vlec finds the standard library next to itself.
 */
#ifndef VLE_STDPATH_H
#define VLE_STDPATH_H

#include <stddef.h>

/* The first of: $VLE_STDLIB_DIR; EXE/../share/vle/stdlib (an installed vlec: PREFIX/bin and
 * PREFIX/share); EXE/../stdlib (vlec in a build directory of the checkout); the checkout's
 * stdlib this vlec was configured from. EXE is the directory of the running program. The
 * result is written to buf (n bytes) and returned. */
const char *sp_stdlib_dir(char *buf, size_t n);

#endif
