/*
 * vocab.c - the tables of vle_vocab.h, generated from its X-macros.
 */
#include "vocab.h"

#include <string.h>

#define VV_SCHEME_(id, nm, k, sgd, back, split) [VLE_SCHEME_##id] = { nm, k, sgd, back, back == VK_COUNT, split },
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

#define VV_ROLE_(id, nm) nm,
static const char *const vv_roles[] = { VLE_ROLES(VV_ROLE_) };
enum { VV_NROLES = sizeof vv_roles / sizeof *vv_roles };

int vv_role_find(const char *name) {
  for (int i = 0; name && i < VV_NROLES; i++)
    if (!strcmp(vv_roles[i], name)) return i;
  return -1;
}

const char *vv_role_name(int role) { return role >= 0 && role < VV_NROLES ? vv_roles[role] : "?"; }

#define VV_OPT_(id, nm, lo, hi) { nm, lo, hi },
static const struct { const char *name; int lo, hi; } vv_opts[] = { VLE_OPTIMIZERS(VV_OPT_) };
enum { VV_NOPTS = sizeof vv_opts / sizeof *vv_opts };

int vv_opt_find(const char *name) {
  for (int i = 0; name && i < VV_NOPTS; i++)
    if (!strcmp(vv_opts[i].name, name)) return i;
  return -1;
}

const char *vv_opt_name(int opt) { return opt >= 0 && opt < VV_NOPTS ? vv_opts[opt].name : "?"; }
int vv_opt_min_args(int opt) { return vv_opts[opt].lo; }
int vv_opt_max_args(int opt) { return vv_opts[opt].hi; }
