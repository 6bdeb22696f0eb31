/*
 * mcache.h - the compile cache: a model's shared object, built once per content.
 *
 * `vlec run MODEL.vle` and the Python package (through `vlec build --cached`) load the
 * .so of a cache entry instead of compiling again. An entry is keyed by everything the
 * code depends on (docs/python.md "The compile cache"):
 *   - the main source's absolute path (file("W.npy") initialisers are resolved against its
 *     directory) and its text;
 *   - the text of every file it uses, transitively (std.* included);
 *   - the precision; the vlec that compiles (version, and the size and mtime of the
 *     compiler library: a rebuilt compiler is another compiler); the host CPU (its model
 *     name and feature flags in /proc/cpuinfo).
 * Layout of the directory: KEY1.deps (the used files of the last build of a main source,
 * KEY1 = hash of all but the used files) and KEY2.so / KEY2.h (KEY2 = KEY1 plus the used
 * files' texts). A lookup reads KEY1.deps, hashes those files as they are now and looks
 * for KEY2.so: a changed used file gives another KEY2, a miss. Every file is written under
 * a temporary name and renamed, so two processes compiling at once both succeed and
 * readers never see a partial file. Keys are FNV-1a 64: a guard against accidents, not
 * against someone crafting a collision in your own cache.
 */
#ifndef VLE_MCACHE_H
#define VLE_MCACHE_H

#include <stdbool.h>
#include <stdio.h>

#include "mckey.h"

/* The cached .so of MODEL.vle at this precision ("f64" | "f32"), built now on a miss
 * (diagnostics and errors to err). Returns its path (malloc), or NULL after printing why.
 * *hit (may be NULL) says whether it was in the cache already. */
char *mc_get(const char *dir, const char *path, const char *precision, bool *hit, FILE *err);

#endif
