/* The model handle: configuration, the parameter table, one allocation each for parameters and
 * gradients with named views into them, and the activation buffers of the last batch. */
#ifndef SPDF_MODEL_H
#define SPDF_MODEL_H

#include "backend/context.h"
#include "mask/mask.h"
#include "model/layers.h"
#include "model/tensor_table.h"
#include "spdf.h"

typedef struct tensor_desc {
    char name[48];
    int ndim;
    int64_t shape[2];
    int64_t numel;  /* dense element count */
    int64_t stored; /* elements stored: numel, or the non-zeros while a mask covers it */
    int64_t offset; /* into the parameter, gradient and moment arrays, in floats */
    uint32_t flags; /* SPDF_TENSOR_* */
    tensor_kind kind;
    int layer;
    int sparse_slot; /* index into spdf_model.sparse while stored compactly, else -1 */
} tensor_desc;

/* A weight stored compactly under a mask: its pattern and the backend's prepared kernels. */
typedef struct sparse_weight {
    int tensor; /* its index in the tensor table */
    sparsity_pattern pattern;
    void *kernel;
    /* The backend's storage order (sparse_order): slot s holds CSR element slot_to_csr[s], and
     * CSR element k lives in slot csr_to_slot[k].  Both NULL for CSR order. */
    const int32_t *slot_to_csr;
    int32_t *csr_to_slot;
} sparse_weight;

/* Named views into one flat allocation (weights or gradients). */
typedef struct block_views {
    float *ln1w, *ln1b;         /* (C) */
    float *qkvw, *qkvb;         /* (3C,C), (3C) */
    float *attprojw, *attprojb; /* (C,C), (C) */
    float *ln2w, *ln2b;         /* (C) */
    float *fcw, *fcb;           /* (4C,C), (4C) */
    float *fcprojw, *fcprojb;   /* (C,4C), (C) */
} block_views;

typedef struct gpt_views {
    float *wte;  /* (V,C) */
    float *wpe;  /* (maxT,C) */
    block_views *blocks; /* (L) */
    float *lnfw, *lnfb;  /* (C) */
} gpt_views;

/* Activations of the last forward pass for a (B,T) batch; per-layer arrays are (L, ...). */
typedef struct gpt_activations {
    size_t capacity; /* floats allocated in `memory` */
    float *memory;
    float *encoded;                        /* (B,T,C) */
    float *ln1, *ln1_mean, *ln1_rstd;      /* (L,B,T,C), (L,B,T), (L,B,T) */
    float *qkv;                            /* (L,B,T,3C) */
    float *atty;                           /* (L,B,T,C) */
    float *att;                            /* (L,B,NH,T,T) */
    float *residual2;                      /* (L,B,T,C) */
    float *ln2, *ln2_mean, *ln2_rstd;      /* (L,B,T,C), (L,B,T), (L,B,T) */
    float *fch, *fch_gelu;                 /* (L,B,T,4C) */
    float *residual3;                      /* (L,B,T,C) */
    float *lnf, *lnf_mean, *lnf_rstd;      /* (B,T,C), (B,T), (B,T) */
    float *logits;                         /* (B,T,V) */
    float *logsumexp, *losses, *weights;   /* (B,T) */
    float *projection;                     /* (B,T,C) scratch: attention/MLP output projection */
    /* backward scratch, reused by every layer */
    float *dresidual;                      /* (B,T,C) */
    float *dln;                            /* (B,T,C) */
    float *dqkv;                           /* (B,T,3C) */
    float *dfch, *dfch_gelu;               /* (B,T,4C) */
    float *dlogits;                        /* (B,T,V) */
    float *attention_scratch;              /* attention_scratch_floats() */
    int32_t *tokens, *targets;             /* (B,T) copies of the last batch */
} gpt_activations;

/* Dropout (dropout.c): the rates and seed of spdf_model_set_dropout, and the number of training
 * forward passes so far, which keys the next one's masks. */
typedef struct model_dropout {
    float embedding, attention, residual;
    uint64_t seed;
    uint64_t forwards;
} model_dropout;

struct spdf_model {
    uint32_t tag; /* HANDLE_MODEL (core/core.h), first */
    spdf_context *ctx;
    spdf_model_config config;
    int num_tensors;
    tensor_desc *tensors;
    int64_t num_params;    /* dense count */
    int64_t num_stored;    /* stored count: num_params, less the masked weights while sparse */
    float *params, *grads; /* (num_stored) used of a reservation of (num_params) each */
    spdf_phase_kind phase;
    int num_sparse;
    sparse_weight *sparse; /* (num_sparse) while the phase is SPARSE */
    spdf_optimizer *optimizer; /* the optimizer created for this model, if any (opaque here) */
    float *moments[2];         /* its moment arrays, laid out like the parameters: the phase
                                  changes move them with the weights */
    int num_moments;
    spdf_phase *phase_handle;  /* the phase handle of this model, if any */
    gpt_views w, g;
    gpt_activations acts;
    int B, T;           /* shape of the last forward pass, 0 before the first */
    int has_targets;    /* the last forward pass computed a loss, so backward may run */
    int generated;      /* spdf_generate ran since the last spdf_model_forward (B, T are 0) */
    int has_gradients;  /* a backward pass added gradients since the last update or clearing */
    spdf_sparse_memory sparse_memory; /* what a SPARSE phase does with the unused dense pages */
    int pages_pending; /* KEEP: those pages are to be committed at the next backward pass */
    spdf_sparse_plan_config sparse_plan; /* how masked layers are planned */
    model_dropout dropout; /* the settings, and the counter of training forward passes */
    model_dropout drawn;   /* the last forward pass's rates (all 0 if it dropped nothing), seed
                              and counter: backward draws the same masks again */
};

/* Generation overwrote the activations: no logits and no backward pass until the next forward. */
void model_forget_activations(spdf_model *model);

static inline spdf_exec model_exec(const spdf_model *model)
{
    spdf_exec ex = {model->ctx->ops, model->ctx->num_threads};
    return ex;
}

/* model.c */
void model_bind_views(spdf_model *model);
int model_num_sparsifiable(const spdf_model *model);
/* The stored slot of CSR element k of sparse weight `slot`. */
static inline int64_t sparse_slot_of(const sparse_weight *w, int64_t k)
{
    return w->csr_to_slot ? w->csr_to_slot[k] : k;
}
/* Dense values of a tensor (dense phase, or a tensor stored densely). */
const float *model_tensor_values(const spdf_model *model, int tensor);

/* storage.c: moving the stored arrays between the dense and the compact layout in place. */
spdf_status model_attach_mask(spdf_model *model, const spdf_mask *mask, float *const *moments,
                              int num_moments);
void model_release_sparse(spdf_model *model);
/* Applies model->sparse_memory to the pages past num_stored of the weight, gradient and the
 * given moment arrays: returns them to the system now (RELEASE), or (KEEP) marks them to be
 * committed by model_commit_kept_pages at the next backward pass, so that a sparse model that is
 * only evaluated never commits its gradient and moment pages. */
void model_apply_sparse_memory(spdf_model *model, float *const *moments, int num_moments);
/* Commits the pages model_apply_sparse_memory left pending (weights, gradients and the moments of
 * the model's optimizer); nothing when none are. */
void model_commit_kept_pages(spdf_model *model);
spdf_status model_densify(spdf_model *model, float *const *moments, int num_moments,
                          int reset_moments);

/* plan.c: planning the masked layers' kernels.  saved: the kernels a checkpoint recorded,
 * (num_sparse, SPDF_PRODUCTS) spdf_sparse_kernel_kind values, or NULL to plan by the model's
 * configuration; a saved kernel the backend lacks is planned afresh. */
spdf_status model_plan_layer(const spdf_model *model, void *kernel, int layer, const int8_t *saved);
spdf_status model_plan_sparse(spdf_model *model, const int8_t *saved);
void model_sparse_report(const spdf_model *model, int layer, spdf_sparse_plan_report *report);

/* storage.c: the arrays an optimizer keeps laid out like the parameters (AdamW's two moments),
 * registered when it is created and dropped when it is freed.  Registered while the model is
 * sparse under KEEP, their pages are committed at the next backward pass, as if they had existed
 * when the mask was attached. */
/* SPDF_EFORMAT naming the file kind and path, the tensor and the element unless every stored
 * weight (and, with moments != NULL, every value of those num_moments arrays) is finite: what a
 * loader checks before handing a model out, since a NaN in a weight no batch reaches would
 * otherwise train and be saved silently. */
spdf_status model_check_finite(const spdf_model *model, float *const *moments, int num_moments,
                               const char *kind, const char *path);

void model_attach_moments(spdf_model *model, spdf_optimizer *owner, float *m, float *v);
void model_detach_moments(spdf_model *model, const spdf_optimizer *owner);

/* decode.c: incremental decoding with a key/value cache of `rows` independent sequences. */
typedef struct decoder decoder;
spdf_status decoder_create(spdf_model *model, int rows, decoder **out);
void decoder_free(decoder *dec);
/* Runs rows 0..rows-1 on one token each at position pos; returns their logits (rows, V). */
const float *decoder_step(decoder *dec, int rows, const int32_t *tokens, int pos);
/* Row r's cache (positions 0..length-1) becomes a copy of row parents[r]'s. */
void decoder_copy_rows(decoder *dec, const int *parents, int length);

/* gpt.c */
/* out = inp W^T of block l's linear layer `which`, plus its bias unless bias_left is given:
 * then *bias_left receives the bias for the next layer to fuse in. */
void model_block_linear_forward(const spdf_model *model, const spdf_exec *ex, int l, tensor_kind which,
                                float *out, const float *inp, int64_t N, int C, int OC,
                                const float **bias_left);
spdf_status gpt_forward(spdf_model *model, const int32_t *tokens, const int32_t *targets,
                        const float *loss_weights, int B, int T, float *loss);
/* The same with dropout at drop's rates, its masks keyed by drop->seed and drop->forwards. */
spdf_status gpt_forward_dropout(spdf_model *model, const int32_t *tokens, const int32_t *targets,
                                const float *loss_weights, int B, int T,
                                const model_dropout *drop, float *loss);

/* dropout.c: the mask of one dropout site of a forward pass.  Sites: the embedding, then per
 * layer its attention weights and its two projections (attention, MLP). */
typedef enum dropout_site_kind {
    DROPOUT_ATTENTION = 0,
    DROPOUT_ATTENTION_PROJECTION = 1,
    DROPOUT_MLP_PROJECTION = 2
} dropout_site_kind;
dropout_mask model_dropout_mask(const model_dropout *drop, float p, int layer /* -1: embedding */,
                                dropout_site_kind kind);
int model_dropout_active(const model_dropout *drop);
void gpt_backward(spdf_model *model);

#endif
