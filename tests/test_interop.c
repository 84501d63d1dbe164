/* Tests of the interop formats: safetensors export and import (bit-identical weights and logits
 * for dense and sparse-phase models, the Hugging Face layout checked by an independent parser,
 * files in transformers' own style), llm.c checkpoints written byte by byte, malformed files of
 * both kinds, and argument checks. */
#include "spdf.h"
#include "common/fixtures.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The small model of the tests and its batches. */
#define V 64
#define MAXT 16
#define LAYERS 2
#define HEADS 2
#define C 16
#define B 2
#define T 8
#define STEPS 3

static void must(spdf_status status, const char *what)
{
    if (status != SPDF_OK)
        ck_abort_msg("%s failed: %s: %s", what, spdf_status_name(status), spdf_last_error());
}

#define MUST(expr) must((expr), #expr)

/* Expects a failure with the given status and a detail containing `needle`. */
static void expect_failure(spdf_status got, spdf_status want, const char *needle, const char *what)
{
    ck_assert_msg(got == want, "%s: got %s (%s), expected %s", what, spdf_status_name(got),
                  spdf_last_error(), spdf_status_name(want));
    if (needle)
        ck_assert_msg(strstr(spdf_last_error(), needle) != NULL, "%s: \"%s\" lacks \"%s\"", what,
                      spdf_last_error(), needle);
}

/* ---- bytes ---- */

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    rewind(f);
    unsigned char *bytes = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_eq(fread(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return bytes;
}

static void write_bytes(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i);
}

static void put_f32(unsigned char *p, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u32(p, bits);
}

static float get_f32(const unsigned char *p)
{
    const uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                          (uint32_t)p[3] << 24;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---- models ---- */

static spdf_context *new_context(void)
{
    spdf_context *ctx = NULL;
    MUST(spdf_context_create(NULL, &ctx));
    return ctx;
}

static spdf_model *new_model(spdf_context *ctx, uint64_t seed)
{
    spdf_model_config config;
    MUST(spdf_model_config_init(&config));
    config.vocab_size = V;
    config.max_seq_len = MAXT;
    config.num_layers = LAYERS;
    config.num_heads = HEADS;
    config.channels = C;
    config.seed = seed;
    spdf_model *model = NULL;
    MUST(spdf_model_create(ctx, &config, &model));
    return model;
}

static void batch(int32_t *tokens, int32_t *targets, unsigned seed)
{
    for (int i = 0; i < B * T; i++) {
        seed = seed * 1103515245u + 12345u;
        tokens[i] = (int32_t)((seed >> 16) % V);
        targets[i] = (int32_t)((seed >> 8) % V);
    }
}

static void train(spdf_model *model, spdf_optimizer *opt, int steps)
{
    int32_t tokens[B * T], targets[B * T];
    for (int s = 0; s < steps; s++) {
        float loss;
        batch(tokens, targets, 100u + (unsigned)s);
        MUST(spdf_model_forward(model, tokens, targets, NULL, B, T, &loss));
        MUST(spdf_model_backward(model));
        MUST(spdf_optimizer_step(opt, NULL, NULL));
    }
}

/* The logits of an inference pass over a fixed batch, copied. */
static float *logits_of(spdf_model *model)
{
    int32_t tokens[B * T], targets[B * T];
    batch(tokens, targets, 7u);
    MUST(spdf_model_forward(model, tokens, NULL, NULL, B, T, NULL));
    const float *logits = NULL;
    int32_t b = 0, t = 0, v = 0;
    MUST(spdf_model_logits(model, &logits, &b, &t, &v));
    ck_assert(b == B && t == T && v == V);
    float *copy = malloc(sizeof(float) * B * T * V);
    memcpy(copy, logits, sizeof(float) * B * T * V);
    return copy;
}

static void assert_same_logits(spdf_model *a, spdf_model *b)
{
    float *la = logits_of(a), *lb = logits_of(b);
    ck_assert_msg(memcmp(la, lb, sizeof(float) * B * T * V) == 0, "the logits differ");
    free(la);
    free(lb);
}

static float *tensor_values(const spdf_model *model, int32_t index, int64_t *numel)
{
    spdf_tensor_info info = {.struct_size = sizeof info};
    MUST(spdf_model_tensor_info(model, index, &info));
    float *values = malloc(sizeof(float) * (size_t)info.numel);
    MUST(spdf_model_tensor_read(model, index, values, info.numel));
    *numel = info.numel;
    return values;
}

/* Same configuration and bit-identical tensors. */
static void assert_same_weights(const spdf_model *a, const spdf_model *b)
{
    spdf_model_config ca = {.struct_size = sizeof ca}, cb = {.struct_size = sizeof cb};
    MUST(spdf_model_get_config(a, &ca));
    MUST(spdf_model_get_config(b, &cb));
    ck_assert(ca.vocab_size == cb.vocab_size && ca.max_seq_len == cb.max_seq_len &&
              ca.num_layers == cb.num_layers && ca.num_heads == cb.num_heads &&
              ca.channels == cb.channels);
    int32_t count = 0;
    MUST(spdf_model_num_tensors(a, &count));
    for (int32_t i = 0; i < count; i++) {
        int64_t na, nb;
        float *va = tensor_values(a, i, &na), *vb = tensor_values(b, i, &nb);
        ck_assert_int_eq(na, nb);
        ck_assert_msg(memcmp(va, vb, sizeof(float) * (size_t)na) == 0, "tensor %d differs", (int)i);
        free(va);
        free(vb);
    }
}

/* ---- an independent reader of the safetensors header (just enough JSON) ---- */

typedef struct st_tensor {
    char name[64];
    char dtype[16];
    int ndim;
    long long shape[4];
    unsigned long long begin, end;
} st_tensor;

typedef struct st_header {
    size_t length; /* N */
    st_tensor tensors[128];
    int count;
    char meta_keys[16][32], meta_values[16][32];
    int meta_count;
} st_header;

static const char *skip(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

static const char *expect(const char *p, char c)
{
    p = skip(p);
    ck_assert_msg(*p == c, "header: expected '%c' at \"%.20s\"", c, p);
    return p + 1;
}

static const char *string(const char *p, char *out, size_t cap)
{
    p = expect(p, '"');
    size_t n = 0;
    while (*p != '"') {
        ck_assert_msg(*p != '\\' && *p != '\0' && n + 1 < cap, "header: unexpected string");
        out[n++] = *p++;
    }
    out[n] = '\0';
    return p + 1;
}

static const char *integer(const char *p, unsigned long long *out)
{
    p = skip(p);
    char *end;
    *out = strtoull(p, &end, 10);
    ck_assert_msg(end != p, "header: expected an integer at \"%.20s\"", p);
    return end;
}

static const char *integers(const char *p, long long *out, int cap, int *n)
{
    p = expect(p, '[');
    *n = 0;
    if (*skip(p) == ']') return skip(p) + 1;
    for (;;) {
        unsigned long long v;
        ck_assert_int_lt(*n, cap);
        p = integer(p, &v);
        out[(*n)++] = (long long)v;
        p = skip(p);
        if (*p == ']') return p + 1;
        p = expect(p, ',');
    }
}

static void parse_header(const unsigned char *file, size_t size, st_header *h)
{
    memset(h, 0, sizeof *h);
    ck_assert_uint_ge(size, 8);
    h->length = (size_t)get_u64(file);
    ck_assert_uint_le(8 + h->length, size);
    char *text = malloc(h->length + 1);
    memcpy(text, file + 8, h->length);
    text[h->length] = '\0';
    const char *p = expect(text, '{');
    for (;;) {
        char key[64];
        p = string(p, key, sizeof key);
        p = expect(p, ':');
        p = expect(p, '{');
        if (strcmp(key, "__metadata__") == 0) {
            while (*skip(p) != '}') {
                ck_assert_int_lt(h->meta_count, 16);
                p = string(p, h->meta_keys[h->meta_count], 32);
                p = expect(p, ':');
                p = string(p, h->meta_values[h->meta_count++], 32);
                if (*skip(p) == ',') p = skip(p) + 1;
            }
        } else {
            ck_assert_int_lt(h->count, 128);
            st_tensor *t = &h->tensors[h->count++];
            snprintf(t->name, sizeof t->name, "%s", key);
            while (*skip(p) != '}') {
                char field[32];
                p = string(p, field, sizeof field);
                p = expect(p, ':');
                if (strcmp(field, "dtype") == 0) p = string(p, t->dtype, sizeof t->dtype);
                else if (strcmp(field, "shape") == 0) p = integers(p, t->shape, 4, &t->ndim);
                else {
                    ck_assert_str_eq(field, "data_offsets");
                    long long offsets[2];
                    int n;
                    p = integers(p, offsets, 2, &n);
                    ck_assert_int_eq(n, 2);
                    t->begin = (unsigned long long)offsets[0];
                    t->end = (unsigned long long)offsets[1];
                }
                if (*skip(p) == ',') p = skip(p) + 1;
            }
        }
        p = expect(p, '}');
        p = skip(p);
        if (*p == '}') break;
        p = expect(p, ',');
    }
    ck_assert_str_eq(skip(p + 1), ""); /* only padding after the object */
    free(text);
}

static const st_tensor *find_tensor(const st_header *h, const char *name)
{
    for (int i = 0; i < h->count; i++)
        if (strcmp(h->tensors[i].name, name) == 0) return &h->tensors[i];
    return NULL;
}

static const char *find_meta(const st_header *h, const char *key)
{
    for (int i = 0; i < h->meta_count; i++)
        if (strcmp(h->meta_keys[i], key) == 0) return h->meta_values[i];
    return NULL;
}

/* ---- safetensors files made by hand ---- */

/* A file from a header text (padded to 8 bytes) and data bytes. */
static void write_safetensors(const char *path, const char *json, const void *data, size_t bytes)
{
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    unsigned char *file = malloc(8 + padded + bytes + 1);
    for (int i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)padded >> 8 * i);
    memcpy(file + 8, json, n);
    memset(file + 8 + n, ' ', padded - n);
    if (bytes) memcpy(file + 8 + padded, data, bytes);
    write_bytes(path, file, 8 + padded + bytes);
    free(file);
}

/* The header text and data of an exported file, to be changed and written again. */
typedef struct exported {
    unsigned char *file;
    size_t size;
    char *json;
    const unsigned char *data;
    size_t data_bytes;
} exported;

static exported export_model(const spdf_model *model, const char *name)
{
    exported e;
    MUST(spdf_model_export_safetensors(model, scratch_path(name)));
    e.file = read_bytes(scratch_path(name), &e.size);
    const size_t length = (size_t)get_u64(e.file);
    e.json = malloc(length + 1);
    memcpy(e.json, e.file + 8, length);
    e.json[length] = '\0';
    e.data = e.file + 8 + length;
    e.data_bytes = e.size - 8 - length;
    return e;
}

static void exported_free(exported *e)
{
    free(e->file);
    free(e->json);
}

/* json with the first occurrence of `from` replaced by `to` (a new string). */
static char *replaced(const char *json, const char *from, const char *to)
{
    const char *at = strstr(json, from);
    ck_assert_msg(at != NULL, "\"%s\" not in the header", from);
    char *out = malloc(strlen(json) + strlen(to) + 1);
    memcpy(out, json, (size_t)(at - json));
    strcpy(out + (at - json), to);
    strcat(out, at + strlen(from));
    return out;
}

/* json with every occurrence of `from` replaced by `to` (a new string). */
static char *replaced_all(const char *json, const char *from, const char *to)
{
    size_t n = 0;
    for (const char *p = strstr(json, from); p; p = strstr(p + strlen(from), from)) n++;
    char *out = malloc(strlen(json) + n * strlen(to) + 1);
    out[0] = '\0';
    const char *p = json;
    for (const char *q = strstr(p, from); q; p = q + strlen(from), q = strstr(p, from)) {
        strncat(out, p, (size_t)(q - p));
        strcat(out, to);
    }
    strcat(out, p);
    return out;
}

/* The member "name":{...} of the header removed, its data left in place. */
static char *without_member(const char *json, const char *name)
{
    char key[80];
    snprintf(key, sizeof key, ",\"%s\":{", name);
    const char *at = strstr(json, key);
    ck_assert_ptr_nonnull(at);
    const char *end = strchr(at + 1, '}') + 1;
    char *out = malloc(strlen(json) + 1);
    memcpy(out, json, (size_t)(at - json));
    strcpy(out + (at - json), end);
    return out;
}

static spdf_status import_file(spdf_context *ctx, const char *path, spdf_model **model)
{
    return spdf_model_import_safetensors(ctx, path, NULL, model);
}

/* ================================ tests ================================ */

START_TEST(test_round_trip_dense)
{
    spdf_context *ctx = new_context();
    spdf_model *model = new_model(ctx, 11);
    spdf_optimizer *opt = NULL;
    MUST(spdf_optimizer_create(model, NULL, &opt));
    train(model, opt, STEPS);
    const char *path = scratch_path("dense.safetensors");
    MUST(spdf_model_export_safetensors(model, path));
    spdf_model *imported = (spdf_model *)&imported;
    MUST(spdf_model_import_safetensors(ctx, path, NULL, &imported));
    assert_same_weights(model, imported);
    assert_same_logits(model, imported);
    /* Exporting the import gives the same bytes. */
    size_t n1, n2;
    unsigned char *first = read_bytes(path, &n1);
    MUST(spdf_model_export_safetensors(imported, scratch_path("again.safetensors")));
    unsigned char *second = read_bytes(scratch_path("again.safetensors"), &n2);
    ck_assert(n1 == n2 && memcmp(first, second, n1) == 0);
    free(first);
    free(second);
    spdf_model_free(imported);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_round_trip_sparse)
{
    spdf_context *ctx = new_context();
    spdf_model *model = new_model(ctx, 12);
    spdf_optimizer *opt = NULL;
    spdf_mask *mask = NULL;
    spdf_phase *phase = NULL;
    MUST(spdf_optimizer_create(model, NULL, &opt));
    MUST(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 5, &mask));
    MUST(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase));
    train(model, opt, STEPS);
    const char *path = scratch_path("sparse.safetensors");
    MUST(spdf_model_export_safetensors(model, path));
    spdf_model *imported = NULL;
    MUST(spdf_model_import_safetensors(ctx, path, NULL, &imported));
    /* The dense view, zeros off the mask included. */
    assert_same_weights(model, imported);
    int32_t layers = 0;
    MUST(spdf_mask_num_layers(mask, &layers));
    for (int32_t l = 0; l < layers; l++) {
        spdf_mask_layer_info info = {.struct_size = sizeof info};
        MUST(spdf_mask_get_layer(mask, l, &info));
        uint8_t *kept = malloc((size_t)(info.rows * info.cols));
        MUST(spdf_mask_layer_read(mask, l, kept, info.rows * info.cols));
        int64_t numel;
        float *w = tensor_values(imported, info.tensor_index, &numel);
        for (int64_t k = 0; k < numel; k++)
            if (!kept[k]) ck_assert_msg(w[k] == 0.0f && !signbit(w[k]), "masked weight not +0");
        free(w);
        free(kept);
    }
    /* On the same mask the imported model computes the same logits as the sparse original... */
    spdf_phase *imported_phase = NULL;
    MUST(spdf_phase_create(imported, NULL, SPDF_PHASE_SPARSE, mask, &imported_phase));
    assert_same_logits(model, imported);
    /* ...and both, made dense, agree again. */
    MUST(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, NULL));
    MUST(spdf_phase_transition(imported_phase, SPDF_PHASE_DENSE, NULL, NULL));
    assert_same_logits(model, imported);
    spdf_phase_free(imported_phase);
    spdf_model_free(imported);
    spdf_phase_free(phase);
    spdf_mask_free(mask);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

typedef struct expected_tensor {
    char name[64];
    int ndim;
    long long rows, cols;
} expected_tensor;

static void add_expected(expected_tensor *list, int *n, const char *name, int ndim, long long rows,
                         long long cols)
{
    snprintf(list[*n].name, sizeof list[*n].name, "%s", name);
    list[*n].ndim = ndim;
    list[*n].rows = rows;
    list[*n].cols = cols;
    (*n)++;
}

/* The exported header read by the test's own parser: names, dtypes, shapes, offsets, metadata,
 * and the Conv1D weights transposed in the data. */
START_TEST(test_hugging_face_layout)
{
    spdf_context *ctx = new_context();
    spdf_model *model = new_model(ctx, 13);
    exported e = export_model(model, "layout.safetensors");
    st_header h;
    parse_header(e.file, e.size, &h);
    ck_assert_uint_eq(h.length % 8, 0);
    ck_assert_str_eq(find_meta(&h, "format"), "pt");
    ck_assert_str_eq(find_meta(&h, "n_layer"), "2");
    ck_assert_str_eq(find_meta(&h, "n_head"), "2");
    ck_assert_str_eq(find_meta(&h, "n_embd"), "16");
    ck_assert_str_eq(find_meta(&h, "n_positions"), "16");
    ck_assert_str_eq(find_meta(&h, "vocab_size"), "64");
    ck_assert_int_eq(h.count, 12 * LAYERS + 4);

    static const struct { const char *suffix; int ndim; long long rows, cols; } block[] = {
        {"ln_1.weight", 1, C, 0}, {"ln_1.bias", 1, C, 0},
        {"attn.c_attn.weight", 2, C, 3 * C}, {"attn.c_attn.bias", 1, 3 * C, 0},
        {"attn.c_proj.weight", 2, C, C}, {"attn.c_proj.bias", 1, C, 0},
        {"ln_2.weight", 1, C, 0}, {"ln_2.bias", 1, C, 0},
        {"mlp.c_fc.weight", 2, C, 4 * C}, {"mlp.c_fc.bias", 1, 4 * C, 0},
        {"mlp.c_proj.weight", 2, 4 * C, C}, {"mlp.c_proj.bias", 1, C, 0}};
    expected_tensor expected[12 * LAYERS + 4];
    int n = 0;
    add_expected(expected, &n, "wte.weight", 2, V, C);
    add_expected(expected, &n, "wpe.weight", 2, MAXT, C);
    for (int l = 0; l < LAYERS; l++)
        for (int k = 0; k < 12; k++) {
            char name[64];
            snprintf(name, sizeof name, "h.%d.%s", l, block[k].suffix);
            add_expected(expected, &n, name, block[k].ndim, block[k].rows, block[k].cols);
        }
    add_expected(expected, &n, "ln_f.weight", 1, C, 0);
    add_expected(expected, &n, "ln_f.bias", 1, C, 0);

    unsigned long long covered = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *t = find_tensor(&h, expected[i].name);
        ck_assert_msg(t != NULL, "%s missing", expected[i].name);
        ck_assert_str_eq(t->dtype, "F32");
        ck_assert_int_eq(t->ndim, expected[i].ndim);
        ck_assert_int_eq(t->shape[0], expected[i].rows);
        if (t->ndim == 2) ck_assert_int_eq(t->shape[1], expected[i].cols);
        const long long numel = t->shape[0] * (t->ndim == 2 ? t->shape[1] : 1);
        ck_assert_uint_eq(t->end - t->begin, (unsigned long long)numel * 4);
        ck_assert_uint_le(t->end, e.data_bytes);
        covered += t->end - t->begin;
        /* The values: libspdf's (out, in) weight at [o][i] is the file's [i][o]. */
        int32_t index = 0;
        char spdf_name[64];
        snprintf(spdf_name, sizeof spdf_name, "%.63s", expected[i].name);
        if (strcmp(spdf_name, "wte.weight") == 0 || strcmp(spdf_name, "wpe.weight") == 0)
            spdf_name[3] = '\0';
        MUST(spdf_model_tensor_find(model, spdf_name, &index));
        int64_t count;
        float *values = tensor_values(model, index, &count);
        const int transposed = strstr(expected[i].name, "c_attn.weight") ||
                               strstr(expected[i].name, "c_proj.weight") ||
                               strstr(expected[i].name, "c_fc.weight");
        for (long long r = 0; r < t->shape[0]; r++)
            for (long long c = 0; c < (t->ndim == 2 ? t->shape[1] : 1); c++) {
                const long long cols = t->ndim == 2 ? t->shape[1] : 1;
                const float file_value = get_f32(e.data + t->begin + 4 * (size_t)(r * cols + c));
                const float model_value =
                    transposed ? values[c * t->shape[0] + r] : values[r * cols + c];
                ck_assert_msg(memcmp(&file_value, &model_value, 4) == 0, "%s[%lld][%lld]",
                              expected[i].name, r, c);
            }
        free(values);
    }
    ck_assert_uint_eq(covered, e.data_bytes); /* no gaps, no extra bytes */
    /* c_attn really is transposed: a 16 x 48 matrix, while libspdf's tensor is 48 x 16. */
    const st_tensor *qkv = find_tensor(&h, "h.0.attn.c_attn.weight");
    ck_assert(qkv->shape[0] == C && qkv->shape[1] == 3 * C);
    exported_free(&e);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* A file as transformers' save_pretrained writes one: "transformer." prefix, the causal-mask
 * buffers, a tied lm_head.weight, no n_head in the metadata, tensors in another order. */
START_TEST(test_transformers_style_file)
{
    spdf_context *ctx = new_context();
    spdf_model *model = new_model(ctx, 14);
    exported e = export_model(model, "ours.safetensors");
    /* Rebuild: every tensor renamed, then attn.bias buffers and lm_head.weight appended. */
    size_t capacity = strlen(e.json) * 2 + 4096;
    char *json = malloc(capacity);
    const size_t wte_bytes = (size_t)V * C * 4, buffer_bytes = MAXT * MAXT * 4;
    size_t data_bytes = e.data_bytes + LAYERS * buffer_bytes + wte_bytes;
    unsigned char *data = calloc(1, data_bytes);
    memcpy(data, e.data, e.data_bytes);
    memcpy(data + e.data_bytes + LAYERS * buffer_bytes, e.data, wte_bytes); /* wte comes first */
    /* The metadata holds "format" only; every name gets the prefix. */
    char *body = replaced_all(strstr(e.json, "},\""), "},\"", "},\"transformer.");
    *strrchr(body, '}') = '\0'; /* the closing brace, before the padding */
    snprintf(json, capacity, "{\"__metadata__\":{\"format\":\"pt\"%s", body);
    size_t at = e.data_bytes;
    for (int l = 0; l < LAYERS; l++, at += buffer_bytes) {
        char member[200];
        snprintf(member, sizeof member, ",\"transformer.h.%d.attn.bias\":{\"dtype\":\"F32\","
                 "\"shape\":[1,1,%d,%d],\"data_offsets\":[%zu,%zu]}", l, MAXT, MAXT, at,
                 at + buffer_bytes);
        strcat(json, member);
    }
    char member[200];
    snprintf(member, sizeof member, ",\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],"
             "\"data_offsets\":[%zu,%zu]}}", V, C, at, at + wte_bytes);
    strcat(json, member);
    const char *path = scratch_path("transformers.safetensors");
    write_safetensors(path, json, data, data_bytes);

    spdf_model *imported = (spdf_model *)&imported;
    expect_failure(import_file(ctx, path, &imported), SPDF_EINVAL, "num_heads", "no n_head");
    ck_assert_ptr_eq(imported, (spdf_model *)&imported);
    spdf_import_config config;
    MUST(spdf_import_config_init(&config));
    config.num_heads = 3;
    expect_failure(spdf_model_import_safetensors(ctx, path, &config, &imported), SPDF_EINVAL,
                   "divisor", "3 heads");
    config.num_heads = HEADS;
    config.seed = 99;
    MUST(spdf_model_import_safetensors(ctx, path, &config, &imported));
    assert_same_weights(model, imported);
    assert_same_logits(model, imported);
    spdf_model_config got = {.struct_size = sizeof got};
    MUST(spdf_model_get_config(imported, &got));
    ck_assert_uint_eq(got.seed, 99);
    spdf_model_free(imported);

    /* An untied head is refused. */
    data[e.data_bytes + LAYERS * buffer_bytes + 5] ^= 0x40;
    write_safetensors(path, json, data, data_bytes);
    expect_failure(spdf_model_import_safetensors(ctx, path, &config, &imported),
                   SPDF_EUNSUPPORTED, "lm_head", "untied head");
    free(body);
    free(json);
    free(data);
    exported_free(&e);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* One malformed variant: header text and data, expected to fail with SPDF_EFORMAT. */
static void expect_malformed(spdf_context *ctx, const char *json, const void *data, size_t bytes,
                             const char *needle, const char *what)
{
    const char *path = scratch_path("malformed.safetensors");
    write_safetensors(path, json, data, bytes);
    spdf_model *model = (spdf_model *)&model;
    expect_failure(import_file(ctx, path, &model), SPDF_EFORMAT, needle, what);
    ck_assert_ptr_eq(model, (spdf_model *)&model);
}

static void expect_malformed_bytes(spdf_context *ctx, const unsigned char *file, size_t size,
                                   const char *needle, const char *what)
{
    const char *path = scratch_path("malformed.safetensors");
    write_bytes(path, file, size);
    spdf_model *model = (spdf_model *)&model;
    expect_failure(import_file(ctx, path, &model), SPDF_EFORMAT, needle, what);
    ck_assert_ptr_eq(model, (spdf_model *)&model);
}

START_TEST(test_malformed_safetensors)
{
    spdf_context *ctx = new_context();
    spdf_model *model = new_model(ctx, 15);
    exported e = export_model(model, "good.safetensors");
    unsigned char *file = malloc(e.size + 64);
    memcpy(file, e.file, e.size);

    /* Truncations, and bytes appended. */
    const size_t cuts[] = {0, 4, 8, 12, 8 + strlen(e.json) / 2, 8 + strlen(e.json), e.size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        expect_malformed_bytes(ctx, file, cuts[i], NULL, "truncated");
    memset(file + e.size, 0, 4);
    expect_malformed_bytes(ctx, file, e.size + 4, "belong to no tensor", "trailing bytes");

    /* Header lengths: 0, past the end, absurd. */
    const uint64_t lengths[] = {0, 1, e.size - 7, (uint64_t)1 << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        memcpy(file, e.file, e.size);
        for (int b = 0; b < 8; b++) file[b] = (unsigned char)(lengths[i] >> 8 * b);
        expect_malformed_bytes(ctx, file, e.size, "header length", "bad header length");
    }
    /* A length that cuts the JSON short. */
    memcpy(file, e.file, e.size);
    file[0] = (unsigned char)(file[0] - 8);
    expect_malformed_bytes(ctx, file, e.size, NULL, "short header length");

    /* JSON syntax and encoding. */
    struct { const char *from, *to, *needle; } edits[] = {
        {"{\"__metadata__\"", "[\"__metadata__\"", "start with"},
        {"\"dtype\":\"F32\"", "\"dtype\":\"F32\",", NULL},         /* trailing comma */
        {"\"dtype\":\"F32\"", "\"dtype\";\"F32\"", NULL},
        {"\"shape\":[", "\"shape\":[01,", NULL},                   /* leading zero */
        {"\"format\":\"pt\"", "\"format\":\"\xff\"", "UTF-8"},
        {"\"dtype\":\"F32\"", "\"dtype\":\"F32\",\"dtype\":\"F32\"", NULL}, /* repeated member */
        /* dtypes */
        {"\"dtype\":\"F32\"", "\"dtype\":\"F33\"", "unknown dtype"},
        {"\"dtype\":\"F32\"", "\"dtype\":\"I32\"", "only F32"},
        {"\"dtype\":\"F32\"", "\"dtype\":\"F16\"", "needs"},
        {"\"dtype\":\"F32\"", "\"dtype\":32", "unknown dtype"},
        /* shapes and offsets */
        {"\"shape\":[64,16]", "\"shape\":[16,64]", "must have shape"},
        {"\"shape\":[64,16]", "\"shape\":[32,16]", "needs"},
        {"\"shape\":[64,16]", "\"shape\":[-64,16]", "non-negative"},
        {"\"shape\":[64,16]", "\"shape\":[64.0,16]", "non-negative"},
        {"\"data_offsets\":[0,4096]", "\"data_offsets\":[0]", "two non-negative"},
        {"\"data_offsets\":[0,4096]", "\"data_offsets\":[4096,0]", "before it begins"},
        {"\"data_offsets\":[4096,5120]", "\"data_offsets\":[4092,5116]", "overlap"},
        {"\"data_offsets\":[0,4096]", "\"data_offsets\":[0,99999999999]", "outside"},
        {"\"data_offsets\":[0,4096]", "\"data_offsets\":[18446744073709551615,0]",
         "two non-negative"},
        {"\"dtype\":\"F32\",", "\"dtype\":\"F32\",\"extra\":1,", "unknown member"},
        {"\"dtype\":\"F32\",", "", "lacks"},
        {"\"wte.weight\"", "\"wte.weight.x\"", "unexpected tensor"},
        {"\"h.1.ln_1.weight\"", "\"h.01.ln_1.weight\"", "unexpected tensor"},
        {"\"ln_f.bias\"", "\"transformer.ln_f.weight\"", "same weight"},
        /* metadata */
        {"\"n_layer\":\"2\"", "\"n_layer\":\"3\"", "n_layer"},
        {"\"n_embd\":\"16\"", "\"n_embd\":\"x\"", "decimal"},
        {"\"n_head\":\"2\"", "\"n_head\":\"5\"", "divisor"},
        {"\"n_head\":\"2\"", "\"n_head\":2", "must be a string"},
        {"{\"__metadata__\":{", "{\"__metadata__\":[],\"x\":{", "__metadata__"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *json = replaced(e.json, edits[i].from, edits[i].to);
        char what[160];
        snprintf(what, sizeof what, "edit %zu: %s", i, edits[i].to);
        expect_malformed(ctx, json, e.data, e.data_bytes, edits[i].needle, what);
        free(json);
    }
    /* A gap: the first tensor's bytes belong to nobody once it is gone; missing tensors. */
    const char *gone[] = {"wte.weight", "h.1.mlp.c_fc.bias", "ln_f.bias", "h.0.attn.c_attn.weight"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        char *json = without_member(e.json, gone[i]);
        expect_malformed(ctx, json, e.data, e.data_bytes, NULL, gone[i]);
        free(json);
    }
    /* Missing, but with the data tiling exactly: the last tensor dropped with its bytes. */
    {
        char *json = without_member(e.json, "ln_f.bias");
        expect_malformed(ctx, json, e.data, e.data_bytes - C * 4, "missing tensor 'ln_f.bias'",
                         "ln_f.bias and its data");
        free(json);
    }
    /* Not JSON at all, and not an object. */
    expect_malformed(ctx, "{not json}", "", 0, NULL, "not json");
    expect_malformed(ctx, "{}", "", 0, "no transformer blocks", "empty object");
    expect_malformed(ctx, "{\"a\":1}", "", 0, "object", "member not an object");
    /* A NUL byte in the header. */
    memcpy(file, e.file, e.size);
    file[8 + 3] = '\0';
    expect_malformed_bytes(ctx, file, e.size, "NUL", "NUL byte");

    /* Missing files and directories are I/O errors. */
    spdf_model *none = NULL;
    expect_failure(import_file(ctx, scratch_path("absent.safetensors"), &none), SPDF_EIO,
                   "absent.safetensors", "absent file");
    expect_failure(import_file(ctx, scratch_dir, &none), SPDF_EIO, NULL, "directory");
    free(file);
    exported_free(&e);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_export_replaces_atomically)
{
    spdf_context *ctx = new_context();
    spdf_model *a = new_model(ctx, 16), *b = new_model(ctx, 17);
    const int before = scratch_count("");
    const char *path = scratch_path("replace.safetensors");
    write_bytes(path, "old", 3);
    MUST(spdf_model_export_safetensors(a, path));
    MUST(spdf_model_export_safetensors(b, path));
    ck_assert_int_eq(scratch_count(""), before + 1); /* no temporary file left behind */
    spdf_model *imported = NULL;
    MUST(import_file(ctx, path, &imported));
    assert_same_weights(b, imported);
    spdf_model_free(imported);
    /* A directory that does not exist: SPDF_EIO, nothing written. */
    expect_failure(spdf_model_export_safetensors(a, scratch_path("no/such/dir.safetensors")),
                   SPDF_EIO, "no/such", "missing directory");
    ck_assert_int_eq(scratch_count(""), before + 1);
    spdf_model_free(a);
    spdf_model_free(b);
    spdf_context_free(ctx);
}
END_TEST

/* ---- llm.c checkpoints, written here byte by byte ---- */

/* Value number k of parameter kind `kind` in the test file: a pattern that shifts from kind to
 * kind and repeats only every 113 values, exact in bf16 (6 significant bits). */
static float llmc_value(int kind, int64_t k) { return (float)((k + 7 * kind) % 113 - 56) / 8.0f; }

/* An llm.c file: header, then the 16 kinds, each for all layers together. */
static unsigned char *llmc_file(int version, int32_t Vp, size_t *size)
{
    const int64_t sizes[16] = {(int64_t)Vp * C, MAXT * C, LAYERS * C, LAYERS * C,
                               LAYERS * 3 * C * C, LAYERS * 3 * C, LAYERS * C * C, LAYERS * C,
                               LAYERS * C, LAYERS * C, LAYERS * 4 * C * C, LAYERS * 4 * C,
                               LAYERS * C * 4 * C, LAYERS * C, C, C};
    const int bytes_per = version == 3 ? 4 : 2;
    int64_t total = 0;
    for (int k = 0; k < 16; k++) total += sizes[k];
    *size = 1024 + (size_t)total * (size_t)bytes_per;
    unsigned char *file = calloc(1, *size);
    const int32_t header[8] = {20240326, version, MAXT, V, LAYERS, HEADS, C, Vp};
    for (int i = 0; i < 8; i++) put_u32(file + 4 * i, (uint32_t)header[i]);
    unsigned char *p = file + 1024;
    for (int kind = 0; kind < 16; kind++)
        for (int64_t k = 0; k < sizes[kind]; k++, p += bytes_per) {
            const float v = llmc_value(kind, k);
            if (bytes_per == 4) {
                put_f32(p, v);
            } else {
                uint32_t bits;
                memcpy(&bits, &v, 4);
                p[0] = (unsigned char)(bits >> 16);
                p[1] = (unsigned char)(bits >> 24);
            }
        }
    return file;
}

/* The imported tensors hold the file's values, layer slices at the right places. */
static void check_llmc_model(const spdf_model *model)
{
    /* Elements per layer of each block kind (kinds 2..13). */
    const int64_t per_layer[12] = {C, C, 3 * C * C, 3 * C, C * C, C,
                                   C, C, 4 * C * C, 4 * C, 4 * C * C, C};
    int64_t n;
    float *wte = tensor_values(model, 0, &n);
    ck_assert_int_eq(n, V * C);
    for (int64_t k = 0; k < n; k++) ck_assert_float_eq(wte[k], llmc_value(0, k));
    free(wte);
    float *wpe = tensor_values(model, 1, &n);
    for (int64_t k = 0; k < n; k++) ck_assert_float_eq(wpe[k], llmc_value(1, k));
    free(wpe);
    for (int l = 0; l < LAYERS; l++)
        for (int j = 0; j < 12; j++) {
            float *w = tensor_values(model, 2 + l * 12 + j, &n);
            ck_assert_int_eq(n, per_layer[j]);
            for (int64_t k = 0; k < n; k++)
                ck_assert_float_eq(w[k], llmc_value(j + 2, l * per_layer[j] + k));
            free(w);
        }
    for (int j = 0; j < 2; j++) {
        float *w = tensor_values(model, 2 + LAYERS * 12 + j, &n);
        for (int64_t k = 0; k < n; k++) ck_assert_float_eq(w[k], llmc_value(14 + j, k));
        free(w);
    }
}

START_TEST(test_llmc_import)
{
    spdf_context *ctx = new_context();
    const int versions[] = {3, 5};
    const int32_t padded[] = {V, 128};
    for (int vi = 0; vi < 2; vi++)
        for (int pi = 0; pi < 2; pi++) {
            size_t size;
            unsigned char *file = llmc_file(versions[vi], padded[pi], &size);
            const char *path = scratch_path("gpt2.bin");
            write_bytes(path, file, size);
            spdf_model *model = NULL;
            MUST(spdf_model_import_llmc(ctx, path, &model));
            spdf_model_config config = {.struct_size = sizeof config};
            MUST(spdf_model_get_config(model, &config));
            ck_assert(config.vocab_size == V && config.max_seq_len == MAXT &&
                      config.num_layers == LAYERS && config.num_heads == HEADS &&
                      config.channels == C);
            check_llmc_model(model);
            float *logits = logits_of(model); /* it runs */
            free(logits);
            spdf_model_free(model);
            free(file);
        }
    spdf_context_free(ctx);
}
END_TEST

static void expect_bad_llmc(spdf_context *ctx, const unsigned char *file, size_t size,
                            const char *needle, const char *what)
{
    const char *path = scratch_path("bad.bin");
    write_bytes(path, file, size);
    spdf_model *model = (spdf_model *)&model;
    expect_failure(spdf_model_import_llmc(ctx, path, &model), SPDF_EFORMAT, needle, what);
    ck_assert_ptr_eq(model, (spdf_model *)&model);
}

START_TEST(test_llmc_malformed)
{
    spdf_context *ctx = new_context();
    size_t size;
    unsigned char *good = llmc_file(3, 128, &size);
    unsigned char *file = malloc(size + 8);
    struct { int word; int32_t value; const char *needle; } edits[] = {
        {0, 20240520, "magic"}, {0, 0, "magic"}, {1, 1, "version"}, {1, 4, "version"},
        {1, 5, "trailing"}, /* bf16 sizes: the file is twice too long */
        {2, 0, "positive"}, {3, -1, "positive"}, {4, 0, "positive"}, {5, 0, "positive"},
        {6, -16, "positive"}, {5, 3, "divide"}, {7, 32, "smaller"}, {4, 3, "truncated"},
        {2, 8, "trailing"}, {6, 0x40000000, "truncated"}, {4, 0x7fffffff, "truncated"}};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(file, good, size);
        put_u32(file + 4 * edits[i].word, (uint32_t)edits[i].value);
        char what[64];
        snprintf(what, sizeof what, "word %d = %d", edits[i].word, (int)edits[i].value);
        expect_bad_llmc(ctx, file, size, edits[i].needle, what);
    }
    memcpy(file, good, size);
    expect_bad_llmc(ctx, file, size - 1, "truncated", "one byte short");
    expect_bad_llmc(ctx, file, 1023, "too few", "short header");
    expect_bad_llmc(ctx, file, 0, "too few", "empty");
    file[size] = 0;
    expect_bad_llmc(ctx, file, size + 1, "trailing", "one byte more");
    spdf_model *model = NULL;
    expect_failure(spdf_model_import_llmc(ctx, scratch_path("absent.bin"), &model), SPDF_EIO,
                   "absent.bin", "absent");
    expect_failure(spdf_model_import_llmc(ctx, scratch_dir, &model), SPDF_EIO, NULL, "directory");
    /* A sane header that libspdf cannot build (more positions than it supports). */
    unsigned char header[1024] = {0};
    const int32_t words[8] = {20240326, 3, 1 << 20, 1, 1, 1, 1, 1};
    for (int i = 0; i < 8; i++) put_u32(header + 4 * i, (uint32_t)words[i]);
    const size_t big = 1024 + 4 * (size_t)(1 + (1 << 20) + 12 + 13 + 2);
    unsigned char *large = calloc(1, big);
    memcpy(large, header, sizeof header);
    write_bytes(scratch_path("large.bin"), large, big);
    expect_failure(spdf_model_import_llmc(ctx, scratch_path("large.bin"), &model),
                   SPDF_EUNSUPPORTED, "max_seq_len", "unsupported configuration");
    free(large);
    free(file);
    free(good);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(test_invalid_arguments)
{
    spdf_context *ctx = new_context();
    spdf_model *model = new_model(ctx, 18);
    const char *path = scratch_path("args.safetensors");
    MUST(spdf_model_export_safetensors(model, path));
    spdf_model *out = NULL;
    spdf_import_config config;
    ck_assert_int_eq(spdf_import_config_init(NULL), SPDF_EINVAL);
    MUST(spdf_import_config_init(&config));
    ck_assert_int_eq(config.struct_size, sizeof config);
    ck_assert_int_eq(config.num_heads, 0);
    ck_assert_uint_eq(config.seed, 1337);
    ck_assert_int_eq(spdf_model_export_safetensors(NULL, path), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_export_safetensors(model, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_import_safetensors(NULL, path, NULL, &out), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_import_safetensors(ctx, NULL, NULL, &out), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_import_safetensors(ctx, path, NULL, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_import_llmc(NULL, path, &out), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_import_llmc(ctx, NULL, &out), SPDF_EINVAL);
    ck_assert_int_eq(spdf_model_import_llmc(ctx, path, NULL), SPDF_EINVAL);
    spdf_import_config bad = config;
    bad.struct_size = 0;
    expect_failure(spdf_model_import_safetensors(ctx, path, &bad, &out), SPDF_EINVAL,
                   "struct_size", "struct_size 0");
    bad = config;
    bad.reserved = 1;
    expect_failure(spdf_model_import_safetensors(ctx, path, &bad, &out), SPDF_EINVAL, "reserved",
                   "reserved");
    bad = config;
    bad.num_heads = -1;
    ck_assert_int_eq(spdf_model_import_safetensors(ctx, path, &bad, &out), SPDF_EINVAL);
    bad = config;
    bad.num_heads = 4; /* divides 16, but the metadata says 2 */
    expect_failure(spdf_model_import_safetensors(ctx, path, &bad, &out), SPDF_EINVAL, "n_head",
                   "heads contradict the metadata");
    ck_assert_ptr_null(out);
    /* The llm.c reader on a safetensors file, and the other way round. */
    expect_failure(spdf_model_import_llmc(ctx, path, &out), SPDF_EFORMAT, NULL, "wrong reader");
    ck_assert_str_eq(spdf_status_name(SPDF_OK), "SPDF_OK");
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

/* Other files given to the safetensors reader are "not a safetensors file", not a damaged one
 * with an absurd header length read from their first 8 bytes. */
START_TEST(test_not_safetensors)
{
    spdf_context *ctx = new_context();
    spdf_model *model = new_model(ctx, 18);
    const char *checkpoint = scratch_path("model.ckpt");
    MUST(spdf_checkpoint_save(checkpoint, model, NULL, NULL));
    spdf_model *none = NULL;
    expect_failure(import_file(ctx, checkpoint, &none), SPDF_EFORMAT, "not a safetensors file",
                   "a libspdf checkpoint");
    ck_assert_msg(strstr(spdf_last_error(), "bad header length") == NULL, "%s", spdf_last_error());
    ck_assert_msg(strstr(spdf_last_error(), "libspdf checkpoint") != NULL, "%s", spdf_last_error());

    size_t size = 0;
    unsigned char *llmc = llmc_file(3, 128, &size);
    write_bytes(scratch_path("model.bin"), llmc, size);
    expect_failure(import_file(ctx, scratch_path("model.bin"), &none), SPDF_EFORMAT,
                   "not a safetensors file: it is an llm.c checkpoint", "an llm.c checkpoint");
    free(llmc);

    const char text[] = "First Citizen:\nBefore we proceed any further, hear me speak.\n";
    write_bytes(scratch_path("input.txt"), text, sizeof text - 1);
    expect_failure(import_file(ctx, scratch_path("input.txt"), &none), SPDF_EFORMAT,
                   "not a safetensors file", "a text file");
    ck_assert_msg(strstr(spdf_last_error(), "bad header length") == NULL, "%s", spdf_last_error());
    ck_assert_ptr_null(none);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

static Suite *interop_suite(void)
{
    Suite *suite = suite_create("interop");
    TCase *safetensors = tcase_create("safetensors");
    tcase_add_unchecked_fixture(safetensors, scratch_create, scratch_remove);
    tcase_set_timeout(safetensors, 300);
    tcase_add_test(safetensors, test_round_trip_dense);
    tcase_add_test(safetensors, test_round_trip_sparse);
    tcase_add_test(safetensors, test_hugging_face_layout);
    tcase_add_test(safetensors, test_transformers_style_file);
    tcase_add_test(safetensors, test_malformed_safetensors);
    tcase_add_test(safetensors, test_not_safetensors);
    tcase_add_test(safetensors, test_export_replaces_atomically);
    tcase_add_test(safetensors, test_invalid_arguments);
    suite_add_tcase(suite, safetensors);
    TCase *llmc = tcase_create("llmc");
    tcase_add_unchecked_fixture(llmc, scratch_create, scratch_remove);
    tcase_set_timeout(llmc, 300);
    tcase_add_test(llmc, test_llmc_import);
    tcase_add_test(llmc, test_llmc_malformed);
    suite_add_tcase(suite, llmc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(interop_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
