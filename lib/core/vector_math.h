/* Element-wise exp, a dot product and a sum written so that the compiler vectorises the loops
 * that call them without -ffast-math (libm's expf is a scalar call), with a fixed
 * order of operations: results depend neither on the thread count nor on the vector width. */
#ifndef SPDF_VECTOR_MATH_H
#define SPDF_VECTOR_MATH_H

#include <stdint.h>
#include <string.h>

/* exp(x) = 2^n e^r with n = round(x / ln 2) and |r| <= ln(2) / 2; e^r from its Taylor series to
 * r^7 (truncation error below 1e-8 relative).  x is clamped to [-87, 88] so that 2^n stays a
 * normal float: exp of anything below -87 returns about 1.6e-38 instead of a denormal or 0,
 * which no softmax or GELU notices.  NaN propagates, without undefined behaviour. */
static inline float vm_exp(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    const float shifted = x * 1.44269504f + shifter;
    const float n = shifted - shifter;
    /* ln 2 split in two so that n * ln2_hi is exact for |n| <= 128 */
    const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* shifted = 1.5 * 2^23 + n holds n in its low mantissa bits: the exponent of 2^n comes from
     * them, not from converting n to an integer, which C leaves undefined for a NaN.  A NaN x
     * gives a NaN p, so the result is NaN whatever these bits are. */
    uint32_t shifted_bits;
    memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    const uint32_t bits = (shifted_bits - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* sum_i a[i] b[i] in eight interleaved partial sums, combined pairwise. */
static inline float vm_dot(const float *a, const float *b, int64_t n)
{
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float tail = 0.0f;
    for (; i < n; i++) tail += a[i] * b[i];
    return (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))) +
           tail;
}

/* sum_i a[i], in the same order as vm_dot. */
static inline float vm_sum(const float *a, int64_t n)
{
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j];
    float tail = 0.0f;
    for (; i < n; i++) tail += a[i];
    return (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))) +
           tail;
}

#endif
