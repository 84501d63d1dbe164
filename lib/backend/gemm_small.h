/* The GEMM path for a few rows of C (backend/gemm_small.c), shared by every backend. */
#ifndef SPDF_GEMM_SMALL_H
#define SPDF_GEMM_SMALL_H

#include "backend/backend.h"

#include <stdint.h>

#define GEMM_SMALL_MAX_ROWS 4

/* 1 if gemm_small handles a product with these op(A) and M. */
int gemm_small_applies(spdf_transpose trans_a, int64_t M);
/* The backend GEMM contract (backend.h) for op(A) = A and M <= GEMM_SMALL_MAX_ROWS. */
void gemm_small(int num_threads, spdf_transpose trans_b, int64_t M, int64_t N, int64_t K,
                float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                float *C, int64_t ldc);

#endif
