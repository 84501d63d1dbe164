/* A minimal writer of one-line JSON objects: the metrics log (JSON Lines) and the --json output
 * of the subcommands. */
#ifndef SPDF_CLI_JSON_WRITER_H
#define SPDF_CLI_JSON_WRITER_H

#include <stdint.h>
#include <stdio.h>

typedef struct json_writer {
    FILE *out;
    int fields; /* members written so far in the current object */
} json_writer;

/* Starts an object ("{") on out. */
void json_begin(json_writer *w, FILE *out);
/* Ends the object with "}\n" and flushes. */
void json_end(json_writer *w);

void json_string(json_writer *w, const char *key, const char *value); /* NULL writes null */
void json_int(json_writer *w, const char *key, int64_t value);
/* Doubles in the fewest digits (15 to 17) that read back exactly; NaN and infinities become
 * null. */
void json_number(json_writer *w, const char *key, double value);
/* Floats with 9 significant digits: enough to read back the exact float (for losses that
 * resumed runs must reproduce bit for bit). */
void json_float(json_writer *w, const char *key, float value);
void json_bool(json_writer *w, const char *key, int value);
void json_number_array(json_writer *w, const char *key, const double *values, int count);
void json_int_array(json_writer *w, const char *key, const int64_t *values, int count);

/* Writes a JSON string literal (with quotes and escapes) to out. */
void json_write_string(FILE *out, const char *text);

#endif /* SPDF_CLI_JSON_WRITER_H */
