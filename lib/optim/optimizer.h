/* The AdamW optimizer handle: moments for every parameter, the step count and the schedule. */
#ifndef SPDF_OPTIMIZER_H
#define SPDF_OPTIMIZER_H

#include "spdf.h"

struct spdf_optimizer {
    spdf_model *model;
    spdf_optimizer_config config;
    float *m, *v;  /* first and second moments, (num_params) each, laid out like the parameters */
    int64_t step;  /* updates applied so far: the schedule's position */
    int64_t moment_step; /* updates since the moments last started from zero: Adam's bias
                            correction counts these, so a moment reset restarts it */
};

float schedule_learning_rate(const spdf_optimizer_config *config, int64_t step);
/* Checks a caller's configuration (struct_size, ranges). */
spdf_status optimizer_validate_config(const spdf_optimizer_config *config);
/* Replaces the configuration with a validated caller's one (the fields it has). */
void optimizer_set_config(spdf_optimizer *opt, const spdf_optimizer_config *config);

#endif
