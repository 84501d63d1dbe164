/* The dense GPT model through the public API: gradients against finite differences of an
 * independent double-precision forward pass, loss weights, overfitting, determinism, errors. */
#include "gpt_reference.h"
#include "common/fixtures.h"
#include "spdf.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V = 11, MAXT = 6, L = 2, NH = 2, C = 8, B = 2, T = 5 };


static spdf_model *make_model(spdf_context *ctx, uint64_t seed)
{
    return test_model_create(ctx, V, MAXT, L, NH, C, seed);
}

static void make_batch(int32_t *tokens, int32_t *targets, unsigned seed)
{
    test_random_batch(tokens, targets, B * T, V, seed);
}

/* All parameters as doubles, in tensor order. */
static double *read_params(spdf_model *model, int64_t *count)
{
    ck_assert_int_eq(spdf_model_num_params(model, count), SPDF_OK);
    double *p = malloc(sizeof(double) * (size_t)*count);
    int32_t n;
    spdf_model_num_tensors(model, &n);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        ck_assert_int_eq(spdf_model_tensor_info(model, i, &info), SPDF_OK);
        float *buf = malloc(sizeof(float) * (size_t)info.numel);
        ck_assert_int_eq(spdf_model_tensor_read(model, i, buf, info.numel), SPDF_OK);
        for (int64_t k = 0; k < info.numel; k++) p[at + k] = buf[k];
        free(buf);
        at += info.numel;
    }
    ck_assert_int_eq(at, *count);
    return p;
}

/* Replaces GPT-2's small initial weights by larger random ones (std 0.3, gains 1 +- 0.3) so
 * that attention is far from uniform and every path carries a gradient worth checking. */
static void randomise_parameters(spdf_model *model, unsigned seed)
{
    int32_t n;
    spdf_model_num_tensors(model, &n);
    for (int i = 0; i < n; i++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        spdf_model_tensor_info(model, i, &info);
        float *buf = malloc(sizeof(float) * (size_t)info.numel);
        const int is_gain = strstr(info.name, "ln_") && strstr(info.name, ".weight");
        for (int64_t k = 0; k < info.numel; k++) {
            seed = seed * 1664525u + 1013904223u;
            const float u = (float)(seed >> 8) / 16777216.0f * 2.0f - 1.0f; /* [-1, 1) */
            buf[k] = (is_gain ? 1.0f : 0.0f) + 0.52f * u;                   /* std 0.3 */
        }
        ck_assert_int_eq(spdf_model_tensor_write(model, i, buf, info.numel), SPDF_OK);
        free(buf);
    }
}

/* Gradient check: libspdf's analytic float gradients against central differences (h = 1e-5) of
 * the double-precision reference loss, every element of every tensor.  Bound per element:
 * |g - fd| <= 1e-3 * |fd| + 1e-4 * max_k |fd_k| of its tensor (float rounding of the analytic
 * pass; the finite differences themselves are accurate to about 1e-9). */
static void gradient_check(const float *weights)
{
    spdf_context *ctx = test_context("ref", 2);
    spdf_model *model = make_model(ctx, 42);
    randomise_parameters(model, 42);
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 7);
    float loss;
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, weights, B, T, &loss), SPDF_OK);
    ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);

    int64_t count;
    double *params = read_params(model, &count);
    const reference_shape shape = {V, MAXT, L, NH, C};
    const double reference = reference_loss(&shape, params, tokens, targets, weights, B, T);
    ck_assert_msg(fabs(reference - loss) <= 1e-5 * fabs(reference), "loss %.9g vs reference %.9g",
                  (double)loss, reference);

    int32_t n;
    spdf_model_num_tensors(model, &n);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        spdf_model_tensor_info(model, i, &info);
        float *grad = malloc(sizeof(float) * (size_t)info.numel);
        ck_assert_int_eq(spdf_model_tensor_grad_read(model, i, grad, info.numel), SPDF_OK);
        double *fds = malloc(sizeof(double) * (size_t)info.numel), max_fd = 0;
        for (int64_t k = 0; k < info.numel; k++) {
            const double h = 1e-5, saved = params[at + k];
            params[at + k] = saved + h;
            const double up = reference_loss(&shape, params, tokens, targets, weights, B, T);
            params[at + k] = saved - h;
            const double down = reference_loss(&shape, params, tokens, targets, weights, B, T);
            params[at + k] = saved;
            fds[k] = (up - down) / (2 * h);
            max_fd = fmax(max_fd, fabs(fds[k]));
        }
        ck_assert_msg(max_fd > 1e-4, "%s: gradient is (nearly) zero: %g", info.name, max_fd);
        for (int64_t k = 0; k < info.numel; k++)
            ck_assert_msg(fabs(fds[k] - grad[k]) <= 1e-3 * fabs(fds[k]) + 1e-4 * max_fd,
                          "%s[%lld]: grad %.6g vs finite difference %.6g (max |fd| %.3g)",
                          info.name, (long long)k, (double)grad[k], fds[k], max_fd);
        free(fds);
        free(grad);
        at += info.numel;
    }
    free(params);
    spdf_model_free(model);
    spdf_context_free(ctx);
}

START_TEST(test_gradients_all_ones) { gradient_check(NULL); }
END_TEST

START_TEST(test_gradients_partial_weights)
{
    float weights[B * T];
    for (int i = 0; i < B * T; i++) weights[i] = (i % T) < 2 ? 0.0f : 0.5f + 0.25f * (i % 3);
    gradient_check(weights);
}
END_TEST

/* Tokens with loss weight 0: changing their targets changes neither the loss nor any gradient. */
START_TEST(test_zero_weight_tokens_contribute_nothing)
{
    spdf_context *ctx = test_context("ref", 2);
    float weights[B * T];
    for (int i = 0; i < B * T; i++) weights[i] = (i % T) >= 3 ? 1.0f : 0.0f;
    int32_t tokens[B * T], targets[B * T], other_targets[B * T];
    make_batch(tokens, targets, 3);
    memcpy(other_targets, targets, sizeof targets);
    for (int i = 0; i < B * T; i++)
        if (weights[i] == 0.0f) other_targets[i] = (targets[i] + 1 + i) % V;

    float losses[2];
    float *grads[2];
    int64_t count;
    for (int run = 0; run < 2; run++) {
        spdf_model *model = make_model(ctx, 5);
        ck_assert_int_eq(spdf_model_forward(model, tokens, run ? other_targets : targets, weights,
                                            B, T, &losses[run]), SPDF_OK);
        ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);
        spdf_model_num_params(model, &count);
        grads[run] = malloc(sizeof(float) * (size_t)count);
        int32_t n;
        spdf_model_num_tensors(model, &n);
        int64_t at = 0;
        for (int i = 0; i < n; i++) {
            spdf_tensor_info info = {.struct_size = sizeof info};
            spdf_model_tensor_info(model, i, &info);
            spdf_model_tensor_grad_read(model, i, grads[run] + at, info.numel);
            at += info.numel;
        }
        spdf_model_free(model);
    }
    ck_assert_msg(losses[0] == losses[1], "loss changed: %g vs %g", losses[0], losses[1]);
    ck_assert_msg(memcmp(grads[0], grads[1], sizeof(float) * (size_t)count) == 0,
                  "a gradient changed when only zero-weight targets changed");
    /* and the weighted tokens do matter */
    ck_assert(losses[0] > 0.0f);
    free(grads[0]);
    free(grads[1]);
    spdf_context_free(ctx);
}
END_TEST

/* Runs `steps` AdamW steps on a fixed batch and returns the losses. */
static void train_fixed_batch(int threads, int steps, float *losses)
{
    spdf_context *ctx = test_context("ref", threads);
    spdf_model *model = make_model(ctx, 11);
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    oc.learning_rate = 1e-2f;
    oc.schedule = SPDF_LR_CONSTANT;
    oc.weight_decay = 0.0f;
    spdf_optimizer *opt = NULL;
    ck_assert_int_eq(spdf_optimizer_create(model, &oc, &opt), SPDF_OK);
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 99);
    for (int s = 0; s < steps; s++) {
        ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, T, &losses[s]), SPDF_OK);
        ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);
        ck_assert_int_eq(spdf_optimizer_step(opt, NULL, NULL), SPDF_OK);
    }
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
}

/* Overfitting one batch: from about ln(11) = 2.40 to below 0.1 nats in 150 steps. */
START_TEST(test_overfits_fixed_batch)
{
    float losses[150];
    train_fixed_batch(2, 150, losses);
    ck_assert_msg(fabsf(losses[0] - logf((float)V)) < 0.3f, "initial loss %g", losses[0]);
    ck_assert_msg(losses[149] < 0.1f, "final loss %g", losses[149]);
}
END_TEST

/* Same seed and data: bit-identical losses, and (by design of every reduction) the same bits
 * for 1, 2 and 3 threads. */
START_TEST(test_deterministic_across_runs_and_threads)
{
    float a[20], b[20], c[20], d[20];
    train_fixed_batch(2, 20, a);
    train_fixed_batch(2, 20, b);
    train_fixed_batch(1, 20, c);
    train_fixed_batch(3, 20, d);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert(memcmp(a, c, sizeof a) == 0);
    ck_assert(memcmp(a, d, sizeof a) == 0);
}
END_TEST

START_TEST(test_initialisation_statistics)
{
    spdf_context *ctx = test_context("ref", 2);
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.num_layers = 8;
    mc.channels = 64;
    spdf_model *model = NULL, *same = NULL, *other = NULL;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_OK);
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &same), SPDF_OK);
    mc.seed++;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &other), SPDF_OK);
    const struct { const char *name; double std; } expect[] = {
        {"wte", 0.02}, {"h.0.attn.c_attn.weight", 0.02}, {"h.3.mlp.c_fc.weight", 0.02},
        {"h.0.attn.c_proj.weight", 0.02 / 4.0}, {"h.7.mlp.c_proj.weight", 0.02 / 4.0}};
    for (size_t e = 0; e < sizeof expect / sizeof expect[0]; e++) {
        int32_t index;
        ck_assert_int_eq(spdf_model_tensor_find(model, expect[e].name, &index), SPDF_OK);
        spdf_tensor_info info = {.struct_size = sizeof info};
        spdf_model_tensor_info(model, index, &info);
        float *x = malloc(sizeof(float) * (size_t)info.numel), *y = malloc(sizeof(float) * (size_t)info.numel);
        float *z = malloc(sizeof(float) * (size_t)info.numel);
        spdf_model_tensor_read(model, index, x, info.numel);
        spdf_model_tensor_read(same, index, y, info.numel);
        spdf_model_tensor_read(other, index, z, info.numel);
        double sum = 0, sq = 0;
        for (int64_t k = 0; k < info.numel; k++) { sum += x[k]; sq += (double)x[k] * x[k]; }
        const double mean = sum / info.numel, std = sqrt(sq / info.numel - mean * mean);
        ck_assert_msg(fabs(std - expect[e].std) < 0.05 * expect[e].std, "%s std %g", expect[e].name, std);
        ck_assert_msg(fabs(mean) < 0.05 * expect[e].std, "%s mean %g", expect[e].name, mean);
        ck_assert(memcmp(x, y, sizeof(float) * (size_t)info.numel) == 0);
        ck_assert(memcmp(x, z, sizeof(float) * (size_t)info.numel) != 0);
        free(x); free(y); free(z);
    }
    int32_t index;
    ck_assert_int_eq(spdf_model_tensor_find(model, "h.2.ln_1.weight", &index), SPDF_OK);
    float g[64];
    spdf_model_tensor_read(model, index, g, 64);
    for (int k = 0; k < 64; k++) ck_assert(g[k] == 1.0f);
    spdf_model_free(model);
    spdf_model_free(same);
    spdf_model_free(other);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_config_validation)
{
    spdf_context *ctx = test_context("ref", 1);
    spdf_model_config mc;
    spdf_model *model = NULL;
    spdf_model_config_init(&mc);
    mc.num_heads = 3; /* 128 % 3 != 0 */
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_EINVAL);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "num_heads"));
    spdf_model_config_init(&mc);
    mc.vocab_size = 0;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_EINVAL);
    spdf_model_config_init(&mc);
    mc.num_layers = -1;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_EINVAL);
    spdf_model_config_init(&mc);
    mc.struct_size = 8;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_EINVAL);
    spdf_model_config_init(&mc);
    mc.reserved = 1;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_EINVAL);
    ck_assert_ptr_null(model);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_invalid_arguments)
{
    spdf_context *ctx = test_context("ref", 1);
    spdf_model *model = make_model(ctx, 1);
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    spdf_model *out = NULL;
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 1);
    float loss, buf[8];
    int64_t count;
    int32_t n;
    spdf_tensor_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(spdf_model_create(NULL, &mc, &out), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_create(ctx, NULL, &out), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_create(ctx, &mc, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_config_init(NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_get_config(NULL, &mc), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_get_config(model, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_num_params(NULL, &count), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_num_params(model, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_num_tensors(NULL, &n), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_num_tensors(model, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_info(model, -1, &info), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_info(model, 1000, &info), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_info(NULL, 0, &info), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_info(model, 0, NULL), SPDF_EINVAL);
    info.struct_size = 0;
    ck_assert_int_eq(spdf_model_tensor_info(model, 0, &info), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_find(model, "nope", &n), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_find(model, NULL, &n), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_find(NULL, "wte", &n), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_find(model, "wte", NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_read(model, 0, buf, 8), SPDF_EINVAL); /* wrong count */
    ck_assert_int_eq(spdf_model_tensor_read(model, 0, NULL, V * C), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_read(NULL, 0, buf, 8), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_write(model, 0, buf, 8), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_write(model, 99, buf, 8), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_grad_read(model, 0, buf, 8), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_data(model, 0, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_data(NULL, 0, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_tensor_data(model, -5, (float **)&out), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_backward(model), SPDF_ESTATE); /* no forward yet */
    ck_assert_int_eq(spdf_model_backward(NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_zero_grad(NULL), SPDF_EINVAL);
    const float *logits;
    ck_assert_int_eq(spdf_model_logits(model, &logits, NULL, NULL, NULL), SPDF_ESTATE);
    ck_assert_int_eq(spdf_model_logits(NULL, &logits, NULL, NULL, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_logits(model, NULL, NULL, NULL, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_forward(NULL, tokens, targets, NULL, B, T, &loss), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_forward(model, NULL, targets, NULL, B, T, &loss), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, T, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, 0, T, &loss), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, MAXT + 1, &loss), SPDF_EINVAL);
    tokens[3] = V;
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, T, &loss), SPDF_EINVAL);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "tokens[3]"));
    tokens[3] = 0;
    targets[4] = -1;
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, T, &loss), SPDF_EINVAL);
    targets[4] = 0;
    float weights[B * T] = {0};
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, weights, B, T, &loss), SPDF_EINVAL);
    weights[0] = -1.0f;
    weights[1] = 1.0f;
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, weights, B, T, &loss), SPDF_EINVAL);
    weights[0] = NAN;
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, weights, B, T, &loss), SPDF_EINVAL);
    /* inference, then backward is a state error */
    ck_assert_int_eq(spdf_model_forward(model, tokens, NULL, NULL, B, T, NULL), SPDF_OK);
    ck_assert_int_eq(spdf_model_backward(model), SPDF_ESTATE);
    int32_t rb, rt, rv;
    ck_assert_int_eq(spdf_model_logits(model, &logits, &rb, &rt, &rv), SPDF_OK);
    ck_assert_int_eq(rb, B);
    ck_assert_int_eq(rt, T);
    ck_assert_int_eq(rv, V);
    spdf_model_free(NULL);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* Logits of an inference pass equal the logits of a training pass on the same tokens, and a
 * NaN weight poisons the loss into SPDF_ENUMERIC (never a crash). */
START_TEST(test_inference_logits_and_numeric_error)
{
    spdf_context *ctx = test_context("ref", 2);
    spdf_model *model = make_model(ctx, 1);
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 4);
    float loss;
    const float *logits;
    ck_assert_int_eq(spdf_model_forward(model, tokens, NULL, NULL, B, T, NULL), SPDF_OK);
    spdf_model_logits(model, &logits, NULL, NULL, NULL);
    float *copy = malloc(sizeof(float) * B * T * V);
    memcpy(copy, logits, sizeof(float) * B * T * V);
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, T, &loss), SPDF_OK);
    spdf_model_logits(model, &logits, NULL, NULL, NULL);
    ck_assert(memcmp(copy, logits, sizeof(float) * B * T * V) == 0);
    free(copy);
    /* one backward per forward: the first consumes the pass */
    ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);
    ck_assert_int_eq(spdf_model_backward(model), SPDF_ESTATE);
    int32_t index;
    spdf_model_tensor_find(model, "ln_f.bias", &index);
    float *data;
    ck_assert_int_eq(spdf_model_tensor_data(model, index, &data), SPDF_OK);
    data[0] = INFINITY;
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, T, &loss), SPDF_ENUMERIC);
    ck_assert_int_eq(spdf_model_backward(model), SPDF_ESTATE);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *grad = tcase_create("gradients");
    tcase_set_timeout(grad, 120);
    tcase_add_test(grad, test_gradients_all_ones);
    tcase_add_test(grad, test_gradients_partial_weights);
    tcase_add_test(grad, test_zero_weight_tokens_contribute_nothing);
    suite_add_tcase(s, grad);
    TCase *train = tcase_create("training");
    tcase_set_timeout(train, 120);
    tcase_add_test(train, test_overfits_fixed_batch);
    tcase_add_test(train, test_deterministic_across_runs_and_threads);
    tcase_add_test(train, test_initialisation_statistics);
    suite_add_tcase(s, train);
    TCase *api = tcase_create("api");
    tcase_add_test(api, test_config_validation);
    tcase_add_test(api, test_invalid_arguments);
    tcase_add_test(api, test_inference_logits_and_numeric_error);
    suite_add_tcase(s, api);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(model_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
