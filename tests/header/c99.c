/* The public header on its own, as a strict C99 program sees it: no extensions, no warnings.
 * Every public type is named once so that all of its declarations are checked. */
#include <spdf.h>

int main(void)
{
    spdf_context_config context_config;
    spdf_model_config model_config;
    spdf_optimizer_config optimizer_config;
    spdf_tensor_info tensor_info;
    spdf_status status = SPDF_OK;
    spdf_lr_schedule schedule = SPDF_LR_COSINE;
    spdf_token_format format = SPDF_TOKENS_U32;
    spdf_sampler_order order = SPDF_SAMPLE_RANDOM;
    spdf_mask_method method = SPDF_MASK_RANDOM;
    spdf_phase_kind kind = SPDF_PHASE_SPARSE;
    spdf_context *context = NULL;
    spdf_model *model = NULL;
    spdf_optimizer *optimizer = NULL;
    spdf_dataset *dataset = NULL;
    spdf_sampler *sampler = NULL;
    spdf_mask *mask = NULL;
    spdf_phase *phase = NULL;
    const size_t sizes = sizeof context_config + sizeof model_config + sizeof optimizer_config +
                         sizeof tensor_info;
    (void)context;
    (void)model;
    (void)optimizer;
    (void)dataset;
    (void)sampler;
    (void)mask;
    (void)phase;
    return (int)(sizes == 0) + (int)status + (int)schedule + (int)format + (int)order +
           (int)method + (int)kind + SPDF_VERSION_NUMBER * 0;
}
