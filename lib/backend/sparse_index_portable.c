/* The index kernels for any CPU: the AVX2 configuration (8-float vectors, one partial sum)
 * compiled for the baseline target, with scalar panel transposes. */
#define KERNEL_WIDTH 8
#define KERNEL_SPLIT 1
#define KERNEL_TARGET
#include "backend/sparse_index_kernels.h"

static void pack_portable(float *restrict dst, int64_t feature_stride, int64_t group_stride,
                          const float *restrict src, int64_t ld, int64_t nb, int64_t c0, int64_t c1)
{
    const int64_t padded = (nb + SPARSE_PAD - 1) / SPARSE_PAD * SPARSE_PAD;
    for (int64_t c = c0; c < c1; c++)
        for (int64_t n = 0; n < padded; n++)
            dst[c * feature_stride + (n / SPARSE_GROUP) * group_stride + n % SPARSE_GROUP] =
                n < nb ? src[n * ld + c] : 0.0f;
}

static void unpack_portable(float *restrict dst, int64_t ld, const float *restrict src,
                            int64_t feature_stride, int64_t group_stride, int64_t count,
                            int64_t nb)
{
    for (int64_t n = 0; n < nb; n++)
        for (int64_t f = 0; f < count; f++)
            dst[n * ld + f] =
                src[f * feature_stride + (n / SPARSE_GROUP) * group_stride + n % SPARSE_GROUP];
}

const sparse_kernel_set sparse_kernels_portable =
    KERNEL_SET("portable", CPU_ISA_PORTABLE, pack_portable, unpack_portable);
