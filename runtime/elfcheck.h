/*
 * elfcheck.h - a structural check of an ELF shared object before dlopen.
 *
 * Why: dlopen maps the file; a truncated file whose program headers promise bytes beyond
 * its end can fault (SIGBUS) when the loader touches those pages. Checking that the headers
 * and every segment lie inside the file turns that crash into an error message.
 */
#ifndef VLE_ELFCHECK_H
#define VLE_ELFCHECK_H

#include "vle.h"

/* Returns 0 if path looks like a complete ELF object of this machine's class, else -1. */
int elf_check(const char *path, vle_error *err);

#endif
