/* Training data for the CLI: a pre-training corpus (a token file, or text encoded as bytes or
 * with a BPE tokenizer) split into training and validation parts, and fine-tuning sequences built
 * from task pairs.  Everywhere below, `tok` is the tokenizer of the run, NULL for bytes. */
#ifndef SPDF_CLI_DATA_H
#define SPDF_CLI_DATA_H

#include <spdf.h>

#include <stdint.h>

/* Ids of len bytes of text (malloc'd, *count of them); NULL when out of memory. */
int32_t *text_encode(const spdf_tokenizer *tok, const char *text, size_t len, size_t *count);

/* The ids that give fine-tuning sequences and task decoding their shape: the tokenizer's end of
 * text (spdf_tokenizer_end_of_text: 256 for bytes and libspdf's BPE, "<|endoftext|>" for GPT-2's
 * files) and its one id for "\n", the separator of prompt and target (10, or 198 for GPT-2). */
typedef struct text_marks {
    int32_t end_of_text;
    int32_t newline;
} text_marks;
/* A tokenizer without an end of text, or one that encodes "\n" as more than one id, prints one
 * line and returns EXIT_BAD_INPUT. */
int text_marks_of(const spdf_tokenizer *tok, text_marks *out);
/* The ids of the NUL-terminated text followed, unless separator is NULL, by separator->newline:
 * how every fine-tuning sequence and every decoded task prompt begins (malloc'd, *count ids with
 * the separator); NULL when out of memory. */
int32_t *prompt_encode(const spdf_tokenizer *tok, const char *text, const text_marks *separator,
                       size_t *count);
/* The text of ids, NUL-terminated (malloc'd, *len bytes before the NUL); NULL when an id is
 * outside the vocabulary or memory runs out. */
char *text_decode(const spdf_tokenizer *tok, const int32_t *ids, size_t n, size_t *len);
/* Loads a tokenizer file (path NULL: *tok = NULL, bytes).  Prints one line on failure. */
int tokenizer_open(const char *path, spdf_tokenizer **tok);
/* The tokenizer of the model in model_path: the one its checkpoint stores, else the file `path`
 * (--tokenizer; NULL: none, *tok = NULL).  A path whose tokenizer differs from the stored one is
 * an error naming both.  Prints one line and returns an exit code on failure. */
int tokenizer_open_stored(const char *model_path, const char *path, spdf_tokenizer **tok);
/* The same for a loaded model: its vocabulary must hold the tokenizer's ids, and when the command
 * encodes text (encodes_text), a model of more than 257 ids needs a tokenizer. */
int tokenizer_open_for(const char *model_path, const spdf_model *model, const char *path,
                       int encodes_text, spdf_tokenizer **tok);
/* 1 if the file starts like a token file of either format (docs/token-format.md). */
int corpus_is_token_file(const char *path);
/* The --tokenizer option of every command that reads or writes text. */
#define TOKENIZER_OPTION(field)                                                                   \
    OPT_STRING("tokenizer", &(field), "FILE",                                                     \
               "BPE tokenizer file (spdf tokenize --bpe-vocab); default: the one a checkpoint "   \
               "stores, if any, else one token per byte")

typedef struct corpus {
    spdf_dataset *train;
    spdf_dataset *val;    /* NULL when nothing is held out */
    int64_t train_tokens, val_tokens;
    int32_t vocab_bound;  /* largest id + 1 */
    int from_text;        /* 1: the file was text, encoded with the run's tokenizer */
} corpus;

/* Loads path as a token file when spdf_dataset_load recognises it, else as text encoded with tok
 * (a file that starts like a token file but is damaged is an error, never text), and
 * holds out the last val_fraction of the tokens.  Prints one error line and returns an exit
 * code on failure. */
int corpus_load(const char *path, float val_fraction, const spdf_tokenizer *tok, corpus *out);
/* The same for text in memory; `what` names it in messages ("the pre-training text"). */
int corpus_from_text(const char *text, size_t len, float val_fraction, const spdf_tokenizer *tok,
                     const char *what, corpus *out);
void corpus_free(corpus *c);

/* Fine-tuning examples: ids(prompt) "\n" ids(target) EOT, padded with EOT to context + 1
 * tokens, "\n" and EOT being the tokenizer's (text_marks).  The loss weight is 1 where the next
 * token is a target token or the final EOT and 0 elsewhere (prompt, separator, padding). */
typedef struct finetune_data {
    int32_t context;    /* T: each example holds T + 1 tokens and T weights */
    int64_t count;      /* examples kept */
    int32_t *tokens;    /* (count, T + 1) */
    float *weights;     /* (count, T): weight of predicting tokens[t + 1] from position t */
    int32_t *spans;     /* (count): positions up to the last weighted one; the rest is padding */
    int64_t truncated;  /* examples longer than T + 1 tokens, cut to fit */
    int64_t dropped;    /* examples whose prompt alone fills the context (nothing to learn) */
    int64_t pairs;      /* (prompt, target) pairs read */
    int32_t fit_all;    /* the context that would hold every pair whole (its longest sequence - 1) */
    int32_t fit_p99;    /* ... and 99 % of them */
} finetune_data;

/* One example per training pair of the task (or per pair of its first `items` items when
 * items > 0).  Returns an exit code (one error line printed on failure). */
int finetune_data_build(const spdf_task_data *task, int64_t items, int32_t context,
                        const spdf_tokenizer *tok, finetune_data *out);
void finetune_data_free(finetune_data *d);

/* How the examples of an epoch are put into batches.  Both draw a new seeded shuffle for every
 * epoch (a pure function of the seed, the epoch and the examples).  An epoch is count / B
 * batches; the count % B examples left over sit that epoch out (different ones every epoch). */
typedef enum batch_order {
    BATCH_GROUPED = 0, /* the shuffle is cut into windows of 64 batches, each window is sorted by
                          length and cut into batches, and the batches are shuffled: less
                          padding, the same examples per epoch */
    BATCH_RANDOM = 1   /* consecutive slices of the shuffle */
} batch_order;

/* Fills the (B, *T) batch of training step `step` and returns its length *T: the longest
 * example of the batch rounded up to a multiple of 8, at most the context.  Causal attention
 * makes the trailing padding (weight 0) irrelevant, so this equals padding to the context.
 * Returns 0, or -1 when out of memory. */
int finetune_batch(const finetune_data *d, uint64_t seed, batch_order order, int64_t step, int32_t B,
                   int32_t *inputs, int32_t *targets, float *weights, int32_t *T);

/* Weighted mean cross-entropy of the model over every example, in order, in batches of B.
 * Returns SPDF_OK or the failing status. */
spdf_status finetune_data_loss(spdf_model *model, const finetune_data *d, int32_t B, double *loss);

/* Task file formats by their --format names (index = position): e2e, webnlg, dart, jsonl. */
extern const char *const task_format_names[];
/* Loads a task file; an unreadable, malformed or empty file prints one line and returns
 * EXIT_BAD_INPUT. */
int task_load(const char *path, int32_t format, spdf_task_data **task);

#endif /* SPDF_CLI_DATA_H */
