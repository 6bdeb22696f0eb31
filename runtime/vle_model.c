/*
 * vle_model.c - loading a compiled model (from a .so or from JIT symbols) and the
 * introspection functions of vle.h.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfcheck.h"
#include "seal.h"
#include "vle_desc.h"
#include "vle_err.h"
#include "vle_internal.h"

void vle_model_free(vle_model *m) {
  if (!m) return;
  vd_free(m);
  free(m->meta);
  if (m->dl) dlclose(m->dl);
  free(m);
}

/* Resolves every kernel the descriptor lists; the known ones go to m->kernels[]. */
static int vm_resolve_kernels(vle_model *m, void *(*resolve)(void *, const char *), void *user,
                              vle_error *err) {
  for (int i = 0; i < m->nkernels; i++) {
    char sym[256];
    if (snprintf(sym, sizeof sym, "vle_%s_%s", m->name, m->kernel_names[i]) >= (int)sizeof sym)
      return vle_fail(err, "model '%s': kernel name '%.40s...' is too long (a symbol has at "
                      "most %zu bytes)", m->name, m->kernel_names[i], sizeof sym - 1);
    void *fn = resolve(user, sym);
    if (!fn)
      return vle_fail(err, "model '%s': kernel '%s' is listed in the descriptor but the symbol "
                      "%s is missing", m->name, m->kernel_names[i], sym);
    for (int k = 0; k < VK_COUNT; k++)
      if (!strcmp(m->kernel_names[i], vd_kernel_name(k)))
        *(void **)&m->kernels[k] = fn;   /* POSIX: object and function pointers convert */
  }
  /* models built before threads lack it: they run on one thread */
  char sym[256];
  snprintf(sym, sizeof sym, "vle_%s_threads", m->name);
  const int32_t *thr = resolve(user, sym);
  m->threads = thr && *thr == 1;
  for (int k = 0; m->threads && k < VK_COUNT; k++) {
    if (!m->kernels[k]) continue;
    snprintf(sym, sizeof sym, "vle_%s_%s_threaded", m->name, vd_kernel_name(k));
    const int32_t *t = resolve(user, sym);
    m->threaded[k] = t && *t == 1;
  }
  return 0;
}

static vle_model *vm_build(const char *meta, uint32_t abi, void *(*resolve)(void *, const char *),
                           void *user, void *dl, vle_error *err) {
  if (abi != VLE_ABI_VERSION) {
    vle_fail(err, "model was built for ABI %u, this runtime supports %d (rebuild it with vlec "
             "build)", abi, VLE_ABI_VERSION);
    return NULL;
  }
  vle_model *m = calloc(1, sizeof *m);
  if (!m || !(m->meta = strdup(meta))) {
    free(m);
    vle_fail(err, "out of memory");
    return NULL;
  }
  m->dl = dl;
  if (vd_parse(m, m->meta, err) || vm_resolve_kernels(m, resolve, user, err)) {
    m->dl = NULL;              /* the caller owns dl until we succeed */
    vle_model_free(m);
    return NULL;
  }
  return m;
}

vle_model *vle_model_from_symbols(const char *meta_json, uint32_t abi,
                                  void *(*resolve)(void *user, const char *symbol), void *user,
                                  vle_error *err) {
  if (!meta_json || !resolve) {
    vle_fail(err, "vle_model_from_symbols: descriptor and resolver are required");
    return NULL;
  }
  return vm_build(meta_json, abi, resolve, user, NULL, err);
}

static void *vm_dlsym(void *user, const char *sym) { return dlsym(user, sym); }

/* The model's name, read from vle_model_name: a bounded identifier, or NULL. */
static const char *vm_so_name(void *dl) {
  const char *name = dlsym(dl, "vle_model_name");
  if (!name) return NULL;
  size_t n = strnlen(name, 128);
  if (n == 0 || n == 128) return NULL;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return NULL;
  }
  return name;
}

static vle_model *vm_load_symbols(void *dl, const char *path, vle_error *err) {
  const char *name = vm_so_name(dl);
  if (!name) {
    vle_fail(err, "%s: not a vle model: no valid symbol vle_model_name (build it with vlec "
             "build)", path);
    return NULL;
  }
  char sym[192];     /* name has < 128 bytes (vm_so_name) */
  snprintf(sym, sizeof sym, "vle_%s_abi", name);
  const uint32_t *abi = dlsym(dl, sym);
  snprintf(sym, sizeof sym, "vle_%s_meta", name);
  const char *meta = dlsym(dl, sym);
  if (!abi || !meta) {
    vle_fail(err, "%s: model '%s' lacks the symbol vle_%s_%s", path, name, name,
             abi ? "meta" : "abi");
    return NULL;
  }
  if (*abi != VLE_ABI_VERSION) {
    vle_fail(err, "%s was built for ABI %u, this runtime supports %d (rebuild it with vlec "
             "build)", path, *abi, VLE_ABI_VERSION);
    return NULL;
  }
  vle_model *m = vm_build(meta, *abi, vm_dlsym, dl, dl, err);
  if (!m) vle_err_prefix(err, "%s", path);
  return m;
}

vle_model *vle_model_load_so(const char *path, vle_error *err) {
  /* the seal before dlopen maps the file: a flipped byte can crash dlopen (elf_check only
   * reads headers, and names a file that is not a shared object at all) */
  if (elf_check(path, err) || seal_verify(path, err)) return NULL;
  /* dlopen wants a slash to not search the library path */
  char *p = NULL;
  if (!strchr(path, '/')) {
    size_t n = strlen(path) + 3;
    if ((p = malloc(n))) snprintf(p, n, "./%s", path);
  }
  void *dl = dlopen(p ? p : path, RTLD_NOW | RTLD_LOCAL);
  free(p);
  if (!dl) {
    vle_fail(err, "%s: cannot load: %s", path, dlerror());
    return NULL;
  }
  vle_model *m = vm_load_symbols(dl, path, err);
  if (!m) dlclose(dl);
  return m;
}

/* ---- introspection -------------------------------------------------------------------- */

const char *vle_model_get_name(const vle_model *m) { return m->name; }
const char *vle_model_hash(const vle_model *m) { return m->hash; }
const char *vle_model_descriptor(const vle_model *m) { return m->meta; }
vle_precision vle_model_precision(const vle_model *m) { return m->prec; }
size_t vle_model_real_size(const vle_model *m) { return m->es; }
const vle_settings *vle_model_settings(const vle_model *m) { return &m->settings; }

bool vle_model_has_kernel(const vle_model *m, const char *kernel) {
  for (int i = 0; i < m->nkernels; i++)
    if (!strcmp(m->kernel_names[i], kernel)) return true;
  return false;
}

/* Bounds-checked element i of an array of n: NULL when out of range. */
#define VM_AT(arr, n, i) ((i) >= 0 && (i) < (n) ? &(arr)[i] : NULL)

int vle_model_nbuffers(const vle_model *m) { return m->nbufs; }
const vle_buffer_info *vle_model_buffer(const vle_model *m, int i) { return VM_AT(m->bufs, m->nbufs, i); }
int vle_model_npopulations(const vle_model *m) { return m->npops; }
const vle_population_info *vle_model_population(const vle_model *m, int i) { return VM_AT(m->pops, m->npops, i); }
int vle_model_ninputs(const vle_model *m) { return m->ninputs; }
const vle_stream_info *vle_model_input(const vle_model *m, int i) { return VM_AT(m->inputs, m->ninputs, i); }
int vle_model_ntargets(const vle_model *m) { return m->ntargets; }
const vle_stream_info *vle_model_target(const vle_model *m, int i) { return VM_AT(m->targets, m->ntargets, i); }
int vle_model_nconsts(const vle_model *m) { return m->nconsts; }
const vle_const_info *vle_model_const(const vle_model *m, int i) { return VM_AT(m->consts, m->nconsts, i); }
int vle_model_nparams(const vle_model *m) { return m->nparams; }
const vle_param_info *vle_model_param(const vle_model *m, int i) { return VM_AT(m->params, m->nparams, i); }
int vle_model_nlearn(const vle_model *m) { return m->nlearn; }
const vle_learn_info *vle_model_learn(const vle_model *m, int i) { return VM_AT(m->learn, m->nlearn, i); }

int vle_model_find_buffer(const vle_model *m, const char *name) {
  for (int i = 0; i < m->nbufs; i++)
    if (!strcmp(m->bufs[i].name, name)) return i;
  return -1;
}

int vle_model_find_param(const vle_model *m, const char *name) {
  for (int i = 0; i < m->nparams; i++)
    if (m->params[i].name && !strcmp(m->params[i].name, name)) return i;
  return -1;
}

int vle_model_signal(const vle_model *m, const char *name) {
  static const char *names[] = { "t", "dt", "gamma", "loss", "energy", "objective", "beta" };
  const int idx[] = { m->sig_t, m->sig_dt, m->sig_gamma, m->sig_loss, m->sig_energy,
                      m->sig_objective, m->sig_beta };
  for (int i = 0; i < 7; i++)
    if (!strcmp(name, names[i])) return idx[i];
  return -1;
}

size_t vm_buf_count(const vle_model *m, int i, long batch) {
  const vle_buffer_info *b = &m->bufs[i];
  return (size_t)b->rows * (size_t)b->cols * (b->batched ? (size_t)batch : 1);
}
