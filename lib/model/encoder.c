/* Token and position embeddings: the first layer of the model. */
#include "core/core.h"
#include "model/layers.h"

SPDF_VECTOR_CLONES
void encoder_forward(const spdf_exec *ex, float *out, const int32_t *tokens, const float *wte,
                     const float *wpe, int B, int T, int C)
{
#pragma omp parallel for collapse(2) num_threads(ex->num_threads) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *out_bt = out + ((int64_t)b * T + t) * C;
            const float *token_row = wte + (int64_t)tokens[b * T + t] * C;
            const float *position_row = wpe + (int64_t)t * C;
            for (int c = 0; c < C; c++) out_bt[c] = token_row[c] + position_row[c];
        }
}

/* Several positions may hold the same token, so rows of dwte receive several updates: threads
 * split the channels instead, and each walks all positions in order (deterministic). */
SPDF_VECTOR_CLONES
void encoder_backward(const spdf_exec *ex, float *dwte, float *dwpe, const float *dout,
                      const int32_t *tokens, int B, int T, int C)
{
    enum { CHANNEL_BLOCK = 16 };
    const int blocks = (C + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK;
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int block = 0; block < blocks; block++) {
        const int c0 = block * CHANNEL_BLOCK;
        const int c1 = c0 + CHANNEL_BLOCK < C ? c0 + CHANNEL_BLOCK : C;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *dout_bt = dout + ((int64_t)b * T + t) * C;
                float *dtoken_row = dwte + (int64_t)tokens[b * T + t] * C;
                float *dposition_row = dwpe + (int64_t)t * C;
                for (int c = c0; c < c1; c++) {
                    dtoken_row[c] += dout_bt[c];
                    dposition_row[c] += dout_bt[c];
                }
            }
    }
}
