/*
 * mckey.h - the keys and lookups of the compile cache (mcache.h), without the compiler: the
 * vlec executable (main.c) serves a cache hit with these and libvlert alone, never loading
 * LLVM. mcache.c builds entries under the same keys.
 */
#ifndef VLE_MCKEY_H
#define VLE_MCKEY_H

#include <stddef.h>
#include <stdint.h>

#define MC_FNV0 0xcbf29ce484222325ULL

/* The cache directory: $VLE_CACHE_DIR, else $XDG_CACHE_HOME/vle, else $HOME/.cache/vle
 * (malloc); NULL when the cache is off: VLE_NO_CACHE set to anything but "" or "0", or no
 * directory can be named. */
char *mc_dir(void);

/* Only the lookup: the path of a current entry (malloc), or NULL on a miss. */
char *mc_lookup(const char *dir, const char *path, const char *precision);

/* The files the current entry of MODEL.vle was built from besides the main source, one
 * absolute path a line, as the entry's KEY1.deps lists them (malloc), or NULL (no entry).
 * A run copies them into its directory (run.json's model_uses). */
char *mc_deps(const char *dir, const char *path, const char *precision);

/* What the build side needs to write an entry under the same keys. */
uint64_t mc_fnv(uint64_t h, const void *data, size_t n);
/* KEY1's text: format, vlec, the compiler library, the CPU, the precision, the absolute
 * path and the text of the main source (malloc). */
char *mc_key1_text(const char *abs, const char *text, size_t len, const char *precision);
/* The hex of the FNV of a text, into out[17]. */
void mc_hex(char out[17], const char *text);
/* KEY2: adds "use PATH HASH" of one used file. */
uint64_t mc_key2_add(uint64_t h, const char *path, const char *text, size_t len);
/* DIR/KEY.EXT (malloc). */
char *mc_entry(const char *dir, const char *key, const char *ext);
/* snprintf("%s...%s") into a new string (asprintf is a GNU extension). */
char *mc_printf(const char *fmt, const char *a, const char *b);

#endif
