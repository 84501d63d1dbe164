/* Causal multi-head self-attention.  qkv (B,T,3C) holds the query, key and value of every
 * position side by side; head h uses channels [h*hs, (h+1)*hs) of each. */
#include "model/layers.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* One query attending to n keys/values (rows `stride` floats apart), head size hs.  att (n)
 * receives the softmax weights, out (hs) the mix.  Shared by the training forward and the
 * KV-cache decoder so both compute the same bits. */
void attention_row(float *out, float *att, const float *query, const float *keys,
                   const float *values, int64_t stride, int n, int hs)
{
    const float scale = 1.0f / sqrtf((float)hs);
    float max = -INFINITY;
    for (int t2 = 0; t2 < n; t2++) {
        const float *key = keys + t2 * stride;
        float dot = 0.0f;
        for (int i = 0; i < hs; i++) dot += query[i] * key[i];
        att[t2] = dot * scale;
        max = att[t2] > max ? att[t2] : max;
    }
    float sum = 0.0f;
    for (int t2 = 0; t2 < n; t2++) {
        att[t2] = expf(att[t2] - max);
        sum += att[t2];
    }
    const float inv_sum = 1.0f / sum;
    for (int t2 = 0; t2 < n; t2++) att[t2] *= inv_sum;
    for (int i = 0; i < hs; i++) out[i] = 0.0f;
    for (int t2 = 0; t2 < n; t2++) {
        const float *value = values + t2 * stride;
        for (int i = 0; i < hs; i++) out[i] += att[t2] * value[i];
    }
}

void attention_forward(const spdf_exec *ex, float *out, float *att, const float *qkv, int B, int T,
                       int C, int NH)
{
    const int hs = C / NH;
    const int64_t C3 = 3 * (int64_t)C;
#pragma omp parallel for collapse(3) num_threads(ex->num_threads) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++) {
                const float *qkv_b = qkv + (int64_t)b * T * C3;
                float *att_row = att + (((int64_t)b * NH + h) * T + t) * T; /* (T) */
                attention_row(out + ((int64_t)b * T + t) * C + h * hs, att_row,
                              qkv_b + t * C3 + h * hs, qkv_b + C + h * hs, qkv_b + 2 * C + h * hs,
                              C3, t + 1, hs);
                for (int t2 = t + 1; t2 < T; t2++) att_row[t2] = 0.0f;
            }
}

/* One thread per (b, h): a head writes only its own query/key/value channels, so threads never
 * share output memory, and the keys/values it accumulates into stay in one thread. */
void attention_backward(const spdf_exec *ex, float *dqkv, float *scratch, const float *dout,
                        const float *qkv, const float *att, int B, int T, int C, int NH)
{
    const int hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
    const int64_t C3 = 3 * (int64_t)C;
#pragma omp parallel num_threads(ex->num_threads)
    {
        float *datt = scratch + (int64_t)omp_get_thread_num() * 2 * T; /* (T) */
        float *dpreatt = datt + T;                                      /* (T) */
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                for (int t = 0; t < T; t++) {
                    float *dq = dqkv + ((int64_t)b * T + t) * C3 + h * hs;
                    memset(dq, 0, sizeof(float) * hs);
                    memset(dq + C, 0, sizeof(float) * hs);
                    memset(dq + 2 * C, 0, sizeof(float) * hs);
                }
                for (int t = 0; t < T; t++) {
                    const float *att_row = att + (((int64_t)b * NH + h) * T + t) * T;
                    const float *dout_bth = dout + ((int64_t)b * T + t) * C + h * hs;
                    const float *query = qkv + ((int64_t)b * T + t) * C3 + h * hs;
                    float *dquery = dqkv + ((int64_t)b * T + t) * C3 + h * hs;
                    /* out = sum_t2 att[t2] * value[t2] */
                    float weighted = 0.0f; /* sum_t2 att[t2] * datt[t2], for the softmax */
                    for (int t2 = 0; t2 <= t; t2++) {
                        const float *value = qkv + ((int64_t)b * T + t2) * C3 + 2 * C + h * hs;
                        float *dvalue = dqkv + ((int64_t)b * T + t2) * C3 + 2 * C + h * hs;
                        float dot = 0.0f;
                        for (int i = 0; i < hs; i++) {
                            dot += value[i] * dout_bth[i];
                            dvalue[i] += att_row[t2] * dout_bth[i];
                        }
                        datt[t2] = dot;
                        weighted += att_row[t2] * dot;
                    }
                    /* softmax: dpre[t2] = att[t2] * (datt[t2] - sum_t3 att[t3] datt[t3]) */
                    for (int t2 = 0; t2 <= t; t2++)
                        dpreatt[t2] = att_row[t2] * (datt[t2] - weighted) * scale;
                    /* pre[t2] = scale * query . key[t2] */
                    for (int t2 = 0; t2 <= t; t2++) {
                        const float *key = qkv + ((int64_t)b * T + t2) * C3 + C + h * hs;
                        float *dkey = dqkv + ((int64_t)b * T + t2) * C3 + C + h * hs;
                        for (int i = 0; i < hs; i++) {
                            dquery[i] += key[i] * dpreatt[t2];
                            dkey[i] += query[i] * dpreatt[t2];
                        }
                    }
                }
            }
    }
}
