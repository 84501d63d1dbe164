/* The index kernels for AVX2 + FMA: 8-float vectors, one partial sum per product row (eight
 * vectors per 64-token row already give eight chains), and the panel transposes, which the
 * AVX-512 set shares. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Four broadcasts from one 16-byte load: on AVX2 loads, not FMAs, bound the gathered products,
 * and a lane permutation is cheaper than a load. */
#define KERNEL_BROADCAST4(b, values)                                                           \
    do {                                                                                       \
        const __m128 v4_ = _mm_loadu_ps(values);                                              \
        const __m256 v8_ = _mm256_castps128_ps256(v4_);                                        \
        (b)[0] = (kernel_vector)_mm256_broadcastss_ps(v4_);                                    \
        (b)[1] = (kernel_vector)_mm256_permutevar8x32_ps(v8_, _mm256_set1_epi32(1));           \
        (b)[2] = (kernel_vector)_mm256_permutevar8x32_ps(v8_, _mm256_set1_epi32(2));           \
        (b)[3] = (kernel_vector)_mm256_permutevar8x32_ps(v8_, _mm256_set1_epi32(3));           \
    } while (0)

#define KERNEL_WIDTH 8
#define KERNEL_SPLIT 1
#define KERNEL_TARGET __attribute__((target("avx2,fma")))
#include "backend/sparse_index_kernels.h"

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE_AVX2 static inline __attribute__((always_inline, target("avx2,fma")))

INLINE_AVX2 void transpose8(__m256 r[8])
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

AVX2 void sparse_pack_avx2(float *restrict dst, int64_t feature_stride, int64_t group_stride,
                           const float *restrict src, int64_t ld, int64_t nb, int64_t c0,
                           int64_t c1)
{
    const int64_t padded = (nb + SPARSE_PAD - 1) / SPARSE_PAD * SPARSE_PAD;
    for (int64_t n0 = 0; n0 < padded; n0 += SPARSE_GROUP) {
        float *d = dst + (n0 / SPARSE_GROUP) * group_stride;
        if (n0 + SPARSE_GROUP > nb) { /* partial or padding group: zero the missing tokens */
            for (int64_t c = c0; c < c1; c++)
                for (int64_t i = 0; i < SPARSE_GROUP; i++)
                    d[c * feature_stride + i] = n0 + i < nb ? src[(n0 + i) * ld + c] : 0.0f;
            continue;
        }
        int64_t c = c0;
        for (; c + 8 <= c1; c += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (n0 + i) * ld + c);
            transpose8(r);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(d + (c + i) * feature_stride, r[i]);
        }
        for (; c < c1; c++)
            for (int64_t i = 0; i < SPARSE_GROUP; i++) d[c * feature_stride + i] = src[(n0 + i) * ld + c];
    }
}

AVX2 void sparse_unpack_avx2(float *restrict dst, int64_t ld, const float *restrict src,
                             int64_t feature_stride, int64_t group_stride, int64_t count,
                             int64_t nb)
{
    for (int64_t n0 = 0; n0 < nb; n0 += SPARSE_GROUP) {
        const float *s = src + (n0 / SPARSE_GROUP) * group_stride;
        const int64_t valid = nb - n0 < SPARSE_GROUP ? nb - n0 : SPARSE_GROUP;
        int64_t f = 0;
        if (valid == SPARSE_GROUP)
            for (; f + 8 <= count; f += 8) {
                __m256 r[8];
                for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + (f + i) * feature_stride);
                transpose8(r);
                for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (n0 + i) * ld + f, r[i]);
            }
        for (; f < count; f++)
            for (int64_t i = 0; i < valid; i++) dst[(n0 + i) * ld + f] = s[f * feature_stride + i];
    }
}

const sparse_kernel_set sparse_kernels_avx2 =
    KERNEL_SET("avx2", CPU_ISA_AVX2, sparse_pack_avx2, sparse_unpack_avx2);
#endif
