/* Generation and evaluation through the public API: the key/value cache against full forward
 * passes, beam search against exhaustive search, sampling, stop conditions, perplexity. */
#include "spdf.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static spdf_context *ctx;

/* A small model trained briefly on a repeating pattern, so its predictions are not uniform. */
static spdf_model *trained_model(int vocab, int sparse)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = vocab;
    mc.max_seq_len = 32;
    mc.num_layers = 2;
    mc.num_heads = 2;
    mc.channels = 32;
    spdf_model *model;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_OK);
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    oc.learning_rate = 3e-3f;
    oc.schedule = SPDF_LR_CONSTANT;
    spdf_optimizer *opt;
    ck_assert_int_eq(spdf_optimizer_create(model, &oc, &opt), SPDF_OK);
    spdf_mask *mask = NULL;
    spdf_phase *phase = NULL;
    if (sparse) {
        ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 3, &mask), SPDF_OK);
        ck_assert_int_eq(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
    }
    enum { B = 4, T = 24 };
    int32_t tokens[B * T], targets[B * T];
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (i * 7 + i / 5) % vocab;
        targets[i] = ((i + 1) * 7 + (i + 1) / 5) % vocab;
    }
    for (int s = 0; s < 30; s++) {
        float loss;
        ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, B, T, &loss), SPDF_OK);
        ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);
        ck_assert_int_eq(spdf_optimizer_step(opt, NULL, NULL), SPDF_OK);
    }
    spdf_phase_free(phase);
    spdf_mask_free(mask);
    spdf_optimizer_free(opt);
    return model;
}

static int generate(spdf_model *model, const spdf_generate_config *c, const int32_t *prompt, int n,
                    int32_t *out)
{
    int32_t length = -1;
    ck_assert_msg(spdf_generate(model, prompt, n, c, out, 64, &length) == SPDF_OK, "%s", spdf_last_error());
    return length;
}

/* Greedy decoding with the cache produces exactly the tokens of decoding without it. */
START_TEST(test_cache_matches_full_forward)
{
    spdf_model *model = trained_model(23, _i);
    spdf_generate_config c;
    spdf_generate_config_init(&c);
    c.max_new_tokens = 20;
    c.stop_token = -1;
    const int32_t prompt[] = {3, 10, 17, 1, 8};
    int32_t cached[64], uncached[64];
    c.use_kv_cache = 1;
    const int n_cached = generate(model, &c, prompt, 5, cached);
    c.use_kv_cache = 0;
    const int n_uncached = generate(model, &c, prompt, 5, uncached);
    ck_assert_int_eq(n_cached, 20);
    ck_assert_int_eq(n_uncached, 20);
    ck_assert(memcmp(cached, uncached, sizeof(int32_t) * 20) == 0);
    /* sampling too */
    c.strategy = SPDF_DECODE_SAMPLE;
    c.temperature = 1.5f;
    c.seed = 77;
    generate(model, &c, prompt, 5, uncached);
    c.use_kv_cache = 1;
    generate(model, &c, prompt, 5, cached);
    ck_assert(memcmp(cached, uncached, sizeof(int32_t) * 20) == 0);
    spdf_model_free(model);
}
END_TEST

START_TEST(test_beam_width_one_is_greedy)
{
    spdf_model *model = trained_model(23, 0);
    spdf_generate_config c;
    spdf_generate_config_init(&c);
    c.max_new_tokens = 16;
    c.stop_token = 5;
    const int32_t prompt[] = {3, 10, 17};
    int32_t greedy[64], beam[64];
    const int n_greedy = generate(model, &c, prompt, 3, greedy);
    c.strategy = SPDF_DECODE_BEAM;
    c.beam_width = 1;
    const int n_beam = generate(model, &c, prompt, 3, beam);
    ck_assert_int_eq(n_greedy, n_beam);
    ck_assert(memcmp(greedy, beam, sizeof(int32_t) * (size_t)n_greedy) == 0);
    spdf_model_free(model);
}
END_TEST

/* Log-probability of continuation[0..n) after prompt, by a full forward pass. */
static double sequence_logp(spdf_model *model, const int32_t *prompt, int p, const int32_t *cont, int n)
{
    int32_t tokens[32];
    memcpy(tokens, prompt, sizeof(int32_t) * (size_t)p);
    memcpy(tokens + p, cont, sizeof(int32_t) * (size_t)n);
    ck_assert_int_eq(spdf_model_forward(model, tokens, NULL, NULL, 1, p + n, NULL), SPDF_OK);
    const float *logits;
    int32_t V;
    spdf_model_logits(model, &logits, NULL, NULL, &V);
    double total = 0;
    for (int k = 0; k < n; k++) {
        const float *row = logits + (int64_t)(p - 1 + k) * V;
        double max = row[0], sum = 0;
        for (int v = 1; v < V; v++) max = fmax(max, row[v]);
        for (int v = 0; v < V; v++) sum += exp(row[v] - max);
        total += row[cont[k]] - max - log(sum);
    }
    return total;
}

/* With a beam as wide as all prefixes (V^2 for 3 tokens), beam search is exhaustive: its answer
 * is the most likely of all V^3 continuations. */
START_TEST(test_wide_beam_is_exhaustive)
{
    enum { V = 5 };
    spdf_model *model = trained_model(V, 0);
    const int32_t prompt[] = {1, 3, 0};
    double best = -INFINITY;
    int32_t best_seq[3] = {0};
    for (int a = 0; a < V; a++)
        for (int b = 0; b < V; b++)
            for (int d = 0; d < V; d++) {
                const int32_t seq[3] = {a, b, d};
                const double lp = sequence_logp(model, prompt, 3, seq, 3);
                if (lp > best) { best = lp; memcpy(best_seq, seq, sizeof seq); }
            }
    spdf_generate_config c;
    spdf_generate_config_init(&c);
    c.strategy = SPDF_DECODE_BEAM;
    c.beam_width = V * V;
    c.max_new_tokens = 3;
    c.stop_token = -1;
    c.length_penalty = 0.0f;
    int32_t out[64];
    ck_assert_int_eq(generate(model, &c, prompt, 3, out), 3);
    ck_assert_msg(memcmp(out, best_seq, sizeof best_seq) == 0, "beam %d %d %d vs exhaustive %d %d %d",
                  out[0], out[1], out[2], best_seq[0], best_seq[1], best_seq[2]);
    spdf_model_free(model);
}
END_TEST

START_TEST(test_sampling_reproducible)
{
    spdf_model *model = trained_model(23, 0);
    spdf_generate_config c;
    spdf_generate_config_init(&c);
    c.strategy = SPDF_DECODE_SAMPLE;
    c.max_new_tokens = 24;
    c.stop_token = -1;
    c.temperature = 2.0f;
    const int32_t prompt[] = {4};
    int32_t a[64], b[64], d[64], greedy[64];
    c.seed = 5;
    generate(model, &c, prompt, 1, a);
    generate(model, &c, prompt, 1, b);
    c.seed = 6;
    generate(model, &c, prompt, 1, d);
    ck_assert(memcmp(a, b, sizeof(int32_t) * 24) == 0);
    ck_assert(memcmp(a, d, sizeof(int32_t) * 24) != 0);
    c.top_k = 1; /* only the argmax survives */
    generate(model, &c, prompt, 1, a);
    c.strategy = SPDF_DECODE_GREEDY;
    generate(model, &c, prompt, 1, greedy);
    ck_assert(memcmp(a, greedy, sizeof(int32_t) * 24) == 0);
    spdf_model_free(model);
}
END_TEST

START_TEST(test_stop_conditions)
{
    spdf_model *model = trained_model(23, 0);
    spdf_generate_config c;
    spdf_generate_config_init(&c);
    c.max_new_tokens = 12;
    c.stop_token = -1;
    const int32_t prompt[] = {2, 9};
    int32_t free_run[64], out[64];
    ck_assert_int_eq(generate(model, &c, prompt, 2, free_run), 12);
    /* stop token: the first occurrence of free_run[4] ends the output before it */
    int first = 0;
    while (free_run[first] != free_run[4]) first++;
    c.stop_token = free_run[4];
    ck_assert_int_eq(generate(model, &c, prompt, 2, out), first);
    ck_assert(memcmp(out, free_run, sizeof(int32_t) * (size_t)first) == 0);
    /* stop sequence */
    c.stop_token = -1;
    const int32_t stop[2] = {free_run[5], free_run[6]};
    int at = 0;
    while (!(free_run[at] == stop[0] && free_run[at + 1] == stop[1])) at++;
    c.stop_sequence = stop;
    c.stop_sequence_length = 2;
    ck_assert_int_eq(generate(model, &c, prompt, 2, out), at);
    ck_assert(memcmp(out, free_run, sizeof(int32_t) * (size_t)at) == 0);
    /* the context limit ends generation: prompt 30 of 32 positions leaves 2 */
    int32_t long_prompt[30] = {0};
    c.stop_sequence = NULL;
    c.stop_sequence_length = 0;
    ck_assert_int_eq(generate(model, &c, long_prompt, 30, out), 2);
    spdf_model_free(model);
}
END_TEST

START_TEST(test_evaluate_matches_forward)
{
    spdf_model *model = trained_model(23, 0);
    int32_t data[200];
    for (int i = 0; i < 200; i++) data[i] = (i * 7 + i / 5) % 23;
    spdf_dataset *ds;
    ck_assert_int_eq(spdf_dataset_from_tokens(data, 200, &ds), SPDF_OK);
    double loss, ppl;
    ck_assert_int_eq(spdf_model_evaluate(model, ds, 2, 16, 3, &loss, &ppl), SPDF_OK);
    double expected = 0;
    for (int b = 0; b < 3; b++) {
        int32_t in[32], tg[32];
        for (int r = 0; r < 2; r++)
            for (int t = 0; t < 16; t++) {
                in[r * 16 + t] = data[(b * 2 + r) * 16 + t];
                tg[r * 16 + t] = data[(b * 2 + r) * 16 + t + 1];
            }
        float l;
        spdf_model_forward(model, in, tg, NULL, 2, 16, &l);
        expected += l / 3.0;
    }
    ck_assert_msg(fabs(loss - expected) < 1e-6, "%g vs %g", loss, expected);
    ck_assert(fabs(ppl - exp(loss)) < 1e-9 * ppl);
    ck_assert_int_eq(spdf_model_evaluate(model, ds, 2, 128, 0, &loss, &ppl), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_evaluate(model, NULL, 2, 16, 0, &loss, &ppl), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_evaluate(model, ds, 0, 16, 0, &loss, &ppl), SPDF_EINVAL);
    spdf_dataset_free(ds);
    spdf_model_free(model);
}
END_TEST

/* Generation overwrites the activations (include/spdf.h): afterwards logits are refused with a
 * message that says so, before any forward pass and after one, until the next forward pass. */
START_TEST(test_logits_after_generate)
{
    spdf_model *model = trained_model(23, 0);
    spdf_generate_config c;
    spdf_generate_config_init(&c);
    c.max_new_tokens = 4;
    c.stop_token = -1;
    const int32_t prompt[] = {1, 2, 3};
    int32_t out[8], n;
    const float *logits = NULL;
    for (int forward_first = 0; forward_first < 2; forward_first++) {
        for (int cache = 0; cache < 2; cache++) {
            if (forward_first) ck_assert_int_eq(spdf_model_forward(model, prompt, NULL, NULL, 1, 3, NULL), SPDF_OK);
            c.use_kv_cache = cache;
            ck_assert_msg(spdf_generate(model, prompt, 3, &c, out, 8, &n) == SPDF_OK, "%s", spdf_last_error());
            ck_assert_int_eq(spdf_model_logits(model, &logits, NULL, NULL, NULL), SPDF_ESTATE);
            ck_assert_msg(strstr(spdf_last_error(), "spdf_generate overwrote") != NULL, "%s", spdf_last_error());
            ck_assert_int_eq(spdf_model_backward(model), SPDF_ESTATE);
        }
    }
    ck_assert_int_eq(spdf_model_forward(model, prompt, NULL, NULL, 1, 3, NULL), SPDF_OK);
    int32_t B = 0, T = 0, V = 0;
    ck_assert_int_eq(spdf_model_logits(model, &logits, &B, &T, &V), SPDF_OK);
    ck_assert(B == 1 && T == 3 && V == 23);
    spdf_model_free(model);
}
END_TEST

START_TEST(test_generate_invalid_arguments)
{
    spdf_model *model = trained_model(23, 0);
    spdf_generate_config c;
    spdf_generate_config_init(&c);
    const int32_t prompt[] = {1, 2};
    int32_t out[8], n;
    ck_assert_int_eq(spdf_generate_config_init(NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_generate(NULL, prompt, 2, &c, out, 8, &n), SPDF_EINVAL);
    ck_assert_int_eq(spdf_generate(model, NULL, 2, &c, out, 8, &n), SPDF_EINVAL);
    ck_assert_int_eq(spdf_generate(model, prompt, 0, &c, out, 8, &n), SPDF_EINVAL);
    ck_assert_int_eq(spdf_generate(model, prompt, 2, &c, NULL, 8, &n), SPDF_EINVAL);
    ck_assert_int_eq(spdf_generate(model, prompt, 2, &c, out, 8, NULL), SPDF_EINVAL);
    const int32_t bad_prompt[] = {1, 99};
    ck_assert_int_eq(spdf_generate(model, bad_prompt, 2, &c, out, 8, &n), SPDF_EINVAL);
    int32_t long_prompt[32] = {0};
    ck_assert_int_eq(spdf_generate(model, long_prompt, 32, &c, out, 8, &n), SPDF_EINVAL);
    c.strategy = 9;
    ck_assert_int_eq(spdf_generate(model, prompt, 2, &c, out, 8, &n), SPDF_EINVAL);
    spdf_generate_config_init(&c);
    c.strategy = SPDF_DECODE_BEAM;
    c.beam_width = 0;
    ck_assert_int_eq(spdf_generate(model, prompt, 2, &c, out, 8, &n), SPDF_EINVAL);
    c.beam_width = 2;
    c.use_kv_cache = 0;
    ck_assert_int_eq(spdf_generate(model, prompt, 2, &c, out, 8, &n), SPDF_EINVAL);
    spdf_generate_config_init(&c);
    c.temperature = 0.0f;
    ck_assert_int_eq(spdf_generate(model, prompt, 2, &c, out, 8, &n), SPDF_EINVAL);
    spdf_generate_config_init(&c);
    c.stop_token = 23;
    ck_assert_int_eq(spdf_generate(model, prompt, 2, &c, out, 8, &n), SPDF_EINVAL);
    spdf_generate_config_init(&c);
    c.stop_sequence_length = 2;
    ck_assert_int_eq(spdf_generate(model, prompt, 2, &c, out, 8, &n), SPDF_EINVAL);
    spdf_generate_config_init(&c);
    c.struct_size = 4;
    ck_assert_int_eq(spdf_generate(model, prompt, 2, &c, out, 8, &n), SPDF_EINVAL);
    /* a short output buffer: the count is complete, the copy is cut */
    spdf_generate_config_init(&c);
    c.stop_token = -1;
    c.max_new_tokens = 10;
    ck_assert_int_eq(spdf_generate(model, prompt, 2, &c, out, 3, &n), SPDF_OK);
    ck_assert_int_eq(n, 10);
    spdf_model_free(model);
}
END_TEST

int main(void)
{
    spdf_context_config cc;
    spdf_context_config_init(&cc);
    cc.num_threads = 2;
    if (spdf_context_create(&cc, &ctx) != SPDF_OK) return EXIT_FAILURE;
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("generate");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_cache_matches_full_forward, 0, 2);
    tcase_add_test(tc, test_beam_width_one_is_greedy);
    tcase_add_test(tc, test_wide_beam_is_exhaustive);
    tcase_add_test(tc, test_sampling_reproducible);
    tcase_add_test(tc, test_stop_conditions);
    tcase_add_test(tc, test_evaluate_matches_forward);
    tcase_add_test(tc, test_logits_after_generate);
    tcase_add_test(tc, test_generate_invalid_arguments);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    spdf_context_free(ctx);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
