/* Hugging Face safetensors: a model's weights under GPT-2's names and layout (Conv1D weights
 * transposed), written atomically, and such files, libspdf's or transformers', read back. */
#include "core/core.h"
#include "io/byte_order.h"
#include "io/file_io.h"
#include "io/json.h"
#include "io/text.h"
#include "model/model.h"
#include "model/tensor_table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The file: an 8-byte little-endian header length N, N bytes of JSON, then the tensor data. */
#define LENGTH_BYTES 8
#define MAX_HEADER_BYTES 100000000 /* the safetensors library's own limit */
#define MAX_LAYERS 1024            /* spdf_model_create's limit */
#define CHUNK_FLOATS 4096
#define DEFAULT_SEED 1337
#define LLMC_MAGIC 20240326u       /* the first int32 of an llm.c checkpoint (llmc_import.c) */

/* Names, shapes and the Conv1D layout come from the model's tensor table
 * (lib/model/tensor_table.h). */

/* The configuration of a model as the public API reports it. */
static spdf_status config_of(const spdf_model *model, spdf_model_config *c)
{
    spdf_model_config_init(c);
    return spdf_model_get_config(model, c);
}

/* ---- errors ---- */

/* "safetensors file '<path>': <problem>" as SPDF_EFORMAT. */
#define FORMAT_FAIL(path, ...) file_format_fail("safetensors file", path, __VA_ARGS__)

spdf_status spdf_import_config_init(spdf_import_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    config->seed = DEFAULT_SEED;
    return SPDF_OK;
}

/* ================================ writing ================================ */

/* The tensor's shape as Hugging Face stores it: 1-D vectors, 2-D matrices, Conv1D transposed. */
static void hf_shape(const spdf_tensor_info *info, tensor_kind kind, int64_t shape[2])
{
    const int transposed = tensor_spec_of(kind)->hf_transposed;
    shape[0] = transposed ? info->shape[1] : info->shape[0];
    shape[1] = transposed ? info->shape[0] : info->shape[1];
}

static int append_format(text_buffer *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int append_format(text_buffer *b, const char *fmt, ...)
{
    char piece[256];
    va_list args;
    va_start(args, fmt);
    const int n = vsnprintf(piece, sizeof piece, fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof piece) return -1;
    return text_append(b, piece, (size_t)n);
}

/* The JSON header, padded with spaces to a multiple of 8 bytes (as the safetensors library
 * does) so that the data starts aligned.  Tensors appear, and are stored, in table order. */
static spdf_status build_header(const spdf_model *model, text_buffer *json, int64_t *max_numel)
{
    spdf_model_config c;
    int32_t count = 0;
    SPDF_TRY(config_of(model, &c));
    SPDF_TRY(spdf_model_num_tensors(model, &count));
    int failed = append_format(json, "{\"__metadata__\":{\"format\":\"pt\",\"n_embd\":\"%d\","
                               "\"n_head\":\"%d\",\"n_layer\":\"%d\",\"n_positions\":\"%d\","
                               "\"vocab_size\":\"%d\"}", (int)c.channels, (int)c.num_heads,
                               (int)c.num_layers, (int)c.max_seq_len, (int)c.vocab_size) != 0;
    uint64_t offset = 0;
    *max_numel = 0;
    for (int32_t i = 0; i < count && !failed; i++) {
        spdf_tensor_info info = {.struct_size = sizeof info};
        SPDF_TRY(spdf_model_tensor_info(model, i, &info));
        int layer;
        const tensor_kind kind = tensor_kind_at(&c, i, &layer);
        char name[64];
        tensor_name(kind, layer, 1, name, sizeof name);
        int64_t shape[2];
        hf_shape(&info, kind, shape);
        const uint64_t bytes = (uint64_t)info.numel * 4;
        failed |= append_format(json, ",\"%s\":{\"dtype\":\"F32\",\"shape\":", name) != 0;
        failed |= (info.ndim == 1 ? append_format(json, "[%lld]", (long long)shape[0])
                                  : append_format(json, "[%lld,%lld]", (long long)shape[0],
                                                  (long long)shape[1])) != 0;
        failed |= append_format(json, ",\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                                (unsigned long long)(offset + bytes)) != 0;
        offset += bytes;
        if (info.numel > *max_numel) *max_numel = info.numel;
    }
    failed |= text_push(json, '}') != 0;
    while (!failed && json->len % 8 != 0) failed |= text_push(json, ' ') != 0;
    if (failed) return spdf_fail(SPDF_ENOMEM, "out of memory for a safetensors header");
    return SPDF_OK;
}

static spdf_status put(FILE *file, const char *path, const void *data, size_t bytes)
{
    if (bytes > 0 && fwrite(data, 1, bytes, file) != bytes) return io_fail(errno, "write", "safetensors file", path);
    return SPDF_OK;
}

/* values (rows, cols) row-major -> out (cols, rows). */
static void transpose(const float *values, int64_t rows, int64_t cols, float *out)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
}

static spdf_status put_tensor(FILE *file, const char *path, const spdf_model *model, int32_t index,
                              const spdf_model_config *c, float *values, float *scratch)
{
    spdf_tensor_info info = {.struct_size = sizeof info};
    SPDF_TRY(spdf_model_tensor_info(model, index, &info));
    SPDF_TRY(spdf_model_tensor_read(model, index, values, info.numel)); /* the dense view */
    int layer;
    const float *out = values;
    if (tensor_spec_of(tensor_kind_at(c, index, &layer))->hf_transposed) {
        transpose(values, info.shape[0], info.shape[1], scratch);
        out = scratch;
    }
    unsigned char bytes[CHUNK_FLOATS * 4];
    for (int64_t done = 0; done < info.numel; done += CHUNK_FLOATS) {
        const int64_t n = info.numel - done < CHUNK_FLOATS ? info.numel - done : CHUNK_FLOATS;
        for (int64_t k = 0; k < n; k++) store_f32le(bytes + 4 * k, out[done + k]);
        SPDF_TRY(put(file, path, bytes, (size_t)n * 4));
    }
    return SPDF_OK;
}

static spdf_status write_safetensors(FILE *file, const char *path, const spdf_model *model)
{
    text_buffer json = {0};
    int64_t max_numel = 0;
    spdf_status status = build_header(model, &json, &max_numel);
    int32_t count = 0;
    spdf_model_config c;
    if (status == SPDF_OK) status = spdf_model_num_tensors(model, &count);
    if (status == SPDF_OK) status = config_of(model, &c);
    unsigned char length[LENGTH_BYTES];
    for (int i = 0; i < LENGTH_BYTES; i++) length[i] = (unsigned char)((uint64_t)json.len >> 8 * i);
    if (status == SPDF_OK) status = put(file, path, length, sizeof length);
    if (status == SPDF_OK) status = put(file, path, json.data, json.len);
    text_buffer_free(&json);
    float *values = NULL, *scratch = NULL;
    if (status == SPDF_OK) {
        values = malloc((size_t)max_numel * sizeof(float));
        scratch = malloc((size_t)max_numel * sizeof(float));
        if (!values || !scratch)
            status = spdf_fail(SPDF_ENOMEM, "out of memory for a tensor of %lld floats",
                               (long long)max_numel);
    }
    for (int32_t i = 0; i < count && status == SPDF_OK; i++)
        status = put_tensor(file, path, model, i, &c, values, scratch);
    free(values);
    free(scratch);
    return status;
}

static spdf_status write_safetensors_file(FILE *file, const char *tmp_path, void *context)
{
    return write_safetensors(file, tmp_path, context);
}

spdf_status spdf_model_export_safetensors(const spdf_model *model, const char *path)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(path);
    return write_file_atomically(path, "safetensors file", write_safetensors_file, (void *)model);
}

/* ================================ reading ================================ */

/* The dtypes of the safetensors format and their sizes in bytes. */
static int dtype_size(const char *dtype)
{
    static const struct { const char *name; int size; } dtypes[] = {
        {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
        {"U16", 2}, {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},
        {"I64", 8}, {"U64", 8}, {"F64", 8}};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtype, dtypes[i].name) == 0) return dtypes[i].size;
    return 0;
}

/* What a name means to the importer. */
enum role { ROLE_WEIGHT, ROLE_BUFFER, ROLE_LM_HEAD };

/* One tensor of the header. */
typedef struct entry {
    const char *name;
    const char *dtype;
    const json_value *shape; /* array of non-negative integers */
    int ndim;
    int64_t dims[2];         /* the first two dimensions, for weights */
    uint64_t begin, end;     /* data_offsets, relative to the start of the data */
    enum role role;
    tensor_kind kind;        /* ROLE_WEIGHT: which tensor ... */
    int layer;               /* ... of which block (-1 outside the blocks) */
} entry;

typedef struct st_file {
    const char *path;
    FILE *file;
    uint64_t size;        /* of the whole file */
    uint64_t data_start;  /* 8 + N */
    json_value *header;
    entry *entries;
    size_t count;
    const json_value *metadata; /* NULL if absent */
} st_file;

/* A JSON number that is a non-negative integer without fraction or exponent, below 2^63. */
static int parse_count(const json_value *v, uint64_t *out)
{
    if (v->type != JSON_NUMBER || v->length == 0 || v->length > 19) return -1;
    if (v->text[0] == '0' && v->length > 1) return -1;
    uint64_t value = 0;
    for (size_t i = 0; i < v->length; i++) {
        if (v->text[i] < '0' || v->text[i] > '9') return -1;
        value = value * 10 + (uint64_t)(v->text[i] - '0');
    }
    if (value > (uint64_t)INT64_MAX) return -1;
    *out = value;
    return 0;
}

/* A decimal layer number "0", "1", ... below MAX_LAYERS; returns the rest of the string. */
static const char *parse_layer(const char *s, int *layer)
{
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9')) return NULL;
    long value = 0;
    while (*s >= '0' && *s <= '9') {
        value = value * 10 + (*s++ - '0');
        if (value >= MAX_LAYERS) return NULL;
    }
    *layer = (int)value;
    return s;
}

/* Sorts out a tensor name; -1 for a name that is no part of a GPT-2 model. */
static int classify(entry *e)
{
    const char *name = e->name;
    if (strcmp(name, "lm_head.weight") == 0) {
        e->role = ROLE_LM_HEAD;
        return 0;
    }
    if (strncmp(name, "transformer.", 12) == 0) name += 12;
    e->role = ROLE_WEIGHT;
    e->layer = -1;
    for (int k = 0; k < TENSOR_KINDS; k++)
        if (!tensor_spec_of((tensor_kind)k)->in_block && strcmp(name, tensor_spec_of((tensor_kind)k)->hf_name) == 0) {
            e->kind = (tensor_kind)k;
            return 0;
        }
    const char *rest = strncmp(name, "h.", 2) == 0 ? parse_layer(name + 2, &e->layer) : NULL;
    if (!rest || *rest != '.') return -1;
    rest++;
    if (strcmp(rest, "attn.bias") == 0 || strcmp(rest, "attn.masked_bias") == 0) {
        e->role = ROLE_BUFFER;
        return 0;
    }
    for (int k = TENSOR_FIRST_BLOCK; k < TENSOR_FIRST_BLOCK + BLOCK_TENSOR_COUNT; k++)
        if (strcmp(rest, tensor_spec_of((tensor_kind)k)->name) == 0) {
            e->kind = (tensor_kind)k;
            return 0;
        }
    return -1;
}

/* One member of the header object: {"dtype": ..., "shape": [...], "data_offsets": [b, e]}. */
static spdf_status parse_entry(const st_file *f, const char *name, const json_value *v, entry *e)
{
    const char *path = f->path;
    if (v->type != JSON_OBJECT)
        return FORMAT_FAIL(path, "tensor '%s' must be described by an object, not %s", name,
                           json_type_name(v->type));
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(v->keys[i], "dtype") && strcmp(v->keys[i], "shape") &&
            strcmp(v->keys[i], "data_offsets"))
            return FORMAT_FAIL(path, "tensor '%s' has an unknown member \"%s\"", name, v->keys[i]);
    const json_value *dtype = json_member(v, "dtype"), *shape = json_member(v, "shape");
    const json_value *offsets = json_member(v, "data_offsets");
    if (!dtype || !shape || !offsets)
        return FORMAT_FAIL(path, "tensor '%s' lacks \"%s\"", name,
                           !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (dtype->type != JSON_STRING || dtype_size(dtype->text) == 0)
        return FORMAT_FAIL(path, "tensor '%s' has an unknown dtype%s%s", name,
                           dtype->type == JSON_STRING ? " " : "",
                           dtype->type == JSON_STRING ? dtype->text : "");
    if (shape->type != JSON_ARRAY)
        return FORMAT_FAIL(path, "the shape of tensor '%s' must be an array", name);
    if (offsets->type != JSON_ARRAY || offsets->count != 2 ||
        parse_count(&offsets->items[0], &e->begin) != 0 || parse_count(&offsets->items[1], &e->end))
        return FORMAT_FAIL(path, "the data_offsets of tensor '%s' must be two non-negative "
                           "integers", name);
    if (e->end < e->begin)
        return FORMAT_FAIL(path, "tensor '%s' ends (%llu) before it begins (%llu)", name,
                           (unsigned long long)e->end, (unsigned long long)e->begin);
    if (e->end > f->size - f->data_start)
        return FORMAT_FAIL(path, "tensor '%s' (data_offsets [%llu, %llu]) lies outside the file's "
                           "%llu bytes of data", name, (unsigned long long)e->begin,
                           (unsigned long long)e->end,
                           (unsigned long long)(f->size - f->data_start));
    /* The element count, with every dimension and the byte size checked for overflow. */
    uint64_t numel = 1;
    e->ndim = (int)shape->count;
    e->dims[0] = e->dims[1] = 1;
    for (size_t d = 0; d < shape->count; d++) {
        uint64_t dim;
        if (parse_count(&shape->items[d], &dim) != 0)
            return FORMAT_FAIL(path, "the shape of tensor '%s' must hold non-negative integers",
                               name);
        if (dim != 0 && numel > UINT64_MAX / 8 / dim)
            return FORMAT_FAIL(path, "the shape of tensor '%s' is too large", name);
        numel *= dim;
        if (d < 2) e->dims[d] = (int64_t)dim;
    }
    const uint64_t bytes = numel * (uint64_t)dtype_size(dtype->text);
    if (bytes != e->end - e->begin)
        return FORMAT_FAIL(path, "tensor '%s' of %llu %s elements needs %llu bytes, its "
                           "data_offsets [%llu, %llu] hold %llu", name, (unsigned long long)numel,
                           dtype->text, (unsigned long long)bytes, (unsigned long long)e->begin,
                           (unsigned long long)e->end, (unsigned long long)(e->end - e->begin));
    e->name = name;
    e->dtype = dtype->text;
    e->shape = shape;
    if (classify(e) != 0)
        return FORMAT_FAIL(path, "unexpected tensor '%s': not a weight of a GPT-2 model", name);
    return SPDF_OK;
}

static int compare_offsets(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorted by offset, the tensors must tile the data exactly: no gap, no overlap, nothing after. */
static spdf_status check_tiling(const st_file *f)
{
    const entry **sorted = malloc((f->count ? f->count : 1) * sizeof *sorted);
    if (!sorted) return spdf_fail(SPDF_ENOMEM, "out of memory for a safetensors header");
    for (size_t i = 0; i < f->count; i++) sorted[i] = &f->entries[i];
    qsort(sorted, f->count, sizeof *sorted, compare_offsets);
    spdf_status status = SPDF_OK;
    uint64_t at = 0;
    const char *previous = NULL;
    for (size_t i = 0; i < f->count && status == SPDF_OK; i++) {
        if (sorted[i]->begin < at)
            status = FORMAT_FAIL(f->path, "tensors '%s' and '%s' overlap (bytes %llu to %llu)",
                                 previous, sorted[i]->name, (unsigned long long)sorted[i]->begin,
                                 (unsigned long long)at);
        else if (sorted[i]->begin > at)
            status = FORMAT_FAIL(f->path, "bytes %llu to %llu of the data belong to no tensor",
                                 (unsigned long long)at, (unsigned long long)sorted[i]->begin);
        at = sorted[i]->end;
        previous = sorted[i]->name;
    }
    if (status == SPDF_OK && at != f->size - f->data_start)
        status = FORMAT_FAIL(f->path, "%llu bytes after the last tensor belong to no tensor",
                             (unsigned long long)(f->size - f->data_start - at));
    free(sorted);
    return status;
}

/* Metadata is an object of strings (safetensors' rule). */
static spdf_status parse_metadata(st_file *f, const json_value *v)
{
    if (v->type != JSON_OBJECT)
        return FORMAT_FAIL(f->path, "__metadata__ must be an object of strings");
    for (size_t i = 0; i < v->count; i++)
        if (v->items[i].type != JSON_STRING)
            return FORMAT_FAIL(f->path, "__metadata__ member \"%s\" must be a string, not %s",
                               v->keys[i], json_type_name(v->items[i].type));
    f->metadata = v;
    return SPDF_OK;
}

static spdf_status read_exact(const st_file *f, uint64_t offset, void *buf, size_t bytes)
{
    if (fseeko(f->file, (off_t)offset, SEEK_SET) != 0) return io_fail(errno, "seek in", "safetensors file", f->path);
    if (fread(buf, 1, bytes, f->file) == bytes) return SPDF_OK;
    if (ferror(f->file)) return io_fail(errno, "read", "safetensors file", f->path);
    return FORMAT_FAIL(f->path, "ended early: the file was shortened while being read");
}

/* A file whose header length is not followed by '{' is some other file, not a damaged
 * safetensors file: say so, and name the formats libspdf reads that it looks like, rather than
 * report its first 8 bytes as an absurd header length. */
static spdf_status not_safetensors(const st_file *f, const unsigned char *start)
{
    const char *what = "the 8-byte header length is not followed by a JSON object (the header "
                       "does not start with '{')";
    if (memcmp(start, "SPDFCKPT", 8) == 0)
        what = "it is a libspdf checkpoint (spdf_checkpoint_load reads it)";
    else if (load_u32le(start) == LLMC_MAGIC)
        what = "it is an llm.c checkpoint (spdf_model_import_llmc reads it)";
    return spdf_fail(SPDF_EFORMAT, "'%s' is not a safetensors file: %s", f->path, what);
}

/* Length, JSON header and every entry, checked against the file's size. */
static spdf_status read_header(st_file *f)
{
    if (f->size < LENGTH_BYTES)
        return FORMAT_FAIL(f->path, "%llu bytes are too few for the 8-byte header length",
                           (unsigned long long)f->size);
    unsigned char start[LENGTH_BYTES + 1];
    const size_t start_bytes = f->size > LENGTH_BYTES ? sizeof start : LENGTH_BYTES;
    SPDF_TRY(read_exact(f, 0, start, start_bytes));
    if (start_bytes > LENGTH_BYTES && start[LENGTH_BYTES] != '{') return not_safetensors(f, start);
    const uint64_t length = load_u64le(start);
    if (length < 2 || length > MAX_HEADER_BYTES || length > f->size - LENGTH_BYTES)
        return FORMAT_FAIL(f->path, "bad header length %llu (the file has %llu bytes after the "
                           "length; the limit is %d)", (unsigned long long)length,
                           (unsigned long long)(f->size - LENGTH_BYTES), MAX_HEADER_BYTES);
    f->data_start = LENGTH_BYTES + length;
    char *text = malloc((size_t)length);
    if (!text) return spdf_fail(SPDF_ENOMEM, "out of memory for a header of %llu bytes",
                                (unsigned long long)length);
    char label[300];
    snprintf(label, sizeof label, "safetensors header of '%.250s'", f->path);
    spdf_status status = read_exact(f, LENGTH_BYTES, text, (size_t)length);
    if (status == SPDF_OK) status = text_check_utf8(label, text, (size_t)length);
    if (status == SPDF_OK) status = json_parse(label, 1, text, (size_t)length, &f->header);
    free(text);
    SPDF_TRY(status);
    const json_value *root = f->header;
    if (root->type != JSON_OBJECT) return FORMAT_FAIL(f->path, "the header is not a JSON object");
    f->entries = calloc(root->count ? root->count : 1, sizeof *f->entries);
    if (!f->entries) return spdf_fail(SPDF_ENOMEM, "out of memory for a safetensors header");
    for (size_t i = 0; i < root->count; i++) {
        if (strcmp(root->keys[i], "__metadata__") == 0)
            SPDF_TRY(parse_metadata(f, &root->items[i]));
        else
            SPDF_TRY(parse_entry(f, root->keys[i], &root->items[i], &f->entries[f->count++]));
    }
    return check_tiling(f);
}

/* ---- the model the tensors describe ---- */

typedef struct layout {
    const entry **tensors; /* in table order, for `layers` blocks */
    const entry *lm_head;
    int layers;
    spdf_model_config config;
} layout;

/* The layout's entry of (kind, layer). */
static const entry **slot(layout *lay, tensor_kind kind, int layer)
{
    return &lay->tensors[tensor_index(&lay->config, kind, layer)];
}

/* A metadata member as a positive decimal integer: 0 if absent, -1 if malformed. */
static int64_t metadata_int(const st_file *f, const char *key)
{
    const json_value *v = f->metadata ? json_member(f->metadata, key) : NULL;
    if (!v) return 0;
    if (v->length == 0 || v->length > 9 || v->text[0] == '0') return -1;
    int64_t value = 0;
    for (size_t i = 0; i < v->length; i++) {
        if (v->text[i] < '0' || v->text[i] > '9') return -1;
        value = value * 10 + (v->text[i] - '0');
    }
    return value;
}

static spdf_status check_metadata(const st_file *f, const char *key, int64_t actual)
{
    const int64_t value = metadata_int(f, key);
    if (value < 0)
        return FORMAT_FAIL(f->path, "__metadata__ \"%s\" is not a positive decimal integer", key);
    if (value > 0 && value != actual)
        return FORMAT_FAIL(f->path, "__metadata__ says %s = %lld, the tensors say %lld", key,
                           (long long)value, (long long)actual);
    return SPDF_OK;
}

/* The shape a weight must have, Hugging Face's way round. */
static void expected_shape(const spdf_model_config *c, tensor_kind kind, int *ndim, int64_t s[2])
{
    const tensor_spec *spec = tensor_spec_of(kind);
    int64_t rows, cols;
    tensor_shape(c, kind, &rows, &cols);
    *ndim = spec->cols == DIM_NONE ? 1 : 2;
    s[0] = spec->hf_transposed ? cols : rows;
    s[1] = spec->hf_transposed ? rows : cols;
}

static spdf_status check_weight(const st_file *f, const layout *lay, const entry *e)
{
    if (strcmp(e->dtype, "F32") != 0)
        return FORMAT_FAIL(f->path, "tensor '%s' has dtype %s; only F32 weights are read", e->name,
                           e->dtype);
    int ndim;
    int64_t s[2];
    expected_shape(&lay->config, e->kind, &ndim, s);
    if (e->ndim != ndim || e->dims[0] != s[0] || (ndim == 2 && e->dims[1] != s[1])) {
        if (ndim == 1)
            return FORMAT_FAIL(f->path, "tensor '%s' must have shape [%lld]", e->name,
                               (long long)s[0]);
        return FORMAT_FAIL(f->path, "tensor '%s' must have shape [%lld, %lld]", e->name,
                           (long long)s[0], (long long)s[1]);
    }
    return SPDF_OK;
}

static spdf_status place(const st_file *f, const entry **slot, const entry *e)
{
    if (*slot)
        return FORMAT_FAIL(f->path, "tensors '%s' and '%s' are the same weight", (*slot)->name,
                           e->name);
    *slot = e;
    return SPDF_OK;
}

/* Which entry is which weight, and the configuration the shapes imply. */
static spdf_status find_layout(const st_file *f, layout *lay)
{
    lay->layers = 0;
    for (size_t i = 0; i < f->count; i++)
        if (f->entries[i].role == ROLE_WEIGHT && f->entries[i].layer + 1 > lay->layers)
            lay->layers = f->entries[i].layer + 1;
    if (lay->layers == 0) return FORMAT_FAIL(f->path, "no transformer blocks (h.0.*) found");
    lay->config.num_layers = lay->layers;
    const int count = tensor_count(&lay->config);
    lay->tensors = calloc((size_t)count, sizeof *lay->tensors);
    if (!lay->tensors) return spdf_fail(SPDF_ENOMEM, "out of memory for %d layers", lay->layers);
    for (size_t i = 0; i < f->count; i++) {
        const entry *e = &f->entries[i];
        if (e->role == ROLE_LM_HEAD) SPDF_TRY(place(f, &lay->lm_head, e));
        if (e->role == ROLE_WEIGHT) SPDF_TRY(place(f, slot(lay, e->kind, e->layer), e));
    }
    for (int i = 0; i < count; i++)
        if (!lay->tensors[i]) {
            int layer;
            char name[64];
            tensor_name(tensor_kind_at(&lay->config, i, &layer), layer, 1, name, sizeof name);
            return FORMAT_FAIL(f->path, "missing tensor '%s' (the file has %d blocks)", name,
                               lay->layers);
        }
    const entry *wte = *slot(lay, TENSOR_WTE, -1), *wpe = *slot(lay, TENSOR_WPE, -1);
    if (wte->ndim != 2 || wpe->ndim != 2) return FORMAT_FAIL(f->path, "wte and wpe must be matrices");
    if (wte->dims[0] == 0 || wte->dims[1] == 0 || wpe->dims[0] == 0)
        return FORMAT_FAIL(f->path, "wte and wpe must not be empty");
    spdf_model_config *c = &lay->config;
    c->vocab_size = (int32_t)(wte->dims[0] > INT32_MAX ? INT32_MAX : wte->dims[0]);
    c->channels = (int32_t)(wte->dims[1] > INT32_MAX ? INT32_MAX : wte->dims[1]);
    c->max_seq_len = (int32_t)(wpe->dims[0] > INT32_MAX ? INT32_MAX : wpe->dims[0]);
    for (size_t i = 0; i < f->count; i++)
        if (f->entries[i].role == ROLE_WEIGHT) SPDF_TRY(check_weight(f, lay, &f->entries[i]));
    if (lay->lm_head) {
        const entry head = {.name = lay->lm_head->name, .dtype = lay->lm_head->dtype,
                            .ndim = lay->lm_head->ndim, .dims = {lay->lm_head->dims[0],
                            lay->lm_head->dims[1]}, .kind = TENSOR_WTE};
        SPDF_TRY(check_weight(f, lay, &head));
    }
    SPDF_TRY(check_metadata(f, "vocab_size", c->vocab_size));
    SPDF_TRY(check_metadata(f, "n_embd", c->channels));
    SPDF_TRY(check_metadata(f, "n_positions", c->max_seq_len));
    SPDF_TRY(check_metadata(f, "n_layer", c->num_layers));
    const int64_t heads = metadata_int(f, "n_head");
    if (heads < 0 || (heads > 0 && c->channels % heads != 0))
        return FORMAT_FAIL(f->path, "__metadata__ \"n_head\" must be a positive divisor of n_embd "
                           "(%d)", (int)c->channels);
    c->num_heads = (int32_t)heads;
    return SPDF_OK;
}

/* The configuration of the new model: the layout's, with heads and seed from the caller. */
static spdf_status resolve_config(const st_file *f, const spdf_import_config *options, layout *lay)
{
    spdf_model_config *c = &lay->config;
    const int32_t heads = options ? options->num_heads : 0;
    if (heads != 0) {
        if (heads < 0 || c->channels % heads != 0)
            return spdf_fail(SPDF_EINVAL, "spdf_import_config.num_heads (%d) must be a positive "
                             "divisor of the width %d", (int)heads, (int)c->channels);
        if (c->num_heads != 0 && c->num_heads != heads)
            return spdf_fail(SPDF_EINVAL, "spdf_import_config.num_heads is %d, but the metadata of "
                             "'%s' says n_head = %d", (int)heads, f->path, (int)c->num_heads);
        c->num_heads = heads;
    }
    if (c->num_heads == 0)
        return spdf_fail(SPDF_EINVAL, "'%s' has no \"n_head\" metadata: set "
                         "spdf_import_config.num_heads", f->path);
    const uint64_t seed = options ? options->seed : DEFAULT_SEED;
    spdf_model_config defaults;
    spdf_model_config_init(&defaults);
    const spdf_model_config shape = *c;
    *c = defaults;
    c->vocab_size = shape.vocab_size;
    c->max_seq_len = shape.max_seq_len;
    c->num_layers = shape.num_layers;
    c->num_heads = shape.num_heads;
    c->channels = shape.channels;
    c->seed = seed;
    return SPDF_OK;
}

/* Reads an F32 tensor's data into dst (count floats, the file's order). */
static spdf_status read_floats(const st_file *f, const entry *e, float *dst, int64_t count)
{
    unsigned char bytes[CHUNK_FLOATS * 4];
    if (fseeko(f->file, (off_t)(f->data_start + e->begin), SEEK_SET) != 0)
        return io_fail(errno, "seek in", "safetensors file", f->path);
    for (int64_t done = 0; done < count; done += CHUNK_FLOATS) {
        const size_t n = (size_t)(count - done < CHUNK_FLOATS ? count - done : CHUNK_FLOATS);
        if (fread(bytes, 4, n, f->file) != n) {
            if (ferror(f->file)) return io_fail(errno, "read", "safetensors file", f->path);
            return FORMAT_FAIL(f->path, "ended early: the file was shortened while being read");
        }
        for (size_t k = 0; k < n; k++) dst[done + (int64_t)k] = load_f32le(bytes + 4 * k);
    }
    return SPDF_OK;
}

/* Copies every weight into the model (dense, so its tensors can be written in place). */
static spdf_status load_weights(const st_file *f, const layout *lay, spdf_model *model)
{
    const int64_t C = lay->config.channels;
    float *scratch = malloc((size_t)(4 * C * C) * sizeof(float));
    if (!scratch) return spdf_fail(SPDF_ENOMEM, "out of memory for a %lld x %lld matrix",
                                   (long long)(4 * C), (long long)C);
    int32_t count = 0;
    spdf_status status = spdf_model_num_tensors(model, &count);
    for (int32_t i = 0; i < count && status == SPDF_OK; i++) {
        int layer;
        const tensor_kind kind = tensor_kind_at(&lay->config, i, &layer);
        const entry *e = lay->tensors[i];
        float *data = NULL;
        spdf_tensor_info info = {.struct_size = sizeof info};
        status = spdf_model_tensor_info(model, i, &info);
        if (status == SPDF_OK) status = spdf_model_tensor_data(model, i, &data);
        if (status != SPDF_OK) break;
        if (tensor_spec_of(kind)->hf_transposed) {
            status = read_floats(f, e, scratch, info.numel);
            if (status == SPDF_OK) transpose(scratch, info.shape[1], info.shape[0], data);
        } else {
            status = read_floats(f, e, data, info.numel);
        }
    }
    free(scratch);
    return status;
}

/* An lm_head.weight beside wte must hold the same values: libspdf ties the two. */
static spdf_status check_tied_head(const st_file *f, const layout *lay, spdf_model *model)
{
    if (!lay->lm_head) return SPDF_OK;
    float *wte = NULL;
    SPDF_TRY(spdf_model_tensor_data(model, 0, &wte));
    const int64_t count = (int64_t)lay->config.vocab_size * lay->config.channels;
    float *head = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
    if (!head) return spdf_fail(SPDF_ENOMEM, "out of memory for lm_head.weight");
    spdf_status status = read_floats(f, lay->lm_head, head, count);
    if (status == SPDF_OK && memcmp(head, wte, (size_t)count * sizeof(float)) != 0)
        status = spdf_fail(SPDF_EUNSUPPORTED, "safetensors file '%s': lm_head.weight differs from "
                           "wte.weight, but libspdf ties the LM head to the token embedding",
                           f->path);
    free(head);
    return status;
}

static spdf_status import_file(st_file *f, spdf_context *ctx, const spdf_import_config *options,
                               spdf_model **out)
{
    layout lay = {0};
    spdf_model *model = NULL;
    spdf_status status = read_header(f);
    if (status == SPDF_OK) status = find_layout(f, &lay);
    if (status == SPDF_OK) status = resolve_config(f, options, &lay);
    if (status == SPDF_OK) {
        status = spdf_model_create(ctx, &lay.config, &model);
        if (status == SPDF_EINVAL) {
            char reason[256];
            snprintf(reason, sizeof reason, "%s", spdf_last_error());
            status = spdf_fail(SPDF_EUNSUPPORTED, "safetensors file '%s': libspdf cannot build "
                               "this model: %s", f->path, reason);
        }
    }
    if (status == SPDF_OK) status = load_weights(f, &lay, model);
    if (status == SPDF_OK) status = check_tied_head(f, &lay, model);
    if (status == SPDF_OK) status = model_check_finite(model, NULL, 0, "safetensors file", f->path);
    free(lay.tensors);
    if (status != SPDF_OK) {
        spdf_model_free(model);
        return status;
    }
    *out = model;
    return SPDF_OK;
}

spdf_status spdf_model_import_safetensors(spdf_context *ctx, const char *path,
                                          const spdf_import_config *config, spdf_model **out)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(ctx, HANDLE_CONTEXT);
    SPDF_CHECK_ARG(path);
    SPDF_CHECK_ARG(out);
    spdf_import_config options;
    spdf_import_config_init(&options);
    if (config) {
        SPDF_TRY(spdf_struct_read(&options, sizeof options, config,
                                  SPDF_SIZE_THROUGH(spdf_import_config, seed), "spdf_import_config"));
        if (options.reserved != 0)
            return spdf_fail(SPDF_EINVAL, "spdf_import_config.reserved must be 0");
        if (options.num_heads < 0)
            return spdf_fail(SPDF_EINVAL, "spdf_import_config.num_heads must be >= 0, got %d",
                             (int)options.num_heads);
    }
    st_file f = {.path = path};
    f.file = fopen(path, "rb");
    if (!f.file) return io_fail(errno, "open", "safetensors file", path);
    struct stat st;
    spdf_status status = SPDF_OK;
    if (fstat(fileno(f.file), &st) != 0) status = io_fail(errno, "inspect", "safetensors file", path);
    else if (S_ISDIR(st.st_mode)) status = io_fail(EISDIR, "read", "safetensors file", path);
    else f.size = (uint64_t)st.st_size;
    if (status == SPDF_OK) status = import_file(&f, ctx, &options, out);
    json_free(f.header);
    free(f.entries);
    fclose(f.file);
    return status;
}
