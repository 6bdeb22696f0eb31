/*
 * symtab.h - a hash table from names to declarations (prefix st_).
 *
 * The checker looks every name up here, so models with a million declarations check in
 * linear time. Lives in an arena; there is no removal (scopes are handled by the checker).
 */
#ifndef VLE_SYMTAB_H
#define VLE_SYMTAB_H

#include "ast.h"

typedef struct st_table {
  vl_arena *a;
  vl_decl **slots;         /* open addressing, linear probing; NULL is empty */
  int cap, len;
} st_table;

void st_init(st_table *t, vl_arena *a);
vl_decl *st_get(const st_table *t, const char *name);
/* Insert d under d->name; returns the declaration already there (not replaced), or NULL. */
vl_decl *st_put(st_table *t, vl_decl *d);
/* The name in the table closest to name (edit distance <= 2, a third of its length at
 * most), or NULL: for "did you mean" hints. Linear in the table size. */
const char *st_closest(const st_table *t, const char *name);

#endif
