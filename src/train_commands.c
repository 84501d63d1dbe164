/* `spdf pretrain` and `spdf finetune`: flags to settings, data and checkpoints to handles, then
 * the loops of training_loop.c. */
#include "cli.h"
#include "data.h"
#include "distributed.h"
#include "options.h"
#include "run_settings.h"
#include "train_commands.h"
#include "training_loop.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* ---- pretrain ---- */

typedef struct pretrain_flags {
    const char *data, *out, *resume, *log, *backend, *tokenizer;
    int32_t layers, heads, width, context, max_seq_len, vocab, batch, steps, warmup;
    float lr, min_lr_ratio, weight_decay, grad_clip, sparsity, val_fraction, progress_every, dropout;
    int64_t seed;
    int32_t mask, plan, threads, eval_every, eval_batches, save_every, stop_at, grad_accum, keep_last;
} pretrain_flags;

/* ---- --resume: the run's settings come from its checkpoint and CKPT.run.toml beside it (the
 * settings the checkpoint does not hold: batch shape, seed, sparsity, validation), written
 * atomically when a run starts ---- */

static const char *const run_setting_names[] = {
    "layers", "heads", "width", "vocab", "max-seq-len", "context", "batch", "seed", "steps", "lr",
    "warmup", "min-lr-ratio", "weight-decay", "grad-clip", "sparsity", "mask", "sparse-plan",
    "val-fraction", "eval-every", "eval-batches", "save-every", "grad-accum", "dropout", NULL};
const char *const run_settings_that_may_change[] = {"save-every", NULL};

static void run_values_for(run_values *v, const command_spec *command)
{
    run_values_init(v, command, run_setting_names, run_settings_that_may_change);
}

static void values_from_model(run_values *v, const spdf_model_config *mc)
{
    run_values_set_int(v, "layers", mc->num_layers);
    run_values_set_int(v, "heads", mc->num_heads);
    run_values_set_int(v, "width", mc->channels);
    run_values_set_int(v, "vocab", mc->vocab_size);
    run_values_set_int(v, "max-seq-len", mc->max_seq_len);
    run_values_set_int(v, "seed", (int64_t)mc->seed);
}

static void values_from_optimizer(run_values *v, const spdf_optimizer_config *oc)
{
    run_values_set_int(v, "steps", oc->total_steps);
    run_values_set_float(v, "lr", oc->learning_rate);
    run_values_set_int(v, "warmup", oc->warmup_steps);
    run_values_set_float(v, "min-lr-ratio", oc->min_lr_ratio);
    run_values_set_float(v, "weight-decay", oc->weight_decay);
    run_values_set_float(v, "grad-clip", oc->grad_clip);
}

static int stale_settings(const char *checkpoint, const char *what)
{
    cli_error("'%s.run.toml' does not belong to the checkpoint '%s' (%s); remove it to resume with the "
              "options given", checkpoint, checkpoint, what);
    return EXIT_BAD_INPUT;
}

int refuse_conflicts(const char *list, const char *checkpoint)
{
    cli_error("--resume: options that differ from the run in '%s': %s; leave them out to continue the run "
              "as it was, or start a new one", checkpoint, list);
    return EXIT_USAGE;
}

/* Before loading: the settings file and the checkpoint's header replace the options not given;
 * a given option that differs is refused.  *file keeps the file's values for resume_optimizer. */
static int resume_settings(const pretrain_flags *f, const command_spec *command,
                           const spdf_checkpoint_info *info, run_values *file, int *found)
{
    run_values header;
    run_values_for(&header, command);
    values_from_model(&header, &info->model);
    run_values_for(file, command);
    char *path = run_settings_path(f->resume);
    int code = path ? run_settings_read(file, path, found) : EXIT_FAILURE_RUNTIME;
    free(path);
    if (code != EXIT_OK) return code;
    char what[256] = "", list[1024] = "";
    const struct run_value *sparsity = &file->items[0];
    while (strcmp(sparsity->option->name, "sparsity") != 0) sparsity++;
    if (*found && sparsity->known && (sparsity->value.f32 > 0) != (info->phase == SPDF_PHASE_SPARSE))
        snprintf(what, sizeof what, "sparsity %g, the checkpoint %s", (double)sparsity->value.f32,
                 cli_phase_name(info->phase));
    if (what[0] || (*found && run_values_differ(file, &header, what, sizeof what)))
        return stale_settings(f->resume, what);
    run_values run = *file;
    run_values_merge(&run, &header);
    int conflicts = run_values_apply(&run, list, sizeof list);
    if (!*found && options_given(command, "sparsity") && (f->sparsity > 0) != (info->phase == SPDF_PHASE_SPARSE)) {
        const size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s--sparsity %g (the run: %s)", used ? ", " : "",
                 (double)f->sparsity, cli_phase_name(info->phase));
        conflicts++;
    }
    return conflicts ? refuse_conflicts(list, f->resume) : EXIT_OK;
}

/* After loading: the optimizer's settings (schedule, learning rate, ...), checked the same way. */
static int resume_optimizer(const pretrain_flags *f, const command_spec *command, const spdf_optimizer *opt,
                            const run_values *file, int found)
{
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    spdf_optimizer_get_config(opt, &oc);
    run_values saved;
    run_values_for(&saved, command);
    values_from_optimizer(&saved, &oc);
    char what[256], list[1024] = "";
    if (found && run_values_differ(file, &saved, what, sizeof what)) return stale_settings(f->resume, what);
    if (run_values_apply(&saved, list, sizeof list)) return refuse_conflicts(list, f->resume);
    if (!found)
        fprintf(stderr, "%s: warning: no run settings file '%s.run.toml' beside the checkpoint: --context, "
                "--batch, --seed, --val-fraction and --eval-every are the options given or their defaults\n",
                cli_command(), f->resume);
    return EXIT_OK;
}

/* Records the run's settings beside its checkpoint.  A resumed run without a settings file
 * cannot write a true one (its sparsity is not known): it removes another run's file instead. */
static int record_settings(const pretrain_flags *f, const command_spec *command, int resumed_without)
{
    char *path = run_settings_path(f->out);
    if (!path) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    int code = EXIT_OK;
    if (resumed_without) {
        if (unlink(path) != 0 && errno != ENOENT) {
            cli_error("cannot remove '%s': %s", path, strerror(errno));
            code = EXIT_FAILURE_RUNTIME;
        }
    } else {
        run_values v;
        run_values_for(&v, command);
        run_values_from_options(&v);
        char header[1200];
        snprintf(header, sizeof header, "spdf pretrain: the settings of the run in '%s'; --resume reads them", f->out);
        code = run_settings_write(&v, path, header);
    }
    free(path);
    return code;
}

static void print_pretrain_summary(const session *s, const pretrain_settings *ps, const train_result *r,
                                   const char *out)
{
    spdf_flop_report flops;
    memset(&flops, 0, sizeof flops);
    flops.struct_size = sizeof flops;
    spdf_model_flops(s->model, ps->context, ps->batch, &flops);
    spdf_phase_kind kind = SPDF_PHASE_DENSE;
    spdf_phase_get_kind(s->phase, &kind);
    const int64_t done = r->steps_done - r->first_step;
    const double tokens = (double)done * ps->batch * ps->context;
    printf("pretrain: %lld steps (%lld to %lld), %s model, last loss %.4f\n", (long long)done,
           (long long)r->first_step, (long long)r->steps_done, cli_phase_name(kind), (double)r->last_loss);
    if (!isnan(r->final_val_loss))
        printf("validation loss %.4f nats/token (perplexity %.3f)\n", r->final_val_loss, exp(r->final_val_loss));
    printf("%.1f s, %.0f tokens/s, %.4g training FLOPs (%.4g per step)\n", r->seconds,
           r->seconds > 0 ? tokens / r->seconds : 0,
           (kind == SPDF_PHASE_SPARSE ? flops.train_per_step_sparse : flops.train_per_step_dense) * (double)done,
           kind == SPDF_PHASE_SPARSE ? flops.train_per_step_sparse : flops.train_per_step_dense);
    if (kind == SPDF_PHASE_SPARSE) cli_print_sparse_plan(stdout, s->model, 0);
    printf("saved %s\n", out);
}

/* The run the flags describe. */
static void pretrain_settings_from(const pretrain_flags *f, pretrain_settings *ps)
{
    spdf_model_config model;
    spdf_model_config_init(&model);
    model.num_layers = f->layers;
    model.num_heads = f->heads;
    model.channels = f->width;
    model.vocab_size = f->vocab;
    model.max_seq_len = f->max_seq_len > 0 ? f->max_seq_len : f->context;
    const run_schedule run = {.steps = f->steps, .batch = f->batch, .context = f->context,
                              .warmup = f->warmup, .lr = f->lr};
    pretrain_settings_init(ps, &model, &run, (uint64_t)f->seed, "pretrain",
                           progress_default_mode(PROGRESS_LINES));
    ps->optim.min_lr_ratio = f->min_lr_ratio;
    ps->optim.weight_decay = f->weight_decay;
    ps->optim.grad_clip = f->grad_clip;
    ps->sparsity = f->sparsity;
    ps->mask_method = f->mask;
    ps->plan_mode = f->plan;
    ps->eval_every = f->eval_every;
    ps->eval_batches = f->eval_batches;
    ps->save_every = f->save_every;
    ps->stop_at = f->stop_at;
    ps->grad_accum = f->grad_accum;
    ps->dropout = f->dropout;
    ps->keep_last = f->keep_last;
    ps->out_path = f->out;
    ps->progress_seconds = f->progress_every;
}

/* Every output is checked before the work, so that a bad path costs nothing. */
int check_training_outputs(const char *out, const char *log)
{
    int code = cli_check_output(out, "checkpoint", 0);
    if (code == EXIT_OK) code = cli_check_output(log, "log", 1);
    return code;
}

/* The checkpoint's header, which --resume needs before anything is loaded. */
static int read_resume_header(const char *path, spdf_checkpoint_info *info)
{
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    const spdf_status status = spdf_checkpoint_info_read(path, info);
    if (status != SPDF_OK)
        return cli_library_error(status, cli_input_exit_code(status), "cannot resume from '%s'", path);
    if (!info->has_optimizer || !info->has_sampler) {
        cli_error("cannot resume from '%s': it holds no %s state (not written by spdf pretrain?)", path,
                  info->has_optimizer ? "sampler" : "optimizer");
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

/* A resumed run with nothing left to do says so (exit 0) instead of training zero steps. */
static int resume_has_work(const pretrain_flags *f, int64_t step)
{
    if (step >= f->steps) {
        printf("pretrain: the run in '%s' already finished at step %lld; nothing to do\n", f->resume,
               (long long)step);
        return 0;
    }
    if (f->stop_at > 0 && step >= f->stop_at) {
        printf("pretrain: the run in '%s' is at step %lld, already past --stop-at %d; nothing to do\n",
               f->resume, (long long)step, (int)f->stop_at);
        return 0;
    }
    return 1;
}

static void report_pretrain_end(int code, const pretrain_flags *f, const session *s, const pretrain_settings *ps,
                                const train_result *r)
{
    if (code == EXIT_OK) {
        if (ps->stop_at > 0 && r->steps_done < ps->steps)
            printf("stopped at step %lld as asked (--stop-at); continue with --resume %s\n",
                   (long long)r->steps_done, f->out);
        print_pretrain_summary(s, ps, r, f->out);
    } else if (code == EXIT_INTERRUPTED && r->steps_done == r->first_step) {
        cli_error("interrupted before the first step; saved the state at step %lld to %s (continue with "
                  "--resume %s)", (long long)r->steps_done, f->out, f->out);
    } else if (code == EXIT_INTERRUPTED) {
        cli_error("interrupted at step %lld; saved %s (continue with --resume %s)", (long long)r->steps_done,
                  f->out, f->out);
    }
}

/* Loads the data and builds (or loads) the model and the sampler; *finished when a resumed run
 * has nothing left to do. */
static int pretrain_setup(pretrain_flags *f, const command_spec *command, corpus *data, session *s,
                          spdf_sampler **sampler, int *finished, int *found)
{
    spdf_checkpoint_info info;
    run_values file;
    int code = f->resume ? read_resume_header(f->resume, &info) : EXIT_OK;
    if (code == EXIT_OK && f->resume) code = resume_settings(f, command, &info, &file, found);
    if (code != EXIT_OK) return code;
    if (!f->resume && (f->max_seq_len > 0 ? f->max_seq_len : f->context) < f->context) {
        cli_error("--context %d is longer than --max-seq-len %d", (int)f->context, (int)f->max_seq_len);
        return EXIT_USAGE;
    }
    /* the run's tokenizer is saved with its checkpoints (s->tokenizer, freed by run_pretrain) */
    code = f->resume ? tokenizer_open_stored(f->resume, f->tokenizer, &s->tokenizer)
                     : tokenizer_open(f->tokenizer, &s->tokenizer);
    if (code != EXIT_OK) return code;
    spdf_tokenizer *tok = s->tokenizer;
    int32_t tokenizer_vocab = 0;
    if (tok) spdf_tokenizer_vocab_size(tok, &tokenizer_vocab);
    if (tok && !f->resume && !options_given(command, "vocab")) f->vocab = tokenizer_vocab;
    if (tok && !f->resume && f->vocab < tokenizer_vocab) {
        cli_error("--vocab %d cannot hold the %d ids of the tokenizer '%s'", (int)f->vocab, (int)tokenizer_vocab,
                  f->tokenizer);
        return EXIT_USAGE;
    }
    code = corpus_load(f->data, f->val_fraction, tok, data);
    if (code != EXIT_OK) return code;
    if (data->train_tokens <= f->context) {
        cli_error("'%s' holds %lld training tokens, fewer than --context %d + 1", f->data,
                  (long long)data->train_tokens, (int)f->context);
        return EXIT_BAD_INPUT;
    }
    code = cli_context_create(f->backend, distributed_threads(f->threads), &s->ctx);
    if (code != EXIT_OK) return code;
    spdf_status status = spdf_sampler_create(data->train, f->batch, f->context, (uint64_t)f->seed,
                                             SPDF_SAMPLE_RANDOM, sampler);
    if (status != SPDF_OK)
        return cli_library_error(status, EXIT_USAGE, "cannot sample (%d, %d) batches", (int)f->batch, (int)f->context);
    /* each rank draws its rows of every global batch (a resumed sampler keeps its shard) */
    const distributed *world = distributed_world();
    status = spdf_sampler_set_shard(*sampler, world->rank, world->ranks);
    if (status != SPDF_OK)
        return cli_library_error(status, EXIT_USAGE, "--batch %d does not split into %d ranks", (int)f->batch,
                                 world->ranks);
    if (f->resume) {
        code = pretrain_resume(s, f->resume, *sampler);
        if (code == EXIT_OK) code = session_resume_dropout(s);
        if (code == EXIT_OK) code = resume_optimizer(f, command, s->opt, &file, *found);
        if (code == EXIT_OK) *finished = !resume_has_work(f, info.step);
    } else {
        pretrain_settings ps;
        pretrain_settings_from(f, &ps);
        code = pretrain_create(s, &ps);
    }
    if (code == EXIT_OK && !*finished) code = session_release_sparse_memory(s); /* it never densifies */
    return code;
}

/* The loaded or created model fits the data and the options (prints the error, else fixes the
 * vocabulary and positions the settings file records). */
static int pretrain_check_model(pretrain_flags *f, const corpus *data, const session *s)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    spdf_model_get_config(s->model, &mc);
    if (mc.max_seq_len < f->context) {
        cli_error("--context %d is longer than the model's %d positions", (int)f->context, (int)mc.max_seq_len);
        return EXIT_USAGE;
    }
    if (data->vocab_bound > mc.vocab_size) {
        cli_error("'%s' holds token id %d, outside the model's vocabulary of %d (--vocab)", f->data,
                  (int)data->vocab_bound - 1, (int)mc.vocab_size);
        return EXIT_BAD_INPUT;
    }
    int32_t tokenizer_vocab = 0;
    if (s->tokenizer) spdf_tokenizer_vocab_size(s->tokenizer, &tokenizer_vocab);
    if (tokenizer_vocab > mc.vocab_size) { /* a --tokenizer for a resumed run that stores none */
        cli_error("the tokenizer '%s' has %d ids, more than the model's vocabulary of %d", f->tokenizer,
                  (int)tokenizer_vocab, (int)mc.vocab_size);
        return EXIT_BAD_INPUT;
    }
    f->vocab = mc.vocab_size; /* what the settings file records */
    f->max_seq_len = mc.max_seq_len;
    return EXIT_OK;
}

/* What every rank must share before the first step: the run's settings, the data, where the
 * run stands and the weights.  Ranks started differently stop here with an error, not later as
 * a hang or a garbage run. */
static int pretrain_agree(const pretrain_flags *f, const command_spec *command, const corpus *data,
                          const session *s, int finished)
{
    if (distributed_world()->ranks == 1) return EXIT_OK;
    run_values v;
    run_values_for(&v, command);
    run_values_from_options(&v);
    run_number values[RUN_SETTINGS_MAX];
    memset(values, 0, sizeof values);
    for (int i = 0; i < v.count; i++) values[i] = v.items[i].value; /* not the options' addresses */
    const int32_t *tokens = NULL;
    spdf_dataset_tokens(data->train, &tokens);
    uint32_t weights = 0;
    int64_t step = 0;
    if (!finished) {
        spdf_model_weights_checksum(s->model, &weights);
        spdf_optimizer_get_step(s->opt, &step);
    }
    if (distributed_agree(&finished, sizeof finished, "whether the run has finished") != 0 ||
        distributed_agree(values, sizeof values, "the run's options") != 0 ||
        distributed_agree(&data->train_tokens, sizeof data->train_tokens, "the length of --data") != 0 ||
        distributed_agree(tokens, (size_t)data->train_tokens * sizeof *tokens, "the contents of --data") != 0 ||
        distributed_agree(&step, sizeof step, "the step to resume from") != 0 ||
        distributed_agree(&weights, sizeof weights, "the model's weights") != 0)
        return EXIT_USAGE;
    (void)f;
    return EXIT_OK;
}

/* Under mpirun, rank 0 says how the work is split. */
void print_ranks(int32_t batch, int32_t grad_accum, int32_t threads)
{
    const distributed *world = distributed_world();
    if (world->ranks == 1) return;
    printf("data-parallel: %d ranks x %d threads, %d of the %d rows of every batch on each rank%s\n",
           world->ranks, (int)threads, (int)(batch / world->ranks), (int)batch,
           grad_accum > 1 ? " (in --grad-accum micro-batches)" : "");
    fflush(stdout);
}

/* Under mpirun, rank 0 reports the gradient traffic: bytes each rank handed to MPI_Allreduce per
 * step, and the time the reductions took. */
void print_traffic(const train_result *r)
{
    const distributed *world = distributed_world();
    if (world->ranks == 1 || world->reductions == 0) return;
    const double per_step = world->reduce_seconds / (double)world->reductions;
    printf("gradients: %.3f MB per rank per step in MPI_Allreduce (%.3f MB in all), %.2f ms per step, "
           "%.1f %% of the loop's time\n", (double)world->bytes_per_step / 1e6, (double)world->bytes_total / 1e6,
           per_step * 1e3, r->seconds > 0 ? 100.0 * world->reduce_seconds / r->seconds : 0.0);
}

static int run_pretrain(pretrain_flags *f, const command_spec *command)
{
    int code = distributed_is_root() ? check_training_outputs(f->out, f->log) : EXIT_OK;
    corpus data;
    memset(&data, 0, sizeof data);
    session s = {0};
    spdf_sampler *sampler = NULL;
    metrics_log log = {0};
    train_result r;
    memset(&r, 0, sizeof r);
    int finished = 0, settings_found = 0;
    if (code == EXIT_OK) code = pretrain_setup(f, command, &data, &s, &sampler, &finished, &settings_found);
    if (code == EXIT_OK && !finished) code = pretrain_check_model(f, &data, &s);
    code = distributed_common_exit(code); /* every rank is ready, or none trains */
    if (code == EXIT_OK) code = pretrain_agree(f, command, &data, &s, finished);
    if (code != EXIT_OK || finished) goto done;
    pretrain_settings ps;
    pretrain_settings_from(f, &ps);
    if (distributed_is_root()) code = record_settings(f, command, f->resume && !settings_found);
    if (code == EXIT_OK && distributed_is_root()) code = options_write_config_beside(command, f->out);
    if (code == EXIT_OK) code = metrics_open(&log, distributed_is_root() ? f->log : NULL, f->resume != NULL);
    if (code != EXIT_OK) goto done;
    print_ranks(f->batch, f->grad_accum, distributed_threads(f->threads));
    code = pretrain_run(&s, sampler, &data, &ps, &log, &r);
    if (distributed_is_root()) report_pretrain_end(code, f, &s, &ps, &r);
    print_traffic(&r);
done:
    metrics_close(&log);
    train_result_free(&r);
    spdf_sampler_free(sampler);
    session_free(&s);
    spdf_tokenizer_free(s.tokenizer);
    spdf_context_free(s.ctx);
    corpus_free(&data);
    return code;
}

int command_pretrain(int argc, char **argv)
{
    cli_signals_install(); /* a stop request from now on is kept until the loop can save */
    pretrain_flags f = {
        .layers = 4, .heads = 4, .width = 128, .context = 128, .vocab = SPDF_BYTE_VOCAB_SIZE,
        .batch = 16, .steps = 1000, .warmup = 100, .lr = 1e-3f, .min_lr_ratio = 0.1f,
        .weight_decay = 0.1f, .grad_clip = 1.0f, .seed = 1337, .mask = SPDF_MASK_RANDOM,
        .eval_every = 100, .eval_batches = 8, .val_fraction = 0.1f, .progress_every = PROGRESS_LINE_SECONDS,
        .grad_accum = 1,
    };
    option_spec options[] = {
        OPT_REQUIRED_STRING("data", &f.data, "FILE", "training data: a token file, or text (encoded with --tokenizer)"),
        OPT_REQUIRED_STRING("out", &f.out, "CKPT", "checkpoint to write (at the end, every --save-every steps, on Ctrl-C)"),
        OPT_STRING("resume", &f.resume, "CKPT", "continue a run from its checkpoint (model and optimizer from it)"),
        OPT_INT("layers", &f.layers, "L", 1, 256, "transformer blocks"),
        OPT_INT("heads", &f.heads, "H", 1, 256, "attention heads (must divide --width)"),
        OPT_INT("width", &f.width, "C", 1, 65536, "embedding width"),
        OPT_INT("context", &f.context, "T", 1, 65536, "tokens per training sequence"),
        OPT_INT("max-seq-len", &f.max_seq_len, "N", 0, 65536, "learned positions, 0 = --context (more for longer fine-tuning)"),
        OPT_INT("vocab", &f.vocab, "V", 2, 1 << 24, "vocabulary size (257: bytes + end of text; with --tokenizer, its size)"),
        TOKENIZER_OPTION(f.tokenizer),
        OPT_INT("batch", &f.batch, "B", 1, 1 << 20, "sequences per step"),
        OPT_INT("steps", &f.steps, "N", 1, 1000000000, "optimizer steps in total (the cosine schedule's length)"),
        OPT_FLOAT("lr", &f.lr, "X", 0, 10, "peak learning rate"),
        OPT_INT("warmup", &f.warmup, "N", 0, 1000000000, "linear warmup steps"),
        OPT_FLOAT("min-lr-ratio", &f.min_lr_ratio, "X", 0, 1, "end of the cosine decay as a fraction of --lr"),
        OPT_FLOAT("weight-decay", &f.weight_decay, "X", 0, 10, "AdamW weight decay"),
        OPT_FLOAT("grad-clip", &f.grad_clip, "X", 0, 1e9, "clip the global gradient norm to X (0: off)"),
        OPT_INT64("seed", &f.seed, "N", 0, 9.2e18, "seed of the initialisation, the mask and the data order"),
        OPT_FLOAT("sparsity", &f.sparsity, "S", 0, 0.999, "fraction of zero weights in the block linear layers (0: dense)"),
        OPT_CHOICE("mask", &f.mask, "KIND", cli_mask_method_names, "how the mask is drawn"),
        OPT_CHOICE("sparse-plan", &f.plan, "MODE", cli_plan_mode_names,
                   "how each masked layer's kernels are chosen: a cost model (estimate) or timing (measure)"),
        OPT_FLOAT("val-fraction", &f.val_fraction, "X", 0, 0.9, "fraction of the data held out at its end for validation"),
        OPT_INT("eval-every", &f.eval_every, "N", 0, 1000000000, "validation loss every N steps (0: only at the end)"),
        OPT_INT("eval-batches", &f.eval_batches, "N", 0, 1000000000, "validation batches per evaluation (0: all)"),
        OPT_INT("save-every", &f.save_every, "N", 0, 1000000000, "also save the checkpoint every N steps (0: never)"),
        KEEP_LAST_OPTION(f.keep_last),
        OPT_INT("stop-at", &f.stop_at, "N", 0, 1000000000, "save and stop after step N (exit 0); --resume continues"),
        OPT_INT("grad-accum", &f.grad_accum, "K", 1, 1 << 20,
                "split every batch into K micro-batches (same step, less memory; --batch stays the batch)"),
        DROPOUT_OPTION(f.dropout),
        OPT_STRING("log", &f.log, "FILE", "JSON Lines metrics (appended to when resuming)"),
        OPT_FLOAT("progress-every", &f.progress_every, "S", 0, 1e9,
                  "stderr not a terminal: a progress line every tenth of the run and at least every S s (0: every step)"),
        COMPUTE_OPTIONS(f.threads, f.backend),
    };
    command_spec command = {
        .name = "pretrain",
        .usage = "--data FILE --out CKPT [options]",
        .summary = "Pre-train a GPT-style model on a corpus, densely or (with --sparsity) with a static\n"
                   "sparsity mask on the four linear weights of every block (SPDF's sparse pre-training).",
        .options = options,
        .option_count = COUNT_OF(options),
        .epilog = "--resume continues bit for bit: the model, the optimizer and the run's settings come from the\n"
                  "checkpoint and CKPT.run.toml beside it; pass the same --data.  Options that differ from the\n"
                  "run's are refused (--save-every, --stop-at, --log, --progress-every and the compute options may change).\n"
                  "Ctrl-C (SIGINT) or SIGTERM finishes the step, saves the checkpoint and exits with status 130;\n"
                  "the duplicate signals of `timeout` or a process-group kill count once.",
        .takes_config = 1,
    };
    const int parsed = options_parse(&command, argc, argv, NULL, NULL);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    distributed_init(NULL, NULL);
    const int code = distributed_common_exit(run_pretrain(&f, &command));
    distributed_finish();
    return code;
}

