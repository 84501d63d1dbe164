/* The AdamW optimizer handle: moments for every parameter, the step count and the schedule. */
#ifndef SPDF_OPTIMIZER_H
#define SPDF_OPTIMIZER_H

#include "spdf.h"

struct spdf_optimizer {
    spdf_model *model;
    spdf_optimizer_config config;
    float *m, *v;  /* first and second moments, (num_params) each, laid out like the parameters */
    int64_t step;  /* updates applied so far */
};

float schedule_learning_rate(const spdf_optimizer_config *config, int64_t step);

#endif
