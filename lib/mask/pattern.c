/* Sparsity patterns (pattern.h): CSR built from flags or a bitmap, copied, written out. */
#include "mask/pattern.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

void pattern_clear(sparsity_pattern *p)
{
    free(p->row_ptr);
    free(p->col_idx);
    p->row_ptr = p->col_idx = NULL;
    p->nnz = 0;
}

/* Arrays for a (rows, cols) pattern of nnz positions; SPDF_ENOMEM. */
static spdf_status allocate(sparsity_pattern *p, int64_t rows, int64_t cols, int64_t nnz)
{
    p->rows = rows;
    p->cols = cols;
    p->nnz = nnz;
    p->row_ptr = malloc(sizeof(int32_t) * (size_t)(rows + 1));
    p->col_idx = malloc(sizeof(int32_t) * (size_t)(nnz > 0 ? nnz : 1));
    if (p->row_ptr && p->col_idx) return SPDF_OK;
    pattern_clear(p);
    return spdf_fail(SPDF_ENOMEM, "out of memory for a %lld x %lld sparsity pattern",
                     (long long)rows, (long long)cols);
}

spdf_status pattern_copy(sparsity_pattern *dst, const sparsity_pattern *src)
{
    SPDF_TRY(allocate(dst, src->rows, src->cols, src->nnz));
    memcpy(dst->row_ptr, src->row_ptr, sizeof(int32_t) * (size_t)(src->rows + 1));
    memcpy(dst->col_idx, src->col_idx, sizeof(int32_t) * (size_t)src->nnz);
    return SPDF_OK;
}

/* Both constructors: `kept(i)` tells whether position i = r * cols + c is kept. */
#define BUILD_PATTERN(p, rows, cols, kept)                                                     \
    do {                                                                                       \
        int64_t nnz_ = 0;                                                                      \
        for (int64_t i = 0; i < (rows) * (cols); i++) nnz_ += (kept(i)) != 0;                  \
        SPDF_TRY(allocate((p), (rows), (cols), nnz_));                                         \
        int64_t k_ = 0;                                                                        \
        for (int64_t r = 0; r < (rows); r++) {                                                 \
            (p)->row_ptr[r] = (int32_t)k_;                                                     \
            for (int64_t c = 0; c < (cols); c++)                                               \
                if (kept(r * (cols) + c)) (p)->col_idx[k_++] = (int32_t)c;                     \
        }                                                                                      \
        (p)->row_ptr[rows] = (int32_t)k_;                                                      \
    } while (0)

spdf_status pattern_from_flags(sparsity_pattern *p, int64_t rows, int64_t cols,
                               const uint8_t *keep)
{
#define FLAG_KEPT(i) (keep[i])
    BUILD_PATTERN(p, rows, cols, FLAG_KEPT);
#undef FLAG_KEPT
    return SPDF_OK;
}

spdf_status pattern_from_bitmap(sparsity_pattern *p, int64_t rows, int64_t cols,
                                const unsigned char *bitmap)
{
#define BIT_KEPT(i) ((bitmap[(i) >> 3] >> ((i) & 7)) & 1)
    BUILD_PATTERN(p, rows, cols, BIT_KEPT);
#undef BIT_KEPT
    return SPDF_OK;
}

int64_t pattern_bitmap_bytes(int64_t rows, int64_t cols) { return (rows * cols + 7) / 8; }

void pattern_to_bitmap(const sparsity_pattern *p, unsigned char *bitmap)
{
    for (int64_t r = 0; r < p->rows; r++)
        for (int32_t k = p->row_ptr[r]; k < p->row_ptr[r + 1]; k++) {
            const int64_t bit = r * p->cols + p->col_idx[k];
            bitmap[bit >> 3] |= (unsigned char)(1u << (bit & 7));
        }
}

void pattern_to_flags(const sparsity_pattern *p, uint8_t *keep)
{
    memset(keep, 0, (size_t)(p->rows * p->cols));
    for (int64_t r = 0; r < p->rows; r++)
        for (int32_t k = p->row_ptr[r]; k < p->row_ptr[r + 1]; k++) keep[r * p->cols + p->col_idx[k]] = 1;
}
