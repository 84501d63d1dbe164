/* Residual connection: out = a + b. */
#include "core/core.h"
#include "model/layers.h"

SPDF_VECTOR_CLONES
void residual_forward(const spdf_exec *ex, float *out, const float *a, const float *b, int64_t N)
{
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int64_t i = 0; i < N; i++) out[i] = a[i] + b[i];
}
