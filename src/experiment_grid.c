/* The grid of `spdf experiment`: presets, the grid file and the cells (experiment_grid.h). */
#include "experiment_grid.h"

#include "cli.h"
#include "flat_toml.h"
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const experiment_task_names[] = {"e2e", "webnlg", "dart", NULL};
const char *const experiment_mode_names[] = {"dense", "sparse", NULL};
const char *const experiment_preset_names[] = {"quick", "default", NULL};

/* quick: the smallest grid that still has every axis (two sizes, dense and 75 %, three tasks, both
 * modes), a few minutes on two cores.  default: the grid of docs/results.md, sized by measuring a
 * cell of each size on two cores to finish within 50 minutes. */
void grid_preset(experiment_grid *g, int preset)
{
    memset(g, 0, sizeof *g);
    static const model_size quick_sizes[] = {{2, 64, 2}, {3, 96, 3}};
    static const model_size default_sizes[] = {{2, 128, 2}, {3, 192, 3}, {4, 256, 4}};
    const int quick = preset == 0;
    g->size_count = quick ? 2 : 3;
    memcpy(g->sizes, quick ? quick_sizes : default_sizes, (size_t)g->size_count * sizeof g->sizes[0]);
    const float sparsities[] = {0.0f, 0.5f, 0.75f};
    g->sparsity_count = quick ? 2 : 3;
    g->sparsities[0] = 0;
    g->sparsities[1] = quick ? 0.75f : sparsities[1];
    g->sparsities[2] = sparsities[2];
    g->mask = SPDF_MASK_RANDOM;
    g->task_count = 3;
    for (int t = 0; t < 3; t++) g->tasks[t] = t;
    g->mode_count = 2;
    g->modes[0] = MODE_DENSE;
    g->modes[1] = MODE_SPARSE;
    g->seed_count = quick ? 1 : 2;
    g->seeds[0] = 1;
    g->seeds[1] = 2;
    g->vocab = 1024;
    g->pretrain_batch = 16;
    g->pretrain_context = 128;
    g->pretrain_tokens = (int64_t)(quick ? 100 : 200) * g->pretrain_batch * g->pretrain_context;
    g->pretrain_warmup = quick ? 10 : 20;
    g->pretrain_lr = 3e-3f;
    g->finetune_steps = quick ? 150 : 250;
    g->finetune_batch = 8;
    g->finetune_context = 256; /* WebNLG and DART: 92 % and 97 % of the pairs fit whole (1024 BPE ids) */
    g->finetune_warmup = quick ? 10 : 20;
    g->finetune_lr = 3e-3f;
    g->eval_items = quick ? 20 : 50;
    g->max_new = quick ? 48 : 64;
}

int32_t grid_pretrain_steps(const experiment_grid *g)
{
    return (int32_t)(g->pretrain_tokens / ((int64_t)g->pretrain_batch * g->pretrain_context));
}

/* ---- the grid file ---- */

typedef enum key_kind { KEY_SCALAR, KEY_SIZES, KEY_FLOATS, KEY_INT64S, KEY_CHOICES } key_kind;

/* One key of the grid file: a scalar parsed as an option of the same name would be, or a list
 * whose items are parsed as `item` is. */
typedef struct grid_key {
    const char *name;
    key_kind kind;
    option_spec item; /* the scalar's or each item's type and range */
    void *value;      /* the scalar, or the list's first element */
    int *count;       /* lists: the element count */
    int capacity;     /* lists: at most this many elements */
} grid_key;

enum { GRID_KEY_COUNT = 19 };

static void grid_keys(experiment_grid *g, grid_key keys[GRID_KEY_COUNT])
{
    const grid_key all[GRID_KEY_COUNT] = {
        {"sizes", KEY_SIZES, OPT_STRING("sizes", NULL, NULL, NULL), g->sizes, &g->size_count, GRID_MAX_VALUES},
        {"sparsities", KEY_FLOATS, OPT_FLOAT("sparsities", NULL, NULL, 0, 0.99, NULL), g->sparsities,
         &g->sparsity_count, GRID_MAX_VALUES},
        {"mask", KEY_SCALAR, OPT_CHOICE("mask", NULL, NULL, cli_mask_method_names, NULL), &g->mask, NULL, 0},
        {"tasks", KEY_CHOICES, OPT_CHOICE("tasks", NULL, NULL, experiment_task_names, NULL), g->tasks,
         &g->task_count, GRID_MAX_VALUES},
        {"modes", KEY_CHOICES, OPT_CHOICE("modes", NULL, NULL, experiment_mode_names, NULL), g->modes,
         &g->mode_count, 2},
        {"seeds", KEY_INT64S, OPT_INT64("seeds", NULL, NULL, 0, 9.2e18, NULL), g->seeds, &g->seed_count, GRID_MAX_VALUES},
        {"pretrain-tokens", KEY_SCALAR, OPT_INT64("pretrain-tokens", NULL, NULL, 1, 1e15, NULL),
         &g->pretrain_tokens, NULL, 0},
        {"vocab", KEY_SCALAR, OPT_INT("vocab", NULL, NULL, 257, 65536, NULL), &g->vocab, NULL, 0},
        {"pretrain-batch", KEY_SCALAR, OPT_INT("pretrain-batch", NULL, NULL, 1, 1 << 16, NULL),
         &g->pretrain_batch, NULL, 0},
        {"pretrain-context", KEY_SCALAR, OPT_INT("pretrain-context", NULL, NULL, 8, 4096, NULL),
         &g->pretrain_context, NULL, 0},
        {"pretrain-warmup", KEY_SCALAR, OPT_INT("pretrain-warmup", NULL, NULL, 0, 1000000000, NULL),
         &g->pretrain_warmup, NULL, 0},
        {"pretrain-lr", KEY_SCALAR, OPT_FLOAT("pretrain-lr", NULL, NULL, 1e-6, 1, NULL), &g->pretrain_lr, NULL, 0},
        {"finetune-steps", KEY_SCALAR, OPT_INT("finetune-steps", NULL, NULL, 1, 1000000000, NULL),
         &g->finetune_steps, NULL, 0},
        {"finetune-batch", KEY_SCALAR, OPT_INT("finetune-batch", NULL, NULL, 1, 1 << 16, NULL),
         &g->finetune_batch, NULL, 0},
        {"finetune-context", KEY_SCALAR, OPT_INT("finetune-context", NULL, NULL, 8, 4096, NULL),
         &g->finetune_context, NULL, 0},
        {"finetune-warmup", KEY_SCALAR, OPT_INT("finetune-warmup", NULL, NULL, 0, 1000000000, NULL),
         &g->finetune_warmup, NULL, 0},
        {"finetune-lr", KEY_SCALAR, OPT_FLOAT("finetune-lr", NULL, NULL, 1e-6, 1, NULL), &g->finetune_lr, NULL, 0},
        {"eval-items", KEY_SCALAR, OPT_INT("eval-items", NULL, NULL, 1, 1000000, NULL), &g->eval_items, NULL, 0},
        {"max-new", KEY_SCALAR, OPT_INT("max-new", NULL, NULL, 1, 4096, NULL), &g->max_new, NULL, 0},
    };
    memcpy(keys, all, sizeof all);
}

/* "2x128x2": layers x width x heads.  Returns 0, or -1 with what is wrong in why. */
static int parse_size(const char *text, model_size *size, char *why, size_t why_size)
{
    char *end = NULL;
    long v[3];
    const char *c = text;
    for (int i = 0; i < 3; i++) {
        errno = 0;
        v[i] = strtol(c, &end, 10);
        if (end == c || errno || v[i] < 1 || v[i] > 65536 || (i < 2 ? *end != 'x' : *end != '\0')) {
            snprintf(why, why_size, "a model size \"LAYERSxWIDTHxHEADS\" like \"2x128x2\"");
            return -1;
        }
        c = end + 1;
    }
    *size = (model_size){(int32_t)v[0], (int32_t)v[1], (int32_t)v[2]};
    return 0;
}

/* Item `index` of a list key from its TOML text (unquoted in place). */
static int parse_item(const grid_key *key, char *text, int index, char *why, size_t why_size)
{
    if (key->kind != KEY_SIZES) {
        const size_t bytes = key->kind == KEY_FLOATS ? sizeof(float) : key->kind == KEY_INT64S ? sizeof(int64_t)
                                                                                             : sizeof(int32_t);
        return options_value_from_toml(&key->item, text, (char *)key->value + (size_t)index * bytes, why, why_size);
    }
    const char *value = NULL;
    if (options_value_from_toml(&key->item, text, &value, why, why_size) != 0) {
        snprintf(why, why_size, "a list of model sizes \"LAYERSxWIDTHxHEADS\" like [\"2x128x2\", \"3x192x3\"]");
        return -1;
    }
    return parse_size(value, &((model_size *)key->value)[index], why, why_size);
}

/* 1 if items i and j of a list are equal. */
static int same_item(const grid_key *key, int i, int j)
{
    switch (key->kind) {
    case KEY_SIZES: return memcmp(&((model_size *)key->value)[i], &((model_size *)key->value)[j], sizeof(model_size)) == 0;
    case KEY_FLOATS: return ((float *)key->value)[i] == ((float *)key->value)[j];
    case KEY_INT64S: return ((int64_t *)key->value)[i] == ((int64_t *)key->value)[j];
    default: return ((int32_t *)key->value)[i] == ((int32_t *)key->value)[j];
    }
}

/* A list value: `[a, b]`, or one bare item. */
static int parse_list(const grid_key *key, char *value, char *why, size_t why_size)
{
    const int capacity = key->capacity;
    int n = 0;
    if (value[0] != '[') {
        if (parse_item(key, value, 0, why, why_size) != 0) return -1;
        n = 1;
    } else {
        char *cursor = value + 1, *item = NULL;
        const char *problem = NULL;
        int more;
        while ((more = flat_toml_array_next(&cursor, &item, &problem)) == 1) {
            if (n == capacity) {
                snprintf(why, why_size, "a list of at most %d values", capacity);
                return -1;
            }
            if (parse_item(key, item, n, why, why_size) != 0) return -1;
            n++;
        }
        if (more < 0) {
            snprintf(why, why_size, "a well-formed array (%s)", problem);
            return -1;
        }
    }
    if (n == 0) {
        snprintf(why, why_size, "a list of at least one value");
        return -1;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (same_item(key, i, j)) {
                snprintf(why, why_size, "a list without repeated values");
                return -1;
            }
    *key->count = n;
    return 0;
}

static int grid_line(experiment_grid *g, char *line, const char *path, int number, int seen[GRID_KEY_COUNT])
{
    char *name = NULL, *value = NULL;
    const char *problem = NULL;
    const int kind = flat_toml_split(line, &name, &value, &problem);
    if (kind == FLAT_TOML_BLANK) return EXIT_OK;
    if (kind == FLAT_TOML_MALFORMED) {
        cli_error("%s:%d: %s", path, number, problem);
        return EXIT_BAD_INPUT;
    }
    grid_key keys[GRID_KEY_COUNT];
    grid_keys(g, keys);
    int k = 0;
    while (k < GRID_KEY_COUNT && strcmp(keys[k].name, name) != 0) k++;
    if (k == GRID_KEY_COUNT) {
        const char *meant = NULL;
        int best = 3;
        for (int i = 0; i < GRID_KEY_COUNT; i++) {
            const int distance = options_edit_distance(name, strlen(name), keys[i].name);
            if (distance < best) {
                best = distance;
                meant = keys[i].name;
            }
        }
        if (meant) cli_error("%s:%d: unknown key '%s'; did you mean '%s'?", path, number, name, meant);
        else cli_error("%s:%d: unknown key '%s' (docs/cli.md lists the grid keys)", path, number, name);
        return EXIT_BAD_INPUT;
    }
    if (seen[k]++) {
        cli_error("%s:%d: '%s' is set twice", path, number, name);
        return EXIT_BAD_INPUT;
    }
    char why[160];
    const int failed = keys[k].kind == KEY_SCALAR
                           ? options_value_from_toml(&keys[k].item, value, keys[k].value, why, sizeof why)
                           : parse_list(&keys[k], value, why, sizeof why);
    if (failed) {
        cli_error("%s:%d: '%s' must be %s", path, number, name, why);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

int grid_read(experiment_grid *g, const char *path)
{
    size_t size = 0;
    char *text = cli_read_file(path, &size);
    if (!text) return EXIT_BAD_INPUT;
    size_t line_count = 0;
    char **lines = cli_split_lines(text, &line_count);
    int code = lines ? EXIT_OK : EXIT_FAILURE_RUNTIME;
    if (!lines) cli_error("out of memory");
    int seen[GRID_KEY_COUNT] = {0};
    for (size_t i = 0; code == EXIT_OK && i < line_count; i++) code = grid_line(g, lines[i], path, (int)i + 1, seen);
    free(lines);
    free(text);
    if (code == EXIT_OK) code = grid_check(g, path);
    return code;
}

int grid_check(const experiment_grid *g, const char *where)
{
    for (int i = 0; i < g->size_count; i++) {
        const model_size *s = &g->sizes[i];
        if (s->width % s->heads != 0 || (s->width / s->heads) % 2 != 0) {
            cli_error("%s: model size %dx%dx%d: the heads must divide the width into heads of an even size", where,
                      (int)s->layers, (int)s->width, (int)s->heads);
            return EXIT_BAD_INPUT;
        }
    }
    const int64_t step_tokens = (int64_t)g->pretrain_batch * g->pretrain_context;
    if (g->pretrain_tokens < step_tokens) {
        cli_error("%s: pretrain-tokens %lld is less than one step of pretrain-batch x pretrain-context = %lld tokens",
                  where, (long long)g->pretrain_tokens, (long long)step_tokens);
        return EXIT_BAD_INPUT;
    }
    if (g->pretrain_warmup >= grid_pretrain_steps(g) || g->finetune_warmup >= g->finetune_steps) {
        cli_error("%s: a warmup must be shorter than its run (pre-training: %d steps, fine-tuning: %d)", where,
                  (int)grid_pretrain_steps(g), (int)g->finetune_steps);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

/* ---- the grid as text ---- */

static void put_float(FILE *b, float value)
{
    char text[32];
    flat_toml_format_float(value, text, sizeof text);
    fputs(text, b);
}

char *grid_text(const experiment_grid *g)
{
    char *text = NULL;
    size_t size = 0;
    FILE *b = open_memstream(&text, &size);
    if (!b) return NULL;
    fprintf(b, "sizes = [");
    for (int i = 0; i < g->size_count; i++)
        fprintf(b, "%s\"%dx%dx%d\"", i ? ", " : "", (int)g->sizes[i].layers, (int)g->sizes[i].width,
            (int)g->sizes[i].heads);
    fprintf(b, "]\nsparsities = [");
    for (int i = 0; i < g->sparsity_count; i++) {
        fputs(i ? ", " : "", b);
        put_float(b, g->sparsities[i]);
    }
    fprintf(b, "]\nmask = \"%s\"\ntasks = [", cli_mask_method_names[g->mask]);
    for (int i = 0; i < g->task_count; i++) fprintf(b, "%s\"%s\"", i ? ", " : "", experiment_task_names[g->tasks[i]]);
    fprintf(b, "]\nmodes = [");
    for (int i = 0; i < g->mode_count; i++) fprintf(b, "%s\"%s\"", i ? ", " : "", experiment_mode_names[g->modes[i]]);
    fprintf(b, "]\nseeds = [");
    for (int i = 0; i < g->seed_count; i++) fprintf(b, "%s%lld", i ? ", " : "", (long long)g->seeds[i]);
    fprintf(b, "]\npretrain-tokens = %lld\nvocab = %d\npretrain-batch = %d\npretrain-context = %d\n"
            "pretrain-warmup = %d\npretrain-lr = ", (long long)g->pretrain_tokens, (int)g->vocab,
        (int)g->pretrain_batch, (int)g->pretrain_context, (int)g->pretrain_warmup);
    put_float(b, g->pretrain_lr);
    fprintf(b, "\nfinetune-steps = %d\nfinetune-batch = %d\nfinetune-context = %d\nfinetune-warmup = %d\n"
            "finetune-lr = ", (int)g->finetune_steps, (int)g->finetune_batch, (int)g->finetune_context,
        (int)g->finetune_warmup);
    put_float(b, g->finetune_lr);
    fprintf(b, "\neval-items = %d\nmax-new = %d\n", (int)g->eval_items, (int)g->max_new);
    if (fclose(b) != 0) return NULL;
    return text;
}

/* ---- the cells ---- */

static void cell_id(const experiment_grid *g, grid_cell *c)
{
    const model_size *s = &g->sizes[c->size];
    char sparsity[32];
    flat_toml_format_float(g->sparsities[c->sparsity], sparsity, sizeof sparsity);
    const int n = snprintf(c->id, sizeof c->id, "%s-%dx%dx%d-sp%s-seed%lld",
                           c->kind == CELL_PRETRAIN ? "pretrain" : "finetune", (int)s->layers, (int)s->width,
                           (int)s->heads, sparsity, (long long)g->seeds[c->seed]);
    if (c->kind == CELL_FINETUNE && n > 0 && (size_t)n < sizeof c->id)
        snprintf(c->id + n, sizeof c->id - (size_t)n, "-%s-%s", experiment_task_names[g->tasks[c->task]],
                 experiment_mode_names[g->modes[c->mode]]);
}

int grid_cells(const experiment_grid *g, grid_cell **cells, int *count)
{
    const int most = g->size_count * g->seed_count * g->sparsity_count * (1 + g->task_count * g->mode_count);
    grid_cell *list = calloc((size_t)most, sizeof *list);
    if (!list) return -1;
    int n = 0;
    for (int size = 0; size < g->size_count; size++)
        for (int seed = 0; seed < g->seed_count; seed++)
            for (int sparsity = 0; sparsity < g->sparsity_count; sparsity++) {
                const int pretrain = n;
                list[n] = (grid_cell){.kind = CELL_PRETRAIN, .size = size, .sparsity = sparsity, .seed = seed,
                                      .pretrain = pretrain};
                cell_id(g, &list[n++]);
                for (int task = 0; task < g->task_count; task++)
                    for (int mode = 0; mode < g->mode_count; mode++) {
                        if (g->modes[mode] == MODE_SPARSE && g->sparsities[sparsity] == 0) continue;
                        list[n] = (grid_cell){.kind = CELL_FINETUNE, .size = size, .sparsity = sparsity,
                                              .seed = seed, .task = task, .mode = mode, .pretrain = pretrain};
                        cell_id(g, &list[n++]);
                    }
            }
    *cells = list;
    *count = n;
    return 0;
}
