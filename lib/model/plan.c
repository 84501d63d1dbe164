/* The model's sparse kernel plans: the configuration every masked layer is planned with,
 * planning all layers (at a mask's attach, on request, or from a checkpoint's saved plan), and
 * the per-layer report.  The backend chooses; the model only asks and keeps the answer. */
#include "core/core.h"
#include "model/model.h"

#include <stddef.h>
#include <string.h>

#define PLAN_CONFIG_FIRST_SIZE SPDF_SIZE_THROUGH(spdf_sparse_plan_config, reserved)
#define KERNEL_INFO_FIRST_SIZE SPDF_SIZE_THROUGH(spdf_sparse_kernel_info, code_bytes)

spdf_status spdf_sparse_plan_config_init(spdf_sparse_plan_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    config->mode = SPDF_SPARSE_PLAN_ESTIMATE;
    config->forward = config->backward_data = config->backward_weight = SPDF_SPARSE_KERNEL_AUTO;
    return SPDF_OK;
}

static int valid_kind(int32_t kind)
{
    return kind == SPDF_SPARSE_KERNEL_AUTO ||
           (kind >= SPDF_SPARSE_KERNEL_INDEX && kind <= SPDF_SPARSE_KERNEL_DENSE);
}

static spdf_status validate_plan_config(const spdf_sparse_plan_config *c)
{
    if (c->mode != SPDF_SPARSE_PLAN_ESTIMATE && c->mode != SPDF_SPARSE_PLAN_MEASURE)
        return spdf_fail(SPDF_EINVAL, "unknown sparse plan mode %d", (int)c->mode);
    if (!valid_kind(c->forward) || !valid_kind(c->backward_data) || !valid_kind(c->backward_weight))
        return spdf_fail(SPDF_EINVAL, "a forced sparse kernel must be SPDF_SPARSE_KERNEL_AUTO or a "
                         "spdf_sparse_kernel_kind (got %d, %d, %d)", (int)c->forward,
                         (int)c->backward_data, (int)c->backward_weight);
    if (c->backward_weight == SPDF_SPARSE_KERNEL_JIT)
        return spdf_fail(SPDF_EUNSUPPORTED, "there are no JIT kernels for the weight gradient");
    if (c->tokens < 0 || c->tokens > (1 << 20) || c->reserved != 0)
        return spdf_fail(SPDF_EINVAL, "tokens must be in [0, 1048576] and reserved 0");
    return SPDF_OK;
}

/* The request for layer l: the model's configuration, or the saved kernels of a checkpoint. */
static spdf_sparse_plan_request layer_request(const spdf_model *model, const int8_t *saved, int l)
{
    const spdf_sparse_plan_config *c = &model->sparse_plan;
    spdf_sparse_plan_request r = {
        .num_threads = model->ctx->num_threads,
        .mode = (spdf_sparse_plan_mode)c->mode,
        .forced = {c->forward, c->backward_data, c->backward_weight},
        .source = SPDF_SPARSE_PLANNED_FORCED,
        .tokens = c->tokens,
    };
    if (saved) {
        for (int p = 0; p < SPDF_PRODUCTS; p++) r.forced[p] = saved[l * SPDF_PRODUCTS + p];
        r.source = SPDF_SPARSE_PLANNED_CHECKPOINT;
    }
    return r;
}

spdf_status model_plan_layer(const spdf_model *model, void *kernel, int layer,
                             const int8_t *saved)
{
    const spdf_backend_ops *ops = model->ctx->ops;
    spdf_sparse_plan_request r = layer_request(model, saved, layer);
    if (!ops->sparse_plan) {
        for (int p = 0; p < SPDF_PRODUCTS; p++)
            if (!saved && r.forced[p] != SPDF_SPARSE_KERNEL_AUTO && r.forced[p] != SPDF_SPARSE_KERNEL_INDEX)
                return spdf_fail(SPDF_EUNSUPPORTED, "the %s backend runs sparse layers on its "
                                 "index kernels only", ops->name);
        return SPDF_OK;
    }
    spdf_status status = ops->sparse_plan(kernel, &r);
    if (status == SPDF_EUNSUPPORTED && saved) {
        /* A kernel this backend lacks (say JIT, saved by the xsmm backend): plan it afresh. */
        r = layer_request(model, NULL, layer);
        status = ops->sparse_plan(kernel, &r);
    }
    return status;
}

spdf_status model_plan_sparse(spdf_model *model, const int8_t *saved)
{
    for (int l = 0; l < model->num_sparse; l++)
        SPDF_TRY(model_plan_layer(model, model->sparse[l].kernel, l, saved));
    return SPDF_OK;
}

spdf_status spdf_model_set_sparse_plan(spdf_model *model, const spdf_sparse_plan_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(config);
    spdf_sparse_plan_config c;
    spdf_sparse_plan_config_init(&c);
    SPDF_TRY(spdf_struct_read(&c, sizeof c, config, PLAN_CONFIG_FIRST_SIZE, "spdf_sparse_plan_config"));
    SPDF_TRY(validate_plan_config(&c));
    const spdf_sparse_plan_config previous = model->sparse_plan;
    model->sparse_plan = c;
    if (model->phase != SPDF_PHASE_SPARSE) return SPDF_OK;
    const spdf_status status = model_plan_sparse(model, NULL);
    if (status != SPDF_OK) {
        model->sparse_plan = previous;
        model_plan_sparse(model, NULL); /* back to what it was; the planning that failed changed
                                           nothing in the layer it failed on */
    }
    return status;
}

spdf_status spdf_model_get_sparse_plan(const spdf_model *model, spdf_sparse_plan_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(config);
    return spdf_struct_write(config, &model->sparse_plan, sizeof model->sparse_plan,
                             PLAN_CONFIG_FIRST_SIZE, "spdf_sparse_plan_config");
}

void model_sparse_report(const spdf_model *model, int layer, spdf_sparse_plan_report *report)
{
    const spdf_backend_ops *ops = model->ctx->ops;
    memset(report, 0, sizeof *report);
    for (int p = 0; p < SPDF_PRODUCTS; p++) report->kind[p] = SPDF_SPARSE_KERNEL_INDEX;
    report->isa = "reference";
    report->vector_floats = 1;
    if (ops->sparse_kernel_info) ops->sparse_kernel_info(model->sparse[layer].kernel, report);
}

spdf_status spdf_model_sparse_kernel_info(const spdf_model *model, int32_t layer,
                                          spdf_sparse_kernel_info *info)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(info);
    SPDF_TRY(spdf_check_struct_size(info->struct_size, KERNEL_INFO_FIRST_SIZE,
                                    "spdf_sparse_kernel_info"));
    if (!model->sparse)
        return spdf_fail(SPDF_ESTATE, "the model is not in a sparse phase: no sparse kernels");
    if (layer < 0 || layer >= model->num_sparse)
        return spdf_fail(SPDF_EINVAL, "layer %d is outside [0, %d)", (int)layer, model->num_sparse);
    spdf_sparse_plan_report report;
    model_sparse_report(model, layer, &report);
    const spdf_sparse_kernel_info result = {
        .struct_size = sizeof result,
        .kind = report.kind[SPDF_PRODUCT_FORWARD],
        .code_bytes = (int64_t)report.code_bytes,
        .forward = report.kind[SPDF_PRODUCT_FORWARD],
        .backward_data = report.kind[SPDF_PRODUCT_BACKWARD_DATA],
        .backward_weight = report.kind[SPDF_PRODUCT_BACKWARD_WEIGHT],
        .planned_by = report.planned_by,
        .forward_time = report.relative_time[SPDF_PRODUCT_FORWARD],
        .backward_data_time = report.relative_time[SPDF_PRODUCT_BACKWARD_DATA],
        .backward_weight_time = report.relative_time[SPDF_PRODUCT_BACKWARD_WEIGHT],
        .vector_floats = report.vector_floats,
        .isa = report.isa,
    };
    return spdf_struct_write(info, &result, sizeof result,
                             KERNEL_INFO_FIRST_SIZE, "spdf_sparse_kernel_info");
}
