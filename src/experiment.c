/* `spdf experiment`: the SPDF paper's grid in miniature.  Pre-trains every model size at every
 * sparsity and seed on Tiny Shakespeare + WikiText-2, fine-tunes each pre-trained model on the
 * grid's tasks densely (SPDF) and sparsely, scores greedy outputs with BLEU, and reports.  Every
 * cell writes its result atomically into DIR/cells/, so a killed grid run again skips what is done. */
#include "cli.h"
#include "data.h"
#include "evaluate.h"
#include "experiment.h"
#include "flat_toml.h"
#include "options.h"
#include "training_loop.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SPDF_CLI_DATA_DIR
#define SPDF_CLI_DATA_DIR "examples/data"
#endif

/* The pre-training text, in this order; the last tenth (the end of WikiText-2's test split) is
 * held out for the validation loss. */
static const char *const pretrain_files[] = {"tinyshakespeare/input.txt", "wikitext-2/valid.txt",
                                             "wikitext-2/test.txt"};
static const float validation_fraction = 0.1f;

/* Training and test files of each task under the data directory, with their --format indices
 * (task_format_names: e2e 0, webnlg 1, dart 2); DART's test split is WebNLG-style XML. */
static const struct {
    const char *train, *test;
    int32_t train_format, test_format;
} task_files[] = {
    {"e2e/trainset.csv", "e2e/testset_w_refs.csv", 0, 0},
    {"webnlg/train.xml", "webnlg/test.xml", 1, 1},
    {"dart/train.json", "dart/test.xml", 2, 1},
};

typedef struct task_data {
    spdf_task_data *train_pairs, *test;
    finetune_data train, held_out;
    int64_t eval_items;
} task_data;

typedef struct experiment {
    experiment_grid grid;
    const char *out, *data_dir;
    char *cells_dir, *models_dir;
    spdf_context *ctx;
    spdf_tokenizer *tok;
    corpus text;
    task_data tasks[3]; /* by task id; loaded for the grid's tasks */
    grid_cell *cells;
    cell_result *results;
    int cell_count;
    progress_mode progress;
    metrics_log no_log; /* the cells log nothing: their results are the cell files */
} experiment;

/* ---- cell files: flat TOML, numbers written so that they read back exactly ---- */

static char *cell_path(const experiment *e, const grid_cell *c, const char *suffix)
{
    char name[128];
    snprintf(name, sizeof name, "%s%s", c->id, suffix);
    return cli_join_path(strcmp(suffix, ".ckpt") == 0 ? e->models_dir : e->cells_dir, name);
}

static void put_number(char **out, size_t *room, const char *key, double value)
{
    const int n = isnan(value) ? snprintf(*out, *room, "%s = nan\n", key)
                               : snprintf(*out, *room, "%s = %.17g\n", key, value);
    if (n > 0 && (size_t)n < *room) {
        *out += n;
        *room -= (size_t)n;
    }
}

static int write_cell(const experiment *e, const grid_cell *c, const cell_result *r)
{
    char text[2048], *out = text, quoted[128];
    size_t room = sizeof text;
    flat_toml_quote(c->id, quoted, sizeof quoted);
    const int n = snprintf(out, room, "cell = %s\nsteps = %lld\ntokens = %lld\nitems = %lld\n", quoted,
                           (long long)r->steps, (long long)r->tokens, (long long)r->items);
    out += n;
    room -= (size_t)n;
    const struct { const char *key; double value; } numbers[] = {
        {"flops", r->flops}, {"train_loss", r->train_loss}, {"val_loss", r->val_loss},
        {"heldout_loss", r->heldout_loss}, {"bleu", r->bleu}, {"nist", r->nist},
        {"seconds", r->seconds}, {"train_seconds", r->train_seconds}, {"decode_seconds", r->decode_seconds},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) put_number(&out, &room, numbers[i].key, numbers[i].value);
    char *path = cell_path(e, c, ".toml");
    const int code = path ? cli_write_text_atomically(path, text, "cell result") : EXIT_FAILURE_RUNTIME;
    free(path);
    return code;
}

/* The result of a finished cell: 1 and *r, 0 when the cell has no result file yet, or an exit
 * code (as a negative number) for a file that is not a result of this cell. */
static int read_cell(const experiment *e, const grid_cell *c, cell_result *r)
{
    char *path = cell_path(e, c, ".toml");
    if (!path) return -EXIT_FAILURE_RUNTIME;
    if (access(path, F_OK) != 0) {
        free(path);
        return 0;
    }
    size_t size = 0, line_count = 0;
    char *text = cli_read_file(path, &size);
    char **lines = text ? cli_split_lines(text, &line_count) : NULL;
    memset(r, 0, sizeof *r);
    int fields = 0, ok = lines != NULL;
    for (size_t i = 0; ok && i < line_count; i++) {
        char *name = NULL, *value = NULL;
        const char *why = NULL;
        const int kind = flat_toml_split(lines[i], &name, &value, &why);
        if (kind == FLAT_TOML_BLANK) continue;
        if (kind != FLAT_TOML_PAIR) {
            ok = 0;
            break;
        }
        if (strcmp(name, "cell") == 0) {
            ok = flat_toml_unquote(value) == 0 && strcmp(value, c->id) == 0;
            fields++;
            continue;
        }
        const struct { const char *key; int64_t *integer; double *number; } keys[] = {
            {"steps", &r->steps, NULL}, {"tokens", &r->tokens, NULL}, {"items", &r->items, NULL},
            {"flops", NULL, &r->flops}, {"train_loss", NULL, &r->train_loss}, {"val_loss", NULL, &r->val_loss},
            {"heldout_loss", NULL, &r->heldout_loss}, {"bleu", NULL, &r->bleu}, {"nist", NULL, &r->nist},
            {"seconds", NULL, &r->seconds}, {"train_seconds", NULL, &r->train_seconds},
            {"decode_seconds", NULL, &r->decode_seconds},
        };
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(keys[k].key, name) != 0) k++;
        char *end = NULL;
        if (k == sizeof keys / sizeof keys[0]) ok = 0;
        else if (keys[k].integer) *keys[k].integer = strtoll(value, &end, 10);
        else *keys[k].number = strtod(value, &end);
        ok = ok && end && *end == '\0';
        fields++;
    }
    free(lines);
    free(text);
    if (!ok || fields != 13) {
        cli_error("'%s' is not the result of cell %s; remove it to run the cell again", path, c->id);
        free(path);
        return -EXIT_BAD_INPUT;
    }
    free(path);
    r->done = 1;
    return 1;
}

/* ---- data ---- */

/* The files of the data directory, concatenated; *length bytes. */
static char *read_concatenated(const char *dir, const char *const *names, int count, size_t *length)
{
    char *all = NULL;
    *length = 0;
    for (int i = 0; i < count; i++) {
        char *path = cli_join_path(dir, names[i]);
        size_t size = 0;
        char *text = path ? cli_read_file(path, &size) : NULL;
        free(path);
        char *grown = text ? realloc(all, *length + size + 1) : NULL;
        if (!grown) {
            free(text);
            free(all);
            return NULL;
        }
        all = grown;
        memcpy(all + *length, text, size + 1);
        *length += size;
        free(text);
    }
    return all;
}

static int load_tasks(experiment *e)
{
    for (int t = 0; t < e->grid.task_count; t++) {
        const int id = e->grid.tasks[t];
        task_data *task = &e->tasks[id];
        char *train = cli_join_path(e->data_dir, task_files[id].train);
        char *test = cli_join_path(e->data_dir, task_files[id].test);
        int code = train && test ? EXIT_OK : EXIT_FAILURE_RUNTIME;
        if (code == EXIT_OK) code = task_load(train, task_files[id].train_format, &task->train_pairs);
        if (code == EXIT_OK) code = task_load(test, task_files[id].test_format, &task->test);
        free(train);
        free(test);
        if (code != EXIT_OK) return code;
        spdf_task_data_count(task->test, &task->eval_items);
        if (task->eval_items > e->grid.eval_items) task->eval_items = e->grid.eval_items;
    }
    return EXIT_OK;
}

/* Every training pair of the grid's tasks as "prompt\ntarget\n", the text the models learn. */
static char *task_text(const experiment *e, size_t *length)
{
    size_t size = 1;
    for (int pass = 0; pass < 2; pass++) {
        char *text = pass ? malloc(size) : NULL;
        if (pass && !text) return NULL;
        size_t at = 0;
        for (int t = 0; t < e->grid.task_count; t++) {
            const spdf_task_data *pairs = e->tasks[e->grid.tasks[t]].train_pairs;
            int64_t count = 0;
            spdf_task_data_pair_count(pairs, &count);
            for (int64_t i = 0; i < count; i++) {
                const char *prompt = NULL, *target = NULL;
                spdf_task_data_pair(pairs, i, &prompt, &target);
                const size_t p = strlen(prompt), g = strlen(target);
                if (pass) {
                    memcpy(text + at, prompt, p);
                    text[at + p] = '\n';
                    memcpy(text + at + p + 1, target, g);
                    text[at + p + 1 + g] = '\n';
                }
                at += p + g + 2;
            }
        }
        if (pass) {
            text[at] = '\0';
            *length = at;
            return text;
        }
        size = at + 1;
    }
    return NULL;
}

/* The grid's BPE tokenizer: DIR/tokenizer.bin when a run before made it, else trained on the
 * pre-training text and the tasks' training pairs and saved (atomically, by rename). */
static int open_tokenizer(experiment *e, const char *pretrain_text, size_t pretrain_length)
{
    char *path = cli_join_path(e->out, "tokenizer.bin");
    if (!path) return EXIT_FAILURE_RUNTIME;
    spdf_status status;
    int code = EXIT_OK;
    if (access(path, F_OK) == 0) {
        status = spdf_tokenizer_load(path, &e->tok);
        if (status != SPDF_OK) code = cli_library_error(status, cli_input_exit_code(status), "cannot load '%s'", path);
    } else {
        size_t task_length = 0;
        char *tasks = task_text(e, &task_length);
        char *both = tasks ? malloc(pretrain_length + task_length + 1) : NULL;
        char *tmp = both ? malloc(strlen(path) + 32) : NULL;
        if (!tmp) {
            cli_error("out of memory");
            code = EXIT_FAILURE_RUNTIME;
        } else {
            memcpy(both, pretrain_text, pretrain_length);
            memcpy(both + pretrain_length, tasks, task_length + 1);
            printf("training the BPE tokenizer (%d ids) on %zu bytes of pre-training text and task pairs\n",
                   (int)e->grid.vocab, pretrain_length + task_length);
            fflush(stdout);
            sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
            status = spdf_tokenizer_train(both, pretrain_length + task_length, e->grid.vocab, &e->tok);
            if (status == SPDF_OK) status = spdf_tokenizer_save(e->tok, tmp);
            if (status != SPDF_OK) code = cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot make the tokenizer");
            else if (rename(tmp, path) != 0) {
                cli_error("cannot write '%s': %s", path, strerror(errno));
                code = EXIT_FAILURE_RUNTIME;
            }
            if (code != EXIT_OK) unlink(tmp);
        }
        free(tmp);
        free(both);
        free(tasks);
    }
    free(path);
    return code;
}

static int check_data(const experiment *e)
{
    for (size_t i = 0; i < sizeof pretrain_files / sizeof pretrain_files[0] + 2 * 3; i++) {
        const size_t p = sizeof pretrain_files / sizeof pretrain_files[0];
        const char *name = i < p ? pretrain_files[i] : (i - p) % 2 ? task_files[(i - p) / 2].test
                                                                   : task_files[(i - p) / 2].train;
        char *path = cli_join_path(e->data_dir, name);
        if (!path) return EXIT_FAILURE_RUNTIME;
        const int missing = access(path, R_OK) != 0;
        if (missing)
            cli_error("cannot read the experiment data '%s': %s (pass --data-dir DIR, the examples/data "
                      "directory of the source tree)", path, strerror(errno));
        free(path);
        if (missing) return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

static int load_data(experiment *e)
{
    int code = check_data(e);
    if (code == EXIT_OK) code = load_tasks(e);
    size_t length = 0;
    char *text = code == EXIT_OK ? read_concatenated(e->data_dir, pretrain_files, 3, &length) : NULL;
    if (code == EXIT_OK && !text) code = EXIT_BAD_INPUT;
    if (code == EXIT_OK) code = open_tokenizer(e, text, length);
    if (code == EXIT_OK)
        code = corpus_from_text(text, length, validation_fraction, e->tok, "the pre-training text", &e->text);
    free(text);
    if (code == EXIT_OK) spdf_tokenizer_vocab_size(e->tok, &e->grid.vocab);
    for (int t = 0; code == EXIT_OK && t < e->grid.task_count; t++) {
        task_data *task = &e->tasks[e->grid.tasks[t]];
        code = finetune_data_build(task->train_pairs, 0, e->grid.finetune_context, e->tok, &task->train);
        if (code == EXIT_OK)
            code = finetune_data_build(task->test, task->eval_items, e->grid.finetune_context, e->tok,
                                       &task->held_out);
        if (code == EXIT_OK)
            printf("%-6s fine-tuning on %lld of %lld pairs (%lld cut to %d tokens, %lld whose input fills them "
                   "left out; 99 %% fit in %d); BLEU on the first %lld test inputs\n",
                   experiment_task_names[e->grid.tasks[t]], (long long)task->train.count,
                   (long long)task->train.pairs, (long long)task->train.truncated, (int)e->grid.finetune_context + 1,
                   (long long)task->train.dropped, (int)task->train.fit_p99 + 1, (long long)task->eval_items);
    }
    return code;
}

/* ---- running the cells ---- */

static int32_t grid_positions(const experiment_grid *g)
{
    return g->pretrain_context > g->finetune_context ? g->pretrain_context : g->finetune_context;
}

static int run_pretrain(experiment *e, const grid_cell *c, cell_result *r)
{
    const experiment_grid *g = &e->grid;
    spdf_model_config model;
    spdf_model_config_init(&model);
    model.num_layers = g->sizes[c->size].layers;
    model.channels = g->sizes[c->size].width;
    model.num_heads = g->sizes[c->size].heads;
    model.max_seq_len = grid_positions(g);
    model.vocab_size = g->vocab;
    const run_schedule run = {.steps = grid_pretrain_steps(g), .batch = g->pretrain_batch,
                              .context = g->pretrain_context, .warmup = g->pretrain_warmup, .lr = g->pretrain_lr};
    pretrain_settings ps;
    pretrain_settings_init(&ps, &model, &run, (uint64_t)g->seeds[c->seed], c->id, e->progress);
    ps.sparsity = g->sparsities[c->sparsity];
    ps.mask_method = g->mask;
    ps.eval_batches = 8;
    char *path = cell_path(e, c, ".ckpt");
    ps.out_path = path;
    session s = {.ctx = e->ctx, .tokenizer = e->tok};
    train_result tr;
    memset(&tr, 0, sizeof tr);
    const int code = path ? pretrain_new_run(&s, &e->text, &ps, &e->no_log, &tr, &r->flops) : EXIT_FAILURE_RUNTIME;
    r->steps = run.steps;
    r->tokens = (int64_t)run.steps * run.batch * run.context;
    r->train_loss = tr.tail_loss;
    r->val_loss = tr.final_val_loss;
    r->heldout_loss = r->bleu = r->nist = NAN;
    r->train_seconds = tr.seconds;
    r->decode_seconds = 0;
    if (code == EXIT_OK)
        printf("    %.3g FLOPs, %.0f s; validation loss %.4f nats/token\n", r->flops, tr.seconds, r->val_loss);
    train_result_free(&tr);
    session_free(&s);
    free(path);
    return code;
}

static int run_finetune(experiment *e, const grid_cell *c, cell_result *r)
{
    const experiment_grid *g = &e->grid;
    const task_data *task = &e->tasks[g->tasks[c->task]];
    char *path = cell_path(e, &e->cells[c->pretrain], ".ckpt");
    session s = {0};
    int code = path ? session_load(e->ctx, path, 1, &s) : EXIT_FAILURE_RUNTIME;
    free(path);
    s.ctx = e->ctx;
    s.tokenizer = e->tok;
    const run_schedule run = {.steps = g->finetune_steps, .batch = g->finetune_batch,
                              .context = g->finetune_context, .warmup = g->finetune_warmup, .lr = g->finetune_lr};
    finetune_settings fs;
    finetune_settings_init(&fs, &run, (uint64_t)g->seeds[c->seed], c->id, e->progress);
    fs.keep_sparse = g->modes[c->mode] == MODE_SPARSE;
    train_result tr;
    memset(&tr, 0, sizeof tr);
    finetune_score score;
    memset(&score, 0, sizeof score);
    if (code == EXIT_OK)
        code = finetune_and_score(&s, &fs, &task->train, &task->held_out, task->test, task->eval_items, g->max_new,
                                  c->id, &e->no_log, &tr, &score);
    r->steps = run.steps;
    r->tokens = 0;
    r->items = score.outputs.count;
    r->flops = score.flops;
    r->train_loss = tr.tail_loss;
    r->val_loss = NAN;
    r->heldout_loss = score.heldout_loss;
    r->bleu = score.scores.bleu;
    r->nist = score.scores.nist;
    r->train_seconds = tr.seconds;
    r->decode_seconds = score.outputs.seconds;
    if (code == EXIT_OK)
        printf("    %.0f s + decoding %.0f s; held-out loss %.4f; BLEU %.4f, NIST %.4f\n", tr.seconds,
               score.outputs.seconds, r->heldout_loss, r->bleu, r->nist);
    task_outputs_free(&score.outputs);
    train_result_free(&tr);
    session_free(&s);
    return code;
}

static int run_cells(experiment *e)
{
    int done = 0;
    for (int i = 0; i < e->cell_count; i++) {
        const int found = read_cell(e, &e->cells[i], &e->results[i]);
        if (found < 0) return -found;
        done += found;
    }
    printf("%d cells, %d of them done before\n", e->cell_count, done);
    for (int i = 0; i < e->cell_count; i++) {
        const grid_cell *c = &e->cells[i];
        if (e->results[i].done) {
            printf("[%d/%d] %s: done before, skipped\n", i + 1, e->cell_count, c->id);
            continue;
        }
        printf("[%d/%d] %s: running\n", i + 1, e->cell_count, c->id);
        fflush(stdout);
        cell_result r;
        memset(&r, 0, sizeof r);
        const double start = cli_now();
        int code = c->kind == CELL_PRETRAIN ? run_pretrain(e, c, &r) : run_finetune(e, c, &r);
        r.seconds = cli_now() - start;
        if (code == EXIT_OK) code = write_cell(e, c, &r);
        /* read back, so that a cell run now reports exactly what a later rerun reads */
        if (code == EXIT_OK) code = read_cell(e, c, &e->results[i]) == 1 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
        fflush(stdout);
        if (code != EXIT_OK) return code;
    }
    return EXIT_OK;
}

/* DIR/grid.toml holds the grid the directory's cells belong to: a rerun with another grid would
 * mix results, so it is refused. */
static int claim_directory(const experiment *e)
{
    char *text = grid_text(&e->grid), *path = cli_join_path(e->out, "grid.toml");
    int code = text && path ? EXIT_OK : EXIT_FAILURE_RUNTIME;
    if (code == EXIT_OK && access(path, F_OK) == 0) {
        size_t size = 0;
        char *before = cli_read_file(path, &size);
        if (!before) code = EXIT_BAD_INPUT;
        else if (strcmp(before, text) != 0) {
            cli_error("'%s' holds cells of another grid (see '%s'); give another --out, or the same grid", e->out,
                      path);
            code = EXIT_USAGE;
        }
        free(before);
    } else if (code == EXIT_OK) {
        code = cli_write_text_atomically(path, text, "grid");
    }
    free(text);
    free(path);
    return code;
}

/* "model name" of /proc/cpuinfo, for the report; "unknown" elsewhere. */
static void cpu_name(char *out, size_t size)
{
    snprintf(out, size, "unknown");
    FILE *file = fopen("/proc/cpuinfo", "r");
    if (!file) return;
    char line[512];
    while (fgets(line, sizeof line, file)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        colon += 1 + strspn(colon + 1, " \t");
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(out, size, "%s", colon);
        break;
    }
    fclose(file);
}

static int write_outputs(const experiment *e, const char *command_text)
{
    char cpu[256];
    cpu_name(cpu, sizeof cpu);
    experiment_outputs o = {.grid = &e->grid, .cells = e->cells, .results = e->results,
                            .cell_count = e->cell_count, .out_dir = e->out, .command_line = command_text,
                            .cpu = cpu, .corpus_train_tokens = e->text.train_tokens,
                            .corpus_val_tokens = e->text.val_tokens};
    spdf_context_num_threads(e->ctx, &o.threads);
    for (int t = 0; t < 3; t++) {
        o.train_examples[t] = e->tasks[t].train.count;
        o.eval_items[t] = e->tasks[t].eval_items;
    }
    return experiment_write_outputs(&o);
}

static int run_experiment(experiment *e, const char *command_text)
{
    e->cells_dir = cli_join_path(e->out, "cells");
    e->models_dir = cli_join_path(e->out, "models");
    if (!e->cells_dir || !e->models_dir) return EXIT_FAILURE_RUNTIME;
    const char *dirs[] = {e->out, e->cells_dir, e->models_dir};
    for (int i = 0; i < 3; i++) {
        if (cli_make_directory(dirs[i]) != 0) {
            cli_error("cannot create the output directory '%s': %s", dirs[i], strerror(errno));
            return EXIT_FAILURE_RUNTIME;
        }
    }
    int code = claim_directory(e);
    if (code == EXIT_OK) code = load_data(e);
    if (code == EXIT_OK && grid_cells(&e->grid, &e->cells, &e->cell_count) != 0) code = EXIT_FAILURE_RUNTIME;
    if (code == EXIT_OK) {
        e->results = calloc((size_t)e->cell_count, sizeof *e->results);
        if (!e->results) code = EXIT_FAILURE_RUNTIME;
    }
    if (code == EXIT_FAILURE_RUNTIME && !e->results) cli_error("out of memory");
    const double start = cli_now();
    if (code == EXIT_OK) code = run_cells(e);
    if (code == EXIT_OK || code == EXIT_INTERRUPTED) {
        const int written = write_outputs(e, command_text);
        if (code == EXIT_OK) code = written;
    }
    if (code == EXIT_OK)
        printf("%.0f s in this run; wrote results.jsonl, timings.jsonl, results.md and the plots to %s\n",
               cli_now() - start, e->out);
    else if (code == EXIT_INTERRUPTED)
        cli_error("interrupted; the finished cells are in %s/cells, and the same command continues the grid", e->out);
    return code;
}

int command_experiment(int argc, char **argv)
{
    experiment e;
    memset(&e, 0, sizeof e);
    const char *backend = NULL;
    int32_t preset = 1, threads = 0;
    e.out = "out/experiment";
    e.data_dir = SPDF_CLI_DATA_DIR;
    option_spec options[] = {
        OPT_STRING("out", &e.out, "DIR", "directory of the results, the cells and the pre-trained models"),
        OPT_CHOICE("preset", &preset, NULL, experiment_preset_names, "the built-in grid a GRID file starts from"),
        OPT_STRING("data-dir", &e.data_dir, "DIR",
                   "holds tinyshakespeare/, wikitext-2/, e2e/, webnlg/ and dart/ (default: compiled in)"),
        COMPUTE_OPTIONS(threads, backend),
    };
    command_spec command = {
        .name = "experiment",
        .usage = "[GRID.toml] [--out DIR] [--preset quick|default] [--threads N] [--data-dir DIR]",
        .summary = "The SPDF paper's grid in miniature: pre-train every model size at every sparsity and seed on\n"
                   "Tiny Shakespeare + WikiText-2 (the same token budget for every size), fine-tune each model on\n"
                   "every task densely (SPDF; from sparsity 0, the dense baseline) and sparsely (mask kept), and\n"
                   "score greedy outputs on the first test inputs with BLEU.  Each cell's result is written\n"
                   "atomically into DIR/cells/: the same command run again skips every finished cell.  Writes\n"
                   "results.jsonl, timings.jsonl, results.md and SVG plots to DIR.",
        .options = options,
        .option_count = COUNT_OF(options),
        .positional_names = "GRID.toml",
        .min_positional = 0,
        .max_positional = 1,
        .epilog = "GRID.toml (flat TOML; keys not given keep the preset's; docs/cli.md lists them all):\n"
                  "  sizes = [\"2x128x2\", \"3x192x3\"]   # layers x width x heads\n"
                  "  sparsities = [0, 0.5, 0.75]       mask = \"random\"\n"
                  "  tasks = [\"e2e\", \"webnlg\", \"dart\"]  modes = [\"dense\", \"sparse\"]  seeds = [1, 2]\n"
                  "  pretrain-tokens = 409600          finetune-steps = 250       eval-items = 50",
    };
    const char *grid_path = NULL;
    int positional = 0;
    const int parsed = options_parse(&command, argc, argv, &grid_path, &positional);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    grid_preset(&e.grid, preset);
    int code = grid_path ? grid_read(&e.grid, grid_path) : EXIT_OK;
    char *command_text = code == EXIT_OK ? cli_command_line(argc, argv) : NULL;
    if (code == EXIT_OK && !command_text) code = EXIT_FAILURE_RUNTIME;
    if (code == EXIT_OK) code = cli_context_create(backend, threads, &e.ctx);
    e.progress = progress_default_mode(PROGRESS_OFF);
    if (code == EXIT_OK) code = run_experiment(&e, command_text);
    for (int t = 0; t < 3; t++) {
        finetune_data_free(&e.tasks[t].train);
        finetune_data_free(&e.tasks[t].held_out);
        spdf_task_data_free(e.tasks[t].train_pairs);
        spdf_task_data_free(e.tasks[t].test);
    }
    corpus_free(&e.text);
    spdf_tokenizer_free(e.tok);
    spdf_context_free(e.ctx);
    free(e.cells);
    free(e.results);
    free(e.cells_dir);
    free(e.models_dir);
    free(command_text);
    return code;
}
