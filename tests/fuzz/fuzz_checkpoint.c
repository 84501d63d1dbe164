/* Checkpoints: spdf_checkpoint_info_read, spdf_checkpoint_load and spdf_checkpoint_load_tokenizer
 * on any bytes.  Built twice: as is, and with FUZZ_FIX_CHECKSUMS, which rewrites the header,
 * table and section CRCs (and a stored tokenizer's own) first so that the fuzzer reaches the
 * configuration, mask, tensor, optimizer and tokenizer checks behind them. */
#include "fuzz_support.h"

#include <stdlib.h>

enum { FORWARD_MAX_PARAMS = 200000 };

/* The stored tokenizer is there exactly when info_read says so, with the ids and checksum it
 * reports, and they fit the model's vocabulary. */
static void check_tokenizer(const char *path, spdf_status info_status, const spdf_checkpoint_info *info)
{
    spdf_tokenizer *tok = NULL;
    const spdf_status status = spdf_checkpoint_load_tokenizer(path, &tok);
    if ((status == SPDF_OK) != (info_status == SPDF_OK))
        fuzz_fail("spdf_checkpoint_load_tokenizer returned %s, spdf_checkpoint_info_read %s",
                  spdf_status_name(status), spdf_status_name(info_status));
    if (status != SPDF_OK) {
        fuzz_expect_rejection(status, "spdf_checkpoint_load_tokenizer");
        return;
    }
    if ((tok != NULL) != (info->has_tokenizer != 0)) fuzz_fail("has_tokenizer %d disagrees", info->has_tokenizer);
    if (!tok) return;
    int32_t vocab = 0;
    uint32_t checksum = 0;
    spdf_tokenizer_vocab_size(tok, &vocab);
    spdf_tokenizer_checksum(tok, &checksum);
    if (vocab != info->tokenizer_vocab_size || checksum != info->tokenizer_checksum || vocab > info->model.vocab_size)
        fuzz_fail("the stored tokenizer (%d ids, %08x) is not the one described (%d ids, %08x; vocabulary %d)",
                  vocab, checksum, info->tokenizer_vocab_size, info->tokenizer_checksum, info->model.vocab_size);
    spdf_tokenizer_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *bytes = fuzz_copy(data, size);
#ifdef FUZZ_FIX_CHECKSUMS
    fix_checkpoint_checksums(bytes, size);
#endif
    const char *path = fuzz_file(bytes, size);
    free(bytes);

    spdf_checkpoint_info info;
    info.struct_size = sizeof info;
    const spdf_status info_status = spdf_checkpoint_info_read(path, &info);
    if (info_status != SPDF_OK) fuzz_expect_rejection(info_status, "spdf_checkpoint_info_read");
    check_tokenizer(path, info_status, &info);

    spdf_model *model = NULL;
    spdf_optimizer *opt = NULL;
    spdf_phase *phase = NULL;
    const spdf_status status = spdf_checkpoint_load(path, fuzz_context(), &model,
                                                    info_status == SPDF_OK && info.has_optimizer ? &opt : NULL,
                                                    &phase, NULL);
    if (status != SPDF_OK) {
        fuzz_expect_rejection(status, "spdf_checkpoint_load");
        if (model || opt || phase) fuzz_fail("spdf_checkpoint_load failed but wrote its outputs");
        return 0;
    }
    if (info_status != SPDF_OK) fuzz_fail("spdf_checkpoint_load accepts a file spdf_checkpoint_info_read rejects");
    spdf_phase_kind kind;
    if (spdf_phase_get_kind(phase, &kind) != SPDF_OK || (int32_t)kind != info.phase)
        fuzz_fail("the loaded phase is not the one spdf_checkpoint_info_read reports");
    int64_t step = 0;
    if (opt && (spdf_optimizer_get_step(opt, &step) != SPDF_OK || step != info.step))
        fuzz_fail("the loaded step %lld is not the reported %lld", (long long)step, (long long)info.step);
    fuzz_check_model(model, FORWARD_MAX_PARAMS, "spdf_checkpoint_load");
    spdf_phase_free(phase);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    return 0;
}
