/* The private compute interface: a small versioned table of kernels that every backend fills.
 * Models call kernels only through it; kernels know nothing of models. */
#ifndef SPDF_BACKEND_H
#define SPDF_BACKEND_H

#include "spdf.h"

#include <stddef.h>
#include <stdint.h>

/* Bumped when entries are added; an entry a backend leaves NULL falls back to the reference. */
#define SPDF_BACKEND_OPS_VERSION 4

typedef enum spdf_transpose { SPDF_NO_TRANS = 0, SPDF_TRANS = 1 } spdf_transpose;

/* The fixed non-zero pattern of one sparse weight W (rows, cols) in CSR form, rows sorted and
 * columns sorted within each row ("canonical order"). */
typedef struct spdf_sparse_pattern {
    int64_t rows, cols, nnz;
    const int32_t *row_ptr; /* (rows + 1) */
    const int32_t *col_idx; /* (nnz) */
} spdf_sparse_pattern;

/* The three products of a sparse layer, in the order of every per-product array. */
typedef enum spdf_sparse_product {
    SPDF_PRODUCT_FORWARD = 0,
    SPDF_PRODUCT_BACKWARD_DATA = 1,
    SPDF_PRODUCT_BACKWARD_WEIGHT = 2,
    SPDF_PRODUCTS = 3
} spdf_sparse_product;

/* What a layer's plan is to be made from (spdf_sparse_plan_config as the model passes it). */
typedef struct spdf_sparse_plan_request {
    int num_threads;               /* the threads the products will run on */
    spdf_sparse_plan_mode mode;
    int forced[SPDF_PRODUCTS];     /* SPDF_SPARSE_KERNEL_AUTO or the spdf_sparse_kernel_kind to use */
    spdf_sparse_plan_source source; /* what to report when every product is forced */
    int64_t tokens;                /* tokens per product the plan is made for */
} spdf_sparse_plan_request;

/* A layer's plan as it is: the kernel of each product and how it was chosen. */
typedef struct spdf_sparse_plan_report {
    spdf_sparse_kernel_kind kind[SPDF_PRODUCTS];
    spdf_sparse_plan_source planned_by;
    float relative_time[SPDF_PRODUCTS]; /* against the dense GEMM; 0 where unknown */
    int vector_floats;                  /* of the index kernels */
    const char *isa;                    /* of the index kernels, a static string */
    size_t code_bytes;                  /* generated code held */
} spdf_sparse_plan_report;

typedef struct spdf_backend_ops {
    int version;      /* SPDF_BACKEND_OPS_VERSION the table was written for */
    const char *name; /* "ref", "xsmm" */
    /* 1 if the backend can run on this machine (CPU features, library present). */
    int (*available)(void);

    /* C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C, all row-major with leading
     * dimensions lda/ldb/ldc; op(X) = X or X^T.  beta == 0 overwrites C without reading it.
     * Each element of C must be computed by one thread in a fixed order of K, so results do not
     * depend on the thread count. */
    void (*gemm)(int num_threads, spdf_transpose trans_a, spdf_transpose trans_b, int64_t M,
                 int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                 int64_t ldb, float beta, float *C, int64_t ldc);

    /* ---- sparse weights (version 2) ----
     * prepare: builds whatever the backend needs for one sparse weight (kernels, index tables)
     * when a mask is attached; NULL when out of memory.  The pattern is only read during the
     * call.  release: frees it at the transition to dense. */
    void *(*sparse_prepare)(const spdf_sparse_pattern *pattern);
    void (*sparse_release)(void *layer);
    /* Storage order of the layer's non-zeros (values, gradients, moments): NULL for canonical
     * CSR order, else (nnz) entries where slot s holds the CSR element order[s].  Owned by the
     * layer.  Kernels then read and write `values`/`dvalues` in this order, so a backend can
     * lay them out as its kernels stream them and the optimizer still works element-wise. */
    const int32_t *(*sparse_order)(const void *layer);
    /* out (N,rows) = inp (N,cols) W^T */
    void (*sparse_forward)(int num_threads, const void *layer, const float *values, float *out,
                           const float *inp, int64_t N);
    /* dinp (N,cols) = dout (N,rows) W  (overwritten) */
    void (*sparse_backward_data)(int num_threads, const void *layer, const float *values,
                                 float *dinp, const float *dout, int64_t N);
    /* dvalues (nnz) += (dout^T inp) sampled at the pattern: only the non-zeros are computed. */
    void (*sparse_backward_weight)(int num_threads, const void *layer, float *dvalues,
                                   const float *dout, const float *inp, int64_t N);

    /* ---- version 4 ----
     * Plans the layer: chooses each product's kernel as the request says and builds what the
     * chosen kernels need; the storage order does not change.  SPDF_ENOMEM, or SPDF_EUNSUPPORTED
     * for a forced kernel the backend cannot run.  NULL: one kernel per product, nothing to
     * choose (a forced kernel other than INDEX is then unsupported). */
    spdf_status (*sparse_plan)(void *layer, const spdf_sparse_plan_request *request);
    /* The layer's plan; NULL: every product on index kernels, no figures. */
    void (*sparse_kernel_info)(const void *layer, spdf_sparse_plan_report *report);
} spdf_backend_ops;

extern const spdf_backend_ops spdf_backend_ref;
extern const spdf_backend_ops spdf_backend_native;
#ifdef SPDF_HAVE_XSMM
extern const spdf_backend_ops spdf_backend_xsmm;
#endif

/* Registry: the backends compiled in, in order of preference for "auto". */
int spdf_backend_registry_count(void);
const spdf_backend_ops *spdf_backend_registry_get(int index);
/* Resolves "auto", a backend name, or NULL (= $SPDF_BACKEND, else "auto"); NULL if unknown or
 * unavailable, with the reason in spdf_last_error(). */
const spdf_backend_ops *spdf_backend_resolve(const char *name);
/* A copy of ops whose NULL entries are taken from the reference backend. */
spdf_backend_ops spdf_backend_with_fallbacks(const spdf_backend_ops *ops);

#endif
