/* pipeline.c - see pipeline.h. */
#include "pipeline.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "frontend.h"
#include "lower.h"

double pl_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void pl_init(pl_unit *u, dg_ctx *d) {
  memset(u, 0, sizeof *u);
  ar_init(&u->arena);
  u->d = d;
}

static void pl_hash(pl_unit *u) {
  unsigned long long h = 1469598103934665603ULL;
  const vl_source *s = u->model->main;
  for (long i = 0; s && i < s->len; i++) {
    h ^= (unsigned char)s->text[i];
    h *= 1099511628211ULL;
  }
  snprintf(u->hash, sizeof u->hash, "%016llx", h);
}

static bool pl_checked(pl_unit *u, double t0) {
  if (!u->model || u->d->errors) return false;
  if (!ck_check(u->model, u->d)) return false;
  pl_hash(u);
  u->ms_front = pl_now_ms() - t0;
  return true;
}

bool pl_front(pl_unit *u, const char *path) {
  double t0 = pl_now_ms();
  u->model = fe_load_file(&u->arena, u->d, path);
  return pl_checked(u, t0);
}

bool pl_front_text(pl_unit *u, const char *path, const char *text) {
  double t0 = pl_now_ms();
  u->model = fe_load_text(&u->arena, u->d, path, text, (long)strlen(text));
  return pl_checked(u, t0);
}

bool pl_derive(pl_unit *u) {
  double t0 = pl_now_ms();
  u->sys = dv_derive(u->model, u->d, &u->arena);
  u->ms_derive = pl_now_ms() - t0;
  return u->sys != NULL;
}

bool pl_lower(pl_unit *u, const char *precision) {
  double t0 = pl_now_ms();
  lw_options o = { precision ? precision : "f64", u->hash, false, NULL, -1 };
  u->prog = lw_lower(u->sys, &o, u->d);
  u->ms_lower = pl_now_ms() - t0;
  return u->prog != NULL;
}

bool pl_lower_for(pl_unit *u, const char *precision, const char *errors, int learn) {
  double t0 = pl_now_ms();
  lw_options o = { precision ? precision : "f64", u->hash, true, errors, learn };
  u->prog = lw_lower(u->sys, &o, u->d);
  u->ms_lower = pl_now_ms() - t0;
  return u->prog != NULL;
}

bool pl_compile(pl_unit *u, const char *path, const char *precision) {
  return pl_front(u, path) && pl_derive(u) && pl_lower(u, precision);
}

void pl_free(pl_unit *u) { ar_free_all(&u->arena); }
