/* MPI behind distributed.h.  Compiled with SPDF_CLI_MPI when meson found Open MPI. */
#include "distributed.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef SPDF_CLI_MPI
#include <mpi.h>
#endif

static distributed world = {.rank = 0, .ranks = 1};

const distributed *distributed_world(void) { return &world; }

/* Only processes an MPI launcher started initialise MPI: a plain `spdf` stays a plain process. */
static int launched_by_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

void distributed_init(int *argc, char ***argv)
{
#ifdef SPDF_CLI_MPI
    if (!launched_by_mpi()) return;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        cli_error("MPI_Init failed");
        exit(EXIT_FAILURE_RUNTIME);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.ranks);
    world.active = 1;
    /* rank 0 reports; the others keep stderr for their own errors, which name the rank */
    if (world.rank != 0 && !freopen("/dev/null", "w", stdout)) fclose(stdout);
    if (world.ranks > 1) {
        static char command[128];
        snprintf(command, sizeof command, "%s (rank %d of %d)", cli_command(), world.rank, world.ranks);
        cli_set_command(command);
    }
#else
    (void)argc;
    (void)argv;
    if (launched_by_mpi() && getenv("OMPI_COMM_WORLD_SIZE") && strcmp(getenv("OMPI_COMM_WORLD_SIZE"), "1") != 0) {
        cli_error("started by mpirun, but this spdf was built without MPI (docs/distributed.md)");
        exit(EXIT_BAD_INPUT);
    }
#endif
}

void distributed_finish(void)
{
#ifdef SPDF_CLI_MPI
    if (world.active) MPI_Finalize();
    world.active = 0;
#endif
}

#ifdef SPDF_CLI_MPI
/* FNV-1a: a digest to compare, not a checksum to trust. */
static uint64_t digest(const void *bytes, size_t size)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < size; i++) h = (h ^ ((const unsigned char *)bytes)[i]) * UINT64_C(1099511628211);
    return h;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

int distributed_agree(const void *bytes, size_t size, const char *what)
{
#ifdef SPDF_CLI_MPI
    if (!world.active || world.ranks == 1) return 0;
    const uint64_t mine = digest(bytes, size);
    uint64_t low = 0, high = 0;
    MPI_Allreduce(&mine, &low, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &high, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (low == high) return 0;
    cli_error("the ranks disagree about %s: start every rank with the same options and files", what);
    return -1;
#else
    (void)bytes;
    (void)size;
    (void)what;
    return 0;
#endif
}

int distributed_sum_gradients(spdf_model *model)
{
    float *gradients = NULL;
    int64_t count = 0;
    if (spdf_model_gradients(model, &gradients, &count) != SPDF_OK) {
        cli_error("%s", spdf_last_error());
        return -1;
    }
    world.bytes_per_step = world.ranks > 1 ? count * (int64_t)sizeof(float) : 0;
    if (world.ranks == 1) return 0;
#ifdef SPDF_CLI_MPI
    const double started = seconds_now();
    /* MPI counts are ints: reduce in pieces of at most 2^30 floats. */
    for (int64_t at = 0; at < count; at += INT64_C(1) << 30) {
        const int64_t left = count - at;
        const int n = (int)(left < (INT64_C(1) << 30) ? left : (INT64_C(1) << 30));
        if (MPI_Allreduce(MPI_IN_PLACE, gradients + at, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
            cli_error("MPI_Allreduce of the gradients failed");
            return -1;
        }
    }
    world.reduce_seconds += seconds_now() - started;
    world.reductions++;
    world.bytes_total += world.bytes_per_step;
#endif
    return 0;
}

double distributed_sum(double value)
{
#ifdef SPDF_CLI_MPI
    if (world.active && world.ranks > 1) {
        double sum = 0;
        MPI_Allreduce(&value, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        return sum;
    }
#endif
    return value;
}

int distributed_any(int flag)
{
#ifdef SPDF_CLI_MPI
    if (world.active && world.ranks > 1) {
        int any = 0;
        MPI_Allreduce(&flag, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        return any != 0;
    }
#endif
    return flag != 0;
}

int distributed_common_exit(int code)
{
#ifdef SPDF_CLI_MPI
    if (world.active && world.ranks > 1) {
        /* a failure anywhere outranks a stop request (130) elsewhere */
        const int mine[2] = {code == EXIT_INTERRUPTED ? 0 : code, code};
        int worst[2] = {0, 0};
        MPI_Allreduce(mine, worst, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        return worst[0] ? worst[0] : worst[1];
    }
#endif
    return code;
}

int32_t distributed_threads(int32_t threads)
{
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (threads != 0 || !world.active || !local) return threads;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN), ranks_here = strtol(local, NULL, 10);
    if (cores < 1 || ranks_here < 1) return threads;
    return cores / ranks_here > 1 ? (int32_t)(cores / ranks_here) : 1;
}

void distributed_fail_fast(int code)
{
#ifdef SPDF_CLI_MPI
    if (code == EXIT_OK || code == EXIT_INTERRUPTED || !world.active || world.ranks == 1) return;
    fprintf(stderr, "%s: failed (exit %d): stopping every rank\n", cli_command(), code);
    MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)code;
#endif
}
