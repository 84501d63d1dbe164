/* A checkpoint carries its tokenizer (docs/checkpoint-format.md, TOKENIZER): spdf_checkpoint_save_ex
 * stores it, spdf_checkpoint_load_tokenizer gives it back, spdf_checkpoint_info describes it.
 * Round trips, the documented layout (flag bit 4, section id 7, the tokenizer's own file as the
 * payload), files without one (also files written before this section existed: the seed
 * checkpoints of tests/fuzz/corpus), damaged sections, and the argument checks. */
#include "spdf.h"
#include "common/fixtures.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MUST(call) ck_assert_msg((call) == SPDF_OK, "%s: %s", #call, spdf_last_error())

enum { HEADER_BYTES = 40, ENTRY_BYTES = 24, SECTION_TOKENIZER = 7, FLAG_TOKENIZER = 16 };

static const char text[] = "the eagle is a coffee shop near the river; the eagle serves french food "
                           "near the river. 12 34 1234 the eagle, the river, the shop.\n";

static spdf_context *ctx;

static void setup(void)
{
    scratch_create();
    ctx = test_context("ref", 1);
}

static void teardown(void)
{
    spdf_context_free(ctx);
    scratch_remove();
}

static spdf_model *small_model(int32_t vocab)
{
    spdf_model_config mc;
    MUST(spdf_model_config_init(&mc));
    mc.vocab_size = vocab;
    mc.max_seq_len = 8;
    mc.num_layers = 1;
    mc.num_heads = 2;
    mc.channels = 8;
    spdf_model *model = NULL;
    MUST(spdf_model_create(ctx, &mc, &model));
    return model;
}

static spdf_tokenizer *trained(int32_t vocab)
{
    spdf_tokenizer *tok = NULL;
    MUST(spdf_tokenizer_train(text, sizeof text - 1, vocab, &tok));
    return tok;
}

static void save_with(const char *path, const spdf_model *model, const spdf_optimizer *opt,
                      const spdf_tokenizer *tok)
{
    spdf_checkpoint_save_config config;
    MUST(spdf_checkpoint_save_config_init(&config));
    config.tokenizer = tok;
    MUST(spdf_checkpoint_save_ex(path, model, opt, NULL, &config));
}

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc(*size + 1);
    ck_assert_uint_eq(fread(bytes, 1, *size, f), *size);
    fclose(f);
    return bytes;
}

static void write_bytes(const char *path, const unsigned char *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    fclose(f);
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

static void put_u64(unsigned char *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

/* CRC-32C bit by bit, from the documentation. */
static uint32_t crc32c(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

/* The table entry of a section id, or NULL. */
static unsigned char *entry_of(unsigned char *bytes, uint32_t id)
{
    const uint32_t count = get_u32(bytes + 16);
    for (uint32_t i = 0; i < count; i++)
        if (get_u32(bytes + HEADER_BYTES + i * ENTRY_BYTES) == id) return bytes + HEADER_BYTES + i * ENTRY_BYTES;
    return NULL;
}

/* Every checksum recomputed after a deliberate change, so that only the meaning is wrong. */
static void resign(unsigned char *bytes, size_t size)
{
    const uint32_t count = get_u32(bytes + 16);
    put_u64(bytes + 24, size);
    for (uint32_t i = 0; i < count; i++) {
        unsigned char *e = bytes + HEADER_BYTES + i * ENTRY_BYTES;
        put_u32(e + 4, crc32c(bytes + get_u64(e + 8), (size_t)get_u64(e + 16)));
    }
    put_u32(bytes + 20, crc32c(bytes + HEADER_BYTES, count * ENTRY_BYTES));
    put_u32(bytes + 36, crc32c(bytes, 36));
}

/* The file's tokenizer through all three readers: load_tokenizer, info_read, and the model
 * loader, which validates the section too. */
static spdf_status all_readers(const char *path, spdf_tokenizer **tok)
{
    spdf_checkpoint_info info = {.struct_size = sizeof info};
    spdf_model *model = NULL;
    const spdf_status a = spdf_checkpoint_load_tokenizer(path, tok);
    const spdf_status b = spdf_checkpoint_info_read(path, &info);
    const spdf_status c = spdf_checkpoint_load(path, ctx, &model, NULL, NULL, NULL);
    spdf_model_free(model);
    ck_assert_msg(a == b && b == c, "load_tokenizer %s, info_read %s, load %s", spdf_status_name(a),
                  spdf_status_name(b), spdf_status_name(c));
    return a;
}

static void expect_damaged(const char *path, const char *what)
{
    spdf_tokenizer *tok = (spdf_tokenizer *)&tok;
    ck_assert_msg(all_readers(path, &tok) == SPDF_EFORMAT, "%s: accepted", what);
    ck_assert_ptr_eq(tok, (spdf_tokenizer *)&tok);
    ck_assert_msg(strstr(spdf_last_error(), path) != NULL, "%s: %s", what, spdf_last_error());
}

START_TEST(round_trip)
{
    spdf_model *model = small_model(300);
    spdf_optimizer *opt = NULL;
    MUST(spdf_optimizer_create(model, NULL, &opt));
    spdf_tokenizer *tok = trained(290);
    const char *path = scratch_path("with.ckpt"), *file = scratch_path("tok.bin");
    save_with(path, model, opt, tok);
    MUST(spdf_tokenizer_save(tok, file));
    int32_t vocab = 0;
    uint32_t checksum = 0;
    MUST(spdf_tokenizer_vocab_size(tok, &vocab));
    MUST(spdf_tokenizer_checksum(tok, &checksum));
    ck_assert_int_gt(vocab, 257);

    /* the checksum is the CRC its file ends with */
    size_t tok_size = 0;
    unsigned char *tok_bytes = read_bytes(file, &tok_size);
    ck_assert_uint_eq(checksum, get_u32(tok_bytes + tok_size - 4));

    spdf_checkpoint_info info = {.struct_size = sizeof info};
    MUST(spdf_checkpoint_info_read(path, &info));
    ck_assert_int_eq(info.has_tokenizer, 1);
    ck_assert_int_eq(info.tokenizer_vocab_size, vocab);
    ck_assert_uint_eq(info.tokenizer_checksum, checksum);
    ck_assert_int_eq(info.has_optimizer, 1);

    spdf_tokenizer *back = NULL;
    MUST(spdf_checkpoint_load_tokenizer(path, &back));
    ck_assert_ptr_nonnull(back);
    uint32_t back_checksum = 0;
    MUST(spdf_tokenizer_checksum(back, &back_checksum));
    ck_assert_uint_eq(back_checksum, checksum);
    size_t n1 = 0, n2 = 0;
    int32_t ids1[256], ids2[256];
    MUST(spdf_tokenizer_encode(tok, text, sizeof text - 1, ids1, 256, &n1));
    MUST(spdf_tokenizer_encode(back, text, sizeof text - 1, ids2, 256, &n2));
    ck_assert_uint_eq(n1, n2);
    ck_assert(n1 < sizeof text - 1); /* merges were used */
    ck_assert(memcmp(ids1, ids2, n1 * sizeof ids1[0]) == 0);

    /* the model and optimizer still load, and saving the loaded state again with the loaded
     * tokenizer gives the same bytes */
    spdf_model *loaded = NULL;
    spdf_optimizer *loaded_opt = NULL;
    MUST(spdf_checkpoint_load(path, ctx, &loaded, &loaded_opt, NULL, NULL));
    const char *again = scratch_path("again.ckpt");
    save_with(again, loaded, loaded_opt, back);
    size_t s1 = 0, s2 = 0;
    unsigned char *b1 = read_bytes(path, &s1), *b2 = read_bytes(again, &s2);
    ck_assert_uint_eq(s1, s2);
    ck_assert(memcmp(b1, b2, s1) == 0);

    free(b1);
    free(b2);
    free(tok_bytes);
    spdf_optimizer_free(loaded_opt);
    spdf_model_free(loaded);
    spdf_tokenizer_free(back);
    spdf_tokenizer_free(tok);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
}
END_TEST

/* docs/checkpoint-format.md: flag bit 4, section id 7 last, its payload the tokenizer's file. */
START_TEST(documented_layout)
{
    spdf_model *model = small_model(300);
    spdf_tokenizer *tok = trained(290);
    const char *path = scratch_path("layout.ckpt"), *file = scratch_path("tok.bin");
    save_with(path, model, NULL, tok);
    MUST(spdf_tokenizer_save(tok, file));
    size_t size = 0, tok_size = 0;
    unsigned char *bytes = read_bytes(path, &size), *tok_bytes = read_bytes(file, &tok_size);
    ck_assert_uint_eq(get_u32(bytes + 12), FLAG_TOKENIZER); /* dense, nothing else */
    ck_assert_uint_eq(get_u32(bytes + 16), 3);              /* CONFIG, TENSORS, TOKENIZER */
    const unsigned char *e = bytes + HEADER_BYTES + 2 * ENTRY_BYTES;
    ck_assert_uint_eq(get_u32(e), SECTION_TOKENIZER);
    ck_assert_uint_eq(get_u64(e + 16), tok_size);
    ck_assert_uint_eq(get_u64(e + 8) + tok_size, size);
    ck_assert(memcmp(bytes + get_u64(e + 8), tok_bytes, tok_size) == 0);
    ck_assert_uint_eq(get_u32(e + 4), crc32c(tok_bytes, tok_size));
    free(bytes);
    free(tok_bytes);
    spdf_tokenizer_free(tok);
    spdf_model_free(model);
}
END_TEST

START_TEST(without_tokenizer)
{
    spdf_model *model = small_model(300);
    const char *plain = scratch_path("plain.ckpt"), *ex = scratch_path("ex.ckpt");
    MUST(spdf_checkpoint_save(plain, model, NULL, NULL));
    save_with(ex, model, NULL, NULL);
    MUST(spdf_checkpoint_save_ex(scratch_path("null.ckpt"), model, NULL, NULL, NULL));
    size_t s1 = 0, s2 = 0, s3 = 0;
    unsigned char *b1 = read_bytes(plain, &s1), *b2 = read_bytes(ex, &s2),
                  *b3 = read_bytes(scratch_path("null.ckpt"), &s3);
    ck_assert(s1 == s2 && s2 == s3 && memcmp(b1, b2, s1) == 0 && memcmp(b1, b3, s1) == 0);
    ck_assert_uint_eq(get_u32(b1 + 12) & FLAG_TOKENIZER, 0);
    free(b1);
    free(b2);
    free(b3);
    spdf_tokenizer *tok = (spdf_tokenizer *)&tok;
    ck_assert_int_eq(all_readers(plain, &tok), SPDF_OK);
    ck_assert_ptr_null(tok);
    spdf_checkpoint_info info;
    memset(&info, 0xA5, sizeof info);
    info.struct_size = sizeof info;
    MUST(spdf_checkpoint_info_read(plain, &info));
    ck_assert_int_eq(info.has_tokenizer, 0);
    ck_assert_int_eq(info.tokenizer_vocab_size, 0);
    ck_assert_uint_eq(info.tokenizer_checksum, 0);
    ck_assert_int_eq(info.reserved, 0);
    spdf_model_free(model);
}
END_TEST

/* Checkpoints written before the TOKENIZER section existed (the fuzzing seeds in git) load, and
 * have no tokenizer. */
START_TEST(older_files)
{
    const char *dir = getenv("SPDF_OLD_CHECKPOINTS");
    ck_assert_ptr_nonnull(dir);
    const char *names[] = {"seed-weights.ckpt", "seed-sparse-optimizer-sampler.ckpt", "seed-dense-optimizer.ckpt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        spdf_tokenizer *tok = (spdf_tokenizer *)&tok;
        ck_assert_msg(all_readers(path, &tok) == SPDF_OK, "%s: %s", path, spdf_last_error());
        ck_assert_ptr_null(tok);
    }
}
END_TEST

/* A TOKENIZER section (the file's last) replaced by `payload`, everything re-signed. */
static void with_payload(const char *from, const char *to, const unsigned char *payload, size_t n)
{
    size_t size = 0;
    unsigned char *bytes = read_bytes(from, &size);
    unsigned char *e = entry_of(bytes, SECTION_TOKENIZER);
    ck_assert_ptr_nonnull(e);
    const uint64_t offset = get_u64(e + 8);
    ck_assert_uint_eq(offset + get_u64(e + 16), size);
    bytes = realloc(bytes, (size_t)offset + n);
    memcpy(bytes + offset, payload, n);
    put_u64(entry_of(bytes, SECTION_TOKENIZER) + 16, n);
    resign(bytes, (size_t)offset + n);
    write_bytes(to, bytes, (size_t)offset + n);
    free(bytes);
}

START_TEST(damaged_sections)
{
    spdf_model *model = small_model(300);
    spdf_tokenizer *tok = trained(290);
    const char *good = scratch_path("good.ckpt"), *bad = scratch_path("bad.ckpt"), *file = scratch_path("tok.bin");
    save_with(good, model, NULL, tok);
    MUST(spdf_tokenizer_save(tok, file));
    size_t size = 0, tok_size = 0;
    unsigned char *bytes = read_bytes(good, &size), *image = read_bytes(file, &tok_size);

    /* any changed byte of the section: its CRC */
    const uint64_t offset = get_u64(entry_of(bytes, SECTION_TOKENIZER) + 8);
    for (uint64_t at = offset; at < size; at += 7) {
        bytes[at] ^= 0x01;
        write_bytes(bad, bytes, size);
        expect_damaged(bad, "a flipped byte");
        ck_assert_ptr_nonnull(strstr(spdf_last_error(), "TOKENIZER"));
        bytes[at] ^= 0x01;
    }
    /* the same with the checkpoint's checksums recomputed: the tokenizer's own CRC */
    image[20] ^= 0x01;
    with_payload(good, bad, image, tok_size);
    expect_damaged(bad, "the tokenizer's CRC");
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "TOKENIZER"));
    image[20] ^= 0x01;
    /* well-formed but wrong: a merge of ids not learned yet (its CRC right) */
    put_u32(image + 16, 400);
    put_u32(image + tok_size - 4, crc32c(image, tok_size - 4));
    with_payload(good, bad, image, tok_size);
    expect_damaged(bad, "a merge of later ids");
    /* too short to be a tokenizer; nothing at all */
    with_payload(good, bad, image, 12);
    expect_damaged(bad, "12 bytes");
    with_payload(good, bad, image, 0);
    expect_damaged(bad, "an empty section");
    /* more ids than the model's vocabulary: the whole tokenizer (V ids) where a model of V - 1
     * stored one of V - 1 */
    free(image);
    image = read_bytes(file, &tok_size); /* unchanged again */
    int32_t vocab = 0;
    MUST(spdf_tokenizer_vocab_size(tok, &vocab));
    ck_assert_int_gt(vocab, 258);
    spdf_model *narrow = small_model(vocab - 1);
    spdf_tokenizer *fewer = trained(vocab - 1);
    save_with(scratch_path("narrow.ckpt"), narrow, NULL, fewer);
    with_payload(scratch_path("narrow.ckpt"), bad, image, tok_size);
    expect_damaged(bad, "a tokenizer larger than the vocabulary");
    char ids[32];
    snprintf(ids, sizeof ids, "%d ids", (int)vocab);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), ids));
    /* the flag without the section, the section without the flag */
    put_u32(bytes + 12, 0);
    resign(bytes, size);
    write_bytes(bad, bytes, size);
    expect_damaged(bad, "the section without its flag");
    spdf_checkpoint_info info = {.struct_size = sizeof info};
    MUST(spdf_checkpoint_save(bad, model, NULL, NULL));
    free(bytes);
    bytes = read_bytes(bad, &size);
    put_u32(bytes + 12, FLAG_TOKENIZER);
    resign(bytes, size);
    write_bytes(bad, bytes, size);
    expect_damaged(bad, "the flag without its section");
    ck_assert_int_eq(spdf_checkpoint_info_read(bad, &info), SPDF_EFORMAT);
    free(bytes);
    free(image);
    spdf_tokenizer_free(fewer);
    spdf_model_free(narrow);
    spdf_tokenizer_free(tok);
    spdf_model_free(model);
}
END_TEST

START_TEST(invalid_arguments)
{
    spdf_model *model = small_model(280);
    spdf_tokenizer *tok = trained(290);
    const char *path = scratch_path("x.ckpt");
    spdf_checkpoint_save_config config;
    MUST(spdf_checkpoint_save_config_init(&config));
    ck_assert_ptr_null(config.tokenizer);
    ck_assert_uint_eq(config.struct_size, sizeof config);
    ck_assert_int_eq(spdf_checkpoint_save_config_init(NULL), SPDF_EINVAL);
    /* more ids than the model's vocabulary: refused, nothing written */
    config.tokenizer = tok;
    ck_assert_int_eq(spdf_checkpoint_save_ex(path, model, NULL, NULL, &config), SPDF_EINVAL);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "vocabulary"));
    ck_assert_int_eq(scratch_count("x.ckpt"), 0);
    /* not a tokenizer */
    config.tokenizer = (const spdf_tokenizer *)model;
    ck_assert_int_eq(spdf_checkpoint_save_ex(path, model, NULL, NULL, &config), SPDF_EINVAL);
    config.tokenizer = NULL;
    ck_assert_int_eq(spdf_checkpoint_save_ex(NULL, model, NULL, NULL, &config), SPDF_EINVAL);
    ck_assert_int_eq(spdf_checkpoint_save_ex(path, NULL, NULL, NULL, &config), SPDF_EINVAL);
    ck_assert_int_eq(scratch_count("x.ckpt"), 0);
    /* GPT-2's tokenizer files are not stored */
    const char *data = getenv("SPDF_TEST_DATA");
    ck_assert_ptr_nonnull(data);
    char vocab[4096], merges[4096];
    snprintf(vocab, sizeof vocab, "%s/gpt2/vocab.json", data);
    snprintf(merges, sizeof merges, "%s/gpt2/merges.txt", data);
    spdf_tokenizer *gpt2 = NULL;
    MUST(spdf_tokenizer_load_gpt2(vocab, merges, &gpt2));
    spdf_model *wide = small_model(400);
    config.tokenizer = gpt2;
    ck_assert_int_eq(spdf_checkpoint_save_ex(path, wide, NULL, NULL, &config), SPDF_EUNSUPPORTED);
    ck_assert_int_eq(scratch_count("x.ckpt"), 0);
    /* reading */
    spdf_tokenizer *out = (spdf_tokenizer *)&out;
    ck_assert_int_eq(spdf_checkpoint_load_tokenizer(NULL, &out), SPDF_EINVAL);
    ck_assert_int_eq(spdf_checkpoint_load_tokenizer(path, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_checkpoint_load_tokenizer(path, &out), SPDF_EIO); /* missing */
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), path));
    ck_assert_int_eq(spdf_checkpoint_load_tokenizer(vocab, &out), SPDF_EFORMAT); /* not a checkpoint */
    ck_assert_ptr_eq(out, (spdf_tokenizer *)&out);
    spdf_model_free(wide);
    spdf_tokenizer_free(gpt2);
    spdf_tokenizer_free(tok);
    spdf_model_free(model);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint_tokenizer");
    TCase *tc = tcase_create("tokenizer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, documented_layout);
    tcase_add_test(tc, without_tokenizer);
    tcase_add_test(tc, older_files);
    tcase_add_test(tc, damaged_sections);
    tcase_add_test(tc, invalid_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
