/* `spdf pretrain` and `spdf finetune`: flags to settings, data and checkpoints to handles, then
 * the loops of training_loop.c. */
#include "cli.h"
#include "data.h"
#include "options.h"
#include "training_loop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const mask_names[] = {"random", "magnitude", "erk", NULL};
static const char *const batching_names[] = {"grouped", "random", NULL};

/* ---- pretrain ---- */

typedef struct pretrain_flags {
    const char *data, *out, *resume, *log, *backend, *tokenizer;
    int32_t layers, heads, width, context, max_seq_len, vocab, batch, steps, warmup;
    float lr, min_lr_ratio, weight_decay, grad_clip, sparsity, val_fraction;
    int64_t seed;
    int32_t mask, plan, threads, eval_every, eval_batches, save_every, stop_at;
} pretrain_flags;

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
                           progress_default_mode(PROGRESS_OFF));
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
    ps->out_path = f->out;
}

static int run_pretrain(const pretrain_flags *f, const command_spec *command)
{
    pretrain_settings ps;
    pretrain_settings_from(f, &ps);
    if (!f->resume && ps.model.max_seq_len < ps.context) {
        cli_error("--context %d is longer than --max-seq-len %d", (int)ps.context, (int)ps.model.max_seq_len);
        return EXIT_USAGE;
    }

    spdf_tokenizer *tok = NULL;
    int code = tokenizer_open(f->tokenizer, &tok);
    if (code != EXIT_OK) return code;
    if (tok && !options_given(command, "vocab")) spdf_tokenizer_vocab_size(tok, &ps.model.vocab_size);
    corpus data;
    code = corpus_load(f->data, f->val_fraction, tok, &data);
    spdf_tokenizer_free(tok);
    if (code != EXIT_OK) return code;
    session s = {0};
    spdf_sampler *sampler = NULL;
    metrics_log log = {0};
    train_result r;
    memset(&r, 0, sizeof r);
    if (data.train_tokens <= ps.context) {
        cli_error("'%s' holds %lld training tokens, fewer than --context %d + 1", f->data,
                  (long long)data.train_tokens, (int)ps.context);
        code = EXIT_BAD_INPUT;
        goto done;
    }
    code = cli_context_create(f->backend, f->threads, &s.ctx);
    if (code != EXIT_OK) goto done;
    spdf_status status = spdf_sampler_create(data.train, ps.batch, ps.context, ps.seed, SPDF_SAMPLE_RANDOM, &sampler);
    if (status != SPDF_OK) {
        code = cli_library_error(status, EXIT_USAGE, "cannot sample (%d, %d) batches", (int)ps.batch, (int)ps.context);
        goto done;
    }
    code = f->resume ? pretrain_resume(&s, f->resume, sampler) : pretrain_create(&s, &ps);
    if (code == EXIT_OK) code = session_release_sparse_memory(&s); /* it never densifies */
    if (code != EXIT_OK) goto done;
    if (f->resume) {
        spdf_optimizer_config oc;
        spdf_optimizer_config_init(&oc);
        spdf_optimizer_get_config(s.opt, &oc);
        if (!options_given(command, "steps")) ps.steps = oc.total_steps;
        spdf_model_config mc;
        spdf_model_config_init(&mc);
        spdf_model_get_config(s.model, &mc);
        if (mc.max_seq_len < ps.context) {
            cli_error("--context %d is longer than the model's %d positions", (int)ps.context, (int)mc.max_seq_len);
            code = EXIT_USAGE;
            goto done;
        }
    }
    int32_t vocab = 0;
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    spdf_model_get_config(s.model, &mc);
    vocab = mc.vocab_size;
    if (data.vocab_bound > vocab) {
        cli_error("'%s' holds token id %d, outside the model's vocabulary of %d (--vocab)", f->data,
                  (int)data.vocab_bound - 1, (int)vocab);
        code = EXIT_BAD_INPUT;
        goto done;
    }
    code = metrics_open(&log, f->log, f->resume != NULL);
    if (code != EXIT_OK) goto done;
    cli_signals_install();
    code = pretrain_run(&s, sampler, &data, &ps, &log, &r);
    if (code == EXIT_OK) {
        if (ps.stop_at > 0 && r.steps_done < ps.steps)
            printf("stopped at step %lld as asked (--stop-at); continue with --resume %s\n",
                   (long long)r.steps_done, f->out);
        print_pretrain_summary(&s, &ps, &r, f->out);
    } else if (code == EXIT_INTERRUPTED) {
        cli_error("interrupted at step %lld; saved %s (continue with --resume %s)", (long long)r.steps_done,
                  f->out, f->out);
    }
done:
    metrics_close(&log);
    train_result_free(&r);
    spdf_sampler_free(sampler);
    session_free(&s);
    spdf_context_free(s.ctx);
    corpus_free(&data);
    return code;
}

int command_pretrain(int argc, char **argv)
{
    pretrain_flags f = {
        .layers = 4, .heads = 4, .width = 128, .context = 128, .vocab = SPDF_BYTE_VOCAB_SIZE,
        .batch = 16, .steps = 1000, .warmup = 100, .lr = 1e-3f, .min_lr_ratio = 0.1f,
        .weight_decay = 0.1f, .grad_clip = 1.0f, .seed = 1337, .mask = SPDF_MASK_RANDOM,
        .eval_every = 100, .eval_batches = 8, .val_fraction = 0.1f,
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
        OPT_CHOICE("mask", &f.mask, "KIND", mask_names, "how the mask is drawn"),
        OPT_CHOICE("sparse-plan", &f.plan, "MODE", cli_plan_mode_names,
                   "how each masked layer's kernels are chosen: a cost model (estimate) or timing (measure)"),
        OPT_FLOAT("val-fraction", &f.val_fraction, "X", 0, 0.9, "fraction of the data held out at its end for validation"),
        OPT_INT("eval-every", &f.eval_every, "N", 0, 1000000000, "validation loss every N steps (0: only at the end)"),
        OPT_INT("eval-batches", &f.eval_batches, "N", 0, 1000000000, "validation batches per evaluation (0: all)"),
        OPT_INT("save-every", &f.save_every, "N", 0, 1000000000, "also save the checkpoint every N steps (0: never)"),
        OPT_INT("stop-at", &f.stop_at, "N", 0, 1000000000, "save and stop after step N (exit 0); --resume continues"),
        OPT_STRING("log", &f.log, "FILE", "JSON Lines metrics (appended to when resuming)"),
        COMPUTE_OPTIONS(f.threads, f.backend),
    };
    command_spec command = {
        .name = "pretrain",
        .usage = "--data FILE --out CKPT [options]",
        .summary = "Pre-train a GPT-style model on a corpus, densely or (with --sparsity) with a static\n"
                   "sparsity mask on the four linear weights of every block (SPDF's sparse pre-training).",
        .options = options,
        .option_count = COUNT_OF(options),
        .epilog = "When resuming, the model and optimizer come from the checkpoint; pass the --data, --batch,\n"
                  "--context and --seed of the original run and the run continues bit for bit.\n"
                  "Ctrl-C (SIGINT) or SIGTERM saves the checkpoint and exits with status 130.",
    };
    const int parsed = options_parse(&command, argc, argv, NULL, NULL);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    return run_pretrain(&f, &command);
}

/* ---- finetune ---- */

typedef struct finetune_flags {
    const char *init, *task, *out, *log, *backend, *tokenizer;
    int32_t format, dense, sparse, reset_moments, batching;
    int32_t steps, batch, context, warmup, threads;
    int64_t seed, items;
    float lr, min_lr_ratio, weight_decay, grad_clip;
} finetune_flags;

static int run_finetune(const finetune_flags *f, const command_spec *command)
{
    const run_schedule run = {.steps = f->steps, .batch = f->batch, .warmup = f->warmup, .lr = f->lr};
    finetune_settings fs;
    finetune_settings_init(&fs, &run, (uint64_t)f->seed, "finetune", progress_default_mode(PROGRESS_OFF));
    fs.optim.min_lr_ratio = f->min_lr_ratio;
    fs.optim.weight_decay = f->weight_decay;
    fs.optim.grad_clip = f->grad_clip;
    fs.keep_sparse = f->sparse;
    fs.order = (batch_order)f->batching;
    fs.reset_moments = f->reset_moments;
    fs.out_path = f->out;
    (void)command;

    spdf_task_data *task = NULL;
    int code = task_load(f->task, f->format, &task);
    if (code != EXIT_OK) return code;
    session s = {0};
    spdf_tokenizer *tok = NULL;
    finetune_data data;
    memset(&data, 0, sizeof data);
    metrics_log log = {0};
    train_result r;
    memset(&r, 0, sizeof r);
    code = cli_context_create(f->backend, f->threads, &s.ctx);
    if (code == EXIT_OK) code = session_load(s.ctx, f->init, 1, &s);
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
    code = tokenizer_open_for(s.model, f->tokenizer, &tok);
    if (code != EXIT_OK) goto done;
    spdf_phase_kind before = SPDF_PHASE_DENSE;
    spdf_phase_get_kind(s.phase, &before);
    if (before == SPDF_PHASE_DENSE && f->sparse) {
        cli_error("--sparse needs a sparse checkpoint, but the model in '%s' is dense", f->init);
        code = EXIT_USAGE;
        goto done;
    }
    code = finetune_data_build(task, f->items, fs.context, tok, &data);
    if (code != EXIT_OK) goto done;
    printf("fine-tuning on %lld examples from %lld pairs of '%s': %lld truncated to %d tokens, %lld dropped\n",
           (long long)data.count, (long long)data.pairs, f->task, (long long)data.truncated, (int)fs.context + 1,
           (long long)data.dropped);
    code = finetune_prepare(&s, &fs);
    if (code != EXIT_OK) goto done;
    spdf_phase_kind after = SPDF_PHASE_DENSE;
    spdf_phase_get_kind(s.phase, &after);
    printf("%s model -> %s fine-tuning (%s), schedule restarted, moments %s\n", cli_phase_name(before),
           cli_phase_name(after), before == SPDF_PHASE_SPARSE ? "spdf_phase_transition" : "spdf_optimizer_restart",
           f->reset_moments ? "reset" : "kept");
    fflush(stdout);
    code = metrics_open(&log, f->log, 0);
    if (code != EXIT_OK) goto done;
    cli_signals_install();
    code = finetune_run(&s, &data, &fs, &log, &r);
    if (code == EXIT_OK) {
        printf("finetune: %lld steps, last loss %.4f, mean of the last tenth %.4f, %.1f s\nsaved %s\n",
               (long long)r.steps_done, (double)r.last_loss, r.tail_loss, r.seconds, f->out);
    } else if (code == EXIT_INTERRUPTED) {
        cli_error("interrupted at step %lld; saved the model so far to %s", (long long)r.steps_done, f->out);
    }
done:
    metrics_close(&log);
    train_result_free(&r);
    finetune_data_free(&data);
    spdf_tokenizer_free(tok);
    session_free(&s);
    spdf_context_free(s.ctx);
    spdf_task_data_free(task);
    return code;
}

int command_finetune(int argc, char **argv)
{
    finetune_flags f = {
        .steps = 500, .batch = 8, .warmup = 20, .lr = 5e-4f, .min_lr_ratio = 0.1f, .weight_decay = 0.1f,
        .grad_clip = 1.0f, .seed = 1,
    };
    option_spec options[] = {
        OPT_REQUIRED_STRING("init", &f.init, "CKPT", "pre-trained checkpoint (model, optimizer, phase)"),
        OPT_REQUIRED_STRING("task", &f.task, "FILE", "task data: prompts with reference texts"),
        OPT_CHOICE("format", &f.format, NULL, task_format_names, "format of --task"),
        OPT_REQUIRED_STRING("out", &f.out, "CKPT", "fine-tuned checkpoint to write"),
        OPT_FLAG("dense", &f.dense, "densify a sparse model in place and fine-tune every weight (SPDF; the default)"),
        OPT_FLAG("sparse", &f.sparse, "keep the mask: sparse fine-tuning (the paper's ablation)"),
        OPT_FLAG("reset-moments", &f.reset_moments, "restart the AdamW moments at 0 (default: keep them)"),
        OPT_INT("steps", &f.steps, "N", 1, 1000000000, "optimizer steps (the new schedule's length)"),
        OPT_INT("batch", &f.batch, "B", 1, 1 << 20, "sequences per step"),
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
        OPT_STRING("log", &f.log, "FILE", "JSON Lines metrics"),
        TOKENIZER_OPTION(f.tokenizer),
        COMPUTE_OPTIONS(f.threads, f.backend),
    };
    command_spec command = {
        .name = "finetune",
        .usage = "--init CKPT --task FILE --out CKPT [--format e2e|webnlg|dart|jsonl] [--dense | --sparse] [options]",
        .summary = "Fine-tune a pre-trained model on a data-to-text task.  Each (prompt, reference) pair is the\n"
                   "sequence prompt \"\\n\" reference <|endoftext|>, with the loss on the reference and the end token\n"
                   "only; sequences longer than the context are truncated, shorter ones padded with end tokens of\n"
                   "weight 0 (to the longest of their batch: with causal attention the same as to the context),\n"
                   "in a new seeded shuffle every epoch.",
        .options = options,
        .option_count = COUNT_OF(options),
        .epilog = "A sparse model becomes dense in place (spdf_phase_transition, a restarted schedule with these\n"
                  "optimizer settings), or stays sparse with --sparse; a dense model restarts its schedule.",
    };
    const int parsed = options_parse(&command, argc, argv, NULL, NULL);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (f.dense && f.sparse) {
        cli_error("--dense and --sparse exclude each other (see 'spdf finetune --help')");
        return EXIT_USAGE;
    }
    return run_finetune(&f, &command);
}
