/* Token files of both formats (llm.c's uint16, libspdf's checksummed uint32): spdf_dataset_load
 * on any bytes.  Built twice: as is, and with FUZZ_FIX_CHECKSUMS, which rewrites the uint32
 * format's header and payload CRCs first. */
#include "fuzz_support.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *bytes = fuzz_copy(data, size);
#ifdef FUZZ_FIX_CHECKSUMS
    fix_token_file_checksums(bytes, size);
#endif
    const char *path = fuzz_file(bytes, size);
    free(bytes);

    spdf_dataset *dataset = NULL;
    const spdf_status status = spdf_dataset_load(path, &dataset);
    if (status != SPDF_OK) {
        fuzz_expect_rejection(status, "spdf_dataset_load");
        if (dataset) fuzz_fail("spdf_dataset_load failed but wrote its output");
        return 0;
    }
    int64_t count = -1;
    int32_t bound = -1;
    const int32_t *tokens = NULL;
    if (spdf_dataset_size(dataset, &count) != SPDF_OK || spdf_dataset_tokens(dataset, &tokens) != SPDF_OK ||
        spdf_dataset_vocab_bound(dataset, &bound) != SPDF_OK)
        fuzz_fail("a loaded dataset does not answer: %s", spdf_last_error());
    /* 1024 header bytes, then 2 or 4 bytes an id. */
    if (count < 0 || (1024 + 2 * (size_t)count != size && 1024 + 4 * (size_t)count != size))
        fuzz_fail("%lld tokens from a file of %zu bytes", (long long)count, size);
    int32_t largest = -1;
    for (int64_t i = 0; i < count; i++) {
        if (tokens[i] < 0) fuzz_fail("token %lld is negative", (long long)i);
        if (tokens[i] > largest) largest = tokens[i];
    }
    if (bound != largest + 1) fuzz_fail("vocab bound %d, largest id %d", bound, largest);
    spdf_dataset_free(dataset);
    return 0;
}
