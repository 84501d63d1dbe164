/* Creating masks from plain views of the weights: uniform random with an exact count per layer (the SPDF paper's), magnitude
 * (per layer or one global threshold) and ERK densities.  Every random choice comes from a
 * Philox stream per layer, so a mask depends only on the seed, never on threads. */
#include "mask/mask.h"
#include "core/core.h"

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

void spdf_mask_free(spdf_mask *mask)
{
    if (!spdf_handle_is(mask, HANDLE_MASK)) return; /* NULL, freed, or not a mask */
    for (int i = 0; i < mask->num_layers; i++) pattern_clear(&mask->layers[i].pattern);
    free(mask->layers);
    spdf_handle_poison(mask);
    free(mask);
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
static void erk_densities(const mask_weight *weights, int n, float sparsity, double *density)
{
    int64_t total = 0;
    for (int l = 0; l < n; l++) total += weights[l].rows * weights[l].cols;
    const double kept_target = (1.0 - sparsity) * (double)total;
    uint8_t *dense = n > 0 ? calloc((size_t)n, 1) : NULL;
    for (int round = 0; round <= n; round++) {
        double kept_dense = 0, raw = 0;
        for (int l = 0; l < n; l++) {
            const mask_weight *m = &weights[l];
            if (dense && dense[l]) kept_dense += (double)(m->rows * m->cols);
            else raw += (double)(m->rows + m->cols);
        }
        const double scale = raw > 0 ? (kept_target - kept_dense) / raw : 0.0;
        int changed = 0;
        for (int l = 0; l < n; l++) {
            const mask_weight *m = &weights[l];
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
static int choose_positions(const mask_weight *w, int n, const spdf_mask_config *c, int num_threads,
                            uint8_t **keep)
{
    int64_t *numel = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    double *density = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    const float **weights = malloc(sizeof(float *) * (size_t)(n > 0 ? n : 1));
    int failed = !numel || !density || !weights;
    for (int l = 0; !failed && l < n; l++) {
        numel[l] = w[l].rows * w[l].cols;
        density[l] = 1.0 - (c->layer_sparsity ? c->layer_sparsity[l] : c->sparsity);
        weights[l] = w[l].values;
    }
    if (!failed && c->method == SPDF_MASK_ERK) erk_densities(w, n, c->sparsity, density);
    if (!failed && c->method == SPDF_MASK_MAGNITUDE && c->scope == SPDF_MASK_GLOBAL) {
        int64_t total = 0;
        for (int l = 0; l < n; l++) total += numel[l];
        failed = select_magnitude(keep, weights, numel, n, llround((1.0 - c->sparsity) * (double)total));
    } else if (!failed) {
        int errors = 0;
#pragma omp parallel for num_threads(num_threads) schedule(dynamic, 1) reduction(+ : errors)
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

spdf_mask *mask_alloc(int count)
{
    spdf_mask *mask = calloc(1, sizeof *mask);
    if (mask) mask->tag = HANDLE_MASK;
    if (!mask) return NULL;
    mask->layers = calloc((size_t)(count > 0 ? count : 1), sizeof *mask->layers);
    if (!mask->layers) {
        free(mask);
        return NULL;
    }
    mask->num_layers = count;
    return mask;
}

spdf_status mask_build(const mask_weight *weights, int count, const spdf_mask_config *config,
                       int num_threads, spdf_mask **out)
{
    SPDF_TRY(validate_mask_config(config, count));
    spdf_mask *mask = mask_alloc(count);
    uint8_t **keep = calloc((size_t)(count > 0 ? count : 1), sizeof *keep);
    int failed = !mask || !keep;
    for (int l = 0; !failed && l < count; l++) {
        mask->layers[l].tensor = weights[l].tensor;
        keep[l] = malloc((size_t)(weights[l].rows * weights[l].cols));
        failed = !keep[l];
    }
    failed = failed || choose_positions(weights, count, config, num_threads, keep) != 0;
    for (int l = 0; !failed && l < count; l++)
        failed = pattern_from_flags(&mask->layers[l].pattern, weights[l].rows, weights[l].cols,
                                    keep[l]) != SPDF_OK;
    for (int l = 0; keep && l < count; l++) free(keep[l]);
    free(keep);
    if (failed) {
        spdf_mask_free(mask);
        return spdf_fail(SPDF_ENOMEM, "out of memory creating a mask");
    }
    *out = mask;
    return SPDF_OK;
}

spdf_status spdf_mask_num_layers(const spdf_mask *mask, int32_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(mask, HANDLE_MASK);
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
    SPDF_CHECK_HANDLE(mask, HANDLE_MASK);
    SPDF_CHECK_ARG(info);
    SPDF_TRY(check_layer(mask, layer));
    const sparsity_pattern *m = &mask->layers[layer].pattern;
    const spdf_mask_layer_info result = {
        .struct_size = sizeof result,
        .tensor_index = mask->layers[layer].tensor,
        .rows = m->rows,
        .cols = m->cols,
        .nnz = m->nnz,
        .density = (float)((double)m->nnz / (double)(m->rows * m->cols)),
    };
    return spdf_struct_write(info, &result, sizeof result,
                             SPDF_SIZE_THROUGH(spdf_mask_layer_info, reserved2),
                             "spdf_mask_layer_info");
}

spdf_status spdf_mask_totals(const spdf_mask *mask, int64_t *nnz, int64_t *total)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(mask, HANDLE_MASK);
    SPDF_CHECK_ARG(nnz);
    SPDF_CHECK_ARG(total);
    int64_t kept = 0, all = 0;
    for (int l = 0; l < mask->num_layers; l++) {
        kept += mask->layers[l].pattern.nnz;
        all += mask->layers[l].pattern.rows * mask->layers[l].pattern.cols;
    }
    *nnz = kept;
    *total = all;
    return SPDF_OK;
}

spdf_status spdf_mask_layer_read(const spdf_mask *mask, int32_t layer, uint8_t *dst, int64_t count)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(mask, HANDLE_MASK);
    SPDF_CHECK_ARG(dst);
    SPDF_TRY(check_layer(mask, layer));
    const sparsity_pattern *m = &mask->layers[layer].pattern;
    if (count != m->rows * m->cols)
        return spdf_fail(SPDF_EINVAL, "mask layer %d has %lld positions, count is %lld", (int)layer,
                         (long long)(m->rows * m->cols), (long long)count);
    pattern_to_flags(m, dst);
    return SPDF_OK;
}
