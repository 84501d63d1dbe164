/* Command-line flags shared by every subcommand: a table of typed options, parsed in one place so
 * that --help, defaults, range checks and error messages look the same everywhere. */
#ifndef SPDF_CLI_OPTIONS_H
#define SPDF_CLI_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

typedef enum option_type {
    OPTION_FLAG,        /* no value; sets an int32_t to 1 */
    OPTION_INT,         /* int32_t within [min, max] */
    OPTION_INT64,       /* int64_t within [min, max] (for seeds and counts) */
    OPTION_FLOAT,       /* float within [min, max] */
    OPTION_STRING,      /* const char *, borrowed from argv */
    OPTION_CHOICE,      /* int32_t: the index of the value in choices */
    OPTION_STRING_LIST  /* string_list: the option may be repeated */
} option_type;

typedef struct string_list {
    const char **items; /* borrowed from argv */
    int count;
} string_list;

typedef struct option_spec {
    const char *name;     /* without the dashes: "steps" for --steps */
    option_type type;
    void *value;          /* where the parsed value goes; holds the default before parsing */
    const char *metavar;  /* "N", "FILE", ... (unused for flags) */
    const char *help;     /* one line */
    double min, max;      /* range of numeric values (inclusive) */
    const char *const *choices; /* OPTION_CHOICE: NULL-terminated list of accepted values */
    int required;
    int hide_default;     /* the help shows no "(default ...)" (the default depends on other flags) */
    int seen;             /* set by the parser when the option was given */
} option_spec;

typedef struct command_spec {
    const char *name;        /* "pretrain" */
    const char *usage;       /* "--data FILE --out CKPT [options]" */
    const char *summary;     /* what the command does, one or more lines */
    option_spec *options;
    int option_count;
    const char *positional_names; /* "INPUT OUTPUT", or NULL when none are accepted */
    int min_positional, max_positional;
    const char *epilog;      /* printed after the options (notes, examples), or NULL */
    int takes_config;        /* accepts --config FILE: option values from a flat TOML file */
    const char *config;      /* set by the parser: the --config file given, or NULL */
} command_spec;

enum { PARSE_OK = 0, PARSE_HELP = 1, PARSE_ERROR = 2 };

/* Parses argv[1..argc-1] (argv[0] is the subcommand).  --help or -h prints the command's help to
 * stdout and returns PARSE_HELP; a bad flag prints one line to stderr and returns PARSE_ERROR.
 * Positional arguments go to positional[0..*positional_count-1] (room for max_positional). */
int options_parse(command_spec *command, int argc, char **argv, const char **positional,
                  int *positional_count);
/* With takes_config, `--config FILE` reads `name = value` lines (the options' long names; strings
 * quoted, numbers bare, true or false for flags, '#' comments) after the command line: an option
 * given on the command line keeps that value, the file sets the others as if they were given.
 * An unknown name, a bad value or a name set twice is an error naming FILE:LINE. */
/* Prints the help of a command (usage, summary, options with their defaults). */
void options_print_help(const command_spec *command);
/* The spec of an option by name, to ask whether it was given (->seen); NULL if unknown. */
const option_spec *options_find(const command_spec *command, const char *name);
int options_given(const command_spec *command, const char *name);

/* The text of a value of the option's type (value points to an int32_t, int64_t, float, or
 * const char * as the option's own): as_toml 1 gives the TOML form (strings and choices quoted,
 * floats exactly, true/false for flags), 0 the form for messages.  Returns 0, or -1 when there is
 * nothing to write (a string that is not set, a list). */
int options_format_value(const option_spec *option, const void *value, int as_toml, char *out, size_t size);
/* Reads the TOML text of a value (unquoted in place: a string value then points into text) into
 * value, of the option's type.  Returns 0, or -1 with what was expected in `why` ("an integer
 * in [1, 100]"). */
int options_value_from_toml(const option_spec *option, char *text, void *value, char *why, size_t size);
/* Writes every option's value now (after the run's own adjustments), so that `spdf COMMAND
 * --config PATH` runs the same again; options that are not set, and not-given ones whose default
 * depends on other options, become comments.  Written atomically; prints one line and returns an
 * exit code. */
int options_write_config(const command_spec *command, const char *path);
/* The same, into "<output>.config.toml" beside a run's output. */
int options_write_config_beside(const command_spec *command, const char *output);

/* Edits (insert, delete, replace, swap two neighbours) between the first a_length characters of
 * a and b, for "did you mean"; names longer than 64 characters count as far from everything. */
int options_edit_distance(const char *a, size_t a_length, const char *b);

/* Designated-initialiser shorthands for the option tables. */
#define OPT_FLAG(n, ptr, h) \
    { .name = (n), .type = OPTION_FLAG, .value = (ptr), .help = (h) }
#define OPT_INT(n, ptr, mv, lo, hi, h) \
    { .name = (n), .type = OPTION_INT, .value = (ptr), .metavar = (mv), .min = (lo), .max = (hi), .help = (h) }
#define OPT_INT_NO_DEFAULT(n, ptr, mv, lo, hi, h) \
    { .name = (n), .type = OPTION_INT, .value = (ptr), .metavar = (mv), .min = (lo), .max = (hi), .help = (h), \
      .hide_default = 1 }
#define OPT_INT64(n, ptr, mv, lo, hi, h) \
    { .name = (n), .type = OPTION_INT64, .value = (ptr), .metavar = (mv), .min = (lo), .max = (hi), .help = (h) }
#define OPT_FLOAT(n, ptr, mv, lo, hi, h) \
    { .name = (n), .type = OPTION_FLOAT, .value = (ptr), .metavar = (mv), .min = (lo), .max = (hi), .help = (h) }
#define OPT_STRING(n, ptr, mv, h) \
    { .name = (n), .type = OPTION_STRING, .value = (ptr), .metavar = (mv), .help = (h) }
#define OPT_REQUIRED_STRING(n, ptr, mv, h) \
    { .name = (n), .type = OPTION_STRING, .value = (ptr), .metavar = (mv), .help = (h), .required = 1 }
#define OPT_CHOICE(n, ptr, mv, list, h) \
    { .name = (n), .type = OPTION_CHOICE, .value = (ptr), .metavar = (mv), .choices = (list), .help = (h) }
#define OPT_LIST(n, ptr, mv, h) \
    { .name = (n), .type = OPTION_STRING_LIST, .value = (ptr), .metavar = (mv), .help = (h) }

#define COUNT_OF(array) ((int)(sizeof(array) / sizeof((array)[0])))

/* The two options of every command that runs a model: its threads and its backend. */
#define COMPUTE_OPTIONS(threads_field, backend_field)                                              \
    OPT_INT("threads", &(threads_field), "N", 0, 4096, "compute threads (0: all cores)"),          \
        OPT_STRING("backend", &(backend_field), "NAME",                                            \
                   "kernel backend: auto, xsmm, native, ref (default: $SPDF_BACKEND or auto)")

#endif /* SPDF_CLI_OPTIONS_H */
