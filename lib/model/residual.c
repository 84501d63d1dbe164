/* Residual connections: out = residual + (x + bias), the branch's output projection finishing
 * with its bias in the same pass (bias may be NULL). */
#include "core/core.h"
#include "model/layers.h"

SPDF_VECTOR_CLONES
void residual_forward(const spdf_exec *ex, float *out, const float *residual, const float *x,
                      const float *bias, int64_t N, int C)
{
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int64_t r = 0; r < N; r++) {
        const float *a = residual + r * C, *b = x + r * C;
        float *o = out + r * C;
        if (bias)
            for (int c = 0; c < C; c++) o[c] = a[c] + (b[c] + bias[c]);
        else
            for (int c = 0; c < C; c++) o[c] = a[c] + b[c];
    }
}

/* Chunks of a mask done by one thread; a multiple of the 32 words drawn at a time. */
enum { DROPOUT_CHUNK = 4096 };

void dropout_apply(const spdf_exec *ex, float *x, int64_t n, const dropout_mask *drop)
{
    const int64_t chunks = (n + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK;
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int64_t chunk = 0; chunk < chunks; chunk++) {
        const int64_t first = chunk * DROPOUT_CHUNK;
        const int64_t count = n - first < DROPOUT_CHUNK ? n - first : DROPOUT_CHUNK;
        spdf_rng_dropout(&drop->rng, (uint64_t)first, (size_t)count, drop->threshold, drop->scale,
                         x + first);
    }
}

SPDF_VECTOR_CLONES
void residual_dropout(const spdf_exec *ex, float *x, const float *bias, int64_t N, int C,
                      const dropout_mask *drop)
{
    if (bias) {
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
        for (int64_t r = 0; r < N; r++)
            for (int c = 0; c < C; c++) x[r * C + c] += bias[c];
    }
    dropout_apply(ex, x, N * C, drop);
}
