/* The grid of `spdf experiment`: model sizes x sparsities x seeds of pre-training, each followed
 * by fine-tuning on tasks in modes; built-in presets, a flat TOML grid file over them, and the
 * list of cells (a pre-training, or a fine-tuning of one pre-trained model) in grid order. */
#ifndef SPDF_CLI_EXPERIMENT_GRID_H
#define SPDF_CLI_EXPERIMENT_GRID_H

#include <stddef.h>
#include <stdint.h>

enum { GRID_MAX_VALUES = 16 };

typedef struct model_size {
    int32_t layers, width, heads;
} model_size;

/* Fine-tuning modes: dense (SPDF from a sparse model; the baseline from a dense one) or sparse
 * (the pre-training mask kept). */
enum { MODE_DENSE = 0, MODE_SPARSE = 1 };
/* Tasks, in experiment_task_names order. */
enum { TASK_E2E = 0, TASK_WEBNLG = 1, TASK_DART = 2 };

extern const char *const experiment_task_names[];  /* "e2e", "webnlg", "dart", NULL */
extern const char *const experiment_mode_names[];  /* "dense", "sparse", NULL */
extern const char *const experiment_preset_names[]; /* "quick", "default", NULL */

typedef struct experiment_grid {
    model_size sizes[GRID_MAX_VALUES];
    int size_count;
    float sparsities[GRID_MAX_VALUES]; /* 0 is the dense pre-training of the baseline */
    int sparsity_count;
    int32_t mask;                      /* spdf_mask_method */
    int32_t tasks[GRID_MAX_VALUES];
    int task_count;
    int32_t modes[2];
    int mode_count;
    int64_t seeds[GRID_MAX_VALUES];    /* initialisation, mask and data order */
    int seed_count;
    int64_t pretrain_tokens;           /* per pre-training, the same for every size */
    int32_t vocab, positions;
    int32_t pretrain_batch, pretrain_context, pretrain_warmup;
    float pretrain_lr;
    int32_t finetune_steps, finetune_batch, finetune_context, finetune_warmup;
    float finetune_lr;
    int32_t eval_items, max_new;       /* BLEU on the first eval_items test inputs, greedy */
} experiment_grid;

void grid_preset(experiment_grid *g, int preset);
/* Sets the keys a grid file gives over g.  An unreadable file, a malformed line, an unknown or
 * repeated key, a bad value or an inconsistent grid prints one line naming FILE:LINE and returns
 * EXIT_BAD_INPUT. */
int grid_read(experiment_grid *g, const char *path);
/* Checks a grid's consistency (heads divide widths, a token budget of at least one step, ...);
 * `where` names its source in the message.  Returns an exit code. */
int grid_check(const experiment_grid *g, const char *where);
/* The grid as a grid file, every key in a fixed order (malloc'd; NULL when out of memory): the
 * output directory keeps it, so a rerun can tell the same grid from another. */
char *grid_text(const experiment_grid *g);
/* Pre-training steps of the token budget (whole batches of pretrain_batch x pretrain_context). */
int32_t grid_pretrain_steps(const experiment_grid *g);

enum { CELL_PRETRAIN = 0, CELL_FINETUNE = 1 };

typedef struct grid_cell {
    int kind;
    int size, sparsity, seed;  /* indices into the grid's lists */
    int task, mode;            /* CELL_FINETUNE: the task and mode indices */
    int pretrain;              /* CELL_FINETUNE: the index of its pre-training cell */
    char id[96];               /* "pretrain-2x128x2-sp0.75-seed1", file names in DIR/cells */
} grid_cell;

/* The cells in grid order: size, seed, sparsity; each pre-training followed by its fine-tunings,
 * task by task and mode by mode (no sparse fine-tuning of a dense model).  *cells is malloc'd;
 * returns 0, or -1 when out of memory. */
int grid_cells(const experiment_grid *g, grid_cell **cells, int *count);

#endif /* SPDF_CLI_EXPERIMENT_GRID_H */
