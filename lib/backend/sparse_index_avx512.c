/* The index kernels for AVX-512: 16-float vectors, two partial sums per product row (four
 * vectors per 64-token row would leave the FMA units waiting on four chains), broadcasts from
 * memory, and the AVX2 panel transposes. */
#if defined(__x86_64__) && defined(__GNUC__)
#define KERNEL_WIDTH 16
#define KERNEL_SPLIT 2
#define KERNEL_TARGET __attribute__((target("avx512f,avx2,fma")))
#include "backend/sparse_index_kernels.h"

const sparse_kernel_set sparse_kernels_avx512 =
    KERNEL_SET("avx512", CPU_ISA_AVX512, sparse_pack_avx2, sparse_unpack_avx2);
#endif
