/* Lines, strings and floats of the flat TOML subset the CLI reads and writes. */
#include "flat_toml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_space(char c) { return c == ' ' || c == '\t'; }

static int is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* The end of the string that starts at text (its closing quote + 1), or NULL if it does not end
 * on this line. */
static char *string_end(char *text)
{
    const char quote = *text;
    for (char *c = text + 1; *c; c++) {
        if (quote == '"' && *c == '\\' && c[1]) c++;
        else if (*c == quote) return c + 1;
    }
    return NULL;
}

/* The end of the one-line array that starts at text (its ']' + 1), or NULL: strings inside may
 * hold ']' and '#'. */
static char *array_end(char *text)
{
    for (char *c = text + 1; *c; c++) {
        if (*c == '"' || *c == '\'') {
            char *end = string_end(c);
            if (!end) return NULL;
            c = end - 1;
        } else if (*c == ']') {
            return c + 1;
        } else if (*c == '[' || *c == '#') {
            return NULL; /* no nested arrays; a comment cannot start inside one */
        }
    }
    return NULL;
}

int flat_toml_split(char *line, char **name, char **value, const char **why)
{
    char *c = line;
    while (is_space(*c)) c++;
    if (!*c || *c == '#') return FLAT_TOML_BLANK;
    *name = c;
    while (is_key_char(*c)) c++;
    char *name_end = c;
    while (is_space(*c)) c++;
    if (name_end == *name || *c != '=') {
        *why = "expected 'name = value'";
        return FLAT_TOML_MALFORMED;
    }
    *name_end = '\0';
    c++;
    while (is_space(*c)) c++;
    *value = c;
    if (*c == '"' || *c == '\'') {
        char *end = string_end(c);
        if (!end) {
            *why = "unterminated string";
            return FLAT_TOML_MALFORMED;
        }
        c = end;
    } else if (*c == '[') {
        char *end = array_end(c);
        if (!end) {
            *why = "unterminated array (an array must end on its line)";
            return FLAT_TOML_MALFORMED;
        }
        c = end;
    } else {
        while (*c && *c != '#' && !is_space(*c)) c++;
    }
    char *value_end = c;
    while (is_space(*c)) c++;
    if (*c && *c != '#') {
        *why = "unexpected text after the value";
        return FLAT_TOML_MALFORMED;
    }
    *value_end = '\0';
    if (value_end == *value) {
        *why = "missing value";
        return FLAT_TOML_MALFORMED;
    }
    return FLAT_TOML_PAIR;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Writes code point u as UTF-8 at out; returns the bytes written, 0 for a value that is no
 * Unicode scalar (a surrogate, or past U+10FFFF). */
static size_t put_utf8(uint32_t u, char *out)
{
    if ((u >= 0xD800 && u <= 0xDFFF) || u > 0x10FFFF) return 0;
    if (u < 0x80) {
        out[0] = (char)u;
        return 1;
    }
    if (u < 0x800) {
        out[0] = (char)(0xC0 | (u >> 6));
        out[1] = (char)(0x80 | (u & 0x3F));
        return 2;
    }
    if (u < 0x10000) {
        out[0] = (char)(0xE0 | (u >> 12));
        out[1] = (char)(0x80 | ((u >> 6) & 0x3F));
        out[2] = (char)(0x80 | (u & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (u >> 18));
    out[1] = (char)(0x80 | ((u >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((u >> 6) & 0x3F));
    out[3] = (char)(0x80 | (u & 0x3F));
    return 4;
}

int flat_toml_unquote(char *text)
{
    const char quote = text[0];
    if (quote != '"' && quote != '\'') return -1;
    char *out = text;
    const char *c = text + 1;
    for (; *c && *c != quote; c++) {
        if ((unsigned char)*c < 0x20 && *c != '\t') return -1;
        if (quote == '\'' || *c != '\\') {
            *out++ = *c;
            continue;
        }
        c++;
        switch (*c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case 'b': *out++ = '\b'; break;
        case 't': *out++ = '\t'; break;
        case 'n': *out++ = '\n'; break;
        case 'f': *out++ = '\f'; break;
        case 'r': *out++ = '\r'; break;
        case 'u':
        case 'U': {
            const int digits = *c == 'u' ? 4 : 8;
            uint32_t u = 0;
            for (int i = 0; i < digits; i++) {
                const int d = hex_digit(c[1 + i]);
                if (d < 0) return -1;
                u = u * 16 + (uint32_t)d;
            }
            const size_t n = put_utf8(u, out);
            if (n == 0) return -1;
            out += n;
            c += digits;
            break;
        }
        default: return -1;
        }
    }
    if (*c != quote || c[1]) return -1;
    *out = '\0';
    return 0;
}

size_t flat_toml_quote(const char *text, char *out, size_t size)
{
    size_t n = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (n + 1 < size) out[n] = (ch);                                                           \
        n++;                                                                                       \
    } while (0)
    PUT('"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        const char *escape = *c == '"' ? "\\\"" : *c == '\\' ? "\\\\" : *c == '\n' ? "\\n" : *c == '\t' ? "\\t"
                           : *c == '\r' ? "\\r" : NULL;
        char control[8];
        if (!escape && (*c < 0x20 || *c == 0x7F)) {
            snprintf(control, sizeof control, "\\u%04X", (unsigned)*c);
            escape = control;
        }
        if (!escape) {
            PUT((char)*c);
            continue;
        }
        for (const char *e = escape; *e; e++) PUT(*e);
    }
    PUT('"');
#undef PUT
    if (size > 0) out[n < size ? n : size - 1] = '\0';
    return n;
}

void flat_toml_format_float(float f, char *out, size_t size)
{
    if (!out || size == 0) return; /* also keeps GCC's sanitizer build from warning */
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(out, size, "%.*g", digits, (double)f);
        if ((float)strtod(out, NULL) == f) return;
    }
}

int flat_toml_array_next(char **cursor, char **item, const char **why)
{
    char *c = *cursor;
    if (!c) return 0; /* the last item ended at the ']' */
    while (is_space(*c)) c++;
    if (*c == ']') return 0;
    *item = c;
    if (*c == '"' || *c == '\'') c = string_end(c);
    else
        while (*c && *c != ',' && *c != ']' && !is_space(*c)) c++;
    if (!c || c == *item) {
        *why = "expected a value in the array";
        return -1;
    }
    char *item_end = c;
    while (is_space(*c)) c++;
    if (*c != ',' && *c != ']') {
        *why = "expected ',' or ']' after an array value";
        return -1;
    }
    const char separator = *c;
    *item_end = '\0';
    *cursor = separator == ',' ? c + 1 : NULL;
    return 1;
}
