/* An independent, naive double-precision GPT-2 forward pass used as the oracle of the gradient
 * check: plain loops, no shared code with lib/model, parameters in libspdf's tensor order. */
#ifndef SPDF_TEST_GPT_REFERENCE_H
#define SPDF_TEST_GPT_REFERENCE_H

#include <stdint.h>

typedef struct reference_shape {
    int V, maxT, L, NH, C;
} reference_shape;

/* params: all tensors concatenated in the order of spdf_model_tensor_info (wte, wpe, blocks,
 * ln_f).  Returns the weighted mean cross-entropy, weights NULL meaning all ones. */
double reference_loss(const reference_shape *s, const double *params, const int32_t *tokens,
                      const int32_t *targets, const float *weights, int B, int T);

#endif
