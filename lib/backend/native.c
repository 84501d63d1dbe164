/* The native backend: libspdf's own kernels and nothing else, for builds without libxsmm or
 * machines it cannot run on.  Dense products run on the reference backend's blocked GEMM; sparse
 * layers on the index kernels at the CPU's vector width, or that GEMM where the plan says so. */
#include "backend.h"
#include "backend/sparse_plan.h"

/* Index-kernel time per non-zero over the reference GEMM's time per weight element
 * (sparse_plan.h): the xsmm backend's figures over the reference GEMM's speed against libxsmm's
 * (1.36x slower time-weighted, bench_gemm on the AMD EPYC Zen 3 of docs/benchmarks.md). */
static const sparse_cost_model native_sparse_costs = {
    .index_ratio = {
        [CPU_ISA_PORTABLE] = {3.0f, 3.0f, 3.0f},
        [CPU_ISA_AVX2] = {1.2f, 1.2f, 1.7f},
        [CPU_ISA_AVX512] = {1.3f, 1.3f, 1.85f},
    },
    .jit_ratio = {1e30f, 1e30f, 1e30f},
};

static void native_gemm(int num_threads, spdf_transpose trans_a, spdf_transpose trans_b,
                        int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                        const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    spdf_backend_ref.gemm(num_threads, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                          ldc);
}

static const sparse_backend_kernels native_sparse_backend = {
    .gemm = native_gemm,
    .costs = &native_sparse_costs,
    .jit = NULL,
};

static void *native_sparse_prepare(const spdf_sparse_pattern *pattern)
{
    return sparse_plan_create(pattern, &native_sparse_backend);
}

static int native_available(void) { return 1; }

const spdf_backend_ops spdf_backend_native = {
    .version = SPDF_BACKEND_OPS_VERSION,
    .name = "native",
    .available = native_available,
    .gemm = native_gemm,
    SPARSE_PLAN_BACKEND_ENTRIES(native_sparse_prepare),
};
