/* `spdf experiment`: what the runner (experiment.c) hands the report (experiment_report.c). */
#ifndef SPDF_CLI_EXPERIMENT_H
#define SPDF_CLI_EXPERIMENT_H

#include "experiment_grid.h"

#include <stdint.h>

/* The result of one cell, as DIR/cells/ID.toml keeps it.  Pre-training fills steps, tokens,
 * flops, train_loss and val_loss; fine-tuning also heldout_loss, items, bleu and nist (its
 * val_loss is NaN).  The seconds are wall-clock time and go to timings.jsonl only. */
typedef struct cell_result {
    int done;
    int64_t steps, tokens, items;
    double flops;
    double train_loss;    /* mean training loss over the last tenth of the steps */
    double val_loss;      /* pre-training: final loss on the held-out text (nats/token) */
    double heldout_loss;  /* fine-tuning: loss on the references of the evaluation inputs */
    double bleu, nist;    /* fine-tuning: greedy decoding of the evaluation inputs */
    double seconds;       /* the whole cell */
    double train_seconds, decode_seconds;
} cell_result;

typedef struct experiment_outputs {
    const experiment_grid *grid;
    const grid_cell *cells;
    const cell_result *results; /* one per cell; cells not done are left out */
    int cell_count;
    const char *out_dir, *command_line;
    const char *cpu;            /* as the report names it */
    int32_t threads;
    int64_t corpus_train_tokens, corpus_val_tokens;
    int64_t train_examples[3], eval_items[3]; /* per task (experiment_task_names order) */
} experiment_outputs;

/* Writes results.jsonl, timings.jsonl, results.md and the SVG plots into out_dir, each
 * atomically.  Prints one line and returns an exit code on failure. */
int experiment_write_outputs(const experiment_outputs *o);

#endif /* SPDF_CLI_EXPERIMENT_H */
