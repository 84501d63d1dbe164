/* The reference backend's sparse kernels (CSR), shared with other backends as their fallback
 * for layers they do not specialise. */
#ifndef SPDF_REF_SPARSE_H
#define SPDF_REF_SPARSE_H

#include "backend/backend.h"

void *ref_sparse_prepare(const spdf_sparse_pattern *pattern);
void ref_sparse_release(void *layer);
const int32_t *ref_sparse_order(const void *layer);
void ref_sparse_forward(int num_threads, const void *layer, const float *values, float *out,
                        const float *inp, int64_t N);
void ref_sparse_backward_data(int num_threads, const void *layer, const float *values,
                              float *dinp, const float *dout, int64_t N);
void ref_sparse_backward_weight(int num_threads, const void *layer, float *dvalues,
                                const float *dout, const float *inp, int64_t N);

#endif
