/*
 * jit.h - running a kernel program in-process: LLVM ORC LLJIT through the C API.
 *
 * jit_compile() generates and optimises the module (llvm.h), hands it to a fresh LLJIT
 * instance and materialises it at once, so that every error (including an unresolved
 * symbol) is reported by jit_compile and lookups afterwards are cheap. Each jit_module owns
 * its LLJIT, LLVM context and code: any number can coexist in one process, and freeing one
 * does not disturb the others.
 *
 * Symbol resolution: the code lives in a bare JITDylib whose only other definitions are an
 * explicit table of runtime functions (libm: tanh, exp, log, log1p, ... and their float
 * variants; libc: memset, memcpy, memmove) defined as absolute symbols. Nothing is searched
 * for in the process (no -rdynamic, no dlsym): a symbol outside the table is an error.
 */
#ifndef VLE_JIT_H
#define VLE_JIT_H

#include <stddef.h>
#include "kir.h"
#include "llvm.h"

typedef struct jit_module jit_module;

/* Compiles every kernel of p for the host. NULL on failure (reason in err). */
jit_module *jit_compile(const kir_program *p, const cg_options *o, char *err, size_t errlen);

/* Address of an exported symbol ("vle_model_name", "vle_<model>_meta", a kernel...), or NULL
 * if the module does not define it. */
void *jit_lookup(jit_module *m, const char *symbol);

/* The kernel named `kernel` (symbol vle_<model>_<kernel>), or NULL. */
kir_kernel_fn jit_kernel(jit_module *m, const char *kernel);

/* Releases the code and everything else the module owns. NULL is fine. */
void jit_free(jit_module *m);

/* The runtime symbol table, for tests and documentation: its size and the i-th name. */
int jit_runtime_count(void);
const char *jit_runtime_name(int i);

#endif
