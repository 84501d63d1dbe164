/* The list of compiled-in backends and the rules for choosing one by name. */
#include "backend.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static const spdf_backend_ops *const registry[] = {
#ifdef SPDF_HAVE_XSMM
    &spdf_backend_xsmm,
#endif
    &spdf_backend_native,
    &spdf_backend_ref,
};

int spdf_backend_registry_count(void) { return (int)(sizeof registry / sizeof registry[0]); }

const spdf_backend_ops *spdf_backend_registry_get(int index)
{
    if (index < 0 || index >= spdf_backend_registry_count()) return NULL;
    return registry[index];
}

spdf_backend_ops spdf_backend_with_fallbacks(const spdf_backend_ops *ops)
{
    spdf_backend_ops merged = *ops;
    const spdf_backend_ops *ref = &spdf_backend_ref;
    if (!merged.gemm) merged.gemm = ref->gemm;
    if (!merged.sparse_prepare || !merged.sparse_release || !merged.sparse_forward ||
        !merged.sparse_backward_data || !merged.sparse_backward_weight || !merged.sparse_order) {
        /* the sparse entries work as a set: take all of them from the reference (sparse_plan
         * and sparse_kernel_info may stay NULL: nothing to plan) */
        merged.sparse_prepare = ref->sparse_prepare;
        merged.sparse_release = ref->sparse_release;
        merged.sparse_order = ref->sparse_order;
        merged.sparse_forward = ref->sparse_forward;
        merged.sparse_backward_data = ref->sparse_backward_data;
        merged.sparse_backward_weight = ref->sparse_backward_weight;
        merged.sparse_plan = ref->sparse_plan;
        merged.sparse_kernel_info = ref->sparse_kernel_info;
    }
    return merged;
}

const spdf_backend_ops *spdf_backend_resolve(const char *name)
{
    if (!name) {
        const char *env = getenv("SPDF_BACKEND");
        name = env && *env ? env : "auto";
    }
    if (strcmp(name, "auto") == 0) {
        for (int i = 0; i < spdf_backend_registry_count(); i++)
            if (registry[i]->available()) return registry[i];
        spdf_fail(SPDF_EUNSUPPORTED, "no backend is available on this machine");
        return NULL;
    }
    for (int i = 0; i < spdf_backend_registry_count(); i++) {
        if (strcmp(registry[i]->name, name) != 0) continue;
        if (registry[i]->available()) return registry[i];
        spdf_fail(SPDF_EUNSUPPORTED, "backend \"%s\" is compiled in but cannot run on this machine",
                  name);
        return NULL;
    }
    char known[128] = "auto";
    for (int i = 0; i < spdf_backend_registry_count(); i++) {
        strncat(known, ", ", sizeof known - strlen(known) - 1);
        strncat(known, registry[i]->name, sizeof known - strlen(known) - 1);
    }
    spdf_fail(SPDF_EUNSUPPORTED, "unknown backend \"%s\" (this build knows: %s)", name, known);
    return NULL;
}

spdf_status spdf_backend_count(int32_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(count);
    *count = spdf_backend_registry_count();
    return SPDF_OK;
}

spdf_status spdf_backend_name(int32_t index, const char **name)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(name);
    if (index < 0 || index >= spdf_backend_registry_count())
        return spdf_fail(SPDF_EINVAL, "backend index %d out of range [0, %d)", (int)index,
                         spdf_backend_registry_count());
    *name = registry[index]->name;
    return SPDF_OK;
}

spdf_status spdf_backend_available(const char *name, int32_t *available)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(name);
    SPDF_CHECK_ARG(available);
    for (int i = 0; i < spdf_backend_registry_count(); i++)
        if (strcmp(registry[i]->name, name) == 0) {
            *available = registry[i]->available() ? 1 : 0;
            return SPDF_OK;
        }
    return spdf_fail(SPDF_EINVAL, "unknown backend \"%s\"", name);
}
