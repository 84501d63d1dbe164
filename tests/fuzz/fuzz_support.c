/* The harnesses' shared services (fuzz_support.h). */
#include "fuzz_support.h"

#include "core/core.h"
#include "io/byte_order.h"
#include "io/checkpoint_format.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *fuzz_file(const uint8_t *data, size_t size) { return fuzz_file_in(0, data, size); }

const char *fuzz_file_in(int slot, const uint8_t *data, size_t size)
{
    static int fds[2] = {-1, -1};
    static char paths[2][64];
    if (slot < 0 || slot > 1) fuzz_fail("no input file %d", slot);
    int *fd_slot = &fds[slot];
    if (*fd_slot < 0) {
        *fd_slot = memfd_create("spdf-fuzz-input", 0);
        if (*fd_slot < 0) fuzz_fail("memfd_create failed");
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", *fd_slot);
    }
    const int fd = *fd_slot;
    const char *path = paths[slot];
    if (ftruncate(fd, 0) != 0) fuzz_fail("cannot truncate the input file");
    for (size_t done = 0; done < size;) {
        const ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        if (n <= 0) fuzz_fail("cannot write the input file");
        done += (size_t)n;
    }
    return path;
}

spdf_context *fuzz_context(void)
{
    static spdf_context *ctx;
    if (!ctx) {
        spdf_context_config config;
        spdf_context_config_init(&config);
        config.backend = "ref";
        config.num_threads = 1;
        if (spdf_context_create(&config, &ctx) != SPDF_OK)
            fuzz_fail("cannot create a context: %s", spdf_last_error());
    }
    return ctx;
}

void fuzz_fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("fuzz property failed: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    abort();
}

void fuzz_expect_rejection(spdf_status status, const char *what)
{
    if (status != SPDF_EFORMAT && status != SPDF_EIO && status != SPDF_ENOMEM &&
        status != SPDF_EUNSUPPORTED)
        fuzz_fail("%s returned %s (%s) for a file", what, spdf_status_name(status), spdf_last_error());
    if (!spdf_last_error()[0]) fuzz_fail("%s failed with %s but left no message", what,
                                         spdf_status_name(status));
}

void fuzz_check_model(spdf_model *model, int64_t max_params, const char *what)
{
    int32_t count = 0;
    int64_t params = 0;
    spdf_model_config config;
    config.struct_size = sizeof config;
    if (spdf_model_num_tensors(model, &count) != SPDF_OK || spdf_model_num_params(model, &params) != SPDF_OK ||
        spdf_model_get_config(model, &config) != SPDF_OK)
        fuzz_fail("%s: a loaded model does not answer: %s", what, spdf_last_error());
    for (int32_t t = 0; t < count; t++) {
        spdf_tensor_info info;
        info.struct_size = sizeof info;
        if (spdf_model_tensor_info(model, t, &info) != SPDF_OK) fuzz_fail("%s: tensor %d has no info", what, t);
        float *values = malloc((size_t)info.numel * sizeof *values);
        if (!values) fuzz_fail("out of memory for tensor %s", info.name);
        if (spdf_model_tensor_read(model, t, values, info.numel) != SPDF_OK)
            fuzz_fail("%s: tensor %s cannot be read: %s", what, info.name, spdf_last_error());
        for (int64_t i = 0; i < info.numel; i++)
            if (!isfinite(values[i])) fuzz_fail("%s: loaded %s[%lld] = %g", what, info.name, (long long)i, values[i]);
        free(values);
    }
    if (params > max_params) return;
    enum { TOKENS = 4 };
    int32_t tokens[TOKENS], targets[TOKENS];
    const int32_t length = config.max_seq_len < TOKENS ? config.max_seq_len : TOKENS;
    for (int32_t i = 0; i < length; i++) {
        tokens[i] = (7 * i) % config.vocab_size;
        targets[i] = (7 * i + 1) % config.vocab_size;
    }
    float loss = 0;
    const spdf_status status = spdf_model_forward(model, tokens, targets, NULL, 1, length, &loss);
    if (status != SPDF_OK && status != SPDF_ENUMERIC)
        fuzz_fail("%s: forward on a loaded model returned %s (%s)", what, spdf_status_name(status),
                  spdf_last_error());
}

void fuzz_check_round_trip(const spdf_tokenizer *tok, int32_t vocab, int32_t forbidden_id, const char *text,
                           size_t length)
{
    size_t count = 0;
    if (spdf_tokenizer_encode(tok, text, length, NULL, 0, &count) != SPDF_OK)
        fuzz_fail("encode (count) failed: %s", spdf_last_error());
    int32_t *ids = malloc((count ? count : 1) * sizeof *ids);
    char *back = malloc(length + 1);
    if (!ids || !back) fuzz_fail("out of memory");
    size_t written = 0, decoded = 0;
    if (spdf_tokenizer_encode(tok, text, length, ids, count, &written) != SPDF_OK || written != count)
        fuzz_fail("encode failed or changed its count: %s", spdf_last_error());
    if (count > length) fuzz_fail("%zu bytes became %zu ids", length, count);
    for (size_t i = 0; i < count; i++)
        if (ids[i] < 0 || ids[i] >= vocab || ids[i] == forbidden_id)
            fuzz_fail("encode produced id %d (vocabulary %d)", ids[i], vocab);
    if (spdf_tokenizer_decode(tok, ids, count, back, length + 1, &decoded) != SPDF_OK)
        fuzz_fail("decode failed: %s", spdf_last_error());
    if (decoded != length || memcmp(back, text, length) != 0)
        fuzz_fail("%zu bytes came back as %zu different ones", length, decoded);
    free(back);
    free(ids);
}

uint8_t *fuzz_copy(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) fuzz_fail("out of memory copying %zu bytes", size);
    if (size) memcpy(copy, data, size);
    return copy;
}

/* ---- checksums ---- */

void fix_checkpoint_checksums(uint8_t *data, size_t size)
{
    if (size < HEADER_BYTES) return;
    store_u64le(data + AT_FILE_SIZE, size);
    const uint32_t count = load_u32le(data + AT_SECTION_COUNT);
    if (count >= 1 && count <= MAX_SECTIONS && HEADER_BYTES + count * ENTRY_BYTES <= size) {
        uint8_t *table = data + HEADER_BYTES;
        for (uint32_t i = 0; i < count; i++) {
            uint8_t *entry = table + i * ENTRY_BYTES;
            const uint64_t offset = load_u64le(entry + 8), bytes = load_u64le(entry + 16);
            if (bytes > size || offset > size - bytes) continue;
            if (load_u32le(entry) == SECTION_TOKENIZER) /* a tokenizer file with its own CRC */
                fix_tokenizer_checksum(data + offset, (size_t)bytes);
            store_u32le(entry + 4, spdf_crc32c(0, data + offset, (size_t)bytes));
        }
        store_u32le(data + AT_TABLE_CRC, spdf_crc32c(0, table, count * ENTRY_BYTES));
    }
    store_u32le(data + AT_HEADER_CRC, spdf_crc32c(0, data, AT_HEADER_CRC));
}

/* docs/token-format.md: a 1024-byte header; word 6 the payload's CRC, word 7 the header's. */
enum { TOKEN_HEADER_BYTES = 1024, TOKEN_PAYLOAD_CRC = 24, TOKEN_HEADER_CRC = 28 };

void fix_token_file_checksums(uint8_t *data, size_t size)
{
    if (size < TOKEN_HEADER_BYTES || memcmp(data, "SPDT", 4) != 0) return;
    store_u32le(data + TOKEN_PAYLOAD_CRC,
                spdf_crc32c(0, data + TOKEN_HEADER_BYTES, size - TOKEN_HEADER_BYTES));
    store_u32le(data + TOKEN_HEADER_CRC, 0);
    store_u32le(data + TOKEN_HEADER_CRC, spdf_crc32c(0, data, TOKEN_HEADER_BYTES));
}

/* docs/token-format.md: magic, version, merge count, 8 bytes a merge, then the CRC of it all. */
void fix_tokenizer_checksum(uint8_t *data, size_t size)
{
    if (size < 20) return;
    if ((size - 20) % 8 == 0) store_u32le(data + 12, (uint32_t)((size - 20) / 8));
    store_u32le(data + size - 4, spdf_crc32c(0, data, size - 4));
}

/* ---- UTF-8 ---- */

int fuzz_is_utf8(const uint8_t *text, size_t size)
{
    for (size_t i = 0; i < size;) {
        const uint8_t lead = text[i];
        size_t length;
        uint32_t code, minimum;
        if (lead < 0x80) { i++; continue; }
        if ((lead & 0xE0) == 0xC0) { length = 2; code = lead & 0x1Fu; minimum = 0x80; }
        else if ((lead & 0xF0) == 0xE0) { length = 3; code = lead & 0x0Fu; minimum = 0x800; }
        else if ((lead & 0xF8) == 0xF0) { length = 4; code = lead & 0x07u; minimum = 0x10000; }
        else return 0;
        if (size - i < length) return 0;
        for (size_t k = 1; k < length; k++) {
            if ((text[i + k] & 0xC0) != 0x80) return 0;
            code = code << 6 | (text[i + k] & 0x3Fu);
        }
        if (code < minimum || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
        i += length;
    }
    return 1;
}
