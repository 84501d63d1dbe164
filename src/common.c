/* Helpers shared by the subcommands: one-line error messages, whole-file reading, the context,
 * output paths checked before the work, a monotonic clock and the stop requests of SIGINT and
 * SIGTERM. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* The directory part of path ("." when there is none), malloc'd. */
static char *directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const size_t length = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    char *dir = malloc(length + 1);
    if (!dir) return NULL;
    memcpy(dir, slash ? path : ".", length);
    dir[length] = '\0';
    return dir;
}

/* Creates and removes a file in dir: the one sure test of permissions, read-only mounts and
 * quotas on inodes.  Returns 0, or the errno of the failure. */
static int probe_directory(const char *dir)
{
    char *probe = malloc(strlen(dir) + 64);
    if (!probe) return ENOMEM;
    int err = EEXIST;
    for (int attempt = 0; attempt < 8 && err == EEXIST; attempt++) {
        sprintf(probe, "%s/.spdf-write-test.%ld.%d", dir, (long)getpid(), attempt);
        const int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        err = fd < 0 ? errno : 0;
        if (fd >= 0) {
            close(fd);
            unlink(probe);
        }
    }
    free(probe);
    return err;
}

int cli_check_output(const char *path, const char *what, int in_place)
{
    if (!path) return EXIT_OK;
    struct stat st;
    const int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        cli_error("cannot write the %s '%s': it is a directory", what, path);
        return EXIT_FAILURE_RUNTIME;
    }
    if (exists && in_place && access(path, W_OK) != 0) {
        cli_error("cannot write the %s '%s': %s", what, path, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    char *dir = directory_of(path);
    if (!dir) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    int err = stat(dir, &st) != 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
    if (err == ENOENT)
        cli_error("cannot write the %s '%s': the directory '%s' does not exist", what, path, dir);
    else if (err)
        cli_error("cannot write the %s '%s': '%s': %s", what, path, dir, strerror(err));
    else if ((err = probe_directory(dir)) != 0)
        cli_error("cannot write the %s '%s': cannot create files in '%s': %s", what, path, dir, strerror(err));
    free(dir);
    return err ? EXIT_FAILURE_RUNTIME : EXIT_OK;
}

int cli_write_text_atomically(const char *path, const char *text, const char *what)
{
    char *tmp = malloc(strlen(path) + 32);
    if (!tmp) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
    int err = 0;
    FILE *file = fopen(tmp, "w");
    if (!file) {
        err = errno;
    } else {
        if (fputs(text, file) < 0 || fflush(file) != 0 || fsync(fileno(file)) != 0) err = errno;
        if (fclose(file) != 0 && !err) err = errno;
    }
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        cli_error("cannot write the %s '%s': %s", what, path, strerror(err));
        unlink(tmp);
    }
    free(tmp);
    return err ? EXIT_FAILURE_RUNTIME : EXIT_OK;
}

int cli_make_directory(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return -1;
    for (char *slash = strchr(copy + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash) *slash = '\0';
        if (mkdir(copy, 0777) != 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        if (!slash) break;
        *slash = '/';
    }
    free(copy);
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

char *cli_join_path(const char *dir, const char *name)
{
    const size_t dir_length = strlen(dir), name_length = strlen(name);
    char *path = malloc(dir_length + name_length + 2);
    if (!path) return NULL;
    memcpy(path, dir, dir_length);
    path[dir_length] = '/';
    memcpy(path + dir_length + 1, name, name_length + 1);
    return path;
}

char *cli_command_line(int argc, char **argv)
{
    size_t length = 16;
    for (int i = 0; i < argc; i++) length += 4 * strlen(argv[i]) + 3;
    char *line = malloc(length);
    if (!line) return NULL;
    strcpy(line, "spdf");
    char *end = line + strlen(line);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const int plain = arg[0] && strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                "-_./=:,+@%") == strlen(arg);
        *end++ = ' ';
        if (!plain) *end++ = '\'';
        for (const char *c = arg; *c; c++) {
            if (*c == '\'' && !plain) {
                memcpy(end, "'\\''", 4);
                end += 4;
            } else {
                *end++ = *c;
            }
        }
        if (!plain) *end++ = '\'';
    }
    *end = '\0';
    return line;
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

const char *const cli_mask_method_names[] = {"random", "magnitude", "erk", NULL};

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

/* ---- Stopping.  A first SIGINT or SIGTERM is a request to stop: the loop finishes its step,
 * saves and exits with 130.  `timeout` and process-group kills deliver the same request twice
 * within a millisecond, so a second signal soon after the first is the same request.  Only a
 * clearly separate one (a second after STOP_SAME_REQUEST_MS, or a third) means "end now", and
 * that exits at once only while a checkpoint of the current run is on disk and no save is under
 * way, so that the message can name the step the file holds; otherwise the loop ends after the
 * save as for the first request. ---- */

enum { STOP_SAME_REQUEST_MS = 1500 };

/* What is on disk: nothing of this run yet, a save under way, or a checkpoint described by
 * end_now_messages[state - STOP_SAVED].  Two buffers, written alternately, so that a handler
 * printing one is never looking at the one being written. */
enum { STOP_NOTHING_SAVED = 0, STOP_SAVING = 1, STOP_SAVED = 2 };

static atomic_int stop_requests;      /* signals received */
static atomic_llong first_request_ms; /* monotonic time of the first one; 0 until it is known */
static atomic_int saved_state = STOP_NOTHING_SAVED;
static char end_now_messages[2][1200];
static size_t end_now_lengths[2];
static int next_message;

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int signal_number)
{
    (void)signal_number;
    const int saved_errno = errno;
    const int earlier = atomic_fetch_add(&stop_requests, 1);
    if (earlier == 0) {
        const long long now = monotonic_ms();
        atomic_store(&first_request_ms, now > 0 ? now : 1);
    } else {
        const long long first = atomic_load(&first_request_ms);
        const int separate = earlier >= 2 || (first > 0 && monotonic_ms() - first >= STOP_SAME_REQUEST_MS);
        const int state = atomic_load(&saved_state);
        if (separate && state >= STOP_SAVED) {
            const int m = state - STOP_SAVED;
            const ssize_t written = write(STDERR_FILENO, end_now_messages[m], end_now_lengths[m]);
            (void)written;
            _exit(EXIT_INTERRUPTED);
        }
    }
    errno = saved_errno;
}

void cli_signals_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaddset(&action.sa_mask, SIGINT);
    sigaddset(&action.sa_mask, SIGTERM);
    action.sa_flags = SA_RESTART; /* a save or a read in progress goes on */
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    cli_signals_release(); /* a request held since the start reaches the handler now */
}

static void mask_stop_signals(int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(how, &set, NULL);
}

void cli_signals_hold(void)
{
    mask_stop_signals(SIG_BLOCK);
}

void cli_signals_release(void)
{
    mask_stop_signals(SIG_UNBLOCK);
}

int cli_interrupted(void)
{
    return atomic_load(&stop_requests) != 0;
}

void cli_stop_saving(void)
{
    if (atomic_load(&saved_state) >= STOP_SAVED) atomic_store(&saved_state, STOP_SAVING);
}

void cli_stop_save_failed(void)
{
    /* the file on disk is the one before (saves are atomic), or none: say so again */
    if (atomic_load(&saved_state) == STOP_SAVING) atomic_store(&saved_state, STOP_SAVED + (1 - next_message));
}

void cli_stop_saved(const char *path, int64_t step)
{
    char *message = end_now_messages[next_message];
    const size_t size = sizeof end_now_messages[0];
    const int n = snprintf(message, size, "%s: stopped at once (a second stop request); '%s' holds step %lld, "
                           "the last one saved\n", current_command, path, (long long)step);
    if (n <= 0) return;
    end_now_lengths[next_message] = (size_t)n < size ? (size_t)n : size - 1;
    message[end_now_lengths[next_message] - 1] = '\n';
    atomic_store(&saved_state, STOP_SAVED + next_message);
    next_message = 1 - next_message;
}

void cli_stop_forget(void)
{
    atomic_store(&saved_state, STOP_NOTHING_SAVED);
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
