/* Sparse pre-training through the public API: masks, the sparse phase against the dense model of
 * the same masked weights, weights that stay zero, the in-place transition and FLOP counts. */
#include "spdf.h"
#include "common/fixtures.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V = 37, MAXT = 12, L = 2, NH = 2, C = 32, B = 3, T = 11 };


/* Frees what a test built, dependents first. */
static void free_run(spdf_phase *phase, spdf_mask *mask, spdf_optimizer *opt, spdf_model *model,
                     spdf_context *ctx)
{
    spdf_phase_free(phase);
    spdf_mask_free(mask);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
}

static spdf_model *make_model(spdf_context *ctx, int channels, int layers, uint64_t seed)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = V;
    mc.max_seq_len = MAXT;
    mc.num_layers = layers;
    mc.num_heads = NH;
    mc.channels = channels;
    mc.seed = seed;
    spdf_model *model = NULL;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_OK);
    return model;
}

static void make_batch(int32_t *tokens, int32_t *targets, unsigned seed)
{
    for (int i = 0; i < B * T; i++) {
        seed = seed * 1103515245u + 12345u;
        tokens[i] = (int32_t)((seed >> 16) % V);
        seed = seed * 1103515245u + 12345u;
        targets[i] = (int32_t)((seed >> 16) % V);
    }
}

static float *read_tensor(const spdf_model *model, int index, int64_t *numel, int grad)
{
    spdf_tensor_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(spdf_model_tensor_info(model, index, &info), SPDF_OK);
    float *buf = malloc(sizeof(float) * (size_t)info.numel);
    if (grad) ck_assert_int_eq(spdf_model_tensor_grad_read(model, index, buf, info.numel), SPDF_OK);
    else ck_assert_int_eq(spdf_model_tensor_read(model, index, buf, info.numel), SPDF_OK);
    *numel = info.numel;
    return buf;
}

static int num_tensors(const spdf_model *model)
{
    int32_t n;
    spdf_model_num_tensors(model, &n);
    return n;
}

/* The dense model given the sparse model's (masked) weights computes the same loss, and its
 * gradient at the kept positions equals the sparse model's; all other tensors' gradients too.
 * Tolerances: loss relative 1e-5; gradients 1e-4 of the tensor's largest gradient (the two
 * paths sum in different orders). */
static void check_equivalence(spdf_mask_method method, float sparsity)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *sparse = make_model(ctx, C, L, 3), *dense = make_model(ctx, C, L, 3);
    spdf_mask *mask = NULL;
    ck_assert_int_eq(spdf_mask_create(sparse, method, sparsity, 9, &mask), SPDF_OK);
    spdf_phase *phase = NULL;
    ck_assert_int_eq(spdf_phase_create(sparse, NULL, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
    for (int i = 0; i < num_tensors(sparse); i++) {
        int64_t n;
        float *w = read_tensor(sparse, i, &n, 0);
        ck_assert_int_eq(spdf_model_tensor_write(dense, i, w, n), SPDF_OK);
        free(w);
    }
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 17);
    float loss_sparse, loss_dense;
    ck_assert_int_eq(spdf_model_forward(sparse, tokens, targets, NULL, B, T, &loss_sparse), SPDF_OK);
    ck_assert_int_eq(spdf_model_backward(sparse), SPDF_OK);
    ck_assert_int_eq(spdf_model_forward(dense, tokens, targets, NULL, B, T, &loss_dense), SPDF_OK);
    ck_assert_int_eq(spdf_model_backward(dense), SPDF_OK);
    ck_assert_msg(fabsf(loss_sparse - loss_dense) <= 1e-5f * loss_dense, "loss %g vs %g",
                  (double)loss_sparse, (double)loss_dense);

    int32_t layers;
    spdf_mask_num_layers(mask, &layers);
    for (int i = 0; i < num_tensors(sparse); i++) {
        int64_t n;
        float *gs = read_tensor(sparse, i, &n, 1), *gd = read_tensor(dense, i, &n, 1);
        uint8_t *kept = NULL;
        for (int l = 0; l < layers; l++) {
            spdf_mask_layer_info li = {.struct_size = sizeof li};
            spdf_mask_get_layer(mask, l, &li);
            if (li.tensor_index != i) continue;
            kept = malloc((size_t)n);
            ck_assert_int_eq(spdf_mask_layer_read(mask, l, kept, n), SPDF_OK);
        }
        double max_g = 0;
        for (int64_t k = 0; k < n; k++) max_g = fmax(max_g, fabs(gd[k]));
        for (int64_t k = 0; k < n; k++) {
            if (kept && !kept[k]) {
                ck_assert_msg(gs[k] == 0.0f, "tensor %d: masked gradient %g", i, (double)gs[k]);
                continue;
            }
            ck_assert_msg(fabs(gs[k] - gd[k]) <= 1e-4 * max_g + 1e-9,
                          "method %d sparsity %.2f tensor %d [%lld]: sparse %g vs dense %g", method,
                          (double)sparsity, i, (long long)k, (double)gs[k], (double)gd[k]);
        }
        free(kept);
        free(gs);
        free(gd);
    }
    spdf_phase_free(phase);
    spdf_mask_free(mask);
    spdf_model_free(sparse);
    spdf_model_free(dense);
    spdf_context_free(ctx);
}

static const float sparsities[] = {0.5f, 0.75f, 0.9f};

START_TEST(test_equivalence_random) { check_equivalence(SPDF_MASK_RANDOM, sparsities[_i]); }
END_TEST
START_TEST(test_equivalence_magnitude) { check_equivalence(SPDF_MASK_MAGNITUDE, sparsities[_i]); }
END_TEST
START_TEST(test_equivalence_erk) { check_equivalence(SPDF_MASK_ERK, sparsities[_i]); }
END_TEST

/* Exact counts, reproducibility from the seed on any thread count, and the methods' meaning. */
START_TEST(test_mask_counts_and_reproducibility)
{
    spdf_context *one = test_context(NULL, 1), *three = test_context(NULL, 3);
    spdf_model *a = make_model(one, 64, 3, 5), *b = make_model(three, 64, 3, 5);
    spdf_mask *ma, *mb, *mc;
    ck_assert_int_eq(spdf_mask_create(a, SPDF_MASK_RANDOM, 0.75f, 1234, &ma), SPDF_OK);
    ck_assert_int_eq(spdf_mask_create(b, SPDF_MASK_RANDOM, 0.75f, 1234, &mb), SPDF_OK);
    ck_assert_int_eq(spdf_mask_create(b, SPDF_MASK_RANDOM, 0.75f, 1235, &mc), SPDF_OK);
    int32_t layers;
    ck_assert_int_eq(spdf_mask_num_layers(ma, &layers), SPDF_OK);
    ck_assert_int_eq(layers, 12);
    int differs = 0;
    for (int l = 0; l < layers; l++) {
        spdf_mask_layer_info info = {.struct_size = sizeof info};
        ck_assert_int_eq(spdf_mask_get_layer(ma, l, &info), SPDF_OK);
        const int64_t numel = info.rows * info.cols;
        ck_assert_int_eq(info.nnz, llround(0.25 * (double)numel));
        uint8_t *x = malloc((size_t)numel), *y = malloc((size_t)numel), *z = malloc((size_t)numel);
        spdf_mask_layer_read(ma, l, x, numel);
        spdf_mask_layer_read(mb, l, y, numel);
        spdf_mask_layer_read(mc, l, z, numel);
        int64_t count = 0, row0 = 0;
        for (int64_t k = 0; k < numel; k++) count += x[k];
        for (int64_t k = 0; k < info.cols; k++) row0 += x[k];
        ck_assert_int_eq(count, info.nnz);
        ck_assert(row0 > 0 && row0 < info.cols); /* not a structured block */
        ck_assert(memcmp(x, y, (size_t)numel) == 0);
        differs += memcmp(x, z, (size_t)numel) != 0;
        free(x); free(y); free(z);
    }
    ck_assert_int_eq(differs, layers);
    int64_t nnz, total;
    ck_assert_int_eq(spdf_mask_totals(ma, &nnz, &total), SPDF_OK);
    ck_assert_int_eq(total, 3 * 12 * 64 * 64);
    ck_assert(fabs(1.0 - (double)nnz / total - 0.75) < 1e-4);
    spdf_mask_free(ma);
    spdf_mask_free(mb);
    spdf_mask_free(mc);
    spdf_model_free(a);
    spdf_model_free(b);
    spdf_context_free(one);
    spdf_context_free(three);
}
END_TEST

START_TEST(test_magnitude_keeps_largest)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *model = make_model(ctx, 32, 2, 8);
    for (int scope = 0; scope < 2; scope++) {
        spdf_mask_config cfg;
        spdf_mask_config_init(&cfg);
        cfg.method = SPDF_MASK_MAGNITUDE;
        cfg.scope = scope;
        cfg.sparsity = 0.6f;
        spdf_mask *mask;
        ck_assert_int_eq(spdf_mask_create_ex(model, &cfg, &mask), SPDF_OK);
        int32_t layers;
        spdf_mask_num_layers(mask, &layers);
        double min_kept = INFINITY, max_dropped = 0;
        int64_t nnz_sum = 0, total = 0;
        for (int l = 0; l < layers; l++) {
            spdf_mask_layer_info info = {.struct_size = sizeof info};
            spdf_mask_get_layer(mask, l, &info);
            int64_t n;
            float *w = read_tensor(model, info.tensor_index, &n, 0);
            uint8_t *keep = malloc((size_t)n);
            spdf_mask_layer_read(mask, l, keep, n);
            if (scope == SPDF_MASK_PER_LAYER) { min_kept = INFINITY; max_dropped = 0; }
            for (int64_t k = 0; k < n; k++) {
                if (keep[k]) min_kept = fmin(min_kept, fabs(w[k]));
                else max_dropped = fmax(max_dropped, fabs(w[k]));
            }
            if (scope == SPDF_MASK_PER_LAYER) {
                ck_assert(min_kept >= max_dropped);
                ck_assert_int_eq(info.nnz, llround(0.4 * (double)n));
            }
            nnz_sum += info.nnz;
            total += n;
            free(w);
            free(keep);
        }
        if (scope == SPDF_MASK_GLOBAL) {
            ck_assert(min_kept >= max_dropped);
            ck_assert_int_eq(nnz_sum, llround(0.4 * (double)total));
        }
        spdf_mask_free(mask);
    }
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* ERK: the total matches the requested sparsity and narrower layers (larger (r+c)/(r*c)) are
 * denser: the attention output (C,C) is denser than the MLP up (4C,C). */
START_TEST(test_erk_densities)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *model = make_model(ctx, 64, 2, 8);
    spdf_mask *mask;
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_ERK, 0.8f, 3, &mask), SPDF_OK);
    int64_t nnz, total;
    spdf_mask_totals(mask, &nnz, &total);
    ck_assert_msg(fabs((double)nnz / total - 0.2) < 1e-3, "density %g", (double)nnz / total);
    spdf_mask_layer_info qkv = {.struct_size = sizeof qkv}, proj = qkv, up = qkv, down = qkv;
    spdf_mask_get_layer(mask, 0, &qkv);
    spdf_mask_get_layer(mask, 1, &proj);
    spdf_mask_get_layer(mask, 2, &up);
    spdf_mask_get_layer(mask, 3, &down);
    ck_assert(proj.density > qkv.density && qkv.density > up.density);
    ck_assert(fabsf(up.density - down.density) < 1e-3f);
    /* expected ratio proj / up = ((2C)/(C*C)) / ((5C)/(4C*C)) = 8/5 */
    ck_assert_msg(fabs(proj.density / up.density - 1.6) < 0.02, "ratio %g", proj.density / up.density);
    spdf_mask_free(mask);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* Trains `steps` steps on a fixed batch with AdamW. */
static void train(spdf_model *model, spdf_optimizer *opt, int steps, float *losses)
{
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 23);
    for (int s = 0; s < steps; s++) {
        float loss;
        ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, T, &loss), SPDF_OK);
        ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);
        ck_assert_int_eq(spdf_optimizer_step(opt, NULL, NULL), SPDF_OK);
        if (losses) losses[s] = loss;
    }
}

/* Masked weights stay exactly 0.0 through sparse training; kept weights move. */
START_TEST(test_masked_weights_stay_zero)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *model = make_model(ctx, C, L, 4);
    spdf_optimizer *opt;
    ck_assert_int_eq(spdf_optimizer_create(model, NULL, &opt), SPDF_OK);
    spdf_mask *mask;
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 2, &mask), SPDF_OK);
    spdf_phase *phase;
    ck_assert_int_eq(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
    int32_t layers;
    spdf_mask_num_layers(mask, &layers);
    float **before = calloc((size_t)layers, sizeof *before);
    for (int l = 0; l < layers; l++) {
        spdf_mask_layer_info info = {.struct_size = sizeof info};
        spdf_mask_get_layer(mask, l, &info);
        int64_t n;
        before[l] = read_tensor(model, info.tensor_index, &n, 0);
    }
    float losses[60];
    train(model, opt, 60, losses);
    ck_assert(losses[59] < losses[0] - 0.5f);
    for (int l = 0; l < layers; l++) {
        spdf_mask_layer_info info = {.struct_size = sizeof info};
        spdf_mask_get_layer(mask, l, &info);
        int64_t n, moved = 0;
        float *w = read_tensor(model, info.tensor_index, &n, 0);
        uint8_t *keep = malloc((size_t)n);
        spdf_mask_layer_read(mask, l, keep, n);
        for (int64_t k = 0; k < n; k++) {
            if (!keep[k]) ck_assert_msg(w[k] == 0.0f && !signbit(w[k]), "masked weight %g", (double)w[k]);
            else moved += w[k] != before[l][k];
        }
        ck_assert_int_ge(moved, info.nnz * 9 / 10);
        free(w);
        free(keep);
        free(before[l]);
    }
    free(before);
    free_run(phase, mask, opt, model, ctx);
}
END_TEST

/* The transition: same handles, kept weights bit-identical, masked weights enter at 0, receive
 * gradients and move; step counter restarts on request. */
START_TEST(test_transition_in_place)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *model = make_model(ctx, C, L, 4);
    spdf_optimizer *opt;
    ck_assert_int_eq(spdf_optimizer_create(model, NULL, &opt), SPDF_OK);
    spdf_mask *mask;
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 2, &mask), SPDF_OK);
    spdf_phase *phase;
    ck_assert_int_eq(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
    train(model, opt, 10, NULL);
    const int n_tensors = num_tensors(model);
    float **before = calloc((size_t)n_tensors, sizeof *before);
    for (int i = 0; i < n_tensors; i++) {
        int64_t n;
        before[i] = read_tensor(model, i, &n, 0);
    }
    spdf_transition_config tc;
    spdf_transition_config_init(&tc);
    tc.restart_schedule = 1;
    ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, &tc), SPDF_OK);
    spdf_phase_kind kind;
    ck_assert_int_eq(spdf_phase_get_kind(phase, &kind), SPDF_OK);
    ck_assert_int_eq(kind, SPDF_PHASE_DENSE);
    int64_t step;
    spdf_optimizer_get_step(opt, &step);
    ck_assert_int_eq(step, 0);
    for (int i = 0; i < n_tensors; i++) {
        int64_t n;
        float *after = read_tensor(model, i, &n, 0);
        ck_assert_msg(memcmp(after, before[i], sizeof(float) * (size_t)n) == 0, "tensor %d changed", i);
        float *data;
        ck_assert_int_eq(spdf_model_tensor_data(model, i, &data), SPDF_OK); /* dense again */
        free(after);
    }
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 23);
    float loss;
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, T, &loss), SPDF_OK);
    ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);
    int32_t layers;
    spdf_mask_num_layers(mask, &layers);
    for (int l = 0; l < layers; l++) {
        spdf_mask_layer_info info = {.struct_size = sizeof info};
        spdf_mask_get_layer(mask, l, &info);
        int64_t n, nonzero_grad = 0, masked = 0;
        float *g = read_tensor(model, info.tensor_index, &n, 1);
        uint8_t *keep = malloc((size_t)n);
        spdf_mask_layer_read(mask, l, keep, n);
        for (int64_t k = 0; k < n; k++)
            if (!keep[k]) { masked++; nonzero_grad += g[k] != 0.0f; }
        ck_assert_int_ge(nonzero_grad, masked * 9 / 10);
        free(g);
        free(keep);
    }
    ck_assert_int_eq(spdf_optimizer_step(opt, NULL, NULL), SPDF_OK);
    for (int l = 0; l < layers; l++) {
        spdf_mask_layer_info info = {.struct_size = sizeof info};
        spdf_mask_get_layer(mask, l, &info);
        int64_t n, moved = 0, masked = 0;
        float *w = read_tensor(model, info.tensor_index, &n, 0);
        uint8_t *keep = malloc((size_t)n);
        spdf_mask_layer_read(mask, l, keep, n);
        for (int64_t k = 0; k < n; k++)
            if (!keep[k]) { masked++; moved += w[k] != 0.0f; }
        ck_assert_int_ge(moved, masked * 9 / 10);
        free(w);
        free(keep);
    }
    for (int i = 0; i < n_tensors; i++) free(before[i]);
    free(before);
    free_run(phase, mask, opt, model, ctx);
}
END_TEST

/* Moments kept (default) or reset: with reset, the first dense step moves every weight that has a
 * gradient by about the learning rate (Adam's first step); with kept moments it does not. */
START_TEST(test_transition_moment_options)
{
    float delta[2];
    for (int reset = 0; reset < 2; reset++) {
        spdf_context *ctx = test_context(NULL, 2);
        spdf_model *model = make_model(ctx, C, L, 4);
        spdf_optimizer_config oc;
        spdf_optimizer_config_init(&oc);
        oc.schedule = SPDF_LR_CONSTANT;
        oc.weight_decay = 0.0f;
        oc.learning_rate = 1e-3f;
        spdf_optimizer *opt;
        ck_assert_int_eq(spdf_optimizer_create(model, &oc, &opt), SPDF_OK);
        spdf_mask *mask;
        spdf_mask_create(model, SPDF_MASK_RANDOM, 0.5f, 2, &mask);
        spdf_phase *phase;
        ck_assert_int_eq(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
        train(model, opt, 20, NULL);
        spdf_transition_config tc;
        spdf_transition_config_init(&tc);
        tc.reset_moments = reset;
        ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, &tc), SPDF_OK);
        int32_t index;
        spdf_model_tensor_find(model, "h.0.ln_1.bias", &index);
        int64_t n;
        float *w0 = read_tensor(model, index, &n, 0);
        train(model, opt, 1, NULL);
        float *w1 = read_tensor(model, index, &n, 0);
        double sum = 0;
        for (int64_t k = 0; k < n; k++) sum += fabs(w1[k] - w0[k]);
        delta[reset] = (float)(sum / n);
        free(w0);
        free(w1);
        free_run(phase, mask, opt, model, ctx);
    }
    ck_assert_msg(fabsf(delta[1] - 1e-3f) < 1e-4f, "reset: mean |step| %g", (double)delta[1]);
    ck_assert_msg(fabsf(delta[0] - delta[1]) > 1e-4f, "kept moments gave the same step %g", (double)delta[0]);
}
END_TEST

START_TEST(test_phase_state_machine)
{
    spdf_context *ctx = test_context(NULL, 1);
    spdf_model *model = make_model(ctx, C, L, 4), *other = make_model(ctx, 16, L, 4);
    spdf_mask *mask, *foreign;
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.5f, 2, &mask), SPDF_OK);
    ck_assert_int_eq(spdf_mask_create(other, SPDF_MASK_RANDOM, 0.5f, 2, &foreign), SPDF_OK);
    spdf_phase *phase = NULL, *second = NULL;
    ck_assert_int_eq(spdf_phase_create(model, NULL, SPDF_PHASE_SPARSE, foreign, &phase), SPDF_EINVAL);
    ck_assert_int_eq(spdf_phase_create(model, NULL, SPDF_PHASE_SPARSE, NULL, &phase), SPDF_EINVAL);
    ck_assert_int_eq(spdf_phase_create(model, NULL, SPDF_PHASE_DENSE, mask, &phase), SPDF_EINVAL);
    ck_assert_int_eq(spdf_phase_create(model, NULL, (spdf_phase_kind)7, NULL, &phase), SPDF_EINVAL);
    ck_assert_int_eq(spdf_phase_create(model, NULL, SPDF_PHASE_DENSE, NULL, &phase), SPDF_OK);
    ck_assert_int_eq(spdf_phase_create(model, NULL, SPDF_PHASE_DENSE, NULL, &second), SPDF_ESTATE);
    ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, NULL), SPDF_ESTATE);
    ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_SPARSE, NULL, NULL), SPDF_EINVAL);
    spdf_sparse_kernel_info ki = {.struct_size = sizeof ki};
    ck_assert_int_eq(spdf_model_sparse_kernel_info(model, 0, &ki), SPDF_ESTATE); /* dense */
    ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_SPARSE, mask, NULL), SPDF_OK);
    spdf_phase_kind kind;
    spdf_phase_get_kind(phase, &kind);
    ck_assert_int_eq(kind, SPDF_PHASE_SPARSE);
    /* the reference backend runs every layer on index kernels */
    int32_t layers;
    spdf_mask_num_layers(mask, &layers);
    for (int32_t l = 0; l < layers; l++) {
        ki.kind = -1;
        ki.code_bytes = -1;
        ck_assert_int_eq(spdf_model_sparse_kernel_info(model, l, &ki), SPDF_OK);
        ck_assert_int_eq(ki.kind, SPDF_SPARSE_KERNEL_INDEX);
        ck_assert_int_eq(ki.code_bytes, 0);
    }
    ck_assert_int_eq(spdf_model_sparse_kernel_info(model, layers, &ki), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_sparse_kernel_info(model, -1, &ki), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_sparse_kernel_info(NULL, 0, &ki), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_sparse_kernel_info(model, 0, NULL), SPDF_EINVAL);
    spdf_sparse_kernel_info unsized = {.struct_size = 0};
    ck_assert_int_eq(spdf_model_sparse_kernel_info(model, 0, &unsized), SPDF_EINVAL);
    float *data;
    int32_t qkv;
    spdf_model_tensor_find(model, "h.0.attn.c_attn.weight", &qkv);
    ck_assert_int_eq(spdf_model_tensor_data(model, qkv, &data), SPDF_ESTATE);
    ck_assert_int_eq(spdf_model_tensor_data(model, 0, &data), SPDF_OK); /* wte stays dense */
    ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_SPARSE, mask, NULL), SPDF_ESTATE);
    ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_SPARSE, NULL, NULL), SPDF_OK);
    spdf_mask *magnitude;
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_MAGNITUDE, 0.5f, 2, &magnitude), SPDF_ESTATE);
    /* a masked position written non-zero is rejected, zero is fine */
    int64_t n;
    float *w = read_tensor(model, qkv, &n, 0);
    ck_assert_int_eq(spdf_model_tensor_write(model, qkv, w, n), SPDF_OK);
    for (int64_t k = 0; k < n; k++)
        if (w[k] == 0.0f) { w[k] = 1.0f; break; }
    ck_assert_int_eq(spdf_model_tensor_write(model, qkv, w, n), SPDF_EINVAL);
    free(w);
    ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, NULL), SPDF_OK);
    ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, NULL), SPDF_ESTATE);
    spdf_transition_config tc;
    spdf_transition_config_init(&tc);
    tc.reset_moments = 2;
    ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_SPARSE, mask, &tc), SPDF_EINVAL);
    ck_assert_int_eq(spdf_phase_transition(NULL, SPDF_PHASE_SPARSE, mask, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_phase_get_kind(NULL, &kind), SPDF_EINVAL);
    ck_assert_int_eq(spdf_phase_get_kind(phase, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_transition_config_init(NULL), SPDF_EINVAL);
    spdf_phase_free(phase);
    spdf_phase_free(NULL);
    ck_assert_int_eq(spdf_phase_create(model, NULL, SPDF_PHASE_DENSE, NULL, &second), SPDF_OK);
    spdf_phase_free(second);
    spdf_mask_free(mask);
    spdf_mask_free(foreign);
    spdf_model_free(model);
    spdf_model_free(other);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_mask_invalid_arguments)
{
    spdf_context *ctx = test_context(NULL, 1);
    spdf_model *model = make_model(ctx, C, L, 4);
    spdf_mask *mask = NULL;
    spdf_mask_config cfg;
    ck_assert_int_eq(spdf_mask_config_init(NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_create(NULL, SPDF_MASK_RANDOM, 0.5f, 1, &mask), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.5f, 1, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 1.0f, 1, &mask), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, -0.1f, 1, &mask), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, NAN, 1, &mask), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_create(model, (spdf_mask_method)9, 0.5f, 1, &mask), SPDF_EINVAL);
    spdf_mask_config_init(&cfg);
    cfg.scope = SPDF_MASK_GLOBAL; /* random + global */
    ck_assert_int_eq(spdf_mask_create_ex(model, &cfg, &mask), SPDF_EINVAL);
    spdf_mask_config_init(&cfg);
    float per_layer[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    cfg.layer_sparsity = per_layer;
    cfg.layer_sparsity_count = 7;
    ck_assert_int_eq(spdf_mask_create_ex(model, &cfg, &mask), SPDF_EINVAL);
    cfg.layer_sparsity_count = 8;
    ck_assert_int_eq(spdf_mask_create_ex(model, &cfg, &mask), SPDF_OK);
    for (int l = 0; l < 8; l++) {
        spdf_mask_layer_info info = {.struct_size = sizeof info};
        ck_assert_int_eq(spdf_mask_get_layer(mask, l, &info), SPDF_OK);
        ck_assert_int_eq(info.nnz, llround((1.0 - per_layer[l]) * (double)(info.rows * info.cols)));
    }
    spdf_mask_layer_info info = {.struct_size = sizeof info};
    uint8_t bytes[4];
    int32_t count;
    int64_t nnz, total;
    ck_assert_int_eq(spdf_mask_get_layer(mask, 8, &info), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_get_layer(mask, -1, &info), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_get_layer(NULL, 0, &info), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_get_layer(mask, 0, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_layer_read(mask, 0, bytes, 4), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_layer_read(mask, 0, NULL, 4), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_layer_read(NULL, 0, bytes, 4), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_num_layers(NULL, &count), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_num_layers(mask, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_totals(mask, NULL, &total), SPDF_EINVAL);
    ck_assert_int_eq(spdf_mask_totals(NULL, &nnz, &total), SPDF_EINVAL);
    spdf_mask_free(mask);
    spdf_mask_free(NULL);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* The SPDF paper's count: GPT-3 XL at 75 % sparsity saves 2.5x pre-training FLOPs. */
START_TEST(test_flops_gpt3_xl)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.num_layers = 24;
    mc.channels = 2048;
    mc.num_heads = 16;
    mc.max_seq_len = 2048;
    mc.vocab_size = 50257;
    spdf_flop_report r = {.struct_size = sizeof r};
    ck_assert_int_eq(spdf_flops(&mc, 2048, 1, 0.75f, &r), SPDF_OK);
    ck_assert_msg(fabs(r.reduction - 2.5) <= 0.1, "reduction %g", r.reduction);
    ck_assert(r.train_per_token_dense == 3 * r.forward_per_token_dense);
    ck_assert_int_eq(spdf_flops(&mc, 2048, 1, 0.0f, &r), SPDF_OK);
    ck_assert(r.reduction == 1.0);
    ck_assert_int_eq(spdf_flops(&mc, 2048, 1, 1.0f, &r), SPDF_EINVAL);
    ck_assert_int_eq(spdf_flops(&mc, 0, 1, 0.5f, &r), SPDF_EINVAL);
    ck_assert_int_eq(spdf_flops(NULL, 1, 1, 0.5f, &r), SPDF_EINVAL);
    ck_assert_int_eq(spdf_flops(&mc, 1, 1, 0.5f, NULL), SPDF_EINVAL);
}
END_TEST

/* Dense GPT-2 124M: 6 N per token (N = all parameters) plus attention 12 L T C, within 2 %. */
START_TEST(test_flops_gpt2_matches_6n)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.num_layers = 12;
    mc.channels = 768;
    mc.num_heads = 12;
    mc.max_seq_len = 1024;
    mc.vocab_size = 50257;
    const double Cd = 768, Ld = 12, Vd = 50257, Td = 1024;
    const double N = Vd * Cd + Td * Cd + Ld * (12 * Cd * Cd + 13 * Cd) + 2 * Cd;
    spdf_flop_report r = {.struct_size = sizeof r};
    ck_assert_int_eq(spdf_flops(&mc, 1024, 8, 0.0f, &r), SPDF_OK);
    const double expected = 6 * N + 12 * Ld * Td * Cd;
    ck_assert_msg(fabs(r.train_per_token_dense / expected - 1) < 0.02, "%g vs %g", r.train_per_token_dense, expected);
    ck_assert(fabs(r.train_per_step_dense - r.train_per_token_dense * 8 * 1024) < 1.0);
}
END_TEST

/* spdf_model_flops follows the attached mask's real counts. */
START_TEST(test_model_flops_follow_mask)
{
    spdf_context *ctx = test_context(NULL, 1);
    spdf_model *model = make_model(ctx, 64, 2, 4);
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    spdf_model_get_config(model, &mc);
    spdf_flop_report dense = {.struct_size = sizeof dense}, expect = dense, actual = dense;
    ck_assert_int_eq(spdf_model_flops(model, T, B, &dense), SPDF_OK);
    ck_assert(dense.reduction == 1.0);
    spdf_mask *mask;
    spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 1, &mask);
    spdf_phase *phase;
    ck_assert_int_eq(spdf_phase_create(model, NULL, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
    ck_assert_int_eq(spdf_model_flops(model, T, B, &actual), SPDF_OK);
    ck_assert_int_eq(spdf_flops(&mc, T, B, 0.75f, &expect), SPDF_OK);
    ck_assert_msg(fabs(actual.train_per_step_sparse - expect.train_per_step_sparse) < 1e-6 * expect.train_per_step_sparse,
                  "%g vs %g", actual.train_per_step_sparse, expect.train_per_step_sparse);
    ck_assert_int_eq(spdf_model_flops(NULL, T, B, &actual), SPDF_EINVAL);
    spdf_phase_free(phase);
    spdf_mask_free(mask);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* Resident memory in KiB from /proc/self/status ("VmRSS:" or "VmHWM:"); -1 if unavailable. */
static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long value = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0) value = atol(line + strlen(key));
    fclose(f);
    return value;
}

/* The model of the memory tests: big enough that its arrays (~170 MB dense with moments) stand
 * out from the rest of the process's resident memory (small shape, 64 positions). */
/* 1 (with a line saying why) where resident memory says nothing about the library's pages:
 * under AddressSanitizer (shadow memory, quarantine) or without /proc/self/status. */
static int memory_test_skipped(const char *test)
{
#if defined(__SANITIZE_ADDRESS__)
    printf("%s: skipped under AddressSanitizer (shadow memory)\n", test);
    return 1;
#endif
    if (status_kib("VmRSS:") >= 0) return 0;
    printf("%s: skipped, /proc/self/status not available\n", test);
    return 1;
}

static spdf_model *make_memory_model(spdf_context *ctx, spdf_optimizer **opt)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.channels = 384;
    mc.num_layers = 6;
    mc.num_heads = 6;
    mc.max_seq_len = 64;
    spdf_model *model;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_OK);
    ck_assert_int_eq(spdf_optimizer_create(model, NULL, opt), SPDF_OK);
    return model;
}

/* One training step of it on a fixed (4, 64) batch. */
static void memory_model_step(spdf_model *model, spdf_optimizer *opt)
{
    int32_t tokens[4 * 64], targets[4 * 64];
    for (int i = 0; i < 4 * 64; i++) { tokens[i] = i % 200; targets[i] = (i * 7) % 200; }
    float loss;
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, 4, 64, &loss), SPDF_OK);
    ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);
    ck_assert_int_eq(spdf_optimizer_step(opt, NULL, NULL), SPDF_OK);
}

/* Peak memory during the transition stays below the dense model plus optimizer (what the
 * process holds afterwards) plus one layer: the compact arrays grow in place, no copy.  Measured
 * with the kernel's resident high-water mark, reset just before the transition. */
START_TEST(test_transition_peak_memory)
{
    if (memory_test_skipped("test_transition_peak_memory")) return;
    FILE *clear = fopen("/proc/self/clear_refs", "w");
    if (!clear || status_kib("VmHWM:") < 0) {
        printf("test_transition_peak_memory: skipped, /proc/self/clear_refs not available\n");
        if (clear) fclose(clear);
        return;
    }
    spdf_context *ctx = test_context(NULL, 2);
    spdf_optimizer *opt;
    spdf_model *model = make_memory_model(ctx, &opt);
    /* The policy under which the arrays grow at the transition (KEEP commits them at the first
     * sparse backward pass, the step below). */
    ck_assert_int_eq(spdf_model_set_sparse_memory(model, SPDF_SPARSE_MEMORY_RELEASE), SPDF_OK);
    spdf_mask *mask;
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 2, &mask), SPDF_OK);
    spdf_phase *phase;
    ck_assert_int_eq(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
    memory_model_step(model, opt);
    const long before = status_kib("VmRSS:");
    fputs("5", clear); /* reset the high-water mark to the current RSS */
    fclose(clear);
    ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, NULL), SPDF_OK);
    const long peak = status_kib("VmHWM:"), after = status_kib("VmRSS:");
    const long layer_kib = 4L * 384 * 384 * 4 / 1024; /* the largest layer, MLP up (4C, C) */
    int64_t params;
    spdf_model_num_params(model, &params);
    printf("transition: RSS %ld KiB before, peak %ld KiB, %ld KiB after; dense weights + grads + "
           "moments %lld KiB; one layer %ld KiB\n", before, peak, after,
           (long long)(params * 16 / 1024), layer_kib);
    ck_assert_msg(peak <= after + layer_kib, "peak %ld KiB > after %ld + one layer %ld", peak, after, layer_kib);
    ck_assert(after - before >= (long)(params * 16 / 1024) / 2); /* the arrays really grew */
    free_run(phase, mask, opt, model, ctx);
}
END_TEST

/* The sparse memory policy changes where pages live, never a number: KEEP and RELEASE runs
 * (sparse training, an optimizer created after the mask, the transition, dense training) end with
 * bit-identical weights; bad arguments are rejected. */
START_TEST(test_sparse_memory_policy_same_results)
{
    spdf_context *ctx = test_context(NULL, 2);
    float *final[2];
    int64_t numel = 0;
    int32_t tensor = -1;
    for (int run = 0; run < 2; run++) {
        spdf_model *model = make_model(ctx, C, L, 4);
        spdf_sparse_memory policy;
        ck_assert_int_eq(spdf_model_get_sparse_memory(model, &policy), SPDF_OK);
        ck_assert_int_eq(policy, SPDF_SPARSE_MEMORY_KEEP); /* the default */
        const spdf_sparse_memory wanted = run ? SPDF_SPARSE_MEMORY_KEEP : SPDF_SPARSE_MEMORY_RELEASE;
        ck_assert_int_eq(spdf_model_set_sparse_memory(model, wanted), SPDF_OK);
        ck_assert_int_eq(spdf_model_get_sparse_memory(model, &policy), SPDF_OK);
        ck_assert_int_eq(policy, wanted);
        spdf_mask *mask;
        ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 2, &mask), SPDF_OK);
        spdf_phase *phase;
        ck_assert_int_eq(spdf_phase_create(model, NULL, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
        spdf_optimizer *opt;
        ck_assert_int_eq(spdf_optimizer_create(model, NULL, &opt), SPDF_OK);
        train(model, opt, 5, NULL);
        ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, NULL), SPDF_OK);
        train(model, opt, 3, NULL);
        spdf_mask_layer_info info = {.struct_size = sizeof info};
        ck_assert_int_eq(spdf_mask_get_layer(mask, 0, &info), SPDF_OK);
        tensor = info.tensor_index;
        final[run] = read_tensor(model, tensor, &numel, 0);
        spdf_phase_free(phase);
        spdf_mask_free(mask);
        spdf_optimizer_free(opt);
        spdf_model_free(model);
    }
    ck_assert_msg(memcmp(final[0], final[1], sizeof(float) * (size_t)numel) == 0,
                  "tensor %d differs between the memory policies", tensor);
    free(final[0]);
    free(final[1]);
    spdf_model *model = make_model(ctx, C, L, 4);
    ck_assert_int_eq(spdf_model_set_sparse_memory(NULL, SPDF_SPARSE_MEMORY_KEEP), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_set_sparse_memory(model, (spdf_sparse_memory)2), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_get_sparse_memory(model, NULL), SPDF_EINVAL);
    spdf_sparse_memory policy;
    ck_assert_int_eq(spdf_model_get_sparse_memory(NULL, &policy), SPDF_EINVAL);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* Resident memory follows the policy: attaching a 75 % mask under KEEP (the default) keeps the
 * dense arrays resident; switching to RELEASE while sparse returns the masked part (about 3/4 of
 * the block weights' values, gradients and both moments); switching back commits it again at the
 * next training step. */
START_TEST(test_sparse_memory_policy_resident)
{
    if (memory_test_skipped("test_sparse_memory_policy_resident")) return;
    spdf_context *ctx = test_context(NULL, 2);
    spdf_optimizer *opt;
    spdf_model *model = make_memory_model(ctx, &opt);
    /* One dense step commits weights, gradients and moments. */
    memory_model_step(model, opt);
    spdf_mask *mask; /* attached under the default policy, KEEP */
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 2, &mask), SPDF_OK);
    const long dense = status_kib("VmRSS:");
    spdf_phase *phase;
    ck_assert_int_eq(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
    const long kept = status_kib("VmRSS:");
    ck_assert_int_eq(spdf_model_set_sparse_memory(model, SPDF_SPARSE_MEMORY_RELEASE), SPDF_OK);
    const long released = status_kib("VmRSS:");
    ck_assert_int_eq(spdf_model_set_sparse_memory(model, SPDF_SPARSE_MEMORY_KEEP), SPDF_OK);
    memory_model_step(model, opt); /* KEEP commits at the next backward pass */
    const long recommitted = status_kib("VmRSS:");
    /* masked block weights x 4 arrays x 4 bytes */
    const long masked_kib = (long)(0.75 * 12.0 * 384 * 384 * 6) * 16 / 1024;
    printf("sparse memory: RSS %ld KiB dense, %ld KEEP, %ld RELEASE, %ld KEEP again; masked "
           "part %ld KiB\n", dense, kept, released, recommitted, masked_kib);
    ck_assert_msg(dense - kept < masked_kib / 10, "KEEP released %ld KiB", dense - kept);
    ck_assert_msg(kept - released > masked_kib / 2, "RELEASE returned only %ld KiB", kept - released);
    ck_assert_msg(recommitted - released > masked_kib / 2, "KEEP recommitted only %ld KiB",
                  recommitted - released);
    free_run(phase, mask, opt, model, ctx);
}
END_TEST

/* KEEP commits lazily: a fresh model (its gradients and moments never written) attached to a
 * 75 % mask commits the pages of the masked part at its first training step, not at attach (a
 * sparse model that is only evaluated never holds them): that step grows the process by about the
 * masked part more than the same step under RELEASE.  The transition then commits nothing new,
 * and an optimizer created while sparse has its moments committed at the next step. */
START_TEST(test_sparse_memory_keep_commits_when_training)
{
    if (memory_test_skipped("test_sparse_memory_keep_commits_when_training")) return;
    const long masked = (long)(0.75 * 12.0 * 384 * 384 * 6); /* masked block weights */
    const long masked_kib = masked * 12 / 1024;               /* their gradients and 2 moments */
    long growth[2] = {0, 0};
    for (int keep = 0; keep < 2; keep++) {
        spdf_context *ctx = test_context(NULL, 2);
        spdf_optimizer *opt;
        spdf_model *model = make_memory_model(ctx, &opt);
        ck_assert_int_eq(spdf_model_set_sparse_memory(model, keep ? SPDF_SPARSE_MEMORY_KEEP
                                                                  : SPDF_SPARSE_MEMORY_RELEASE),
                         SPDF_OK);
        spdf_mask *mask;
        ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 2, &mask), SPDF_OK);
        spdf_phase *phase;
        ck_assert_int_eq(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
        const long attached = status_kib("VmRSS:");
        memory_model_step(model, opt);
        const long trained = status_kib("VmRSS:");
        growth[keep] = trained - attached;
        if (keep) {
            /* A new optimizer while sparse: its moments follow KEEP from the next step on. */
            spdf_optimizer_free(opt);
            ck_assert_int_eq(spdf_optimizer_create(model, NULL, &opt), SPDF_OK);
            const long created = status_kib("VmRSS:");
            memory_model_step(model, opt);
            const long stepped = status_kib("VmRSS:");
            ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, NULL), SPDF_OK);
            const long dense = status_kib("VmRSS:");
            printf("KEEP, fresh model: RSS %ld KiB attached, %ld after a step; new optimizer %ld, "
                   "%ld after a step; %ld dense\n", attached, trained, created, stepped, dense);
            ck_assert_msg(stepped - created > masked * 8 / 1024 / 2,
                          "the new optimizer's first step committed only %ld KiB", stepped - created);
            ck_assert_msg(dense - stepped < masked_kib / 10, "the transition committed %ld KiB",
                          dense - stepped);
        }
        free_run(phase, mask, opt, model, ctx);
    }
    printf("first sparse step: RSS +%ld KiB under RELEASE, +%ld under KEEP; masked gradients and "
           "moments %ld KiB\n", growth[0], growth[1], masked_kib);
    ck_assert_msg(growth[1] - growth[0] > masked_kib / 2,
                  "KEEP's first step committed only %ld KiB more than RELEASE's",
                  growth[1] - growth[0]);
}
END_TEST

static Suite *sparse_suite(void)
{
    Suite *s = suite_create("sparse");
    TCase *eq = tcase_create("equivalence");
    tcase_set_timeout(eq, 120);
    tcase_add_loop_test(eq, test_equivalence_random, 0, 3);
    tcase_add_loop_test(eq, test_equivalence_magnitude, 0, 3);
    tcase_add_loop_test(eq, test_equivalence_erk, 0, 3);
    suite_add_tcase(s, eq);
    TCase *masks = tcase_create("masks");
    tcase_set_timeout(masks, 120);
    tcase_add_test(masks, test_mask_counts_and_reproducibility);
    tcase_add_test(masks, test_magnitude_keeps_largest);
    tcase_add_test(masks, test_erk_densities);
    tcase_add_test(masks, test_mask_invalid_arguments);
    suite_add_tcase(s, masks);
    TCase *phases = tcase_create("phases");
    tcase_set_timeout(phases, 120);
    tcase_add_test(phases, test_masked_weights_stay_zero);
    tcase_add_test(phases, test_transition_in_place);
    tcase_add_test(phases, test_transition_moment_options);
    tcase_add_test(phases, test_phase_state_machine);
    tcase_add_test(phases, test_transition_peak_memory);
    tcase_add_test(phases, test_sparse_memory_policy_same_results);
    tcase_add_test(phases, test_sparse_memory_policy_resident);
    tcase_add_test(phases, test_sparse_memory_keep_commits_when_training);
    suite_add_tcase(s, phases);
    TCase *flops = tcase_create("flops");
    tcase_add_test(flops, test_flops_gpt3_xl);
    tcase_add_test(flops, test_flops_gpt2_matches_6n);
    tcase_add_test(flops, test_model_flops_follow_mask);
    suite_add_tcase(s, flops);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(sparse_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
