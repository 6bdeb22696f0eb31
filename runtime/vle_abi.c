/*
 * vle_abi.c - vle_abi_size: the sizes of the public structs as this library was compiled.
 *
 * A client that declares vle.h's structs itself (ctypes) or was compiled against another
 * vle.h passes structs the library reads and writes in full: a struct declared short is
 * silently overrun (vle_sim_options_init writes every field). Comparing sizes first turns
 * that into an error. Every struct of vle.h that crosses the API is listed; a name not in
 * the list is answered 0, never a guess.
 */
#include <string.h>

#include "vle.h"

typedef struct vle_abi_entry { const char *name; size_t size; } vle_abi_entry;

#define VLE_ABI_(t) { #t, sizeof(t) }
static const vle_abi_entry vle_abi_table[] = {
  VLE_ABI_(vle_error),        VLE_ABI_(vle_buffer_info),   VLE_ABI_(vle_population_info),
  VLE_ABI_(vle_stream_info),  VLE_ABI_(vle_const_info),    VLE_ABI_(vle_param_info),
  VLE_ABI_(vle_learn_info),   VLE_ABI_(vle_settings),      VLE_ABI_(vle_override),
  VLE_ABI_(vle_init_file),    VLE_ABI_(vle_sim_options),   VLE_ABI_(vle_adjoint_hooks),
  VLE_ABI_(vle_adjoint_plan), VLE_ABI_(vle_stream_file),   VLE_ABI_(vle_run_spec),
  VLE_ABI_(vle_record_info),  VLE_ABI_(vle_replicas),
};
#undef VLE_ABI_

size_t vle_abi_size(const char *struct_name) {
  if (!struct_name) return 0;
  for (size_t i = 0; i < sizeof vle_abi_table / sizeof *vle_abi_table; i++)
    if (!strcmp(vle_abi_table[i].name, struct_name)) return vle_abi_table[i].size;
  return 0;
}
