/* Progress of a training run on stderr (an updating line on a terminal, occasional lines
 * otherwise) and the JSON Lines metrics log. */
#ifndef SPDF_CLI_PROGRESS_H
#define SPDF_CLI_PROGRESS_H

#include "json_writer.h"

#include <stdint.h>
#include <stdio.h>

typedef enum progress_mode {
    PROGRESS_OFF = 0,
    PROGRESS_TTY = 1,  /* one line rewritten in place with "\r" */
    PROGRESS_LINES = 2 /* a new line at every 10 % of the run and at least every line_seconds,
                          for logs, pipes and CI */
} progress_mode;

typedef struct progress {
    progress_mode mode;
    const char *label;       /* "pretrain dense" */
    int64_t first_step;      /* the step the run (or the resumed run) starts from */
    int64_t total_steps;
    int64_t tokens_per_step; /* batch x context */
    int64_t tokens;          /* set by progress_tokens: tokens processed since the start */
    double start, last_print;
    double line_seconds;     /* PROGRESS_LINES: longest wait between two lines (0: every step) */
    int next_decile;
    int line_open;           /* a TTY line is on screen without its newline */
} progress;

/* Default of line_seconds: a line every half minute is enough for a log, and little to read. */
#define PROGRESS_LINE_SECONDS 30.0

/* PROGRESS_TTY when stderr is a terminal, else `otherwise`. */
progress_mode progress_default_mode(progress_mode otherwise);
void progress_start(progress *p, progress_mode mode, const char *label, int64_t first_step,
                    int64_t total_steps, int64_t tokens_per_step);
/* After step `step` (1-based count of steps done) with its loss and learning rate. */
void progress_update(progress *p, int64_t step, float loss, float lr);
/* Tokens processed so far, when steps differ in size (else tokens_per_step is used). */
void progress_tokens(progress *p, int64_t tokens);
/* After `done` of total_steps items (decoding): count, elapsed time and ETA only. */
void progress_count(progress *p, int64_t done);
/* A message on its own line (the progress line is finished first). */
void progress_note(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_finish(progress *p);

/* The JSON Lines log: one object per event, each with an "event" member. */
typedef struct metrics_log {
    FILE *file; /* NULL when no log was asked for */
} metrics_log;

/* Opens path for writing (append = 1 keeps what is there, for resumed runs).  path NULL gives a
 * log that writes nothing.  Prints one error line and returns EXIT_FAILURE_RUNTIME on failure. */
int metrics_open(metrics_log *log, const char *path, int append);
void metrics_close(metrics_log *log);
/* Starts a record {"event": event, ...}; returns 0 (and writes nothing) without a log. */
int metrics_begin(metrics_log *log, json_writer *w, const char *event);

#endif /* SPDF_CLI_PROGRESS_H */
