/* Unit tests of lib/eval/bleu.c: sacreBLEU's own test vectors, the official E2E scorer's numbers
 * (the TGen baseline on the test set, the scorer's example inputs), the v13a tokenizer's rules,
 * clipping and brevity with several references, NIST's weights and penalty, argument checks. */
#include "spdf.h"
#include "io/json.h"
#include "io/text.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---- */

static spdf_bleu_options options_with(int tokenize, int lowercase, int smooth, int max_order)
{
    spdf_bleu_options o;
    ck_assert_int_eq(spdf_bleu_options_init(&o), SPDF_OK);
    o.tokenize = tokenize;
    o.lowercase = lowercase;
    o.smooth = smooth;
    o.max_order = max_order;
    return o;
}

static spdf_bleu_result score(const spdf_bleu *bleu, const spdf_bleu_options *options)
{
    spdf_bleu_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    const spdf_status status = spdf_bleu_score(bleu, options, &r);
    ck_assert_msg(status == SPDF_OK, "spdf_bleu_score: %s", spdf_last_error());
    return r;
}

static void add(spdf_bleu *bleu, const char *hypothesis, const char *const *refs, int32_t n)
{
    const spdf_status status = spdf_bleu_add(bleu, hypothesis, refs, n);
    ck_assert_msg(status == SPDF_OK, "spdf_bleu_add: %s", spdf_last_error());
}

/* Scores a single segment. */
static spdf_bleu_result score_one(const char *hypothesis, const char *const *refs, int32_t n,
                                  const spdf_bleu_options *options)
{
    spdf_bleu *bleu;
    ck_assert_int_eq(spdf_bleu_create(&bleu), SPDF_OK);
    add(bleu, hypothesis, refs, n);
    const spdf_bleu_result r = score(bleu, options);
    spdf_bleu_free(bleu);
    return r;
}

static char *data_path(const char *variable, const char *relative)
{
    const char *dir = getenv(variable);
    if (!dir || !*dir) return NULL;
    char *path = malloc(strlen(dir) + strlen(relative) + 2);
    ck_assert_ptr_nonnull(path);
    sprintf(path, "%s/%s", dir, relative);
    return path;
}

static char *slurp(const char *path, size_t *len)
{
    char *text;
    const spdf_status status = text_read_file(path, &text, len);
    ck_assert_msg(status == SPDF_OK, "%s", spdf_last_error());
    return text;
}

/* The official scorer prints "%.4f": compare the same way. */
static void assert_4_decimals(double value, const char *expected, const char *what)
{
    char printed[64];
    snprintf(printed, sizeof printed, "%.4f", value);
    ck_assert_msg(strcmp(printed, expected) == 0, "%s: got %s (%.8f), expected %s", what, printed,
                  value, expected);
}

/* ---- sacreBLEU's test vectors ---- */

static const json_value *member(const json_value *object, const char *key)
{
    const json_value *value = json_member(object, key);
    ck_assert_msg(value != NULL, "vector without \"%s\"", key);
    return value;
}

/* Fills options from a vector's params; returns 0 (and says why) if libspdf lacks the tokenizer. */
static int vector_options(const json_value *params, spdf_bleu_options *o, const char **tokenize)
{
    ck_assert_int_eq(spdf_bleu_options_init(o), SPDF_OK);
    *tokenize = member(params, "tokenize")->text;
    if (strcmp(*tokenize, "13a") == 0) {
        o->tokenize = SPDF_BLEU_TOKENIZE_13A;
    } else if (strcmp(*tokenize, "none") == 0) {
        o->tokenize = SPDF_BLEU_TOKENIZE_NONE;
    } else if (strcmp(*tokenize, "char") == 0) {
        o->tokenize = SPDF_BLEU_TOKENIZE_CHAR;
    } else {
        return 0;
    }
    o->lowercase = member(params, "lowercase")->type == JSON_TRUE;
    o->effective_order = member(params, "effective_order")->type == JSON_TRUE;
    o->max_order = atoi(member(params, "max_ngram_order")->text);
    const char *smooth = member(params, "smooth_method")->text;
    o->smooth = !strcmp(smooth, "none")    ? SPDF_BLEU_SMOOTH_NONE
                : !strcmp(smooth, "exp")   ? SPDF_BLEU_SMOOTH_EXP
                : !strcmp(smooth, "floor") ? SPDF_BLEU_SMOOTH_FLOOR
                                           : SPDF_BLEU_SMOOTH_ADD_K;
    ck_assert(o->smooth != SPDF_BLEU_SMOOTH_ADD_K || !strcmp(smooth, "add-k"));
    const json_value *value = member(params, "smooth_value");
    o->smooth_value = value->type == JSON_NULL ? -1.0 : strtod(value->text, NULL);
    return 1;
}

/* BLEU (0..100) of a corpus or sentence vector. */
static double vector_bleu(const json_value *vector, const spdf_bleu_options *o)
{
    const json_value *hyps = member(vector, "hypotheses"), *streams = member(vector, "references");
    const int sentence = strcmp(member(vector, "kind")->text, "sentence") == 0;
    spdf_bleu *bleu;
    ck_assert_int_eq(spdf_bleu_create(&bleu), SPDF_OK);
    double result = -1;
    for (size_t h = 0; h < hyps->count; h++) {
        const char *refs[8];
        ck_assert_uint_le(streams->count, 8);
        for (size_t s = 0; s < streams->count; s++) refs[s] = streams->items[s].items[h].text;
        if (sentence) {
            ck_assert_uint_eq(hyps->count, 1);
            ck_assert_int_eq(
                spdf_sentence_bleu(hyps->items[h].text, refs, (int32_t)streams->count, o, &result),
                SPDF_OK);
        } else {
            add(bleu, hyps->items[h].text, refs, (int32_t)streams->count);
        }
    }
    if (!sentence) result = score(bleu, o).bleu;
    spdf_bleu_free(bleu);
    return 100.0 * result;
}

START_TEST(test_sacrebleu_vectors)
{
    char *path = data_path("SPDF_TEST_DATA", "bleu/sacrebleu_vectors.json");
    ck_assert_msg(path != NULL, "SPDF_TEST_DATA is not set");
    size_t len;
    char *text = slurp(path, &len);
    json_value *root;
    ck_assert_msg(json_parse(path, 1, text, len, &root) == SPDF_OK, "%s", spdf_last_error());
    const json_value *vectors = member(root, "vectors");
    ck_assert_uint_eq(vectors->count, 33);
    int checked = 0;
    for (size_t v = 0; v < vectors->count; v++) {
        const json_value *vector = &vectors->items[v];
        const char *kind = member(vector, "kind")->text, *note = member(vector, "note")->text;
        const double expected = strtod(member(vector, "expected")->text, NULL);
        double got;
        const char *tokenize = "13a";
        if (strcmp(kind, "from_stats") == 0) {
            const json_value *m = member(vector, "matches"), *t = member(vector, "totals");
            int64_t matches[4], totals[4];
            for (int n = 0; n < 4; n++) {
                matches[n] = atoll(m->items[n].text);
                totals[n] = atoll(t->items[n].text);
            }
            spdf_bleu_options o = options_with(SPDF_BLEU_TOKENIZE_13A, 0, SPDF_BLEU_SMOOTH_EXP, 4);
            ck_assert_int_eq(spdf_bleu_from_stats(&o, matches, totals,
                                                  atoll(member(vector, "sys_len")->text),
                                                  atoll(member(vector, "ref_len")->text), &got),
                             SPDF_OK);
            got *= 100.0;
        } else {
            spdf_bleu_options o;
            if (!vector_options(member(vector, "params"), &o, &tokenize)) {
                printf("vector %2zu %-10s tokenize=%-4s expected %12.6f  SKIPPED: libspdf has no "
                       "'%s' tokenizer\n",
                       v, kind, tokenize, expected, tokenize);
                continue;
            }
            got = vector_bleu(vector, &o);
        }
        /* the vectors' own precision: 2 decimals where the note says so, 1e-3 for sentence BLEU
         * (sacreBLEU's tolerance), 4 decimals otherwise */
        const double tolerance = strstr(note, "2 decimals")      ? 0.005
                                 : strcmp(kind, "sentence") == 0 ? 1e-3
                                                                 : 1e-4;
        printf("vector %2zu %-10s tokenize=%-4s expected %12.6f  got %12.6f\n", v, kind, tokenize,
               expected, got);
        ck_assert_msg(fabs(got - expected) <= tolerance, "vector %zu (%s): got %.8f, expected %.8f",
                      v, note, got, expected);
        checked++;
    }
    ck_assert_int_eq(checked, 31); /* all but the two 'intl' vectors */
    json_free(root);
    free(text);
    free(path);
}
END_TEST

/* ---- the official E2E scorer's numbers ---- */

/* Reads one field of the TGen TSV: a quoted field (quotes doubled inside) or a plain one. */
static char *tsv_field(const char **pos, const char *end)
{
    text_buffer field = {0};
    const char *p = *pos;
    if (p < end && *p == '"') {
        for (p++; p < end; p++) {
            if (*p == '"' && p + 1 < end && p[1] == '"') {
                ck_assert_int_eq(text_push(&field, '"'), 0);
                p++;
            } else if (*p == '"') {
                p++;
                break;
            } else {
                ck_assert_int_eq(text_push(&field, *p), 0);
            }
        }
    } else {
        while (p < end && *p != '\t') ck_assert_int_eq(text_push(&field, *p++), 0);
    }
    *pos = p;
    return text_take(&field);
}

START_TEST(test_e2e_tgen_official_scores)
{
    char *refs_path = data_path("SPDF_SHARED_DATA", "e2e/testset_w_refs.csv");
    char *tsv_path = data_path("SPDF_SHARED_DATA", "e2e/eval/tgen-test-output.tsv");
    if (!refs_path || !tsv_path || access(refs_path, R_OK) != 0 || access(tsv_path, R_OK) != 0) {
        printf("SKIPPED test_e2e_tgen_official_scores: the shared E2E data (%s) is not present; "
               "the TGen output is only read from there, never copied into the repository\n",
               tsv_path ? tsv_path : "SPDF_SHARED_DATA unset");
        free(refs_path);
        free(tsv_path);
        return;
    }
    spdf_task_data *data;
    ck_assert_msg(spdf_task_data_load(refs_path, SPDF_TASK_E2E_CSV, &data) == SPDF_OK, "%s",
                  spdf_last_error());
    int64_t items;
    ck_assert_int_eq(spdf_task_data_count(data, &items), SPDF_OK);
    ck_assert_int_eq(items, 630);

    size_t len;
    char *text = slurp(tsv_path, &len);
    const char *pos = text, *end = text + len;
    ck_assert_msg(strncmp(pos, "MR\toutput\n", 10) == 0, "unexpected TSV header");
    pos += 10;
    spdf_bleu *bleu;
    ck_assert_int_eq(spdf_bleu_create(&bleu), SPDF_OK);
    while (pos < end) {
        char *mr = tsv_field(&pos, end);
        ck_assert_msg(pos < end && *pos == '\t', "TSV line without a tab");
        pos++;
        const char *line_end = memchr(pos, '\n', (size_t)(end - pos));
        if (!line_end) line_end = end;
        size_t n = (size_t)(line_end - pos);
        if (n && pos[n - 1] == '\r') n--;
        char *output = malloc(n + 1);
        ck_assert_ptr_nonnull(output);
        memcpy(output, pos, n);
        output[n] = '\0';
        pos = line_end < end ? line_end + 1 : end;
        int64_t item = 0;
        const char *prompt = NULL;
        for (; item < items; item++) {
            ck_assert_int_eq(spdf_task_data_prompt(data, item, &prompt), SPDF_OK);
            if (strcmp(prompt, mr) == 0) break;
        }
        ck_assert_msg(item < items, "no references for MR %s", mr);
        const char *const *refs;
        int32_t count;
        ck_assert_int_eq(spdf_task_data_references(data, item, &refs, &count), SPDF_OK);
        add(bleu, output, refs, count);
        free(output);
        free(mr);
    }
    int64_t segments;
    ck_assert_int_eq(spdf_bleu_count(bleu, &segments), SPDF_OK);
    ck_assert_int_eq(segments, 630);
    const spdf_bleu_result r = score(bleu, NULL);
    printf("E2E TGen baseline vs testset_w_refs.csv: BLEU %.6f  NIST %.6f  (matches "
           "%lld/%lld/%lld/%lld "
           "of %lld/%lld/%lld/%lld, hyp %lld, ref %lld, NIST penalty %.6f)\n",
           r.bleu, r.nist, (long long)r.matches[0], (long long)r.matches[1],
           (long long)r.matches[2], (long long)r.matches[3], (long long)r.totals[0],
           (long long)r.totals[1], (long long)r.totals[2], (long long)r.totals[3],
           (long long)r.hyp_length, (long long)r.ref_length, r.nist_brevity_penalty);
    assert_4_decimals(r.bleu, "0.6593", "BLEU");
    assert_4_decimals(r.nist, "8.6094", "NIST");
    /* sacreBLEU's statistics for the same files (lowercase, 13a) */
    const int64_t matches[4] = {15484, 12189, 9110, 6681}, totals[4] = {16664, 16034, 15404, 14774};
    for (int n = 0; n < 4; n++) {
        ck_assert_int_eq(r.matches[n], matches[n]);
        ck_assert_int_eq(r.totals[n], totals[n]);
    }
    ck_assert_int_eq(r.hyp_length, 16664);
    ck_assert_int_eq(r.ref_length, 16616);
    /* the NIST length penalty is just below 1 here: without it NIST would print 8.6095 */
    ck_assert(r.nist_brevity_penalty < 1.0 && r.nist_brevity_penalty > 0.9999);
    spdf_bleu_free(bleu);
    free(text);
    spdf_task_data_free(data);
    free(refs_path);
    free(tsv_path);
}
END_TEST

START_TEST(test_e2e_example_inputs)
{
    /* e2e-metrics' example inputs are read from the shared data, not copied into the repository
     * (their licence text is not shipped with them). */
    char *refs_path = data_path("SPDF_SHARED_DATA", "e2e/eval/example-devel-conc.txt");
    char *outputs_path = data_path("SPDF_SHARED_DATA", "e2e/eval/example-baseline-output.txt");
    if (!refs_path || !outputs_path || access(refs_path, R_OK) != 0 || access(outputs_path, R_OK) != 0) {
        printf("SKIPPED test_e2e_example_inputs: the shared E2E data (%s) is not present\n",
               refs_path ? refs_path : "SPDF_SHARED_DATA unset");
        free(refs_path);
        free(outputs_path);
        return;
    }
    size_t refs_len, outputs_len;
    char *refs_text = slurp(refs_path, &refs_len);
    char *outputs_text = slurp(outputs_path, &outputs_len);
    /* references: one per line, a blank line between MRs */
    const char *blocks[10][64];
    int32_t counts[10] = {0};
    int block = 0;
    for (char *p = refs_text; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        if (*p) {
            ck_assert_int_lt(block, 10);
            ck_assert_int_lt(counts[block], 64);
            blocks[block][counts[block]++] = p;
        } else if (block < 10 && counts[block] > 0) {
            block++;
        }
        if (!nl) break;
        p = nl + 1;
    }
    ck_assert_int_eq(block + (block < 10 && counts[block] > 0), 10);
    spdf_bleu *bleu;
    ck_assert_int_eq(spdf_bleu_create(&bleu), SPDF_OK);
    char *q = outputs_text;
    for (int i = 0; i < 10; i++) {
        char *nl = strchr(q, '\n');
        if (nl) *nl = '\0';
        add(bleu, q, blocks[i], counts[i]);
        q = nl ? nl + 1 : q + strlen(q);
    }
    const spdf_bleu_result r = score(bleu, NULL);
    printf("E2E example inputs: BLEU %.6f  NIST %.6f  (matches %lld/%lld/%lld/%lld of "
           "%lld/%lld/%lld/%lld, hyp %lld, ref %lld)\n",
           r.bleu, r.nist, (long long)r.matches[0], (long long)r.matches[1],
           (long long)r.matches[2], (long long)r.matches[3], (long long)r.totals[0],
           (long long)r.totals[1], (long long)r.totals[2], (long long)r.totals[3],
           (long long)r.hyp_length, (long long)r.ref_length);
    assert_4_decimals(r.bleu, "0.7203", "BLEU");
    assert_4_decimals(r.nist, "7.8212", "NIST");
    const int64_t matches[4] = {143, 116, 88, 66}, totals[4] = {153, 143, 133, 123};
    for (int n = 0; n < 4; n++) {
        ck_assert_int_eq(r.matches[n], matches[n]);
        ck_assert_int_eq(r.totals[n], totals[n]);
    }
    ck_assert_int_eq(r.ref_length, 150);
    spdf_bleu_free(bleu);
    free(refs_text);
    free(outputs_text);
    free(refs_path);
    free(outputs_path);
}
END_TEST

/* Splits a file into lines (LF or CRLF); the returned array and strings live in *text. */
static char **file_lines(const char *path, char **text, size_t *count)
{
    size_t len;
    *text = slurp(path, &len);
    size_t cap = 1024, n = 0;
    char **lines = malloc(cap * sizeof *lines);
    ck_assert_ptr_nonnull(lines);
    for (char *p = *text; p < *text + len;) {
        char *nl = memchr(p, '\n', (size_t)(*text + len - p));
        char *end = nl ? nl : *text + len;
        if (end > p && end[-1] == '\r') end[-1] = '\0';
        *end = '\0';
        if (n == cap) {
            cap *= 2;
            lines = realloc(lines, cap * sizeof *lines);
            ck_assert_ptr_nonnull(lines);
        }
        lines[n++] = p;
        p = end + 1;
    }
    *count = n;
    return lines;
}

/* Pre-tokenized hypotheses against three reference files (tokenize none), blank reference lines
 * ignored as sacreBLEU ignores them; the README of each data set gives sacreBLEU's figures. */
static void check_three_references(const char *dir, const char *hypotheses,
                                   const char *const refs[3], int lowercase, const char *bleu,
                                   int64_t ref_length)
{
    char *paths[4];
    paths[0] = data_path("SPDF_SHARED_DATA", hypotheses);
    for (int r = 0; r < 3; r++) paths[r + 1] = data_path("SPDF_SHARED_DATA", refs[r]);
    for (int i = 0; i < 4; i++) {
        if (!paths[i] || access(paths[i], R_OK) != 0) {
            printf("SKIPPED %s: the shared data (%s) is not present\n", dir,
                   paths[i] ? paths[i] : "SPDF_SHARED_DATA unset");
            for (int k = 0; k < 4; k++) free(paths[k]);
            return;
        }
    }
    char *texts[4];
    char **lines[4];
    size_t counts[4];
    for (int i = 0; i < 4; i++) lines[i] = file_lines(paths[i], &texts[i], &counts[i]);
    spdf_bleu *corpus;
    ck_assert_int_eq(spdf_bleu_create(&corpus), SPDF_OK);
    for (size_t h = 0; h < counts[0]; h++) {
        const char *refs_h[3];
        for (int r = 0; r < 3; r++) {
            ck_assert_uint_eq(counts[r + 1], counts[0]);
            refs_h[r] = lines[r + 1][h];
        }
        add(corpus, lines[0][h], refs_h, 3);
    }
    spdf_bleu_options o = options_with(SPDF_BLEU_TOKENIZE_NONE, lowercase, SPDF_BLEU_SMOOTH_EXP, 4);
    const spdf_bleu_result r = score(corpus, &o);
    printf("%s: BLEU %.6f (precisions %.1f/%.1f/%.1f/%.1f, hyp %lld, ref %lld)\n", dir, r.bleu,
           100 * r.precisions[0], 100 * r.precisions[1], 100 * r.precisions[2],
           100 * r.precisions[3], (long long)r.hyp_length, (long long)r.ref_length);
    assert_4_decimals(r.bleu, bleu, dir);
    ck_assert_int_eq(r.ref_length, ref_length);
    spdf_bleu_free(corpus);
    for (int i = 0; i < 4; i++) {
        free(lines[i]);
        free(texts[i]);
        free(paths[i]);
    }
}

START_TEST(test_webnlg_and_dart_three_references)
{
    /* multi-bleu.perl prints 33.24 and 48.56: it counts blank reference lines as references of
     * length 0 when it picks the closest length; the n-gram precisions are the same */
    const char *webnlg[3] = {"webnlg/eval/gold-all-cat-reference0.lex",
                             "webnlg/eval/gold-all-cat-reference1.lex",
                             "webnlg/eval/gold-all-cat-reference2.lex"};
    check_three_references("webnlg", "webnlg/eval/baseline-test-output.txt", webnlg, 1, "0.3239",
                           41357);
    const char *dart[3] = {"dart/eval/all-delex-reference0.lex",
                           "dart/eval/all-delex-reference1.lex",
                           "dart/eval/all-delex-reference2.lex"};
    check_three_references("dart", "dart/eval/bart-large-test-output.txt", dart, 0, "0.4759",
                           119165);
}
END_TEST

/* ---- tokenization ---- */

/* Under 13a, `raw` must give exactly the tokens of the space-separated `tokens`. */
static void assert_13a(const char *raw, const char *tokens, int64_t count)
{
    spdf_bleu_options o = options_with(SPDF_BLEU_TOKENIZE_13A, 0, SPDF_BLEU_SMOOTH_NONE, 4);
    o.effective_order = 1;
    const char *refs[] = {tokens};
    const spdf_bleu_result r = score_one(raw, refs, 1, &o);
    ck_assert_msg(r.hyp_length == count && r.ref_length == count && r.bleu == 1.0,
                  "13a of \"%s\": %lld tokens, BLEU %.6f against \"%s\"", raw,
                  (long long)r.hyp_length, r.bleu, tokens);
}

START_TEST(test_13a_rules)
{
    assert_13a("Hello, world.", "Hello , world .", 4);
    assert_13a("It costs £20-25.", "It costs £20 - 25 .", 6);             /* dash after a digit */
    assert_13a("3.5 stars, 1,000 people", "3.5 stars , 1,000 people", 5); /* digits keep . and , */
    assert_13a("&quot;Hi&quot; &amp; bye", "\" Hi \" & bye", 5);          /* entities */
    assert_13a("&amp;quot;", "& quot ;", 3);                              /* unescaped once */
    assert_13a("e-mail don't", "e-mail don't", 2);                        /* kept: - and ' */
    assert_13a("a/b (c) {d} [e] ~f^ g_h `i` @j #k $l %m *n +o =p <q> ?r !s |t \\u",
               "a / b ( c ) { d } [ e ] ~ f ^ g _ h ` i ` @ j # k $ l % m * n + o = p < q > ? r ! "
               "s | t \\ u",
               46);
    assert_13a("end...", "end . . .", 4);
    assert_13a("x.y 5. .5 ,a", "x . y 5 . . 5 , a", 9);
    assert_13a("Café «Ünïcode»—dash", "Café «Ünïcode»—dash", 2); /* non-ASCII untouched */
    assert_13a("line-\nbreak<skipped>here", "linebreakhere", 1);
    assert_13a("20-25-30", "20 - 25 - 30", 5);
    assert_13a("  spaced\t\tout \xC2\xA0 text  \n", "spaced out text", 3); /* NBSP is space */
}
END_TEST

START_TEST(test_lowercase_and_char_tokens)
{
    const char *refs[] = {"the école ÀÖ σοφία москва"};
    spdf_bleu_options o = options_with(SPDF_BLEU_TOKENIZE_13A, 1, SPDF_BLEU_SMOOTH_NONE, 4);
    ck_assert_double_eq(score_one("THE ÉCOLE àö ΣΟΦΊΑ МОСКВА", refs, 1, &o).bleu, 1.0);
    o.lowercase = 0;
    ck_assert_double_lt(score_one("THE ÉCOLE àö ΣΟΦΊΑ МОСКВА", refs, 1, &o).bleu, 1.0);

    o = options_with(SPDF_BLEU_TOKENIZE_CHAR, 0, SPDF_BLEU_SMOOTH_NONE, 4);
    o.effective_order = 1; /* 3 tokens: no 4-grams */
    const char *chars[] = {"é t é"};
    spdf_bleu_result r = score_one("ét é", chars, 1, &o);
    ck_assert_int_eq(r.hyp_length, 3); /* code points, white space dropped */
    ck_assert_double_eq(r.bleu, 1.0);

    o = options_with(SPDF_BLEU_TOKENIZE_NONE, 0, SPDF_BLEU_SMOOTH_NONE, 1);
    const char *plain[] = {"a, b."};
    r = score_one("a , b .", plain, 1, &o);
    ck_assert_int_eq(r.hyp_length, 4);
    ck_assert_int_eq(r.ref_length, 2);
    ck_assert_int_eq(r.matches[0], 0);
}
END_TEST

/* ---- BLEU statistics ---- */

START_TEST(test_clipping_and_closest_reference)
{
    spdf_bleu_options o = options_with(SPDF_BLEU_TOKENIZE_NONE, 0, SPDF_BLEU_SMOOTH_NONE, 4);
    const char *clip[] = {"the cat", "the the dog"};
    spdf_bleu_result r = score_one("the the the the", clip, 2, &o);
    ck_assert_int_eq(r.matches[0], 2); /* at most as often as in one reference */
    ck_assert_int_eq(r.totals[0], 4);
    ck_assert_int_eq(r.matches[1], 1);
    ck_assert_int_eq(r.totals[1], 3);

    const char *tie[] = {"a b c d e f", "a b c d"}; /* 5 tokens: 4 and 6 are as close */
    ck_assert_int_eq(score_one("a b c d e", tie, 2, &o).ref_length, 4);
    const char *far[] = {"a b c d e f g h", "a b c d e f"};
    r = score_one("a b c d e", far, 2, &o);
    ck_assert_int_eq(r.ref_length, 6);
    ck_assert_double_eq_tol(r.brevity_penalty, exp(1.0 - 6.0 / 5.0), 1e-15);

    /* an empty reference is ignored: same statistics as without it */
    const char *with_empty[] = {"", "a b c d e f", "   "};
    const spdf_bleu_result e = score_one("a b c d e", with_empty, 3, &o);
    const char *without[] = {"a b c d e f"};
    const spdf_bleu_result w = score_one("a b c d e", without, 1, &o);
    ck_assert_int_eq(e.ref_length, 6);
    ck_assert_double_eq(e.bleu, w.bleu);
    ck_assert_double_eq(e.nist, w.nist);
    ck_assert_double_eq(e.nist_ref_length, w.nist_ref_length);
    const char *all_empty[] = {""};
    r = score_one("a b", all_empty, 1, &o);
    ck_assert_int_eq(r.ref_length, 0);
    ck_assert_double_eq(r.bleu, 0.0);
}
END_TEST

START_TEST(test_score_is_repeatable)
{
    spdf_bleu *bleu;
    ck_assert_int_eq(spdf_bleu_create(&bleu), SPDF_OK);
    int64_t segments = -1;
    ck_assert_int_eq(spdf_bleu_count(bleu, &segments), SPDF_OK);
    ck_assert_int_eq(segments, 0);
    const spdf_bleu_result empty = score(bleu, NULL);
    ck_assert_double_eq(empty.bleu, 0.0);
    ck_assert_double_eq(empty.nist, 0.0);
    const char *refs1[] = {"The cat sat on the mat.", "There is a cat on the mat."};
    const char *refs2[] = {"It is raining today."};
    add(bleu, "the cat is on the mat.", refs1, 2);
    add(bleu, "It rains today.", refs2, 1);
    ck_assert_int_eq(spdf_bleu_count(bleu, &segments), SPDF_OK);
    ck_assert_int_eq(segments, 2);
    const spdf_bleu_result a = score(bleu, NULL);
    spdf_bleu_options cased = options_with(SPDF_BLEU_TOKENIZE_13A, 0, SPDF_BLEU_SMOOTH_EXP, 4);
    const spdf_bleu_result b = score(bleu, &cased);
    const spdf_bleu_result c = score(bleu, NULL);
    ck_assert_double_eq(a.bleu, c.bleu);
    ck_assert_double_eq(a.nist, c.nist);
    ck_assert_double_gt(a.bleu, b.bleu); /* "the" matches "The" only when lowercased */
    ck_assert_int_eq(a.segments, 2);
    ck_assert_int_eq(a.max_order, 4);
    ck_assert_int_eq(a.nist_order, 5);
    ck_assert_uint_eq(a.struct_size, sizeof a);
    spdf_bleu_free(bleu);
    spdf_bleu_free(NULL);
}
END_TEST

START_TEST(test_sentence_bleu_effective_order)
{
    const char *refs[] = {"the cat"};
    double bleu = -1;
    ck_assert_int_eq(spdf_sentence_bleu("The cat", refs, 1, NULL, &bleu), SPDF_OK);
    ck_assert_double_eq(bleu, 1.0); /* orders 3 and 4 left out */
    spdf_bleu_options o;
    ck_assert_int_eq(spdf_bleu_options_init(&o), SPDF_OK);
    ck_assert_int_eq(spdf_sentence_bleu("The cat", refs, 1, &o, &bleu), SPDF_OK);
    ck_assert_double_eq(bleu, 0.0); /* no trigram at all: undefined, 0 as in sacreBLEU */
    /* EXP smoothing: a missing 4-gram match counts 1 / (2 * total) */
    const char *refs4[] = {"a b c d e"};
    o.effective_order = 1;
    ck_assert_int_eq(spdf_sentence_bleu("a b c x e", refs4, 1, &o, &bleu), SPDF_OK);
    ck_assert_double_eq_tol(bleu, pow(4.0 / 5 * 2.0 / 4 * 1.0 / 3 * (1.0 / (2 * 2)), 0.25), 1e-12);
}
END_TEST

/* ---- NIST ---- */

START_TEST(test_nist_weights_and_penalty)
{
    spdf_bleu_options o = options_with(SPDF_BLEU_TOKENIZE_NONE, 0, SPDF_BLEU_SMOOTH_EXP, 4);
    /* info(a) = info(b) = log2(2 words / 1) = 1, info(a b) = log2(count(a) / count(a b)) = 0 */
    const char *same[] = {"a b"};
    spdf_bleu_result r = score_one("a b", same, 1, &o);
    ck_assert_double_eq_tol(r.nist, 1.0, 1e-12);
    ck_assert_double_eq(r.nist_brevity_penalty, 1.0);

    /* 2 of 3 words: the penalty is 0.5 at a ratio of 2/3 by construction */
    const char *longer[] = {"a b c"};
    r = score_one("a b", longer, 1, &o);
    ck_assert_double_eq_tol(r.nist_ref_length, 3.0, 1e-12);
    ck_assert_double_eq_tol(r.nist_brevity_penalty, 0.5, 1e-12);
    ck_assert_double_eq_tol(r.nist, 0.5 * (2 * log2(3.0) / 2 + 0.0), 1e-12);

    /* weights come from the references of the whole corpus; the reference length is
     * segments x mean reference length: 2 x (2 + 4 + 3) / 3 = 6 */
    spdf_bleu *bleu;
    ck_assert_int_eq(spdf_bleu_create(&bleu), SPDF_OK);
    const char *refs1[] = {"x y", "x y z w"}, *refs2[] = {"x q r"};
    add(bleu, "x y", refs1, 2);
    add(bleu, "q r", refs2, 1);
    r = score(bleu, &o);
    ck_assert_double_eq_tol(r.nist_ref_length, 6.0, 1e-12);
    /* words 9; count(x)=3, y=2, q=1, r=1; (x y)=2, (q r)=1
     * unigrams: info(x)+info(y)+info(q)+info(r) = log2(9/3)+log2(9/2)+2 log2(9); 4 hyp unigrams
     * bigrams: info(x y)=log2(3/2), info(q r)=log2(1/1)=0; 2 hyp bigrams */
    const double unigrams = (log2(3.0) + log2(4.5) + 2 * log2(9.0)) / 4;
    const double bigrams = log2(1.5) / 2;
    const double penalty = exp(-(-log(0.5) / (log(1.5) * log(1.5))) * log(4.0 / 6) * log(4.0 / 6));
    ck_assert_double_eq_tol(r.nist, (unigrams + bigrams) * penalty, 1e-12);
    spdf_bleu_free(bleu);
}
END_TEST

START_TEST(test_from_stats)
{
    const int64_t matches[4] = {9, 7, 5, 3}, totals[4] = {10, 8, 6, 4};
    double bleu;
    ck_assert_int_eq(spdf_bleu_from_stats(NULL, matches, totals, 11, 11, &bleu), SPDF_OK);
    ck_assert_double_eq_tol(bleu, pow(0.9 * 7 / 8.0 * 5 / 6.0 * 3 / 4.0, 0.25), 1e-12);
    ck_assert_int_eq(spdf_bleu_from_stats(NULL, matches, totals, 10, 11, &bleu), SPDF_OK);
    ck_assert_double_eq_tol(bleu, exp(1 - 11 / 10.0) * pow(0.9 * 7 / 8.0 * 5 / 6.0 * 3 / 4.0, 0.25),
                            1e-12);
    const int64_t bad[4] = {9, 9, 5, 3};
    ck_assert_int_eq(spdf_bleu_from_stats(NULL, bad, totals, 11, 11, &bleu), SPDF_EINVAL);
    ck_assert_int_eq(spdf_bleu_from_stats(NULL, matches, totals, -1, 11, &bleu), SPDF_EINVAL);
}
END_TEST

/* ---- arguments ---- */

static void assert_einval(spdf_status status, const char *what)
{
    ck_assert_msg(status == SPDF_EINVAL, "%s: got %s", what, spdf_status_name(status));
    ck_assert_msg(spdf_last_error()[0] != '\0', "%s: no error detail", what);
}

START_TEST(test_invalid_arguments)
{
    spdf_bleu *bleu;
    ck_assert_int_eq(spdf_bleu_create(&bleu), SPDF_OK);
    const char *refs[] = {"a b"}, *null_ref[] = {"a", NULL}, *bad_utf8[] = {"a \xC3\x28"};
    spdf_bleu_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    double value;
    int64_t count;
    const int64_t stats[4] = {1, 1, 1, 1};

    assert_einval(spdf_bleu_options_init(NULL), "options_init(NULL)");
    assert_einval(spdf_bleu_create(NULL), "create(NULL)");
    assert_einval(spdf_bleu_add(NULL, "a", refs, 1), "add(NULL bleu)");
    assert_einval(spdf_bleu_add(bleu, NULL, refs, 1), "add(NULL hypothesis)");
    assert_einval(spdf_bleu_add(bleu, "a", NULL, 1), "add(NULL references)");
    assert_einval(spdf_bleu_add(bleu, "a", refs, 0), "add(0 references)");
    assert_einval(spdf_bleu_add(bleu, "a", refs, -1), "add(-1 references)");
    assert_einval(spdf_bleu_add(bleu, "a", null_ref, 2), "add(a NULL reference)");
    assert_einval(spdf_bleu_add(bleu, "a \xFF", refs, 1), "add(invalid UTF-8 hypothesis)");
    assert_einval(spdf_bleu_add(bleu, "a", bad_utf8, 1), "add(invalid UTF-8 reference)");
    assert_einval(spdf_bleu_add(bleu, "\xED\xA0\x80", refs, 1), "add(encoded surrogate)");
    ck_assert_int_eq(spdf_bleu_count(bleu, &count), SPDF_OK);
    ck_assert_int_eq(count, 0); /* nothing was added by the failed calls */
    assert_einval(spdf_bleu_count(NULL, &count), "count(NULL bleu)");
    assert_einval(spdf_bleu_count(bleu, NULL), "count(NULL out)");
    assert_einval(spdf_bleu_score(NULL, NULL, &r), "score(NULL bleu)");
    assert_einval(spdf_bleu_score(bleu, NULL, NULL), "score(NULL result)");
    r.struct_size = 0;
    assert_einval(spdf_bleu_score(bleu, NULL, &r), "score(result.struct_size 0)");
    r.struct_size = sizeof r;

    spdf_bleu_options o;
    spdf_bleu_options_init(&o);
    o.struct_size = 0;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "options.struct_size 0");
    spdf_bleu_options_init(&o), o.tokenize = 3;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "tokenize 3");
    spdf_bleu_options_init(&o), o.tokenize = -1;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "tokenize -1");
    spdf_bleu_options_init(&o), o.smooth = 4;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "smooth 4");
    spdf_bleu_options_init(&o), o.lowercase = 2;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "lowercase 2");
    spdf_bleu_options_init(&o), o.effective_order = -1;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "effective_order -1");
    spdf_bleu_options_init(&o), o.max_order = 0;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "max_order 0");
    spdf_bleu_options_init(&o), o.max_order = SPDF_BLEU_MAX_ORDER + 1;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "max_order 10");
    spdf_bleu_options_init(&o), o.nist_order = 0;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "nist_order 0");
    spdf_bleu_options_init(&o), o.smooth_value = NAN;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "smooth_value NaN");
    spdf_bleu_options_init(&o), o.smooth_value = INFINITY;
    assert_einval(spdf_bleu_score(bleu, &o, &r), "smooth_value inf");

    assert_einval(spdf_sentence_bleu(NULL, refs, 1, NULL, &value), "sentence(NULL hypothesis)");
    assert_einval(spdf_sentence_bleu("a", NULL, 1, NULL, &value), "sentence(NULL references)");
    assert_einval(spdf_sentence_bleu("a", refs, 0, NULL, &value), "sentence(0 references)");
    assert_einval(spdf_sentence_bleu("a", refs, 1, NULL, NULL), "sentence(NULL out)");
    spdf_bleu_options_init(&o), o.max_order = 0;
    assert_einval(spdf_sentence_bleu("a", refs, 1, &o, &value), "sentence(bad options)");

    assert_einval(spdf_bleu_from_stats(NULL, NULL, stats, 1, 1, &value),
                  "from_stats(NULL matches)");
    assert_einval(spdf_bleu_from_stats(NULL, stats, NULL, 1, 1, &value), "from_stats(NULL totals)");
    assert_einval(spdf_bleu_from_stats(NULL, stats, stats, 1, 1, NULL), "from_stats(NULL out)");
    assert_einval(spdf_bleu_from_stats(NULL, stats, stats, 1, -1, &value), "from_stats(ref -1)");
    assert_einval(spdf_bleu_from_stats(&o, stats, stats, 1, 1, &value), "from_stats(bad options)");
    spdf_bleu_free(bleu);
}
END_TEST

static Suite *bleu_suite(void)
{
    Suite *suite = suite_create("bleu");
    TCase *reference = tcase_create("reference-scores");
    tcase_set_timeout(reference, 120);
    tcase_add_test(reference, test_sacrebleu_vectors);
    tcase_add_test(reference, test_e2e_tgen_official_scores);
    tcase_add_test(reference, test_e2e_example_inputs);
    tcase_add_test(reference, test_webnlg_and_dart_three_references);
    suite_add_tcase(suite, reference);
    TCase *rules = tcase_create("rules");
    tcase_add_test(rules, test_13a_rules);
    tcase_add_test(rules, test_lowercase_and_char_tokens);
    tcase_add_test(rules, test_clipping_and_closest_reference);
    tcase_add_test(rules, test_score_is_repeatable);
    tcase_add_test(rules, test_sentence_bleu_effective_order);
    tcase_add_test(rules, test_nist_weights_and_penalty);
    tcase_add_test(rules, test_from_stats);
    tcase_add_test(rules, test_invalid_arguments);
    suite_add_tcase(suite, rules);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(bleu_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
