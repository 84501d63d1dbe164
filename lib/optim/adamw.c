/* AdamW (Loshchilov & Hutter) with global-norm gradient clipping.  Weight decay applies to the
 * SPDF_TENSOR_DECAY tensors (2-D weights and embeddings, as nanoGPT), not to biases or LayerNorm. */
#include "optim/optimizer.h"
#include "core/core.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OPTIMIZER_CONFIG_FIRST_SIZE SPDF_SIZE_THROUGH(spdf_optimizer_config, min_lr_ratio)

struct spdf_optimizer {
    uint32_t tag; /* HANDLE_OPTIMIZER (core/core.h), first */
    spdf_model *model;
    spdf_optimizer_config config;
    float *m, *v;  /* first and second moments, (num_params) each, laid out like the parameters */
    int64_t step;  /* updates applied so far: the schedule's position */
    int64_t moment_step; /* updates since the moments last started from zero: Adam's bias
                            correction counts these, so a moment reset restarts it */
};

spdf_status spdf_optimizer_config_init(spdf_optimizer_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    config->learning_rate = 6e-4f;
    config->beta1 = 0.9f;
    config->beta2 = 0.95f;
    config->eps = 1e-8f;
    config->weight_decay = 0.1f;
    config->grad_clip = 1.0f;
    config->schedule = SPDF_LR_COSINE;
    config->warmup_steps = 0;
    config->total_steps = 1000;
    config->min_lr_ratio = 0.1f;
    return SPDF_OK;
}

static spdf_status validate_config(const spdf_optimizer_config *c)
{
    if (!(c->learning_rate >= 0.0f) || isinf(c->learning_rate))
        return spdf_fail(SPDF_EINVAL, "learning_rate must be finite and >= 0, got %g", (double)c->learning_rate);
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return spdf_fail(SPDF_EINVAL, "beta1 and beta2 must be in [0, 1), got %g and %g",
                         (double)c->beta1, (double)c->beta2);
    if (!(c->eps > 0.0f)) return spdf_fail(SPDF_EINVAL, "eps must be > 0, got %g", (double)c->eps);
    if (!(c->weight_decay >= 0.0f) || isinf(c->weight_decay))
        return spdf_fail(SPDF_EINVAL, "weight_decay must be finite and >= 0");
    if (isnan(c->grad_clip)) return spdf_fail(SPDF_EINVAL, "grad_clip is NaN");
    if (c->schedule != SPDF_LR_CONSTANT && c->schedule != SPDF_LR_COSINE)
        return spdf_fail(SPDF_EINVAL, "unknown schedule %d", (int)c->schedule);
    if (c->warmup_steps < 0 || c->total_steps < 0)
        return spdf_fail(SPDF_EINVAL, "warmup_steps and total_steps must be >= 0");
    if (!(c->min_lr_ratio >= 0.0f && c->min_lr_ratio <= 1.0f))
        return spdf_fail(SPDF_EINVAL, "min_lr_ratio must be in [0, 1], got %g", (double)c->min_lr_ratio);
    return SPDF_OK;
}

/* Reads a caller's configuration: the fields it has, defaults for the rest. */
static spdf_status read_config(const spdf_optimizer_config *config, spdf_optimizer_config *out)
{
    spdf_optimizer_config_init(out);
    if (!config) return SPDF_OK;
    SPDF_TRY(spdf_struct_read(out, sizeof *out, config, OPTIMIZER_CONFIG_FIRST_SIZE,
                              "spdf_optimizer_config"));
    return validate_config(out);
}

spdf_status optimizer_validate_config(const spdf_optimizer_config *config)
{
    spdf_optimizer_config parsed;
    return read_config(config, &parsed);
}

void optimizer_set_config(spdf_optimizer *opt, const spdf_optimizer_config *config)
{
    read_config(config, &opt->config);
}

spdf_status spdf_optimizer_create(spdf_model *model, const spdf_optimizer_config *config,
                                  spdf_optimizer **out)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(out);
    spdf_optimizer_config cfg;
    SPDF_TRY(read_config(config, &cfg));
    if (model->optimizer)
        return spdf_fail(SPDF_ESTATE, "the model already has an optimizer; free it first");
    spdf_optimizer *opt = calloc(1, sizeof *opt);
    if (opt) opt->tag = HANDLE_OPTIMIZER;
    /* Reserved for the dense model so the transition can grow them in place. */
    const size_t bytes = (size_t)model->num_params * sizeof(float);
    if (opt) {
        opt->model = model;
        opt->m = spdf_reserve(bytes);
        opt->v = spdf_reserve(bytes);
    }
    if (!opt || !opt->m || !opt->v) {
        spdf_optimizer_free(opt);
        return spdf_fail(SPDF_ENOMEM, "out of memory for optimizer state (%zu MiB)", 2 * bytes >> 20);
    }
    opt->config = cfg;
    model_attach_moments(model, opt, opt->m, opt->v);
    *out = opt;
    return SPDF_OK;
}

const spdf_optimizer_config *optimizer_config(const spdf_optimizer *opt) { return &opt->config; }

const spdf_model *optimizer_model(const spdf_optimizer *opt) { return opt->model; }

void optimizer_restart(spdf_optimizer *opt, int restart_schedule, int reset_moments)
{
    if (restart_schedule) opt->step = 0;
    if (!reset_moments) return;
    const size_t bytes = (size_t)opt->model->num_stored * sizeof(float);
    memset(opt->m, 0, bytes);
    memset(opt->v, 0, bytes);
    opt->moment_step = 0;
}

void optimizer_get_state(const spdf_optimizer *opt, int64_t *step, int64_t *moment_step)
{
    *step = opt->step;
    *moment_step = opt->moment_step;
}

void optimizer_set_state(spdf_optimizer *opt, int64_t step, int64_t moment_step)
{
    opt->step = step;
    opt->moment_step = moment_step;
}

float *optimizer_moment(const spdf_optimizer *opt, int k) { return k == 0 ? opt->m : opt->v; }

void spdf_optimizer_free(spdf_optimizer *opt)
{
    if (!spdf_handle_is(opt, HANDLE_OPTIMIZER)) return; /* NULL, freed, or not a optimizer */
    if (opt->model) model_detach_moments(opt->model, opt);
    const size_t bytes = opt->model ? (size_t)opt->model->num_params * sizeof(float) : 0;
    spdf_reserve_free(opt->m, bytes);
    spdf_reserve_free(opt->v, bytes);
    spdf_handle_poison(opt);
    free(opt);
}

/* Sum of squares in fixed chunks added in order: the same bits for every thread count. */
static double squared_norm(const float *x, int64_t n, int num_threads)
{
    enum { CHUNK = 1 << 14 };
    const int64_t chunks = (n + CHUNK - 1) / CHUNK;
    double *partial = malloc((size_t)(chunks > 0 ? chunks : 1) * sizeof(double));
    if (!partial) { /* no memory for partials: sum sequentially, still deterministic */
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
        return sum;
    }
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t end = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
        double sum = 0.0;
        for (int64_t i = c * CHUNK; i < end; i++) sum += (double)x[i] * x[i];
        partial[c] = sum;
    }
    double total = 0.0;
    for (int64_t c = 0; c < chunks; c++) total += partial[c];
    free(partial);
    return total;
}

SPDF_VECTOR_CLONES
static void adamw_update(float *param, float *grad, float *m, float *v, int64_t n,
                         float lr, float decay, float grad_scale, float beta1, float beta2,
                         float eps, float bias1, float bias2, int num_threads)
{
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float g = grad[i] * grad_scale;
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        const float m_hat = m[i] / bias1, v_hat = v[i] / bias2;
        param[i] -= lr * (m_hat / (sqrtf(v_hat) + eps) + decay * param[i]);
        grad[i] = 0.0f;
    }
}

spdf_status spdf_optimizer_step(spdf_optimizer *opt, float *grad_norm, float *lr)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(opt, HANDLE_OPTIMIZER);
    spdf_model *model = opt->model;
    const spdf_optimizer_config *c = &opt->config;
    const int threads = model->ctx->num_threads;
    if (!model->has_gradients)
        return spdf_fail(SPDF_ESTATE, "no gradients since the last update: spdf_model_backward after "
                         "a successful spdf_model_forward comes first (step %lld not taken)",
                         (long long)opt->step);
    const double norm = sqrt(squared_norm(model->grads, model->num_stored, threads));
    if (!isfinite(norm))
        return spdf_fail(SPDF_ENUMERIC, "gradient norm is not finite at step %lld; nothing updated",
                         (long long)opt->step);
    const float scale = c->grad_clip > 0.0f && norm > c->grad_clip ? (float)(c->grad_clip / norm) : 1.0f;
    const float rate = schedule_learning_rate(c, opt->step);
    const int64_t t = opt->moment_step + 1;
    const float bias1 = 1.0f - powf(c->beta1, (float)t), bias2 = 1.0f - powf(c->beta2, (float)t);
    for (int i = 0; i < model->num_tensors; i++) {
        const tensor_desc *d = &model->tensors[i];
        const float decay = d->flags & SPDF_TENSOR_DECAY ? c->weight_decay : 0.0f;
        adamw_update(model->params + d->offset, model->grads + d->offset, opt->m + d->offset,
                     opt->v + d->offset, d->stored, rate, decay, scale, c->beta1, c->beta2, c->eps,
                     bias1, bias2, threads);
    }
    opt->step++;
    opt->moment_step = t;
    model->has_gradients = 0; /* adamw_update cleared them */
    if (grad_norm) *grad_norm = (float)norm;
    if (lr) *lr = rate;
    return SPDF_OK;
}

spdf_status spdf_optimizer_get_step(const spdf_optimizer *opt, int64_t *step)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(opt, HANDLE_OPTIMIZER);
    SPDF_CHECK_ARG(step);
    *step = opt->step;
    return SPDF_OK;
}

spdf_status spdf_optimizer_lr_at(const spdf_optimizer *opt, int64_t step, float *lr)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(opt, HANDLE_OPTIMIZER);
    SPDF_CHECK_ARG(lr);
    SPDF_CHECK_ARG(step >= 0);
    *lr = schedule_learning_rate(&opt->config, step);
    return SPDF_OK;
}

spdf_status spdf_optimizer_get_config(const spdf_optimizer *opt, spdf_optimizer_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(opt, HANDLE_OPTIMIZER);
    SPDF_CHECK_ARG(config);
    return spdf_struct_write(config, &opt->config, sizeof opt->config,
                             OPTIMIZER_CONFIG_FIRST_SIZE, "spdf_optimizer_config");
}

spdf_status spdf_optimizer_restart(spdf_optimizer *opt, const spdf_optimizer_config *config,
                                   int32_t reset_moments)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(opt, HANDLE_OPTIMIZER);
    SPDF_CHECK_ARG(reset_moments == 0 || reset_moments == 1);
    if (config) SPDF_TRY(optimizer_validate_config(config));
    if (config) optimizer_set_config(opt, config);
    optimizer_restart(opt, 1, reset_moments);
    return SPDF_OK;
}
