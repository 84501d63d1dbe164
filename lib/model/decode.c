/* Incremental decoding with a key/value cache: each step runs the model on one new token per
 * row, attending to the keys and values cached for the row's earlier positions.  The layers
 * and the attention row are the training forward's own, so both compute the same numbers. */
#include "core/core.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

struct decoder {
    spdf_model *model;
    int rows, max_len;
    float *keys, *values;      /* (L, rows, max_len, C) each */
    float *x, *x2, *ln;        /* (rows, C) */
    float *qkv;                /* (rows, 3C) */
    float *atty, *projection;  /* (rows, C) */
    float *fch, *fch_gelu;     /* (rows, 4C) */
    float *mean, *rstd;        /* (rows) */
    float *logits;             /* (rows, V) */
    float *att;                /* (rows * NH, max_len) attention weights scratch */
    float *reorder;            /* (rows, max_len, C) scratch for decoder_copy_rows */
};

void decoder_free(decoder *dec)
{
    if (!dec) return;
    float *buffers[] = {dec->keys, dec->values, dec->x, dec->x2, dec->ln, dec->qkv, dec->atty,
                        dec->projection, dec->fch, dec->fch_gelu, dec->mean, dec->rstd,
                        dec->logits, dec->att, dec->reorder};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) spdf_aligned_free(buffers[i]);
    free(dec);
}

spdf_status decoder_create(spdf_model *model, int rows, decoder **out)
{
    const int64_t L = model->config.num_layers, C = model->config.channels;
    const int64_t V = model->config.vocab_size, NH = model->config.num_heads;
    const int64_t T = model->config.max_seq_len;
    decoder *dec = calloc(1, sizeof *dec);
    if (!dec) return spdf_fail(SPDF_ENOMEM, "out of memory for a decoder");
    dec->model = model;
    dec->rows = rows;
    dec->max_len = (int)T;
    struct { float **slot; int64_t count; } plan[] = {
        {&dec->keys, L * rows * T * C}, {&dec->values, L * rows * T * C}, {&dec->x, rows * C},
        {&dec->x2, rows * C}, {&dec->ln, rows * C}, {&dec->qkv, rows * 3 * C},
        {&dec->atty, rows * C}, {&dec->projection, rows * C}, {&dec->fch, rows * 4 * C},
        {&dec->fch_gelu, rows * 4 * C}, {&dec->mean, rows}, {&dec->rstd, rows},
        {&dec->logits, rows * V}, {&dec->att, rows * NH * T}, {&dec->reorder, rows * T * C}};
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        *plan[i].slot = spdf_aligned_alloc((size_t)plan[i].count * sizeof(float));
        if (!*plan[i].slot) {
            decoder_free(dec);
            return spdf_fail(SPDF_ENOMEM, "out of memory for a %d-row key/value cache", rows);
        }
    }
    *out = dec;
    return SPDF_OK;
}

/* The cache of layer l, row r: (max_len, C). */
static float *cache_row(const decoder *dec, float *cache, int l, int r)
{
    const int64_t C = dec->model->config.channels;
    return cache + ((int64_t)l * dec->rows + r) * dec->max_len * C;
}

const float *decoder_step(decoder *dec, int rows, const int32_t *tokens, int pos)
{
    spdf_model *model = dec->model;
    /* One token per row is about 2 FLOPs per parameter: below ~16 MFLOP per step, starting and
     * waking a second thread for each of the step's many small loops costs more than it saves
     * (with passive waiting, every parallel region is a futex round trip). */
    spdf_exec ex = model_exec(model);
    if (2.0 * (double)model->num_params * rows < 16.0e6) ex.num_threads = 1;
    const int L = model->config.num_layers, C = model->config.channels;
    const int NH = model->config.num_heads, V = model->config.vocab_size, hs = C / NH;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < C; c++)
            dec->x[(int64_t)r * C + c] = model->w.wte[(int64_t)tokens[r] * C + c] + model->w.wpe[(int64_t)pos * C + c];
    for (int l = 0; l < L; l++) {
        const block_views *w = &model->w.blocks[l];
        layernorm_forward(&ex, dec->ln, dec->mean, dec->rstd, dec->x, w->ln1w, w->ln1b, rows, C);
        model_block_linear_forward(model, &ex, l, TENSOR_QKV_W, dec->qkv, dec->ln, rows, C, 3 * C, NULL);
        for (int r = 0; r < rows; r++) {
            memcpy(cache_row(dec, dec->keys, l, r) + (int64_t)pos * C, dec->qkv + (int64_t)r * 3 * C + C, sizeof(float) * C);
            memcpy(cache_row(dec, dec->values, l, r) + (int64_t)pos * C, dec->qkv + (int64_t)r * 3 * C + 2 * C, sizeof(float) * C);
        }
#pragma omp parallel for collapse(2) num_threads(ex.num_threads) schedule(static)
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < NH; h++)
                attention_row(dec->atty + (int64_t)r * C + h * hs, dec->att + ((int64_t)r * NH + h) * dec->max_len,
                              dec->qkv + (int64_t)r * 3 * C + h * hs, cache_row(dec, dec->keys, l, r) + h * hs,
                              cache_row(dec, dec->values, l, r) + h * hs, C, pos + 1, hs);
        const float *bias; /* fused into the next step, as in gpt_forward: the same bits */
        model_block_linear_forward(model, &ex, l, TENSOR_ATTPROJ_W, dec->projection, dec->atty, rows, C, C, &bias);
        residual_forward(&ex, dec->x2, dec->x, dec->projection, bias, rows, C);
        layernorm_forward(&ex, dec->ln, dec->mean, dec->rstd, dec->x2, w->ln2w, w->ln2b, rows, C);
        model_block_linear_forward(model, &ex, l, TENSOR_FC_W, dec->fch, dec->ln, rows, C, 4 * C, &bias);
        bias_gelu_forward(&ex, dec->fch_gelu, dec->fch, bias, rows, 4 * C);
        model_block_linear_forward(model, &ex, l, TENSOR_FCPROJ_W, dec->projection, dec->fch_gelu, rows, 4 * C, C, &bias);
        residual_forward(&ex, dec->x, dec->x2, dec->projection, bias, rows, C);
    }
    layernorm_forward(&ex, dec->ln, dec->mean, dec->rstd, dec->x, model->w.lnfw, model->w.lnfb, rows, C);
    linear_forward(&ex, dec->logits, dec->ln, model->w.wte, NULL, rows, C, V);
    return dec->logits;
}

void decoder_copy_rows(decoder *dec, const int *parents, int length)
{
    const int64_t C = dec->model->config.channels;
    const size_t bytes = (size_t)length * (size_t)C * sizeof(float);
    char *saved = (char *)dec->reorder;
    for (int l = 0; l < dec->model->config.num_layers; l++)
        for (int which = 0; which < 2; which++) {
            float *cache = which ? dec->values : dec->keys;
            for (int r = 0; r < dec->rows; r++) memcpy(saved + r * bytes, cache_row(dec, cache, l, r), bytes);
            for (int r = 0; r < dec->rows; r++) memcpy(cache_row(dec, cache, l, r), saved + parents[r] * bytes, bytes);
        }
}
