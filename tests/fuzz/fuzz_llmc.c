/* llm.c GPT-2 checkpoints (fp32 and bf16): spdf_model_import_llmc on any bytes. */
#include "fuzz_support.h"

enum { FORWARD_MAX_PARAMS = 200000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    spdf_model *model = NULL;
    const spdf_status status = spdf_model_import_llmc(fuzz_context(), path, &model);
    if (status != SPDF_OK) {
        fuzz_expect_rejection(status, "spdf_model_import_llmc");
        if (model) fuzz_fail("spdf_model_import_llmc failed but wrote its output");
        return 0;
    }
    fuzz_check_model(model, FORWARD_MAX_PARAMS, "spdf_model_import_llmc");
    spdf_model_free(model);
    return 0;
}
