/* Column sums for bias and LayerNorm parameter gradients.  Threads own disjoint column blocks
 * and each sums its rows in order, so the result never depends on the thread count. */
#include "core/core.h"
#include "model/layers.h"

SPDF_VECTOR_CLONES
void column_sum_accumulate(const spdf_exec *ex, float *dst, const float *a, const float *b,
                           int64_t N, int C)
{
    enum { COLUMN_BLOCK = 64 };
    const int blocks = (C + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
#pragma omp parallel for num_threads(ex->num_threads) schedule(static)
    for (int block = 0; block < blocks; block++) {
        const int c0 = block * COLUMN_BLOCK;
        const int width = C - c0 < COLUMN_BLOCK ? C - c0 : COLUMN_BLOCK;
        float sum[COLUMN_BLOCK] = {0};
        for (int64_t r = 0; r < N; r++) {
            const float *a_row = a + r * C + c0;
            if (b) {
                const float *b_row = b + r * C + c0;
                for (int c = 0; c < width; c++) sum[c] += a_row[c] * b_row[c];
            } else {
                for (int c = 0; c < width; c++) sum[c] += a_row[c];
            }
        }
        for (int c = 0; c < width; c++) dst[c0 + c] += sum[c];
    }
}
