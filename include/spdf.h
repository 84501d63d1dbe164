/* libspdf: sparse pre-training and dense fine-tuning of GPT-style models on the CPU.
 * The whole public contract of the library: handles, status codes, ownership and threading rules. */
#ifndef SPDF_H
#define SPDF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------------
 * Conventions (read once, they hold for every function below)
 *
 * Status codes.  Every fallible function returns an spdf_status; SPDF_OK is 0.  On failure a
 *   readable detail is available from spdf_last_error() on the same thread, and the output
 *   parameters are left untouched unless the function says otherwise.
 *
 * Ownership.  Handles (spdf_context, spdf_model, ...) are created by spdf_X_create and released
 *   by spdf_X_free; spdf_X_free(NULL) is a no-op.  A handle must outlive every handle created
 *   from it (free the model after its optimizer, mask and phase; the context after its models).
 *   Buffers passed in are owned by the caller and only read during the call unless stated.
 *   Pointers handed out (names, logits, tensor data) are borrowed: they stay valid for the
 *   lifetime stated at each function and must not be freed.
 *
 * Threads.  Functions without a handle argument are thread-safe.  A handle, and every handle
 *   created from it, may be used by one thread at a time; different model families may be used
 *   on different threads concurrently.  Compute calls use the context's own worker threads
 *   (OpenMP) internally.
 *
 * Handles.  Every handle carries a tag naming its kind: passing a handle of another kind is
 *   SPDF_EINVAL, and the free functions ignore it.  A freed handle's tag is overwritten, so using
 *   it is usually SPDF_EINVAL too, but that is best effort: its memory may have been reused.
 *
 * Extensible configuration.  Every configuration struct starts with `size_t struct_size`.  Call
 *   the matching spdf_X_config_init() first: it sets struct_size to the size the caller was
 *   compiled against and fills in the defaults.  The library reads only the first struct_size
 *   bytes, so a program built against an older header keeps working with a newer library (new
 *   fields take their defaults), and members are only ever appended, never reordered or removed.
 *   A larger struct_size (a newer header) is accepted only if the members this library does not
 *   know are 0 (SPDF_EUNSUPPORTED otherwise).  Output structs: the caller sets struct_size; the
 *   library writes no byte past it and sets it to the number of bytes filled.
 * ---------------------------------------------------------------------------------------------- */

#if defined(_WIN32) && defined(SPDF_BUILDING_LIBRARY)
#define SPDF_API __declspec(dllexport)
#elif defined(__GNUC__) && defined(SPDF_BUILDING_LIBRARY)
#define SPDF_API __attribute__((visibility("default")))
#else
#define SPDF_API
#endif

/* ---- Version ---------------------------------------------------------------------------------- */

#define SPDF_VERSION_MAJOR 0
#define SPDF_VERSION_MINOR 1
#define SPDF_VERSION_PATCH 0
#define SPDF_VERSION_NUMBER (SPDF_VERSION_MAJOR * 10000 + SPDF_VERSION_MINOR * 100 + SPDF_VERSION_PATCH)
#define SPDF_VERSION_STRING "0.1.0"

/* Version of the library actually loaded, as SPDF_VERSION_NUMBER / SPDF_VERSION_STRING. */
SPDF_API unsigned spdf_version_number(void);
SPDF_API const char *spdf_version_string(void);

/* ---- Status codes and errors ------------------------------------------------------------------ */

typedef enum spdf_status {
    SPDF_OK = 0,
    SPDF_EINVAL = 1,        /* an argument is NULL, out of range or inconsistent */
    SPDF_ENOMEM = 2,        /* an allocation failed */
    SPDF_EIO = 3,           /* reading or writing a file failed */
    SPDF_EFORMAT = 4,       /* a file is not in the expected format, or is corrupt */
    SPDF_ESTATE = 5,        /* the call is not valid in the handle's current state or phase */
    SPDF_EUNSUPPORTED = 6,  /* not available in this build, backend or configuration */
    SPDF_ENUMERIC = 7,      /* a NaN or infinity appeared (loss, gradient norm) */
    SPDF_EINTERNAL = 8      /* a bug in libspdf: please report it with spdf_last_error() */
} spdf_status;

/* Stable name of a status ("SPDF_EINVAL"); "SPDF_UNKNOWN" for values outside the enum. */
SPDF_API const char *spdf_status_name(spdf_status status);

/* Detail of the last failure on the calling thread ("" if none).  The string is owned by the
 * library and valid until the next libspdf call on this thread. */
SPDF_API const char *spdf_last_error(void);

/* ---- Context: backend and threads ------------------------------------------------------------- */

typedef struct spdf_context spdf_context;

typedef struct spdf_context_config {
    size_t struct_size;
    /* "auto" (default), "ref" or "xsmm".  NULL means: the SPDF_BACKEND environment variable if it
     * is set, else "auto".  An unknown or unavailable name is an error (SPDF_EUNSUPPORTED), never
     * a silent fallback. */
    const char *backend;
    /* Worker threads for compute; 0 (default) = the OpenMP default (number of cores). */
    int32_t num_threads;
} spdf_context_config;

SPDF_API spdf_status spdf_context_config_init(spdf_context_config *config);
/* config may be NULL for all defaults. */
SPDF_API spdf_status spdf_context_create(const spdf_context_config *config, spdf_context **out);
SPDF_API void spdf_context_free(spdf_context *ctx);
/* Name of the backend the context resolved to ("ref", "xsmm"); valid for the context's lifetime. */
SPDF_API spdf_status spdf_context_backend(const spdf_context *ctx, const char **name);
SPDF_API spdf_status spdf_context_num_threads(const spdf_context *ctx, int32_t *num_threads);

/* Backends compiled into this library, available on this CPU or not. Names are static strings. */
SPDF_API spdf_status spdf_backend_count(int32_t *count);
SPDF_API spdf_status spdf_backend_name(int32_t index, const char **name);
/* *available = 1 if the named backend can run here, 0 otherwise; unknown names are SPDF_EINVAL. */
SPDF_API spdf_status spdf_backend_available(const char *name, int32_t *available);

/* ---- Model: GPT-2 style decoder, fp32 --------------------------------------------------------- */

typedef struct spdf_model spdf_model;

typedef struct spdf_model_config {
    size_t struct_size;
    int32_t vocab_size;   /* default 257: the byte tokenizer's vocabulary (SPDF_BYTE_VOCAB_SIZE) */
    int32_t max_seq_len;  /* learned positions; default 256 */
    int32_t num_layers;   /* default 4 */
    int32_t num_heads;    /* default 4; must divide channels */
    int32_t channels;     /* embedding width; default 128 */
    int32_t reserved;     /* must be 0 */
    uint64_t seed;        /* initialisation seed; default 1337 */
} spdf_model_config;

SPDF_API spdf_status spdf_model_config_init(spdf_model_config *config);
/* Creates a model with GPT-2 initialisation: weights N(0, 0.02), the two residual projections of
 * every block N(0, 0.02 / sqrt(2 * num_layers)), biases 0, LayerNorm gains 1.  The same seed
 * gives the same weights on every machine and thread count.  The context must outlive it. */
SPDF_API spdf_status spdf_model_create(spdf_context *ctx, const spdf_model_config *config,
                                       spdf_model **out);
SPDF_API void spdf_model_free(spdf_model *model);
SPDF_API spdf_status spdf_model_get_config(const spdf_model *model, spdf_model_config *config);
/* Total number of parameters (float scalars), dense count even while a mask is attached. */
SPDF_API spdf_status spdf_model_num_params(const spdf_model *model, int64_t *count);

/* Parameter introspection.  Tensors are numbered 0..count-1 in a fixed order: wte (V,C), wpe
 * (maxT,C), then for each block i the tensors "h.<i>.ln_1.weight" (C), "h.<i>.ln_1.bias" (C),
 * "h.<i>.attn.c_attn.weight" (3C,C), "h.<i>.attn.c_attn.bias" (3C), "h.<i>.attn.c_proj.weight"
 * (C,C), "h.<i>.attn.c_proj.bias" (C), "h.<i>.ln_2.weight" (C), "h.<i>.ln_2.bias" (C),
 * "h.<i>.mlp.c_fc.weight" (4C,C), "h.<i>.mlp.c_fc.bias" (4C), "h.<i>.mlp.c_proj.weight" (C,4C),
 * "h.<i>.mlp.c_proj.bias" (C), and last "ln_f.weight" (C), "ln_f.bias" (C).  Linear weights are
 * stored row-major as (out_features, in_features): y = x W^T + b.  (Hugging Face's GPT-2 stores
 * the same matrices transposed.)  The LM head is tied to wte. */
#define SPDF_TENSOR_DECAY 1u       /* AdamW applies weight decay to it (2-D weights, embeddings) */
#define SPDF_TENSOR_SPARSIFIABLE 2u /* a block linear weight: a mask may cover it */

typedef struct spdf_tensor_info {
    size_t struct_size;
    const char *name;  /* valid for the model's lifetime */
    int32_t ndim;      /* 1 or 2 */
    uint32_t flags;    /* SPDF_TENSOR_* bits */
    int64_t shape[4];  /* unused dimensions are 1 */
    int64_t numel;     /* dense element count */
    int32_t layer;     /* block index, -1 for tensors outside the blocks */
    int32_t reserved;
} spdf_tensor_info;

SPDF_API spdf_status spdf_model_num_tensors(const spdf_model *model, int32_t *count);
/* info->struct_size must be set by the caller (sizeof(spdf_tensor_info)). */
SPDF_API spdf_status spdf_model_tensor_info(const spdf_model *model, int32_t index,
                                            spdf_tensor_info *info);
/* Index of the tensor with this exact name; SPDF_EINVAL if there is none. */
SPDF_API spdf_status spdf_model_tensor_find(const spdf_model *model, const char *name,
                                            int32_t *index);
/* Copy a tensor's values (dense layout, numel floats) out of or into the model.  count must equal
 * the tensor's numel. */
SPDF_API spdf_status spdf_model_tensor_read(const spdf_model *model, int32_t index, float *dst,
                                            int64_t count);
SPDF_API spdf_status spdf_model_tensor_write(spdf_model *model, int32_t index, const float *src,
                                             int64_t count);
/* The tensor's gradient as accumulated so far (dense layout, numel floats). */
SPDF_API spdf_status spdf_model_tensor_grad_read(const spdf_model *model, int32_t index,
                                                 float *dst, int64_t count);
/* Direct pointer to a tensor's values in dense layout, for zero-copy access; valid until the
 * model is freed or its phase changes.  SPDF_ESTATE while a mask stores the tensor compactly. */
SPDF_API spdf_status spdf_model_tensor_data(spdf_model *model, int32_t index, float **data);

/* Forward pass over a (B,T) batch of token ids, T <= max_seq_len.
 *   tokens:       (B,T) ids in [0, vocab_size)
 *   targets:      (B,T) next-token ids, or NULL for inference (then *loss is not written and
 *                 spdf_model_backward is not allowed until the next forward with targets)
 *   loss_weights: (B,T) non-negative weights, or NULL for all ones.  The loss is
 *                 sum_i w_i * CE_i / sum_i w_i: a weighted mean of the cross-entropy; tokens with
 *                 weight 0 add nothing to the loss or to any gradient.  All-zero weights are
 *                 SPDF_EINVAL.
 *   loss:         the weighted mean cross-entropy in nats (may be NULL if targets is NULL)
 * With targets it is a training forward pass and applies the model's dropout, if any
 * (spdf_model_set_dropout; spdf_model_forward_eval never drops).
 * Returns SPDF_ENUMERIC if the loss is not finite.  The buffers are only read during the call. */
SPDF_API spdf_status spdf_model_forward(spdf_model *model, const int32_t *tokens,
                                        const int32_t *targets, const float *loss_weights,
                                        int32_t B, int32_t T, float *loss);
/* Logits (B,T,V) of the last forward pass, row-major; valid until the next forward or free. */
SPDF_API spdf_status spdf_model_logits(const spdf_model *model, const float **logits, int32_t *B,
                                       int32_t *T, int32_t *V);
/* Backward pass of the last forward pass (which must have had targets); it consumes that pass's
 * saved activations, so a second backward without a new forward returns SPDF_ESTATE.
 * Gradients ACCUMULATE (+=) into the model's gradient buffers, so several forward/backward
 * pairs can add up a larger batch.  The library zeroes them at model creation, after
 * spdf_optimizer_step has applied them, and on spdf_model_zero_grad.  Under
 * SPDF_SPARSE_MEMORY_KEEP, the first backward pass after a mask was attached, an optimizer was
 * created or KEEP was chosen in a sparse phase also commits the dense arrays' pages (see there). */
SPDF_API spdf_status spdf_model_backward(spdf_model *model);
SPDF_API spdf_status spdf_model_zero_grad(spdf_model *model);

/* ---- Dropout (GPT-2's three sites), off by default ------------------------------------------- */

/* Dropout is drawn only in a training forward pass: spdf_model_forward WITH targets (the pass a
 * backward may follow).  Every other forward computes without it: spdf_model_forward without
 * targets (logits for inference), spdf_model_forward_eval (a loss without dropout, e.g. a
 * validation loss), spdf_model_evaluate and spdf_generate.  Dropout is inverted: kept units are
 * scaled by 1 / (1 - p), so nothing changes at inference.
 *
 * The masks come from a counter-based generator (Philox) keyed by (seed, forward_count, site,
 * element), so they depend neither on the thread count nor on the batch split across threads.
 * forward_count counts the training forward passes that dropped; each such pass uses the current
 * value and adds 1.  Checkpoints save the settings and the counter, so a resumed run draws the
 * masks an uninterrupted one would.  Setting the configuration again with the same seed and
 * forward_count replays the same masks. */
typedef struct spdf_dropout_config {
    size_t struct_size;
    float embedding;        /* after the token + position embeddings; default 0 */
    float attention;        /* on the attention weights (softmax probabilities); default 0 */
    float residual;         /* on the output of each block's attention projection and MLP
                               projection, before the residual add; default 0 */
    int32_t reserved;       /* must be 0 */
    uint64_t seed;          /* key of the masks; a new model's is its spdf_model_config.seed */
    uint64_t forward_count; /* training forward passes that dropped so far: the next one's masks
                               are drawn at this count */
} spdf_dropout_config;

/* All rates 0 (no dropout), seed 0, forward_count 0. */
SPDF_API spdf_status spdf_dropout_config_init(spdf_dropout_config *config);
/* Sets the model's dropout: rates in [0, 1) (anything else, NaN included, is SPDF_EINVAL), the
 * seed and the counter, all three taken as given.  To change rates without restarting the masks,
 * read the configuration with spdf_model_get_dropout and write it back changed.  A pass already
 * run is not affected: a backward uses the masks of its own forward. */
SPDF_API spdf_status spdf_model_set_dropout(spdf_model *model, const spdf_dropout_config *config);
SPDF_API spdf_status spdf_model_get_dropout(const spdf_model *model, spdf_dropout_config *config);
/* spdf_model_forward without dropout, whatever the model's configuration, and without
 * advancing forward_count.  With targets a backward may follow (the gradient of the loss
 * without dropout). */
SPDF_API spdf_status spdf_model_forward_eval(spdf_model *model, const int32_t *tokens,
                                             const int32_t *targets, const float *loss_weights,
                                             int32_t B, int32_t T, float *loss);

/* Data parallelism (docs/distributed.md).  Every gradient of the model as one array of *count
 * floats, to be reduced across replicas in place between spdf_model_backward and
 * spdf_optimizer_step (whose global-norm clipping then sees the reduced gradient).  The order is
 * the tensor order of spdf_model_tensor_info, each tensor's stored values in the backend's
 * storage order; while a mask is attached only the unmasked weights are stored, so at 75 %
 * sparsity the array is about a quarter of the dense count.  Replicas built from the same
 * configuration, backend, CPU kind and mask have the same layout, which
 * spdf_model_weights_checksum confirms.  The pointer is valid until the phase changes or the
 * model is freed. */
SPDF_API spdf_status spdf_model_gradients(spdf_model *model, float **gradients, int64_t *count);
/* Multiplies every gradient by factor (finite), e.g. 1/ranks after a sum-reduction. */
SPDF_API spdf_status spdf_model_scale_gradients(spdf_model *model, float factor);
/* CRC-32C of the stored weights (little-endian bytes in the gradient array's order), the stored
 * count and the phase: equal on replicas that hold the same model in the same layout. */
SPDF_API spdf_status spdf_model_weights_checksum(const spdf_model *model, uint32_t *checksum);

/* ---- Optimizer: AdamW with warmup + cosine schedule and global-norm clipping ------------------ */

typedef struct spdf_optimizer spdf_optimizer;

typedef enum spdf_lr_schedule {
    SPDF_LR_CONSTANT = 0, /* learning_rate after warmup, forever */
    SPDF_LR_COSINE = 1    /* linear warmup, then cosine decay to min_lr_ratio * learning_rate */
} spdf_lr_schedule;

typedef struct spdf_optimizer_config {
    size_t struct_size;
    float learning_rate;  /* peak learning rate; default 6e-4 */
    float beta1;          /* default 0.9 */
    float beta2;          /* default 0.95 */
    float eps;            /* default 1e-8 */
    float weight_decay;   /* default 0.1; applied to SPDF_TENSOR_DECAY tensors only */
    float grad_clip;      /* clip the global gradient L2 norm to this; <= 0 disables; default 1 */
    int32_t schedule;     /* spdf_lr_schedule; default SPDF_LR_COSINE */
    int32_t warmup_steps; /* linear warmup from lr/warmup to lr; default 0 */
    int32_t total_steps;  /* step at which cosine decay reaches the floor; default 1000 */
    float min_lr_ratio;   /* floor of the cosine decay as a fraction of learning_rate; 0.1 */
} spdf_optimizer_config;

SPDF_API spdf_status spdf_optimizer_config_init(spdf_optimizer_config *config);
/* The optimizer keeps first and second moments for every parameter of the model (compactly for
 * masked layers).  The model must outlive it.  config may be NULL for defaults. */
SPDF_API spdf_status spdf_optimizer_create(spdf_model *model, const spdf_optimizer_config *config,
                                           spdf_optimizer **out);
SPDF_API void spdf_optimizer_free(spdf_optimizer *opt);
/* One AdamW update from the accumulated gradients, then zeroes them.  grad_norm (may be NULL)
 * receives the global L2 norm before clipping, lr (may be NULL) the learning rate used.  If the
 * norm is not finite, returns SPDF_ENUMERIC and changes nothing (weights, moments, step and
 * gradients are left as they were, so the caller can inspect them and zero them).  With no
 * spdf_model_backward since the last update (or spdf_model_zero_grad, or a phase change), for
 * instance after a forward pass that failed, returns SPDF_ESTATE and takes no step. */
SPDF_API spdf_status spdf_optimizer_step(spdf_optimizer *opt, float *grad_norm, float *lr);
/* Number of updates applied so far (the schedule position). */
SPDF_API spdf_status spdf_optimizer_get_step(const spdf_optimizer *opt, int64_t *step);
/* The schedule's learning rate at an arbitrary step (step 0 is the first update). */
SPDF_API spdf_status spdf_optimizer_lr_at(const spdf_optimizer *opt, int64_t step, float *lr);
SPDF_API spdf_status spdf_optimizer_get_config(const spdf_optimizer *opt,
                                               spdf_optimizer_config *config);
/* Starts a new schedule: the step counter returns to 0 and config (NULL keeps the current one)
 * replaces the configuration; reset_moments = 1 also restarts the AdamW moments at 0.  For
 * fine-tuning a dense model; a sparse model does the same through spdf_phase_transition. */
SPDF_API spdf_status spdf_optimizer_restart(spdf_optimizer *opt, const spdf_optimizer_config *config,
                                            int32_t reset_moments);

/* ---- Token data: files, byte tokenizer, batch sampler ----------------------------------------- */

/* Byte-level tokenizer: ids 0..255 are bytes; SPDF_TOKEN_EOT marks end of text. */
#define SPDF_TOKEN_EOT 256
#define SPDF_BYTE_VOCAB_SIZE 257

/* Encodes len bytes of text as len ids (every byte is one id; no special tokens are produced).
 * out may be NULL to ask for the count; otherwise it holds cap ids.  *count = len. */
SPDF_API spdf_status spdf_byte_encode(const char *text, size_t len, int32_t *out, size_t cap,
                                      size_t *count);
/* Decodes ids to bytes; SPDF_TOKEN_EOT becomes the text "<|endoftext|>".  Writes at most cap
 * bytes plus no terminator; *len receives the full decoded length (out may be NULL to ask).
 * Ids outside [0, SPDF_BYTE_VOCAB_SIZE) are SPDF_EINVAL. */
SPDF_API spdf_status spdf_byte_decode(const int32_t *tokens, size_t n, char *out, size_t cap,
                                      size_t *len);

/* Byte-level BPE tokenizer (docs/token-format.md): ids 0..255 are bytes, SPDF_TOKEN_EOT is 256,
 * and id 257 + i is the i-th learned merge of two earlier ids, so a byte-level model's data is a
 * BPE model's data with no merges.  Merges never cross chunk boundaries: an optional space plus a
 * run of letters (bytes >= 0x80 count as letters), an optional space plus a run of digits, or any
 * other single byte (so a newline is always id 10); runs are cut after 1024 bytes.  Any byte
 * string round-trips exactly.  A handle made by spdf_tokenizer_load_gpt2 (below) holds GPT-2's
 * tokenizer instead, with GPT-2's ids. */
typedef struct spdf_tokenizer spdf_tokenizer;

/* Learns merges from len bytes of text until vocab_size ids (at least 257, at most 2^20) or
 * until no pair of ids occurs twice; the same text gives the same tokenizer everywhere. */
SPDF_API spdf_status spdf_tokenizer_train(const char *text, size_t len, int32_t vocab_size,
                                          spdf_tokenizer **out);
/* Written atomically; checksummed (CRC-32C).  load rejects malformed files with SPDF_EFORMAT. */
SPDF_API spdf_status spdf_tokenizer_save(const spdf_tokenizer *tok, const char *path);
SPDF_API spdf_status spdf_tokenizer_load(const char *path, spdf_tokenizer **out);
SPDF_API void spdf_tokenizer_free(spdf_tokenizer *tok);
/* 257 + the number of merges (GPT-2's: the number of tokens in vocab.json). */
SPDF_API spdf_status spdf_tokenizer_vocab_size(const spdf_tokenizer *tok, int32_t *size);
/* The id that ends a text: SPDF_TOKEN_EOT for libspdf's tokenizers; for one made by
 * spdf_tokenizer_load_gpt2, the id vocab.json gives "<|endoftext|>" (50256 in GPT-2's files).
 * Encoding never produces it and decoding it gives the text "<|endoftext|>".  A GPT-2 vocab.json
 * without that token is SPDF_EUNSUPPORTED (no id ends a text; the message says so) and *id is
 * not written.  A tok that is not a tokenizer, or id NULL, is SPDF_EINVAL. */
SPDF_API spdf_status spdf_tokenizer_end_of_text(const spdf_tokenizer *tok, int32_t *id);
/* As spdf_byte_encode: writes at most cap ids (out may be NULL) and *count receives how many the
 * whole text takes. */
SPDF_API spdf_status spdf_tokenizer_encode(const spdf_tokenizer *tok, const char *text,
                                           size_t len, int32_t *out, size_t cap, size_t *count);
/* As spdf_byte_decode, for the tokenizer's ids. */
SPDF_API spdf_status spdf_tokenizer_decode(const spdf_tokenizer *tok, const int32_t *tokens,
                                           size_t n, char *out, size_t cap, size_t *len);

/* GPT-2's own tokenizer files (docs/token-format.md): vocab.json maps every token, written in
 * GPT-2's byte-to-unicode alphabet, to its id (the ids must be 0 .. n-1, and every one of the
 * 256 bytes must be a token); merges.txt lists one merge "left right" a line, best first (a
 * first line "#version ..." and empty lines are skipped).  The tokenizer has GPT-2's ids, not
 * the ones above: encoding cuts the text with GPT-2's pre-tokenisation pattern
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ (Unicode letters and
 * numbers of the library's Unicode version; bytes that are not UTF-8 count as neither) and
 * applies the merges by rank, as GPT-2 does; it never produces a special token such as
 * "<|endoftext|>", whose text is encoded as ordinary text.  Decoding works as for any tokenizer,
 * and any byte string round-trips.  spdf_tokenizer_save refuses such a tokenizer
 * (SPDF_EUNSUPPORTED): keep its two files.  A malformed file is SPDF_EFORMAT with "path:line:
 * what" in spdf_last_error(); a file that cannot be read is SPDF_EIO.  *out is written only on
 * success. */
SPDF_API spdf_status spdf_tokenizer_load_gpt2(const char *vocab_path, const char *merges_path,
                                              spdf_tokenizer **out);
/* A CRC-32C of everything that decides how the tokenizer encodes and decodes: two tokenizers
 * with different checksums differ.  For libspdf's own tokenizers it is the CRC-32C their file
 * ends with, and what spdf_checkpoint_info.tokenizer_checksum reports. */
SPDF_API spdf_status spdf_tokenizer_checksum(const spdf_tokenizer *tok, uint32_t *checksum);

typedef enum spdf_token_format {
    SPDF_TOKENS_U16 = 0, /* llm.c: 256 x int32 header (magic 20240520, version 1, count), uint16 */
    SPDF_TOKENS_U32 = 1  /* libspdf: 256 x int32 header (magic "SPDT"), uint32, CRC32C (docs/) */
} spdf_token_format;

/* Writes tokens to path (through a temporary file renamed into place).  SPDF_TOKENS_U16 requires
 * every id to fit in 16 bits. */
SPDF_API spdf_status spdf_tokens_save(const char *path, const int32_t *tokens, int64_t count,
                                      spdf_token_format format);

typedef struct spdf_dataset spdf_dataset;
/* Loads a token file of either format (detected from the header); bad headers, wrong sizes and
 * checksum mismatches are SPDF_EFORMAT. */
SPDF_API spdf_status spdf_dataset_load(const char *path, spdf_dataset **out);
/* Makes a dataset from a copy of count ids. */
SPDF_API spdf_status spdf_dataset_from_tokens(const int32_t *tokens, int64_t count,
                                              spdf_dataset **out);
SPDF_API void spdf_dataset_free(spdf_dataset *ds);
SPDF_API spdf_status spdf_dataset_size(const spdf_dataset *ds, int64_t *count);
/* Borrowed pointer to the ids, valid for the dataset's lifetime. */
SPDF_API spdf_status spdf_dataset_tokens(const spdf_dataset *ds, const int32_t **tokens);
/* Largest id + 1 (the smallest vocabulary that can read the data). */
SPDF_API spdf_status spdf_dataset_vocab_bound(const spdf_dataset *ds, int32_t *bound);

typedef struct spdf_sampler spdf_sampler;
typedef enum spdf_sampler_order {
    SPDF_SAMPLE_RANDOM = 0,    /* windows at uniformly random offsets, from a counter-based RNG */
    SPDF_SAMPLE_SEQUENTIAL = 1 /* consecutive windows from the start, wrapping around */
} spdf_sampler_order;

/* Draws (B, T+1) windows from the dataset, which must outlive the sampler and hold at least T+1
 * ids.  Batch number k depends only on (seed, k), never on threads or timing. */
SPDF_API spdf_status spdf_sampler_create(const spdf_dataset *ds, int32_t B, int32_t T,
                                         uint64_t seed, spdf_sampler_order order,
                                         spdf_sampler **out);
SPDF_API void spdf_sampler_free(spdf_sampler *sampler);
/* Fills inputs (B,T) with windows[:, :T] and targets (B,T) with windows[:, 1:]. */
SPDF_API spdf_status spdf_sampler_next(spdf_sampler *sampler, int32_t *inputs, int32_t *targets);
/* Position in the stream (batches drawn so far); set it to replay or resume. */
SPDF_API spdf_status spdf_sampler_get_position(const spdf_sampler *sampler, int64_t *position);
SPDF_API spdf_status spdf_sampler_set_position(spdf_sampler *sampler, int64_t position);
/* Data parallelism: make the sampler draw only rank's share of every batch, rows
 * [rank * B / ranks, (rank + 1) * B / ranks), so that `ranks` samplers with the same dataset,
 * shape, seed and order together draw exactly the batches one unsharded sampler draws.
 * spdf_sampler_next then fills (B / ranks, T) ids.  B must be a multiple of ranks (SPDF_EINVAL
 * otherwise); rank 0 of 1 is the default.  The shard is not part of a checkpoint: a resumed
 * sampler keeps the shard it was given. */
SPDF_API spdf_status spdf_sampler_set_shard(spdf_sampler *sampler, int32_t rank, int32_t ranks);
/* Any output may be NULL; rows = B / ranks, the rows spdf_sampler_next fills. */
SPDF_API spdf_status spdf_sampler_get_shard(const spdf_sampler *sampler, int32_t *rank,
                                            int32_t *ranks, int32_t *rows);

/* ---- Sparsity: masks and training phases ------------------------------------------------------ */

typedef struct spdf_mask spdf_mask;
typedef struct spdf_phase spdf_phase;

typedef enum spdf_mask_method {
    SPDF_MASK_RANDOM = 0,    /* uniform random, exact count of zeros per layer (SPDF paper) */
    SPDF_MASK_MAGNITUDE = 1, /* keep the largest |w| (ties: the lower index) */
    SPDF_MASK_ERK = 2        /* Erdos-Renyi-kernel layer densities scaled to the total sparsity,
                                random positions within each layer */
} spdf_mask_method;

typedef enum spdf_mask_scope {
    SPDF_MASK_PER_LAYER = 0, /* every layer gets its own sparsity (the same one unless
                                layer_sparsity says otherwise) */
    SPDF_MASK_GLOBAL = 1     /* MAGNITUDE only: one threshold over all layers together */
} spdf_mask_scope;

typedef struct spdf_mask_config {
    size_t struct_size;
    int32_t method;   /* spdf_mask_method; default SPDF_MASK_RANDOM */
    int32_t scope;    /* spdf_mask_scope; default SPDF_MASK_PER_LAYER */
    float sparsity;   /* fraction of zeros in [0, 1); default 0.75 */
    int32_t reserved; /* must be 0 */
    uint64_t seed;    /* default 1 */
    /* Optional per-layer sparsities, one per sparse layer in tensor order (4 per block: QKV,
     * attention output, MLP up, MLP down); NULL for `sparsity` everywhere.  Read during the call
     * only.  Not combinable with SPDF_MASK_ERK or SPDF_MASK_GLOBAL. */
    const float *layer_sparsity;
    int32_t layer_sparsity_count;
    int32_t reserved2; /* must be 0 */
} spdf_mask_config;

typedef struct spdf_mask_layer_info {
    size_t struct_size;
    int32_t tensor_index; /* the weight this layer masks (spdf_model_tensor_info) */
    int32_t reserved;
    int64_t rows, cols;   /* the weight's shape (out_features, in_features) */
    int64_t nnz;          /* weights kept */
    float density;        /* nnz / (rows * cols) */
    float reserved2;
} spdf_mask_layer_info;

/* A mask over the four linear weights of every block (the SPDF_TENSOR_SPARSIFIABLE tensors),
 * with an exact number of kept weights per layer: round((1 - sparsity) * rows * cols).  The
 * same seed gives the same mask on every machine and thread count.  MAGNITUDE reads the model's
 * current weights.  The mask is independent of the model afterwards (it may outlive it). */
SPDF_API spdf_status spdf_mask_config_init(spdf_mask_config *config);
SPDF_API spdf_status spdf_mask_create(const spdf_model *model, spdf_mask_method method,
                                      float sparsity, uint64_t seed, spdf_mask **out);
SPDF_API spdf_status spdf_mask_create_ex(const spdf_model *model, const spdf_mask_config *config,
                                         spdf_mask **out);
SPDF_API void spdf_mask_free(spdf_mask *mask);
/* Statistics: number of masked layers (4 * num_layers), each layer's shape and count. */
SPDF_API spdf_status spdf_mask_num_layers(const spdf_mask *mask, int32_t *count);
SPDF_API spdf_status spdf_mask_get_layer(const spdf_mask *mask, int32_t layer,
                                          spdf_mask_layer_info *info);
/* Kept weights and total weights over all layers; sparsity = 1 - nnz / total. */
SPDF_API spdf_status spdf_mask_totals(const spdf_mask *mask, int64_t *nnz, int64_t *total);
/* The layer's mask as rows*cols bytes (1 kept, 0 masked), row-major; count must be rows*cols. */
SPDF_API spdf_status spdf_mask_layer_read(const spdf_mask *mask, int32_t layer, uint8_t *dst,
                                          int64_t count);

typedef enum spdf_phase_kind {
    SPDF_PHASE_DENSE = 0,
    SPDF_PHASE_SPARSE = 1
} spdf_phase_kind;

/* Options of a phase transition. */
typedef struct spdf_transition_config {
    size_t struct_size;
    /* 0 (default): AdamW moments of weights that were trainable before stay as they were;
     * moments of newly enabled weights start at 0.  1: every moment restarts at 0. */
    int32_t reset_moments;
    /* 0 (default): the step counter and schedule continue.  1: the step counter restarts at 0
     * (a new warmup and decay, as fine-tuning usually wants). */
    int32_t restart_schedule;
    /* Optional new optimizer configuration (learning rate, schedule, ...) applied at the
     * transition; NULL keeps the current one.  Read during the call only. */
    const spdf_optimizer_config *optimizer;
} spdf_transition_config;

SPDF_API spdf_status spdf_transition_config_init(spdf_transition_config *config);

/* The training phase of a model.  One phase handle per model.  kind DENSE needs mask == NULL;
 * kind SPARSE attaches the mask: the masked weights become exactly 0 and stay 0, each masked
 * layer keeps only its non-zeros (values, gradients and AdamW moments, in an order the backend
 * chooses), and the sparse kernels take over.  opt is the model's optimizer or NULL if it has
 * none yet (one created later sizes itself to the phase).  Attaching discards accumulated
 * gradients.  The mask is copied: it may be freed afterwards.  The model and optimizer must
 * outlive the phase handle; freeing the handle leaves the model in its current phase. */
SPDF_API spdf_status spdf_phase_create(spdf_model *model, spdf_optimizer *opt,
                                       spdf_phase_kind kind, const spdf_mask *mask,
                                       spdf_phase **out);
SPDF_API void spdf_phase_free(spdf_phase *phase);
SPDF_API spdf_status spdf_phase_get_kind(const spdf_phase *phase, spdf_phase_kind *kind);
/* Moves the model to another phase in place: the model, optimizer and phase handles stay valid
 * and weights keep their values.  Allowed:
 *   DENSE  -> SPARSE  (mask required): as spdf_phase_create with SPARSE;
 *   SPARSE -> DENSE   (mask NULL): the SPDF transition; masked weights re-enter at 0;
 *   SPARSE -> SPARSE  (mask NULL): stay on the same mask (sparse fine-tuning), applying config.
 * Anything else is SPDF_ESTATE.  config may be NULL for the defaults.  Accumulated gradients
 * are discarded.  Pointers from spdf_model_tensor_data are invalid afterwards. */
SPDF_API spdf_status spdf_phase_transition(spdf_phase *phase, spdf_phase_kind kind,
                                           const spdf_mask *mask,
                                           const spdf_transition_config *config);

/* ---- Sparse kernel plans ----------------------------------------------------------------------
 * In a SPARSE phase each masked layer has three products: forward (out = inp W^T), backward-data
 * (dinp = dout W) and the weight gradient (dout^T inp at the mask's positions only).  When a mask
 * is attached the backend makes a plan, like FFTW's: for each layer and each product it chooses
 * the kernel that runs it, by a cost model (ESTIMATE, the default: deterministic and instant, from
 * the instruction set, the shape and the density) or by timing every candidate on the layer
 * (MEASURE).  Either way no product is planned slower than a dense GEMM of the same layer would
 * be by the plan's own measure; a checkpoint keeps the plan, so a resumed run computes what the
 * uninterrupted one would, bit for bit (docs/sparsity.md). */
typedef enum spdf_sparse_kernel_kind {
    SPDF_SPARSE_KERNEL_INDEX = 0, /* index-based kernels over the layer's pattern (any backend) */
    SPDF_SPARSE_KERNEL_JIT = 1,   /* code generated by libxsmm for the layer's pattern (forward and
                                     backward-data, xsmm backend) */
    SPDF_SPARSE_KERNEL_DENSE = 2  /* the backend's dense GEMM on the masked weight (forward and
                                     backward-data), or a dense GEMM whose result is gathered at
                                     the mask's positions (weight gradient) */
} spdf_sparse_kernel_kind;

/* In spdf_sparse_plan_config: the plan chooses this product's kernel. */
#define SPDF_SPARSE_KERNEL_AUTO (-1)

typedef enum spdf_sparse_plan_mode {
    SPDF_SPARSE_PLAN_ESTIMATE = 0, /* a cost model per instruction set, shape and density */
    SPDF_SPARSE_PLAN_MEASURE = 1   /* each candidate timed on the layer (takes ~a second or two
                                      for GPT-2 124M); the result depends on the machine and load */
} spdf_sparse_plan_mode;

/* How a layer's current plan was made (spdf_sparse_kernel_info.planned_by). */
typedef enum spdf_sparse_plan_source {
    SPDF_SPARSE_PLANNED_ESTIMATE = 0,
    SPDF_SPARSE_PLANNED_MEASURE = 1,
    SPDF_SPARSE_PLANNED_FORCED = 2,    /* every product forced by spdf_sparse_plan_config */
    SPDF_SPARSE_PLANNED_CHECKPOINT = 3 /* restored from the checkpoint the model was loaded from */
} spdf_sparse_plan_source;

typedef struct spdf_sparse_plan_config {
    size_t struct_size;
    int32_t mode;            /* spdf_sparse_plan_mode; default ESTIMATE */
    /* Per product: SPDF_SPARSE_KERNEL_AUTO (the default) or a spdf_sparse_kernel_kind that every
     * layer must use (SPDF_EUNSUPPORTED where the backend has no such kernel). */
    int32_t forward;
    int32_t backward_data;
    int32_t backward_weight;
    int32_t tokens;          /* tokens per product the plan is made for, the training step's
                                batch x context: the cost model weighs the dense candidates'
                                fixed costs by it and MEASURE times products this long; 0 = 512 */
    int32_t reserved;        /* must be 0 */
} spdf_sparse_plan_config;

SPDF_API spdf_status spdf_sparse_plan_config_init(spdf_sparse_plan_config *config);
/* How this model's masked layers are planned.  It applies to the next mask attached (phase
 * creation or transition to SPARSE); called while the model is sparse, every layer is planned
 * again at once.  Values, gradients and moments are not changed. */
SPDF_API spdf_status spdf_model_set_sparse_plan(spdf_model *model,
                                                const spdf_sparse_plan_config *config);
SPDF_API spdf_status spdf_model_get_sparse_plan(const spdf_model *model,
                                                spdf_sparse_plan_config *config);

typedef struct spdf_sparse_kernel_info {
    size_t struct_size;
    int32_t kind;       /* spdf_sparse_kernel_kind of the forward product (as `forward`) */
    int32_t reserved;
    int64_t code_bytes; /* generated code the layer holds; 0 without JIT kernels */
    /* ---- appended with kernel plans; written only when struct_size covers them ---- */
    int32_t forward;         /* spdf_sparse_kernel_kind of each product */
    int32_t backward_data;
    int32_t backward_weight;
    int32_t planned_by;      /* spdf_sparse_plan_source */
    /* Each product's time relative to the dense GEMM of the same layer, as the plan saw it
     * (estimated, or measured with MEASURE); 1 for a product that runs on the dense GEMM, 0 where
     * the plan has no figure (forced or restored kernels, the ref backend). */
    float forward_time;
    float backward_data_time;
    float backward_weight_time;
    int32_t vector_floats;   /* floats per vector of the index kernels: 16 AVX-512, 8 AVX2 and
                                the portable kernels, 1 the ref backend's loops */
    const char *isa;         /* the index kernels' instruction set: "avx512", "avx2",
                                "portable" or "reference"; a static string */
} spdf_sparse_kernel_info;

/* The kernels of masked layer `layer` (0 .. 4 * num_layers - 1, the mask's layer order) while
 * the model is in a SPARSE phase; SPDF_ESTATE in a dense phase.  The xsmm backend generates code
 * only within a process-wide budget (the environment variable SPDF_XSMM_JIT_BUDGET, bytes,
 * default 64 MiB); a plan does not choose JIT kernels that do not fit what is left.
 * info->struct_size is set by the caller; fields past it are not written. */
SPDF_API spdf_status spdf_model_sparse_kernel_info(const spdf_model *model, int32_t layer,
                                                   spdf_sparse_kernel_info *info);

/* What a SPARSE phase does with the memory its compact storage no longer needs: the pages of the
 * dense weight, gradient and AdamW moment arrays past the non-zeros. */
typedef enum spdf_sparse_memory {
    /* Returned to the system while the model is sparse: resident memory shrinks with the
     * density, and the SPARSE -> DENSE transition commits the pages again, which costs as much
     * as writing them (docs/benchmarks.md: GPT-2 124M's transition took 2.5-2.6 s there, ~2 s of
     * it for ~1 GB of pages).  For runs that need the memory while sparse, or never densify. */
    SPDF_SPARSE_MEMORY_RELEASE = 0,
    /* Kept committed (the default): the sparse phase holds the dense model's memory, which the
     * dense phase needs anyway, so a whole run's peak is unchanged.  Pages not yet committed (the
     * gradients and moments of a fresh model) are committed by the first backward pass of the
     * sparse phase, so a model that is only evaluated never holds them; the transition only
     * moves data (0.25 s for GPT-2 124M there, a quarter of a step). */
    SPDF_SPARSE_MEMORY_KEEP = 1
} spdf_sparse_memory;

/* Chooses the policy for this model (and its optimizer, also one created later).  It applies to
 * the next mask attached; called while the model is sparse, it takes effect at once (RELEASE
 * returns the pages now, KEEP commits them at the next backward pass).  Values, gradients and
 * moments are not changed. */
SPDF_API spdf_status spdf_model_set_sparse_memory(spdf_model *model, spdf_sparse_memory policy);
SPDF_API spdf_status spdf_model_get_sparse_memory(const spdf_model *model,
                                                  spdf_sparse_memory *policy);

/* ---- Checkpoints -------------------------------------------------------------------------------- */

/* One versioned, little-endian file with everything a run needs to continue bit for bit: the
 * model configuration and weights (masked layers as their non-zeros plus a bitmap of the mask),
 * the phase, the optimizer's configuration, step and moments, and the sampler's position.
 * Every section carries a CRC-32C.  The file is written to a temporary file in the same
 * directory, flushed to disk (fsync) and renamed over `path`, so a crash while saving leaves the
 * previous checkpoint intact.  The format is described in docs/checkpoint-format.md. */
SPDF_API spdf_status spdf_checkpoint_save(const char *path, const spdf_model *model,
                                          const spdf_optimizer *opt, const spdf_sampler *sampler);
/* Loads a checkpoint into new handles on ctx.  The whole file is validated first (sizes,
 * checksums, configuration, mask) and SPDF_EFORMAT returned for anything wrong; the output
 * parameters and the sampler are written only on success.
 *   model: receives the model, in the saved phase;
 *   opt:   NULL, or receives the optimizer (SPDF_EFORMAT if the file has none);
 *   phase: NULL, or receives a phase handle of the saved kind;
 *   sampler: NULL, or an existing sampler whose batch shape, seed and order must match the
 *          saved one (SPDF_EINVAL otherwise); its position is restored. */
SPDF_API spdf_status spdf_checkpoint_load(const char *path, spdf_context *ctx, spdf_model **model,
                                          spdf_optimizer **opt, spdf_phase **phase,
                                          spdf_sampler *sampler);

/* What spdf_checkpoint_save_ex writes besides the training state. */
typedef struct spdf_checkpoint_save_config {
    size_t struct_size;
    /* The tokenizer of the model's ids, stored in the file (a TOKENIZER section) so that the
     * checkpoint carries it; NULL (the default) stores none.  Only libspdf's own tokenizers can
     * be stored (SPDF_EUNSUPPORTED for one read from GPT-2's files), and a tokenizer with more
     * ids than the model's vocabulary is SPDF_EINVAL.  Read during the call only. */
    const spdf_tokenizer *tokenizer;
} spdf_checkpoint_save_config;

SPDF_API spdf_status spdf_checkpoint_save_config_init(spdf_checkpoint_save_config *config);
/* spdf_checkpoint_save with options; config NULL is spdf_checkpoint_save.  A file with a
 * tokenizer is refused by libspdf versions before the one that added this call. */
SPDF_API spdf_status spdf_checkpoint_save_ex(const char *path, const spdf_model *model,
                                             const spdf_optimizer *opt, const spdf_sampler *sampler,
                                             const spdf_checkpoint_save_config *config);
/* The tokenizer stored in a checkpoint, as a new handle: SPDF_OK with *tok = NULL when the file
 * has none (it was saved without one, or by an older libspdf).  The whole file is validated
 * first, as by spdf_checkpoint_info_read; a damaged TOKENIZER section is SPDF_EFORMAT. */
SPDF_API spdf_status spdf_checkpoint_load_tokenizer(const char *path, spdf_tokenizer **tok);

typedef struct spdf_checkpoint_info {
    size_t struct_size;
    uint32_t format_version;
    int32_t phase;            /* spdf_phase_kind */
    spdf_model_config model;  /* model.struct_size is set */
    int64_t step;             /* optimizer updates applied; 0 without an optimizer */
    int32_t has_optimizer;
    int32_t has_sampler;
    int64_t sampler_position;
    int64_t stored_params;    /* weights stored (dense count less the masked ones) */
    int64_t file_size;
    /* ---- appended with stored tokenizers; written only when struct_size covers them ---- */
    int32_t has_tokenizer;        /* 1 if the file stores a tokenizer */
    int32_t tokenizer_vocab_size; /* its ids; 0 without one */
    uint32_t tokenizer_checksum;  /* its spdf_tokenizer_checksum; 0 without one */
    int32_t reserved;             /* 0 */
} spdf_checkpoint_info;

/* Reads and validates a checkpoint's header and sections without building a model. */
SPDF_API spdf_status spdf_checkpoint_info_read(const char *path, spdf_checkpoint_info *info);

/* ---- Generation ---------------------------------------------------------------------------------- */

typedef enum spdf_decode_strategy {
    SPDF_DECODE_GREEDY = 0, /* the most likely token each step (ties: the lowest id) */
    SPDF_DECODE_BEAM = 1,   /* beam search */
    SPDF_DECODE_SAMPLE = 2  /* sampling with temperature and top-k, reproducible from the seed */
} spdf_decode_strategy;

typedef struct spdf_generate_config {
    size_t struct_size;
    int32_t strategy;        /* spdf_decode_strategy; default SPDF_DECODE_GREEDY */
    int32_t max_new_tokens;  /* default 64; generation also stops when the context is full */
    int32_t beam_width;      /* beam search: default 4 */
    float length_penalty;    /* beam search: a hypothesis of n tokens (its end token included)
                                scores log p / n^length_penalty; default 1.0 */
    int32_t early_stopping;  /* beam search: 1 (default) stops once beam_width hypotheses have
                                ended; 0 goes on while a live beam could still beat them */
    float temperature;       /* sampling: default 1.0, > 0 */
    int32_t top_k;           /* sampling: keep the k most likely tokens; 0 = all */
    int32_t stop_token;      /* default SPDF_TOKEN_EOT (a GPT-2 tokenizer's model needs
                                spdf_tokenizer_end_of_text's id); -1 for none.  Not included
                                in the output */
    uint64_t seed;           /* sampling: default 1 */
    /* Optional token sequence that also ends generation (e.g. the bytes of "\n"); not included
     * in the output.  Read during the call only. */
    const int32_t *stop_sequence;
    int32_t stop_sequence_length;
    /* 1 (default): keys and values of past positions are cached, each step computes one token.
     * 0: every step reruns the whole sequence (slow; the reference the cache is tested
     * against).  Beam search needs the cache. */
    int32_t use_kv_cache;
} spdf_generate_config;

SPDF_API spdf_status spdf_generate_config_init(spdf_generate_config *config);
/* Continues `prompt` (prompt_length >= 1 ids) and writes the new ids (without the stop token or
 * stop sequence) to out, at most out_capacity of them; *out_length receives their number.
 * Generation overwrites the model's activations: the logits of an earlier forward pass are no
 * longer available and backward needs a new forward pass.  config NULL = defaults.
 * SPDF_ENUMERIC if a logit is not finite (a model with NaN or infinite weights). */
SPDF_API spdf_status spdf_generate(spdf_model *model, const int32_t *prompt, int32_t prompt_length,
                                   const spdf_generate_config *config, int32_t *out,
                                   int32_t out_capacity, int32_t *out_length);

/* Mean cross-entropy (nats per token) of the model on up to max_batches (B,T) windows taken in
 * order from the start of the dataset (0 = all complete windows); *perplexity = exp(loss). */
SPDF_API spdf_status spdf_model_evaluate(spdf_model *model, const spdf_dataset *data, int32_t B,
                                         int32_t T, int64_t max_batches, double *loss,
                                         double *perplexity);

/* ---- FLOP accounting -------------------------------------------------------------------------- */

/* FLOPs as the SPDF paper counts them: per token, forward = 2 * (non-zero block linear weights)
 * + attention scores and mixing (4 * num_layers * context * channels) + LM head
 * (2 * channels * vocab_size); training = 3 * forward.  Biases, LayerNorm and softmax are not
 * counted.  A step is batch * context tokens. */
typedef struct spdf_flop_report {
    size_t struct_size;
    double forward_per_token_dense;
    double forward_per_token_sparse;
    double train_per_token_dense;
    double train_per_token_sparse;
    double train_per_step_dense;
    double train_per_step_sparse;
    double reduction; /* train_per_token_dense / train_per_token_sparse */
    double block_weights; /* dense count of block linear weights */
} spdf_flop_report;

/* For a configuration, a context length, a batch size and a uniform sparsity in [0, 1). */
SPDF_API spdf_status spdf_flops(const spdf_model_config *config, int32_t context, int32_t batch,
                                float sparsity, spdf_flop_report *report);
/* For a model in its current phase (the mask's actual non-zero counts). */
SPDF_API spdf_status spdf_model_flops(const spdf_model *model, int32_t context, int32_t batch,
                                      spdf_flop_report *report);

/* ---- Evaluation: BLEU, NIST ------------------------------------------------------------------- */

/* Corpus BLEU and NIST as the official E2E NLG challenge scorer computes them (mteval-v13a with
 * the E2E organisers' changes for a varying number of references), and sentence BLEU with
 * sacreBLEU's smoothing methods.  Scores are reported on a 0..1 scale (sacreBLEU prints 100 x
 * BLEU).  docs/evaluation.md gives the exact definitions and the published numbers they match. */

typedef struct spdf_bleu spdf_bleu;

#define SPDF_BLEU_MAX_ORDER 9 /* largest n-gram order for BLEU and NIST (as mteval-v13a) */

typedef enum spdf_bleu_tokenize {
    SPDF_BLEU_TOKENIZE_13A = 0,  /* mteval-v13a: unescape &quot; &amp; &lt; &gt;, split off
                                    punctuation and symbols, periods and commas unless next to a
                                    digit, and a dash after a digit */
    SPDF_BLEU_TOKENIZE_NONE = 1, /* split at white space only, for text already tokenized */
    SPDF_BLEU_TOKENIZE_CHAR = 2  /* every character (code point) except white space is a token */
} spdf_bleu_tokenize;

typedef enum spdf_bleu_smooth {
    SPDF_BLEU_SMOOTH_NONE = 0,  /* an order without any match makes BLEU 0 */
    SPDF_BLEU_SMOOTH_EXP = 1,   /* mteval-v13a: the k-th order without matches counts 1 / (2^k
                                   total) instead of 0 */
    SPDF_BLEU_SMOOTH_FLOOR = 2, /* an order without matches counts smooth_value / total */
    SPDF_BLEU_SMOOTH_ADD_K = 3  /* orders >= 2 count (matches + k) / (total + k), k=smooth_value */
} spdf_bleu_smooth;

typedef struct spdf_bleu_options {
    size_t struct_size;
    int32_t tokenize;        /* spdf_bleu_tokenize; default SPDF_BLEU_TOKENIZE_13A */
    int32_t lowercase;       /* 1 (default): lowercase before tokenizing, as the E2E scorer does
                                (Latin, Greek and Cyrillic capitals); 0: case-sensitive */
    int32_t smooth;          /* spdf_bleu_smooth; default SPDF_BLEU_SMOOTH_EXP */
    int32_t effective_order; /* 1: leave out the orders longer than any hypothesis (for sentence
                                BLEU); default 0 */
    double smooth_value;     /* FLOOR's floor or ADD_K's k; negative (default -1) means 0.1 for
                                FLOOR and 1 for ADD_K */
    int32_t max_order;       /* BLEU's n-gram order, 1..SPDF_BLEU_MAX_ORDER; default 4 */
    int32_t nist_order;      /* NIST's n-gram order, 1..SPDF_BLEU_MAX_ORDER; default 5 */
} spdf_bleu_options;

/* Statistics of a scored corpus.  Arrays are indexed by order - 1. */
typedef struct spdf_bleu_result {
    size_t struct_size;
    double bleu;                 /* 0..1 */
    double nist;                 /* >= 0 */
    double brevity_penalty;      /* BLEU's: exp(1 - ref_length / hyp_length) if shorter, else 1 */
    double nist_brevity_penalty; /* exp(-beta log^2(hyp_length / nist_ref_length)) if shorter,
                                    else 1; beta makes it 0.5 when the references are 1.5 times
                                    as long as the hypotheses */
    double precisions[SPDF_BLEU_MAX_ORDER]; /* BLEU's n-gram precisions after smoothing, 0..1 */
    int64_t matches[SPDF_BLEU_MAX_ORDER];   /* clipped n-gram matches (unsmoothed) */
    int64_t totals[SPDF_BLEU_MAX_ORDER];    /* n-grams in the hypotheses */
    int64_t hyp_length;          /* hypothesis tokens */
    int64_t ref_length;          /* sum over segments of the closest reference length (the
                                    shorter one on a tie) */
    double nist_ref_length;      /* segments x the mean length of all references */
    int64_t segments;
    int32_t max_order;           /* the orders used */
    int32_t nist_order;
} spdf_bleu_result;

SPDF_API spdf_status spdf_bleu_options_init(spdf_bleu_options *options);
/* An empty corpus to add segments to. */
SPDF_API spdf_status spdf_bleu_create(spdf_bleu **out);
SPDF_API void spdf_bleu_free(spdf_bleu *bleu);
/* Adds one segment: a hypothesis and its n_refs >= 1 references (the count may differ from one
 * segment to the next).  All strings are UTF-8 (anything else is SPDF_EINVAL) and are copied.
 * A reference without any token is ignored, as mteval-v13a ignores padding references; a
 * segment whose references are all empty contributes reference length 0. */
SPDF_API spdf_status spdf_bleu_add(spdf_bleu *bleu, const char *hypothesis,
                                   const char *const *references, int32_t n_refs);
SPDF_API spdf_status spdf_bleu_count(const spdf_bleu *bleu, int64_t *segments);
/* Scores every segment added so far (an empty corpus scores 0); the accumulator is unchanged,
 * so it may be scored again with other options.  options may be NULL for the defaults, which
 * reproduce the E2E scorer (13a, lowercase, EXP, BLEU-4, NIST-5).  NIST's information weights
 * come from the references of the whole corpus.  result->struct_size must be set by the
 * caller. */
SPDF_API spdf_status spdf_bleu_score(const spdf_bleu *bleu, const spdf_bleu_options *options,
                                     spdf_bleu_result *result);
/* BLEU of one hypothesis: a corpus of one segment scored with options.  NULL options mean the
 * defaults with effective_order = 1 (sacreBLEU's sentence_bleu, but lowercased): orders longer
 * than the hypothesis are left out and EXP smoothing keeps a missing order from zeroing the
 * score. */
SPDF_API spdf_status spdf_sentence_bleu(const char *hypothesis, const char *const *references,
                                        int32_t n_refs, const spdf_bleu_options *options,
                                        double *bleu);
/* BLEU from statistics gathered elsewhere (for instance summed over shards): matches and totals
 * hold options->max_order counts each, with 0 <= matches[i] <= totals[i].  options may be
 * NULL for the defaults. */
SPDF_API spdf_status spdf_bleu_from_stats(const spdf_bleu_options *options,
                                          const int64_t *matches, const int64_t *totals,
                                          int64_t hyp_length, int64_t ref_length, double *bleu);

/* ---- Task data: prompt/target pairs ----------------------------------------------------------- */

/* Data-to-text tasks as items: a prompt (the linearised input) with one or more references (the
 * target texts).  Scoring uses items; fine-tuning uses pairs, one per (item, reference). */
typedef struct spdf_task_data spdf_task_data;

typedef enum spdf_task_format {
    /* E2E NLG challenge CSV (RFC 4180): header "mr,ref" (or "mr" for inputs without references),
     * then one (MR, reference) row per reference; blank lines are skipped.  One item per
     * distinct MR, in order of first appearance, holding all of its references in file order;
     * prompt = the MR as written, e.g. "name[The Eagle], eatType[coffee shop], food[French]". */
    SPDF_TASK_E2E_CSV = 0,
    /* WebNLG 2017 XML (also DART's test XML): one item per <entry>; prompt = the entry's
     * <mtriple>s ("subject | predicate | object", trimmed) joined with " && "; references = its
     * <lex> texts, trimmed (an empty <lex/> is no reference).  The path may also be a directory:
     * every *.xml file below it, in byte order of their paths. */
    SPDF_TASK_WEBNLG_XML = 1,
    /* DART JSON (dart-v1.1.1-full-*.json): a list of {"tripleset": [[s, p, o], ...],
     * "annotations": [{"text": ...}, ...]}; one item per element; prompt = the triples written
     * "s | p | o" and joined with " && " as for WebNLG; references = the annotations' texts. */
    SPDF_TASK_DART_JSON = 2,
    /* JSON Lines: one {"prompt": string, "target": string or [strings]} object per line (other
     * members are ignored, blank lines are skipped).  Lines with the same prompt form one item. */
    SPDF_TASK_JSONL = 3
} spdf_task_format;

/* Loads a task file.  The file must be UTF-8 (a leading BOM is allowed).  Any syntax error, a
 * missing field, an empty prompt or an empty reference (other than an empty <lex/>) is
 * SPDF_EFORMAT with "path:line: what" in spdf_last_error(); apart from blank lines and empty
 * <lex/> elements nothing is skipped.  SPDF_EIO if the file cannot be read. */
SPDF_API spdf_status spdf_task_data_load(const char *path, spdf_task_format format,
                                         spdf_task_data **out);
SPDF_API void spdf_task_data_free(spdf_task_data *data);
/* Every string below is borrowed: NUL-terminated UTF-8, valid until spdf_task_data_free. */
SPDF_API spdf_status spdf_task_data_count(const spdf_task_data *data, int64_t *items);
SPDF_API spdf_status spdf_task_data_prompt(const spdf_task_data *data, int64_t item,
                                           const char **prompt);
/* 0 for inputs without references (E2E's testset.csv). */
SPDF_API spdf_status spdf_task_data_reference_count(const spdf_task_data *data, int64_t item,
                                                    int32_t *count);
SPDF_API spdf_status spdf_task_data_reference(const spdf_task_data *data, int64_t item,
                                              int32_t index, const char **text);
/* All references of an item as an array of *count strings, ready for spdf_bleu_add. */
SPDF_API spdf_status spdf_task_data_references(const spdf_task_data *data, int64_t item,
                                               const char *const **references, int32_t *count);
/* Training pairs: one per reference, item by item, in reference order. */
SPDF_API spdf_status spdf_task_data_pair_count(const spdf_task_data *data, int64_t *pairs);
SPDF_API spdf_status spdf_task_data_pair(const spdf_task_data *data, int64_t pair,
                                         const char **prompt, const char **target);

/* ---- Interop: Hugging Face safetensors, llm.c checkpoints ------------------------------------ */

/* Hugging Face GPT-2 weights in a safetensors file (the exact layout is in docs/api-reference.md,
 * "Interop").  The file holds the tensors under Hugging Face's GPT-2 names, without a prefix
 * ("wte.weight", "wpe.weight", "h.<i>.ln_1.weight", ..., "ln_f.bias"), as little-endian F32.  The
 * four linear weights of each block are stored as Hugging Face's Conv1D keeps them, (in_features,
 * out_features): the transpose of libspdf's (out_features, in_features).  The "__metadata__"
 * object holds "format": "pt" (which transformers requires) and the configuration as decimal
 * strings: "n_layer", "n_head", "n_embd", "n_positions", "vocab_size". */

/* Options of the importers. */
typedef struct spdf_import_config {
    size_t struct_size;
    /* Attention heads.  0 (default): the file's "n_head" metadata, which must then be present;
     * otherwise the value to use (SPDF_EINVAL if it contradicts the metadata or does not divide
     * the width). */
    int32_t num_heads;
    int32_t reserved; /* must be 0 */
    uint64_t seed;    /* the imported model's spdf_model_config.seed; default 1337 */
} spdf_import_config;

SPDF_API spdf_status spdf_import_config_init(spdf_import_config *config);

/* Writes the model's weights to `path` as a safetensors file that transformers'
 * GPT2LMHeadModel loads (with a config.json of the same configuration).  A model in the sparse
 * phase is written as its dense view: zeros at the masked positions, as spdf_model_tensor_read
 * returns it.  The file is written to a temporary file beside `path`, flushed to disk (fsync)
 * and renamed over it, so a reader never sees a partial file.  SPDF_EIO if it cannot be
 * written (nothing is left behind). */
SPDF_API spdf_status spdf_model_export_safetensors(const spdf_model *model, const char *path);

/* Creates a dense model on ctx from a safetensors file of Hugging Face GPT-2 weights: the layout
 * above, with or without the "transformer." prefix of a save_pretrained() file.  The
 * configuration comes from the shapes (vocabulary and width from wte, positions from wpe, layers
 * from the h.<i> blocks); metadata, where present, must agree with them.  Heads come from the
 * metadata or from config (NULL for the defaults).  The causal-mask buffers "h.<i>.attn.bias" and
 * "h.<i>.attn.masked_bias" are ignored; an "lm_head.weight" must equal wte (the head is tied,
 * SPDF_EUNSUPPORTED otherwise).  The whole header is validated first: JSON syntax, known dtypes,
 * F32 for every weight, shapes, data offsets that lie inside the file and tile its data without
 * gap or overlap, every tensor present once.  A malformed file is SPDF_EFORMAT with the path and
 * the problem in spdf_last_error(); a file that cannot be read is SPDF_EIO.  *out is written only
 * on success; the context must outlive the model. */
SPDF_API spdf_status spdf_model_import_safetensors(spdf_context *ctx, const char *path,
                                                   const spdf_import_config *config,
                                                   spdf_model **out);

/* Creates a dense model on ctx from a GPT-2 checkpoint of Andrej Karpathy's llm.c, as
 * train_gpt2.c and train_gpt2.py write it: a header of 256 little-endian int32 (magic 20240326,
 * version 3 for fp32 or 5 for bf16, max_seq_len, vocab_size, num_layers, num_heads, channels,
 * padded vocab size), then the 16 parameter arrays, each kind for all layers together: wte
 * (Vp,C), wpe (maxT,C), ln1w (L,C), ln1b, qkvw (L,3C,C), qkvb (L,3C), attprojw (L,C,C),
 * attprojb, ln2w, ln2b, fcw (L,4C,C), fcb (L,4C), fcprojw (L,C,4C), fcprojb, lnfw (C), lnfb (C).
 * The model's vocabulary is vocab_size: the padding rows of wte are dropped.  A wrong magic,
 * version, configuration or file size is SPDF_EFORMAT; a file that cannot be read is SPDF_EIO.
 * *out is written only on success; the context must outlive the model. */
SPDF_API spdf_status spdf_model_import_llmc(spdf_context *ctx, const char *path, spdf_model **out);

#ifdef __cplusplus
}
#endif

#endif /* SPDF_H */
