/* libxsmm's JIT-generated sparse kernels for the forward and backward-data products of a layer,
 * one of the candidates of the xsmm backend's kernel plans (sparse_plan.h). */
#ifndef SPDF_XSMM_SPARSE_H
#define SPDF_XSMM_SPARSE_H

#include "backend/sparse_plan.h"

#include <stddef.h>

/* Environment variable: the process-wide limit, in bytes, on libxsmm code generated for sparse
 * layers (default XSMM_SPARSE_DEFAULT_JIT_BUDGET).  A plan does not choose JIT kernels that do
 * not fit in what is left. */
#define XSMM_SPARSE_JIT_BUDGET_ENV "SPDF_XSMM_JIT_BUDGET"
#define XSMM_SPARSE_DEFAULT_JIT_BUDGET ((size_t)64 << 20)

extern const sparse_jit_ops xsmm_sparse_jit;

/* Bytes of JIT code all live sparse layers of the process hold. */
size_t xsmm_sparse_jit_bytes_in_use(void);

#endif
