/* `spdf score`: corpus BLEU and NIST of system outputs against references, without a model.  Task
 * references (E2E's CSV by default, or WebNLG, DART, JSON Lines) come with outputs as E2E's TSV
 * (matched by prompt) or one per line; plain text as one hypothesis per line with any number of
 * parallel reference files.  sacreBLEU's tokenize and lowercase choices, and multi-bleu.perl's
 * way of counting blank references, reproduce the figures published with other scorers. */
#include "cli.h"
#include "data.h"
#include "evaluate.h"
#include "json_writer.h"
#include "options.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void print_scores(const spdf_bleu_result *result)
{
    printf("BLEU %.4f\nNIST %.4f\n", result->bleu, result->nist);
}

void json_scores(json_writer *w, const spdf_bleu_result *result)
{
    double precisions[SPDF_BLEU_MAX_ORDER];
    const int orders = result->max_order;
    for (int i = 0; i < orders; i++) precisions[i] = result->precisions[i];
    json_number(w, "bleu", result->bleu);
    json_number(w, "nist", result->nist);
    json_number(w, "brevity_penalty", result->brevity_penalty);
    json_number(w, "nist_brevity_penalty", result->nist_brevity_penalty);
    json_number_array(w, "precisions", precisions, orders);
    json_int_array(w, "matches", result->matches, orders);
    json_int_array(w, "totals", result->totals, orders);
    json_int(w, "hyp_length", result->hyp_length);
    json_int(w, "ref_length", result->ref_length);
    json_int(w, "segments", result->segments);
}

/* How `spdf score` scores: the library's options (tokenizer, case) and multi-bleu.perl's
 * brevity penalty, for which a blank reference is a reference of length 0. */
typedef struct score_settings {
    spdf_bleu_options options;
    int count_blank_refs;
} score_settings;

/* A corpus being scored; with count_blank_refs also the reference length multi-bleu.perl sums. */
typedef struct scorer {
    const score_settings *settings;
    spdf_bleu *bleu;
    int64_t multi_bleu_ref_length;
} scorer;

static spdf_status scorer_init(scorer *sc, const score_settings *settings)
{
    memset(sc, 0, sizeof *sc);
    sc->settings = settings;
    return spdf_bleu_create(&sc->bleu);
}

/* Tokens of text under the settings' tokenizer and case: the hypothesis length of a corpus of
 * that text alone (the library's tokenizer is not public). */
static spdf_status token_count(const spdf_bleu_options *options, const char *text, int64_t *count)
{
    spdf_bleu *one = NULL;
    spdf_bleu_result result;
    memset(&result, 0, sizeof result);
    result.struct_size = sizeof result;
    spdf_status status = spdf_bleu_create(&one);
    if (status == SPDF_OK) status = spdf_bleu_add(one, text, &text, 1);
    if (status == SPDF_OK) status = spdf_bleu_score(one, options, &result);
    spdf_bleu_free(one);
    *count = result.hyp_length;
    return status;
}

/* multi-bleu.perl's closest reference length: every reference, blank ones (length 0) too; on a
 * tie the shorter. */
static spdf_status add_multi_bleu_length(scorer *sc, const char *hyp, const char *const *refs, int32_t n_refs)
{
    int64_t hyp_length = 0, closest = -1;
    spdf_status status = token_count(&sc->settings->options, hyp, &hyp_length);
    for (int32_t r = 0; status == SPDF_OK && r < n_refs; r++) {
        int64_t length = 0;
        status = token_count(&sc->settings->options, refs[r], &length);
        const int64_t diff = llabs(length - hyp_length), best = llabs(closest - hyp_length);
        if (closest < 0 || diff < best || (diff == best && length < closest)) closest = length;
    }
    if (status == SPDF_OK && closest > 0) sc->multi_bleu_ref_length += closest;
    return status;
}

static spdf_status scorer_add(scorer *sc, const char *hyp, const char *const *refs, int32_t n_refs)
{
    spdf_status status = spdf_bleu_add(sc->bleu, hyp, refs, n_refs);
    if (status == SPDF_OK && sc->settings->count_blank_refs) status = add_multi_bleu_length(sc, hyp, refs, n_refs);
    return status;
}

/* Scores the corpus and frees it; with count_blank_refs, BLEU's brevity penalty uses
 * multi-bleu.perl's reference length (n-gram statistics and NIST are unchanged). */
static int scorer_finish(scorer *sc, spdf_bleu_result *result)
{
    memset(result, 0, sizeof *result);
    result->struct_size = sizeof *result;
    spdf_status status = spdf_bleu_score(sc->bleu, &sc->settings->options, result);
    if (status == SPDF_OK && sc->settings->count_blank_refs) {
        const int64_t c = result->hyp_length, r = sc->multi_bleu_ref_length;
        result->ref_length = r;
        result->brevity_penalty = c > 0 && c < r ? exp(1.0 - (double)r / (double)c) : c > 0 ? 1.0 : 0.0;
        status = spdf_bleu_from_stats(&sc->settings->options, result->matches, result->totals, c, r,
                                      &result->bleu);
    }
    spdf_bleu_free(sc->bleu);
    sc->bleu = NULL;
    if (status != SPDF_OK) return cli_library_error(status, EXIT_FAILURE_RUNTIME, "scoring failed");
    return EXIT_OK;
}

/* A failed scorer_add: bad text is the input's fault. */
static int add_failed(scorer *sc, spdf_status status, const char *what, int64_t index)
{
    spdf_bleu_free(sc->bleu);
    sc->bleu = NULL;
    return cli_library_error(status, status == SPDF_EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_RUNTIME, "%s %lld",
                             what, (long long)index + 1);
}

static int score_task_with(const score_settings *settings, const spdf_task_data *task, const char *const *hyps,
                           int64_t count, spdf_bleu_result *result)
{
    scorer sc;
    spdf_status status = scorer_init(&sc, settings);
    if (status != SPDF_OK) return cli_library_error(status, EXIT_FAILURE_RUNTIME, "scoring failed");
    for (int64_t i = 0; i < count; i++) {
        const char *const *refs = NULL;
        int32_t n_refs = 0;
        status = spdf_task_data_references(task, i, &refs, &n_refs);
        if (status == SPDF_OK && n_refs == 0) {
            spdf_bleu_free(sc.bleu);
            cli_error("item %lld has no references to score against", (long long)i + 1);
            return EXIT_BAD_INPUT;
        }
        if (status == SPDF_OK) status = scorer_add(&sc, hyps[i], refs, n_refs);
        if (status != SPDF_OK) return add_failed(&sc, status, "item", i);
    }
    return scorer_finish(&sc, result);
}

int score_task(const spdf_task_data *task, const char *const *hyps, int64_t count,
               spdf_bleu_result *result)
{
    score_settings settings = {.count_blank_refs = 0};
    spdf_bleu_options_init(&settings.options);
    return score_task_with(&settings, task, hyps, count, result);
}

/* ---- system output files ---- */

/* A TSV field in place: a field in double quotes loses them and "" becomes ". */
static char *unquote(char *field)
{
    const size_t length = strlen(field);
    if (length < 2 || field[0] != '"' || field[length - 1] != '"') return field;
    field[length - 1] = '\0';
    char *read = field + 1, *write = field;
    while (*read) {
        if (read[0] == '"' && read[1] == '"') read++;
        *write++ = *read++;
    }
    *write = '\0';
    return field;
}

static int is_tsv_header(const char *line)
{
    return strncasecmp(line, "mr\t", 3) == 0;
}

/* Hypotheses for the first `items` items of refs, from lines of TSV "MR<TAB>output" (after the
 * header); outputs for the items past them (--limit) are passed over. */
static int match_tsv(const char *path, char **lines, size_t count, const spdf_task_data *refs,
                     const char **hyps, int64_t items)
{
    int64_t all_items = 0;
    spdf_task_data_count(refs, &all_items);
    for (size_t i = 1; i < count; i++) {
        if (!*lines[i]) continue;
        char *tab = strchr(lines[i], '\t');
        if (!tab) {
            cli_error("%s:%zu: expected MR<TAB>output", path, i + 1);
            return EXIT_BAD_INPUT;
        }
        *tab = '\0';
        const char *mr = unquote(lines[i]);
        const char *output = unquote(tab + 1);
        int64_t item = -1;
        for (int64_t k = 0; k < all_items && item < 0; k++) {
            const char *prompt = NULL;
            spdf_task_data_prompt(refs, k, &prompt);
            if (strcmp(prompt, mr) == 0) item = k;
        }
        if (item < 0) {
            cli_error("%s:%zu: MR \"%s\" is not in the references", path, i + 1, mr);
            return EXIT_BAD_INPUT;
        }
        if (item >= items) continue;
        if (hyps[item]) {
            cli_error("%s:%zu: a second output for MR \"%s\"", path, i + 1, mr);
            return EXIT_BAD_INPUT;
        }
        hyps[item] = output;
    }
    for (int64_t k = 0; k < items; k++) {
        if (!hyps[k]) {
            const char *prompt = NULL;
            spdf_task_data_prompt(refs, k, &prompt);
            cli_error("%s: no output for MR \"%s\"", path, prompt);
            return EXIT_BAD_INPUT;
        }
    }
    return EXIT_OK;
}

/* Non-empty text without a trailing empty line: lines as split by cli_split_lines. */
static int read_lines(const char *path, char **text, char ***lines, size_t *count)
{
    size_t size = 0;
    *text = cli_read_file(path, &size);
    if (!*text) return EXIT_BAD_INPUT;
    if (strlen(*text) != size) {
        cli_error("'%s' holds a NUL byte: not a text file", path);
        return EXIT_BAD_INPUT;
    }
    *lines = cli_split_lines(*text, count);
    if (!*lines) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    return EXIT_OK;
}

/* What a run of `spdf score` was asked. */
typedef struct score_request {
    const char *refs, *hyps;  /* task references and their outputs */
    int32_t format;           /* of refs: task_format_names */
    const char *hyp;          /* plain text */
    const string_list *ref;
    int64_t limit;            /* 0: every item or line */
    score_settings settings;
} score_request;

/* One output per line for the first `items` items: as many lines as the references have items,
 * or with --limit at least `items`. */
static int match_lines(const score_request *q, char **lines, size_t count, int64_t all_items,
                       const char **hyps, int64_t items)
{
    const int fits = q->limit > 0 ? (int64_t)count >= items : (int64_t)count == all_items;
    if (!fits) {
        cli_error("'%s' holds %zu lines but '%s' has %lld %s (one output per line, in their order, or a TSV "
                  "with the header MR<TAB>output)", q->hyps, count, q->refs,
                  (long long)(q->limit > 0 ? items : all_items), q->limit > 0 ? "items to score" : "items");
        return EXIT_BAD_INPUT;
    }
    for (int64_t k = 0; k < items; k++) hyps[k] = lines[k];
    return EXIT_OK;
}

static int score_refs(const score_request *q, spdf_bleu_result *result)
{
    spdf_task_data *refs = NULL;
    int code = task_load(q->refs, q->format, &refs);
    if (code != EXIT_OK) return code;
    char *text = NULL, **lines = NULL;
    size_t count = 0;
    int64_t all_items = 0;
    spdf_task_data_count(refs, &all_items);
    const int64_t items = q->limit > 0 && q->limit < all_items ? q->limit : all_items;
    const char **hyps = calloc((size_t)items, sizeof *hyps);
    code = hyps ? read_lines(q->hyps, &text, &lines, &count) : EXIT_FAILURE_RUNTIME;
    if (code == EXIT_OK && count > 0 && is_tsv_header(lines[0]))
        code = match_tsv(q->hyps, lines, count, refs, hyps, items);
    else if (code == EXIT_OK)
        code = match_lines(q, lines, count, all_items, hyps, items);
    if (code == EXIT_OK) code = score_task_with(&q->settings, refs, hyps, items, result);
    free(hyps);
    free(lines);
    free(text);
    spdf_task_data_free(refs);
    return code;
}

/* The hypothesis file and the reference files, line by line: files of equal length, or with
 * --limit N at least N lines each, of which the first N count. */
static int score_plain(const score_request *q, spdf_bleu_result *result)
{
    const int n_refs = q->ref->count;
    char *hyp_text = NULL, **hyp_lines = NULL;
    size_t count = 0;
    char **ref_texts = calloc((size_t)n_refs, sizeof *ref_texts);
    char ***ref_lines = calloc((size_t)n_refs, sizeof *ref_lines);
    const char **refs = calloc((size_t)n_refs, sizeof *refs);
    int code = ref_texts && ref_lines && refs ? read_lines(q->hyp, &hyp_text, &hyp_lines, &count)
                                              : EXIT_FAILURE_RUNTIME;
    const size_t used = q->limit > 0 && (uint64_t)q->limit < count ? (size_t)q->limit : count;
    if (code == EXIT_OK && q->limit > 0 && count < (uint64_t)q->limit) {
        cli_error("'%s' holds %zu hypotheses, fewer than --limit %lld", q->hyp, count, (long long)q->limit);
        code = EXIT_BAD_INPUT;
    }
    for (int r = 0; code == EXIT_OK && r < n_refs; r++) {
        size_t ref_count = 0;
        code = read_lines(q->ref->items[r], &ref_texts[r], &ref_lines[r], &ref_count);
        if (code == EXIT_OK && (q->limit > 0 ? ref_count < used : ref_count != count)) {
            cli_error("'%s' holds %zu lines but '%s' holds %zu hypotheses%s", q->ref->items[r], ref_count, q->hyp,
                      q->limit > 0 ? used : count, q->limit > 0 ? " to score" : "");
            code = EXIT_BAD_INPUT;
        }
    }
    if (code == EXIT_OK && count == 0) {
        cli_error("'%s' holds no hypotheses", q->hyp);
        code = EXIT_BAD_INPUT;
    }
    scorer sc = {0};
    spdf_status status = code == EXIT_OK ? scorer_init(&sc, &q->settings) : SPDF_OK;
    if (status != SPDF_OK) code = cli_library_error(status, EXIT_FAILURE_RUNTIME, "scoring failed");
    for (size_t i = 0; code == EXIT_OK && i < used; i++) {
        for (int r = 0; r < n_refs; r++) refs[r] = ref_lines[r][i];
        status = scorer_add(&sc, hyp_lines[i], refs, n_refs);
        if (status != SPDF_OK) code = add_failed(&sc, status, "line", (int64_t)i);
    }
    if (code == EXIT_OK) code = scorer_finish(&sc, result);
    spdf_bleu_free(sc.bleu);
    for (int r = 0; r < n_refs; r++) {
        if (ref_lines) free(ref_lines[r]);
        if (ref_texts) free(ref_texts[r]);
    }
    free(ref_lines);
    free(ref_texts);
    free(refs);
    free(hyp_lines);
    free(hyp_text);
    return code;
}

/* Which inputs were given, and whether they go together. */
static int check_inputs(const score_request *q, int lowercase, int no_lowercase, int format_given)
{
    const int task = q->refs || q->hyps, plain = q->hyp || q->ref->count;
    if (task == plain) {
        cli_error("give either --refs and --hyps, or --hyp and --ref (see 'spdf score --help')");
        return EXIT_USAGE;
    }
    if (task && (!q->refs || !q->hyps)) {
        cli_error("--%s is required with --%s (see 'spdf score --help')", q->refs ? "hyps" : "refs",
                  q->refs ? "refs" : "hyps");
        return EXIT_USAGE;
    }
    if (plain && (!q->hyp || !q->ref->count)) {
        cli_error("--%s is required with --%s (see 'spdf score --help')", q->hyp ? "ref" : "hyp",
                  q->hyp ? "hyp" : "ref");
        return EXIT_USAGE;
    }
    if (plain && format_given) {
        cli_error("--format is the format of --refs; plain text (--hyp, --ref) has none");
        return EXIT_USAGE;
    }
    if (lowercase && no_lowercase) {
        cli_error("--lowercase and --no-lowercase exclude each other (see 'spdf score --help')");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int command_score(int argc, char **argv)
{
    static const char *const tokenizers[] = {"13a", "none", "char", NULL}; /* spdf_bleu_tokenize order */
    static const char *const blank_ref_rules[] = {"ignore", "count", NULL};
    string_list ref = {0};
    score_request q = {.ref = &ref};
    spdf_bleu_options_init(&q.settings.options);
    int32_t json = 0, lowercase = 0, no_lowercase = 0, tokenize = SPDF_BLEU_TOKENIZE_13A, blank_refs = 0;
    option_spec options[] = {
        OPT_STRING("refs", &q.refs, "FILE", "references: a task file, E2E's CSV (mr,ref) unless --format says otherwise"),
        OPT_CHOICE("format", &q.format, NULL, task_format_names, "format of --refs"),
        OPT_STRING("hyps", &q.hyps, "FILE",
                   "system output for --refs: TSV MR<TAB>output with that header, or one output per line in item order"),
        OPT_STRING("hyp", &q.hyp, "FILE", "plain text: one hypothesis per line"),
        OPT_LIST("ref", &ref, "FILE", "plain text: references, line i for hypothesis i (repeat for more references)"),
        OPT_CHOICE("tokenize", &tokenize, NULL, tokenizers,
                   "sacreBLEU's tokenizers: mteval-v13a, white space only (pre-tokenized text), characters"),
        OPT_FLAG("lowercase", &lowercase, "lowercase before tokenizing (the default, as the E2E scorer)"),
        OPT_FLAG("no-lowercase", &no_lowercase, "keep the case (sacreBLEU's default, multi-bleu.perl without -lc)"),
        OPT_CHOICE("blank-refs", &blank_refs, NULL, blank_ref_rules,
                   "ignore blank references (mteval, sacreBLEU), or count them as length 0 for BLEU's brevity "
                   "penalty (multi-bleu.perl)"),
        OPT_INT64("limit", &q.limit, "N", 0, 1e15, "score only the first N items or lines (0: all)"),
        OPT_FLAG("json", &json, "print one JSON object (BLEU, NIST and their statistics) instead of text"),
    };
    command_spec command = {
        .name = "score",
        .usage = "(--refs FILE [--format F] --hyps OUTPUT | --hyp HYPS.txt --ref REF1.txt [--ref REF2.txt ...])\n"
                 "       [--tokenize 13a|none|char] [--lowercase | --no-lowercase] [--blank-refs ignore|count]\n"
                 "       [--limit N] [--json]",
        .summary = "Score system outputs with corpus BLEU and NIST, by default as the official E2E NLG challenge\n"
                   "scorer computes them (mteval-v13a tokenisation, lowercased, a varying number of references per\n"
                   "segment).  No model is involved.",
        .options = options,
        .option_count = COUNT_OF(options),
        .epilog = "Empty reference lines are ignored (unless --blank-refs count), so reference files of unequal\n"
                  "coverage can be padded.  WebNLG's published baseline figures: --tokenize none gives sacreBLEU's\n"
                  "32.39, --tokenize none --blank-refs count multi-bleu.perl -lc's 33.24.",
    };
    const int parsed = options_parse(&command, argc, argv, NULL, NULL);
    int code = parsed == PARSE_OK ? check_inputs(&q, lowercase, no_lowercase, options_given(&command, "format"))
                                  : parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (parsed != PARSE_OK || code != EXIT_OK) {
        free(ref.items);
        return code;
    }
    q.settings.options.tokenize = tokenize;
    q.settings.options.lowercase = !no_lowercase;
    q.settings.count_blank_refs = blank_refs;
    spdf_bleu_result result;
    memset(&result, 0, sizeof result);
    code = q.refs ? score_refs(&q, &result) : score_plain(&q, &result);
    free(ref.items);
    if (code != EXIT_OK) return code;
    if (json) {
        json_writer w;
        json_begin(&w, stdout);
        json_scores(&w, &result);
        json_end(&w);
    } else {
        print_scores(&result);
    }
    return EXIT_OK;
}
