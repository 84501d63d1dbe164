/* Reading checkpoints: the whole file is validated (header, section table, checksums,
 * configuration, mask, plan, tokenizer) before any handle is built from it
 * (docs/checkpoint-format.md). */
#include "core/core.h"
#include "io/byte_order.h"
#include "io/checkpoint_format.h"
#include "io/file_io.h"
#include "io/dataset.h"
#include "io/tokenizer.h"
#include "mask/mask.h"
#include "model/model.h"
#include "optim/optimizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* What a validated file holds, apart from the bulk floats (read straight into the model). */
typedef struct checkpoint_file {
    const char *path;
    FILE *file;
    int64_t size;
    uint32_t version, flags;
    section sections[SECTION_ID_COUNT]; /* by id; present[id] says which exist */
    int present[SECTION_ID_COUNT];
    spdf_model_config config;
    spdf_phase_kind phase;
    int64_t num_params, stored;
    unsigned char *mask;                  /* the MASK payload, NULL in the dense phase */
    int8_t *plan;                         /* (layers, SPDF_PRODUCTS) kernels; NULL if none saved */
    spdf_optimizer_config optimizer;
    int64_t step, moment_step;
    int32_t B, T;
    uint64_t sampler_seed;
    int32_t order;
    int64_t position;
    spdf_tokenizer *tokenizer;            /* the TOKENIZER section's; NULL if none saved */
    model_dropout dropout;                /* the DROPOUT section's, if present */
} checkpoint_file;

/* "checkpoint '<path>': <problem>" as SPDF_EFORMAT. */
#define FORMAT_FAIL(cf, ...) file_format_fail("checkpoint", (cf)->path, __VA_ARGS__)

static spdf_status read_at(const checkpoint_file *cf, uint64_t offset, void *buf, size_t bytes)
{
    if (fseeko(cf->file, (off_t)offset, SEEK_SET) != 0) return io_fail(errno, "seek in", "checkpoint", cf->path);
    if (fread(buf, 1, bytes, cf->file) == bytes) return SPDF_OK;
    if (ferror(cf->file)) return io_fail(errno, "read", "checkpoint", cf->path);
    return FORMAT_FAIL(cf, "ended early: the file was shortened while being read");
}

static spdf_status check_header(checkpoint_file *cf, const unsigned char *h)
{
    if (memcmp(h, MAGIC, MAGIC_BYTES) != 0)
        return FORMAT_FAIL(cf, "not a libspdf checkpoint (the magic bytes are not \"" MAGIC "\")");
    cf->version = load_u32le(h + AT_VERSION);
    if (cf->version != FORMAT_VERSION)
        return FORMAT_FAIL(cf, "unsupported format version %u (this library reads version %u)",
                           (unsigned)cf->version, FORMAT_VERSION);
    const uint32_t stored = load_u32le(h + AT_HEADER_CRC), computed = spdf_crc32c(0, h, AT_HEADER_CRC);
    if (stored != computed)
        return FORMAT_FAIL(cf, "header checksum mismatch (stored 0x%08x, computed 0x%08x): the "
                           "header is corrupt", (unsigned)stored, (unsigned)computed);
    cf->flags = load_u32le(h + AT_FLAGS);
    if (cf->flags & ~FLAGS_KNOWN)
        return FORMAT_FAIL(cf, "unknown flags 0x%08x in the header", (unsigned)cf->flags);
    if (load_u32le(h + AT_HEADER_RESERVED) != 0)
        return FORMAT_FAIL(cf, "the reserved header field is not 0");
    const uint64_t declared = load_u64le(h + AT_FILE_SIZE);
    if (declared != (uint64_t)cf->size)
        return FORMAT_FAIL(cf, "the header says the file has %llu bytes but it has %lld (%s)",
                           (unsigned long long)declared, (long long)cf->size,
                           declared > (uint64_t)cf->size ? "truncated" : "trailing bytes");
    const uint32_t count = load_u32le(h + AT_SECTION_COUNT);
    if (count < 1 || count > MAX_SECTIONS)
        return FORMAT_FAIL(cf, "%u sections, a checkpoint has 1 to %d", (unsigned)count, MAX_SECTIONS);
    return SPDF_OK;
}

/* Entries sorted by offset must tile the bytes after the table exactly. */
static spdf_status check_tiling(const checkpoint_file *cf, section *entries, int count,
                                uint64_t table_end)
{
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && entries[j].offset < entries[j - 1].offset; j--) {
            const section t = entries[j];
            entries[j] = entries[j - 1];
            entries[j - 1] = t;
        }
    uint64_t at = table_end;
    for (int i = 0; i < count; i++) {
        if (entries[i].offset < at)
            return FORMAT_FAIL(cf, "section %s at byte %llu overlaps %s", section_name(entries[i].id),
                               (unsigned long long)entries[i].offset,
                               i > 0 ? section_name(entries[i - 1].id) : "the section table");
        if (entries[i].offset > at)
            return FORMAT_FAIL(cf, "%llu unaccounted bytes before section %s",
                               (unsigned long long)(entries[i].offset - at), section_name(entries[i].id));
        at = entries[i].offset + entries[i].size;
    }
    if (at != (uint64_t)cf->size)
        return FORMAT_FAIL(cf, "%llu trailing bytes after the last section",
                           (unsigned long long)((uint64_t)cf->size - at));
    return SPDF_OK;
}

static spdf_status check_table(checkpoint_file *cf, const unsigned char *h)
{
    const int count = (int)load_u32le(h + AT_SECTION_COUNT);
    const uint64_t table_end = HEADER_BYTES + (uint64_t)count * ENTRY_BYTES;
    if (table_end > (uint64_t)cf->size)
        return FORMAT_FAIL(cf, "truncated: the section table ends at byte %llu, the file has %lld",
                           (unsigned long long)table_end, (long long)cf->size);
    unsigned char table[MAX_SECTIONS * ENTRY_BYTES];
    SPDF_TRY(read_at(cf, HEADER_BYTES, table, (size_t)count * ENTRY_BYTES));
    const uint32_t stored = load_u32le(h + AT_TABLE_CRC);
    const uint32_t computed = spdf_crc32c(0, table, (size_t)count * ENTRY_BYTES);
    if (stored != computed)
        return FORMAT_FAIL(cf, "section table checksum mismatch (stored 0x%08x, computed 0x%08x)",
                           (unsigned)stored, (unsigned)computed);
    section entries[MAX_SECTIONS];
    for (int i = 0; i < count; i++) {
        const unsigned char *e = table + i * ENTRY_BYTES;
        section s = {load_u32le(e), load_u32le(e + 4), load_u64le(e + 8), load_u64le(e + 16)};
        if (s.id < 1 || s.id >= SECTION_ID_COUNT)
            return FORMAT_FAIL(cf, "unknown section id %u in table entry %d", (unsigned)s.id, i);
        if (cf->present[s.id])
            return FORMAT_FAIL(cf, "section %s appears twice in the table", section_name(s.id));
        if (s.size > (uint64_t)cf->size || s.offset > (uint64_t)cf->size - s.size)
            return FORMAT_FAIL(cf, "section %s (bytes %llu + %llu) lies outside the file of %lld "
                               "bytes", section_name(s.id), (unsigned long long)s.offset,
                               (unsigned long long)s.size, (long long)cf->size);
        cf->present[s.id] = 1;
        cf->sections[s.id] = s;
        entries[i] = s;
    }
    SPDF_TRY(check_tiling(cf, entries, count, table_end));
    const struct { uint32_t id; int wanted; const char *why; } rules[] = {
        {SECTION_CONFIG, 1, "every checkpoint has one"},
        {SECTION_TENSORS, 1, "every checkpoint has one"},
        {SECTION_MASK, (cf->flags & FLAG_SPARSE) != 0, "the sparse flag says so"},
        {SECTION_OPTIMIZER, (cf->flags & FLAG_OPTIMIZER) != 0, "the optimizer flag says so"},
        {SECTION_SAMPLER, (cf->flags & FLAG_SAMPLER) != 0, "the sampler flag says so"},
        {SECTION_PLAN, (cf->flags & FLAG_PLAN) != 0, "the plan flag says so"},
        {SECTION_TOKENIZER, (cf->flags & FLAG_TOKENIZER) != 0, "the tokenizer flag says so"},
        {SECTION_DROPOUT, (cf->flags & FLAG_DROPOUT) != 0, "the dropout flag says so"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (cf->present[rules[i].id] != rules[i].wanted)
            return FORMAT_FAIL(cf, "section %s is %s but %s", section_name(rules[i].id),
                               cf->present[rules[i].id] ? "present" : "missing",
                               rules[i].wanted ? rules[i].why : "its header flag is clear");
    return SPDF_OK;
}

/* Streams a section's payload through CRC-32C and compares with the table. */
static spdf_status check_section_crc(const checkpoint_file *cf, uint32_t id)
{
    const section *s = &cf->sections[id];
    unsigned char buf[CHUNK_BYTES];
    uint32_t crc = 0;
    if (fseeko(cf->file, (off_t)s->offset, SEEK_SET) != 0) return io_fail(errno, "seek in", "checkpoint", cf->path);
    for (uint64_t done = 0; done < s->size;) {
        const size_t n = (size_t)(s->size - done < CHUNK_BYTES ? s->size - done : CHUNK_BYTES);
        if (fread(buf, 1, n, cf->file) != n) {
            if (ferror(cf->file)) return io_fail(errno, "read", "checkpoint", cf->path);
            return FORMAT_FAIL(cf, "ended early: the file was shortened while being read");
        }
        crc = spdf_crc32c(crc, buf, n);
        done += n;
    }
    if (crc != s->crc)
        return FORMAT_FAIL(cf, "section %s checksum mismatch (stored 0x%08x, computed 0x%08x): "
                           "the data is corrupt", section_name(id), (unsigned)s->crc, (unsigned)crc);
    return SPDF_OK;
}

/* The section has exactly the size the configuration implies and its checksum matches. */
static spdf_status check_section(const checkpoint_file *cf, uint32_t id, uint64_t bytes)
{
    if (cf->sections[id].size != bytes)
        return FORMAT_FAIL(cf, "section %s has %llu bytes, the configuration needs %llu",
                           section_name(id), (unsigned long long)cf->sections[id].size,
                           (unsigned long long)bytes);
    return check_section_crc(cf, id);
}

/* The configuration limits every model obeys (model_config_validate). */
static spdf_status check_model_config(const checkpoint_file *cf, const spdf_model_config *c)
{
    if (model_config_validate(c) == SPDF_OK) return SPDF_OK;
    char detail[400];
    snprintf(detail, sizeof detail, "%s", spdf_last_error());
    return FORMAT_FAIL(cf, "invalid model configuration: %s", detail);
}

static spdf_status read_config(checkpoint_file *cf)
{
    SPDF_TRY(check_section(cf, SECTION_CONFIG, CONFIG_BYTES));
    unsigned char b[CONFIG_BYTES];
    SPDF_TRY(read_at(cf, cf->sections[SECTION_CONFIG].offset, b, sizeof b));
    spdf_model_config *c = &cf->config;
    spdf_model_config_init(c);
    c->vocab_size = load_i32le(b + 0);
    c->max_seq_len = load_i32le(b + 4);
    c->num_layers = load_i32le(b + 8);
    c->num_heads = load_i32le(b + 12);
    c->channels = load_i32le(b + 16);
    c->seed = load_u64le(b + 24);
    SPDF_TRY(check_model_config(cf, c));
    const int32_t phase = load_i32le(b + 20);
    if (phase != SPDF_PHASE_DENSE && phase != SPDF_PHASE_SPARSE)
        return FORMAT_FAIL(cf, "unknown phase %d", (int)phase);
    if ((phase == SPDF_PHASE_SPARSE) != ((cf->flags & FLAG_SPARSE) != 0))
        return FORMAT_FAIL(cf, "the phase (%d) disagrees with the header's sparse flag", (int)phase);
    cf->phase = (spdf_phase_kind)phase;
    if (load_i32le(b + 32) != tensor_count(c))
        return FORMAT_FAIL(cf, "%d tensors recorded, the configuration has %d",
                           (int)load_i32le(b + 32), tensor_count(c));
    if (load_u32le(b + 36) != 0) return FORMAT_FAIL(cf, "the reserved CONFIG field is not 0");
    cf->num_params = load_i64le(b + 40);
    cf->stored = load_i64le(b + 48);
    if (cf->num_params != tensor_total_params(c))
        return FORMAT_FAIL(cf, "%lld parameters recorded, the configuration has %lld",
                           (long long)cf->num_params, (long long)tensor_total_params(c));
    if (cf->stored < 0 || cf->stored > cf->num_params ||
        (cf->phase == SPDF_PHASE_DENSE && cf->stored != cf->num_params))
        return FORMAT_FAIL(cf, "%lld stored weights recorded for %lld parameters in the %s phase",
                           (long long)cf->stored, (long long)cf->num_params,
                           cf->phase == SPDF_PHASE_SPARSE ? "sparse" : "dense");
    return SPDF_OK;
}

static int popcount8(unsigned v)
{
    int n = 0;
    for (; v; v &= v - 1) n++;
    return n;
}

/* One record of the MASK section: the next block linear weight after `previous`, its shape,
 * and a bitmap whose population count is nnz and whose padding is zero. */
static spdf_status check_mask_layer(const checkpoint_file *cf, int layer, const unsigned char *record,
                                    int previous, int64_t *nnz_out)
{
    const spdf_model_config *c = &cf->config;
    const int tensor = load_i32le(record);
    if (tensor <= previous || tensor >= tensor_count(c))
        return FORMAT_FAIL(cf, "mask layer %d names tensor %d: tensors must be ascending and "
                           "below %d", layer, tensor, tensor_count(c));
    const record_shape s = shape_of(c, tensor);
    if (!s.sparsifiable)
        return FORMAT_FAIL(cf, "mask layer %d covers tensor %d, which is not a block linear weight",
                           layer, tensor);
    const int64_t rows = load_i64le(record + 8), cols = load_i64le(record + 16), nnz = load_i64le(record + 24);
    if (load_u32le(record + 4) != 0 || rows != s.rows || cols != s.cols)
        return FORMAT_FAIL(cf, "mask layer %d is recorded as (%lld, %lld), tensor %d is (%lld, %lld)",
                           layer, (long long)rows, (long long)cols, tensor, (long long)s.rows,
                           (long long)s.cols);
    if (nnz < 0 || nnz > rows * cols || nnz > INT32_MAX)
        return FORMAT_FAIL(cf, "mask layer %d declares %lld non-zeros for %lld weights", layer,
                           (long long)nnz, (long long)(rows * cols));
    const unsigned char *bitmap = record + MASK_LAYER_BYTES;
    const int64_t bits = rows * cols, used = pattern_bitmap_bytes(rows, cols);
    int64_t counted = 0;
    for (int64_t i = 0; i < used; i++) counted += popcount8(bitmap[i]);
    const unsigned last_bits = (unsigned)(bits & 7);
    int padding_clear = last_bits == 0 || (bitmap[used - 1] >> last_bits) == 0;
    for (int64_t i = used; i < padded8(used); i++) padding_clear &= bitmap[i] == 0;
    if (!padding_clear) return FORMAT_FAIL(cf, "mask layer %d has bits set in its padding", layer);
    if (counted != nnz)
        return FORMAT_FAIL(cf, "mask layer %d declares %lld non-zeros but its bitmap has %lld",
                           layer, (long long)nnz, (long long)counted);
    *nnz_out = nnz;
    return SPDF_OK;
}

static spdf_status read_mask(checkpoint_file *cf)
{
    if (cf->phase != SPDF_PHASE_SPARSE) return SPDF_OK;
    const spdf_model_config *c = &cf->config;
    const int64_t bytes = mask_section_bytes(c);
    SPDF_TRY(check_section(cf, SECTION_MASK, (uint64_t)bytes));
    if ((uint64_t)bytes > SIZE_MAX || !(cf->mask = malloc((size_t)bytes)))
        return spdf_fail(SPDF_ENOMEM, "out of memory for the %lld-byte mask of checkpoint '%s'",
                         (long long)bytes, cf->path);
    SPDF_TRY(read_at(cf, cf->sections[SECTION_MASK].offset, cf->mask, (size_t)bytes));
    const int layers = 4 * c->num_layers;
    if (load_u32le(cf->mask) != (uint32_t)layers || load_u32le(cf->mask + 4) != 0)
        return FORMAT_FAIL(cf, "the mask has %u layers, the model has %d block linear weights",
                           (unsigned)load_u32le(cf->mask), layers);
    int64_t at = MASK_HEADER_BYTES, masked_out = 0;
    int previous = -1;
    for (int l = 0; l < layers; l++) {
        int64_t nnz = 0;
        SPDF_TRY(check_mask_layer(cf, l, cf->mask + at, previous, &nnz));
        previous = load_i32le(cf->mask + at);
        const record_shape s = shape_of(c, previous);
        masked_out += s.rows * s.cols - nnz;
        at += MASK_LAYER_BYTES + padded8(pattern_bitmap_bytes(s.rows, s.cols));
    }
    if (cf->stored != cf->num_params - masked_out)
        return FORMAT_FAIL(cf, "%lld stored weights recorded, the mask keeps %lld",
                           (long long)cf->stored, (long long)(cf->num_params - masked_out));
    return SPDF_OK;
}

/* The PLAN section (sparse phase, optional): one record per masked layer, each product's kernel
 * a spdf_sparse_kernel_kind (no JIT for the weight gradient), the padding byte 0. */
static spdf_status read_plan(checkpoint_file *cf)
{
    if (!cf->present[SECTION_PLAN]) return SPDF_OK;
    if (cf->phase != SPDF_PHASE_SPARSE)
        return FORMAT_FAIL(cf, "a PLAN section in a dense checkpoint");
    const int layers = 4 * cf->config.num_layers;
    const uint64_t bytes = PLAN_HEADER_BYTES + PLAN_LAYER_BYTES * (uint64_t)layers;
    SPDF_TRY(check_section(cf, SECTION_PLAN, bytes));
    unsigned char *b = malloc((size_t)bytes);
    cf->plan = malloc((size_t)layers * SPDF_PRODUCTS);
    if (!b || !cf->plan) {
        free(b);
        return spdf_fail(SPDF_ENOMEM, "out of memory for the plan of checkpoint '%s'", cf->path);
    }
    spdf_status status = read_at(cf, cf->sections[SECTION_PLAN].offset, b, (size_t)bytes);
    if (status == SPDF_OK && (load_u32le(b) != (uint32_t)layers || load_u32le(b + 4) != 0))
        status = FORMAT_FAIL(cf, "the plan has %u layers, the model has %d block linear weights",
                             (unsigned)load_u32le(b), layers);
    for (int l = 0; status == SPDF_OK && l < layers; l++) {
        const unsigned char *record = b + PLAN_HEADER_BYTES + PLAN_LAYER_BYTES * l;
        for (int p = 0; p < SPDF_PRODUCTS; p++) {
            const int kind = record[p];
            if (kind > SPDF_SPARSE_KERNEL_DENSE ||
                (p == SPDF_PRODUCT_BACKWARD_WEIGHT && kind == SPDF_SPARSE_KERNEL_JIT))
                status = FORMAT_FAIL(cf, "plan layer %d: unknown kernel %d for product %d", l, kind, p);
            cf->plan[l * SPDF_PRODUCTS + p] = (int8_t)kind;
        }
        if (status == SPDF_OK && record[3] != 0)
            status = FORMAT_FAIL(cf, "plan layer %d: the padding byte is not 0", l);
    }
    free(b);
    return status;
}

static spdf_status read_optimizer(checkpoint_file *cf)
{
    if (!cf->present[SECTION_OPTIMIZER]) return SPDF_OK;
    SPDF_TRY(check_section(cf, SECTION_OPTIMIZER, OPTIMIZER_HEADER_BYTES + 8 * (uint64_t)cf->stored));
    unsigned char b[OPTIMIZER_HEADER_BYTES];
    SPDF_TRY(read_at(cf, cf->sections[SECTION_OPTIMIZER].offset, b, sizeof b));
    spdf_optimizer_config *c = &cf->optimizer;
    spdf_optimizer_config_init(c);
    c->learning_rate = load_f32le(b + 0);
    c->beta1 = load_f32le(b + 4);
    c->beta2 = load_f32le(b + 8);
    c->eps = load_f32le(b + 12);
    c->weight_decay = load_f32le(b + 16);
    c->grad_clip = load_f32le(b + 20);
    c->schedule = load_i32le(b + 24);
    c->warmup_steps = load_i32le(b + 28);
    c->total_steps = load_i32le(b + 32);
    c->min_lr_ratio = load_f32le(b + 36);
    cf->step = load_i64le(b + 40);
    cf->moment_step = load_i64le(b + 48);
    if (optimizer_validate_config(c) != SPDF_OK) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", spdf_last_error());
        return FORMAT_FAIL(cf, "invalid optimizer configuration: %s", detail);
    }
    if (cf->step < 0 || cf->moment_step < 0)
        return FORMAT_FAIL(cf, "negative optimizer step (%lld) or moment step (%lld)",
                           (long long)cf->step, (long long)cf->moment_step);
    return SPDF_OK;
}

static spdf_status read_sampler(checkpoint_file *cf)
{
    if (!cf->present[SECTION_SAMPLER]) return SPDF_OK;
    SPDF_TRY(check_section(cf, SECTION_SAMPLER, SAMPLER_BYTES));
    unsigned char b[SAMPLER_BYTES];
    SPDF_TRY(read_at(cf, cf->sections[SECTION_SAMPLER].offset, b, sizeof b));
    cf->B = load_i32le(b + 0);
    cf->T = load_i32le(b + 4);
    cf->sampler_seed = load_u64le(b + 8);
    cf->order = load_i32le(b + 16);
    cf->position = load_i64le(b + 24);
    if (cf->B < 1 || cf->T < 1 || (int64_t)cf->B * cf->T > INT32_MAX ||
        (cf->order != SPDF_SAMPLE_RANDOM && cf->order != SPDF_SAMPLE_SEQUENTIAL) ||
        load_u32le(b + 20) != 0 || cf->position < 0)
        return FORMAT_FAIL(cf, "invalid sampler state (B %d, T %d, order %d, position %lld)",
                           (int)cf->B, (int)cf->T, (int)cf->order, (long long)cf->position);
    return SPDF_OK;
}

/* The DROPOUT section (optional; files without it are models without dropout). */
static spdf_status read_dropout(checkpoint_file *cf)
{
    if (!cf->present[SECTION_DROPOUT]) return SPDF_OK;
    SPDF_TRY(check_section(cf, SECTION_DROPOUT, DROPOUT_BYTES));
    unsigned char b[DROPOUT_BYTES];
    SPDF_TRY(read_at(cf, cf->sections[SECTION_DROPOUT].offset, b, sizeof b));
    const model_dropout d = {load_f32le(b + 0), load_f32le(b + 4), load_f32le(b + 8), load_u64le(b + 16),
                             load_u64le(b + 24)};
    const float rates[3] = {d.embedding, d.attention, d.residual};
    for (int i = 0; i < 3; i++)
        if (!(rates[i] >= 0.0f && rates[i] < 1.0f))
            return FORMAT_FAIL(cf, "invalid dropout rate %g in section DROPOUT (rates are in [0, 1))",
                               (double)rates[i]);
    if (load_u32le(b + 12) != 0) return FORMAT_FAIL(cf, "section DROPOUT: reserved bytes 12-15 are not 0");
    cf->dropout = d;
    return SPDF_OK;
}

/* The TOKENIZER section (optional): a libspdf tokenizer file image (docs/token-format.md) whose
 * ids the model's vocabulary holds. */
static spdf_status read_tokenizer(checkpoint_file *cf)
{
    if (!cf->present[SECTION_TOKENIZER]) return SPDF_OK;
    const section *s = &cf->sections[SECTION_TOKENIZER];
    if (s->size > TOKENIZER_MAX_BYTES)
        return FORMAT_FAIL(cf, "section TOKENIZER has %llu bytes, more than any tokenizer's %llu",
                           (unsigned long long)s->size, (unsigned long long)TOKENIZER_MAX_BYTES);
    SPDF_TRY(check_section_crc(cf, SECTION_TOKENIZER));
    unsigned char *image = malloc(s->size ? (size_t)s->size : 1);
    const size_t where_bytes = strlen(cf->path) + 64;
    char *where = malloc(where_bytes);
    spdf_status status = image && where ? read_at(cf, s->offset, image, (size_t)s->size)
                                        : spdf_fail(SPDF_ENOMEM, "out of memory for the tokenizer "
                                                    "of checkpoint '%s'", cf->path);
    if (status == SPDF_OK) {
        snprintf(where, where_bytes, "checkpoint '%s': the TOKENIZER section", cf->path);
        status = tokenizer_from_image(image, (size_t)s->size, where, &cf->tokenizer);
    }
    free(image);
    free(where);
    SPDF_TRY(status);
    if (cf->tokenizer->vocab_size > cf->config.vocab_size)
        return FORMAT_FAIL(cf, "the stored tokenizer has %d ids, more than the model's vocabulary "
                           "of %d", (int)cf->tokenizer->vocab_size, (int)cf->config.vocab_size);
    return SPDF_OK;
}

/* Opens and validates the whole file; on success cf holds everything but the bulk floats. */
static spdf_status open_checkpoint(const char *path, checkpoint_file *cf)
{
    memset(cf, 0, sizeof *cf);
    cf->path = path;
    cf->file = fopen(path, "rb");
    if (!cf->file) return io_fail(errno, "open", "checkpoint", path);
    struct stat info;
    if (fstat(fileno(cf->file), &info) != 0) return io_fail(errno, "stat", "checkpoint", path);
    if (S_ISDIR(info.st_mode)) return io_fail(EISDIR, "read", "checkpoint", path);
    cf->size = (int64_t)info.st_size;
    if (cf->size < HEADER_BYTES)
        return FORMAT_FAIL(cf, "too short: %lld bytes, the header alone has %d", (long long)cf->size,
                           HEADER_BYTES);
    unsigned char header[HEADER_BYTES];
    SPDF_TRY(read_at(cf, 0, header, sizeof header));
    SPDF_TRY(check_header(cf, header));
    SPDF_TRY(check_table(cf, header));
    SPDF_TRY(read_config(cf));
    SPDF_TRY(read_mask(cf));
    SPDF_TRY(check_section(cf, SECTION_TENSORS, 4 * (uint64_t)cf->stored));
    SPDF_TRY(read_optimizer(cf));
    SPDF_TRY(read_plan(cf));
    SPDF_TRY(read_sampler(cf));
    SPDF_TRY(read_dropout(cf));
    return read_tokenizer(cf);
}

static void close_checkpoint(checkpoint_file *cf)
{
    if (cf->file) fclose(cf->file);
    free(cf->mask);
    free(cf->plan);
    spdf_tokenizer_free(cf->tokenizer);
    cf->file = NULL;
    cf->mask = NULL;
    cf->plan = NULL;
    cf->tokenizer = NULL;
}

/* ---- building the model from a validated file ---- */

/* The mask as CSR from the bitmaps (rows ascending, columns ascending within a row). */
static spdf_status build_mask(const checkpoint_file *cf, spdf_mask **out)
{
    const int layers = 4 * cf->config.num_layers;
    spdf_mask *mask = mask_alloc(layers);
    if (!mask) return spdf_fail(SPDF_ENOMEM, "out of memory for the mask of checkpoint '%s'", cf->path);
    const unsigned char *record = cf->mask + MASK_HEADER_BYTES;
    for (int l = 0; l < layers; l++) {
        const int64_t rows = load_i64le(record + 8), cols = load_i64le(record + 16);
        mask->layers[l].tensor = load_i32le(record);
        const spdf_status status = pattern_from_bitmap(&mask->layers[l].pattern, rows, cols,
                                                       record + MASK_LAYER_BYTES);
        if (status != SPDF_OK) {
            spdf_mask_free(mask);
            return status;
        }
        record += MASK_LAYER_BYTES + padded8(pattern_bitmap_bytes(rows, cols));
    }
    *out = mask;
    return SPDF_OK;
}

/* Reads the next count floats of the file into dst[slot[k]] (dst[k] without a slot table),
 * adding their bytes to *crc. */
static spdf_status read_floats(const checkpoint_file *cf, float *dst, const int32_t *slot,
                               int64_t count, uint32_t *crc)
{
    unsigned char buf[CHUNK_BYTES];
    for (int64_t done = 0; done < count; done += CHUNK_FLOATS) {
        const int64_t n = count - done < CHUNK_FLOATS ? count - done : CHUNK_FLOATS;
        if (fread(buf, 1, (size_t)n * 4, cf->file) != (size_t)n * 4) {
            if (ferror(cf->file)) return io_fail(errno, "read", "checkpoint", cf->path);
            return FORMAT_FAIL(cf, "ended early: the file was shortened while being read");
        }
        *crc = spdf_crc32c(*crc, buf, (size_t)n * 4);
        for (int64_t i = 0; i < n; i++) dst[slot ? slot[done + i] : done + i] = load_f32le(buf + 4 * i);
    }
    return SPDF_OK;
}

/* Reads a TENSORS-shaped run of floats at offset into a stored array, in the backend's order. */
static spdf_status read_stored(const checkpoint_file *cf, uint64_t offset, const spdf_model *model,
                               float *array, uint32_t *crc)
{
    if (fseeko(cf->file, (off_t)offset, SEEK_SET) != 0) return io_fail(errno, "seek in", "checkpoint", cf->path);
    for (int i = 0; i < model->num_tensors; i++)
        SPDF_TRY(read_floats(cf, array + model->tensors[i].offset, csr_to_slot(model, i),
                             model->tensors[i].stored, crc));
    return SPDF_OK;
}

/* The checksum is taken again while copying, so a file changed since validation is noticed. */
static spdf_status recheck(const checkpoint_file *cf, uint32_t id, uint32_t crc)
{
    if (crc != cf->sections[id].crc)
        return FORMAT_FAIL(cf, "section %s changed while the checkpoint was being loaded",
                           section_name(id));
    return SPDF_OK;
}

static spdf_status fill_state(const checkpoint_file *cf, spdf_model *model, spdf_optimizer *opt)
{
    if (model->num_stored != cf->stored || model->num_tensors != tensor_count(&cf->config))
        return spdf_fail(SPDF_EINTERNAL, "checkpoint '%s': the loaded model stores %lld weights, "
                         "the file %lld", cf->path, (long long)model->num_stored, (long long)cf->stored);
    uint32_t crc = 0;
    SPDF_TRY(read_stored(cf, cf->sections[SECTION_TENSORS].offset, model, model->params, &crc));
    SPDF_TRY(recheck(cf, SECTION_TENSORS, crc));
    if (!opt) return model_check_finite(model, NULL, 0, "checkpoint", cf->path);
    const uint64_t at = cf->sections[SECTION_OPTIMIZER].offset;
    unsigned char head[OPTIMIZER_HEADER_BYTES];
    SPDF_TRY(read_at(cf, at, head, sizeof head));
    crc = spdf_crc32c(0, head, sizeof head);
    SPDF_TRY(read_stored(cf, at + OPTIMIZER_HEADER_BYTES, model, optimizer_moment(opt, 0), &crc));
    SPDF_TRY(read_stored(cf, at + OPTIMIZER_HEADER_BYTES + 4 * (uint64_t)cf->stored, model, optimizer_moment(opt, 1),
                         &crc));
    SPDF_TRY(recheck(cf, SECTION_OPTIMIZER, crc));
    if (load_i64le(head + 40) != cf->step || load_i64le(head + 48) != cf->moment_step)
        return FORMAT_FAIL(cf, "section OPTIMIZER changed while the checkpoint was being loaded");
    optimizer_set_state(opt, cf->step, cf->moment_step);
    float *const moments[2] = {optimizer_moment(opt, 0), optimizer_moment(opt, 1)};
    return model_check_finite(model, moments, 2, "checkpoint", cf->path);
}

/* Model, optimizer (if wanted) and phase handle in the saved phase, weights and moments filled. */
static spdf_status build_state(const checkpoint_file *cf, spdf_context *ctx, int want_optimizer,
                               spdf_model **model, spdf_optimizer **opt, spdf_phase **phase)
{
    const spdf_status created = spdf_model_create(ctx, &cf->config, model);
    if (created == SPDF_EINVAL) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", spdf_last_error());
        return FORMAT_FAIL(cf, "invalid model configuration: %s", detail);
    }
    SPDF_TRY(created);
    if (cf->present[SECTION_DROPOUT]) (*model)->dropout = cf->dropout;
    if (want_optimizer) SPDF_TRY(spdf_optimizer_create(*model, &cf->optimizer, opt));
    spdf_mask *mask = NULL;
    if (cf->phase == SPDF_PHASE_SPARSE) SPDF_TRY(build_mask(cf, &mask));
    const spdf_status status = spdf_phase_create(*model, *opt, cf->phase, mask, phase);
    spdf_mask_free(mask);
    SPDF_TRY(status);
    if (cf->plan) SPDF_TRY(model_plan_sparse(*model, cf->plan)); /* the saved kernels */
    return fill_state(cf, *model, *opt);
}

static spdf_status check_sampler(const checkpoint_file *cf, const spdf_sampler *sampler)
{
    if (!sampler) return SPDF_OK;
    if (!cf->present[SECTION_SAMPLER])
        return FORMAT_FAIL(cf, "a sampler was passed but the checkpoint has no sampler state");
    int32_t B, T;
    uint64_t seed;
    spdf_sampler_order order;
    sampler_describe(sampler, &B, &T, &seed, &order);
    if (B != cf->B || T != cf->T || seed != cf->sampler_seed || (int32_t)order != cf->order)
        return spdf_fail(SPDF_EINVAL, "spdf_checkpoint_load: the sampler (B %d, T %d, seed %llu, "
                         "order %d) differs from the one saved in '%s' (B %d, T %d, seed %llu, "
                         "order %d)", (int)B, (int)T, (unsigned long long)seed, (int)order,
                         cf->path, (int)cf->B, (int)cf->T, (unsigned long long)cf->sampler_seed,
                         (int)cf->order);
    return SPDF_OK;
}

spdf_status spdf_checkpoint_load(const char *path, spdf_context *ctx, spdf_model **model,
                                 spdf_optimizer **opt, spdf_phase **phase, spdf_sampler *sampler)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(path);
    SPDF_CHECK_HANDLE(ctx, HANDLE_CONTEXT);
    SPDF_CHECK_ARG(model);
    if (sampler) SPDF_CHECK_HANDLE(sampler, HANDLE_SAMPLER);
    checkpoint_file cf;
    spdf_status status = open_checkpoint(path, &cf);
    if (status == SPDF_OK && opt && !cf.present[SECTION_OPTIMIZER])
        status = FORMAT_FAIL(&cf, "an optimizer was requested but the checkpoint has none");
    if (status == SPDF_OK) status = check_sampler(&cf, sampler);
    spdf_model *new_model = NULL;
    spdf_optimizer *new_opt = NULL;
    spdf_phase *new_phase = NULL;
    if (status == SPDF_OK) status = build_state(&cf, ctx, opt != NULL, &new_model, &new_opt, &new_phase);
    if (status == SPDF_OK && sampler) spdf_sampler_set_position(sampler, cf.position);
    close_checkpoint(&cf);
    if (status != SPDF_OK) {
        spdf_phase_free(new_phase);
        spdf_optimizer_free(new_opt);
        spdf_model_free(new_model);
        return status;
    }
    *model = new_model;
    if (opt) *opt = new_opt;
    if (phase) *phase = new_phase;
    else spdf_phase_free(new_phase); /* the model stays in its phase */
    return SPDF_OK;
}

spdf_status spdf_checkpoint_info_read(const char *path, spdf_checkpoint_info *info)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(path);
    SPDF_CHECK_ARG(info);
    const size_t first_size = SPDF_SIZE_THROUGH(spdf_checkpoint_info, file_size);
    SPDF_TRY(spdf_check_struct_size(info->struct_size, first_size, "spdf_checkpoint_info"));
    checkpoint_file cf;
    const spdf_status status = open_checkpoint(path, &cf);
    if (status != SPDF_OK) {
        close_checkpoint(&cf);
        return status;
    }
    spdf_checkpoint_info result;
    memset(&result, 0, sizeof result);
    result.struct_size = sizeof result;
    result.format_version = cf.version;
    result.phase = (int32_t)cf.phase;
    result.model = cf.config;
    result.model.struct_size = sizeof result.model;
    result.has_optimizer = cf.present[SECTION_OPTIMIZER];
    result.step = result.has_optimizer ? cf.step : 0;
    result.has_sampler = cf.present[SECTION_SAMPLER];
    result.sampler_position = result.has_sampler ? cf.position : 0;
    result.stored_params = cf.stored;
    result.file_size = cf.size;
    if (cf.tokenizer) {
        result.has_tokenizer = 1;
        result.tokenizer_vocab_size = cf.tokenizer->vocab_size;
        result.tokenizer_checksum = tokenizer_checksum(cf.tokenizer);
    }
    close_checkpoint(&cf);
    return spdf_struct_write(info, &result, sizeof result, first_size, "spdf_checkpoint_info");
}

spdf_status spdf_checkpoint_load_tokenizer(const char *path, spdf_tokenizer **tok)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(path);
    SPDF_CHECK_ARG(tok);
    checkpoint_file cf;
    const spdf_status status = open_checkpoint(path, &cf);
    spdf_tokenizer *stored = NULL;
    if (status == SPDF_OK) {
        stored = cf.tokenizer;
        cf.tokenizer = NULL; /* handed over; on failure close_checkpoint frees it */
    }
    close_checkpoint(&cf);
    SPDF_TRY(status);
    *tok = stored;
    return SPDF_OK;
}
