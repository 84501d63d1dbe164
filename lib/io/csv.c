/* Strict RFC 4180 record reader (see csv.h): quoted fields may hold commas, line breaks and
 * doubled quotes; a quote inside an unquoted field or text after a closing quote is an error. */
#include "io/csv.h"
#include "core/core.h"

#include <stdlib.h>

void csv_init(csv_reader *reader, const char *path, const char *text, size_t len)
{
    *reader = (csv_reader){0};
    reader->path = path;
    reader->pos = text;
    reader->end = text + len;
    reader->line = 1;
}

void csv_free(csv_reader *reader)
{
    text_buffer_free(&reader->fields);
    free(reader->offsets);
    reader->offsets = NULL;
    reader->offsets_cap = 0;
}

const char *csv_field(const csv_reader *reader, size_t index)
{
    return reader->fields.data + reader->offsets[index];
}

static spdf_status out_of_memory(const csv_reader *reader)
{
    return spdf_fail(SPDF_ENOMEM, "out of memory reading %s", reader->path);
}

static spdf_status start_field(csv_reader *reader, size_t index)
{
    if (index == reader->offsets_cap) {
        const size_t cap = reader->offsets_cap ? 2 * reader->offsets_cap : 8;
        size_t *offsets = realloc(reader->offsets, cap * sizeof *offsets);
        if (!offsets) return out_of_memory(reader);
        reader->offsets = offsets;
        reader->offsets_cap = cap;
    }
    reader->offsets[index] = reader->fields.len;
    return SPDF_OK;
}

/* A quoted field; pos is just after the opening quote. */
static spdf_status read_quoted(csv_reader *reader)
{
    const int64_t opened = reader->line;
    for (;;) {
        if (reader->pos == reader->end)
            return spdf_fail(SPDF_EFORMAT, "%s:%lld: quoted field is never closed", reader->path,
                             (long long)opened);
        const char c = *reader->pos;
        if (c == '"') {
            if (reader->pos + 1 < reader->end && reader->pos[1] == '"') {
                if (text_push(&reader->fields, '"') != 0) return out_of_memory(reader);
                reader->pos += 2;
                continue;
            }
            reader->pos++;
            break;
        }
        if (c == '\n') reader->line++;
        if (text_push(&reader->fields, c) != 0) return out_of_memory(reader);
        reader->pos++;
    }
    if (reader->pos < reader->end && *reader->pos != ',' && *reader->pos != '\n' &&
        *reader->pos != '\r')
        return spdf_fail(SPDF_EFORMAT,
                         "%s:%lld: unexpected '%c' after the closing quote of a field",
                         reader->path, (long long)reader->line, *reader->pos);
    return SPDF_OK;
}

static spdf_status read_unquoted(csv_reader *reader)
{
    while (reader->pos < reader->end && *reader->pos != ',' && *reader->pos != '\n' &&
           *reader->pos != '\r') {
        if (*reader->pos == '"')
            return spdf_fail(SPDF_EFORMAT,
                             "%s:%lld: quote inside an unquoted field (a field holding quotes must "
                             "be quoted, with each quote doubled)",
                             reader->path, (long long)reader->line);
        if (text_push(&reader->fields, *reader->pos) != 0) return out_of_memory(reader);
        reader->pos++;
    }
    return SPDF_OK;
}

/* Consumes an LF or CRLF at pos if there is one; returns 1 if it did. */
static int skip_line_end(csv_reader *reader)
{
    if (reader->pos < reader->end && *reader->pos == '\n') {
        reader->pos++;
    } else if (reader->end - reader->pos >= 2 && reader->pos[0] == '\r' && reader->pos[1] == '\n') {
        reader->pos += 2;
    } else {
        return 0;
    }
    reader->line++;
    return 1;
}

spdf_status csv_next(csv_reader *reader, size_t *count, int64_t *line)
{
    while (skip_line_end(reader)) {
    }
    *count = 0;
    *line = reader->line;
    if (reader->pos == reader->end) return SPDF_OK;
    text_buffer_clear(&reader->fields);
    size_t fields = 0;
    for (;;) {
        SPDF_TRY(start_field(reader, fields));
        if (*reader->pos == '"') {
            reader->pos++;
            SPDF_TRY(read_quoted(reader));
        } else {
            SPDF_TRY(read_unquoted(reader));
        }
        if (text_push(&reader->fields, '\0') != 0) return out_of_memory(reader);
        fields++;
        if (reader->pos == reader->end) break;
        if (*reader->pos == ',') {
            reader->pos++;
            if (reader->pos == reader->end) { /* "a," at the very end: a last, empty field */
                SPDF_TRY(start_field(reader, fields));
                if (text_push(&reader->fields, '\0') != 0) return out_of_memory(reader);
                fields++;
                break;
            }
            continue;
        }
        if (!skip_line_end(reader))
            return spdf_fail(SPDF_EFORMAT, "%s:%lld: carriage return without a line feed",
                             reader->path, (long long)reader->line);
        break;
    }
    *count = fields;
    return SPDF_OK;
}
