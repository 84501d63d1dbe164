/* The AVX-512 logic of the index kernels built for AVX2 (sparse_kernels_wide.c). */
#ifndef SPDF_TEST_SPARSE_KERNELS_WIDE_H
#define SPDF_TEST_SPARSE_KERNELS_WIDE_H

#include "backend/sparse_index.h"

#ifdef SPDF_HAVE_X86_KERNELS
extern const sparse_kernel_set sparse_kernels_avx512_logic;
#endif

#endif
