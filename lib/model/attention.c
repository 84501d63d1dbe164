/* Causal multi-head self-attention.  qkv (B,T,3C) holds the query, key and value of every
 * position side by side; head h uses channels [h*hs, (h+1)*hs) of each.
 *
 * Each (batch, head) pair is computed by one thread as a few small matrix products:
 *   forward   S = Q K^T * scale (causal), P = softmax(S) (kept in att), O = P V
 *   backward  dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(P * dP)) * scale,
 *             dQ = dS K,    dK = dS^T Q
 * Two kernels do all of them with the accumulators in vector registers: `scores` (rows
 * against a transposed, packed operand: vectorised over keys) and `weighted_rows` (weighted
 * sums of rows: vectorised over the head's channels).  Each works on several output rows at once
 * so that one load of the shared operand feeds several multiply-adds (four query rows for
 * scores, two for the weighted sums), which also gives the FMA units eight independent chains.
 * Every output element is still summed alone, over its terms in order, so results depend neither
 * on the thread count nor on how rows are grouped. */
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

enum { SCORE_ROWS = 4 }; /* query rows per `scores` call */

/* Scratch per thread: the packed keys or values (hs, ld), SCORE_ROWS rows of scores (ld each),
 * and with dropout the dropped weights of one head (T, T). */
static int64_t scratch_per_thread(int T, int hs, int dropout)
{
    return (hs + SCORE_ROWS) * padded(T) + (dropout ? (int64_t)T * T : 0);
}

int64_t attention_scratch_floats(int num_threads, int T, int C, int NH)
{
    return (int64_t)num_threads * scratch_per_thread(T, C / NH, 0);
}

int64_t attention_dropout_scratch_floats(int num_threads, int T, int C, int NH)
{
    return (int64_t)num_threads * scratch_per_thread(T, C / NH, 1);
}

/* For rows r < R (R <= SCORE_ROWS, a constant in every inlined copy): s[r * lds + k] =
 * sum_i q[r * ldq + i] * kt[i * ldkt + k] for k < n, each summed over i in order.  kt is
 * (hs, ldkt) with ldkt >= n rounded up to 8; only the first n entries of each row of s are
 * written. */
ALWAYS_INLINE static void scores(float *restrict s, int64_t lds, const float *restrict q,
                                 int64_t ldq, const float *restrict kt, int64_t ldkt, int n,
                                 int hs, const int R)
{
    int k0 = 0;
    for (; k0 + 16 <= n; k0 += 16) {
        vec8 a[SCORE_ROWS][2];
        for (int r = 0; r < R; r++) a[r][0] = a[r][1] = (vec8){0};
        for (int i = 0; i < hs; i++) {
            const float *row = kt + i * ldkt + k0;
            const vec8 k_lo = LOAD8(row), k_hi = LOAD8(row + 8);
            for (int r = 0; r < R; r++) {
                const float qi = q[r * ldq + i];
                a[r][0] += qi * k_lo;
                a[r][1] += qi * k_hi;
            }
        }
        for (int r = 0; r < R; r++) {
            STORE8(s + r * lds + k0, a[r][0]);
            STORE8(s + r * lds + k0 + 8, a[r][1]);
        }
    }
    for (; k0 < n; k0 += 8) {
        vec8 a[SCORE_ROWS];
        for (int r = 0; r < R; r++) a[r] = (vec8){0};
        for (int i = 0; i < hs; i++) {
            const vec8 k8 = LOAD8(kt + i * ldkt + k0);
            for (int r = 0; r < R; r++) a[r] += q[r * ldq + i] * k8;
        }
        for (int r = 0; r < R; r++) {
            float lanes[8];
            STORE8(lanes, a[r]);
            memcpy(s + r * lds + k0, lanes, sizeof(float) * (size_t)(n - k0 < 8 ? n - k0 : 8));
        }
    }
}

/* scores for R = 1 .. SCORE_ROWS rows, each R its own inlined copy. */
ALWAYS_INLINE static void scores_rows(float *s, int64_t lds, const float *q, int64_t ldq,
                                      const float *kt, int64_t ldkt, int n, int hs, int R)
{
    switch (R) {
    case 4: scores(s, lds, q, ldq, kt, ldkt, n, hs, 4); break;
    case 3: scores(s, lds, q, ldq, kt, ldkt, n, hs, 3); break;
    case 2: scores(s, lds, q, ldq, kt, ldkt, n, hs, 2); break;
    default: scores(s, lds, q, ldq, kt, ldkt, n, hs, 1); break;
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

/* Two weighted sums of the same rows, summed over k in order:
 *   out0 (hs) = sum_{k in [first0, end0)} w0[k * w_stride] * rows[k * row_stride + (0..hs)]
 *   out1 (hs) = sum_{k in [first1, end1)} w1[k * w_stride] * rows[k * row_stride + (0..hs)]
 * The two ranges may differ at either end by at most one term; where they overlap one load of
 * a row feeds both.  out1 may be NULL (a single sum). */
ALWAYS_INLINE static void weighted_rows(float *restrict out0, const float *w0, int first0,
                                        int end0, float *restrict out1, const float *w1,
                                        int first1, int end1, int64_t w_stride,
                                        const float *rows, int64_t row_stride, int hs)
{
    if (!out1) first1 = end1 = first0 > end0 ? first0 : end0; /* an empty second range */
    const int lo = first0 < first1 ? first0 : first1, hi = end0 > end1 ? end0 : end1;
    int i = 0;
    for (; i + 32 <= hs; i += 32) {
        vec8 a[2][4];
        for (int j = 0; j < 4; j++) a[0][j] = a[1][j] = (vec8){0};
        for (int k = lo; k < hi; k++) {
            const float *row = rows + k * row_stride + i;
            const int in0 = k >= first0 && k < end0, in1 = k >= first1 && k < end1;
            const vec8 r0 = LOAD8(row), r1 = LOAD8(row + 8), r2 = LOAD8(row + 16),
                       r3 = LOAD8(row + 24);
            if (in0) {
                const float wk = w0[k * w_stride];
                a[0][0] += wk * r0;
                a[0][1] += wk * r1;
                a[0][2] += wk * r2;
                a[0][3] += wk * r3;
            }
            if (in1) {
                const float wk = w1[k * w_stride];
                a[1][0] += wk * r0;
                a[1][1] += wk * r1;
                a[1][2] += wk * r2;
                a[1][3] += wk * r3;
            }
        }
        for (int j = 0; j < 4; j++) {
            STORE8(out0 + i + 8 * j, a[0][j]);
            if (out1) STORE8(out1 + i + 8 * j, a[1][j]);
        }
    }
    for (; i + 8 <= hs; i += 8) {
        vec8 a0 = {0}, a1 = {0};
        for (int k = lo; k < hi; k++) {
            const vec8 row = LOAD8(rows + k * row_stride + i);
            if (k >= first0 && k < end0) a0 += w0[k * w_stride] * row;
            if (k >= first1 && k < end1) a1 += w1[k * w_stride] * row;
        }
        STORE8(out0 + i, a0);
        if (out1) STORE8(out1 + i, a1);
    }
    for (; i < hs; i++) {
        float a0 = 0.0f, a1 = 0.0f;
        for (int k = lo; k < hi; k++) {
            const float row = rows[k * row_stride + i];
            if (k >= first0 && k < end0) a0 += w0[k * w_stride] * row;
            if (k >= first1 && k < end1) a1 += w1[k * w_stride] * row;
        }
        out0[i] = a0;
        if (out1) out1[i] = a1;
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
    weighted_rows(out, att, 0, n, NULL, NULL, 0, 0, 1, values, stride, hs);
}

/* Dropout of row t of head (b, h)'s weights: element ((b * NH + h) * T + t) * T + t2 of the
 * attention tensor's mask stream. */
static void drop_row(const dropout_mask *drop, float *row, int b, int h, int t, int NH, int T)
{
    const uint64_t first = (((uint64_t)b * (uint64_t)NH + (uint64_t)h) * (uint64_t)T + (uint64_t)t) * (uint64_t)T;
    spdf_rng_dropout(&drop->rng, first, (size_t)t + 1, drop->threshold, drop->scale, row);
}

void attention_forward(const spdf_exec *ex, float *out, float *att, float *scratch,
                       const float *qkv, int B, int T, int C, int NH)
{
    attention_forward_dropout(ex, out, att, scratch, qkv, B, T, C, NH, NULL);
}

/* With dropout, att keeps the softmax weights P (backward needs them) and the output is summed
 * from the dropped weights, built a block of rows at a time in the scratch's score rows. */
SPDF_VECTOR_CLONES void attention_forward_dropout(const spdf_exec *ex, float *out, float *att,
                                                  float *scratch, const float *qkv, int B, int T,
                                                  int C, int NH, const dropout_mask *drop)
{
    const int hs = C / NH;
    const int64_t C3 = 3 * (int64_t)C, ld = padded(T);
    const float scale = 1.0f / sqrtf((float)hs);
    const int64_t per_thread = scratch_per_thread(T, hs, drop != NULL);
#pragma omp parallel num_threads(ex->num_threads)
    {
        float *kt = scratch + (int64_t)omp_get_thread_num() * per_thread; /* (hs, ld) */
        float *dropped = kt + hs * ld;                                    /* (SCORE_ROWS, ld) */
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const float *q = qkv + (int64_t)b * T * C3 + h * hs; /* rows C3 apart */
                pack_transposed(kt, ld, q + C, C3, T, hs);
                float *att_bh = att + ((int64_t)b * NH + h) * T * T; /* (T,T) */
                for (int t0 = 0; t0 < T; t0 += SCORE_ROWS) {
                    const int rows = T - t0 < SCORE_ROWS ? T - t0 : SCORE_ROWS;
                    /* row t needs keys 0..t: the block computes them all up to its last row */
                    scores_rows(att_bh + (int64_t)t0 * T, T, q + t0 * C3, C3, kt, ld,
                                t0 + rows, hs, rows);
                    for (int t = t0; t < t0 + rows; t++) {
                        float *att_row = att_bh + (int64_t)t * T;
                        softmax_row(att_row, t + 1, scale);
                        memset(att_row + t + 1, 0, sizeof(float) * (size_t)(T - t - 1));
                        if (drop) {
                            float *row = dropped + (t - t0) * ld;
                            memcpy(row, att_row, sizeof(float) * (size_t)(t + 1));
                            drop_row(drop, row, b, h, t, NH, T);
                        }
                    }
                    for (int t = t0; t < t0 + rows; t += 2) {
                        const int pair = t + 1 < t0 + rows;
                        float *out_t = out + ((int64_t)b * T + t) * C + h * hs;
                        const float *w0 = drop ? dropped + (t - t0) * ld : att_bh + (int64_t)t * T;
                        const float *w1 = drop ? dropped + (t + 1 - t0) * ld
                                               : att_bh + (int64_t)(t + 1) * T;
                        weighted_rows(out_t, w0, 0, t + 1, pair ? out_t + C : NULL, w1, 0, t + 2,
                                      1, q + 2 * C, C3, hs);
                    }
                }
            }
    }
}

void attention_backward(const spdf_exec *ex, float *dqkv, float *scratch, const float *dout,
                        const float *qkv, float *att, int B, int T, int C, int NH)
{
    attention_backward_dropout(ex, dqkv, scratch, dout, qkv, att, B, T, C, NH, NULL);
}

/* One thread per (b, h): a head writes only its own query/key/value channels, so threads never
 * share output memory.  With dropout, D = P * mask / (1 - p) replaces P in dV = D^T dO, and the
 * softmax backward takes dP = dD * mask / (1 - p), so that P * dP = D * dD:
 *   dS = (D * dD - P * rowsum(D * dD)) * scale. */
SPDF_VECTOR_CLONES void attention_backward_dropout(const spdf_exec *ex, float *dqkv, float *scratch,
                                                   const float *dout, const float *qkv, float *att,
                                                   int B, int T, int C, int NH,
                                                   const dropout_mask *drop)
{
    const int hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
    const int64_t C3 = 3 * (int64_t)C, ld = padded(T);
    const int64_t per_thread = scratch_per_thread(T, hs, drop != NULL);
#pragma omp parallel num_threads(ex->num_threads)
    {
        float *vt = scratch + (int64_t)omp_get_thread_num() * per_thread; /* (hs, ld) */
        float *datt = vt + hs * ld; /* (SCORE_ROWS, ld) */
        float *dropped = datt + SCORE_ROWS * ld; /* (T, T) with dropout: D */
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const float *q = qkv + (int64_t)b * T * C3 + h * hs; /* rows C3 apart */
                float *dq = dqkv + (int64_t)b * T * C3 + h * hs;
                const float *dout_b = dout + (int64_t)b * T * C + h * hs; /* rows C apart */
                float *p = att + ((int64_t)b * NH + h) * T * T;           /* (T,T) */
                if (drop)
                    for (int t = 0; t < T; t++) {
                        float *row = dropped + (int64_t)t * T;
                        memcpy(row, p + (int64_t)t * T, sizeof(float) * (size_t)(t + 1));
                        drop_row(drop, row, b, h, t, NH, T);
                    }
                const float *weights = drop ? dropped : p; /* what multiplied V */
                /* dV[t2] = sum_{t >= t2} P[t][t2] dO[t], two rows t2 at a time */
                for (int t2 = 0; t2 < T; t2 += 2) {
                    const int pair = t2 + 1 < T;
                    weighted_rows(dq + t2 * C3 + 2 * C, weights + t2, t2, T,
                                  pair ? dq + (t2 + 1) * C3 + 2 * C : NULL, weights + t2 + 1,
                                  t2 + 1, T, T, dout_b, C, hs);
                }
                /* dP row t = dO[t] V^T; dS overwrites P row by row; dQ[t] = dS[t] K */
                pack_transposed(vt, ld, q + 2 * C, C3, T, hs);
                for (int t0 = 0; t0 < T; t0 += SCORE_ROWS) {
                    const int rows = T - t0 < SCORE_ROWS ? T - t0 : SCORE_ROWS;
                    scores_rows(datt, ld, dout_b + t0 * C, C, vt, ld, t0 + rows, hs, rows);
                    for (int t = t0; t < t0 + rows; t++) {
                        float *p_row = p + (int64_t)t * T;
                        const float *d_row = datt + (t - t0) * ld;
                        if (drop) {
                            const float *dropped_row = dropped + (int64_t)t * T;
                            const float weighted = vm_dot(dropped_row, d_row, t + 1);
#pragma omp simd
                            for (int t2 = 0; t2 <= t; t2++)
                                p_row[t2] = (dropped_row[t2] * d_row[t2] - p_row[t2] * weighted) * scale;
                            continue;
                        }
                        const float weighted = vm_dot(p_row, d_row, t + 1);
#pragma omp simd
                        for (int t2 = 0; t2 <= t; t2++)
                            p_row[t2] = p_row[t2] * (d_row[t2] - weighted) * scale;
                    }
                    for (int t = t0; t < t0 + rows; t += 2) {
                        const int pair = t + 1 < t0 + rows;
                        weighted_rows(dq + t * C3, p + (int64_t)t * T, 0, t + 1,
                                      pair ? dq + (t + 1) * C3 : NULL, p + (int64_t)(t + 1) * T, 0,
                                      t + 2, 1, q + C, C3, hs);
                    }
                }
                /* dK[t2] = sum_{t >= t2} dS[t][t2] Q[t], two rows t2 at a time */
                for (int t2 = 0; t2 < T; t2 += 2) {
                    const int pair = t2 + 1 < T;
                    weighted_rows(dq + t2 * C3 + C, p + t2, t2, T,
                                  pair ? dq + (t2 + 1) * C3 + C : NULL, p + t2 + 1, t2 + 1, T, T,
                                  q, C3, hs);
                }
            }
    }
}
