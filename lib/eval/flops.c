/* FLOP accounting as the SPDF paper counts it (Thangarasa et al., 2023, following Kaplan et al.):
 * per token, forward = 2 x non-zero block linear weights + 4 L T C (attention scores and
 * mixing) + 2 C V (LM head); training = 3 x forward. */
#include "core/core.h"
#include "model/model.h"

#include <string.h>

#define FLOP_REPORT_FIRST_SIZE SPDF_SIZE_THROUGH(spdf_flop_report, block_weights)

static spdf_status fill_report(const spdf_model_config *c, int32_t context, int32_t batch,
                               double block_nonzero, spdf_flop_report *report)
{
    SPDF_TRY(spdf_check_struct_size(report->struct_size, FLOP_REPORT_FIRST_SIZE, "spdf_flop_report"));
    if (context < 1 || batch < 1)
        return spdf_fail(SPDF_EINVAL, "context (%d) and batch (%d) must be >= 1", (int)context, (int)batch);
    const double L = c->num_layers, C = c->channels, V = c->vocab_size, T = context;
    const double block_weights = (double)tensor_block_linear_params(c);
    const double shared = 4.0 * L * T * C + 2.0 * C * V;
    spdf_flop_report r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.block_weights = block_weights;
    r.forward_per_token_dense = 2.0 * block_weights + shared;
    r.forward_per_token_sparse = 2.0 * block_nonzero + shared;
    r.train_per_token_dense = 3.0 * r.forward_per_token_dense;
    r.train_per_token_sparse = 3.0 * r.forward_per_token_sparse;
    r.train_per_step_dense = r.train_per_token_dense * T * batch;
    r.train_per_step_sparse = r.train_per_token_sparse * T * batch;
    r.reduction = r.train_per_token_dense / r.train_per_token_sparse;
    return spdf_struct_write(report, &r, sizeof r, FLOP_REPORT_FIRST_SIZE, "spdf_flop_report");
}

spdf_status spdf_flops(const spdf_model_config *config, int32_t context, int32_t batch,
                       float sparsity, spdf_flop_report *report)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    SPDF_CHECK_ARG(report);
    spdf_model_config c;
    spdf_model_config_init(&c);
    SPDF_TRY(spdf_struct_read(&c, sizeof c, config, SPDF_SIZE_THROUGH(spdf_model_config, seed),
                              "spdf_model_config"));
    SPDF_TRY(model_config_validate(&c));
    if (!(sparsity >= 0.0f && sparsity < 1.0f))
        return spdf_fail(SPDF_EINVAL, "sparsity must be in [0, 1), got %g", (double)sparsity);
    const double block_weights = (double)tensor_block_linear_params(&c);
    return fill_report(&c, context, batch, (1.0 - sparsity) * block_weights, report);
}

spdf_status spdf_model_flops(const spdf_model *model, int32_t context, int32_t batch,
                             spdf_flop_report *report)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(report);
    double nonzero = 0.0;
    for (int i = 0; i < model->num_tensors; i++)
        if (model->tensors[i].flags & SPDF_TENSOR_SPARSIFIABLE) nonzero += (double)model->tensors[i].stored;
    return fill_report(&model->config, context, batch, nonzero, report);
}
