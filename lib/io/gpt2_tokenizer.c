/* GPT-2's own tokenizer files as an spdf_tokenizer (docs/token-format.md, "GPT-2's tokenizer
 * files"): vocab.json maps every token, written in GPT-2's byte-to-unicode alphabet, to its id;
 * merges.txt lists the merges of two tokens, best first.  Text is cut into pieces by GPT-2's
 * pattern
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * each piece starts as the ids of its bytes, and merges are applied by rank (io/tokenizer.h), as
 * OpenAI's encoder.py does; nothing is cut short and no special token is ever produced. */
#include "io/tokenizer.h"
#include "core/core.h"
#include "io/file_io.h"
#include "io/json.h"
#include "io/text.h"
#include "io/unicode_classes.h"

#include <stdlib.h>
#include <string.h>

#define GPT2_MAX_VOCAB (1 << 24)
/* GPT-2's end of text; its characters stand for themselves in the byte-to-unicode alphabet, so
 * the token decodes to this text. */
#define GPT2_END_OF_TEXT "<|endoftext|>"

/* ---- GPT-2's byte-to-unicode alphabet ---- */

/* The bytes that stand for themselves: '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF. */
static int printable_byte(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The byte a character of the alphabet stands for, or -1: the other 68 bytes, in increasing
 * order, are written U+0100, U+0101, ... */
static int byte_of_char(uint32_t cp)
{
    if (cp < 0x100) return printable_byte(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68) return -1;
    unsigned rank = cp - 0x100;
    for (unsigned b = 0; b < 256; b++)
        if (!printable_byte(b) && rank-- == 0) return (int)b;
    return -1;
}

static uint32_t char_of_byte(unsigned b)
{
    if (printable_byte(b)) return b;
    uint32_t cp = 0x100;
    for (unsigned below = 0; below < b; below++) cp += !printable_byte(below);
    return cp;
}

/* ---- the pre-tokeniser ---- */

typedef enum char_class { CHAR_OTHER, CHAR_LETTER, CHAR_NUMBER, CHAR_SPACE } char_class;

/* \s: Unicode's White_Space property (U+0009..U+000D, U+0020, U+0085 and the separators Zs, Zl,
 * Zp), as in the regular expression engines that run GPT-2's pattern. */
static int white_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* The character at s[i] (i < n): its class, and its length in bytes.  A byte that does not start
 * a well-formed UTF-8 sequence is one character of class CHAR_OTHER. */
static size_t next_char(const unsigned char *s, size_t n, size_t i, char_class *kind)
{
    uint32_t cp;
    const size_t length = utf8_decode((const char *)s + i, n - i, &cp);
    if (length == 0) {
        *kind = CHAR_OTHER;
        return 1;
    }
    if (white_space(cp)) *kind = CHAR_SPACE;
    else {
        const unicode_class c = unicode_class_of(cp);
        *kind = c == UNICODE_LETTER ? CHAR_LETTER : c == UNICODE_NUMBER ? CHAR_NUMBER : CHAR_OTHER;
    }
    return length;
}

/* 's, 't, 're, 've, 'm, 'll or 'd at s[i]: its length, else 0. */
static size_t contraction(const unsigned char *s, size_t n, size_t i)
{
    if (s[i] != '\'' || i + 1 >= n) return 0;
    const unsigned char a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* End of the piece that starts at s[i]: the first alternative of the pattern that matches there,
 * each taking as much as it can. */
static size_t piece_end(const unsigned char *s, size_t n, size_t i)
{
    const size_t apostrophe = contraction(s, n, i);
    if (apostrophe) return i + apostrophe;
    char_class kind, after;
    size_t j = i + next_char(s, n, i, &kind);
    if (s[i] == ' ' && j < n) { /* " ?" belongs to a following letter, number or other run */
        const size_t length = next_char(s, n, j, &after);
        if (after != CHAR_SPACE) {
            kind = after;
            j += length;
        }
    }
    if (kind != CHAR_SPACE) { /* \p{L}+, \p{N}+ or [^\s\p{L}\p{N}]+ */
        char_class c;
        for (size_t length; j < n && (length = next_char(s, n, j, &c)) > 0 && c == kind;) j += length;
        return j;
    }
    /* \s+(?!\S): a run of white space, less its last character when something else follows and
     * that leaves one; otherwise \s+, the whole run */
    size_t last = i, count = 1;
    char_class c;
    for (size_t length; j < n && (length = next_char(s, n, j, &c)) > 0 && c == CHAR_SPACE; count++) {
        last = j;
        j += length;
    }
    return j < n && count >= 2 ? last : j;
}

spdf_status gpt2_encode(const spdf_tokenizer *tok, const unsigned char *text, size_t len,
                        int32_t *out, size_t cap, size_t *count)
{
    int32_t *symbols = NULL;
    size_t room = 0, produced = 0;
    for (size_t i = 0, e; i < len; i = e) {
        e = piece_end(text, len, i);
        const size_t n = e - i;
        if (n > INT32_MAX) {
            free(symbols);
            return spdf_fail(SPDF_EINVAL, "spdf_tokenizer_encode: a piece of %zu bytes (at most "
                             "%d)", n, INT32_MAX);
        }
        if (n > room) {
            int32_t *grown = realloc(symbols, n * sizeof *symbols);
            if (!grown) {
                free(symbols);
                return spdf_fail(SPDF_ENOMEM, "out of memory encoding a piece of %zu bytes", n);
            }
            symbols = grown;
            room = n;
        }
        for (size_t k = 0; k < n; k++) symbols[k] = tok->byte_id[text[i + k]];
        const int32_t merged = tokenizer_merge_piece(tok, symbols, (int32_t)n);
        for (int32_t k = 0; k < merged; k++, produced++)
            if (out && produced < cap) out[produced] = symbols[k];
    }
    free(symbols);
    *count = produced;
    return SPDF_OK;
}

/* ---- reading the files ---- */

typedef struct gpt2_reader {
    const char *vocab_path, *merges_path;
    text_map ids;         /* every token as vocab.json writes it -> its id */
    spdf_tokenizer *tok;
    int64_t *merge_lines; /* (merge_count) the line of merges.txt each merge came from */
} gpt2_reader;

static spdf_status out_of_memory(const char *path)
{
    return spdf_fail(SPDF_ENOMEM, "out of memory reading '%s'", path);
}

/* The token for a message: at most 40 bytes, cut at a character boundary. */
static const char *shown(const char *token, char buffer[48])
{
    size_t n = strlen(token);
    if (n <= 40) return token;
    n = 40;
    while (n > 0 && ((unsigned char)token[n] & 0xC0) == 0x80) n--;
    memcpy(buffer, token, n);
    memcpy(buffer + n, "...", 4);
    return buffer;
}

/* The bytes a token of vocab.json stands for, written to bytes (NULL: only counted); returns
 * their number, or 0 after recording an error (an empty token, a character outside the
 * alphabet). */
static size_t token_bytes(const gpt2_reader *r, const char *token, int64_t line, unsigned char *bytes)
{
    const size_t length = strlen(token);
    size_t count = 0;
    char buffer[48];
    for (size_t i = 0, step; i < length; i += step) {
        uint32_t cp = 0;
        step = utf8_decode(token + i, length - i, &cp); /* the JSON parser checked the UTF-8 */
        const int byte = step ? byte_of_char(cp) : -1;
        if (byte < 0) {
            file_syntax_fail(r->vocab_path, line, "the token \"%s\" has the character U+%04X, "
                             "which stands for no byte in GPT-2's byte-to-unicode alphabet",
                             shown(token, buffer), (unsigned)cp);
            return 0;
        }
        if (bytes) bytes[count] = (unsigned char)byte;
        count++;
    }
    if (count == 0) file_syntax_fail(r->vocab_path, line, "an empty token");
    return count;
}

/* The id of a member of vocab.json: a non-negative integer below the number of tokens. */
static spdf_status member_id(const gpt2_reader *r, const char *token, const json_value *value,
                             size_t tokens, int32_t *id)
{
    char buffer[48];
    int digits = value->type == JSON_NUMBER && value->length <= 9;
    for (size_t i = 0; digits && i < value->length; i++) digits = value->text[i] >= '0' && value->text[i] <= '9';
    if (!digits)
        return file_syntax_fail(r->vocab_path, value->line, "the id of \"%s\" is %s, not an "
                                "integer from 0 to %d", shown(token, buffer),
                                value->type == JSON_NUMBER ? value->text : json_type_name(value->type),
                                GPT2_MAX_VOCAB - 1);
    const long parsed = strtol(value->text, NULL, 10);
    if ((size_t)parsed >= tokens)
        return file_syntax_fail(r->vocab_path, value->line, "the id %ld of \"%s\" is not below the "
                                "number of tokens, %zu: the ids must be 0 .. %zu", parsed,
                                shown(token, buffer), tokens, tokens - 1);
    *id = (int32_t)parsed;
    return SPDF_OK;
}

/* Every id's bytes in the decoding table, the map from tokens to ids, the ids of single bytes. */
static spdf_status fill_vocabulary(gpt2_reader *r, const json_value *root)
{
    spdf_tokenizer *tok = r->tok;
    const size_t tokens = root->count;
    int64_t *length = calloc(tokens, sizeof *length);
    int32_t *id_of = malloc(tokens * sizeof *id_of);
    tok->offset = malloc((tokens + 1) * sizeof *tok->offset);
    spdf_status status = length && id_of && tok->offset ? SPDF_OK : out_of_memory(r->vocab_path);
    for (size_t m = 0; status == SPDF_OK && m < tokens; m++) {
        const json_value *value = &root->items[m];
        status = member_id(r, root->keys[m], value, tokens, &id_of[m]);
        if (status == SPDF_OK && length[id_of[m]] > 0)
            status = file_syntax_fail(r->vocab_path, value->line, "the id %d is given to two tokens",
                                      (int)id_of[m]);
        if (status == SPDF_OK && (length[id_of[m]] = (int64_t)token_bytes(r, root->keys[m], value->line, NULL)) == 0)
            status = SPDF_EFORMAT;
        if (status == SPDF_OK && strcmp(root->keys[m], GPT2_END_OF_TEXT) == 0) tok->end_of_text = id_of[m];
        int64_t known = 0;
        if (status == SPDF_OK &&
            text_map_intern(&r->ids, root->keys[m], strlen(root->keys[m]), id_of[m], &known, NULL) != 0)
            status = out_of_memory(r->vocab_path);
    }
    if (status == SPDF_OK) {
        tok->offset[0] = 0;
        for (size_t id = 0; id < tokens; id++) tok->offset[id + 1] = tok->offset[id] + length[id];
        tok->bytes = malloc((size_t)tok->offset[tokens] + 1);
        if (!tok->bytes) status = out_of_memory(r->vocab_path);
    }
    for (size_t m = 0; status == SPDF_OK && m < tokens; m++)
        token_bytes(r, root->keys[m], 0, tok->bytes + tok->offset[id_of[m]]);
    for (int b = 0; b < 256; b++) tok->byte_id[b] = -1;
    for (size_t id = 0; status == SPDF_OK && id < tokens; id++)
        if (length[id] == 1) tok->byte_id[tok->bytes[tok->offset[id]]] = (int32_t)id;
    for (int b = 0; status == SPDF_OK && b < 256; b++)
        if (tok->byte_id[b] < 0)
            status = spdf_fail(SPDF_EFORMAT, "'%s' has no token for the byte 0x%02X (U+%04X): "
                               "byte-level BPE needs all 256", r->vocab_path, (unsigned)b,
                               (unsigned)char_of_byte((unsigned)b));
    free(length);
    free(id_of);
    return status;
}

static spdf_status read_vocabulary(gpt2_reader *r)
{
    char *text = NULL;
    size_t size = 0;
    SPDF_TRY(text_read_file(r->vocab_path, &text, &size));
    spdf_status status = text_check_utf8(r->vocab_path, text, size);
    json_value *root = NULL;
    const size_t bom = text_bom_length(text, size);
    if (status == SPDF_OK) status = json_parse(r->vocab_path, 1, text + bom, size - bom, &root);
    free(text);
    if (status == SPDF_OK && (root->type != JSON_OBJECT || root->count == 0))
        status = file_syntax_fail(r->vocab_path, root->line, "vocab.json must be a JSON object "
                                  "mapping every token to its id, not %s",
                                  root->type == JSON_OBJECT ? "an empty object" : json_type_name(root->type));
    if (status == SPDF_OK && root->count > GPT2_MAX_VOCAB)
        status = spdf_fail(SPDF_EFORMAT, "'%s' has %zu tokens, more than %d", r->vocab_path,
                           root->count, GPT2_MAX_VOCAB);
    if (status == SPDF_OK) {
        r->tok->vocab_size = (int32_t)root->count;
        status = fill_vocabulary(r, root);
    }
    json_free(root);
    return status;
}

/* The id of a token merges.txt names (bytes [0, n) of s), or -1 if vocab.json has none. */
static int32_t id_of_token(gpt2_reader *r, const char *s, size_t n, spdf_status *status)
{
    int64_t id = -1;
    int inserted = 0;
    if (text_map_intern(&r->ids, s, n, -1, &id, &inserted) != 0) *status = out_of_memory(r->merges_path);
    return inserted ? -1 : (int32_t)id;
}

/* merges.txt names a token (bytes [0, n) of s) that vocab.json does not have. */
static spdf_status missing_token(const gpt2_reader *r, int64_t number, const char *what,
                                 const char *s, size_t n)
{
    char token[48], buffer[48];
    const size_t kept = n < sizeof token - 1 ? n : sizeof token - 1;
    memcpy(token, s, kept);
    token[kept] = '\0';
    return file_syntax_fail(r->merges_path, number, "the %s \"%s\" is not in '%s'", what,
                            shown(token, buffer), r->vocab_path);
}

/* One line "left right" of merges.txt: the merge of rank tok->merge_count. */
static spdf_status read_merge(gpt2_reader *r, const char *line, size_t n, int64_t number)
{
    spdf_tokenizer *tok = r->tok;
    const char *space = memchr(line, ' ', n);
    if (!space || space == line || space == line + n - 1 || memchr(space + 1, ' ', (size_t)(line + n - space - 1)))
        return file_syntax_fail(r->merges_path, number, "a merge is two tokens separated by one space");
    const size_t left_length = (size_t)(space - line), right_length = n - left_length - 1;
    spdf_status status = SPDF_OK;
    const int32_t left = id_of_token(r, line, left_length, &status);
    const int32_t right = status == SPDF_OK ? id_of_token(r, space + 1, right_length, &status) : -1;
    SPDF_TRY(status);
    if (left < 0) return missing_token(r, number, "token", line, left_length);
    if (right < 0) return missing_token(r, number, "token", space + 1, right_length);
    char *joined = malloc(n);
    if (!joined) return out_of_memory(r->merges_path);
    memcpy(joined, line, left_length);
    memcpy(joined + left_length, space + 1, right_length);
    const int32_t merged = id_of_token(r, joined, n - 1, &status);
    if (status == SPDF_OK && merged < 0) status = missing_token(r, number, "merged token", joined, n - 1);
    free(joined);
    SPDF_TRY(status);
    const uint64_t key = pair_key(left, right);
    const int64_t earlier = pair_map_get(&tok->lookup, key);
    if (earlier >= 0)
        return file_syntax_fail(r->merges_path, number, "the merge repeats line %lld",
                                (long long)r->merge_lines[earlier >> 32]);
    pair_map_add(&tok->lookup, key, (int64_t)tok->merge_count << 32 | merged);
    tok->merges[tok->merge_count][0] = left;
    tok->merges[tok->merge_count][1] = right;
    r->merge_lines[tok->merge_count++] = number;
    return SPDF_OK;
}

/* Every line is a merge, best first, except a first line "#version ..." and empty lines; a
 * line may end in "\r\n". */
static spdf_status read_merges(gpt2_reader *r)
{
    char *text = NULL;
    size_t size = 0;
    SPDF_TRY(text_read_file(r->merges_path, &text, &size));
    spdf_status status = text_check_utf8(r->merges_path, text, size);
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += text[i] == '\n';
    spdf_tokenizer *tok = r->tok;
    if (status == SPDF_OK &&
        (!(tok->merges = malloc(lines * sizeof *tok->merges)) ||
         !(r->merge_lines = malloc(lines * sizeof *r->merge_lines)) || !pair_map_init(&tok->lookup, lines)))
        status = out_of_memory(r->merges_path);
    const char *at = text + text_bom_length(text, size), *end = text + size;
    for (int64_t number = 1; status == SPDF_OK && at < end; number++) {
        const char *newline = memchr(at, '\n', (size_t)(end - at));
        const char *stop = newline ? newline : end;
        size_t n = (size_t)(stop - at);
        if (n > 0 && at[n - 1] == '\r') n--;
        const int header = number == 1 && n >= 8 && memcmp(at, "#version", 8) == 0;
        if (n > 0 && !header) status = read_merge(r, at, n, number);
        at = newline ? newline + 1 : end;
    }
    free(text);
    return status;
}

static void reader_free(gpt2_reader *r)
{
    text_map_free(&r->ids);
    free(r->merge_lines);
}

spdf_status spdf_tokenizer_load_gpt2(const char *vocab_path, const char *merges_path,
                                     spdf_tokenizer **out)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(vocab_path);
    SPDF_CHECK_ARG(merges_path);
    SPDF_CHECK_ARG(out);
    gpt2_reader r = {vocab_path, merges_path, {0}, tokenizer_alloc(TOKENIZER_GPT2), NULL};
    spdf_status status = r.tok ? read_vocabulary(&r) : out_of_memory(vocab_path);
    if (status == SPDF_OK) status = read_merges(&r);
    reader_free(&r);
    if (status != SPDF_OK) {
        spdf_tokenizer_free(r.tok);
        return status;
    }
    *out = r.tok;
    return SPDF_OK;
}
