/* symtab.c - see symtab.h. */
#include "symtab.h"

#include <string.h>

/* FNV-1a: short names, no adversary worth a keyed hash here. */
static unsigned st_hash(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

void st_init(st_table *t, vl_arena *a) {
  t->a = a;
  t->cap = 64;
  t->len = 0;
  t->slots = AR_NEWN(a, vl_decl *, t->cap);
}

static int st_slot(const st_table *t, const char *name) {
  unsigned i = st_hash(name) & (unsigned)(t->cap - 1);
  while (t->slots[i] && strcmp(t->slots[i]->name, name)) i = (i + 1) & (unsigned)(t->cap - 1);
  return (int)i;
}

vl_decl *st_get(const st_table *t, const char *name) { return t->slots[st_slot(t, name)]; }

/* Double the table when it is half full (the old slots are left in the arena). */
static void st_grow(st_table *t) {
  vl_decl **old = t->slots;
  int oldcap = t->cap;
  t->cap *= 2;
  t->slots = AR_NEWN(t->a, vl_decl *, t->cap);
  for (int i = 0; i < oldcap; i++)
    if (old[i]) t->slots[st_slot(t, old[i]->name)] = old[i];
}

vl_decl *st_put(st_table *t, vl_decl *d) {
  int i = st_slot(t, d->name);
  if (t->slots[i]) return t->slots[i];
  t->slots[i] = d;
  if (++t->len * 2 > t->cap) st_grow(t);
  return NULL;
}

/* Levenshtein distance, giving up (returning limit + 1) for long names. */
static int st_distance(const char *a, const char *b, int limit) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 63 || lb > 63 || la - lb > limit || lb - la > limit) return limit + 1;
  int prev[64], cur[64];
  for (int j = 0; j <= lb; j++) prev[j] = j;
  for (int i = 1; i <= la; i++) {
    cur[0] = i;
    for (int j = 1; j <= lb; j++) {
      int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      int del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
  }
  return prev[lb];
}

const char *st_closest(const st_table *t, const char *name) {
  int limit = (int)strlen(name) / 3;
  if (limit > 2) limit = 2;
  if (limit < 1) return NULL;
  const char *best = NULL;
  int bestd = limit + 1;
  for (int i = 0; i < t->cap; i++) {
    if (!t->slots[i]) continue;
    int dist = st_distance(name, t->slots[i]->name, limit);
    if (dist < bestd) { bestd = dist; best = t->slots[i]->name; }
  }
  return best;
}
