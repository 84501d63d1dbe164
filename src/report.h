/* The demo's results: the table printed at the end, report.md and the hand-written loss.svg. */
#ifndef SPDF_CLI_REPORT_H
#define SPDF_CLI_REPORT_H

#include "training_loop.h"

#include <spdf.h>

#include <stdint.h>
#include <stdio.h>

/* Sizes and settings of one demo run (see demo.c for the presets). */
typedef struct demo_config {
    const char *size_name;
    int32_t layers, heads, width, positions;
    int32_t vocab;           /* BPE tokenizer size, trained on the demo's data (257: bytes only) */
    int32_t pretrain_context, pretrain_batch, pretrain_steps, pretrain_warmup, eval_every;
    float pretrain_lr;
    int32_t finetune_context, finetune_batch, finetune_steps, finetune_warmup;
    float finetune_lr;
    int32_t eval_items, max_new;
    float sparsity;
    uint64_t seed;
    int32_t threads;         /* as resolved by the context */
    const char *backend;     /* as resolved by the context */
    const char *data_dir;
} demo_config;

/* One row of the table.  Curves and hypotheses are borrowed. */
typedef struct demo_variant {
    const char *name;        /* "SPDF: sparse pre-training, dense fine-tuning" */
    const char *label;       /* short, for plots and logs: "sparse -> dense" */
    const char *color;       /* SVG colour */
    int trained;             /* 0 for the copy-the-MR baseline */
    double pretrain_flops;   /* total training FLOPs of pre-training */
    double finetune_flops;
    double pretrain_seconds, finetune_seconds, decode_seconds;
    double pretrain_val_loss;  /* final validation loss of pre-training (nats/token) */
    double finetune_loss;      /* loss on the references of the evaluation MRs */
    double finetune_train_loss; /* mean training loss over the last tenth of fine-tuning */
    spdf_bleu_result scores;
    char **hyps;
    const curve *pretrain_curve, *pretrain_val_curve, *finetune_curve;
    const curve *pretrain_elapsed; /* wall seconds at each pre-training step */
} demo_variant;

typedef struct demo_report {
    const demo_config *config;
    const char *command_line;
    const demo_variant *variants;
    int variant_count;
    const spdf_task_data *test;  /* the evaluation MRs and their references */
    int64_t eval_items;
    int64_t train_examples, train_truncated; /* fine-tuning examples from trainset.csv */
    int64_t corpus_train_tokens, corpus_val_tokens;
    double total_seconds;
} demo_report;

void report_print_table(const demo_report *r, FILE *out);
/* Write the files; print one error line and return an exit code on failure. */
int report_write_markdown(const demo_report *r, const char *path);
int report_write_svg(const demo_report *r, const char *path);

#endif /* SPDF_CLI_REPORT_H */
