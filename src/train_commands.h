/* What `spdf pretrain` (train_commands.c) and `spdf finetune` (finetune_command.c) share. */
#ifndef SPDF_CLI_TRAIN_COMMANDS_H
#define SPDF_CLI_TRAIN_COMMANDS_H

#include "training_loop.h"

#include <stdint.h>

/* --dropout of both training commands: one rate for GPT-2's three sites. */
#define DROPOUT_OPTION(field)                                                                      \
    OPT_FLOAT("dropout", &(field), "P", 0, 0.95,                                                   \
              "dropout rate on the embeddings, the attention weights and each block's two "        \
              "residual branches (0: none)")

/* --keep-last of both training commands. */
#define KEEP_LAST_OPTION(field)                                                                    \
    OPT_INT("keep-last", &(field), "K", 0, 1000000,                                                \
            "also keep each save as CKPT.step-N, the K newest of them (0: none)")

/* Run settings a resumed run may change (they do not change its results). */
extern const char *const run_settings_that_may_change[];
/* "--resume: options that differ from the run in CKPT: LIST ..." (exit 2). */
int refuse_conflicts(const char *list, const char *checkpoint);
/* Every output is checked before the work, so that a bad path costs nothing. */
int check_training_outputs(const char *out, const char *log);
/* Under mpirun, rank 0 says how the work is split, and at the end the gradient traffic. */
void print_ranks(int32_t batch, int32_t grad_accum, int32_t threads);
void print_traffic(const train_result *r);

#endif /* SPDF_CLI_TRAIN_COMMANDS_H */
