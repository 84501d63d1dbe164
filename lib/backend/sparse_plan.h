/* The kernel plan of one sparse weight, as the native and xsmm backends run it: for each of the
 * three products the kernel that computes it (index kernels, a backend's JIT kernels, or the
 * backend's dense GEMM on the masked weight), chosen by a cost model or by timing, and what
 * those kernels need.  The index kernels' storage order is the layer's for every plan, so
 * planning again never moves a value. */
#ifndef SPDF_SPARSE_PLAN_H
#define SPDF_SPARSE_PLAN_H

#include "backend/backend.h"
#include "backend/sparse_index.h"

#include <stddef.h>

typedef void (*spdf_gemm_fn)(int num_threads, spdf_transpose trans_a, spdf_transpose trans_b,
                             int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                             int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                             int64_t ldc);

/* Generated kernels for the forward and backward-data products of one layer (xsmm backend). */
typedef struct sparse_jit_ops {
    /* The kernels for the layer, within what budget is left; NULL when they cannot be made. */
    void *(*build)(const sparse_index_layer *w);
    void (*release)(void *jit);
    void (*forward)(int num_threads, const void *jit, const sparse_index_layer *w,
                    const float *values, float *out, const float *inp, int64_t N);
    void (*backward_data)(int num_threads, const void *jit, const sparse_index_layer *w,
                          const float *values, float *dinp, const float *dout, int64_t N);
    size_t (*code_bytes)(const void *jit);
    /* 1 if the layer's kernels would fit in what is left of the code budget. */
    int (*would_fit)(const sparse_index_layer *w);
} sparse_jit_ops;

/* The cost model of a backend: per instruction set of the index kernels and per product, the
 * time of a product per non-zero over the time of the backend's dense GEMM per weight element
 * (index kernels beat the GEMM below density 1 / ratio).  docs/sparsity.md says where each
 * figure comes from. */
typedef struct sparse_cost_model {
    float index_ratio[CPU_ISA_COUNT][SPDF_PRODUCTS];
    float jit_ratio[CPU_ISA_COUNT]; /* forward and backward-data on JIT kernels */
} sparse_cost_model;

/* What a backend lends the plans of its layers. */
typedef struct sparse_backend_kernels {
    spdf_gemm_fn gemm;
    const sparse_cost_model *costs;
    const sparse_jit_ops *jit; /* NULL: no JIT kernels */
} sparse_backend_kernels;

typedef struct sparse_plan sparse_plan;

/* A layer with the index kernels for every product (call sparse_plan_choose next); NULL when out
 * of memory or the pattern is invalid. */
sparse_plan *sparse_plan_create(const spdf_sparse_pattern *pattern,
                                const sparse_backend_kernels *backend);
void sparse_plan_free(sparse_plan *plan);
const int32_t *sparse_plan_order(const sparse_plan *plan);
spdf_status sparse_plan_choose(sparse_plan *plan, const spdf_sparse_plan_request *request);
void sparse_plan_report(const sparse_plan *plan, spdf_sparse_plan_report *report);

/* The backend table's entries, running each product on its planned kernel. */
void sparse_plan_forward(int num_threads, const sparse_plan *plan, const float *values,
                         float *out, const float *inp, int64_t N);
void sparse_plan_backward_data(int num_threads, const sparse_plan *plan, const float *values,
                               float *dinp, const float *dout, int64_t N);
void sparse_plan_backward_weight(int num_threads, const sparse_plan *plan, float *dvalues,
                                 const float *dout, const float *inp, int64_t N);

/* The backend-table entries over a sparse_plan (a backend adds its own sparse_prepare). */
void sparse_plan_entry_release(void *layer);
const int32_t *sparse_plan_entry_order(const void *layer);
void sparse_plan_entry_forward(int num_threads, const void *layer, const float *values,
                               float *out, const float *inp, int64_t N);
void sparse_plan_entry_backward_data(int num_threads, const void *layer, const float *values,
                                     float *dinp, const float *dout, int64_t N);
void sparse_plan_entry_backward_weight(int num_threads, const void *layer, float *dvalues,
                                       const float *dout, const float *inp, int64_t N);
spdf_status sparse_plan_entry_plan(void *layer, const spdf_sparse_plan_request *request);
void sparse_plan_entry_info(const void *layer, spdf_sparse_plan_report *report);

#define SPARSE_PLAN_BACKEND_ENTRIES(prepare)                                                   \
    .sparse_prepare = (prepare), .sparse_release = sparse_plan_entry_release,                 \
    .sparse_order = sparse_plan_entry_order, .sparse_forward = sparse_plan_entry_forward,     \
    .sparse_backward_data = sparse_plan_entry_backward_data,                                  \
    .sparse_backward_weight = sparse_plan_entry_backward_weight,                              \
    .sparse_plan = sparse_plan_entry_plan, .sparse_kernel_info = sparse_plan_entry_info

/* The cost model's relative time of product `product` on `kind` for a (rows, cols) weight with
 * nnz non-zeros, against the dense GEMM; for tests and benchmarks. */
double sparse_plan_estimate(const sparse_cost_model *costs, cpu_isa isa,
                            spdf_sparse_product product, spdf_sparse_kernel_kind kind,
                            int64_t rows, int64_t cols, int64_t nnz, int64_t tokens);

#endif
