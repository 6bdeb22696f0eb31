/*
 * vocab.c - the tables of vle_vocab.h, generated from its X-macros.
 */
#include "vocab.h"

#include <string.h>

#define VV_SCHEME_(id, nm, k, sgd, loc) [VLE_SCHEME_##id] = { nm, k, sgd, loc },
static const vv_scheme_info vv_schemes[VLE_NSCHEMES] = { VLE_SCHEMES(VV_SCHEME_) };

#define VV_KERNEL_(id, nm) [VK_##id] = nm,
static const char *const vv_kernels[VK_COUNT] = { VLE_KERNELS(VV_KERNEL_) };

const vv_scheme_info *vv_scheme(vle_scheme s) { return &vv_schemes[s]; }

int vv_scheme_find(const char *name) {
  for (int i = 0; name && i < VLE_NSCHEMES; i++)
    if (!strcmp(vv_schemes[i].name, name)) return i;
  return -1;
}

const char *vv_kernel_name(vle_kernel_id k) { return vv_kernels[k]; }
