/* The byte-level tokenizer: every byte of the text is one id, and SPDF_TOKEN_EOT (256) marks the
 * end of a document.  No vocabulary file, so any text round-trips exactly. */
#include "core/core.h"

#include <string.h>

static const char eot_text[] = "<|endoftext|>";
#define EOT_TEXT_LEN (sizeof eot_text - 1)

/* Like snprintf, a short buffer is not an error: the first cap ids are written and *count still
 * receives len, so a caller can compare the two. */
spdf_status spdf_byte_encode(const char *text, size_t len, int32_t *out, size_t cap,
                             size_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(text || len == 0);
    SPDF_CHECK_ARG(count);
    if (out) {
        const unsigned char *bytes = (const unsigned char *)text;
        const size_t n = len < cap ? len : cap;
        for (size_t i = 0; i < n; i++) out[i] = bytes[i];
    }
    *count = len;
    return SPDF_OK;
}

/* All ids are checked before anything is written, so a failing call leaves out and *len alone. */
spdf_status spdf_byte_decode(const int32_t *tokens, size_t n, char *out, size_t cap, size_t *len)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(tokens || n == 0);
    SPDF_CHECK_ARG(len);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const int32_t id = tokens[i];
        if (id < 0 || id >= SPDF_BYTE_VOCAB_SIZE)
            return spdf_fail(SPDF_EINVAL, "spdf_byte_decode: token %zu is %d, outside [0, %d)", i,
                             (int)id, SPDF_BYTE_VOCAB_SIZE);
        const size_t piece = id == SPDF_TOKEN_EOT ? EOT_TEXT_LEN : 1;
        if (total > SIZE_MAX - piece)
            return spdf_fail(SPDF_EINVAL, "spdf_byte_decode: decoded length overflows size_t");
        total += piece;
    }
    if (out) {
        size_t written = 0;
        for (size_t i = 0; i < n && written < cap; i++) {
            if (tokens[i] == SPDF_TOKEN_EOT) {
                const size_t room = cap - written;
                const size_t piece = EOT_TEXT_LEN < room ? EOT_TEXT_LEN : room;
                memcpy(out + written, eot_text, piece);
                written += piece;
            } else {
                out[written++] = (char)(unsigned char)tokens[i];
            }
        }
    }
    *len = total;
    return SPDF_OK;
}
