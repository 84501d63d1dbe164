/* Corpus BLEU and NIST as mteval-v13a computes them (with the E2E challenge's handling of a
 * varying number of references), plus sacreBLEU's smoothing methods for sentence BLEU.
 * docs/evaluation.md states every rule implemented here and the reference numbers it matches. */
#include "core/core.h"
#include "io/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FLOOR 0.1
#define DEFAULT_ADD_K 1.0

struct spdf_bleu {
    uint32_t tag; /* HANDLE_BLEU (core/core.h), first */
    int64_t count, cap; /* segments */
    char **hypotheses;  /* (count) */
    int64_t *first_ref; /* (count + 1): segment s owns references[first_ref[s], first_ref[s+1]) */
    char **references;  /* (first_ref[count]) */
    int64_t ref_cap;
};

/* ---- options ---- */

spdf_status spdf_bleu_options_init(spdf_bleu_options *options)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(options);
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->tokenize = SPDF_BLEU_TOKENIZE_13A;
    options->lowercase = 1;
    options->smooth = SPDF_BLEU_SMOOTH_EXP;
    options->effective_order = 0;
    options->smooth_value = -1.0;
    options->max_order = 4;
    options->nist_order = 5;
    return SPDF_OK;
}

/* Copies the caller's options over the defaults and checks them; the smoothing value is
 * resolved to the method's default when negative. */
static spdf_status resolve_options(const spdf_bleu_options *options, spdf_bleu_options *out)
{
    spdf_bleu_options_init(out);
    if (options)
        SPDF_TRY(spdf_struct_read(out, sizeof *out, options,
                                  SPDF_SIZE_THROUGH(spdf_bleu_options, nist_order),
                                  "spdf_bleu_options"));
    if (out->tokenize < SPDF_BLEU_TOKENIZE_13A || out->tokenize > SPDF_BLEU_TOKENIZE_CHAR)
        return spdf_fail(SPDF_EINVAL, "spdf_bleu_options.tokenize: unknown value %d",
                         (int)out->tokenize);
    if (out->smooth < SPDF_BLEU_SMOOTH_NONE || out->smooth > SPDF_BLEU_SMOOTH_ADD_K)
        return spdf_fail(SPDF_EINVAL, "spdf_bleu_options.smooth: unknown value %d",
                         (int)out->smooth);
    if ((out->lowercase != 0 && out->lowercase != 1) ||
        (out->effective_order != 0 && out->effective_order != 1))
        return spdf_fail(SPDF_EINVAL,
                         "spdf_bleu_options: lowercase and effective_order must be 0 "
                         "or 1, got %d and %d",
                         (int)out->lowercase, (int)out->effective_order);
    if (out->max_order < 1 || out->max_order > SPDF_BLEU_MAX_ORDER || out->nist_order < 1 ||
        out->nist_order > SPDF_BLEU_MAX_ORDER)
        return spdf_fail(SPDF_EINVAL,
                         "spdf_bleu_options: max_order (%d) and nist_order (%d) must "
                         "be in [1, %d]",
                         (int)out->max_order, (int)out->nist_order, SPDF_BLEU_MAX_ORDER);
    if (!isfinite(out->smooth_value))
        return spdf_fail(SPDF_EINVAL, "spdf_bleu_options.smooth_value is not finite");
    if (out->smooth_value < 0)
        out->smooth_value = out->smooth == SPDF_BLEU_SMOOTH_ADD_K ? DEFAULT_ADD_K : DEFAULT_FLOOR;
    return SPDF_OK;
}

/* ---- the accumulator ---- */

spdf_status spdf_bleu_create(spdf_bleu **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(out);
    spdf_bleu *bleu = calloc(1, sizeof *bleu);
    if (bleu) bleu->tag = HANDLE_BLEU;
    if (bleu) bleu->first_ref = calloc(1, sizeof *bleu->first_ref);
    if (!bleu || !bleu->first_ref) {
        free(bleu);
        return spdf_fail(SPDF_ENOMEM, "out of memory for a BLEU accumulator");
    }
    *out = bleu;
    return SPDF_OK;
}

void spdf_bleu_free(spdf_bleu *bleu)
{
    if (!spdf_handle_is(bleu, HANDLE_BLEU)) return; /* NULL, freed, or not a bleu */
    for (int64_t i = 0; i < bleu->count; i++) free(bleu->hypotheses[i]);
    for (int64_t i = 0; i < bleu->first_ref[bleu->count]; i++) free(bleu->references[i]);
    free(bleu->hypotheses);
    free(bleu->first_ref);
    free(bleu->references);
    spdf_handle_poison(bleu);
    free(bleu);
}

static int is_utf8(const char *s)
{
    const size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        const size_t len = utf8_decode(s + i, n - i, &cp);
        if (len == 0) return 0;
        i += len;
    }
    return 1;
}

static int reserve_segments(spdf_bleu *bleu, int64_t n_refs)
{
    if (bleu->count == bleu->cap) {
        const int64_t cap = bleu->cap ? 2 * bleu->cap : 64;
        char **hypotheses = realloc(bleu->hypotheses, (size_t)cap * sizeof *hypotheses);
        if (!hypotheses) return -1;
        bleu->hypotheses = hypotheses;
        int64_t *first_ref = realloc(bleu->first_ref, (size_t)(cap + 1) * sizeof *first_ref);
        if (!first_ref) return -1;
        bleu->first_ref = first_ref;
        bleu->cap = cap;
    }
    const int64_t need = bleu->first_ref[bleu->count] + n_refs;
    if (need > bleu->ref_cap) {
        int64_t cap = bleu->ref_cap ? 2 * bleu->ref_cap : 256;
        while (cap < need) cap *= 2;
        char **references = realloc(bleu->references, (size_t)cap * sizeof *references);
        if (!references) return -1;
        bleu->references = references;
        bleu->ref_cap = cap;
    }
    return 0;
}

spdf_status spdf_bleu_add(spdf_bleu *bleu, const char *hypothesis, const char *const *references,
                          int32_t n_refs)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(bleu, HANDLE_BLEU);
    SPDF_CHECK_ARG(hypothesis);
    SPDF_CHECK_ARG(references);
    if (n_refs < 1)
        return spdf_fail(SPDF_EINVAL, "%s: n_refs must be >= 1, got %d", __func__, (int)n_refs);
    for (int32_t r = 0; r < n_refs; r++)
        if (!references[r])
            return spdf_fail(SPDF_EINVAL, "%s: reference %d is NULL", __func__, (int)r);
    if (!is_utf8(hypothesis))
        return spdf_fail(SPDF_EINVAL, "%s: the hypothesis is not valid UTF-8", __func__);
    for (int32_t r = 0; r < n_refs; r++)
        if (!is_utf8(references[r]))
            return spdf_fail(SPDF_EINVAL, "%s: reference %d is not valid UTF-8", __func__, (int)r);
    if (reserve_segments(bleu, n_refs) != 0) goto out_of_memory;
    const int64_t first = bleu->first_ref[bleu->count];
    int32_t copied = 0;
    char *hyp = strdup(hypothesis);
    if (!hyp) goto out_of_memory;
    for (; copied < n_refs; copied++)
        if (!(bleu->references[first + copied] = strdup(references[copied]))) break;
    if (copied < n_refs) {
        while (copied > 0) free(bleu->references[first + --copied]);
        free(hyp);
        goto out_of_memory;
    }
    bleu->hypotheses[bleu->count] = hyp;
    bleu->first_ref[bleu->count + 1] = first + n_refs;
    bleu->count++;
    return SPDF_OK;
out_of_memory:
    return spdf_fail(SPDF_ENOMEM, "out of memory adding a BLEU segment");
}

spdf_status spdf_bleu_count(const spdf_bleu *bleu, int64_t *segments)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(bleu, HANDLE_BLEU);
    SPDF_CHECK_ARG(segments);
    *segments = bleu->count;
    return SPDF_OK;
}

/* ---- tokenization ---- */

/* Simple lowercase mapping of the capitals of ASCII, Latin-1, Latin Extended-A, Greek and basic
 * Cyrillic (as Python's str.lower() maps them); other code points map to themselves. */
static uint32_t lower_code_point(uint32_t c)
{
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x178) return 0xFF;
        const int even_upper = (c <= 0x137 && c != 0x130) || (c >= 0x14A && c <= 0x177);
        const int odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        if ((even_upper && c % 2 == 0) || (odd_upper && c % 2 == 1)) return c + 1;
        return c;
    }
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if ((c >= 0x391 && c <= 0x3A1) || (c >= 0x3A3 && c <= 0x3AB)) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    return c;
}

static int lowercase(const char *s, size_t n, text_buffer *out)
{
    text_buffer_clear(out);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        const size_t len = utf8_decode(s + i, n - i, &cp); /* valid: checked when added */
        i += len;
        if (cp == 0x130) { /* capital I with dot above: "i" + combining dot above */
            if (text_append(out, "i\xCC\x87", 3) != 0) return -1;
        } else if (text_push_utf8(out, lower_code_point(cp)) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Length of s without its trailing white space. */
static size_t length_without_trailing_space(const char *s)
{
    size_t end = 0;
    for (size_t i = 0, n = strlen(s); i < n;) {
        uint32_t cp;
        i += utf8_decode(s + i, n - i, &cp);
        if (!unicode_is_space(cp)) end = i;
    }
    return end;
}

/* dst = src with every `from` replaced by `to`, scanning left to right. */
static int replace_all(const text_buffer *src, const char *from, const char *to, text_buffer *dst)
{
    const size_t from_len = strlen(from), to_len = strlen(to);
    text_buffer_clear(dst);
    size_t i = 0;
    while (i < src->len) {
        if (src->len - i >= from_len && memcmp(src->data + i, from, from_len) == 0) {
            if (text_append(dst, to, to_len) != 0) return -1;
            i += from_len;
        } else {
            if (text_push(dst, src->data[i]) != 0) return -1;
            i++;
        }
    }
    return 0;
}

/* The punctuation mteval-v13a splits off everywhere: { | } ~ [ \ ] ^ _ ` space ! " # $ % &
 * ( ) * + : ; < = > ? @ and /. */
static int is_13a_punctuation(unsigned char c)
{
    return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) ||
           (c >= 0x28 && c <= 0x2B) || (c >= 0x3A && c <= 0x40) || c == '/';
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_period_or_comma(unsigned char c) { return c == '.' || c == ','; }

/* The three context rules of mteval-v13a, each a left-to-right pass of non-overlapping matches
 * of a two-character pattern (as a regex substitution with /g makes them):
 *   rule 0: a non-digit, then '.' or ','   ->  "x . "   (split unless preceded by a digit)
 *   rule 1: '.' or ',', then a non-digit   ->  " . x"   (split unless followed by a digit)
 *   rule 2: a digit, then '-'              ->  "9 - "
 * Working on bytes gives the same result as on code points, because the second character of
 * rules 0 and 2 and the first of rule 1 are ASCII. */
static int context_rule(const text_buffer *src, int rule, text_buffer *dst)
{
    text_buffer_clear(dst);
    const unsigned char *s = (const unsigned char *)src->data;
    size_t i = 0;
    while (i < src->len) {
        if (i + 1 < src->len) {
            const unsigned char a = s[i], b = s[i + 1];
            const int space_after = (rule == 0 && !is_digit(a) && is_period_or_comma(b)) ||
                                    (rule == 2 && is_digit(a) && b == '-');
            const int space_before = rule == 1 && is_period_or_comma(a) && !is_digit(b);
            if (space_after || space_before) {
                const char pair[4] = {space_after ? (char)a : ' ', space_after ? ' ' : (char)a,
                                      space_after ? (char)b : ' ', space_after ? ' ' : (char)b};
                if (text_append(dst, pair, 4) != 0) return -1;
                i += 2;
                continue;
            }
        }
        if (text_push(dst, (char)s[i]) != 0) return -1;
        i++;
    }
    return 0;
}

typedef struct id_vector {
    int32_t *ids;
    size_t len, cap;
} id_vector;

static int push_id(id_vector *v, int32_t id)
{
    if (v->len == v->cap) {
        const size_t cap = v->cap ? 2 * v->cap : 4096;
        int32_t *ids = realloc(v->ids, cap * sizeof *ids);
        if (!ids) return -1;
        v->ids = ids;
        v->cap = cap;
    }
    v->ids[v->len++] = id;
    return 0;
}

typedef struct tokenizer {
    const spdf_bleu_options *options;
    text_buffer a, b;    /* scratch, swapped between passes */
    text_map vocabulary; /* token text -> id */
    id_vector tokens;    /* the ids of every text tokenized so far, back to back */
} tokenizer;

static int add_token(tokenizer *t, const char *token, size_t len)
{
    int64_t id;
    if (text_map_intern(&t->vocabulary, token, len, (int64_t)t->vocabulary.count, &id, NULL) != 0)
        return -1;
    return push_id(&t->tokens, (int32_t)id);
}

/* Splits at white space; with `characters`, every other code point is a token of its own. */
static int split_tokens(tokenizer *t, const char *s, size_t n, int characters)
{
    size_t start = 0;
    int in_token = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        const size_t len = utf8_decode(s + i, n - i, &cp);
        if (unicode_is_space(cp)) {
            if (in_token && add_token(t, s + start, i - start) != 0) return -1;
            in_token = 0;
        } else if (characters) {
            if (add_token(t, s + i, len) != 0) return -1;
        } else if (!in_token) {
            start = i;
            in_token = 1;
        }
        i += len;
    }
    if (in_token && add_token(t, s + start, n - start) != 0) return -1;
    return 0;
}

/* mteval-v13a's normalisation of text (already without trailing white space) into t->a. */
static int normalise_13a(tokenizer *t, const char *text, size_t n)
{
    static const char *const replacements[][2] = {
        {"<skipped>", ""}, {"-\n", ""},   {"\n", " "},   {"&quot;", "\""},
        {"&amp;", "&"},    {"&lt;", "<"}, {"&gt;", ">"},
    };
    text_buffer_clear(&t->a);
    if (text_append(&t->a, text, n) != 0) return -1;
    for (size_t r = 0; r < sizeof replacements / sizeof replacements[0]; r++) {
        if (replace_all(&t->a, replacements[r][0], replacements[r][1], &t->b) != 0) return -1;
        const text_buffer swap = t->a;
        t->a = t->b, t->b = swap;
    }
    if (t->options->lowercase) {
        if (lowercase(t->a.data, t->a.len, &t->b) != 0) return -1;
        const text_buffer swap = t->a;
        t->a = t->b, t->b = swap;
    }
    /* " text ", with the punctuation set off by spaces */
    text_buffer_clear(&t->b);
    if (text_push(&t->b, ' ') != 0) return -1;
    for (size_t i = 0; i < t->a.len; i++) {
        const char c = t->a.data[i];
        if (is_13a_punctuation((unsigned char)c)) {
            const char spaced[3] = {' ', c, ' '};
            if (text_append(&t->b, spaced, 3) != 0) return -1;
        } else if (text_push(&t->b, c) != 0) {
            return -1;
        }
    }
    if (text_push(&t->b, ' ') != 0) return -1;
    for (int rule = 0; rule < 3; rule++) {
        if (context_rule(&t->b, rule, &t->a) != 0) return -1;
        const text_buffer swap = t->a;
        t->a = t->b, t->b = swap;
    }
    const text_buffer swap = t->a; /* the result is in b: hand it over in a */
    t->a = t->b, t->b = swap;
    return 0;
}

/* Appends the ids of text's tokens to t->tokens. */
static int tokenize(tokenizer *t, const char *text)
{
    const size_t n = length_without_trailing_space(text);
    if (t->options->tokenize == SPDF_BLEU_TOKENIZE_13A) {
        if (normalise_13a(t, text, n) != 0) return -1;
        return split_tokens(t, t->a.data, t->a.len, 0);
    }
    const int characters = t->options->tokenize == SPDF_BLEU_TOKENIZE_CHAR;
    if (!t->options->lowercase) return split_tokens(t, text, n, characters);
    if (lowercase(text, n, &t->a) != 0) return -1;
    return split_tokens(t, t->a.data, t->a.len, characters);
}

/* ---- n-gram counting ---- */

typedef struct ngram_slot {
    const int32_t *ids; /* first token of the n-gram in the corpus' token array; NULL if empty */
    uint32_t n;
    uint32_t hash;
    int64_t count;     /* corpus table: occurrences in all references */
    int64_t hyp_count; /* segment table: occurrences in the hypothesis */
    int64_t ref_max;   /* segment table: most occurrences in one reference */
    int64_t ref_count; /* segment table: occurrences in the reference `ref_stamp` */
    int64_t ref_stamp;
} ngram_slot;

typedef struct ngram_table {
    ngram_slot *slots;
    size_t cap;   /* a power of two */
    size_t *used; /* indices of the occupied slots */
    size_t count;
} ngram_table;

static uint32_t hash_ngram(const int32_t *ids, uint32_t n)
{
    uint64_t h = UINT64_C(0x9E3779B97F4A7C15) ^ n;
    for (uint32_t i = 0; i < n; i++) {
        h ^= (uint32_t)ids[i];
        h *= UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 32;
    }
    return (uint32_t)h;
}

static int table_rehash(ngram_table *table, size_t cap)
{
    ngram_slot *slots = calloc(cap, sizeof *slots);
    size_t *used = malloc(cap / 2 * sizeof *used);
    if (!slots || !used) {
        free(slots);
        free(used);
        return -1;
    }
    for (size_t k = 0; k < table->count; k++) {
        const ngram_slot *old = &table->slots[table->used[k]];
        size_t j = old->hash & (cap - 1);
        while (slots[j].ids) j = (j + 1) & (cap - 1);
        slots[j] = *old;
        used[k] = j;
    }
    free(table->slots);
    free(table->used);
    table->slots = slots;
    table->used = used;
    table->cap = cap;
    return 0;
}

static ngram_slot *table_find(const ngram_table *table, const int32_t *ids, uint32_t n, uint32_t h)
{
    if (!table->cap) return NULL;
    for (size_t j = h & (table->cap - 1);; j = (j + 1) & (table->cap - 1)) {
        ngram_slot *slot = &table->slots[j];
        if (!slot->ids) return NULL;
        if (slot->hash == h && slot->n == n && memcmp(slot->ids, ids, n * sizeof *ids) == 0)
            return slot;
    }
}

/* The slot of an n-gram, inserted with zero counts if new; NULL when memory runs out. */
static ngram_slot *table_insert(ngram_table *table, const int32_t *ids, uint32_t n)
{
    const uint32_t h = hash_ngram(ids, n);
    ngram_slot *slot = table_find(table, ids, n, h);
    if (slot) return slot;
    if (2 * (table->count + 1) > table->cap &&
        table_rehash(table, table->cap ? 2 * table->cap : 256))
        return NULL;
    size_t j = h & (table->cap - 1);
    while (table->slots[j].ids) j = (j + 1) & (table->cap - 1);
    table->slots[j] = (ngram_slot){.ids = ids, .n = n, .hash = h};
    table->used[table->count++] = j;
    return &table->slots[j];
}

static void table_clear(ngram_table *table)
{
    for (size_t k = 0; k < table->count; k++) table->slots[table->used[k]] = (ngram_slot){0};
    table->count = 0;
}

static void table_free(ngram_table *table)
{
    free(table->slots);
    free(table->used);
    *table = (ngram_table){0};
}

/* ---- scoring ---- */

/* sacreBLEU's BLEU.compute_bleu on a 0..1 scale: brevity penalty, smoothed precisions, and the
 * geometric mean over max_order orders (or, with effective_order, over the orders up to the
 * longest one the hypotheses have). */
static double compute_bleu(const spdf_bleu_options *o, const int64_t *matches,
                           const int64_t *totals, int64_t hyp_length, int64_t ref_length,
                           double *precisions, double *brevity_penalty)
{
    double bp = 1.0;
    if (hyp_length < ref_length)
        bp = hyp_length > 0 ? exp(1.0 - (double)ref_length / hyp_length) : 0.0;
    *brevity_penalty = bp;
    for (int n = 0; n < o->max_order; n++) precisions[n] = 0.0;
    int any_match = 0;
    for (int n = 0; n < o->max_order; n++) any_match |= matches[n] > 0;
    if (!any_match) return 0.0;
    double smooth = 1.0;
    int order = o->max_order;
    for (int n = 0; n < o->max_order; n++) {
        double m = (double)matches[n], t = (double)totals[n];
        if (o->smooth == SPDF_BLEU_SMOOTH_ADD_K && n > 0) {
            m += o->smooth_value;
            t += o->smooth_value;
        }
        if (t == 0.0) break;
        if (o->effective_order) order = n + 1;
        if (m == 0.0) {
            if (o->smooth == SPDF_BLEU_SMOOTH_EXP) {
                smooth *= 2.0;
                precisions[n] = 1.0 / (smooth * t);
            } else if (o->smooth == SPDF_BLEU_SMOOTH_FLOOR) {
                precisions[n] = o->smooth_value / t;
            }
        } else {
            precisions[n] = m / t;
        }
    }
    double log_sum = 0.0;
    for (int n = 0; n < order; n++) {
        if (precisions[n] <= 0.0) return 0.0;
        log_sum += log(precisions[n]);
    }
    return bp * exp(log_sum / order);
}

/* mteval-v13a's NIST brevity penalty: 1 at or above the reference length, 0.5 at 2/3 of it. */
static double nist_brevity_penalty(double ratio)
{
    if (ratio >= 1.0) return 1.0;
    if (ratio <= 0.0) return 0.0;
    const double beta = -log(0.5) / (log(1.5) * log(1.5));
    return exp(-beta * log(ratio) * log(ratio));
}

typedef struct corpus {
    tokenizer tok;
    size_t *hyp_start; /* (segments + 1) offsets of each hypothesis's tokens ... */
    size_t *ref_start; /* (references + 1) ... and of each reference's tokens */
} corpus;

static void corpus_free(corpus *c)
{
    text_buffer_free(&c->tok.a);
    text_buffer_free(&c->tok.b);
    text_map_free(&c->tok.vocabulary);
    free(c->tok.tokens.ids);
    free(c->hyp_start);
    free(c->ref_start);
}

/* Tokenizes every hypothesis and reference; tokens never move afterwards. */
static int corpus_tokenize(const spdf_bleu *bleu, corpus *c)
{
    const int64_t refs = bleu->first_ref[bleu->count];
    c->hyp_start = malloc((size_t)(bleu->count + 1) * sizeof *c->hyp_start);
    c->ref_start = malloc((size_t)(refs + 1) * sizeof *c->ref_start);
    if (!c->hyp_start || !c->ref_start) return -1;
    for (int64_t s = 0; s < bleu->count; s++) {
        c->hyp_start[s] = c->tok.tokens.len;
        if (tokenize(&c->tok, bleu->hypotheses[s]) != 0) return -1;
    }
    c->hyp_start[bleu->count] = c->tok.tokens.len;
    for (int64_t r = 0; r < refs; r++) {
        c->ref_start[r] = c->tok.tokens.len;
        if (tokenize(&c->tok, bleu->references[r]) != 0) return -1;
    }
    c->ref_start[refs] = c->tok.tokens.len;
    return 0;
}

/* Counts of all reference n-grams up to nist_order in the whole corpus, for the information
 * weights; *words receives the number of reference tokens. */
static int count_reference_ngrams(const spdf_bleu *bleu, const corpus *c, int nist_order,
                                  ngram_table *table, int64_t *words)
{
    const int32_t *ids = c->tok.tokens.ids;
    *words = 0;
    for (int64_t r = 0; r < bleu->first_ref[bleu->count]; r++) {
        const size_t start = c->ref_start[r], len = c->ref_start[r + 1] - start;
        *words += (int64_t)len;
        for (size_t i = 0; i < len; i++) {
            for (size_t n = 1; n <= (size_t)nist_order && i + n <= len; n++) {
                ngram_slot *slot = table_insert(table, ids + start + i, (uint32_t)n);
                if (!slot) return -1;
                slot->count++;
            }
        }
    }
    return 0;
}

/* NIST's information weight of an n-gram: log2(count(first n-1 words) / count(n-gram)) over the
 * references, with the total number of reference words standing for the empty prefix. */
static double information(const ngram_table *corpus_ngrams, const int32_t *ids, uint32_t n,
                          int64_t words)
{
    const ngram_slot *ngram = table_find(corpus_ngrams, ids, n, hash_ngram(ids, n));
    const ngram_slot *prefix =
        n > 1 ? table_find(corpus_ngrams, ids, n - 1, hash_ngram(ids, n - 1)) : NULL;
    const double prefix_count = n > 1 ? (double)prefix->count : (double)words;
    return log2(prefix_count / (double)ngram->count);
}

typedef struct corpus_stats {
    int64_t matches[SPDF_BLEU_MAX_ORDER];
    int64_t totals[SPDF_BLEU_MAX_ORDER];
    double information[SPDF_BLEU_MAX_ORDER]; /* of the matched n-grams */
    int64_t hyp_length, ref_length;          /* ref_length: closest lengths */
    int64_t ref_words, ref_segments;         /* over the non-empty references */
} corpus_stats;

/* Clipped matches of one segment against the most occurrences in any one of its references. */
static int score_segment(const spdf_bleu *bleu, const corpus *c, int64_t s, int orders,
                         int nist_order, const ngram_table *corpus_ngrams, int64_t words,
                         ngram_table *table, corpus_stats *st)
{
    const int32_t *ids = c->tok.tokens.ids;
    const size_t hyp = c->hyp_start[s], hyp_len = c->hyp_start[s + 1] - hyp;
    int64_t closest = -1;
    table_clear(table);
    for (int64_t r = bleu->first_ref[s]; r < bleu->first_ref[s + 1]; r++) {
        const size_t start = c->ref_start[r], len = c->ref_start[r + 1] - start;
        if (len == 0) continue; /* empty references do not count */
        const int64_t diff = llabs((int64_t)len - (int64_t)hyp_len);
        if (closest < 0 || diff < llabs(closest - (int64_t)hyp_len) ||
            (diff == llabs(closest - (int64_t)hyp_len) && (int64_t)len < closest))
            closest = (int64_t)len;
        st->ref_words += (int64_t)len;
        st->ref_segments++;
        for (size_t i = 0; i < len; i++) {
            for (size_t n = 1; n <= (size_t)orders && i + n <= len; n++) {
                ngram_slot *slot = table_insert(table, ids + start + i, (uint32_t)n);
                if (!slot) return -1;
                if (slot->ref_stamp != r + 1) slot->ref_stamp = r + 1, slot->ref_count = 0;
                if (++slot->ref_count > slot->ref_max) slot->ref_max = slot->ref_count;
            }
        }
    }
    for (size_t i = 0; i < hyp_len; i++) {
        for (size_t n = 1; n <= (size_t)orders && i + n <= hyp_len; n++) {
            ngram_slot *slot = table_insert(table, ids + hyp + i, (uint32_t)n);
            if (!slot) return -1;
            slot->hyp_count++;
        }
    }
    for (size_t k = 0; k < table->count; k++) {
        const ngram_slot *slot = &table->slots[table->used[k]];
        const int64_t m = slot->hyp_count < slot->ref_max ? slot->hyp_count : slot->ref_max;
        if (m == 0) continue;
        st->matches[slot->n - 1] += m;
        if ((int)slot->n <= nist_order)
            st->information[slot->n - 1] +=
                (double)m * information(corpus_ngrams, slot->ids, slot->n, words);
    }
    for (int n = 1; n <= orders; n++)
        st->totals[n - 1] += hyp_len >= (size_t)n ? (int64_t)(hyp_len - n + 1) : 0;
    st->hyp_length += (int64_t)hyp_len;
    st->ref_length += closest > 0 ? closest : 0;
    return 0;
}

static int gather_stats(const spdf_bleu *bleu, const spdf_bleu_options *o, corpus_stats *st)
{
    const int orders = o->max_order > o->nist_order ? o->max_order : o->nist_order;
    corpus c = {.tok = {.options = o}};
    ngram_table corpus_ngrams = {0}, segment = {0};
    int64_t words = 0;
    int status = corpus_tokenize(bleu, &c);
    if (status == 0)
        status = count_reference_ngrams(bleu, &c, o->nist_order, &corpus_ngrams, &words);
    for (int64_t s = 0; s < bleu->count && status == 0; s++)
        status =
            score_segment(bleu, &c, s, orders, o->nist_order, &corpus_ngrams, words, &segment, st);
    table_free(&corpus_ngrams);
    table_free(&segment);
    corpus_free(&c);
    return status;
}

#define BLEU_RESULT_FIRST_SIZE SPDF_SIZE_THROUGH(spdf_bleu_result, nist_order)

static spdf_status check_result(const spdf_bleu_result *result)
{
    return spdf_check_struct_size(result->struct_size, BLEU_RESULT_FIRST_SIZE, "spdf_bleu_result");
}

spdf_status spdf_bleu_score(const spdf_bleu *bleu, const spdf_bleu_options *options,
                            spdf_bleu_result *result)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(bleu, HANDLE_BLEU);
    SPDF_CHECK_ARG(result);
    SPDF_TRY(check_result(result));
    spdf_bleu_options o;
    SPDF_TRY(resolve_options(options, &o));
    corpus_stats st = {0};
    if (gather_stats(bleu, &o, &st) != 0)
        return spdf_fail(SPDF_ENOMEM, "out of memory scoring %lld segments",
                         (long long)bleu->count);

    spdf_bleu_result r = {.struct_size = sizeof r};
    r.segments = bleu->count;
    r.max_order = o.max_order;
    r.nist_order = o.nist_order;
    r.hyp_length = st.hyp_length;
    r.ref_length = st.ref_length;
    memcpy(r.matches, st.matches, sizeof r.matches);
    memcpy(r.totals, st.totals, sizeof r.totals);
    r.bleu = compute_bleu(&o, st.matches, st.totals, st.hyp_length, st.ref_length, r.precisions,
                          &r.brevity_penalty);
    /* mteval's NIST reference length: the mean number of references per segment divides the
     * total reference words, i.e. segments x the mean length of a reference. */
    r.nist_ref_length = st.ref_segments
                            ? (double)st.ref_words * (double)bleu->count / (double)st.ref_segments
                            : 0.0;
    r.nist_brevity_penalty = r.nist_ref_length > 0
                                 ? nist_brevity_penalty((double)st.hyp_length / r.nist_ref_length)
                                 : 1.0;
    double nist = 0.0;
    for (int n = 0; n < o.nist_order; n++)
        nist += st.information[n] / (double)(st.totals[n] > 1 ? st.totals[n] : 1);
    r.nist = nist * r.nist_brevity_penalty;

    return spdf_struct_write(result, &r, sizeof r, BLEU_RESULT_FIRST_SIZE, "spdf_bleu_result");
}

spdf_status spdf_sentence_bleu(const char *hypothesis, const char *const *references,
                               int32_t n_refs, const spdf_bleu_options *options, double *bleu)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(bleu);
    spdf_bleu_options o;
    if (options) {
        SPDF_TRY(resolve_options(options, &o));
    } else {
        spdf_bleu_options_init(&o);
        o.effective_order = 1;
    }
    spdf_bleu *single;
    SPDF_TRY(spdf_bleu_create(&single));
    spdf_bleu_result result = {.struct_size = sizeof result};
    spdf_status status = spdf_bleu_add(single, hypothesis, references, n_refs);
    if (status == SPDF_OK) status = spdf_bleu_score(single, &o, &result);
    spdf_bleu_free(single);
    if (status == SPDF_OK) *bleu = result.bleu;
    return status;
}

spdf_status spdf_bleu_from_stats(const spdf_bleu_options *options, const int64_t *matches,
                                 const int64_t *totals, int64_t hyp_length, int64_t ref_length,
                                 double *bleu)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(matches);
    SPDF_CHECK_ARG(totals);
    SPDF_CHECK_ARG(bleu);
    SPDF_CHECK_ARG(hyp_length >= 0 && ref_length >= 0);
    spdf_bleu_options o;
    SPDF_TRY(resolve_options(options, &o));
    for (int n = 0; n < o.max_order; n++)
        if (matches[n] < 0 || matches[n] > totals[n])
            return spdf_fail(SPDF_EINVAL, "%s: order %d has %lld matches of %lld n-grams", __func__,
                             n + 1, (long long)matches[n], (long long)totals[n]);
    double precisions[SPDF_BLEU_MAX_ORDER], bp;
    *bleu = compute_bleu(&o, matches, totals, hyp_length, ref_length, precisions, &bp);
    return SPDF_OK;
}
