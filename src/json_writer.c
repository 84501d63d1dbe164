/* One-line JSON objects: keys in the order written, strings escaped per RFC 8259, non-finite
 * numbers as null. */
#include "json_writer.h"

#include <math.h>
#include <stdlib.h>

void json_write_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        switch (*c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*c < 0x20) fprintf(out, "\\u%04x", *c);
            else fputc(*c, out);
        }
    }
    fputc('"', out);
}

void json_begin(json_writer *w, FILE *out)
{
    w->out = out;
    w->fields = 0;
    fputc('{', out);
}

void json_end(json_writer *w)
{
    fputs("}\n", w->out);
    fflush(w->out);
}

static void key(json_writer *w, const char *name)
{
    if (w->fields++) fputs(", ", w->out);
    json_write_string(w->out, name);
    fputs(": ", w->out);
}

void json_string(json_writer *w, const char *name, const char *value)
{
    key(w, name);
    if (value) json_write_string(w->out, value);
    else fputs("null", w->out);
}

void json_int(json_writer *w, const char *name, int64_t value)
{
    key(w, name);
    fprintf(w->out, "%lld", (long long)value);
}

/* The shortest of `digits`..17 significant digits that reads back as the same double. */
static void number(FILE *out, double value, int digits)
{
    if (!isfinite(value)) {
        fputs("null", out);
        return;
    }
    char text[40];
    for (; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, value);
        if (strtod(text, NULL) == value) break;
    }
    fputs(text, out);
}

void json_number(json_writer *w, const char *name, double value)
{
    key(w, name);
    number(w->out, value, 15);
}

void json_float(json_writer *w, const char *name, float value)
{
    key(w, name);
    char text[32];
    snprintf(text, sizeof text, "%.9g", (double)value);
    fputs(isfinite(value) ? text : "null", w->out);
}

void json_bool(json_writer *w, const char *name, int value)
{
    key(w, name);
    fputs(value ? "true" : "false", w->out);
}

void json_number_array(json_writer *w, const char *name, const double *values, int count)
{
    key(w, name);
    fputc('[', w->out);
    for (int i = 0; i < count; i++) {
        if (i) fputs(", ", w->out);
        number(w->out, values[i], 15);
    }
    fputc(']', w->out);
}

void json_int_array(json_writer *w, const char *name, const int64_t *values, int count)
{
    key(w, name);
    fputc('[', w->out);
    for (int i = 0; i < count; i++) fprintf(w->out, "%s%lld", i ? ", " : "", (long long)values[i]);
    fputc(']', w->out);
}
