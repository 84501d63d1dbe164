/* A data-parallel SPDF trainer over MPI and the installed header only: every rank holds the same
 * model, draws its rows of each global batch, and the ranks sum their gradients with
 * MPI_Allreduce between backward and the optimizer step.  75 % sparse pre-training exchanges
 * only the unmasked weights' gradients; after the in-place transition to dense, every weight's.
 * Build: mpicc train_mpi.c $(pkg-config --cflags --libs spdf) -o train_mpi
 * Usage: mpirun -np N train_mpi TEXT_FILE [--steps N] [--finetune-steps N] [--sparsity S] */
#include <spdf.h>

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 8, CONTEXT = 64 }; /* the global batch: BATCH / ranks rows on each rank */

static int rank, ranks;

#define CHECK(call)                                                                                   \
    do {                                                                                              \
        spdf_status status_ = (call);                                                                 \
        if (status_ != SPDF_OK) {                                                                     \
            fprintf(stderr, "rank %d: %s: %s: %s\n", rank, #call, spdf_status_name(status_),          \
                    spdf_last_error());                                                               \
            MPI_Abort(MPI_COMM_WORLD, 1); /* the other ranks would wait for this one forever */       \
        }                                                                                             \
    } while (0)

static spdf_dataset *load_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    rewind(f);
    char *text = malloc((size_t)size);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)size);
    size_t count = 0;
    if (!text || !ids || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "rank %d: cannot read %s\n", rank, path);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    fclose(f);
    CHECK(spdf_byte_encode(text, (size_t)size, ids, (size_t)size, &count));
    spdf_dataset *data;
    CHECK(spdf_dataset_from_tokens(ids, (int64_t)count, &data));
    free(text);
    free(ids);
    return data;
}

/* The replicas must hold the same weights: compared at start-up and after every phase. */
static void check_replicas(const spdf_model *model, const char *when)
{
    uint32_t mine;
    CHECK(spdf_model_weights_checksum(model, &mine));
    uint32_t low, high;
    MPI_Allreduce(&mine, &low, 1, MPI_UINT32_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &high, 1, MPI_UINT32_T, MPI_MAX, MPI_COMM_WORLD);
    if (low != high) {
        if (rank == 0) fprintf(stderr, "the replicas' weights differ %s\n", when);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0) printf("  weights identical on all %d ranks %s (CRC-32C %08x)\n", ranks, when, mine);
}

/* One step on the global batch: forward and backward on this rank's rows, the gradients summed
 * over the ranks and averaged (every rank's rows carry the same number of tokens), then AdamW,
 * which clips by the norm of the reduced gradient. */
static float train_step(spdf_model *model, spdf_optimizer *opt, spdf_sampler *sampler, int32_t *inputs,
                        int32_t *targets, int64_t *bytes)
{
    const int rows = BATCH / ranks;
    float loss, norm, lr;
    CHECK(spdf_sampler_next(sampler, inputs, targets));
    CHECK(spdf_model_forward(model, inputs, targets, NULL, rows, CONTEXT, &loss));
    CHECK(spdf_model_backward(model));
    float *gradients;
    int64_t count;
    CHECK(spdf_model_gradients(model, &gradients, &count)); /* the non-zeros only while sparse */
    MPI_Allreduce(MPI_IN_PLACE, gradients, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    CHECK(spdf_model_scale_gradients(model, 1.0f / (float)ranks));
    CHECK(spdf_optimizer_step(opt, &norm, &lr));
    *bytes = count * (int64_t)sizeof(float);
    float global;
    MPI_Allreduce(&loss, &global, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return global / (float)ranks;
}

static void train(spdf_model *model, spdf_optimizer *opt, spdf_sampler *sampler, int steps, const char *label)
{
    int32_t *inputs = malloc(sizeof(int32_t) * BATCH * CONTEXT), *targets = malloc(sizeof(int32_t) * BATCH * CONTEXT);
    if (!inputs || !targets) MPI_Abort(MPI_COMM_WORLD, 1);
    int64_t bytes = 0;
    for (int step = 1; step <= steps; step++) {
        const float loss = train_step(model, opt, sampler, inputs, targets, &bytes);
        if (rank == 0 && (step % 25 == 0 || step == steps))
            printf("  %-9s step %4d  loss %.4f  (%.2f MB of gradients per rank)\n", label, step, loss,
                   (double)bytes / 1e6);
    }
    free(inputs);
    free(targets);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    int steps = 100, finetune_steps = 25;
    float sparsity = 0.75f;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--steps") == 0) steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--finetune-steps") == 0) finetune_steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--sparsity") == 0) sparsity = (float)atof(argv[i + 1]);
        else argc = 0;
    }
    if (argc < 2 || argc % 2 || steps < 1 || finetune_steps < 1 || BATCH % ranks != 0) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np N train_mpi TEXT_FILE [--steps N] [--finetune-steps N] "
                            "[--sparsity S]   (N divides %d)\n", BATCH);
        MPI_Finalize();
        return 2;
    }
    spdf_context_config cc;
    spdf_context_config_init(&cc);
    cc.num_threads = 1; /* one rank per core here; one rank per machine would take them all */
    spdf_context *ctx;
    CHECK(spdf_context_create(&cc, &ctx));
    spdf_dataset *data = load_text(argv[1]);

    spdf_model_config mc;
    spdf_model_config_init(&mc); /* the same seed on every rank: the same start */
    mc.num_layers = 2;
    mc.num_heads = 4;
    mc.channels = 64;
    mc.max_seq_len = CONTEXT;
    spdf_model *model;
    CHECK(spdf_model_create(ctx, &mc, &model));
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    oc.learning_rate = 3e-3f;
    oc.warmup_steps = steps / 10;
    oc.total_steps = steps;
    spdf_optimizer *opt;
    CHECK(spdf_optimizer_create(model, &oc, &opt));
    spdf_mask *mask = NULL;
    if (sparsity > 0) CHECK(spdf_mask_create(model, SPDF_MASK_RANDOM, sparsity, 7, &mask));
    spdf_phase *phase;
    CHECK(spdf_phase_create(model, opt, mask ? SPDF_PHASE_SPARSE : SPDF_PHASE_DENSE, mask, &phase));
    spdf_mask_free(mask);
    spdf_sampler *sampler;
    CHECK(spdf_sampler_create(data, BATCH, CONTEXT, 1, SPDF_SAMPLE_RANDOM, &sampler));
    CHECK(spdf_sampler_set_shard(sampler, rank, ranks)); /* this rank's rows of every batch */
    if (rank == 0) printf("%d ranks, %d of the %d rows of every batch each\n", ranks, BATCH / ranks, BATCH);
    check_replicas(model, "at the start");
    train(model, opt, sampler, steps, sparsity > 0 ? "sparse" : "dense");
    check_replicas(model, "after pre-training");

    /* The SPDF transition, at the same step on every rank: in place, a new schedule. */
    spdf_optimizer_config finetune = oc;
    finetune.learning_rate = 1e-3f;
    finetune.warmup_steps = 0;
    finetune.total_steps = finetune_steps;
    spdf_transition_config tc;
    spdf_transition_config_init(&tc);
    tc.restart_schedule = 1;
    tc.optimizer = &finetune;
    if (sparsity > 0) CHECK(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, &tc));
    else CHECK(spdf_optimizer_restart(opt, &finetune, 0));
    train(model, opt, sampler, finetune_steps, "fine-tune");
    check_replicas(model, "after dense fine-tuning");

    spdf_sampler_free(sampler);
    spdf_phase_free(phase);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_dataset_free(data);
    spdf_context_free(ctx);
    MPI_Finalize();
    return 0;
}
