/* Text utilities shared by the task-data readers (CSV, JSON, XML) and the BLEU scorer: whole-file
 * reading, UTF-8 decoding and checking, a growable byte buffer and a string-to-index map. */
#ifndef SPDF_IO_TEXT_H
#define SPDF_IO_TEXT_H

#include "spdf.h"

#include <stddef.h>
#include <stdint.h>

/* ---- growable byte buffer; every append keeps a NUL after the last byte ---- */

typedef struct text_buffer {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
} text_buffer;

/* Each returns 0, or -1 when memory runs out (the buffer is then unchanged). */
int text_append(text_buffer *buffer, const char *bytes, size_t n);
int text_push(text_buffer *buffer, char c);
int text_push_utf8(text_buffer *buffer, uint32_t code_point);
void text_buffer_clear(text_buffer *buffer);
void text_buffer_free(text_buffer *buffer);
/* Hands the bytes over to the caller (an empty string if nothing was appended) and resets the
 * buffer; NULL when memory runs out. */
char *text_take(text_buffer *buffer);

/* ---- files ---- */

/* Reads a whole file into a NUL-terminated malloc'ed buffer.  SPDF_EIO names the path. */
spdf_status text_read_file(const char *path, char **data, size_t *len);
/* SPDF_EFORMAT "path:line: ..." unless the bytes are well-formed UTF-8 without NUL bytes.  The
 * readers run it first, so their parsers may rely on both properties. */
spdf_status text_check_utf8(const char *path, const char *data, size_t len);
/* Length of a UTF-8 byte order mark at the start of data (3 or 0). */
size_t text_bom_length(const char *data, size_t len);

/* ---- UTF-8 ---- */

/* Decodes the sequence at s[0, n): returns its length (1 to 4) and stores the code point, or
 * returns 0 for a malformed, overlong, truncated or surrogate sequence. */
size_t utf8_decode(const char *s, size_t n, uint32_t *code_point);
/* 1 for the code points Python's str.isspace() accepts (ASCII blanks, U+001C..U+001F, U+0085,
 * U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000). */
int unicode_is_space(uint32_t code_point);

/* ---- string -> index map with its own copies of the keys ---- */

typedef struct text_map_slot {
    char *key; /* NULL for an empty slot */
    size_t key_len;
    uint64_t hash;
    int64_t value;
} text_map_slot;

typedef struct text_map {
    text_map_slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t count;
} text_map;

/* Looks key up; if absent, inserts it with value `value_if_new`.  *value receives the stored
 * value and *inserted (may be NULL) 1 if the key was new.  Returns 0, or -1 when memory runs
 * out. */
int text_map_intern(text_map *map, const char *key, size_t key_len, int64_t value_if_new,
                    int64_t *value, int *inserted);
void text_map_free(text_map *map);

#endif
