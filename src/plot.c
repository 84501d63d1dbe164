/* `spdf plot METRICS.jsonl`: the loss and learning-rate curves of any run's metrics log (pretrain,
 * finetune, demo) as an SVG, drawn as the demo draws its loss.svg. */
#include "cli.h"
#include "options.h"
#include "svg_plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_RUNS = 8, NAME_SIZE = 64 };

/* The curves of one "run" label of the log. */
typedef struct run_curves {
    char name[NAME_SIZE];
    curve loss, val_loss, lr;
} run_curves;

/* The value text of "key" in one flat JSON object line as our writer prints it ("key": value),
 * or NULL. */
static const char *field(const char *line, const char *key)
{
    const size_t length = strlen(key);
    for (const char *at = strchr(line, '"'); at; at = strchr(at + 1, '"')) {
        if (strncmp(at + 1, key, length) != 0 || at[1 + length] != '"') continue;
        const char *value = at + 2 + length;
        while (*value == ' ') value++;
        if (*value++ != ':') continue;
        while (*value == ' ') value++;
        return value;
    }
    return NULL;
}

static int number_field(const char *line, const char *key, double *value)
{
    const char *text = field(line, key);
    if (!text) return 0;
    char *end = NULL;
    errno = 0;
    *value = strtod(text, &end);
    return end != text && !errno && isfinite(*value);
}

/* A string field without escapes (run labels are plain words); 0 when absent or too long. */
static int string_field(const char *line, const char *key, char *out, size_t size)
{
    const char *text = field(line, key);
    if (!text || *text != '"') return 0;
    const char *end = strchr(text + 1, '"');
    if (!end || (size_t)(end - text - 1) >= size || memchr(text + 1, '\\', (size_t)(end - text - 1))) return 0;
    memcpy(out, text + 1, (size_t)(end - text - 1));
    out[end - text - 1] = '\0';
    return 1;
}

static run_curves *run_named(run_curves *runs, int *count, const char *name)
{
    for (int i = 0; i < *count; i++)
        if (strcmp(runs[i].name, name) == 0) return &runs[i];
    if (*count == MAX_RUNS) return NULL;
    run_curves *r = &runs[(*count)++];
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

/* One line of the log: step and eval records add points; other events are skipped.  Returns 0,
 * or -1 for a line that is not one of the log's records. */
static int read_record(const char *line, run_curves *runs, int *count)
{
    char event[NAME_SIZE], name[NAME_SIZE] = "run";
    if (line[0] != '{' || !string_field(line, "event", event, sizeof event)) return -1;
    const int is_step = strcmp(event, "step") == 0, is_eval = strcmp(event, "eval") == 0;
    if (!is_step && !is_eval) return 0;
    string_field(line, "run", name, sizeof name);
    double step = 0, loss = 0, lr = 0;
    if (!number_field(line, "step", &step)) return -1;
    run_curves *r = run_named(runs, count, name);
    if (!r) return 0; /* more runs than colours: the first ones are drawn */
    if (is_eval) {
        if (number_field(line, "val_loss", &loss)) curve_add(&r->val_loss, (int64_t)step, loss);
        return 0;
    }
    if (!number_field(line, "loss", &loss)) return -1;
    curve_add(&r->loss, (int64_t)step, loss);
    if (number_field(line, "lr", &lr)) curve_add(&r->lr, (int64_t)step, lr);
    return 0;
}

/* "name: what", cut to fit (without snprintf's %s, which GCC cannot bound here). */
static void legend_text(char *out, size_t size, const char *name, const char *what)
{
    size_t n = strlen(name);
    if (n > size - 1) n = size - 1;
    memcpy(out, name, n);
    size_t m = strlen(what);
    if (m > size - 1 - n) m = size - 1 - n;
    memcpy(out + n, what, m);
    out[n + m] = '\0';
}

static const char *const colors[MAX_RUNS] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                             "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

static int write_plot(const run_curves *runs, int count, const char *title, const char *path)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    const int width = 980, height = 420;
    svg_begin(out, width, height);
    int longest = 1, rows = 0;
    for (int i = 0; i < count; i++) {
        if (runs[i].loss.count > longest) longest = runs[i].loss.count;
        rows += 1 + (runs[i].val_loss.count > 0);
    }
    const int window = longest / 25 + 1;
    panel loss = {.left = 75, .top = 40, .width = 380, .height = 310};
    range_reset(&loss);
    for (int i = 0; i < count; i++) {
        range_extend(&loss, &runs[i].loss, NULL, window);
        range_extend(&loss, &runs[i].val_loss, NULL, 1);
    }
    range_finish(&loss);
    draw_axes(out, &loss, title, "step", "loss (nats per token)");
    legend_box(out, &loss, rows);
    int row = 0;
    for (int i = 0; i < count; i++) {
        char text[NAME_SIZE + 32];
        draw_curve(out, &loss, &runs[i].loss, NULL, window, colors[i], NULL);
        legend_text(text, sizeof text, runs[i].name, ": training (smoothed)");
        legend_entry(out, &loss, row++, colors[i], NULL, 0, text);
        if (runs[i].val_loss.count == 0) continue;
        draw_curve(out, &loss, &runs[i].val_loss, NULL, 1, colors[i], "4 3");
        draw_points(out, &loss, &runs[i].val_loss, colors[i]);
        legend_text(text, sizeof text, runs[i].name, ": validation");
        legend_entry(out, &loss, row++, colors[i], "4 3", 1, text);
    }
    panel lr = {.left = 565, .top = 40, .width = 380, .height = 310};
    range_reset(&lr);
    for (int i = 0; i < count; i++) range_extend(&lr, &runs[i].lr, NULL, 1);
    range_finish(&lr);
    draw_axes(out, &lr, "Learning rate", "step", "learning rate");
    legend_box(out, &lr, count);
    for (int i = 0; i < count; i++) {
        draw_curve(out, &lr, &runs[i].lr, NULL, 1, colors[i], NULL);
        legend_entry(out, &lr, i, colors[i], NULL, 0, runs[i].name);
    }
    char note[96];
    snprintf(note, sizeof note, "training losses as moving averages over %d steps", window);
    svg_text(out, width / 2.0, height - 12, "middle", 11, note, " fill=\"#555\"");
    fputs("</svg>\n", out);
    if (fclose(out) != 0) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    return EXIT_OK;
}

/* METRICS.jsonl -> METRICS.svg; any other name gets ".svg" appended. */
static char *default_output(const char *log)
{
    const size_t length = strlen(log);
    const size_t stem = length > 6 && strcmp(log + length - 6, ".jsonl") == 0 ? length - 6 : length;
    char *path = malloc(stem + sizeof ".svg");
    if (path) {
        memcpy(path, log, stem);
        memcpy(path + stem, ".svg", sizeof ".svg");
    }
    return path;
}

static int plot_log(const char *log, const char *out_path, const char *title)
{
    size_t size = 0, lines = 0;
    char *text = cli_read_file(log, &size);
    if (!text) return EXIT_BAD_INPUT;
    char **line = cli_split_lines(text, &lines);
    run_curves runs[MAX_RUNS];
    memset(runs, 0, sizeof runs);
    int count = 0, code = line ? EXIT_OK : EXIT_FAILURE_RUNTIME;
    if (!line) cli_error("out of memory reading '%s'", log);
    for (size_t i = 0; i < lines && code == EXIT_OK; i++) {
        if (!line[i][0]) continue;
        if (read_record(line[i], runs, &count) != 0) {
            cli_error("%s:%zu: not a record of a spdf metrics log (--log)", log, i + 1);
            code = EXIT_BAD_INPUT;
        }
    }
    int steps = 0;
    for (int i = 0; i < count; i++) steps += runs[i].loss.count;
    if (code == EXIT_OK && steps == 0) {
        cli_error("'%s' holds no training steps", log);
        code = EXIT_BAD_INPUT;
    }
    if (code == EXIT_OK) code = write_plot(runs, count, title ? title : log, out_path);
    if (code == EXIT_OK) printf("plotted %d steps of %d run%s to %s\n", steps, count, count == 1 ? "" : "s", out_path);
    for (int i = 0; i < MAX_RUNS; i++) {
        curve_free(&runs[i].loss);
        curve_free(&runs[i].val_loss);
        curve_free(&runs[i].lr);
    }
    free(line);
    free(text);
    return code;
}

int command_plot(int argc, char **argv)
{
    const char *out = NULL, *title = NULL;
    option_spec options[] = {
        OPT_STRING("out", &out, "FILE", "the SVG to write (default: the log's name with .svg)"),
        OPT_STRING("title", &title, "TEXT", "title of the loss panel (default: the log's path)"),
    };
    command_spec command = {
        .name = "plot",
        .usage = "METRICS.jsonl [--out FILE.svg] [--title TEXT]",
        .summary = "Draw the training loss (smoothed), validation loss and learning rate of every run in a\n"
                   "metrics log (--log of pretrain and finetune, the demo's metrics.jsonl) as an SVG.",
        .options = options,
        .option_count = COUNT_OF(options),
        .positional_names = "METRICS.jsonl",
        .min_positional = 1,
        .max_positional = 1,
    };
    const char *log = NULL;
    const int parsed = options_parse(&command, argc, argv, &log, NULL);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    char *fallback = out ? NULL : default_output(log);
    if (!out && !fallback) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    int code = cli_check_output(out ? out : fallback, "plot", 0);
    if (code == EXIT_OK) code = plot_log(log, out ? out : fallback, title);
    free(fallback);
    return code;
}
