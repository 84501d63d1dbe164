/* The layers outside the matrix products ("everything else" of bench_sparse --step), each timed
 * alone at the shapes of the training-step benchmark: attention, GELU, LayerNorm, residual,
 * bias gradient, cross-entropy, one at a time, median of the repetitions, on the default
 * backend's thread count.
 * Usage: bench_layers [--shape small|gpt2] [--threads N] [--reps R] */
#include "backend/backend.h"
#include "core/core.h"
#include "model/layers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *filled(int64_t count, float scale)
{
    float *x = spdf_aligned_alloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    if (!x) exit(1);
    uint64_t state = 0x9E3779B97F4A7C15ULL;
    for (int64_t i = 0; i < count; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = scale * ((float)((state >> 40) * (1.0 / 16777216.0)) - 0.5f);
    }
    return x;
}

enum { ATT_FWD, ATT_BWD, GELU_FWD, GELU_BWD, LN_FWD, LN_BWD, RESIDUAL, BIAS_GRAD, CE_FWD, CE_BWD,
       LAYERS };
static const char *const names[LAYERS] = {
    "attention forward", "attention backward", "bias + GELU forward", "GELU backward",
    "LayerNorm forward", "LayerNorm backward", "bias + residual", "bias gradient, 4C wide (column sum)",
    "cross-entropy forward", "cross-entropy backward"};

int main(int argc, char **argv)
{
    const char *shape = "small";
    int threads = 2, reps = 9;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) shape = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--shape small|gpt2] [--threads N] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    const int gpt2 = strcmp(shape, "gpt2") == 0;
    const int V = gpt2 ? 50304 : 256, C = gpt2 ? 768 : 384, NH = gpt2 ? 12 : 6;
    const int B = gpt2 ? 4 : 8, T = gpt2 ? 64 : 128;
    const int64_t N = (int64_t)B * T;
    const spdf_exec ex = {&spdf_backend_ref, threads};
    float *qkv = filled(N * 3 * C, 2.0f), *dqkv = filled(N * 3 * C, 1.0f);
    float *out = filled(N * C, 1.0f), *dout = filled(N * C, 1.0f), *x = filled(N * C, 2.0f);
    float *att = filled((int64_t)B * NH * T * T, 1.0f);
    float *scratch = filled(attention_scratch_floats(threads, T, C, NH), 1.0f);
    float *h = filled(N * 4 * C, 4.0f), *hg = filled(N * 4 * C, 1.0f), *dh = filled(N * 4 * C, 1.0f);
    float *mean = filled(N, 1.0f), *rstd = filled(N, 1.0f), *w = filled(C, 1.0f), *bias = filled(C, 1.0f);
    float *dw = filled(4 * C, 0.0f), *db = filled(4 * C, 0.0f);
    float *logits = filled(N * V, 4.0f), *dlogits = filled(N * V, 0.0f);
    float *losses = filled(N, 0.0f), *lse = filled(N, 0.0f), *weights = filled(N, 0.0f);
    int32_t *targets = malloc(sizeof(int32_t) * (size_t)N);
    for (int64_t i = 0; i < N; i++) {
        targets[i] = (int32_t)((i * 7 + 3) % V);
        weights[i] = 1.0f / (float)N;
    }
    double *times = malloc(sizeof(double) * (size_t)(LAYERS * reps));
    for (int r = -1; r < reps; r++)
        for (int k = 0; k < LAYERS; k++) {
            if (k == ATT_BWD) attention_forward(&ex, out, att, scratch, qkv, B, T, C, NH);
            const double t0 = now_seconds();
            switch (k) {
            case ATT_FWD: attention_forward(&ex, out, att, scratch, qkv, B, T, C, NH); break;
            case ATT_BWD: attention_backward(&ex, dqkv, scratch, dout, qkv, att, B, T, C, NH); break;
            case GELU_FWD: bias_gelu_forward(&ex, hg, h, dw, N, 4 * C); break;
            case GELU_BWD: gelu_backward(&ex, dh, h, hg, N * 4 * C); break;
            case LN_FWD: layernorm_forward(&ex, out, mean, rstd, x, w, bias, N, C); break;
            case LN_BWD: layernorm_backward(&ex, dout, dw, db, out, x, w, mean, rstd, N, C); break;
            case RESIDUAL: residual_forward(&ex, out, x, dout, bias, N, C); break;
            case BIAS_GRAD: column_sum_accumulate(&ex, db, dh, NULL, N, 4 * C); break;
            case CE_FWD: crossentropy_forward(&ex, losses, lse, logits, targets, N, V); break;
            default:
                crossentropy_backward(&ex, dlogits, logits, lse, targets, weights, N, V);
                break;
            }
            if (r >= 0) times[k * reps + r] = now_seconds() - t0;
        }
    printf("%s shape (B=%d, T=%d, C=%d, NH=%d, V=%d), %d threads, median of %d, ms per call\n\n",
           shape, B, T, C, NH, V, threads, reps);
    printf("| layer | ms | per step (x layers) |\n|---|---:|---:|\n");
    const int L = gpt2 ? 12 : 6;
    const int per_step[LAYERS] = {L, L, L, L, 2 * L + 1, 2 * L + 1, 2 * L, L, 1, 1};
    for (int k = 0; k < LAYERS; k++) {
        qsort(times + k * reps, (size_t)reps, sizeof(double), compare_doubles);
        const double ms = 1e3 * times[k * reps + reps / 2];
        printf("| %s | %.3f | %.1f |\n", names[k], ms, ms * per_step[k]);
    }
    return 0;
}
