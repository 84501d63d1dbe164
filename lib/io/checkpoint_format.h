/* The checkpoint file format shared by its writer (checkpoint_save.c) and its reader
 * (checkpoint_load.c): header fields, section ids and record sizes, as docs/checkpoint-format.md
 * describes them. */
#ifndef SPDF_CHECKPOINT_FORMAT_H
#define SPDF_CHECKPOINT_FORMAT_H

#include "mask/pattern.h"
#include "model/model.h"
#include "model/tensor_table.h"

#include <stdint.h>

#define MAGIC "SPDFCKPT"
#define MAGIC_BYTES 8
#define FORMAT_VERSION 1u

/* Header fields (byte offsets). */
#define HEADER_BYTES 40
#define AT_VERSION 8
#define AT_FLAGS 12
#define AT_SECTION_COUNT 16
#define AT_TABLE_CRC 20
#define AT_FILE_SIZE 24
#define AT_HEADER_RESERVED 32
#define AT_HEADER_CRC 36

#define FLAG_SPARSE 1u
#define FLAG_OPTIMIZER 2u
#define FLAG_SAMPLER 4u
#define FLAG_PLAN 8u
#define FLAG_TOKENIZER 16u
#define FLAG_DROPOUT 32u
#define FLAGS_KNOWN (FLAG_SPARSE | FLAG_OPTIMIZER | FLAG_SAMPLER | FLAG_PLAN | FLAG_TOKENIZER | FLAG_DROPOUT)

/* Section table entry: id, payload CRC-32C, offset, size. */
#define ENTRY_BYTES 24

enum section_id {
    SECTION_CONFIG = 1,
    SECTION_MASK = 2,
    SECTION_TENSORS = 3,
    SECTION_OPTIMIZER = 4,
    SECTION_SAMPLER = 5,
    SECTION_PLAN = 6,
    SECTION_TOKENIZER = 7,
    SECTION_DROPOUT = 8,
    SECTION_ID_COUNT = 9 /* ids are 1 .. SECTION_ID_COUNT - 1 */
};
#define MAX_SECTIONS (SECTION_ID_COUNT - 1)

#define CONFIG_BYTES 56
#define MASK_HEADER_BYTES 8
#define MASK_LAYER_BYTES 32
#define OPTIMIZER_HEADER_BYTES 56
#define SAMPLER_BYTES 32
#define PLAN_HEADER_BYTES 8
#define PLAN_LAYER_BYTES 4
#define DROPOUT_BYTES 32
/* The largest libspdf tokenizer file: 2^20 ids (docs/token-format.md). */
#define TOKENIZER_MAX_BYTES (16 + 8 * (uint64_t)((1 << 20) - 257) + 4)

#define CHUNK_FLOATS 4096
#define CHUNK_BYTES (CHUNK_FLOATS * 4)

typedef struct section {
    uint32_t id;
    uint32_t crc; /* CRC-32C of the payload */
    uint64_t offset, size;
} section;

static inline const char *section_name(uint32_t id)
{
    switch (id) {
    case SECTION_CONFIG: return "CONFIG";
    case SECTION_MASK: return "MASK";
    case SECTION_TENSORS: return "TENSORS";
    case SECTION_OPTIMIZER: return "OPTIMIZER";
    case SECTION_SAMPLER: return "SAMPLER";
    case SECTION_PLAN: return "PLAN";
    case SECTION_TOKENIZER: return "TOKENIZER";
    case SECTION_DROPOUT: return "DROPOUT";
    }
    return "unknown";
}

/* ---- the tensor table of a configuration (lib/model/tensor_table.h) ---- */

typedef struct record_shape {
    int64_t rows, cols;
    int sparsifiable;
} record_shape;

static inline record_shape shape_of(const spdf_model_config *c, int index)
{
    int layer;
    const tensor_kind kind = tensor_kind_at(c, index, &layer);
    record_shape s = {0, 0, tensor_spec_of(kind)->sparsifiable};
    tensor_shape(c, kind, &s.rows, &s.cols);
    return s;
}

/* A model's dropout goes into the file (the optional DROPOUT section) unless it is a new model's:
 * rates 0, the configuration's seed, no training pass counted. */
static inline int dropout_saved(const spdf_model *model)
{
    const model_dropout *d = &model->dropout;
    return model_dropout_active(d) || d->seed != model->config.seed || d->forwards != 0;
}

static inline int64_t padded8(int64_t bytes) { return (bytes + 7) & ~(int64_t)7; }

static inline int64_t mask_section_bytes(const spdf_model_config *c)
{
    int64_t bytes = MASK_HEADER_BYTES;
    for (int i = 0; i < tensor_count(c); i++) {
        const record_shape s = shape_of(c, i);
        if (s.sparsifiable) bytes += MASK_LAYER_BYTES + padded8(pattern_bitmap_bytes(s.rows, s.cols));
    }
    return bytes;
}

/* Where CSR element k of a tensor is stored: NULL when the tensor is dense or the backend keeps
 * its non-zeros in CSR order. */
static inline const int32_t *csr_to_slot(const spdf_model *model, int tensor)
{
    const int slot = model->tensors[tensor].sparse_slot;
    return slot >= 0 ? model->sparse[slot].csr_to_slot : NULL;
}

#endif
