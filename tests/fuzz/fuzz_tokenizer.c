/* BPE tokenizer files: spdf_tokenizer_load on any bytes, and for every tokenizer it accepts the
 * header's promise that any byte string round-trips exactly through encode and decode.  Built
 * twice: as is, and with FUZZ_FIX_CHECKSUMS, which rewrites the merge count and the CRC first. */
#include "fuzz_support.h"

#include <stdlib.h>
#include <string.h>

/* Text with letters, digits, spaces, punctuation, UTF-8 and a control byte. */
static const char sample_text[] = "The Eagle is a coffee shop, rated 5 out of 5 in 2024 -- "
                                  "caf\xc3\xa9 na\xc3\xafve \xe2\x80\x9cquoted\xe2\x80\x9d\n\t\x01 end";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *bytes = fuzz_copy(data, size);
#ifdef FUZZ_FIX_CHECKSUMS
    fix_tokenizer_checksum(bytes, size);
#endif
    const char *path = fuzz_file(bytes, size);

    spdf_tokenizer *tok = NULL;
    const spdf_status status = spdf_tokenizer_load(path, &tok);
    if (status != SPDF_OK) {
        fuzz_expect_rejection(status, "spdf_tokenizer_load");
        if (tok) fuzz_fail("spdf_tokenizer_load failed but wrote its output");
        free(bytes);
        return 0;
    }
    int32_t vocab = 0;
    if (spdf_tokenizer_vocab_size(tok, &vocab) != SPDF_OK || vocab < SPDF_BYTE_VOCAB_SIZE)
        fuzz_fail("vocabulary %d", vocab);
    fuzz_check_round_trip(tok, vocab, SPDF_TOKEN_EOT, sample_text, sizeof sample_text - 1);
    fuzz_check_round_trip(tok, vocab, SPDF_TOKEN_EOT, (const char *)bytes, size);
    spdf_tokenizer_free(tok);
    free(bytes);
    return 0;
}
