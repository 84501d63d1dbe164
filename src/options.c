/* Parsing and help of the subcommands' flags: "--name VALUE", "--name=VALUE", flags without a
 * value, repeated list options, positional arguments and "--" to end the options. */
#include "options.h"

#include "cli.h"

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

static int parse_number(const command_spec *command, option_spec *option, const char *text)
{
    char *end = NULL;
    errno = 0;
    if (option->type == OPTION_FLOAT) {
        const double value = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(value) || value < option->min || value > option->max)
            return usage_error(command, "--%s must be a number in [%g, %g], got '%s'", option->name,
                               option->min, option->max, text);
        *(float *)option->value = (float)value;
        return PARSE_OK;
    }
    const long long value = strtoll(text, &end, 10);
    if (end == text || *end || errno || (double)value < option->min || (double)value > option->max)
        return usage_error(command, "--%s must be an integer in [%.0f, %.0f], got '%s'", option->name,
                           option->min, option->max, text);
    if (option->type == OPTION_INT) *(int32_t *)option->value = (int32_t)value;
    else *(int64_t *)option->value = (int64_t)value;
    return PARSE_OK;
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
    case OPTION_CHOICE:
        for (int i = 0; option->choices[i]; i++) {
            if (strcmp(option->choices[i], text) == 0) {
                *(int32_t *)option->value = i;
                return PARSE_OK;
            }
        }
        {
            char list[256] = "";
            for (int i = 0; option->choices[i]; i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, option->choices[i], sizeof list - strlen(list) - 1);
            }
            return usage_error(command, "--%s must be one of %s, got '%s'", option->name, list, text);
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
    for (int i = 0; i < command->option_count; i++)
        if (command->options[i].required && !command->options[i].seen)
            return usage_error(command, "--%s is required", command->options[i].name);
    if (positional_count) *positional_count = count;
    return PARSE_OK;
}
