/* Validation while fine-tuning (validation.h). */
#include "validation.h"

#include "cli.h"
#include "distributed.h"
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void validation_state_init(validation_state *state)
{
    state->best_step = -1;
    state->best_loss = INFINITY;
    state->stale = 0;
}

int validation_measure(spdf_model *model, const finetune_validation *v, double *loss, double *bleu)
{
    *bleu = NAN;
    const spdf_status status = finetune_data_loss(model, v->pairs, v->batch, loss);
    if (status != SPDF_OK) return cli_library_error(status, EXIT_FAILURE_RUNTIME, "the validation loss failed");
    if (v->bleu_items <= 0) return EXIT_OK;
    spdf_generate_config config;
    spdf_generate_config_init(&config);
    config.strategy = SPDF_DECODE_GREEDY;
    config.max_new_tokens = v->max_new;
    task_outputs out;
    int code = decode_task(model, v->tok, v->task, v->bleu_items, &config, PROGRESS_OFF, "validation", &out);
    if (code != EXIT_OK) return code;
    spdf_bleu_result scores;
    memset(&scores, 0, sizeof scores);
    scores.struct_size = sizeof scores;
    code = score_task(v->task, (const char *const *)out.hyps, out.count, &scores);
    if (code == EXIT_OK) *bleu = scores.bleu;
    task_outputs_free(&out);
    return code;
}

void validation_state_update(validation_state *state, int64_t step, double loss, int *improved)
{
    *improved = loss < state->best_loss;
    if (*improved) {
        state->best_step = step;
        state->best_loss = loss;
        state->stale = 0;
    } else {
        state->stale++;
    }
}

int validation_should_stop(const validation_state *state, int32_t patience)
{
    return patience > 0 && state->best_step >= 0 && state->stale >= patience;
}

static char *state_path(const char *checkpoint)
{
    static const char suffix[] = ".validation.jsonl";
    const size_t n = strlen(checkpoint);
    char *path = malloc(n + sizeof suffix);
    if (path) {
        memcpy(path, checkpoint, n);
        memcpy(path + n, suffix, sizeof suffix);
    }
    return path;
}

int validation_state_append(const char *checkpoint, int64_t step, const validation_state *state, int start)
{
    if (!distributed_is_root()) return EXIT_OK;
    char *path = state_path(checkpoint);
    if (!path) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    FILE *f = fopen(path, start ? "w" : "a");
    /* %.17g: the loss read back is the same double, so a resumed run compares as this one */
    int failed = !f || fprintf(f, "{\"step\": %lld, \"best_step\": %lld, \"best_loss\": %.17g, \"stale\": %d}\n",
                               (long long)step, (long long)state->best_step,
                               state->best_step >= 0 ? state->best_loss : 0.0, (int)state->stale) < 0;
    failed = failed || fflush(f) != 0 || fsync(fileno(f)) != 0;
    const int saved_errno = errno;
    if (f && fclose(f) != 0) failed = 1;
    if (failed) cli_error("cannot write '%s': %s", path, strerror(saved_errno));
    free(path);
    return failed ? EXIT_FAILURE_RUNTIME : EXIT_OK;
}

int validation_state_find(const char *checkpoint, int64_t step, validation_state *state, int *found)
{
    *found = 0;
    char *path = state_path(checkpoint);
    if (!path) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        const int missing = errno == ENOENT;
        if (!missing) cli_error("cannot read '%s': %s", path, strerror(errno));
        free(path);
        return missing ? EXIT_OK : EXIT_BAD_INPUT;
    }
    char line[512];
    int code = EXIT_OK;
    for (int number = 1; code == EXIT_OK && fgets(line, sizeof line, f); number++) {
        if (!strchr(line, '\n')) break; /* a line cut short by a crash: the save after it never happened */
        long long at = 0, best = 0;
        double loss = 0;
        int stale = 0;
        if (sscanf(line, "{\"step\": %lld, \"best_step\": %lld, \"best_loss\": %lf, \"stale\": %d}", &at, &best,
                   &loss, &stale) != 4 || best < -1 || stale < 0) {
            cli_error("%s:%d: not a line of a validation state file", path, number);
            code = EXIT_BAD_INPUT;
        } else if (at == step) { /* the last line of the step: the state its checkpoint holds */
            state->best_step = best;
            state->best_loss = best >= 0 ? loss : INFINITY;
            state->stale = stale;
            *found = 1;
        }
    }
    fclose(f);
    free(path);
    return code;
}
