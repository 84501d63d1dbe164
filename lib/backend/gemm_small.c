/* GEMMs with a few rows of C and op(A) = A, as the decoder runs them (one token per sequence).
 * The blocked GEMMs pack op(B) into panels, which for a handful of rows copies more than it
 * computes: here op(B) is read once, in place.  Every element of C is summed over K in a fixed
 * order by one thread, as the backend contract asks. */
#include "backend/gemm_small.h"
#include "core/core.h"
#include "core/vector_math.h"

/* Below this many FLOPs one thread does it all. */
#define SMALL_PARALLEL_MIN_FLOPS 1.0e6

int gemm_small_applies(spdf_transpose trans_a, int64_t M)
{
    return trans_a == SPDF_NO_TRANS && M >= 1 && M <= GEMM_SMALL_MAX_ROWS;
}

static float combine(float alpha, float sum, float beta, const float *c)
{
    return alpha * sum + (beta == 0.0f ? 0.0f : beta * *c);
}

SPDF_VECTOR_CLONES void gemm_small(int num_threads, spdf_transpose trans_b, int64_t M, int64_t N,
                                   int64_t K, float alpha, const float *A, int64_t lda,
                                   const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    const int parallel = num_threads > 1 && 2.0 * M * N * K >= SMALL_PARALLEL_MIN_FLOPS;
    if (trans_b == SPDF_TRANS) {
        /* C[i][j] = alpha A[i] . B[j] + beta C[i][j]: rows of both operands are contiguous */
#pragma omp parallel for num_threads(num_threads) schedule(static) if (parallel)
        for (int64_t j = 0; j < N; j++)
            for (int64_t i = 0; i < M; i++)
                C[i * ldc + j] = combine(alpha, vm_dot(A + i * lda, B + j * ldb, K), beta,
                                         C + i * ldc + j);
        return;
    }
    /* C[i][j] = alpha sum_k A[i][k] B[k][j] + beta C[i][j], a block of columns at a time */
    enum { COLUMNS = 256 };
    const int64_t blocks = (N + COLUMNS - 1) / COLUMNS;
#pragma omp parallel for num_threads(num_threads) schedule(static) if (parallel)
    for (int64_t block = 0; block < blocks; block++) {
        const int64_t j0 = block * COLUMNS, width = N - j0 < COLUMNS ? N - j0 : COLUMNS;
        float sum[COLUMNS];
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < width; j++) sum[j] = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                const float a = A[i * lda + k];
                const float *b = B + k * ldb + j0;
#pragma omp simd
                for (int64_t j = 0; j < width; j++) sum[j] += a * b[j];
            }
            for (int64_t j = 0; j < width; j++)
                C[i * ldc + j0 + j] = combine(alpha, sum[j], beta, C + i * ldc + j0 + j);
        }
    }
}
