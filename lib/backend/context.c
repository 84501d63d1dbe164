/* Creating a context: resolve the backend by name and fix the thread count. */
#include "backend/context.h"
#include "core/core.h"

#include <omp.h>
#include <stdlib.h>

spdf_status spdf_context_config_init(spdf_context_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    config->struct_size = sizeof *config;
    config->backend = NULL;
    config->num_threads = 0;
    return SPDF_OK;
}

spdf_status spdf_context_create(const spdf_context_config *config, spdf_context **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(out);
    spdf_context_config cfg;
    spdf_context_config_init(&cfg);
    if (config)
        SPDF_TRY(spdf_struct_read(&cfg, sizeof cfg, config,
                                  SPDF_SIZE_THROUGH(spdf_context_config, num_threads),
                                  "spdf_context_config"));
    if (cfg.num_threads < 0 || cfg.num_threads > 4096)
        return spdf_fail(SPDF_EINVAL, "num_threads must be in [0, 4096], got %d", (int)cfg.num_threads);
    const spdf_backend_ops *ops = spdf_backend_resolve(cfg.backend);
    if (!ops) return SPDF_EUNSUPPORTED;
    spdf_context *ctx = calloc(1, sizeof *ctx);
    if (ctx) ctx->tag = HANDLE_CONTEXT;
    if (!ctx) return spdf_fail(SPDF_ENOMEM, "out of memory for a context");
    ctx->resolved = spdf_backend_with_fallbacks(ops);
    ctx->ops = &ctx->resolved;
    ctx->num_threads = cfg.num_threads > 0 ? cfg.num_threads : omp_get_max_threads();
    *out = ctx;
    return SPDF_OK;
}

void spdf_context_free(spdf_context *ctx)
{
    if (!spdf_handle_is(ctx, HANDLE_CONTEXT)) return; /* NULL, freed, or not a context */
    spdf_handle_poison(ctx);
    free(ctx);
}


spdf_status spdf_context_backend(const spdf_context *ctx, const char **name)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(ctx, HANDLE_CONTEXT);
    SPDF_CHECK_ARG(name);
    *name = ctx->ops->name;
    return SPDF_OK;
}

spdf_status spdf_context_num_threads(const spdf_context *ctx, int32_t *num_threads)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(ctx, HANDLE_CONTEXT);
    SPDF_CHECK_ARG(num_threads);
    *num_threads = ctx->num_threads;
    return SPDF_OK;
}
