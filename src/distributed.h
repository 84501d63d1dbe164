/* Data-parallel training over MPI for `spdf pretrain` and `spdf finetune` (docs/distributed.md):
 * every rank trains the same model on its share of each global batch, and the gradients are
 * averaged with MPI_Allreduce between backward and the optimizer step.  Without MPI in the build,
 * or outside mpirun, the calls below are those of a single rank. */
#ifndef SPDF_CLI_DISTRIBUTED_H
#define SPDF_CLI_DISTRIBUTED_H

#include <spdf.h>

#include <stddef.h>
#include <stdint.h>

typedef struct distributed {
    int rank, ranks;
    int active;               /* MPI was initialised (started under mpirun with MPI built in) */
    int64_t bytes_per_step;   /* gradient bytes this rank handed to MPI_Allreduce, last step */
    int64_t bytes_total;      /* gradient bytes handed to MPI_Allreduce so far */
    int64_t reductions;       /* gradient reductions so far */
    double reduce_seconds;    /* their total wall time */
} distributed;

/* The process's place in the job, initialising MPI when started by an MPI launcher. */
void distributed_init(int *argc, char ***argv);
void distributed_finish(void);
const distributed *distributed_world(void);
static inline int distributed_is_root(void) { return distributed_world()->rank == 0; }

/* Every rank must have been started with the same run: 0 if `bytes` (a digest of the settings,
 * the weights' checksum, ...) are equal on all ranks, else an error line naming `what` on every
 * rank and -1. */
int distributed_agree(const void *bytes, size_t size, const char *what);

/* Sums the model's gradient array (spdf_model_gradients: the non-zeros only while a mask is
 * attached) over the ranks in place; the training loop has already weighted each rank's share.
 * Nothing on one rank.  0, or -1 with an error line. */
int distributed_sum_gradients(spdf_model *model);

/* The sum of `value` over the ranks, and whether `flag` is set on any rank (a stop request
 * seen by one rank stops all of them at the same step). */
double distributed_sum(double value);
int distributed_any(int flag);


/* The worst exit code of all ranks, on every rank: a collective every rank must reach, where a
 * failure on one (a missing file, a bad option) ends them all. */
int distributed_common_exit(int code);

/* In the middle of training, where the ranks' next collective calls would no longer match: a
 * failure (not EXIT_OK, not EXIT_INTERRUPTED) on this rank aborts the whole job (MPI_Abort). */
void distributed_fail_fast(int code);

/* --threads 0 (all cores) under mpirun: the cores divided among the ranks of this machine. */
int32_t distributed_threads(int32_t threads);

#endif
