/* The tool's end of text and prompt separator follow the run's tokenizer (src/data.c text_marks):
 * 256 and 10 for bytes and libspdf's BPE, "<|endoftext|>" (296) and "\n" (198) for the hand-made
 * GPT-2 files of tests/data/gpt2/, where 256 is "e!" and 10 is "+".  Fine-tuning sequences
 * (finetune_data_build) end and are padded with that end of text; task decoding (decode_task,
 * the generation of `spdf generate` and `spdf eval --task`) stops at it and at that "\n", shown
 * with a model rigged to predict one id whatever its input. */
#include "common/fixtures.h"
#include "data.h"
#include "evaluate.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GPT2_END_OF_TEXT = 296, GPT2_NEWLINE = 198 };

static spdf_tokenizer *hand_made_gpt2(void)
{
    const char *dir = getenv("SPDF_TEST_DATA");
    ck_assert_msg(dir != NULL, "SPDF_TEST_DATA is not set (run through meson test)");
    char vocab[4096], merges[4096];
    snprintf(vocab, sizeof vocab, "%s/gpt2/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/gpt2/merges.txt", dir);
    spdf_tokenizer *tok = NULL;
    ck_assert_msg(spdf_tokenizer_load_gpt2(vocab, merges, &tok) == SPDF_OK, "%s", spdf_last_error());
    return tok;
}

static spdf_tokenizer *trained_bpe(void)
{
    static const char text[] = "name[The Eagle], food[French]\nThe Eagle serves French food.\n";
    spdf_tokenizer *tok = NULL;
    ck_assert_int_eq(spdf_tokenizer_train(text, sizeof text - 1, 280, &tok), SPDF_OK);
    return tok;
}

/* A JSONL task of the given (prompt, target) lines. */
static spdf_task_data *task_of(const char *jsonl)
{
    const char *path = scratch_path("task.jsonl");
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(jsonl, f);
    fclose(f);
    spdf_task_data *task = NULL;
    ck_assert_msg(spdf_task_data_load(path, SPDF_TASK_JSONL, &task) == SPDF_OK, "%s", spdf_last_error());
    return task;
}

static void expect_marks(const spdf_tokenizer *tok, int32_t end_of_text, int32_t newline)
{
    text_marks marks = {-1, -1};
    ck_assert_int_eq(text_marks_of(tok, &marks), 0);
    ck_assert_int_eq(marks.end_of_text, end_of_text);
    ck_assert_int_eq(marks.newline, newline);
}

/* Runs check with bytes (NULL), a trained BPE and the hand-made GPT-2 files, and the end of text
 * and "\n" each has. */
static void with_each_tokenizer(void (*check)(const spdf_tokenizer *tok, int32_t end_of_text, int32_t newline))
{
    check(NULL, SPDF_TOKEN_EOT, '\n');
    spdf_tokenizer *bpe = trained_bpe(), *gpt2 = hand_made_gpt2();
    check(bpe, SPDF_TOKEN_EOT, '\n');
    check(gpt2, GPT2_END_OF_TEXT, GPT2_NEWLINE);
    spdf_tokenizer_free(gpt2);
    spdf_tokenizer_free(bpe);
}

START_TEST(marks_follow_the_tokenizer) { with_each_tokenizer(expect_marks); }
END_TEST

/* ids(prompt) + the separator: what every sequence must start with. */
static size_t expected_start(const spdf_tokenizer *tok, const char *prompt, int32_t newline, int32_t *ids)
{
    size_t count = 0;
    if (tok) ck_assert_int_eq(spdf_tokenizer_encode(tok, prompt, strlen(prompt), ids, 64, &count), SPDF_OK);
    else ck_assert_int_eq(spdf_byte_encode(prompt, strlen(prompt), ids, 64, &count), SPDF_OK);
    ids[count++] = newline;
    return count;
}

/* The one example of (prompt, target) is ids(prompt) newline ids(target) end_of_text, padded
 * with end_of_text, weighted on the target and the end of text only. */
static void expect_example(const spdf_tokenizer *tok, int32_t end_of_text, int32_t newline)
{
    const char *prompt = "name[The Eagle]", *target = "The Eagle is French.";
    spdf_task_data *task = task_of("{\"prompt\": \"name[The Eagle]\", \"target\": \"The Eagle is French.\"}\n");
    enum { T = 63 };
    finetune_data d;
    ck_assert_int_eq(finetune_data_build(task, 0, T, tok, &d), 0);
    ck_assert_int_eq(d.count, 1);
    int32_t want[64];
    const size_t start = expected_start(tok, prompt, newline, want);
    size_t target_count = 0;
    if (tok) ck_assert_int_eq(spdf_tokenizer_encode(tok, target, strlen(target), want + start, 64 - start,
                                                    &target_count), SPDF_OK);
    else ck_assert_int_eq(spdf_byte_encode(target, strlen(target), want + start, 64 - start, &target_count),
                          SPDF_OK);
    const size_t end = start + target_count; /* the end of text */
    ck_assert_uint_lt(end, T);
    for (size_t t = end; t <= T; t++) want[t] = end_of_text;
    for (size_t t = 0; t <= T; t++)
        ck_assert_msg(d.tokens[t] == want[t], "token %zu is %d, expected %d", t, (int)d.tokens[t], (int)want[t]);
    for (size_t t = 0; t < T; t++)
        ck_assert_msg(d.weights[t] == (t + 1 >= start && t + 1 <= end ? 1.0f : 0.0f), "weight %zu is %g", t,
                      (double)d.weights[t]);
    ck_assert_int_eq(d.spans[0], (int32_t)end);
    finetune_data_free(&d);
    spdf_task_data_free(task);
}

START_TEST(finetune_sequences_end_in_the_tokenizers_end_of_text) { with_each_tokenizer(expect_example); }
END_TEST

/* A model of 300 ids whose every prediction is `id`: ln_f scales by 0 and adds the first unit
 * vector, whose logit is 1 for id alone (row `id` of the tied embedding) and 0 for all others. */
static spdf_model *model_predicting(spdf_context *ctx, int32_t id)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = 300;
    mc.max_seq_len = 64;
    mc.num_layers = 1;
    mc.num_heads = 1;
    mc.channels = 8;
    spdf_model *model = NULL;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_OK);
    int32_t index = 0;
    float *values = NULL;
    ck_assert_int_eq(spdf_model_tensor_find(model, "wte", &index), SPDF_OK);
    ck_assert_int_eq(spdf_model_tensor_data(model, index, &values), SPDF_OK);
    memset(values, 0, (size_t)mc.vocab_size * (size_t)mc.channels * sizeof *values);
    values[(size_t)id * (size_t)mc.channels] = 1.0f;
    ck_assert_int_eq(spdf_model_tensor_find(model, "ln_f.weight", &index), SPDF_OK);
    ck_assert_int_eq(spdf_model_tensor_data(model, index, &values), SPDF_OK);
    memset(values, 0, (size_t)mc.channels * sizeof *values);
    ck_assert_int_eq(spdf_model_tensor_find(model, "ln_f.bias", &index), SPDF_OK);
    ck_assert_int_eq(spdf_model_tensor_data(model, index, &values), SPDF_OK);
    memset(values, 0, (size_t)mc.channels * sizeof *values);
    values[0] = 1.0f;
    return model;
}

/* decode_task's hypothesis for one prompt with a model that always predicts `id`. */
static void expect_hypothesis(spdf_context *ctx, const spdf_tokenizer *tok, int32_t id, const char *want)
{
    spdf_task_data *task = task_of("{\"prompt\": \"name[The Eagle]\", \"target\": \"x\"}\n");
    spdf_model *model = model_predicting(ctx, id);
    spdf_generate_config config;
    spdf_generate_config_init(&config);
    config.max_new_tokens = 3;
    task_outputs out;
    ck_assert_int_eq(decode_task(model, tok, task, 0, &config, PROGRESS_OFF, "test", &out), 0);
    ck_assert_int_eq(out.count, 1);
    ck_assert_msg(strcmp(out.hyps[0], want) == 0, "predicting id %d: \"%s\", expected \"%s\"", (int)id,
                  out.hyps[0], want);
    task_outputs_free(&out);
    spdf_model_free(model);
    spdf_task_data_free(task);
}

START_TEST(decoding_stops_at_the_tokenizers_end_of_text_and_newline)
{
    spdf_context *ctx = test_context("ref", 1);
    spdf_tokenizer *bpe = trained_bpe(), *gpt2 = hand_made_gpt2();
    /* three new tokens at most: a token that ends nothing repeats three times */
    expect_hypothesis(ctx, NULL, 'A', "AAA");
    expect_hypothesis(ctx, NULL, SPDF_TOKEN_EOT, "");
    expect_hypothesis(ctx, NULL, '\n', "");
    expect_hypothesis(ctx, bpe, SPDF_TOKEN_EOT, "");
    expect_hypothesis(ctx, bpe, '\n', "");
    expect_hypothesis(ctx, gpt2, 32, "AAA"); /* 'A' */
    expect_hypothesis(ctx, gpt2, GPT2_END_OF_TEXT, "");
    expect_hypothesis(ctx, gpt2, GPT2_NEWLINE, "");
    expect_hypothesis(ctx, gpt2, SPDF_TOKEN_EOT, "e!e!e!"); /* 256 ends nothing here */
    spdf_tokenizer_free(gpt2);
    spdf_tokenizer_free(bpe);
    spdf_context_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_text_marks");
    TCase *tc = tcase_create("text_marks");
    tcase_add_checked_fixture(tc, scratch_create, scratch_remove);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, marks_follow_the_tokenizer);
    tcase_add_test(tc, finetune_sequences_end_in_the_tokenizers_end_of_text);
    tcase_add_test(tc, decoding_stops_at_the_tokenizers_end_of_text_and_newline);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
