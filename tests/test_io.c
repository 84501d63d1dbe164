/* Unit tests of lib/io: the byte tokenizer, both token-file formats (round trips, a hand-written
 * llm.c file, corruption and truncation, I/O errors) and the batch sampler's rules. */
#include "spdf.h"
#include "common/fixtures.h"
#include "core/core.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_BYTES 1024
/* The RANDOM sampler's Philox stream, as documented in docs/token-format.md. */
#define DOCUMENTED_SAMPLER_STREAM UINT64_C(0x73616D706C6572)

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* ---- files as bytes ---- */

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    const long end = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(end > 0 ? (size_t)end : 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)end, f), (size_t)end);
    fclose(f);
    *size = (size_t)end;
    return buf;
}

static void write_bytes(const char *path, const unsigned char *buf, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

static void put_byte(const char *path, size_t offset, unsigned char value)
{
    const int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, &value, 1, (off_t)offset), 1);
    close(fd);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Bitwise CRC-32C, independent of the library's table-driven one. */
static uint32_t reference_crc32c(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* Deterministic ids in [0, bound). */
static void fill_ids(int32_t *ids, int64_t n, uint32_t bound, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids[i] = (int32_t)(x % bound);
    }
}

static spdf_dataset *load_ok(const char *path)
{
    spdf_dataset *ds = NULL;
    const spdf_status status = spdf_dataset_load(path, &ds);
    ck_assert_msg(status == SPDF_OK, "loading %s: %s %s", path, spdf_status_name(status),
                  spdf_last_error());
    return ds;
}

static void assert_dataset_equals(const spdf_dataset *ds, const int32_t *ids, int64_t n,
                                  int32_t bound)
{
    int64_t size = -1;
    const int32_t *tokens = NULL;
    int32_t vocab = -1;
    ck_assert_int_eq(spdf_dataset_size(ds, &size), SPDF_OK);
    ck_assert_int_eq(size, n);
    ck_assert_int_eq(spdf_dataset_tokens(ds, &tokens), SPDF_OK);
    ck_assert_ptr_nonnull(tokens);
    if (n > 0) ck_assert_mem_eq(tokens, ids, (size_t)n * sizeof(int32_t));
    ck_assert_int_eq(spdf_dataset_vocab_bound(ds, &vocab), SPDF_OK);
    ck_assert_int_eq(vocab, bound);
}

/* Loading must fail with `expected` and a message naming the file. */
static void assert_load_fails(const char *path, spdf_status expected)
{
    spdf_dataset *ds = (spdf_dataset *)&ds; /* sentinel: must be left untouched */
    const spdf_status status = spdf_dataset_load(path, &ds);
    ck_assert_msg(status == expected, "loading %s gave %s (%s), expected %s", path,
                  spdf_status_name(status), spdf_last_error(), spdf_status_name(expected));
    ck_assert_ptr_eq(ds, (spdf_dataset *)&ds);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), path));
}

/* ---- byte tokenizer ---- */

START_TEST(test_byte_round_trip_all_bytes)
{
    char text[256];
    for (int i = 0; i < 256; i++) text[i] = (char)(unsigned char)i;
    size_t count = 0;
    ck_assert_int_eq(spdf_byte_encode(text, sizeof text, NULL, 0, &count), SPDF_OK);
    ck_assert_uint_eq(count, 256);
    int32_t ids[256];
    ck_assert_int_eq(spdf_byte_encode(text, sizeof text, ids, 256, &count), SPDF_OK);
    ck_assert_uint_eq(count, 256);
    for (int i = 0; i < 256; i++) ck_assert_int_eq(ids[i], i);

    size_t len = 0;
    ck_assert_int_eq(spdf_byte_decode(ids, 256, NULL, 0, &len), SPDF_OK);
    ck_assert_uint_eq(len, 256);
    char back[256];
    ck_assert_int_eq(spdf_byte_decode(ids, 256, back, sizeof back, &len), SPDF_OK);
    ck_assert_uint_eq(len, 256);
    ck_assert_mem_eq(back, text, 256);

    ck_assert_int_eq(spdf_byte_encode(NULL, 0, NULL, 0, &count), SPDF_OK);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(spdf_byte_decode(NULL, 0, NULL, 0, &len), SPDF_OK);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_byte_eot)
{
    const int32_t ids[] = {'a', SPDF_TOKEN_EOT, 'b', SPDF_TOKEN_EOT};
    const char expected[] = "a<|endoftext|>b<|endoftext|>";
    char out[64];
    size_t len = 0;
    ck_assert_int_eq(spdf_byte_decode(ids, 4, out, sizeof out, &len), SPDF_OK);
    ck_assert_uint_eq(len, strlen(expected));
    ck_assert_mem_eq(out, expected, len);

    /* A short buffer receives a prefix, *len the full length, and nothing past cap is touched. */
    memset(out, '#', sizeof out);
    ck_assert_int_eq(spdf_byte_decode(ids, 4, out, 5, &len), SPDF_OK);
    ck_assert_uint_eq(len, strlen(expected));
    ck_assert_mem_eq(out, "a<|en", 5);
    ck_assert_int_eq(out[5], '#');

    /* Encoding never produces EOT: the text "<|endoftext|>" is 13 byte ids. */
    int32_t back[13];
    size_t count = 0;
    ck_assert_int_eq(spdf_byte_encode("<|endoftext|>", 13, back, 13, &count), SPDF_OK);
    ck_assert_uint_eq(count, 13);
    for (int i = 0; i < 13; i++) ck_assert_int_eq(back[i], (unsigned char)"<|endoftext|>"[i]);
}
END_TEST

START_TEST(test_byte_short_encode_buffer)
{
    int32_t ids[4] = {-7, -7, -7, -7};
    size_t count = 0;
    ck_assert_int_eq(spdf_byte_encode("hello", 5, ids, 3, &count), SPDF_OK);
    ck_assert_uint_eq(count, 5);
    ck_assert_int_eq(ids[0], 'h');
    ck_assert_int_eq(ids[2], 'l');
    ck_assert_int_eq(ids[3], -7);
}
END_TEST

START_TEST(test_byte_decode_invalid_ids)
{
    const int32_t bad[][3] = {
        {'a', 257, 'b'}, {'a', -1, 'b'}, {'a', 'b', INT32_MAX}, {INT32_MIN, 0, 0}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char out[8] = "xxxxxxx";
        size_t len = 12345;
        ck_assert_int_eq(spdf_byte_decode(bad[k], 3, out, sizeof out, &len), SPDF_EINVAL);
        ck_assert_uint_eq(len, 12345);
        ck_assert_str_eq(out, "xxxxxxx");
        ck_assert_str_ne(spdf_last_error(), "");
    }
}
END_TEST

/* ---- token files: round trips ---- */

START_TEST(test_u16_round_trip)
{
    enum { n = 70001 };
    int32_t *ids = malloc(n * sizeof *ids);
    fill_ids(ids, n, 60000, 1);
    ids[17] = 0;
    ids[n - 1] = 65535;
    const char *path = scratch_path("u16.bin");
    ck_assert_int_eq(spdf_tokens_save(path, ids, n, SPDF_TOKENS_U16), SPDF_OK);
    struct stat info;
    ck_assert_int_eq(stat(path, &info), 0);
    ck_assert_int_eq(info.st_size, HEADER_BYTES + 2 * n);
    spdf_dataset *ds = load_ok(path);
    assert_dataset_equals(ds, ids, n, 65536);
    spdf_dataset_free(ds);
    ck_assert_int_eq(scratch_count(".tmp."), 0);
    unlink(path);
    free(ids);
}
END_TEST

START_TEST(test_u32_round_trip_large)
{
    const int64_t n = 1200000;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    fill_ids(ids, n, 300000, 2);
    ids[5] = 65536;
    ids[n / 2] = 0;
    ids[n - 1] = INT32_MAX - 1; /* the largest id the library accepts */
    const char *path = scratch_path("u32.bin");
    ck_assert_int_eq(spdf_tokens_save(path, ids, n, SPDF_TOKENS_U32), SPDF_OK);
    struct stat info;
    ck_assert_int_eq(stat(path, &info), 0);
    ck_assert_int_eq(info.st_size, HEADER_BYTES + 4 * n);
    spdf_dataset *ds = load_ok(path);
    assert_dataset_equals(ds, ids, n, INT32_MAX);
    spdf_dataset_free(ds);

    /* Without the extreme id the bound is the largest id + 1. */
    ids[n - 1] = 299999;
    ck_assert_int_eq(spdf_tokens_save(path, ids, n, SPDF_TOKENS_U32), SPDF_OK);
    ds = load_ok(path);
    assert_dataset_equals(ds, ids, n, 300000);
    spdf_dataset_free(ds);
    ck_assert_int_eq(scratch_count(".tmp."), 0);
    unlink(path);
    free(ids);
}
END_TEST

START_TEST(test_empty_round_trip)
{
    const char *path = scratch_path("empty.bin");
    for (int format = SPDF_TOKENS_U16; format <= SPDF_TOKENS_U32; format++) {
        ck_assert_int_eq(spdf_tokens_save(path, NULL, 0, (spdf_token_format)format), SPDF_OK);
        spdf_dataset *ds = load_ok(path);
        assert_dataset_equals(ds, NULL, 0, 0);
        spdf_dataset_free(ds);
    }
    unlink(path);
}
END_TEST

START_TEST(test_save_rejects_out_of_range_ids)
{
    const char *path = scratch_path("rejected.bin");
    const int32_t too_big_u16[] = {1, 2, 65536};
    ck_assert_int_eq(spdf_tokens_save(path, too_big_u16, 3, SPDF_TOKENS_U16), SPDF_EINVAL);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "65536"));
    const int32_t negative[] = {1, -1};
    ck_assert_int_eq(spdf_tokens_save(path, negative, 2, SPDF_TOKENS_U16), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokens_save(path, negative, 2, SPDF_TOKENS_U32), SPDF_EINVAL);
    const int32_t too_big_u32[] = {INT32_MAX};
    ck_assert_int_eq(spdf_tokens_save(path, too_big_u32, 1, SPDF_TOKENS_U32), SPDF_EINVAL);
    ck_assert(!file_exists(path)); /* nothing was created, not even a temporary */
    ck_assert_int_eq(scratch_count(".tmp."), 0);

    /* A rejected save leaves an existing file alone. */
    const int32_t good[] = {3, 4, 5};
    ck_assert_int_eq(spdf_tokens_save(path, good, 3, SPDF_TOKENS_U16), SPDF_OK);
    ck_assert_int_eq(spdf_tokens_save(path, too_big_u16, 3, SPDF_TOKENS_U16), SPDF_EINVAL);
    spdf_dataset *ds = load_ok(path);
    assert_dataset_equals(ds, good, 3, 6);
    spdf_dataset_free(ds);
    unlink(path);
}
END_TEST

START_TEST(test_save_replaces_existing_file)
{
    const char *path = scratch_path("replace.bin");
    const int32_t first[] = {1, 2, 3, 4, 5, 6, 7, 8};
    const int32_t second[] = {100000, 9};
    ck_assert_int_eq(spdf_tokens_save(path, first, 8, SPDF_TOKENS_U16), SPDF_OK);
    ck_assert_int_eq(spdf_tokens_save(path, second, 2, SPDF_TOKENS_U32), SPDF_OK);
    spdf_dataset *ds = load_ok(path);
    assert_dataset_equals(ds, second, 2, 100001);
    spdf_dataset_free(ds);
    ck_assert_int_eq(scratch_count(".tmp."), 0);
    unlink(path);
}
END_TEST

/* ---- token files: byte layouts ---- */

/* An llm.c file assembled here byte by byte, without the library's writer. */
START_TEST(test_u16_hand_written_file)
{
    const uint16_t values[] = {0, 1, 255, 256, 257, 4660, 65535, 50256};
    const size_t n = sizeof values / sizeof values[0];
    const size_t size = HEADER_BYTES + 2 * n;
    unsigned char *bytes = calloc(size, 1);
    /* 20240520 = 0x0134D888, little-endian */
    bytes[0] = 0x88;
    bytes[1] = 0xD8;
    bytes[2] = 0x34;
    bytes[3] = 0x01;
    bytes[4] = 1; /* version */
    bytes[8] = (unsigned char)n;
    for (size_t i = 0; i < n; i++) {
        bytes[HEADER_BYTES + 2 * i] = (unsigned char)(values[i] & 0xFF);
        bytes[HEADER_BYTES + 2 * i + 1] = (unsigned char)(values[i] >> 8);
    }
    const char *path = scratch_path("hand.bin");
    write_bytes(path, bytes, size);
    int32_t expected[8];
    for (size_t i = 0; i < n; i++) expected[i] = values[i];
    spdf_dataset *ds = load_ok(path);
    assert_dataset_equals(ds, expected, (int64_t)n, 65536);
    spdf_dataset_free(ds);

    /* And the library's writer produces exactly these bytes. */
    const char *path2 = scratch_path("hand-lib.bin");
    ck_assert_int_eq(spdf_tokens_save(path2, expected, (int64_t)n, SPDF_TOKENS_U16), SPDF_OK);
    size_t size2;
    unsigned char *bytes2 = read_bytes(path2, &size2);
    ck_assert_uint_eq(size2, size);
    ck_assert_mem_eq(bytes2, bytes, size);
    unlink(path);
    unlink(path2);
    free(bytes);
    free(bytes2);
}
END_TEST

/* The SPDT header, word by word, as docs/token-format.md describes it. */
START_TEST(test_u32_layout_matches_docs)
{
    ck_assert_uint_eq(reference_crc32c((const unsigned char *)"123456789", 9), 0xE3069283u);
    const int32_t ids[] = {7, 70000, 0, 123456, 65535};
    const char *path = scratch_path("layout.bin");
    ck_assert_int_eq(spdf_tokens_save(path, ids, 5, SPDF_TOKENS_U32), SPDF_OK);
    size_t size;
    unsigned char *bytes = read_bytes(path, &size);
    ck_assert_uint_eq(size, HEADER_BYTES + 4 * 5);
    ck_assert_mem_eq(bytes, "SPDT", 4);
    ck_assert_uint_eq(get_le32(bytes + 0), 0x54445053u);
    ck_assert_uint_eq(get_le32(bytes + 4), 1);       /* version */
    ck_assert_uint_eq(get_le32(bytes + 8), 5);       /* count, low word */
    ck_assert_uint_eq(get_le32(bytes + 12), 0);      /* count, high word */
    ck_assert_uint_eq(get_le32(bytes + 16), 4);      /* bytes per token */
    ck_assert_uint_eq(get_le32(bytes + 20), 123457); /* vocabulary bound */
    ck_assert_uint_eq(get_le32(bytes + 24), reference_crc32c(bytes + HEADER_BYTES, 20));
    const uint32_t header_crc = get_le32(bytes + 28);
    for (size_t i = 32; i < HEADER_BYTES; i++) ck_assert_uint_eq(bytes[i], 0);
    put_le32(bytes + 28, 0);
    ck_assert_uint_eq(header_crc, reference_crc32c(bytes, HEADER_BYTES));
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(get_le32(bytes + HEADER_BYTES + 4 * i), (uint32_t)ids[i]);
    unlink(path);
    free(bytes);
}
END_TEST

/* ---- token files: corruption ---- */

static const char *save_sample(const char *name, spdf_token_format format, int32_t **ids_out, int64_t n)
{
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    fill_ids(ids, n, format == SPDF_TOKENS_U16 ? 65536 : 1000000, 3);
    const char *path = scratch_path(name);
    ck_assert_int_eq(spdf_tokens_save(path, ids, n, format), SPDF_OK);
    *ids_out = ids;
    return path;
}

/* Every possible value of each of the first 64 header bytes is rejected with SPDF_EFORMAT:
 * magic and version are checked, the count must match the file size and the reserved words must
 * be zero (U16), and the whole header is checksummed (U32). */
static void check_header_byte_changes(spdf_token_format format)
{
    int32_t *ids;
    const char *path = save_sample("header.bin", format, &ids, 300);
    size_t size;
    unsigned char *original = read_bytes(path, &size);
    long accepted = 0, wrong_status = 0, first_bad = -1;
    for (size_t pos = 0; pos < 64; pos++) {
        for (int value = 0; value < 256; value++) {
            if (value == original[pos]) continue;
            put_byte(path, pos, (unsigned char)value);
            spdf_dataset *ds = NULL;
            const spdf_status status = spdf_dataset_load(path, &ds);
            if (status == SPDF_OK) {
                accepted++;
                spdf_dataset_free(ds);
            } else if (status != SPDF_EFORMAT || !strstr(spdf_last_error(), path)) {
                wrong_status++;
            }
            if (status != SPDF_EFORMAT && first_bad < 0)
                first_bad = (long)(pos * 256 + (size_t)value);
        }
        put_byte(path, pos, original[pos]);
    }
    ck_assert_msg(accepted == 0 && wrong_status == 0,
                  "%ld changes accepted, %ld with a wrong status (first: byte %ld = %ld)", accepted,
                  wrong_status, first_bad / 256, first_bad % 256);
    /* Reserved words past the first 64 bytes are checked too. */
    const size_t far[] = {64, 100, 511, 1023};
    for (size_t k = 0; k < sizeof far / sizeof far[0]; k++) {
        put_byte(path, far[k], 0x5A);
        assert_load_fails(path, SPDF_EFORMAT);
        put_byte(path, far[k], original[far[k]]);
    }
    int32_t bound = 0;
    for (int i = 0; i < 300; i++) bound = ids[i] + 1 > bound ? ids[i] + 1 : bound;
    spdf_dataset *ds = load_ok(path); /* restored: loads again */
    assert_dataset_equals(ds, ids, 300, bound);
    spdf_dataset_free(ds);
    unlink(path);
    free(original);
    free(ids);
}

START_TEST(test_u16_header_corruption_rejected) { check_header_byte_changes(SPDF_TOKENS_U16); }
END_TEST

START_TEST(test_u32_header_corruption_rejected) { check_header_byte_changes(SPDF_TOKENS_U32); }
END_TEST

/* The payload CRC32C catches any change of one byte: a sample of positions, each tried with a
 * one-bit flip and with a full byte inversion. */
START_TEST(test_u32_payload_corruption_rejected)
{
    int32_t *ids;
    const int64_t n = 5000;
    const char *path = save_sample("payload32.bin", SPDF_TOKENS_U32, &ids, n);
    size_t size;
    unsigned char *original = read_bytes(path, &size);
    for (size_t pos = HEADER_BYTES; pos < size; pos += 37) {
        const unsigned char changes[] = {(unsigned char)(original[pos] ^ 0x01),
                                         (unsigned char)(original[pos] ^ 0x80),
                                         (unsigned char)~original[pos]};
        for (size_t c = 0; c < sizeof changes; c++) {
            put_byte(path, pos, changes[c]);
            spdf_dataset *ds = NULL;
            const spdf_status status = spdf_dataset_load(path, &ds);
            ck_assert_msg(status == SPDF_EFORMAT, "byte %zu changed: %s", pos,
                          spdf_status_name(status));
        }
        put_byte(path, pos, original[pos]);
    }
    put_byte(path, size - 1, (unsigned char)(original[size - 1] ^ 0x10));
    assert_load_fails(path, SPDF_EFORMAT);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "checksum"));
    unlink(path);
    free(original);
    free(ids);
}
END_TEST

/* The llm.c format has no checksum: a changed payload byte still loads, and exactly the one token
 * holding that byte differs. */
START_TEST(test_u16_payload_corruption_loads_but_differs)
{
    int32_t *ids;
    const int64_t n = 2000;
    const char *path = save_sample("payload16.bin", SPDF_TOKENS_U16, &ids, n);
    size_t size;
    unsigned char *original = read_bytes(path, &size);
    for (size_t pos = HEADER_BYTES; pos < size; pos += 97) {
        put_byte(path, pos, (unsigned char)(original[pos] ^ 0x24));
        spdf_dataset *ds = load_ok(path);
        const int32_t *tokens;
        spdf_dataset_tokens(ds, &tokens);
        const int64_t changed = (int64_t)(pos - HEADER_BYTES) / 2;
        for (int64_t i = 0; i < n; i++) {
            if (i == changed)
                ck_assert_int_ne(tokens[i], ids[i]);
            else if (tokens[i] != ids[i])
                ck_abort_msg("token %lld changed too", (long long)i);
        }
        spdf_dataset_free(ds);
        put_byte(path, pos, original[pos]);
    }
    unlink(path);
    free(original);
    free(ids);
}
END_TEST

static void check_truncation_and_padding(spdf_token_format format)
{
    int32_t *ids;
    const char *path = save_sample("cut.bin", format, &ids, 100);
    size_t size;
    unsigned char *original = read_bytes(path, &size);
    const size_t lengths[] = {0, 1, 3, 4, 12, 512, HEADER_BYTES - 1, HEADER_BYTES,
                              HEADER_BYTES + 1, HEADER_BYTES + 2, size / 2, size - 4, size - 2,
                              size - 1};
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        write_bytes(path, original, lengths[k]);
        assert_load_fails(path, SPDF_EFORMAT);
    }
    unsigned char *longer = calloc(size + 8, 1);
    memcpy(longer, original, size);
    const size_t extra[] = {1, 2, 4, 8};
    for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++) {
        write_bytes(path, longer, size + extra[k]);
        assert_load_fails(path, SPDF_EFORMAT);
        ck_assert_ptr_nonnull(strstr(spdf_last_error(), "trailing"));
    }
    write_bytes(path, original, size - 2);
    assert_load_fails(path, SPDF_EFORMAT);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "truncated"));
    unlink(path);
    free(longer);
    free(original);
    free(ids);
}

START_TEST(test_u16_truncation_rejected) { check_truncation_and_padding(SPDF_TOKENS_U16); }
END_TEST

START_TEST(test_u32_truncation_rejected) { check_truncation_and_padding(SPDF_TOKENS_U32); }
END_TEST

START_TEST(test_header_problems_named)
{
    unsigned char header[HEADER_BYTES + 4] = {0};
    const char *path = scratch_path("named.bin");

    put_le32(header, 20240521);
    write_bytes(path, header, sizeof header);
    assert_load_fails(path, SPDF_EFORMAT);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "magic"));

    put_le32(header, 20240520);
    put_le32(header + 4, 2);
    put_le32(header + 8, 2);
    write_bytes(path, header, sizeof header);
    assert_load_fails(path, SPDF_EFORMAT);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "version"));

    put_le32(header + 4, 1);
    put_le32(header + 8, 0xFFFFFFFFu);
    write_bytes(path, header, sizeof header);
    assert_load_fails(path, SPDF_EFORMAT);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "negative"));

    put_le32(header + 8, 2);
    put_le32(header + 40, 1);
    write_bytes(path, header, sizeof header);
    assert_load_fails(path, SPDF_EFORMAT);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "reserved"));

    put_le32(header + 40, 0);
    write_bytes(path, header, sizeof header);
    spdf_dataset *ds = load_ok(path); /* now valid: two zero tokens */
    const int32_t zeros[2] = {0, 0};
    assert_dataset_equals(ds, zeros, 2, 1);
    spdf_dataset_free(ds);

    /* A SPDT header with a negative count, given a valid header checksum. */
    unsigned char spdt[HEADER_BYTES] = {0};
    put_le32(spdt, 0x54445053u);
    put_le32(spdt + 4, 1);
    put_le32(spdt + 12, 0x80000000u);
    put_le32(spdt + 16, 4);
    put_le32(spdt + 24, reference_crc32c(NULL, 0));
    put_le32(spdt + 28, reference_crc32c(spdt, HEADER_BYTES));
    write_bytes(path, spdt, sizeof spdt);
    assert_load_fails(path, SPDF_EFORMAT);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "negative"));

    /* The same header with count 0 is a valid empty file. */
    put_le32(spdt + 12, 0);
    put_le32(spdt + 28, 0);
    put_le32(spdt + 28, reference_crc32c(spdt, HEADER_BYTES));
    write_bytes(path, spdt, sizeof spdt);
    ds = load_ok(path);
    assert_dataset_equals(ds, NULL, 0, 0);
    spdf_dataset_free(ds);
    unlink(path);
}
END_TEST

START_TEST(test_io_errors)
{
    const char *missing = scratch_path("does-not-exist.bin");
    assert_load_fails(missing, SPDF_EIO);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), strerror(ENOENT)));
    assert_load_fails(scratch_dir, SPDF_EIO); /* a directory */

    const int32_t ids[] = {1, 2, 3};
    const char *in_missing_dir = scratch_path("no-such-dir/tokens.bin");
    ck_assert_int_eq(spdf_tokens_save(in_missing_dir, ids, 3, SPDF_TOKENS_U16), SPDF_EIO);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "no-such-dir"));

    /* Renaming onto a directory fails after the data was written: the temporary is removed. */
    const char *dir = scratch_path("a-directory");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(spdf_tokens_save(dir, ids, 3, SPDF_TOKENS_U32), SPDF_EIO);
    ck_assert_int_eq(scratch_count(".tmp."), 0);
    rmdir(dir);
}
END_TEST

/* ---- datasets ---- */

START_TEST(test_dataset_from_tokens)
{
    int32_t ids[] = {5, 0, 9, 2};
    spdf_dataset *ds = NULL;
    ck_assert_int_eq(spdf_dataset_from_tokens(ids, 4, &ds), SPDF_OK);
    const int32_t copy[] = {5, 0, 9, 2};
    ids[0] = 99; /* the dataset holds its own copy */
    assert_dataset_equals(ds, copy, 4, 10);
    spdf_dataset_free(ds);

    ck_assert_int_eq(spdf_dataset_from_tokens(NULL, 0, &ds), SPDF_OK);
    assert_dataset_equals(ds, NULL, 0, 0);
    spdf_dataset_free(ds);

    const int32_t negative[] = {1, -3};
    spdf_dataset *untouched = (spdf_dataset *)&untouched;
    ck_assert_int_eq(spdf_dataset_from_tokens(negative, 2, &untouched), SPDF_EINVAL);
    ck_assert_ptr_eq(untouched, (spdf_dataset *)&untouched);
    const int32_t too_big[] = {INT32_MAX};
    ck_assert_int_eq(spdf_dataset_from_tokens(too_big, 1, &untouched), SPDF_EINVAL);
}
END_TEST

START_TEST(test_invalid_arguments)
{
    const int32_t ids[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    int32_t out[16];
    char text[16];
    size_t count;
    const char *path = scratch_path("args.bin");

    ck_assert_int_eq(spdf_byte_encode(NULL, 3, out, 16, &count), SPDF_EINVAL);
    ck_assert_int_eq(spdf_byte_encode("abc", 3, out, 16, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_byte_decode(NULL, 3, text, 16, &count), SPDF_EINVAL);
    ck_assert_int_eq(spdf_byte_decode(ids, 3, text, 16, NULL), SPDF_EINVAL);

    ck_assert_int_eq(spdf_tokens_save(NULL, ids, 3, SPDF_TOKENS_U16), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokens_save(path, NULL, 3, SPDF_TOKENS_U16), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokens_save(path, ids, -1, SPDF_TOKENS_U16), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokens_save(path, ids, 3, (spdf_token_format)2), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokens_save(path, ids, 3, (spdf_token_format)-1), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokens_save(path, ids, (int64_t)INT32_MAX + 1, SPDF_TOKENS_U16),
                     SPDF_EINVAL);
    ck_assert(!file_exists(path));
    ck_assert_int_eq(scratch_count(".tmp."), 0);

    spdf_dataset *ds = NULL;
    ck_assert_int_eq(spdf_dataset_load(NULL, &ds), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokens_save(path, ids, 10, SPDF_TOKENS_U16), SPDF_OK);
    ck_assert_int_eq(spdf_dataset_load(path, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_dataset_from_tokens(NULL, 3, &ds), SPDF_EINVAL);
    ck_assert_int_eq(spdf_dataset_from_tokens(ids, -1, &ds), SPDF_EINVAL);
    ck_assert_int_eq(spdf_dataset_from_tokens(ids, 3, NULL), SPDF_EINVAL);
    ck_assert_ptr_null(ds);

    ck_assert_int_eq(spdf_dataset_from_tokens(ids, 10, &ds), SPDF_OK);
    int64_t size;
    const int32_t *tokens;
    int32_t bound;
    ck_assert_int_eq(spdf_dataset_size(NULL, &size), SPDF_EINVAL);
    ck_assert_int_eq(spdf_dataset_size(ds, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_dataset_tokens(NULL, &tokens), SPDF_EINVAL);
    ck_assert_int_eq(spdf_dataset_tokens(ds, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_dataset_vocab_bound(NULL, &bound), SPDF_EINVAL);
    ck_assert_int_eq(spdf_dataset_vocab_bound(ds, NULL), SPDF_EINVAL);
    spdf_dataset_free(NULL);

    spdf_sampler *s = NULL;
    ck_assert_int_eq(spdf_sampler_create(NULL, 1, 4, 0, SPDF_SAMPLE_RANDOM, &s), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_create(ds, 1, 4, 0, SPDF_SAMPLE_RANDOM, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_create(ds, 0, 4, 0, SPDF_SAMPLE_RANDOM, &s), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_create(ds, -2, 4, 0, SPDF_SAMPLE_RANDOM, &s), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_create(ds, 1, 0, 0, SPDF_SAMPLE_RANDOM, &s), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_create(ds, 1, -4, 0, SPDF_SAMPLE_RANDOM, &s), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_create(ds, 1, 4, 0, (spdf_sampler_order)2, &s), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_create(ds, INT32_MAX, 2, 0, SPDF_SAMPLE_RANDOM, &s),
                     SPDF_EINVAL); /* B*T overflows */
    ck_assert_int_eq(spdf_sampler_create(ds, 65536, 65536, 0, SPDF_SAMPLE_SEQUENTIAL, &s),
                     SPDF_EINVAL); /* B*T = 2^32 */
    ck_assert_ptr_null(s);

    ck_assert_int_eq(spdf_sampler_create(ds, 1, 4, 0, SPDF_SAMPLE_RANDOM, &s), SPDF_OK);
    int32_t targets[16];
    int64_t position;
    ck_assert_int_eq(spdf_sampler_next(NULL, out, targets), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_next(s, NULL, targets), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_next(s, out, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_get_position(NULL, &position), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_get_position(s, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_set_position(NULL, 0), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_set_position(s, -1), SPDF_EINVAL);
    ck_assert_int_eq(spdf_sampler_get_position(s, &position), SPDF_OK);
    ck_assert_int_eq(position, 0); /* failed calls changed nothing */
    ck_assert_int_eq(spdf_sampler_set_position(s, INT64_MAX), SPDF_OK);
    ck_assert_int_eq(spdf_sampler_next(s, out, targets), SPDF_ESTATE);
    spdf_sampler_free(s);
    spdf_sampler_free(NULL);
    spdf_dataset_free(ds);
    unlink(path);
}
END_TEST

/* ---- sampler ---- */

/* A dataset whose id at index i is i, so every window reveals where it starts. */
static spdf_dataset *identity_dataset(int64_t n)
{
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)i;
    spdf_dataset *ds = NULL;
    ck_assert_int_eq(spdf_dataset_from_tokens(ids, n, &ds), SPDF_OK);
    free(ids);
    return ds;
}

/* Checks that row b is the slice [start, start + T] and returns start. */
static int64_t row_start(const int32_t *inputs, const int32_t *targets, int32_t T, int32_t b)
{
    const int32_t *in = inputs + (size_t)b * (size_t)T, *tg = targets + (size_t)b * (size_t)T;
    for (int32_t t = 0; t < T; t++) {
        ck_assert_int_eq(in[t], in[0] + t);
        ck_assert_int_eq(tg[t], in[t] + 1);
    }
    return in[0];
}

START_TEST(test_sampler_random_windows)
{
    const int64_t n = 1000;
    const int32_t B = 4, T = 16;
    const uint64_t seed = 1234;
    spdf_dataset *ds = identity_dataset(n);
    spdf_sampler *s;
    ck_assert_int_eq(spdf_sampler_create(ds, B, T, seed, SPDF_SAMPLE_RANDOM, &s), SPDF_OK);
    const spdf_rng rng = {seed, DOCUMENTED_SAMPLER_STREAM};
    int32_t inputs[64], targets[64];
    for (int64_t k = 0; k < 200; k++) {
        ck_assert_int_eq(spdf_sampler_next(s, inputs, targets), SPDF_OK);
        for (int32_t b = 0; b < B; b++) {
            const int64_t start = row_start(inputs, targets, T, b);
            ck_assert_int_ge(start, 0);
            ck_assert_int_lt(start, n - T);
            ck_assert_int_eq(start, (int64_t)spdf_rng_below(&rng, (uint64_t)(k * B + b),
                                                            (uint64_t)(n - T)));
        }
    }
    int64_t position;
    ck_assert_int_eq(spdf_sampler_get_position(s, &position), SPDF_OK);
    ck_assert_int_eq(position, 200);
    spdf_sampler_free(s);
    spdf_dataset_free(ds);
}
END_TEST

START_TEST(test_sampler_random_covers_all_offsets)
{
    const int32_t T = 5;
    spdf_dataset *ds = identity_dataset(T + 8); /* offsets 0..7 */
    spdf_sampler *s;
    ck_assert_int_eq(spdf_sampler_create(ds, 2, T, 99, SPDF_SAMPLE_RANDOM, &s), SPDF_OK);
    int seen[8] = {0};
    int32_t inputs[10], targets[10];
    for (int k = 0; k < 200; k++) {
        ck_assert_int_eq(spdf_sampler_next(s, inputs, targets), SPDF_OK);
        for (int32_t b = 0; b < 2; b++) seen[row_start(inputs, targets, T, b)]++;
    }
    for (int i = 0; i < 8; i++) ck_assert_int_gt(seen[i], 20);
    spdf_sampler_free(s);
    spdf_dataset_free(ds);
}
END_TEST

START_TEST(test_sampler_determinism)
{
    enum { B = 3, T = 7, batches = 30 };
    int32_t *ids = malloc(5000 * sizeof *ids);
    fill_ids(ids, 5000, 257, 4);
    spdf_dataset *ds;
    ck_assert_int_eq(spdf_dataset_from_tokens(ids, 5000, &ds), SPDF_OK);
    for (int order = SPDF_SAMPLE_RANDOM; order <= SPDF_SAMPLE_SEQUENTIAL; order++) {
        spdf_sampler *a, *b, *c;
        ck_assert_int_eq(spdf_sampler_create(ds, B, T, 42, (spdf_sampler_order)order, &a), SPDF_OK);
        ck_assert_int_eq(spdf_sampler_create(ds, B, T, 42, (spdf_sampler_order)order, &b), SPDF_OK);
        ck_assert_int_eq(spdf_sampler_create(ds, B, T, 43, (spdf_sampler_order)order, &c), SPDF_OK);
        static int32_t in_a[batches][B * T], tg_a[batches][B * T];
        int32_t in_b[B * T], tg_b[B * T];
        int differs = 0;
        for (int k = 0; k < batches; k++) {
            ck_assert_int_eq(spdf_sampler_next(a, in_a[k], tg_a[k]), SPDF_OK);
            ck_assert_int_eq(spdf_sampler_next(b, in_b, tg_b), SPDF_OK);
            ck_assert_mem_eq(in_a[k], in_b, sizeof in_b);
            ck_assert_mem_eq(tg_a[k], tg_b, sizeof tg_b);
            ck_assert_int_eq(spdf_sampler_next(c, in_b, tg_b), SPDF_OK);
            differs |= memcmp(in_a[k], in_b, sizeof in_b) != 0;
            /* Every row is a slice of the data, and targets are the inputs shifted by one. */
            for (int r = 0; r < B; r++) {
                const int32_t *in = in_a[k] + r * T;
                const int32_t *tg = tg_a[k] + r * T;
                for (int t = 0; t + 1 < T; t++) ck_assert_int_eq(tg[t], in[t + 1]);
                int found = 0;
                for (int64_t off = 0; off + T < 5000 && !found; off++)
                    found = !memcmp(ids + off, in, T * sizeof *in) && ids[off + T] == tg[T - 1];
                ck_assert(found);
            }
        }
        /* The sequential order ignores the seed; the random one must not. */
        if (order == SPDF_SAMPLE_RANDOM) ck_assert(differs);
        else ck_assert(!differs);

        /* Replaying from any position gives the same batches. */
        const int64_t replay[] = {0, 17, 5, 29, 1};
        for (size_t i = 0; i < sizeof replay / sizeof replay[0]; i++) {
            ck_assert_int_eq(spdf_sampler_set_position(b, replay[i]), SPDF_OK);
            ck_assert_int_eq(spdf_sampler_next(b, in_b, tg_b), SPDF_OK);
            ck_assert_mem_eq(in_b, in_a[replay[i]], sizeof in_b);
            ck_assert_mem_eq(tg_b, tg_a[replay[i]], sizeof tg_b);
            int64_t position;
            ck_assert_int_eq(spdf_sampler_get_position(b, &position), SPDF_OK);
            ck_assert_int_eq(position, replay[i] + 1);
        }
        spdf_sampler_free(a);
        spdf_sampler_free(b);
        spdf_sampler_free(c);
    }
    spdf_dataset_free(ds);
    free(ids);
}
END_TEST

__extension__ typedef unsigned __int128 u128;

START_TEST(test_sampler_sequential_order)
{
    const int64_t n = 103;
    const int32_t B = 3, T = 10;
    const uint64_t range = (uint64_t)(n - T);
    spdf_dataset *ds = identity_dataset(n);
    spdf_sampler *s;
    ck_assert_int_eq(spdf_sampler_create(ds, B, T, 7, SPDF_SAMPLE_SEQUENTIAL, &s), SPDF_OK);
    int32_t inputs[30], targets[30];
    /* The first batches walk the data in consecutive windows: 0, 10, 20, ... */
    for (int64_t k = 0; k < 3; k++) {
        ck_assert_int_eq(spdf_sampler_next(s, inputs, targets), SPDF_OK);
        for (int32_t b = 0; b < B; b++)
            ck_assert_int_eq(row_start(inputs, targets, T, b), (k * B + b) * T);
    }
    /* Then wrap around modulo N - T, also at huge positions (exact, no overflow). */
    const int64_t positions[] = {3, 4, 30, 31, 1000, INT64_MAX / 3, INT64_MAX - 1};
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        ck_assert_int_eq(spdf_sampler_set_position(s, positions[i]), SPDF_OK);
        ck_assert_int_eq(spdf_sampler_next(s, inputs, targets), SPDF_OK);
        for (int32_t b = 0; b < B; b++) {
            const u128 index = (u128)(uint64_t)positions[i] * (u128)B + (u128)b;
            const uint64_t expected = (uint64_t)(index * (u128)T % range);
            ck_assert_int_eq(row_start(inputs, targets, T, b), (int64_t)expected);
        }
    }
    spdf_sampler_free(s);
    spdf_dataset_free(ds);
}
END_TEST

START_TEST(test_sampler_dataset_size_limits)
{
    const int32_t T = 10;
    spdf_dataset *short_ds = identity_dataset(T);
    spdf_sampler *s = NULL;
    for (int order = SPDF_SAMPLE_RANDOM; order <= SPDF_SAMPLE_SEQUENTIAL; order++) {
        ck_assert_int_eq(spdf_sampler_create(short_ds, 1, T, 0, (spdf_sampler_order)order, &s),
                         SPDF_EINVAL);
        ck_assert_ptr_null(s);
    }
    spdf_dataset_free(short_ds);

    /* Exactly T+1 ids: the only window is the whole dataset. */
    spdf_dataset *ds = identity_dataset(T + 1);
    for (int order = SPDF_SAMPLE_RANDOM; order <= SPDF_SAMPLE_SEQUENTIAL; order++) {
        ck_assert_int_eq(spdf_sampler_create(ds, 2, T, 5, (spdf_sampler_order)order, &s), SPDF_OK);
        int32_t inputs[20], targets[20];
        for (int k = 0; k < 5; k++) {
            ck_assert_int_eq(spdf_sampler_next(s, inputs, targets), SPDF_OK);
            ck_assert_int_eq(row_start(inputs, targets, T, 0), 0);
            ck_assert_int_eq(row_start(inputs, targets, T, 1), 0);
            ck_assert_int_eq(targets[2 * T - 1], T);
        }
        spdf_sampler_free(s);
    }
    spdf_dataset_free(ds);
}
END_TEST

/* ---- suite ---- */

static TCase *io_case(const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, scratch_create, scratch_remove);
    tcase_set_timeout(tc, timeout);
    return tc;
}

static Suite *io_suite(void)
{
    Suite *suite = suite_create("io");
    TCase *tokenizer = io_case("byte_tokenizer", 30);
    tcase_add_test(tokenizer, test_byte_round_trip_all_bytes);
    tcase_add_test(tokenizer, test_byte_eot);
    tcase_add_test(tokenizer, test_byte_short_encode_buffer);
    tcase_add_test(tokenizer, test_byte_decode_invalid_ids);
    suite_add_tcase(suite, tokenizer);

    TCase *files = io_case("token_files", 120);
    tcase_add_test(files, test_u16_round_trip);
    tcase_add_test(files, test_u32_round_trip_large);
    tcase_add_test(files, test_empty_round_trip);
    tcase_add_test(files, test_save_rejects_out_of_range_ids);
    tcase_add_test(files, test_save_replaces_existing_file);
    tcase_add_test(files, test_u16_hand_written_file);
    tcase_add_test(files, test_u32_layout_matches_docs);
    tcase_add_test(files, test_u16_header_corruption_rejected);
    tcase_add_test(files, test_u32_header_corruption_rejected);
    tcase_add_test(files, test_u32_payload_corruption_rejected);
    tcase_add_test(files, test_u16_payload_corruption_loads_but_differs);
    tcase_add_test(files, test_u16_truncation_rejected);
    tcase_add_test(files, test_u32_truncation_rejected);
    tcase_add_test(files, test_header_problems_named);
    tcase_add_test(files, test_io_errors);
    tcase_add_test(files, test_dataset_from_tokens);
    tcase_add_test(files, test_invalid_arguments);
    suite_add_tcase(suite, files);

    TCase *sampler = io_case("sampler", 60);
    tcase_add_test(sampler, test_sampler_random_windows);
    tcase_add_test(sampler, test_sampler_random_covers_all_offsets);
    tcase_add_test(sampler, test_sampler_determinism);
    tcase_add_test(sampler, test_sampler_sequential_order);
    tcase_add_test(sampler, test_sampler_dataset_size_limits);
    suite_add_tcase(suite, sampler);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(io_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
