/* vle_desc.h - parsing and validating a model descriptor (internal; see vle_desc.c). */
#ifndef VLE_DESC_H
#define VLE_DESC_H

#include "vle_internal.h"

/* Parses meta into m (m zeroed by the caller). Returns 0 or -1 + err; on failure the
 * partly filled m is released by vd_free. */
int vd_parse(vle_model *m, const char *meta, vle_error *err);
void vd_free(vle_model *m);
/* The name of a known kernel ("init", "streams", "step_inst", ...). */
const char *vd_kernel_name(int k);

#endif
