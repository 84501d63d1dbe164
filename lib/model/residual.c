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
