/* `spdf finetune`: task data and a pre-trained (or resumed) checkpoint to handles, validation,
 * then the fine-tuning loop of training_loop.c. */
#include "cli.h"
#include "data.h"
#include "distributed.h"
#include "options.h"
#include "run_settings.h"
#include "train_commands.h"
#include "training_loop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const batching_names[] = {"grouped", "random", NULL};

/* ---- finetune ---- */

typedef struct finetune_flags {
    const char *init, *resume, *task, *val_task, *best, *out, *log, *backend, *tokenizer;
    int32_t format, dense, sparse, reset_moments, batching;
    int32_t steps, batch, context, warmup, threads, grad_accum;
    int32_t eval_every, early_stop, bleu_max_new, save_every, stop_at, keep_last;
    int64_t seed, items, val_items, bleu_items;
    float lr, min_lr_ratio, weight_decay, grad_clip, progress_every, dropout;
    int32_t allow_truncation;
} finetune_flags;

/* Past these shares of the pairs, the context is too short for the task: dropped pairs teach
 * nothing, truncated ones never show the model where a reference ends. */
#define DROPPED_LIMIT 0.05
#define TRUNCATED_LIMIT 0.20

/* Warns about pairs that do not fit the context, with the context that would fit them, and
 * refuses (exit 2) past the limits unless --allow-truncation. */
static int check_fit(const finetune_data *d, const finetune_flags *f, int32_t context, int32_t positions)
{
    if (d->truncated == 0 && d->dropped == 0) return EXIT_OK;
    const double pairs = (double)d->pairs;
    const int refuse = !f->allow_truncation && ((double)d->dropped > DROPPED_LIMIT * pairs ||
                                                (double)d->truncated > TRUNCATED_LIMIT * pairs);
    char advice[256];
    if (d->fit_p99 <= positions)
        snprintf(advice, sizeof advice, "--context %d fits 99 %% of them, %d all (the model has %d positions)",
                 (int)d->fit_p99, (int)d->fit_all, (int)positions);
    else
        snprintf(advice, sizeof advice, "a context of %d fits 99 %% of them, %d all, but the model has %d "
                 "positions (pre-train with --max-seq-len %d)", (int)d->fit_p99, (int)d->fit_all,
                 (int)positions, (int)d->fit_p99);
    if (refuse) {
        cli_error("at --context %d, %lld of %lld pairs would be truncated (%.0f %%) and %lld dropped (%.0f %%), "
                  "past the limits of %.0f %% truncated and %.0f %% dropped: %s; --allow-truncation trains anyway",
                  (int)context,
                  (long long)d->truncated, (long long)d->pairs, 100.0 * (double)d->truncated / pairs,
                  (long long)d->dropped, 100.0 * (double)d->dropped / pairs, 100 * TRUNCATED_LIMIT,
                  100 * DROPPED_LIMIT, advice);
        return EXIT_USAGE;
    }
    fprintf(stderr, "%s: warning: at --context %d, %lld of %lld pairs are truncated and %lld dropped; %s\n",
            cli_command(), (int)context, (long long)d->truncated, (long long)d->pairs, (long long)d->dropped,
            advice);
    return EXIT_OK;
}

static void report_finetune_end(int code, const finetune_flags *f, const train_result *r)
{
    if (code == EXIT_OK && f->stop_at > 0 && r->steps_done < f->steps && !r->stopped_early)
        printf("stopped at step %lld as asked (--stop-at); continue with --resume %s\n", (long long)r->steps_done,
               f->out);
    if (code == EXIT_OK)
        printf("finetune: %lld steps (%lld to %lld), last loss %.4f, mean of the last tenth %.4f, %.1f s\nsaved %s\n",
               (long long)(r->steps_done - r->first_step), (long long)r->first_step, (long long)r->steps_done,
               (double)r->last_loss, r->tail_loss, r->seconds, f->out);
    else if (code == EXIT_INTERRUPTED && r->steps_done == r->first_step)
        cli_error("interrupted before the first step: nothing was trained, and %s was not written", f->out);
    else if (code == EXIT_INTERRUPTED)
        cli_error("interrupted at step %lld; saved the model so far to %s", (long long)r->steps_done, f->out);
}

/* The --init model: a libspdf checkpoint (model, optimizer, phase), or a dense model imported from a
 * safetensors or llm.c file, told by the file's first bytes; finetune_prepare gives an imported
 * model its optimizer. */
static int load_init(spdf_context *ctx, const char *path, session *s)
{
    model_file_format format = MODEL_FILE_UNKNOWN;
    int code = cli_model_file_format(path, &format);
    if (code != EXIT_OK) return code;
    if (format == MODEL_FILE_CHECKPOINT) return session_load(ctx, path, 1, s);
    if (format == MODEL_FILE_UNKNOWN) {
        cli_error("'%s' is neither a libspdf checkpoint nor a safetensors or llm.c file", path);
        return EXIT_BAD_INPUT;
    }
    code = cli_import_model(ctx, path, format, 0, &s->model);
    if (code != EXIT_OK) return code;
    const spdf_status status = spdf_phase_create(s->model, NULL, SPDF_PHASE_DENSE, NULL, &s->phase);
    if (status != SPDF_OK) return cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot set the model's phase");
    printf("imported the %s weights of '%s' as a dense model\n", cli_model_file_format_names[format], path);
    return EXIT_OK;
}

/* As pretrain_agree: the settings, the examples, the step and the weights are the same on every
 * rank (the fine-tuning examples are compared by count and layout, their ids by digest). */
static int finetune_agree(const finetune_settings *fs, const finetune_data *data, const session *s)
{
    if (distributed_world()->ranks == 1) return EXIT_OK;
    const double settings[] = {fs->optim.learning_rate, fs->optim.warmup_steps, fs->optim.total_steps,
                               fs->optim.min_lr_ratio, fs->optim.weight_decay, fs->optim.grad_clip,
                               fs->context, fs->batch, fs->steps, (double)fs->seed, fs->order,
                               fs->keep_sparse, fs->reset_moments, fs->grad_accum, fs->dropout,
                               fs->validation.every, fs->validation.patience, (double)fs->validation.bleu_items,
                               fs->save_every, fs->stop_at};
    const int64_t examples[] = {data->count, data->pairs, data->truncated, data->dropped, data->context};
    uint32_t weights = 0;
    int64_t step = 0;
    spdf_model_weights_checksum(s->model, &weights);
    spdf_optimizer_get_step(s->opt, &step);
    if (distributed_agree(settings, sizeof settings, "the run's options") != 0 ||
        distributed_agree(examples, sizeof examples, "the task data") != 0 ||
        distributed_agree(data->tokens, (size_t)data->count * (size_t)(data->context + 1) * sizeof *data->tokens,
                          "the task's token ids") != 0 ||
        distributed_agree(&step, sizeof step, "the optimizer's step") != 0 ||
        distributed_agree(&weights, sizeof weights, "the model's weights") != 0)
        return EXIT_USAGE;
    return EXIT_OK;
}

/* ---- finetune --resume: as for pretrain, the run's settings are in CKPT.run.toml ---- */

static const char *const finetune_setting_names[] = {
    "format", "steps", "batch", "grad-accum", "context", "lr", "warmup", "min-lr-ratio", "weight-decay", "grad-clip",
    "seed", "batching", "items", "allow-truncation", "dropout", "eval-every", "val-items", "bleu-items", "bleu-max-new",
    "early-stop",
    "save-every", NULL};

static int record_finetune_settings(const command_spec *command, const char *out)
{
    run_values v;
    run_values_init(&v, command, finetune_setting_names, run_settings_that_may_change);
    run_values_from_options(&v);
    char *path = run_settings_path(out);
    if (!path) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    char header[1200];
    snprintf(header, sizeof header, "spdf finetune: the settings of the run in '%s'; --resume reads them", out);
    const int code = run_settings_write(&v, path, header);
    free(path);
    return code;
}

/* The checkpoint is a fine-tuning run's (an optimizer, no sampler, a settings file): the options
 * not given take the run's values, and given ones that differ are refused. */
static int finetune_resume_settings(const finetune_flags *f, const command_spec *command)
{
    spdf_checkpoint_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    const spdf_status status = spdf_checkpoint_info_read(f->resume, &info);
    if (status != SPDF_OK)
        return cli_library_error(status, cli_input_exit_code(status), "cannot resume from '%s'", f->resume);
    if (info.has_sampler) {
        cli_error("'%s' is a pre-training checkpoint: continue it with 'spdf pretrain --resume', or fine-tune it "
                  "with --init", f->resume);
        return EXIT_USAGE;
    }
    run_values file;
    run_values_init(&file, command, finetune_setting_names, run_settings_that_may_change);
    char *path = run_settings_path(f->resume);
    int found = 0;
    int code = path ? run_settings_read(&file, path, &found) : EXIT_FAILURE_RUNTIME;
    free(path);
    if (code != EXIT_OK) return code;
    if (!found || !info.has_optimizer) {
        cli_error("cannot resume from '%s': it has no %s (not written by spdf finetune?)", f->resume,
                  found ? "optimizer state" : "settings file beside it (CKPT.run.toml)");
        return EXIT_BAD_INPUT;
    }
    char list[1024] = "";
    return run_values_apply(&file, list, sizeof list) ? refuse_conflicts(list, f->resume) : EXIT_OK;
}

/* A resumed run's model goes on as it was: its phase, its optimizer, its dropout count. */
static int finetune_resume_model(const finetune_flags *f, session *s, finetune_settings *fs, int64_t *step)
{
    spdf_optimizer_get_step(s->opt, step);
    int code = session_resume_dropout(s);
    spdf_phase_kind kind = SPDF_PHASE_DENSE;
    spdf_phase_get_kind(s->phase, &kind);
    if (code == EXIT_OK && kind == SPDF_PHASE_SPARSE) code = session_release_sparse_memory(s);
    int found = 0;
    if (code == EXIT_OK) code = validation_state_find(f->resume, *step, &fs->resumed, &found);
    if (code != EXIT_OK) return code;
    if (fs->validation.pairs && !found)
        fprintf(stderr, "%s: warning: no validation state for step %lld beside '%s': the best model and early "
                "stopping start again from here\n", cli_command(), (long long)*step, f->resume);
    fs->append_state = found && strcmp(f->out, f->resume) == 0;
    return EXIT_OK;
}

/* A resumed run with nothing left to do says so (exit 0). */
static int finetune_has_work(const finetune_flags *f, const finetune_settings *fs, int64_t step)
{
    if (step >= fs->steps)
        printf("finetune: the run in '%s' already finished at step %lld; nothing to do\n", f->resume, (long long)step);
    else if (validation_should_stop(&fs->resumed, fs->validation.patience))
        printf("finetune: the run in '%s' already stopped early at step %lld; nothing to do\n", f->resume,
               (long long)step);
    else if (fs->stop_at > 0 && step >= fs->stop_at)
        printf("finetune: the run in '%s' is at step %lld, already past --stop-at %d; nothing to do\n", f->resume,
               (long long)step, (int)fs->stop_at);
    else
        return 1;
    return 0;
}

/* The options of validation fit together. */
static int check_validation_flags(const finetune_flags *f)
{
    const char *needs = f->eval_every > 0 ? "--eval-every" : f->early_stop > 0 ? "--early-stop" : f->best ? "--best" : NULL;
    if (needs && !f->val_task) {
        cli_error("%s needs held-out pairs: --val-task FILE", needs);
        return EXIT_USAGE;
    }
    if (f->early_stop > 0 && f->eval_every == 0) {
        cli_error("--early-stop counts evaluations: give --eval-every N too");
        return EXIT_USAGE;
    }
    if (f->best && (strcmp(f->best, f->out) == 0 || (f->resume && strcmp(f->best, f->resume) == 0))) {
        cli_error("--best '%s' is the run's own checkpoint: give it another path", f->best);
        return EXIT_USAGE;
    }
    return cli_check_output(f->best, "best checkpoint", 0);
}

/* Loads --val-task's pairs for the validation loss and its first items for BLEU. */
static int load_validation(const finetune_flags *f, const finetune_settings *fs, const spdf_tokenizer *tok,
                           spdf_task_data **task, finetune_data *pairs, finetune_validation *v)
{
    if (!f->val_task) return EXIT_OK;
    int code = task_load(f->val_task, f->format, task);
    if (code == EXIT_OK) code = finetune_data_build(*task, f->val_items, fs->context, tok, pairs);
    if (code != EXIT_OK) return code;
    if (pairs->count == 0) {
        cli_error("--val-task '%s': no pair fits --context %d", f->val_task, (int)fs->context);
        return EXIT_BAD_INPUT;
    }
    v->pairs = pairs;
    v->task = *task;
    v->tok = tok;
    v->bleu_items = f->bleu_items;
    v->max_new = f->bleu_max_new;
    v->batch = fs->batch;
    v->every = f->eval_every;
    v->patience = f->early_stop;
    v->best_path = f->best;
    printf("validation on %lld pairs of '%s'%s", (long long)pairs->count, f->val_task,
           f->eval_every > 0 ? "" : " at the end");
    if (f->eval_every > 0) printf(" every %d steps", (int)f->eval_every);
    if (f->bleu_items > 0) printf(", BLEU on its first %lld inputs", (long long)f->bleu_items);
    printf("\n");
    return EXIT_OK;
}

static void print_validation_end(const train_result *r, const finetune_flags *f)
{
    const validation_state *v = &r->validation;
    if (v->best_step < 0) return;
    if (r->stopped_early)
        printf("stopped early at step %lld: %d evaluations without a lower validation loss than step %lld's\n",
               (long long)r->steps_done, (int)v->stale, (long long)v->best_step);
    printf("best validation loss %.4f at step %lld%s%s\n", v->best_loss, (long long)v->best_step,
           f->best ? ", saved as " : "", f->best ? f->best : "");
}

/* A new run moves the model to its fine-tuning phase; a resumed one goes on where it stood
 * (*finished when it has nothing left to do). */
static int finetune_start(const finetune_flags *f, session *s, finetune_settings *fs, spdf_phase_kind before,
                          int *finished)
{
    if (f->resume) {
        int64_t step = 0;
        const int code = finetune_resume_model(f, s, fs, &step);
        if (code != EXIT_OK) return code;
        *finished = !finetune_has_work(f, fs, step);
        if (!*finished)
            printf("resuming the fine-tuning run in '%s' at step %lld of %d\n", f->resume, (long long)step,
                   (int)fs->steps);
        return EXIT_OK;
    }
    const int code = finetune_prepare(s, fs);
    if (code != EXIT_OK) return code;
    spdf_phase_kind after = SPDF_PHASE_DENSE;
    spdf_phase_get_kind(s->phase, &after);
    printf("%s model -> %s fine-tuning (%s), schedule restarted, moments %s\n", cli_phase_name(before),
           cli_phase_name(after), before == SPDF_PHASE_SPARSE ? "spdf_phase_transition" : "spdf_optimizer_restart",
           f->reset_moments ? "reset" : "kept");
    return EXIT_OK;
}

static int run_finetune(const finetune_flags *f, const command_spec *command)
{
    const run_schedule run = {.steps = f->steps, .batch = f->batch, .warmup = f->warmup, .lr = f->lr};
    finetune_settings fs;
    finetune_settings_init(&fs, &run, (uint64_t)f->seed, "finetune", progress_default_mode(PROGRESS_LINES));
    fs.progress_seconds = f->progress_every;
    fs.optim.min_lr_ratio = f->min_lr_ratio;
    fs.optim.weight_decay = f->weight_decay;
    fs.optim.grad_clip = f->grad_clip;
    fs.keep_sparse = f->sparse;
    fs.order = (batch_order)f->batching;
    fs.reset_moments = f->reset_moments;
    fs.grad_accum = f->grad_accum;
    fs.dropout = f->dropout;
    fs.save_every = f->save_every;
    fs.stop_at = f->stop_at;
    fs.keep_last = f->keep_last;
    fs.out_path = f->out;
    const char *model_path = f->resume ? f->resume : f->init;

    spdf_task_data *task = NULL, *val_task = NULL;
    int code = distributed_is_root() ? check_training_outputs(f->out, f->log) : EXIT_OK;
    if (code == EXIT_OK) code = check_validation_flags(f);
    if (code == EXIT_OK) code = task_load(f->task, f->format, &task);
    if (code != EXIT_OK) return distributed_common_exit(code);
    int gathered = 0; /* distributed_common_exit reached: the ranks know of each other's failures */
    session s = {0};
    spdf_tokenizer *tok = NULL;
    finetune_data data, val_data;
    memset(&data, 0, sizeof data);
    memset(&val_data, 0, sizeof val_data);
    metrics_log log = {0};
    train_result r;
    memset(&r, 0, sizeof r);
    int finished = 0;
    code = cli_context_create(f->backend, distributed_threads(f->threads), &s.ctx);
    if (code == EXIT_OK) code = f->resume ? session_load(s.ctx, f->resume, 1, &s) : load_init(s.ctx, f->init, &s);
    if (code != EXIT_OK) goto done;
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    spdf_model_get_config(s.model, &mc);
    fs.context = f->context > 0 ? f->context : mc.max_seq_len;
    if (fs.context > mc.max_seq_len) {
        cli_error("--context %d is longer than the model's %d positions", (int)fs.context, (int)mc.max_seq_len);
        code = EXIT_USAGE;
        goto done;
    }
    if (mc.vocab_size < SPDF_BYTE_VOCAB_SIZE) {
        cli_error("the model's vocabulary (%d) cannot hold the byte tokens of a task", (int)mc.vocab_size);
        code = EXIT_USAGE;
        goto done;
    }
    code = tokenizer_open_for(model_path, s.model, f->tokenizer, 1, &tok);
    if (code != EXIT_OK) goto done;
    s.tokenizer = tok; /* the fine-tuned checkpoint stores it too */
    spdf_phase_kind before = SPDF_PHASE_DENSE;
    spdf_phase_get_kind(s.phase, &before);
    if (before == SPDF_PHASE_DENSE && f->sparse) {
        cli_error("--sparse needs a sparse checkpoint, but the model in '%s' is dense", model_path);
        code = EXIT_USAGE;
        goto done;
    }
    code = finetune_data_build(task, f->items, fs.context, tok, &data);
    if (code == EXIT_OK) code = check_fit(&data, f, fs.context, mc.max_seq_len);
    if (code != EXIT_OK) goto done;
    printf("fine-tuning on %lld examples from %lld pairs of '%s': %lld truncated to %d tokens, %lld dropped\n",
           (long long)data.count, (long long)data.pairs, f->task, (long long)data.truncated, (int)fs.context + 1,
           (long long)data.dropped);
    code = load_validation(f, &fs, tok, &val_task, &val_data, &fs.validation);
    if (code != EXIT_OK) goto done;
    code = finetune_start(f, &s, &fs, before, &finished);
    if (code != EXIT_OK) goto done;
    fflush(stdout);
    code = distributed_common_exit(EXIT_OK); /* every rank is ready */
    gathered = 1;
    if (code == EXIT_OK) code = distributed_agree(&finished, sizeof finished, "whether the run has finished") != 0
                                    ? EXIT_USAGE : EXIT_OK;
    if (code != EXIT_OK || finished) goto done;
    code = finetune_agree(&fs, &data, &s);
    if (code == EXIT_OK && distributed_is_root()) code = record_finetune_settings(command, f->out);
    if (code == EXIT_OK && distributed_is_root()) code = options_write_config_beside(command, f->out);
    if (code == EXIT_OK) code = metrics_open(&log, distributed_is_root() ? f->log : NULL, f->resume != NULL);
    if (code != EXIT_OK) goto done;
    print_ranks(fs.batch, fs.grad_accum, distributed_threads(f->threads));
    code = finetune_run(&s, &data, &fs, &log, &r);
    if (distributed_is_root()) {
        report_finetune_end(code, f, &r);
        if (code == EXIT_OK) print_validation_end(&r, f);
    }
    print_traffic(&r);
done:
    if (!gathered) code = distributed_common_exit(code);
    metrics_close(&log);
    train_result_free(&r);
    finetune_data_free(&data);
    finetune_data_free(&val_data);
    spdf_tokenizer_free(tok);
    session_free(&s);
    spdf_context_free(s.ctx);
    spdf_task_data_free(task);
    spdf_task_data_free(val_task);
    return code;
}

int command_finetune(int argc, char **argv)
{
    cli_signals_install(); /* a stop request from now on is kept until the loop can save */
    finetune_flags f = {
        .steps = 500, .batch = 8, .warmup = 20, .lr = 5e-4f, .min_lr_ratio = 0.1f, .weight_decay = 0.1f,
        .grad_clip = 1.0f, .seed = 1, .progress_every = PROGRESS_LINE_SECONDS, .grad_accum = 1,
        .val_items = 50, .bleu_items = 10, .bleu_max_new = 64,
    };
    option_spec options[] = {
        OPT_STRING("init", &f.init, "CKPT",
                   "pre-trained checkpoint (model, optimizer, phase), or safetensors or llm.c weights"),
        OPT_STRING("resume", &f.resume, "CKPT", "continue a fine-tuning run from its checkpoint (instead of --init)"),
        OPT_REQUIRED_STRING("task", &f.task, "FILE", "task data: prompts with reference texts"),
        OPT_CHOICE("format", &f.format, NULL, task_format_names, "format of --task"),
        OPT_REQUIRED_STRING("out", &f.out, "CKPT", "fine-tuned checkpoint to write"),
        OPT_FLAG("dense", &f.dense, "densify a sparse model in place and fine-tune every weight (SPDF; the default)"),
        OPT_FLAG("sparse", &f.sparse, "keep the mask: sparse fine-tuning (the paper's ablation)"),
        OPT_FLAG("reset-moments", &f.reset_moments, "restart the AdamW moments at 0 (default: keep them)"),
        OPT_INT("steps", &f.steps, "N", 1, 1000000000, "optimizer steps (the new schedule's length)"),
        OPT_INT("batch", &f.batch, "B", 1, 1 << 20, "sequences per step"),
        OPT_INT("grad-accum", &f.grad_accum, "K", 1, 1 << 20,
                "split every batch into K micro-batches (same step, less memory; --batch stays the batch)"),
        DROPOUT_OPTION(f.dropout),
        OPT_INT("context", &f.context, "T", 0, 65536, "tokens per sequence (0: the model's positions)"),
        OPT_FLOAT("lr", &f.lr, "X", 0, 10, "peak learning rate"),
        OPT_INT("warmup", &f.warmup, "N", 0, 1000000000, "linear warmup steps"),
        OPT_FLOAT("min-lr-ratio", &f.min_lr_ratio, "X", 0, 1, "end of the cosine decay as a fraction of --lr"),
        OPT_FLOAT("weight-decay", &f.weight_decay, "X", 0, 10, "AdamW weight decay"),
        OPT_FLOAT("grad-clip", &f.grad_clip, "X", 0, 1e9, "clip the global gradient norm to X (0: off)"),
        OPT_INT64("seed", &f.seed, "N", 0, 9.2e18, "seed of the data order (a new shuffle every epoch)"),
        OPT_CHOICE("batching", &f.batching, NULL, batching_names,
                   "grouped: batches of similar length (less padding); random: plain shuffle"),
        OPT_INT64("items", &f.items, "N", 0, 1e15, "use only the pairs of the first N items (0: all)"),
        OPT_STRING("val-task", &f.val_task, "FILE", "held-out pairs (same --format) for the validation loss and BLEU"),
        OPT_INT64("val-items", &f.val_items, "N", 0, 1e15, "validation loss on the pairs of the first N items (0: all)"),
        OPT_INT64("bleu-items", &f.bleu_items, "N", 0, 1e15,
                  "BLEU of greedy outputs for the first N items, against all their references (0: none)"),
        OPT_INT("bleu-max-new", &f.bleu_max_new, "N", 1, 1000000, "tokens decoded per item for BLEU at most"),
        OPT_INT("eval-every", &f.eval_every, "N", 0, 1000000000, "validate every N steps (0: only at the end)"),
        OPT_INT("early-stop", &f.early_stop, "K", 0, 1000000, "stop after K evaluations without a lower validation loss (0: never)"),
        OPT_STRING("best", &f.best, "CKPT", "also keep the model of the lowest validation loss here"),
        OPT_INT("save-every", &f.save_every, "N", 0, 1000000000, "also save the checkpoint every N steps (0: never)"),
        KEEP_LAST_OPTION(f.keep_last),
        OPT_INT("stop-at", &f.stop_at, "N", 0, 1000000000, "save and stop after step N (exit 0); --resume continues"),
        OPT_STRING("log", &f.log, "FILE", "JSON Lines metrics (appended to when resuming)"),
        OPT_FLAG("allow-truncation", &f.allow_truncation,
                 "train even when over 20 % of the pairs are truncated or over 5 % dropped"),
        OPT_FLOAT("progress-every", &f.progress_every, "S", 0, 1e9,
                  "stderr not a terminal: a progress line every tenth of the run and at least every S s (0: every step)"),
        TOKENIZER_OPTION(f.tokenizer),
        COMPUTE_OPTIONS(f.threads, f.backend),
    };
    command_spec command = {
        .name = "finetune",
        .usage = "(--init CKPT | --resume CKPT) --task FILE --out CKPT [--format e2e|webnlg|dart|jsonl] [--dense | --sparse] [options]",
        .summary = "Fine-tune a pre-trained model on a data-to-text task.  Each (prompt, reference) pair is the\n"
                   "sequence prompt \"\\n\" reference <|endoftext|>, with the loss on the reference and the end token\n"
                   "only; sequences longer than the context are truncated, shorter ones padded with end tokens of\n"
                   "weight 0 (to the longest of their batch: with causal attention the same as to the context),\n"
                   "in a new seeded shuffle every epoch.",
        .options = options,
        .option_count = COUNT_OF(options),
        .epilog = "A sparse model becomes dense in place (spdf_phase_transition, a restarted schedule with these\n"
                  "optimizer settings), or stays sparse with --sparse; a dense model restarts its schedule.\n"
                  "--resume continues bit for bit: the model, optimizer and dropout from the checkpoint, the run's\n"
                  "settings from CKPT.run.toml, the best validation so far from CKPT.validation.jsonl; pass the same\n"
                  "--task (and --val-task, --best).  Options that differ from the run's are refused.",
        .takes_config = 1,
    };
    const int parsed = options_parse(&command, argc, argv, NULL, NULL);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (f.dense && f.sparse) {
        cli_error("--dense and --sparse exclude each other (see 'spdf finetune --help')");
        return EXIT_USAGE;
    }
    if (!f.init == !f.resume) {
        cli_error(f.init ? "--init and --resume exclude each other: a resumed run goes on from its own checkpoint"
                         : "missing --init CKPT (the model to fine-tune) or --resume CKPT (a run to continue)");
        return EXIT_USAGE;
    }
    if (f.resume) {
        const int code = finetune_resume_settings(&f, &command);
        if (code != EXIT_OK) return code;
    }
    distributed_init(NULL, NULL);
    const int code = distributed_common_exit(run_finetune(&f, &command));
    distributed_finish();
    return code;
}
