/*
 * mock.h - the hand-written mock model (mock_model.c) in f64 ("mock") and f32 ("mock32"),
 * loaded through vle_model_from_symbols as the JIT will do. Include from one test file.
 */
#ifndef VLE_TEST_MOCK_H
#define VLE_TEST_MOCK_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vle.h"
#include "mock_model.c"
#define MOCK_F32
#include "mock_model.c"
#undef MOCK_F32

typedef struct mock_sym { const char *name; void *addr; } mock_sym;

#define MOCK_KERNELS(n)                                                                      \
  { "vle_" #n "_init", (void *)vle_##n##_init }, { "vle_" #n "_pub_init", (void *)vle_##n##_pub_init }, { "vle_" #n "_streams", (void *)vle_##n##_streams }, \
  { "vle_" #n "_step_inst", (void *)vle_##n##_step_inst },                                   \
  { "vle_" #n "_step_prosp", (void *)vle_##n##_step_prosp },                                 \
  { "vle_" #n "_step_free", (void *)vle_##n##_step_free },                                   \
  { "vle_" #n "_grads", (void *)vle_##n##_grads }

static const mock_sym mock_syms[] = { MOCK_KERNELS(mock), MOCK_KERNELS(mock32), { NULL, NULL } };

static void *mock_resolve(void *user, const char *sym) {
  (void)user;
  for (const mock_sym *s = mock_syms; s->name; s++)
    if (!strcmp(s->name, sym)) return s->addr;
  return NULL;
}

/* The mock's descriptor with `from` replaced by `to` (first occurrence), malloc'd. */
static inline char *mock_meta_edit(bool f32, const char *from, const char *to) {
  const char *meta = f32 ? vle_mock32_meta : vle_mock_meta;
  const char *at = strstr(meta, from);
  if (!at) return NULL;
  size_t n = strlen(meta) - strlen(from) + strlen(to) + 1;
  char *out = malloc(n);
  size_t pre = (size_t)(at - meta);
  memcpy(out, meta, pre);
  strcpy(out + pre, to);
  strcat(out, at + strlen(from));
  return out;
}

static inline vle_model *mock_load_meta(const char *meta, vle_error *err) {
  return vle_model_from_symbols(meta, 1, mock_resolve, NULL, err);
}

static inline vle_model *mock_load(bool f32, vle_error *err) {
  return mock_load_meta(f32 ? vle_mock32_meta : vle_mock_meta, err);
}

#endif
