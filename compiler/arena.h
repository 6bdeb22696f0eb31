/*
 * arena.h - bump allocation for one compilation unit.
 *
 * Every pass of the compiler allocates from the arena of the unit it works on and never
 * frees individual objects: the whole arena is dropped at once when the unit is done
 * (as in QBE). This keeps the passes free of ownership bookkeeping.
 */
#ifndef VLE_ARENA_H
#define VLE_ARENA_H

#include <stddef.h>

typedef struct ar_block ar_block;

typedef struct vl_arena {
  ar_block *head;     /* current block; older blocks are chained behind it */
  size_t total;       /* bytes handed out, for statistics */
} vl_arena;

void  ar_init(vl_arena *a);
void *ar_alloc(vl_arena *a, size_t size);              /* zeroed, 16-byte aligned */
void *ar_dup(vl_arena *a, const void *p, size_t size);
char *ar_strdup(vl_arena *a, const char *s);
char *ar_strndup(vl_arena *a, const char *s, size_t n);
char *ar_printf(vl_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void  ar_free_all(vl_arena *a);
/* Growable arrays in an arena: returns items, or a copy twice as large (at least 8) when
 * len has reached *cap (the old storage is abandoned). Use as
 *     xs = ar_grow(a, xs, n, &cap, sizeof *xs);  xs[n++] = x; */
void *ar_grow(vl_arena *a, void *items, int len, int *cap, size_t size);

/* Growable array of pointers living in an arena (old storage is simply abandoned). */
typedef struct vl_vec {
  void **items;
  int len, cap;
} vl_vec;

void vec_push(vl_arena *a, vl_vec *v, void *item);

#define AR_NEW(a, T) ((T *)ar_alloc((a), sizeof(T)))
#define AR_NEWN(a, T, n) ((T *)ar_alloc((a), sizeof(T) * (size_t)(n)))

#endif
