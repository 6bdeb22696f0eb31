/*
 * frontend.c - loading a model: read files, parse them, follow `use` (prefix fe_).
 *
 * The declarations of a used file are spliced into vl_model.decls right after the D_USE
 * that names it, so the model reads as one file in declaration order and the checker's
 * "declared before use" rule spans files. Each file is included once, identified by its
 * canonical path; a `use` of a file that is still being loaded is a cycle.
 */
#include "frontend.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "stdpath.h"

/* The loader's state for one model. */
typedef struct fe_loader {
  vl_arena *a;
  dg_ctx *d;
  vl_model *m;
  fe_opts opts;
  vl_vec done;             /* canonical paths of every file loaded so far (char*) */
  vl_vec stack;            /* canonical paths of the files being loaded, outermost first */
  vl_vec shown;            /* the same files as their paths read in messages */
} fe_loader;

static bool fe_load_decls(fe_loader *L, const vl_source *src, const char *canon, bool used);

/* ---- reading files ------------------------------------------------------------------ */

/* The whole of f, at most FE_MAX_FILE_BYTES; NULL with *err set on failure. Reads in a
 * loop rather than trusting the size from stat, so pipes and /proc files work too. */
static char *fe_slurp(FILE *f, long *len, const char **err) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) { *err = "out of memory"; return NULL; }
  for (;;) {
    if (n == cap) {
      if (cap > FE_MAX_FILE_BYTES) { free(buf); *err = "too large"; return NULL; }
      char *nb = realloc(buf, cap * 2 + 1);
      if (!nb) { free(buf); *err = "out of memory"; return NULL; }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) { free(buf); *err = strerror(errno ? errno : EIO); return NULL; }
  if (n > FE_MAX_FILE_BYTES) { free(buf); *err = "too large"; return NULL; }
  buf[n] = 0;
  *len = (long)n;
  return buf;
}

/* A source in the arena: a NUL-terminated copy of text. */
static vl_source *fe_source(vl_arena *a, const char *path, const char *text, long len) {
  vl_source *s = AR_NEW(a, vl_source);
  s->path = ar_strdup(a, path);
  s->text = ar_strndup(a, text, (size_t)len);
  s->len = len;
  return s;
}

/* Where a NUL byte is, as a span: binary files are refused with a location. */
static vl_span fe_nul_span(const vl_source *s, const char *nul) {
  vl_span sp = { s, 1, 1, 1 };
  for (const char *p = s->text; p < nul; p++) {
    if (*p == '\n') { sp.line++; sp.col = 1; }
    else sp.col++;
  }
  return sp;
}

/* Read path into a source. Errors name the file; at is the `use` that asked for it (or a
 * span with no source for the main file). */
static vl_source *fe_read(vl_arena *a, dg_ctx *d, const char *path, vl_span at) {
  const char *err = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) err = strerror(errno);
  long len = 0;
  char *buf = f ? fe_slurp(f, &len, &err) : NULL;
  if (f) fclose(f);
  if (!buf && err && !strcmp(err, "too large"))
    err = ar_printf(a, "file too large (the limit is %d MiB)", FE_MAX_FILE_BYTES >> 20);
  if (!buf) {
    if (at.src) dg_error(d, at, "cannot read '%s': %s", path, err ? err : "error");
    else dg_plain(d, "cannot read '%s': %s", path, err ? err : "error");
    return NULL;
  }
  vl_source *s = fe_source(a, path, buf, len);
  free(buf);
  const char *nul = memchr(s->text, 0, (size_t)s->len);
  if (nul) {
    dg_error(d, fe_nul_span(s, nul), "'%s' is a binary file (it contains a NUL byte), not a model", path);
    return NULL;
  }
  return s;
}

/* ---- use -------------------------------------------------------------------------------- */

/* The path a `use` names: std.NAME in the standard library, others relative to the
 * directory of the file that names them (absolute paths as they are). */
static const char *fe_use_path(vl_arena *a, const vl_decl *u) {
  char dir[4096];
  if (u->use_std) return ar_printf(a, "%s/%s.vle", sp_stdlib_dir(dir, sizeof dir), u->use_std);
  const char *p = u->use_path;
  if (p[0] == '/') return p;
  const char *from = u->file->path, *slash = strrchr(from, '/');
  if (!slash) return p;
  return ar_printf(a, "%.*s/%s", (int)(slash - from), from, p);
}

/* The canonical name of a file, or the path itself when it cannot be resolved (a buffer
 * that was never a file). */
static const char *fe_canon(vl_arena *a, const char *path) {
  char *r = realpath(path, NULL);
  if (!r) return ar_strdup(a, path);
  const char *s = ar_strdup(a, r);
  free(r);
  return s;
}

static bool fe_in(const vl_vec *v, const char *s) {
  for (int i = 0; i < v->len; i++)
    if (!strcmp(v->items[i], s)) return true;
  return false;
}

/* The files of the include cycle, "a.vle -> b.vle -> a.vle", from where canon entered. */
static const char *fe_cycle_text(fe_loader *L, const char *canon) {
  const char *s = "", *first = NULL;
  for (int i = 0; i < L->stack.len; i++) {
    if (!first && strcmp(L->stack.items[i], canon)) continue;
    if (!first) first = L->shown.items[i];
    s = ar_printf(L->a, "%s%s -> ", s, (const char *)L->shown.items[i]);
  }
  return ar_printf(L->a, "%s%s", s, first ? first : canon);
}

/* use "path" | use std.NAME: load the file once; a cycle or a missing file is an error. */
static bool fe_use(fe_loader *L, vl_decl *u) {
  if (L->opts.no_use) {
    dg_error(L->d, u->name_span, "use is disabled here");
    return false;
  }
  if (L->stack.len >= FE_MAX_USE_DEPTH) {
    dg_error(L->d, u->name_span, "use nested too deeply (the limit is %d files)", FE_MAX_USE_DEPTH);
    return false;
  }
  const char *path = fe_use_path(L->a, u);
  const char *canon = fe_canon(L->a, path);
  if (fe_in(&L->stack, canon)) {
    dg_error(L->d, u->name_span, "include cycle: %s", fe_cycle_text(L, canon));
    return false;
  }
  if (fe_in(&L->done, canon)) return true;       /* a file is included once */
  vl_source *src = fe_read(L->a, L->d, path, u->name_span);
  return src && fe_load_decls(L, src, canon, true);
}

/* What a used file may not declare: what makes a file a model rather than a library. */
static bool fe_library_decl_ok(fe_loader *L, const vl_decl *dc) {
  static const char *const what[] = {
    [D_MODEL] = "model", [D_ENERGY] = "energy", [D_COST] = "cost", [D_LEARN] = "learn",
    [D_SETTINGS] = "settings",
  };
  if (dc->kind >= (int)(sizeof what / sizeof what[0]) || !what[dc->kind]) return true;
  dg_error(L->d, dc->span, "a used file cannot declare '%s' (only the main model file can)",
           what[dc->kind]);
  return false;
}

/* Parse src and append its declarations to the model, splicing in used files. */
static bool fe_load_decls(fe_loader *L, const vl_source *src, const char *canon, bool used) {
  vl_vec decls = { 0 };
  vec_push(L->a, &L->done, (void *)canon);
  if (!ps_parse(L->a, L->d, src, &decls)) return false;
  vec_push(L->a, &L->stack, (void *)canon);
  vec_push(L->a, &L->shown, (void *)src->path);
  bool ok = true;
  for (int i = 0; i < decls.len; i++) {
    vl_decl *dc = decls.items[i];
    if (used && !fe_library_decl_ok(L, dc)) ok = false;
    dc->order = L->m->decls.len;
    vec_push(L->a, &L->m->decls, dc);
    if (dc->kind == D_USE && !fe_use(L, dc)) ok = false;
  }
  L->stack.len--;
  L->shown.len--;
  return ok;
}

/* ---- entry points --------------------------------------------------------------------- */

static vl_model *fe_load_source(vl_arena *a, dg_ctx *d, vl_source *src, const fe_opts *o) {
  vl_model *m = AR_NEW(a, vl_model);
  m->arena = a;
  m->main = src;
  fe_loader L = { .a = a, .d = d, .m = m };
  if (o) L.opts = *o;
  int errors = d->errors;
  fe_load_decls(&L, src, fe_canon(a, src->path), false);
  return d->errors == errors ? m : NULL;
}

vl_model *fe_load_text_opts(vl_arena *a, dg_ctx *d, const char *path, const char *text,
                            long len, const fe_opts *o) {
  if (len < 0) len = 0;
  vl_source *src = fe_source(a, path ? path : "<input>", text ? text : "", text ? len : 0);
  return fe_load_source(a, d, src, o);
}

vl_model *fe_load_text(vl_arena *a, dg_ctx *d, const char *path, const char *text, long len) {
  return fe_load_text_opts(a, d, path, text, len, NULL);
}

vl_model *fe_load_file(vl_arena *a, dg_ctx *d, const char *path) {
  vl_span none = { 0 };
  vl_source *src = fe_read(a, d, path, none);
  return src ? fe_load_source(a, d, src, NULL) : NULL;
}

vl_model *fe_compile(vl_arena *a, dg_ctx *d, const char *path) {
  vl_model *m = fe_load_file(a, d, path);
  return m && ck_check(m, d) ? m : NULL;
}
