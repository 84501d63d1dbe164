/* Moving the stored arrays (weights, gradients, AdamW moments) between the dense layout and the
 * compact one in place.  A weight's compact index is never larger than its dense index, and the
 * tensors keep their order, so compaction walks front to back and expansion back to front
 * without overwriting anything not yet moved: no second copy of the model is ever made. */
#include "core/core.h"
#include "model/model.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Gathers the on-mask values of a dense (rows, cols) weight into CSR order. */
static void gather(float *dst, const float *src, const sparsity_pattern *m)
{
    for (int64_t r = 0; r < m->rows; r++)
        for (int32_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) dst[k] = src[r * m->cols + m->col_idx[k]];
}

/* Scatters row r of CSR-ordered values (src) into its dense row (dst), zeros elsewhere.  The
 * values are read before the row is cleared, so dst may overlap them. */
static void scatter_row(float *dst, const float *src, const sparsity_pattern *m, int64_t r, float *row)
{
    const int32_t first = m->row_ptr[r], count = m->row_ptr[r + 1] - first;
    memcpy(row, src + first, (size_t)count * sizeof(float));
    float *d = dst + r * m->cols;
    memset(d, 0, (size_t)m->cols * sizeof(float));
    for (int32_t k = 0; k < count; k++) d[m->col_idx[first + k]] = row[k];
}

/* Scatters CSR-ordered values back to a dense (rows, cols) weight, zeros elsewhere.  dst may
 * start at or above src: rows go from the last to the first, so a row only overwrites values of
 * rows already moved.  When the two ranges do not overlap the rows are independent and the
 * threads share them.  rows_buffer holds a row of `stride` floats per thread. */
static void scatter(float *dst, const float *src, const sparsity_pattern *m, int num_threads,
                    float *rows_buffer, int64_t stride)
{
    const int disjoint = src + m->nnz <= dst;
#pragma omp parallel num_threads(disjoint ? num_threads : 1)
    {
        float *row = rows_buffer + omp_get_thread_num() * stride;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < m->rows; i++) scatter_row(dst, src, m, m->rows - 1 - i, row);
    }
}

/* Zeros count floats with the threads sharing the work (the first touch of most pages). */
static void clear_floats(float *array, int64_t count, int num_threads)
{
    const int64_t chunk = 1 << 16;
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t at = 0; at < count; at += chunk)
        memset(array + at, 0, (size_t)(count - at < chunk ? count - at : chunk) * sizeof(float));
}

/* New offsets from the tensors' stored sizes. */
static int64_t assign_offsets(spdf_model *model)
{
    int64_t at = 0;
    for (int i = 0; i < model->num_tensors; i++) {
        model->tensors[i].offset = at;
        at += model->tensors[i].stored;
    }
    return at;
}

static void compact_array(const spdf_model *model, float *array, const int64_t *old_offset,
                          const sparse_weight *sparse)
{
    for (int i = 0; i < model->num_tensors; i++) {
        const tensor_desc *d = &model->tensors[i];
        float *dst = array + d->offset;
        const float *src = array + old_offset[i];
        if (d->sparse_slot >= 0) gather(dst, src, &sparse[d->sparse_slot].pattern);
        else if (dst != src) memmove(dst, src, (size_t)d->numel * sizeof(float));
    }
}

static void expand_array(const spdf_model *model, float *array, const int64_t *old_offset,
                         const int *old_slot, const sparse_weight *sparse, int num_threads,
                         float *rows_buffer, int64_t stride)
{
    for (int i = model->num_tensors - 1; i >= 0; i--) {
        const tensor_desc *d = &model->tensors[i];
        float *dst = array + d->offset;
        const float *src = array + old_offset[i];
        if (old_slot[i] >= 0)
            scatter(dst, src, &sparse[old_slot[i]].pattern, num_threads, rows_buffer, stride);
        else if (dst != src) memmove(dst, src, (size_t)d->numel * sizeof(float));
    }
}

/* Reorders one sparse tensor's stored values between CSR order and the backend's slot order
 * through a scratch buffer of one layer (with a row per thread for the transition, the only
 * extra memory a phase change uses). */
static void permute(float *values, const sparse_weight *w, float *scratch, int to_slots)
{
    if (!w->slot_to_csr) return;
    const int64_t nnz = w->pattern.nnz;
    for (int64_t s = 0; s < nnz; s++) {
        if (to_slots) scratch[s] = values[w->slot_to_csr[s]];
        else scratch[w->slot_to_csr[s]] = values[s];
    }
    memcpy(values, scratch, (size_t)nnz * sizeof(float));
}

static void permute_arrays(const spdf_model *model, float *const *arrays, int count, float *scratch,
                           int to_slots)
{
    for (int i = 0; i < model->num_tensors; i++) {
        const tensor_desc *d = &model->tensors[i];
        if (d->sparse_slot < 0) continue;
        for (int k = 0; k < count; k++)
            permute(arrays[k] + d->offset, &model->sparse[d->sparse_slot], scratch, to_slots);
    }
}

/* Largest non-zero count of the sparse weights: the size of the permutation scratch. */
static int64_t largest_layer(const sparse_weight *sparse, int count)
{
    int64_t largest = 1;
    for (int i = 0; i < count; i++) largest = sparse[i].pattern.nnz > largest ? sparse[i].pattern.nnz : largest;
    return largest;
}

/* The backend's storage order and its inverse; SPDF_ENOMEM if the inverse cannot be made. */
static spdf_status adopt_order(const spdf_model *model, sparse_weight *w)
{
    w->slot_to_csr = model->ctx->ops->sparse_order(w->kernel);
    if (!w->slot_to_csr) return SPDF_OK;
    w->csr_to_slot = malloc(sizeof(int32_t) * (size_t)(w->pattern.nnz > 0 ? w->pattern.nnz : 1));
    if (!w->csr_to_slot) return spdf_fail(SPDF_ENOMEM, "out of memory for a storage order");
    for (int64_t s = 0; s < w->pattern.nnz; s++) w->csr_to_slot[w->slot_to_csr[s]] = (int32_t)s;
    return SPDF_OK;
}

void model_release_sparse(spdf_model *model)
{
    for (int i = 0; i < model->num_sparse; i++) {
        model->ctx->ops->sparse_release(model->sparse[i].kernel);
        pattern_clear(&model->sparse[i].pattern);
        free(model->sparse[i].csr_to_slot);
    }
    free(model->sparse);
    model->sparse = NULL;
    model->num_sparse = 0;
}

spdf_status model_attach_mask(spdf_model *model, const spdf_mask *mask, float *const *moments,
                              int num_moments)
{
    /* Validate and build everything that can fail before the first byte moves. */
    if (mask->num_layers != model_num_sparsifiable(model))
        return spdf_fail(SPDF_EINVAL, "the mask has %d layers, the model %d sparse layers",
                         mask->num_layers, model_num_sparsifiable(model));
    for (int l = 0; l < mask->num_layers; l++) {
        const sparsity_pattern *m = &mask->layers[l].pattern;
        const int tensor = mask->layers[l].tensor;
        const tensor_desc *d = tensor >= 0 && tensor < model->num_tensors ? &model->tensors[tensor] : NULL;
        if (!d || !(d->flags & SPDF_TENSOR_SPARSIFIABLE) || d->shape[0] != m->rows || d->shape[1] != m->cols)
            return spdf_fail(SPDF_EINVAL, "mask layer %d does not match the model's weights "
                             "(made for another model shape?)", l);
    }
    sparse_weight *sparse = calloc((size_t)mask->num_layers, sizeof *sparse);
    int64_t *old_offset = malloc(sizeof(int64_t) * (size_t)model->num_tensors);
    spdf_status status = sparse && old_offset ? SPDF_OK : spdf_fail(SPDF_ENOMEM, "out of memory attaching a mask");
    for (int l = 0; status == SPDF_OK && l < mask->num_layers; l++) {
        sparse[l].tensor = mask->layers[l].tensor;
        status = pattern_copy(&sparse[l].pattern, &mask->layers[l].pattern);
        if (status != SPDF_OK) break;
        const sparsity_pattern *m = &sparse[l].pattern;
        const spdf_sparse_pattern pattern = {m->rows, m->cols, m->nnz, m->row_ptr, m->col_idx};
        sparse[l].kernel = model->ctx->ops->sparse_prepare(&pattern);
        if (!sparse[l].kernel)
            status = spdf_fail(SPDF_ENOMEM, "the %s backend could not prepare sparse layer %d",
                               model->ctx->ops->name, l);
        else
            status = model_plan_layer(model, sparse[l].kernel, l, NULL);
        if (status == SPDF_OK) status = adopt_order(model, &sparse[l]);
    }
    float *scratch = NULL;
    if (status == SPDF_OK) {
        scratch = malloc(sizeof(float) * (size_t)largest_layer(sparse, mask->num_layers));
        if (!scratch) status = spdf_fail(SPDF_ENOMEM, "out of memory for the storage-order scratch");
    }
    if (status != SPDF_OK) {
        for (int l = 0; sparse && l < mask->num_layers; l++) {
            if (sparse[l].kernel) model->ctx->ops->sparse_release(sparse[l].kernel);
            pattern_clear(&sparse[l].pattern);
            free(sparse[l].csr_to_slot);
        }
        free(sparse);
        free(old_offset);
        return status;
    }

    for (int i = 0; i < model->num_tensors; i++) old_offset[i] = model->tensors[i].offset;
    for (int l = 0; l < mask->num_layers; l++) {
        tensor_desc *d = &model->tensors[sparse[l].tensor];
        d->sparse_slot = l;
        d->stored = sparse[l].pattern.nnz;
    }
    model->num_stored = assign_offsets(model);
    model->sparse = sparse;
    model->num_sparse = mask->num_layers;
    compact_array(model, model->params, old_offset, sparse);
    for (int k = 0; k < num_moments; k++) compact_array(model, moments[k], old_offset, sparse);
    float *const params[1] = {model->params};
    permute_arrays(model, params, 1, scratch, 1);
    permute_arrays(model, moments, num_moments, scratch, 1);
    free(scratch);
    memset(model->grads, 0, (size_t)model->num_stored * sizeof(float));
    model_apply_sparse_memory(model, moments, num_moments);
    model->phase = SPDF_PHASE_SPARSE;
    model->has_targets = 0;
    model->has_gradients = 0;
    model_bind_views(model);
    free(old_offset);
    return SPDF_OK;
}

/* Commits (or, commit == 0, returns to the system) the pages past num_stored of the weight,
 * gradient and moment arrays. */
static void reserve_pages(const spdf_model *model, float *const *moments, int num_moments,
                          int commit)
{
    const size_t used = (size_t)model->num_stored * sizeof(float);
    const size_t capacity = (size_t)model->num_params * sizeof(float);
    for (int k = -2; k < num_moments; k++) {
        float *array = k == -2 ? model->params : k == -1 ? model->grads : moments[k];
        if (commit) spdf_reserve_commit(array, used, capacity, model->ctx->num_threads);
        else spdf_reserve_trim(array, used, capacity);
    }
}

void model_apply_sparse_memory(spdf_model *model, float *const *moments, int num_moments)
{
    model->pages_pending = model->sparse_memory == SPDF_SPARSE_MEMORY_KEEP;
    if (!model->pages_pending) reserve_pages(model, moments, num_moments, 0);
}

void model_commit_kept_pages(spdf_model *model)
{
    if (!model->pages_pending || model->phase != SPDF_PHASE_SPARSE) return;
    reserve_pages(model, model->moments, model->num_moments, 1);
    model->pages_pending = 0;
}

void model_attach_moments(spdf_model *model, spdf_optimizer *owner, float *m, float *v)
{
    model->optimizer = owner;
    model->moments[0] = m;
    model->moments[1] = v;
    model->num_moments = 2;
    if (model->phase == SPDF_PHASE_SPARSE && model->sparse_memory == SPDF_SPARSE_MEMORY_KEEP)
        model->pages_pending = 1;
}

void model_detach_moments(spdf_model *model, const spdf_optimizer *owner)
{
    if (model->optimizer != owner) return;
    model->optimizer = NULL;
    model->num_moments = 0;
}

/* Widest sparse weight: a scattered row of it per thread is the transition's row buffer. */
static int64_t widest_layer(const sparse_weight *sparse, int count)
{
    int64_t widest = 1;
    for (int i = 0; i < count; i++) widest = sparse[i].pattern.cols > widest ? sparse[i].pattern.cols : widest;
    return widest;
}

spdf_status model_densify(spdf_model *model, float *const *moments, int num_moments,
                          int reset_moments)
{
    /* Commit the dense pages unless KEEP already holds every one of them. */
    const int commit = model->sparse_memory != SPDF_SPARSE_MEMORY_KEEP || model->pages_pending;
    int64_t *old_offset = malloc(sizeof(int64_t) * (size_t)model->num_tensors);
    int *old_slot = malloc(sizeof(int) * (size_t)model->num_tensors);
    /* One buffer for both uses: a layer for the permutation, then a row per thread. */
    const int threads = model->ctx->num_threads;
    const int64_t row_stride = widest_layer(model->sparse, model->num_sparse);
    const int64_t layer = largest_layer(model->sparse, model->num_sparse);
    float *scratch = malloc(sizeof(float) * (size_t)(layer > threads * row_stride ? layer : threads * row_stride));
    if (!old_offset || !old_slot || !scratch) {
        free(old_offset);
        free(old_slot);
        free(scratch);
        return spdf_fail(SPDF_ENOMEM, "out of memory for the transition's index tables");
    }
    float *const params[1] = {model->params};
    permute_arrays(model, params, 1, scratch, 0); /* back to CSR order before expanding */
    if (!reset_moments) permute_arrays(model, moments, num_moments, scratch, 0);
    for (int i = 0; i < model->num_tensors; i++) {
        tensor_desc *d = &model->tensors[i];
        old_offset[i] = d->offset;
        old_slot[i] = d->sparse_slot;
        d->stored = d->numel;
        d->sparse_slot = -1;
    }
    if (commit) reserve_pages(model, moments, num_moments, 1); /* before the writes: far cheaper */
    model->num_stored = assign_offsets(model);
    expand_array(model, model->params, old_offset, old_slot, model->sparse, threads, scratch,
                 row_stride);
    for (int k = 0; k < num_moments; k++) {
        if (reset_moments) clear_floats(moments[k], model->num_params, threads);
        else expand_array(model, moments[k], old_offset, old_slot, model->sparse, threads, scratch,
                          row_stride);
    }
    clear_floats(model->grads, model->num_params, threads);
    free(scratch);
    model_release_sparse(model);
    model->pages_pending = 0;
    model->phase = SPDF_PHASE_DENSE;
    model->has_targets = 0;
    model->has_gradients = 0;
    model_bind_views(model);
    free(old_offset);
    free(old_slot);
    return SPDF_OK;
}

spdf_status spdf_model_set_sparse_memory(spdf_model *model, spdf_sparse_memory policy)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    if (policy != SPDF_SPARSE_MEMORY_RELEASE && policy != SPDF_SPARSE_MEMORY_KEEP)
        return spdf_fail(SPDF_EINVAL, "unknown sparse memory policy %d", (int)policy);
    if (policy == model->sparse_memory) return SPDF_OK; /* nothing to return or commit again */
    model->sparse_memory = policy;
    if (model->phase == SPDF_PHASE_SPARSE)
        model_apply_sparse_memory(model, model->moments, model->num_moments);
    return SPDF_OK;
}

spdf_status spdf_model_get_sparse_memory(const spdf_model *model, spdf_sparse_memory *policy)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(policy);
    *policy = model->sparse_memory;
    return SPDF_OK;
}
