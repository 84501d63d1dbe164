/* Strict recursive-descent JSON parser (RFC 8259) into a json_value tree; see json.h for what it
 * accepts beyond the grammar.  Errors carry "path:line: what". */
#include "io/json.h"
#include "core/core.h"
#include "io/file_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

typedef struct parser {
    const char *path;
    const char *pos, *end;
    int64_t line;
    int depth;
    text_buffer scratch; /* the string being decoded */
} parser;

#define SYNTAX_ERROR(p, line, ...) file_syntax_fail((p)->path, line, __VA_ARGS__)

static spdf_status out_of_memory(const parser *p)
{
    return spdf_fail(SPDF_ENOMEM, "out of memory parsing %s", p->path);
}

/* Describes the character at pos for a message. */
static spdf_status unexpected(const parser *p, const char *expected)
{
    if (p->pos == p->end)
        return SYNTAX_ERROR(p, p->line, "unexpected end of input, expected %s", expected);
    const unsigned char c = (unsigned char)*p->pos;
    if (c >= 0x21 && c < 0x7F)
        return SYNTAX_ERROR(p, p->line, "unexpected '%c', expected %s", c, expected);
    return SYNTAX_ERROR(p, p->line, "unexpected byte 0x%02X, expected %s", c, expected);
}

static void skip_whitespace(parser *p)
{
    while (p->pos < p->end) {
        const char c = *p->pos;
        if (c == '\n') {
            p->line++;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            return;
        }
        p->pos++;
    }
}

static void free_contents(json_value *value)
{
    free(value->text);
    for (size_t i = 0; i < value->count; i++) {
        free_contents(&value->items[i]);
        if (value->keys) free(value->keys[i]);
    }
    free(value->items);
    free(value->keys);
}

void json_free(json_value *value)
{
    if (!value) return;
    free_contents(value);
    free(value);
}

const char *json_type_name(json_type type)
{
    switch (type) {
    case JSON_NULL: return "null";
    case JSON_FALSE: return "false";
    case JSON_TRUE: return "true";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    }
    return "?";
}

const json_value *json_member(const json_value *object, const char *key)
{
    if (object->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < object->count; i++)
        if (strcmp(object->keys[i], key) == 0) return &object->items[i];
    return NULL;
}

/* ---- strings ---- */

static int hex4(const char *s, const char *end, uint32_t *value)
{
    if (end - s < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        const char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (uint32_t)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *value = v;
    return 0;
}

/* A \u escape (pos just after the 'u'), with the second half of a surrogate pair if needed. */
static spdf_status unicode_escape(parser *p)
{
    uint32_t cp;
    if (hex4(p->pos, p->end, &cp) != 0)
        return SYNTAX_ERROR(p, p->line, "\\u must be followed by four hex digits");
    p->pos += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return SYNTAX_ERROR(p, p->line, "\\u%04X is a low surrogate without a high surrogate", cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t low;
        if (p->end - p->pos < 6 || p->pos[0] != '\\' || p->pos[1] != 'u' ||
            hex4(p->pos + 2, p->end, &low) != 0 || low < 0xDC00 || low > 0xDFFF)
            return SYNTAX_ERROR(
                p, p->line, "\\u%04X is a high surrogate not followed by a \\u low surrogate", cp);
        p->pos += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (cp == 0) return SYNTAX_ERROR(p, p->line, "\\u0000 (NUL) is not supported in strings");
    if (text_push_utf8(&p->scratch, cp) != 0) return out_of_memory(p);
    return SPDF_OK;
}

static spdf_status escape(parser *p)
{
    if (p->pos == p->end) return SYNTAX_ERROR(p, p->line, "unterminated string");
    const char e = *p->pos++;
    char c;
    switch (e) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '/': c = '/'; break;
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u': return unicode_escape(p);
    default:
        if ((unsigned char)e >= 0x20 && (unsigned char)e < 0x7F)
            return SYNTAX_ERROR(p, p->line, "invalid escape \\%c", e);
        return SYNTAX_ERROR(p, p->line, "invalid escape: backslash before byte 0x%02X",
                            (unsigned)(unsigned char)e);
    }
    if (text_push(&p->scratch, c) != 0) return out_of_memory(p);
    return SPDF_OK;
}

/* A string at pos (on the opening quote); stores a malloc'ed copy. */
static spdf_status parse_string(parser *p, char **text, size_t *length)
{
    const int64_t line = p->line;
    p->pos++;
    text_buffer_clear(&p->scratch);
    for (;;) {
        if (p->pos == p->end) return SYNTAX_ERROR(p, line, "unterminated string");
        const unsigned char c = (unsigned char)*p->pos;
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return SYNTAX_ERROR(p, p->line,
                                "control character 0x%02X in a string (write it as "
                                "an escape such as \\n)",
                                c);
        if (c == '\\') {
            p->pos++;
            SPDF_TRY(escape(p));
            continue;
        }
        const char *run = p->pos; /* copy the run of plain bytes at once */
        while (p->pos < p->end && *p->pos != '"' && *p->pos != '\\' &&
               (unsigned char)*p->pos >= 0x20)
            p->pos++;
        if (text_append(&p->scratch, run, (size_t)(p->pos - run)) != 0) return out_of_memory(p);
    }
    *length = p->scratch.len;
    char *copy = malloc(p->scratch.len + 1);
    if (!copy) return out_of_memory(p);
    memcpy(copy, p->scratch.data ? p->scratch.data : "", p->scratch.len + 1);
    *text = copy;
    return SPDF_OK;
}

/* ---- numbers and literals ---- */

static int is_digit(const parser *p) { return p->pos < p->end && *p->pos >= '0' && *p->pos <= '9'; }

static spdf_status parse_number(parser *p, json_value *out)
{
    const char *start = p->pos;
    if (*p->pos == '-') p->pos++;
    if (!is_digit(p)) return unexpected(p, "a digit");
    if (*p->pos == '0') {
        p->pos++;
        if (is_digit(p)) return SYNTAX_ERROR(p, p->line, "numbers may not have leading zeros");
    } else {
        while (is_digit(p)) p->pos++;
    }
    if (p->pos < p->end && *p->pos == '.') {
        p->pos++;
        if (!is_digit(p)) return unexpected(p, "a digit after the decimal point");
        while (is_digit(p)) p->pos++;
    }
    if (p->pos < p->end && (*p->pos == 'e' || *p->pos == 'E')) {
        p->pos++;
        if (p->pos < p->end && (*p->pos == '+' || *p->pos == '-')) p->pos++;
        if (!is_digit(p)) return unexpected(p, "a digit in the exponent");
        while (is_digit(p)) p->pos++;
    }
    const size_t n = (size_t)(p->pos - start);
    out->text = malloc(n + 1);
    if (!out->text) return out_of_memory(p);
    memcpy(out->text, start, n);
    out->text[n] = '\0';
    out->length = n;
    out->type = JSON_NUMBER;
    return SPDF_OK;
}

static spdf_status parse_literal(parser *p, const char *word, json_type type, json_value *out)
{
    const size_t n = strlen(word);
    if ((size_t)(p->end - p->pos) < n || memcmp(p->pos, word, n) != 0)
        return unexpected(p, "a value");
    p->pos += n;
    out->type = type;
    return SPDF_OK;
}

/* ---- arrays and objects ---- */

static spdf_status parse_value(parser *p, json_value *out);

/* Appends a zeroed slot to a growing array of values (and keys, for objects). */
static spdf_status grow(parser *p, json_value *out, size_t *cap, int with_keys)
{
    if (out->count < *cap) return SPDF_OK;
    const size_t new_cap = *cap ? 2 * *cap : 4;
    json_value *items = realloc(out->items, new_cap * sizeof *items);
    if (!items) return out_of_memory(p);
    out->items = items;
    if (with_keys) {
        char **keys = realloc(out->keys, new_cap * sizeof *keys);
        if (!keys) return out_of_memory(p);
        out->keys = keys;
    }
    *cap = new_cap;
    return SPDF_OK;
}

static spdf_status parse_array(parser *p, json_value *out)
{
    out->type = JSON_ARRAY;
    p->pos++;
    skip_whitespace(p);
    if (p->pos < p->end && *p->pos == ']') {
        p->pos++;
        return SPDF_OK;
    }
    size_t cap = 0;
    for (;;) {
        SPDF_TRY(grow(p, out, &cap, 0));
        out->items[out->count] = (json_value){0};
        out->count++; /* counted first, so that json_free releases a half-parsed element */
        SPDF_TRY(parse_value(p, &out->items[out->count - 1]));
        skip_whitespace(p);
        if (p->pos < p->end && *p->pos == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->end && *p->pos == ']') {
            p->pos++;
            return SPDF_OK;
        }
        return unexpected(p, "',' or ']' in an array");
    }
}

typedef struct member_ref {
    const char *key;
    size_t index;
} member_ref;

static int compare_members(const void *a, const void *b)
{
    const member_ref *x = a, *y = b;
    const int c = strcmp(x->key, y->key);
    if (c != 0) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static spdf_status check_unique_keys(const parser *p, const json_value *object)
{
    if (object->count < 2) return SPDF_OK;
    member_ref *refs = malloc(object->count * sizeof *refs);
    if (!refs) return out_of_memory(p);
    for (size_t i = 0; i < object->count; i++) refs[i] = (member_ref){object->keys[i], i};
    qsort(refs, object->count, sizeof *refs, compare_members);
    for (size_t i = 1; i < object->count; i++) {
        if (strcmp(refs[i - 1].key, refs[i].key) == 0) {
            const json_value *second = &object->items[refs[i].index];
            char key[64];
            snprintf(key, sizeof key, "%s", refs[i].key);
            free(refs);
            return SYNTAX_ERROR(p, second->line, "member \"%s\" appears twice in one object", key);
        }
    }
    free(refs);
    return SPDF_OK;
}

static spdf_status parse_object(parser *p, json_value *out)
{
    out->type = JSON_OBJECT;
    p->pos++;
    skip_whitespace(p);
    if (p->pos < p->end && *p->pos == '}') {
        p->pos++;
        return SPDF_OK;
    }
    size_t cap = 0;
    for (;;) {
        skip_whitespace(p);
        if (p->pos == p->end || *p->pos != '"') return unexpected(p, "a member name (a string)");
        SPDF_TRY(grow(p, out, &cap, 1));
        json_value *member = &out->items[out->count];
        *member = (json_value){0};
        out->keys[out->count] = NULL;
        out->count++;
        size_t key_length;
        SPDF_TRY(parse_string(p, &out->keys[out->count - 1], &key_length));
        skip_whitespace(p);
        if (p->pos == p->end || *p->pos != ':') return unexpected(p, "':' after a member name");
        p->pos++;
        SPDF_TRY(parse_value(p, member));
        skip_whitespace(p);
        if (p->pos < p->end && *p->pos == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->end && *p->pos == '}') {
            p->pos++;
            return check_unique_keys(p, out);
        }
        return unexpected(p, "',' or '}' in an object");
    }
}

static spdf_status parse_value(parser *p, json_value *out)
{
    skip_whitespace(p);
    out->line = p->line;
    if (p->pos == p->end) return unexpected(p, "a value");
    switch (*p->pos) {
    case '{':
    case '[': {
        if (p->depth == MAX_DEPTH)
            return SYNTAX_ERROR(p, p->line, "arrays and objects nested deeper than %d", MAX_DEPTH);
        p->depth++;
        const spdf_status status = *p->pos == '{' ? parse_object(p, out) : parse_array(p, out);
        p->depth--;
        return status;
    }
    case '"': out->type = JSON_STRING; return parse_string(p, &out->text, &out->length);
    case 't': return parse_literal(p, "true", JSON_TRUE, out);
    case 'f': return parse_literal(p, "false", JSON_FALSE, out);
    case 'n': return parse_literal(p, "null", JSON_NULL, out);
    default:
        if (*p->pos == '-' || (*p->pos >= '0' && *p->pos <= '9')) return parse_number(p, out);
        return unexpected(p, "a value");
    }
}

spdf_status json_parse(const char *path, int64_t first_line, const char *text, size_t len,
                       json_value **out)
{
    parser p = {.path = path, .pos = text, .end = text + len, .line = first_line};
    json_value *root = calloc(1, sizeof *root);
    if (!root) return out_of_memory(&p);
    spdf_status status = parse_value(&p, root);
    if (status == SPDF_OK) {
        skip_whitespace(&p);
        if (p.pos != p.end) status = unexpected(&p, "the end of the input after a complete value");
    }
    text_buffer_free(&p.scratch);
    if (status != SPDF_OK) {
        json_free(root);
        return status;
    }
    *out = root;
    return SPDF_OK;
}
