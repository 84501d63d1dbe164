/* Checkpoints: spdf_checkpoint_info_read and spdf_checkpoint_load on any bytes.  Built twice: as
 * is, and with FUZZ_FIX_CHECKSUMS, which rewrites the header, table and section CRCs first so
 * that the fuzzer reaches the configuration, mask, tensor and optimizer checks behind them. */
#include "fuzz_support.h"

#include <stdlib.h>

enum { FORWARD_MAX_PARAMS = 200000 };

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
