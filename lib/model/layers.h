/* The layers of the GPT-2 decoder, each as a forward and a backward function over plain arrays.
 * Shapes are in comments as (B,T,C); N = B*T rows.  Backward functions say which outputs they
 * overwrite and which they accumulate (+=) into; parameter gradients always accumulate. */
#ifndef SPDF_LAYERS_H
#define SPDF_LAYERS_H

#include "backend/backend.h"
#include "core/core.h"

#include <stdint.h>

/* Which backend computes and with how many threads; passed to every layer. */
typedef struct spdf_exec {
    const spdf_backend_ops *ops;
    int num_threads;
} spdf_exec;

/* A dropout mask: element i of a tensor is kept (and scaled by `scale`, 1 / (1 - p)) when word i
 * of the Philox stream `rng` is >= threshold (spdf_rng_dropout); drawn again for backward. */
typedef struct dropout_mask {
    spdf_rng rng;
    uint32_t threshold;
    float scale;
} dropout_mask;

/* encoder.c: token + position embeddings. */
void encoder_forward(const spdf_exec *ex, float *out /* (B,T,C) */, const int32_t *tokens /* (B,T) */,
                     const float *wte /* (V,C) */, const float *wpe /* (maxT,C) */, int B, int T,
                     int C);
void encoder_backward(const spdf_exec *ex, float *dwte /* (V,C) += */, float *dwpe /* (maxT,C) += */,
                      const float *dout /* (B,T,C) */, const int32_t *tokens, int B, int T, int C);

/* layernorm.c: y = (x - mean) * rstd * weight + bias over the last dimension. */
void layernorm_forward(const spdf_exec *ex, float *out /* (N,C) */, float *mean /* (N) */,
                       float *rstd /* (N) */, const float *inp /* (N,C) */, const float *weight,
                       const float *bias, int64_t N, int C);
void layernorm_backward(const spdf_exec *ex, float *dinp /* (N,C) += */, float *dweight /* += */,
                        float *dbias /* += */, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int64_t N,
                        int C);

/* linear.c: out = inp W^T + bias with W (OC,C); bias may be NULL. */
void linear_forward(const spdf_exec *ex, float *out /* (N,OC) */, const float *inp /* (N,C) */,
                    const float *weight /* (OC,C) */, const float *bias /* (OC) */, int64_t N,
                    int C, int OC);
/* dinp is overwritten (it may be NULL to skip it); dweight and dbias accumulate. */
void linear_backward(const spdf_exec *ex, float *dinp /* (N,C) = */, float *dweight /* (OC,C) += */,
                     float *dbias /* (OC) += or NULL */, const float *dout /* (N,OC) */,
                     const float *inp, const float *weight, int64_t N, int C, int OC);

/* The same layer with a sparse W stored as its non-zeros `values` in the order the backend's
 * prepared `kernel` reads; dvalues accumulates the gradient at the non-zeros only. */
void sparse_linear_forward(const spdf_exec *ex, const void *kernel, float *out /* (N,OC) */,
                           const float *inp /* (N,C) */, const float *values /* (nnz) */,
                           const float *bias /* (OC) or NULL */, int64_t N, int OC);
void sparse_linear_backward(const spdf_exec *ex, const void *kernel, float *dinp /* (N,C) = */,
                            float *dvalues /* (nnz) += */, float *dbias /* (OC) += */,
                            const float *dout /* (N,OC) */, const float *inp, const float *values,
                            int64_t N, int OC);

/* attention.c: causal multi-head self-attention over a fused (q,k,v) input.  Both passes need
 * attention_scratch_floats() floats of scratch. */
int64_t attention_scratch_floats(int num_threads, int T, int C, int NH);
void attention_forward(const spdf_exec *ex, float *out /* (B,T,C) */,
                       float *att /* (B,NH,T,T) softmax weights, kept for backward */,
                       float *scratch, const float *qkv /* (B,T,3C) */, int B, int T, int C,
                       int NH);
/* One query over n cached keys/values `stride` floats apart: att (n) weights, out (hs); the
 * same arithmetic as attention_forward, so a KV-cache decoder gets the same bits. */
void attention_row(float *out, float *att, const float *query, const float *keys,
                   const float *values, int64_t stride, int n, int hs);
/* dqkv is overwritten; att is consumed (overwritten with the score gradients). */
void attention_backward(const spdf_exec *ex, float *dqkv /* (B,T,3C) = */, float *scratch,
                        const float *dout /* (B,T,C) */, const float *qkv, float *att, int B,
                        int T, int C, int NH);
/* The same with dropout on the softmax weights (element ((b * NH + h) * T + t) * T + t2 of the
 * mask): att still receives the weights before dropout.  drop may be NULL (no dropout); when
 * not, the scratch holds attention_dropout_scratch_floats() floats. */
int64_t attention_dropout_scratch_floats(int num_threads, int T, int C, int NH);
void attention_forward_dropout(const spdf_exec *ex, float *out, float *att, float *scratch,
                               const float *qkv, int B, int T, int C, int NH,
                               const dropout_mask *drop);
void attention_backward_dropout(const spdf_exec *ex, float *dqkv, float *scratch,
                                const float *dout, const float *qkv, float *att, int B, int T,
                                int C, int NH, const dropout_mask *drop);

/* gelu.c: GELU, tanh approximation (as GPT-2). dinp is overwritten. */
void gelu_forward(const spdf_exec *ex, float *out, const float *inp, int64_t N);
void gelu_backward(const spdf_exec *ex, float *dinp, const float *inp, const float *dout, int64_t N);
/* With the preceding linear layer's bias fused in: pre (N,C) += bias, then out = gelu(pre). */
void bias_gelu_forward(const spdf_exec *ex, float *out /* (N,C) */, float *pre /* (N,C) += bias */,
                       const float *bias /* (C) */, int64_t N, int C);

/* residual.c: out = residual + (x + bias), bias (C) or NULL; the branch's output projection
 * leaves its bias to it.  Its backward is the identity, done by sharing buffers in gpt.c. */
void residual_forward(const spdf_exec *ex, float *out /* (N,C) */, const float *residual,
                      const float *x, const float *bias, int64_t N, int C);
/* Residual dropout: x (N,C) = dropout(x + bias) in place, element r * C + c of the mask, before
 * residual_forward adds it (without a bias).  bias may be NULL. */
void residual_dropout(const spdf_exec *ex, float *x, const float *bias, int64_t N, int C,
                      const dropout_mask *drop);
/* x (n) = dropout(x) in place, element i of the mask: a mask's forward and, on the gradient,
 * its backward. */
void dropout_apply(const spdf_exec *ex, float *x, int64_t n, const dropout_mask *drop);

/* crossentropy.c: per-row loss from logits; weights (N) are the normalised loss weights
 * w_i / sum(w), so the mean loss is sum_i weights_i * losses_i. */
void crossentropy_forward(const spdf_exec *ex, float *losses /* (N) */,
                          float *logsumexp /* (N) */, const float *logits /* (N,V) */,
                          const int32_t *targets /* (N) */, int64_t N, int V);
/* dlogits (N,V) is overwritten with weights_i * (softmax - onehot(target)). */
void crossentropy_backward(const spdf_exec *ex, float *dlogits, const float *logits,
                           const float *logsumexp, const int32_t *targets, const float *weights,
                           int64_t N, int V);

/* Column reductions shared by the backward passes, deterministic for any thread count:
 * dst[c] += sum_r a[r,c] (b == NULL) or sum_r a[r,c] * b[r,c]. */
void column_sum_accumulate(const spdf_exec *ex, float *dst /* (C) */, const float *a /* (N,C) */,
                           const float *b /* (N,C) or NULL */, int64_t N, int C);

#endif
