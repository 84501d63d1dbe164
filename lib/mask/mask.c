/* Creating masks: uniform random with an exact count per layer (the SPDF paper's), magnitude
 * (per layer or one global threshold) and ERK densities.  Every random choice comes from a
 * Philox stream per layer, so a mask depends only on the seed, never on threads. */
#include "mask/mask.h"
#include "core/core.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

spdf_status spdf_mask_config_init(spdf_mask_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    config->method = SPDF_MASK_RANDOM;
    config->scope = SPDF_MASK_PER_LAYER;
    config->sparsity = 0.75f;
    config->seed = 1;
    return SPDF_OK;
}

void mask_layer_clear(mask_layer *layer)
{
    free(layer->row_ptr);
    free(layer->col_idx);
    layer->row_ptr = layer->col_idx = NULL;
}

spdf_status mask_layer_copy(mask_layer *dst, const mask_layer *src)
{
    *dst = *src;
    dst->row_ptr = malloc(sizeof(int32_t) * (size_t)(src->rows + 1));
    dst->col_idx = malloc(sizeof(int32_t) * (size_t)(src->nnz > 0 ? src->nnz : 1));
    if (!dst->row_ptr || !dst->col_idx) {
        mask_layer_clear(dst);
        return spdf_fail(SPDF_ENOMEM, "out of memory copying a mask layer");
    }
    memcpy(dst->row_ptr, src->row_ptr, sizeof(int32_t) * (size_t)(src->rows + 1));
    memcpy(dst->col_idx, src->col_idx, sizeof(int32_t) * (size_t)src->nnz);
    return SPDF_OK;
}

void spdf_mask_free(spdf_mask *mask)
{
    if (!mask) return;
    for (int i = 0; i < mask->num_layers; i++) mask_layer_clear(&mask->layers[i]);
    free(mask->layers);
    free(mask);
}

/* Builds CSR from a keep-flag per position (rows*cols bytes). */
static int layer_from_flags(mask_layer *layer, const uint8_t *keep)
{
    int64_t nnz = 0;
    for (int64_t i = 0; i < layer->rows * layer->cols; i++) nnz += keep[i];
    layer->nnz = nnz;
    layer->row_ptr = malloc(sizeof(int32_t) * (size_t)(layer->rows + 1));
    layer->col_idx = malloc(sizeof(int32_t) * (size_t)(nnz > 0 ? nnz : 1));
    if (!layer->row_ptr || !layer->col_idx) return -1;
    int64_t k = 0;
    for (int64_t r = 0; r < layer->rows; r++) {
        layer->row_ptr[r] = (int32_t)k;
        for (int64_t c = 0; c < layer->cols; c++)
            if (keep[r * layer->cols + c]) layer->col_idx[k++] = (int32_t)c;
    }
    layer->row_ptr[layer->rows] = (int32_t)k;
    return 0;
}

/* Selection sampling (Knuth's Algorithm S): position i is kept with probability
 * (still needed) / (still available), which keeps exactly `keep_count` positions, each subset
 * equally likely. */
static void select_random(uint8_t *keep, int64_t numel, int64_t keep_count, const spdf_rng *rng)
{
    enum { CHUNK = 4096 };
    float u[CHUNK];
    int64_t needed = keep_count;
    for (int64_t first = 0; first < numel; first += CHUNK) {
        const int64_t n = numel - first < CHUNK ? numel - first : CHUNK;
        spdf_rng_uniform(rng, (uint64_t)first, (size_t)n, u);
        for (int64_t j = 0; j < n; j++) {
            const int64_t available = numel - (first + j);
            const int take = needed > 0 && (double)available * u[j] < (double)needed;
            keep[first + j] = (uint8_t)take;
            needed -= take;
        }
    }
}

typedef struct ranked {
    float magnitude;
    int32_t layer;
    int64_t index;
} ranked;

/* Larger |w| first; ties broken by layer, then position, so the order is total. */
static int compare_ranked(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->magnitude != b->magnitude) return a->magnitude > b->magnitude ? -1 : 1;
    if (a->layer != b->layer) return a->layer < b->layer ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Keeps the keep_count largest |w| among the given layers. */
static int select_magnitude(uint8_t **keep, const float *const *weights, const int64_t *numel,
                            int num_layers, int64_t keep_count)
{
    int64_t total = 0;
    for (int l = 0; l < num_layers; l++) total += numel[l];
    ranked *all = malloc(sizeof(ranked) * (size_t)(total > 0 ? total : 1));
    if (!all) return -1;
    int64_t at = 0;
    for (int l = 0; l < num_layers; l++)
        for (int64_t i = 0; i < numel[l]; i++) all[at++] = (ranked){fabsf(weights[l][i]), l, i};
    qsort(all, (size_t)total, sizeof(ranked), compare_ranked);
    for (int l = 0; l < num_layers; l++) memset(keep[l], 0, (size_t)numel[l]);
    for (int64_t k = 0; k < keep_count; k++) keep[all[k].layer][all[k].index] = 1;
    free(all);
    return 0;
}

/* ERK (Evci et al., RigL): density_l proportional to (rows + cols) / (rows * cols), scaled so
 * the kept total matches; layers that would exceed density 1 are made dense and the scale is
 * solved again for the rest. */
static void erk_densities(const spdf_mask *mask, float sparsity, double *density)
{
    const int n = mask->num_layers;
    int64_t total = 0;
    for (int l = 0; l < n; l++) total += mask->layers[l].rows * mask->layers[l].cols;
    const double kept_target = (1.0 - sparsity) * (double)total;
    uint8_t *dense = n > 0 ? calloc((size_t)n, 1) : NULL;
    for (int round = 0; round <= n; round++) {
        double kept_dense = 0, raw = 0;
        for (int l = 0; l < n; l++) {
            const mask_layer *m = &mask->layers[l];
            if (dense && dense[l]) kept_dense += (double)(m->rows * m->cols);
            else raw += (double)(m->rows + m->cols);
        }
        const double scale = raw > 0 ? (kept_target - kept_dense) / raw : 0.0;
        int changed = 0;
        for (int l = 0; l < n; l++) {
            const mask_layer *m = &mask->layers[l];
            if (dense && dense[l]) { density[l] = 1.0; continue; }
            density[l] = scale * (double)(m->rows + m->cols) / (double)(m->rows * m->cols);
            if (density[l] > 1.0 && dense) { dense[l] = 1; changed = 1; }
        }
        if (!changed) break;
    }
    for (int l = 0; l < n; l++) density[l] = density[l] < 0 ? 0 : density[l] > 1 ? 1 : density[l];
    free(dense);
}

static spdf_status validate_mask_config(const spdf_mask_config *c, int num_layers)
{
    if (c->method < SPDF_MASK_RANDOM || c->method > SPDF_MASK_ERK)
        return spdf_fail(SPDF_EINVAL, "unknown mask method %d", (int)c->method);
    if (c->scope != SPDF_MASK_PER_LAYER && c->scope != SPDF_MASK_GLOBAL)
        return spdf_fail(SPDF_EINVAL, "unknown mask scope %d", (int)c->scope);
    if (c->scope == SPDF_MASK_GLOBAL && c->method != SPDF_MASK_MAGNITUDE)
        return spdf_fail(SPDF_EINVAL, "SPDF_MASK_GLOBAL applies to SPDF_MASK_MAGNITUDE only");
    if (!(c->sparsity >= 0.0f && c->sparsity < 1.0f))
        return spdf_fail(SPDF_EINVAL, "sparsity must be in [0, 1), got %g", (double)c->sparsity);
    if (c->reserved != 0 || c->reserved2 != 0)
        return spdf_fail(SPDF_EINVAL, "spdf_mask_config reserved fields must be 0");
    if (c->layer_sparsity) {
        if (c->method == SPDF_MASK_ERK || c->scope == SPDF_MASK_GLOBAL)
            return spdf_fail(SPDF_EINVAL, "layer_sparsity cannot be combined with ERK or a global scope");
        if (c->layer_sparsity_count != num_layers)
            return spdf_fail(SPDF_EINVAL, "layer_sparsity_count is %d, the model has %d sparse layers",
                             (int)c->layer_sparsity_count, num_layers);
        for (int l = 0; l < num_layers; l++)
            if (!(c->layer_sparsity[l] >= 0.0f && c->layer_sparsity[l] < 1.0f))
                return spdf_fail(SPDF_EINVAL, "layer_sparsity[%d] = %g is outside [0, 1)", l,
                                 (double)c->layer_sparsity[l]);
    }
    return SPDF_OK;
}

/* Chooses the kept positions of every layer into keep[l] (rows*cols bytes). */
static int choose_positions(const spdf_model *model, spdf_mask *mask, const spdf_mask_config *c,
                            uint8_t **keep)
{
    const int n = mask->num_layers;
    int64_t *numel = malloc(sizeof(int64_t) * (size_t)n);
    double *density = malloc(sizeof(double) * (size_t)n);
    const float **weights = malloc(sizeof(float *) * (size_t)n);
    int failed = !numel || !density || !weights;
    for (int l = 0; !failed && l < n; l++) {
        numel[l] = mask->layers[l].rows * mask->layers[l].cols;
        density[l] = 1.0 - (c->layer_sparsity ? c->layer_sparsity[l] : c->sparsity);
        weights[l] = model_tensor_values(model, mask->layers[l].tensor);
    }
    if (!failed && c->method == SPDF_MASK_ERK) erk_densities(mask, c->sparsity, density);
    if (!failed && c->method == SPDF_MASK_MAGNITUDE && c->scope == SPDF_MASK_GLOBAL) {
        int64_t total = 0;
        for (int l = 0; l < n; l++) total += numel[l];
        failed = select_magnitude(keep, weights, numel, n, llround((1.0 - c->sparsity) * (double)total));
    } else if (!failed) {
        int errors = 0;
#pragma omp parallel for num_threads(model->ctx->num_threads) schedule(dynamic, 1) reduction(+ : errors)
        for (int l = 0; l < n; l++) {
            const int64_t keep_count = llround(density[l] * (double)numel[l]);
            if (c->method == SPDF_MASK_MAGNITUDE) {
                errors += select_magnitude(&keep[l], &weights[l], &numel[l], 1, keep_count) != 0;
            } else {
                const spdf_rng rng = {c->seed, 0x6D61736Bull + (uint64_t)l}; /* "mask" + layer */
                select_random(keep[l], numel[l], keep_count, &rng);
            }
        }
        failed = errors != 0;
    }
    free(numel);
    free(density);
    free(weights);
    return failed ? -1 : 0;
}

spdf_status spdf_mask_create_ex(const spdf_model *model, const spdf_mask_config *config,
                                spdf_mask **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(model);
    SPDF_CHECK_ARG(config);
    SPDF_CHECK_ARG(out);
    SPDF_TRY(spdf_check_struct_size(config->struct_size, sizeof *config, "spdf_mask_config"));
    SPDF_TRY(validate_mask_config(config, model_num_sparsifiable(model)));
    if (model->phase == SPDF_PHASE_SPARSE && config->method == SPDF_MASK_MAGNITUDE)
        return spdf_fail(SPDF_ESTATE, "a magnitude mask needs the dense weights: the model is sparse");
    spdf_mask *mask = calloc(1, sizeof *mask);
    if (!mask) return spdf_fail(SPDF_ENOMEM, "out of memory for a mask");
    mask->num_layers = model_num_sparsifiable(model);
    mask->layers = calloc((size_t)mask->num_layers, sizeof *mask->layers);
    uint8_t **keep = calloc((size_t)mask->num_layers, sizeof *keep);
    int failed = !mask->layers || !keep;
    for (int l = 0, i = 0; !failed && i < model->num_tensors; i++) {
        const tensor_desc *d = &model->tensors[i];
        if (!(d->flags & SPDF_TENSOR_SPARSIFIABLE)) continue;
        mask->layers[l] = (mask_layer){.tensor = i, .rows = d->shape[0], .cols = d->shape[1]};
        keep[l] = malloc((size_t)d->numel);
        failed = !keep[l++];
    }
    failed = failed || choose_positions(model, mask, config, keep) != 0;
    for (int l = 0; !failed && l < mask->num_layers; l++)
        failed = layer_from_flags(&mask->layers[l], keep[l]) != 0;
    for (int l = 0; keep && l < mask->num_layers; l++) free(keep[l]);
    free(keep);
    if (failed) {
        spdf_mask_free(mask);
        return spdf_fail(SPDF_ENOMEM, "out of memory creating a mask");
    }
    *out = mask;
    return SPDF_OK;
}

spdf_status spdf_mask_create(const spdf_model *model, spdf_mask_method method, float sparsity,
                             uint64_t seed, spdf_mask **out)
{
    spdf_mask_config config;
    spdf_mask_config_init(&config);
    config.method = method;
    config.sparsity = sparsity;
    config.seed = seed;
    return spdf_mask_create_ex(model, &config, out);
}

spdf_status spdf_mask_num_layers(const spdf_mask *mask, int32_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(mask);
    SPDF_CHECK_ARG(count);
    *count = mask->num_layers;
    return SPDF_OK;
}

static spdf_status check_layer(const spdf_mask *mask, int32_t layer)
{
    if (layer < 0 || layer >= mask->num_layers)
        return spdf_fail(SPDF_EINVAL, "mask layer %d out of range [0, %d)", (int)layer, mask->num_layers);
    return SPDF_OK;
}

spdf_status spdf_mask_get_layer(const spdf_mask *mask, int32_t layer, spdf_mask_layer_info *info)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(mask);
    SPDF_CHECK_ARG(info);
    SPDF_TRY(spdf_check_struct_size(info->struct_size, sizeof *info, "spdf_mask_layer_info"));
    SPDF_TRY(check_layer(mask, layer));
    const mask_layer *m = &mask->layers[layer];
    const size_t caller_size = info->struct_size;
    memset(info, 0, sizeof *info);
    info->struct_size = caller_size < sizeof *info ? caller_size : sizeof *info;
    info->tensor_index = m->tensor;
    info->rows = m->rows;
    info->cols = m->cols;
    info->nnz = m->nnz;
    info->density = (float)((double)m->nnz / (double)(m->rows * m->cols));
    return SPDF_OK;
}

spdf_status spdf_mask_totals(const spdf_mask *mask, int64_t *nnz, int64_t *total)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(mask);
    SPDF_CHECK_ARG(nnz);
    SPDF_CHECK_ARG(total);
    int64_t kept = 0, all = 0;
    for (int l = 0; l < mask->num_layers; l++) {
        kept += mask->layers[l].nnz;
        all += mask->layers[l].rows * mask->layers[l].cols;
    }
    *nnz = kept;
    *total = all;
    return SPDF_OK;
}

spdf_status spdf_mask_layer_read(const spdf_mask *mask, int32_t layer, uint8_t *dst, int64_t count)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(mask);
    SPDF_CHECK_ARG(dst);
    SPDF_TRY(check_layer(mask, layer));
    const mask_layer *m = &mask->layers[layer];
    if (count != m->rows * m->cols)
        return spdf_fail(SPDF_EINVAL, "mask layer %d has %lld positions, count is %lld", (int)layer,
                         (long long)(m->rows * m->cols), (long long)count);
    memset(dst, 0, (size_t)count);
    for (int64_t r = 0; r < m->rows; r++)
        for (int32_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) dst[r * m->cols + m->col_idx[k]] = 1;
    return SPDF_OK;
}
