/* BPE tokenizer files: spdf_tokenizer_load on any bytes, and for every tokenizer it accepts the
 * header's promise that any byte string round-trips exactly through encode and decode.  Built
 * twice: as is, and with FUZZ_FIX_CHECKSUMS, which rewrites the merge count and the CRC first. */
#include "fuzz_support.h"

#include <stdlib.h>
#include <string.h>

/* Text with letters, digits, spaces, punctuation, UTF-8 and a control byte. */
static const char sample_text[] = "The Eagle is a coffee shop, rated 5 out of 5 in 2024 -- "
                                  "caf\xc3\xa9 na\xc3\xafve \xe2\x80\x9cquoted\xe2\x80\x9d\n\t\x01 end";

static void check_round_trip(const spdf_tokenizer *tok, int32_t vocab, const char *text, size_t length)
{
    size_t count = 0;
    if (spdf_tokenizer_encode(tok, text, length, NULL, 0, &count) != SPDF_OK)
        fuzz_fail("encode (count) failed: %s", spdf_last_error());
    int32_t *ids = malloc((count ? count : 1) * sizeof *ids);
    char *back = malloc(length + 1);
    if (!ids || !back) fuzz_fail("out of memory");
    size_t written = 0, decoded = 0;
    if (spdf_tokenizer_encode(tok, text, length, ids, count, &written) != SPDF_OK || written != count)
        fuzz_fail("encode failed or changed its count: %s", spdf_last_error());
    for (size_t i = 0; i < count; i++)
        if (ids[i] < 0 || ids[i] >= vocab || ids[i] == SPDF_TOKEN_EOT)
            fuzz_fail("encode produced id %d (vocabulary %d)", ids[i], vocab);
    if (spdf_tokenizer_decode(tok, ids, count, back, length + 1, &decoded) != SPDF_OK)
        fuzz_fail("decode failed: %s", spdf_last_error());
    if (decoded != length || memcmp(back, text, length) != 0)
        fuzz_fail("%zu bytes came back as %zu different ones", length, decoded);
    free(back);
    free(ids);
}

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
    check_round_trip(tok, vocab, sample_text, sizeof sample_text - 1);
    check_round_trip(tok, vocab, (const char *)bytes, size);
    spdf_tokenizer_free(tok);
    free(bytes);
    return 0;
}
