/* GELU with the tanh approximation used by GPT-2. */
#include "model/layers.h"

#include <math.h>

#define GELU_SCALE 0.7978845608028654f /* sqrt(2 / pi) */

void gelu_forward(const spdf_exec *ex, float *out, const float *inp, int64_t N)
{
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int64_t i = 0; i < N; i++) {
        const float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + 0.044715f * x * x * x)));
    }
}

void gelu_backward(const spdf_exec *ex, float *dinp, const float *inp, const float *dout, int64_t N)
{
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int64_t i = 0; i < N; i++) {
        const float x = inp[i];
        const float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        const float th = tanhf(u);
        const float sech2 = 1.0f - th * th;
        const float du_dx = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * sech2 * du_dx);
    }
}
