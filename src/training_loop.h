/* The training loops behind `spdf pretrain`, `spdf finetune` and `spdf demo`: a model with its
 * optimizer and phase, stepped, logged, evaluated, checkpointed and stopped on a signal. */
#ifndef SPDF_CLI_TRAINING_LOOP_H
#define SPDF_CLI_TRAINING_LOOP_H

#include "data.h"
#include "progress.h"
#include "validation.h"

#include <spdf.h>

#include <stdint.h>

/* The handles of one training run; the context and the tokenizer belong to the caller. */
typedef struct session {
    spdf_context *ctx;
    spdf_model *model;
    spdf_optimizer *opt;
    spdf_phase *phase;
    spdf_tokenizer *tokenizer; /* stored in every checkpoint the run saves; NULL: none (bytes) */
} session;

void session_free(session *s);

/* A (step, value) series, for the report's plots. */
typedef struct curve {
    int64_t *steps;
    double *values;
    int count, capacity;
} curve;

void curve_add(curve *c, int64_t step, double value);
void curve_free(curve *c);

typedef struct train_result {
    int64_t first_step;    /* the step the run started from (non-zero when resumed) */
    int64_t steps_done;    /* the optimizer's step count at the end */
    double seconds;        /* wall time of the loop, evaluations and saves included */
    float last_loss;
    double tail_loss;      /* mean training loss over the last tenth of the run's steps */
    double final_val_loss; /* NaN when there is no validation data */
    int interrupted;       /* stopped by SIGINT or SIGTERM (the state was saved) */
    int stopped_early;     /* fine-tuning: the validation loss stopped improving (--early-stop) */
    validation_state validation; /* fine-tuning: the best evaluation so far */
    double final_bleu;     /* fine-tuning: BLEU of the last evaluation; NaN: none */
    curve loss, val_loss;  /* training loss per step, validation loss per evaluation */
    curve elapsed;         /* per step: wall seconds since the loop started */
} train_result;

void train_result_free(train_result *r);

typedef struct pretrain_settings {
    spdf_model_config model;
    spdf_optimizer_config optim;
    int32_t context, batch, steps;
    uint64_t seed;          /* model initialisation, mask and data order */
    float sparsity;         /* 0: dense */
    int32_t mask_method;    /* spdf_mask_method */
    int32_t plan_mode;      /* spdf_sparse_plan_mode of the masked layers' kernel plans */
    int32_t eval_every, eval_batches, save_every;
    int32_t stop_at;        /* 0, or save and stop (exit 0) once this many steps are done */
    int32_t grad_accum;     /* micro-batches per step (0 or 1: one); batch is the global batch */
    float dropout;          /* rate at GPT-2's three dropout sites; 0: none (the paper's setting) */
    int32_t keep_last;      /* each save also as out_path.step-N, the last keep_last kept; 0: none */
    const char *out_path;   /* the checkpoint; NULL: never saved */
    const char *label;      /* progress label, also "run" in the log */
    progress_mode progress;
    double progress_seconds; /* PROGRESS_LINES: at most this long between lines; < 0: the default */
} pretrain_settings;

/* The length, batches and learning-rate schedule of a run: `steps` optimizer steps on (batch,
 * context) batches, linear warmup to `lr`, cosine decay over the whole run. */
typedef struct run_schedule {
    int32_t steps, batch, context, warmup;
    float lr;
} run_schedule;

/* Settings of a dense run (sparsity 0, a random mask if sparsity is set later) of `model` on
 * `run`; seed overrides model->seed and also draws the mask and orders the data.  Fields not
 * named stay at the library's defaults, or 0 (no evaluation, no checkpoint). */
void pretrain_settings_init(pretrain_settings *ps, const spdf_model_config *model,
                            const run_schedule *run, uint64_t seed, const char *label,
                            progress_mode mode);

/* A fresh model with its optimizer, and with a mask attached when sparsity > 0.  Returns an
 * exit code (one error line printed on failure). */
int pretrain_create(session *s, const pretrain_settings *ps);
/* A new run from scratch: pretrain_create, a random-order sampler over data->train drawn from
 * ps->seed, and pretrain_run; *flops gets the run's training FLOPs (sparse ones for a masked
 * model, as the SPDF paper counts them).  Returns an exit code. */
int pretrain_new_run(session *s, const corpus *data, const pretrain_settings *ps, metrics_log *log,
                     train_result *r, double *flops);
/* Training FLOPs of one (batch, context) step of the model in its phase: sparse (the mask's
 * non-zeros) or dense. */
double training_step_flops(const spdf_model *model, int32_t context, int32_t batch, int sparse);
/* Loads a checkpoint written by pretrain_run, with its optimizer and the sampler position. */
int pretrain_resume(session *s, const char *path, spdf_sampler *sampler);
/* Trains until ps->steps optimizer steps are done, evaluating, logging and saving on the way.
 * A stop request (cli_interrupted) ends it after the step in progress, without the final
 * evaluation; the state is saved even before a first step (the initial one, resumable).
 * Returns EXIT_OK, EXIT_INTERRUPTED (saved) or an error exit code. */
int pretrain_run(session *s, spdf_sampler *sampler, const corpus *data, const pretrain_settings *ps,
                 metrics_log *log, train_result *r);

typedef struct finetune_settings {
    spdf_optimizer_config optim;
    int32_t context, batch, steps;
    uint64_t seed;          /* data order */
    batch_order order;
    int32_t keep_sparse;    /* 1: SPARSE -> SPARSE (sparse fine-tuning); 0: SPARSE -> DENSE */
    int32_t reset_moments;  /* 1: AdamW moments restart at 0 */
    int32_t grad_accum;     /* as in pretrain_settings */
    float dropout;          /* as in pretrain_settings; masks keyed by seed */
    int32_t save_every, stop_at, keep_last; /* as in pretrain_settings */
    finetune_validation validation; /* .pairs NULL: none */
    validation_state resumed; /* a resumed run's state at its checkpoint (else: initialised) */
    int32_t append_state;   /* 1: resumed into its own checkpoint, whose state file goes on */
    const char *out_path;   /* saved at the end and on a signal (after a first step); NULL: never */
    const char *label;
    progress_mode progress;
    double progress_seconds; /* as in pretrain_settings */
} finetune_settings;

/* Settings of a fine-tuning run on `run` (run->context is unused: the task data sets it) that
 * moves a sparse model to dense; seed orders the data. */
void finetune_settings_init(finetune_settings *fs, const run_schedule *run, uint64_t seed,
                            const char *label, progress_mode mode);

/* Starts fine-tuning on a loaded model: a sparse one moves to DENSE (or stays SPARSE with
 * keep_sparse) through spdf_phase_transition with a restarted schedule; a dense one restarts
 * its schedule with spdf_optimizer_restart.  A model without an optimizer gets a new one. */
int finetune_prepare(session *s, const finetune_settings *fs);
/* Fine-tunes for fs->steps steps, or until fs->stop_at, or until the validation loss stops
 * improving.  A stop request ends it after the step in progress and saves; before a first step
 * nothing is saved (r->steps_done == r->first_step tells).  Every save of out_path is preceded
 * by the validation state's line for its step (validation.h). */
int finetune_run(session *s, const finetune_data *data, const finetune_settings *fs,
                 metrics_log *log, train_result *r);

/* Loads a checkpoint into s (s->ctx is not touched; pass the context): the model, and with
 * with_training_state also its phase handle and its optimizer when the file has one. */
int session_load(spdf_context *ctx, const char *path, int with_training_state, session *s);
/* For runs that keep a sparse model sparse (sparse pre-training, sparse fine-tuning, evaluation):
 * SPDF_SPARSE_MEMORY_RELEASE, so the pages only a dense model needs are returned to the system.
 * The library's default, KEEP, is for a model that trains sparse and then densifies in the same
 * process. */
int session_release_sparse_memory(session *s);

/* Dropout at `rate` on all three sites, its masks keyed by seed from the first pass on.  Rank
 * r > 0 of a data-parallel run keys its masks with a seed of its own (the rank's rows are other
 * rows), rank 0 with seed itself: a single process is rank 0. */
int session_set_dropout(session *s, float rate, uint64_t seed);
/* A resumed run: the checkpoint's dropout (rank 0's) re-keyed for this rank, its count kept. */
int session_resume_dropout(session *s);

/* Writes the checkpoint, printing one error line on failure. */
int save_checkpoint(const session *s, const spdf_sampler *sampler, const char *path);

#endif /* SPDF_CLI_TRAINING_LOOP_H */
