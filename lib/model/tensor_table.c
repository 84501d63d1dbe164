/* The GPT-2 tensor table (tensor_table.h). */
#include "model/tensor_table.h"
#include "core/core.h"

#include <stdio.h>

static const tensor_spec specs[TENSOR_KINDS] = {
    [TENSOR_WTE] = {"wte", "wte.weight", DIM_VOCAB, DIM_C, 0, 0, 1, 0, 0},
    [TENSOR_WPE] = {"wpe", "wpe.weight", DIM_POSITIONS, DIM_C, 0, 0, 1, 0, 0},
    [TENSOR_LN1_W] = {"ln_1.weight", "ln_1.weight", DIM_C, DIM_NONE, 1, 0, 0, 0, 0},
    [TENSOR_LN1_B] = {"ln_1.bias", "ln_1.bias", DIM_C, DIM_NONE, 1, 0, 0, 0, 0},
    [TENSOR_QKV_W] = {"attn.c_attn.weight", "attn.c_attn.weight", DIM_3C, DIM_C, 1, 1, 1, 1, 0},
    [TENSOR_QKV_B] = {"attn.c_attn.bias", "attn.c_attn.bias", DIM_3C, DIM_NONE, 1, 0, 0, 0, 0},
    [TENSOR_ATTPROJ_W] = {"attn.c_proj.weight", "attn.c_proj.weight", DIM_C, DIM_C, 1, 1, 1, 1, 1},
    [TENSOR_ATTPROJ_B] = {"attn.c_proj.bias", "attn.c_proj.bias", DIM_C, DIM_NONE, 1, 0, 0, 0, 0},
    [TENSOR_LN2_W] = {"ln_2.weight", "ln_2.weight", DIM_C, DIM_NONE, 1, 0, 0, 0, 0},
    [TENSOR_LN2_B] = {"ln_2.bias", "ln_2.bias", DIM_C, DIM_NONE, 1, 0, 0, 0, 0},
    [TENSOR_FC_W] = {"mlp.c_fc.weight", "mlp.c_fc.weight", DIM_4C, DIM_C, 1, 1, 1, 1, 0},
    [TENSOR_FC_B] = {"mlp.c_fc.bias", "mlp.c_fc.bias", DIM_4C, DIM_NONE, 1, 0, 0, 0, 0},
    [TENSOR_FCPROJ_W] = {"mlp.c_proj.weight", "mlp.c_proj.weight", DIM_C, DIM_4C, 1, 1, 1, 1, 1},
    [TENSOR_FCPROJ_B] = {"mlp.c_proj.bias", "mlp.c_proj.bias", DIM_C, DIM_NONE, 1, 0, 0, 0, 0},
    [TENSOR_LNF_W] = {"ln_f.weight", "ln_f.weight", DIM_C, DIM_NONE, 0, 0, 0, 0, 0},
    [TENSOR_LNF_B] = {"ln_f.bias", "ln_f.bias", DIM_C, DIM_NONE, 0, 0, 0, 0, 0},
};

const tensor_spec *tensor_spec_of(tensor_kind kind) { return &specs[kind]; }

spdf_status model_config_validate(const spdf_model_config *c)
{
    if (c->vocab_size < 1 || c->vocab_size > (1 << 24))
        return spdf_fail(SPDF_EINVAL, "vocab_size must be in [1, 2^24], got %d", (int)c->vocab_size);
    if (c->max_seq_len < 1 || c->max_seq_len > 65536)
        return spdf_fail(SPDF_EINVAL, "max_seq_len must be in [1, 65536], got %d", (int)c->max_seq_len);
    if (c->num_layers < 1 || c->num_layers > 1024)
        return spdf_fail(SPDF_EINVAL, "num_layers must be in [1, 1024], got %d", (int)c->num_layers);
    if (c->channels < 1 || c->channels > 65536)
        return spdf_fail(SPDF_EINVAL, "channels must be in [1, 65536], got %d", (int)c->channels);
    if (c->num_heads < 1 || c->channels % c->num_heads != 0)
        return spdf_fail(SPDF_EINVAL, "num_heads (%d) must be positive and divide channels (%d)",
                         (int)c->num_heads, (int)c->channels);
    if (c->reserved != 0) return spdf_fail(SPDF_EINVAL, "spdf_model_config.reserved must be 0");
    return SPDF_OK;
}

int tensor_count(const spdf_model_config *c) { return 4 + BLOCK_TENSOR_COUNT * c->num_layers; }

int tensor_index(const spdf_model_config *c, tensor_kind kind, int layer)
{
    if ((int)kind < (int)TENSOR_FIRST_BLOCK) return (int)kind;
    if (kind >= TENSOR_LNF_W) return tensor_count(c) - 2 + (int)(kind - TENSOR_LNF_W);
    return 2 + layer * BLOCK_TENSOR_COUNT + ((int)kind - (int)TENSOR_FIRST_BLOCK);
}

tensor_kind tensor_kind_at(const spdf_model_config *c, int index, int *layer)
{
    *layer = -1;
    if (index < 2) return (tensor_kind)index;
    if (index >= tensor_count(c) - 2) return (tensor_kind)(TENSOR_LNF_W + index - (tensor_count(c) - 2));
    *layer = (index - 2) / BLOCK_TENSOR_COUNT;
    return (tensor_kind)((int)TENSOR_FIRST_BLOCK + (index - 2) % BLOCK_TENSOR_COUNT);
}

static int64_t dimension(const spdf_model_config *c, tensor_dim d)
{
    switch (d) {
    case DIM_VOCAB: return c->vocab_size;
    case DIM_POSITIONS: return c->max_seq_len;
    case DIM_C: return c->channels;
    case DIM_3C: return 3 * (int64_t)c->channels;
    case DIM_4C: return 4 * (int64_t)c->channels;
    default: return 1;
    }
}

void tensor_shape(const spdf_model_config *c, tensor_kind kind, int64_t *rows, int64_t *cols)
{
    *rows = dimension(c, specs[kind].rows);
    *cols = dimension(c, specs[kind].cols);
}

int64_t tensor_total_params(const spdf_model_config *c)
{
    int64_t total = 0;
    for (int k = 0; k < TENSOR_KINDS; k++) {
        int64_t rows, cols;
        tensor_shape(c, (tensor_kind)k, &rows, &cols);
        total += rows * cols * (specs[k].in_block ? c->num_layers : 1);
    }
    return total;
}

int64_t tensor_block_linear_params(const spdf_model_config *c)
{
    int64_t total = 0;
    for (int k = 0; k < TENSOR_KINDS; k++) {
        if (!specs[k].sparsifiable) continue;
        int64_t rows, cols;
        tensor_shape(c, (tensor_kind)k, &rows, &cols);
        total += rows * cols * c->num_layers;
    }
    return total;
}

void tensor_name(tensor_kind kind, int layer, int hugging_face, char *name, size_t size)
{
    const tensor_spec *s = &specs[kind];
    if (s->in_block) snprintf(name, size, "h.%d.%s", layer, s->name);
    else snprintf(name, size, "%s", hugging_face ? s->hf_name : s->name);
}
