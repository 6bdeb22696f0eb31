/*
 * mpirep.c (mr_) - vlec's MPI transport for replicas (vle.h "replicas", docs/cli.md "MPI").
 *
 * Part of the vlec executable only: libvlert knows no MPI (its replicas take any
 * transport), and a vlec built without MPI (no libopenmpi-dev at configure time) has the
 * same functions, which refuse a launch by mpirun with a clear message instead of letting
 * every rank run the whole job.
 */
#include "mpirep.h"

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
/* n bytes as `count` elements of a type MPI's int counts can hold: bytes, or for a message
 * over INT_MAX bytes (gradients of a billion f32 parameters) blocks of a power of two
 * dividing n (n is a whole number of reals). Free *t with mr_type_free. */
static void mr_type(size_t n, MPI_Datatype *t, int *count) {
  size_t unit = 1;
  while (n / unit > INT_MAX && n % (unit * 2) == 0) unit *= 2;
  if (n / unit > INT_MAX) MPI_Abort(MPI_COMM_WORLD, 1);   /* no such block: cannot be sent */
  *count = (int)(n / unit);
  *t = MPI_BYTE;
  if (unit > 1) {
    MPI_Type_contiguous((int)unit, MPI_BYTE, t);
    MPI_Type_commit(t);
  }
}

static void mr_type_free(MPI_Datatype *t) {
  if (*t != MPI_BYTE) MPI_Type_free(t);
}

static void mr_allgather(void *ctx, const void *mine, void *all, size_t n) {
  (void)ctx;
  MPI_Datatype t;
  int count;
  mr_type(n, &t, &count);
  MPI_Allgather(mine, count, t, all, count, t, MPI_COMM_WORLD);
  mr_type_free(&t);
}

static void mr_alltoall(void *ctx, const void *send, void *recv, size_t n) {
  (void)ctx;
  MPI_Datatype t;
  int count;
  mr_type(n, &t, &count);
  MPI_Alltoall(send, count, t, recv, count, t, MPI_COMM_WORLD);
  mr_type_free(&t);
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
