/* The xsmm backend's sparse kernels.  Activations are transposed block by block into SOA panels
 * (one feature's 64 tokens contiguous), so each non-zero of the weight costs one broadcast and
 * up to eight vector FMAs on cached data; the weight is tiled so that the panels stay in cache.
 * On AVX2 the loop is bound by loads (one operand load per FMA is unavoidable without register
 * reuse, which an unstructured pattern does not offer), so every other load is kept off it.
 *
 * Layout.  The weight W (rows, cols) is cut into column tiles of TILE columns.  The storage
 * order of the non-zeros (values, gradients, moments) is tile by tile, row by row, columns
 * ascending: the forward product streams them in exactly that order, and the non-zeros of one
 * row in one tile (a "segment") are contiguous, which the sampled weight gradient writes as
 * vectors.  The backward-data product walks W^T the same way (row tiles, column by column); it
 * first copies the values into that order, once per call: nnz loads, where reading them through
 * a slot table costs an extra scattered load per non-zero and token block (measured ~20 %
 * slower).
 *
 * JIT.  With SPDF_XSMM_JIT_BUDGET > 0 the forward and backward-data products of a layer run on
 * libxsmm's SOA sparse kernels instead (libxsmm_create_xcsc_soa / _xcsr_soa, one per tile of at
 * most JIT_TILE_BYTES of code, generated at prepare; they read the values at call time, in the
 * same storage order).  They work on AVX2 but broadcast one value per FMA and stream ~17 bytes
 * of code per non-zero, and measured 2-3x slower than the index kernels here at every token
 * count, so the default budget is 0.
 *
 * Determinism.  Every output element (a product row of one token, or one non-zero's gradient) is
 * computed by one thread in an order fixed by the pattern alone, so results do not depend on the
 * thread count. */
#include "backend/xsmm_sparse.h"
#include "backend/scratch.h"
#include "core/core.h"

#include <immintrin.h>
#include <libxsmm.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
    TOKENS = 64,      /* tokens per panel block: eight 8-float vectors */
    VECTOR = 8,       /* floats per AVX2 vector */
    TILE = 128,       /* weight columns (forward) or rows (backward) per tile */
    ROW_GROUP = 64,   /* product rows kept as one panel while the tiles are swept */
    JIT_TILE_BYTES = 32 * 1024 /* code estimate per generated kernel (libxsmm's limit: 128 KiB) */
};

#define DEFAULT_JIT_BUDGET ((size_t)0) /* JIT off unless asked for: see the top of the file */
_Static_assert(TILE <= 256, "entries index their tile's rows with one byte");

/* ---- the layer ---- */

/* One gathered product: out row r (of `rows`) = sum over its entries of value * operand row
 * `tile * TILE + index`, the entries grouped by tile of the operand rows. */
typedef struct gather_plan {
    int64_t rows;   /* product rows per token */
    int64_t width;  /* operand rows per token */
    int64_t tiles;  /* ceil(width / TILE) */
    int32_t *seg;   /* (tiles, rows + 1): row r's entries in tile t are [seg[t][r], seg[t][r+1]) */
    uint8_t *index; /* (nnz) operand row within the tile */
    int32_t *slot;  /* (nnz) value slot of each entry; NULL when entry k is slot k (forward) */
} gather_plan;

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

typedef struct xsmm_sparse_layer {
    int64_t rows, cols, nnz;
    gather_plan forward;   /* W: rows over column tiles, in storage order */
    gather_plan backward;  /* W^T: columns over row tiles; entry e holds value slot[e] */
    int32_t *slot_to_csr;  /* (nnz) storage slot -> canonical CSR index; NULL if identical */
    jit_kernels *jit;      /* NULL: index kernels */
} xsmm_sparse_layer;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void plan_clear(gather_plan *p)
{
    free(p->seg);
    free(p->index);
    free(p->slot);
}

/* Allocates seg and index (and slot if wanted) of a plan; 0 when out of memory. */
static int plan_alloc(gather_plan *p, int64_t rows, int64_t width, int64_t nnz, int with_slot)
{
    p->rows = rows;
    p->width = width;
    p->tiles = (width + TILE - 1) / TILE;
    p->seg = calloc((size_t)(p->tiles * (rows + 1) + 1), sizeof(int32_t));
    p->index = malloc(sizeof(uint8_t) * (size_t)(nnz > 0 ? nnz : 1));
    p->slot = with_slot ? malloc(sizeof(int32_t) * (size_t)(nnz > 0 ? nnz : 1)) : NULL;
    return p->seg && p->index && (!with_slot || p->slot);
}

/* seg from counts held in seg itself (count of (t, r) at seg[t][r]); returns the cursor copy
 * (each (t, r) start) the fill pass advances, or NULL when out of memory. */
static int32_t *plan_prefix(gather_plan *p)
{
    const int64_t stride = p->rows + 1, total = p->tiles * stride;
    int32_t *cursor = malloc(sizeof(int32_t) * (size_t)(total + 1));
    if (!cursor) return NULL;
    int32_t at = 0;
    for (int64_t t = 0; t < p->tiles; t++) {
        for (int64_t r = 0; r < p->rows; r++) {
            const int32_t count = p->seg[t * stride + r];
            p->seg[t * stride + r] = cursor[t * stride + r] = at;
            at += count;
        }
        p->seg[t * stride + p->rows] = cursor[t * stride + p->rows] = at;
    }
    return cursor;
}

/* The forward plan and the storage order: tile-major, then row, then column. */
static int build_forward(xsmm_sparse_layer *w, const spdf_sparse_pattern *pt)
{
    gather_plan *p = &w->forward;
    if (!plan_alloc(p, pt->rows, pt->cols, pt->nnz, 0)) return 0;
    const int64_t stride = p->rows + 1;
    for (int64_t r = 0; r < pt->rows; r++)
        for (int32_t k = pt->row_ptr[r]; k < pt->row_ptr[r + 1]; k++)
            p->seg[(pt->col_idx[k] / TILE) * stride + r]++;
    int32_t *cursor = plan_prefix(p);
    w->slot_to_csr = malloc(sizeof(int32_t) * (size_t)(pt->nnz > 0 ? pt->nnz : 1));
    if (!cursor || !w->slot_to_csr) {
        free(cursor);
        return 0;
    }
    int identity = 1;
    for (int64_t r = 0; r < pt->rows; r++)
        for (int32_t k = pt->row_ptr[r]; k < pt->row_ptr[r + 1]; k++) {
            const int32_t c = pt->col_idx[k], t = c / TILE;
            const int32_t s = cursor[t * stride + r]++;
            p->index[s] = (uint8_t)(c - t * TILE);
            w->slot_to_csr[s] = k;
            identity &= s == k;
        }
    free(cursor);
    if (identity) { /* one tile: the storage order is canonical CSR */
        free(w->slot_to_csr);
        w->slot_to_csr = NULL;
    }
    return 1;
}

/* The backward plan: W^T by row tiles of W, each column's rows ascending. */
static int build_backward(xsmm_sparse_layer *w, const spdf_sparse_pattern *pt)
{
    gather_plan *p = &w->backward;
    if (!plan_alloc(p, pt->cols, pt->rows, pt->nnz, 1)) return 0;
    const int64_t stride = p->rows + 1;
    for (int64_t r = 0; r < pt->rows; r++)
        for (int32_t k = pt->row_ptr[r]; k < pt->row_ptr[r + 1]; k++)
            p->seg[(r / TILE) * stride + pt->col_idx[k]]++;
    int32_t *cursor = plan_prefix(p);
    int32_t *csr_to_slot = malloc(sizeof(int32_t) * (size_t)(pt->nnz > 0 ? pt->nnz : 1));
    if (!cursor || !csr_to_slot) {
        free(cursor);
        free(csr_to_slot);
        return 0;
    }
    for (int64_t s = 0; s < pt->nnz; s++) csr_to_slot[w->slot_to_csr ? w->slot_to_csr[s] : s] = (int32_t)s;
    for (int64_t r = 0; r < pt->rows; r++)
        for (int32_t k = pt->row_ptr[r]; k < pt->row_ptr[r + 1]; k++) {
            const int64_t t = r / TILE;
            const int32_t e = cursor[t * stride + pt->col_idx[k]]++;
            p->index[e] = (uint8_t)(r - t * TILE);
            p->slot[e] = csr_to_slot[k];
        }
    free(cursor);
    free(csr_to_slot);
    return 1;
}

/* ---- CPU features ---- */

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static int cpu_avx2, force_portable;

static void cpu_detect(void)
{
    __builtin_cpu_init();
    cpu_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int use_avx2(void)
{
    pthread_once(&cpu_once, cpu_detect);
    return cpu_avx2 && !force_portable;
}

void xsmm_sparse_test_force_portable(int on) { force_portable = on; }

/* ---- portable kernels: the same plans and order of summation, no SIMD, no workspace ---- */

static void gather_portable(int num_threads, const gather_plan *p, const float *values, float *out,
                            const float *inp, int64_t N)
{
    const int64_t stride = p->rows + 1;
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t n = 0; n < N; n++) {
        float *y = out + n * p->rows;
        const float *x = inp + n * p->width;
        for (int64_t r = 0; r < p->rows; r++) y[r] = 0.0f;
        for (int64_t t = 0; t < p->tiles; t++) {
            const int32_t *seg = p->seg + t * stride;
            const float *xt = x + t * TILE;
            for (int64_t r = 0; r < p->rows; r++) {
                float sum = y[r];
                for (int32_t k = seg[r]; k < seg[r + 1]; k++)
                    sum += values[p->slot ? p->slot[k] : k] * xt[p->index[k]];
                y[r] = sum;
            }
        }
    }
}

static void sampled_portable(int num_threads, const gather_plan *p, float *dvalues,
                             const float *dout, const float *inp, int64_t N)
{
    const int64_t stride = p->rows + 1;
#pragma omp parallel for num_threads(num_threads) schedule(dynamic, 16)
    for (int64_t r = 0; r < p->rows; r++)
        for (int64_t t = 0; t < p->tiles; t++)
            for (int32_t k = p->seg[t * stride + r]; k < p->seg[t * stride + r + 1]; k++) {
                const int64_t c = t * TILE + p->index[k];
                float sum = 0.0f;
                for (int64_t n = 0; n < N; n++) sum += dout[n * p->rows + r] * inp[n * p->width + c];
                dvalues[k] += sum;
            }
}

/* ---- AVX2 layout changes ---- */

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE_AVX2 static inline __attribute__((always_inline, target("avx2,fma")))

INLINE_AVX2 void transpose8(__m256 r[8])
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* SOA packing of nb token rows (src, row stride ld), features [c0, c1):
 *   dst[c * feature_stride + (n / 8) * vector_stride + n % 8] = src[n * ld + c]
 * for n < nb, and 0 for nb <= n < 8 * ceil(nb / 8).  Panels use (TOKENS, 8); libxsmm's SOA
 * operands (width * 8 per vector, 8). */
static AVX2 void pack_tokens(float *restrict dst, int64_t feature_stride, int64_t vector_stride,
                             const float *restrict src, int64_t ld, int64_t nb, int64_t c0,
                             int64_t c1)
{
    for (int64_t n0 = 0; n0 < nb; n0 += VECTOR) {
        float *d = dst + (n0 / VECTOR) * vector_stride;
        if (n0 + VECTOR > nb) { /* partial vector: zero the missing tokens */
            for (int64_t c = c0; c < c1; c++)
                for (int64_t i = 0; i < VECTOR; i++)
                    d[c * feature_stride + i] = n0 + i < nb ? src[(n0 + i) * ld + c] : 0.0f;
            break;
        }
        int64_t c = c0;
        for (; c + VECTOR <= c1; c += VECTOR) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (n0 + i) * ld + c);
            transpose8(r);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(d + (c + i) * feature_stride, r[i]);
        }
        for (; c < c1; c++)
            for (int64_t i = 0; i < VECTOR; i++) d[c * feature_stride + i] = src[(n0 + i) * ld + c];
    }
}

/* The inverse for `count` features: dst[n * ld + f] = src[f * feature_stride + SOA(n)], n < nb. */
static AVX2 void unpack_tokens(float *restrict dst, int64_t ld, const float *restrict src,
                               int64_t feature_stride, int64_t vector_stride, int64_t count,
                               int64_t nb)
{
    for (int64_t n0 = 0; n0 < nb; n0 += VECTOR) {
        const float *s = src + (n0 / VECTOR) * vector_stride;
        const int64_t valid = min64(VECTOR, nb - n0);
        int64_t f = 0;
        if (valid == VECTOR)
            for (; f + VECTOR <= count; f += VECTOR) {
                __m256 r[8];
                for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + (f + i) * feature_stride);
                transpose8(r);
                for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (n0 + i) * ld + f, r[i]);
            }
        for (; f < count; f++)
            for (int64_t i = 0; i < valid; i++) dst[(n0 + i) * ld + f] = s[f * feature_stride + i];
    }
}

/* ---- AVX2 gathered product on panels ---- */

/* Rows [r0, r1) of the product for one token block of nv vectors:
 *   y_t[(r - r0) * TOKENS + token] = sum over tiles and entries k of values[k] * x_t[operand row],
 * x_t the (width, TOKENS) panel of the operand.  Four entries share one load of their indices
 * and one of their values: loads, not FMAs, limit this loop on AVX2. */
INLINE_AVX2 void gather_rows(const gather_plan *p, const float *values, const float *x_t,
                             float *y_t, int64_t r0, int64_t r1, int nv)
{
    const int64_t stride = p->rows + 1;
    for (int64_t t = 0; t < p->tiles; t++) {
        const float *x = x_t + t * TILE * TOKENS;
        const int32_t *restrict seg = p->seg + t * stride;
        const uint8_t *restrict index = p->index;
        for (int64_t r = r0; r < r1; r++) {
            float *y = y_t + (r - r0) * TOKENS;
            __m256 acc[8];
            for (int j = 0; j < nv; j++)
                acc[j] = t == 0 ? _mm256_setzero_ps() : _mm256_load_ps(y + VECTOR * j);
            const int32_t end = seg[r + 1];
            int32_t k = seg[r];
            for (; k + 4 <= end; k += 4) {
                uint32_t four;
                memcpy(&four, index + k, sizeof four);
                const __m128 v4 = _mm_loadu_ps(values + k);
                const __m256 v4x = _mm256_castps128_ps256(v4);
                for (int u = 0; u < 4; u++) {
                    const float *xr = x + (size_t)((four >> (8 * u)) & 0xff) * TOKENS;
                    const __m256 v = u == 0 ? _mm256_broadcastss_ps(v4)
                                   : _mm256_permutevar8x32_ps(v4x, _mm256_set1_epi32(u));
                    for (int j = 0; j < nv; j++)
                        acc[j] = _mm256_fmadd_ps(v, _mm256_load_ps(xr + VECTOR * j), acc[j]);
                }
            }
            for (; k < end; k++) {
                const float *xr = x + (size_t)index[k] * TOKENS;
                const __m256 v = _mm256_broadcast_ss(values + k);
                for (int j = 0; j < nv; j++)
                    acc[j] = _mm256_fmadd_ps(v, _mm256_load_ps(xr + VECTOR * j), acc[j]);
            }
            for (int j = 0; j < nv; j++) _mm256_store_ps(y + VECTOR * j, acc[j]);
        }
    }
}

typedef void (*gather_fn)(const gather_plan *p, const float *values, const float *x_t, float *y_t,
                          int64_t r0, int64_t r1);

#define GATHER_VARIANT(nv)                                                                     \
    static AVX2 void gather_##nv(const gather_plan *p, const float *values, const float *x_t,  \
                                 float *y_t, int64_t r0, int64_t r1)                           \
    {                                                                                          \
        gather_rows(p, values, x_t, y_t, r0, r1, nv);                                          \
    }
GATHER_VARIANT(1)
GATHER_VARIANT(2)
GATHER_VARIANT(3)
GATHER_VARIANT(4)
GATHER_VARIANT(5)
GATHER_VARIANT(6)
GATHER_VARIANT(7)
GATHER_VARIANT(8)

static const gather_fn gather_kernels[9] = {NULL,     gather_1, gather_2, gather_3, gather_4,
                                            gather_5, gather_6, gather_7, gather_8};

/* Product rows per group: all of them when the operand is the wider panel (each operand tile is
 * then swept once per block), else ROW_GROUP. */
static int64_t group_rows(const gather_plan *p)
{
    return p->width > p->rows && p->rows <= 1024 ? p->rows : ROW_GROUP;
}

/* One token block (rows n0.., nb of them) of out = gathered product of inp, for product rows
 * [first, last) in groups of `group`, with the operand panel x_t already packed; y_t holds one
 * group's panel. */
static void gather_block(const gather_plan *p, const float *values, float *out, const float *x_t,
                         float *y_t, int64_t n0, int64_t nb, int64_t first, int64_t last,
                         int64_t group)
{
    const gather_fn kernel = gather_kernels[(nb + VECTOR - 1) / VECTOR];
    for (int64_t r0 = first; r0 < last; r0 += group) {
        const int64_t r1 = min64(r0 + group, last);
        kernel(p, values, x_t, y_t, r0, r1);
        unpack_tokens(out + n0 * p->rows + r0, p->rows, y_t, TOKENS, VECTOR, r1 - r0, nb);
    }
}

/* out (N, rows) = the plan's product of inp (N, width), values in entry order. */
static void gather_product(int num_threads, const gather_plan *p, const float *values, float *out,
                           const float *inp, int64_t N)
{
    const int64_t blocks = (N + TOKENS - 1) / TOKENS;
    const int64_t panel = p->width * TOKENS;
    if (blocks >= num_threads) {
        const int64_t group = group_rows(p), y_panel = group * TOKENS;
        /* Enough blocks: each thread packs and computes whole blocks in private panels. */
        size_t work_capacity = 0;
        float *work = scratch_acquire((size_t)(num_threads * (panel + y_panel)), &work_capacity);
        if (!work) {
            gather_portable(num_threads, p, values, out, inp, N);
            return;
        }
#pragma omp parallel num_threads(num_threads)
        {
            float *x_t = work + omp_get_thread_num() * (panel + y_panel), *y_t = x_t + panel;
#pragma omp for schedule(dynamic, 1)
            for (int64_t b = 0; b < blocks; b++) {
                const int64_t n0 = b * TOKENS, nb = min64(TOKENS, N - n0);
                pack_tokens(x_t, TOKENS, VECTOR, inp + n0 * p->width, p->width, nb, 0, p->width);
                gather_block(p, values, out, x_t, y_t, n0, nb, 0, p->rows, group);
            }
        }
        scratch_release(work, work_capacity);
        return;
    }
    /* Few tokens: pack every block once, then split the product rows between the threads. */
    const int64_t groups = (p->rows + ROW_GROUP - 1) / ROW_GROUP, y_panel = ROW_GROUP * TOKENS;
    size_t work_capacity = 0;
    float *work = scratch_acquire((size_t)(blocks * panel + num_threads * y_panel), &work_capacity);
    if (!work) {
        gather_portable(num_threads, p, values, out, inp, N);
        return;
    }
    const int64_t chunks = (p->width + TILE - 1) / TILE;
#pragma omp parallel num_threads(num_threads)
    {
        float *y_t = work + blocks * panel + omp_get_thread_num() * y_panel;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < blocks * chunks; i++) {
            const int64_t b = i / chunks, c0 = (i % chunks) * TILE;
            const int64_t n0 = b * TOKENS, nb = min64(TOKENS, N - n0);
            pack_tokens(work + b * panel, TOKENS, VECTOR, inp + n0 * p->width, p->width, nb, c0,
                        min64(c0 + TILE, p->width));
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < blocks * groups; i++) {
            const int64_t b = i / groups, g = i % groups;
            const int64_t n0 = b * TOKENS, nb = min64(TOKENS, N - n0);
            gather_block(p, values, out, work + b * panel, y_t, n0, nb, g * ROW_GROUP,
                         min64(g * ROW_GROUP + ROW_GROUP, p->rows), ROW_GROUP);
        }
    }
    scratch_release(work, work_capacity);
}

/* dinp (N, cols) = dout (N, rows) W through the backward plan, the values first copied into its
 * entry order. */
static void backward_product(int num_threads, const xsmm_sparse_layer *w, const float *values,
                             float *dinp, const float *dout, int64_t N)
{
    size_t ordered_capacity = 0;
    float *ordered = scratch_acquire((size_t)w->nnz, &ordered_capacity);
    if (!ordered) {
        gather_portable(num_threads, &w->backward, values, dinp, dout, N);
        return;
    }
    const int32_t *slot = w->backward.slot;
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t e = 0; e < w->nnz; e++) ordered[e] = values[slot[e]];
    gather_product(num_threads, &w->backward, ordered, dinp, dout, N);
    scratch_release(ordered, ordered_capacity);
}

/* ---- AVX2 sampled product (the weight gradient at the pattern) ---- */

/* The eight sums of a[0..7] in one vector, in a fixed order. */
INLINE_AVX2 __m256 sum8(const __m256 a[8])
{
    const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* The four sums of a[0..3] in one vector. */
INLINE_AVX2 __m128 sum4(const __m256 a[4])
{
    const __m256 u = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

/* dv[0..8) += dot(d, x_i) over nv vectors, x_i = x + index[i] * TOKENS. */
INLINE_AVX2 void sample8(float *dv, const float *d, const float *x, const uint8_t *index, int nv)
{
    const float *xs[8];
    __m256 a[8];
    for (int i = 0; i < 8; i++) {
        xs[i] = x + (size_t)index[i] * TOKENS;
        a[i] = _mm256_setzero_ps();
    }
    for (int j = 0; j < nv; j++) {
        const __m256 dj = _mm256_load_ps(d + VECTOR * j);
        for (int i = 0; i < 8; i++) a[i] = _mm256_fmadd_ps(dj, _mm256_load_ps(xs[i] + VECTOR * j), a[i]);
    }
    _mm256_storeu_ps(dv, _mm256_add_ps(_mm256_loadu_ps(dv), sum8(a)));
}

/* dv[0..count) += dot(d, x_i), count <= 4; two accumulators per entry keep eight chains. */
INLINE_AVX2 void sample4(float *dv, const float *d, const float *x, const uint8_t *index, int count,
                         int nv)
{
    const float *xs[4];
    __m256 a[4], b[4];
    for (int i = 0; i < 4; i++) {
        xs[i] = x + (size_t)index[i < count ? i : 0] * TOKENS;
        a[i] = b[i] = _mm256_setzero_ps();
    }
    int j = 0;
    for (; j + 1 < nv; j += 2) {
        const __m256 d0 = _mm256_load_ps(d + VECTOR * j), d1 = _mm256_load_ps(d + VECTOR * (j + 1));
        for (int i = 0; i < 4; i++) {
            a[i] = _mm256_fmadd_ps(d0, _mm256_load_ps(xs[i] + VECTOR * j), a[i]);
            b[i] = _mm256_fmadd_ps(d1, _mm256_load_ps(xs[i] + VECTOR * (j + 1)), b[i]);
        }
    }
    if (j < nv) {
        const __m256 d0 = _mm256_load_ps(d + VECTOR * j);
        for (int i = 0; i < 4; i++) a[i] = _mm256_fmadd_ps(d0, _mm256_load_ps(xs[i] + VECTOR * j), a[i]);
    }
    for (int i = 0; i < 4; i++) a[i] = _mm256_add_ps(a[i], b[i]);
    const __m128 sum = sum4(a);
    if (count == 4) {
        _mm_storeu_ps(dv, _mm_add_ps(_mm_loadu_ps(dv), sum));
        return;
    }
    float lanes[4];
    _mm_storeu_ps(lanes, sum);
    for (int i = 0; i < count; i++) dv[i] += lanes[i];
}

/* Gradients of the non-zeros of weight rows [r0, r1) in column tile t, one token block: d_t
 * (rows, TOKENS) panel of dout, x_t (cols, TOKENS) panel of inp. */
INLINE_AVX2 void sample_rows(const gather_plan *p, float *dvalues, const float *d_t,
                             const float *x_t, int64_t t, int64_t r0, int64_t r1, int nv)
{
    const float *x = x_t + t * TILE * TOKENS;
    const int32_t *seg = p->seg + t * (p->rows + 1);
    for (int64_t r = r0; r < r1; r++) {
        const float *d = d_t + r * TOKENS;
        int32_t k = seg[r];
        const int32_t end = seg[r + 1];
        for (; k + 8 <= end; k += 8) sample8(dvalues + k, d, x, p->index + k, nv);
        for (; k < end; k += 4)
            sample4(dvalues + k, d, x, p->index + k, end - k < 4 ? end - k : 4, nv);
    }
}

typedef void (*sample_fn)(const gather_plan *p, float *dvalues, const float *d_t, const float *x_t,
                          int64_t t, int64_t r0, int64_t r1);

#define SAMPLE_VARIANT(nv)                                                                     \
    static AVX2 void sample_##nv(const gather_plan *p, float *dvalues, const float *d_t,       \
                                 const float *x_t, int64_t t, int64_t r0, int64_t r1)          \
    {                                                                                          \
        sample_rows(p, dvalues, d_t, x_t, t, r0, r1, nv);                                      \
    }
SAMPLE_VARIANT(1)
SAMPLE_VARIANT(2)
SAMPLE_VARIANT(3)
SAMPLE_VARIANT(4)
SAMPLE_VARIANT(5)
SAMPLE_VARIANT(6)
SAMPLE_VARIANT(7)
SAMPLE_VARIANT(8)

static const sample_fn sample_kernels[9] = {NULL,     sample_1, sample_2, sample_3, sample_4,
                                            sample_5, sample_6, sample_7, sample_8};

/* dvalues += (dout^T inp) at the pattern.  All threads first pack dout and inp into panels, one
 * pair per token block; then each work item (one column tile, a range of rows) adds the products
 * of its non-zeros block by block, blocks in order, its operand tile staying in L1. */
static void sampled_product(int num_threads, const gather_plan *p, float *dvalues, const float *dout,
                            const float *inp, int64_t N)
{
    const int64_t R = p->rows, C = p->width;
    const int64_t blocks = (N + TOKENS - 1) / TOKENS;
    const int64_t r_chunks = (R + TILE - 1) / TILE, c_chunks = (C + TILE - 1) / TILE;
    const int64_t panel = (R + C) * TOKENS;
    /* Rows per item: all of them unless that leaves fewer than four items per thread. */
    int64_t splits = 1;
    while (p->tiles * splits < 4 * num_threads && R / (splits * 2) >= 16) splits *= 2;
    const int64_t chunk = (R + splits - 1) / splits, items = p->tiles * splits;
    size_t work_capacity = 0;
    float *work = scratch_acquire((size_t)(blocks * panel), &work_capacity);
    if (!work) {
        sampled_portable(num_threads, p, dvalues, dout, inp, N);
        return;
    }
#pragma omp parallel num_threads(num_threads)
    {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < blocks * (r_chunks + c_chunks); i++) {
            const int64_t b = i / (r_chunks + c_chunks), j = i % (r_chunks + c_chunks);
            const int64_t n0 = b * TOKENS, nb = min64(TOKENS, N - n0);
            float *d_t = work + b * panel, *x_t = d_t + R * TOKENS;
            if (j < r_chunks)
                pack_tokens(d_t, TOKENS, VECTOR, dout + n0 * R, R, nb, j * TILE,
                            min64(j * TILE + TILE, R));
            else
                pack_tokens(x_t, TOKENS, VECTOR, inp + n0 * C, C, nb, (j - r_chunks) * TILE,
                            min64((j - r_chunks) * TILE + TILE, C));
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < items; i++) {
            const int64_t t = i / splits, r0 = (i % splits) * chunk, r1 = min64(r0 + chunk, R);
            for (int64_t b = 0; b < blocks; b++) {
                const int64_t nb = min64(TOKENS, N - b * TOKENS);
                const float *d_t = work + b * panel;
                sample_kernels[(nb + VECTOR - 1) / VECTOR](p, dvalues, d_t, d_t + R * TOKENS, t,
                                                           r0, r1);
            }
        }
    }
    scratch_release(work, work_capacity);
}

/* ---- libxsmm JIT kernels (optional) ---- */

static pthread_mutex_t jit_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t jit_in_use;

static size_t jit_budget(void)
{
    const char *env = getenv(XSMM_SPARSE_JIT_BUDGET_ENV);
    if (!env || !*env) return DEFAULT_JIT_BUDGET;
    char *end = NULL;
    const unsigned long long value = strtoull(env, &end, 10);
    return end && *end == '\0' ? (size_t)value : DEFAULT_JIT_BUDGET;
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
static int64_t jit_split(const xsmm_sparse_layer *w, jit_tile *tiles, size_t *estimate)
{
    const gather_plan *p = &w->forward;
    const int64_t stride = p->rows + 1;
    int64_t count = 0;
    *estimate = 0;
    for (int64_t t = 0; t < p->tiles; t++) {
        const int32_t *seg = p->seg + t * stride;
        const int64_t width = min64(TILE, w->cols - t * TILE);
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
                                          .col0 = (int32_t)(t * TILE)};
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
static int jit_build_tile(const xsmm_sparse_layer *w, jit_tile *tile, int64_t r1, unsigned *ptr,
                          unsigned *idx, float *zeros)
{
    const gather_plan *p = &w->forward;
    const int64_t t = tile->col0 / TILE, r0 = tile->row0, rows = r1 - r0;
    const int64_t cols = min64(TILE, w->cols - tile->col0);
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

/* The layer's JIT kernels if JIT is wanted, available and within the budget; NULL otherwise. */
static jit_kernels *jit_build(const xsmm_sparse_layer *w)
{
    if (w->nnz == 0 || jit_budget() == 0 || !use_avx2()) return NULL;
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
static AVX2 void jit_block(const xsmm_sparse_layer *w, const float *values, int backward,
                           float *out, const float *inp, float *x_s, float *y_s, int64_t n0,
                           int64_t nb)
{
    const int64_t in_width = backward ? w->rows : w->cols, out_width = backward ? w->cols : w->rows;
    const int64_t nv = (nb + VECTOR - 1) / VECTOR;
    pack_tokens(x_s, VECTOR, in_width * VECTOR, inp + n0 * in_width, in_width, nb, 0, in_width);
    memset(y_s, 0, sizeof(float) * (size_t)(nv * out_width * VECTOR));
    for (int64_t i = 0; i < w->jit->count; i++) {
        const jit_tile *tile = &w->jit->tiles[i];
        const int64_t in_at = backward ? tile->row0 : tile->col0;
        const int64_t out_at = backward ? tile->col0 : tile->row0;
        const libxsmm_smmfunction kernel = backward ? tile->backward : tile->forward;
        if (!kernel) continue; /* a tile without non-zeros */
        for (int64_t v = 0; v < nv; v++)
            kernel(x_s + (v * in_width + in_at) * VECTOR, values + tile->first,
                   y_s + (v * out_width + out_at) * VECTOR);
    }
    unpack_tokens(out + n0 * out_width, out_width, y_s, VECTOR, out_width * VECTOR, out_width, nb);
}

static void jit_product(int num_threads, const xsmm_sparse_layer *w, const float *values,
                        int backward, float *out, const float *inp, int64_t N)
{
    const int64_t blocks = (N + TOKENS - 1) / TOKENS;
    const int64_t per_thread = (w->rows + w->cols) * TOKENS;
    size_t work_capacity = 0;
    float *work = scratch_acquire((size_t)(num_threads * per_thread), &work_capacity);
    if (!work) {
        if (backward) backward_product(num_threads, w, values, out, inp, N);
        else gather_product(num_threads, &w->forward, values, out, inp, N);
        return;
    }
    /* Blocks of one vector when there are fewer blocks than threads. */
    const int64_t tokens = blocks >= num_threads ? TOKENS : VECTOR;
    const int64_t items = (N + tokens - 1) / tokens;
#pragma omp parallel num_threads(num_threads)
    {
        float *x_s = work + omp_get_thread_num() * per_thread;
        float *y_s = x_s + (backward ? w->rows : w->cols) * TOKENS;
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < items; i++)
            jit_block(w, values, backward, out, inp, x_s, y_s, i * tokens,
                      min64(tokens, N - i * tokens));
    }
    scratch_release(work, work_capacity);
}

/* ---- the backend entries ---- */

void xsmm_sparse_release(void *opaque)
{
    xsmm_sparse_layer *w = opaque;
    if (!w) return;
    if (w->jit) {
        jit_unreserve(w->jit->code_bytes);
        jit_free(w->jit);
    }
    plan_clear(&w->forward);
    plan_clear(&w->backward);
    free(w->slot_to_csr);
    free(w);
}

void *xsmm_sparse_prepare(const spdf_sparse_pattern *pattern)
{
    if (pattern->rows < 0 || pattern->cols < 0 || pattern->nnz < 0 || pattern->nnz > INT32_MAX)
        return NULL;
    xsmm_sparse_layer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->rows = pattern->rows;
    w->cols = pattern->cols;
    w->nnz = pattern->nnz;
    if (!build_forward(w, pattern) || !build_backward(w, pattern)) {
        xsmm_sparse_release(w);
        return NULL;
    }
    w->jit = jit_build(w);
    return w;
}

const int32_t *xsmm_sparse_order(const void *layer)
{
    return ((const xsmm_sparse_layer *)layer)->slot_to_csr;
}

int xsmm_sparse_layer_uses_jit(const void *layer)
{
    return ((const xsmm_sparse_layer *)layer)->jit != NULL;
}

size_t xsmm_sparse_layer_code_bytes(const void *layer)
{
    const xsmm_sparse_layer *w = layer;
    return w->jit ? w->jit->code_bytes : 0;
}

void xsmm_sparse_kernel_info(const void *layer, int *uses_jit, size_t *code_bytes)
{
    *uses_jit = xsmm_sparse_layer_uses_jit(layer);
    *code_bytes = xsmm_sparse_layer_code_bytes(layer);
}

/* Writes zeros to a (N, width) result of an empty product. */
static void zero_rows(int num_threads, float *out, int64_t N, int64_t width)
{
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t n = 0; n < N; n++) memset(out + n * width, 0, sizeof(float) * (size_t)width);
}

void xsmm_sparse_forward(int num_threads, const void *layer, const float *values, float *out,
                         const float *inp, int64_t N)
{
    const xsmm_sparse_layer *w = layer;
    if (num_threads < 1) num_threads = 1;
    if (N <= 0 || w->rows == 0) return;
    if (w->nnz == 0 || w->cols == 0) zero_rows(num_threads, out, N, w->rows);
    else if (!use_avx2()) gather_portable(num_threads, &w->forward, values, out, inp, N);
    else if (w->jit) jit_product(num_threads, w, values, 0, out, inp, N);
    else gather_product(num_threads, &w->forward, values, out, inp, N);
}

void xsmm_sparse_backward_data(int num_threads, const void *layer, const float *values,
                               float *dinp, const float *dout, int64_t N)
{
    const xsmm_sparse_layer *w = layer;
    if (num_threads < 1) num_threads = 1;
    if (N <= 0 || w->cols == 0) return;
    if (w->nnz == 0 || w->rows == 0) zero_rows(num_threads, dinp, N, w->cols);
    else if (!use_avx2()) gather_portable(num_threads, &w->backward, values, dinp, dout, N);
    else if (w->jit) jit_product(num_threads, w, values, 1, dinp, dout, N);
    else backward_product(num_threads, w, values, dinp, dout, N);
}

void xsmm_sparse_backward_weight(int num_threads, const void *layer, float *dvalues,
                                 const float *dout, const float *inp, int64_t N)
{
    const xsmm_sparse_layer *w = layer;
    if (num_threads < 1) num_threads = 1;
    if (N <= 0 || w->nnz == 0) return;
    if (!use_avx2()) sampled_portable(num_threads, &w->forward, dvalues, dout, inp, N);
    else sampled_product(num_threads, &w->forward, dvalues, dout, inp, N);
}
