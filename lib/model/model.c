/* Creating a model: validate the configuration, lay out the parameter table, initialise as
 * GPT-2, and the introspection calls that let callers read and write tensors by name. */
#include "model/model.h"
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_CONFIG_FIRST_SIZE SPDF_SIZE_THROUGH(spdf_model_config, seed)

spdf_status spdf_model_config_init(spdf_model_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    config->vocab_size = SPDF_BYTE_VOCAB_SIZE;
    config->max_seq_len = 256;
    config->num_layers = 4;
    config->num_heads = 4;
    config->channels = 128;
    config->seed = 1337;
    return SPDF_OK;
}

static void add_tensor(spdf_model *model, tensor_kind kind, int layer)
{
    const tensor_spec *spec = tensor_spec_of(kind);
    tensor_desc *d = &model->tensors[model->num_tensors++];
    tensor_name(kind, layer, 0, d->name, sizeof d->name);
    tensor_shape(&model->config, kind, &d->shape[0], &d->shape[1]);
    d->kind = kind;
    d->ndim = spec->cols == DIM_NONE ? 1 : 2;
    d->numel = d->shape[0] * d->shape[1];
    d->stored = d->numel;
    d->offset = model->num_params;
    d->flags = (spec->decay ? SPDF_TENSOR_DECAY : 0u) | (spec->sparsifiable ? SPDF_TENSOR_SPARSIFIABLE : 0u);
    d->layer = layer;
    d->sparse_slot = -1;
    model->num_params += d->numel;
}

/* The parameter table in table order (tensor_table.h). */
static void build_tensor_table(spdf_model *model)
{
    add_tensor(model, TENSOR_WTE, -1);
    add_tensor(model, TENSOR_WPE, -1);
    for (int l = 0; l < model->config.num_layers; l++)
        for (int k = TENSOR_FIRST_BLOCK; k < TENSOR_FIRST_BLOCK + BLOCK_TENSOR_COUNT; k++)
            add_tensor(model, (tensor_kind)k, l);
    add_tensor(model, TENSOR_LNF_W, -1);
    add_tensor(model, TENSOR_LNF_B, -1);
}

static void bind_views_of(const spdf_model *model, float *base, gpt_views *v)
{
    const spdf_model_config *c = &model->config;
    const tensor_desc *t = model->tensors;
#define VIEW(kind, layer) (base + t[tensor_index(c, kind, layer)].offset)
    v->wte = VIEW(TENSOR_WTE, -1);
    v->wpe = VIEW(TENSOR_WPE, -1);
    for (int l = 0; l < c->num_layers; l++) {
        block_views *b = &v->blocks[l];
        b->ln1w = VIEW(TENSOR_LN1_W, l);
        b->ln1b = VIEW(TENSOR_LN1_B, l);
        b->qkvw = VIEW(TENSOR_QKV_W, l);
        b->qkvb = VIEW(TENSOR_QKV_B, l);
        b->attprojw = VIEW(TENSOR_ATTPROJ_W, l);
        b->attprojb = VIEW(TENSOR_ATTPROJ_B, l);
        b->ln2w = VIEW(TENSOR_LN2_W, l);
        b->ln2b = VIEW(TENSOR_LN2_B, l);
        b->fcw = VIEW(TENSOR_FC_W, l);
        b->fcb = VIEW(TENSOR_FC_B, l);
        b->fcprojw = VIEW(TENSOR_FCPROJ_W, l);
        b->fcprojb = VIEW(TENSOR_FCPROJ_B, l);
    }
    v->lnfw = VIEW(TENSOR_LNF_W, -1);
    v->lnfb = VIEW(TENSOR_LNF_B, -1);
#undef VIEW
}

void model_bind_views(spdf_model *model)
{
    bind_views_of(model, model->params, &model->w);
    bind_views_of(model, model->grads, &model->g);
}

int model_num_sparsifiable(const spdf_model *model)
{
    return SPARSIFIABLE_PER_BLOCK * model->config.num_layers;
}

const float *model_tensor_values(const spdf_model *model, int tensor)
{
    return model->params + model->tensors[tensor].offset;
}

/* GPT-2 initialisation.  Tensor i draws from Philox stream i+1 of the seed, element by element,
 * so the weights do not depend on threads and one tensor's size never shifts another's values. */
static void initialise_parameters(spdf_model *model)
{
    const double residual_std = 0.02 / sqrt(2.0 * model->config.num_layers);
    for (int i = 0; i < model->num_tensors; i++) {
        const tensor_desc *d = &model->tensors[i];
        float *p = model->params + d->offset;
        if (d->ndim == 1) { /* LayerNorm gains 1, biases 0 */
            const int gain = d->kind == TENSOR_LN1_W || d->kind == TENSOR_LN2_W || d->kind == TENSOR_LNF_W;
            const float value = gain ? 1.0f : 0.0f;
            for (int64_t k = 0; k < d->numel; k++) p[k] = value;
            continue;
        }
        const int is_residual_projection = tensor_spec_of(d->kind)->residual_projection;
        const float std = is_residual_projection ? (float)residual_std : 0.02f;
        const spdf_rng rng = {model->config.seed, (uint64_t)i + 1};
        enum { CHUNK = 4096 };
        const int64_t chunks = (d->numel + CHUNK - 1) / CHUNK;
#pragma omp parallel for num_threads(model->ctx->num_threads) schedule(static)
        for (int64_t chunk = 0; chunk < chunks; chunk++) {
            const int64_t first = chunk * CHUNK;
            const int64_t n = d->numel - first < CHUNK ? d->numel - first : CHUNK;
            spdf_rng_normal(&rng, (uint64_t)first, (size_t)n, 0.0f, std, p + first);
        }
    }
}

spdf_status spdf_model_create(spdf_context *ctx, const spdf_model_config *config, spdf_model **out)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(ctx, HANDLE_CONTEXT);
    SPDF_CHECK_ARG(config);
    SPDF_CHECK_ARG(out);
    spdf_model_config c;
    spdf_model_config_init(&c);
    SPDF_TRY(spdf_struct_read(&c, sizeof c, config, MODEL_CONFIG_FIRST_SIZE, "spdf_model_config"));
    SPDF_TRY(model_config_validate(&c));
    spdf_model *model = calloc(1, sizeof *model);
    if (model) model->tag = HANDLE_MODEL;
    if (!model) return spdf_fail(SPDF_ENOMEM, "out of memory for a model");
    model->ctx = ctx;
    model->sparse_memory = SPDF_SPARSE_MEMORY_KEEP; /* the transition only moves data */
    spdf_sparse_plan_config_init(&model->sparse_plan);
    model->config = c;
    model->dropout.seed = c.seed; /* rates 0: no dropout until spdf_model_set_dropout */
    const int L = c.num_layers;
    model->tensors = calloc((size_t)tensor_count(&c), sizeof *model->tensors);
    model->w.blocks = calloc((size_t)L, sizeof(block_views));
    model->g.blocks = calloc((size_t)L, sizeof(block_views));
    if (!model->tensors || !model->w.blocks || !model->g.blocks) goto out_of_memory;
    build_tensor_table(model);
    size_t bytes;
    if (spdf_mul_size((size_t)model->num_params, sizeof(float), &bytes) != 0) goto out_of_memory;
    model->num_stored = model->num_params;
    model->phase = SPDF_PHASE_DENSE;
    model->params = spdf_reserve(bytes);
    model->grads = spdf_reserve(bytes);
    if (!model->params || !model->grads) goto out_of_memory;
    model_bind_views(model);
    initialise_parameters(model);
    *out = model;
    return SPDF_OK;

out_of_memory:
    spdf_model_free(model);
    return spdf_fail(SPDF_ENOMEM, "out of memory for a model of %lld parameters",
                     (long long)model->num_params);
}

void spdf_model_free(spdf_model *model)
{
    if (!spdf_handle_is(model, HANDLE_MODEL)) return; /* NULL, freed, or not a model */
    spdf_aligned_free(model->acts.memory);
    free(model->acts.tokens);
    free(model->acts.targets);
    model_release_sparse(model);
    spdf_reserve_free(model->params, (size_t)model->num_params * sizeof(float));
    spdf_reserve_free(model->grads, (size_t)model->num_params * sizeof(float));
    free(model->w.blocks);
    free(model->g.blocks);
    free(model->tensors);
    spdf_handle_poison(model);
    free(model);
}

spdf_status spdf_model_get_config(const spdf_model *model, spdf_model_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(config);
    return spdf_struct_write(config, &model->config, sizeof model->config, MODEL_CONFIG_FIRST_SIZE,
                             "spdf_model_config");
}

spdf_status spdf_model_num_params(const spdf_model *model, int64_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(count);
    *count = model->num_params;
    return SPDF_OK;
}

spdf_status spdf_model_num_tensors(const spdf_model *model, int32_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(count);
    *count = model->num_tensors;
    return SPDF_OK;
}

static spdf_status check_tensor_index(const spdf_model *model, int32_t index)
{
    if (index < 0 || index >= model->num_tensors)
        return spdf_fail(SPDF_EINVAL, "tensor index %d out of range [0, %d)", (int)index,
                         model->num_tensors);
    return SPDF_OK;
}

spdf_status spdf_model_tensor_info(const spdf_model *model, int32_t index, spdf_tensor_info *info)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(info);
    SPDF_TRY(check_tensor_index(model, index));
    const tensor_desc *d = &model->tensors[index];
    const spdf_tensor_info result = {
        .struct_size = sizeof result,
        .name = d->name,
        .ndim = d->ndim,
        .flags = d->flags,
        .shape = {d->shape[0], d->shape[1], 1, 1},
        .numel = d->numel,
        .layer = d->layer,
    };
    return spdf_struct_write(info, &result, sizeof result, SPDF_SIZE_THROUGH(spdf_tensor_info, reserved),
                             "spdf_tensor_info");
}

spdf_status spdf_model_tensor_find(const spdf_model *model, const char *name, int32_t *index)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(name);
    SPDF_CHECK_ARG(index);
    for (int i = 0; i < model->num_tensors; i++)
        if (strcmp(model->tensors[i].name, name) == 0) {
            *index = i;
            return SPDF_OK;
        }
    return spdf_fail(SPDF_EINVAL, "the model has no tensor named \"%s\"", name);
}

static spdf_status check_tensor_copy(const spdf_model *model, int32_t index, const void *buffer,
                                     int64_t count)
{
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(buffer);
    SPDF_TRY(check_tensor_index(model, index));
    if (count != model->tensors[index].numel)
        return spdf_fail(SPDF_EINVAL, "tensor \"%s\" has %lld elements, count is %lld",
                         model->tensors[index].name, (long long)model->tensors[index].numel,
                         (long long)count);
    return SPDF_OK;
}

/* Dense view of a stored tensor: values as they are, or scattered from the non-zeros. */
static void read_dense(const spdf_model *model, const float *array, int index, float *dst)
{
    const tensor_desc *d = &model->tensors[index];
    const float *src = array + d->offset;
    if (d->sparse_slot < 0) {
        memcpy(dst, src, (size_t)d->numel * sizeof(float));
        return;
    }
    const sparse_weight *w = &model->sparse[d->sparse_slot];
    const sparsity_pattern *m = &w->pattern;
    memset(dst, 0, (size_t)d->numel * sizeof(float));
    for (int64_t r = 0; r < m->rows; r++)
        for (int32_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++)
            dst[r * m->cols + m->col_idx[k]] = src[sparse_slot_of(w, k)];
}

spdf_status spdf_model_tensor_read(const spdf_model *model, int32_t index, float *dst, int64_t count)
{
    spdf_clear_error();
    SPDF_TRY(check_tensor_copy(model, index, dst, count));
    read_dense(model, model->params, index, dst);
    return SPDF_OK;
}

/* While a mask stores the tensor compactly, masked positions must be written as 0. */
spdf_status spdf_model_tensor_write(spdf_model *model, int32_t index, const float *src, int64_t count)
{
    spdf_clear_error();
    SPDF_TRY(check_tensor_copy(model, index, src, count));
    const tensor_desc *d = &model->tensors[index];
    float *dst = model->params + d->offset;
    if (d->sparse_slot < 0) {
        memcpy(dst, src, (size_t)count * sizeof(float));
        return SPDF_OK;
    }
    const sparse_weight *w = &model->sparse[d->sparse_slot];
    const sparsity_pattern *m = &w->pattern;
    for (int64_t r = 0, k = 0; r < m->rows; r++)
        for (int64_t c = 0; c < m->cols; c++) {
            const int on_mask = k < m->row_ptr[r + 1] && m->col_idx[k] == c;
            if (on_mask) k++;
            else if (src[r * m->cols + c] != 0.0f)
                return spdf_fail(SPDF_EINVAL, "%s[%lld, %lld] is masked and must be 0 in the sparse "
                                 "phase, got %g", d->name, (long long)r, (long long)c,
                                 (double)src[r * m->cols + c]);
        }
    for (int64_t r = 0; r < m->rows; r++)
        for (int32_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++)
            dst[sparse_slot_of(w, k)] = src[r * m->cols + m->col_idx[k]];
    return SPDF_OK;
}

spdf_status spdf_model_tensor_grad_read(const spdf_model *model, int32_t index, float *dst,
                                        int64_t count)
{
    spdf_clear_error();
    SPDF_TRY(check_tensor_copy(model, index, dst, count));
    read_dense(model, model->grads, index, dst);
    return SPDF_OK;
}

spdf_status spdf_model_tensor_data(spdf_model *model, int32_t index, float **data)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(data);
    SPDF_TRY(check_tensor_index(model, index));
    if (model->tensors[index].sparse_slot >= 0)
        return spdf_fail(SPDF_ESTATE, "tensor \"%s\" is stored compactly under a mask: use "
                         "spdf_model_tensor_read/write", model->tensors[index].name);
    *data = model->params + model->tensors[index].offset;
    return SPDF_OK;
}

/* The arguments of a forward pass, checked. */
static spdf_status check_forward(const spdf_model *model, const int32_t *tokens,
                                 const int32_t *targets, const float *loss_weights, int32_t B,
                                 int32_t T, const float *loss)
{
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(tokens);
    SPDF_CHECK_ARG(!targets || loss);
    if (B < 1 || T < 1 || T > model->config.max_seq_len)
        return spdf_fail(SPDF_EINVAL, "batch shape (B=%d, T=%d) invalid: need B >= 1 and "
                         "1 <= T <= max_seq_len (%d)", (int)B, (int)T, (int)model->config.max_seq_len);
    if ((int64_t)B * T > INT32_MAX / 4)
        return spdf_fail(SPDF_EINVAL, "batch of %lld tokens is too large", (long long)B * T);
    const int V = model->config.vocab_size;
    for (int64_t i = 0; i < (int64_t)B * T; i++) {
        if (tokens[i] < 0 || tokens[i] >= V)
            return spdf_fail(SPDF_EINVAL, "tokens[%lld] = %d is outside the vocabulary [0, %d)",
                             (long long)i, (int)tokens[i], V);
        if (targets && (targets[i] < 0 || targets[i] >= V))
            return spdf_fail(SPDF_EINVAL, "targets[%lld] = %d is outside the vocabulary [0, %d)",
                             (long long)i, (int)targets[i], V);
    }
    if (targets && loss_weights) {
        double total = 0.0;
        for (int64_t i = 0; i < (int64_t)B * T; i++) {
            if (!(loss_weights[i] >= 0.0f) || isinf(loss_weights[i]))
                return spdf_fail(SPDF_EINVAL, "loss_weights[%lld] = %g must be finite and >= 0",
                                 (long long)i, (double)loss_weights[i]);
            total += loss_weights[i];
        }
        if (total <= 0.0) return spdf_fail(SPDF_EINVAL, "loss_weights are all zero");
    }
    return SPDF_OK;
}

/* A training pass (with targets) that drops takes the counter's value and advances it. */
spdf_status spdf_model_forward(spdf_model *model, const int32_t *tokens, const int32_t *targets,
                               const float *loss_weights, int32_t B, int32_t T, float *loss)
{
    spdf_clear_error();
    SPDF_TRY(check_forward(model, tokens, targets, loss_weights, B, T, loss));
    model->generated = 0;
    if (!targets || !model_dropout_active(&model->dropout))
        return gpt_forward(model, tokens, targets, loss_weights, B, T, loss);
    const model_dropout drop = model->dropout;
    model->dropout.forwards++;
    return gpt_forward_dropout(model, tokens, targets, loss_weights, B, T, &drop, loss);
}

spdf_status spdf_model_forward_eval(spdf_model *model, const int32_t *tokens,
                                    const int32_t *targets, const float *loss_weights, int32_t B,
                                    int32_t T, float *loss)
{
    spdf_clear_error();
    SPDF_TRY(check_forward(model, tokens, targets, loss_weights, B, T, loss));
    model->generated = 0;
    return gpt_forward(model, tokens, targets, loss_weights, B, T, loss);
}

void model_forget_activations(spdf_model *model)
{
    model->B = model->T = 0;
    model->has_targets = 0;
    model->generated = 1;
}

spdf_status spdf_model_logits(const spdf_model *model, const float **logits, int32_t *B, int32_t *T,
                              int32_t *V)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(logits);
    if (model->B == 0 && model->generated)
        return spdf_fail(SPDF_ESTATE, "no logits: spdf_generate overwrote the activations of the last "
                         "forward pass (run spdf_model_forward again)");
    if (model->B == 0) return spdf_fail(SPDF_ESTATE, "no forward pass has run yet");
    *logits = model->acts.logits;
    if (B) *B = model->B;
    if (T) *T = model->T;
    if (V) *V = model->config.vocab_size;
    return SPDF_OK;
}

spdf_status spdf_model_backward(spdf_model *model)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    if (!model->has_targets)
        return spdf_fail(SPDF_ESTATE, "backward needs a preceding forward pass with targets, "
                         "one backward per forward");
    model_commit_kept_pages(model); /* a sparse model under KEEP starts training: see storage.c */
    gpt_backward(model);
    model->has_targets = 0; /* the backward pass consumed the saved attention weights */
    model->has_gradients = 1;
    return SPDF_OK;
}

/* Index of the first non-finite value of a[0..n), or -1. */
static int64_t first_non_finite(const float *a, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(a[i])) return i;
    return -1;
}

spdf_status model_check_finite(const spdf_model *model, float *const *moments, int num_moments,
                               const char *kind, const char *path)
{
    for (int k = -1; k < num_moments; k++) {
        const float *array = k < 0 ? model->params : moments[k];
        for (int i = 0; i < model->num_tensors; i++) {
            const tensor_desc *d = &model->tensors[i];
            const int64_t at = first_non_finite(array + d->offset, d->stored);
            if (at < 0) continue;
            return spdf_fail(SPDF_EFORMAT, "%s '%s': %s %s holds a non-finite value (%g) at "
                             "stored element %lld", kind, path,
                             k < 0 ? "tensor" : k == 0 ? "the first AdamW moment of" :
                                                         "the second AdamW moment of",
                             d->name, (double)array[d->offset + at], (long long)at);
        }
    }
    return SPDF_OK;
}

spdf_status spdf_model_zero_grad(spdf_model *model)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    memset(model->grads, 0, (size_t)model->num_stored * sizeof(float));
    model->has_gradients = 0;
    return SPDF_OK;
}
