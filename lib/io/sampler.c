/* The batch sampler: (B, T+1) windows of a dataset, as inputs and next-token targets.  Window
 * offsets are pure functions of (seed, batch number, row), so a run can be replayed or resumed
 * from a position alone; the exact rules are in docs/token-format.md. */
#include "core/core.h"
#include "io/dataset.h"

#include <stdlib.h>
#include <string.h>

/* Philox stream of the RANDOM order, fixed so that offsets never change between releases.  It
 * spells "sampler" in ASCII and keeps the sampler apart from other users of the same seed. */
#define SAMPLER_STREAM UINT64_C(0x73616D706C6572)

struct spdf_sampler {
    uint32_t tag; /* HANDLE_SAMPLER (core/core.h), first */
    const spdf_dataset *dataset;
    int32_t B, T;
    uint64_t seed;
    spdf_sampler_order order;
    int64_t position; /* batches drawn so far: the number of the next batch */
    int32_t rank, ranks; /* this sampler draws rows [rank, rank + 1) * B / ranks of each batch */
};

spdf_status spdf_sampler_create(const spdf_dataset *ds, int32_t B, int32_t T, uint64_t seed,
                                spdf_sampler_order order, spdf_sampler **out)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(ds, HANDLE_DATASET);
    SPDF_CHECK_ARG(out);
    SPDF_CHECK_ARG(order == SPDF_SAMPLE_RANDOM || order == SPDF_SAMPLE_SEQUENTIAL);
    if (B <= 0 || T <= 0)
        return spdf_fail(SPDF_EINVAL, "%s: B and T must be positive, got B=%d T=%d", __func__,
                         (int)B, (int)T);
    if ((int64_t)B * T > INT32_MAX)
        return spdf_fail(SPDF_EINVAL, "%s: a batch of B*T = %lld tokens exceeds %d", __func__,
                         (long long)B * T, INT32_MAX);
    if (ds->count < (int64_t)T + 1)
        return spdf_fail(SPDF_EINVAL, "%s: the dataset holds %lld tokens, a window of T+1 = %lld "
                         "needs more", __func__, (long long)ds->count, (long long)T + 1);
    spdf_sampler *sampler = calloc(1, sizeof *sampler);
    if (sampler) sampler->tag = HANDLE_SAMPLER;
    if (!sampler) return spdf_fail(SPDF_ENOMEM, "out of memory for a sampler");
    sampler->dataset = ds;
    sampler->B = B;
    sampler->T = T;
    sampler->seed = seed;
    sampler->order = order;
    sampler->position = 0;
    sampler->rank = 0;
    sampler->ranks = 1;
    *out = sampler;
    return SPDF_OK;
}

void spdf_sampler_free(spdf_sampler *sampler)
{
    if (!spdf_handle_is(sampler, HANDLE_SAMPLER)) return; /* NULL, freed, or not a sampler */
    spdf_handle_poison(sampler);
    free(sampler);
}


/* (a + b) mod m for a, b < m, without overflow. */
static uint64_t add_mod(uint64_t a, uint64_t b, uint64_t m)
{
    return a >= m - b ? a - (m - b) : a + b;
}

/* (a * b) mod m by doubling, exact for every 64-bit a, b (no 128-bit type in ISO C). */
static uint64_t mul_mod(uint64_t a, uint64_t b, uint64_t m)
{
    uint64_t result = 0;
    a %= m;
    for (; b != 0; b >>= 1) {
        if (b & 1) result = add_mod(result, a, m);
        a = add_mod(a, a, m);
    }
    return result;
}

/* Start of row `row` of batch `batch`; windows [start, start + T] lie inside [0, N). */
static uint64_t window_start(const spdf_sampler *sampler, uint64_t batch, uint64_t row)
{
    const uint64_t range = (uint64_t)(sampler->dataset->count - sampler->T); /* N - T >= 1 */
    if (sampler->order == SPDF_SAMPLE_RANDOM) {
        const spdf_rng rng = {sampler->seed, SAMPLER_STREAM};
        return spdf_rng_below(&rng, batch * (uint64_t)sampler->B + row, range);
    }
    /* ((batch * B + row) * T) mod (N - T), in exact integer arithmetic. */
    const uint64_t index = add_mod(mul_mod(batch, (uint64_t)sampler->B, range), row % range, range);
    return mul_mod(index, (uint64_t)sampler->T, range);
}

spdf_status spdf_sampler_next(spdf_sampler *sampler, int32_t *inputs, int32_t *targets)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(sampler, HANDLE_SAMPLER);
    SPDF_CHECK_ARG(inputs);
    SPDF_CHECK_ARG(targets);
    if (sampler->position == INT64_MAX)
        return spdf_fail(SPDF_ESTATE, "%s: the sampler's position is at INT64_MAX", __func__);
    const size_t T = (size_t)sampler->T;
    const int32_t *data = sampler->dataset->tokens;
    const int32_t rows = sampler->B / sampler->ranks, first = sampler->rank * rows;
    for (int32_t b = 0; b < rows; b++) {
        const uint64_t start = window_start(sampler, (uint64_t)sampler->position, (uint64_t)(first + b));
        const int32_t *window = data + start; /* (T+1) */
        memcpy(inputs + (size_t)b * T, window, T * sizeof(int32_t));      /* (B,T) */
        memcpy(targets + (size_t)b * T, window + 1, T * sizeof(int32_t)); /* (B,T) */
    }
    sampler->position++;
    return SPDF_OK;
}

spdf_status spdf_sampler_get_position(const spdf_sampler *sampler, int64_t *position)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(sampler, HANDLE_SAMPLER);
    SPDF_CHECK_ARG(position);
    *position = sampler->position;
    return SPDF_OK;
}

spdf_status spdf_sampler_set_position(spdf_sampler *sampler, int64_t position)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(sampler, HANDLE_SAMPLER);
    SPDF_CHECK_ARG(position >= 0);
    sampler->position = position;
    return SPDF_OK;
}

spdf_status spdf_sampler_set_shard(spdf_sampler *sampler, int32_t rank, int32_t ranks)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(sampler, HANDLE_SAMPLER);
    if (ranks < 1 || rank < 0 || rank >= ranks)
        return spdf_fail(SPDF_EINVAL, "%s: rank %d of %d ranks", __func__, (int)rank, (int)ranks);
    if (sampler->B % ranks != 0)
        return spdf_fail(SPDF_EINVAL, "%s: the batch of %d rows does not split into %d equal shares",
                         __func__, (int)sampler->B, (int)ranks);
    sampler->rank = rank;
    sampler->ranks = ranks;
    return SPDF_OK;
}

spdf_status spdf_sampler_get_shard(const spdf_sampler *sampler, int32_t *rank, int32_t *ranks,
                                   int32_t *rows)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(sampler, HANDLE_SAMPLER);
    if (rank) *rank = sampler->rank;
    if (ranks) *ranks = sampler->ranks;
    if (rows) *rows = sampler->B / sampler->ranks;
    return SPDF_OK;
}

void sampler_describe(const spdf_sampler *sampler, int32_t *B, int32_t *T, uint64_t *seed,
                      spdf_sampler_order *order)
{
    *B = sampler->B;
    *T = sampler->T;
    *seed = sampler->seed;
    *order = sampler->order;
}
