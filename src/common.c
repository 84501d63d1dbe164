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

const char *const cli_plan_mode_names[] = {"estimate", "measure", NULL};

static const char *kernel_name(int32_t kind)
{
    switch (kind) {
    case SPDF_SPARSE_KERNEL_INDEX: return "index";
    case SPDF_SPARSE_KERNEL_JIT: return "jit";
    case SPDF_SPARSE_KERNEL_DENSE: return "dense";
    default: return "?";
    }
}

static const char *planned_by_name(int32_t source)
{
    static const char *const names[] = {"estimate", "measure", "forced", "checkpoint"};
    return source >= 0 && source < 4 ? names[source] : "?";
}

void cli_print_sparse_plan(FILE *out, const spdf_model *model, int per_layer)
{
    spdf_sparse_kernel_info ki;
    memset(&ki, 0, sizeof ki);
    ki.struct_size = sizeof ki;
    if (spdf_model_sparse_kernel_info(model, 0, &ki) != SPDF_OK) return; /* dense */
    int counts[3][3] = {{0}};
    static const char *const products[3] = {"forward", "backward-data", "weight-gradient"};
    if (per_layer)
        fprintf(out, "kernel plan (%s index kernels, %d-float vectors), time against the dense GEMM:\n",
                ki.isa, (int)ki.vector_floats);
    int32_t layer = 0;
    for (; spdf_model_sparse_kernel_info(model, layer, &ki) == SPDF_OK; layer++) {
        const int32_t kinds[3] = {ki.forward, ki.backward_data, ki.backward_weight};
        const float times[3] = {ki.forward_time, ki.backward_data_time, ki.backward_weight_time};
        for (int p = 0; p < 3; p++)
            if (kinds[p] >= 0 && kinds[p] < 3) counts[p][kinds[p]]++;
        if (!per_layer) continue;
        fprintf(out, "  layer %2d:", (int)layer);
        for (int p = 0; p < 3; p++)
            fprintf(out, " %s %s %.2fx%s", products[p], kernel_name(kinds[p]), (double)times[p],
                    p < 2 ? "," : "");
        fprintf(out, " (%s)\n", planned_by_name(ki.planned_by));
    }
    if (per_layer) return;
    fprintf(out, "kernel plan (%s, %s index kernels) over %d layers:", planned_by_name(ki.planned_by),
            ki.isa, (int)layer);
    for (int p = 0; p < 3; p++) {
        fprintf(out, " %s", products[p]);
        for (int k = 0; k < 3; k++)
            if (counts[p][k]) fprintf(out, " %s %d", kernel_name(k), counts[p][k]);
        fprintf(out, "%s", p < 2 ? ";" : "\n");
    }
}
