/* Helpers shared by the subcommands: one-line error messages, whole-file reading, the context,
 * a monotonic clock and the interrupt flag set by SIGINT and SIGTERM. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *current_command = "spdf";

void cli_set_command(const char *name)
{
    current_command = name;
}

const char *cli_command(void)
{
    return current_command;
}

/* Messages must stay on one line: a newline inside a library detail becomes a space. */
static void print_one_line(const char *text)
{
    for (const char *c = text; *c; c++) fputc(*c == '\n' || *c == '\r' ? ' ' : *c, stderr);
}

static void vprint_error(const char *fmt, va_list args)
{
    char message[2048];
    vsnprintf(message, sizeof message, fmt, args);
    fprintf(stderr, "%s: ", current_command);
    print_one_line(message);
}

void cli_error(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vprint_error(fmt, args);
    va_end(args);
    fputc('\n', stderr);
}

int cli_library_error(spdf_status status, int exit_code, const char *fmt, ...)
{
    const char *detail = spdf_last_error();
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", detail && *detail ? detail : spdf_status_name(status));
    va_list args;
    va_start(args, fmt);
    vprint_error(fmt, args);
    va_end(args);
    fputs(": ", stderr);
    print_one_line(saved);
    fputc('\n', stderr);
    return exit_code;
}

int cli_input_exit_code(spdf_status status)
{
    return status == SPDF_EIO || status == SPDF_EFORMAT ? EXIT_BAD_INPUT : EXIT_FAILURE_RUNTIME;
}

char *cli_read_file(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        cli_error("cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(file), &st) != 0 || !S_ISREG(st.st_mode)) {
        cli_error("cannot read '%s': not a regular file", path);
        fclose(file);
        return NULL;
    }
    char *text = malloc((size_t)st.st_size + 1);
    if (!text) {
        cli_error("out of memory reading '%s'", path);
        fclose(file);
        return NULL;
    }
    const size_t got = fread(text, 1, (size_t)st.st_size, file);
    const int failed = ferror(file);
    fclose(file);
    if (failed || got != (size_t)st.st_size) {
        cli_error("cannot read '%s': read error", path);
        free(text);
        return NULL;
    }
    text[got] = '\0';
    *size = got;
    return text;
}

char **cli_split_lines(char *text, size_t *count)
{
    size_t capacity = 16, n = 0;
    char **lines = malloc(capacity * sizeof *lines);
    if (!lines) return NULL;
    char *line = text;
    while (*line) {
        char *end = strchr(line, '\n');
        char *next = end ? end + 1 : line + strlen(line);
        if (end) {
            if (end > line && end[-1] == '\r') end[-1] = '\0';
            *end = '\0';
        }
        if (n == capacity) {
            capacity *= 2;
            char **grown = realloc(lines, capacity * sizeof *lines);
            if (!grown) {
                free(lines);
                return NULL;
            }
            lines = grown;
        }
        lines[n++] = line;
        line = next;
    }
    *count = n;
    return lines;
}

int cli_context_create(const char *backend, int32_t threads, spdf_context **ctx)
{
    spdf_context_config config;
    spdf_context_config_init(&config);
    config.backend = backend;
    config.num_threads = threads;
    const spdf_status status = spdf_context_create(&config, ctx);
    if (status == SPDF_OK) return EXIT_OK;
    return cli_library_error(status, status == SPDF_EUNSUPPORTED ? EXIT_USAGE : EXIT_FAILURE_RUNTIME,
                             "cannot create the compute context");
}

const char *cli_phase_name(int32_t phase)
{
    return phase == SPDF_PHASE_SPARSE ? "sparse" : "dense";
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile sig_atomic_t interrupted_flag = 0;

static void on_signal(int signal_number)
{
    (void)signal_number;
    interrupted_flag = 1;
}

/* The first signal asks the training loop to save and stop; SA_RESETHAND makes a second one
 * terminate the process at once, for a user who does not want to wait for the save. */
void cli_signals_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

int cli_interrupted(void)
{
    return interrupted_flag != 0;
}
