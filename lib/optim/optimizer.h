/* The AdamW optimizer handle: moments for every parameter, the step count and the schedule. */
#ifndef SPDF_OPTIMIZER_H
#define SPDF_OPTIMIZER_H

#include "spdf.h"

/* The handle's fields are private to lib/optim; other folders use these calls. */

float schedule_learning_rate(const spdf_optimizer_config *config, int64_t step);
/* Checks a caller's configuration (struct_size, ranges). */
spdf_status optimizer_validate_config(const spdf_optimizer_config *config);
/* Replaces the configuration with a validated caller's one (the fields it has). */
void optimizer_set_config(spdf_optimizer *opt, const spdf_optimizer_config *config);
const spdf_optimizer_config *optimizer_config(const spdf_optimizer *opt);
const spdf_model *optimizer_model(const spdf_optimizer *opt);
/* Restarts the schedule (step 0) and, with reset_moments, zeroes the moments and Adam's bias
 * correction; what spdf_optimizer_restart and a phase transition's options do. */
void optimizer_restart(spdf_optimizer *opt, int restart_schedule, int reset_moments);
/* The step counters: updates applied (the schedule's position) and updates since the moments
 * last started from zero (the bias correction's). */
void optimizer_get_state(const spdf_optimizer *opt, int64_t *step, int64_t *moment_step);
void optimizer_set_state(spdf_optimizer *opt, int64_t step, int64_t moment_step);
/* Moment k (0: first, 1: second), laid out like the model's stored parameters. */
float *optimizer_moment(const spdf_optimizer *opt, int k);

#endif
