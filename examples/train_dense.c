/* Dense pre-training of a small byte-level GPT on a text file, through the public API.
 * Holds out the last 10 % of the text for validation and prints the validation loss as it
 * trains.  Exits 1 if the final validation loss is not below --target (nats per byte).
 * Usage: train_dense TEXT_FILE [--steps N] [--target X] [--threads N] [--backend NAME] */
#include "spdf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BATCH = 16, CONTEXT = 64, EVAL_BATCHES = 16 };

#define CHECK(call)                                                                        \
    do {                                                                                   \
        spdf_status status_ = (call);                                                      \
        if (status_ != SPDF_OK) {                                                          \
            fprintf(stderr, "train_dense: %s: %s\n", spdf_status_name(status_), spdf_last_error()); \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static int32_t *read_text_as_bytes(const char *path, int64_t *count)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "train_dense: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)size);
    size_t n = 0;
    CHECK(spdf_byte_encode(text, (size_t)size, tokens, (size_t)size, &n));
    free(text);
    *count = (int64_t)n;
    return tokens;
}

/* Mean loss over the same EVAL_BATCHES sequential windows of the validation split every time. */
static float validation_loss(spdf_model *model, const spdf_dataset *val)
{
    spdf_sampler *sampler;
    CHECK(spdf_sampler_create(val, BATCH, CONTEXT, 0, SPDF_SAMPLE_SEQUENTIAL, &sampler));
    int32_t inputs[BATCH * CONTEXT], targets[BATCH * CONTEXT];
    double sum = 0;
    for (int i = 0; i < EVAL_BATCHES; i++) {
        float loss;
        CHECK(spdf_sampler_next(sampler, inputs, targets));
        CHECK(spdf_model_forward(model, inputs, targets, NULL, BATCH, CONTEXT, &loss));
        sum += loss;
    }
    spdf_sampler_free(sampler);
    return (float)(sum / EVAL_BATCHES);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s TEXT_FILE [--steps N] [--target X] [--threads N] [--backend NAME]\n", argv[0]);
        return 2;
    }
    int steps = 1500, threads = 0;
    float target = 2.0f;
    const char *backend = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--steps") == 0) steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--target") == 0) target = (float)atof(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--backend") == 0) backend = argv[i + 1];
        else {
            fprintf(stderr, "train_dense: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    int64_t count;
    int32_t *tokens = read_text_as_bytes(argv[1], &count);
    const int64_t split = count * 9 / 10;
    spdf_dataset *train, *val;
    CHECK(spdf_dataset_from_tokens(tokens, split, &train));
    CHECK(spdf_dataset_from_tokens(tokens + split, count - split, &val));
    free(tokens);

    spdf_context_config cc;
    spdf_context_config_init(&cc);
    cc.backend = backend;
    cc.num_threads = threads;
    spdf_context *ctx;
    CHECK(spdf_context_create(&cc, &ctx));
    spdf_model_config mc; /* the defaults: byte vocabulary, L=4, H=4, C=128 */
    spdf_model_config_init(&mc);
    spdf_model *model;
    CHECK(spdf_model_create(ctx, &mc, &model));
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    oc.learning_rate = 2e-3f;
    oc.warmup_steps = 100;
    oc.total_steps = steps;
    spdf_optimizer *opt;
    CHECK(spdf_optimizer_create(model, &oc, &opt));
    spdf_sampler *sampler;
    CHECK(spdf_sampler_create(train, BATCH, CONTEXT, 1234, SPDF_SAMPLE_RANDOM, &sampler));

    int32_t inputs[BATCH * CONTEXT], targets[BATCH * CONTEXT];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    float val_loss = validation_loss(model, val);
    printf("step %5d  val loss %.4f nats/byte (ln 257 = %.4f)\n", 0, val_loss, log(257.0));
    for (int step = 1; step <= steps; step++) {
        float loss, norm, lr;
        CHECK(spdf_sampler_next(sampler, inputs, targets));
        CHECK(spdf_model_forward(model, inputs, targets, NULL, BATCH, CONTEXT, &loss));
        CHECK(spdf_model_backward(model));
        CHECK(spdf_optimizer_step(opt, &norm, &lr));
        if (step % 250 == 0 || step == steps) {
            val_loss = validation_loss(model, val);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            const double elapsed = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
            printf("step %5d  train loss %.4f  val loss %.4f  lr %.2e  grad norm %.3f  %.1f s\n",
                   step, loss, val_loss, lr, norm, elapsed);
            fflush(stdout);
        }
    }
    printf("final validation loss %.4f nats/byte, target < %.2f: %s\n", val_loss, target,
           val_loss < target ? "reached" : "NOT reached");
    spdf_sampler_free(sampler);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
    spdf_dataset_free(train);
    spdf_dataset_free(val);
    return val_loss < target ? 0 : 1;
}
