/* The index kernels' layer (plans and storage order) and the three products around the inner
 * kernels of sparse_index_kernels.h: token blocks, panels, threads.  The layout and the
 * determinism rules are in sparse_index.h. */
#include "backend/sparse_index.h"
#include "backend/scratch.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(SPARSE_TILE <= 256, "entries index their tile's rows with one byte");
_Static_assert(SPARSE_TOKENS % SPARSE_GROUP == 0 && SPARSE_SAMPLE_TOKENS % SPARSE_GROUP == 0,
               "panel rows hold whole transpose groups");

enum { ROW_GROUP = 64 }; /* product rows kept as one output panel while the tiles are swept */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- choosing the kernels ---- */

static const sparse_kernel_set *override_set;

const sparse_kernel_set *sparse_kernels_best(void)
{
#ifdef SPDF_HAVE_X86_KERNELS
    switch (cpu_widest_isa()) {
    case CPU_ISA_AVX512: return &sparse_kernels_avx512;
    case CPU_ISA_AVX2: return &sparse_kernels_avx2;
    default: break;
    }
#endif
    return &sparse_kernels_portable;
}

void sparse_kernels_override(const sparse_kernel_set *set) { override_set = set; }

const sparse_kernel_set *sparse_kernels_current(void)
{
    return override_set ? override_set : sparse_kernels_best();
}

/* ---- the layer ---- */

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
    p->tiles = (width + SPARSE_TILE - 1) / SPARSE_TILE;
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
static int build_forward(sparse_index_layer *w, const spdf_sparse_pattern *pt)
{
    gather_plan *p = &w->forward;
    if (!plan_alloc(p, pt->rows, pt->cols, pt->nnz, 0)) return 0;
    const int64_t stride = p->rows + 1;
    for (int64_t r = 0; r < pt->rows; r++)
        for (int32_t k = pt->row_ptr[r]; k < pt->row_ptr[r + 1]; k++)
            p->seg[(pt->col_idx[k] / SPARSE_TILE) * stride + r]++;
    int32_t *cursor = plan_prefix(p);
    w->slot_to_csr = malloc(sizeof(int32_t) * (size_t)(pt->nnz > 0 ? pt->nnz : 1));
    if (!cursor || !w->slot_to_csr) {
        free(cursor);
        return 0;
    }
    int identity = 1;
    for (int64_t r = 0; r < pt->rows; r++)
        for (int32_t k = pt->row_ptr[r]; k < pt->row_ptr[r + 1]; k++) {
            const int32_t c = pt->col_idx[k], t = c / SPARSE_TILE;
            const int32_t s = cursor[t * stride + r]++;
            p->index[s] = (uint8_t)(c - t * SPARSE_TILE);
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
static int build_backward(sparse_index_layer *w, const spdf_sparse_pattern *pt)
{
    gather_plan *p = &w->backward;
    if (!plan_alloc(p, pt->cols, pt->rows, pt->nnz, 1)) return 0;
    const int64_t stride = p->rows + 1;
    for (int64_t r = 0; r < pt->rows; r++)
        for (int32_t k = pt->row_ptr[r]; k < pt->row_ptr[r + 1]; k++)
            p->seg[(r / SPARSE_TILE) * stride + pt->col_idx[k]]++;
    int32_t *cursor = plan_prefix(p);
    int32_t *csr_to_slot = malloc(sizeof(int32_t) * (size_t)(pt->nnz > 0 ? pt->nnz : 1));
    if (!cursor || !csr_to_slot) {
        free(cursor);
        free(csr_to_slot);
        return 0;
    }
    for (int64_t s = 0; s < pt->nnz; s++)
        csr_to_slot[w->slot_to_csr ? w->slot_to_csr[s] : s] = (int32_t)s;
    for (int64_t r = 0; r < pt->rows; r++)
        for (int32_t k = pt->row_ptr[r]; k < pt->row_ptr[r + 1]; k++) {
            const int64_t t = r / SPARSE_TILE;
            const int32_t e = cursor[t * stride + pt->col_idx[k]]++;
            p->index[e] = (uint8_t)(r - t * SPARSE_TILE);
            p->slot[e] = csr_to_slot[k];
        }
    free(cursor);
    free(csr_to_slot);
    return 1;
}

void sparse_index_free(sparse_index_layer *w)
{
    if (!w) return;
    plan_clear(&w->forward);
    plan_clear(&w->backward);
    free(w->slot_to_csr);
    free(w);
}

sparse_index_layer *sparse_index_create(const spdf_sparse_pattern *pattern)
{
    if (pattern->rows < 0 || pattern->cols < 0 || pattern->nnz < 0 || pattern->nnz > INT32_MAX)
        return NULL;
    sparse_index_layer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->rows = pattern->rows;
    w->cols = pattern->cols;
    w->nnz = pattern->nnz;
    if (!build_forward(w, pattern) || !build_backward(w, pattern)) {
        sparse_index_free(w);
        return NULL;
    }
    return w;
}

/* ---- without workspace: when scratch memory runs out, the same sums, no panels ---- */

static void gather_direct(int num_threads, const gather_plan *p, const float *values, float *out,
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
            const float *xt = x + t * SPARSE_TILE;
            for (int64_t r = 0; r < p->rows; r++) {
                float sum = y[r];
                for (int32_t k = seg[r]; k < seg[r + 1]; k++)
                    sum += values[p->slot ? p->slot[k] : k] * xt[p->index[k]];
                y[r] = sum;
            }
        }
    }
}

static void sampled_direct(int num_threads, const gather_plan *p, float *dvalues,
                           const float *dout, const float *inp, int64_t N)
{
    const int64_t stride = p->rows + 1;
#pragma omp parallel for num_threads(num_threads) schedule(dynamic, 16)
    for (int64_t r = 0; r < p->rows; r++)
        for (int64_t t = 0; t < p->tiles; t++)
            for (int32_t k = p->seg[t * stride + r]; k < p->seg[t * stride + r + 1]; k++) {
                const int64_t c = t * SPARSE_TILE + p->index[k];
                float sum = 0.0f;
                for (int64_t n = 0; n < N; n++) sum += dout[n * p->rows + r] * inp[n * p->width + c];
                dvalues[k] += sum;
            }
}

/* ---- gathered products ---- */

/* Product rows per group: all of them when the operand is the wider panel (each operand tile is
 * then swept once per block), else ROW_GROUP. */
static int64_t group_rows(const gather_plan *p)
{
    return p->width > p->rows && p->rows <= 1024 ? p->rows : ROW_GROUP;
}

/* One token block (rows n0.., nb of them) of out = gathered product of inp, for product rows
 * [first, last) in groups of `group`, with the operand panel x_t already packed; y_t holds one
 * group's panel. */
static void gather_block(const sparse_kernel_set *ks, const gather_plan *p, const float *values,
                         float *out, const float *x_t, float *y_t, int64_t n0, int64_t nb,
                         int64_t first, int64_t last, int64_t group)
{
    for (int64_t r0 = first; r0 < last; r0 += group) {
        const int64_t r1 = min64(r0 + group, last);
        ks->gather(p, values, x_t, y_t, r0, r1, (int)nb);
        ks->unpack(out + n0 * p->rows + r0, p->rows, y_t, SPARSE_TOKENS, SPARSE_GROUP, r1 - r0, nb);
    }
}

/* out (N, rows) = the plan's product of inp (N, width), values in entry order. */
static void gather_product(int num_threads, const gather_plan *p, const float *values, float *out,
                           const float *inp, int64_t N)
{
    const sparse_kernel_set *ks = sparse_kernels_current();
    const int64_t blocks = (N + SPARSE_TOKENS - 1) / SPARSE_TOKENS;
    const int64_t panel = p->width * SPARSE_TOKENS;
    if (blocks >= num_threads) {
        /* Enough blocks: each thread packs and computes whole blocks in private panels. */
        const int64_t group = group_rows(p), y_panel = group * SPARSE_TOKENS;
        size_t capacity = 0;
        float *work = scratch_acquire((size_t)(num_threads * (panel + y_panel)), &capacity);
        if (!work) {
            gather_direct(num_threads, p, values, out, inp, N);
            return;
        }
#pragma omp parallel num_threads(num_threads)
        {
            float *x_t = work + omp_get_thread_num() * (panel + y_panel), *y_t = x_t + panel;
#pragma omp for schedule(dynamic, 1)
            for (int64_t b = 0; b < blocks; b++) {
                const int64_t n0 = b * SPARSE_TOKENS, nb = min64(SPARSE_TOKENS, N - n0);
                ks->pack(x_t, SPARSE_TOKENS, SPARSE_GROUP, inp + n0 * p->width, p->width, nb, 0,
                         p->width);
                gather_block(ks, p, values, out, x_t, y_t, n0, nb, 0, p->rows, group);
            }
        }
        scratch_release(work, capacity);
        return;
    }
    /* Few tokens: pack every block once, then split the product rows between the threads. */
    const int64_t groups = (p->rows + ROW_GROUP - 1) / ROW_GROUP, y_panel = ROW_GROUP * SPARSE_TOKENS;
    size_t capacity = 0;
    float *work = scratch_acquire((size_t)(blocks * panel + num_threads * y_panel), &capacity);
    if (!work) {
        gather_direct(num_threads, p, values, out, inp, N);
        return;
    }
    const int64_t chunks = (p->width + SPARSE_TILE - 1) / SPARSE_TILE;
#pragma omp parallel num_threads(num_threads)
    {
        float *y_t = work + blocks * panel + omp_get_thread_num() * y_panel;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < blocks * chunks; i++) {
            const int64_t b = i / chunks, c0 = (i % chunks) * SPARSE_TILE;
            const int64_t n0 = b * SPARSE_TOKENS, nb = min64(SPARSE_TOKENS, N - n0);
            ks->pack(work + b * panel, SPARSE_TOKENS, SPARSE_GROUP, inp + n0 * p->width, p->width,
                     nb, c0, min64(c0 + SPARSE_TILE, p->width));
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < blocks * groups; i++) {
            const int64_t b = i / groups, g = i % groups;
            const int64_t n0 = b * SPARSE_TOKENS, nb = min64(SPARSE_TOKENS, N - n0);
            gather_block(ks, p, values, out, work + b * panel, y_t, n0, nb, g * ROW_GROUP,
                         min64(g * ROW_GROUP + ROW_GROUP, p->rows), ROW_GROUP);
        }
    }
    scratch_release(work, capacity);
}

/* Writes zeros to a (N, width) result of an empty product. */
static void zero_rows(int num_threads, float *out, int64_t N, int64_t width)
{
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t n = 0; n < N; n++) memset(out + n * width, 0, sizeof(float) * (size_t)width);
}

void sparse_index_forward(int num_threads, const sparse_index_layer *w, const float *values,
                          float *out, const float *inp, int64_t N)
{
    if (num_threads < 1) num_threads = 1;
    if (N <= 0 || w->rows == 0) return;
    if (w->nnz == 0 || w->cols == 0) zero_rows(num_threads, out, N, w->rows);
    else gather_product(num_threads, &w->forward, values, out, inp, N);
}

/* dinp (N, cols) = dout (N, rows) W through the backward plan, the values first copied into its
 * entry order (nnz loads, where reading them through the slot table would cost a scattered
 * load per non-zero and token block). */
void sparse_index_backward_data(int num_threads, const sparse_index_layer *w,
                                const float *values, float *dinp, const float *dout, int64_t N)
{
    if (num_threads < 1) num_threads = 1;
    if (N <= 0 || w->cols == 0) return;
    if (w->nnz == 0 || w->rows == 0) {
        zero_rows(num_threads, dinp, N, w->cols);
        return;
    }
    size_t capacity = 0;
    float *ordered = scratch_acquire((size_t)w->nnz, &capacity);
    if (!ordered) {
        gather_direct(num_threads, &w->backward, values, dinp, dout, N);
        return;
    }
    const int32_t *slot = w->backward.slot;
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t e = 0; e < w->nnz; e++) ordered[e] = values[slot[e]];
    gather_product(num_threads, &w->backward, ordered, dinp, dout, N);
    scratch_release(ordered, capacity);
}

/* ---- sampled product ---- */

/* dvalues += (dout^T inp) at the pattern, one block of SPARSE_SAMPLE_TOKENS tokens after the
 * other: the threads pack the block's panels of dout and inp together (they fit in L2 for the
 * layers of docs/benchmarks.md), then share its work items (a column tile, a range of rows),
 * each adding its non-zeros' products for the block.  Blocks go in order, so every gradient
 * sums its blocks in the same order for any thread count. */
static void sampled_product(int num_threads, const gather_plan *p, float *dvalues,
                            const float *dout, const float *inp, int64_t N)
{
    const sparse_kernel_set *ks = sparse_kernels_current();
    const int64_t R = p->rows, C = p->width, T = SPARSE_SAMPLE_TOKENS;
    const int64_t blocks = (N + T - 1) / T;
    const int64_t r_chunks = (R + SPARSE_TILE - 1) / SPARSE_TILE;
    const int64_t c_chunks = (C + SPARSE_TILE - 1) / SPARSE_TILE;
    /* Rows per item: all of them unless that leaves fewer than four items per thread. */
    int64_t splits = 1;
    while (p->tiles * splits < 4 * num_threads && R / (splits * 2) >= 16) splits *= 2;
    const int64_t chunk = (R + splits - 1) / splits, items = p->tiles * splits;
    size_t capacity = 0;
    float *d_t = scratch_acquire((size_t)((R + C) * T), &capacity);
    if (!d_t) {
        sampled_direct(num_threads, p, dvalues, dout, inp, N);
        return;
    }
    float *x_t = d_t + R * T;
#pragma omp parallel num_threads(num_threads)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t n0 = b * T, nb = min64(T, N - n0);
#pragma omp for schedule(static)
        for (int64_t j = 0; j < r_chunks + c_chunks; j++) {
            if (j < r_chunks)
                ks->pack(d_t, T, SPARSE_GROUP, dout + n0 * R, R, nb, j * SPARSE_TILE,
                         min64(j * SPARSE_TILE + SPARSE_TILE, R));
            else
                ks->pack(x_t, T, SPARSE_GROUP, inp + n0 * C, C, nb, (j - r_chunks) * SPARSE_TILE,
                         min64((j - r_chunks) * SPARSE_TILE + SPARSE_TILE, C));
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < items; i++) {
            const int64_t t = i / splits, r0 = (i % splits) * chunk, r1 = min64(r0 + chunk, R);
            ks->sample(p, dvalues, d_t, x_t, t, r0, r1, (int)nb);
        }
    }
    scratch_release(d_t, capacity);
}

void sparse_index_backward_weight(int num_threads, const sparse_index_layer *w, float *dvalues,
                                  const float *dout, const float *inp, int64_t N)
{
    if (num_threads < 1) num_threads = 1;
    if (N <= 0 || w->nnz == 0) return;
    sampled_product(num_threads, &w->forward, dvalues, dout, inp, N);
}
