/* The GPT-2 model's tensors, described once: name, Hugging Face name and layout, shape as a
 * function of the configuration, whether a mask may cover it and whether AdamW decays it.  The
 * model lays its parameters out from this table, and every reader and writer of model files
 * (checkpoints, safetensors, llm.c) and the FLOP count take names, shapes and orders from it.
 *
 * Order.  The public tensor table (include/spdf.h) is wte, wpe, then the twelve block tensors of
 * each layer in turn, then ln_f: "table order".  llm.c keeps each kind for all layers together,
 * kinds in the order of tensor_kind: "kind order". */
#ifndef SPDF_TENSOR_TABLE_H
#define SPDF_TENSOR_TABLE_H

#include "spdf.h"

#include <stddef.h>
#include <stdint.h>

typedef enum tensor_kind {
    TENSOR_WTE, TENSOR_WPE,
    /* the twelve tensors of every block, in table order */
    TENSOR_LN1_W, TENSOR_LN1_B, TENSOR_QKV_W, TENSOR_QKV_B, TENSOR_ATTPROJ_W, TENSOR_ATTPROJ_B,
    TENSOR_LN2_W, TENSOR_LN2_B, TENSOR_FC_W, TENSOR_FC_B, TENSOR_FCPROJ_W, TENSOR_FCPROJ_B,
    TENSOR_LNF_W, TENSOR_LNF_B,
    TENSOR_KINDS
} tensor_kind;

enum {
    TENSOR_FIRST_BLOCK = TENSOR_LN1_W,
    BLOCK_TENSOR_COUNT = TENSOR_LNF_W - TENSOR_LN1_W, /* 12 */
    SPARSIFIABLE_PER_BLOCK = 4                         /* QKV, attention and MLP projections */
};

/* A dimension of a shape, resolved against a configuration. */
typedef enum tensor_dim {
    DIM_NONE,      /* a vector: no second dimension */
    DIM_VOCAB,     /* vocab_size */
    DIM_POSITIONS, /* max_seq_len */
    DIM_C, DIM_3C, DIM_4C
} tensor_dim;

typedef struct tensor_spec {
    const char *name;     /* spdf and Hugging Face name; block tensors follow "h.<layer>." */
    const char *hf_name;  /* outside the blocks: Hugging Face's ("wte.weight"); else as name */
    tensor_dim rows, cols;
    int in_block;
    int sparsifiable;     /* a block linear weight (SPDF_TENSOR_SPARSIFIABLE) */
    int decay;            /* AdamW decays it (SPDF_TENSOR_DECAY): the 2-D tensors */
    int hf_transposed;    /* Hugging Face stores it as a Conv1D weight, (in, out) */
    int residual_projection; /* GPT-2 initialises it with std 0.02 / sqrt(2 L) */
} tensor_spec;

const tensor_spec *tensor_spec_of(tensor_kind kind);

/* The configuration limits every model obeys: SPDF_EINVAL with the reason otherwise. */
spdf_status model_config_validate(const spdf_model_config *c);

int tensor_count(const spdf_model_config *c);
/* Table index of (kind, layer); layer is ignored outside the blocks. */
int tensor_index(const spdf_model_config *c, tensor_kind kind, int layer);
/* The kind at table index `index` (< tensor_count) and its layer (-1 outside the blocks). */
tensor_kind tensor_kind_at(const spdf_model_config *c, int index, int *layer);
/* Rows and columns (1 for a vector) of a tensor of this kind. */
void tensor_shape(const spdf_model_config *c, tensor_kind kind, int64_t *rows, int64_t *cols);
/* Dense parameter count of the whole model. */
int64_t tensor_total_params(const spdf_model_config *c);
/* Weights of the block linear layers (the ones a mask may cover), all layers together. */
int64_t tensor_block_linear_params(const spdf_model_config *c);
/* "h.3.attn.c_attn.weight" (hugging_face 0) or the Hugging Face name ("wte.weight"). */
void tensor_name(tensor_kind kind, int layer, int hugging_face, char *name, size_t size);

#endif
