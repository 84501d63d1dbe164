/* Unicode letters and numbers, the \p{L} and \p{N} of GPT-2's pre-tokeniser (gpt2_tokenizer.c):
 * the general categories L (Lu, Ll, Lt, Lm, Lo) and N (Nd, Nl, No) of every code point, from a
 * table generated from the Unicode Character Database (unicode_classes.py). */
#ifndef SPDF_IO_UNICODE_CLASSES_H
#define SPDF_IO_UNICODE_CLASSES_H

#include <stdint.h>

typedef enum unicode_class {
    UNICODE_OTHER = 0,  /* anything else, including unassigned code points and marks (M*) */
    UNICODE_LETTER = 1, /* L* */
    UNICODE_NUMBER = 2  /* N* */
} unicode_class;

/* The class of a code point (UNICODE_OTHER beyond U+10FFFF). */
unicode_class unicode_class_of(uint32_t code_point);
/* The Unicode version of the table, "14.0.0". */
extern const char unicode_classes_version[];

#endif
