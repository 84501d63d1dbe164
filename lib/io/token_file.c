/* Token files (llm.c's uint16 format and libspdf's checksummed uint32 format) and the in-memory
 * dataset they load into.  The byte-exact layouts are in docs/token-format.md. */
#include "core/core.h"
#include "io/byte_order.h"
#include "io/file_io.h"
#include "io/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_WORDS 256
#define HEADER_BYTES (HEADER_WORDS * 4)
#define CHUNK_TOKENS 4096

#define U16_MAGIC 20240520u
#define U16_VERSION 1u
#define U16_WORD_COUNT 2
#define U16_FIRST_RESERVED 3

#define U32_MAGIC 0x54445053u /* the bytes "SPDT" read as a little-endian word */
#define U32_VERSION 1u
#define U32_TOKEN_BYTES 4u
#define U32_WORD_COUNT_LOW 2
#define U32_WORD_COUNT_HIGH 3
#define U32_WORD_TOKEN_BYTES 4
#define U32_WORD_VOCAB_BOUND 5
#define U32_WORD_PAYLOAD_CRC 6
#define U32_WORD_HEADER_CRC 7
#define U32_FIRST_RESERVED 8

/* What a parsed header promises about the payload. */
typedef struct file_layout {
    spdf_token_format format;
    int64_t count;
    uint32_t token_bytes;
    uint32_t vocab_bound;  /* U32 only */
    uint32_t payload_crc;  /* U32 only */
} file_layout;

static uint32_t header_word(const unsigned char *header, int index)
{
    return load_u32le(header + 4 * index);
}

static void set_header_word(unsigned char *header, int index, uint32_t v)
{
    store_u32le(header + 4 * index, v);
}

/* Encodes n ids into buf in the file's token width; returns the number of bytes. */
static size_t encode_tokens(const int32_t *tokens, size_t n, spdf_token_format format,
                            unsigned char *buf)
{
    if (format == SPDF_TOKENS_U16) {
        for (size_t i = 0; i < n; i++) {
            buf[2 * i] = (unsigned char)tokens[i];
            buf[2 * i + 1] = (unsigned char)(tokens[i] >> 8);
        }
        return 2 * n;
    }
    for (size_t i = 0; i < n; i++) store_u32le(buf + 4 * i, (uint32_t)tokens[i]);
    return 4 * n;
}

/* ---- errors ---- */

/* ---- datasets ---- */

static spdf_status dataset_alloc(int64_t count, spdf_dataset **out)
{
    size_t bytes;
    if ((uint64_t)count > SIZE_MAX || spdf_mul_size((size_t)count, sizeof(int32_t), &bytes) != 0)
        return spdf_fail(SPDF_ENOMEM, "%lld tokens do not fit in memory", (long long)count);
    spdf_dataset *ds = calloc(1, sizeof *ds);
    if (ds) ds->tag = HANDLE_DATASET;
    if (!ds) return spdf_fail(SPDF_ENOMEM, "out of memory for a dataset");
    ds->tokens = spdf_aligned_alloc(bytes);
    if (!ds->tokens) {
        free(ds);
        return spdf_fail(SPDF_ENOMEM, "out of memory for %lld tokens", (long long)count);
    }
    ds->count = count;
    *out = ds;
    return SPDF_OK;
}

void spdf_dataset_free(spdf_dataset *ds)
{
    if (!spdf_handle_is(ds, HANDLE_DATASET)) return; /* NULL, freed, or not a dataset */
    spdf_aligned_free(ds->tokens);
    spdf_handle_poison(ds);
    free(ds);
}

/* Ids must be in [0, INT32_MAX) so that the vocabulary bound (largest id + 1) is an int32. */
static spdf_status check_ids(const char *func, const int32_t *tokens, int64_t count,
                             int32_t max_id, int32_t *bound)
{
    int32_t largest = -1;
    for (int64_t i = 0; i < count; i++) {
        if (tokens[i] < 0 || tokens[i] > max_id)
            return spdf_fail(SPDF_EINVAL, "%s: token %lld is %d, outside [0, %d]", func,
                             (long long)i, (int)tokens[i], (int)max_id);
        if (tokens[i] > largest) largest = tokens[i];
    }
    *bound = largest + 1;
    return SPDF_OK;
}

spdf_status spdf_dataset_from_tokens(const int32_t *tokens, int64_t count, spdf_dataset **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(tokens || count == 0);
    SPDF_CHECK_ARG(count >= 0);
    SPDF_CHECK_ARG(out);
    int32_t bound = 0;
    SPDF_TRY(check_ids(__func__, tokens, count, INT32_MAX - 1, &bound));
    spdf_dataset *ds = NULL;
    SPDF_TRY(dataset_alloc(count, &ds));
    if (count > 0) memcpy(ds->tokens, tokens, (size_t)count * sizeof(int32_t));
    ds->vocab_bound = bound;
    *out = ds;
    return SPDF_OK;
}

spdf_status spdf_dataset_size(const spdf_dataset *ds, int64_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(ds, HANDLE_DATASET);
    SPDF_CHECK_ARG(count);
    *count = ds->count;
    return SPDF_OK;
}

spdf_status spdf_dataset_tokens(const spdf_dataset *ds, const int32_t **tokens)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(ds, HANDLE_DATASET);
    SPDF_CHECK_ARG(tokens);
    *tokens = ds->tokens;
    return SPDF_OK;
}

spdf_status spdf_dataset_vocab_bound(const spdf_dataset *ds, int32_t *bound)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(ds, HANDLE_DATASET);
    SPDF_CHECK_ARG(bound);
    *bound = ds->vocab_bound;
    return SPDF_OK;
}

/* ---- writing ---- */

/* Fills the header; for U32 this needs a first pass over the ids for the payload checksum. */
static void build_header(const int32_t *tokens, int64_t count, spdf_token_format format,
                         int32_t bound, unsigned char header[HEADER_BYTES])
{
    memset(header, 0, HEADER_BYTES);
    if (format == SPDF_TOKENS_U16) {
        set_header_word(header, 0, U16_MAGIC);
        set_header_word(header, 1, U16_VERSION);
        set_header_word(header, U16_WORD_COUNT, (uint32_t)count);
        return;
    }
    uint32_t crc = 0;
    unsigned char buf[CHUNK_TOKENS * 4];
    for (int64_t done = 0; done < count; done += CHUNK_TOKENS) {
        const size_t n = (size_t)(count - done < CHUNK_TOKENS ? count - done : CHUNK_TOKENS);
        crc = spdf_crc32c(crc, buf, encode_tokens(tokens + done, n, format, buf));
    }
    set_header_word(header, 0, U32_MAGIC);
    set_header_word(header, 1, U32_VERSION);
    set_header_word(header, U32_WORD_COUNT_LOW, (uint32_t)count);
    set_header_word(header, U32_WORD_COUNT_HIGH, (uint32_t)((uint64_t)count >> 32));
    set_header_word(header, U32_WORD_TOKEN_BYTES, U32_TOKEN_BYTES);
    set_header_word(header, U32_WORD_VOCAB_BOUND, (uint32_t)bound);
    set_header_word(header, U32_WORD_PAYLOAD_CRC, crc);
    /* Computed with its own word still zero, which is how the reader recomputes it. */
    set_header_word(header, U32_WORD_HEADER_CRC, spdf_crc32c(0, header, HEADER_BYTES));
}

typedef struct token_job {
    const unsigned char *header; /* (HEADER_BYTES) */
    const int32_t *tokens;
    int64_t count;
    spdf_token_format format;
} token_job;

static spdf_status write_contents(FILE *file, const char *tmp_path, void *context)
{
    const token_job *job = context;
    const unsigned char *header = job->header;
    const int32_t *tokens = job->tokens;
    const int64_t count = job->count;
    const spdf_token_format format = job->format;
    if (fwrite(header, 1, HEADER_BYTES, file) != HEADER_BYTES)
        return io_fail(errno, "write", "", tmp_path);
    unsigned char buf[CHUNK_TOKENS * 4];
    for (int64_t done = 0; done < count; done += CHUNK_TOKENS) {
        const size_t n = (size_t)(count - done < CHUNK_TOKENS ? count - done : CHUNK_TOKENS);
        const size_t bytes = encode_tokens(tokens + done, n, format, buf);
        if (fwrite(buf, 1, bytes, file) != bytes) return io_fail(errno, "write", "", tmp_path);
    }
    return SPDF_OK;
}

/* Writes everything to a temporary file beside path, flushes it to disk and renames it over
 * path, so readers see either the old file or the complete new one, never a partial file. */

spdf_status spdf_tokens_save(const char *path, const int32_t *tokens, int64_t count,
                             spdf_token_format format)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(path);
    SPDF_CHECK_ARG(tokens || count == 0);
    SPDF_CHECK_ARG(count >= 0);
    SPDF_CHECK_ARG(format == SPDF_TOKENS_U16 || format == SPDF_TOKENS_U32);
    if (format == SPDF_TOKENS_U16 && count > INT32_MAX)
        return spdf_fail(SPDF_EINVAL, "%s: %lld tokens exceed the U16 format's int32 count; use "
                         "SPDF_TOKENS_U32", __func__, (long long)count);
    const int32_t max_id = format == SPDF_TOKENS_U16 ? UINT16_MAX : INT32_MAX - 1;
    int32_t bound = 0;
    SPDF_TRY(check_ids(__func__, tokens, count, max_id, &bound));
    unsigned char header[HEADER_BYTES];
    build_header(tokens, count, format, bound, header);
    token_job job = {header, tokens, count, format};
    return write_file_atomically(path, "token file", write_contents, &job);
}

/* ---- reading ---- */

static spdf_status reserved_words_zero(const char *path, const unsigned char *header, int first)
{
    for (int i = first; i < HEADER_WORDS; i++)
        if (header_word(header, i) != 0)
            return spdf_fail(SPDF_EFORMAT, "'%s': reserved header word %d is 0x%08x, must be 0",
                             path, i, (unsigned)header_word(header, i));
    return SPDF_OK;
}

static spdf_status parse_u16_header(const char *path, const unsigned char *header,
                                    file_layout *layout)
{
    const uint32_t version = header_word(header, 1);
    if (version != U16_VERSION)
        return spdf_fail(SPDF_EFORMAT, "'%s': unsupported version %u of the llm.c token format "
                         "(only %u is known)", path, (unsigned)version, U16_VERSION);
    const int32_t count = (int32_t)header_word(header, U16_WORD_COUNT);
    if (count < 0)
        return spdf_fail(SPDF_EFORMAT, "'%s': negative token count %d in the header", path,
                         (int)count);
    SPDF_TRY(reserved_words_zero(path, header, U16_FIRST_RESERVED));
    layout->format = SPDF_TOKENS_U16;
    layout->count = count;
    layout->token_bytes = 2;
    return SPDF_OK;
}

static spdf_status parse_u32_header(const char *path, const unsigned char *header,
                                    file_layout *layout)
{
    const uint32_t version = header_word(header, 1);
    if (version != U32_VERSION)
        return spdf_fail(SPDF_EFORMAT, "'%s': unsupported version %u of the SPDT token format "
                         "(only %u is known)", path, (unsigned)version, U32_VERSION);
    unsigned char copy[HEADER_BYTES];
    memcpy(copy, header, HEADER_BYTES);
    set_header_word(copy, U32_WORD_HEADER_CRC, 0);
    const uint32_t stored = header_word(header, U32_WORD_HEADER_CRC);
    const uint32_t computed = spdf_crc32c(0, copy, HEADER_BYTES);
    if (stored != computed)
        return spdf_fail(SPDF_EFORMAT, "'%s': header checksum mismatch (stored 0x%08x, computed "
                         "0x%08x): the header is corrupt", path, (unsigned)stored,
                         (unsigned)computed);
    const uint64_t count = (uint64_t)header_word(header, U32_WORD_COUNT_HIGH) << 32 |
                           header_word(header, U32_WORD_COUNT_LOW);
    if (count > INT64_MAX)
        return spdf_fail(SPDF_EFORMAT, "'%s': negative token count in the header", path);
    const uint32_t token_bytes = header_word(header, U32_WORD_TOKEN_BYTES);
    if (token_bytes != U32_TOKEN_BYTES)
        return spdf_fail(SPDF_EFORMAT, "'%s': %u bytes per token, the SPDT format has %u", path,
                         (unsigned)token_bytes, U32_TOKEN_BYTES);
    SPDF_TRY(reserved_words_zero(path, header, U32_FIRST_RESERVED));
    layout->format = SPDF_TOKENS_U32;
    layout->count = (int64_t)count;
    layout->token_bytes = token_bytes;
    layout->vocab_bound = header_word(header, U32_WORD_VOCAB_BOUND);
    layout->payload_crc = header_word(header, U32_WORD_PAYLOAD_CRC);
    return SPDF_OK;
}

/* The payload must be exactly count tokens: anything else is a truncated or padded file. */
static spdf_status check_file_size(const char *path, const file_layout *layout, int64_t file_size)
{
    const uint64_t payload = (uint64_t)file_size - HEADER_BYTES;
    const uint64_t held = payload / layout->token_bytes;
    if ((uint64_t)layout->count > held)
        return spdf_fail(SPDF_EFORMAT, "'%s' is truncated: the header announces %lld tokens of "
                         "%u bytes but only %llu payload bytes follow it", path,
                         (long long)layout->count, (unsigned)layout->token_bytes,
                         (unsigned long long)payload);
    const uint64_t extra = payload - (uint64_t)layout->count * layout->token_bytes;
    if (extra != 0)
        return spdf_fail(SPDF_EFORMAT, "'%s' has %llu trailing bytes after the %lld tokens its "
                         "header announces", path, (unsigned long long)extra,
                         (long long)layout->count);
    return SPDF_OK;
}

static spdf_status read_exactly(FILE *file, const char *path, void *buf, size_t bytes)
{
    if (fread(buf, 1, bytes, file) == bytes) return SPDF_OK;
    if (ferror(file)) return io_fail(errno, "read", "", path);
    return spdf_fail(SPDF_EFORMAT, "'%s' ended early: it was shortened while being read", path);
}

/* Reads the payload into ds->tokens, checking ids and (U32) the checksum and vocabulary bound. */
static spdf_status read_payload(FILE *file, const char *path, const file_layout *layout,
                                spdf_dataset *ds)
{
    unsigned char buf[CHUNK_TOKENS * 4];
    uint32_t crc = 0;
    int64_t largest = -1;
    for (int64_t done = 0; done < layout->count; done += CHUNK_TOKENS) {
        const size_t n =
            (size_t)(layout->count - done < CHUNK_TOKENS ? layout->count - done : CHUNK_TOKENS);
        SPDF_TRY(read_exactly(file, path, buf, n * layout->token_bytes));
        int32_t *dst = ds->tokens + done;
        for (size_t i = 0; i < n; i++) {
            const uint32_t id = layout->token_bytes == 2
                                    ? (uint32_t)buf[2 * i] | (uint32_t)buf[2 * i + 1] << 8
                                    : load_u32le(buf + 4 * i);
            if (id >= (uint32_t)INT32_MAX)
                return spdf_fail(SPDF_EFORMAT, "'%s': token %lld is %u, ids must be below %d",
                                 path, (long long)(done + (int64_t)i), (unsigned)id, INT32_MAX);
            dst[i] = (int32_t)id;
            if ((int64_t)id > largest) largest = id;
        }
        if (layout->format == SPDF_TOKENS_U32) crc = spdf_crc32c(crc, buf, n * layout->token_bytes);
    }
    ds->vocab_bound = (int32_t)(largest + 1);
    if (layout->format != SPDF_TOKENS_U32) return SPDF_OK;
    if (crc != layout->payload_crc)
        return spdf_fail(SPDF_EFORMAT, "'%s': payload checksum mismatch (stored 0x%08x, computed "
                         "0x%08x): the tokens are corrupt", path, (unsigned)layout->payload_crc,
                         (unsigned)crc);
    if ((uint32_t)ds->vocab_bound != layout->vocab_bound)
        return spdf_fail(SPDF_EFORMAT, "'%s': the header's vocabulary bound is %u but the largest "
                         "id + 1 is %d", path, (unsigned)layout->vocab_bound,
                         (int)ds->vocab_bound);
    return SPDF_OK;
}

static spdf_status read_token_file(FILE *file, const char *path, spdf_dataset **out)
{
    struct stat info;
    if (fstat(fileno(file), &info) != 0) return io_fail(errno, "stat", "", path);
    if (S_ISDIR(info.st_mode)) return io_fail(EISDIR, "read", "", path);
    if (info.st_size < HEADER_BYTES)
        return spdf_fail(SPDF_EFORMAT, "'%s' is too short for a token file: %lld bytes, the header "
                         "alone is %d", path, (long long)info.st_size, HEADER_BYTES);
    unsigned char header[HEADER_BYTES];
    SPDF_TRY(read_exactly(file, path, header, HEADER_BYTES));
    file_layout layout = {0};
    const uint32_t magic = header_word(header, 0);
    if (magic == U16_MAGIC)
        SPDF_TRY(parse_u16_header(path, header, &layout));
    else if (magic == U32_MAGIC)
        SPDF_TRY(parse_u32_header(path, header, &layout));
    else
        return spdf_fail(SPDF_EFORMAT, "'%s' is not a token file: unknown magic 0x%08x (expected "
                         "%u for llm.c uint16 tokens or 0x%08x \"SPDT\")", path, (unsigned)magic,
                         U16_MAGIC, U32_MAGIC);
    SPDF_TRY(check_file_size(path, &layout, (int64_t)info.st_size));
    spdf_dataset *ds = NULL;
    SPDF_TRY(dataset_alloc(layout.count, &ds));
    const spdf_status status = read_payload(file, path, &layout, ds);
    if (status != SPDF_OK) {
        spdf_dataset_free(ds);
        return status;
    }
    *out = ds;
    return SPDF_OK;
}

spdf_status spdf_dataset_load(const char *path, spdf_dataset **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(path);
    SPDF_CHECK_ARG(out);
    FILE *file = fopen(path, "rb");
    if (!file) return io_fail(errno, "open", "", path);
    const spdf_status status = read_token_file(file, path, out);
    fclose(file);
    return status;
}
