/* The in-memory token dataset shared by the token-file reader and the batch sampler.
 * Private to lib/io: the public header only sees the opaque spdf_dataset. */
#ifndef SPDF_IO_DATASET_H
#define SPDF_IO_DATASET_H

#include "spdf.h"

#include <stdint.h>

struct spdf_dataset {
    uint32_t tag; /* HANDLE_DATASET (core/core.h), first */
    int32_t *tokens;     /* (count) ids, every one in [0, vocab_bound); 64-byte aligned */
    int64_t count;       /* number of ids, >= 0 */
    int32_t vocab_bound; /* largest id + 1; 0 for an empty dataset */
};

/* The fixed parameters a sampler was created with (checkpoints record and compare them). */
void sampler_describe(const spdf_sampler *sampler, int32_t *B, int32_t *T, uint64_t *seed,
                      spdf_sampler_order *order);

#endif
