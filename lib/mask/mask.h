/* The mask handle: for each block linear weight, the kept positions as CSR. */
#ifndef SPDF_MASK_H
#define SPDF_MASK_H

#include "spdf.h"

typedef struct mask_layer {
    int tensor;             /* index in the model's tensor table */
    int64_t rows, cols, nnz;
    int32_t *row_ptr;       /* (rows + 1) */
    int32_t *col_idx;       /* (nnz), sorted within each row */
} mask_layer;

struct spdf_mask {
    int num_layers;
    mask_layer *layers;
};

/* Frees the arrays of one layer (not the layer struct). */
void mask_layer_clear(mask_layer *layer);
/* Deep copy of a layer's pattern; SPDF_ENOMEM on failure (dst is then cleared). */
spdf_status mask_layer_copy(mask_layer *dst, const mask_layer *src);

#endif
