/* What a caller can get wrong, and what a bad file can smuggle in, must end in a clear status:
 * non-finite weights in forward, generation and the loaders; an optimizer step after a failed
 * forward pass; handles of the wrong kind or already freed; temporary files of killed saves. */
#include "spdf.h"
#include "common/fixtures.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { V = 29, MAXT = 16, L = 1, NH = 2, C = 16, B = 2, T = 6 };

#define MUST(call) ck_assert_msg((call) == SPDF_OK, "%s: %s", #call, spdf_last_error())

static spdf_model *make_model(spdf_context *ctx)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = V;
    mc.max_seq_len = MAXT;
    mc.num_layers = L;
    mc.num_heads = NH;
    mc.channels = C;
    spdf_model *model = NULL;
    MUST(spdf_model_create(ctx, &mc, &model));
    return model;
}

static void batch(int32_t *inputs, int32_t *targets)
{
    for (int i = 0; i < B * T; i++) {
        inputs[i] = (i * 7 + 3) % V;
        targets[i] = (i * 5 + 1) % V;
    }
}

/* Sets element `at` of the named tensor to value. */
static void poison_weight(spdf_model *model, const char *name, int64_t at, float value)
{
    int32_t index = -1;
    MUST(spdf_model_tensor_find(model, name, &index));
    float *data = NULL;
    MUST(spdf_model_tensor_data(model, index, &data));
    data[at] = value;
}

static void expect(spdf_status got, spdf_status want, const char *needle, const char *what)
{
    ck_assert_msg(got == want, "%s: got %s, want %s (%s)", what, spdf_status_name(got),
                  spdf_status_name(want), spdf_last_error());
    if (needle)
        ck_assert_msg(strstr(spdf_last_error(), needle), "%s: \"%s\" lacks \"%s\"", what,
                      spdf_last_error(), needle);
}

/* ---- non-finite weights ---- */

/* The softmax, cross-entropy and GELU exps meet the NaN (undefined behaviour in the old exp,
 * which the sanitizer build's float-cast-overflow check catches) and forward reports it. */
START_TEST(nan_weight_fails_forward_cleanly)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *model = make_model(ctx);
    poison_weight(model, "h.0.attn.c_attn.weight", 5, NAN);
    int32_t inputs[B * T], targets[B * T];
    batch(inputs, targets);
    float loss = 0;
    expect(spdf_model_forward(model, inputs, targets, NULL, B, T, &loss), SPDF_ENUMERIC, "not finite",
           "forward");
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(nan_weight_fails_generation)
{
    spdf_context *ctx = test_context(NULL, 1);
    spdf_model *model = make_model(ctx);
    poison_weight(model, "wte", 3 * C + 1, NAN);
    const int32_t prompt[] = {3, 4, 5};
    const int strategies[] = {SPDF_DECODE_GREEDY, SPDF_DECODE_BEAM, SPDF_DECODE_SAMPLE};
    for (int use_cache = 0; use_cache < 2; use_cache++)
        for (int i = 0; i < 3; i++) {
            if (!use_cache && strategies[i] == SPDF_DECODE_BEAM) continue; /* needs the cache */
            spdf_generate_config gc;
            spdf_generate_config_init(&gc);
            gc.strategy = strategies[i];
            gc.max_new_tokens = 4;
            gc.stop_token = -1;
            gc.use_kv_cache = use_cache;
            int32_t out[8], length = -1;
            char what[64];
            snprintf(what, sizeof what, "strategy %d, cache %d", strategies[i], use_cache);
            expect(spdf_generate(model, prompt, 3, &gc, out, 8, &length), SPDF_ENUMERIC, "not finite",
                   what);
        }
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* A failed forward pass is not a step: no update, no step counted. */
START_TEST(optimizer_step_needs_a_backward_pass)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *model = make_model(ctx);
    spdf_optimizer *opt = NULL;
    MUST(spdf_optimizer_create(model, NULL, &opt));
    int32_t inputs[B * T], targets[B * T];
    batch(inputs, targets);
    float loss = 0, wpe_before[MAXT * C], wpe_after[MAXT * C];
    expect(spdf_optimizer_step(opt, NULL, NULL), SPDF_ESTATE, "backward", "step before any pass");
    MUST(spdf_model_forward(model, inputs, targets, NULL, B, T, &loss));
    MUST(spdf_model_backward(model));
    MUST(spdf_optimizer_step(opt, NULL, NULL));
    int32_t wpe = -1;
    MUST(spdf_model_tensor_find(model, "wpe", &wpe));
    MUST(spdf_model_tensor_read(model, wpe, wpe_before, MAXT * C));
    poison_weight(model, "h.0.mlp.c_fc.weight", 2, INFINITY);
    expect(spdf_model_forward(model, inputs, targets, NULL, B, T, &loss), SPDF_ENUMERIC, NULL,
           "forward");
    expect(spdf_model_backward(model), SPDF_ESTATE, NULL, "backward after the failed forward");
    expect(spdf_optimizer_step(opt, NULL, NULL), SPDF_ESTATE, "backward", "step");
    int64_t step = -1;
    MUST(spdf_optimizer_get_step(opt, &step));
    ck_assert_int_eq(step, 1);
    MUST(spdf_model_tensor_read(model, wpe, wpe_after, MAXT * C));
    ck_assert_int_eq(memcmp(wpe_before, wpe_after, sizeof wpe_before), 0);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* A NaN in a position row no batch reaches would train and save silently: loaders refuse it,
 * naming the tensor. */
START_TEST(loaders_refuse_non_finite_weights)
{
    spdf_context *ctx = test_context(NULL, 2);
    spdf_model *model = make_model(ctx);
    poison_weight(model, "wpe", (MAXT - 1) * C + 2, NAN);
    const char *ckpt = scratch_path("nan.ckpt"), *st = scratch_path("nan.safetensors");
    MUST(spdf_checkpoint_save(ckpt, model, NULL, NULL));
    MUST(spdf_model_export_safetensors(model, st));
    spdf_model *loaded = NULL;
    expect(spdf_checkpoint_load(ckpt, ctx, &loaded, NULL, NULL, NULL), SPDF_EFORMAT, "wpe",
           "checkpoint");
    ck_assert_ptr_null(loaded);
    spdf_import_config ic;
    spdf_import_config_init(&ic);
    ic.num_heads = NH;
    expect(spdf_model_import_safetensors(ctx, st, &ic, &loaded), SPDF_EFORMAT, "wpe", "safetensors");
    ck_assert_ptr_null(loaded);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* ---- handles ---- */

START_TEST(handles_of_the_wrong_kind_are_refused)
{
    spdf_context *ctx = test_context(NULL, 1);
    spdf_model *model = make_model(ctx);
    spdf_optimizer *opt = NULL;
    MUST(spdf_optimizer_create(model, NULL, &opt));
    const int32_t ids[] = {1, 2, 3, 4, 5, 6, 7, 8};
    spdf_dataset *ds = NULL;
    MUST(spdf_dataset_from_tokens(ids, 8, &ds));
    int64_t step = 0;
    expect(spdf_optimizer_get_step((const spdf_optimizer *)(const void *)model, &step), SPDF_EINVAL,
           "must be an optimizer handle, but it is a model", "model as optimizer");
    int64_t count = 0;
    expect(spdf_model_num_params((const spdf_model *)(const void *)ds, &count), SPDF_EINVAL,
           "but it is a dataset", "dataset as model");
    expect(spdf_dataset_size((const spdf_dataset *)(const void *)ctx, &count), SPDF_EINVAL,
           "but it is a context", "context as dataset");
    expect(spdf_model_create((spdf_context *)(void *)opt, NULL, &model), SPDF_EINVAL,
           "must be a context handle", "optimizer as context");
    /* the free functions ignore what is not theirs */
    spdf_model_free((spdf_model *)(void *)ds);
    spdf_dataset_free((spdf_dataset *)(void *)model);
    MUST(spdf_model_num_params(model, &count));
    MUST(spdf_dataset_size(ds, &count));
    ck_assert_int_eq(count, 8);
    spdf_dataset_free(ds);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

#ifndef SPDF_TEST_NO_FREED_HANDLES
/* Best effort, as the header says: the tag of a freed handle is overwritten, so a use after free
 * is SPDF_EINVAL as long as the memory has not been handed out again.  (Not built under
 * AddressSanitizer, which reports the read itself.) */
START_TEST(freed_handles_are_refused)
{
    spdf_context *ctx = test_context(NULL, 1);
    spdf_model *model = make_model(ctx);
    spdf_model_free(model);
    int64_t count = 0;
    expect(spdf_model_num_params(model, &count), SPDF_EINVAL, "model", "freed model");
    spdf_model_free(model); /* a second free is ignored */
    spdf_context_free(ctx);
}
END_TEST
#endif

/* ---- temporary files of killed saves ---- */

/* A pid that belonged to a process that has ended (its child, reaped). */
static long ended_pid(void)
{
    const pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) _exit(0);
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    return (long)child;
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("partial", f);
    fclose(f);
}

START_TEST(stale_temporaries_are_removed_live_ones_kept)
{
    spdf_context *ctx = test_context(NULL, 1);
    spdf_model *model = make_model(ctx);
    const char *path = scratch_path("run.ckpt");
    char dead[4200], live[4200], other[4200];
    snprintf(dead, sizeof dead, "%s.tmp.%ld.0", path, ended_pid());
    snprintf(live, sizeof live, "%s.tmp.%ld.3", path, (long)getppid()); /* the test runner */
    snprintf(other, sizeof other, "%s.tmp.%ld.0", scratch_path("other.ckpt"), ended_pid());
    touch(dead);
    touch(live);
    touch(other);
    MUST(spdf_checkpoint_save(path, model, NULL, NULL));
    ck_assert_msg(access(dead, F_OK) != 0, "the temporary of an ended save is still there");
    ck_assert_msg(access(live, F_OK) == 0, "the temporary of a live process was removed");
    ck_assert_msg(access(other, F_OK) == 0, "a temporary of another path was removed");
    ck_assert_int_eq(scratch_count(".tmp."), 2);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

static Suite *misuse_suite(void)
{
    Suite *s = suite_create("misuse");
    TCase *numeric = tcase_create("non-finite");
    tcase_add_checked_fixture(numeric, scratch_create, scratch_remove);
    tcase_add_test(numeric, nan_weight_fails_forward_cleanly);
    tcase_add_test(numeric, nan_weight_fails_generation);
    tcase_add_test(numeric, optimizer_step_needs_a_backward_pass);
    tcase_add_test(numeric, loaders_refuse_non_finite_weights);
    suite_add_tcase(s, numeric);
    TCase *handles = tcase_create("handles");
    tcase_add_test(handles, handles_of_the_wrong_kind_are_refused);
#ifndef SPDF_TEST_NO_FREED_HANDLES
    tcase_add_test(handles, freed_handles_are_refused);
#endif
    suite_add_tcase(s, handles);
    TCase *files = tcase_create("files");
    tcase_add_checked_fixture(files, scratch_create, scratch_remove);
    tcase_add_test(files, stale_temporaries_are_removed_live_ones_kept);
    suite_add_tcase(s, files);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(misuse_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
