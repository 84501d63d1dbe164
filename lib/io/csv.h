/* A strict RFC 4180 CSV record reader: comma-separated fields, records ended by LF or CRLF,
 * double-quoted fields that may hold commas, line breaks and doubled quotes ("").  Any deviation
 * is SPDF_EFORMAT with "path:line: what". */
#ifndef SPDF_IO_CSV_H
#define SPDF_IO_CSV_H

#include "io/text.h"

typedef struct csv_reader {
    const char *path; /* for messages */
    const char *pos, *end;
    int64_t line;       /* physical line of pos, from 1 */
    text_buffer fields; /* the current record's fields, each followed by its NUL */
    size_t *offsets;    /* start of field i in `fields` */
    size_t offsets_cap;
} csv_reader;

/* Starts reading text[0, len), which must be valid UTF-8 (text_check_utf8) after any BOM. */
void csv_init(csv_reader *reader, const char *path, const char *text, size_t len);
void csv_free(csv_reader *reader);

/* Reads the next record.  Lines that are entirely empty carry no record and are skipped.  On
 * SPDF_OK, *count is the number of fields (0 at the end of the input), *line the line on which the
 * record starts, and csv_field(reader, i) the text of field i, valid until the next call. */
spdf_status csv_next(csv_reader *reader, size_t *count, int64_t *line);
const char *csv_field(const csv_reader *reader, size_t index);

#endif
