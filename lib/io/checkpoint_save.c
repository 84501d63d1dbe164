/* Writing checkpoints: the model (masked weights as their non-zeros plus a bitmap), its phase and
 * kernel plan, the optimizer, the sampler position and the tokenizer in one little-endian,
 * checksummed file (docs/checkpoint-format.md), replaced atomically. */
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

typedef struct writer {
    FILE *file;
    const char *path; /* the temporary file, for messages */
    uint64_t position;
    uint32_t crc; /* of the section being written */
} writer;

static spdf_status put(writer *w, const void *data, size_t bytes)
{
    if (bytes > 0 && fwrite(data, 1, bytes, w->file) != bytes) return io_fail(errno, "write", "checkpoint", w->path);
    w->crc = spdf_crc32c(w->crc, data, bytes);
    w->position += bytes;
    return SPDF_OK;
}

/* Writes values[slot[k]] (values[k] without a slot table) for k = 0 .. count-1. */
static spdf_status put_floats(writer *w, const float *values, const int32_t *slot, int64_t count)
{
    unsigned char buf[CHUNK_BYTES];
    for (int64_t done = 0; done < count; done += CHUNK_FLOATS) {
        const int64_t n = count - done < CHUNK_FLOATS ? count - done : CHUNK_FLOATS;
        for (int64_t i = 0; i < n; i++) store_f32le(buf + 4 * i, values[slot ? slot[done + i] : done + i]);
        SPDF_TRY(put(w, buf, (size_t)n * 4));
    }
    return SPDF_OK;
}


/* Every tensor's stored values in table order: dense tensors whole, masked ones in canonical CSR
 * order whatever order the backend stores them in. */
static spdf_status put_stored(writer *w, const spdf_model *model, const float *array)
{
    for (int i = 0; i < model->num_tensors; i++)
        SPDF_TRY(put_floats(w, array + model->tensors[i].offset, csr_to_slot(model, i),
                            model->tensors[i].stored));
    return SPDF_OK;
}

static spdf_status put_config(writer *w, const spdf_model *model)
{
    const spdf_model_config *c = &model->config;
    unsigned char b[CONFIG_BYTES] = {0};
    store_i32le(b + 0, c->vocab_size);
    store_i32le(b + 4, c->max_seq_len);
    store_i32le(b + 8, c->num_layers);
    store_i32le(b + 12, c->num_heads);
    store_i32le(b + 16, c->channels);
    store_i32le(b + 20, (int32_t)model->phase);
    store_u64le(b + 24, c->seed);
    store_i32le(b + 32, model->num_tensors);
    store_i64le(b + 40, model->num_params);
    store_i64le(b + 48, model->num_stored);
    return put(w, b, sizeof b);
}

/* One record and a zero-padded bitmap per masked weight, in tensor order. */
static spdf_status put_mask(writer *w, const spdf_model *model)
{
    unsigned char head[MASK_HEADER_BYTES] = {0};
    store_u32le(head, (uint32_t)model->num_sparse);
    SPDF_TRY(put(w, head, sizeof head));
    for (int i = 0; i < model->num_tensors; i++) {
        const int slot = model->tensors[i].sparse_slot;
        if (slot < 0) continue;
        const sparsity_pattern *m = &model->sparse[slot].pattern;
        unsigned char record[MASK_LAYER_BYTES] = {0};
        store_i32le(record + 0, i);
        store_i64le(record + 8, m->rows);
        store_i64le(record + 16, m->cols);
        store_i64le(record + 24, m->nnz);
        SPDF_TRY(put(w, record, sizeof record));
        const size_t bytes = (size_t)padded8(pattern_bitmap_bytes(m->rows, m->cols));
        unsigned char *bitmap = calloc(bytes, 1);
        if (!bitmap) return spdf_fail(SPDF_ENOMEM, "out of memory for a mask bitmap of %zu bytes", bytes);
        pattern_to_bitmap(m, bitmap);
        const spdf_status status = put(w, bitmap, bytes);
        free(bitmap);
        SPDF_TRY(status);
    }
    return SPDF_OK;
}

/* The kernel of each product of every masked layer, in the mask's layer order. */
static spdf_status put_plan(writer *w, const spdf_model *model)
{
    unsigned char head[PLAN_HEADER_BYTES] = {0};
    store_u32le(head, (uint32_t)model->num_sparse);
    SPDF_TRY(put(w, head, sizeof head));
    for (int l = 0; l < model->num_sparse; l++) {
        spdf_sparse_plan_report report;
        model_sparse_report(model, l, &report);
        unsigned char record[PLAN_LAYER_BYTES] = {0};
        for (int p = 0; p < SPDF_PRODUCTS; p++) record[p] = (unsigned char)report.kind[p];
        SPDF_TRY(put(w, record, sizeof record));
    }
    return SPDF_OK;
}

static spdf_status put_optimizer(writer *w, const spdf_optimizer *opt)
{
    const spdf_optimizer_config *c = optimizer_config(opt);
    int64_t step, moment_step;
    optimizer_get_state(opt, &step, &moment_step);
    unsigned char b[OPTIMIZER_HEADER_BYTES] = {0};
    store_f32le(b + 0, c->learning_rate);
    store_f32le(b + 4, c->beta1);
    store_f32le(b + 8, c->beta2);
    store_f32le(b + 12, c->eps);
    store_f32le(b + 16, c->weight_decay);
    store_f32le(b + 20, c->grad_clip);
    store_i32le(b + 24, c->schedule);
    store_i32le(b + 28, c->warmup_steps);
    store_i32le(b + 32, c->total_steps);
    store_f32le(b + 36, c->min_lr_ratio);
    store_i64le(b + 40, step);
    store_i64le(b + 48, moment_step);
    SPDF_TRY(put(w, b, sizeof b));
    SPDF_TRY(put_stored(w, optimizer_model(opt), optimizer_moment(opt, 0)));
    return put_stored(w, optimizer_model(opt), optimizer_moment(opt, 1));
}

static spdf_status put_sampler(writer *w, const spdf_sampler *sampler)
{
    int32_t B, T;
    uint64_t seed;
    spdf_sampler_order order;
    int64_t position;
    sampler_describe(sampler, &B, &T, &seed, &order);
    spdf_sampler_get_position(sampler, &position);
    unsigned char b[SAMPLER_BYTES] = {0};
    store_i32le(b + 0, B);
    store_i32le(b + 4, T);
    store_u64le(b + 8, seed);
    store_i32le(b + 16, (int32_t)order);
    store_i64le(b + 24, position);
    return put(w, b, sizeof b);
}

static spdf_status put_dropout(writer *w, const spdf_model *model)
{
    const model_dropout *d = &model->dropout;
    unsigned char b[DROPOUT_BYTES] = {0};
    store_f32le(b + 0, d->embedding);
    store_f32le(b + 4, d->attention);
    store_f32le(b + 8, d->residual);
    store_u64le(b + 16, d->seed);
    store_u64le(b + 24, d->forwards);
    return put(w, b, sizeof b);
}

/* What goes into one file: the training state and the tokenizer's file image (NULL: none). */
typedef struct save_job {
    const spdf_model *model;
    const spdf_optimizer *opt;
    const spdf_sampler *sampler;
    const unsigned char *tokenizer;
    size_t tokenizer_bytes;
} save_job;

/* The sections of a checkpoint of this state, in file order, with their offsets and sizes. */
static int plan_sections(const save_job *job, section table[MAX_SECTIONS])
{
    const spdf_model *model = job->model;
    const uint64_t stored_bytes = (uint64_t)model->num_stored * 4;
    int count = 0;
    table[count++] = (section){SECTION_CONFIG, 0, 0, CONFIG_BYTES};
    if (model->phase == SPDF_PHASE_SPARSE)
        table[count++] = (section){SECTION_MASK, 0, 0, (uint64_t)mask_section_bytes(&model->config)};
    table[count++] = (section){SECTION_TENSORS, 0, 0, stored_bytes};
    if (job->opt) table[count++] = (section){SECTION_OPTIMIZER, 0, 0, OPTIMIZER_HEADER_BYTES + 2 * stored_bytes};
    if (job->sampler) table[count++] = (section){SECTION_SAMPLER, 0, 0, SAMPLER_BYTES};
    if (model->phase == SPDF_PHASE_SPARSE)
        table[count++] = (section){SECTION_PLAN, 0, 0,
                                   PLAN_HEADER_BYTES + PLAN_LAYER_BYTES * (uint64_t)model->num_sparse};
    if (job->tokenizer) table[count++] = (section){SECTION_TOKENIZER, 0, 0, job->tokenizer_bytes};
    if (dropout_saved(model)) table[count++] = (section){SECTION_DROPOUT, 0, 0, DROPOUT_BYTES};
    uint64_t at = HEADER_BYTES + (uint64_t)count * ENTRY_BYTES;
    for (int i = 0; i < count; i++) {
        table[i].offset = at;
        at += table[i].size;
    }
    return count;
}

/* Header and section table; the header CRC covers bytes 0..35, the table CRC the whole table. */
static size_t encode_head(unsigned char *head, const section *table, int count, uint32_t flags,
                          uint64_t file_size)
{
    const size_t table_bytes = (size_t)count * ENTRY_BYTES;
    unsigned char *entries = head + HEADER_BYTES;
    memset(head, 0, HEADER_BYTES + table_bytes);
    for (int i = 0; i < count; i++) {
        store_u32le(entries + i * ENTRY_BYTES + 0, table[i].id);
        store_u32le(entries + i * ENTRY_BYTES + 4, table[i].crc);
        store_u64le(entries + i * ENTRY_BYTES + 8, table[i].offset);
        store_u64le(entries + i * ENTRY_BYTES + 16, table[i].size);
    }
    memcpy(head, MAGIC, MAGIC_BYTES);
    store_u32le(head + AT_VERSION, FORMAT_VERSION);
    store_u32le(head + AT_FLAGS, flags);
    store_u32le(head + AT_SECTION_COUNT, (uint32_t)count);
    store_u32le(head + AT_TABLE_CRC, spdf_crc32c(0, entries, table_bytes));
    store_u64le(head + AT_FILE_SIZE, file_size);
    store_u32le(head + AT_HEADER_CRC, spdf_crc32c(0, head, AT_HEADER_CRC));
    return HEADER_BYTES + table_bytes;
}

static spdf_status write_checkpoint(writer *w, const save_job *job)
{
    const spdf_model *model = job->model;
    const spdf_optimizer *opt = job->opt;
    const spdf_sampler *sampler = job->sampler;
    section table[MAX_SECTIONS];
    const int count = plan_sections(job, table);
    unsigned char head[HEADER_BYTES + MAX_SECTIONS * ENTRY_BYTES] = {0};
    const size_t head_bytes = HEADER_BYTES + (size_t)count * ENTRY_BYTES;
    SPDF_TRY(put(w, head, head_bytes)); /* placeholder until the checksums are known */
    for (int i = 0; i < count; i++) {
        w->crc = 0;
        switch (table[i].id) {
        case SECTION_CONFIG: SPDF_TRY(put_config(w, model)); break;
        case SECTION_MASK: SPDF_TRY(put_mask(w, model)); break;
        case SECTION_TENSORS: SPDF_TRY(put_stored(w, model, model->params)); break;
        case SECTION_OPTIMIZER: SPDF_TRY(put_optimizer(w, opt)); break;
        case SECTION_SAMPLER: SPDF_TRY(put_sampler(w, sampler)); break;
        case SECTION_PLAN: SPDF_TRY(put_plan(w, model)); break;
        case SECTION_TOKENIZER: SPDF_TRY(put(w, job->tokenizer, job->tokenizer_bytes)); break;
        case SECTION_DROPOUT: SPDF_TRY(put_dropout(w, model)); break;
        }
        if (w->position != table[i].offset + table[i].size)
            return spdf_fail(SPDF_EINTERNAL, "checkpoint section %s has %llu bytes, %llu planned",
                             section_name(table[i].id),
                             (unsigned long long)(w->position - table[i].offset),
                             (unsigned long long)table[i].size);
        table[i].crc = w->crc;
    }
    const uint32_t flags = (model->phase == SPDF_PHASE_SPARSE ? FLAG_SPARSE | FLAG_PLAN : 0u) |
                           (opt ? FLAG_OPTIMIZER : 0u) | (sampler ? FLAG_SAMPLER : 0u) |
                           (job->tokenizer ? FLAG_TOKENIZER : 0u) |
                           (dropout_saved(model) ? FLAG_DROPOUT : 0u);
    encode_head(head, table, count, flags, w->position);
    if (fseeko(w->file, 0, SEEK_SET) != 0) return io_fail(errno, "seek in", "checkpoint", w->path);
    if (fwrite(head, 1, head_bytes, w->file) != head_bytes) return io_fail(errno, "write", "checkpoint", w->path);
    return SPDF_OK;
}

static spdf_status write_checkpoint_file(FILE *file, const char *tmp_path, void *context)
{
    writer w = {file, tmp_path, 0, 0};
    return write_checkpoint(&w, context);
}

spdf_status spdf_checkpoint_save_config_init(spdf_checkpoint_save_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    return SPDF_OK;
}

spdf_status spdf_checkpoint_save_ex(const char *path, const spdf_model *model,
                                    const spdf_optimizer *opt, const spdf_sampler *sampler,
                                    const spdf_checkpoint_save_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(path);
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    if (opt) SPDF_CHECK_HANDLE(opt, HANDLE_OPTIMIZER);
    if (sampler) SPDF_CHECK_HANDLE(sampler, HANDLE_SAMPLER);
    if (opt && optimizer_model(opt) != model)
        return spdf_fail(SPDF_EINVAL, "%s: opt is not the optimizer of this model", __func__);
    spdf_checkpoint_save_config c;
    spdf_checkpoint_save_config_init(&c);
    if (config)
        SPDF_TRY(spdf_struct_read(&c, sizeof c, config,
                                  SPDF_SIZE_THROUGH(spdf_checkpoint_save_config, tokenizer),
                                  "spdf_checkpoint_save_config"));
    save_job job = {model, opt, sampler, NULL, 0};
    unsigned char *image = NULL;
    if (c.tokenizer) {
        SPDF_CHECK_HANDLE(c.tokenizer, HANDLE_TOKENIZER);
        if (c.tokenizer->kind != TOKENIZER_BPE)
            return spdf_fail(SPDF_EUNSUPPORTED, "%s: only libspdf's own tokenizers are stored in a "
                             "checkpoint, not one read from GPT-2's vocab.json and merges.txt", __func__);
        if (c.tokenizer->vocab_size > model->config.vocab_size)
            return spdf_fail(SPDF_EINVAL, "%s: the tokenizer has %d ids, more than the model's "
                             "vocabulary of %d", __func__, (int)c.tokenizer->vocab_size,
                             (int)model->config.vocab_size);
        if (!(image = tokenizer_image(c.tokenizer, &job.tokenizer_bytes)))
            return spdf_fail(SPDF_ENOMEM, "out of memory for the tokenizer of checkpoint '%s'", path);
        job.tokenizer = image;
    }
    const spdf_status status = write_file_atomically(path, "checkpoint", write_checkpoint_file, &job);
    free(image);
    return status;
}

spdf_status spdf_checkpoint_save(const char *path, const spdf_model *model,
                                 const spdf_optimizer *opt, const spdf_sampler *sampler)
{
    return spdf_checkpoint_save_ex(path, model, opt, sampler, NULL);
}
