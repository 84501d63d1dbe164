/* What a data-parallel trainer needs from a model, whatever collective library it uses: the
 * gradients as one array to reduce, a way to scale them, and a checksum of the weights to check
 * that the replicas have not drifted apart (docs/distributed.md). */
#include "core/core.h"
#include "model/model.h"

#include <math.h>
#include <string.h>

spdf_status spdf_model_gradients(spdf_model *model, float **gradients, int64_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(gradients);
    SPDF_CHECK_ARG(count);
    *gradients = model->grads;
    *count = model->num_stored;
    return SPDF_OK;
}

spdf_status spdf_model_scale_gradients(spdf_model *model, float factor)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    if (!isfinite(factor)) return spdf_fail(SPDF_EINVAL, "%s: the factor is not finite", __func__);
    float *restrict g = model->grads;
    const int64_t n = model->num_stored;
#pragma omp parallel for simd num_threads(model->ctx->num_threads) schedule(static)
    for (int64_t i = 0; i < n; i++) g[i] *= factor;
    return SPDF_OK;
}

/* CRC-32C of the stored weights' bytes in little-endian order, then of the stored count and the
 * phase: replicas that agree on all three hold the same model in the same layout. */
spdf_status spdf_model_weights_checksum(const spdf_model *model, uint32_t *checksum)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(checksum);
    enum { CHUNK = 4096 };
    unsigned char bytes[CHUNK * 4];
    uint32_t crc = 0;
    for (int64_t at = 0; at < model->num_stored; at += CHUNK) {
        const int64_t n = model->num_stored - at < CHUNK ? model->num_stored - at : CHUNK;
        for (int64_t i = 0; i < n; i++) {
            uint32_t bits;
            memcpy(&bits, &model->params[at + i], 4);
            for (int k = 0; k < 4; k++) bytes[4 * i + k] = (unsigned char)(bits >> 8 * k);
        }
        crc = spdf_crc32c(crc, bytes, (size_t)n * 4);
    }
    const uint64_t tail[2] = {(uint64_t)model->num_stored, (uint64_t)model->phase};
    for (int w = 0; w < 2; w++) {
        unsigned char word[8];
        for (int k = 0; k < 8; k++) word[k] = (unsigned char)(tail[w] >> 8 * k);
        crc = spdf_crc32c(crc, word, sizeof word);
    }
    *checksum = crc;
    return SPDF_OK;
}
