/* GPT-2's tokenizer files: spdf_tokenizer_load_gpt2 on any pair of files, both from one input cut
 * at its first NUL byte (vocab.json before it, merges.txt after it; no NUL: an empty merges.txt).
 * Neither file may hold a NUL, so the cut loses nothing a valid pair could have.  For every pair
 * it accepts: at least the 256 byte tokens, and any byte string (a fixed text with contractions,
 * digits, white space and UTF-8, and the input itself) round-trips exactly through encode and
 * decode with ids inside the vocabulary; the end of text, if any, decodes to "<|endoftext|>"; the
 * tokenizer is not saved (SPDF_EUNSUPPORTED). */
#include "fuzz_support.h"

#include <stdlib.h>
#include <string.h>

static const char sample_text[] = "It's 12 o'clock; we'll see  you're   here\t\n\ncaf\xc3\xa9 \xe2\x85\xab "
                                  "\xd0\xb6\xd0\xb8 \xe4\xb8\xad -- <|endoftext|> \xff\xfe end  ";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *cut = memchr(data, 0, size);
    const size_t vocab_bytes = cut ? (size_t)(cut - data) : size;
    const char *vocab_path = fuzz_file_in(0, data, vocab_bytes);
    const char *merges_path = cut ? fuzz_file_in(1, cut + 1, size - vocab_bytes - 1) : fuzz_file_in(1, data, 0);

    spdf_tokenizer *tok = (spdf_tokenizer *)&tok;
    const spdf_status status = spdf_tokenizer_load_gpt2(vocab_path, merges_path, &tok);
    if (status != SPDF_OK) {
        fuzz_expect_rejection(status, "spdf_tokenizer_load_gpt2");
        if (tok != (spdf_tokenizer *)&tok) fuzz_fail("spdf_tokenizer_load_gpt2 failed but wrote its output");
        return 0;
    }
    int32_t vocab = 0;
    uint32_t checksum = 0;
    if (spdf_tokenizer_vocab_size(tok, &vocab) != SPDF_OK || vocab < 256)
        fuzz_fail("vocabulary %d", vocab);
    if (spdf_tokenizer_checksum(tok, &checksum) != SPDF_OK) fuzz_fail("no checksum: %s", spdf_last_error());
    int32_t end_of_text = -1;
    const spdf_status ended = spdf_tokenizer_end_of_text(tok, &end_of_text);
    if (ended == SPDF_OK) {
        char text[16];
        size_t length = 0;
        if (end_of_text < 0 || end_of_text >= vocab ||
            spdf_tokenizer_decode(tok, &end_of_text, 1, text, sizeof text, &length) != SPDF_OK || length != 13 ||
            memcmp(text, "<|endoftext|>", 13) != 0)
            fuzz_fail("the end of text %d is not the token \"<|endoftext|>\"", (int)end_of_text);
    } else if (ended != SPDF_EUNSUPPORTED || end_of_text != -1) {
        fuzz_fail("spdf_tokenizer_end_of_text: %d (%s), id %d", (int)ended, spdf_last_error(), (int)end_of_text);
    }
    fuzz_check_round_trip(tok, vocab, -1, sample_text, sizeof sample_text - 1);
    fuzz_check_round_trip(tok, vocab, -1, (const char *)data, size);
    if (spdf_tokenizer_save(tok, "/nonexistent/never-written") != SPDF_EUNSUPPORTED)
        fuzz_fail("a GPT-2 tokenizer was not refused by spdf_tokenizer_save");
    spdf_tokenizer_free(tok);
    return 0;
}
