/* The training phase state machine (dense, sparse).  Not implemented in this release. */
#include "core/core.h"

spdf_status spdf_phase_create(spdf_model *model, spdf_optimizer *opt, spdf_phase_kind kind,
                              const spdf_mask *mask, spdf_phase **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(model);
    SPDF_CHECK_ARG(out);
    (void)opt;
    (void)kind;
    (void)mask;
    return spdf_fail(SPDF_EUNSUPPORTED, "training phases are not implemented in libspdf %s",
                     SPDF_VERSION_STRING);
}

void spdf_phase_free(spdf_phase *phase) { (void)phase; }
