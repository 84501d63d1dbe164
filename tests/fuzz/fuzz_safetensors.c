/* Hugging Face GPT-2 safetensors files: spdf_model_import_safetensors on any bytes (a JSON
 * header, shapes, offsets and F32 data, without a checksum); files without "n_head" metadata
 * again with the caller's heads. */
#include "fuzz_support.h"

#include <string.h>

enum { FORWARD_MAX_PARAMS = 200000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    spdf_model *model = NULL;
    spdf_status status = spdf_model_import_safetensors(fuzz_context(), path, NULL, &model);
    if (status == SPDF_EINVAL && !model) {
        /* The one argument error of the defaults: a file without "n_head" needs the caller's. */
        if (!strstr(spdf_last_error(), "n_head")) fuzz_fail("EINVAL for the defaults: %s", spdf_last_error());
        spdf_import_config config;
        spdf_import_config_init(&config);
        config.num_heads = 1;
        status = spdf_model_import_safetensors(fuzz_context(), path, &config, &model);
    }
    if (status != SPDF_OK) {
        fuzz_expect_rejection(status, "spdf_model_import_safetensors");
        if (model) fuzz_fail("spdf_model_import_safetensors failed but wrote its output");
        return 0;
    }
    fuzz_check_model(model, FORWARD_MAX_PARAMS, "spdf_model_import_safetensors");
    spdf_model_free(model);
    return 0;
}
