/* Minimal strict XML reader (see xml.h): a recursive descent over elements that keeps each
 * element's attributes, child elements and direct character data. */
#include "io/xml.h"
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
} parser;

#define SYNTAX_ERROR(p, line, ...) file_syntax_fail((p)->path, line, __VA_ARGS__)

static spdf_status out_of_memory(const parser *p)
{
    return spdf_fail(SPDF_ENOMEM, "out of memory parsing %s", p->path);
}

static int starts_with(const parser *p, const char *s)
{
    const size_t n = strlen(s);
    return (size_t)(p->end - p->pos) >= n && memcmp(p->pos, s, n) == 0;
}

/* Moves past n bytes, counting line feeds. */
static void advance(parser *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p->pos[i] == '\n') p->line++;
    p->pos += n;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Skips XML white space; returns 1 if there was any. */
static int skip_space(parser *p)
{
    const char *start = p->pos;
    while (p->pos < p->end && is_space(*p->pos)) advance(p, 1);
    return p->pos != start;
}

static int is_name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80;
}

static int is_name_char(unsigned char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static spdf_status parse_name(parser *p, const char *what, char **name)
{
    const char *start = p->pos;
    if (p->pos == p->end || !is_name_start((unsigned char)*p->pos))
        return SYNTAX_ERROR(p, p->line, "expected %s", what);
    while (p->pos < p->end && is_name_char((unsigned char)*p->pos)) p->pos++;
    const size_t n = (size_t)(p->pos - start);
    *name = malloc(n + 1);
    if (!*name) return out_of_memory(p);
    memcpy(*name, start, n);
    (*name)[n] = '\0';
    return SPDF_OK;
}

/* Skips from pos past the first occurrence of `close`; `what` names the construct. */
static spdf_status skip_past(parser *p, const char *close, const char *what)
{
    const int64_t line = p->line;
    const size_t n = strlen(close);
    while ((size_t)(p->end - p->pos) >= n) {
        if (memcmp(p->pos, close, n) == 0) {
            p->pos += n;
            return SPDF_OK;
        }
        advance(p, 1);
    }
    return SYNTAX_ERROR(p, line, "%s is never closed (no \"%s\")", what, close);
}

static int is_xml_char(uint32_t cp)
{
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
           (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

/* A reference at pos (on the '&'): &amp; &lt; &gt; &quot; &apos; &#N; &#xH;. */
static spdf_status reference(parser *p, text_buffer *out)
{
    static const struct {
        const char *name;
        char value;
    } predefined[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    const char *start = ++p->pos;
    while (p->pos < p->end && *p->pos != ';' && p->pos - start < 16 &&
           (is_name_char((unsigned char)*p->pos) || *p->pos == '#'))
        p->pos++;
    if (p->pos == p->end || *p->pos != ';')
        return SYNTAX_ERROR(p, p->line,
                            "'&' must start a reference such as &amp; (write a literal "
                            "ampersand as &amp;)");
    const size_t n = (size_t)(p->pos - start);
    p->pos++;
    if (n >= 2 && start[0] == '#') {
        const int hex = start[1] == 'x';
        const char *digits = start + 1 + hex, *digits_end = start + n;
        uint32_t cp = 0;
        if (digits == digits_end) return SYNTAX_ERROR(p, p->line, "empty character reference");
        for (const char *d = digits; d < digits_end; d++) {
            unsigned v;
            if (*d >= '0' && *d <= '9') {
                v = (unsigned)(*d - '0');
            } else if (hex && *d >= 'a' && *d <= 'f') {
                v = (unsigned)(*d - 'a' + 10);
            } else if (hex && *d >= 'A' && *d <= 'F') {
                v = (unsigned)(*d - 'A' + 10);
            } else {
                return SYNTAX_ERROR(p, p->line, "bad character reference &%.*s;", (int)n, start);
            }
            cp = cp * (hex ? 16u : 10u) + v;
            if (cp > 0x10FFFF)
                return SYNTAX_ERROR(p, p->line, "character reference &%.*s; is beyond U+10FFFF",
                                    (int)n, start);
        }
        if (!is_xml_char(cp))
            return SYNTAX_ERROR(p, p->line, "character reference &%.*s; is not an XML character",
                                (int)n, start);
        if (text_push_utf8(out, cp) != 0) return out_of_memory(p);
        return SPDF_OK;
    }
    for (size_t i = 0; i < sizeof predefined / sizeof predefined[0]; i++) {
        if (strlen(predefined[i].name) == n && memcmp(predefined[i].name, start, n) == 0) {
            if (text_push(out, predefined[i].value) != 0) return out_of_memory(p);
            return SPDF_OK;
        }
    }
    return SYNTAX_ERROR(p, p->line, "unknown entity &%.*s;", (int)n, start);
}

/* Appends one character of text at pos: line ends become LF, control characters are refused. */
static spdf_status text_char(parser *p, text_buffer *out)
{
    const unsigned char c = (unsigned char)*p->pos;
    if (c == '\r') {
        p->pos += p->end - p->pos >= 2 && p->pos[1] == '\n' ? 2 : 1;
        p->line++;
        return text_push(out, '\n') != 0 ? out_of_memory(p) : SPDF_OK;
    }
    if (c < 0x20 && c != '\t' && c != '\n')
        return SYNTAX_ERROR(p, p->line, "control character 0x%02X is not allowed in XML", c);
    advance(p, 1);
    return text_push(out, (char)c) != 0 ? out_of_memory(p) : SPDF_OK;
}

static void free_contents(xml_element *element)
{
    free(element->name);
    free(element->text);
    for (size_t i = 0; i < element->attribute_count; i++) {
        free(element->attributes[i].name);
        free(element->attributes[i].value);
    }
    free(element->attributes);
    for (size_t i = 0; i < element->child_count; i++) free_contents(&element->children[i]);
    free(element->children);
}

void xml_free(xml_element *root)
{
    if (!root) return;
    free_contents(root);
    free(root);
}

const char *xml_attribute_value(const xml_element *element, const char *name)
{
    for (size_t i = 0; i < element->attribute_count; i++)
        if (strcmp(element->attributes[i].name, name) == 0) return element->attributes[i].value;
    return NULL;
}

static spdf_status parse_attribute(parser *p, xml_element *element)
{
    xml_attribute *attributes =
        realloc(element->attributes, (element->attribute_count + 1) * sizeof *attributes);
    if (!attributes) return out_of_memory(p);
    element->attributes = attributes;
    xml_attribute *attribute = &attributes[element->attribute_count++];
    *attribute = (xml_attribute){0};
    const int64_t line = p->line;
    SPDF_TRY(parse_name(p, "an attribute name", &attribute->name));
    for (size_t i = 0; i + 1 < element->attribute_count; i++)
        if (strcmp(attributes[i].name, attribute->name) == 0)
            return SYNTAX_ERROR(p, line, "attribute %s appears twice in <%s>", attribute->name,
                                element->name);
    skip_space(p);
    if (p->pos == p->end || *p->pos != '=')
        return SYNTAX_ERROR(p, p->line, "expected '=' after attribute %s", attribute->name);
    p->pos++;
    skip_space(p);
    if (p->pos == p->end || (*p->pos != '"' && *p->pos != '\''))
        return SYNTAX_ERROR(p, p->line, "the value of attribute %s must be quoted",
                            attribute->name);
    const char quote = *p->pos++;
    text_buffer value = {0};
    spdf_status status = SPDF_OK;
    while (status == SPDF_OK) {
        if (p->pos == p->end) {
            status =
                SYNTAX_ERROR(p, line, "the value of attribute %s is never closed", attribute->name);
        } else if (*p->pos == quote) {
            p->pos++;
            break;
        } else if (*p->pos == '<') {
            status = SYNTAX_ERROR(p, p->line, "'<' in the value of attribute %s", attribute->name);
        } else if (*p->pos == '&') {
            status = reference(p, &value);
        } else {
            const size_t before = value.len;
            status = text_char(p, &value);
            /* attribute values turn tab and line ends into spaces */
            if (status == SPDF_OK && (value.data[before] == '\n' || value.data[before] == '\t'))
                value.data[before] = ' ';
        }
    }
    if (status == SPDF_OK && !(attribute->value = text_take(&value))) status = out_of_memory(p);
    text_buffer_free(&value);
    return status;
}

static spdf_status parse_element(parser *p, xml_element *element);

static spdf_status parse_child(parser *p, xml_element *element)
{
    if (p->depth == MAX_DEPTH)
        return SYNTAX_ERROR(p, p->line, "elements nested deeper than %d", MAX_DEPTH);
    const size_t count = element->child_count;
    if (count == 0 || (count >= 4 && (count & (count - 1)) == 0)) { /* capacity 4, 8, 16, ... */
        const size_t cap = count == 0 ? 4 : 2 * count;
        xml_element *grown = realloc(element->children, cap * sizeof *grown);
        if (!grown) return out_of_memory(p);
        element->children = grown;
    }
    xml_element *children = element->children;
    xml_element *child = &children[element->child_count++];
    *child = (xml_element){0};
    p->depth++;
    const spdf_status status = parse_element(p, child);
    p->depth--;
    return status;
}

static spdf_status parse_end_tag(parser *p, const xml_element *element)
{
    const int64_t line = p->line;
    p->pos += 2;
    char *name;
    SPDF_TRY(parse_name(p, "an element name after '</'", &name));
    const int same = strcmp(name, element->name) == 0;
    if (!same) {
        const spdf_status status =
            SYNTAX_ERROR(p, line, "</%s> does not close <%s> (opened on line %lld)", name,
                         element->name, (long long)element->line);
        free(name);
        return status;
    }
    free(name);
    skip_space(p);
    if (p->pos == p->end || *p->pos != '>')
        return SYNTAX_ERROR(p, p->line, "expected '>' to end </%s>", element->name);
    p->pos++;
    return SPDF_OK;
}

/* Everything between the start tag and the end tag. */
static spdf_status parse_content(parser *p, xml_element *element, text_buffer *text)
{
    for (;;) {
        if (p->pos == p->end)
            return SYNTAX_ERROR(p, element->line, "<%s> is never closed", element->name);
        if (starts_with(p, "</")) return parse_end_tag(p, element);
        if (starts_with(p, "<!--")) {
            SPDF_TRY(skip_past(p, "-->", "a comment"));
        } else if (starts_with(p, "<![CDATA[")) {
            const int64_t line = p->line;
            p->pos += 9;
            while (!starts_with(p, "]]>")) {
                if (p->pos == p->end)
                    return SYNTAX_ERROR(p, line, "a CDATA section is never closed");
                SPDF_TRY(text_char(p, text));
            }
            p->pos += 3;
        } else if (starts_with(p, "<?")) {
            SPDF_TRY(skip_past(p, "?>", "a processing instruction"));
        } else if (starts_with(p, "<!")) {
            return SYNTAX_ERROR(p, p->line, "markup declarations (<!...>) are not supported");
        } else if (*p->pos == '<') {
            SPDF_TRY(parse_child(p, element));
        } else if (*p->pos == '&') {
            SPDF_TRY(reference(p, text));
        } else {
            SPDF_TRY(text_char(p, text));
        }
    }
}

/* An element at pos (on its '<'). */
static spdf_status parse_element(parser *p, xml_element *element)
{
    element->line = p->line;
    p->pos++;
    SPDF_TRY(parse_name(p, "an element name after '<'", &element->name));
    int empty = 0;
    for (;;) {
        const int spaced = skip_space(p);
        if (starts_with(p, "/>")) {
            p->pos += 2;
            empty = 1;
            break;
        }
        if (p->pos < p->end && *p->pos == '>') {
            p->pos++;
            break;
        }
        if (p->pos == p->end)
            return SYNTAX_ERROR(p, element->line, "the start tag <%s is never closed",
                                element->name);
        if (!spaced)
            return SYNTAX_ERROR(p, p->line, "expected white space, '>' or '/>' in <%s>",
                                element->name);
        SPDF_TRY(parse_attribute(p, element));
    }
    text_buffer text = {0};
    spdf_status status = empty ? SPDF_OK : parse_content(p, element, &text);
    if (status == SPDF_OK) {
        element->text_length = text.len;
        if (!(element->text = text_take(&text))) status = out_of_memory(p);
    }
    text_buffer_free(&text);
    return status;
}

/* Comments, processing instructions and white space before or after the root element. */
static spdf_status skip_misc(parser *p)
{
    for (;;) {
        skip_space(p);
        if (starts_with(p, "<!--")) {
            SPDF_TRY(skip_past(p, "-->", "a comment"));
        } else if (starts_with(p, "<?")) {
            SPDF_TRY(skip_past(p, "?>", "a processing instruction"));
        } else if (starts_with(p, "<!DOCTYPE")) {
            return SYNTAX_ERROR(p, p->line, "DOCTYPE declarations are not supported");
        } else {
            return SPDF_OK;
        }
    }
}

spdf_status xml_parse(const char *path, const char *text, size_t len, xml_element **root)
{
    const size_t bom = text_bom_length(text, len);
    parser p = {.path = path, .pos = text + bom, .end = text + len, .line = 1};
    SPDF_TRY(skip_misc(&p));
    if (p.pos == p.end || *p.pos != '<')
        return SYNTAX_ERROR(&p, p.line, "expected the root element");
    xml_element *element = calloc(1, sizeof *element);
    if (!element) return out_of_memory(&p);
    spdf_status status = parse_element(&p, element);
    if (status == SPDF_OK) status = skip_misc(&p);
    if (status == SPDF_OK && p.pos != p.end)
        status = SYNTAX_ERROR(&p, p.line, "unexpected content after the root element <%s>",
                              element->name);
    if (status != SPDF_OK) {
        xml_free(element);
        return status;
    }
    *root = element;
    return SPDF_OK;
}
