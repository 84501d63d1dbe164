/* Causal multi-head self-attention.  qkv (B,T,3C) holds the query, key and value of every
 * position side by side; head h uses channels [h*hs, (h+1)*hs) of each.
 *
 * Each (batch, head) pair is computed by one thread as a few small matrix products:
 *   forward   S = Q K^T * scale (causal), P = softmax(S) (kept in att), O = P V
 *   backward  dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(P * dP)) * scale,
 *             dQ = dS K,    dK = dS^T Q
 * Two kernels do all of them with the accumulators in vector registers: `scores` (one row
 * against a transposed, packed operand: vectorised over keys) and `weighted_rows` (a weighted
 * sum of rows: vectorised over the head's channels).  Every output element is summed in a
 * fixed order, so results depend neither on the thread count nor on the vector path taken. */
#include "core/core.h"
#include "core/vector_math.h"
#include "model/layers.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* Eight floats, at any float-aligned address (GCC vector extension: SSE or AVX as compiled). */
typedef float vec8 __attribute__((vector_size(32), aligned(4)));
#define LOAD8(p) (*(const vec8 *)(p))
#define STORE8(p, v) (*(vec8 *)(p) = (v))

/* The helpers are inlined into each compiled version of their callers (SPDF_VECTOR_CLONES), so
 * they are vectorised for the same target. */
#define ALWAYS_INLINE __attribute__((always_inline)) inline

/* Keys per packed row: T rounded up to whole vectors. */
static int64_t padded(int T) { return ((int64_t)T + 7) / 8 * 8; }

int64_t attention_scratch_floats(int num_threads, int T, int C, int NH)
{
    return (int64_t)num_threads * (C / NH + 1) * padded(T);
}

/* s[k] = sum_i q[i] * kt[i * ldkt + k] for k < n, summed over i in order.  kt is (hs, ldkt)
 * with ldkt >= n rounded up to 8. */
ALWAYS_INLINE static void scores(float *restrict s, const float *restrict q,
                                 const float *restrict kt, int64_t ldkt, int n, int hs)
{
    int k0 = 0;
    for (; k0 + 32 <= n; k0 += 32) {
        vec8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int i = 0; i < hs; i++) {
            const float *row = kt + i * ldkt + k0;
            const float qi = q[i];
            a0 += qi * LOAD8(row);
            a1 += qi * LOAD8(row + 8);
            a2 += qi * LOAD8(row + 16);
            a3 += qi * LOAD8(row + 24);
        }
        STORE8(s + k0, a0);
        STORE8(s + k0 + 8, a1);
        STORE8(s + k0 + 16, a2);
        STORE8(s + k0 + 24, a3);
    }
    for (; k0 < n; k0 += 8) {
        vec8 a = {0};
        for (int i = 0; i < hs; i++) a += q[i] * LOAD8(kt + i * ldkt + k0);
        float lanes[8];
        STORE8(lanes, a);
        memcpy(s + k0, lanes, sizeof(float) * (size_t)(n - k0 < 8 ? n - k0 : 8));
    }
}

/* The same sums, lane for lane, with the keys as rows `stride` floats apart (the decoder's
 * cache): eight keys at a time are packed transposed and go through the same vector sums. */
ALWAYS_INLINE static void scores_strided(float *restrict s, const float *restrict q,
                                         const float *keys, int64_t stride, int n, int hs)
{
    enum { CHUNK = 64 }; /* channels packed at a time */
    float packed[CHUNK * 8];
    for (int k0 = 0; k0 < n; k0 += 8) {
        const int width = n - k0 < 8 ? n - k0 : 8;
        vec8 a = {0};
        for (int i0 = 0; i0 < hs; i0 += CHUNK) {
            const int len = hs - i0 < CHUNK ? hs - i0 : CHUNK;
            for (int j = 0; j < 8; j++)
                for (int i = 0; i < len; i++)
                    packed[i * 8 + j] = j < width ? keys[(k0 + j) * stride + i0 + i] : 0.0f;
            for (int i = 0; i < len; i++) a += q[i0 + i] * LOAD8(packed + i * 8);
        }
        float lanes[8];
        STORE8(lanes, a);
        memcpy(s + k0, lanes, sizeof(float) * (size_t)width);
    }
}

/* out (hs) = sum_k w[k * w_stride] * rows[k * row_stride + (0..hs)], summed over k in order. */
ALWAYS_INLINE static void weighted_rows(float *restrict out, const float *w, int64_t w_stride,
                                        const float *rows, int64_t row_stride, int n, int hs)
{
    int i = 0;
    for (; i + 32 <= hs; i += 32) {
        vec8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int k = 0; k < n; k++) {
            const float wk = w[k * w_stride];
            const float *row = rows + k * row_stride + i;
            a0 += wk * LOAD8(row);
            a1 += wk * LOAD8(row + 8);
            a2 += wk * LOAD8(row + 16);
            a3 += wk * LOAD8(row + 24);
        }
        STORE8(out + i, a0);
        STORE8(out + i + 8, a1);
        STORE8(out + i + 16, a2);
        STORE8(out + i + 24, a3);
    }
    for (; i + 8 <= hs; i += 8) {
        vec8 a = {0};
        for (int k = 0; k < n; k++) a += w[k * w_stride] * LOAD8(rows + k * row_stride + i);
        STORE8(out + i, a);
    }
    for (; i < hs; i++) {
        float a = 0.0f;
        for (int k = 0; k < n; k++) a += w[k * w_stride] * rows[k * row_stride + i];
        out[i] = a;
    }
}

/* att (n): softmax of scale * att in place. */
ALWAYS_INLINE static void softmax_row(float *att, int n, float scale)
{
    float max = -INFINITY;
    for (int k = 0; k < n; k++) {
        att[k] *= scale;
        max = att[k] > max ? att[k] : max;
    }
#pragma omp simd
    for (int k = 0; k < n; k++) att[k] = vm_exp(att[k] - max);
    const float inv_sum = 1.0f / vm_sum(att, n);
#pragma omp simd
    for (int k = 0; k < n; k++) att[k] *= inv_sum;
}

/* dst (hs, ld) = the hs channels of T rows `stride` floats apart, transposed; columns T..ld
 * zeroed. */
ALWAYS_INLINE static void pack_transposed(float *restrict dst, int64_t ld, const float *src,
                                          int64_t stride, int T, int hs)
{
    for (int t = 0; t < T; t++)
        for (int i = 0; i < hs; i++) dst[i * ld + t] = src[t * stride + i];
    for (int i = 0; i < hs; i++)
        for (int64_t t = T; t < ld; t++) dst[i * ld + t] = 0.0f;
}

SPDF_VECTOR_CLONES void attention_row(float *out, float *att, const float *query,
                                      const float *keys, const float *values, int64_t stride,
                                      int n, int hs)
{
    scores_strided(att, query, keys, stride, n, hs);
    softmax_row(att, n, 1.0f / sqrtf((float)hs));
    weighted_rows(out, att, 1, values, stride, n, hs);
}

SPDF_VECTOR_CLONES void attention_forward(const spdf_exec *ex, float *out, float *att,
                                          float *scratch, const float *qkv, int B, int T, int C,
                                          int NH)
{
    const int hs = C / NH;
    const int64_t C3 = 3 * (int64_t)C, ld = padded(T);
    const float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel num_threads(ex->num_threads)
    {
        float *kt = scratch + (int64_t)omp_get_thread_num() * (hs + 1) * ld; /* (hs, ld) */
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const float *q = qkv + (int64_t)b * T * C3 + h * hs; /* rows C3 apart */
                pack_transposed(kt, ld, q + C, C3, T, hs);
                for (int t = 0; t < T; t++) {
                    float *att_row = att + (((int64_t)b * NH + h) * T + t) * T; /* (T) */
                    scores(att_row, q + t * C3, kt, ld, t + 1, hs);
                    softmax_row(att_row, t + 1, scale);
                    memset(att_row + t + 1, 0, sizeof(float) * (size_t)(T - t - 1));
                    weighted_rows(out + ((int64_t)b * T + t) * C + h * hs, att_row, 1,
                                  q + 2 * C, C3, t + 1, hs);
                }
            }
    }
}

/* One thread per (b, h): a head writes only its own query/key/value channels, so threads never
 * share output memory. */
SPDF_VECTOR_CLONES void attention_backward(const spdf_exec *ex, float *dqkv, float *scratch,
                                           const float *dout, const float *qkv, float *att, int B,
                                           int T, int C, int NH)
{
    const int hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
    const int64_t C3 = 3 * (int64_t)C, ld = padded(T);
#pragma omp parallel num_threads(ex->num_threads)
    {
        float *vt = scratch + (int64_t)omp_get_thread_num() * (hs + 1) * ld; /* (hs, ld) */
        float *datt = vt + hs * ld;                                            /* (ld) */
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const float *q = qkv + (int64_t)b * T * C3 + h * hs; /* rows C3 apart */
                float *dq = dqkv + (int64_t)b * T * C3 + h * hs;
                const float *dout_b = dout + (int64_t)b * T * C + h * hs; /* rows C apart */
                float *p = att + ((int64_t)b * NH + h) * T * T;           /* (T,T) */
                /* dV[t2] = sum_{t >= t2} P[t][t2] dO[t] */
                for (int t2 = 0; t2 < T; t2++)
                    weighted_rows(dq + t2 * C3 + 2 * C, p + (int64_t)t2 * T + t2, T,
                                  dout_b + t2 * C, C, T - t2, hs);
                /* dP row t = dO[t] V^T; dS overwrites P row by row; dQ[t] = dS[t] K */
                pack_transposed(vt, ld, q + 2 * C, C3, T, hs);
                for (int t = 0; t < T; t++) {
                    float *p_row = p + (int64_t)t * T;
                    scores(datt, dout_b + t * C, vt, ld, t + 1, hs);
                    const float weighted = vm_dot(p_row, datt, t + 1);
#pragma omp simd
                    for (int t2 = 0; t2 <= t; t2++)
                        p_row[t2] = p_row[t2] * (datt[t2] - weighted) * scale;
                    weighted_rows(dq + t * C3, p_row, 1, q + C, C3, t + 1, hs);
                }
                /* dK[t2] = sum_{t >= t2} dS[t][t2] Q[t] */
                for (int t2 = 0; t2 < T; t2++)
                    weighted_rows(dq + t2 * C3 + C, p + (int64_t)t2 * T + t2, T, q + t2 * C3, C3,
                                  T - t2, hs);
            }
    }
}
