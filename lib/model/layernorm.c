/* LayerNorm over channels, eps 1e-5 as GPT-2. */
#include "core/core.h"
#include "core/vector_math.h"
#include "model/layers.h"

#include <math.h>
#include <stddef.h>

SPDF_VECTOR_CLONES
void layernorm_forward(const spdf_exec *ex, float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int64_t N, int C)
{
    const float eps = 1e-5f;
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int64_t r = 0; r < N; r++) {
        const float *x = inp + r * C;
        const float m = vm_sum(x, C) / C;
        float *y = out + r * C;
        /* y holds x - m until the variance is known */
#pragma omp simd
        for (int c = 0; c < C; c++) y[c] = x[c] - m;
        const float s = 1.0f / sqrtf(vm_dot(y, y, C) / C + eps);
#pragma omp simd
        for (int c = 0; c < C; c++) y[c] = y[c] * s * weight[c] + bias[c];
        mean[r] = m;
        rstd[r] = s;
    }
}

/* dinp accumulates because the LayerNorm input is the residual stream, whose gradient already
 * holds the contribution of the skip connection. */
SPDF_VECTOR_CLONES
void layernorm_backward(const spdf_exec *ex, float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight, const float *mean,
                        const float *rstd, int64_t N, int C)
{
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int64_t r = 0; r < N; r++) {
        const float *x = inp + r * C, *dy = dout + r * C;
        const float m = mean[r], s = rstd[r];
        /* dnorm = dy * weight; dx = s * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) */
        float *dx = dinp + r * C;
        float lanes_dnorm[8] = {0}, lanes_dnorm_norm[8] = {0};
        int c = 0;
        for (; c + 8 <= C; c += 8)
            for (int j = 0; j < 8; j++) {
                const float norm = (x[c + j] - m) * s;
                const float dnorm = dy[c + j] * weight[c + j];
                lanes_dnorm[j] += dnorm;
                lanes_dnorm_norm[j] += dnorm * norm;
            }
        for (; c < C; c++) { /* C is a multiple of 8 in every GPT shape; this is the remainder */
            const float norm = (x[c] - m) * s;
            const float dnorm = dy[c] * weight[c];
            lanes_dnorm[0] += dnorm;
            lanes_dnorm_norm[0] += dnorm * norm;
        }
        const float dnorm_mean = vm_sum(lanes_dnorm, 8) / C;
        const float dnorm_norm_mean = vm_sum(lanes_dnorm_norm, 8) / C;
#pragma omp simd
        for (c = 0; c < C; c++) {
            const float norm = (x[c] - m) * s;
            const float dnorm = dy[c] * weight[c];
            dx[c] += s * (dnorm - dnorm_mean - norm * dnorm_norm_mean);
        }
    }
    /* dweight[c] = sum_r dy[r,c] * norm[r,c]; norm is recomputed column-block-wise. */
    enum { COLUMN_BLOCK = 64 };
    const int blocks = (C + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int block = 0; block < blocks; block++) {
        const int c0 = block * COLUMN_BLOCK;
        const int width = C - c0 < COLUMN_BLOCK ? C - c0 : COLUMN_BLOCK;
        float sum_w[COLUMN_BLOCK] = {0};
        for (int64_t r = 0; r < N; r++) {
            const float *x = inp + r * C + c0, *dy = dout + r * C + c0;
            for (int c = 0; c < width; c++) sum_w[c] += dy[c] * (x[c] - mean[r]) * rstd[r];
        }
        for (int c = 0; c < width; c++) dweight[c0 + c] += sum_w[c];
    }
    column_sum_accumulate(ex, dbias, dout, NULL, N, C);
}
