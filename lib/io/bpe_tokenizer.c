/* Byte-level BPE tokenizer: ids 0..255 are bytes, SPDF_TOKEN_EOT (256) ends a document, and id
 * 257 + i is merge i, the concatenation of two earlier ids.  Text is first cut into chunks that
 * merges never cross (docs/token-format.md): an optional space followed by a run of letters
 * (ASCII letters and every byte >= 0x80, so UTF-8 words stay whole), an optional space followed
 * by a run of digits, or any other single byte; a run is cut after BPE_MAX_CHUNK bytes.  A
 * newline is therefore always its own token.
 *
 * Training counts the chunks, then repeatedly merges the most frequent adjacent pair (ties go to
 * the numerically smallest pair, so the result depends on the text alone) until the vocabulary
 * is full or no pair occurs twice.  Encoding applies, inside each chunk, the earliest-learned
 * applicable merge until none applies.
 *
 * File ("SPDFBPE1"): magic[8], u32 version = 1, u32 merge count, then (u32 left, u32 right) per
 * merge, then the CRC-32C of all preceding bytes; little-endian.  The same bytes are a
 * checkpoint's TOKENIZER section.  The handle (io/tokenizer.h) is shared with GPT-2's tokenizer
 * files (gpt2_tokenizer.c); encoding dispatches on its kind, decoding is the same for both. */
#include "io/tokenizer.h"
#include "core/core.h"
#include "io/byte_order.h"
#include "io/file_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BPE_FIRST_MERGE (SPDF_TOKEN_EOT + 1)
#define BPE_MAX_VOCAB (1 << 20)
#define BPE_MAX_CHUNK 1024 /* bytes: longer runs of letters or digits are cut, so no token is longer */
static const char bpe_magic[8] = {'S', 'P', 'D', 'F', 'B', 'P', 'E', '1'};
static const char eot_text[] = "<|endoftext|>";
#define EOT_TEXT_LEN (sizeof eot_text - 1)

/* ---- a hash map from a pair of ids to an int64 ---- */

uint64_t pair_key(int32_t left, int32_t right)
{
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

static size_t pair_slot(const pair_map *m, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 17) & (m->capacity - 1);
    while (m->keys[i] != UINT64_MAX && m->keys[i] != key) i = (i + 1) & (m->capacity - 1);
    return i;
}

int pair_map_init(pair_map *m, size_t expected)
{
    m->capacity = 64;
    while (m->capacity < 2 * expected + 2) m->capacity *= 2;
    m->used = 0;
    m->keys = malloc(m->capacity * sizeof *m->keys);
    m->values = malloc(m->capacity * sizeof *m->values);
    if (!m->keys || !m->values) return 0;
    memset(m->keys, 0xff, m->capacity * sizeof *m->keys);
    return 1;
}

void pair_map_free(pair_map *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static void pair_map_clear(pair_map *m)
{
    memset(m->keys, 0xff, m->capacity * sizeof *m->keys);
    m->used = 0;
}

int pair_map_add(pair_map *m, uint64_t key, int64_t delta)
{
    const size_t i = pair_slot(m, key);
    if (m->keys[i] == UINT64_MAX) {
        if (2 * (m->used + 1) > m->capacity) return 0;
        m->keys[i] = key;
        m->values[i] = 0;
        m->used++;
    }
    m->values[i] += delta;
    return 1;
}

int64_t pair_map_get(const pair_map *m, uint64_t key)
{
    const size_t i = pair_slot(m, key);
    return m->keys[i] == UINT64_MAX ? -1 : m->values[i];
}

/* ---- the tokenizer ---- */

spdf_tokenizer *tokenizer_alloc(tokenizer_kind kind)
{
    spdf_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return NULL;
    tok->tag = HANDLE_TOKENIZER;
    tok->kind = kind;
    tok->end_of_text = kind == TOKENIZER_BPE ? SPDF_TOKEN_EOT : -1; /* GPT-2's: from vocab.json */
    for (int b = 0; b < 256; b++) tok->byte_id[b] = b;
    return tok;
}

static int is_letter(unsigned char c)
{
    return ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80;
}
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* End of the chunk that starts at i. */
static size_t chunk_end(const unsigned char *s, size_t i, size_t n)
{
    size_t j = i;
    if (s[j] == ' ' && j + 1 < n && (is_letter(s[j + 1]) || is_digit(s[j + 1]))) j++;
    if (is_letter(s[j])) {
        while (j < n && is_letter(s[j]) && j - i < BPE_MAX_CHUNK) j++;
        return j;
    }
    if (is_digit(s[j])) {
        while (j < n && is_digit(s[j]) && j - i < BPE_MAX_CHUNK) j++;
        return j;
    }
    return i + 1;
}

void spdf_tokenizer_free(spdf_tokenizer *tok)
{
    if (!spdf_handle_is(tok, HANDLE_TOKENIZER)) return; /* NULL, freed, or not a tokenizer */
    free(tok->merges);
    pair_map_free(&tok->lookup);
    free(tok->offset);
    free(tok->bytes);
    spdf_handle_poison(tok);
    free(tok);
}

/* Builds the lookup map and the decoding table from tok->merges, checking that every merge
 * refers to earlier ids; `where` starts the messages. */
static spdf_status finish(spdf_tokenizer *tok, const char *where)
{
    const int32_t vocab = BPE_FIRST_MERGE + tok->merge_count;
    tok->vocab_size = vocab;
    tok->offset = malloc(((size_t)vocab + 1) * sizeof *tok->offset);
    if (!tok->offset || !pair_map_init(&tok->lookup, (size_t)tok->merge_count))
        return spdf_fail(SPDF_ENOMEM, "out of memory for a tokenizer of %d ids", (int)vocab);
    for (int32_t i = 0; i < tok->merge_count; i++) {
        const int32_t left = tok->merges[i][0], right = tok->merges[i][1], id = BPE_FIRST_MERGE + i;
        if (left < 0 || right < 0 || left >= id || right >= id || left == SPDF_TOKEN_EOT ||
            right == SPDF_TOKEN_EOT)
            return spdf_fail(SPDF_EFORMAT, "%s: merge %d joins ids %d and %d: not earlier byte or "
                             "merge ids", where, (int)i, (int)left, (int)right);
        const uint64_t key = pair_key(left, right);
        if (pair_map_get(&tok->lookup, key) >= 0)
            return spdf_fail(SPDF_EFORMAT, "%s: merge %d repeats the pair (%d, %d)", where, (int)i,
                             (int)left, (int)right);
        pair_map_add(&tok->lookup, key, (int64_t)i << 32 | id); /* rank i: learned order */
    }
    /* offsets from the lengths (a merge's text is its two parts), then the bytes in id order:
     * both parts of a merge come earlier */
    tok->offset[0] = 0;
    for (int32_t id = 0; id < vocab; id++) {
        int64_t len = 1;
        if (id == SPDF_TOKEN_EOT) len = (int64_t)EOT_TEXT_LEN;
        else if (id >= BPE_FIRST_MERGE) {
            const int32_t *m = tok->merges[id - BPE_FIRST_MERGE];
            len = (tok->offset[m[0] + 1] - tok->offset[m[0]]) +
                  (tok->offset[m[1] + 1] - tok->offset[m[1]]);
            if (len > BPE_MAX_CHUNK) /* no chunk is longer, so no trained merge is */
                return spdf_fail(SPDF_EFORMAT, "%s: merge %d makes a token of %lld bytes, more "
                                 "than a chunk's %d", where, (int)(id - BPE_FIRST_MERGE),
                                 (long long)len, BPE_MAX_CHUNK);
        }
        tok->offset[id + 1] = tok->offset[id] + len;
    }
    tok->bytes = malloc((size_t)tok->offset[vocab]);
    if (!tok->bytes) return spdf_fail(SPDF_ENOMEM, "out of memory for a tokenizer's text");
    for (int32_t id = 0; id < vocab; id++) {
        unsigned char *dst = tok->bytes + tok->offset[id];
        if (id < 256) {
            *dst = (unsigned char)id;
        } else if (id == SPDF_TOKEN_EOT) {
            memcpy(dst, eot_text, EOT_TEXT_LEN);
        } else {
            const int32_t *m = tok->merges[id - BPE_FIRST_MERGE];
            const int64_t left_len = tok->offset[m[0] + 1] - tok->offset[m[0]];
            memcpy(dst, tok->bytes + tok->offset[m[0]], (size_t)left_len);
            memcpy(dst + left_len, tok->bytes + tok->offset[m[1]],
                   (size_t)(tok->offset[m[1] + 1] - tok->offset[m[1]]));
        }
    }
    return SPDF_OK;
}

/* ---- training ---- */

typedef struct chunk {
    const unsigned char *text;
    uint32_t length;
} chunk;

static int compare_chunks(const void *a, const void *b)
{
    const chunk *x = a, *y = b;
    const uint32_t n = x->length < y->length ? x->length : y->length;
    const int c = memcmp(x->text, y->text, n);
    return c ? c : (x->length > y->length) - (x->length < y->length);
}

/* The distinct chunks of the text as symbol sequences (bytes), with their counts. */
typedef struct word_set {
    int32_t *symbols;     /* all words, back to back */
    int64_t *start;       /* (count) first symbol of each word */
    int32_t *length;      /* (count) current length of each word */
    int64_t *frequency;   /* (count) */
    int64_t count;
} word_set;

static void word_set_free(word_set *w)
{
    free(w->symbols);
    free(w->start);
    free(w->length);
    free(w->frequency);
}

static spdf_status collect_words(const unsigned char *text, size_t n, word_set *w)
{
    memset(w, 0, sizeof *w);
    size_t chunks = 0;
    for (size_t i = 0; i < n; i = chunk_end(text, i, n)) chunks++;
    chunk *all = malloc((chunks ? chunks : 1) * sizeof *all);
    if (!all) return spdf_fail(SPDF_ENOMEM, "out of memory for %zu chunks of text", chunks);
    size_t k = 0;
    for (size_t i = 0, e; i < n; i = e) {
        e = chunk_end(text, i, n);
        all[k++] = (chunk){text + i, (uint32_t)(e - i)};
    }
    qsort(all, chunks, sizeof *all, compare_chunks);
    size_t distinct = 0, symbols = 0;
    for (size_t i = 0; i < chunks; i++)
        if (i == 0 || compare_chunks(&all[i - 1], &all[i]) != 0) {
            distinct++;
            symbols += all[i].length;
        }
    w->symbols = malloc((symbols ? symbols : 1) * sizeof *w->symbols);
    w->start = malloc((distinct ? distinct : 1) * sizeof *w->start);
    w->length = malloc((distinct ? distinct : 1) * sizeof *w->length);
    w->frequency = malloc((distinct ? distinct : 1) * sizeof *w->frequency);
    if (!w->symbols || !w->start || !w->length || !w->frequency) {
        free(all);
        word_set_free(w);
        return spdf_fail(SPDF_ENOMEM, "out of memory for %zu distinct chunks", distinct);
    }
    int64_t at = 0;
    for (size_t i = 0; i < chunks; i++) {
        if (i == 0 || compare_chunks(&all[i - 1], &all[i]) != 0) {
            w->start[w->count] = at;
            w->length[w->count] = (int32_t)all[i].length;
            w->frequency[w->count] = 0;
            for (uint32_t b = 0; b < all[i].length; b++) w->symbols[at++] = all[i].text[b];
            w->count++;
        }
        w->frequency[w->count - 1]++;
    }
    free(all);
    return SPDF_OK;
}

/* Replaces every (left, right) in s (n ids) by id, left to right; returns the new length.
 * Training and encoding both merge this way. */
static int32_t merge_pair(int32_t *s, int32_t n, int32_t left, int32_t right, int32_t id)
{
    int32_t out = 0;
    for (int32_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == left && s[i + 1] == right) {
            s[out++] = id;
            i++;
        } else {
            s[out++] = s[i];
        }
    }
    return out;
}

static void apply_merge(word_set *w, int32_t left, int32_t right, int32_t id)
{
    for (int64_t k = 0; k < w->count; k++)
        w->length[k] = merge_pair(w->symbols + w->start[k], w->length[k], left, right, id);
}

spdf_status spdf_tokenizer_train(const char *text, size_t length, int32_t vocab_size,
                                 spdf_tokenizer **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(text || length == 0);
    SPDF_CHECK_ARG(out);
    *out = NULL;
    if (vocab_size < BPE_FIRST_MERGE || vocab_size > BPE_MAX_VOCAB)
        return spdf_fail(SPDF_EINVAL, "vocab_size must be in [%d, %d], got %d", BPE_FIRST_MERGE,
                         BPE_MAX_VOCAB, (int)vocab_size);
    spdf_tokenizer *tok = tokenizer_alloc(TOKENIZER_BPE);
    const int32_t wanted = vocab_size - BPE_FIRST_MERGE;
    if (!tok || !(tok->merges = malloc(((size_t)wanted + 1) * sizeof *tok->merges))) {
        free(tok);
        return spdf_fail(SPDF_ENOMEM, "out of memory for %d merges", (int)wanted);
    }
    word_set words;
    spdf_status status = collect_words((const unsigned char *)text, length, &words);
    const int collected = status == SPDF_OK;
    pair_map counts = {0};
    int64_t symbols = 0;
    for (int64_t k = 0; status == SPDF_OK && k < words.count; k++) symbols += words.length[k];
    if (status == SPDF_OK && !pair_map_init(&counts, (size_t)symbols))
        status = spdf_fail(SPDF_ENOMEM, "out of memory for pair counts");
    while (status == SPDF_OK && tok->merge_count < wanted) {
        pair_map_clear(&counts);
        for (int64_t k = 0; k < words.count; k++) {
            const int32_t *s = words.symbols + words.start[k];
            for (int32_t i = 0; i + 1 < words.length[k]; i++)
                pair_map_add(&counts, pair_key(s[i], s[i + 1]), words.frequency[k]);
        }
        uint64_t best = UINT64_MAX;
        int64_t best_count = 1; /* a pair must occur at least twice */
        for (size_t i = 0; i < counts.capacity; i++)
            if (counts.keys[i] != UINT64_MAX &&
                (counts.values[i] > best_count ||
                 (counts.values[i] == best_count && best != UINT64_MAX && counts.keys[i] < best))) {
                best = counts.keys[i];
                best_count = counts.values[i];
            }
        if (best == UINT64_MAX) break;
        const int32_t left = (int32_t)(best >> 32), right = (int32_t)(best & 0xffffffffu);
        tok->merges[tok->merge_count][0] = left;
        tok->merges[tok->merge_count][1] = right;
        apply_merge(&words, left, right, BPE_FIRST_MERGE + tok->merge_count);
        tok->merge_count++;
    }
    pair_map_free(&counts);
    if (collected) word_set_free(&words);
    if (status == SPDF_OK) status = finish(tok, "the trained tokenizer");
    if (status != SPDF_OK) {
        spdf_tokenizer_free(tok);
        return status;
    }
    *out = tok;
    return SPDF_OK;
}

/* ---- encoding and decoding ---- */

spdf_status spdf_tokenizer_vocab_size(const spdf_tokenizer *tok, int32_t *size)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(tok, HANDLE_TOKENIZER);
    SPDF_CHECK_ARG(size);
    *size = tok->vocab_size;
    return SPDF_OK;
}

spdf_status spdf_tokenizer_end_of_text(const spdf_tokenizer *tok, int32_t *id)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(tok, HANDLE_TOKENIZER);
    SPDF_CHECK_ARG(id);
    if (tok->end_of_text < 0)
        return spdf_fail(SPDF_EUNSUPPORTED, "spdf_tokenizer_end_of_text: the tokenizer's vocab.json "
                         "has no token \"%s\", so no id ends a text", eot_text);
    *id = tok->end_of_text;
    return SPDF_OK;
}

int32_t tokenizer_merge_piece(const spdf_tokenizer *tok, int32_t *s, int32_t n)
{
    for (;;) {
        int64_t best = -1; /* rank << 32 | merged id */
        int32_t at = -1;
        for (int32_t i = 0; i + 1 < n; i++) {
            const int64_t merge = pair_map_get(&tok->lookup, pair_key(s[i], s[i + 1]));
            if (merge >= 0 && (best < 0 || merge < best)) {
                best = merge;
                at = i;
            }
        }
        if (best < 0) return n;
        n = merge_pair(s, n, s[at], s[at + 1], (int32_t)(best & 0xffffffff));
    }
}

spdf_status spdf_tokenizer_encode(const spdf_tokenizer *tok, const char *text, size_t len,
                                  int32_t *out, size_t cap, size_t *count)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(tok, HANDLE_TOKENIZER);
    SPDF_CHECK_ARG(text || len == 0);
    SPDF_CHECK_ARG(count);
    const unsigned char *bytes = (const unsigned char *)text;
    if (tok->kind == TOKENIZER_GPT2) return gpt2_encode(tok, bytes, len, out, cap, count);
    int32_t symbols[BPE_MAX_CHUNK]; /* no chunk is longer */
    size_t produced = 0;
    for (size_t i = 0, e; i < len; i = e) {
        e = chunk_end(bytes, i, len);
        int32_t n = (int32_t)(e - i);
        for (int32_t k = 0; k < n; k++) symbols[k] = bytes[i + (size_t)k];
        n = tokenizer_merge_piece(tok, symbols, n);
        for (int32_t k = 0; k < n; k++, produced++)
            if (out && produced < cap) out[produced] = symbols[k];
    }
    *count = produced;
    return SPDF_OK;
}

spdf_status spdf_tokenizer_decode(const spdf_tokenizer *tok, const int32_t *tokens, size_t n,
                                  char *out, size_t cap, size_t *len)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(tok, HANDLE_TOKENIZER);
    SPDF_CHECK_ARG(tokens || n == 0);
    SPDF_CHECK_ARG(len);
    const int32_t vocab = tok->vocab_size;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= vocab)
            return spdf_fail(SPDF_EINVAL, "spdf_tokenizer_decode: token %zu is %d, outside [0, %d)",
                             i, (int)tokens[i], (int)vocab);
        total += (size_t)(tok->offset[tokens[i] + 1] - tok->offset[tokens[i]]);
    }
    if (out) {
        size_t written = 0;
        for (size_t i = 0; i < n && written < cap; i++) {
            const size_t piece = (size_t)(tok->offset[tokens[i] + 1] - tok->offset[tokens[i]]);
            const size_t take = piece < cap - written ? piece : cap - written;
            memcpy(out + written, tok->bytes + tok->offset[tokens[i]], take);
            written += take;
        }
    }
    *len = total;
    return SPDF_OK;
}

/* ---- files ---- */

#define IMAGE_HEADER_BYTES 16
#define IMAGE_MAX_MERGES ((uint32_t)(BPE_MAX_VOCAB - BPE_FIRST_MERGE))

unsigned char *tokenizer_image(const spdf_tokenizer *tok, size_t *size)
{
    const size_t body = IMAGE_HEADER_BYTES + 8 * (size_t)tok->merge_count;
    unsigned char *image = malloc(body + 4);
    if (!image) return NULL;
    memcpy(image, bpe_magic, 8);
    store_u32le(image + 8, 1);
    store_u32le(image + 12, (uint32_t)tok->merge_count);
    for (int32_t i = 0; i < tok->merge_count; i++) {
        store_u32le(image + 16 + 8 * (size_t)i, (uint32_t)tok->merges[i][0]);
        store_u32le(image + 20 + 8 * (size_t)i, (uint32_t)tok->merges[i][1]);
    }
    store_u32le(image + body, spdf_crc32c(0, image, body));
    *size = body + 4;
    return image;
}

spdf_status tokenizer_from_image(const unsigned char *image, size_t size, const char *where,
                                 spdf_tokenizer **out)
{
    if (size < IMAGE_HEADER_BYTES || memcmp(image, bpe_magic, 8) != 0)
        return spdf_fail(SPDF_EFORMAT, "%s is not a libspdf tokenizer file (no SPDFBPE1 header)",
                         where);
    const uint32_t version = load_u32le(image + 8), merges = load_u32le(image + 12);
    if (version != 1 || merges > IMAGE_MAX_MERGES)
        return spdf_fail(SPDF_EFORMAT, "%s: version %u with %u merges is not supported", where,
                         (unsigned)version, (unsigned)merges);
    const size_t body = IMAGE_HEADER_BYTES + 8 * (size_t)merges;
    if (size != body + 4)
        return spdf_fail(SPDF_EFORMAT, "%s is %s: %u merges need %zu bytes", where,
                         size > body + 4 ? "longer than its header says" : "truncated",
                         (unsigned)merges, body + 4);
    if (load_u32le(image + body) != spdf_crc32c(0, image, body))
        return spdf_fail(SPDF_EFORMAT, "%s is corrupted (CRC-32C mismatch)", where);
    spdf_tokenizer *tok = tokenizer_alloc(TOKENIZER_BPE);
    if (!tok || !(tok->merges = malloc((merges ? merges : 1) * sizeof *tok->merges))) {
        spdf_tokenizer_free(tok);
        return spdf_fail(SPDF_ENOMEM, "out of memory for %s", where);
    }
    tok->merge_count = (int32_t)merges;
    for (uint32_t i = 0; i < merges; i++) {
        tok->merges[i][0] = (int32_t)load_u32le(image + 16 + 8 * (size_t)i);
        tok->merges[i][1] = (int32_t)load_u32le(image + 20 + 8 * (size_t)i);
    }
    const spdf_status status = finish(tok, where);
    if (status != SPDF_OK) {
        spdf_tokenizer_free(tok);
        return status;
    }
    *out = tok;
    return SPDF_OK;
}

/* The CRC-32C of a description of the tokenizer: for libspdf's BPE the bytes its file holds
 * before the final CRC, which is therefore the file's last four bytes; for GPT-2's, a kind tag,
 * every id's bytes (each after its u32 length) and every merge's two ids, in rank order. */
uint32_t tokenizer_checksum(const spdf_tokenizer *tok)
{
    unsigned char word[8];
    uint32_t crc = 0;
    if (tok->kind == TOKENIZER_BPE) {
        unsigned char head[IMAGE_HEADER_BYTES];
        memcpy(head, bpe_magic, 8);
        store_u32le(head + 8, 1);
        store_u32le(head + 12, (uint32_t)tok->merge_count);
        crc = spdf_crc32c(crc, head, sizeof head);
    } else {
        crc = spdf_crc32c(crc, "GPT2", 4);
        store_u32le(word, (uint32_t)tok->vocab_size);
        crc = spdf_crc32c(crc, word, 4);
        for (int32_t id = 0; id < tok->vocab_size; id++) {
            const int64_t length = tok->offset[id + 1] - tok->offset[id];
            store_u32le(word, (uint32_t)length);
            crc = spdf_crc32c(crc, word, 4);
            crc = spdf_crc32c(crc, tok->bytes + tok->offset[id], (size_t)length);
        }
        store_u32le(word, (uint32_t)tok->merge_count);
        crc = spdf_crc32c(crc, word, 4);
    }
    for (int32_t i = 0; i < tok->merge_count; i++) {
        store_u32le(word, (uint32_t)tok->merges[i][0]);
        store_u32le(word + 4, (uint32_t)tok->merges[i][1]);
        crc = spdf_crc32c(crc, word, 8);
    }
    return crc;
}

spdf_status spdf_tokenizer_checksum(const spdf_tokenizer *tok, uint32_t *checksum)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(tok, HANDLE_TOKENIZER);
    SPDF_CHECK_ARG(checksum);
    *checksum = tokenizer_checksum(tok);
    return SPDF_OK;
}

typedef struct image_context {
    const unsigned char *image;
    size_t size;
} image_context;

static spdf_status write_image(FILE *file, const char *tmp_path, void *context)
{
    const image_context *c = context;
    if (fwrite(c->image, 1, c->size, file) != c->size)
        return io_fail(errno, "write", "tokenizer", tmp_path);
    return SPDF_OK;
}

spdf_status spdf_tokenizer_save(const spdf_tokenizer *tok, const char *path)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(tok, HANDLE_TOKENIZER);
    SPDF_CHECK_ARG(path);
    if (tok->kind != TOKENIZER_BPE)
        return spdf_fail(SPDF_EUNSUPPORTED, "spdf_tokenizer_save: a tokenizer read from GPT-2's "
                         "vocab.json and merges.txt has no libspdf file; keep those two files");
    image_context c;
    unsigned char *image = tokenizer_image(tok, &c.size);
    if (!image) return spdf_fail(SPDF_ENOMEM, "out of memory for the tokenizer file");
    c.image = image;
    const spdf_status status = write_file_atomically(path, "tokenizer", write_image, &c);
    free(image);
    return status;
}

/* "tokenizer '<path>'" for messages (malloc'd); NULL when out of memory. */
static char *describe(const char *path)
{
    const size_t bytes = strlen(path) + sizeof "tokenizer ''";
    char *where = malloc(bytes);
    if (where) snprintf(where, bytes, "tokenizer '%s'", path);
    return where;
}

spdf_status spdf_tokenizer_load(const char *path, spdf_tokenizer **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(path);
    SPDF_CHECK_ARG(out);
    *out = NULL;
    FILE *file = fopen(path, "rb");
    if (!file) return io_fail(errno, "open", "tokenizer", path);
    struct stat info;
    if (fstat(fileno(file), &info) == 0 && S_ISDIR(info.st_mode)) {
        fclose(file);
        return io_fail(EISDIR, "read", "tokenizer", path);
    }
    /* the header says how long the file must be; one byte more is read to notice a longer one */
    unsigned char header[IMAGE_HEADER_BYTES];
    const size_t got = fread(header, 1, sizeof header, file);
    size_t expected = IMAGE_HEADER_BYTES + 4;
    if (got == sizeof header && memcmp(header, bpe_magic, 8) == 0 &&
        load_u32le(header + 12) <= IMAGE_MAX_MERGES)
        expected += 8 * (size_t)load_u32le(header + 12);
    unsigned char *image = malloc(expected + 1);
    char *where = describe(path);
    if (!image || !where) {
        fclose(file);
        free(image);
        free(where);
        return spdf_fail(SPDF_ENOMEM, "out of memory reading tokenizer '%s'", path);
    }
    memcpy(image, header, got);
    size_t size = got;
    if (got == sizeof header) size += fread(image + got, 1, expected + 1 - got, file);
    const int error = ferror(file) ? (errno ? errno : EIO) : 0;
    fclose(file);
    const spdf_status status = error ? io_fail(error, "read", "tokenizer", path)
                                     : tokenizer_from_image(image, size, where, out);
    free(image);
    free(where);
    return status;
}
