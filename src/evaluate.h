/* Decoding and scoring shared by `spdf generate`, `spdf eval`, `spdf score` and `spdf demo`. */
#ifndef SPDF_CLI_EVALUATE_H
#define SPDF_CLI_EVALUATE_H

#include "progress.h"
#include "training_loop.h"

#include <spdf.h>

#include <stddef.h>
#include <stdint.h>

/* A copy of n bytes as valid UTF-8: every byte that does not start a valid sequence becomes
 * U+FFFD.  Byte-level models may emit such bytes, and BLEU takes UTF-8 only.  NULL when out of
 * memory. */
char *utf8_sanitize(const char *bytes, size_t n);

/* Continues the prompt ids (count of them, in tok's ids, NULL for bytes) with config, except
 * that generation stops at tok's end of text (text_marks), and returns the new text (without
 * the stop token) as a NUL-terminated string in *text (malloc'd; *length excludes the NUL).
 * Prints one error line and returns an exit code on failure. */
int generate_text(spdf_model *model, const spdf_tokenizer *tok, const int32_t *prompt, size_t count,
                  const spdf_generate_config *config, char **text, size_t *length);

/* The hypotheses for the first `items` items of a task (all when items <= 0 or larger): each
 * prompt followed by the tokenizer's "\n" (prompt_encode) is continued until its end of text or,
 * unless config has a stop sequence, its "\n". */
typedef struct task_outputs {
    char **hyps;       /* valid UTF-8, one per item */
    int64_t count;
    int64_t too_long;  /* prompts that fill the model's context: empty hypotheses */
    double seconds;
} task_outputs;

int decode_task(spdf_model *model, const spdf_tokenizer *tok, const spdf_task_data *task,
                int64_t items, const spdf_generate_config *config, progress_mode mode,
                const char *label, task_outputs *out);
void task_outputs_free(task_outputs *out);

/* Fine-tuning followed by its evaluation: finetune_prepare and finetune_run on train (fs), the
 * loss on held_out's references, and the first `items` inputs of test decoded greedily (at most
 * max_new tokens each, progress labelled decode_label) and scored. */
typedef struct finetune_score {
    double flops;          /* training FLOPs of the fine-tuning */
    double heldout_loss;   /* nats/token on held_out's targets */
    task_outputs outputs;  /* the hypotheses (task_outputs_free) */
    spdf_bleu_result scores;
} finetune_score;

int finetune_and_score(session *s, const finetune_settings *fs, const finetune_data *train,
                       const finetune_data *held_out, const spdf_task_data *test, int64_t items,
                       int32_t max_new, const char *decode_label, metrics_log *log, train_result *r,
                       finetune_score *out);

/* Corpus BLEU and NIST (the E2E scorer's defaults) of hyps[i] against the references of item
 * i, for i < count.  Prints one error line and returns an exit code on failure. */
int score_task(const spdf_task_data *task, const char *const *hyps, int64_t count,
               spdf_bleu_result *result);

/* "BLEU 0.6593\nNIST 8.6094\n" */
void print_scores(const spdf_bleu_result *result);
/* The result's members, for --json (the caller begins and ends the object). */
struct json_writer;
void json_scores(struct json_writer *w, const spdf_bleu_result *result);

/* Decoding flags shared by generate and eval. */
typedef struct decode_flags {
    int32_t strategy, beam, max_new, top_k;
    float length_penalty, temperature;
    int64_t seed;
} decode_flags;

void decode_flags_defaults(decode_flags *f, int32_t max_new);
void decode_flags_apply(const decode_flags *f, spdf_generate_config *config);
extern const char *const strategy_names[];

/* The option table entries of decode_flags (see options.h). */
#define DECODE_OPTIONS(f)                                                                           \
    OPT_CHOICE("strategy", &(f).strategy, NULL, strategy_names, "decoding strategy"),               \
    OPT_INT("beam", &(f).beam, "N", 1, 64, "beam width (--strategy beam)"),                         \
    OPT_FLOAT("length-penalty", &(f).length_penalty, "X", 0, 10,                                    \
              "beam scores are log p / length^X (--strategy beam)"),                                \
    OPT_INT("max-new", &(f).max_new, "N", 0, 1000000, "at most N new tokens (also ends when the context is full)"), \
    OPT_FLOAT("temperature", &(f).temperature, "X", 1e-3, 100, "sampling temperature (--strategy sample)"), \
    OPT_INT("top-k", &(f).top_k, "K", 0, 1 << 24, "sample from the K most likely tokens, 0 = all (--strategy sample)"), \
    OPT_INT64("seed", &(f).seed, "N", 0, 9.2e18, "sampling seed (--strategy sample)")

#endif /* SPDF_CLI_EVALUATE_H */
