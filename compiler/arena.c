/* arena.c - see arena.h. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ar_block {
  ar_block *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

enum { AR_BLOCK = 64 * 1024 };

void ar_init(vl_arena *a) { a->head = NULL; a->total = 0; }

static ar_block *ar_newblock(size_t need) {
  size_t cap = need > AR_BLOCK ? need : AR_BLOCK;
  ar_block *b = malloc(sizeof(ar_block) + cap);
  if (!b) { fputs("vlec: out of memory\n", stderr); exit(1); }
  b->next = NULL; b->used = 0; b->cap = cap;
  return b;
}

void *ar_alloc(vl_arena *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  if (size == 0) size = 16;
  ar_block *b = a->head;
  if (!b || b->cap - b->used < size) {
    ar_block *nb = ar_newblock(size);
    nb->next = b;
    a->head = nb;
    b = nb;
  }
  void *p = b->data + b->used;
  b->used += size;
  a->total += size;
  memset(p, 0, size);
  return p;
}

void *ar_dup(vl_arena *a, const void *p, size_t size) {
  void *q = ar_alloc(a, size);
  if (size) memcpy(q, p, size);
  return q;
}

char *ar_strndup(vl_arena *a, const char *s, size_t n) {
  char *q = ar_alloc(a, n + 1);
  memcpy(q, s, n);
  q[n] = 0;
  return q;
}

char *ar_strdup(vl_arena *a, const char *s) { return ar_strndup(a, s, strlen(s)); }

char *ar_printf(vl_arena *a, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = ar_alloc(a, (size_t)n + 1);
  vsnprintf(s, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return s;
}

void ar_free_all(vl_arena *a) {
  ar_block *b = a->head;
  while (b) { ar_block *n = b->next; free(b); b = n; }
  a->head = NULL;
  a->total = 0;
}

void *ar_grow(vl_arena *a, void *items, int len, int *cap, size_t size) {
  if (len < *cap) return items;
  int ncap = *cap ? *cap * 2 : 8;
  void *n = ar_alloc(a, size * (size_t)ncap);
  if (len) memcpy(n, items, size * (size_t)len);
  *cap = ncap;
  return n;
}

void vec_push(vl_arena *a, vl_vec *v, void *item) {
  v->items = ar_grow(a, v->items, v->len, &v->cap, sizeof *v->items);
  v->items[v->len++] = item;
}
