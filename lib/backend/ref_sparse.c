/* The reference backend's sparse kernels: CSR weights, portable C.  Every output element is
 * computed by one thread in a fixed order, so results do not depend on the thread count. */
#include "backend/ref_sparse.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

typedef struct ref_sparse_layer {
    int64_t rows, cols, nnz;
    int32_t *row_ptr; /* (rows + 1) */
    int32_t *col_idx; /* (nnz) */
} ref_sparse_layer;

void *ref_sparse_prepare(const spdf_sparse_pattern *pattern)
{
    ref_sparse_layer *layer = calloc(1, sizeof *layer);
    if (!layer) return NULL;
    layer->rows = pattern->rows;
    layer->cols = pattern->cols;
    layer->nnz = pattern->nnz;
    layer->row_ptr = malloc(sizeof(int32_t) * (size_t)(pattern->rows + 1));
    layer->col_idx = malloc(sizeof(int32_t) * (size_t)(pattern->nnz > 0 ? pattern->nnz : 1));
    if (!layer->row_ptr || !layer->col_idx) {
        ref_sparse_release(layer);
        return NULL;
    }
    memcpy(layer->row_ptr, pattern->row_ptr, sizeof(int32_t) * (size_t)(pattern->rows + 1));
    memcpy(layer->col_idx, pattern->col_idx, sizeof(int32_t) * (size_t)pattern->nnz);
    return layer;
}

void ref_sparse_release(void *opaque)
{
    ref_sparse_layer *layer = opaque;
    if (!layer) return;
    free(layer->row_ptr);
    free(layer->col_idx);
    free(layer);
}

void ref_sparse_forward(int num_threads, const void *opaque, const float *values, float *out,
                        const float *inp, int64_t N)
{
    const ref_sparse_layer *w = opaque;
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * w->cols;
        float *y = out + n * w->rows;
        for (int64_t o = 0; o < w->rows; o++) {
            float sum = 0.0f;
            for (int32_t k = w->row_ptr[o]; k < w->row_ptr[o + 1]; k++)
                sum += values[k] * x[w->col_idx[k]];
            y[o] = sum;
        }
    }
}

void ref_sparse_backward_data(int num_threads, const void *opaque, const float *values,
                              float *dinp, const float *dout, int64_t N)
{
    const ref_sparse_layer *w = opaque;
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t n = 0; n < N; n++) {
        float *dx = dinp + n * w->cols;
        const float *dy = dout + n * w->rows;
        memset(dx, 0, sizeof(float) * (size_t)w->cols);
        for (int64_t o = 0; o < w->rows; o++) {
            const float d = dy[o];
            for (int32_t k = w->row_ptr[o]; k < w->row_ptr[o + 1]; k++)
                dx[w->col_idx[k]] += d * values[k];
        }
    }
}

/* (rows, cols) -> (cols, rows), so the sampled products become dots of contiguous vectors. */
static void transpose(int num_threads, float *dst, const float *src, int64_t rows, int64_t cols)
{
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t c = 0; c < cols; c++)
        for (int64_t r = 0; r < rows; r++) dst[c * rows + r] = src[r * cols + c];
}

void ref_sparse_backward_weight(int num_threads, const void *opaque, float *dvalues,
                                const float *dout, const float *inp, int64_t N)
{
    const ref_sparse_layer *w = opaque;
    float *dout_t = spdf_aligned_alloc(sizeof(float) * (size_t)(w->rows * N));
    float *inp_t = spdf_aligned_alloc(sizeof(float) * (size_t)(w->cols * N));
    if (dout_t && inp_t) {
        transpose(num_threads, dout_t, dout, N, w->rows); /* (rows, N) */
        transpose(num_threads, inp_t, inp, N, w->cols);   /* (cols, N) */
    }
#pragma omp parallel for num_threads(num_threads) schedule(dynamic, 16)
    for (int64_t o = 0; o < w->rows; o++)
        for (int32_t k = w->row_ptr[o]; k < w->row_ptr[o + 1]; k++) {
            const int64_t c = w->col_idx[k];
            float sum = 0.0f;
            if (dout_t && inp_t) {
                const float *a = dout_t + o * N, *b = inp_t + c * N;
                for (int64_t n = 0; n < N; n++) sum += a[n] * b[n];
            } else { /* no memory for the transposes: strided, same order of summation */
                for (int64_t n = 0; n < N; n++) sum += dout[n * w->rows + o] * inp[n * w->cols + c];
            }
            dvalues[k] += sum;
        }
    spdf_aligned_free(dout_t);
    spdf_aligned_free(inp_t);
}

const int32_t *ref_sparse_order(const void *layer)
{
    (void)layer;
    return NULL; /* canonical CSR order */
}
