/* The mask handle: for each block linear weight, the kept positions.  Masks are made from plain
 * views of the weights (mask_weight), so this folder knows nothing of the model. */
#ifndef SPDF_MASK_H
#define SPDF_MASK_H

#include "mask/pattern.h"
#include "spdf.h"

typedef struct mask_layer {
    int tensor;               /* index in the model's tensor table */
    sparsity_pattern pattern;
} mask_layer;

struct spdf_mask {
    uint32_t tag; /* HANDLE_MASK (core/core.h), first */
    int num_layers;
    mask_layer *layers;
};

/* A weight a mask is made for: its table index, its shape, and its dense values (read by
 * magnitude masks only; may be NULL for the others). */
typedef struct mask_weight {
    int tensor;
    int64_t rows, cols;
    const float *values;
} mask_weight;

/* The mask `config` describes over `count` weights, in their order; SPDF_EINVAL for a bad
 * configuration, SPDF_ENOMEM. */
spdf_status mask_build(const mask_weight *weights, int count, const spdf_mask_config *config,
                       int num_threads, spdf_mask **out);
/* A mask of count empty layers, for a reader to fill; NULL when out of memory. */
spdf_mask *mask_alloc(int count);

#endif
