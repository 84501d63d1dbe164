/* A minimal, strict XML reader into an element tree, enough for the WebNLG and DART files:
 * elements, attributes, character data, CDATA sections, comments, processing instructions and
 * the five predefined plus numeric character references.  A DOCTYPE (and with it any entity
 * declaration) is refused.  Errors are SPDF_EFORMAT with "path:line: what". */
#ifndef SPDF_IO_XML_H
#define SPDF_IO_XML_H

#include "io/text.h"

typedef struct xml_attribute {
    char *name;
    char *value; /* references decoded */
} xml_attribute;

typedef struct xml_element xml_element;
struct xml_element {
    char *name;
    int64_t line; /* line of the start tag */
    xml_attribute *attributes;
    size_t attribute_count;
    xml_element *children; /* child elements in document order */
    size_t child_count;
    char *text; /* character data directly inside (not in children), concatenated,
                                  references decoded, line ends normalised to LF; never NULL */
    size_t text_length;
};

/* Parses text[0, len) (valid UTF-8 without NUL bytes, see text_check_utf8; a BOM is allowed)
 * into its root element. */
spdf_status xml_parse(const char *path, const char *text, size_t len, xml_element **root);
void xml_free(xml_element *root);

/* The value of an attribute, or NULL. */
const char *xml_attribute_value(const xml_element *element, const char *name);

#endif
