/* Sparsity masks over the block linear weights.  Not implemented in this release. */
#include "core/core.h"

spdf_status spdf_mask_create(const spdf_model *model, spdf_mask_method method, float sparsity,
                             uint64_t seed, spdf_mask **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(model);
    SPDF_CHECK_ARG(out);
    (void)method;
    (void)sparsity;
    (void)seed;
    return spdf_fail(SPDF_EUNSUPPORTED, "masks are not implemented in libspdf %s",
                     SPDF_VERSION_STRING);
}

void spdf_mask_free(spdf_mask *mask) { (void)mask; }
