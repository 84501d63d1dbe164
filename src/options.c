/* Parsing and help of the subcommands' flags: "--name VALUE", "--name=VALUE", flags without a
 * value, repeated list options, positional arguments and "--" to end the options. */
#include "options.h"

#include "cli.h"
#include "flat_toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static option_spec *find_option(command_spec *command, const char *name, size_t length)
{
    for (int i = 0; i < command->option_count; i++) {
        option_spec *option = &command->options[i];
        if (strlen(option->name) == length && strncmp(option->name, name, length) == 0) return option;
    }
    return NULL;
}

const option_spec *options_find(const command_spec *command, const char *name)
{
    return find_option((command_spec *)command, name, strlen(name));
}

int options_given(const command_spec *command, const char *name)
{
    const option_spec *option = options_find(command, name);
    return option && option->seen;
}

static void print_choices(FILE *out, const char *const *choices)
{
    for (int i = 0; choices[i]; i++) fprintf(out, "%s%s", i ? "|" : "", choices[i]);
}

/* The value an option holds now (its default, before parsing), or nothing for none. */
static void print_default(FILE *out, const option_spec *option)
{
    switch (option->type) {
    case OPTION_INT:
        fprintf(out, " (default %d)", (int)*(const int32_t *)option->value);
        break;
    case OPTION_INT64:
        fprintf(out, " (default %lld)", (long long)*(const int64_t *)option->value);
        break;
    case OPTION_FLOAT:
        fprintf(out, " (default %g)", (double)*(const float *)option->value);
        break;
    case OPTION_STRING:
        if (*(const char *const *)option->value)
            fprintf(out, " (default %s)", *(const char *const *)option->value);
        break;
    case OPTION_CHOICE:
        fprintf(out, " (default %s)", option->choices[*(const int32_t *)option->value]);
        break;
    case OPTION_FLAG:
    case OPTION_STRING_LIST:
        break;
    }
}

void options_print_help(const command_spec *command)
{
    printf("usage: spdf %s %s\n\n%s\n\noptions:\n", command->name, command->usage, command->summary);
    for (int i = 0; i < command->option_count; i++) {
        const option_spec *option = &command->options[i];
        char left[96];
        int n = snprintf(left, sizeof left, "  --%s", option->name);
        if (option->type == OPTION_CHOICE && !option->metavar) {
            printf("%s ", left);
            print_choices(stdout, option->choices);
            printf("\n%30s", "");
        } else {
            if (option->type != OPTION_FLAG)
                n += snprintf(left + n, sizeof left - (size_t)n, " %s", option->metavar ? option->metavar : "VALUE");
            if (n >= 30) printf("%s\n%30s", left, "");
            else printf("%-30s", left);
        }
        printf("%s", option->help);
        if (option->type == OPTION_CHOICE && option->metavar) {
            printf(": ");
            print_choices(stdout, option->choices);
        }
        if (option->required) printf(" (required)");
        else if (!option->hide_default) print_default(stdout, option);
        printf("\n");
    }
    if (command->takes_config)
        printf("  %-28s%s\n", "--config FILE", "option values from a TOML file of name = value lines (the command line wins)");
    printf("  %-28s%s\n", "-h, --help", "show this help and exit");
    if (command->epilog) printf("\n%s\n", command->epilog);
}

static int usage_error(const command_spec *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const command_spec *command, const char *fmt, ...)
{
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    cli_error("%s (see 'spdf %s --help')", message, command->name);
    return PARSE_ERROR;
}

/* What a value of the option must be, for messages: "an integer in [1, 100]", "one of a, b". */
static void describe_expected(const option_spec *option, char *out, size_t size)
{
    switch (option->type) {
    case OPTION_FLOAT: snprintf(out, size, "a number in [%g, %g]", option->min, option->max); break;
    case OPTION_INT:
    case OPTION_INT64: snprintf(out, size, "an integer in [%.0f, %.0f]", option->min, option->max); break;
    case OPTION_CHOICE: {
        size_t n = (size_t)snprintf(out, size, "one of ");
        for (int i = 0; option->choices[i] && n < size; i++)
            n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", option->choices[i]);
        break;
    }
    case OPTION_FLAG: snprintf(out, size, "true or false"); break;
    case OPTION_STRING:
    case OPTION_STRING_LIST: snprintf(out, size, "a non-empty string"); break;
    }
}

/* A number of an integer or float option within its range into value; 0, or -1. */
static int number_from_text(const option_spec *option, const char *text, void *value)
{
    char *end = NULL;
    errno = 0;
    if (option->type == OPTION_FLOAT) {
        const double number = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(number) || number < option->min || number > option->max)
            return -1;
        *(float *)value = (float)number;
        return 0;
    }
    const long long number = strtoll(text, &end, 10);
    if (end == text || *end || errno || (double)number < option->min || (double)number > option->max) return -1;
    if (option->type == OPTION_INT) *(int32_t *)value = (int32_t)number;
    else *(int64_t *)value = (int64_t)number;
    return 0;
}

static int choice_index(const option_spec *option, const char *text)
{
    for (int i = 0; option->choices[i]; i++)
        if (strcmp(option->choices[i], text) == 0) return i;
    return -1;
}

static int parse_number(const command_spec *command, option_spec *option, const char *text)
{
    if (number_from_text(option, text, option->value) == 0) return PARSE_OK;
    char expected[256];
    describe_expected(option, expected, sizeof expected);
    return usage_error(command, "--%s must be %s, got '%s'", option->name, expected, text);
}

static int set_value(const command_spec *command, option_spec *option, const char *text)
{
    switch (option->type) {
    case OPTION_INT:
    case OPTION_INT64:
    case OPTION_FLOAT:
        return parse_number(command, option, text);
    case OPTION_STRING:
        if (!*text) return usage_error(command, "--%s needs a non-empty value", option->name);
        *(const char **)option->value = text;
        return PARSE_OK;
    case OPTION_CHOICE: {
        const int index = choice_index(option, text);
        if (index >= 0) {
            *(int32_t *)option->value = index;
            return PARSE_OK;
        }
        char expected[256];
        describe_expected(option, expected, sizeof expected);
        return usage_error(command, "--%s must be %s, got '%s'", option->name, expected, text);
    }
    case OPTION_STRING_LIST: {
        if (!*text) return usage_error(command, "--%s needs a non-empty value", option->name);
        string_list *list = option->value;
        const char **grown = realloc(list->items, (size_t)(list->count + 1) * sizeof *grown);
        if (!grown) {
            cli_error("out of memory");
            return PARSE_ERROR;
        }
        list->items = grown;
        list->items[list->count++] = text;
        return PARSE_OK;
    }
    case OPTION_FLAG:
        *(int32_t *)option->value = 1;
        return PARSE_OK;
    }
    return PARSE_ERROR;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

int options_edit_distance(const char *a, size_t a_length, const char *b)
{
    enum { LONGEST = 64 };
    const size_t b_length = strlen(b);
    if (a_length > LONGEST || b_length > LONGEST) return LONGEST;
    /* Three rows of the optimal string alignment table: insertions, deletions, substitutions
     * and swaps of neighbours ("stpes" is one swap from "steps"). */
    int rows[3][LONGEST + 1];
    int *before = rows[0], *previous = rows[1], *current = rows[2];
    for (size_t j = 0; j <= b_length; j++) previous[j] = (int)j;
    for (size_t i = 1; i <= a_length; i++) {
        current[0] = (int)i;
        for (size_t j = 1; j <= b_length; j++) {
            const int cost = a[i - 1] != b[j - 1];
            int best = previous[j - 1] + cost;
            if (previous[j] + 1 < best) best = previous[j] + 1;
            if (current[j - 1] + 1 < best) best = current[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && before[j - 2] + 1 < best)
                best = before[j - 2] + 1;
            current[j] = best;
        }
        int *spare = before;
        before = previous;
        previous = current;
        current = spare;
    }
    return previous[b_length];
}

/* The option closest to a misspelled name, if one is close enough to be what was meant: at most
 * one edit for short names, two from 5 characters, three from 9.  NULL otherwise. */
static const char *closest_option(const command_spec *command, const char *name, size_t length)
{
    const int allowed = length >= 9 ? 3 : length >= 5 ? 2 : 1;
    const char *best = NULL;
    int best_distance = allowed + 1;
    for (int i = 0; i < command->option_count; i++) {
        const int distance = options_edit_distance(name, length, command->options[i].name);
        if (distance < best_distance) {
            best = command->options[i].name;
            best_distance = distance;
        }
    }
    if (command->takes_config && options_edit_distance(name, length, "config") < best_distance) best = "config";
    return best;
}

/* "unknown option '-x'" or "'--x'", with the option meant when one is close. */
static int unknown_option(const command_spec *command, const char *dashes, const char *name, size_t length)
{
    char shown[128];
    snprintf(shown, sizeof shown, "%.*s", (int)(length < 100 ? length : 100), name);
    const char *meant = closest_option(command, name, length);
    if (meant) return usage_error(command, "unknown option '%s%s'; did you mean --%s?", dashes, shown, meant);
    return usage_error(command, "unknown option '%s%s'", dashes, shown);
}

/* One "--name[=value]" argument at argv[*index]; advances *index past a separate value. */
static int parse_option(command_spec *command, int argc, char **argv, int *index)
{
    const char *arg = argv[*index] + 2;
    const char *equals = strchr(arg, '=');
    const size_t length = equals ? (size_t)(equals - arg) : strlen(arg);
    if (command->takes_config && length == strlen("config") && strncmp(arg, "config", length) == 0) {
        if (command->config) return usage_error(command, "--config given twice");
        if (!equals && *index + 1 >= argc) return usage_error(command, "--config needs a value");
        const char *path = equals ? equals + 1 : argv[++*index];
        if (!*path) return usage_error(command, "--config needs a non-empty value");
        command->config = path;
        return PARSE_OK;
    }
    option_spec *option = find_option(command, arg, length);
    if (!option) return unknown_option(command, "--", arg, length);
    if (option->seen && option->type != OPTION_STRING_LIST)
        return usage_error(command, "--%s given twice", option->name);
    option->seen = 1;
    if (option->type == OPTION_FLAG) {
        if (equals) return usage_error(command, "--%s takes no value", option->name);
        return set_value(command, option, "");
    }
    if (equals) return set_value(command, option, equals + 1);
    if (*index + 1 >= argc) return usage_error(command, "--%s needs a value", option->name);
    *index += 1;
    return set_value(command, option, argv[*index]);
}

/* ---- Values as TOML, --config files and the configuration a run writes ---- */

int options_format_value(const option_spec *option, const void *value, int as_toml, char *out, size_t size)
{
    switch (option->type) {
    case OPTION_FLAG: snprintf(out, size, "%s", *(const int32_t *)value ? "true" : "false"); return 0;
    case OPTION_INT: snprintf(out, size, "%d", (int)*(const int32_t *)value); return 0;
    case OPTION_INT64: snprintf(out, size, "%lld", (long long)*(const int64_t *)value); return 0;
    case OPTION_FLOAT: flat_toml_format_float(*(const float *)value, out, size); return 0;
    case OPTION_CHOICE: {
        const char *choice = option->choices[*(const int32_t *)value];
        if (as_toml) flat_toml_quote(choice, out, size);
        else snprintf(out, size, "%s", choice);
        return 0;
    }
    case OPTION_STRING: {
        const char *text = *(const char *const *)value;
        if (!text) return -1;
        if (as_toml) flat_toml_quote(text, out, size);
        else snprintf(out, size, "%s", text);
        return 0;
    }
    case OPTION_STRING_LIST: return -1;
    }
    return -1;
}

int options_value_from_toml(const option_spec *option, char *text, void *value, char *why, size_t size)
{
    int ok = 0;
    switch (option->type) {
    case OPTION_FLAG:
        ok = strcmp(text, "true") == 0 || strcmp(text, "false") == 0;
        if (ok) *(int32_t *)value = text[0] == 't';
        break;
    case OPTION_INT:
    case OPTION_INT64:
    case OPTION_FLOAT: ok = number_from_text(option, text, value) == 0; break;
    case OPTION_CHOICE: {
        const int index = flat_toml_unquote(text) == 0 ? choice_index(option, text) : -1;
        ok = index >= 0;
        if (ok) *(int32_t *)value = index;
        break;
    }
    case OPTION_STRING:
        ok = flat_toml_unquote(text) == 0 && *text;
        if (ok) *(const char **)value = text;
        break;
    case OPTION_STRING_LIST:
        snprintf(why, size, "a list option, which a config file cannot set");
        return -1;
    }
    if (ok) return 0;
    describe_expected(option, why, size);
    if (option->type == OPTION_CHOICE || option->type == OPTION_STRING) {
        const size_t n = strlen(why);
        snprintf(why + n, size - n, " (quoted)");
    }
    return -1;
}

/* One value of any option's type, to hold a file's value before it is known to be wanted. */
typedef union option_value {
    int32_t i32;
    int64_t i64;
    float f32;
    const char *text;
} option_value;

static size_t value_size(const option_spec *option)
{
    switch (option->type) {
    case OPTION_INT64: return sizeof(int64_t);
    case OPTION_FLOAT: return sizeof(float);
    case OPTION_STRING: return sizeof(const char *);
    default: return sizeof(int32_t);
    }
}

/* The texts of the config files read: string options point into them until the process ends. */
static struct config_text {
    char *text;
    struct config_text *next;
} *config_texts;

static int config_error(const command_spec *command, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int config_error(const command_spec *command, size_t line, const char *fmt, ...)
{
    char message[640];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    cli_error("%s:%zu: %s", command->config, line, message);
    return PARSE_ERROR;
}

/* One `name = value` of the file; first_line[i] is where option i was set before (0: nowhere). */
static int config_pair(command_spec *command, char *name, char *text, size_t line, size_t *first_line,
                       unsigned char *from_file)
{
    option_spec *option = find_option(command, name, strlen(name));
    if (!option) {
        const char *meant = strcmp(name, "config") == 0 ? NULL : closest_option(command, name, strlen(name));
        if (strcmp(name, "config") == 0) return config_error(command, line, "a config file cannot name another");
        if (meant && strcmp(meant, "config") != 0)
            return config_error(command, line, "unknown option '%s'; did you mean '%s'?", name, meant);
        return config_error(command, line, "unknown option '%s'", name);
    }
    const int index = (int)(option - command->options);
    if (first_line[index])
        return config_error(command, line, "'%s' is set twice (first on line %zu)", name, first_line[index]);
    first_line[index] = line;
    option_value value;
    memset(&value, 0, sizeof value);
    char why[300];
    if (options_value_from_toml(option, text, &value, why, sizeof why) != 0)
        return config_error(command, line, "'%s' must be %s, got %s", name, why, text);
    if (option->seen) return PARSE_OK; /* the command line wins */
    memcpy(option->value, &value, value_size(option));
    from_file[index] = 1;
    return PARSE_OK;
}

static int read_config(command_spec *command)
{
    struct config_text *kept = malloc(sizeof *kept);
    size_t size = 0, count = 0;
    char *text = kept ? cli_read_file(command->config, &size) : NULL;
    char **lines = text ? cli_split_lines(text, &count) : NULL;
    size_t *first_line = calloc((size_t)command->option_count + 1, sizeof *first_line);
    unsigned char *from_file = calloc((size_t)command->option_count + 1, 1);
    int code = lines && first_line && from_file ? PARSE_OK : PARSE_ERROR;
    if (!kept || (text && (!lines || !first_line || !from_file))) cli_error("out of memory");
    for (size_t i = 0; i < count && code == PARSE_OK; i++) {
        char *name = NULL, *value = NULL;
        const char *why = NULL;
        const int kind = flat_toml_split(lines[i], &name, &value, &why);
        if (kind == FLAT_TOML_MALFORMED) code = config_error(command, i + 1, "%s", why);
        else if (kind == FLAT_TOML_PAIR) code = config_pair(command, name, value, i + 1, first_line, from_file);
    }
    /* the file's values count as given (the checks of --resume and of presets treat them so) */
    for (int i = 0; code == PARSE_OK && i < command->option_count; i++)
        if (from_file[i]) command->options[i].seen = 1;
    free(from_file);
    free(first_line);
    free(lines);
    if (code == PARSE_OK) {
        kept->text = text;
        kept->next = config_texts;
        config_texts = kept;
    } else {
        free(text);
        free(kept);
    }
    return code;
}

/* A string that grows; `failed` once memory ran out. */
typedef struct text_buffer {
    char *text;
    size_t length, capacity;
    int failed;
} text_buffer;

static void append(text_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(text_buffer *b, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !b->failed; attempt++) {
        va_list args;
        va_start(args, fmt);
        const int n = vsnprintf(b->text ? b->text + b->length : NULL, b->text ? b->capacity - b->length : 0, fmt, args);
        va_end(args);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->text && b->length + (size_t)n < b->capacity) {
            b->length += (size_t)n;
            return;
        }
        const size_t capacity = 2 * (b->length + (size_t)n + 1) + 256;
        char *grown = realloc(b->text, capacity);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->text = grown;
        b->capacity = capacity;
    }
}

int options_write_config(const command_spec *command, const char *path)
{
    text_buffer b = {0};
    append(&b, "# spdf %s: the options of the run that wrote this file; 'spdf %s --config FILE' runs it again\n"
               "# (options given on that command line replace these)\n",
           command->name, command->name);
    for (int i = 0; i < command->option_count; i++) {
        const option_spec *option = &command->options[i];
        char *value = NULL;
        size_t length = 0;
        if (option->type == OPTION_STRING && *(const char *const *)option->value) {
            length = flat_toml_quote(*(const char *const *)option->value, NULL, 0) + 1;
            value = malloc(length);
        } else {
            length = 64 + 2 * strlen(option->type == OPTION_CHOICE ? option->choices[*(const int32_t *)option->value] : "");
            value = malloc(length);
        }
        if (!value) {
            b.failed = 1;
            break;
        }
        if (option->hide_default && !option->seen)
            append(&b, "# %s: not given (its default depends on other options)\n", option->name);
        else if (options_format_value(option, option->value, 1, value, length) != 0)
            append(&b, "# %s: not set\n", option->name);
        else
            append(&b, "%s = %s\n", option->name, value);
        free(value);
    }
    int code = EXIT_FAILURE_RUNTIME;
    if (b.failed) cli_error("out of memory writing '%s'", path);
    else code = cli_write_text_atomically(path, b.text, "configuration");
    free(b.text);
    return code;
}

int options_write_config_beside(const command_spec *command, const char *output)
{
    char *path = malloc(strlen(output) + sizeof ".config.toml");
    if (!path) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    sprintf(path, "%s.config.toml", output);
    const int code = options_write_config(command, path);
    free(path);
    return code;
}

int options_parse(command_spec *command, int argc, char **argv, const char **positional,
                  int *positional_count)
{
    if (wants_help(argc, argv)) {
        options_print_help(command);
        return PARSE_HELP;
    }
    int count = 0, only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = 1;
        } else if (!only_positional && arg[0] == '-' && arg[1] == '-' && arg[2]) {
            if (parse_option(command, argc, argv, &i) != PARSE_OK) return PARSE_ERROR;
        } else if (!only_positional && arg[0] == '-' && arg[1]) {
            return unknown_option(command, "-", arg + 1, strcspn(arg + 1, "="));
        } else {
            if (count >= command->max_positional)
                return usage_error(command, "unexpected argument '%s'", arg);
            positional[count++] = arg;
        }
    }
    if (count < command->min_positional)
        return usage_error(command, "missing argument: expected %s",
                           command->positional_names ? command->positional_names : "");
    if (command->config && read_config(command) != PARSE_OK) return PARSE_ERROR;
    for (int i = 0; i < command->option_count; i++)
        if (command->options[i].required && !command->options[i].seen)
            return usage_error(command, "--%s is required", command->options[i].name);
    if (positional_count) *positional_count = count;
    return PARSE_OK;
}
