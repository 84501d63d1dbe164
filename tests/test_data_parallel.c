/* What the library gives a data-parallel trainer (docs/distributed.md), checked without any
 * collective library: two replicas in one process, each fed its shard of every batch, their
 * gradient arrays averaged by hand, train as one model fed the whole batch does, dense, sparse
 * and across the transition; sharded samplers draw exactly the unsharded batches; the gradient
 * array is the compact one while sparse; clipping sees the reduced gradient; the weight checksum
 * tells replicas apart. */
#include "spdf.h"
#include "common/fixtures.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { V = 64, MAXT = 16, L = 2, NH = 2, C = 32, B = 4, T = 8, RANKS = 2, STEPS = 10, SWITCH = 5 };

#define MUST(call) ck_assert_msg((call) == SPDF_OK, "%s: %s", #call, spdf_last_error())

static spdf_dataset *make_data(void)
{
    enum { N = 4096 };
    int32_t *tokens = malloc(N * sizeof *tokens);
    ck_assert_ptr_nonnull(tokens);
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        tokens[i] = i % 5 == 0 ? (int32_t)(x >> 16) % V : (3 * i) % V;
    }
    spdf_dataset *data = NULL;
    MUST(spdf_dataset_from_tokens(tokens, N, &data));
    free(tokens);
    return data;
}

/* ---- sharded samplers ---- */

START_TEST(shards_draw_the_unsharded_batches)
{
    spdf_dataset *data = make_data();
    for (int order = 0; order < 2; order++) {
        spdf_sampler *whole = NULL, *shard[RANKS] = {NULL};
        MUST(spdf_sampler_create(data, B, T, 7, (spdf_sampler_order)order, &whole));
        for (int r = 0; r < RANKS; r++) {
            MUST(spdf_sampler_create(data, B, T, 7, (spdf_sampler_order)order, &shard[r]));
            MUST(spdf_sampler_set_shard(shard[r], r, RANKS));
            int32_t rank = -1, ranks = -1, rows = -1;
            MUST(spdf_sampler_get_shard(shard[r], &rank, &ranks, &rows));
            ck_assert(rank == r && ranks == RANKS && rows == B / RANKS);
        }
        for (int batch = 0; batch < 20; batch++) {
            int32_t in[B * T], out[B * T], shard_in[B * T], shard_out[B * T];
            MUST(spdf_sampler_next(whole, in, out));
            for (int r = 0; r < RANKS; r++)
                MUST(spdf_sampler_next(shard[r], shard_in + r * (B / RANKS) * T, shard_out + r * (B / RANKS) * T));
            ck_assert_msg(memcmp(in, shard_in, sizeof in) == 0 && memcmp(out, shard_out, sizeof out) == 0,
                          "order %d batch %d: the shards differ from the whole batch", order, batch);
        }
        for (int r = 0; r < RANKS; r++) spdf_sampler_free(shard[r]);
        spdf_sampler_free(whole);
    }
    spdf_sampler *sampler = NULL;
    MUST(spdf_sampler_create(data, B, T, 7, SPDF_SAMPLE_RANDOM, &sampler));
    ck_assert_int_eq(spdf_sampler_set_shard(sampler, 0, 3), SPDF_EINVAL); /* 4 rows, 3 ranks */
    ck_assert_int_eq(spdf_sampler_set_shard(sampler, 2, 2), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_set_shard(sampler, -1, 2), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_set_shard(sampler, 0, 0), SPDF_EINVAL);
    spdf_sampler_free(sampler);
    spdf_dataset_free(data);
}
END_TEST

/* ---- replicas ---- */

typedef struct trainer {
    spdf_model *model;
    spdf_optimizer *opt;
    spdf_phase *phase;
    spdf_sampler *sampler;
    int32_t rows;
} trainer;

static trainer make_trainer(spdf_context *ctx, const spdf_dataset *data, int rank, int ranks)
{
    trainer t = {0};
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = V;
    mc.max_seq_len = MAXT;
    mc.num_layers = L;
    mc.num_heads = NH;
    mc.channels = C;
    MUST(spdf_model_create(ctx, &mc, &t.model));
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    oc.learning_rate = 3e-3f;
    oc.grad_clip = 0.5f; /* small enough to clip: the reduced norm must decide */
    MUST(spdf_optimizer_create(t.model, &oc, &t.opt));
    spdf_mask *mask = NULL;
    MUST(spdf_mask_create(t.model, SPDF_MASK_RANDOM, 0.75f, 99, &mask));
    MUST(spdf_phase_create(t.model, t.opt, SPDF_PHASE_SPARSE, mask, &t.phase));
    spdf_mask_free(mask);
    MUST(spdf_sampler_create(data, B, T, 5, SPDF_SAMPLE_RANDOM, &t.sampler));
    MUST(spdf_sampler_set_shard(t.sampler, rank, ranks));
    MUST(spdf_sampler_get_shard(t.sampler, NULL, NULL, &t.rows));
    return t;
}

static void free_trainer(trainer *t)
{
    spdf_phase_free(t->phase);
    spdf_optimizer_free(t->opt);
    spdf_sampler_free(t->sampler);
    spdf_model_free(t->model);
}

static float forward_backward(trainer *t)
{
    int32_t in[B * T], out[B * T];
    float loss = 0;
    MUST(spdf_sampler_next(t->sampler, in, out));
    MUST(spdf_model_forward(t->model, in, out, NULL, t->rows, T, &loss));
    MUST(spdf_model_backward(t->model));
    return loss;
}

static double norm_of(const float *g, int64_t n)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)g[i] * g[i];
    return sqrt(sum);
}

/* The replicas' gradients summed into each, scaled by 1 / RANKS: an allreduce by hand. */
static double average_gradients(trainer *replicas, int64_t *count)
{
    float *g[RANKS];
    int64_t n[RANKS];
    for (int r = 0; r < RANKS; r++) MUST(spdf_model_gradients(replicas[r].model, &g[r], &n[r]));
    ck_assert(n[0] == n[1]);
    for (int64_t i = 0; i < n[0]; i++) {
        const float sum = g[0][i] + g[1][i];
        g[0][i] = g[1][i] = sum;
    }
    for (int r = 0; r < RANKS; r++) MUST(spdf_model_scale_gradients(replicas[r].model, 1.0f / RANKS));
    *count = n[0];
    return norm_of(g[0], n[0]);
}

static double max_weight_difference(const spdf_model *a, const spdf_model *b)
{
    int32_t tensors = 0;
    MUST(spdf_model_num_tensors(a, &tensors));
    double worst = 0;
    for (int32_t t = 0; t < tensors; t++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        MUST(spdf_model_tensor_info(a, t, &info));
        float *x = malloc((size_t)info.numel * sizeof *x), *y = malloc((size_t)info.numel * sizeof *y);
        ck_assert(x && y);
        MUST(spdf_model_tensor_read(a, t, x, info.numel));
        MUST(spdf_model_tensor_read(b, t, y, info.numel));
        for (int64_t i = 0; i < info.numel; i++) worst = fmax(worst, fabs((double)x[i] - y[i]));
        free(x);
        free(y);
    }
    return worst;
}

/* Losses and gradients agree to float rounding (the batch means are summed in another order),
 * weights after ten Adam steps to a few ulps of their size, the replicas to the bit.  Adam
 * hardly depends on the gradient's scale, so the gradients themselves are compared too. */
#define LOSS_TOLERANCE 2e-6
#define WEIGHT_TOLERANCE 1e-5
#define GRADIENT_TOLERANCE 1e-4

START_TEST(replicas_train_as_one_model)
{
    spdf_context *ctx = test_context("ref", 1);
    spdf_dataset *data = make_data();
    trainer whole = make_trainer(ctx, data, 0, 1), replicas[RANKS];
    for (int r = 0; r < RANKS; r++) replicas[r] = make_trainer(ctx, data, r, RANKS);
    int64_t dense_count = 0, sparse_count = 0, params = 0;
    MUST(spdf_model_num_params(whole.model, &params));
    for (int step = 0; step < STEPS; step++) {
        if (step == SWITCH) {
            MUST(spdf_phase_transition(whole.phase, SPDF_PHASE_DENSE, NULL, NULL));
            for (int r = 0; r < RANKS; r++) MUST(spdf_phase_transition(replicas[r].phase, SPDF_PHASE_DENSE, NULL, NULL));
        }
        const float loss = forward_backward(&whole);
        float *g = NULL;
        int64_t n = 0;
        MUST(spdf_model_gradients(whole.model, &g, &n));
        const double whole_norm = norm_of(g, n);
        float *whole_gradient = malloc((size_t)n * sizeof *whole_gradient);
        ck_assert_ptr_nonnull(whole_gradient);
        memcpy(whole_gradient, g, (size_t)n * sizeof *whole_gradient);
        float norm = 0;
        MUST(spdf_optimizer_step(whole.opt, &norm, NULL));
        ck_assert_msg(fabs(norm - whole_norm) <= 1e-5 * whole_norm, "the optimizer's norm is not the array's");

        const double mean_loss = (forward_backward(&replicas[0]) + forward_backward(&replicas[1])) / RANKS;
        int64_t count = 0;
        const double reduced_norm = average_gradients(replicas, &count);
        ck_assert(count == n);
        ck_assert_msg(fabs(reduced_norm - whole_norm) <= GRADIENT_TOLERANCE * whole_norm,
                      "step %d: gradient norm %g of one model, %g reduced", step, whole_norm, reduced_norm);
        float *reduced = NULL;
        MUST(spdf_model_gradients(replicas[0].model, &reduced, &count));
        double worst = 0, largest = 0;
        for (int64_t i = 0; i < n; i++) {
            worst = fmax(worst, fabs((double)reduced[i] - whole_gradient[i]));
            largest = fmax(largest, fabs((double)whole_gradient[i]));
        }
        free(whole_gradient);
        ck_assert_msg(worst <= GRADIENT_TOLERANCE * largest, "step %d: gradients differ by %g (largest %g)", step,
                      worst, largest);
        if (step < SWITCH) sparse_count = count; else dense_count = count;
        for (int r = 0; r < RANKS; r++) {
            MUST(spdf_optimizer_step(replicas[r].opt, &norm, NULL));
            ck_assert_msg(fabs(norm - reduced_norm) <= 1e-5 * reduced_norm,
                          "step %d: clipping saw %g, the reduced gradient's norm is %g", step, norm, reduced_norm);
        }
        ck_assert_msg(fabs(mean_loss - loss) <= LOSS_TOLERANCE * loss, "step %d: loss %.9g of one model, %.9g of "
                      "the replicas", step, loss, mean_loss);
        uint32_t sums[RANKS];
        for (int r = 0; r < RANKS; r++) MUST(spdf_model_weights_checksum(replicas[r].model, &sums[r]));
        ck_assert_msg(sums[0] == sums[1], "step %d: the replicas drifted apart", step);
        const double difference = max_weight_difference(whole.model, replicas[0].model);
        ck_assert_msg(difference <= WEIGHT_TOLERANCE, "step %d: weights differ by %g", step, difference);
    }
    /* 75 % of the block weights are not stored while sparse: the array to reduce shrinks. */
    ck_assert(dense_count == params);
    ck_assert_msg(sparse_count < params / 2, "sparse gradient array %lld of %lld", (long long)sparse_count,
                  (long long)params);
    free_trainer(&whole);
    for (int r = 0; r < RANKS; r++) free_trainer(&replicas[r]);
    spdf_dataset_free(data);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(checksum_and_scaling)
{
    spdf_context *ctx = test_context("ref", 1);
    spdf_dataset *data = make_data();
    trainer a = make_trainer(ctx, data, 0, 1), b = make_trainer(ctx, data, 0, 1);
    uint32_t sum_a = 0, sum_b = 0;
    MUST(spdf_model_weights_checksum(a.model, &sum_a));
    MUST(spdf_model_weights_checksum(b.model, &sum_b));
    ck_assert_uint_eq(sum_a, sum_b);
    /* one weight changed by one ulp (wte is stored densely in either phase) */
    float *wte = NULL;
    MUST(spdf_model_tensor_data(b.model, 0, &wte));
    wte[17] = nextafterf(wte[17], INFINITY);
    MUST(spdf_model_weights_checksum(b.model, &sum_b));
    ck_assert_uint_ne(sum_a, sum_b);
    /* the same weights in the dense layout are another layout */
    MUST(spdf_phase_transition(a.phase, SPDF_PHASE_DENSE, NULL, NULL));
    uint32_t dense_sum = 0;
    MUST(spdf_model_weights_checksum(a.model, &dense_sum));
    ck_assert_uint_ne(sum_a, dense_sum);

    forward_backward(&a);
    float *g = NULL;
    int64_t n = 0;
    MUST(spdf_model_gradients(a.model, &g, &n));
    float *before = malloc((size_t)n * sizeof *before);
    ck_assert_ptr_nonnull(before);
    memcpy(before, g, (size_t)n * sizeof *before);
    MUST(spdf_model_scale_gradients(a.model, 0.25f));
    for (int64_t i = 0; i < n; i++) ck_assert_float_eq(g[i], before[i] * 0.25f);
    ck_assert_int_eq(spdf_model_scale_gradients(a.model, NAN), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_scale_gradients(a.model, INFINITY), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_gradients(a.model, NULL, &n), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_weights_checksum(a.model, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_gradients((spdf_model *)data, &g, &n), SPDF_EINVAL);
    free(before);
    free_trainer(&a);
    free_trainer(&b);
    spdf_dataset_free(data);
    spdf_context_free(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("data-parallel");
    TCase *tc = tcase_create("data-parallel");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, shards_draw_the_unsharded_batches);
    tcase_add_test(tc, replicas_train_as_one_model);
    tcase_add_test(tc, checksum_and_scaling);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
