/* The demo's outputs for people: an aligned table (stdout and report.md), report.md with the
 * settings and sample outputs, and loss.svg drawn by hand (axes, ticks, curves, legends). */
#include "report.h"
#include "svg_plot.h"

#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table ---- */

enum { COLUMNS = 8, CELL = 64 };

static const char *const headers[COLUMNS] = {
    "variant", "pre-training FLOPs", "pre-training time", "fine-tuning time", "pre-training val loss",
    "fine-tuning loss", "BLEU", "NIST",
};

static void format_loss(char *cell, double value)
{
    if (isnan(value)) snprintf(cell, CELL, "-");
    else snprintf(cell, CELL, "%.4f", value);
}

static void row_cells(const demo_variant *v, char cells[COLUMNS][CELL])
{
    snprintf(cells[0], CELL, "%s", v->label);
    if (v->trained) {
        snprintf(cells[1], CELL, "%.3g", v->pretrain_flops);
        snprintf(cells[2], CELL, "%.0f s", v->pretrain_seconds);
        snprintf(cells[3], CELL, "%.0f s", v->finetune_seconds);
        format_loss(cells[4], v->pretrain_val_loss);
        format_loss(cells[5], v->finetune_loss);
    } else {
        for (int c = 1; c < 6; c++) snprintf(cells[c], CELL, "-");
    }
    snprintf(cells[6], CELL, "%.4f", v->scores.bleu);
    snprintf(cells[7], CELL, "%.4f", v->scores.nist);
}

void report_print_table(const demo_report *r, FILE *out)
{
    int widths[COLUMNS];
    char (*cells)[COLUMNS][CELL] = calloc((size_t)r->variant_count, sizeof *cells);
    if (!cells) return;
    for (int c = 0; c < COLUMNS; c++) widths[c] = (int)strlen(headers[c]);
    for (int i = 0; i < r->variant_count; i++) {
        row_cells(&r->variants[i], cells[i]);
        for (int c = 0; c < COLUMNS; c++)
            if ((int)strlen(cells[i][c]) > widths[c]) widths[c] = (int)strlen(cells[i][c]);
    }
    fputc('|', out);
    for (int c = 0; c < COLUMNS; c++) fprintf(out, " %-*s |", widths[c], headers[c]);
    fputs("\n|", out);
    for (int c = 0; c < COLUMNS; c++) {
        fputc(' ', out);
        for (int k = 0; k < widths[c] - (c > 0); k++) fputc('-', out);
        fputs(c > 0 ? ": |" : " |", out);
    }
    fputc('\n', out);
    for (int i = 0; i < r->variant_count; i++) {
        fputc('|', out);
        for (int c = 0; c < COLUMNS; c++)
            fprintf(out, c == 0 ? " %-*s |" : " %*s |", widths[c], cells[i][c]);
        fputc('\n', out);
    }
    free(cells);
}

/* ---- report.md ---- */

static void write_settings(const demo_report *r, FILE *out)
{
    const demo_config *c = r->config;
    fprintf(out, "## Settings (`--size %s`)\n\n", c->size_name);
    fprintf(out, "| | |\n| --- | --- |\n");
    fprintf(out, "| model | GPT-2 style, %d layers, %d heads, width %d, %d positions, vocabulary %d (byte-level BPE "
                 "trained on both corpora, `tokenizer.bin`) |\n",
            (int)c->layers, (int)c->heads, (int)c->width, (int)c->positions, (int)c->vocab);
    fprintf(out, "| pre-training data | `tinyshakespeare/input.txt`: %lld training tokens, the last "
                 "%lld held out for validation |\n", (long long)r->corpus_train_tokens,
            (long long)r->corpus_val_tokens);
    fprintf(out, "| pre-training | %d steps of %d x %d tokens, AdamW lr %g, %d warmup steps, cosine to 10 %%, "
                 "same seed and data order for both runs |\n", (int)c->pretrain_steps, (int)c->pretrain_batch,
            (int)c->pretrain_context, (double)c->pretrain_lr, (int)c->pretrain_warmup);
    fprintf(out, "| sparsity | %.0f %% uniform random, static, exact count per layer, on the 4 linear weights of "
                 "every block |\n", (double)c->sparsity * 100);
    fprintf(out, "| fine-tuning data | `e2e/trainset.csv`: %lld (MR, reference) pairs, %lld truncated to %d tokens |\n",
            (long long)r->train_examples, (long long)r->train_truncated, (int)c->finetune_context + 1);
    fprintf(out, "| fine-tuning | %d steps of %d x %d tokens, lr %g, %d warmup steps, schedule restarted, "
                 "moments kept; loss on the reference and end token only |\n", (int)c->finetune_steps,
            (int)c->finetune_batch, (int)c->finetune_context, (double)c->finetune_lr, (int)c->finetune_warmup);
    fprintf(out, "| evaluation | the first %lld distinct MRs of `e2e/testset_w_refs.csv`, greedy decoding of "
                 "MR + newline (at most %d tokens), BLEU and NIST as the E2E scorer computes them against "
                 "all references of each MR |\n", (long long)r->eval_items, (int)c->max_new);
    fprintf(out, "| compute | backend `%s`, %d threads |\n\n", c->backend, (int)c->threads);
}

static void write_samples(const demo_report *r, FILE *out, int count)
{
    fprintf(out, "## Sample outputs\n\nThe first %d evaluation MRs, with their first reference.\n\n", count);
    for (int64_t i = 0; i < count && i < r->eval_items; i++) {
        const char *mr = NULL, *ref = NULL;
        spdf_task_data_prompt(r->test, i, &mr);
        spdf_task_data_reference(r->test, i, 0, &ref);
        fprintf(out, "**MR %lld:** `%s`\n\n- *reference:* %s\n", (long long)i + 1, mr, ref);
        for (int v = 0; v < r->variant_count; v++)
            fprintf(out, "- *%s:* %s\n", r->variants[v].label, r->variants[v].hyps ? r->variants[v].hyps[i] : "");
        fputc('\n', out);
    }
}

int report_write_markdown(const demo_report *r, const char *path)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    fprintf(out, "# SPDF in miniature: sparse pre-training, dense fine-tuning\n\n");
    fprintf(out, "A small GPT with a byte-level BPE tokenizer is pre-trained on Tiny Shakespeare twice from the same initialisation, "
                 "densely and with %.0f %% static random sparsity, then fine-tuned on the E2E NLG restaurant "
                 "task and scored with BLEU and NIST. This follows the experiment of Thangarasa et al., "
                 "*SPDF: Sparse Pre-training and Dense Fine-tuning for Large Language Models* "
                 "(arXiv:2303.10464), at a scale that runs on two CPU cores.\n\n", (double)r->config->sparsity * 100);
    fprintf(out, "Command:\n\n```sh\n%s\n```\n\nTotal wall time: %.0f s.\n\n## Results\n\n", r->command_line,
            r->total_seconds);
    report_print_table(r, out);
    fprintf(out, "\n- *pre-training FLOPs*: training FLOPs of the whole pre-training run as `spdf_model_flops` "
                 "counts them for the model in its pre-training phase (2 x non-zero block weights + attention "
                 "+ LM head per token, x 3 for training). The two sparse-pre-trained rows share one run.\n"
                 "- *pre-training val loss*: mean cross-entropy in nats per BPE token on the held-out end of "
                 "the corpus after pre-training.\n"
                 "- *fine-tuning loss*: mean cross-entropy per target token (reference and end token) on all "
                 "references of the evaluation MRs after fine-tuning: a held-out loss.\n"
                 "- *copy the MR*: the hypothesis is the MR with its brackets turned into words, "
                 "`name[The Eagle], food[French]` -> `name The Eagle, food French`; a floor any useful model "
                 "should beat.\n"
                 "- Wall times are this run's, on its backend and machine, with whatever else the machine ran; "
                 "the plot beside the step plot shows the pre-training losses against them.\n");
    const demo_variant *dense_run = NULL, *sparse_run = NULL;
    for (int v = 0; v < r->variant_count; v++) {
        const demo_variant *x = &r->variants[v];
        if (!x->trained) continue;
        if (!dense_run) dense_run = x;
        else if (!sparse_run && x->pretrain_curve != dense_run->pretrain_curve) sparse_run = x;
    }
    if (dense_run && sparse_run && dense_run->pretrain_seconds > 0 && dense_run->pretrain_flops > 0)
        fprintf(out, "- **Sparse pre-training took %.0f s against %.0f s dense: %.2fx the time, for %.2fx the "
                     "FLOPs** (%.2fx faster).\n",
                sparse_run->pretrain_seconds, dense_run->pretrain_seconds,
                sparse_run->pretrain_seconds / dense_run->pretrain_seconds,
                sparse_run->pretrain_flops / dense_run->pretrain_flops,
                dense_run->pretrain_seconds / sparse_run->pretrain_seconds);
    int beaten = 0, trained = 0;
    double baseline = -1;
    for (int v = 0; v < r->variant_count; v++) {
        if (!r->variants[v].trained) baseline = r->variants[v].scores.bleu;
        else trained++;
    }
    for (int v = 0; v < r->variant_count; v++)
        if (r->variants[v].trained && r->variants[v].scores.bleu > baseline) beaten++;
    if (baseline >= 0 && beaten == 0 && trained > 0)
        fprintf(out, "- No fine-tuned model beats copying the MR at this budget: a model this small has to learn "
                     "spelling, words and copying the slot values first, which takes far more steps than this "
                     "run has (try `--size base`, or more `--steps` and `--finetune-steps`). The losses show the "
                     "SPDF comparison meanwhile.\n");
    fputc('\n', out);
    fprintf(out, "Fine-tuning training loss (mean over the last tenth of the steps):");
    for (int v = 0; v < r->variant_count; v++)
        if (r->variants[v].trained)
            fprintf(out, " %s %.4f%s", r->variants[v].label, r->variants[v].finetune_train_loss,
                    v + 1 < r->variant_count ? ";" : ".");
    fprintf(out, "\n\n![Pre-training and fine-tuning loss](loss.svg)\n\n");
    write_settings(r, out);
    write_samples(r, out, 5);
    fprintf(out, "## Data\n\nTiny Shakespeare (public domain; github.com/karpathy/char-rnn). E2E NLG Challenge "
                 "data (Novikova, Dušek & Rieser, SIGDIAL 2017; CC BY-SA 4.0): the demo fine-tunes on the first "
                 "10,000 pairs of the training set, rebuilt from its tokenised copy (`scripts/e2e_trainset.py`, "
                 "`examples/data/e2e/README.md`), and evaluates on MRs of the test set.\n\n"
                 "Per-step metrics of every run are in `metrics.jsonl`.\n");
    if (fclose(out) != 0) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    return EXIT_OK;
}

/* ---- loss.svg ---- */

int report_write_svg(const demo_report *r, const char *path)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    const int width = 1470, height = 420;
    svg_begin(out, width, height);
    /* left: pre-training (dense and sparse runs) against steps; middle: the same against wall
     * seconds; right: fine-tuning of every trained variant */
    const demo_variant *dense = NULL, *sparse = NULL;
    for (int i = 0; i < r->variant_count; i++) {
        const demo_variant *v = &r->variants[i];
        if (!v->trained || !v->pretrain_curve) continue;
        if (!dense) dense = v;
        else if (!sparse && v->pretrain_curve != dense->pretrain_curve) sparse = v;
    }
    const int pre_window = r->config->pretrain_steps / 25 + 1, ft_window = r->config->finetune_steps / 25 + 1;
    const curve *pre[4] = {dense ? dense->pretrain_curve : NULL, sparse ? sparse->pretrain_curve : NULL,
                           dense ? dense->pretrain_val_curve : NULL, sparse ? sparse->pretrain_val_curve : NULL};
    const curve *clock[2] = {dense ? dense->pretrain_elapsed : NULL, sparse ? sparse->pretrain_elapsed : NULL};
    const char *const pre_colors[2] = {"#1f77b4", "#d62728"};
    const char *const pre_names[2] = {"dense", "sparse"};
    for (int over_time = 0; over_time <= 1; over_time++) {
        panel pp = {.left = over_time ? 565 : 75, .top = 40, .width = 380, .height = 310};
        range_reset(&pp);
        for (int k = 0; k < 2; k++) range_extend(&pp, pre[k], over_time ? clock[k] : NULL, pre_window);
        if (!over_time)
            for (int k = 2; k < 4; k++) range_extend(&pp, pre[k], NULL, 1);
        range_finish(&pp);
        draw_axes(out, &pp, over_time ? "Pre-training against wall-clock time" : "Pre-training on Tiny Shakespeare",
                  over_time ? "seconds" : "step", "loss (nats per token)");
        legend_box(out, &pp, over_time ? (pre[0] != NULL) + (pre[1] != NULL) : (pre[0] ? 2 : 0) + (pre[1] ? 2 : 0));
        for (int k = 0; k < 2; k++) {
            if (!pre[k]) continue;
            char text[96];
            draw_curve(out, &pp, pre[k], over_time ? clock[k] : NULL, pre_window, pre_colors[k], NULL);
            if (over_time) {
                const double seconds = clock[k] && clock[k]->count ? clock[k]->values[clock[k]->count - 1] : 0;
                snprintf(text, sizeof text, "%s: training (%.0f s)", pre_names[k], seconds);
                legend_entry(out, &pp, k, pre_colors[k], NULL, 0, text);
                continue;
            }
            draw_curve(out, &pp, pre[k + 2], NULL, 1, pre_colors[k], "4 3");
            draw_points(out, &pp, pre[k + 2], pre_colors[k]);
            snprintf(text, sizeof text, "%s: training (smoothed)", pre_names[k]);
            legend_entry(out, &pp, 2 * k, pre_colors[k], NULL, 0, text);
            snprintf(text, sizeof text, "%s: validation", pre_names[k]);
            legend_entry(out, &pp, 2 * k + 1, pre_colors[k], "4 3", 1, text);
        }
    }
    panel right = {.left = 1055, .top = 40, .width = 380, .height = 310};
    range_reset(&right);
    for (int i = 0; i < r->variant_count; i++)
        if (r->variants[i].trained) range_extend(&right, r->variants[i].finetune_curve, NULL, ft_window);
    range_finish(&right);
    draw_axes(out, &right, "Fine-tuning on E2E", "step", "loss on target tokens (nats)");
    int row = 0, trained = 0;
    for (int i = 0; i < r->variant_count; i++) trained += r->variants[i].trained;
    legend_box(out, &right, trained);
    for (int i = 0; i < r->variant_count; i++) {
        const demo_variant *v = &r->variants[i];
        if (!v->trained) continue;
        draw_curve(out, &right, v->finetune_curve, NULL, ft_window, v->color, NULL);
        legend_entry(out, &right, row++, v->color, NULL, 0, v->label);
    }
    char note[160];
    snprintf(note, sizeof note, "training losses as moving averages over %d and %d steps", pre_window, ft_window);
    svg_text(out, width / 2.0, height - 12, "middle", 11, note, " fill=\"#555\"");
    fputs("</svg>\n", out);
    if (fclose(out) != 0) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    return EXIT_OK;
}
