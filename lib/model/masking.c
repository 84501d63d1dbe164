/* The public mask constructors: the model's block linear weights handed to lib/mask as plain
 * views (table index, shape, dense values), so that masks never reach into the model. */
#include "core/core.h"
#include "model/model.h"

#include <stdlib.h>

spdf_status spdf_mask_create_ex(const spdf_model *model, const spdf_mask_config *config,
                                spdf_mask **out)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(config);
    SPDF_CHECK_ARG(out);
    spdf_mask_config c;
    spdf_mask_config_init(&c);
    SPDF_TRY(spdf_struct_read(&c, sizeof c, config, SPDF_SIZE_THROUGH(spdf_mask_config, reserved2),
                              "spdf_mask_config"));
    if (model->phase == SPDF_PHASE_SPARSE && c.method == SPDF_MASK_MAGNITUDE)
        return spdf_fail(SPDF_ESTATE, "a magnitude mask needs the dense weights: the model is sparse");
    const int count = model_num_sparsifiable(model);
    mask_weight *weights = malloc(sizeof *weights * (size_t)count);
    if (!weights) return spdf_fail(SPDF_ENOMEM, "out of memory creating a mask");
    for (int l = 0, i = 0; i < model->num_tensors; i++) {
        const tensor_desc *d = &model->tensors[i];
        if (!(d->flags & SPDF_TENSOR_SPARSIFIABLE)) continue;
        weights[l++] = (mask_weight){i, d->shape[0], d->shape[1],
                                     model->phase == SPDF_PHASE_DENSE ? model_tensor_values(model, i) : NULL};
    }
    const spdf_status status = mask_build(weights, count, &c, model->ctx->num_threads, out);
    free(weights);
    return status;
}

spdf_status spdf_mask_create(const spdf_model *model, spdf_mask_method method, float sparsity,
                             uint64_t seed, spdf_mask **out)
{
    spdf_mask_config config;
    spdf_mask_config_init(&config);
    config.method = method;
    config.sparsity = sparsity;
    config.seed = seed;
    return spdf_mask_create_ex(model, &config, out);
}
