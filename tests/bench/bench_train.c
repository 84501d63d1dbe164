/* Training-step benchmark: median ms/step, tokens/s and GFLOP/s of forward + backward + AdamW
 * for the shapes the project tracks, through the public API only.
 * Usage: bench_train [--backend NAME] [--threads N] [--reps R] [--shape small|gpt2|demo|all] */
#include "spdf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape {
    const char *name;
    int V, L, NH, C, B, T;
} shape;

static const shape shapes[] = {
    {"small", 256, 6, 6, 384, 8, 128},
    {"gpt2", 50304, 12, 12, 768, 4, 64},
    {"demo", 1024, 4, 4, 128, 16, 128}, /* spdf demo --size small: BPE vocabulary, 128 tokens */
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Training FLOPs per step as the SPDF paper counts them: 3 x forward, forward per token =
 * 2 x (block linear weights) + attention scores and mixing (4 L T C) + LM head (2 C V). */
static double train_flops(const shape *s)
{
    const double block_weights = 12.0 * s->L * (double)s->C * s->C;
    const double forward_per_token = 2.0 * block_weights + 4.0 * s->L * (double)s->T * s->C +
                                     2.0 * (double)s->C * s->V;
    return 3.0 * forward_per_token * s->B * s->T;
}

static int run_shape(const shape *s, const char *backend, int threads, int reps)
{
    spdf_context_config cc;
    spdf_context_config_init(&cc);
    cc.backend = backend;
    cc.num_threads = threads;
    spdf_context *ctx = NULL;
    spdf_model *model = NULL;
    spdf_optimizer *opt = NULL;
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = s->V;
    mc.max_seq_len = s->T;
    mc.num_layers = s->L;
    mc.num_heads = s->NH;
    mc.channels = s->C;
    if (spdf_context_create(&cc, &ctx) != SPDF_OK || spdf_model_create(ctx, &mc, &model) != SPDF_OK ||
        spdf_optimizer_create(model, NULL, &opt) != SPDF_OK) {
        fprintf(stderr, "bench_train: %s\n", spdf_last_error());
        return 1;
    }
    const char *resolved;
    spdf_context_backend(ctx, &resolved);
    spdf_context_num_threads(ctx, &threads);
    const int n = s->B * s->T;
    int32_t *tokens = malloc(sizeof(int32_t) * n), *targets = malloc(sizeof(int32_t) * n);
    unsigned seed = 1;
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        tokens[i] = (int32_t)((seed >> 8) % (unsigned)s->V);
        targets[i] = (int32_t)((seed >> 4) % (unsigned)s->V);
    }
    double *times = malloc(sizeof(double) * (reps + 1));
    float loss = 0;
    for (int r = 0; r <= reps; r++) { /* rep 0 warms up caches and allocations */
        const double t0 = now_seconds();
        if (spdf_model_forward(model, tokens, targets, NULL, s->B, s->T, &loss) != SPDF_OK ||
            spdf_model_backward(model) != SPDF_OK || spdf_optimizer_step(opt, NULL, NULL) != SPDF_OK) {
            fprintf(stderr, "bench_train: %s\n", spdf_last_error());
            return 1;
        }
        times[r] = now_seconds() - t0;
    }
    qsort(times + 1, reps, sizeof(double), compare_doubles);
    const double median = times[1 + reps / 2];
    printf("%-6s backend=%-4s threads=%d  B=%d T=%d  median %8.1f ms/step  %8.0f tokens/s  "
           "%6.1f GFLOP/s  (min %.1f ms, max %.1f ms, %d reps, loss %.3f)\n",
           s->name, resolved, threads, s->B, s->T, median * 1e3, n / median,
           train_flops(s) / median * 1e-9, times[1] * 1e3, times[reps] * 1e3, reps, loss);
    fflush(stdout);
    free(times);
    free(tokens);
    free(targets);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    const char *backend = NULL, *which = "all";
    int threads = 0, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) backend = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) which = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--backend NAME] [--threads N] [--reps R] [--shape small|gpt2|demo|all]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        if (strcmp(which, "all") == 0 || strcmp(which, shapes[k].name) == 0)
            if (run_shape(&shapes[k], backend, threads, reps) != 0) return 1;
    return 0;
}
