/* The index kernels of a sparse weight: the three sparse products computed from the pattern's
 * indices on token panels, with one version per instruction set chosen at run time.  They need
 * no external library; the native and the xsmm backends both run them.
 *
 * Layout.  The weight W (rows, cols) is cut into column tiles of SPARSE_TILE columns.  The
 * storage order of the non-zeros (values, gradients, moments) is tile by tile, row by row,
 * columns ascending: the forward product streams them in exactly that order, and the non-zeros
 * of one row in one tile (a "segment") are contiguous.  The backward-data product walks W^T the
 * same way (row tiles, column by column) over a reordered copy of the values.  Activations are
 * transposed block by block into panels, (features, SPARSE_TOKENS): one feature's tokens
 * contiguous, so each non-zero costs one broadcast and a few vector multiply-adds.
 *
 * Determinism.  Every output element (a product row of one token, or one non-zero's gradient) is
 * computed by one thread in an order fixed by the pattern and the instruction set alone, so
 * results do not depend on the thread count. */
#ifndef SPDF_SPARSE_INDEX_H
#define SPDF_SPARSE_INDEX_H

#include "backend/backend.h"
#include "backend/cpu_features.h"

#include <stdint.h>

enum {
    SPARSE_TOKENS = 64,  /* tokens per panel row of the gathered products */
    SPARSE_SAMPLE_TOKENS = 128, /* tokens per panel row of the sampled product: fewer reductions */
    SPARSE_TILE = 128,   /* weight columns (forward) or rows (backward) per tile */
    SPARSE_GROUP = 8,    /* floats per panel group: the transposes work on 8 x 8 blocks */
    SPARSE_PAD = 16      /* a packed block's tokens are zero-padded to a multiple of this: the
                            widest vector */
};

/* One gathered product: out row r (of `rows`) = sum over its entries of value * operand row
 * `tile * SPARSE_TILE + index`, the entries grouped by tile of the operand rows. */
typedef struct gather_plan {
    int64_t rows;   /* product rows per token */
    int64_t width;  /* operand rows per token */
    int64_t tiles;  /* ceil(width / SPARSE_TILE) */
    int32_t *seg;   /* (tiles, rows + 1): row r's entries in tile t are [seg[t][r], seg[t][r+1]) */
    uint8_t *index; /* (nnz) operand row within the tile */
    int32_t *slot;  /* (nnz) value slot of each entry; NULL when entry k is slot k (forward) */
} gather_plan;

typedef struct sparse_index_layer {
    int64_t rows, cols, nnz;
    gather_plan forward;  /* W: rows over column tiles, in storage order */
    gather_plan backward; /* W^T: columns over row tiles; entry e holds value slot[e] */
    int32_t *slot_to_csr; /* (nnz) storage slot -> canonical CSR index; NULL if identical */
} sparse_index_layer;

/* The inner kernels of one instruction set (sparse_index_kernels.h, instantiated once per set).
 * Panels are (features, tokens) with `tokens` floats per feature; `valid` tokens of a block are
 * real, the rest of the panel row is zero. */
typedef struct sparse_kernel_set {
    cpu_isa isa;          /* the instruction set the kernels need */
    const char *name;     /* "avx512", "avx2", "portable" (tests may add others) */
    int vector_floats;    /* floats per vector */
    /* y_t (r1 - r0, SPARSE_TOKENS) = rows [r0, r1) of the plan's product of x_t (width,
     * SPARSE_TOKENS), over every tile. */
    void (*gather)(const gather_plan *p, const float *values, const float *x_t, float *y_t,
                   int64_t r0, int64_t r1, int valid);
    /* dvalues += sampled products of the non-zeros of rows [r0, r1) in column tile t: d_t (rows,
     * SPARSE_SAMPLE_TOKENS) panel of dout, x_t (width, SPARSE_SAMPLE_TOKENS) panel of inp. */
    void (*sample)(const gather_plan *p, float *dvalues, const float *d_t, const float *x_t,
                   int64_t t, int64_t r0, int64_t r1, int valid);
    /* Panel packing: dst[c * feature_stride + (n / 8) * group_stride + n % 8] = src[n * ld + c]
     * for n < nb and c in [c0, c1), and 0 for nb <= n < SPARSE_PAD * ceil(nb / SPARSE_PAD). */
    void (*pack)(float *restrict dst, int64_t feature_stride, int64_t group_stride,
                 const float *restrict src, int64_t ld, int64_t nb, int64_t c0, int64_t c1);
    /* The inverse for `count` features: dst[n * ld + f] = src[f * feature_stride + ...], n < nb. */
    void (*unpack)(float *restrict dst, int64_t ld, const float *restrict src,
                   int64_t feature_stride, int64_t group_stride, int64_t count, int64_t nb);
} sparse_kernel_set;

extern const sparse_kernel_set sparse_kernels_portable;
#if defined(__x86_64__) && defined(__GNUC__)
#define SPDF_HAVE_X86_KERNELS 1
extern const sparse_kernel_set sparse_kernels_avx2;
extern const sparse_kernel_set sparse_kernels_avx512;
/* The AVX2 panel transposes, which the AVX-512 set shares (every AVX-512 CPU has AVX2). */
void sparse_pack_avx2(float *restrict dst, int64_t feature_stride, int64_t group_stride,
                      const float *restrict src, int64_t ld, int64_t nb, int64_t c0, int64_t c1);
void sparse_unpack_avx2(float *restrict dst, int64_t ld, const float *restrict src,
                        int64_t feature_stride, int64_t group_stride, int64_t count, int64_t nb);
#endif

/* The kernel set for the widest instruction set this CPU runs. */
const sparse_kernel_set *sparse_kernels_best(void);
/* For tests: every later product runs on `set` (NULL: the best again).  Not thread-safe; set it
 * between calls. */
void sparse_kernels_override(const sparse_kernel_set *set);
/* The set the products use now. */
const sparse_kernel_set *sparse_kernels_current(void);

/* Builds the layer's plans and storage order; NULL if out of memory or the shape is invalid. */
sparse_index_layer *sparse_index_create(const spdf_sparse_pattern *pattern);
void sparse_index_free(sparse_index_layer *layer);

/* out (N, rows) = inp (N, cols) W^T */
void sparse_index_forward(int num_threads, const sparse_index_layer *w, const float *values,
                          float *out, const float *inp, int64_t N);
/* dinp (N, cols) = dout (N, rows) W  (overwritten) */
void sparse_index_backward_data(int num_threads, const sparse_index_layer *w,
                                const float *values, float *dinp, const float *dout, int64_t N);
/* dvalues (nnz) += (dout^T inp) at the pattern */
void sparse_index_backward_weight(int num_threads, const sparse_index_layer *w, float *dvalues,
                                  const float *dout, const float *inp, int64_t N);

#endif
