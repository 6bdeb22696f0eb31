/*
 * mpirep.c (mr_) - vlec's MPI transport for replicas (vle.h "replicas", docs/cli.md "MPI").
 *
 * Part of the vlec executable only: libvlert knows no MPI (its replicas take any
 * transport), and a vlec built without MPI (no libopenmpi-dev at configure time) has the
 * same functions, which refuse a launch by mpirun with a clear message instead of letting
 * every rank run the whole job.
 */
#include "mpirep.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#ifdef VLE_HAVE_MPI
#include <limits.h>
#include <mpi.h>
#endif

/* The launchers' environment: OpenMPI's mpirun, PMIx (OpenMPI 5, Slurm), MPICH/Hydra. */
static int mr_env_size(void) {
  const char *vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE" };
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return atoi(v);
  }
  return getenv("PMIX_RANK") ? 2 : 0;     /* launched, size unknown: treat as many */
}

#ifdef VLE_HAVE_MPI
/* MPI_Allgather of n bytes, in pieces that fit its int counts. */
static void mr_allgather(void *ctx, const void *mine, void *all, size_t n) {
  (void)ctx;
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (n <= INT_MAX) {
    MPI_Allgather(mine, (int)n, MPI_BYTE, all, (int)n, MPI_BYTE, MPI_COMM_WORLD);
    return;
  }
  size_t piece = (size_t)INT_MAX / 2;
  unsigned char *tmp = malloc(piece * (size_t)size);
  if (!tmp) MPI_Abort(MPI_COMM_WORLD, 1);
  for (size_t at = 0; at < n; at += piece) {
    size_t len = n - at < piece ? n - at : piece;
    MPI_Allgather((const unsigned char *)mine + at, (int)len, MPI_BYTE, tmp, (int)len,
                  MPI_BYTE, MPI_COMM_WORLD);
    for (int q = 0; q < size; q++)
      memcpy((unsigned char *)all + (size_t)q * n + at, tmp + (size_t)q * len, len);
  }
  free(tmp);
}

/* MPI_Alltoall of n bytes per rank, in pieces that fit its int counts. */
static void mr_alltoall(void *ctx, const void *send, void *recv, size_t n) {
  (void)ctx;
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (n <= INT_MAX) {
    MPI_Alltoall(send, (int)n, MPI_BYTE, recv, (int)n, MPI_BYTE, MPI_COMM_WORLD);
    return;
  }
  size_t piece = (size_t)INT_MAX / 2;
  unsigned char *out = malloc(piece * (size_t)size), *in = malloc(piece * (size_t)size);
  if (!out || !in) MPI_Abort(MPI_COMM_WORLD, 1);
  for (size_t at = 0; at < n; at += piece) {
    size_t len = n - at < piece ? n - at : piece;
    for (int q = 0; q < size; q++)
      memcpy(out + (size_t)q * len, (const unsigned char *)send + (size_t)q * n + at, len);
    MPI_Alltoall(out, (int)len, MPI_BYTE, in, (int)len, MPI_BYTE, MPI_COMM_WORLD);
    for (int q = 0; q < size; q++)
      memcpy((unsigned char *)recv + (size_t)q * n + at, in + (size_t)q * len, len);
  }
  free(out);
  free(in);
}
#endif

int mr_start(int *argc, char ***argv, vle_replicas *rep, FILE *err) {
  memset(rep, 0, sizeof *rep);
  int env = mr_env_size();
  if (env == 0) return 0;
#ifdef VLE_HAVE_MPI
  int provided, rank, size;
  /* only the main thread calls MPI (the kernels' threads never do) */
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    fprintf(err, "vlec: MPI_Init failed\n");
    return -1;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  *rep = (vle_replicas){ .rank = rank, .size = size, .combine_every = 1,
                         .allgather = mr_allgather, .alltoall = mr_alltoall };
  return 1;
#else
  (void)argc, (void)argv;
  if (env == 1) return 0;        /* one rank: the run as it is */
  fprintf(err, "vlec: started by mpirun with %d ranks, but this vlec was built without MPI: "
          "every rank would run the whole job. Install libopenmpi-dev (scripts/install-deps.sh) "
          "and rebuild, or run without mpirun.\n", env);
  return -1;
#endif
}

void mr_barrier(const vle_replicas *rep) {
#ifdef VLE_HAVE_MPI
  if (rep->size > 0) MPI_Barrier(MPI_COMM_WORLD);
#else
  (void)rep;
#endif
}

int mr_stop(const vle_replicas *rep, int status) {
#ifdef VLE_HAVE_MPI
  if (rep->size == 0) return status;
  /* every rank ends with the worst status (rank 0 prints the message; the others agree) */
  int worst = status;
  MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
#else
  (void)rep;
  return status;
#endif
}

bool mr_built(void) {
#ifdef VLE_HAVE_MPI
  return true;
#else
  return false;
#endif
}
