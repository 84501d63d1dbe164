/* The settings file of a training run (CKPT.run.toml): option values written as a flat TOML
 * table, read back exactly, compared with the options given and with what a checkpoint holds. */
#include "run_settings.h"

#include "cli.h"
#include "flat_toml.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int in_list(const char *name, const char *const *list)
{
    for (int i = 0; list && list[i]; i++)
        if (strcmp(list[i], name) == 0) return 1;
    return 0;
}

void run_values_init(run_values *v, const command_spec *command, const char *const *names,
                     const char *const *may_change)
{
    memset(v, 0, sizeof *v);
    v->command = command;
    for (int i = 0; names[i] && v->count < RUN_SETTINGS_MAX; i++) {
        const option_spec *option = options_find(command, names[i]);
        if (!option) continue;
        v->items[v->count].option = option;
        v->items[v->count].may_change = in_list(names[i], may_change);
        v->count++;
    }
}

static struct run_value *find_item(run_values *v, const char *name)
{
    for (int i = 0; i < v->count; i++)
        if (strcmp(v->items[i].option->name, name) == 0) return &v->items[i];
    return NULL;
}

void run_values_set_int(run_values *v, const char *name, int64_t value)
{
    struct run_value *item = find_item(v, name);
    if (!item) return;
    if (item->option->type == OPTION_INT64) item->value.i64 = value;
    else item->value.i32 = (int32_t)value;
    item->known = 1;
}

void run_values_set_float(run_values *v, const char *name, float value)
{
    struct run_value *item = find_item(v, name);
    if (!item) return;
    item->value.f32 = value;
    item->known = 1;
}

static run_number option_number(const option_spec *option)
{
    run_number n;
    memset(&n, 0, sizeof n);
    switch (option->type) {
    case OPTION_INT64: n.i64 = *(const int64_t *)option->value; break;
    case OPTION_FLOAT: n.f32 = *(const float *)option->value; break;
    default: n.i32 = *(const int32_t *)option->value; break;
    }
    return n;
}

static void set_option_number(const option_spec *option, run_number n)
{
    switch (option->type) {
    case OPTION_INT64: *(int64_t *)option->value = n.i64; break;
    case OPTION_FLOAT: *(float *)option->value = n.f32; break;
    default: *(int32_t *)option->value = n.i32; break;
    }
}

void run_values_from_options(run_values *v)
{
    for (int i = 0; i < v->count; i++) {
        v->items[i].value = option_number(v->items[i].option);
        v->items[i].known = 1;
    }
}

static int numbers_equal(const option_spec *option, run_number a, run_number b)
{
    switch (option->type) {
    case OPTION_INT64: return a.i64 == b.i64;
    case OPTION_FLOAT: return a.f32 == b.f32;
    default: return a.i32 == b.i32;
    }
}

/* The text of a value: floats exactly, choices as quoted strings (TOML) or bare (messages). */
static void format_number(const option_spec *option, run_number n, char *out, size_t size, int quoted)
{
    options_format_value(option, &n, quoted, out, size);
}

char *run_settings_path(const char *checkpoint)
{
    char *path = malloc(strlen(checkpoint) + sizeof ".run.toml");
    if (path) sprintf(path, "%s.run.toml", checkpoint);
    return path;
}

int run_settings_write(const run_values *v, const char *path, const char *header)
{
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "# %s\n", header);
    for (int i = 0; i < v->count && n < sizeof text; i++) {
        if (!v->items[i].known) continue;
        char value[96];
        format_number(v->items[i].option, v->items[i].value, value, sizeof value, 1);
        n += (size_t)snprintf(text + n, sizeof text - n, "%s = %s\n", v->items[i].option->name, value);
    }
    if (n >= sizeof text) {
        cli_error("internal error: the run settings do not fit their buffer");
        return EXIT_FAILURE_RUNTIME;
    }
    return cli_write_text_atomically(path, text, "run settings");
}

/* One line: blank, a comment, or `name = value`.  Returns 0, or -1 (with the error printed). */
static int read_line(run_values *v, char *line, const char *path, size_t number)
{
    char *name = NULL, *text = NULL;
    const char *why = NULL;
    const int kind = flat_toml_split(line, &name, &text, &why);
    if (kind == FLAT_TOML_MALFORMED) {
        cli_error("%s:%zu: %s", path, number, why);
        return -1;
    }
    struct run_value *item = kind == FLAT_TOML_PAIR ? find_item(v, name) : NULL;
    if (!item) return 0;
    char expected[300];
    if (options_value_from_toml(item->option, text, &item->value, expected, sizeof expected) != 0) {
        cli_error("%s:%zu: bad value for '%s' (expected %s)", path, number, item->option->name, expected);
        return -1;
    }
    item->known = 1;
    return 0;
}

int run_settings_read(run_values *v, const char *path, int *found)
{
    *found = 0;
    if (access(path, F_OK) != 0 && errno == ENOENT) return EXIT_OK;
    size_t size = 0, count = 0;
    char *text = cli_read_file(path, &size);
    char **lines = text ? cli_split_lines(text, &count) : NULL;
    int code = lines ? EXIT_OK : EXIT_BAD_INPUT;
    if (text && !lines) cli_error("out of memory reading '%s'", path);
    for (size_t i = 0; i < count && code == EXIT_OK; i++)
        if (read_line(v, lines[i], path, i + 1) != 0) code = EXIT_BAD_INPUT;
    *found = code == EXIT_OK;
    free(lines);
    free(text);
    return code;
}

int run_values_differ(const run_values *file, const run_values *checkpoint, char *what, size_t size)
{
    for (int i = 0; i < file->count; i++) {
        const struct run_value *a = &file->items[i];
        const struct run_value *b = find_item((run_values *)checkpoint, a->option->name);
        if (!a->known || !b || !b->known || numbers_equal(a->option, a->value, b->value)) continue;
        char x[96], y[96];
        format_number(a->option, a->value, x, sizeof x, 0);
        format_number(a->option, b->value, y, sizeof y, 0);
        snprintf(what, size, "%s %s, the checkpoint %s", a->option->name, x, y);
        return 1;
    }
    return 0;
}

void run_values_merge(run_values *into, const run_values *from)
{
    for (int i = 0; i < from->count; i++) {
        struct run_value *item = find_item(into, from->items[i].option->name);
        if (!from->items[i].known || !item || item->known) continue;
        item->value = from->items[i].value;
        item->known = 1;
    }
}

int run_values_apply(const run_values *v, char *list, size_t size)
{
    int conflicts = 0;
    for (int i = 0; i < v->count; i++) {
        const struct run_value *item = &v->items[i];
        if (!item->known) continue;
        const option_spec *option = item->option;
        if (!option->seen) {
            set_option_number(option, item->value);
            continue;
        }
        if (item->may_change || numbers_equal(option, option_number(option), item->value)) continue;
        char given[96], run[96];
        format_number(option, option_number(option), given, sizeof given, 0);
        format_number(option, item->value, run, sizeof run, 0);
        const size_t used = strlen(list);
        snprintf(list + used, size - used, "%s--%s %s (the run: %s)", used ? ", " : "", option->name, given, run);
        conflicts++;
    }
    return conflicts;
}
