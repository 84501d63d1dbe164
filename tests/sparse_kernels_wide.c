/* The AVX-512 configuration of the index kernels (16-float vectors, two partial sums) compiled
 * for AVX2, so that an AVX2 machine runs, and the tests check, the logic AVX-512 machines run:
 * the compiler lowers each 16-float vector operation to two 8-float ones. */
#include "sparse_kernels_wide.h"

#ifdef SPDF_HAVE_X86_KERNELS
#define KERNEL_WIDTH 16
#define KERNEL_SPLIT 2
#define KERNEL_TARGET __attribute__((target("avx2,fma")))
#include "backend/sparse_index_kernels.h"

const sparse_kernel_set sparse_kernels_avx512_logic =
    KERNEL_SET("avx512-logic", CPU_ISA_AVX2, sparse_pack_avx2, sparse_unpack_avx2);
#endif
