/* libxsmm's SOA sparse kernels (libxsmm_create_xcsc_soa / _xcsr_soa) for the forward and
 * backward-data products: one kernel per tile of at most JIT_TILE_BYTES of code, generated for
 * the layer's pattern, reading the values at call time in the index kernels' storage order.
 * They broadcast one value per FMA and stream ~17 bytes of code per non-zero; on the AVX2 machine
 * of docs/benchmarks.md they ran 2-3x slower than the index kernels at every token count, so the
 * cost model never picks them: a plan uses them when forced or when measured faster. */
#include "backend/xsmm_sparse.h"
#include "backend/scratch.h"
#include "core/core.h"

#include <libxsmm.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
    VECTOR = 8,                /* tokens per SOA vector: libxsmm's AVX2 kernels */
    JIT_TILE_BYTES = 32 * 1024 /* code estimate per generated kernel (libxsmm's limit: 128 KiB) */
};

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

typedef struct jit_tile {
    int32_t first;  /* first value slot of the tile */
    int32_t row0;   /* first weight row */
    int32_t col0;   /* first weight column */
    libxsmm_smmfunction forward, backward;
} jit_tile;

typedef struct jit_kernels {
    int64_t count;
    jit_tile *tiles;
    size_t code_bytes;
} jit_kernels;

static pthread_mutex_t jit_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t jit_in_use;

static size_t jit_budget(void)
{
    const char *env = getenv(XSMM_SPARSE_JIT_BUDGET_ENV);
    if (!env || !*env) return XSMM_SPARSE_DEFAULT_JIT_BUDGET;
    char *end = NULL;
    const unsigned long long value = strtoull(env, &end, 10);
    return end && *end == '\0' ? (size_t)value : XSMM_SPARSE_DEFAULT_JIT_BUDGET;
}

/* Reserves bytes of the budget; 0 if they do not fit. */
static int jit_reserve(size_t bytes)
{
    pthread_mutex_lock(&jit_lock);
    const size_t budget = jit_budget();
    const int fits = jit_in_use <= budget && bytes <= budget - jit_in_use;
    if (fits) jit_in_use += bytes;
    pthread_mutex_unlock(&jit_lock);
    return fits;
}

static void jit_unreserve(size_t bytes)
{
    pthread_mutex_lock(&jit_lock);
    jit_in_use -= bytes < jit_in_use ? bytes : jit_in_use;
    pthread_mutex_unlock(&jit_lock);
}

size_t xsmm_sparse_jit_bytes_in_use(void)
{
    pthread_mutex_lock(&jit_lock);
    const size_t bytes = jit_in_use;
    pthread_mutex_unlock(&jit_lock);
    return bytes;
}

/* Upper estimate of one generated kernel's code: a broadcast and an FMA per non-zero (~14
 * bytes), at most one operand load per non-zero, accumulator loads and stores per output. */
static size_t jit_estimate(int64_t nnz, int64_t outputs) { return (size_t)(20 * nnz + 24 * outputs + 512); }

/* Row ranges of every column tile such that each kernel's estimate stays below JIT_TILE_BYTES;
 * fills tiles (NULL: count only) and returns the count. */
static int64_t jit_split(const sparse_index_layer *w, jit_tile *tiles, size_t *estimate)
{
    const gather_plan *p = &w->forward;
    const int64_t stride = p->rows + 1;
    int64_t count = 0;
    *estimate = 0;
    for (int64_t t = 0; t < p->tiles; t++) {
        const int32_t *seg = p->seg + t * stride;
        const int64_t width = min64(SPARSE_TILE, w->cols - t * SPARSE_TILE);
        for (int64_t r0 = 0, r1; r0 < w->rows; r0 = r1) {
            r1 = r0 + 1;
            while (r1 < w->rows &&
                   jit_estimate(seg[r1 + 1] - seg[r0], r1 + 1 - r0) <= JIT_TILE_BYTES &&
                   jit_estimate(seg[r1 + 1] - seg[r0], width) <= JIT_TILE_BYTES)
                r1++;
            const int64_t nnz = seg[r1] - seg[r0];
            *estimate += jit_estimate(nnz, r1 - r0) + jit_estimate(nnz, width);
            if (tiles)
                tiles[count] = (jit_tile){.first = seg[r0], .row0 = (int32_t)r0,
                                          .col0 = (int32_t)(t * SPARSE_TILE)};
            count++;
        }
    }
    return count;
}

/* The code address of a kernel, as libxsmm's registry functions take it (ISO C has no cast
 * between function and object pointers). */
static const void *code_address(libxsmm_smmfunction kernel)
{
    _Static_assert(sizeof(const void *) == sizeof kernel, "function and object pointers differ");
    const void *address;
    memcpy(&address, &kernel, sizeof address);
    return address;
}

static void jit_free(jit_kernels *jit)
{
    if (!jit) return;
    for (int64_t i = 0; i < jit->count; i++) {
        if (jit->tiles[i].forward) libxsmm_release_kernel(code_address(jit->tiles[i].forward));
        if (jit->tiles[i].backward) libxsmm_release_kernel(code_address(jit->tiles[i].backward));
    }
    free(jit->tiles);
    free(jit);
}

static size_t kernel_bytes(libxsmm_smmfunction kernel)
{
    libxsmm_kernel_info info;
    if (!kernel || libxsmm_get_kernel_info(code_address(kernel), &info) != EXIT_SUCCESS) return 0;
    return info.code_size;
}

/* Generates the two kernels of one tile (rows [r0, r1) of column tile t).  Forward: C (1 x rows)
 * += A (1 x cols) * W^T, W^T in CSC = the tile's CSR; backward: C (1 x cols) += A (1 x rows) * W,
 * W in CSR; every matrix element an 8-token SOA vector. */
static int jit_build_tile(const sparse_index_layer *w, jit_tile *tile, int64_t r1, unsigned *ptr,
                          unsigned *idx, float *zeros)
{
    const gather_plan *p = &w->forward;
    const int64_t t = tile->col0 / SPARSE_TILE, r0 = tile->row0, rows = r1 - r0;
    const int64_t cols = min64(SPARSE_TILE, w->cols - tile->col0);
    const int32_t *seg = p->seg + t * (p->rows + 1);
    if (seg[r1] == seg[r0]) return 1; /* nothing to generate: the tile is skipped */
    for (int64_t r = r0; r <= r1; r++) ptr[r - r0] = (unsigned)(seg[r] - seg[r0]);
    for (int32_t k = seg[r0]; k < seg[r1]; k++) idx[k - seg[r0]] = p->index[k];
    libxsmm_descriptor_blob blob;
    const libxsmm_gemm_descriptor *fwd = libxsmm_gemm_descriptor_dinit(
        &blob, LIBXSMM_GEMM_PRECISION_F32, 1, (libxsmm_blasint)rows, (libxsmm_blasint)cols,
        (libxsmm_blasint)w->cols, 0, (libxsmm_blasint)w->rows, 1.0, 1.0, LIBXSMM_GEMM_FLAG_NONE,
        LIBXSMM_GEMM_PREFETCH_NONE);
    if (fwd) tile->forward = libxsmm_create_xcsc_soa(fwd, ptr, idx, zeros, VECTOR).smm;
    const libxsmm_gemm_descriptor *bwd = libxsmm_gemm_descriptor_dinit(
        &blob, LIBXSMM_GEMM_PRECISION_F32, 1, (libxsmm_blasint)cols, (libxsmm_blasint)rows,
        (libxsmm_blasint)w->rows, 0, (libxsmm_blasint)w->cols, 1.0, 1.0, LIBXSMM_GEMM_FLAG_NONE,
        LIBXSMM_GEMM_PREFETCH_NONE);
    if (bwd) tile->backward = libxsmm_create_xcsr_soa(bwd, ptr, idx, zeros, VECTOR).smm;
    return tile->forward && tile->backward;
}

static int jit_tile_count_ok(jit_kernels *jit, int64_t count)
{
    jit->tiles = calloc((size_t)(count > 0 ? count : 1), sizeof(jit_tile));
    return jit->tiles != NULL;
}

/* The layer's JIT kernels if libxsmm can make them within the budget; NULL otherwise. */
static jit_kernels *jit_build(const sparse_index_layer *w)
{
    if (w->nnz == 0 || jit_budget() == 0 || !cpu_isa_supported(CPU_ISA_AVX2)) return NULL;
    libxsmm_init();
    if (libxsmm_get_target_archid() < LIBXSMM_X86_AVX2) return NULL;
    size_t estimate;
    const int64_t count = jit_split(w, NULL, &estimate);
    if (!jit_reserve(estimate)) return NULL;
    jit_kernels *jit = calloc(1, sizeof *jit);
    unsigned *ptr = malloc(sizeof(unsigned) * (size_t)(w->rows + 1));
    unsigned *idx = malloc(sizeof(unsigned) * (size_t)(w->nnz));
    float *zeros = calloc((size_t)w->nnz, sizeof(float));
    int ok = jit && ptr && idx && zeros && jit_tile_count_ok(jit, count);
    if (ok) {
        jit->count = jit_split(w, jit->tiles, &estimate);
        for (int64_t i = 0; ok && i < count; i++) {
            const int last = i + 1 == count || jit->tiles[i + 1].col0 != jit->tiles[i].col0;
            ok = jit_build_tile(w, &jit->tiles[i], last ? w->rows : jit->tiles[i + 1].row0, ptr,
                                idx, zeros);
            if (ok) jit->code_bytes += kernel_bytes(jit->tiles[i].forward) +
                                       kernel_bytes(jit->tiles[i].backward);
        }
    }
    free(ptr);
    free(idx);
    free(zeros);
    jit_unreserve(estimate);
    if (!ok || !jit_reserve(jit->code_bytes)) {
        jit_free(jit);
        return NULL;
    }
    return jit;
}

/* One token block through the JIT kernels: x_s/y_s the SOA operand and result (vectors of 8
 * tokens, [vector][features][8]), forward or backward. */
static void jit_block(const jit_kernels *jit, const sparse_index_layer *w, const float *values,
                      int backward, float *out, const float *inp, float *x_s, float *y_s,
                      int64_t n0, int64_t nb)
{
    const sparse_kernel_set *ks = sparse_kernels_current();
    const int64_t in_width = backward ? w->rows : w->cols, out_width = backward ? w->cols : w->rows;
    const int64_t nv = (nb + VECTOR - 1) / VECTOR;
    ks->pack(x_s, VECTOR, in_width * VECTOR, inp + n0 * in_width, in_width, nb, 0, in_width);
    memset(y_s, 0, sizeof(float) * (size_t)(nv * out_width * VECTOR));
    for (int64_t i = 0; i < jit->count; i++) {
        const jit_tile *tile = &jit->tiles[i];
        const int64_t in_at = backward ? tile->row0 : tile->col0;
        const int64_t out_at = backward ? tile->col0 : tile->row0;
        const libxsmm_smmfunction kernel = backward ? tile->backward : tile->forward;
        if (!kernel) continue; /* a tile without non-zeros */
        for (int64_t v = 0; v < nv; v++)
            kernel(x_s + (v * in_width + in_at) * VECTOR, values + tile->first,
                   y_s + (v * out_width + out_at) * VECTOR);
    }
    ks->unpack(out + n0 * out_width, out_width, y_s, VECTOR, out_width * VECTOR, out_width, nb);
}

static void jit_product(int num_threads, const jit_kernels *jit, const sparse_index_layer *w,
                        const float *values, int backward, float *out, const float *inp, int64_t N)
{
    const int64_t blocks = (N + SPARSE_TOKENS - 1) / SPARSE_TOKENS;
    const int64_t per_thread = (w->rows + w->cols) * SPARSE_TOKENS;
    size_t work_capacity = 0;
    float *work = scratch_acquire((size_t)(num_threads * per_thread), &work_capacity);
    if (!work) {
        if (backward) sparse_index_backward_data(num_threads, w, values, out, inp, N);
        else sparse_index_forward(num_threads, w, values, out, inp, N);
        return;
    }
    /* Blocks of one vector when there are fewer blocks than threads. */
    const int64_t tokens = blocks >= num_threads ? SPARSE_TOKENS : VECTOR;
    const int64_t items = (N + tokens - 1) / tokens;
#pragma omp parallel num_threads(num_threads)
    {
        float *x_s = work + omp_get_thread_num() * per_thread;
        float *y_s = x_s + (backward ? w->rows : w->cols) * SPARSE_TOKENS;
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < items; i++)
            jit_block(jit, w, values, backward, out, inp, x_s, y_s, i * tokens,
                      min64(tokens, N - i * tokens));
    }
    scratch_release(work, work_capacity);
}


/* ---- the plan's JIT candidate ---- */

static void *jit_candidate_build(const sparse_index_layer *w) { return jit_build(w); }

static void jit_candidate_release(void *opaque)
{
    jit_kernels *jit = opaque;
    if (!jit) return;
    jit_unreserve(jit->code_bytes);
    jit_free(jit);
}

static void jit_candidate_forward(int num_threads, const void *jit, const sparse_index_layer *w,
                                  const float *values, float *out, const float *inp, int64_t N)
{
    jit_product(num_threads, jit, w, values, 0, out, inp, N);
}

static void jit_candidate_backward_data(int num_threads, const void *jit,
                                        const sparse_index_layer *w, const float *values,
                                        float *dinp, const float *dout, int64_t N)
{
    jit_product(num_threads, jit, w, values, 1, dinp, dout, N);
}

static size_t jit_candidate_code_bytes(const void *jit) { return ((const jit_kernels *)jit)->code_bytes; }

static int jit_candidate_would_fit(const sparse_index_layer *w)
{
    if (w->nnz == 0 || !cpu_isa_supported(CPU_ISA_AVX2)) return 0;
    size_t estimate;
    jit_split(w, NULL, &estimate);
    pthread_mutex_lock(&jit_lock);
    const size_t budget = jit_budget();
    const int fits = jit_in_use <= budget && estimate <= budget - jit_in_use;
    pthread_mutex_unlock(&jit_lock);
    return fits;
}

const sparse_jit_ops xsmm_sparse_jit = {
    .build = jit_candidate_build,
    .release = jit_candidate_release,
    .forward = jit_candidate_forward,
    .backward_data = jit_candidate_backward_data,
    .code_bytes = jit_candidate_code_bytes,
    .would_fit = jit_candidate_would_fit,
};
