/* The threading rules of include/spdf.h ("Threads." in the conventions), tested as written: two
 * model families trained at once from two threads of one process give bit for bit what each
 * gives alone; functions without a handle argument give the same results from two threads at
 * once as from one; spdf_last_error() is per thread.
 *
 * The worker threads never call Check's assertions (a failing one would exit or longjmp out of
 * the wrong thread): they record what they saw and the main thread asserts after joining them.
 * Nor do they call scratch_path(), whose rotating static buffers are not thread-safe. */
#include "spdf.h"
#include "common/fixtures.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    VOCAB = 64,
    CONTEXT = 16,
    LAYERS = 2,
    BATCH = 8,
    DATA_TOKENS = 2048,
    TRAIN_STEPS = 40, /* enough for greedy continuations that follow the data's pattern */
    MIDWAY = TRAIN_STEPS / 2, /* the sparse family turns dense here; every family saves here */
    PROMPT_LENGTH = 4,
    PATH_CAP = 4096 + 64,
    FAILURE_CAP = 1024,
    /* Points where the two trainers wait for each other: one before every step, one before the
     * final save, one before generation.  A trainer that fails early still passes all of them,
     * so its partner is never left waiting. */
    SYNC_POINTS = TRAIN_STEPS + 2,
    HANDLE_FREE_ITERATIONS = 200,
    ERROR_ROUNDS = 24,
};

#define MUST(call) ck_assert_msg((call) == SPDF_OK, "%s: %s", #call, spdf_last_error())

static void *checked_malloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) abort();
    return p;
}

/* ================================================================================================
 * 1. Two model families, alone and at once
 * ============================================================================================== */

/* Everything that makes a family differ from the other, so that a mix-up of any of its state
 * between the threads would change some result. */
typedef struct family_spec {
    const char *name;
    int32_t channels;
    int32_t num_heads;
    uint64_t model_seed;
    int32_t data_stride; /* the data's learnable pattern: token i is i * stride mod VOCAB */
    uint64_t data_seed;  /* and every fifth token is random instead */
    uint64_t sampler_seed;
    uint64_t mask_seed; /* 0: dense throughout; else sparse (75 %) until MIDWAY, then dense */
    float learning_rate;
} family_spec;

static const family_spec families[2] = {
    {"sparse-then-dense", 32, 2, 1101, 7, 2101, 3101, 4101, 1e-2f},
    {"dense", 48, 4, 1202, 5, 2202, 3202, 0, 8e-3f},
};

/* What a run produces; every field is compared with the run of the same family alone. */
typedef struct family_result {
    float losses[TRAIN_STEPS];
    float *weights; /* every tensor in index order after training */
    int64_t weight_count;
    float *loaded_weights; /* the same, read from the model loaded back from the checkpoint */
    int64_t loaded_count;
    unsigned char *midway_checkpoint, *final_checkpoint; /* the files' bytes */
    size_t midway_size, final_size;
    float logits[CONTEXT * VOCAB]; /* of the loaded model on the data's first window */
    int32_t generated[CONTEXT];
    int32_t generated_length;
    char failure[FAILURE_CAP]; /* the first failure, "" if none */
} family_result;

typedef struct family_run {
    const family_spec *spec;
    spdf_context *ctx;
    char midway_path[PATH_CAP], final_path[PATH_CAP];
    pthread_barrier_t *lockstep; /* shared with the other trainer; NULL for a run alone */
    int syncs;
    spdf_dataset *data;
    spdf_sampler *sampler;
    spdf_model *model;
    spdf_optimizer *opt;
    spdf_mask *mask;
    spdf_phase *phase;
    int32_t prompt[PROMPT_LENGTH];
    int32_t window[CONTEXT];
    family_result result;
} family_run;

/* Records the first failure of a run and returns 0, so callers can `return failed(...)`. */
static int failed(family_run *run, const char *what, const char *detail)
{
    if (!run->result.failure[0])
        snprintf(run->result.failure, FAILURE_CAP, "%s: %.300s: %.600s", run->spec->name, what,
                 detail);
    return 0;
}

#define TRY(run, call)                                                                            \
    do {                                                                                          \
        const spdf_status try_status = (call);                                                    \
        if (try_status != SPDF_OK) return failed((run), #call, spdf_last_error());                \
    } while (0)

static void sync_point(family_run *run)
{
    if (run->lockstep) pthread_barrier_wait(run->lockstep);
    run->syncs++;
}

/* A file's bytes, or NULL. */
static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *bytes = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        bytes = checked_malloc((size_t)n);
        if (fread(bytes, 1, (size_t)n, f) != (size_t)n) {
            free(bytes);
            bytes = NULL;
        }
    }
    fclose(f);
    *size = (size_t)n;
    return bytes;
}

/* Every tensor of the model, in index order, into one new array. */
static int read_weights(family_run *run, const spdf_model *model, float **out, int64_t *count)
{
    int32_t tensors = 0;
    TRY(run, spdf_model_num_tensors(model, &tensors));
    int64_t total = 0;
    for (int32_t i = 0; i < tensors; i++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        TRY(run, spdf_model_tensor_info(model, i, &info));
        total += info.numel;
    }
    float *values = checked_malloc(sizeof(float) * (size_t)total);
    *out = values;
    *count = total;
    for (int32_t i = 0; i < tensors; i++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        TRY(run, spdf_model_tensor_info(model, i, &info));
        TRY(run, spdf_model_tensor_read(model, i, values, info.numel));
        values += info.numel;
    }
    return 1;
}

/* Data (the family's pattern with random tokens mixed in), a model, an optimizer and a phase:
 * sparse under a random mask, or dense. */
static int family_open(family_run *run)
{
    const family_spec *spec = run->spec;
    int32_t *tokens = checked_malloc(sizeof(int32_t) * DATA_TOKENS);
    uint64_t state = spec->data_seed;
    for (int i = 0; i < DATA_TOKENS; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const uint64_t value = i % 5 == 4 ? state >> 33 : (uint64_t)i * (uint64_t)spec->data_stride;
        tokens[i] = (int32_t)(value % VOCAB);
    }
    memcpy(run->prompt, tokens, sizeof run->prompt);
    memcpy(run->window, tokens, sizeof run->window);
    const spdf_status made = spdf_dataset_from_tokens(tokens, DATA_TOKENS, &run->data);
    free(tokens);
    TRY(run, made);
    TRY(run, spdf_sampler_create(run->data, BATCH, CONTEXT, spec->sampler_seed, SPDF_SAMPLE_RANDOM,
                                 &run->sampler));
    spdf_model_config mc;
    TRY(run, spdf_model_config_init(&mc));
    mc.vocab_size = VOCAB;
    mc.max_seq_len = CONTEXT;
    mc.num_layers = LAYERS;
    mc.num_heads = spec->num_heads;
    mc.channels = spec->channels;
    mc.seed = spec->model_seed;
    TRY(run, spdf_model_create(run->ctx, &mc, &run->model));
    spdf_optimizer_config oc;
    TRY(run, spdf_optimizer_config_init(&oc));
    oc.learning_rate = spec->learning_rate;
    oc.warmup_steps = 2;
    oc.total_steps = TRAIN_STEPS;
    TRY(run, spdf_optimizer_create(run->model, &oc, &run->opt));
    if (spec->mask_seed)
        TRY(run, spdf_mask_create(run->model, SPDF_MASK_RANDOM, 0.75f, spec->mask_seed,
                                  &run->mask));
    TRY(run, spdf_phase_create(run->model, run->opt,
                               run->mask ? SPDF_PHASE_SPARSE : SPDF_PHASE_DENSE, run->mask,
                               &run->phase));
    return 1;
}

/* TRAIN_STEPS steps, in step with the other trainer if there is one; the midway checkpoint is
 * saved before the sparse family's transition, so it holds the sparse phase. */
static int family_train(family_run *run)
{
    int32_t inputs[BATCH * CONTEXT], targets[BATCH * CONTEXT];
    for (int step = 0; step < TRAIN_STEPS; step++) {
        sync_point(run);
        if (step == MIDWAY) {
            TRY(run, spdf_checkpoint_save(run->midway_path, run->model, run->opt, run->sampler));
            if (run->mask) {
                spdf_transition_config tc;
                TRY(run, spdf_transition_config_init(&tc));
                tc.restart_schedule = 1;
                TRY(run, spdf_phase_transition(run->phase, SPDF_PHASE_DENSE, NULL, &tc));
            }
        }
        TRY(run, spdf_sampler_next(run->sampler, inputs, targets));
        TRY(run, spdf_model_forward(run->model, inputs, targets, NULL, BATCH, CONTEXT,
                                    &run->result.losses[step]));
        TRY(run, spdf_model_backward(run->model));
        TRY(run, spdf_optimizer_step(run->opt, NULL, NULL));
    }
    return 1;
}

/* The loaded model's logits on the data's first window: every weight counts in them. */
static int loaded_logits(family_run *run, spdf_model *loaded)
{
    TRY(run, spdf_model_forward(loaded, run->window, NULL, NULL, 1, CONTEXT, NULL));
    const float *logits = NULL;
    int32_t B = 0, T = 0, V = 0;
    TRY(run, spdf_model_logits(loaded, &logits, &B, &T, &V));
    if (B != 1 || T != CONTEXT || V != VOCAB) return failed(run, "spdf_model_logits", "shape");
    memcpy(run->result.logits, logits, sizeof run->result.logits);
    return 1;
}

/* Reads the weights, saves the final checkpoint, loads it back into new handles on the same
 * context, and computes logits and continues the prompt greedily with the loaded model. */
static int family_finish(family_run *run)
{
    family_result *r = &run->result;
    if (!read_weights(run, run->model, &r->weights, &r->weight_count)) return 0;
    sync_point(run);
    TRY(run, spdf_checkpoint_save(run->final_path, run->model, run->opt, run->sampler));
    r->midway_checkpoint = slurp(run->midway_path, &r->midway_size);
    r->final_checkpoint = slurp(run->final_path, &r->final_size);
    if (!r->midway_checkpoint || !r->final_checkpoint)
        return failed(run, "reading the checkpoints back", run->final_path);
    spdf_model *loaded = NULL;
    spdf_optimizer *loaded_opt = NULL;
    spdf_phase *loaded_phase = NULL;
    const spdf_status status = spdf_checkpoint_load(run->final_path, run->ctx, &loaded,
                                                    &loaded_opt, &loaded_phase, NULL);
    int ok = status == SPDF_OK ? 1 : failed(run, "spdf_checkpoint_load", spdf_last_error());
    if (ok) ok = read_weights(run, loaded, &r->loaded_weights, &r->loaded_count);
    if (ok) ok = loaded_logits(run, loaded);
    sync_point(run);
    if (ok) {
        spdf_generate_config gc;
        spdf_generate_config_init(&gc);
        gc.strategy = SPDF_DECODE_GREEDY;
        gc.max_new_tokens = CONTEXT - PROMPT_LENGTH;
        gc.stop_token = -1;
        if (spdf_generate(loaded, run->prompt, PROMPT_LENGTH, &gc, r->generated, CONTEXT,
                          &r->generated_length) != SPDF_OK)
            ok = failed(run, "spdf_generate", spdf_last_error());
    }
    spdf_phase_free(loaded_phase);
    spdf_optimizer_free(loaded_opt);
    spdf_model_free(loaded);
    return ok;
}

/* One whole run; the context is the caller's.  The handles are freed in the order the header
 * asks for (a handle before the one it was created from). */
static void family_run_all(family_run *run)
{
    if (family_open(run) && family_train(run)) family_finish(run);
    spdf_phase_free(run->phase);
    spdf_optimizer_free(run->opt);
    spdf_mask_free(run->mask);
    spdf_model_free(run->model);
    spdf_sampler_free(run->sampler);
    spdf_dataset_free(run->data);
    while (run->syncs < SYNC_POINTS) sync_point(run);
}

static void *family_thread(void *arg)
{
    family_run_all(arg);
    return NULL;
}

/* A run's handles and file names.  One thread in each context: with two cores, two trainers of
 * one thread each keep the cores busy without oversubscribing them. */
static void family_prepare(family_run *run, const family_spec *spec, const char *tag,
                           pthread_barrier_t *lockstep)
{
    memset(run, 0, sizeof *run);
    run->spec = spec;
    run->ctx = test_context(NULL, 1);
    int32_t threads = 0;
    MUST(spdf_context_num_threads(run->ctx, &threads));
    ck_assert_int_eq(threads, 1);
    snprintf(run->midway_path, PATH_CAP, "%.4000s/%.40s-midway.ckpt", scratch_dir, tag);
    snprintf(run->final_path, PATH_CAP, "%.4000s/%.40s-final.ckpt", scratch_dir, tag);
    run->lockstep = lockstep;
}

static void family_result_free(family_result *r)
{
    free(r->weights);
    free(r->loaded_weights);
    free(r->midway_checkpoint);
    free(r->final_checkpoint);
}

/* `what` names the two things compared ("x alone and beside the other family"). */
static void expect_same_bytes(const char *family, const char *what, const void *a, size_t a_size,
                              const void *b, size_t b_size)
{
    ck_assert_msg(a_size == b_size, "%s: %s: %zu bytes and %zu bytes", family, what, a_size,
                  b_size);
    ck_assert_msg(memcmp(a, b, a_size) == 0, "%s: %s are not the same bytes", family, what);
}

/* The run beside the other family must have produced exactly what the run alone did. */
static void expect_same_run(const char *family, const family_result *alone,
                            const family_result *together)
{
#define SAME_AS_ALONE(what, field, size)                                                          \
    expect_same_bytes(family, what " alone and beside the other family", alone->field,           \
                      (size_t)alone->size, together->field, (size_t)together->size)
    expect_same_bytes(family, "the losses of every step alone and beside the other family",
                      alone->losses, sizeof alone->losses, together->losses,
                      sizeof together->losses);
    SAME_AS_ALONE("the trained weights", weights, weight_count * sizeof(float));
    SAME_AS_ALONE("the midway (sparse or dense) checkpoints", midway_checkpoint, midway_size);
    SAME_AS_ALONE("the final checkpoints", final_checkpoint, final_size);
    SAME_AS_ALONE("the weights loaded from the checkpoints", loaded_weights,
                  loaded_count * sizeof(float));
    expect_same_bytes(family, "the loaded model's logits alone and beside the other family",
                      alone->logits, sizeof alone->logits, together->logits,
                      sizeof together->logits);
    SAME_AS_ALONE("the greedy continuations", generated, generated_length * sizeof(int32_t));
#undef SAME_AS_ALONE
}

/* What a run must satisfy on its own, alone or not: it finished, the loaded model holds the
 * saved weights, and generation filled the context. */
static void expect_complete_run(const char *family, const char *how, const family_result *r)
{
    ck_assert_msg(!r->failure[0], "%s: %s", how, r->failure);
    expect_same_bytes(family, "the trained weights and those loaded from the checkpoint",
                      r->weights, sizeof(float) * (size_t)r->weight_count, r->loaded_weights,
                      sizeof(float) * (size_t)r->loaded_count);
    ck_assert_msg(r->generated_length == CONTEXT - PROMPT_LENGTH, "%s %s: %d tokens generated",
                  family, how, (int)r->generated_length);
}

START_TEST(two_families_at_once_train_as_each_does_alone)
{
    family_run alone[2], together[2];
    for (int f = 0; f < 2; f++) {
        char tag[64];
        snprintf(tag, sizeof tag, "alone-%d", f);
        family_prepare(&alone[f], &families[f], tag, NULL);
        family_run_all(&alone[f]);
        spdf_context_free(alone[f].ctx);
        expect_complete_run(families[f].name, "alone", &alone[f].result);
    }
    /* The sparse family really was sparse at the midway save and dense at the end. */
    spdf_checkpoint_info midway_info = {.struct_size = sizeof midway_info};
    spdf_checkpoint_info final_info = {.struct_size = sizeof final_info};
    MUST(spdf_checkpoint_info_read(alone[0].midway_path, &midway_info));
    MUST(spdf_checkpoint_info_read(alone[0].final_path, &final_info));
    ck_assert_int_eq(midway_info.phase, SPDF_PHASE_SPARSE);
    ck_assert_int_eq(final_info.phase, SPDF_PHASE_DENSE);
    /* The families differ from the first step on, so a mix-up between them would show. */
    ck_assert_msg(memcmp(alone[0].result.losses, alone[1].result.losses,
                         sizeof alone[0].result.losses),
                  "the two families have the same losses: they cannot tell a mix-up");

    pthread_barrier_t lockstep;
    ck_assert_int_eq(pthread_barrier_init(&lockstep, NULL, 2), 0);
    pthread_t threads[2];
    for (int f = 0; f < 2; f++) {
        char tag[64];
        snprintf(tag, sizeof tag, "together-%d", f);
        family_prepare(&together[f], &families[f], tag, &lockstep);
    }
    for (int f = 0; f < 2; f++)
        ck_assert_int_eq(pthread_create(&threads[f], NULL, family_thread, &together[f]), 0);
    for (int f = 0; f < 2; f++) ck_assert_int_eq(pthread_join(threads[f], NULL), 0);
    pthread_barrier_destroy(&lockstep);

    for (int f = 0; f < 2; f++) {
        spdf_context_free(together[f].ctx);
        expect_complete_run(families[f].name, "beside the other family", &together[f].result);
        expect_same_run(families[f].name, &alone[f].result, &together[f].result);
        family_result_free(&alone[f].result);
        family_result_free(&together[f].result);
    }
}
END_TEST

/* ================================================================================================
 * 2. Functions without a handle argument, from two threads at once
 * ============================================================================================== */

enum { BLEU_CASES = 3, TEXT_CAP = 96, STATUS_NAMES = SPDF_EINTERNAL + 2 };

static const char *const bleu_hypotheses[BLEU_CASES] = {
    "The Eagle is a cheap coffee shop near Burger King.",
    "Aromi serves French food, it's family-friendly & rated 5 out of 5.",
    "\xce\x9a\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1 world",
};
static const char *const bleu_references[BLEU_CASES][2] = {
    {"The Eagle is a low-priced coffee shop near Burger King.", "Near Burger King: The Eagle."},
    {"Aromi is a family-friendly French restaurant rated 5 out of 5.", "Aromi: French, 5/5."},
    {"\xce\x9a\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1 world!", "hello world"},
};
static const char byte_text[] = "name[The Eagle], food[French]\n\x01\xff\x80 done";

/* Everything the handle-free calls return; compared field by field (no padding is compared). */
typedef struct handle_free_results {
    spdf_status statuses[BLEU_CASES + 6];
    double sentence_bleu[BLEU_CASES];
    double stats_bleu;
    int32_t encoded[TEXT_CAP];
    size_t encoded_count;
    char decoded[TEXT_CAP + 32];
    size_t decoded_length;
    spdf_flop_report flops;
    spdf_checkpoint_info info;
    char status_names[STATUS_NAMES * 24];
} handle_free_results;

static void handle_free_compute(const char *checkpoint, handle_free_results *r)
{
    memset(r, 0, sizeof *r);
    int call = 0;
    spdf_bleu_options options;
    r->statuses[call++] = spdf_bleu_options_init(&options);
    options.smooth = SPDF_BLEU_SMOOTH_ADD_K;
    for (int i = 0; i < BLEU_CASES; i++)
        r->statuses[call++] = spdf_sentence_bleu(bleu_hypotheses[i], bleu_references[i], 2,
                                                 i == 1 ? &options : NULL, &r->sentence_bleu[i]);
    const int64_t matches[4] = {17, 9, 4, 1}, totals[4] = {20, 19, 18, 17};
    r->statuses[call++] = spdf_bleu_from_stats(NULL, matches, totals, 20, 23, &r->stats_bleu);
    r->statuses[call++] = spdf_byte_encode(byte_text, sizeof byte_text - 1, r->encoded, TEXT_CAP,
                                           &r->encoded_count);
    if (r->encoded_count >= TEXT_CAP) return; /* the statuses and the count tell */
    r->encoded[r->encoded_count] = SPDF_TOKEN_EOT; /* decoded as "<|endoftext|>" */
    r->statuses[call++] = spdf_byte_decode(r->encoded, r->encoded_count + 1, r->decoded,
                                           sizeof r->decoded, &r->decoded_length);
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    r->flops.struct_size = sizeof r->flops;
    r->statuses[call++] = spdf_flops(&mc, 128, 8, 0.75f, &r->flops);
    r->info.struct_size = sizeof r->info;
    r->statuses[call++] = spdf_checkpoint_info_read(checkpoint, &r->info);
    size_t used = 0;
    for (int s = 0; s < STATUS_NAMES; s++) /* the last one is outside the enum */
        used += (size_t)snprintf(r->status_names + used, sizeof r->status_names - used, "%s,",
                                 spdf_status_name((spdf_status)s));
}

/* Name of the first field where two results differ, or NULL. */
static const char *handle_free_difference(const handle_free_results *a,
                                          const handle_free_results *b)
{
#define SAME_FIELD(field) if (memcmp(&a->field, &b->field, sizeof a->field)) return #field
    SAME_FIELD(statuses);
    SAME_FIELD(sentence_bleu);
    SAME_FIELD(stats_bleu);
    SAME_FIELD(encoded);
    SAME_FIELD(encoded_count);
    SAME_FIELD(decoded);
    SAME_FIELD(decoded_length);
    SAME_FIELD(flops);
    SAME_FIELD(info);
    SAME_FIELD(status_names);
#undef SAME_FIELD
    return NULL;
}

typedef struct handle_free_thread {
    const handle_free_results *reference;
    const char *checkpoint;
    pthread_barrier_t *start;
    int mismatches;
    char first_mismatch[128];
} handle_free_thread;

static void *handle_free_body(void *arg)
{
    handle_free_thread *t = arg;
    pthread_barrier_wait(t->start);
    for (int i = 0; i < HANDLE_FREE_ITERATIONS; i++) {
        handle_free_results mine;
        handle_free_compute(t->checkpoint, &mine);
        const char *field = handle_free_difference(t->reference, &mine);
        if (field && t->mismatches++ == 0)
            snprintf(t->first_mismatch, sizeof t->first_mismatch, "%s in iteration %d", field, i);
    }
    return NULL;
}

/* A small checkpoint for spdf_checkpoint_info_read to read: a model after one step. */
static void save_small_checkpoint(const char *path)
{
    spdf_context *ctx = test_context(NULL, 1);
    spdf_model_config mc;
    MUST(spdf_model_config_init(&mc));
    mc.vocab_size = VOCAB;
    mc.max_seq_len = CONTEXT;
    mc.num_layers = 1;
    mc.num_heads = 2;
    mc.channels = 16;
    spdf_model *model = NULL;
    MUST(spdf_model_create(ctx, &mc, &model));
    spdf_optimizer *opt = NULL;
    MUST(spdf_optimizer_create(model, NULL, &opt));
    int32_t tokens[CONTEXT];
    for (int i = 0; i < CONTEXT; i++) tokens[i] = (i * 5 + 1) % VOCAB;
    float loss = 0;
    MUST(spdf_model_forward(model, tokens, tokens, NULL, 1, CONTEXT, &loss));
    MUST(spdf_model_backward(model));
    MUST(spdf_optimizer_step(opt, NULL, NULL));
    MUST(spdf_checkpoint_save(path, model, opt, NULL));
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
}

START_TEST(handle_free_functions_agree_across_threads)
{
    const char *checkpoint = scratch_path("info.ckpt");
    save_small_checkpoint(checkpoint);
    handle_free_results reference;
    handle_free_compute(checkpoint, &reference);
    /* The reference must come from calls that worked, or agreement would prove little. */
    for (size_t i = 0; i < sizeof reference.statuses / sizeof reference.statuses[0]; i++)
        ck_assert_msg(reference.statuses[i] == SPDF_OK, "call %zu on one thread: %s", i,
                      spdf_status_name(reference.statuses[i]));
    ck_assert_uint_eq(reference.encoded_count, sizeof byte_text - 1);
    ck_assert_int_eq(reference.info.step, 1);
    ck_assert_int_eq(reference.info.model.channels, 16);

    pthread_barrier_t start;
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
    handle_free_thread work[2];
    pthread_t threads[2];
    for (int t = 0; t < 2; t++) {
        work[t] = (handle_free_thread){.reference = &reference, .checkpoint = checkpoint,
                                       .start = &start};
        ck_assert_int_eq(pthread_create(&threads[t], NULL, handle_free_body, &work[t]), 0);
    }
    for (int t = 0; t < 2; t++) ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < 2; t++) {
        ck_assert_msg(work[t].mismatches == 0, "thread %d: %d of %d iterations differ from one "
                      "thread's results, first: %s", t, work[t].mismatches,
                      HANDLE_FREE_ITERATIONS, work[t].first_mismatch);
    }
}
END_TEST

/* ================================================================================================
 * 3. spdf_last_error() is per thread
 * ============================================================================================== */

typedef struct error_thread {
    int index;
    spdf_context *ctx; /* this thread's own: a handle is used by one thread at a time */
    pthread_barrier_t *sync;
    int problems;
    char first_problem[FAILURE_CAP];
} error_thread;

/* The file thread `index` fails to load in `round` (`second`: its failure while the other
 * thread is idle).  Built from scratch_dir, which no thread changes. */
static void missing_path(char *path, int index, int round, int second)
{
    snprintf(path, PATH_CAP, "%s/missing-%s%d-%d.ckpt", scratch_dir, second ? "again-" : "",
             index, round);
}

static void error_expect(error_thread *t, int ok, const char *what, int round, const char *error)
{
    if (ok || t->problems++) return;
    snprintf(t->first_problem, FAILURE_CAP,
             "thread %d, round %d: %.200s; spdf_last_error() = \"%.600s\"",
             t->index, round, what, error);
}

/* Each round: both threads fail at once on their own paths and each finds its own path in its
 * spdf_last_error(), not the other's; then one thread fails again while the other waits, and
 * the waiting thread's detail must be unchanged. */
static void *error_body(void *arg)
{
    error_thread *t = arg;
    const int other = 1 - t->index;
    char mine[PATH_CAP], theirs[PATH_CAP], theirs_again[PATH_CAP], kept[FAILURE_CAP];
    for (int round = 0; round < ERROR_ROUNDS; round++) {
        missing_path(mine, t->index, round, 0);
        missing_path(theirs, other, round, 0);
        missing_path(theirs_again, other, round, 1);
        spdf_model *model = NULL;
        pthread_barrier_wait(t->sync);
        const spdf_status status = spdf_checkpoint_load(mine, t->ctx, &model, NULL, NULL, NULL);
        pthread_barrier_wait(t->sync);
        snprintf(kept, sizeof kept, "%s", spdf_last_error());
        error_expect(t, status == SPDF_EIO, "loading a missing file is not SPDF_EIO", round, kept);
        error_expect(t, model == NULL, "a failed load wrote its output", round, kept);
        error_expect(t, strstr(kept, mine) != NULL, "my path is not in my error", round, kept);
        error_expect(t, strstr(kept, theirs) == NULL, "the other thread's path is in my error",
                     round, kept);
        const int i_fail_again = round % 2 == t->index;
        pthread_barrier_wait(t->sync);
        if (i_fail_again) {
            char again[PATH_CAP];
            missing_path(again, t->index, round, 1);
            spdf_checkpoint_info info = {.struct_size = sizeof info};
            error_expect(t, spdf_checkpoint_info_read(again, &info) != SPDF_OK,
                         "reading a missing file's info worked", round, spdf_last_error());
        }
        pthread_barrier_wait(t->sync);
        if (!i_fail_again) {
            const char *now = spdf_last_error();
            error_expect(t, strcmp(now, kept) == 0,
                         "my error changed while the other thread failed", round, now);
            error_expect(t, strstr(now, theirs_again) == NULL,
                         "the other thread's later path is in my error", round, now);
        }
    }
    return NULL;
}

START_TEST(last_error_is_per_thread)
{
    pthread_barrier_t sync;
    ck_assert_int_eq(pthread_barrier_init(&sync, NULL, 2), 0);
    error_thread work[2];
    pthread_t threads[2];
    for (int t = 0; t < 2; t++) {
        work[t] = (error_thread){.index = t, .ctx = test_context(NULL, 1), .sync = &sync};
        ck_assert_int_eq(pthread_create(&threads[t], NULL, error_body, &work[t]), 0);
    }
    for (int t = 0; t < 2; t++) ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
    pthread_barrier_destroy(&sync);
    for (int t = 0; t < 2; t++) {
        spdf_context_free(work[t].ctx);
        ck_assert_msg(work[t].problems == 0, "%d problems, first: %s", work[t].problems,
                      work[t].first_problem);
    }
}
END_TEST

static Suite *concurrency_suite(void)
{
    Suite *s = suite_create("concurrency");
    /* Unchecked fixtures: the runner's process removes the scratch directory even when a test's
     * process ends in a failed assertion. */
    TCase *families_case = tcase_create("families");
    tcase_add_unchecked_fixture(families_case, scratch_create, scratch_remove);
    tcase_add_test(families_case, two_families_at_once_train_as_each_does_alone);
    suite_add_tcase(s, families_case);
    TCase *handle_free = tcase_create("handle-free");
    tcase_add_unchecked_fixture(handle_free, scratch_create, scratch_remove);
    tcase_add_test(handle_free, handle_free_functions_agree_across_threads);
    suite_add_tcase(s, handle_free);
    TCase *errors = tcase_create("last-error");
    tcase_add_unchecked_fixture(errors, scratch_create, scratch_remove);
    tcase_add_test(errors, last_error_is_per_thread);
    suite_add_tcase(s, errors);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(concurrency_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
