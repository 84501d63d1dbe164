/* The xsmm backend's sparse kernels: tiled index kernels (AVX2 + FMA) for the three sparse
 * products, and optionally libxsmm's JIT-generated SOA kernels for forward and backward-data. */
#ifndef SPDF_XSMM_SPARSE_H
#define SPDF_XSMM_SPARSE_H

#include "backend/backend.h"

#include <stddef.h>

/* Environment variable: the process-wide limit, in bytes, on libxsmm code generated for sparse
 * layers.  A layer whose kernels do not fit in what is left runs on the index kernels. */
#define XSMM_SPARSE_JIT_BUDGET_ENV "SPDF_XSMM_JIT_BUDGET"

void *xsmm_sparse_prepare(const spdf_sparse_pattern *pattern);
void xsmm_sparse_release(void *layer);
const int32_t *xsmm_sparse_order(const void *layer);
void xsmm_sparse_forward(int num_threads, const void *layer, const float *values, float *out,
                         const float *inp, int64_t N);
void xsmm_sparse_backward_data(int num_threads, const void *layer, const float *values,
                               float *dinp, const float *dout, int64_t N);
void xsmm_sparse_backward_weight(int num_threads, const void *layer, float *dvalues,
                                 const float *dout, const float *inp, int64_t N);

/* 1 if the layer's forward and backward-data run on libxsmm JIT kernels, 0 if on the index
 * kernels (the backward-weight product always runs on the index kernels). */
int xsmm_sparse_layer_uses_jit(const void *layer);
/* Bytes of JIT code the layer holds (0 on the index path). */
size_t xsmm_sparse_layer_code_bytes(const void *layer);
/* Both of the above, for the backend table's sparse_kernel_info. */
void xsmm_sparse_kernel_info(const void *layer, int *uses_jit, size_t *code_bytes);
/* Bytes of JIT code all live sparse layers of the process hold. */
size_t xsmm_sparse_jit_bytes_in_use(void);

/* For tests: 1 runs every later call on the portable (non-SIMD) kernels, 0 restores the
 * default (AVX2 + FMA when the CPU has them).  Not thread-safe; set it between calls. */
void xsmm_sparse_test_force_portable(int on);

#endif
