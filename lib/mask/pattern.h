/* The sparsity pattern of one weight: which of its (rows, cols) positions are kept, as CSR with
 * rows in order and columns ascending within each row.  A leaf type: masks hold one per layer,
 * a sparse model one per compactly stored weight, checkpoints write and read them as bitmaps. */
#ifndef SPDF_PATTERN_H
#define SPDF_PATTERN_H

#include "spdf.h"

#include <stdint.h>

typedef struct sparsity_pattern {
    int64_t rows, cols, nnz;
    int32_t *row_ptr; /* (rows + 1) */
    int32_t *col_idx; /* (nnz) */
} sparsity_pattern;

/* Frees the arrays (not the struct) and leaves an empty pattern. */
void pattern_clear(sparsity_pattern *p);
/* A deep copy; SPDF_ENOMEM (dst then cleared). */
spdf_status pattern_copy(sparsity_pattern *dst, const sparsity_pattern *src);
/* The positions whose flag (rows * cols bytes, row-major) is non-zero; SPDF_ENOMEM. */
spdf_status pattern_from_flags(sparsity_pattern *p, int64_t rows, int64_t cols,
                               const uint8_t *keep);
/* The positions whose bit is set (bit i is bit i % 8 of byte i / 8); SPDF_ENOMEM. */
spdf_status pattern_from_bitmap(sparsity_pattern *p, int64_t rows, int64_t cols,
                                const unsigned char *bitmap);
/* Bitmap bytes of a (rows, cols) pattern. */
int64_t pattern_bitmap_bytes(int64_t rows, int64_t cols);
/* Sets the bits of the kept positions in bitmap (pattern_bitmap_bytes, zeroed by the caller). */
void pattern_to_bitmap(const sparsity_pattern *p, unsigned char *bitmap);
/* Writes 1 at the kept positions and 0 elsewhere (rows * cols bytes). */
void pattern_to_flags(const sparsity_pattern *p, uint8_t *keep);

#endif
