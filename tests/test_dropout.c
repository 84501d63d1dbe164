/* Dropout (spdf_model_set_dropout): rate 0 changes nothing, gradients against finite differences
 * of the loss under the same masks, the share of dropped units, seeds, thread counts, checkpoint
 * resumption, evaluation without dropout, and bad arguments. */
#include "common/fixtures.h"
#include "model/layers.h"
#include "model/model.h"
#include "spdf.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V = 13, MAXT = 8, L = 2, NH = 2, C = 8, B = 2, T = 7 };

static spdf_model *make_model(spdf_context *ctx, uint64_t seed)
{
    return test_model_create(ctx, V, MAXT, L, NH, C, seed);
}

static void make_batch(int32_t *tokens, int32_t *targets, unsigned seed)
{
    test_random_batch(tokens, targets, B * T, V, seed);
}

static void set_dropout(spdf_model *model, float embedding, float attention, float residual,
                        uint64_t seed, uint64_t forward_count)
{
    spdf_dropout_config d;
    ck_assert_int_eq(spdf_dropout_config_init(&d), SPDF_OK);
    d.embedding = embedding;
    d.attention = attention;
    d.residual = residual;
    d.seed = seed;
    d.forward_count = forward_count;
    ck_assert_int_eq(spdf_model_set_dropout(model, &d), SPDF_OK);
}

static uint64_t forward_count(const spdf_model *model)
{
    spdf_dropout_config d = {.struct_size = sizeof d};
    ck_assert_int_eq(spdf_model_get_dropout(model, &d), SPDF_OK);
    return d.forward_count;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Loss of one training forward pass. */
static float train_loss(spdf_model *model, const int32_t *tokens, const int32_t *targets)
{
    float loss = 0;
    ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, T, &loss), SPDF_OK);
    return loss;
}

static float *all_gradients(spdf_model *model, int64_t *count)
{
    float *g = NULL;
    ck_assert_int_eq(spdf_model_gradients(model, &g, count), SPDF_OK);
    float *copy = malloc(sizeof(float) * (size_t)*count);
    memcpy(copy, g, sizeof(float) * (size_t)*count);
    return copy;
}

/* Rate 0 at every site (with any seed) gives the bits of a model that never heard of dropout,
 * and draws no masks. */
START_TEST(test_rate_zero_is_no_dropout)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *plain = make_model(ctx, 5), *zero = make_model(ctx, 5);
    set_dropout(zero, 0, 0, 0, 99, 0);
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 3);
    const float a = train_loss(plain, tokens, targets), b = train_loss(zero, tokens, targets);
    ck_assert_msg(same_bits(a, b), "%.9g and %.9g differ", (double)a, (double)b);
    ck_assert_int_eq(spdf_model_backward(plain), SPDF_OK);
    ck_assert_int_eq(spdf_model_backward(zero), SPDF_OK);
    int64_t n1, n2;
    float *g1 = all_gradients(plain, &n1), *g2 = all_gradients(zero, &n2);
    ck_assert_int_eq(n1, n2);
    ck_assert_int_eq(memcmp(g1, g2, sizeof(float) * (size_t)n1), 0);
    ck_assert_uint_eq(forward_count(zero), 0);
    free(g1);
    free(g2);
    spdf_model_free(plain);
    spdf_model_free(zero);
    spdf_context_free(ctx);
}
END_TEST

/* The analytic gradient of the dropped loss against central differences of the same loss: the
 * configuration is set again before every pass, so every pass draws the masks of the first.
 * Per tensor, the directional derivative along a random direction (which sums every element's
 * error) and the element of the largest gradient are checked. */
static void check_gradients(float embedding, float attention, float residual)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *model = make_model(ctx, 11);
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 17);
    set_dropout(model, embedding, attention, residual, 4242, 3);
    const float dropped = train_loss(model, tokens, targets);
    ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);
    float loss_plain = 0;
    ck_assert_int_eq(spdf_model_forward_eval(model, tokens, targets, NULL, B, T, &loss_plain), SPDF_OK);
    ck_assert_msg(dropped != loss_plain, "dropout changed nothing (%g)", (double)dropped);

    int32_t tensors;
    spdf_model_num_tensors(model, &tensors);
    unsigned direction_seed = 1;
    const double h = 1e-3;
    for (int32_t i = 0; i < tensors; i++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        ck_assert_int_eq(spdf_model_tensor_info(model, i, &info), SPDF_OK);
        float *w, *grad = malloc(sizeof(float) * (size_t)info.numel);
        double *direction = malloc(sizeof(double) * (size_t)info.numel);
        ck_assert_int_eq(spdf_model_tensor_data(model, i, &w), SPDF_OK);
        ck_assert_int_eq(spdf_model_tensor_grad_read(model, i, grad, info.numel), SPDF_OK);
        double analytic = 0, norm = 0;
        int64_t largest = 0;
        for (int64_t k = 0; k < info.numel; k++) {
            direction_seed = direction_seed * 1103515245u + 12345u;
            direction[k] = ((double)((direction_seed >> 8) & 0xFFFF) / 65535.0) * 2 - 1;
            analytic += direction[k] * grad[k];
            norm += fabs(direction[k] * grad[k]);
            if (fabs(grad[k]) > fabs(grad[largest])) largest = k;
        }
        float *saved = malloc(sizeof(float) * (size_t)info.numel);
        memcpy(saved, w, sizeof(float) * (size_t)info.numel);
        double side[2];
        for (int s = 0; s < 2; s++) {
            for (int64_t k = 0; k < info.numel; k++)
                w[k] = (float)(saved[k] + (s ? -h : h) * direction[k]);
            set_dropout(model, embedding, attention, residual, 4242, 3);
            side[s] = train_loss(model, tokens, targets);
        }
        memcpy(w, saved, sizeof(float) * (size_t)info.numel);
        const double numeric = (side[0] - side[1]) / (2 * h);
        ck_assert_msg(fabs(analytic - numeric) <= 2e-3 * norm + 2e-4,
                      "%s: directional derivative %.6g, finite difference %.6g", info.name, analytic,
                      numeric);
        double one[2];
        for (int s = 0; s < 2; s++) {
            w[largest] = (float)(saved[largest] + (s ? -h : h));
            set_dropout(model, embedding, attention, residual, 4242, 3);
            one[s] = train_loss(model, tokens, targets);
        }
        w[largest] = saved[largest];
        const double element = (one[0] - one[1]) / (2 * h);
        ck_assert_msg(fabs(grad[largest] - element) <= 2e-2 * fabs(element) + 2e-4,
                      "%s[%lld]: gradient %.6g, finite difference %.6g", info.name,
                      (long long)largest, (double)grad[largest], element);
        free(saved);
        free(grad);
        free(direction);
    }
    spdf_model_free(model);
    spdf_context_free(ctx);
}

START_TEST(test_gradients_all_sites) { check_gradients(0.2f, 0.3f, 0.25f); }
END_TEST
START_TEST(test_gradients_embedding) { check_gradients(0.4f, 0, 0); }
END_TEST
START_TEST(test_gradients_attention) { check_gradients(0, 0.4f, 0); }
END_TEST
START_TEST(test_gradients_residual) { check_gradients(0, 0, 0.4f); }
END_TEST

/* The mask itself: the share dropped is p within 5 standard deviations, kept units are scaled by
 * exactly 1 / (1 - p), different sites, passes and seeds draw different masks, and a tensor
 * masked in pieces (as threads do) gets the bits of one piece. */
START_TEST(test_share_dropped)
{
    enum { N = 1 << 18 };
    const spdf_exec one = {NULL, 1}, two = {NULL, 2};
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N), *z = malloc(sizeof(float) * N);
    const float rates[] = {0.05f, 0.1f, 0.5f, 0.9f};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        const float p = rates[r];
        const model_dropout drop = {p, p, p, 77, 5};
        const dropout_mask mask = model_dropout_mask(&drop, p, 1, DROPOUT_ATTENTION);
        for (int i = 0; i < N; i++) x[i] = y[i] = 1.0f;
        dropout_apply(&one, x, N, &mask);
        dropout_apply(&two, y, N, &mask);
        ck_assert_int_eq(memcmp(x, y, sizeof(float) * N), 0);
        /* pieces that start at odd elements, as the attention rows do */
        for (int i = 0; i < N; i++) z[i] = 1.0f;
        for (int first = 0; first < N;) {
            const int n = first % 7 + 1 + (first % 3) * 50 < N - first ? first % 7 + 1 + (first % 3) * 50 : N - first;
            spdf_rng_dropout(&mask.rng, (uint64_t)first, (size_t)n, mask.threshold, mask.scale, z + first);
            first += n;
        }
        ck_assert_int_eq(memcmp(x, z, sizeof(float) * N), 0);
        int64_t dropped = 0;
        const float scale = (float)(1.0 / (1.0 - (double)p));
        for (int i = 0; i < N; i++) {
            if (x[i] == 0.0f) dropped++;
            else ck_assert_float_eq(x[i], scale);
        }
        const double share = (double)dropped / N, sigma = sqrt(p * (1 - p) / N);
        ck_assert_msg(fabs(share - p) <= 5 * sigma, "p %g: dropped %.5f", (double)p, share);

        const model_dropout next_pass = {p, p, p, 77, 6}, other_seed = {p, p, p, 78, 5};
        const dropout_mask others[] = {model_dropout_mask(&next_pass, p, 1, DROPOUT_ATTENTION),
                                       model_dropout_mask(&other_seed, p, 1, DROPOUT_ATTENTION),
                                       model_dropout_mask(&drop, p, 1, DROPOUT_MLP_PROJECTION),
                                       model_dropout_mask(&drop, p, 0, DROPOUT_ATTENTION),
                                       model_dropout_mask(&drop, p, -1, DROPOUT_ATTENTION)};
        for (size_t o = 0; o < sizeof others / sizeof others[0]; o++) {
            for (int i = 0; i < N; i++) y[i] = 1.0f;
            dropout_apply(&one, y, N, &others[o]);
            int64_t same = 0;
            for (int i = 0; i < N; i++) same += (x[i] == 0.0f) == (y[i] == 0.0f);
            /* independent masks agree on a share p^2 + (1-p)^2 of the units */
            const double agree = (double)same / N, expected = p * p + (1 - p) * (1 - p);
            ck_assert_msg(fabs(agree - expected) <= 0.01, "mask %zu at p %g agrees with the first on %.4f",
                          o, (double)p, agree);
        }
    }
    free(x);
    free(y);
    free(z);
}
END_TEST

/* Same seed and pass, same loss; another seed or the next pass, another loss. */
START_TEST(test_seeds)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *a = make_model(ctx, 3), *b = make_model(ctx, 3), *c = make_model(ctx, 3);
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 9);
    set_dropout(a, 0.1f, 0.1f, 0.1f, 1, 0);
    set_dropout(b, 0.1f, 0.1f, 0.1f, 1, 0);
    set_dropout(c, 0.1f, 0.1f, 0.1f, 2, 0);
    const float la = train_loss(a, tokens, targets), lb = train_loss(b, tokens, targets);
    const float lc = train_loss(c, tokens, targets);
    ck_assert_msg(same_bits(la, lb), "%.9g and %.9g differ", (double)la, (double)lb);
    ck_assert_float_ne(la, lc);
    ck_assert_uint_eq(forward_count(a), 1);
    const float next = train_loss(a, tokens, targets);
    ck_assert_float_ne(la, next);
    ck_assert_uint_eq(forward_count(a), 2);
    set_dropout(a, 0.1f, 0.1f, 0.1f, 1, 0); /* replay the first pass */
    const float replay = train_loss(a, tokens, targets);
    ck_assert_msg(same_bits(la, replay), "%.9g and %.9g differ", (double)la, (double)replay);
    spdf_model_free(a);
    spdf_model_free(b);
    spdf_model_free(c);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_new_model_defaults)
{
    spdf_context *ctx = test_context(NULL, 1);
    spdf_model *model = make_model(ctx, 1234);
    spdf_dropout_config d = {.struct_size = sizeof d};
    ck_assert_int_eq(spdf_model_get_dropout(model, &d), SPDF_OK);
    ck_assert_float_eq(d.embedding, 0);
    ck_assert_float_eq(d.attention, 0);
    ck_assert_float_eq(d.residual, 0);
    ck_assert_uint_eq(d.seed, 1234);
    ck_assert_uint_eq(d.forward_count, 0);
    ck_assert_uint_eq(d.struct_size, sizeof d);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* A few optimizer steps with dropout: the losses (and final weights) of each step. */
typedef struct run {
    spdf_context *ctx;
    spdf_model *model;
    spdf_optimizer *opt;
} run;

static void run_open(run *r, int threads)
{
    r->ctx = test_context(NULL, threads);
    r->model = make_model(r->ctx, 21);
    set_dropout(r->model, 0.1f, 0.2f, 0.15f, 8, 0);
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    oc.learning_rate = 3e-3f;
    oc.warmup_steps = 1;
    oc.total_steps = 10;
    ck_assert_int_eq(spdf_optimizer_create(r->model, &oc, &r->opt), SPDF_OK);
}

static void run_close(run *r)
{
    spdf_optimizer_free(r->opt);
    spdf_model_free(r->model);
    spdf_context_free(r->ctx);
}

static void run_steps(run *r, int first, int count, float *losses)
{
    for (int s = first; s < first + count; s++) {
        int32_t tokens[B * T], targets[B * T];
        make_batch(tokens, targets, 100 + (unsigned)s);
        losses[s] = train_loss(r->model, tokens, targets);
        ck_assert_int_eq(spdf_model_backward(r->model), SPDF_OK);
        ck_assert_int_eq(spdf_optimizer_step(r->opt, NULL, NULL), SPDF_OK);
    }
}

START_TEST(test_thread_counts_agree)
{
    enum { STEPS = 4 };
    float losses[2][STEPS];
    uint32_t checksum[2];
    for (int k = 0; k < 2; k++) {
        run r;
        run_open(&r, k + 1);
        run_steps(&r, 0, STEPS, losses[k]);
        ck_assert_int_eq(spdf_model_weights_checksum(r.model, &checksum[k]), SPDF_OK);
        run_close(&r);
    }
    ck_assert_int_eq(memcmp(losses[0], losses[1], sizeof losses[0]), 0);
    ck_assert_uint_eq(checksum[0], checksum[1]);
}
END_TEST

/* Saved after two steps and loaded into new handles, a run continues with the losses of a run
 * that was never interrupted; a checkpoint of a model without dropout loads without it. */
START_TEST(test_checkpoint_resume)
{
    enum { STEPS = 5, SAVE_AT = 2 };
    float straight[STEPS], resumed[STEPS];
    run r;
    run_open(&r, 2);
    run_steps(&r, 0, STEPS, straight);
    run_close(&r);

    run_open(&r, 2);
    run_steps(&r, 0, SAVE_AT, resumed);
    const char *path = scratch_path("dropout.ckpt");
    ck_assert_int_eq(spdf_checkpoint_save(path, r.model, r.opt, NULL), SPDF_OK);
    spdf_optimizer_free(r.opt);
    spdf_model_free(r.model);
    r.model = NULL;
    r.opt = NULL;
    ck_assert_int_eq(spdf_checkpoint_load(path, r.ctx, &r.model, &r.opt, NULL, NULL), SPDF_OK);
    spdf_dropout_config d = {.struct_size = sizeof d};
    ck_assert_int_eq(spdf_model_get_dropout(r.model, &d), SPDF_OK);
    ck_assert_float_eq(d.embedding, 0.1f);
    ck_assert_float_eq(d.attention, 0.2f);
    ck_assert_float_eq(d.residual, 0.15f);
    ck_assert_uint_eq(d.seed, 8);
    ck_assert_uint_eq(d.forward_count, SAVE_AT);
    run_steps(&r, SAVE_AT, STEPS - SAVE_AT, resumed);
    ck_assert_int_eq(memcmp(straight, resumed, sizeof straight), 0);

    /* without dropout: no DROPOUT section, and the defaults after loading */
    spdf_model *plain = make_model(r.ctx, 31);
    const char *plain_path = scratch_path("plain.ckpt");
    ck_assert_int_eq(spdf_checkpoint_save(plain_path, plain, NULL, NULL), SPDF_OK);
    spdf_model *loaded = NULL;
    ck_assert_int_eq(spdf_checkpoint_load(plain_path, r.ctx, &loaded, NULL, NULL, NULL), SPDF_OK);
    ck_assert_int_eq(spdf_model_get_dropout(loaded, &d), SPDF_OK);
    ck_assert_float_eq(d.embedding + d.attention + d.residual, 0);
    ck_assert_uint_eq(d.seed, 31);
    ck_assert_uint_eq(d.forward_count, 0);
    FILE *f = fopen(plain_path, "rb");
    unsigned char header[16];
    ck_assert_int_eq(fread(header, 1, sizeof header, f), sizeof header);
    fclose(f);
    ck_assert_int_eq(header[12] & 32, 0); /* the dropout flag (docs/checkpoint-format.md) */
    f = fopen(path, "rb");
    ck_assert_int_eq(fread(header, 1, sizeof header, f), sizeof header);
    fclose(f);
    ck_assert_int_ne(header[12] & 32, 0);
    spdf_model_free(loaded);
    spdf_model_free(plain);
    run_close(&r);
}
END_TEST

/* spdf_model_evaluate, spdf_model_forward_eval, logits without targets and generation compute
 * as if there were no dropout, and draw no masks. */
START_TEST(test_evaluation_unaffected)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *plain = make_model(ctx, 41), *dropping = make_model(ctx, 41);
    set_dropout(dropping, 0.5f, 0.5f, 0.5f, 3, 7);
    int32_t stream[200];
    for (int i = 0; i < 200; i++) stream[i] = (int32_t)((i * 7 + i / 5) % V);
    spdf_dataset *data = NULL;
    ck_assert_int_eq(spdf_dataset_from_tokens(stream, 200, &data), SPDF_OK);
    double loss[2];
    ck_assert_int_eq(spdf_model_evaluate(plain, data, B, T, 0, &loss[0], NULL), SPDF_OK);
    ck_assert_int_eq(spdf_model_evaluate(dropping, data, B, T, 0, &loss[1], NULL), SPDF_OK);
    ck_assert_int_eq(memcmp(&loss[0], &loss[1], sizeof loss[0]), 0);

    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 5);
    float eval[2];
    ck_assert_int_eq(spdf_model_forward_eval(plain, tokens, targets, NULL, B, T, &eval[0]), SPDF_OK);
    ck_assert_int_eq(spdf_model_forward_eval(dropping, tokens, targets, NULL, B, T, &eval[1]), SPDF_OK);
    ck_assert_msg(same_bits(eval[0], eval[1]), "%.9g and %.9g differ", (double)eval[0], (double)eval[1]);
    const float *logits[2];
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(spdf_model_forward(k ? dropping : plain, tokens, NULL, NULL, B, T, NULL), SPDF_OK);
    ck_assert_int_eq(spdf_model_logits(plain, &logits[0], NULL, NULL, NULL), SPDF_OK);
    ck_assert_int_eq(spdf_model_logits(dropping, &logits[1], NULL, NULL, NULL), SPDF_OK);
    ck_assert_int_eq(memcmp(logits[0], logits[1], sizeof(float) * B * T * V), 0);

    spdf_generate_config gc;
    spdf_generate_config_init(&gc);
    gc.max_new_tokens = 5;
    gc.stop_token = -1; /* the default end token is outside this vocabulary */
    int32_t out[2][MAXT];
    int32_t produced[2];
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(spdf_generate(k ? dropping : plain, tokens, 3, &gc, out[k], MAXT, &produced[k]),
                         SPDF_OK);
    ck_assert_int_eq(produced[0], produced[1]);
    ck_assert_int_eq(memcmp(out[0], out[1], sizeof(int32_t) * (size_t)produced[0]), 0);
    ck_assert_uint_eq(forward_count(dropping), 7);

    /* and the training pass does drop */
    const float trained = train_loss(dropping, tokens, targets);
    ck_assert_float_ne(trained, eval[0]);
    ck_assert_uint_eq(forward_count(dropping), 8);
    spdf_dataset_free(data);
    spdf_model_free(plain);
    spdf_model_free(dropping);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_bad_arguments)
{
    spdf_context *ctx = test_context(NULL, 1);
    spdf_model *model = make_model(ctx, 1);
    spdf_dropout_config d;
    ck_assert_int_eq(spdf_dropout_config_init(NULL), SPDF_EINVAL);
    spdf_dropout_config_init(&d);
    ck_assert_int_eq(spdf_model_set_dropout(NULL, &d), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_set_dropout(model, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_get_dropout(NULL, &d), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_get_dropout(model, NULL), SPDF_EINVAL);
    const float bad[] = {-0.1f, 1.0f, 1.5f, NAN, INFINITY, -0.0f};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int site = 0; site < 3; site++) {
            spdf_dropout_config_init(&d);
            float *rate = site == 0 ? &d.embedding : site == 1 ? &d.attention : &d.residual;
            *rate = bad[i];
            const spdf_status expected = bad[i] == 0.0f ? SPDF_OK : SPDF_EINVAL; /* -0 is 0 */
            ck_assert_int_eq(spdf_model_set_dropout(model, &d), expected);
            if (expected != SPDF_OK) ck_assert_ptr_nonnull(strstr(spdf_last_error(), "[0, 1)"));
        }
    spdf_dropout_config_init(&d);
    d.reserved = 1;
    ck_assert_int_eq(spdf_model_set_dropout(model, &d), SPDF_EINVAL);
    spdf_dropout_config_init(&d);
    d.struct_size = 8;
    ck_assert_int_eq(spdf_model_set_dropout(model, &d), SPDF_EINVAL);
    /* a refused configuration changes nothing */
    set_dropout(model, 0.25f, 0, 0, 5, 2);
    spdf_dropout_config_init(&d);
    d.attention = 2;
    ck_assert_int_eq(spdf_model_set_dropout(model, &d), SPDF_EINVAL);
    spdf_dropout_config got = {.struct_size = sizeof got};
    ck_assert_int_eq(spdf_model_get_dropout(model, &got), SPDF_OK);
    ck_assert_float_eq(got.embedding, 0.25f);
    ck_assert_float_eq(got.attention, 0);
    ck_assert_uint_eq(got.forward_count, 2);
    int32_t tokens[B * T], targets[B * T];
    make_batch(tokens, targets, 1);
    float loss;
    ck_assert_int_eq(spdf_model_forward_eval(NULL, tokens, targets, NULL, B, T, &loss), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_forward_eval(model, NULL, targets, NULL, B, T, &loss), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_forward_eval(model, tokens, targets, NULL, B, MAXT + 1, &loss), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_forward_eval(model, tokens, targets, NULL, B, T, NULL), SPDF_EINVAL);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dropout");
    TCase *grad = tcase_create("gradients");
    tcase_set_timeout(grad, 120);
    tcase_add_test(grad, test_rate_zero_is_no_dropout);
    tcase_add_test(grad, test_gradients_all_sites);
    tcase_add_test(grad, test_gradients_embedding);
    tcase_add_test(grad, test_gradients_attention);
    tcase_add_test(grad, test_gradients_residual);
    suite_add_tcase(s, grad);
    TCase *masks = tcase_create("masks");
    tcase_set_timeout(masks, 120);
    tcase_add_test(masks, test_share_dropped);
    tcase_add_test(masks, test_seeds);
    tcase_add_test(masks, test_new_model_defaults);
    tcase_add_test(masks, test_thread_counts_agree);
    suite_add_tcase(s, masks);
    TCase *state = tcase_create("state");
    tcase_add_checked_fixture(state, scratch_create, scratch_remove);
    tcase_add_test(state, test_checkpoint_resume);
    tcase_add_test(state, test_evaluation_unaffected);
    tcase_add_test(state, test_bad_arguments);
    suite_add_tcase(s, state);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
