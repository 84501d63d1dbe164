/* The struct_size contract of every extensible struct in the public API (docs/api-conventions.md):
 *   inputs  - the first release's size is read, one byte less is SPDF_EINVAL, a larger size
 *             (a program built against a newer header) is read when the unknown tail is zero
 *             and refused with SPDF_EUNSUPPORTED when it is not;
 *   outputs - the first release's size is filled, one byte less is SPDF_EINVAL, nothing past the
 *             caller's struct_size is ever written, and struct_size comes back as the number of
 *             bytes filled.
 * The first-release sizes are written here from the ABI baseline (abi/), not from the library. */
#include "spdf.h"
#include "common/fixtures.h"

#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

enum { TAIL = 64, SENTINEL = 0xA5 };

#define MUST(call) ck_assert_msg((call) == SPDF_OK, "%s: %s", #call, spdf_last_error())

/* ---- a small model in each phase, and the files some calls read ---- */

static spdf_context *ctx;
static spdf_model *dense_model, *sparse_model;
static spdf_optimizer *dense_opt, *sparse_opt;
static spdf_mask *mask;
static spdf_phase *sparse_phase;
static spdf_bleu *bleu;
static const char *checkpoint_path, *safetensors_path, *tokenizer_checkpoint_path;
static spdf_model *wide_model; /* room for a BPE tokenizer's ids */
static spdf_tokenizer *tokenizer;

static spdf_model *make_model(void)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = 40;
    mc.max_seq_len = 8;
    mc.num_layers = 1;
    mc.num_heads = 2;
    mc.channels = 16;
    spdf_model *model = NULL;
    MUST(spdf_model_create(ctx, &mc, &model));
    return model;
}

static void fixture_create(void)
{
    ctx = test_context(NULL, 0);
    dense_model = make_model();
    sparse_model = make_model();
    MUST(spdf_optimizer_create(dense_model, NULL, &dense_opt));
    MUST(spdf_optimizer_create(sparse_model, NULL, &sparse_opt));
    MUST(spdf_mask_create(sparse_model, SPDF_MASK_RANDOM, 0.75f, 1, &mask));
    MUST(spdf_phase_create(sparse_model, sparse_opt, SPDF_PHASE_SPARSE, mask, &sparse_phase));
    MUST(spdf_bleu_create(&bleu));
    const char *refs[] = {"the cat sat on the mat"};
    MUST(spdf_bleu_add(bleu, "the cat sat on a mat", refs, 1));
    scratch_create();
    checkpoint_path = scratch_path("model.ckpt");
    safetensors_path = scratch_path("model.safetensors");
    MUST(spdf_checkpoint_save(checkpoint_path, sparse_model, sparse_opt, NULL));
    MUST(spdf_model_export_safetensors(dense_model, safetensors_path));
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = 300;
    mc.max_seq_len = 8;
    mc.num_layers = 1;
    mc.num_heads = 2;
    mc.channels = 16;
    MUST(spdf_model_create(ctx, &mc, &wide_model));
    const char text[] = "the cat sat on the mat, the cat sat on the hat";
    MUST(spdf_tokenizer_train(text, sizeof text - 1, 270, &tokenizer));
    tokenizer_checkpoint_path = scratch_path("tokenizer.ckpt");
    spdf_checkpoint_save_config config;
    spdf_checkpoint_save_config_init(&config);
    config.tokenizer = tokenizer;
    MUST(spdf_checkpoint_save_ex(tokenizer_checkpoint_path, wide_model, NULL, NULL, &config));
}

static void fixture_free(void)
{
    scratch_remove();
    spdf_tokenizer_free(tokenizer);
    spdf_model_free(wide_model);
    spdf_bleu_free(bleu);
    spdf_phase_free(sparse_phase);
    spdf_mask_free(mask);
    spdf_optimizer_free(sparse_opt);
    spdf_optimizer_free(dense_opt);
    spdf_model_free(sparse_model);
    spdf_model_free(dense_model);
    spdf_context_free(ctx);
}

/* ---- inputs: the call under test receives a struct prepared by its _init ---- */

typedef struct input_case {
    const char *name;
    size_t size, first_size;
    void (*init)(void *config);
    spdf_status (*call)(const void *config);
} input_case;

static void init_context(void *c) { spdf_context_config_init(c); }
static spdf_status call_context(const void *c)
{
    spdf_context *made = NULL;
    const spdf_status status = spdf_context_create(c, &made);
    spdf_context_free(made);
    return status;
}

static void init_model(void *c)
{
    spdf_model_config *mc = c;
    spdf_model_config_init(mc);
    mc->num_layers = 1;
    mc->channels = 16;
    mc->num_heads = 2;
}
static spdf_status call_model(const void *c)
{
    spdf_model *made = NULL;
    const spdf_status status = spdf_model_create(ctx, c, &made);
    spdf_model_free(made);
    return status;
}
static spdf_status call_flops(const void *c)
{
    spdf_flop_report report;
    report.struct_size = sizeof report;
    return spdf_flops(c, 8, 2, 0.5f, &report);
}

static void init_optimizer(void *c) { spdf_optimizer_config_init(c); }
static spdf_status call_optimizer(const void *c)
{
    spdf_model *model = make_model();
    spdf_optimizer *made = NULL;
    const spdf_status status = spdf_optimizer_create(model, c, &made);
    spdf_optimizer_free(made);
    spdf_model_free(model);
    return status;
}

static void init_mask(void *c) { spdf_mask_config_init(c); }
static spdf_status call_mask(const void *c)
{
    spdf_mask *made = NULL;
    const spdf_status status = spdf_mask_create_ex(dense_model, c, &made);
    spdf_mask_free(made);
    return status;
}

static void init_transition(void *c) { spdf_transition_config_init(c); }
static spdf_status call_transition(const void *c)
{
    return spdf_phase_transition(sparse_phase, SPDF_PHASE_SPARSE, NULL, c);
}

static void init_plan(void *c) { spdf_sparse_plan_config_init(c); }
static spdf_status call_plan(const void *c) { return spdf_model_set_sparse_plan(dense_model, c); }

static void init_generate(void *c)
{
    spdf_generate_config *gc = c;
    spdf_generate_config_init(gc);
    gc->max_new_tokens = 2;
    gc->stop_token = -1;
}
static spdf_status call_generate(const void *c)
{
    const int32_t prompt[] = {1, 2, 3};
    int32_t out[4], length = 0;
    return spdf_generate(dense_model, prompt, 3, c, out, 4, &length);
}

static void init_bleu(void *c) { spdf_bleu_options_init(c); }
static spdf_status call_bleu(const void *c)
{
    spdf_bleu_result result;
    result.struct_size = sizeof result;
    return spdf_bleu_score(bleu, c, &result);
}

static void init_import(void *c)
{
    spdf_import_config *ic = c;
    spdf_import_config_init(ic);
    ic->num_heads = 2;
}
static spdf_status call_import(const void *c)
{
    spdf_model *made = NULL;
    const spdf_status status = spdf_model_import_safetensors(ctx, safetensors_path, c, &made);
    spdf_model_free(made);
    return status;
}

static void init_checkpoint_save(void *c)
{
    spdf_checkpoint_save_config *sc = c;
    spdf_checkpoint_save_config_init(sc);
    sc->tokenizer = tokenizer;
}
static spdf_status call_checkpoint_save(const void *c)
{
    return spdf_checkpoint_save_ex(scratch_path("save-ex.ckpt"), wide_model, NULL, NULL, c);
}

static const input_case inputs[] = {
    {"spdf_context_config", sizeof(spdf_context_config),
     SIZE_THROUGH(spdf_context_config, num_threads), init_context, call_context},
    {"spdf_model_config", sizeof(spdf_model_config), SIZE_THROUGH(spdf_model_config, seed),
     init_model, call_model},
    {"spdf_model_config (flops)", sizeof(spdf_model_config), SIZE_THROUGH(spdf_model_config, seed),
     init_model, call_flops},
    {"spdf_optimizer_config", sizeof(spdf_optimizer_config),
     SIZE_THROUGH(spdf_optimizer_config, min_lr_ratio), init_optimizer, call_optimizer},
    {"spdf_mask_config", sizeof(spdf_mask_config), SIZE_THROUGH(spdf_mask_config, reserved2),
     init_mask, call_mask},
    {"spdf_transition_config", sizeof(spdf_transition_config),
     SIZE_THROUGH(spdf_transition_config, optimizer), init_transition, call_transition},
    {"spdf_sparse_plan_config", sizeof(spdf_sparse_plan_config),
     SIZE_THROUGH(spdf_sparse_plan_config, reserved), init_plan, call_plan},
    {"spdf_generate_config", sizeof(spdf_generate_config),
     SIZE_THROUGH(spdf_generate_config, use_kv_cache), init_generate, call_generate},
    {"spdf_bleu_options", sizeof(spdf_bleu_options), SIZE_THROUGH(spdf_bleu_options, nist_order),
     init_bleu, call_bleu},
    {"spdf_import_config", sizeof(spdf_import_config), SIZE_THROUGH(spdf_import_config, seed),
     init_import, call_import},
    {"spdf_checkpoint_save_config", sizeof(spdf_checkpoint_save_config),
     SIZE_THROUGH(spdf_checkpoint_save_config, tokenizer), init_checkpoint_save, call_checkpoint_save},
};
enum { NUM_INPUTS = sizeof inputs / sizeof inputs[0] };

/* A buffer with room past the struct, zeroed, the struct initialised, struct_size as given. */
static unsigned char *prepared_input(const input_case *c, size_t struct_size)
{
    unsigned char *buf = calloc(1, c->size + TAIL);
    ck_assert_ptr_nonnull(buf);
    c->init(buf);
    memcpy(buf, &struct_size, sizeof struct_size);
    return buf;
}

static spdf_status run_input(const input_case *c, size_t struct_size, size_t poke)
{
    unsigned char *buf = prepared_input(c, struct_size);
    if (poke) buf[poke] = 1;
    const spdf_status status = c->call(buf);
    free(buf);
    return status;
}

START_TEST(input_sizes)
{
    const input_case *c = &inputs[_i];
    ck_assert_msg(run_input(c, c->size, 0) == SPDF_OK, "%s: %s", c->name, spdf_last_error());
    ck_assert_msg(run_input(c, c->first_size, 0) == SPDF_OK, "%s at its first size: %s", c->name,
                  spdf_last_error());
    ck_assert_msg(run_input(c, c->first_size - 1, 0) == SPDF_EINVAL, "%s below its first size",
                  c->name);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "struct_size"));
    ck_assert_msg(run_input(c, 0, 0) == SPDF_EINVAL, "%s with struct_size 0", c->name);
    ck_assert_msg(run_input(c, c->size + TAIL, 0) == SPDF_OK, "%s, newer layout, zero tail: %s",
                  c->name, spdf_last_error());
    ck_assert_msg(run_input(c, c->size + TAIL, c->size + TAIL / 2) == SPDF_EUNSUPPORTED,
                  "%s, newer layout with a member set that this library does not know", c->name);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "newer"));
}
END_TEST

/* ---- outputs: the call under test fills the struct ---- */

typedef struct output_case {
    const char *name;
    size_t size, first_size;
    spdf_status (*call)(void *result);
} output_case;

static spdf_status out_model_config(void *r) { return spdf_model_get_config(dense_model, r); }
static spdf_status out_tensor_info(void *r) { return spdf_model_tensor_info(dense_model, 2, r); }
static spdf_status out_optimizer(void *r) { return spdf_optimizer_get_config(dense_opt, r); }
static spdf_status out_mask_layer(void *r) { return spdf_mask_get_layer(mask, 1, r); }
static spdf_status out_plan(void *r) { return spdf_model_get_sparse_plan(sparse_model, r); }
static spdf_status out_kernel_info(void *r)
{
    return spdf_model_sparse_kernel_info(sparse_model, 0, r);
}
static spdf_status out_checkpoint(void *r) { return spdf_checkpoint_info_read(checkpoint_path, r); }
static spdf_status out_tokenizer_checkpoint(void *r)
{
    return spdf_checkpoint_info_read(tokenizer_checkpoint_path, r);
}
static spdf_status out_flops(void *r) { return spdf_model_flops(sparse_model, 8, 2, r); }
static spdf_status out_bleu(void *r) { return spdf_bleu_score(bleu, NULL, r); }

static const output_case outputs[] = {
    {"spdf_model_config", sizeof(spdf_model_config), SIZE_THROUGH(spdf_model_config, seed),
     out_model_config},
    {"spdf_tensor_info", sizeof(spdf_tensor_info), SIZE_THROUGH(spdf_tensor_info, reserved),
     out_tensor_info},
    {"spdf_optimizer_config", sizeof(spdf_optimizer_config),
     SIZE_THROUGH(spdf_optimizer_config, min_lr_ratio), out_optimizer},
    {"spdf_mask_layer_info", sizeof(spdf_mask_layer_info),
     SIZE_THROUGH(spdf_mask_layer_info, reserved2), out_mask_layer},
    {"spdf_sparse_plan_config", sizeof(spdf_sparse_plan_config),
     SIZE_THROUGH(spdf_sparse_plan_config, reserved), out_plan},
    /* the first release ended at code_bytes; kernel plans appended the rest */
    {"spdf_sparse_kernel_info", sizeof(spdf_sparse_kernel_info),
     SIZE_THROUGH(spdf_sparse_kernel_info, code_bytes), out_kernel_info},
    {"spdf_checkpoint_info", sizeof(spdf_checkpoint_info),
     SIZE_THROUGH(spdf_checkpoint_info, file_size), out_checkpoint},
    /* the first release ended at file_size; stored tokenizers appended has_tokenizer .. */
    {"spdf_checkpoint_info (with a tokenizer)", sizeof(spdf_checkpoint_info),
     SIZE_THROUGH(spdf_checkpoint_info, file_size), out_tokenizer_checkpoint},
    {"spdf_flop_report", sizeof(spdf_flop_report), SIZE_THROUGH(spdf_flop_report, block_weights),
     out_flops},
    {"spdf_bleu_result", sizeof(spdf_bleu_result), SIZE_THROUGH(spdf_bleu_result, nist_order),
     out_bleu},
};
enum { NUM_OUTPUTS = sizeof outputs / sizeof outputs[0] };

/* Calls with struct_size as given into a buffer of sentinel bytes; checks that nothing past
 * `untouched_from` changed and returns the status and the struct_size it came back with. */
static spdf_status run_output(const output_case *c, size_t struct_size, size_t untouched_from,
                              size_t *returned_size)
{
    const size_t total = c->size + TAIL;
    unsigned char *buf = malloc(total);
    ck_assert_ptr_nonnull(buf);
    memset(buf, SENTINEL, total);
    memcpy(buf, &struct_size, sizeof struct_size);
    const spdf_status status = c->call(buf);
    for (size_t i = untouched_from; i < total; i++)
        ck_assert_msg(buf[i] == SENTINEL, "%s with struct_size %zu wrote byte %zu", c->name,
                      struct_size, i);
    memcpy(returned_size, buf, sizeof *returned_size);
    free(buf);
    return status;
}

START_TEST(output_sizes)
{
    const output_case *c = &outputs[_i];
    size_t returned = 0;
    ck_assert_msg(run_output(c, c->size, c->size, &returned) == SPDF_OK, "%s: %s", c->name,
                  spdf_last_error());
    ck_assert_uint_eq(returned, c->size);
    ck_assert_msg(run_output(c, c->first_size, c->first_size, &returned) == SPDF_OK,
                  "%s at its first size: %s", c->name, spdf_last_error());
    ck_assert_uint_eq(returned, c->first_size);
    ck_assert_msg(run_output(c, c->first_size - 1, sizeof(size_t), &returned) == SPDF_EINVAL,
                  "%s below its first size", c->name);
    ck_assert_uint_eq(returned, c->first_size - 1);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "struct_size"));
    ck_assert_msg(run_output(c, c->size + TAIL, c->size, &returned) == SPDF_OK,
                  "%s, newer layout: %s", c->name, spdf_last_error());
    ck_assert_uint_eq(returned, c->size);
}
END_TEST

/* The first-size output of the struct that has grown carries the first release's values. */
START_TEST(kernel_info_first_layout_matches_the_full_one)
{
    spdf_sparse_kernel_info full, first;
    memset(&first, SENTINEL, sizeof first);
    full.struct_size = sizeof full;
    first.struct_size = SIZE_THROUGH(spdf_sparse_kernel_info, code_bytes);
    MUST(spdf_model_sparse_kernel_info(sparse_model, 3, &full));
    MUST(spdf_model_sparse_kernel_info(sparse_model, 3, &first));
    ck_assert_int_eq(first.kind, full.kind);
    ck_assert_int_eq(first.kind, full.forward);
    ck_assert_int_eq(first.code_bytes, full.code_bytes);
    ck_assert_uint_eq(first.struct_size, SIZE_THROUGH(spdf_sparse_kernel_info, code_bytes));
    ck_assert_int_eq((unsigned char)((const unsigned char *)&first.forward)[0], SENTINEL);
}
END_TEST

/* The same for the checkpoint description that has grown: the first layout's fields agree, and
 * the tokenizer's are filled only for a caller that knows them. */
START_TEST(checkpoint_info_first_layout_matches_the_full_one)
{
    spdf_checkpoint_info full, first;
    memset(&first, SENTINEL, sizeof first);
    full.struct_size = sizeof full;
    first.struct_size = SIZE_THROUGH(spdf_checkpoint_info, file_size);
    MUST(spdf_checkpoint_info_read(tokenizer_checkpoint_path, &full));
    MUST(spdf_checkpoint_info_read(tokenizer_checkpoint_path, &first));
    ck_assert_int_eq(full.has_tokenizer, 1);
    int32_t vocab = 0;
    uint32_t checksum = 0;
    MUST(spdf_tokenizer_vocab_size(tokenizer, &vocab));
    MUST(spdf_tokenizer_checksum(tokenizer, &checksum));
    ck_assert_int_eq(full.tokenizer_vocab_size, vocab);
    ck_assert_uint_eq(full.tokenizer_checksum, checksum);
    ck_assert_int_eq(first.file_size, full.file_size);
    ck_assert_int_eq(first.model.vocab_size, 300);
    ck_assert_uint_eq(first.struct_size, SIZE_THROUGH(spdf_checkpoint_info, file_size));
    ck_assert_int_eq((unsigned char)((const unsigned char *)&first.has_tokenizer)[0], SENTINEL);
}
END_TEST

static Suite *struct_size_suite(void)
{
    Suite *suite = suite_create("struct_size");
    TCase *tc = tcase_create("struct_size");
    tcase_add_unchecked_fixture(tc, fixture_create, fixture_free);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, input_sizes, 0, NUM_INPUTS);
    tcase_add_loop_test(tc, output_sizes, 0, NUM_OUTPUTS);
    tcase_add_test(tc, kernel_info_first_layout_matches_the_full_one);
    tcase_add_test(tc, checkpoint_info_first_layout_matches_the_full_one);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(struct_size_suite());
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
