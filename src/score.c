/* `spdf score`: corpus BLEU and NIST of system outputs against references, without a model.  E2E
 * references come as the challenge's CSV, outputs as its TSV (matched by MR) or one per line;
 * plain text as one hypothesis per line with any number of parallel reference files. */
#include "cli.h"
#include "data.h"
#include "evaluate.h"
#include "json_writer.h"
#include "options.h"

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

static int finish_score(spdf_bleu *bleu, spdf_bleu_result *result)
{
    memset(result, 0, sizeof *result);
    result->struct_size = sizeof *result;
    const spdf_status status = spdf_bleu_score(bleu, NULL, result);
    if (status != SPDF_OK) return cli_library_error(status, EXIT_FAILURE_RUNTIME, "scoring failed");
    return EXIT_OK;
}

int score_task(const spdf_task_data *task, const char *const *hyps, int64_t count,
               spdf_bleu_result *result)
{
    spdf_bleu *bleu = NULL;
    spdf_status status = spdf_bleu_create(&bleu);
    for (int64_t i = 0; status == SPDF_OK && i < count; i++) {
        const char *const *refs = NULL;
        int32_t n_refs = 0;
        status = spdf_task_data_references(task, i, &refs, &n_refs);
        if (status == SPDF_OK && n_refs == 0) {
            spdf_bleu_free(bleu);
            cli_error("item %lld has no references to score against", (long long)i + 1);
            return EXIT_BAD_INPUT;
        }
        if (status == SPDF_OK) status = spdf_bleu_add(bleu, hyps[i], refs, n_refs);
    }
    int code = status == SPDF_OK ? finish_score(bleu, result)
                                 : cli_library_error(status, status == SPDF_EINVAL ? EXIT_BAD_INPUT
                                                                                   : EXIT_FAILURE_RUNTIME,
                                                     "scoring failed");
    spdf_bleu_free(bleu);
    return code;
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

/* Hypotheses for every item of refs, from lines of TSV "MR<TAB>output" (after the header). */
static int match_tsv(const char *path, char **lines, size_t count, const spdf_task_data *refs,
                     const char **hyps, int64_t items)
{
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
        for (int64_t k = 0; k < items && item < 0; k++) {
            const char *prompt = NULL;
            spdf_task_data_prompt(refs, k, &prompt);
            if (strcmp(prompt, mr) == 0) item = k;
        }
        if (item < 0) {
            cli_error("%s:%zu: MR \"%s\" is not in the references", path, i + 1, mr);
            return EXIT_BAD_INPUT;
        }
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

static int score_e2e(const char *refs_path, const char *hyps_path, spdf_bleu_result *result)
{
    spdf_task_data *refs = NULL;
    int code = task_load(refs_path, 0, &refs);
    if (code != EXIT_OK) return code;
    char *text = NULL, **lines = NULL;
    size_t count = 0;
    int64_t items = 0;
    spdf_task_data_count(refs, &items);
    const char **hyps = calloc((size_t)items, sizeof *hyps);
    code = hyps ? read_lines(hyps_path, &text, &lines, &count) : EXIT_FAILURE_RUNTIME;
    if (code == EXIT_OK && count > 0 && is_tsv_header(lines[0])) {
        code = match_tsv(hyps_path, lines, count, refs, hyps, items);
    } else if (code == EXIT_OK) {
        if ((int64_t)count != items) {
            cli_error("'%s' holds %zu lines but '%s' has %lld MRs (one output per line, in MR order, or a TSV "
                      "with the header MR<TAB>output)", hyps_path, count, refs_path, (long long)items);
            code = EXIT_BAD_INPUT;
        }
        for (int64_t k = 0; code == EXIT_OK && k < items; k++) hyps[k] = lines[k];
    }
    if (code == EXIT_OK) code = score_task(refs, hyps, items, result);
    free(hyps);
    free(lines);
    free(text);
    spdf_task_data_free(refs);
    return code;
}

static int score_plain(const char *hyp_path, const string_list *ref_paths, spdf_bleu_result *result)
{
    const int n_refs = ref_paths->count;
    char *hyp_text = NULL, **hyp_lines = NULL;
    size_t count = 0;
    char **ref_texts = calloc((size_t)n_refs, sizeof *ref_texts);
    char ***ref_lines = calloc((size_t)n_refs, sizeof *ref_lines);
    const char **refs = calloc((size_t)n_refs, sizeof *refs);
    int code = ref_texts && ref_lines && refs ? read_lines(hyp_path, &hyp_text, &hyp_lines, &count)
                                              : EXIT_FAILURE_RUNTIME;
    for (int r = 0; code == EXIT_OK && r < n_refs; r++) {
        size_t ref_count = 0;
        code = read_lines(ref_paths->items[r], &ref_texts[r], &ref_lines[r], &ref_count);
        if (code == EXIT_OK && ref_count != count) {
            cli_error("'%s' holds %zu lines but '%s' holds %zu hypotheses", ref_paths->items[r], ref_count,
                      hyp_path, count);
            code = EXIT_BAD_INPUT;
        }
    }
    if (code == EXIT_OK && count == 0) {
        cli_error("'%s' holds no hypotheses", hyp_path);
        code = EXIT_BAD_INPUT;
    }
    spdf_bleu *bleu = NULL;
    spdf_status status = code == EXIT_OK ? spdf_bleu_create(&bleu) : SPDF_OK;
    for (size_t i = 0; code == EXIT_OK && status == SPDF_OK && i < count; i++) {
        for (int r = 0; r < n_refs; r++) refs[r] = ref_lines[r][i];
        status = spdf_bleu_add(bleu, hyp_lines[i], refs, n_refs);
        if (status != SPDF_OK)
            code = cli_library_error(status, status == SPDF_EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_RUNTIME,
                                     "line %zu", i + 1);
    }
    if (code == EXIT_OK) code = finish_score(bleu, result);
    spdf_bleu_free(bleu);
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

int command_score(int argc, char **argv)
{
    const char *refs = NULL, *hyps = NULL, *hyp = NULL;
    string_list ref = {0};
    int32_t json = 0;
    option_spec options[] = {
        OPT_STRING("refs", &refs, "REFS.csv", "E2E references: CSV with the header mr,ref"),
        OPT_STRING("hyps", &hyps, "FILE", "E2E system output: TSV MR<TAB>output with that header, or one output per line in MR order"),
        OPT_STRING("hyp", &hyp, "FILE", "plain text: one hypothesis per line"),
        OPT_LIST("ref", &ref, "FILE", "plain text: references, line i for hypothesis i (repeat for more references)"),
        OPT_FLAG("json", &json, "print one JSON object (BLEU, NIST and their statistics) instead of text"),
    };
    command_spec command = {
        .name = "score",
        .usage = "(--refs REFS.csv --hyps OUTPUT | --hyp HYPS.txt --ref REF1.txt [--ref REF2.txt ...]) [--json]",
        .summary = "Score system outputs with corpus BLEU and NIST as the official E2E NLG challenge scorer\n"
                   "computes them (mteval-v13a tokenisation, lowercased, a varying number of references per\n"
                   "segment).  No model is involved.",
        .options = options,
        .option_count = COUNT_OF(options),
        .epilog = "Empty reference lines are ignored, so reference files of unequal coverage can be padded.",
    };
    const int parsed = options_parse(&command, argc, argv, NULL, NULL);
    if (parsed != PARSE_OK) {
        free(ref.items);
        return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    }
    const int e2e = refs || hyps, plain = hyp || ref.count;
    int code = EXIT_OK;
    if (e2e == plain) {
        cli_error("give either --refs and --hyps, or --hyp and --ref (see 'spdf score --help')");
        code = EXIT_USAGE;
    } else if (e2e && (!refs || !hyps)) {
        cli_error("--%s is required with --%s (see 'spdf score --help')", refs ? "hyps" : "refs", refs ? "refs" : "hyps");
        code = EXIT_USAGE;
    } else if (plain && (!hyp || !ref.count)) {
        cli_error("--%s is required with --%s (see 'spdf score --help')", hyp ? "ref" : "hyp", hyp ? "hyp" : "ref");
        code = EXIT_USAGE;
    }
    spdf_bleu_result result;
    memset(&result, 0, sizeof result);
    if (code == EXIT_OK) code = e2e ? score_e2e(refs, hyps, &result) : score_plain(hyp, &ref, &result);
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
