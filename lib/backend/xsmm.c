/* The libxsmm backend: dense GEMM on JIT-generated microkernels, with our own packing, blocking
 * and OpenMP tiling around them (libxsmm's own sgemm hands large sizes to a BLAS). */
#include "backend.h"
#include "core/core.h"

#include <libxsmm.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

/* libxsmm is column-major, so the row-major product C (M,N) = op(A) op(B) is computed as the
 * column-major product C^T (N,M) = op(B)^T op(A)^T.  A kernel call therefore sees:
 *   its A: a packed block of op(B), BLOCK_N columns of C by BLOCK_K (vector loads, kept in L1),
 *   its B: BLOCK_M rows of op(A) by BLOCK_K, read in place when A is not transposed,
 *   its C: a BLOCK_M x BLOCK_N tile of C, read and written in place with leading dimension ldc.
 * Blocking, outermost first: PANEL_N columns of C, PANEL_K steps of K (the packed op(B) panel),
 * PANEL_M rows of C (the op(A) rows in use), then tiles, then kernel calls over BLOCK_K steps.
 * None of it depends on the thread count, and every tile belongs to one thread at a time, so
 * each element of C accumulates in the same order of K for any number of threads. */
enum {
    BLOCK_N = 64,   /* C columns per kernel (kernel m): a multiple of the 32-float AVX2 block */
    BLOCK_M = 48,   /* C rows per kernel (kernel n): a multiple of the 3-column AVX2 block */
    BLOCK_K = 64,   /* K steps per kernel: BLOCK_N x BLOCK_K floats (16 KiB) stay in L1 */
    PANEL_K = 256,  /* K steps per packed panel: C is read and written once per panel */
    PANEL_M = 192,  /* C rows per op(A) block: PANEL_M x PANEL_K floats (192 KiB) in L2 */
    PANEL_N = 2048, /* C columns per packed op(B) panel: PANEL_K x PANEL_N floats (2 MiB) */
    KERNEL_CACHE = 128
};

/* ---- kernels: dispatched once per shape, cached for the life of the process ---- */

typedef struct kernel_key {
    int m, n, k, lda, ldb, ldc, beta;
} kernel_key;

static struct {
    pthread_mutex_t lock;
    int count;
    kernel_key keys[KERNEL_CACHE];
    libxsmm_smmfunction kernels[KERNEL_CACHE];
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int jit_works;

static libxsmm_smmfunction dispatch(kernel_key key)
{
    const float alpha = 1.0f, beta = (float)key.beta;
    const int flags = LIBXSMM_GEMM_FLAG_NONE, prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    return libxsmm_smmdispatch(key.m, key.n, key.k, &key.lda, &key.ldb, &key.ldc, &alpha, &beta,
                               &flags, &prefetch);
}

/* The kernel for key from the cache, generating it on first use; NULL if libxsmm cannot. */
static libxsmm_smmfunction kernel_get(kernel_key key)
{
    libxsmm_smmfunction found = NULL;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < cache.count && !found; i++)
        if (memcmp(&cache.keys[i], &key, sizeof key) == 0) found = cache.kernels[i];
    if (!found) {
        found = dispatch(key);
        if (found && cache.count < KERNEL_CACHE) {
            cache.keys[cache.count] = key;
            cache.kernels[cache.count++] = found;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    return found;
}

static void xsmm_init(void)
{
    libxsmm_init();
    const kernel_key probe = {BLOCK_N, BLOCK_M, BLOCK_K, BLOCK_N, BLOCK_K, BLOCK_N, 0};
    jit_works = libxsmm_get_target_archid() >= LIBXSMM_X86_AVX2 && kernel_get(probe) != NULL;
}

static int xsmm_available(void)
{
    pthread_once(&init_once, xsmm_init);
    return jit_works;
}

/* ---- packing ---- */

/* op(B)[p0:p0+k, j0:j0+n] * alpha as a column-major BLOCK_N x k block (leading dimension
 * BLOCK_N), columns n..BLOCK_N zero. */
static void pack_b(float *restrict dst, const float *B, int64_t ldb, spdf_transpose trans,
                   int64_t p0, int64_t k, int64_t j0, int64_t n, float alpha)
{
    if (trans == SPDF_NO_TRANS) {
        for (int64_t p = 0; p < k; p++) {
            const float *src = B + (p0 + p) * ldb + j0;
            float *out = dst + p * BLOCK_N;
            for (int64_t j = 0; j < n; j++) out[j] = alpha * src[j];
            for (int64_t j = n; j < BLOCK_N; j++) out[j] = 0.0f;
        }
        return;
    }
    for (int64_t j = 0; j < n; j++) {
        const float *src = B + (j0 + j) * ldb + p0;
        for (int64_t p = 0; p < k; p++) dst[p * BLOCK_N + j] = alpha * src[p];
    }
    for (int64_t p = 0; p < k; p++)
        for (int64_t j = n; j < BLOCK_N; j++) dst[p * BLOCK_N + j] = 0.0f;
}

/* Rows i0..i0+m of op(A) = A^T over p0..p0+k, row i at dst[i * ld], for a transposed A. */
static void pack_a_transposed(float *restrict dst, int64_t ld, const float *A, int64_t lda,
                              int64_t i0, int64_t m, int64_t p0, int64_t k)
{
    for (int64_t p = 0; p < k; p++) {
        const float *src = A + (p0 + p) * lda + i0;
        for (int64_t i = 0; i < m; i++) dst[i * ld + p] = src[i];
    }
}

/* ---- the GEMM ---- */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t blocks(int64_t n, int64_t block) { return (n + block - 1) / block; }

/* Kernels for every tile shape one call can meet: [beta 0 or 1][full or edge n][m][k]; the
 * entries a call never uses stay NULL. */
typedef struct plan {
    libxsmm_smmfunction kernel[2][2][2][2];
} plan;

static int make_plan(plan *pl, int64_t M, int64_t N, int64_t K, float beta, int64_t ldb_kernel,
                     int64_t ldc)
{
    memset(pl, 0, sizeof *pl);
    if (ldb_kernel > INT_MAX || ldc > INT_MAX) return 0;
    const int64_t ns[2] = {min64(N, BLOCK_N), N % BLOCK_N ? N % BLOCK_N : min64(N, BLOCK_N)};
    const int64_t ms[2] = {min64(M, BLOCK_M), M % BLOCK_M ? M % BLOCK_M : min64(M, BLOCK_M)};
    const int64_t ks[2] = {min64(K, BLOCK_K), K % BLOCK_K ? K % BLOCK_K : min64(K, BLOCK_K)};
    /* beta 0 overwrites C at the first K block; beta 1 accumulates every later block. */
    const int need[2] = {beta == 0.0f, beta != 0.0f || K > BLOCK_K};
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 2 && need[b]; i++)
            for (int j = 0; j < 2; j++)
                for (int k = 0; k < 2; k++) {
                    const kernel_key key = {(int)ns[i], (int)ms[j], (int)ks[k], BLOCK_N,
                                            (int)ldb_kernel, (int)ldc, b};
                    if (!(pl->kernel[b][i][j][k] = kernel_get(key))) return 0;
                }
    return 1;
}

/* C tile (m,n) *= beta, or = 0 when beta is 0 (then C is not read). */
static void scale_tile(float *C, int64_t ldc, int64_t m, int64_t n, float beta)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

/* Below this many FLOPs a second thread costs more in start-up and barriers than it saves. */
#define PARALLEL_MIN_FLOPS 4.0e6

static void xsmm_gemm(int num_threads, spdf_transpose trans_a, spdf_transpose trans_b, int64_t M,
                      int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (num_threads < 1 || 2.0 * (double)M * (double)N * (double)K < PARALLEL_MIN_FLOPS)
        num_threads = 1;
    if (K <= 0 || alpha == 0.0f) {
#pragma omp parallel for num_threads(num_threads) schedule(static)
        for (int64_t i = 0; i < M; i++) scale_tile(C + i * ldc, ldc, 1, N, beta);
        return;
    }
    /* Kernels read op(A) rows in place from A, or from a packed copy of A^T. */
    const int packed_a = trans_a == SPDF_TRANS;
    const int64_t kc_max = min64(K, PANEL_K);
    const int64_t ldb_kernel = packed_a ? kc_max : lda;
    plan pl;
    float *b_panel = NULL, *a_block = NULL;
    if (xsmm_available() && make_plan(&pl, M, N, K, beta, ldb_kernel, ldc)) {
        b_panel = spdf_aligned_alloc(sizeof(float) * (size_t)(blocks(min64(N, PANEL_N), BLOCK_N) *
                                                              blocks(kc_max, BLOCK_K)) *
                                     BLOCK_N * BLOCK_K);
        if (packed_a)
            a_block = spdf_aligned_alloc(sizeof(float) * (size_t)(blocks(min64(M, PANEL_M), BLOCK_M) *
                                                                  BLOCK_M * kc_max));
    }
    if (!b_panel || (packed_a && !a_block)) {
        /* No kernel or no memory: the reference computes the same contract. */
        spdf_aligned_free(b_panel);
        spdf_aligned_free(a_block);
        spdf_backend_ref.gemm(num_threads, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta,
                              C, ldc);
        return;
    }
    const int general_beta = beta != 0.0f && beta != 1.0f;

#pragma omp parallel num_threads(num_threads) if (num_threads > 1)
    for (int64_t jc = 0; jc < N; jc += PANEL_N) {
        const int64_t nc = min64(PANEL_N, N - jc), n_blocks = blocks(nc, BLOCK_N);
        for (int64_t pc = 0; pc < K; pc += PANEL_K) {
            const int64_t kc = min64(PANEL_K, K - pc), k_blocks = blocks(kc, BLOCK_K);
            /* op(B) panel: block (jb, s) holds columns jb*BLOCK_N.. over K steps s*BLOCK_K.. */
#pragma omp for collapse(2) schedule(static)
            for (int64_t jb = 0; jb < n_blocks; jb++)
                for (int64_t s = 0; s < k_blocks; s++)
                    pack_b(b_panel + (jb * k_blocks + s) * BLOCK_N * BLOCK_K, B, ldb, trans_b,
                           pc + s * BLOCK_K, min64(BLOCK_K, kc - s * BLOCK_K), jc + jb * BLOCK_N,
                           min64(BLOCK_N, nc - jb * BLOCK_N), alpha);
            for (int64_t ic = 0; ic < M; ic += PANEL_M) {
                const int64_t mc = min64(PANEL_M, M - ic), m_blocks = blocks(mc, BLOCK_M);
                const float *a_rows = A + ic * lda + pc;
                if (packed_a) {
#pragma omp for schedule(static)
                    for (int64_t ib = 0; ib < m_blocks; ib++)
                        pack_a_transposed(a_block + ib * BLOCK_M * ldb_kernel, ldb_kernel, A, lda,
                                          ic + ib * BLOCK_M, min64(BLOCK_M, mc - ib * BLOCK_M),
                                          pc, kc);
                    a_rows = a_block;
                }
#pragma omp for collapse(2) schedule(static) nowait
                for (int64_t jb = 0; jb < n_blocks; jb++)
                    for (int64_t ib = 0; ib < m_blocks; ib++) {
                        const int64_t n = min64(BLOCK_N, nc - jb * BLOCK_N);
                        const int64_t m = min64(BLOCK_M, mc - ib * BLOCK_M);
                        float *c_tile = C + (ic + ib * BLOCK_M) * ldc + jc + jb * BLOCK_N;
                        if (pc == 0 && general_beta) scale_tile(c_tile, ldc, m, n, beta);
                        const float *b_blocks = b_panel + jb * k_blocks * BLOCK_N * BLOCK_K;
                        const float *a_tile = a_rows + ib * BLOCK_M * ldb_kernel;
                        for (int64_t s = 0; s < k_blocks; s++) {
                            const int overwrite = pc == 0 && s == 0 && beta == 0.0f;
                            const int edge_k = pc + s * BLOCK_K + BLOCK_K > K;
                            pl.kernel[!overwrite][n != BLOCK_N][m != BLOCK_M][edge_k](
                                b_blocks + s * BLOCK_N * BLOCK_K, a_tile + s * BLOCK_K, c_tile);
                        }
                    }
                /* The next op(A) block overwrites what other threads may still read. */
                if (packed_a) {
#pragma omp barrier
                }
            }
            /* Likewise the next op(B) panel. */
            if (!packed_a) {
#pragma omp barrier
            }
        }
    }
    spdf_aligned_free(b_panel);
    spdf_aligned_free(a_block);
}

const spdf_backend_ops spdf_backend_xsmm = {
    .version = SPDF_BACKEND_OPS_VERSION,
    .name = "xsmm",
    .available = xsmm_available,
    .gemm = xsmm_gemm,
};
