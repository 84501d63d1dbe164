/* A minimal SPDF trainer over the installed header only: a dense baseline, then the same model
 * sparse-pre-trained (75 % of every block weight masked) and switched in place to dense for
 * fine-tuning.  Build: cc train.c $(pkg-config --cflags --libs spdf) -o train
 * Usage: train TEXT_FILE [--steps N] [--finetune-steps N] [--sparsity S] [--export FILE] */
#include <spdf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 8, CONTEXT = 64 };

#define CHECK(call)                                                                              \
    do {                                                                                         \
        spdf_status status_ = (call);                                                            \
        if (status_ != SPDF_OK) {                                                                \
            fprintf(stderr, "%s: %s: %s\n", #call, spdf_status_name(status_), spdf_last_error()); \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

/* The text file as byte-level token ids, split 90 / 10 into training and validation data. */
static void load_text(const char *path, spdf_dataset **train, spdf_dataset **val)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    rewind(f);
    char *text = malloc((size_t)size);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)size);
    size_t count = 0;
    if (!text || !ids || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    CHECK(spdf_byte_encode(text, (size_t)size, ids, (size_t)size, &count));
    const int64_t split = (int64_t)count * 9 / 10;
    CHECK(spdf_dataset_from_tokens(ids, split, train));
    CHECK(spdf_dataset_from_tokens(ids + split, (int64_t)count - split, val));
    free(text);
    free(ids);
}

/* `steps` optimizer updates on random windows of the training data; returns the last loss. */
static float train_steps(spdf_model *model, spdf_optimizer *opt, spdf_sampler *sampler, int steps,
                         const char *label)
{
    int32_t inputs[BATCH * CONTEXT], targets[BATCH * CONTEXT];
    float loss = 0, norm, lr;
    for (int step = 1; step <= steps; step++) {
        CHECK(spdf_sampler_next(sampler, inputs, targets));
        CHECK(spdf_model_forward(model, inputs, targets, NULL, BATCH, CONTEXT, &loss));
        CHECK(spdf_model_backward(model));
        CHECK(spdf_optimizer_step(opt, &norm, &lr));
        if (step % 50 == 0 || step == steps)
            printf("  %-9s step %4d  loss %.4f  lr %.2e\n", label, step, loss, lr);
    }
    return loss;
}

static double validation_loss(spdf_model *model, const spdf_dataset *val)
{
    double loss, perplexity;
    CHECK(spdf_model_evaluate(model, val, BATCH, CONTEXT, 8, &loss, &perplexity));
    return loss;
}

/* One run: pre-training (sparse when sparsity > 0), then dense fine-tuning.  Returns the final
 * validation loss; exports the model when export_path is set. */
static double run(spdf_context *ctx, const spdf_dataset *train, const spdf_dataset *val,
                  float sparsity, int steps, int finetune_steps, const char *export_path)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc); /* byte vocabulary; a small model for a quick run */
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
    spdf_mask_free(mask); /* the phase keeps its own copy */

    spdf_flop_report flops = {.struct_size = sizeof flops};
    CHECK(spdf_model_flops(model, CONTEXT, BATCH, &flops));
    printf("%s pre-training: %.3g training FLOPs per step\n", mask ? "sparse" : "dense",
           mask ? flops.train_per_step_sparse : flops.train_per_step_dense);
    spdf_sampler *sampler;
    CHECK(spdf_sampler_create(train, BATCH, CONTEXT, 1, SPDF_SAMPLE_RANDOM, &sampler));
    train_steps(model, opt, sampler, steps, mask ? "sparse" : "dense");
    printf("  validation loss after pre-training %.4f\n", validation_loss(model, val));

    /* The SPDF transition: masked weights re-enter at 0, every weight is fine-tuned densely with
     * a new schedule. */
    spdf_optimizer_config finetune = oc;
    finetune.learning_rate = 1e-3f;
    finetune.warmup_steps = 0;
    finetune.total_steps = finetune_steps > 0 ? finetune_steps : 1;
    spdf_transition_config tc;
    spdf_transition_config_init(&tc);
    tc.restart_schedule = 1;
    tc.optimizer = &finetune;
    if (mask) CHECK(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, &tc));
    else CHECK(spdf_optimizer_restart(opt, &finetune, 0));
    train_steps(model, opt, sampler, finetune_steps, "fine-tune");
    const double loss = validation_loss(model, val);
    printf("  validation loss after dense fine-tuning %.4f\n", loss);
    if (export_path) {
        CHECK(spdf_model_export_safetensors(model, export_path));
        printf("  exported to %s\n", export_path);
    }
    spdf_sampler_free(sampler);
    spdf_phase_free(phase);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    return loss;
}

int main(int argc, char **argv)
{
    int steps = 200, finetune_steps = 50;
    float sparsity = 0.75f;
    const char *export_path = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--steps") == 0) steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--finetune-steps") == 0) finetune_steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--sparsity") == 0) sparsity = (float)atof(argv[i + 1]);
        else if (strcmp(argv[i], "--export") == 0) export_path = argv[i + 1];
        else argc = 0;
    }
    if (argc < 2 || argc % 2 || steps < 1 || finetune_steps < 0) {
        fprintf(stderr, "usage: train TEXT_FILE [--steps N] [--finetune-steps N] [--sparsity S] "
                        "[--export FILE]\n");
        return 2;
    }
    printf("libspdf %s\n", spdf_version_string());
    spdf_dataset *train, *val;
    load_text(argv[1], &train, &val);
    spdf_context *ctx;
    CHECK(spdf_context_create(NULL, &ctx));
    const double dense = run(ctx, train, val, 0.0f, steps, finetune_steps, NULL);
    const double spdf = run(ctx, train, val, sparsity, steps, finetune_steps, export_path);
    printf("final validation loss: dense %.4f, SPDF (%.0f %% sparse pre-training) %.4f\n", dense,
           100.0 * sparsity, spdf);
    spdf_context_free(ctx);
    spdf_dataset_free(train);
    spdf_dataset_free(val);
    return 0;
}
