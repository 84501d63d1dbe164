/* The flat TOML the CLI reads and writes (--config files, CKPT.run.toml, OUT.config.toml): one
 * `name = value` a line, comments from '#' outside strings, no tables.  Values are integers,
 * floats, true/false and strings, basic ("...", with \" \\ \b \t \n \f \r \uXXXX escapes) or
 * literal ('...'), and one-line arrays of them (`[1, 2]`, `["a", "b"]`, a trailing comma allowed). */
#ifndef SPDF_CLI_FLAT_TOML_H
#define SPDF_CLI_FLAT_TOML_H

#include <stddef.h>

enum { FLAT_TOML_MALFORMED = -1, FLAT_TOML_BLANK = 0, FLAT_TOML_PAIR = 1 };

/* Splits one line in place: a blank or comment line is FLAT_TOML_BLANK; `name = value` is
 * FLAT_TOML_PAIR with *name (a bare key: letters, digits, '-', '_') and *value (its text, a
 * comment after it cut off, still quoted) pointing into line; anything else is
 * FLAT_TOML_MALFORMED, with what is wrong in *why. */
int flat_toml_split(char *line, char **name, char **value, const char **why);
/* The items of an array value, one per call: *cursor starts just after its '[' (the calls move
 * it on).  Returns 1 with *item (its text, NUL-terminated in place, still quoted), 0 after the
 * last one, or -1 with what is wrong in *why (an empty item, a missing comma). */
int flat_toml_array_next(char **cursor, char **item, const char **why);
/* Replaces a quoted string by its contents, in place.  Returns 0, or -1 when text is not one
 * whole string (unquoted, unterminated, a bad escape or a control character). */
int flat_toml_unquote(char *text);
/* Writes text as a basic string, quotes and escapes included, snprintf-style: returns the length
 * the whole string takes (out holds what fits, NUL-terminated when size > 0). */
size_t flat_toml_quote(const char *text, char *out, size_t size);
/* The shortest decimal text that reads back as exactly f (at most 9 significant digits). */
void flat_toml_format_float(float f, char *out, size_t size);

#endif /* SPDF_CLI_FLAT_TOML_H */
