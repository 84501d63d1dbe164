/* Softmax cross-entropy of the LM head's logits against the next tokens.  Probabilities are
 * never stored: the backward pass recomputes them from the logits and the row's log-sum-exp. */
#include "core/core.h"
#include "core/vector_math.h"
#include "model/layers.h"

#include <math.h>

SPDF_VECTOR_CLONES
void crossentropy_forward(const spdf_exec *ex, float *losses, float *logsumexp, const float *logits,
                          const int32_t *targets, int64_t N, int V)
{
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int64_t r = 0; r < N; r++) {
        const float *row = logits + r * V;
        float max = row[0];
        for (int v = 1; v < V; v++) max = row[v] > max ? row[v] : max;
        double sum = 0.0; /* in double: V terms up to 1 each */
#pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) sum += (double)vm_exp(row[v] - max);
        const float lse = max + (float)log(sum);
        logsumexp[r] = lse;
        losses[r] = lse - row[targets[r]];
    }
}

SPDF_VECTOR_CLONES
void crossentropy_backward(const spdf_exec *ex, float *dlogits, const float *logits,
                           const float *logsumexp, const int32_t *targets, const float *weights,
                           int64_t N, int V)
{
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int64_t r = 0; r < N; r++) {
        float *drow = dlogits + r * V;
        const float w = weights[r];
        if (w == 0.0f) {
            for (int v = 0; v < V; v++) drow[v] = 0.0f;
            continue;
        }
        const float *row = logits + r * V;
        const float lse = logsumexp[r];
#pragma omp simd
        for (int v = 0; v < V; v++) drow[v] = w * vm_exp(row[v] - lse);
        drow[targets[r]] -= w;
    }
}
