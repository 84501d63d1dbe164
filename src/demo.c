/* `spdf demo`: the SPDF experiment in miniature.  The same small GPT (with a byte-level BPE
 * tokenizer) is pre-trained on Tiny Shakespeare densely and with static random sparsity, then
 * fine-tuned on E2E densely (from the dense model, and from the sparse one after the in-place transition: SPDF) and sparsely (the
 * ablation), decoded greedily and scored with BLEU and NIST against a copy-the-MR baseline. */
#include "cli.h"
#include "data.h"
#include "evaluate.h"
#include "options.h"
#include "report.h"
#include "training_loop.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SPDF_CLI_DATA_DIR
#define SPDF_CLI_DATA_DIR "examples/data"
#endif

static const char *const size_names[] = {"tiny", "small", "base", NULL};

/* The presets.  small (the default) was sized by measurement: wide enough (192) that the block
 * linear layers dominate a step, so that sparse pre-training shows its speed-up, and short
 * enough to finish in under 10 minutes on two cores (docs/cli.md); tiny is the CI smoke run, with
 * just enough fine-tuning (30 steps of 4 left every output empty) for sentences that score;
 * base trains a narrower model three to four times longer. */
static const demo_config presets[] = {
    {.size_name = "tiny", .layers = 2, .heads = 2, .width = 64, .positions = 128, .vocab = 512,
     .pretrain_context = 64, .pretrain_batch = 8, .pretrain_steps = 60, .pretrain_warmup = 10, .eval_every = 20,
     .pretrain_lr = 3e-3f, .finetune_context = 128, .finetune_batch = 8, .finetune_steps = 300,
     .finetune_warmup = 5, .finetune_lr = 3e-3f, .eval_items = 6, .max_new = 48},
    {.size_name = "small", .layers = 4, .heads = 4, .width = 192, .positions = 128, .vocab = 1024,
     .pretrain_context = 128, .pretrain_batch = 16, .pretrain_steps = 400, .pretrain_warmup = 40, .eval_every = 100,
     .pretrain_lr = 3e-3f, .finetune_context = 128, .finetune_batch = 16, .finetune_steps = 600,
     .finetune_warmup = 30, .finetune_lr = 3e-3f, .eval_items = 100, .max_new = 64},
    {.size_name = "base", .layers = 4, .heads = 4, .width = 128, .positions = 128, .vocab = 1024,
     .pretrain_context = 128, .pretrain_batch = 16, .pretrain_steps = 2000, .pretrain_warmup = 100,
     .eval_every = 200, .pretrain_lr = 3e-3f, .finetune_context = 128, .finetune_batch = 16,
     .finetune_steps = 2000, .finetune_warmup = 50, .finetune_lr = 3e-3f, .eval_items = 200, .max_new = 64},
};

typedef struct demo_flags {
    const char *out, *data_dir, *backend;
    int32_t size, steps, finetune_steps, eval_items, threads;
    int64_t seed;
    float sparsity;
} demo_flags;

/* "name[The Eagle], food[French]" -> "name The Eagle, food French" */
static char *copy_the_mr(const char *mr)
{
    char *out = malloc(strlen(mr) + 1), *o = out;
    if (!out) return NULL;
    for (const char *c = mr; *c; c++) {
        if (*c == '[') *o++ = ' ';
        else if (*c != ']') *o++ = *c;
    }
    *o = '\0';
    return out;
}

typedef struct demo_state {
    demo_config config;
    demo_flags flags;
    spdf_context *ctx;
    metrics_log log;
    corpus text;
    spdf_task_data *train_pairs, *test;
    spdf_tokenizer *tok; /* trained on both corpora at the start */
    finetune_data train, held_out;
    progress_mode progress;
    const command_spec *command; /* its options, written to DIR/config.toml */
} demo_state;

static void log_result(demo_state *d, const demo_variant *v)
{
    json_writer w;
    if (!metrics_begin(&d->log, &w, "result")) return;
    json_string(&w, "variant", v->label);
    json_number(&w, "pretrain_flops", v->trained ? v->pretrain_flops : NAN);
    json_number(&w, "pretrain_seconds", v->trained ? v->pretrain_seconds : NAN);
    json_number(&w, "finetune_seconds", v->trained ? v->finetune_seconds : NAN);
    json_number(&w, "finetune_flops", v->trained ? v->finetune_flops : NAN);
    json_number(&w, "decode_seconds", v->trained ? v->decode_seconds : NAN);
    json_number(&w, "pretrain_val_loss", v->trained ? v->pretrain_val_loss : NAN);
    json_number(&w, "finetune_loss", v->trained ? v->finetune_loss : NAN);
    json_number(&w, "finetune_train_loss", v->trained ? v->finetune_train_loss : NAN);
    json_scores(&w, &v->scores);
    json_end(&w);
}

static int pretrain_variant(demo_state *d, const char *label, float sparsity, const char *path,
                            session *s, train_result *r, demo_variant *v)
{
    const demo_config *c = &d->config;
    spdf_model_config model;
    spdf_model_config_init(&model);
    model.num_layers = c->layers;
    model.num_heads = c->heads;
    model.channels = c->width;
    model.max_seq_len = c->positions;
    model.vocab_size = c->vocab;
    const run_schedule run = {.steps = c->pretrain_steps, .batch = c->pretrain_batch,
                              .context = c->pretrain_context, .warmup = c->pretrain_warmup,
                              .lr = c->pretrain_lr};
    pretrain_settings ps;
    pretrain_settings_init(&ps, &model, &run, c->seed, label, d->progress);
    ps.sparsity = sparsity;
    ps.eval_every = c->eval_every;
    ps.eval_batches = 4;
    ps.out_path = path;
    s->ctx = d->ctx;
    s->tokenizer = d->tok; /* every checkpoint of the demo carries it */
    const int code = pretrain_new_run(s, &d->text, &ps, &d->log, r, &v->pretrain_flops);
    if (code != EXIT_OK) return code;
    v->pretrain_seconds = r->seconds;
    v->pretrain_val_loss = r->final_val_loss;
    v->pretrain_curve = &r->loss;
    v->pretrain_val_curve = &r->val_loss;
    v->pretrain_elapsed = &r->elapsed;
    printf("      %.0f s, validation loss %.4f nats/token, %.3g training FLOPs\n", r->seconds, r->final_val_loss,
           v->pretrain_flops);
    fflush(stdout);
    return EXIT_OK;
}

static int finetune_variant(demo_state *d, session *s, int keep_sparse, const char *path, train_result *r,
                            demo_variant *v)
{
    const demo_config *c = &d->config;
    const run_schedule run = {.steps = c->finetune_steps, .batch = c->finetune_batch,
                              .context = c->finetune_context, .warmup = c->finetune_warmup,
                              .lr = c->finetune_lr};
    char label[96];
    snprintf(label, sizeof label, "finetune %s", v->label);
    finetune_settings fs;
    finetune_settings_init(&fs, &run, c->seed, label, d->progress);
    fs.keep_sparse = keep_sparse;
    fs.out_path = path;
    s->tokenizer = d->tok;
    finetune_score score;
    char decode_label[96];
    snprintf(decode_label, sizeof decode_label, "decode %s", v->label);
    const int code = finetune_and_score(s, &fs, &d->train, &d->held_out, d->test, c->eval_items, c->max_new,
                                        decode_label, &d->log, r, &score);
    v->finetune_flops = score.flops;
    v->finetune_seconds = r->seconds;
    v->finetune_train_loss = r->tail_loss;
    v->finetune_curve = &r->loss;
    v->finetune_loss = score.heldout_loss;
    v->scores = score.scores;
    v->decode_seconds = score.outputs.seconds;
    v->hyps = score.outputs.hyps; /* kept for the report; run_demo frees them */
    if (code != EXIT_OK) return code;
    printf("      fine-tuning %.0f s, held-out loss %.4f; decoding %.0f s; BLEU %.4f, NIST %.4f\n", r->seconds,
           v->finetune_loss, score.outputs.seconds, v->scores.bleu, v->scores.nist);
    fflush(stdout);
    log_result(d, v);
    return EXIT_OK;
}

static int baseline_variant(demo_state *d, demo_variant *v)
{
    v->hyps = calloc((size_t)d->config.eval_items, sizeof *v->hyps);
    if (!v->hyps) return EXIT_FAILURE_RUNTIME;
    for (int64_t i = 0; i < d->config.eval_items; i++) {
        const char *mr = NULL;
        spdf_task_data_prompt(d->test, i, &mr);
        v->hyps[i] = copy_the_mr(mr);
        if (!v->hyps[i]) return EXIT_FAILURE_RUNTIME;
    }
    const int code = score_task(d->test, (const char *const *)v->hyps, d->config.eval_items, &v->scores);
    if (code == EXIT_OK) {
        printf("      BLEU %.4f, NIST %.4f\n", v->scores.bleu, v->scores.nist);
        log_result(d, v);
    }
    return code;
}

/* Trains the run's BPE tokenizer on the pre-training text and the fine-tuning file together (a
 * vocabulary of c->vocab ids) and saves it next to the checkpoints. */
static int make_tokenizer(demo_state *d, const char *text_path, const char *task_path, const char *out_path)
{
    size_t text_size = 0, task_size = 0;
    char *text = cli_read_file(text_path, &text_size);
    char *task = text ? cli_read_file(task_path, &task_size) : NULL;
    char *both = task ? malloc(text_size + task_size + 1) : NULL;
    int code = EXIT_OK;
    if (!both) {
        code = text && task ? EXIT_FAILURE_RUNTIME : EXIT_BAD_INPUT;
        if (text && task) cli_error("out of memory");
    } else {
        memcpy(both, text, text_size);
        memcpy(both + text_size, task, task_size);
        spdf_status status = spdf_tokenizer_train(both, text_size + task_size, d->config.vocab, &d->tok);
        if (status == SPDF_OK) status = spdf_tokenizer_save(d->tok, out_path);
        if (status != SPDF_OK) code = cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot make the tokenizer");
        else spdf_tokenizer_vocab_size(d->tok, &d->config.vocab);
    }
    free(both);
    free(task);
    free(text);
    return code;
}

static int load_data(demo_state *d, const char *tokenizer_path)
{
    const char *dir = d->config.data_dir;
    char *text = cli_join_path(dir, "tinyshakespeare/input.txt"), *train = cli_join_path(dir, "e2e/trainset.csv");
    char *test = cli_join_path(dir, "e2e/testset_w_refs.csv");
    int code = text && train && test ? EXIT_OK : EXIT_FAILURE_RUNTIME;
    const char *paths[3] = {text, train, test};
    for (int i = 0; code == EXIT_OK && i < 3; i++) {
        if (access(paths[i], R_OK) != 0) {
            cli_error("cannot read the demo data '%s': %s (pass --data-dir DIR, the examples/data directory "
                      "of the source tree)", paths[i], strerror(errno));
            code = EXIT_BAD_INPUT;
        }
    }
    if (code == EXIT_OK) code = make_tokenizer(d, text, train, tokenizer_path);
    if (code == EXIT_OK) code = corpus_load(text, 0.1f, d->tok, &d->text);
    if (code == EXIT_OK) code = task_load(train, 0, &d->train_pairs);
    if (code == EXIT_OK) code = task_load(test, 0, &d->test);
    if (code == EXIT_OK) {
        int64_t items = 0;
        spdf_task_data_count(d->test, &items);
        if (d->config.eval_items > items) d->config.eval_items = (int32_t)items;
        code = finetune_data_build(d->train_pairs, 0, d->config.finetune_context, d->tok, &d->train);
    }
    if (code == EXIT_OK)
        code = finetune_data_build(d->test, d->config.eval_items, d->config.finetune_context, d->tok, &d->held_out);
    free(text);
    free(train);
    free(test);
    return code;
}

static int configure(demo_state *d, const command_spec *command)
{
    demo_flags *f = &d->flags;
    d->config = presets[f->size];
    demo_config *c = &d->config;
    if (options_given(command, "steps")) c->pretrain_steps = f->steps;
    if (options_given(command, "finetune-steps")) c->finetune_steps = f->finetune_steps;
    if (options_given(command, "eval-items")) c->eval_items = f->eval_items;
    if (c->eval_every > c->pretrain_steps) c->eval_every = c->pretrain_steps;
    if (c->pretrain_warmup > c->pretrain_steps / 2) c->pretrain_warmup = c->pretrain_steps / 2;
    if (c->finetune_warmup > c->finetune_steps / 2) c->finetune_warmup = c->finetune_steps / 2;
    c->sparsity = f->sparsity;
    c->seed = (uint64_t)f->seed;
    c->data_dir = f->data_dir;
    int code = cli_context_create(f->backend, f->threads, &d->ctx);
    if (code != EXIT_OK) return code;
    spdf_context_backend(d->ctx, &c->backend);
    spdf_context_num_threads(d->ctx, &c->threads);
    return EXIT_OK;
}

static void stage(int number, const char *what)
{
    printf("[%d/6] %s\n", number, what);
    fflush(stdout);
}

/* The files a demo writes into its output directory. */
typedef struct demo_paths {
    char *metrics, *report_md, *report_svg, *tokenizer, *config;
    char *pre_dense, *pre_sparse, *ft_dense, *ft_spdf, *ft_sparse;
} demo_paths;

static void paths_free(demo_paths *p)
{
    char **all[] = {&p->metrics, &p->report_md, &p->report_svg, &p->tokenizer, &p->config, &p->pre_dense,
                    &p->pre_sparse, &p->ft_dense, &p->ft_spdf, &p->ft_sparse};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

/* 0 when out of memory (p is then freed). */
static int paths_make(demo_paths *p, const char *dir)
{
    const struct { char **path; const char *name; } files[] = {
        {&p->metrics, "metrics.jsonl"},          {&p->report_md, "report.md"},
        {&p->report_svg, "loss.svg"},            {&p->tokenizer, "tokenizer.bin"},
        {&p->pre_dense, "pretrain-dense.ckpt"},  {&p->pre_sparse, "pretrain-sparse.ckpt"},
        {&p->ft_dense, "finetune-dense.ckpt"},   {&p->ft_spdf, "finetune-spdf.ckpt"},
        {&p->ft_sparse, "finetune-sparse.ckpt"}, {&p->config, "config.toml"},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        *files[i].path = cli_join_path(dir, files[i].name);
        ok &= *files[i].path != NULL;
    }
    if (!ok) paths_free(p);
    return ok;
}

static int run_demo(demo_state *d, const char *command_text)
{
    const demo_config *c = &d->config;
    const char *out_dir = d->flags.out;
    if (cli_make_directory(out_dir) != 0) {
        cli_error("cannot create the output directory '%s': %s", out_dir, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    demo_paths paths = {0};
    const int have_paths = paths_make(&paths, out_dir);
    session dense = {0}, sparse = {0}, ablation = {0};
    train_result pre_r[2], ft_r[3];
    memset(pre_r, 0, sizeof pre_r);
    memset(ft_r, 0, sizeof ft_r);
    demo_variant variants[4] = {
        {.name = "copy the MR (baseline)", .label = "copy the MR", .color = "#7f7f7f"},
        {.name = "dense pre-training, dense fine-tuning", .label = "dense -> dense", .color = "#1f77b4",
         .trained = 1},
        {.name = "SPDF: sparse pre-training, dense fine-tuning", .label = "sparse -> dense (SPDF)",
         .color = "#2ca02c", .trained = 1},
        {.name = "sparse pre-training, sparse fine-tuning", .label = "sparse -> sparse", .color = "#d62728",
         .trained = 1},
    };
    const double start = cli_now();
    int code = have_paths ? options_write_config(d->command, paths.config) : EXIT_FAILURE_RUNTIME;
    if (code == EXIT_OK) code = metrics_open(&d->log, paths.metrics, 0);
    if (code == EXIT_OK) code = load_data(d, paths.tokenizer);
    if (code == EXIT_OK) {
        printf("spdf demo --size %s: %d layers, width %d, BPE vocabulary %d; backend %s, %d threads; output in %s\n",
               c->size_name, (int)c->layers, (int)c->width, (int)c->vocab, c->backend, (int)c->threads, out_dir);
        printf("fine-tuning on %lld pairs of trainset.csv (%lld truncated to %d tokens); evaluating on the first "
               "%d MRs of testset_w_refs.csv\n", (long long)d->train.count, (long long)d->train.truncated,
               (int)c->finetune_context + 1, (int)c->eval_items);
        stage(1, "baseline: copy the MR");
        code = baseline_variant(d, &variants[0]);
    }
    char what[160];
    if (code == EXIT_OK) {
        snprintf(what, sizeof what, "dense pre-training: %d steps of %d x %d tokens", (int)c->pretrain_steps,
                 (int)c->pretrain_batch, (int)c->pretrain_context);
        stage(2, what);
        code = pretrain_variant(d, "pretrain dense", 0, paths.pre_dense, &dense, &pre_r[0], &variants[1]);
    }
    if (code == EXIT_OK) {
        snprintf(what, sizeof what, "sparse pre-training at %.0f %% random sparsity (same seed and data order)",
                 (double)c->sparsity * 100);
        stage(3, what);
        code = pretrain_variant(d, "pretrain sparse", c->sparsity, paths.pre_sparse, &sparse, &pre_r[1], &variants[2]);
    }
    if (code == EXIT_OK) {
        variants[3].pretrain_flops = variants[2].pretrain_flops;
        variants[3].pretrain_seconds = variants[2].pretrain_seconds;
        variants[3].pretrain_val_loss = variants[2].pretrain_val_loss;
        variants[3].pretrain_curve = variants[2].pretrain_curve;
        variants[3].pretrain_val_curve = variants[2].pretrain_val_curve;
        variants[3].pretrain_elapsed = variants[2].pretrain_elapsed;
        stage(4, "dense fine-tuning of the dense model");
        code = finetune_variant(d, &dense, 0, paths.ft_dense, &ft_r[0], &variants[1]);
    }
    if (code == EXIT_OK) {
        stage(5, "SPDF: the sparse model turned dense in place, then dense fine-tuning");
        code = finetune_variant(d, &sparse, 0, paths.ft_spdf, &ft_r[1], &variants[2]);
    }
    if (code == EXIT_OK) {
        stage(6, "ablation: sparse fine-tuning of the sparse model (reloaded from its checkpoint)");
        code = session_load(d->ctx, paths.pre_sparse, 1, &ablation);
        ablation.ctx = d->ctx;
        if (code == EXIT_OK) code = finetune_variant(d, &ablation, 1, paths.ft_sparse, &ft_r[2], &variants[3]);
    }
    if (code == EXIT_OK) {
        demo_report report = {
            .config = c, .command_line = command_text, .variants = variants, .variant_count = 4,
            .test = d->test, .eval_items = c->eval_items, .train_examples = d->train.count,
            .train_truncated = d->train.truncated, .corpus_train_tokens = d->text.train_tokens,
            .corpus_val_tokens = d->text.val_tokens, .total_seconds = cli_now() - start,
        };
        printf("\n");
        report_print_table(&report, stdout);
        code = report_write_markdown(&report, paths.report_md);
        if (code == EXIT_OK) code = report_write_svg(&report, paths.report_svg);
        if (code == EXIT_OK)
            printf("\n%.0f s in all; wrote %s, %s and %s\n", report.total_seconds, paths.report_md,
                   paths.report_svg, paths.metrics);
    } else if (code == EXIT_INTERRUPTED) {
        cli_error("interrupted; the checkpoints written so far are in %s", out_dir);
    }
    for (int v = 0; v < 4; v++) {
        for (int64_t i = 0; variants[v].hyps && i < c->eval_items; i++) free(variants[v].hyps[i]);
        free(variants[v].hyps);
    }
    for (int i = 0; i < 2; i++) train_result_free(&pre_r[i]);
    for (int i = 0; i < 3; i++) train_result_free(&ft_r[i]);
    session_free(&ablation);
    session_free(&sparse);
    session_free(&dense);
    paths_free(&paths);
    return code;
}

int command_demo(int argc, char **argv)
{
    demo_state d;
    memset(&d, 0, sizeof d);
    demo_flags *f = &d.flags;
    f->out = "out/demo";
    f->data_dir = SPDF_CLI_DATA_DIR;
    f->size = 1;
    f->seed = 1337;
    f->sparsity = 0.75f;
    f->steps = presets[1].pretrain_steps;
    f->finetune_steps = presets[1].finetune_steps;
    f->eval_items = presets[1].eval_items;
    option_spec options[] = {
        OPT_STRING("out", &f->out, "DIR", "directory for report.md, loss.svg, metrics.jsonl and the checkpoints"),
        OPT_CHOICE("size", &f->size, "NAME", size_names, "preset, below"),
        OPT_INT_NO_DEFAULT("steps", &f->steps, "N", 1, 1000000000, "pre-training steps (default: the preset's)"),
        OPT_INT_NO_DEFAULT("finetune-steps", &f->finetune_steps, "N", 1, 1000000000,
                           "fine-tuning steps (default: the preset's)"),
        OPT_INT_NO_DEFAULT("eval-items", &f->eval_items, "N", 1, 1000000,
                           "evaluate on the first N test MRs (default: the preset's)"),
        OPT_FLOAT("sparsity", &f->sparsity, "S", 0.01f, 0.99f, "sparsity of the sparse pre-training"),
        OPT_INT64("seed", &f->seed, "N", 0, 9.2e18, "seed of initialisation, mask and data order"),
        OPT_STRING("data-dir", &f->data_dir, "DIR", "holds tinyshakespeare/input.txt and e2e/{trainset,testset_w_refs}.csv"),
        COMPUTE_OPTIONS(f->threads, f->backend),
    };
    command_spec command = {
        .name = "demo",
        .usage = "[--out DIR] [--size tiny|small|base] [--steps N] [options]",
        .summary = "The SPDF experiment in miniature.  Train a BPE tokenizer on the data; pre-train one GPT on\n"
                   "Tiny Shakespeare densely and with random sparsity (same seed and data order); fine-tune on\n"
                   "E2E (trainset.csv) the dense model densely, the sparse model densely after the in-place\n"
                   "transition (SPDF) and sparsely (ablation);\n"
                   "decode the first test MRs greedily and score BLEU and NIST against a copy-the-MR baseline.\n"
                   "Prints a table and writes report.md, loss.svg, metrics.jsonl and tokenizer.bin to --out.",
        .options = options,
        .option_count = COUNT_OF(options),
        .epilog = "Presets (layers x width, BPE ids; pre-training steps x batch x context; fine-tuning steps x batch x\n"
                  "context, in tokens; evaluation MRs):\n"
                  "  tiny   2 x 64,   512;   60 x 8 x 64;    300 x 8 x 128;     6 MRs  (seconds)\n"
                  "  small  4 x 192, 1024;  400 x 16 x 128;  600 x 16 x 128; 100 MRs  (the default; under 10 minutes)\n"
                  "  base   4 x 128, 1024; 2000 x 16 x 128; 2000 x 16 x 128; 200 MRs  (about 21 minutes)",
        .takes_config = 1,
    };
    const int parsed = options_parse(&command, argc, argv, NULL, NULL);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    char *command_text = cli_command_line(argc, argv);
    d.command = &command;
    d.progress = progress_default_mode(PROGRESS_LINES);
    cli_signals_install();
    int code = command_text ? configure(&d, &command) : EXIT_FAILURE_RUNTIME;
    if (code == EXIT_OK) code = run_demo(&d, command_text);
    metrics_close(&d.log);
    finetune_data_free(&d.train);
    finetune_data_free(&d.held_out);
    spdf_task_data_free(d.train_pairs);
    spdf_tokenizer_free(d.tok);
    spdf_task_data_free(d.test);
    corpus_free(&d.text);
    spdf_context_free(d.ctx);
    free(command_text);
    return code;
}
