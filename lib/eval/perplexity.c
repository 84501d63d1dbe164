/* Held-out loss and perplexity of a model on a token dataset. */
#include "core/core.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>

spdf_status spdf_model_evaluate(spdf_model *model, const spdf_dataset *data, int32_t B, int32_t T,
                                int64_t max_batches, double *loss, double *perplexity)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_HANDLE(data, HANDLE_DATASET);
    SPDF_CHECK_ARG(loss);
    SPDF_CHECK_ARG(max_batches >= 0);
    int64_t count;
    SPDF_TRY(spdf_dataset_size(data, &count));
    const int64_t window = (int64_t)B * T;
    if (B < 1 || T < 1) return spdf_fail(SPDF_EINVAL, "B and T must be >= 1");
    int64_t batches = (count - 1) / (window > 0 ? window : 1);
    if (max_batches > 0 && batches > max_batches) batches = max_batches;
    if (batches < 1)
        return spdf_fail(SPDF_EINVAL, "the dataset (%lld tokens) is shorter than one (%d, %d) batch",
                         (long long)count, (int)B, (int)T);
    spdf_sampler *sampler;
    SPDF_TRY(spdf_sampler_create(data, B, T, 0, SPDF_SAMPLE_SEQUENTIAL, &sampler));
    int32_t *inputs = malloc(sizeof(int32_t) * (size_t)window), *targets = malloc(sizeof(int32_t) * (size_t)window);
    spdf_status status = inputs && targets ? SPDF_OK : spdf_fail(SPDF_ENOMEM, "out of memory for evaluation");
    double total = 0;
    for (int64_t b = 0; status == SPDF_OK && b < batches; b++) {
        float batch_loss = 0;
        status = spdf_sampler_next(sampler, inputs, targets);
        if (status == SPDF_OK) status = spdf_model_forward_eval(model, inputs, targets, NULL, B, T, &batch_loss);
        total += batch_loss;
    }
    spdf_sampler_free(sampler);
    free(inputs);
    free(targets);
    if (status != SPDF_OK) return status;
    *loss = total / (double)batches;
    if (perplexity) *perplexity = exp(*loss);
    return SPDF_OK;
}
