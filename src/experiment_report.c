/* The outputs of `spdf experiment`: results.jsonl (the cells' results, no timings, so that a
 * rerun or a resumed run writes the same bytes), timings.jsonl, results.md (means and spreads over
 * seeds, gaps to dense) and the SVG plots. */
#include "experiment.h"

#include "cli.h"
#include "json_writer.h"
#include "svg_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const size_colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                          "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
enum { COLOR_COUNT = 10 };

/* "baseline" (dense pre-training, dense fine-tuning), "spdf" or "sparse". */
static const char *variant_of(const experiment_grid *g, const grid_cell *c)
{
    if (g->modes[c->mode] == MODE_SPARSE) return "sparse";
    return g->sparsities[c->sparsity] == 0 ? "baseline" : "spdf";
}

static const char *variant_title(const char *variant)
{
    return strcmp(variant, "baseline") == 0 ? "dense (baseline)" : strcmp(variant, "spdf") == 0 ? "dense (SPDF)"
                                                                                                 : "sparse";
}

/* The text a memory stream collected in *text (set by fclose), written atomically to DIR/name. */
static int finish_file(const experiment_outputs *o, const char *name, FILE *stream, char **buffer)
{
    const int closed = fclose(stream) == 0;
    char *text = closed ? *buffer : NULL;
    if (!closed) cli_error("out of memory for '%s'", name);
    char *path = cli_join_path(o->out_dir, name);
    const int code = path && text ? cli_write_text_atomically(path, text, "output") : EXIT_FAILURE_RUNTIME;
    free(path);
    free(text);
    return code;
}

static int memory_failed(void)
{
    cli_error("out of memory");
    return EXIT_FAILURE_RUNTIME;
}

/* ---- results.jsonl and timings.jsonl ---- */

static void result_record(const experiment_outputs *o, const grid_cell *c, const cell_result *r, FILE *out)
{
    const experiment_grid *g = o->grid;
    const model_size *s = &g->sizes[c->size];
    json_writer w;
    json_begin(&w, out);
    json_string(&w, "cell", c->id);
    json_string(&w, "kind", c->kind == CELL_PRETRAIN ? "pretrain" : "finetune");
    json_int(&w, "layers", s->layers);
    json_int(&w, "width", s->width);
    json_int(&w, "heads", s->heads);
    json_float(&w, "sparsity", g->sparsities[c->sparsity]);
    json_string(&w, "mask", cli_mask_method_names[g->mask]);
    json_int(&w, "seed", g->seeds[c->seed]);
    if (c->kind == CELL_FINETUNE) {
        json_string(&w, "pretrain", o->cells[c->pretrain].id);
        json_string(&w, "task", experiment_task_names[g->tasks[c->task]]);
        json_string(&w, "mode", experiment_mode_names[g->modes[c->mode]]);
        json_string(&w, "variant", variant_of(g, c));
    }
    json_int(&w, "steps", r->steps);
    if (c->kind == CELL_PRETRAIN) json_int(&w, "tokens", r->tokens);
    json_number(&w, "flops", r->flops);
    json_number(&w, "train_loss", r->train_loss);
    if (c->kind == CELL_PRETRAIN) {
        json_number(&w, "val_loss", r->val_loss);
    } else {
        json_number(&w, "heldout_loss", r->heldout_loss);
        json_int(&w, "items", r->items);
        json_number(&w, "bleu", r->bleu);
        json_number(&w, "nist", r->nist);
    }
    json_end(&w);
}

static int write_jsonl(const experiment_outputs *o, int timings)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out) return memory_failed();
    for (int i = 0; i < o->cell_count; i++) {
        const cell_result *r = &o->results[i];
        if (!r->done) continue;
        if (!timings) {
            result_record(o, &o->cells[i], r, out);
            continue;
        }
        json_writer w;
        json_begin(&w, out);
        json_string(&w, "cell", o->cells[i].id);
        json_number(&w, "seconds", round(r->seconds * 1000) / 1000);
        json_number(&w, "train_seconds", round(r->train_seconds * 1000) / 1000);
        json_number(&w, "decode_seconds", round(r->decode_seconds * 1000) / 1000);
        json_end(&w);
    }
    return finish_file(o, timings ? "timings.jsonl" : "results.jsonl", out, &text);
}

/* ---- statistics over seeds ---- */

typedef struct stats {
    int n;
    double mean, sd; /* sd: sample standard deviation, NaN below two values */
} stats;

static stats stats_of(const double *values, int n)
{
    stats s = {.n = n, .mean = NAN, .sd = NAN};
    if (n == 0) return s;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += values[i];
    s.mean = sum / n;
    if (n > 1) {
        double squares = 0;
        for (int i = 0; i < n; i++) squares += (values[i] - s.mean) * (values[i] - s.mean);
        s.sd = sqrt(squares / (n - 1));
    }
    return s;
}

/* The finished cell of a kind at the given indices (task and mode: fine-tuning only), or -1. */
static int find_cell(const experiment_outputs *o, int kind, int size, int sparsity, int seed, int task, int mode)
{
    for (int i = 0; i < o->cell_count; i++) {
        const grid_cell *c = &o->cells[i];
        if (c->kind == kind && c->size == size && c->sparsity == sparsity && c->seed == seed &&
            (kind == CELL_PRETRAIN || (c->task == task && c->mode == mode)))
            return o->results[i].done ? i : -1;
    }
    return -1;
}

/* What a statistic is taken of. */
typedef enum measure {
    MEASURE_BLEU, MEASURE_NIST, MEASURE_HELDOUT, MEASURE_FLOPS, MEASURE_SECONDS, MEASURE_VAL_LOSS,
    MEASURE_GAP /* BLEU minus the dense baseline's of the same size, task and seed */
} measure;

static double value_of(const experiment_outputs *o, int cell, measure m)
{
    const cell_result *r = &o->results[cell];
    switch (m) {
    case MEASURE_BLEU: return r->bleu;
    case MEASURE_NIST: return r->nist;
    case MEASURE_HELDOUT: return r->heldout_loss;
    case MEASURE_FLOPS: return r->flops;
    case MEASURE_SECONDS: return r->train_seconds;
    case MEASURE_VAL_LOSS: return r->val_loss;
    case MEASURE_GAP: break;
    }
    return NAN;
}

/* The index of sparsity 0 in the grid, or -1. */
static int dense_index(const experiment_grid *g)
{
    for (int i = 0; i < g->sparsity_count; i++)
        if (g->sparsities[i] == 0) return i;
    return -1;
}

/* The index of the dense mode in the grid, or -1. */
static int dense_mode_index(const experiment_grid *g)
{
    for (int i = 0; i < g->mode_count; i++)
        if (g->modes[i] == MODE_DENSE) return i;
    return -1;
}

/* A measure over the seeds of (size, sparsity[, task, mode]); the gap pairs each seed with the
 * baseline of the same seed. */
static stats over_seeds(const experiment_outputs *o, measure m, int kind, int size, int sparsity, int task, int mode)
{
    double values[GRID_MAX_VALUES];
    int n = 0;
    const int dense = dense_index(o->grid), dense_mode = dense_mode_index(o->grid);
    for (int seed = 0; seed < o->grid->seed_count; seed++) {
        const int cell = find_cell(o, kind, size, sparsity, seed, task, mode);
        if (cell < 0) continue;
        if (m != MEASURE_GAP) {
            values[n++] = value_of(o, cell, m);
            continue;
        }
        const int base = dense < 0 || dense_mode < 0 ? -1 : find_cell(o, kind, size, dense, seed, task, dense_mode);
        if (base >= 0) values[n++] = o->results[cell].bleu - o->results[base].bleu;
    }
    return stats_of(values, n);
}

enum { STATS_TEXT = 96 };

/* "0.5120 ± 0.0130" (with `signed_mean`: "+0.5120 ± 0.0130"), "0.5120" (one seed) or "-". */
static void format_stats(char out[STATS_TEXT], stats s, int decimals, int signed_mean)
{
    if (s.n == 0 || isnan(s.mean)) {
        snprintf(out, STATS_TEXT, "-");
        return;
    }
    const int n = signed_mean ? snprintf(out, STATS_TEXT, "%+.*f", decimals, s.mean)
                              : snprintf(out, STATS_TEXT, "%.*f", decimals, s.mean);
    if (!isnan(s.sd) && n > 0 && n < 48) snprintf(out + n, STATS_TEXT - (size_t)n, " ± %.*f", decimals, s.sd);
}

static double block_weights(const experiment_grid *g, int size)
{
    spdf_model_config config;
    spdf_model_config_init(&config);
    config.num_layers = g->sizes[size].layers;
    config.channels = g->sizes[size].width;
    config.num_heads = g->sizes[size].heads;
    config.vocab_size = g->vocab;
    config.max_seq_len = g->pretrain_context;
    spdf_flop_report report;
    memset(&report, 0, sizeof report);
    report.struct_size = sizeof report;
    if (spdf_flops(&config, g->pretrain_context, g->pretrain_batch, 0, &report) != SPDF_OK) return NAN;
    return report.block_weights;
}

/* ---- results.md ---- */

static void markdown_settings(const experiment_outputs *o, FILE *out)
{
    const experiment_grid *g = o->grid;
    int done = 0;
    for (int i = 0; i < o->cell_count; i++) done += o->results[i].done;
    fprintf(out, "# spdf experiment: results\n\n");
    fprintf(out, "```sh\n%s\n```\n\n", o->command_line);
    fprintf(out, "%d of %d cells done. Wall-clock times measured on %s with %d threads (other work on the "
                 "machine slows them down; FLOPs, losses and BLEU do not depend on it). Means over seeds "
                 "± the sample standard deviation.\n\n", done, o->cell_count, o->cpu, (int)o->threads);
    fprintf(out, "| | |\n| --- | --- |\n| model sizes (layers x width x heads) |");
    for (int i = 0; i < g->size_count; i++)
        fprintf(out, "%s %dx%dx%d (%.2fM block weights)", i ? "," : "", (int)g->sizes[i].layers,
                (int)g->sizes[i].width, (int)g->sizes[i].heads, block_weights(g, i) / 1e6);
    fprintf(out, " |\n| sparsities (%s mask) |", cli_mask_method_names[g->mask]);
    for (int i = 0; i < g->sparsity_count; i++) fprintf(out, "%s %g", i ? "," : "", (double)g->sparsities[i]);
    fprintf(out, " |\n| seeds |");
    for (int i = 0; i < g->seed_count; i++) fprintf(out, "%s %lld", i ? "," : "", (long long)g->seeds[i]);
    const int32_t steps = grid_pretrain_steps(g);
    fprintf(out, " |\n| pre-training | %lld tokens for every size: %d steps of %d x %d tokens, lr %g, warmup %d; "
                 "Tiny Shakespeare + WikiText-2 (valid, test): %lld training tokens, the last %lld held out |\n",
            (long long)steps * g->pretrain_batch * g->pretrain_context, (int)steps, (int)g->pretrain_batch,
            (int)g->pretrain_context, (double)g->pretrain_lr, (int)g->pretrain_warmup,
            (long long)o->corpus_train_tokens, (long long)o->corpus_val_tokens);
    fprintf(out, "| fine-tuning | %d steps of %d sequences (at most %d tokens), lr %g, warmup %d |\n",
            (int)g->finetune_steps, (int)g->finetune_batch, (int)g->finetune_context, (double)g->finetune_lr,
            (int)g->finetune_warmup);
    for (int t = 0; t < g->task_count; t++) {
        const int id = g->tasks[t];
        fprintf(out, "| %s | %lld training sequences; BLEU on the first %lld test inputs, each against all its "
                     "references, greedy decoding of at most %d tokens |\n", experiment_task_names[id],
                (long long)o->train_examples[id], (long long)o->eval_items[id], (int)g->max_new);
    }
    fprintf(out, "| tokenizer | byte-level BPE, %d ids, trained on the pre-training text and the tasks' training "
                 "pairs |\n\n", (int)g->vocab);
}

static void markdown_pretraining(const experiment_outputs *o, FILE *out)
{
    const experiment_grid *g = o->grid;
    const int dense = dense_index(g);
    fprintf(out, "## Pre-training\n\n| size | sparsity | FLOPs | FLOPs, dense / this | wall-clock (s) | "
                 "wall-clock, this / dense | validation loss (nats/token) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int size = 0; size < g->size_count; size++)
        for (int sp = 0; sp < g->sparsity_count; sp++) {
            const stats flops = over_seeds(o, MEASURE_FLOPS, CELL_PRETRAIN, size, sp, 0, 0);
            if (flops.n == 0) continue;
            const stats seconds = over_seeds(o, MEASURE_SECONDS, CELL_PRETRAIN, size, sp, 0, 0);
            const stats loss = over_seeds(o, MEASURE_VAL_LOSS, CELL_PRETRAIN, size, sp, 0, 0);
            const stats dense_flops = dense < 0 ? (stats){0} : over_seeds(o, MEASURE_FLOPS, CELL_PRETRAIN, size, dense, 0, 0);
            const stats dense_seconds = dense < 0 ? (stats){0}
                                                  : over_seeds(o, MEASURE_SECONDS, CELL_PRETRAIN, size, dense, 0, 0);
            char time[STATS_TEXT], val[STATS_TEXT], ratio[32] = "-", time_ratio[32] = "-";
            format_stats(time, seconds, 1, 0);
            format_stats(val, loss, 4, 0);
            if (dense_flops.n) snprintf(ratio, sizeof ratio, "%.2fx", dense_flops.mean / flops.mean);
            if (dense_seconds.n) snprintf(time_ratio, sizeof time_ratio, "%.2f", seconds.mean / dense_seconds.mean);
            fprintf(out, "| %dx%dx%d | %g | %.3g | %s | %s | %s | %s |\n", (int)g->sizes[size].layers,
                    (int)g->sizes[size].width, (int)g->sizes[size].heads, (double)g->sparsities[sp], flops.mean, ratio,
                    time, time_ratio, val);
        }
    fprintf(out, "\n");
}

static void markdown_task(const experiment_outputs *o, int task, FILE *out)
{
    const experiment_grid *g = o->grid;
    fprintf(out, "### %s\n\n| size | sparsity | fine-tuning | BLEU | gap to dense | NIST | held-out loss |\n"
                 "| --- | ---: | --- | ---: | ---: | ---: | ---: |\n", experiment_task_names[g->tasks[task]]);
    for (int size = 0; size < g->size_count; size++)
        for (int sp = 0; sp < g->sparsity_count; sp++)
            for (int mode = 0; mode < g->mode_count; mode++) {
                const stats bleu = over_seeds(o, MEASURE_BLEU, CELL_FINETUNE, size, sp, task, mode);
                if (bleu.n == 0) continue;
                const int baseline = g->sparsities[sp] == 0;
                const grid_cell probe = {.kind = CELL_FINETUNE, .sparsity = sp, .mode = mode};
                char b[STATS_TEXT], gap[STATS_TEXT], nist[STATS_TEXT], loss[STATS_TEXT];
                format_stats(b, bleu, 4, 0);
                format_stats(nist, over_seeds(o, MEASURE_NIST, CELL_FINETUNE, size, sp, task, mode), 3, 0);
                format_stats(loss, over_seeds(o, MEASURE_HELDOUT, CELL_FINETUNE, size, sp, task, mode), 4, 0);
                if (baseline) snprintf(gap, sizeof gap, "0");
                else format_stats(gap, over_seeds(o, MEASURE_GAP, CELL_FINETUNE, size, sp, task, mode), 4, 1);
                fprintf(out, "| %dx%dx%d | %g | %s | %s | %s | %s | %s |\n", (int)g->sizes[size].layers,
                        (int)g->sizes[size].width, (int)g->sizes[size].heads, (double)g->sparsities[sp],
                        variant_title(variant_of(g, &probe)), b, gap, nist, loss);
            }
    fprintf(out, "\n");
}

/* The gap to dense of every sparse variant, a column per size: does it shrink as models grow? */
static void markdown_gaps(const experiment_outputs *o, FILE *out)
{
    const experiment_grid *g = o->grid;
    fprintf(out, "## Gap to dense against model size\n\nBLEU of the variant minus BLEU of the dense baseline of "
                 "the same size, task and seed.\n\n| task | sparsity | fine-tuning |");
    for (int size = 0; size < g->size_count; size++)
        fprintf(out, " %dx%dx%d |", (int)g->sizes[size].layers, (int)g->sizes[size].width, (int)g->sizes[size].heads);
    fprintf(out, "\n| --- | ---: | --- |");
    for (int size = 0; size < g->size_count; size++) fprintf(out, " ---: |");
    fprintf(out, "\n");
    for (int task = 0; task < g->task_count; task++)
        for (int sp = 0; sp < g->sparsity_count; sp++)
            for (int mode = 0; mode < g->mode_count; mode++) {
                if (g->sparsities[sp] == 0) continue;
                const grid_cell probe = {.kind = CELL_FINETUNE, .sparsity = sp, .mode = mode};
                fprintf(out, "| %s | %g | %s |", experiment_task_names[g->tasks[task]], (double)g->sparsities[sp],
                        variant_title(variant_of(g, &probe)));
                for (int size = 0; size < g->size_count; size++) {
                    char gap[STATS_TEXT];
                    format_stats(gap, over_seeds(o, MEASURE_GAP, CELL_FINETUNE, size, sp, task, mode), 4, 1);
                    fprintf(out, " %s |", gap);
                }
                fprintf(out, "\n");
            }
    fprintf(out, "\n![BLEU against sparsity](bleu.svg)\n\n![Gap to dense against model size](gap.svg)\n\n"
                 "![Pre-training FLOPs and wall-clock](pretrain.svg)\n");
}

static int write_markdown(const experiment_outputs *o)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out) return memory_failed();
    markdown_settings(o, out);
    markdown_pretraining(o, out);
    fprintf(out, "## BLEU after fine-tuning\n\n");
    for (int task = 0; task < o->grid->task_count; task++) markdown_task(o, task, out);
    markdown_gaps(o, out);
    return finish_file(o, "results.md", out, &text);
}

/* ---- the plots ---- */

static const char *mode_dash(int mode_kind)
{
    return mode_kind == MODE_SPARSE ? "6,4" : NULL;
}

/* Panels side by side, each 330 wide, their data range reset. */
static panel panel_at(int index)
{
    panel p = {.left = 75 + 400 * index, .top = 40, .width = 330, .height = 300};
    range_reset(&p);
    return p;
}

/* A drawing with a panel per task. */
static void begin_task_panels(const experiment_outputs *o, FILE *out)
{
    svg_begin(out, 400 * o->grid->task_count + 40, 420);
}

static void widen_x(panel *p)
{
    p->xmax *= 1.05;
}

/* BLEU against sparsity (%): a curve per size and mode, both starting at the dense baseline. */
static void plot_bleu(const experiment_outputs *o, FILE *out)
{
    const experiment_grid *g = o->grid;
    const int dense = dense_index(g), dense_mode = dense_mode_index(g);
    begin_task_panels(o, out);
    for (int task = 0; task < g->task_count; task++) {
        curve curves[GRID_MAX_VALUES][2];
        memset(curves, 0, sizeof curves);
        panel p = panel_at(task);
        for (int size = 0; size < g->size_count; size++)
            for (int mode = 0; mode < g->mode_count; mode++) {
                curve *c = &curves[size][mode];
                for (int sp = 0; sp < g->sparsity_count; sp++) {
                    const int from_baseline = sp == dense && g->modes[mode] == MODE_SPARSE;
                    const stats s = over_seeds(o, MEASURE_BLEU, CELL_FINETUNE, size, sp, task,
                                               from_baseline ? dense_mode : mode);
                    if (s.n && (!from_baseline || dense_mode >= 0))
                        curve_add(c, (int64_t)lround(g->sparsities[sp] * 100), s.mean);
                }
                range_extend(&p, c, NULL, 1);
            }
        range_finish(&p);
        widen_x(&p);
        char title[64];
        snprintf(title, sizeof title, "%s: BLEU against sparsity", experiment_task_names[g->tasks[task]]);
        draw_axes(out, &p, title, "pre-training sparsity (%)", "BLEU (mean over seeds)");
        legend_box(out, &p, g->size_count * g->mode_count);
        int row = 0;
        for (int size = 0; size < g->size_count; size++)
            for (int mode = 0; mode < g->mode_count; mode++) {
                const char *color = size_colors[size % COLOR_COUNT];
                draw_curve(out, &p, &curves[size][mode], NULL, 1, color, mode_dash(g->modes[mode]));
                draw_points(out, &p, &curves[size][mode], color);
                char text[64];
                snprintf(text, sizeof text, "%dx%d, %s fine-tuning", (int)g->sizes[size].layers,
                         (int)g->sizes[size].width, experiment_mode_names[g->modes[mode]]);
                legend_entry(out, &p, row++, color, mode_dash(g->modes[mode]), 1, text);
                curve_free(&curves[size][mode]);
            }
    }
    fputs("</svg>\n", out);
}

/* The gap to dense against the block weights of the model (thousands): a curve per sparsity and
 * mode. */
static void plot_gap(const experiment_outputs *o, FILE *out)
{
    const experiment_grid *g = o->grid;
    begin_task_panels(o, out);
    for (int task = 0; task < g->task_count; task++) {
        curve curves[GRID_MAX_VALUES][2];
        memset(curves, 0, sizeof curves);
        panel p = panel_at(task);
        int rows = 0;
        for (int sp = 0; sp < g->sparsity_count; sp++)
            for (int mode = 0; mode < g->mode_count; mode++) {
                if (g->sparsities[sp] == 0) continue;
                rows++;
                for (int size = 0; size < g->size_count; size++) {
                    const stats s = over_seeds(o, MEASURE_GAP, CELL_FINETUNE, size, sp, task, mode);
                    if (s.n) curve_add(&curves[sp][mode], (int64_t)lround(block_weights(g, size) / 1000), s.mean);
                }
                range_extend(&p, &curves[sp][mode], NULL, 1);
            }
        range_finish(&p);
        widen_x(&p);
        char title[64];
        snprintf(title, sizeof title, "%s: gap to dense against size", experiment_task_names[g->tasks[task]]);
        draw_axes(out, &p, title, "block weights (thousands)", "BLEU minus dense BLEU");
        legend_box(out, &p, rows);
        int row = 0;
        for (int sp = 0; sp < g->sparsity_count; sp++)
            for (int mode = 0; mode < g->mode_count; mode++) {
                if (g->sparsities[sp] == 0) continue;
                const char *color = size_colors[(sp + 3) % COLOR_COUNT];
                draw_curve(out, &p, &curves[sp][mode], NULL, 1, color, mode_dash(g->modes[mode]));
                draw_points(out, &p, &curves[sp][mode], color);
                char text[64];
                snprintf(text, sizeof text, "%g %% sparse, %s fine-tuning", (double)g->sparsities[sp] * 100,
                         experiment_mode_names[g->modes[mode]]);
                legend_entry(out, &p, row++, color, mode_dash(g->modes[mode]), 1, text);
                curve_free(&curves[sp][mode]);
            }
    }
    fputs("</svg>\n", out);
}

/* Pre-training wall-clock seconds and FLOPs against sparsity, a curve per size. */
static void plot_pretraining(const experiment_outputs *o, FILE *out)
{
    const experiment_grid *g = o->grid;
    svg_begin(out, 840, 420);
    for (int which = 0; which < 2; which++) {
        const measure m = which ? MEASURE_FLOPS : MEASURE_SECONDS;
        curve curves[GRID_MAX_VALUES];
        memset(curves, 0, sizeof curves);
        panel p = panel_at(which);
        for (int size = 0; size < g->size_count; size++) {
            for (int sp = 0; sp < g->sparsity_count; sp++) {
                const stats s = over_seeds(o, m, CELL_PRETRAIN, size, sp, 0, 0);
                if (s.n) curve_add(&curves[size], (int64_t)lround(g->sparsities[sp] * 100), which ? s.mean / 1e12 : s.mean);
            }
            range_extend(&p, &curves[size], NULL, 1);
        }
        range_finish(&p);
        if (p.ymin > 0) p.ymin = 0;
        widen_x(&p);
        draw_axes(out, &p, which ? "Pre-training FLOPs" : "Pre-training wall-clock", "sparsity (%)",
                  which ? "training FLOPs (10^12)" : "seconds (mean over seeds)");
        legend_box(out, &p, g->size_count);
        for (int size = 0; size < g->size_count; size++) {
            const char *color = size_colors[size % COLOR_COUNT];
            draw_curve(out, &p, &curves[size], NULL, 1, color, NULL);
            draw_points(out, &p, &curves[size], color);
            char text[64];
            snprintf(text, sizeof text, "%dx%dx%d", (int)g->sizes[size].layers, (int)g->sizes[size].width,
                     (int)g->sizes[size].heads);
            legend_entry(out, &p, size, color, NULL, 1, text);
            curve_free(&curves[size]);
        }
    }
    fputs("</svg>\n", out);
}

static int write_plot(const experiment_outputs *o, const char *name, void (*plot)(const experiment_outputs *, FILE *))
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out) return memory_failed();
    plot(o, out);
    return finish_file(o, name, out, &text);
}

int experiment_write_outputs(const experiment_outputs *o)
{
    int code = write_jsonl(o, 0);
    if (code == EXIT_OK) code = write_jsonl(o, 1);
    if (code == EXIT_OK) code = write_markdown(o);
    if (code == EXIT_OK) code = write_plot(o, "bleu.svg", plot_bleu);
    if (code == EXIT_OK) code = write_plot(o, "gap.svg", plot_gap);
    if (code == EXIT_OK) code = write_plot(o, "pretrain.svg", plot_pretraining);
    return code;
}
