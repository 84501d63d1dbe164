/* A small, strict JSON (RFC 8259) parser into a tree, for the task-data readers.  Strings are
 * decoded (all escapes, \uXXXX surrogate pairs) to NUL-terminated UTF-8; numbers are checked
 * against the grammar and kept as their text.  Every value remembers its line for messages. */
#ifndef SPDF_IO_JSON_H
#define SPDF_IO_JSON_H

#include "io/text.h"

typedef enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    int64_t line;      /* line on which the value starts */
    char *text;        /* STRING: the decoded string; NUMBER: the literal */
    size_t length;     /* bytes in text */
    json_value *items; /* ARRAY: the elements; OBJECT: the member values */
    char **keys;       /* OBJECT: the member names (decoded), parallel to items */
    size_t count;      /* ARRAY/OBJECT: number of elements or members */
};

/* Parses text[0, len) (valid UTF-8 without NUL bytes, see text_check_utf8) as exactly one JSON
 * value with optional surrounding whitespace.  first_line is the line number of text[0] in the
 * file called path.  Besides RFC 8259 violations, a member name repeated within an object,
 * nesting deeper than 256 and the escape \u0000 are SPDF_EFORMAT ("path:line: what"). */
spdf_status json_parse(const char *path, int64_t first_line, const char *text, size_t len,
                       json_value **out);
void json_free(json_value *value);

/* The member called key of an object, or NULL. */
const json_value *json_member(const json_value *object, const char *key);
/* "string", "array", ... for messages. */
const char *json_type_name(json_type type);

#endif
