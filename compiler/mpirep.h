/*
 * mpirep.h (mr_) - the MPI ranks of `mpirun -np R vlec run|grad|sweep`, as the replicas of
 * the runtime (vle.h). In the vlec executable only (main.c); docs/cli.md "MPI".
 */
#ifndef VLE_MPIREP_H
#define VLE_MPIREP_H

#include <stdio.h>

#include "vle.h"

/* Starts MPI when an MPI launcher started this process. Returns 1 (rep: this rank, the
 * size, the transport), 0 when not launched by MPI (rep zeroed: size 0), or -1 after a
 * message on err (a launch this vlec cannot serve: built without MPI). */
int  mr_start(int *argc, char ***argv, vle_replicas *rep, FILE *err);
/* Ends MPI (when started); returns the worst exit status of all ranks. */
int  mr_stop(const vle_replicas *rep, int status);

#endif
