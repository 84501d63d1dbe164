/* The training phase state machine: DENSE -> SPARSE (attach a mask), SPARSE -> DENSE (the SPDF
 * transition, in place) and SPARSE -> SPARSE (sparse fine-tuning on the same mask). */
#include "core/core.h"
#include "model/model.h"
#include "optim/optimizer.h"

#include <stdlib.h>
#include <string.h>

struct spdf_phase {
    uint32_t tag; /* HANDLE_PHASE (core/core.h), first */
    spdf_model *model;
};

spdf_status spdf_transition_config_init(spdf_transition_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    return SPDF_OK;
}

static spdf_status read_transition_config(const spdf_transition_config *config,
                                          spdf_transition_config *out)
{
    spdf_transition_config_init(out);
    if (!config) return SPDF_OK;
    SPDF_TRY(spdf_struct_read(out, sizeof *out, config,
                              SPDF_SIZE_THROUGH(spdf_transition_config, optimizer),
                              "spdf_transition_config"));
    if ((out->reset_moments != 0 && out->reset_moments != 1) ||
        (out->restart_schedule != 0 && out->restart_schedule != 1))
        return spdf_fail(SPDF_EINVAL, "reset_moments and restart_schedule must be 0 or 1");
    return SPDF_OK;
}

/* Applies the optimizer part of a transition; validated before anything else moves. */
static spdf_status check_optimizer_change(const spdf_model *model, const spdf_transition_config *c)
{
    if (!c->optimizer) return SPDF_OK;
    if (!model->optimizer)
        return spdf_fail(SPDF_EINVAL, "an optimizer configuration was given but the model has no optimizer");
    return optimizer_validate_config(c->optimizer);
}

static void apply_optimizer_change(spdf_model *model, const spdf_transition_config *c)
{
    spdf_optimizer *opt = model->optimizer;
    if (!opt) return;
    if (c->optimizer) optimizer_set_config(opt, c->optimizer);
    optimizer_restart(opt, c->restart_schedule, c->reset_moments);
}

static spdf_status attach(spdf_model *model, const spdf_mask *mask, const spdf_transition_config *c)
{
    SPDF_TRY(check_optimizer_change(model, c));
    SPDF_TRY(model_attach_mask(model, mask, model->moments, model->num_moments));
    apply_optimizer_change(model, c);
    return SPDF_OK;
}

spdf_status spdf_phase_create(spdf_model *model, spdf_optimizer *opt, spdf_phase_kind kind,
                              const spdf_mask *mask, spdf_phase **out)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(out);
    if (opt) SPDF_CHECK_HANDLE(opt, HANDLE_OPTIMIZER);
    if (mask) SPDF_CHECK_HANDLE(mask, HANDLE_MASK);
    if (opt && opt != model->optimizer)
        return spdf_fail(SPDF_EINVAL, "opt is not the optimizer of this model");
    if (kind != SPDF_PHASE_DENSE && kind != SPDF_PHASE_SPARSE)
        return spdf_fail(SPDF_EINVAL, "unknown phase kind %d", (int)kind);
    if (kind == SPDF_PHASE_DENSE && mask)
        return spdf_fail(SPDF_EINVAL, "a dense phase takes no mask");
    if (kind == SPDF_PHASE_SPARSE && !mask)
        return spdf_fail(SPDF_EINVAL, "a sparse phase needs a mask");
    if (model->phase_handle)
        return spdf_fail(SPDF_ESTATE, "the model already has a phase handle");
    if (kind != model->phase && kind == SPDF_PHASE_DENSE)
        return spdf_fail(SPDF_ESTATE, "the model is sparse: use spdf_phase_transition to densify it");
    if (kind == SPDF_PHASE_SPARSE && model->phase == SPDF_PHASE_SPARSE)
        return spdf_fail(SPDF_ESTATE, "the model is already sparse");
    spdf_phase *phase = calloc(1, sizeof *phase);
    if (phase) phase->tag = HANDLE_PHASE;
    if (!phase) return spdf_fail(SPDF_ENOMEM, "out of memory for a phase handle");
    if (kind == SPDF_PHASE_SPARSE) {
        spdf_transition_config defaults;
        spdf_transition_config_init(&defaults);
        const spdf_status status = attach(model, mask, &defaults);
        if (status != SPDF_OK) {
            free(phase);
            return status;
        }
    }
    phase->model = model;
    model->phase_handle = phase;
    *out = phase;
    return SPDF_OK;
}

void spdf_phase_free(spdf_phase *phase)
{
    if (!spdf_handle_is(phase, HANDLE_PHASE)) return; /* NULL, freed, or not a phase */
    if (phase->model && phase->model->phase_handle == phase) phase->model->phase_handle = NULL;
    spdf_handle_poison(phase);
    free(phase);
}

spdf_status spdf_phase_get_kind(const spdf_phase *phase, spdf_phase_kind *kind)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(phase, HANDLE_PHASE);
    SPDF_CHECK_ARG(kind);
    *kind = phase->model->phase;
    return SPDF_OK;
}

static const char *phase_name(spdf_phase_kind kind)
{
    return kind == SPDF_PHASE_SPARSE ? "SPARSE" : "DENSE";
}

spdf_status spdf_phase_transition(spdf_phase *phase, spdf_phase_kind kind, const spdf_mask *mask,
                                  const spdf_transition_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(phase, HANDLE_PHASE);
    if (mask) SPDF_CHECK_HANDLE(mask, HANDLE_MASK);
    if (kind != SPDF_PHASE_DENSE && kind != SPDF_PHASE_SPARSE)
        return spdf_fail(SPDF_EINVAL, "unknown phase kind %d", (int)kind);
    spdf_transition_config c;
    SPDF_TRY(read_transition_config(config, &c));
    spdf_model *model = phase->model;
    const spdf_phase_kind from = model->phase;
    if (from == SPDF_PHASE_DENSE && kind == SPDF_PHASE_DENSE)
        return spdf_fail(SPDF_ESTATE, "DENSE -> DENSE is not a transition");
    if (from == SPDF_PHASE_DENSE) {
        if (!mask) return spdf_fail(SPDF_EINVAL, "DENSE -> SPARSE needs a mask");
        return attach(model, mask, &c);
    }
    if (mask)
        return spdf_fail(SPDF_ESTATE, "%s -> %s takes no mask: a sparse model keeps its mask "
                         "until it becomes dense", phase_name(from), phase_name(kind));
    SPDF_TRY(check_optimizer_change(model, &c));
    if (kind == SPDF_PHASE_DENSE)
        SPDF_TRY(model_densify(model, model->moments, model->num_moments, c.reset_moments));
    apply_optimizer_change(model, &c);
    return SPDF_OK;
}
