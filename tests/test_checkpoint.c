/* Tests of checkpoints: bit-identical resume in a fresh process (dense, sparse, across the
 * transition), round trips, the documented layout, corruption and truncation, crashes while
 * saving (SIGKILL), the size of a sparse checkpoint and argument checks. */
#include "spdf.h"
#include "common/fixtures.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The documented layout (docs/checkpoint-format.md). */
#define HEADER_BYTES 40
#define ENTRY_BYTES 24
#define SECTION_CONFIG 1
#define SECTION_MASK 2
#define SECTION_TENSORS 3
#define SECTION_OPTIMIZER 4
#define SECTION_SAMPLER 5
#define SECTION_PLAN 6

/* The small model of most tests, its batches and the run lengths of the resume tests. */
#define SMALL_V 64
#define SMALL_T 16
/* 4C = 192 columns: more than one 128-column tile, so a tiled backend stores the non-zeros of
 * mlp.c_proj out of CSR order and the files must still be canonical. */
#define SMALL_C 48
#define BATCH 4
#define DATA_TOKENS 4096
#define DATA_SEED 99
#define MASK_SEED 7
#define STEPS_BEFORE 4
#define STEPS_AFTER 4

/* Set in the processes started by the tests (see main), which report failures by exit code. */
static int in_child;
/* Backend of the contexts the tests make; NULL for the default (SPDF_BACKEND or "auto"). */
static const char *backend_name;

static void must(spdf_status status, const char *what)
{
    if (status == SPDF_OK) return;
    if (in_child) {
        fprintf(stderr, "child: %s failed: %s: %s\n", what, spdf_status_name(status), spdf_last_error());
        exit(3);
    }
    ck_abort_msg("%s failed: %s: %s", what, spdf_status_name(status), spdf_last_error());
}

#define MUST(expr) must((expr), #expr)

/* ---- scratch directory, one per test case (common/fixtures.h) ---- */

/* Names in the scratch directory that contain ".tmp." (temporary files of a save). */
static int scratch_temporaries(char names[][256], int capacity)
{
    DIR *dir = opendir(scratch_dir);
    ck_assert_ptr_nonnull(dir);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (strstr(entry->d_name, ".tmp.")) {
            if (names && count < capacity) snprintf(names[count], 256, "%s", entry->d_name);
            count++;
        }
    closedir(dir);
    return count;
}

/* ---- files as bytes ---- */

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    const long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    unsigned char *bytes = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_eq(fread(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return bytes;
}

static void write_bytes(const char *path, const unsigned char *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

static long long file_size(const char *path)
{
    struct stat info;
    ck_assert_int_eq(stat(path, &info), 0);
    return (long long)info.st_size;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i);
}

static float get_f32(const unsigned char *p)
{
    const uint32_t bits = get_u32(p);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* CRC-32C bit by bit, written from the documentation rather than taken from the library. */
static uint32_t crc32c(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

typedef struct entry {
    uint32_t id, crc;
    uint64_t offset, size;
} entry;

/* The section table of a checkpoint's bytes. */
static int parse_table(const unsigned char *bytes, entry *entries)
{
    const int count = (int)get_u32(bytes + 16);
    ck_assert_int_ge(count, 1);
    ck_assert_int_le(count, 6);
    for (int i = 0; i < count; i++) {
        const unsigned char *e = bytes + HEADER_BYTES + i * ENTRY_BYTES;
        entries[i] = (entry){get_u32(e), get_u32(e + 4), get_u64(e + 8), get_u64(e + 16)};
    }
    return count;
}

/* Recomputes every checksum after a deliberate change, so that only the meaning is wrong. */
static void resign(unsigned char *bytes)
{
    entry entries[6];
    const int count = parse_table(bytes, entries);
    for (int i = 0; i < count; i++)
        put_u32(bytes + HEADER_BYTES + i * ENTRY_BYTES + 4,
                crc32c(bytes + entries[i].offset, (size_t)entries[i].size));
    put_u32(bytes + 20, crc32c(bytes + HEADER_BYTES, (size_t)count * ENTRY_BYTES));
    put_u32(bytes + 36, crc32c(bytes, 36));
}

/* ---- training runs ---- */

typedef struct run {
    spdf_context *ctx;
    spdf_dataset *data;
    spdf_sampler *sampler;
    spdf_model *model;
    spdf_optimizer *opt;
    spdf_phase *phase;
    spdf_mask *mask;
} run;

static void small_config(spdf_model_config *c)
{
    MUST(spdf_model_config_init(c));
    c->vocab_size = SMALL_V;
    c->max_seq_len = SMALL_T;
    c->num_layers = 2;
    c->num_heads = 2;
    c->channels = SMALL_C;
    c->seed = 1234;
}

static void optimizer_config(spdf_optimizer_config *c)
{
    MUST(spdf_optimizer_config_init(c));
    c->learning_rate = 3e-3f;
    c->warmup_steps = 2;
    c->total_steps = 20;
}


/* Context, a deterministic token stream with some structure to learn, and its sampler. */
static void run_open_data(run *r, int32_t B, uint64_t sampler_seed)
{
    memset(r, 0, sizeof *r);
    r->ctx = test_context(backend_name, 2);
    int32_t *tokens = malloc(sizeof(int32_t) * DATA_TOKENS);
    if (!tokens) abort();
    uint64_t state = 42;
    for (int i = 0; i < DATA_TOKENS; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int32_t)((i % 3 == 0 ? (state >> 33) : (uint64_t)(i / 3) * 5) % SMALL_V);
    }
    MUST(spdf_dataset_from_tokens(tokens, DATA_TOKENS, &r->data));
    free(tokens);
    MUST(spdf_sampler_create(r->data, B, SMALL_T, sampler_seed, SPDF_SAMPLE_RANDOM, &r->sampler));
}

/* A fresh model with an optimizer, dense or under a 75 % random mask. */
static void run_fresh(run *r, int sparse)
{
    spdf_model_config mc;
    small_config(&mc);
    MUST(spdf_model_create(r->ctx, &mc, &r->model));
    spdf_optimizer_config oc;
    optimizer_config(&oc);
    MUST(spdf_optimizer_create(r->model, &oc, &r->opt));
    if (sparse) MUST(spdf_mask_create(r->model, SPDF_MASK_RANDOM, 0.75f, MASK_SEED, &r->mask));
    MUST(spdf_phase_create(r->model, r->opt, sparse ? SPDF_PHASE_SPARSE : SPDF_PHASE_DENSE,
                           sparse ? r->mask : NULL, &r->phase));
}

static void run_train(run *r, int steps, float *losses)
{
    int32_t inputs[BATCH * SMALL_T], targets[BATCH * SMALL_T];
    for (int s = 0; s < steps; s++) {
        MUST(spdf_sampler_next(r->sampler, inputs, targets));
        MUST(spdf_model_forward(r->model, inputs, targets, NULL, BATCH, SMALL_T, &losses[s]));
        MUST(spdf_model_backward(r->model));
        MUST(spdf_optimizer_step(r->opt, NULL, NULL));
    }
}

/* The SPDF transition as fine-tuning wants it: dense, with a new warmup and decay. */
static void run_transition(run *r)
{
    spdf_transition_config tc;
    MUST(spdf_transition_config_init(&tc));
    tc.restart_schedule = 1;
    MUST(spdf_phase_transition(r->phase, SPDF_PHASE_DENSE, NULL, &tc));
}

static void run_close(run *r)
{
    spdf_phase_free(r->phase);
    spdf_optimizer_free(r->opt);
    spdf_mask_free(r->mask);
    spdf_model_free(r->model);
    spdf_sampler_free(r->sampler);
    spdf_dataset_free(r->data);
    spdf_context_free(r->ctx);
    memset(r, 0, sizeof *r);
}

/* FNV-1a over the bytes of every tensor (dense layout). */
static uint64_t weights_hash(const spdf_model *model)
{
    int32_t count = 0;
    MUST(spdf_model_num_tensors(model, &count));
    uint64_t hash = 14695981039346656037ull;
    for (int32_t i = 0; i < count; i++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        MUST(spdf_model_tensor_info(model, i, &info));
        float *values = malloc(sizeof(float) * (size_t)info.numel);
        if (!values) abort();
        MUST(spdf_model_tensor_read(model, i, values, info.numel));
        const unsigned char *p = (const unsigned char *)values;
        for (size_t k = 0; k < sizeof(float) * (size_t)info.numel; k++) hash = (hash ^ p[k]) * 1099511628211ull;
        free(values);
    }
    return hash;
}

/* ---- processes ---- */

enum scenario { SCENARIO_DENSE, SCENARIO_SPARSE, SCENARIO_TRANSITION };

/* Runs this test program again with argv and returns its exit code (128 + signal if killed). */
static int run_self(char *const argv[])
{
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Child: loads the checkpoint, (transition,) trains STEPS_AFTER steps, writes the losses and the
 * hash of the final weights. */
static int child_resume(int scenario, const char *checkpoint, const char *out_path)
{
    run r;
    run_open_data(&r, BATCH, DATA_SEED);
    MUST(spdf_checkpoint_load(checkpoint, r.ctx, &r.model, &r.opt, &r.phase, r.sampler));
    if (scenario == SCENARIO_TRANSITION) run_transition(&r);
    float losses[STEPS_AFTER];
    run_train(&r, STEPS_AFTER, losses);
    const uint64_t hash = weights_hash(r.model);
    run_close(&r);
    FILE *out = fopen(out_path, "wb");
    if (!out || fwrite(losses, sizeof losses, 1, out) != 1 || fwrite(&hash, sizeof hash, 1, out) != 1 ||
        fclose(out) != 0)
        return 4;
    return 0;
}

static void check_resume(int scenario)
{
    const char *checkpoint = scratch_path("resume.ckpt");
    const char *out_path = scratch_path("resume.out");
    run r;
    run_open_data(&r, BATCH, DATA_SEED);
    run_fresh(&r, scenario != SCENARIO_DENSE);
    float losses[STEPS_BEFORE + STEPS_AFTER];
    run_train(&r, STEPS_BEFORE, losses);
    MUST(spdf_checkpoint_save(checkpoint, r.model, r.opt, r.sampler));
    if (scenario == SCENARIO_TRANSITION) run_transition(&r);
    run_train(&r, STEPS_AFTER, losses + STEPS_BEFORE);
    const uint64_t hash = weights_hash(r.model);
    run_close(&r);

    char scenario_arg[16];
    snprintf(scenario_arg, sizeof scenario_arg, "%d", scenario);
    char *argv[] = {"test_checkpoint", "--resume", scenario_arg, (char *)checkpoint,
                    (char *)out_path, NULL};
    ck_assert_int_eq(run_self(argv), 0);
    size_t size = 0;
    unsigned char *resumed = read_bytes(out_path, &size);
    ck_assert_uint_eq(size, sizeof(float) * STEPS_AFTER + sizeof hash);
    for (int s = 0; s < STEPS_AFTER; s++) {
        float loss;
        memcpy(&loss, resumed + sizeof loss * (size_t)s, sizeof loss);
        ck_assert_msg(memcmp(&loss, &losses[STEPS_BEFORE + s], sizeof loss) == 0,
                      "step %d after resuming: loss %.9g, uninterrupted %.9g", STEPS_BEFORE + s,
                      (double)loss, (double)losses[STEPS_BEFORE + s]);
    }
    ck_assert_msg(memcmp(resumed + sizeof(float) * STEPS_AFTER, &hash, sizeof hash) == 0,
                  "the final weights differ from the uninterrupted run's");
    ck_assert_msg(losses[STEPS_BEFORE + STEPS_AFTER - 1] < losses[0], "the runs did not train");
    free(resumed);
}

START_TEST(test_resume_dense) { check_resume(SCENARIO_DENSE); }
END_TEST

START_TEST(test_resume_sparse) { check_resume(SCENARIO_SPARSE); }
END_TEST

START_TEST(test_resume_across_transition) { check_resume(SCENARIO_TRANSITION); }
END_TEST

/* ---- round trips ---- */

static void assert_same_tensors(const spdf_model *a, const spdf_model *b)
{
    int32_t count = 0, count_b = 0;
    MUST(spdf_model_num_tensors(a, &count));
    MUST(spdf_model_num_tensors(b, &count_b));
    ck_assert_int_eq(count, count_b);
    for (int32_t i = 0; i < count; i++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        MUST(spdf_model_tensor_info(a, i, &info));
        float *x = malloc(sizeof(float) * (size_t)info.numel), *y = malloc(sizeof(float) * (size_t)info.numel);
        ck_assert(x && y);
        MUST(spdf_model_tensor_read(a, i, x, info.numel));
        MUST(spdf_model_tensor_read(b, i, y, info.numel));
        ck_assert_msg(memcmp(x, y, sizeof(float) * (size_t)info.numel) == 0, "tensor %s differs",
                      info.name);
        free(x);
        free(y);
    }
}

/* The zero pattern of every masked weight of `model` is exactly the complement of `mask`. */
static void assert_zero_pattern_is_mask(const spdf_model *model, const spdf_mask *mask)
{
    int32_t layers = 0;
    MUST(spdf_mask_num_layers(mask, &layers));
    for (int32_t l = 0; l < layers; l++) {
        spdf_mask_layer_info li = {.struct_size = sizeof li};
        MUST(spdf_mask_get_layer(mask, l, &li));
        const int64_t n = li.rows * li.cols;
        uint8_t *keep = malloc((size_t)n);
        float *w = malloc(sizeof(float) * (size_t)n);
        ck_assert(keep && w);
        MUST(spdf_mask_layer_read(mask, l, keep, n));
        MUST(spdf_model_tensor_read(model, li.tensor_index, w, n));
        for (int64_t k = 0; k < n; k++)
            ck_assert_msg((w[k] != 0.0f) == (keep[k] != 0), "layer %d position %lld: weight %g, "
                          "mask %d", (int)l, (long long)k, (double)w[k], (int)keep[k]);
        free(keep);
        free(w);
    }
}

START_TEST(test_round_trip_sparse)
{
    const char *path = scratch_path("sparse.ckpt");
    run r;
    run_open_data(&r, BATCH, DATA_SEED);
    run_fresh(&r, 1);
    float losses[3];
    run_train(&r, 3, losses);
    MUST(spdf_checkpoint_save(path, r.model, r.opt, r.sampler));

    spdf_checkpoint_info info = {.struct_size = sizeof info};
    MUST(spdf_checkpoint_info_read(path, &info));
    spdf_model_config mc;
    small_config(&mc);
    ck_assert_uint_eq(info.format_version, 1);
    ck_assert_int_eq(info.phase, SPDF_PHASE_SPARSE);
    ck_assert_uint_eq(info.model.struct_size, sizeof(spdf_model_config));
    ck_assert_int_eq(info.model.vocab_size, mc.vocab_size);
    ck_assert_int_eq(info.model.max_seq_len, mc.max_seq_len);
    ck_assert_int_eq(info.model.num_layers, mc.num_layers);
    ck_assert_int_eq(info.model.num_heads, mc.num_heads);
    ck_assert_int_eq(info.model.channels, mc.channels);
    ck_assert_uint_eq(info.model.seed, mc.seed);
    ck_assert_int_eq(info.step, 3);
    ck_assert_int_eq(info.has_optimizer, 1);
    ck_assert_int_eq(info.has_sampler, 1);
    ck_assert_int_eq(info.sampler_position, 3);
    ck_assert_int_eq(info.file_size, file_size(path));
    int64_t nnz = 0, total = 0, params = 0;
    MUST(spdf_mask_totals(r.mask, &nnz, &total));
    MUST(spdf_model_num_params(r.model, &params));
    ck_assert_int_eq(info.stored_params, params - (total - nnz));

    run loaded;
    run_open_data(&loaded, BATCH, DATA_SEED);
    MUST(spdf_checkpoint_load(path, loaded.ctx, &loaded.model, &loaded.opt, &loaded.phase,
                              loaded.sampler));
    assert_same_tensors(r.model, loaded.model);
    assert_zero_pattern_is_mask(loaded.model, r.mask);
    spdf_phase_kind kind;
    MUST(spdf_phase_get_kind(loaded.phase, &kind));
    ck_assert_int_eq(kind, SPDF_PHASE_SPARSE);
    int64_t step = 0, position = 0;
    MUST(spdf_optimizer_get_step(loaded.opt, &step));
    ck_assert_int_eq(step, 3);
    MUST(spdf_sampler_get_position(loaded.sampler, &position));
    ck_assert_int_eq(position, 3);
    spdf_optimizer_config saved = {.struct_size = sizeof saved}, restored = {.struct_size = sizeof restored};
    MUST(spdf_optimizer_get_config(r.opt, &saved));
    MUST(spdf_optimizer_get_config(loaded.opt, &restored));
    ck_assert(memcmp(&saved, &restored, sizeof saved) == 0);
    spdf_flop_report a = {.struct_size = sizeof a}, b = {.struct_size = sizeof b};
    MUST(spdf_model_flops(r.model, SMALL_T, BATCH, &a));
    MUST(spdf_model_flops(loaded.model, SMALL_T, BATCH, &b));
    ck_assert(a.forward_per_token_sparse == b.forward_per_token_sparse);
    run_close(&loaded);

    /* Without optimizer and phase handle: the model alone, still sparse. */
    spdf_context *ctx = test_context(backend_name, 2);
    spdf_model *model = NULL;
    MUST(spdf_checkpoint_load(path, ctx, &model, NULL, NULL, NULL));
    assert_same_tensors(r.model, model);
    int32_t qkv = -1;
    MUST(spdf_model_tensor_find(model, "h.0.attn.c_attn.weight", &qkv));
    float *data = NULL;
    ck_assert_int_eq(spdf_model_tensor_data(model, qkv, &data), SPDF_ESTATE);
    spdf_model_free(model);
    spdf_context_free(ctx);
    run_close(&r);
}
END_TEST

START_TEST(test_round_trip_dense_without_optimizer)
{
    const char *path = scratch_path("dense.ckpt");
    run r;
    run_open_data(&r, BATCH, DATA_SEED);
    run_fresh(&r, 0);
    float losses[2];
    run_train(&r, 2, losses);
    MUST(spdf_checkpoint_save(path, r.model, NULL, NULL));
    spdf_checkpoint_info info = {.struct_size = sizeof info};
    MUST(spdf_checkpoint_info_read(path, &info));
    int64_t params = 0;
    MUST(spdf_model_num_params(r.model, &params));
    ck_assert_int_eq(info.phase, SPDF_PHASE_DENSE);
    ck_assert_int_eq(info.has_optimizer, 0);
    ck_assert_int_eq(info.step, 0);
    ck_assert_int_eq(info.has_sampler, 0);
    ck_assert_int_eq(info.stored_params, params);
    ck_assert_int_eq(info.file_size, HEADER_BYTES + 2 * ENTRY_BYTES + 56 + 4 * params);

    spdf_model *model = (spdf_model *)&info;
    spdf_optimizer *opt = NULL;
    ck_assert_int_eq(spdf_checkpoint_load(path, r.ctx, &model, &opt, NULL, NULL), SPDF_EFORMAT);
    ck_assert_ptr_eq(model, (spdf_model *)&info);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), path));
    ck_assert_int_eq(spdf_checkpoint_load(path, r.ctx, &model, NULL, NULL, r.sampler), SPDF_EFORMAT);
    spdf_phase *phase = NULL;
    MUST(spdf_checkpoint_load(path, r.ctx, &model, NULL, &phase, NULL));
    spdf_phase_kind kind;
    MUST(spdf_phase_get_kind(phase, &kind));
    ck_assert_int_eq(kind, SPDF_PHASE_DENSE);
    assert_same_tensors(r.model, model);
    spdf_phase_free(phase);
    spdf_model_free(model);
    run_close(&r);
}
END_TEST

/* A file does not depend on the backend's storage order: a checkpoint saved under one backend
 * loads under every other with the same weights and mask, and saving it again there gives the
 * same bytes. */
START_TEST(test_backends_exchange_checkpoints)
{
    int32_t count = 0;
    MUST(spdf_backend_count(&count));
    const char *original = scratch_path("from.ckpt"), *again = scratch_path("again.ckpt");
    for (int32_t from = 0; from < count; from++) {
        const char *from_name = NULL;
        int32_t available = 0;
        MUST(spdf_backend_name(from, &from_name));
        MUST(spdf_backend_available(from_name, &available));
        if (!available) continue;
        backend_name = from_name;
        run r;
        run_open_data(&r, BATCH, DATA_SEED);
        run_fresh(&r, 1);
        float losses[2];
        run_train(&r, 2, losses);
        MUST(spdf_checkpoint_save(original, r.model, r.opt, NULL));
        size_t size = 0, size_again = 0;
        unsigned char *bytes = read_bytes(original, &size);
        for (int32_t to = 0; to < count; to++) {
            const char *to_name = NULL;
            MUST(spdf_backend_name(to, &to_name));
            MUST(spdf_backend_available(to_name, &available));
            if (!available) continue;
            backend_name = to_name;
            spdf_context *ctx = test_context(backend_name, 2);
            spdf_model *model = NULL;
            spdf_optimizer *opt = NULL;
            MUST(spdf_checkpoint_load(original, ctx, &model, &opt, NULL, NULL));
            assert_same_tensors(r.model, model);
            assert_zero_pattern_is_mask(model, r.mask);
            MUST(spdf_checkpoint_save(again, model, opt, NULL));
            unsigned char *bytes_again = read_bytes(again, &size_again);
            ck_assert_msg(size_again == size && memcmp(bytes, bytes_again, size) == 0,
                          "saved under %s, loaded and saved again under %s: the files differ",
                          from_name, to_name);
            free(bytes_again);
            spdf_optimizer_free(opt);
            spdf_model_free(model);
            spdf_context_free(ctx);
        }
        free(bytes);
        run_close(&r);
    }
    backend_name = NULL;
}
END_TEST

/* The bytes are as docs/checkpoint-format.md describes them. */
START_TEST(test_documented_layout)
{
    const char *path = scratch_path("layout.ckpt");
    run r;
    run_open_data(&r, BATCH, DATA_SEED);
    run_fresh(&r, 1);
    float losses[2];
    run_train(&r, 2, losses);
    MUST(spdf_checkpoint_save(path, r.model, r.opt, r.sampler));
    size_t size = 0;
    unsigned char *bytes = read_bytes(path, &size);
    ck_assert(memcmp(bytes, "SPDFCKPT", 8) == 0);
    ck_assert_uint_eq(get_u32(bytes + 8), 1);
    ck_assert_uint_eq(get_u32(bytes + 12), 15);
    ck_assert_uint_eq(get_u32(bytes + 16), 6);
    ck_assert_uint_eq(get_u32(bytes + 20), crc32c(bytes + HEADER_BYTES, 6 * ENTRY_BYTES));
    ck_assert_uint_eq(get_u64(bytes + 24), size);
    ck_assert_uint_eq(get_u32(bytes + 32), 0);
    ck_assert_uint_eq(get_u32(bytes + 36), crc32c(bytes, 36));
    entry e[6];
    ck_assert_int_eq(parse_table(bytes, e), 6);
    const uint32_t order[6] = {SECTION_CONFIG, SECTION_MASK, SECTION_TENSORS, SECTION_OPTIMIZER,
                               SECTION_SAMPLER, SECTION_PLAN};
    uint64_t at = HEADER_BYTES + 6 * ENTRY_BYTES;
    for (int i = 0; i < 6; i++) {
        ck_assert_uint_eq(e[i].id, order[i]);
        ck_assert_uint_eq(e[i].offset, at);
        ck_assert_uint_eq(e[i].crc, crc32c(bytes + e[i].offset, (size_t)e[i].size));
        at += e[i].size;
    }
    ck_assert_uint_eq(at, size);

    const unsigned char *config = bytes + e[0].offset;
    ck_assert_uint_eq(e[0].size, 56);
    ck_assert_int_eq((int32_t)get_u32(config + 0), SMALL_V);
    ck_assert_int_eq((int32_t)get_u32(config + 16), SMALL_C);
    ck_assert_int_eq((int32_t)get_u32(config + 20), SPDF_PHASE_SPARSE);
    ck_assert_uint_eq(get_u64(config + 24), 1234);
    ck_assert_int_eq((int32_t)get_u32(config + 32), 4 + 12 * 2);
    const int64_t stored = (int64_t)get_u64(config + 48);
    ck_assert_uint_eq(e[2].size, 4 * (uint64_t)stored);
    ck_assert_uint_eq(e[3].size, 56 + 8 * (uint64_t)stored);

    /* TENSORS: wte whole, then wpe, ...; the first masked weight (tensor 4) as its non-zeros in
     * row-major order, which is CSR order. */
    int32_t count = 0;
    MUST(spdf_model_num_tensors(r.model, &count));
    const unsigned char *values = bytes + e[2].offset;
    const unsigned char *mask = bytes + e[1].offset;
    ck_assert_uint_eq(get_u32(mask), 8);
    const unsigned char *record = mask + 8;
    for (int32_t i = 0; i < count; i++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        MUST(spdf_model_tensor_info(r.model, i, &info));
        float *dense = malloc(sizeof(float) * (size_t)info.numel);
        ck_assert_ptr_nonnull(dense);
        MUST(spdf_model_tensor_read(r.model, i, dense, info.numel));
        if (info.flags & SPDF_TENSOR_SPARSIFIABLE) {
            ck_assert_int_eq((int32_t)get_u32(record), i);
            ck_assert_uint_eq(get_u64(record + 8), info.shape[0]);
            ck_assert_uint_eq(get_u64(record + 16), info.shape[1]);
            const unsigned char *bitmap = record + 32;
            int64_t kept = 0;
            for (int64_t k = 0; k < info.numel; k++) {
                const int bit = bitmap[k >> 3] >> (k & 7) & 1;
                ck_assert_int_eq(bit, dense[k] != 0.0f);
                if (!bit) continue;
                ck_assert(get_f32(values + 4 * kept) == dense[k]);
                kept++;
            }
            ck_assert_uint_eq(get_u64(record + 24), kept);
            values += 4 * kept;
            record += 32 + ((info.numel + 7) / 8 + 7) / 8 * 8;
        } else {
            for (int64_t k = 0; k < info.numel; k++) ck_assert(get_f32(values + 4 * k) == dense[k]);
            values += 4 * info.numel;
        }
        free(dense);
    }
    ck_assert_ptr_eq(values, bytes + e[2].offset + e[2].size);
    ck_assert_ptr_eq(record, bytes + e[1].offset + e[1].size);

    const unsigned char *optimizer = bytes + e[3].offset;
    ck_assert(get_f32(optimizer) == 3e-3f);
    ck_assert_uint_eq(get_u32(optimizer + 28), 2);
    ck_assert_uint_eq(get_u32(optimizer + 32), 20);
    ck_assert_uint_eq(get_u64(optimizer + 40), 2);
    ck_assert_uint_eq(get_u64(optimizer + 48), 2);
    const unsigned char *sampler = bytes + e[4].offset;
    ck_assert_uint_eq(get_u32(sampler), BATCH);
    ck_assert_uint_eq(get_u32(sampler + 4), SMALL_T);
    ck_assert_uint_eq(get_u64(sampler + 8), DATA_SEED);
    ck_assert_uint_eq(get_u32(sampler + 16), SPDF_SAMPLE_RANDOM);
    /* PLAN: each masked layer's three kernels as its report gives them, a zero padding byte. */
    const unsigned char *plan = bytes + e[5].offset;
    ck_assert_uint_eq(e[5].size, 8 + 4 * 8);
    ck_assert_uint_eq(get_u32(plan), 8);
    ck_assert_uint_eq(get_u32(plan + 4), 0);
    for (int32_t l = 0; l < 8; l++) {
        spdf_sparse_kernel_info ki = {.struct_size = sizeof ki};
        MUST(spdf_model_sparse_kernel_info(r.model, l, &ki));
        ck_assert_uint_eq(plan[8 + 4 * l + 0], (unsigned)ki.forward);
        ck_assert_uint_eq(plan[8 + 4 * l + 1], (unsigned)ki.backward_data);
        ck_assert_uint_eq(plan[8 + 4 * l + 2], (unsigned)ki.backward_weight);
        ck_assert_uint_eq(plan[8 + 4 * l + 3], 0);
    }
    ck_assert_uint_eq(get_u64(sampler + 24), 2);
    free(bytes);
    run_close(&r);
}
END_TEST

/* ---- corruption ---- */

static char sentinel[4];

/* Loading and reading the info of `path` both fail with SPDF_EFORMAT, a message naming the file,
 * and no handle written. */
static void expect_rejected(spdf_context *ctx, const char *path, const char *what, long long where)
{
    spdf_model *model = (spdf_model *)sentinel;
    spdf_optimizer *opt = (spdf_optimizer *)sentinel;
    spdf_phase *phase = (spdf_phase *)sentinel;
    const spdf_status status = spdf_checkpoint_load(path, ctx, &model, &opt, &phase, NULL);
    ck_assert_msg(status == SPDF_EFORMAT, "%s at %lld: load returned %s (%s)", what, where,
                  spdf_status_name(status), spdf_last_error());
    ck_assert_msg(strstr(spdf_last_error(), path) != NULL, "%s at %lld: message \"%s\"", what,
                  where, spdf_last_error());
    ck_assert(model == (spdf_model *)sentinel && opt == (spdf_optimizer *)sentinel &&
              phase == (spdf_phase *)sentinel);
    spdf_checkpoint_info info = {.struct_size = sizeof info};
    const spdf_status info_status = spdf_checkpoint_info_read(path, &info);
    ck_assert_msg(info_status == SPDF_EFORMAT, "%s at %lld: info returned %s", what, where,
                  spdf_status_name(info_status));
    ck_assert_int_gt(strlen(spdf_last_error()), 0);
}

/* A sparse checkpoint with all five sections. */
static unsigned char *sample_checkpoint(const char *path, size_t *size)
{
    run r;
    run_open_data(&r, BATCH, DATA_SEED);
    run_fresh(&r, 1);
    float losses[2];
    run_train(&r, 2, losses);
    MUST(spdf_checkpoint_save(path, r.model, r.opt, r.sampler));
    run_close(&r);
    return read_bytes(path, size);
}

START_TEST(test_header_and_table_bytes)
{
    spdf_context *ctx = test_context(backend_name, 2);
    size_t size = 0;
    unsigned char *good = sample_checkpoint(scratch_path("good.ckpt"), &size);
    const char *path = scratch_path("bad.ckpt");
    const size_t head = HEADER_BYTES + 5 * ENTRY_BYTES;
    unsigned char *bad = malloc(size);
    ck_assert_ptr_nonnull(bad);
    for (size_t i = 0; i < head; i++)
        for (int change = 0; change < 2; change++) {
            memcpy(bad, good, size);
            bad[i] = change == 0 ? (unsigned char)(bad[i] ^ 0xFF) : (unsigned char)(bad[i] + 1);
            write_bytes(path, bad, size);
            expect_rejected(ctx, path, change == 0 ? "xor 0xFF" : "+1", (long long)i);
        }
    free(bad);
    free(good);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_section_bytes)
{
    spdf_context *ctx = test_context(backend_name, 2);
    size_t size = 0;
    unsigned char *good = sample_checkpoint(scratch_path("good.ckpt"), &size);
    const char *path = scratch_path("bad.ckpt");
    entry e[6];
    const int count = parse_table(good, e);
    for (int s = 0; s < count; s++) {
        const uint64_t samples = e[s].size < 64 ? e[s].size : 64;
        for (uint64_t j = 0; j < samples; j++) {
            const uint64_t at = e[s].offset + (samples > 1 ? (e[s].size - 1) * j / (samples - 1) : 0);
            good[at] ^= 0xFF;
            write_bytes(path, good, size);
            good[at] ^= 0xFF;
            expect_rejected(ctx, path, "section byte flipped", (long long)at);
        }
    }
    free(good);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_truncation)
{
    spdf_context *ctx = test_context(backend_name, 2);
    size_t size = 0;
    unsigned char *good = sample_checkpoint(scratch_path("good.ckpt"), &size);
    const char *path = scratch_path("short.ckpt");
    entry e[6];
    const int count = parse_table(good, e);
    uint64_t lengths[64];
    int n = 0;
    const uint64_t boundaries[] = {HEADER_BYTES, HEADER_BYTES + (uint64_t)count * ENTRY_BYTES};
    for (int b = 0; b < 2; b++)
        for (int d = -1; d <= 1; d++) lengths[n++] = boundaries[b] + (uint64_t)d;
    for (int s = 0; s < count; s++) {
        for (int d = -1; d <= 1; d++) {
            lengths[n++] = e[s].offset + (uint64_t)d;
            lengths[n++] = e[s].offset + e[s].size + (uint64_t)d;
        }
        lengths[n++] = e[s].offset + e[s].size / 3;
        lengths[n++] = e[s].offset + e[s].size / 2;
    }
    lengths[n++] = 0;
    lengths[n++] = 1;
    lengths[n++] = size - 1;
    int tried = 0;
    for (int i = 0; i < n; i++) {
        if (lengths[i] >= size) continue;
        write_bytes(path, good, (size_t)lengths[i]);
        expect_rejected(ctx, path, "truncated to", (long long)lengths[i]);
        tried++;
    }
    ck_assert_int_ge(tried, 30);
    /* One byte too many is as wrong as one too few. */
    unsigned char *longer = malloc(size + 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, good, size);
    longer[size] = 0;
    write_bytes(path, longer, size + 1);
    expect_rejected(ctx, path, "one trailing byte", (long long)size);
    free(longer);
    free(good);
    spdf_context_free(ctx);
}
END_TEST

/* Changes that keep every checksum right: only the validation of the meaning can catch them. */
START_TEST(test_resigned_semantic_errors)
{
    spdf_context *ctx = test_context(backend_name, 2);
    size_t size = 0;
    unsigned char *good = sample_checkpoint(scratch_path("good.ckpt"), &size);
    const char *path = scratch_path("resigned.ckpt");
    unsigned char *bad = malloc(size);
    ck_assert_ptr_nonnull(bad);
    entry e[6];
    parse_table(good, e);
    const uint64_t config = e[0].offset, mask = e[1].offset, optimizer = e[3].offset,
                   sampler = e[4].offset, plan = e[5].offset;

    /* The helper itself: re-signing an unchanged file keeps it loadable. */
    memcpy(bad, good, size);
    resign(bad);
    write_bytes(path, bad, size);
    spdf_model *model = NULL;
    MUST(spdf_checkpoint_load(path, ctx, &model, NULL, NULL, NULL));
    spdf_model_free(model);

    struct change {
        const char *what;
        uint64_t at;
        uint32_t value;
    } changes[] = {
        {"bitmap bit set (nnz disagrees)", mask + 8 + 32, 0},
        {"mask layer on a LayerNorm weight", mask + 8, 2},
        {"mask layer on a bias", mask + 8, 3},
        {"mask layer tensor out of range", mask + 8, 1000},
        {"mask layer count", mask, 7},
        {"mask layer declared nnz", mask + 8 + 24, 5},
        {"num_heads does not divide channels", config + 12, 5},
        {"channels changed", config + 16, 64},
        {"vocab_size 0", config, 0},
        {"phase 2", config + 20, 2},
        {"phase dense with a mask", config + 20, 0},
        {"stored count", config + 48, 12345},
        {"tensor count", config + 32, 7},
        {"beta1 = 1.5", optimizer + 4, 0x3FC00000u},
        {"eps = 0", optimizer + 12, 0},
        {"schedule 9", optimizer + 24, 9},
        {"negative step", optimizer + 44, 0x80000000u},
        {"negative moment step", optimizer + 52, 0x80000000u},
        {"sampler order 7", sampler + 16, 7},
        {"sampler B 0", sampler, 0},
        {"unknown section id", HEADER_BYTES + 4 * ENTRY_BYTES, 9},
        {"duplicate section id", HEADER_BYTES + 4 * ENTRY_BYTES, SECTION_CONFIG},
        {"overlapping sections", HEADER_BYTES + 4 * ENTRY_BYTES + 8, (uint32_t)(sampler - 4)},
        {"unknown flag", 12, 31},
        {"flag without its section", 12, 3},
        {"six sections claimed as four", 16, 4},
        {"plan layer count", plan, 7},
        {"plan kernel 3", plan + 8, 3},
        {"plan JIT weight gradient", plan + 8, 0x00010000u},
        {"plan padding byte", plan + 8, 0x01000000u},
        {"plan without the sparse phase", 12, 14},
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        memcpy(bad, good, size);
        if (strstr(changes[i].what, "bitmap")) {
            /* Set the first clear bit of the first layer's bitmap. */
            unsigned char *bitmap = bad + changes[i].at;
            int k = 0;
            while (bitmap[k >> 3] >> (k & 7) & 1) k++;
            bitmap[k >> 3] |= (unsigned char)(1u << (k & 7));
        } else {
            put_u32(bad + changes[i].at, changes[i].value);
        }
        resign(bad);
        write_bytes(path, bad, size);
        expect_rejected(ctx, path, changes[i].what, (long long)changes[i].at);
    }
    free(bad);
    free(good);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_not_checkpoints)
{
    spdf_context *ctx = test_context(backend_name, 2);
    const char *empty = scratch_path("empty.ckpt");
    write_bytes(empty, (const unsigned char *)"", 0);
    expect_rejected(ctx, empty, "empty file", 0);
    unsigned char *zeros = calloc(1, 4096);
    ck_assert_ptr_nonnull(zeros);
    const char *zero_path = scratch_path("zeros.ckpt");
    write_bytes(zero_path, zeros, 4096);
    expect_rejected(ctx, zero_path, "zeros", 0);
    free(zeros);

    spdf_model *model = (spdf_model *)sentinel;
    spdf_checkpoint_info info = {.struct_size = sizeof info};
    const char *missing = scratch_path("missing.ckpt");
    ck_assert_int_eq(spdf_checkpoint_load(missing, ctx, &model, NULL, NULL, NULL), SPDF_EIO);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "No such file"));
    ck_assert_int_eq(spdf_checkpoint_info_read(missing, &info), SPDF_EIO);
    ck_assert_int_eq(spdf_checkpoint_load(scratch_dir, ctx, &model, NULL, NULL, NULL), SPDF_EIO);
    ck_assert_ptr_eq(model, (spdf_model *)sentinel);
    spdf_context_free(ctx);
}
END_TEST

/* ---- saving ---- */

START_TEST(test_save_replaces_and_cleans_up)
{
    const char *path = scratch_path("model.ckpt");
    run r;
    run_open_data(&r, BATCH, DATA_SEED);
    run_fresh(&r, 0);
    MUST(spdf_checkpoint_save(path, r.model, r.opt, NULL));
    const long long dense_size = file_size(path);
    spdf_mask *mask = NULL;
    MUST(spdf_mask_create(r.model, SPDF_MASK_RANDOM, 0.75f, MASK_SEED, &mask));
    MUST(spdf_phase_transition(r.phase, SPDF_PHASE_SPARSE, mask, NULL));
    spdf_mask_free(mask);
    MUST(spdf_checkpoint_save(path, r.model, r.opt, NULL));
    ck_assert_int_lt(file_size(path), dense_size);
    ck_assert_int_eq(scratch_temporaries(NULL, 0), 0);

    /* Failures leave the old checkpoint and no temporary file behind. */
    ck_assert_int_eq(spdf_checkpoint_save(scratch_path("no-such-dir/x.ckpt"), r.model, r.opt, NULL),
                     SPDF_EIO);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "no-such-dir"));
    const char *dir_path = scratch_path("a-directory");
    ck_assert_int_eq(mkdir(dir_path, 0700), 0);
    ck_assert_int_eq(mkdir(scratch_path("a-directory/inside"), 0700), 0);
    ck_assert_int_eq(spdf_checkpoint_save(dir_path, r.model, r.opt, NULL), SPDF_EIO);
    ck_assert_int_eq(scratch_temporaries(NULL, 0), 0);
    spdf_checkpoint_info info = {.struct_size = sizeof info};
    MUST(spdf_checkpoint_info_read(path, &info));
    ck_assert_int_eq(info.phase, SPDF_PHASE_SPARSE);
    run_close(&r);
}
END_TEST

/* ---- crashes while saving ---- */

static void crash_config(spdf_model_config *c, uint64_t seed)
{
    MUST(spdf_model_config_init(c));
    c->vocab_size = 256;
    c->max_seq_len = 32;
    c->num_layers = 1;
    c->num_heads = 2;
    c->channels = 64;
    c->seed = seed;
}

/* Child: saves the model of `seed` to `path` over and over after signalling on ready_fd. */
static int child_save_loop(const char *path, uint64_t seed, int ready_fd)
{
    spdf_context *ctx = test_context(backend_name, 2);
    spdf_model_config mc;
    crash_config(&mc, seed);
    spdf_model *model = NULL;
    spdf_optimizer *opt = NULL;
    MUST(spdf_model_create(ctx, &mc, &model));
    MUST(spdf_optimizer_create(model, NULL, &opt));
    if (write(ready_fd, "r", 1) != 1) return 5;
    close(ready_fd);
    for (int i = 0; i < 2000; i++) MUST(spdf_checkpoint_save(path, model, opt, NULL)); /* until killed */
    return 0;
}

START_TEST(test_kill_while_saving)
{
    const char *path = scratch_path("crash.ckpt");
    spdf_context *ctx = test_context(backend_name, 2);
    spdf_model_config mc;
    crash_config(&mc, 1000);
    spdf_model *model = NULL;
    spdf_optimizer *opt = NULL;
    MUST(spdf_model_create(ctx, &mc, &model));
    MUST(spdf_optimizer_create(model, NULL, &opt));
    long save_us = 0; /* the slowest of three saves */
    for (int i = 0; i < 3; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        MUST(spdf_checkpoint_save(path, model, opt, NULL));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        const long us = (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
        if (us > save_us) save_us = us;
    }
    /* Kills after 0-20 ms, or over two whole saves where fsync makes a save slower than that. */
    const long max_delay_us = save_us * 2 > 20000 ? save_us * 2 : 20000;
    printf("kill test: one save of %lld bytes takes %.1f ms; kills after 0-%.1f ms\n",
           file_size(path), (double)save_us / 1e3, (double)max_delay_us / 1e3);
    spdf_optimizer_free(opt);
    spdf_model_free(model);

    uint64_t newest = 1000;
    int replaced = 0;
    unsigned random_state = 12345;
    for (int i = 0; i < 30; i++) {
        const uint64_t seed = 1001 + (uint64_t)i;
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        char seed_arg[32], fd_arg[16];
        snprintf(seed_arg, sizeof seed_arg, "%llu", (unsigned long long)seed);
        snprintf(fd_arg, sizeof fd_arg, "%d", fds[1]);
        char *argv[] = {"test_checkpoint", "--save-loop", (char *)path, seed_arg, fd_arg, NULL};
        fflush(stdout);
        const pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            execv("/proc/self/exe", argv);
            _exit(127);
        }
        close(fds[1]);
        char ready = 0;
        ck_assert_int_eq(read(fds[0], &ready, 1), 1);
        close(fds[0]);
        random_state = random_state * 1103515245u + 12345u;
        const long delay_us = (long)((random_state >> 8) % (unsigned)(max_delay_us + 1));
        const struct timespec delay = {delay_us / 1000000, delay_us % 1000000 * 1000};
        nanosleep(&delay, NULL);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int status = 0;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "the saving child ended before it was killed (status %d)", status);

        spdf_checkpoint_info info = {.struct_size = sizeof info};
        MUST(spdf_checkpoint_info_read(path, &info));
        ck_assert_msg(info.model.seed == newest || info.model.seed == seed,
                      "kill %d: the checkpoint holds seed %llu, expected %llu or %llu", i,
                      (unsigned long long)info.model.seed, (unsigned long long)newest,
                      (unsigned long long)seed);
        MUST(spdf_checkpoint_load(path, ctx, &model, &opt, NULL, NULL));
        spdf_optimizer_free(opt);
        spdf_model_free(model);
        if (info.model.seed == seed) {
            newest = seed;
            replaced++;
        }
    }
    /* Leftover temporary files are either complete or rejected, never mistaken or crashing. */
    char names[64][256];
    const int leftovers = scratch_temporaries(names, 64);
    for (int i = 0; i < leftovers && i < 64; i++) {
        const char *leftover = scratch_path(names[i]);
        const spdf_status status = spdf_checkpoint_load(leftover, ctx, &model, NULL, NULL, NULL);
        ck_assert_msg(status == SPDF_OK || status == SPDF_EFORMAT, "%s: %s", names[i],
                      spdf_status_name(status));
        if (status == SPDF_OK) spdf_model_free(model);
    }
    printf("kill test: 30 kills, the checkpoint was replaced %d times, %d temporary files left\n",
           replaced, leftovers);
    spdf_context_free(ctx);
}
END_TEST

/* ---- size ---- */

START_TEST(test_sparse_checkpoint_size)
{
    spdf_context *ctx = test_context(backend_name, 2);
    spdf_model_config mc;
    MUST(spdf_model_config_init(&mc));
    mc.vocab_size = 256;
    mc.max_seq_len = 128;
    mc.num_layers = 6;
    mc.num_heads = 6;
    mc.channels = 384;
    spdf_model *model = NULL;
    spdf_optimizer *opt = NULL;
    spdf_phase *phase = NULL;
    spdf_mask *mask = NULL;
    MUST(spdf_model_create(ctx, &mc, &model));
    MUST(spdf_optimizer_create(model, NULL, &opt));
    const char *dense_path = scratch_path("dense.ckpt"), *sparse_path = scratch_path("sparse.ckpt");
    MUST(spdf_checkpoint_save(dense_path, model, opt, NULL));
    MUST(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 1, &mask));
    MUST(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase));
    MUST(spdf_checkpoint_save(sparse_path, model, opt, NULL));
    const long long dense = file_size(dense_path), sparse = file_size(sparse_path);
    printf("checkpoint size (V=256, L=6, H=6, C=384, maxT=128, with AdamW state): dense %lld "
           "bytes, 75%% sparse %lld bytes = %.1f%% of dense\n", dense, sparse,
           100.0 * (double)sparse / (double)dense);
    ck_assert_msg(sparse * 100 <= dense * 35, "sparse %lld bytes, dense %lld", sparse, dense);

    /* Both sizes exactly as documented. */
    int64_t params = 0, nnz = 0, total = 0, bitmaps = 0;
    MUST(spdf_model_num_params(model, &params));
    MUST(spdf_mask_totals(mask, &nnz, &total));
    int32_t layers = 0;
    MUST(spdf_mask_num_layers(mask, &layers));
    for (int32_t l = 0; l < layers; l++) {
        spdf_mask_layer_info li = {.struct_size = sizeof li};
        MUST(spdf_mask_get_layer(mask, l, &li));
        bitmaps += 32 + ((li.rows * li.cols + 7) / 8 + 7) / 8 * 8;
    }
    const int64_t stored = params - (total - nnz);
    ck_assert_int_eq(dense, HEADER_BYTES + 3 * ENTRY_BYTES + 56 + 4 * params + 56 + 8 * params);
    ck_assert_int_eq(sparse, HEADER_BYTES + 5 * ENTRY_BYTES + 56 + 8 + bitmaps + 4 * stored + 56 +
                                 8 * stored + 8 + 4 * layers);
    spdf_phase_free(phase);
    spdf_mask_free(mask);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* ---- arguments ---- */

START_TEST(test_invalid_arguments)
{
    const char *path = scratch_path("args.ckpt");
    run r;
    run_open_data(&r, BATCH, DATA_SEED);
    run_fresh(&r, 1);
    spdf_model *model = (spdf_model *)sentinel;
    spdf_checkpoint_info info = {.struct_size = sizeof info};

    ck_assert_int_eq(spdf_checkpoint_save(NULL, r.model, r.opt, r.sampler), SPDF_EINVAL);
    ck_assert_int_eq(spdf_checkpoint_save(path, NULL, r.opt, r.sampler), SPDF_EINVAL);
    ck_assert_int_gt(strlen(spdf_last_error()), 0);
    spdf_model_config mc;
    small_config(&mc);
    spdf_model *other = NULL;
    spdf_optimizer *other_opt = NULL;
    MUST(spdf_model_create(r.ctx, &mc, &other));
    MUST(spdf_optimizer_create(other, NULL, &other_opt));
    ck_assert_int_eq(spdf_checkpoint_save(path, r.model, other_opt, NULL), SPDF_EINVAL);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(scratch_temporaries(NULL, 0), 0);
    spdf_optimizer_free(other_opt);
    spdf_model_free(other);

    MUST(spdf_checkpoint_save(path, r.model, r.opt, r.sampler));
    ck_assert_int_eq(spdf_checkpoint_load(NULL, r.ctx, &model, NULL, NULL, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_checkpoint_load(path, NULL, &model, NULL, NULL, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_checkpoint_load(path, r.ctx, NULL, NULL, NULL, NULL), SPDF_EINVAL);
    ck_assert_ptr_eq(model, (spdf_model *)sentinel);
    ck_assert_int_eq(spdf_checkpoint_info_read(NULL, &info), SPDF_EINVAL);
    ck_assert_int_eq(spdf_checkpoint_info_read(path, NULL), SPDF_EINVAL);
    info.struct_size = 0;
    ck_assert_int_eq(spdf_checkpoint_info_read(path, &info), SPDF_EINVAL);

    /* A sampler that is not the saved one: batch size, context, seed, order. */
    struct {
        int32_t B, T;
        uint64_t seed;
        spdf_sampler_order order;
    } others[] = {{BATCH + 1, SMALL_T, DATA_SEED, SPDF_SAMPLE_RANDOM},
                  {BATCH, SMALL_T - 1, DATA_SEED, SPDF_SAMPLE_RANDOM},
                  {BATCH, SMALL_T, DATA_SEED + 1, SPDF_SAMPLE_RANDOM},
                  {BATCH, SMALL_T, DATA_SEED, SPDF_SAMPLE_SEQUENTIAL}};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        spdf_sampler *sampler = NULL;
        MUST(spdf_sampler_create(r.data, others[i].B, others[i].T, others[i].seed, others[i].order,
                                 &sampler));
        MUST(spdf_sampler_set_position(sampler, 5));
        spdf_optimizer *opt = (spdf_optimizer *)sentinel;
        spdf_phase *phase = (spdf_phase *)sentinel;
        ck_assert_int_eq(spdf_checkpoint_load(path, r.ctx, &model, &opt, &phase, sampler), SPDF_EINVAL);
        ck_assert_ptr_nonnull(strstr(spdf_last_error(), "sampler"));
        ck_assert(model == (spdf_model *)sentinel && opt == (spdf_optimizer *)sentinel &&
                  phase == (spdf_phase *)sentinel);
        int64_t position = 0;
        MUST(spdf_sampler_get_position(sampler, &position));
        ck_assert_int_eq(position, 5);
        spdf_sampler_free(sampler);
    }
    run_close(&r);
}
END_TEST

static TCase *make_case(const char *name, double timeout)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, scratch_create, scratch_remove);
    tcase_set_timeout(tc, timeout);
    return tc;
}

static Suite *checkpoint_suite(void)
{
    Suite *suite = suite_create("checkpoint");
    TCase *resume = make_case("resume", 600);
    tcase_add_test(resume, test_resume_dense);
    tcase_add_test(resume, test_resume_sparse);
    tcase_add_test(resume, test_resume_across_transition);
    suite_add_tcase(suite, resume);

    TCase *files = make_case("files", 600);
    tcase_add_test(files, test_round_trip_sparse);
    tcase_add_test(files, test_round_trip_dense_without_optimizer);
    tcase_add_test(files, test_documented_layout);
    tcase_add_test(files, test_backends_exchange_checkpoints);
    tcase_add_test(files, test_save_replaces_and_cleans_up);
    tcase_add_test(files, test_sparse_checkpoint_size);
    tcase_add_test(files, test_invalid_arguments);
    suite_add_tcase(suite, files);

    TCase *corruption = make_case("corruption", 600);
    tcase_add_test(corruption, test_header_and_table_bytes);
    tcase_add_test(corruption, test_section_bytes);
    tcase_add_test(corruption, test_truncation);
    tcase_add_test(corruption, test_resigned_semantic_errors);
    tcase_add_test(corruption, test_not_checkpoints);
    suite_add_tcase(suite, corruption);

    TCase *crash = make_case("crash", 600);
    tcase_add_test(crash, test_kill_while_saving);
    suite_add_tcase(suite, crash);
    return suite;
}

/* The resume and crash tests start this program again in one of two child roles. */
static int child_main(int argc, char **argv)
{
    in_child = 1;
    if (argc == 5 && strcmp(argv[1], "--resume") == 0)
        return child_resume(atoi(argv[2]), argv[3], argv[4]);
    if (argc == 5 && strcmp(argv[1], "--save-loop") == 0)
        return child_save_loop(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]));
    fprintf(stderr, "usage: %s [--resume SCENARIO CHECKPOINT OUT | --save-loop PATH SEED FD]\n", argv[0]);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc > 1) return child_main(argc, argv);
    SRunner *runner = srunner_create(checkpoint_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
