/* The spdf command-line tool: exit codes, error reporting and the helpers every subcommand shares.
 * Only the public API of libspdf (<spdf.h>) is used anywhere under src/. */
#ifndef SPDF_CLI_H
#define SPDF_CLI_H

#include <spdf.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, documented in docs/cli.md and docs/spdf.1. */
enum {
    EXIT_OK = 0,
    EXIT_FAILURE_RUNTIME = 1, /* the library or the system failed (also: writing an output) */
    EXIT_USAGE = 2,           /* bad flags, missing or conflicting options */
    EXIT_BAD_INPUT = 3,       /* an input file is missing, unreadable or malformed */
    EXIT_INTERRUPTED = 130    /* SIGINT or SIGTERM: the state was saved, then the run stopped */
};

/* ---- Errors: one line on stderr, "spdf <command>: <message>" ---- */

/* Name of the running subcommand, used as the prefix of every message ("spdf pretrain"). */
void cli_set_command(const char *name);
const char *cli_command(void);
/* Prints the prefix, the formatted message and a newline to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "<message>: <library detail>", the detail being spdf_last_error() or the status name,
 * and returns exit_code. */
int cli_library_error(spdf_status status, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Exit code of a failure to load an input file: EXIT_BAD_INPUT for SPDF_EIO and SPDF_EFORMAT
 * (missing, unreadable, malformed), EXIT_FAILURE_RUNTIME otherwise. */
int cli_input_exit_code(spdf_status status);

/* ---- Files ---- */

/* Reads a whole file into a NUL-terminated buffer (the NUL is not counted in *size).  On
 * failure prints one error line and returns NULL. */
char *cli_read_file(const char *path, size_t *size);
/* Splits text into lines (without "\n" or "\r\n"), in place.  A final line without a newline
 * counts; an empty last line after the final newline does not.  Returns an array of *count
 * pointers into text (free the array only), or NULL when out of memory. */
char **cli_split_lines(char *text, size_t *count);
/* Checks, before any work, that path can be written: its directory exists and takes new files,
 * and it is not a directory; with in_place (a file opened where it is, like a log) an existing
 * file must also be writable.  `what` names the output ("checkpoint").  path NULL is fine.
 * Prints one error line and returns EXIT_FAILURE_RUNTIME on failure. */
int cli_check_output(const char *path, const char *what, int in_place);
/* Replaces path with text through a temporary file beside it, fsync and rename, so that a crash
 * leaves the old file or the new one.  Prints one error line and returns an exit code. */
int cli_write_text_atomically(const char *path, const char *text, const char *what);

/* mkdir -p: creates path and its missing parents.  Returns 0, or -1 with errno set. */
int cli_make_directory(const char *path);
/* "dir/name" (malloc'd), or NULL when out of memory. */
char *cli_join_path(const char *dir, const char *name);
/* The command as typed ("spdf demo --size tiny"), each argument quoted for a POSIX shell where
 * needed, for reports (malloc'd; NULL when out of memory). */
char *cli_command_line(int argc, char **argv);

/* ---- The library ---- */

/* Creates a context for a backend name (NULL: SPDF_BACKEND or auto) and a thread count
 * (0: all cores).  On failure prints one line and returns the exit code, else EXIT_OK. */
int cli_context_create(const char *backend, int32_t threads, spdf_context **ctx);
/* Name of a phase: "dense" or "sparse". */
const char *cli_phase_name(int32_t phase);
/* "random", "magnitude", "erk", NULL-ended: the --mask choices (spdf_mask_method order). */
extern const char *const cli_mask_method_names[];
/* "estimate" and "measure", the --sparse-plan choices (spdf_sparse_plan_mode order), NULL-ended. */
extern const char *const cli_plan_mode_names[];
/* The kernel plan of a sparse model: with per_layer 0 one line counting each product's kernels,
 * else a line per masked layer.  Nothing for a dense model. */
void cli_print_sparse_plan(FILE *out, const spdf_model *model, int per_layer);
/* Seconds from an arbitrary fixed point, monotonic. */
double cli_now(void);

/* ---- Signals: SIGINT and SIGTERM ask the training loops to save and stop ---- */

/* Installs the handlers and releases held signals.  The first signal is a stop request (cli_interrupted); a second one
 * within 1.5 s is the same request (`timeout` and process-group kills send two).  A later second
 * one, or a third, asks to end now: the process exits with 130 at once if a checkpoint of the
 * current run is on disk (cli_stop_saved) and no save is under way, else the loop ends after
 * its save as for the first request. */
void cli_signals_install(void);
/* Blocks SIGINT and SIGTERM: one arriving is held, also across an exec, until release (or
 * cli_signals_install, which releases them once its handlers are in place). */
void cli_signals_hold(void);
void cli_signals_release(void);
int cli_interrupted(void);
/* Around a checkpoint save: cli_stop_saving before it, then cli_stop_saved (path now holds the
 * state after `step`) or cli_stop_save_failed (the file is what it was). */
void cli_stop_saving(void);
void cli_stop_saved(const char *path, int64_t step);
void cli_stop_save_failed(void);
/* A new run begins (its checkpoint is not on disk yet): "end now" waits for its first save. */
void cli_stop_forget(void);

/* ---- Model files: libspdf checkpoints and the formats the library imports (src/tools.c) ---- */

typedef enum model_file_format {
    MODEL_FILE_CHECKPOINT = 0, /* libspdf's own ("SPDFCKPT") */
    MODEL_FILE_SAFETENSORS = 1,
    MODEL_FILE_LLMC = 2,
    MODEL_FILE_UNKNOWN = 3
} model_file_format;

/* "checkpoint", "safetensors", "llmc", NULL-ended: the model_file_format order. */
extern const char *const cli_model_file_format_names[];
/* The format of a model file, told by its first bytes (the magics of a checkpoint and of llm.c,
 * a safetensors header length followed by '{'); MODEL_FILE_UNKNOWN for anything else.  Prints
 * one error line and returns EXIT_BAD_INPUT when the file cannot be read. */
int cli_model_file_format(const char *path, model_file_format *format);
/* A dense model from a safetensors or llm.c file; heads 0: the file's.  Prints one error line
 * and returns an exit code on failure. */
int cli_import_model(spdf_context *ctx, const char *path, model_file_format format, int32_t heads,
                     spdf_model **model);

/* The model in a checkpoint (without its training state), a safetensors or an llm.c file, told
 * by its first bytes (safetensors with the file's "n_head").  Prints one error line and returns
 * an exit code on failure. */
int cli_load_model_file(spdf_context *ctx, const char *path, spdf_model **model);

/* ---- Subcommands: each parses its own arguments (argv[0] is the subcommand name) ---- */

int command_tokenize(int argc, char **argv);
int command_pretrain(int argc, char **argv);
int command_finetune(int argc, char **argv);
int command_generate(int argc, char **argv);
int command_eval(int argc, char **argv);
int command_score(int argc, char **argv);
int command_flops(int argc, char **argv);
int command_info(int argc, char **argv);
int command_export(int argc, char **argv);
int command_import(int argc, char **argv);
int command_demo(int argc, char **argv);
int command_plot(int argc, char **argv);
int command_experiment(int argc, char **argv);

#endif /* SPDF_CLI_H */
