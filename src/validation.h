/* Validation while fine-tuning: the loss on held-out pairs and BLEU on their first inputs, the
 * best model so far, early stopping, and the record that lets a resumed run go on with them. */
#ifndef SPDF_CLI_VALIDATION_H
#define SPDF_CLI_VALIDATION_H

#include "data.h"

#include <spdf.h>

#include <stdint.h>

typedef struct finetune_validation {
    const finetune_data *pairs;  /* held-out sequences; NULL: no validation */
    const spdf_task_data *task;  /* their items, decoded greedily for BLEU */
    const spdf_tokenizer *tok;   /* NULL: bytes */
    int64_t bleu_items;          /* items decoded per evaluation; 0: loss only */
    int32_t max_new;             /* tokens decoded per item at most */
    int32_t batch;               /* rows per forward pass of the loss */
    int32_t every;               /* evaluate every N steps (and at the end); 0: at the end only */
    int32_t patience;            /* stop after N evaluations without a better loss; 0: never */
    const char *best_path;       /* the model of the lowest validation loss goes here; NULL: not kept */
} finetune_validation;

/* Where a run stands: its best evaluation and the evaluations since that did not improve it. */
typedef struct validation_state {
    int64_t best_step; /* -1: no evaluation yet */
    double best_loss;
    int32_t stale;     /* evaluations after best_step without a lower loss */
} validation_state;

void validation_state_init(validation_state *state);

/* The validation loss and (bleu_items > 0) BLEU of the model now; bleu is NaN without BLEU.
 * Returns an exit code (one error line printed on failure). */
int validation_measure(spdf_model *model, const finetune_validation *v, double *loss, double *bleu);

/* Counts an evaluation at `step` into the state: *improved when its loss is the best so far. */
void validation_state_update(validation_state *state, int64_t step, double loss, int *improved);
/* The state says to stop: patience evaluations in a row without improvement. */
int validation_should_stop(const validation_state *state, int32_t patience);

/* The state file "<checkpoint>.validation.jsonl": a line {"step", "best_step", "best_loss",
 * "stale"} appended (and synced) before every save of the checkpoint, so that whatever state the
 * checkpoint holds, the line of its step is on disk.  start: a new run (the file is emptied
 * first).  Rank 0 only; the other ranks do nothing.  Returns an exit code. */
int validation_state_append(const char *checkpoint, int64_t step, const validation_state *state, int start);
/* The state recorded for `step` in checkpoint's file; *found = 0 when there is none (no file, or
 * no complete line for the step).  Returns an exit code (malformed lines are an error). */
int validation_state_find(const char *checkpoint, int64_t step, validation_state *state, int *found);

#endif /* SPDF_CLI_VALIDATION_H */
