/* Learning-rate schedules: linear warmup, then constant or cosine decay to a floor. */
#include "optim/optimizer.h"

#include <math.h>

float schedule_learning_rate(const spdf_optimizer_config *c, int64_t step)
{
    if (c->warmup_steps > 0 && step < c->warmup_steps)
        return c->learning_rate * (float)(step + 1) / (float)c->warmup_steps;
    if (c->schedule == SPDF_LR_CONSTANT) return c->learning_rate;
    const double floor_lr = (double)c->min_lr_ratio * c->learning_rate;
    const int64_t decay_steps = (int64_t)c->total_steps - c->warmup_steps;
    double progress = decay_steps > 0 ? (double)(step - c->warmup_steps) / (double)decay_steps : 1.0;
    if (progress > 1.0) progress = 1.0;
    const double pi = 3.14159265358979323846;
    return (float)(floor_lr + 0.5 * (c->learning_rate - floor_lr) * (1.0 + cos(pi * progress)));
}
