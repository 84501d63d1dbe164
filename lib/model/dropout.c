/* Dropout settings and masks.  A mask is a Philox stream keyed by the seed, with the stream
 * number made of the training forward pass's counter and the site, and the element index as
 * the counter: every element's draw is fixed by (seed, pass, site, element) alone. */
#include "model/model.h"
#include "core/core.h"

#include <math.h>
#include <string.h>

/* Stream numbers: bit 63 set (the weight initialisation uses small streams of the same seed),
 * the site in bits 40..62, the pass counter in bits 0..39 (wrapping after 2^40 passes). */
#define DROPOUT_STREAM_BIT (1ull << 63)
#define DROPOUT_SITE_SHIFT 40
#define DROPOUT_COUNTER_MASK ((1ull << DROPOUT_SITE_SHIFT) - 1)

dropout_mask model_dropout_mask(const model_dropout *drop, float p, int layer,
                                dropout_site_kind kind)
{
    const uint64_t site = layer < 0 ? 0 : 1 + 3 * (uint64_t)layer + (uint64_t)kind;
    dropout_mask mask;
    mask.rng.seed = drop->seed;
    mask.rng.stream = DROPOUT_STREAM_BIT | site << DROPOUT_SITE_SHIFT |
                      (drop->forwards & DROPOUT_COUNTER_MASK);
    /* a word below threshold drops its element: probability threshold / 2^32, p rounded down */
    mask.threshold = (uint32_t)((double)p * 4294967296.0);
    mask.scale = (float)(1.0 / (1.0 - (double)p));
    return mask;
}

int model_dropout_active(const model_dropout *drop)
{
    return drop->embedding > 0 || drop->attention > 0 || drop->residual > 0;
}

spdf_status spdf_dropout_config_init(spdf_dropout_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    return SPDF_OK;
}

static spdf_status check_rate(const char *name, float p)
{
    if (p >= 0.0f && p < 1.0f) return SPDF_OK; /* false for NaN */
    return spdf_fail(SPDF_EINVAL, "spdf_dropout_config.%s must be in [0, 1), got %g", name, (double)p);
}

spdf_status spdf_model_set_dropout(spdf_model *model, const spdf_dropout_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(config);
    spdf_dropout_config c;
    spdf_dropout_config_init(&c);
    SPDF_TRY(spdf_struct_read(&c, sizeof c, config, SPDF_SIZE_THROUGH(spdf_dropout_config, forward_count),
                              "spdf_dropout_config"));
    SPDF_TRY(check_rate("embedding", c.embedding));
    SPDF_TRY(check_rate("attention", c.attention));
    SPDF_TRY(check_rate("residual", c.residual));
    if (c.reserved != 0)
        return spdf_fail(SPDF_EINVAL, "spdf_dropout_config.reserved must be 0, got %d", (int)c.reserved);
    const model_dropout d = {c.embedding, c.attention, c.residual, c.seed, c.forward_count};
    model->dropout = d;
    return SPDF_OK;
}

spdf_status spdf_model_get_dropout(const spdf_model *model, spdf_dropout_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(config);
    spdf_dropout_config c;
    spdf_dropout_config_init(&c);
    c.embedding = model->dropout.embedding;
    c.attention = model->dropout.attention;
    c.residual = model->dropout.residual;
    c.seed = model->dropout.seed;
    c.forward_count = model->dropout.forwards;
    return spdf_struct_write(config, &c, sizeof c, SPDF_SIZE_THROUGH(spdf_dropout_config, forward_count),
                             "spdf_dropout_config");
}
