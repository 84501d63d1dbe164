/* Fully connected layer y = x W^T + b, W stored (out_features, in_features) as in llm.c.  The
 * matrix products go through the backend's GEMM. */
#include "core/core.h"
#include "model/layers.h"

#include <stddef.h>

SPDF_VECTOR_CLONES
static void add_bias(const spdf_exec *ex, float *out, const float *bias, int64_t N, int OC)
{
    if (!bias) return;
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int64_t r = 0; r < N; r++)
        for (int o = 0; o < OC; o++) out[r * OC + o] += bias[o];
}

void linear_forward(const spdf_exec *ex, float *out, const float *inp, const float *weight,
                    const float *bias, int64_t N, int C, int OC)
{
    /* out (N,OC) = inp (N,C) * W^T (C,OC) */
    ex->ops->gemm(ex->num_threads, SPDF_NO_TRANS, SPDF_TRANS, N, OC, C, 1.0f, inp, C, weight, C,
                  0.0f, out, OC);
    add_bias(ex, out, bias, N, OC);
}

void linear_backward(const spdf_exec *ex, float *dinp, float *dweight, float *dbias,
                     const float *dout, const float *inp, const float *weight, int64_t N, int C,
                     int OC)
{
    /* dinp (N,C) = dout (N,OC) * W (OC,C) */
    if (dinp)
        ex->ops->gemm(ex->num_threads, SPDF_NO_TRANS, SPDF_NO_TRANS, N, C, OC, 1.0f, dout, OC,
                      weight, C, 0.0f, dinp, C);
    /* dW (OC,C) += dout^T (OC,N) * inp (N,C) */
    ex->ops->gemm(ex->num_threads, SPDF_TRANS, SPDF_NO_TRANS, OC, C, N, 1.0f, dout, OC, inp, C,
                  1.0f, dweight, C);
    if (dbias) column_sum_accumulate(ex, dbias, dout, NULL, N, OC);
}

void sparse_linear_forward(const spdf_exec *ex, const void *kernel, float *out, const float *inp,
                           const float *values, const float *bias, int64_t N, int OC)
{
    ex->ops->sparse_forward(ex->num_threads, kernel, values, out, inp, N);
    add_bias(ex, out, bias, N, OC);
}

void sparse_linear_backward(const spdf_exec *ex, const void *kernel, float *dinp, float *dvalues,
                            float *dbias, const float *dout, const float *inp, const float *values,
                            int64_t N, int OC)
{
    if (dinp) ex->ops->sparse_backward_data(ex->num_threads, kernel, values, dinp, dout, N);
    ex->ops->sparse_backward_weight(ex->num_threads, kernel, dvalues, dout, inp, N);
    if (dbias) column_sum_accumulate(ex, dbias, dout, NULL, N, OC);
}
