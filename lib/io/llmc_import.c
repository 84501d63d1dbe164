/* GPT-2 checkpoints of llm.c (train_gpt2.c, train_gpt2.py): a 256-word header, then each kind of
 * parameter for all layers together, fp32 or bf16, read into a new dense model. */
#include "core/core.h"
#include "io/byte_order.h"
#include "io/file_io.h"
#include "model/model.h"
#include "model/tensor_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HEADER_WORDS 256
#define HEADER_BYTES (HEADER_WORDS * 4)
#define MAGIC 20240326
#define VERSION_FP32 3 /* every tensor fp32, padded vocabulary */
#define VERSION_BF16 5 /* every tensor bf16, padded vocabulary */
#define CHUNK_VALUES 4096

/* Header words (llm.c's model_header[]). */
enum {
    AT_MAGIC, AT_VERSION, AT_MAX_SEQ_LEN, AT_VOCAB, AT_LAYERS, AT_HEADS, AT_CHANNELS,
    AT_PADDED_VOCAB
};

typedef struct llmc_file {
    const char *path;
    FILE *file;
    uint64_t size;
    int value_bytes; /* 4 (fp32) or 2 (bf16) */
    int64_t maxT, V, Vp, L, NH, C;
} llmc_file;

/* "llm.c checkpoint '<path>': <problem>" as SPDF_EFORMAT. */
#define FORMAT_FAIL(path, ...) file_format_fail("llm.c checkpoint", path, __VA_ARGS__)

/* fp32 as its little-endian bit pattern, or bf16 as the top half of one. */
static float load_value(const unsigned char *p, int value_bytes)
{
    if (value_bytes == 4) return load_f32le(p);
    const uint32_t bits = ((uint32_t)p[0] | (uint32_t)p[1] << 8) << 16;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Saturating arithmetic, so that an absurd header gives an absurd size, never a wrapped one. */
static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t add_sat(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

/* The model configuration the header describes; the vocabulary padded (as the file holds wte)
 * or not. */
static spdf_model_config header_config(const llmc_file *f, int padded)
{
    spdf_model_config c;
    spdf_model_config_init(&c);
    c.vocab_size = (int32_t)(padded ? f->Vp : f->V);
    c.max_seq_len = (int32_t)f->maxT;
    c.num_layers = (int32_t)f->L;
    c.num_heads = (int32_t)f->NH;
    c.channels = (int32_t)f->C;
    return c;
}

/* Elements of llm.c's parameter array of kind k (its fill_in_parameter_sizes: llm.c keeps the
 * kinds in tensor_kind order, each for all layers) as the file holds it. */
static uint64_t kind_numel(const llmc_file *f, tensor_kind k)
{
    const spdf_model_config c = header_config(f, 1);
    int64_t rows, cols;
    tensor_shape(&c, k, &rows, &cols);
    const uint64_t one = mul_sat((uint64_t)rows, (uint64_t)cols);
    return tensor_spec_of(k)->in_block ? mul_sat((uint64_t)f->L, one) : one;
}

/* The header's configuration, checked for sense and against the size of the file. */
static spdf_status read_header(llmc_file *f)
{
    if (f->size < HEADER_BYTES)
        return FORMAT_FAIL(f->path, "%llu bytes are too few for the %d-byte header",
                           (unsigned long long)f->size, HEADER_BYTES);
    unsigned char header[HEADER_BYTES];
    if (fread(header, 1, sizeof header, f->file) != sizeof header) {
        if (ferror(f->file)) return io_fail(errno, "read", "llm.c checkpoint", f->path);
        return FORMAT_FAIL(f->path, "ended early: the file was shortened while being read");
    }
    const int32_t magic = load_i32le(header + 4 * AT_MAGIC);
    const int32_t version = load_i32le(header + 4 * AT_VERSION);
    if (magic != MAGIC)
        return FORMAT_FAIL(f->path, "not an llm.c GPT-2 checkpoint (magic %d, expected %d)",
                           (int)magic, MAGIC);
    if (version != VERSION_FP32 && version != VERSION_BF16)
        return FORMAT_FAIL(f->path, "unsupported version %d (this library reads 3, fp32, and 5, "
                           "bf16)", (int)version);
    f->value_bytes = version == VERSION_FP32 ? 4 : 2;
    f->maxT = load_i32le(header + 4 * AT_MAX_SEQ_LEN);
    f->V = load_i32le(header + 4 * AT_VOCAB);
    f->L = load_i32le(header + 4 * AT_LAYERS);
    f->NH = load_i32le(header + 4 * AT_HEADS);
    f->C = load_i32le(header + 4 * AT_CHANNELS);
    f->Vp = load_i32le(header + 4 * AT_PADDED_VOCAB);
    if (f->maxT < 1 || f->V < 1 || f->L < 1 || f->NH < 1 || f->C < 1)
        return FORMAT_FAIL(f->path, "the header's configuration must be positive (max_seq_len "
                           "%lld, vocab_size %lld, num_layers %lld, num_heads %lld, channels %lld)",
                           (long long)f->maxT, (long long)f->V, (long long)f->L, (long long)f->NH,
                           (long long)f->C);
    if (f->Vp < f->V)
        return FORMAT_FAIL(f->path, "padded vocabulary %lld is smaller than the vocabulary %lld",
                           (long long)f->Vp, (long long)f->V);
    if (f->C % f->NH != 0)
        return FORMAT_FAIL(f->path, "num_heads %lld does not divide channels %lld",
                           (long long)f->NH, (long long)f->C);
    uint64_t expected = HEADER_BYTES;
    for (int k = 0; k < TENSOR_KINDS; k++)
        expected = add_sat(expected, mul_sat(kind_numel(f, (tensor_kind)k), (uint64_t)f->value_bytes));
    if (f->size != expected)
        return FORMAT_FAIL(f->path, "%s: the header's configuration needs %llu bytes, the file has "
                           "%llu", f->size < expected ? "truncated" : "trailing bytes",
                           (unsigned long long)expected, (unsigned long long)f->size);
    return SPDF_OK;
}

/* Reads count values into dst (dst NULL: skips them). */
static spdf_status read_values(const llmc_file *f, float *dst, int64_t count)
{
    if (!dst) {
        if (fseeko(f->file, (off_t)(count * f->value_bytes), SEEK_CUR) != 0)
            return io_fail(errno, "seek in", "llm.c checkpoint", f->path);
        return SPDF_OK;
    }
    unsigned char bytes[CHUNK_VALUES * 4];
    for (int64_t done = 0; done < count; done += CHUNK_VALUES) {
        const size_t n = (size_t)(count - done < CHUNK_VALUES ? count - done : CHUNK_VALUES);
        if (fread(bytes, (size_t)f->value_bytes, n, f->file) != n) {
            if (ferror(f->file)) return io_fail(errno, "read", "llm.c checkpoint", f->path);
            return FORMAT_FAIL(f->path, "ended early: the file was shortened while being read");
        }
        for (size_t i = 0; i < n; i++)
            dst[done + (int64_t)i] = load_value(bytes + i * (size_t)f->value_bytes, f->value_bytes);
    }
    return SPDF_OK;
}

/* The parameter arrays in file order: kind by kind, each for layer 0 .. L-1. */
static spdf_status load_parameters(const llmc_file *f, spdf_model *model)
{
    const spdf_model_config c = header_config(f, 0);
    for (int k = 0; k < TENSOR_KINDS; k++) {
        const tensor_kind kind = (tensor_kind)k;
        const int layers = tensor_spec_of(kind)->in_block ? (int)f->L : 1;
        for (int l = 0; l < layers; l++) {
            float *data = NULL;
            SPDF_TRY(spdf_model_tensor_data(model, tensor_index(&c, kind, l), &data));
            const int64_t numel = kind == TENSOR_WTE ? f->V * f->C : (int64_t)kind_numel(f, kind) / layers;
            SPDF_TRY(read_values(f, data, numel));
            if (kind == TENSOR_WTE) SPDF_TRY(read_values(f, NULL, (f->Vp - f->V) * f->C)); /* padding rows */
        }
    }
    return SPDF_OK;
}

spdf_status spdf_model_import_llmc(spdf_context *ctx, const char *path, spdf_model **out)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(ctx, HANDLE_CONTEXT);
    SPDF_CHECK_ARG(path);
    SPDF_CHECK_ARG(out);
    llmc_file f = {.path = path};
    f.file = fopen(path, "rb");
    if (!f.file) return io_fail(errno, "open", "llm.c checkpoint", path);
    struct stat st;
    spdf_status status = SPDF_OK;
    if (fstat(fileno(f.file), &st) != 0) status = io_fail(errno, "inspect", "llm.c checkpoint", path);
    else if (S_ISDIR(st.st_mode)) status = io_fail(EISDIR, "read", "llm.c checkpoint", path);
    else f.size = (uint64_t)st.st_size;
    if (status == SPDF_OK) status = read_header(&f);
    spdf_model *model = NULL;
    if (status == SPDF_OK) {
        const spdf_model_config config = header_config(&f, 0);
        status = spdf_model_create(ctx, &config, &model);
        if (status == SPDF_EINVAL) {
            char reason[256];
            snprintf(reason, sizeof reason, "%s", spdf_last_error());
            status = spdf_fail(SPDF_EUNSUPPORTED, "llm.c checkpoint '%s': libspdf cannot build "
                               "this model: %s", path, reason);
        }
    }
    if (status == SPDF_OK) status = load_parameters(&f, model);
    if (status == SPDF_OK) status = model_check_finite(model, NULL, 0, "llm.c checkpoint", path);
    fclose(f.file);
    if (status != SPDF_OK) {
        spdf_model_free(model);
        return status;
    }
    *out = model;
    return SPDF_OK;
}
