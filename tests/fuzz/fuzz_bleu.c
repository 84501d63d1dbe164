/* BLEU and NIST of arbitrary bytes.  The input's first byte picks the options (tokenizer,
 * lowercasing, smoothing, orders); the rest, split at newlines, is a hypothesis and up to eight
 * references.  Invalid UTF-8 must be SPDF_EINVAL; valid text must score in range, and a
 * hypothesis with tokens scored against itself must get BLEU 1. */
#include "fuzz_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_REFERENCES = 8 };

static spdf_bleu_options options_from(uint8_t choice)
{
    /* The last order is past SPDF_BLEU_MAX_ORDER: it must be rejected, not read. */
    static const int32_t orders[8] = {1, 2, 3, 4, 5, 6, SPDF_BLEU_MAX_ORDER, SPDF_BLEU_MAX_ORDER + 1};
    spdf_bleu_options options;
    spdf_bleu_options_init(&options);
    options.tokenize = choice & 3; /* 3 is no tokenizer */
    options.lowercase = choice >> 2 & 1;
    options.smooth = choice >> 3 & 3;
    options.max_order = orders[choice >> 5];
    options.nist_order = orders[7 - (choice >> 5)];
    return options;
}

static int options_are_valid(const spdf_bleu_options *o)
{
    return o->tokenize <= SPDF_BLEU_TOKENIZE_CHAR && o->max_order <= SPDF_BLEU_MAX_ORDER &&
           o->nist_order <= SPDF_BLEU_MAX_ORDER;
}

static void check_result(const spdf_bleu_result *r)
{
    if (!(r->bleu >= 0 && r->bleu <= 1) || !(r->nist >= 0) || !isfinite(r->nist))
        fuzz_fail("BLEU %g, NIST %g out of range", r->bleu, r->nist);
    for (int32_t n = 0; n < r->max_order; n++)
        if (r->matches[n] < 0 || r->matches[n] > r->totals[n])
            fuzz_fail("order %d: %lld matches of %lld", n + 1, (long long)r->matches[n], (long long)r->totals[n]);
}

/* The hypothesis against itself, in a fresh corpus: every n-gram matches. */
static void check_self_match(const char *hypothesis, const spdf_bleu_options *options)
{
    spdf_bleu *bleu = NULL;
    if (spdf_bleu_create(&bleu) != SPDF_OK || spdf_bleu_add(bleu, hypothesis, &hypothesis, 1) != SPDF_OK)
        fuzz_fail("self match: %s", spdf_last_error());
    spdf_bleu_options self = *options;
    self.effective_order = 1;
    spdf_bleu_result r;
    r.struct_size = sizeof r;
    if (spdf_bleu_score(bleu, &self, &r) != SPDF_OK) fuzz_fail("self match: %s", spdf_last_error());
    if (r.hyp_length > 0 && fabs(r.bleu - 1.0) > 1e-12) fuzz_fail("self match scores BLEU %.17g", r.bleu);
    spdf_bleu_free(bleu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const spdf_bleu_options options = options_from(data[0]);
    char *text = malloc(size);
    if (!text) fuzz_fail("out of memory");
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    const char *lines[1 + MAX_REFERENCES];
    int32_t count = 0;
    for (char *line = text; line && count < 1 + MAX_REFERENCES; count++) {
        lines[count] = line;
        line = strchr(line, '\n');
        if (line) *line++ = '\0';
    }
    int valid = 1;
    for (int32_t i = 0; i < count; i++) valid &= fuzz_is_utf8((const uint8_t *)lines[i], strlen(lines[i]));
    const int options_valid = options_are_valid(&options);
    const int32_t references = count > 1 ? count - 1 : 1;
    const char *const *reference_lines = count > 1 ? lines + 1 : lines;

    spdf_bleu *bleu = NULL;
    if (spdf_bleu_create(&bleu) != SPDF_OK) fuzz_fail("spdf_bleu_create: %s", spdf_last_error());
    const spdf_status added = spdf_bleu_add(bleu, lines[0], reference_lines, references);
    if (added != (valid ? SPDF_OK : SPDF_EINVAL))
        fuzz_fail("spdf_bleu_add returned %s for %s UTF-8", spdf_status_name(added), valid ? "valid" : "invalid");
    spdf_bleu_result result;
    result.struct_size = sizeof result;
    const spdf_status scored = spdf_bleu_score(bleu, &options, &result);
    if (scored != (options_valid ? SPDF_OK : SPDF_EINVAL))
        fuzz_fail("spdf_bleu_score returned %s for %s options", spdf_status_name(scored),
                  options_valid ? "valid" : "invalid");
    if (scored == SPDF_OK) check_result(&result);
    double sentence = -1;
    const spdf_status sentence_status =
        spdf_sentence_bleu(lines[0], reference_lines, references, options_valid ? &options : NULL, &sentence);
    if (sentence_status != (valid ? SPDF_OK : SPDF_EINVAL))
        fuzz_fail("spdf_sentence_bleu returned %s", spdf_status_name(sentence_status));
    if (sentence_status == SPDF_OK && !(sentence >= 0 && sentence <= 1)) fuzz_fail("sentence BLEU %g", sentence);
    if (valid && options_valid) check_self_match(lines[0], &options);
    spdf_bleu_free(bleu);
    free(text);
    return 0;
}
