/* The GPT-2 forward and backward passes: the layers of layers.h called in order over the
 * activation buffers.  Shapes: B batch, T time, C channels, NH heads, V vocabulary, L layers. */
#include "model/model.h"
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Carves the activation buffers for a (B,T) batch out of one allocation, growing it when the
 * batch needs more.  With memory == NULL it only counts. */
static size_t layout_activations(const spdf_model *model, int B, int T, float *memory,
                                 gpt_activations *a)
{
    const int64_t L = model->config.num_layers, C = model->config.channels;
    const int64_t NH = model->config.num_heads, V = model->config.vocab_size;
    const int64_t BT = (int64_t)B * T;
    size_t used = 0;
#define CARVE(field, count)                                                  \
    do {                                                                     \
        a->field = memory ? memory + used : NULL;                            \
        used += ((size_t)(count) + 15) / 16 * 16; /* keep 64-byte alignment */ \
    } while (0)
    CARVE(encoded, BT * C);
    CARVE(ln1, L * BT * C);
    CARVE(ln1_mean, L * BT);
    CARVE(ln1_rstd, L * BT);
    CARVE(qkv, L * BT * 3 * C);
    CARVE(atty, L * BT * C);
    CARVE(att, L * B * NH * T * T);
    CARVE(residual2, L * BT * C);
    CARVE(ln2, L * BT * C);
    CARVE(ln2_mean, L * BT);
    CARVE(ln2_rstd, L * BT);
    CARVE(fch, L * BT * 4 * C);
    CARVE(fch_gelu, L * BT * 4 * C);
    CARVE(residual3, L * BT * C);
    CARVE(lnf, BT * C);
    CARVE(lnf_mean, BT);
    CARVE(lnf_rstd, BT);
    CARVE(logits, BT * V);
    CARVE(logsumexp, BT);
    CARVE(losses, BT);
    CARVE(weights, BT);
    CARVE(projection, BT * C);
    CARVE(dresidual, BT * C);
    CARVE(dln, BT * C);
    CARVE(dqkv, BT * 3 * C);
    CARVE(dfch, BT * 4 * C);
    CARVE(dfch_gelu, BT * 4 * C);
    CARVE(dlogits, BT * V);
    CARVE(attention_scratch, model->drawn.attention > 0
                                 ? attention_dropout_scratch_floats(model->ctx->num_threads, T, C, NH)
                                 : attention_scratch_floats(model->ctx->num_threads, T, C, NH));
#undef CARVE
    return used;
}

static spdf_status ensure_activations(spdf_model *model, int B, int T)
{
    gpt_activations *a = &model->acts;
    const size_t needed = layout_activations(model, B, T, NULL, a);
    const size_t bt = (size_t)B * T;
    if (needed > a->capacity) {
        spdf_aligned_free(a->memory);
        a->capacity = 0;
        a->memory = spdf_aligned_alloc(needed * sizeof(float));
        if (!a->memory)
            return spdf_fail(SPDF_ENOMEM, "out of memory for activations of a (%d, %d) batch "
                             "(%zu MiB)", B, T, needed * sizeof(float) >> 20);
        a->capacity = needed;
    }
    if (model->B * model->T < (int64_t)bt || !a->tokens) {
        free(a->tokens);
        free(a->targets);
        a->tokens = malloc(bt * sizeof(int32_t));
        a->targets = malloc(bt * sizeof(int32_t));
        if (!a->tokens || !a->targets)
            return spdf_fail(SPDF_ENOMEM, "out of memory for a (%d, %d) batch", B, T);
    }
    layout_activations(model, B, T, a->memory, a);
    return SPDF_OK;
}

/* Table index of block l's linear weight `which` (TENSOR_QKV_W, ...); its bias is the next. */
static int block_weight_index(const spdf_model *model, int l, tensor_kind which)
{
    return tensor_index(&model->config, which, l);
}

/* A block's linear layer: dense through GEMM, or through the backend's sparse kernels while a
 * mask stores the weight compactly.  The bias is added here when bias_left is NULL; otherwise
 * *bias_left receives it for the next layer to fuse in. */
void model_block_linear_forward(const spdf_model *model, const spdf_exec *ex, int l, tensor_kind which,
                                float *out, const float *inp, int64_t N, int C, int OC,
                                const float **bias_left)
{
    const tensor_desc *d = &model->tensors[block_weight_index(model, l, which)];
    const float *weight = model->params + d->offset, *bias = model->params + d[1].offset;
    if (bias_left) *bias_left = bias;
    const float *added = bias_left ? NULL : bias;
    if (d->sparse_slot >= 0)
        sparse_linear_forward(ex, model->sparse[d->sparse_slot].kernel, out, inp, weight, added, N, OC);
    else
        linear_forward(ex, out, inp, weight, added, N, C, OC);
}

/* Backward of a block's linear layer, its bias gradient included. */
static void block_linear_backward(const spdf_model *model, const spdf_exec *ex, int l,
                                  tensor_kind which,
                                  float *dinp, const float *dout, const float *inp, int64_t N,
                                  int C, int OC)
{
    const tensor_desc *d = &model->tensors[block_weight_index(model, l, which)];
    const float *weight = model->params + d->offset;
    float *dweight = model->grads + d->offset, *dbias = model->grads + d[1].offset;
    if (d->sparse_slot >= 0)
        sparse_linear_backward(ex, model->sparse[d->sparse_slot].kernel, dinp, dweight, dbias, dout,
                               inp, weight, N, OC);
    else
        linear_backward(ex, dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}

spdf_status gpt_forward(spdf_model *model, const int32_t *tokens, const int32_t *targets,
                        const float *loss_weights, int B, int T, float *loss)
{
    const model_dropout none = {0};
    return gpt_forward_dropout(model, tokens, targets, loss_weights, B, T, &none, loss);
}

spdf_status gpt_forward_dropout(spdf_model *model, const int32_t *tokens, const int32_t *targets,
                                const float *loss_weights, int B, int T,
                                const model_dropout *drop, float *loss)
{
    model->has_targets = 0;
    model->B = model->T = 0;
    model->drawn = *drop; /* before the layout: attention dropout needs more scratch */
    SPDF_TRY(ensure_activations(model, B, T));
    model->B = B;
    model->T = T;
    const spdf_exec ex = model_exec(model);
    const int L = model->config.num_layers, C = model->config.channels;
    const int NH = model->config.num_heads, V = model->config.vocab_size;
    const int64_t BT = (int64_t)B * T;
    gpt_activations *a = &model->acts;
    memcpy(a->tokens, tokens, (size_t)BT * sizeof(int32_t));

    encoder_forward(&ex, a->encoded, tokens, model->w.wte, model->w.wpe, B, T, C);
    if (drop->embedding > 0) {
        const dropout_mask mask = model_dropout_mask(drop, drop->embedding, -1, 0);
        dropout_apply(&ex, a->encoded, BT * C, &mask);
    }
    const float *residual = a->encoded;
    for (int l = 0; l < L; l++) {
        const block_views *w = &model->w.blocks[l];
        float *ln1 = a->ln1 + l * BT * C, *ln1_mean = a->ln1_mean + l * BT;
        float *ln1_rstd = a->ln1_rstd + l * BT, *qkv = a->qkv + l * BT * 3 * C;
        float *atty = a->atty + l * BT * C, *att = a->att + (int64_t)l * B * NH * T * T;
        float *residual2 = a->residual2 + l * BT * C, *ln2 = a->ln2 + l * BT * C;
        float *ln2_mean = a->ln2_mean + l * BT, *ln2_rstd = a->ln2_rstd + l * BT;
        float *fch = a->fch + l * BT * 4 * C, *fch_gelu = a->fch_gelu + l * BT * 4 * C;
        float *residual3 = a->residual3 + l * BT * C;

        layernorm_forward(&ex, ln1, ln1_mean, ln1_rstd, residual, w->ln1w, w->ln1b, BT, C);
        const float *bias;
        model_block_linear_forward(model, &ex, l, TENSOR_QKV_W, qkv, ln1, BT, C, 3 * C, NULL);
        const dropout_mask attention_mask = model_dropout_mask(drop, drop->attention, l, DROPOUT_ATTENTION);
        attention_forward_dropout(&ex, atty, att, a->attention_scratch, qkv, B, T, C, NH,
                                  drop->attention > 0 ? &attention_mask : NULL);
        model_block_linear_forward(model, &ex, l, TENSOR_ATTPROJ_W, a->projection, atty, BT, C, C, &bias);
        if (drop->residual > 0) {
            const dropout_mask mask = model_dropout_mask(drop, drop->residual, l, DROPOUT_ATTENTION_PROJECTION);
            residual_dropout(&ex, a->projection, bias, BT, C, &mask);
            bias = NULL;
        }
        residual_forward(&ex, residual2, residual, a->projection, bias, BT, C);
        layernorm_forward(&ex, ln2, ln2_mean, ln2_rstd, residual2, w->ln2w, w->ln2b, BT, C);
        model_block_linear_forward(model, &ex, l, TENSOR_FC_W, fch, ln2, BT, C, 4 * C, &bias);
        bias_gelu_forward(&ex, fch_gelu, fch, bias, BT, 4 * C);
        model_block_linear_forward(model, &ex, l, TENSOR_FCPROJ_W, a->projection, fch_gelu, BT, 4 * C,
                                   C, &bias);
        if (drop->residual > 0) {
            const dropout_mask mask = model_dropout_mask(drop, drop->residual, l, DROPOUT_MLP_PROJECTION);
            residual_dropout(&ex, a->projection, bias, BT, C, &mask);
            bias = NULL;
        }
        residual_forward(&ex, residual3, residual2, a->projection, bias, BT, C);
        residual = residual3;
    }
    layernorm_forward(&ex, a->lnf, a->lnf_mean, a->lnf_rstd, residual, model->w.lnfw,
                      model->w.lnfb, BT, C);
    linear_forward(&ex, a->logits, a->lnf, model->w.wte, NULL, BT, C, V); /* tied LM head */
    if (!targets) return SPDF_OK;

    memcpy(a->targets, targets, (size_t)BT * sizeof(int32_t));
    double weight_total = 0.0;
    for (int64_t i = 0; i < BT; i++) weight_total += loss_weights ? loss_weights[i] : 1.0;
    for (int64_t i = 0; i < BT; i++)
        a->weights[i] = (float)((loss_weights ? loss_weights[i] : 1.0) / weight_total);
    crossentropy_forward(&ex, a->losses, a->logsumexp, a->logits, targets, BT, V);
    double mean = 0.0; /* sequential sum: the same bits for any thread count */
    for (int64_t i = 0; i < BT; i++)
        if (a->weights[i] != 0.0f) mean += (double)a->weights[i] * a->losses[i];
    if (!isfinite(mean)) return spdf_fail(SPDF_ENUMERIC, "the loss is not finite (%g)", mean);
    *loss = (float)mean;
    model->has_targets = 1;
    return SPDF_OK;
}

void gpt_backward(spdf_model *model)
{
    const spdf_exec ex = model_exec(model);
    const int B = model->B, T = model->T;
    const int L = model->config.num_layers, C = model->config.channels;
    const int NH = model->config.num_heads, V = model->config.vocab_size;
    const int64_t BT = (int64_t)B * T;
    gpt_activations *a = &model->acts;
    const model_dropout *drop = &model->drawn;

    crossentropy_backward(&ex, a->dlogits, a->logits, a->logsumexp, a->targets, a->weights, BT, V);
    linear_backward(&ex, a->dln, model->g.wte, NULL, a->dlogits, a->lnf, model->w.wte, BT, C, V);
    const float *last_residual = a->residual3 + (int64_t)(L - 1) * BT * C;
    memset(a->dresidual, 0, (size_t)(BT * C) * sizeof(float));
    layernorm_backward(&ex, a->dresidual, model->g.lnfw, model->g.lnfb, a->dln, last_residual,
                       model->w.lnfw, a->lnf_mean, a->lnf_rstd, BT, C);

    /* dresidual carries the gradient of the residual stream down through the blocks: the skip
     * connections pass it through unchanged, the branches add to it. */
    for (int l = L - 1; l >= 0; l--) {
        const block_views *w = &model->w.blocks[l];
        const block_views *g = &model->g.blocks[l];
        const float *residual = l == 0 ? a->encoded : a->residual3 + (int64_t)(l - 1) * BT * C;
        const float *ln1 = a->ln1 + l * BT * C, *ln1_mean = a->ln1_mean + l * BT;
        const float *ln1_rstd = a->ln1_rstd + l * BT, *qkv = a->qkv + l * BT * 3 * C;
        const float *atty = a->atty + l * BT * C;
        float *att = a->att + (int64_t)l * B * NH * T * T; /* consumed by attention_backward */
        const float *residual2 = a->residual2 + l * BT * C, *ln2 = a->ln2 + l * BT * C;
        const float *ln2_mean = a->ln2_mean + l * BT, *ln2_rstd = a->ln2_rstd + l * BT;
        const float *fch = a->fch + l * BT * 4 * C, *fch_gelu = a->fch_gelu + l * BT * 4 * C;

        /* With residual dropout each branch's output gradient is the residual stream's under the
         * branch's mask, in the forward pass's scratch. */
        const float *dbranch = a->dresidual;
        if (drop->residual > 0) {
            const dropout_mask mask = model_dropout_mask(drop, drop->residual, l, DROPOUT_MLP_PROJECTION);
            memcpy(a->projection, a->dresidual, (size_t)(BT * C) * sizeof(float));
            dropout_apply(&ex, a->projection, BT * C, &mask);
            dbranch = a->projection;
        }
        /* MLP branch: residual3 = residual2 + fcproj(gelu(fc(ln2(residual2)))) */
        block_linear_backward(model, &ex, l, TENSOR_FCPROJ_W, a->dfch_gelu, dbranch, fch_gelu,
                              BT, 4 * C, C);
        gelu_backward(&ex, a->dfch, fch, a->dfch_gelu, BT * 4 * C);
        block_linear_backward(model, &ex, l, TENSOR_FC_W, a->dln, a->dfch, ln2, BT, C, 4 * C);
        layernorm_backward(&ex, a->dresidual, g->ln2w, g->ln2b, a->dln, residual2, w->ln2w,
                           ln2_mean, ln2_rstd, BT, C);
        /* attention branch: residual2 = residual + attproj(attention(qkv(ln1(residual)))) */
        if (drop->residual > 0) {
            const dropout_mask mask = model_dropout_mask(drop, drop->residual, l, DROPOUT_ATTENTION_PROJECTION);
            memcpy(a->projection, a->dresidual, (size_t)(BT * C) * sizeof(float));
            dropout_apply(&ex, a->projection, BT * C, &mask);
        }
        block_linear_backward(model, &ex, l, TENSOR_ATTPROJ_W, a->dln, dbranch, atty, BT, C, C);
        const dropout_mask attention_mask = model_dropout_mask(drop, drop->attention, l, DROPOUT_ATTENTION);
        attention_backward_dropout(&ex, a->dqkv, a->attention_scratch, a->dln, qkv, att, B, T, C, NH,
                                   drop->attention > 0 ? &attention_mask : NULL);
        block_linear_backward(model, &ex, l, TENSOR_QKV_W, a->dln, a->dqkv, ln1, BT, C, 3 * C);
        layernorm_backward(&ex, a->dresidual, g->ln1w, g->ln1b, a->dln, residual, w->ln1w,
                           ln1_mean, ln1_rstd, BT, C);
    }
    if (drop->embedding > 0) {
        const dropout_mask mask = model_dropout_mask(drop, drop->embedding, -1, 0);
        dropout_apply(&ex, a->dresidual, BT * C, &mask);
    }
    encoder_backward(&ex, model->g.wte, model->g.wpe, a->dresidual, a->tokens, B, T, C);
}
