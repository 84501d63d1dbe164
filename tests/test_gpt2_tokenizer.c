/* GPT-2's tokenizer files (spdf_tokenizer_load_gpt2) on the hand-made pair tests/data/gpt2/:
 * vocab.json holds the 256 byte tokens with GPT-2's ids (the printable bytes '!'..'~', U+00A1..
 * U+00AC, U+00AE..U+00FF first, as ids 0..187, then the other 68 bytes in increasing order as
 * 188..255, written U+0100 onwards), 43 merged tokens and "<|endoftext|>" (296); merges.txt
 * lists the 43 merges.  The merged tokens' ids are NOT in rank order: rank r < 34 has id 289 - r,
 * ranks 34..39 have ids 290..295, ranks 40..42 ids 297..299, so an encoder that applied merges by
 * id instead of rank gives other ids; and "t '", "e !", "' S", "!! Ġ" and "ĉ Â" join what GPT-2's
 * pieces keep apart, so an encoder that let merges cross pieces does too.  Every expected id below was worked out by
 * hand from those rules, the files and GPT-2's pre-tokenisation pattern.  Then: round trips of
 * arbitrary bytes, malformed files (SPDF_EFORMAT naming the path and line), the end-of-text id
 * (spdf_tokenizer_end_of_text, also for libspdf's own tokenizers), the Unicode letter and number
 * classes, argument checks. */
#include "spdf.h"
#include "common/fixtures.h"
#include "io/unicode_classes.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char vocab_path[4096], merges_path[4096];

static void data_paths(void)
{
    const char *dir = getenv("SPDF_TEST_DATA");
    ck_assert_msg(dir != NULL, "SPDF_TEST_DATA is not set (run through meson test)");
    snprintf(vocab_path, sizeof vocab_path, "%s/gpt2/vocab.json", dir);
    snprintf(merges_path, sizeof merges_path, "%s/gpt2/merges.txt", dir);
}

static spdf_tokenizer *load_hand_made(void)
{
    data_paths();
    spdf_tokenizer *tok = NULL;
    ck_assert_msg(spdf_tokenizer_load_gpt2(vocab_path, merges_path, &tok) == SPDF_OK, "%s",
                  spdf_last_error());
    return tok;
}

static void expect_ids(const spdf_tokenizer *tok, const char *text, const int32_t *want, size_t n)
{
    size_t count = 0;
    ck_assert_int_eq(spdf_tokenizer_encode(tok, text, strlen(text), NULL, 0, &count), SPDF_OK);
    int32_t *ids = malloc((count + 1) * sizeof *ids);
    size_t again = 0;
    ck_assert_int_eq(spdf_tokenizer_encode(tok, text, strlen(text), ids, count, &again), SPDF_OK);
    ck_assert_uint_eq(again, count);
    for (size_t i = 0; i < count && i < n; i++)
        ck_assert_msg(ids[i] == want[i], "\"%s\": id %zu is %d, expected %d", text, i, ids[i], want[i]);
    ck_assert_msg(count == n, "\"%s\": %zu ids, expected %zu", text, count, n);
    size_t length = 0;
    char back[256];
    ck_assert_int_eq(spdf_tokenizer_decode(tok, ids, count, back, sizeof back, &length), SPDF_OK);
    ck_assert_uint_eq(length, strlen(text));
    ck_assert(memcmp(back, text, length) == 0);
    free(ids);
}

#define EXPECT(tok, text, ...)                                                                     \
    do {                                                                                           \
        const int32_t want_[] = {__VA_ARGS__};                                                     \
        expect_ids(tok, text, want_, sizeof want_ / sizeof want_[0]);                              \
    } while (0)

/* GPT-2's id of a single byte in these files (see the top). */
static int32_t byte_id(unsigned b)
{
    if (b >= 0x21 && b <= 0x7E) return (int32_t)b - 0x21;
    if (b >= 0xA1 && b <= 0xAC) return (int32_t)b - 0xA1 + 94;
    if (b >= 0xAE) return (int32_t)b - 0xAE + 106;
    if (b <= 0x20) return 188 + (int32_t)b;
    if (b <= 0xA0) return 221 + (int32_t)b - 0x7F;
    return 255; /* 0xAD */
}

START_TEST(vocabulary)
{
    spdf_tokenizer *tok = load_hand_made();
    int32_t vocab = 0;
    ck_assert_int_eq(spdf_tokenizer_vocab_size(tok, &vocab), SPDF_OK);
    ck_assert_int_eq(vocab, 300);
    /* a few byte ids that GPT-2 itself has: '!' 0, 'A' 32, '\n' 198, ' ' 220 */
    ck_assert_int_eq(byte_id('!'), 0);
    ck_assert_int_eq(byte_id('A'), 32);
    ck_assert_int_eq(byte_id('\n'), 198);
    ck_assert_int_eq(byte_id(' '), 220);
    EXPECT(tok, "A", 32);
    EXPECT(tok, "\n", 198);
    const int32_t eot = 296;
    size_t length = 0;
    char text[32];
    ck_assert_int_eq(spdf_tokenizer_decode(tok, &eot, 1, text, sizeof text, &length), SPDF_OK);
    ck_assert_uint_eq(length, 13);
    ck_assert(memcmp(text, "<|endoftext|>", 13) == 0);
    const int32_t outside = 300;
    ck_assert_int_eq(spdf_tokenizer_decode(tok, &outside, 1, text, sizeof text, &length), SPDF_EINVAL);
    spdf_tokenizer_free(tok);
}
END_TEST

/* Pieces: "The" " cat" "'s" " 12" " mats" " aren" "'t" " here" "!!" " " " Café" "\t" "½" " --"
 * " it" "'" "S" " we" "'re" "\n\n".  Notes: " cat" is Ġ c a t -> "a t" (rank 1) -> "Ġ c" (3)
 * -> "Ġc at" (4); " mats": "a t" (1) before "m a" (8), then "at s" (7), "Ġ m" (9): Ġm ats; " aren":
 * "r e" (10) before "e n" (31), then "Ġ a" (13): Ġa re n; the two spaces before "Café" are " "
 * and the space of " Café" (\s+(?!\S)); "'S" is no contraction: "'" and "S"; "½" (C2 BD) has no
 * merge; "t '", "e !", "' S" (40), "!! Ġ" (41) and "ĉ Â" (42) never apply because they would
 * cross pieces. */
START_TEST(encodes_as_gpt2)
{
    spdf_tokenizer *tok = load_hand_made();
    EXPECT(tok, "The cat's 12 mats aren't here!!  Caf\xc3\xa9\t\xc2\xbd -- it'S we're\n\n",
           284, 285, 283, 273, 280, 282, 276, 279, byte_id('n'), 275, 277, 272, 220, 267,
           byte_id('\t'), byte_id(0xC2), byte_id(0xBD), 265, 263, byte_id('\''), byte_id('S'), 261,
           260, 259);
    /* "I" "'m" " ill" ";" " you" "'ll" "," " we" "'ve" "," " he" "'d" "\n": " ill" is "Ġ i" (25)
     * before "l l" (36), and no "Ġi ll"; "'ll" is "l l" then "' ll" (37) */
    EXPECT(tok, "I'm ill; you'll, we've, he'd\n", byte_id('I'), 290, 264, 292, byte_id(';'), 220,
           byte_id('y'), byte_id('o'), byte_id('u'), 293, byte_id(','), 261, 295, byte_id(','), 278,
           291, byte_id('\n'));
    /* the end-of-text text is ordinary text: "<|" "endoftext" "|>", with "e n" (31) */
    EXPECT(tok, "<|endoftext|>", byte_id('<'), byte_id('|'), 258, byte_id('d'), byte_id('o'),
           byte_id('f'), byte_id('t'), byte_id('e'), byte_id('x'), byte_id('t'), byte_id('|'),
           byte_id('>'));
    /* white space: "a" "  " " cat" keeps the last space for the word; a run at the end stays
     * whole; a tab then a space: "\t" is its own piece before " cat" */
    EXPECT(tok, "a   cat", byte_id('a'), 220, 220, 285);
    EXPECT(tok, "he  ", 287, 220, 220);
    EXPECT(tok, "\t cat", byte_id('\t'), 285);
    /* a letter outside ASCII joins its word: "Caf" + "é" merge inside one piece; "é" after a
     * digit starts a new piece */
    EXPECT(tok, " Caf\xc3\xa9", 267);
    EXPECT(tok, "12\xc3\xa9", 274, 271);
    spdf_tokenizer_free(tok);
}
END_TEST

START_TEST(round_trips_any_bytes)
{
    spdf_tokenizer *tok = load_hand_made();
    unsigned char text[2048];
    uint32_t state = 12345;
    for (size_t i = 0; i < sizeof text; i++) {
        state = state * 1103515245u + 12345u;
        text[i] = i < 256 ? (unsigned char)i : (unsigned char)(state >> 16); /* every byte, then noise */
    }
    size_t count = 0, length = 0;
    ck_assert_int_eq(spdf_tokenizer_encode(tok, (const char *)text, sizeof text, NULL, 0, &count), SPDF_OK);
    int32_t *ids = malloc(count * sizeof *ids);
    char *back = malloc(sizeof text);
    ck_assert_int_eq(spdf_tokenizer_encode(tok, (const char *)text, sizeof text, ids, count, &count), SPDF_OK);
    for (size_t i = 0; i < count; i++) ck_assert(ids[i] >= 0 && ids[i] < 300 && ids[i] != 296);
    ck_assert_int_eq(spdf_tokenizer_decode(tok, ids, count, back, sizeof text, &length), SPDF_OK);
    ck_assert_uint_eq(length, sizeof text);
    ck_assert(memcmp(back, text, sizeof text) == 0);
    /* a short buffer: the first ids, and the full count */
    int32_t first[3];
    size_t total = 0;
    ck_assert_int_eq(spdf_tokenizer_encode(tok, (const char *)text, sizeof text, first, 3, &total), SPDF_OK);
    ck_assert_uint_eq(total, count);
    ck_assert(memcmp(first, ids, sizeof first) == 0);
    free(back);
    free(ids);
    spdf_tokenizer_free(tok);
}
END_TEST

/* A GPT-2 tokenizer has no libspdf file and no place in a checkpoint; its checksum is defined. */
START_TEST(not_saved)
{
    spdf_tokenizer *tok = load_hand_made();
    ck_assert_int_eq(spdf_tokenizer_save(tok, scratch_path("gpt2.bin")), SPDF_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "vocab.json"));
    ck_assert_int_eq(scratch_count("gpt2.bin"), 0);
    uint32_t a = 0, b = 1;
    spdf_tokenizer *again = load_hand_made();
    ck_assert_int_eq(spdf_tokenizer_checksum(tok, &a), SPDF_OK);
    ck_assert_int_eq(spdf_tokenizer_checksum(again, &b), SPDF_OK);
    ck_assert_uint_eq(a, b);
    spdf_tokenizer_free(again);
    spdf_tokenizer_free(tok);
}
END_TEST

/* ---- malformed files ---- */

/* The 256 byte tokens of GPT-2's alphabet as JSON members "c": id, one a line from line 2, ids
 * as byte_id gives them; `skip` (0..255, or -1) leaves one byte out. */
static void put_byte_tokens(FILE *f, int skip)
{
    for (unsigned b = 0; b < 256; b++) {
        if ((int)b == skip) continue;
        uint32_t cp = b;
        if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE))
            cp = 0x100 + (uint32_t)(byte_id(b) - 188);
        if (cp == '"' || cp == '\\') fprintf(f, "\"\\%c\": %d,\n", (char)cp, byte_id(b));
        else if (cp < 0x80) fprintf(f, "\"%c\": %d,\n", (char)cp, byte_id(b));
        else fprintf(f, "\"%c%c\": %d,\n", (char)(0xC0 | cp >> 6), (char)(0x80 | (cp & 0x3F)), byte_id(b));
    }
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* vocab.json: the byte tokens, then `extra` members (may be ""), then "<|endoftext|>": next id. */
static const char *vocab_with(const char *extra, int skip, int next_id)
{
    const char *path = scratch_path("vocab.json");
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("{\n", f);
    put_byte_tokens(f, skip);
    fprintf(f, "%s\"<|endoftext|>\": %d\n}\n", extra, next_id);
    fclose(f);
    return path;
}

static void expect_format_error(const char *vocab, const char *merges_text, const char *where)
{
    const char *merges = scratch_path("merges.txt");
    write_text(merges, merges_text);
    spdf_tokenizer *tok = (spdf_tokenizer *)&tok;
    ck_assert_msg(spdf_tokenizer_load_gpt2(vocab, merges, &tok) == SPDF_EFORMAT, "%s: accepted (%s)",
                  where, spdf_last_error());
    ck_assert_msg(strstr(spdf_last_error(), where) != NULL, "\"%s\" is not in \"%s\"", where, spdf_last_error());
    ck_assert_ptr_eq(tok, (spdf_tokenizer *)&tok); /* untouched */
}

START_TEST(malformed_merges)
{
    char where[4200], merges[4096];
    snprintf(merges, sizeof merges, "%s", scratch_path("merges.txt"));
    const char *vocab = vocab_with("\"ab\": 256,\n\"abc\": 257,\n", -1, 258);
    snprintf(where, sizeof where, "%s:3:", merges);
    expect_format_error(vocab, "#version: 0.2\na b\nab c d\n", where); /* three tokens */
    expect_format_error(vocab, "#version: 0.2\na b\nab  c\n", where);  /* two spaces */
    expect_format_error(vocab, "#version: 0.2\na b\n ab\n", where);    /* nothing before */
    expect_format_error(vocab, "#version: 0.2\na b\nab \n", where);    /* nothing after */
    expect_format_error(vocab, "#version: 0.2\na b\nabc\n", where);    /* one token */
    /* "#version" is a header on the first line only */
    snprintf(where, sizeof where, "%s:2:", merges);
    expect_format_error(vocab, "a b\n#version: 0.2\n", where);
}
END_TEST

START_TEST(malformed_merge_tokens)
{
    char where[4200], merges[4096];
    snprintf(merges, sizeof merges, "%s", scratch_path("merges.txt"));
    const char *vocab = vocab_with("\"ab\": 256,\n", -1, 257);
    snprintf(where, sizeof where, "%s:2:", merges);
    expect_format_error(vocab, "a b\nab x\n", where);             /* "abx" is not a token */
    expect_format_error(vocab, "a b\nab \xe4\xb8\xad\n", where);  /* "中" is not a token */
    snprintf(where, sizeof where, "%s:4:", merges);
    expect_format_error(vocab, "#version: 0.2\na b\n\na b\n", where); /* repeats line 2 */
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "line 2"));
    snprintf(where, sizeof where, "%s:1:", merges);
    expect_format_error(vocab, "a \xff\n", where); /* not UTF-8 */
}
END_TEST

START_TEST(malformed_vocabulary)
{
    char where[4200], vocab[4096]; /* scratch_path's buffers are reused */
    snprintf(vocab, sizeof vocab, "%s", scratch_path("vocab.json"));
    /* the byte tokens are lines 2 .. 257, the extra members start on line 258 */
    snprintf(where, sizeof where, "%s:258:", vocab);
    expect_format_error(vocab_with("\"ab\": 1.5,\n", -1, 257), "", where);   /* not an integer */
    expect_format_error(vocab_with("\"ab\": -1,\n", -1, 257), "", where);    /* negative */
    expect_format_error(vocab_with("\"ab\": \"x\",\n", -1, 257), "", where); /* a string */
    expect_format_error(vocab_with("\"ab\": 5,\n", -1, 257), "", where);     /* 5 is taken */
    expect_format_error(vocab_with("\"ab\": 300,\n", -1, 257), "", where);   /* a gap */
    expect_format_error(vocab_with("\"\xe4\xb8\xad\": 256,\n", -1, 257), "", where); /* not in the alphabet */
    expect_format_error(vocab_with("\"a b\": 256,\n", -1, 257), "", where);  /* a plain space */
    expect_format_error(vocab_with("\"\": 256,\n", -1, 257), "", where);     /* empty */
    expect_format_error(vocab_with("\"ab\" 256,\n", -1, 257), "", where);    /* JSON syntax */
    snprintf(where, sizeof where, "'%s'", vocab);
    expect_format_error(vocab_with("", 'q', byte_id('q')), "", where); /* no token for 'q' */
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "0x71"));
    write_text(vocab, "[\"a\", \"b\"]\n");
    snprintf(where, sizeof where, "%s:1:", vocab);
    expect_format_error(vocab, "", where);
    write_text(vocab, "{}");
    expect_format_error(vocab, "", where);
}
END_TEST

START_TEST(accepted_variants)
{
    /* no "#version" line, CRLF line ends, empty lines, a byte order mark, \u escapes in JSON */
    const char *vocab = vocab_with("\"\\u0061b\": 256,\n", -1, 257);
    const char *merges = scratch_path("merges.txt");
    write_text(merges, "\xef\xbb\xbf" "a b\r\n\r\n");
    spdf_tokenizer *tok = NULL;
    ck_assert_msg(spdf_tokenizer_load_gpt2(vocab, merges, &tok) == SPDF_OK, "%s", spdf_last_error());
    EXPECT(tok, "abc", 256, byte_id('c'));
    spdf_tokenizer_free(tok);
    /* an empty merges.txt: bytes only */
    write_text(merges, "");
    ck_assert_msg(spdf_tokenizer_load_gpt2(vocab, merges, &tok) == SPDF_OK, "%s", spdf_last_error());
    EXPECT(tok, "abc", byte_id('a'), byte_id('b'), byte_id('c'));
    spdf_tokenizer_free(tok);
}
END_TEST

START_TEST(unreadable_files_and_arguments)
{
    data_paths();
    spdf_tokenizer *tok = NULL;
    const char *missing = scratch_path("missing.json");
    ck_assert_int_eq(spdf_tokenizer_load_gpt2(missing, merges_path, &tok), SPDF_EIO);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), missing));
    ck_assert_int_eq(spdf_tokenizer_load_gpt2(vocab_path, missing, &tok), SPDF_EIO);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), missing));
    ck_assert_int_eq(spdf_tokenizer_load_gpt2(vocab_path, scratch_dir, &tok), SPDF_EIO);
    ck_assert_ptr_null(tok);
    ck_assert_int_eq(spdf_tokenizer_load_gpt2(NULL, merges_path, &tok), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_load_gpt2(vocab_path, NULL, &tok), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_load_gpt2(vocab_path, merges_path, NULL), SPDF_EINVAL);
    uint32_t checksum;
    ck_assert_int_eq(spdf_tokenizer_checksum(NULL, &checksum), SPDF_EINVAL);
    tok = load_hand_made();
    ck_assert_int_eq(spdf_tokenizer_checksum(tok, NULL), SPDF_EINVAL);
    spdf_tokenizer_free(tok);
}
END_TEST

/* ---- the id that ends a text ---- */

START_TEST(end_of_text)
{
    /* libspdf's tokenizers: bytes (no merges) and BPE */
    const char text[] = "the cat sat on the mat; the cat sat on the hat.\n";
    spdf_tokenizer *bytes = NULL, *bpe = NULL;
    ck_assert_int_eq(spdf_tokenizer_train(text, sizeof text - 1, 257, &bytes), SPDF_OK);
    ck_assert_int_eq(spdf_tokenizer_train(text, sizeof text - 1, 280, &bpe), SPDF_OK);
    int32_t vocab = 0, id = -1;
    ck_assert_int_eq(spdf_tokenizer_vocab_size(bpe, &vocab), SPDF_OK);
    ck_assert_int_gt(vocab, 257);
    ck_assert_int_eq(spdf_tokenizer_end_of_text(bytes, &id), SPDF_OK);
    ck_assert_int_eq(id, SPDF_TOKEN_EOT);
    id = -1;
    ck_assert_int_eq(spdf_tokenizer_end_of_text(bpe, &id), SPDF_OK);
    ck_assert_int_eq(id, SPDF_TOKEN_EOT);
    /* the hand-made GPT-2 files: "<|endoftext|>" is 296 there, and 256 is "e!" */
    spdf_tokenizer *gpt2 = load_hand_made();
    ck_assert_int_eq(spdf_tokenizer_end_of_text(gpt2, &id), SPDF_OK);
    ck_assert_int_eq(id, 296);
    char decoded[32];
    size_t length = 0;
    ck_assert_int_eq(spdf_tokenizer_decode(gpt2, &id, 1, decoded, sizeof decoded, &length), SPDF_OK);
    ck_assert_uint_eq(length, 13);
    ck_assert(memcmp(decoded, "<|endoftext|>", 13) == 0);
    /* the token is found under any JSON spelling, at any id */
    const char *vocab_file = vocab_with("\"ab\": 256,\n", -1, 257);
    const char *merges = scratch_path("merges.txt");
    write_text(merges, "a b\n");
    spdf_tokenizer *other = NULL;
    ck_assert_msg(spdf_tokenizer_load_gpt2(vocab_file, merges, &other) == SPDF_OK, "%s", spdf_last_error());
    ck_assert_int_eq(spdf_tokenizer_end_of_text(other, &id), SPDF_OK);
    ck_assert_int_eq(id, 257);
    spdf_tokenizer_free(other);
    /* a vocab.json without "<|endoftext|>" loads, but no id ends a text */
    FILE *f = fopen(vocab_file, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("{\n", f);
    put_byte_tokens(f, -1);
    fputs("\"ab\": 256,\n\"<|endoftext|>x\": 257\n}\n", f);
    fclose(f);
    ck_assert_msg(spdf_tokenizer_load_gpt2(vocab_file, merges, &other) == SPDF_OK, "%s", spdf_last_error());
    id = 12345;
    ck_assert_int_eq(spdf_tokenizer_end_of_text(other, &id), SPDF_EUNSUPPORTED);
    ck_assert_int_eq(id, 12345); /* untouched */
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "<|endoftext|>"));
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "vocab.json"));
    /* bad arguments */
    ck_assert_int_eq(spdf_tokenizer_end_of_text(NULL, &id), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_end_of_text(gpt2, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_tokenizer_end_of_text((const spdf_tokenizer *)&id, &id), SPDF_EINVAL);
    ck_assert_int_eq(id, 12345);
    spdf_tokenizer_free(other);
    spdf_tokenizer_free(gpt2);
    spdf_tokenizer_free(bpe);
    spdf_tokenizer_free(bytes);
}
END_TEST

/* ---- the Unicode classes behind \p{L} and \p{N} (general categories, Unicode 14) ---- */

START_TEST(unicode_classes)
{
    const struct { uint32_t cp; unicode_class want; } cases[] = {
        {'A', UNICODE_LETTER},     {'z', UNICODE_LETTER},     {'0', UNICODE_NUMBER},
        {' ', UNICODE_OTHER},      {'\'', UNICODE_OTHER},     {0xE9, UNICODE_LETTER},   /* é Ll */
        {0xD7, UNICODE_OTHER},     /* × Sm */                 {0xBD, UNICODE_NUMBER},   /* ½ No */
        {0xAA, UNICODE_LETTER},    /* ª Lo */                 {0xB2, UNICODE_NUMBER},   /* ² No */
        {0x2B0, UNICODE_LETTER},   /* ʰ Lm */                 {0x300, UNICODE_OTHER},   /* grave Mn */
        {0x436, UNICODE_LETTER},   /* ж */                    {0x663, UNICODE_NUMBER},  /* ٣ Nd */
        {0x1C5, UNICODE_LETTER},   /* ǅ Lt */                 {0x216B, UNICODE_NUMBER}, /* Ⅻ Nl */
        {0x3042, UNICODE_LETTER},  /* あ Lo */                {0x4E2D, UNICODE_LETTER}, /* 中 */
        {0x3000, UNICODE_OTHER},   /* ideographic space Zs */ {0xE000, UNICODE_OTHER},  /* Co */
        {0x1D400, UNICODE_LETTER}, /* bold A Lu */            {0x1F600, UNICODE_OTHER}, /* emoji So */
        {0x20000, UNICODE_LETTER}, /* CJK ext. B */           {0x10FFFF, UNICODE_OTHER},
        {0x110000, UNICODE_OTHER}, {0x378, UNICODE_OTHER},    /* unassigned */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(unicode_class_of(cases[i].cp) == cases[i].want, "U+%04X: class %d, expected %d",
                      (unsigned)cases[i].cp, (int)unicode_class_of(cases[i].cp), (int)cases[i].want);
    ck_assert_str_eq(unicode_classes_version, "14.0.0");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gpt2_tokenizer");
    TCase *tc = tcase_create("gpt2");
    tcase_add_checked_fixture(tc, scratch_create, scratch_remove);
    tcase_add_test(tc, vocabulary);
    tcase_add_test(tc, encodes_as_gpt2);
    tcase_add_test(tc, round_trips_any_bytes);
    tcase_add_test(tc, not_saved);
    tcase_add_test(tc, malformed_merges);
    tcase_add_test(tc, malformed_merge_tokens);
    tcase_add_test(tc, malformed_vocabulary);
    tcase_add_test(tc, accepted_variants);
    tcase_add_test(tc, unreadable_files_and_arguments);
    tcase_add_test(tc, end_of_text);
    tcase_add_test(tc, unicode_classes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
