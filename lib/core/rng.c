/* Philox4x32-10 (Salmon et al., SC'11) and the distributions drawn from it.  Counter-based, so a
 * value depends only on (seed, stream, index): identical on every platform and thread count. */
#include "core.h"

#include <math.h>

static void philox_round(uint32_t ctr[4], const uint32_t key[2])
{
    const uint64_t p0 = (uint64_t)0xD2511F53u * ctr[0];
    const uint64_t p1 = (uint64_t)0xCD9E8D57u * ctr[2];
    const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    const uint32_t next[4] = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    for (int i = 0; i < 4; i++) ctr[i] = next[i];
}

void spdf_philox(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t out[4])
{
    uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    for (int round = 0; round < 10; round++) {
        philox_round(ctr, key);
        key[0] += 0x9E3779B9u;
        key[1] += 0xBB67AE85u;
    }
    for (int i = 0; i < 4; i++) out[i] = ctr[i];
}

float spdf_uniform_from_u32(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

/* Word i of the stream: block i/4, lane i%4. */
static uint32_t stream_word(const spdf_rng *rng, uint64_t i)
{
    uint32_t block[4];
    spdf_philox(rng->seed, rng->stream, i / 4, block);
    return block[i % 4];
}

void spdf_rng_uniform(const spdf_rng *rng, uint64_t first, size_t n, float *out)
{
    for (size_t k = 0; k < n; k++) out[k] = spdf_uniform_from_u32(stream_word(rng, first + k));
}

/* Element i uses block i of the stream: two 32-bit words make one uniform in (0,1] and one in
 * [0,1) for Box-Muller, computed in double so the result is the same everywhere. */
void spdf_rng_normal(const spdf_rng *rng, uint64_t first, size_t n, float mean, float std,
                     float *out)
{
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t k = 0; k < n; k++) {
        uint32_t block[4];
        spdf_philox(rng->seed, rng->stream, first + k, block);
        const uint64_t bits_a = ((uint64_t)block[0] << 21) ^ (block[1] >> 11);
        const double u1 = ((double)(bits_a & ((1ull << 53) - 1)) + 1.0) / 9007199254740992.0;
        const uint64_t bits_b = ((uint64_t)block[2] << 21) ^ (block[3] >> 11);
        const double u2 = (double)(bits_b & ((1ull << 53) - 1)) / 9007199254740992.0;
        const double z = sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
        out[k] = (float)(mean + std * z);
    }
}

/* High 64 bits of a 64x64-bit product, in portable C. */
static uint64_t mul_high_u64(uint64_t a, uint64_t b)
{
    const uint64_t a_lo = (uint32_t)a, a_hi = a >> 32, b_lo = (uint32_t)b, b_hi = b >> 32;
    const uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi;
    const uint64_t cross = (lo_lo >> 32) + (uint32_t)hi_lo + lo_hi;
    return a_hi * b_hi + (hi_lo >> 32) + (cross >> 32);
}

uint64_t spdf_rng_below(const spdf_rng *rng, uint64_t i, uint64_t bound)
{
    uint32_t block[4];
    spdf_philox(rng->seed, rng->stream, i, block);
    const uint64_t r = ((uint64_t)block[0] << 32) | block[1];
    return mul_high_u64(r, bound);
}

/* Dropout masks: LANES Philox blocks side by side, so that the rounds vectorise over blocks (each
 * lane computes exactly what spdf_philox computes for its counter). */
enum { DROPOUT_LANES = 8 };

static inline void philox_lanes(uint64_t seed, uint64_t stream, uint64_t first_block,
                                uint32_t words[4][DROPOUT_LANES])
{
    uint32_t c0[DROPOUT_LANES], c1[DROPOUT_LANES], c2[DROPOUT_LANES], c3[DROPOUT_LANES];
    for (int j = 0; j < DROPOUT_LANES; j++) {
        const uint64_t counter = first_block + (uint64_t)j;
        c0[j] = (uint32_t)counter;
        c1[j] = (uint32_t)(counter >> 32);
        c2[j] = (uint32_t)stream;
        c3[j] = (uint32_t)(stream >> 32);
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
#pragma omp simd
        for (int j = 0; j < DROPOUT_LANES; j++) {
            const uint64_t p0 = (uint64_t)0xD2511F53u * c0[j];
            const uint64_t p1 = (uint64_t)0xCD9E8D57u * c2[j];
            const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
            c1[j] = (uint32_t)p1;
            c3[j] = (uint32_t)p0;
            c0[j] = n0;
            c2[j] = n2;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int j = 0; j < DROPOUT_LANES; j++) {
        words[0][j] = c0[j];
        words[1][j] = c1[j];
        words[2][j] = c2[j];
        words[3][j] = c3[j];
    }
}

SPDF_VECTOR_CLONES
void spdf_rng_dropout(const spdf_rng *rng, uint64_t first, size_t n, uint32_t threshold,
                      float scale, float *x)
{
    size_t k = 0;
    /* the words before the first whole group of DROPOUT_LANES blocks, one block at a time */
    while (k < n && (first + k) % (4 * DROPOUT_LANES) != 0) {
        x[k] = stream_word(rng, first + k) >= threshold ? x[k] * scale : 0.0f;
        k++;
    }
    for (; k + 4 * DROPOUT_LANES <= n; k += 4 * DROPOUT_LANES) {
        uint32_t words[4][DROPOUT_LANES];
        philox_lanes(rng->seed, rng->stream, (first + k) / 4, words);
        float *xk = x + k;
        for (int j = 0; j < DROPOUT_LANES; j++)
            for (int lane = 0; lane < 4; lane++) {
                float *v = xk + 4 * j + lane;
                *v = words[lane][j] >= threshold ? *v * scale : 0.0f;
            }
    }
    for (; k < n; k++) x[k] = stream_word(rng, first + k) >= threshold ? x[k] * scale : 0.0f;
}
