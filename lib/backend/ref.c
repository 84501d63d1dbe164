/* The reference backend: portable C kernels, the correctness oracle for every other backend.
 * GEMM is blocked and packed (BLIS-style loops) so it is not painfully slow, and written with
 * GCC vector extensions, which compile to SSE, AVX2 or AVX-512 as the target allows. */
#include "backend.h"
#include "backend/ref_sparse.h"
#include "backend/gemm_small.h"
#include "backend/scratch.h"
#include "core/core.h"

#include <string.h>

/* Micro-tile MR x NR of C held in registers; KC x NC panel of B kept in L2. */
enum { MR = 6, NR = 16, KC = 256, NC = 256 };

typedef float vec8 __attribute__((vector_size(32)));

static inline float load_op(const float *X, int64_t ld, spdf_transpose trans, int64_t row,
                            int64_t col)
{
    return trans == SPDF_NO_TRANS ? X[row * ld + col] : X[col * ld + row];
}

/* Packs op(A)[i0:i0+m, p0:p0+k] into MR-row slivers: sliver s holds rows s*MR.. as (k, MR),
 * zero-padded to a multiple of MR rows. */
static void pack_a(float *dst, const float *A, int64_t lda, spdf_transpose trans, int64_t i0,
                   int64_t m, int64_t p0, int64_t k)
{
    for (int64_t s = 0; s < m; s += MR)
        for (int64_t p = 0; p < k; p++)
            for (int64_t r = 0; r < MR; r++)
                *dst++ = s + r < m ? load_op(A, lda, trans, i0 + s + r, p0 + p) : 0.0f;
}

/* Packs op(B)[p0:p0+k, j0:j0+n] into NR-column slivers: sliver s holds (k, NR), zero-padded. */
static void pack_b(float *dst, const float *B, int64_t ldb, spdf_transpose trans, int64_t p0,
                   int64_t k, int64_t j0, int64_t n, int64_t sliver)
{
    float *out = dst + sliver * k * NR;
    const int64_t j = sliver * NR;
    for (int64_t p = 0; p < k; p++)
        for (int64_t c = 0; c < NR; c++)
            *out++ = j + c < n ? load_op(B, ldb, trans, p0 + p, j0 + j + c) : 0.0f;
}

/* acc (MR,NR) = sum_p a[p] (MR) outer b[p] (NR) over k steps. */
SPDF_VECTOR_CLONES
static void micro_kernel(int64_t k, const float *restrict a, const float *restrict b,
                         float *restrict acc)
{
    vec8 c[MR][2];
    memset(c, 0, sizeof c);
    for (int64_t p = 0; p < k; p++) {
        vec8 b0, b1;
        memcpy(&b0, b + p * NR, sizeof b0);
        memcpy(&b1, b + p * NR + 8, sizeof b1);
        for (int r = 0; r < MR; r++) {
            const float ar = a[p * MR + r];
            c[r][0] += ar * b0;
            c[r][1] += ar * b1;
        }
    }
    memcpy(acc, c, sizeof c);
}

/* C tile (m,n) = alpha * acc + beta * C, or += alpha * acc when accumulating later K panels. */
static void store_tile(float *C, int64_t ldc, const float *acc, int64_t m, int64_t n, float alpha,
                       float beta)
{
    for (int64_t r = 0; r < m; r++)
        for (int64_t c = 0; c < n; c++) {
            float *out = &C[r * ldc + c];
            const float prior = beta == 0.0f ? 0.0f : beta * *out;
            *out = alpha * acc[r * NR + c] + prior;
        }
}

static void ref_gemm(int num_threads, spdf_transpose trans_a, spdf_transpose trans_b, int64_t M,
                     int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K > 0 && alpha != 0.0f && gemm_small_applies(trans_a, M)) {
        gemm_small(num_threads, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    const int64_t m_slivers = (M + MR - 1) / MR;
    size_t a_capacity = 0, b_capacity = 0;
    float *a_pack = scratch_acquire((size_t)(m_slivers * MR * KC), &a_capacity);
    float *b_pack = scratch_acquire((size_t)(NC * KC), &b_capacity);
    if (!a_pack || !b_pack) {
        /* Out of memory for 1 MiB of packing space: fall back to the unpacked triple loop. */
        scratch_release(a_pack, a_capacity);
        scratch_release(b_pack, b_capacity);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                float sum = 0.0f;
                for (int64_t p = 0; p < K; p++)
                    sum += load_op(A, lda, trans_a, i, p) * load_op(B, ldb, trans_b, p, j);
                C[i * ldc + j] = alpha * sum + (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]);
            }
        return;
    }
    for (int64_t j0 = 0; j0 < N; j0 += NC) {
        const int64_t n = N - j0 < NC ? N - j0 : NC;
        const int64_t n_slivers = (n + NR - 1) / NR;
        for (int64_t p0 = 0; p0 < K; p0 += KC) {
            const int64_t k = K - p0 < KC ? K - p0 : KC;
            const float beta_here = p0 == 0 ? beta : 1.0f;
#pragma omp parallel num_threads(num_threads)
            {
#pragma omp for schedule(static)
                for (int64_t s = 0; s < m_slivers; s++) {
                    const int64_t rows = M - s * MR < MR ? M - s * MR : MR;
                    pack_a(a_pack + s * MR * k, A, lda, trans_a, s * MR, rows, p0, k);
                }
#pragma omp for schedule(static)
                for (int64_t s = 0; s < n_slivers; s++) pack_b(b_pack, B, ldb, trans_b, p0, k, j0, n, s);
#pragma omp for collapse(2) schedule(static)
                for (int64_t si = 0; si < m_slivers; si++)
                    for (int64_t sj = 0; sj < n_slivers; sj++) {
                        float acc[MR * NR] __attribute__((aligned(64)));
                        micro_kernel(k, a_pack + si * MR * k, b_pack + sj * NR * k, acc);
                        const int64_t rows = M - si * MR < MR ? M - si * MR : MR;
                        const int64_t cols = n - sj * NR < NR ? n - sj * NR : NR;
                        store_tile(C + si * MR * ldc + j0 + sj * NR, ldc, acc, rows, cols, alpha,
                                   beta_here);
                    }
            }
        }
    }
    scratch_release(a_pack, a_capacity);
    scratch_release(b_pack, b_capacity);
}

static int ref_available(void) { return 1; }

/* One kernel per product, the plain CSR loops: nothing to plan. */
static void ref_sparse_kernel_info(const void *layer, spdf_sparse_plan_report *report)
{
    (void)layer;
    for (int p = 0; p < SPDF_PRODUCTS; p++) {
        report->kind[p] = SPDF_SPARSE_KERNEL_INDEX;
        report->relative_time[p] = 0.0f;
    }
    report->planned_by = SPDF_SPARSE_PLANNED_ESTIMATE;
    report->vector_floats = 1;
    report->isa = "reference";
    report->code_bytes = 0;
}

const spdf_backend_ops spdf_backend_ref = {
    .version = SPDF_BACKEND_OPS_VERSION,
    .name = "ref",
    .available = ref_available,
    .gemm = ref_gemm,
    .sparse_prepare = ref_sparse_prepare,
    .sparse_release = ref_sparse_release,
    .sparse_order = ref_sparse_order,
    .sparse_forward = ref_sparse_forward,
    .sparse_backward_data = ref_sparse_backward_data,
    .sparse_backward_weight = ref_sparse_backward_weight,
    .sparse_kernel_info = ref_sparse_kernel_info,
};
