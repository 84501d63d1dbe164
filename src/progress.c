/* Progress lines (step, loss, learning rate, tokens/s, ETA) on stderr and the JSON Lines metrics
 * log that training runs write with --log. */
#include "progress.h"

#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

progress_mode progress_default_mode(progress_mode otherwise)
{
    return isatty(STDERR_FILENO) ? PROGRESS_TTY : otherwise;
}

void progress_start(progress *p, progress_mode mode, const char *label, int64_t first_step,
                    int64_t total_steps, int64_t tokens_per_step)
{
    memset(p, 0, sizeof *p);
    p->mode = mode;
    p->label = label;
    p->first_step = first_step;
    p->total_steps = total_steps;
    p->tokens_per_step = tokens_per_step;
    p->start = cli_now();
    p->last_print = p->start;
    p->line_seconds = PROGRESS_LINE_SECONDS;
    p->next_decile = 1;
}

static void format_duration(char *out, size_t size, double seconds)
{
    if (seconds < 0) seconds = 0;
    const long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(out, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60) snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
    else snprintf(out, size, "%lds", s);
}

static void print_status(const progress *p, int64_t step, float loss, float lr, double now)
{
    const double elapsed = now - p->start;
    const int64_t done = step - p->first_step;
    const int64_t tokens = p->tokens > 0 ? p->tokens : done * p->tokens_per_step;
    const double tokens_per_s = elapsed > 0 ? (double)tokens / elapsed : 0;
    const double eta = done > 0 ? elapsed / (double)done * (double)(p->total_steps - step) : 0;
    char eta_text[32], elapsed_text[32];
    format_duration(eta_text, sizeof eta_text, eta);
    format_duration(elapsed_text, sizeof elapsed_text, elapsed);
    fprintf(stderr, "%s  step %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  %s elapsed  ETA %s",
            p->label, (long long)step, (long long)p->total_steps, (double)loss, (double)lr,
            tokens_per_s, elapsed_text, eta_text);
}

void progress_tokens(progress *p, int64_t tokens)
{
    p->tokens = tokens;
}

void progress_update(progress *p, int64_t step, float loss, float lr)
{
    if (p->mode == PROGRESS_OFF) return;
    const double now = cli_now();
    if (p->mode == PROGRESS_TTY) {
        if (now - p->last_print < 0.25 && step < p->total_steps) return;
        p->last_print = now;
        fputs("\r\033[K", stderr);
        print_status(p, step, loss, lr, now);
        p->line_open = 1;
        fflush(stderr);
        return;
    }
    const int64_t span = p->total_steps - p->first_step;
    const int new_decile = span > 0 && (step - p->first_step) * 10 >= (int64_t)p->next_decile * span;
    if (!new_decile && now - p->last_print < p->line_seconds && step < p->total_steps) return;
    while (span > 0 && (step - p->first_step) * 10 >= (int64_t)p->next_decile * span) p->next_decile++;
    p->last_print = now;
    print_status(p, step, loss, lr, now);
    fputc('\n', stderr);
    fflush(stderr);
}

void progress_count(progress *p, int64_t done)
{
    if (p->mode == PROGRESS_OFF) return;
    const double now = cli_now();
    const int64_t span = p->total_steps - p->first_step;
    if (p->mode == PROGRESS_TTY) {
        if (now - p->last_print < 0.25 && done < p->total_steps) return;
        p->last_print = now;
        fputs("\r\033[K", stderr);
        p->line_open = 1;
    } else {
        if (span <= 0 || (done - p->first_step) * 10 < (int64_t)p->next_decile * span) return;
        while ((done - p->first_step) * 10 >= (int64_t)p->next_decile * span) p->next_decile++;
    }
    const double elapsed = now - p->start;
    const double eta = done > p->first_step ? elapsed / (double)(done - p->first_step) * (double)(p->total_steps - done) : 0;
    char eta_text[32], elapsed_text[32];
    format_duration(eta_text, sizeof eta_text, eta);
    format_duration(elapsed_text, sizeof elapsed_text, elapsed);
    fprintf(stderr, "%s  %lld/%lld  %s elapsed  ETA %s", p->label, (long long)done, (long long)p->total_steps,
            elapsed_text, eta_text);
    if (p->mode == PROGRESS_LINES) fputc('\n', stderr);
    fflush(stderr);
}

static void close_line(progress *p)
{
    if (p->line_open) {
        fputc('\n', stderr);
        p->line_open = 0;
    }
}

void progress_note(progress *p, const char *fmt, ...)
{
    if (p->mode == PROGRESS_OFF) return;
    close_line(p);
    va_list args;
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    fflush(stderr);
}

void progress_finish(progress *p)
{
    close_line(p);
    fflush(stderr);
}

int metrics_open(metrics_log *log, const char *path, int append)
{
    log->file = NULL;
    if (!path) return EXIT_OK;
    log->file = fopen(path, append ? "a" : "w");
    if (!log->file) {
        cli_error("cannot write the log '%s': %s", path, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    /* whole records reach the file one by one: a process killed at any moment leaves no half line */
    setvbuf(log->file, NULL, _IOLBF, 0);
    return EXIT_OK;
}

void metrics_close(metrics_log *log)
{
    if (log->file) fclose(log->file);
    log->file = NULL;
}

int metrics_begin(metrics_log *log, json_writer *w, const char *event)
{
    if (!log->file) return 0;
    json_begin(w, log->file);
    json_string(w, "event", event);
    return 1;
}
