/* The byte-level BPE tokenizer through the public API: exact round trips of arbitrary bytes,
 * encodings equal to an independent naive encoder (chunks cut by its own rules, then every merge
 * applied in the order it was learned), a training result worked out by hand, determinism, and
 * files: round trip, corruption, truncation, wrong type. */
#include "spdf.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char sample[] =
    "The Eagle is a coffee shop near Burger King. The Eagle serves French food, and it is "
    "family-friendly; prices are 20-25 pounds.\nname[The Eagle], eatType[coffee shop]\n"
    "Caf\xc3\xa9 Rouge is near the river. Caf\xc3\xa9 Rouge,   2 out of 5!\n\n"
    "The the the eagle EAGLE eagle 1234 12 1 eagle's";

static spdf_tokenizer *train(const char *text, int32_t vocab)
{
    spdf_tokenizer *tok = NULL;
    ck_assert_int_eq(spdf_tokenizer_train(text, strlen(text), vocab, &tok), SPDF_OK);
    return tok;
}

static int32_t *encode(const spdf_tokenizer *tok, const char *text, size_t len, size_t *count)
{
    ck_assert_int_eq(spdf_tokenizer_encode(tok, text, len, NULL, 0, count), SPDF_OK);
    int32_t *ids = malloc(sizeof(int32_t) * (*count + 1));
    size_t again = 0;
    ck_assert_int_eq(spdf_tokenizer_encode(tok, text, len, ids, *count, &again), SPDF_OK);
    ck_assert_uint_eq(again, *count);
    return ids;
}

/* ---- the naive reference ---- */

static int letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c > 127; }
static int digit(unsigned char c) { return c >= '0' && c <= '9'; }

typedef struct merge {
    int32_t left, right;
} merge;

/* Encodes by cutting chunks and applying every merge, in learned order, to each chunk. */
static size_t naive_encode(const merge *merges, int32_t count, const unsigned char *s, size_t n,
                           int32_t *out)
{
    size_t produced = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        if (s[j] == ' ' && j + 1 < n && (letter(s[j + 1]) || digit(s[j + 1]))) j++;
        if (letter(s[j])) while (j < n && letter(s[j])) j++;
        else if (digit(s[j])) while (j < n && digit(s[j])) j++;
        else j = i + 1;
        int32_t sym[512];
        int32_t len = 0;
        for (size_t k = i; k < j; k++) sym[len++] = s[k];
        for (int32_t m = 0; m < count; m++) {
            int32_t w = 0;
            for (int32_t k = 0; k < len; k++) {
                if (k + 1 < len && sym[k] == merges[m].left && sym[k + 1] == merges[m].right) {
                    sym[w++] = 257 + m;
                    k++;
                } else {
                    sym[w++] = sym[k];
                }
            }
            len = w;
        }
        for (int32_t k = 0; k < len; k++) out[produced++] = sym[k];
        i = j;
    }
    return produced;
}

/* Recovers the merges of tok from its decoding table alone: the text of id 257 + i, encoded by
 * the naive encoder with merges 0..i-1, must come out as exactly two ids, the merged pair. */
static int32_t recover_merges(const spdf_tokenizer *tok, merge *merges)
{
    int32_t vocab;
    spdf_tokenizer_vocab_size(tok, &vocab);
    for (int32_t i = 0; i < vocab - 257; i++) {
        const int32_t id = 257 + i;
        char text[256];
        size_t len;
        ck_assert_int_eq(spdf_tokenizer_decode(tok, &id, 1, text, sizeof text, &len), SPDF_OK);
        ck_assert_uint_lt(len, sizeof text);
        int32_t ids[256];
        /* a merge's text is one chunk, so the naive encoder treats it as a whole */
        const size_t n = naive_encode(merges, i, (const unsigned char *)text, len, ids);
        ck_assert_msg(n == 2, "merge %d's text encodes to %zu ids with the earlier merges", i, n);
        merges[i] = (merge){ids[0], ids[1]};
    }
    return vocab - 257;
}

START_TEST(round_trip_any_bytes)
{
    spdf_tokenizer *tok = train(sample, 400);
    unsigned char bytes[4096];
    unsigned seed = 7;
    for (size_t i = 0; i < sizeof bytes; i++) {
        seed = seed * 1664525u + 1013904223u;
        bytes[i] = (unsigned char)(seed >> 24);
        if (i % 7 == 0) bytes[i] = (unsigned char)"the eagle "[i % 10];
    }
    size_t count;
    int32_t *ids = encode(tok, (const char *)bytes, sizeof bytes, &count);
    char back[4096];
    size_t len;
    ck_assert_int_eq(spdf_tokenizer_decode(tok, ids, count, back, sizeof back, &len), SPDF_OK);
    ck_assert_uint_eq(len, sizeof bytes);
    ck_assert(memcmp(back, bytes, sizeof bytes) == 0);
    free(ids);
    /* the sample itself compresses */
    ids = encode(tok, sample, strlen(sample), &count);
    ck_assert_uint_lt(count * 5, strlen(sample) * 3);
    free(ids);
    spdf_tokenizer_free(tok);
}
END_TEST

START_TEST(matches_naive_encoder)
{
    spdf_tokenizer *tok = train(sample, 330);
    merge merges[100];
    const int32_t count = recover_merges(tok, merges);
    ck_assert_int_gt(count, 30);
    const char *texts[] = {sample, "The Eagle eagle's  Eagles\n\n 12345 x", "", "!!\n\n  a"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t n;
        int32_t *ids = encode(tok, texts[t], strlen(texts[t]), &n);
        int32_t want[1024];
        const size_t m = naive_encode(merges, count, (const unsigned char *)texts[t], strlen(texts[t]), want);
        ck_assert_uint_eq(n, m);
        ck_assert(n == 0 || memcmp(ids, want, sizeof(int32_t) * n) == 0);
        size_t newlines = 0, tens = 0; /* a newline is always id 10 */
        for (const char *c = texts[t]; *c; c++) newlines += *c == '\n';
        for (size_t k = 0; k < n; k++) tens += ids[k] == '\n';
        ck_assert_uint_eq(newlines, tens);
        free(ids);
    }
    spdf_tokenizer_free(tok);
}
END_TEST

/* "ab ab ab": chunks "ab" once and " ab" twice.  (a, b) occurs 3 times and becomes 257; then
 * (' ', 257) occurs twice and becomes 258; nothing else occurs twice. */
START_TEST(training_by_hand)
{
    spdf_tokenizer *tok = train("ab ab ab", 300);
    int32_t vocab;
    ck_assert_int_eq(spdf_tokenizer_vocab_size(tok, &vocab), SPDF_OK);
    ck_assert_int_eq(vocab, 259);
    size_t n;
    int32_t *ids = encode(tok, "ab ab\nab", 8, &n);
    const int32_t want[] = {257, 258, '\n', 257};
    ck_assert_uint_eq(n, 4);
    ck_assert(memcmp(ids, want, sizeof want) == 0);
    free(ids);
    const int32_t eot = SPDF_TOKEN_EOT;
    char text[32];
    size_t len;
    ck_assert_int_eq(spdf_tokenizer_decode(tok, &eot, 1, text, sizeof text, &len), SPDF_OK);
    ck_assert_uint_eq(len, 13);
    ck_assert(memcmp(text, "<|endoftext|>", 13) == 0);
    spdf_tokenizer_free(tok);
}
END_TEST

START_TEST(deterministic_and_files)
{
    spdf_tokenizer *a = train(sample, 350), *b = train(sample, 350);
    char path[] = "/tmp/spdf-tokenizer-XXXXXX";
    const int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(spdf_tokenizer_save(a, path), SPDF_OK);
    spdf_tokenizer *c = NULL;
    ck_assert_int_eq(spdf_tokenizer_load(path, &c), SPDF_OK);
    size_t na, nb, nc;
    int32_t *ia = encode(a, sample, strlen(sample), &na), *ib = encode(b, sample, strlen(sample), &nb);
    int32_t *ic = encode(c, sample, strlen(sample), &nc);
    ck_assert_uint_eq(na, nb);
    ck_assert_uint_eq(na, nc);
    ck_assert(memcmp(ia, ib, sizeof(int32_t) * na) == 0);
    ck_assert(memcmp(ia, ic, sizeof(int32_t) * na) == 0);
    free(ia);
    free(ib);
    free(ic);
    spdf_tokenizer_free(c);
    /* every single-byte corruption and every truncation is rejected */
    FILE *f = fopen(path, "rb");
    unsigned char image[4096];
    const size_t size = fread(image, 1, sizeof image, f);
    fclose(f);
    ck_assert_uint_gt(size, 20);
    for (size_t at = 0; at < size; at += 3) {
        image[at] ^= 0x20;
        f = fopen(path, "wb");
        fwrite(image, 1, size, f);
        fclose(f);
        c = (spdf_tokenizer *)1;
        ck_assert_int_eq(spdf_tokenizer_load(path, &c), SPDF_EFORMAT);
        ck_assert_ptr_null(c);
        image[at] ^= 0x20;
    }
    for (size_t keep = 0; keep < size; keep += 5) {
        f = fopen(path, "wb");
        fwrite(image, 1, keep, f);
        fclose(f);
        ck_assert_int_eq(spdf_tokenizer_load(path, &c), SPDF_EFORMAT);
    }
    unlink(path);
    ck_assert_int_eq(spdf_tokenizer_load(path, &c), SPDF_EIO);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), path));
    spdf_tokenizer_free(a);
    spdf_tokenizer_free(b);
}
END_TEST

static uint32_t crc32c(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Well-formed files (checksum right) whose merges are not: each must be SPDF_EFORMAT.  The
 * doubling one would make a token of 2^40 bytes. */
START_TEST(malicious_files_rejected)
{
    enum { MERGES = 40 };
    char path[] = "/tmp/spdf-tokenizer-bad-XXXXXX";
    const int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    for (int kind = 0; kind < 4; kind++) {
        unsigned char image[16 + 8 * MERGES + 4];
        memcpy(image, "SPDFBPE1", 8);
        put_u32(image + 8, 1);
        put_u32(image + 12, MERGES);
        for (int i = 0; i < MERGES; i++) {
            uint32_t left = 'a', right = 'b';
            if (kind == 0) left = right = i == 0 ? 'a' : 257 + (uint32_t)i - 1; /* doubling */
            if (kind == 1 && i == 5) right = 257 + 5;                            /* not earlier */
            if (kind == 2 && i == 3) left = SPDF_TOKEN_EOT;                      /* EOT inside */
            if (kind == 3) left = 'a' + (uint32_t)(i == 7 ? 0 : i);              /* repeats (a, b) */
            put_u32(image + 16 + 8 * i, left);
            put_u32(image + 20 + 8 * i, right);
        }
        put_u32(image + 16 + 8 * MERGES, crc32c(image, 16 + 8 * MERGES));
        FILE *f = fopen(path, "wb");
        fwrite(image, 1, sizeof image, f);
        fclose(f);
        spdf_tokenizer *tok = NULL;
        ck_assert_msg(spdf_tokenizer_load(path, &tok) == SPDF_EFORMAT, "kind %d: %s", kind,
                      spdf_last_error());
        ck_assert_ptr_null(tok);
    }
    unlink(path);
}
END_TEST

START_TEST(invalid_arguments)
{
    spdf_tokenizer *tok = NULL;
    ck_assert_int_eq(spdf_tokenizer_train("abc", 3, 256, &tok), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_train("abc", 3, (1 << 20) + 1, &tok), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_train(NULL, 3, 300, &tok), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_train("abc", 3, 300, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_train("", 0, 300, &tok), SPDF_OK); /* bytes only */
    int32_t vocab;
    ck_assert_int_eq(spdf_tokenizer_vocab_size(tok, &vocab), SPDF_OK);
    ck_assert_int_eq(vocab, 257);
    const int32_t bad[2] = {65, 257};
    size_t len;
    ck_assert_int_eq(spdf_tokenizer_decode(tok, bad, 2, NULL, 0, &len), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_decode(tok, bad, 1, NULL, 0, &len), SPDF_OK);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(spdf_tokenizer_encode(NULL, "a", 1, NULL, 0, &len), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_encode(tok, "a", 1, NULL, 0, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_vocab_size(NULL, &vocab), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_save(tok, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_load(NULL, &tok), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_save(tok, "/nonexistent-dir/x.bin"), SPDF_EIO);
    spdf_tokenizer_free(tok);
    spdf_tokenizer_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("bpe");
    tcase_add_test(tc, round_trip_any_bytes);
    tcase_add_test(tc, matches_naive_encoder);
    tcase_add_test(tc, training_by_hand);
    tcase_add_test(tc, deterministic_and_files);
    tcase_add_test(tc, malicious_files_rejected);
    tcase_add_test(tc, invalid_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
