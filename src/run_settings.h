/* The settings file of a training run, CKPT.run.toml beside its checkpoint: the values of the
 * options that make up the run, one `name = value` line each (a flat TOML table), so that a
 * resumed run takes them from there instead of from defaults, and refuses options that differ. */
#ifndef SPDF_CLI_RUN_SETTINGS_H
#define SPDF_CLI_RUN_SETTINGS_H

#include "options.h"

#include <stddef.h>
#include <stdint.h>

enum { RUN_SETTINGS_MAX = 32 };

/* One value in the type of its option. */
typedef union run_number {
    int32_t i32; /* OPTION_INT, OPTION_CHOICE (the index of the choice) */
    int64_t i64; /* OPTION_INT64 */
    float f32;   /* OPTION_FLOAT */
} run_number;

/* Values of a command's options (integer, 64-bit integer, float or choice options only), each
 * known or not: read from a settings file, or set from what a checkpoint holds. */
typedef struct run_values {
    const command_spec *command;
    int count;
    struct run_value {
        const option_spec *option;
        int known;
        int may_change;  /* a resumed run may give another value (it does not change the results) */
        run_number value;
    } items[RUN_SETTINGS_MAX];
} run_values;

/* The settings named in `names` (NULL-terminated; options of command), all unknown.  Names in
 * may_change (NULL-terminated, or NULL) may differ when resuming. */
void run_values_init(run_values *v, const command_spec *command, const char *const *names,
                     const char *const *may_change);
/* Marks a setting known with a value: an integer one (OPTION_INT, OPTION_INT64) or a float one. */
void run_values_set_int(run_values *v, const char *name, int64_t value);
void run_values_set_float(run_values *v, const char *name, float value);
/* Every setting known, with the value its option holds now. */
void run_values_from_options(run_values *v);

/* "<checkpoint>.run.toml" (malloc'd), or NULL when out of memory. */
char *run_settings_path(const char *checkpoint);
/* Writes the known settings, after a comment line `header`, atomically.  Returns an exit code. */
int run_settings_write(const run_values *v, const char *path, const char *header);
/* Reads a settings file into v; *found is 0 when there is no file.  Names v does not hold are
 * skipped (a later version may store more); a malformed line is an error (one line, exit 3). */
int run_settings_read(run_values *v, const char *path, int *found);

/* 1 if a setting known in both differs, naming the first one in `what` ("layers 4, the
 * checkpoint 2"); 0 if they agree. */
int run_values_differ(const run_values *file, const run_values *checkpoint, char *what, size_t size);
/* The values known in `from` but not in `into` are copied into it. */
void run_values_merge(run_values *into, const run_values *from);
/* The known values replace the options that were not given; given options that differ (and may
 * not change) are appended to `list` ("--lr 0.002 (the run: 0.001)").  Returns their number. */
int run_values_apply(const run_values *v, char *list, size_t size);

#endif /* SPDF_CLI_RUN_SETTINGS_H */
