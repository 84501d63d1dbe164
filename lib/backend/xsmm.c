/* The libxsmm backend: dense GEMM on JIT-generated microkernels, with our own packing, blocking
 * and OpenMP tiling around them (libxsmm's own sgemm hands large sizes to a BLAS). */
#include "backend.h"
#include "backend/gemm_small.h"
#include "backend/scratch.h"
#include "core/core.h"
#include "backend/sparse_plan.h"
#include "backend/xsmm_sparse.h"

#include <libxsmm.h>
#include <limits.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <pthread.h>
#include <string.h>

/* libxsmm is column-major, so the row-major product C (M,N) = op(A) op(B) is computed as the
 * column-major product C^T (N,M) = op(B)^T op(A)^T.  A kernel call therefore sees:
 *   its A: a packed block of op(B), BLOCK_N columns of C by BLOCK_K (vector loads, kept in L1),
 *   its B: a packed block of op(A), BLOCK_M rows of C by BLOCK_K (broadcasts),
 *   its C: a BLOCK_M x BLOCK_N tile of C, read and written in place with leading dimension ldc.
 * Blocking, outermost first: PANEL_N columns of C, PANEL_K steps of K (the packed op(B) panel),
 * PANEL_M rows of C (the packed op(A) block), then tiles, then kernel calls over BLOCK_K steps,
 * all inside one rectangle of tiles (a unit) that one thread computes with its own packing space.
 * None of the blocking depends on the thread count, and every tile belongs to one thread, so
 * each element of C accumulates in the same order of K for any number of threads. */
enum {
    BLOCK_N = 64,   /* C columns per kernel (kernel m): a multiple of the 32-float AVX2 block */
    BLOCK_M = 96,   /* C rows per kernel (kernel n): a multiple of the 3-column AVX2 block */
    BLOCK_K = 64,   /* K steps per kernel: BLOCK_N x BLOCK_K floats (16 KiB) stay in L1 */
    PANEL_K = 256,  /* K steps per packed panel: C is read and written once per panel */
    PANEL_M = 192,  /* C rows per packed op(A) block: PANEL_M x PANEL_K floats (192 KiB), L2 */
    PANEL_N = 2048, /* C columns per packed op(B) panel: PANEL_K x PANEL_N floats (2 MiB) */
    UNITS_PER_THREAD = 1, /* work units per thread: balance under background load vs packing */
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

/* dst[r * ldd + c] = alpha * src[c * lds + r] for an 8 x 8 block.  The backend only runs where
 * libxsmm targets AVX2 (xsmm_available), so the AVX2 version needs no run-time check. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx2"))) static void transpose_8x8(float *restrict dst, int64_t ldd,
                                                          const float *src, int64_t lds,
                                                          float alpha)
{
    const __m256 scale = _mm256_set1_ps(alpha);
    __m256 r0 = _mm256_mul_ps(scale, _mm256_loadu_ps(src + 0 * lds));
    __m256 r1 = _mm256_mul_ps(scale, _mm256_loadu_ps(src + 1 * lds));
    __m256 r2 = _mm256_mul_ps(scale, _mm256_loadu_ps(src + 2 * lds));
    __m256 r3 = _mm256_mul_ps(scale, _mm256_loadu_ps(src + 3 * lds));
    __m256 r4 = _mm256_mul_ps(scale, _mm256_loadu_ps(src + 4 * lds));
    __m256 r5 = _mm256_mul_ps(scale, _mm256_loadu_ps(src + 5 * lds));
    __m256 r6 = _mm256_mul_ps(scale, _mm256_loadu_ps(src + 6 * lds));
    __m256 r7 = _mm256_mul_ps(scale, _mm256_loadu_ps(src + 7 * lds));
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    r0 = _mm256_shuffle_ps(t0, t2, 0x44);
    r1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    r2 = _mm256_shuffle_ps(t1, t3, 0x44);
    r3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    r4 = _mm256_shuffle_ps(t4, t6, 0x44);
    r5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    r6 = _mm256_shuffle_ps(t5, t7, 0x44);
    r7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(r0, r4, 0x20));
    _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(r1, r5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(r2, r6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(r3, r7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(r0, r4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(r1, r5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(r2, r6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(r3, r7, 0x31));
}
#else
static void transpose_8x8(float *restrict dst, int64_t ldd, const float *src, int64_t lds,
                          float alpha)
{
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++) dst[r * ldd + c] = alpha * src[c * lds + r];
}
#endif

/* dst[r * ldd + c] = alpha * src[c * lds + r] for r < rows, c < cols. */
static void transpose(float *restrict dst, int64_t ldd, const float *src, int64_t lds,
                      int64_t rows, int64_t cols, float alpha)
{
    const int64_t rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
    for (int64_t c = 0; c < cols8; c += 8)
        for (int64_t r = 0; r < rows8; r += 8)
            transpose_8x8(dst + r * ldd + c, ldd, src + c * lds + r, lds, alpha);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = r < rows8 ? cols8 : 0; c < cols; c++)
            dst[r * ldd + c] = alpha * src[c * lds + r];
}

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
        }
    } else {
        transpose(dst, BLOCK_N, B + j0 * ldb + p0, ldb, k, n, alpha);
    }
    if (n < BLOCK_N)
        for (int64_t p = 0; p < k; p++)
            for (int64_t j = n; j < BLOCK_N; j++) dst[p * BLOCK_N + j] = 0.0f;
}

/* op(A)[i0:i0+m, p0:p0+k] with row i at dst[i * BLOCK_K] (a column-major k x m block). */
static void pack_a(float *restrict dst, const float *A, int64_t lda, spdf_transpose trans,
                   int64_t i0, int64_t m, int64_t p0, int64_t k)
{
    if (trans == SPDF_NO_TRANS) {
        for (int64_t i = 0; i < m; i++)
            memcpy(dst + i * BLOCK_K, A + (i0 + i) * lda + p0, sizeof(float) * (size_t)k);
    } else {
        transpose(dst, BLOCK_K, A + p0 * lda + i0, lda, m, k, 1.0f);
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

static int make_plan(plan *pl, int64_t M, int64_t N, int64_t K, float beta, int64_t ldc)
{
    memset(pl, 0, sizeof *pl);
    if (ldc > INT_MAX) return 0;
    const int64_t ns[2] = {min64(N, BLOCK_N), N % BLOCK_N ? N % BLOCK_N : min64(N, BLOCK_N)};
    const int64_t ms[2] = {min64(M, BLOCK_M), M % BLOCK_M ? M % BLOCK_M : min64(M, BLOCK_M)};
    const int64_t ks[2] = {min64(K, BLOCK_K), K % BLOCK_K ? K % BLOCK_K : min64(K, BLOCK_K)};
    /* beta 0 overwrites C at the first K block; beta 1 accumulates every later block. */
    const int need[2] = {beta == 0.0f, beta != 0.0f || K > BLOCK_K};
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 2 && need[b]; i++)
            for (int j = 0; j < 2; j++)
                for (int k = 0; k < 2; k++) {
                    const kernel_key key = {(int)ns[i], (int)ms[j], (int)ks[k], BLOCK_N, BLOCK_K,
                                            (int)ldc, b};
                    if (!(pl->kernel[b][i][j][k] = kernel_get(key))) return 0;
                }
    return 1;
}

/* C tile (m,n) *= beta, or = 0 when beta is 0 (then C is not read). */
static void scale_tile(float *C, int64_t ldc, int64_t m, int64_t n, float beta)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

/* One GEMM call as every thread sees it. */
typedef struct gemm_args {
    spdf_transpose trans_a, trans_b;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
    plan pl;
} gemm_args;

/* Rows [i0,i1) and columns [j0,j1) of C, both starting on tile boundaries, on one thread, with
 * its own packing space. */
static void gemm_region(const gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                        float *b_panel, float *a_block)
{
    const int general_beta = g->beta != 0.0f && g->beta != 1.0f;
    for (int64_t jc = j0; jc < j1; jc += PANEL_N) {
        const int64_t nc = min64(PANEL_N, j1 - jc), n_blocks = blocks(nc, BLOCK_N);
        for (int64_t pc = 0; pc < g->K; pc += PANEL_K) {
            const int64_t kc = min64(PANEL_K, g->K - pc), k_blocks = blocks(kc, BLOCK_K);
            /* op(B) panel: block (jb, s) holds columns jb*BLOCK_N.. over K steps s*BLOCK_K.. */
            for (int64_t jb = 0; jb < n_blocks; jb++)
                for (int64_t s = 0; s < k_blocks; s++)
                    pack_b(b_panel + (jb * k_blocks + s) * BLOCK_N * BLOCK_K, g->B, g->ldb,
                           g->trans_b, pc + s * BLOCK_K, min64(BLOCK_K, kc - s * BLOCK_K),
                           jc + jb * BLOCK_N, min64(BLOCK_N, nc - jb * BLOCK_N), g->alpha);
            for (int64_t ic = i0; ic < i1; ic += PANEL_M) {
                const int64_t mc = min64(PANEL_M, i1 - ic), m_blocks = blocks(mc, BLOCK_M);
                /* op(A) block: block (ib, s) holds rows ib*BLOCK_M.. over K steps s*BLOCK_K.. */
                for (int64_t ib = 0; ib < m_blocks; ib++)
                    for (int64_t s = 0; s < k_blocks; s++)
                        pack_a(a_block + (ib * k_blocks + s) * BLOCK_M * BLOCK_K, g->A, g->lda,
                               g->trans_a, ic + ib * BLOCK_M, min64(BLOCK_M, mc - ib * BLOCK_M),
                               pc + s * BLOCK_K, min64(BLOCK_K, kc - s * BLOCK_K));
                for (int64_t ib = 0; ib < m_blocks; ib++)
                    for (int64_t jb = 0; jb < n_blocks; jb++) {
                        const int64_t n = min64(BLOCK_N, nc - jb * BLOCK_N);
                        const int64_t m = min64(BLOCK_M, mc - ib * BLOCK_M);
                        float *c_tile = g->C + (ic + ib * BLOCK_M) * g->ldc + jc + jb * BLOCK_N;
                        if (pc == 0 && general_beta) scale_tile(c_tile, g->ldc, m, n, g->beta);
                        const float *b_blocks = b_panel + jb * k_blocks * BLOCK_N * BLOCK_K;
                        const float *a_blocks = a_block + ib * k_blocks * BLOCK_M * BLOCK_K;
                        for (int64_t s = 0; s < k_blocks; s++) {
                            const int overwrite = pc == 0 && s == 0 && g->beta == 0.0f;
                            const int edge_k = pc + s * BLOCK_K + BLOCK_K > g->K;
                            g->pl.kernel[!overwrite][n != BLOCK_N][m != BLOCK_M][edge_k](
                                b_blocks + s * BLOCK_N * BLOCK_K, a_blocks + s * BLOCK_M * BLOCK_K,
                                c_tile);
                        }
                    }
            }
        }
    }
}

/* Splits the tile grid (row_tiles x col_tiles) into `units` rectangles as a rows x cols grid.
 * A unit costs its multiply-adds plus packing its rows of op(A) and columns of op(B) (about 40
 * FLOPs' time per packed float: ~2 G floats/s against ~80 GFLOP/s per core); the grid with the
 * cheapest unit wins. */
static void unit_grid(int units, int64_t row_tiles, int64_t col_tiles, int *rows, int *cols)
{
    double best = 0.0;
    *rows = 1;
    *cols = units;
    for (int r = 1; r <= units; r++) {
        if (units % r) continue;
        const int c = units / r;
        const double unit_rows = (double)(blocks(row_tiles, r) * BLOCK_M);
        const double unit_cols = (double)(blocks(col_tiles, c) * BLOCK_N);
        const double cost = 2.0 * unit_rows * unit_cols + 40.0 * (unit_rows + unit_cols);
        if (r == 1 || cost < best) {
            best = cost;
            *rows = r;
            *cols = c;
        }
    }
}

/* Below this many FLOPs a second thread costs more to start than it saves. */
#define PARALLEL_MIN_FLOPS 4.0e6

static void xsmm_gemm(int num_threads, spdf_transpose trans_a, spdf_transpose trans_b, int64_t M,
                      int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K > 0 && alpha != 0.0f && gemm_small_applies(trans_a, M)) {
        gemm_small(num_threads, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (num_threads < 1 || 2.0 * (double)M * (double)N * (double)K < PARALLEL_MIN_FLOPS)
        num_threads = 1;
    if (K <= 0 || alpha == 0.0f) {
#pragma omp parallel for num_threads(num_threads) schedule(static)
        for (int64_t i = 0; i < M; i++) scale_tile(C + i * ldc, ldc, 1, N, beta);
        return;
    }
    /* C is cut into rectangles of whole tiles ("units"), UNITS_PER_THREAD per thread, handed
     * out dynamically: a thread that starts late leaves its units to the others.  Each unit packs
     * its own operands; the tile grid, and so every result, is the same for any thread count. */
    const int64_t row_tiles = blocks(M, BLOCK_M), col_tiles = blocks(N, BLOCK_N);
    if (num_threads > row_tiles * col_tiles) num_threads = (int)(row_tiles * col_tiles);
    const int64_t units_wanted = num_threads > 1 ? (int64_t)num_threads * UNITS_PER_THREAD : 1;
    int grid_rows, grid_cols;
    unit_grid((int)min64(units_wanted, row_tiles * col_tiles), row_tiles, col_tiles, &grid_rows,
              &grid_cols);
    const int64_t row_part = blocks(row_tiles, grid_rows) * BLOCK_M;
    const int64_t col_part = blocks(col_tiles, grid_cols) * BLOCK_N;
    const int64_t units = (int64_t)grid_rows * grid_cols;

    gemm_args g = {trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C,
                   {{{{{NULL}}}}}};
    const int64_t k_blocks = blocks(min64(K, PANEL_K), BLOCK_K);
    const size_t b_floats = (size_t)(blocks(min64(col_part, PANEL_N), BLOCK_N) * k_blocks) *
                            BLOCK_N * BLOCK_K;
    const size_t a_floats = (size_t)(blocks(min64(row_part, PANEL_M), BLOCK_M) * k_blocks) *
                            BLOCK_M * BLOCK_K;
    size_t capacity = 0;
    float *buffers = NULL;
    if (xsmm_available() && make_plan(&g.pl, M, N, K, beta, ldc))
        buffers = scratch_acquire((b_floats + a_floats) * (size_t)num_threads, &capacity);
    if (!buffers) {
        /* No kernel or no memory: the reference computes the same contract. */
        spdf_backend_ref.gemm(num_threads, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta,
                              C, ldc);
        return;
    }
#pragma omp parallel num_threads(num_threads) if (num_threads > 1)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
        float *b_panel = buffers + (size_t)t * (b_floats + a_floats);
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < units; u++) {
            const int64_t r0 = (u / grid_cols) * row_part, c0 = (u % grid_cols) * col_part;
            if (r0 < M && c0 < N)
                gemm_region(&g, r0, min64(M, r0 + row_part), c0, min64(N, c0 + col_part),
                            b_panel, b_panel + b_floats);
        }
    }
    scratch_release(buffers, capacity);
}

/* ---- sparse layers: the index kernels, libxsmm's JIT kernels and this GEMM, by plan ---- */

/* Index-kernel time per non-zero over this GEMM's time per weight element (sparse_plan.h).
 * AVX2: the "ratio" column of bench_sparse at density 0.5, 2 threads, on the AMD EPYC Zen 3 of
 * docs/benchmarks.md (forward 1.36-1.57, backward-data 1.45-1.72 where its operand panel fits L2
 * and 1.9-2.2 where it does not, which the cost model's panel term covers, weight gradient
 * 2.0-2.35), rounded up so that the index kernels are kept only where they clearly win.  AVX-512: not measured
 * here; the AVX2 kernels' ratios on the AVX-512 Xeon of the same document (2.1-4.2 at density
 * 0.25) with the AVX-512 kernels assumed 1.5x faster than those: MEASURE confirms them. */
static const sparse_cost_model xsmm_sparse_costs = {
    .index_ratio = {
        [CPU_ISA_PORTABLE] = {4.0f, 4.0f, 4.0f},
        [CPU_ISA_AVX2] = {1.6f, 1.6f, 2.3f},
        [CPU_ISA_AVX512] = {1.8f, 1.8f, 2.5f},
    },
    .jit_ratio = {[CPU_ISA_PORTABLE] = 1e30f, [CPU_ISA_AVX2] = 3.5f, [CPU_ISA_AVX512] = 4.0f},
};

static const sparse_backend_kernels xsmm_sparse_backend = {
    .gemm = xsmm_gemm,
    .costs = &xsmm_sparse_costs,
    .jit = &xsmm_sparse_jit,
};

static void *xsmm_sparse_prepare(const spdf_sparse_pattern *pattern)
{
    return sparse_plan_create(pattern, &xsmm_sparse_backend);
}

const spdf_backend_ops spdf_backend_xsmm = {
    .version = SPDF_BACKEND_OPS_VERSION,
    .name = "xsmm",
    .available = xsmm_available,
    .gemm = xsmm_gemm,
    SPARSE_PLAN_BACKEND_ENTRIES(xsmm_sparse_prepare),
};
