/* Pre-training corpora (token files or text as bytes, with a held-out tail) and fine-tuning
 * sequences with per-token loss weights, shuffled per epoch. */
#include "data.h"

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first four bytes of the two token file formats (docs/token-format.md). */
static int starts_like_token_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file) return 0;
    unsigned char magic[4];
    const size_t got = fread(magic, 1, 4, file);
    fclose(file);
    if (got != 4) return 0;
    const uint32_t word = (uint32_t)magic[0] | (uint32_t)magic[1] << 8 | (uint32_t)magic[2] << 16 |
                          (uint32_t)magic[3] << 24;
    return word == 20240520u || memcmp(magic, "SPDT", 4) == 0;
}

/* The ids of len bytes of text into ids, which holds len: never more ids than bytes, since BPE
 * merges bytes and the byte tokenizer is one to one. */
static spdf_status encode_into(const spdf_tokenizer *tok, const char *text, size_t len, int32_t *ids,
                               size_t *count)
{
    return tok ? spdf_tokenizer_encode(tok, text, len, ids, len, count) : spdf_byte_encode(text, len, ids, len, count);
}

int32_t *text_encode(const spdf_tokenizer *tok, const char *text, size_t len, size_t *count)
{
    int32_t *ids = malloc((len ? len : 1) * sizeof *ids);
    if (!ids || encode_into(tok, text, len, ids, count) != SPDF_OK) {
        free(ids);
        return NULL;
    }
    return ids;
}

int text_marks_of(const spdf_tokenizer *tok, text_marks *out)
{
    out->end_of_text = SPDF_TOKEN_EOT;
    out->newline = '\n';
    if (!tok) return EXIT_OK;
    const spdf_status status = spdf_tokenizer_end_of_text(tok, &out->end_of_text);
    if (status != SPDF_OK)
        return cli_library_error(status, EXIT_BAD_INPUT, "the tokenizer cannot end a text");
    size_t count = 0;
    spdf_tokenizer_encode(tok, "\n", 1, &out->newline, 1, &count);
    if (count != 1) {
        cli_error("the tokenizer encodes \"\\n\" as %zu ids: the separator of prompt and target must be one",
                  count);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

int32_t *prompt_encode(const spdf_tokenizer *tok, const char *text, const text_marks *separator, size_t *count)
{
    const size_t len = strlen(text);
    int32_t *ids = malloc((len + 1) * sizeof *ids);
    if (!ids || encode_into(tok, text, len, ids, count) != SPDF_OK) {
        free(ids);
        return NULL;
    }
    if (separator) ids[(*count)++] = separator->newline;
    return ids;
}

char *text_decode(const spdf_tokenizer *tok, const int32_t *ids, size_t n, size_t *len)
{
    size_t bytes = 0;
    spdf_status status = tok ? spdf_tokenizer_decode(tok, ids, n, NULL, 0, &bytes)
                             : spdf_byte_decode(ids, n, NULL, 0, &bytes);
    char *text = status == SPDF_OK ? malloc(bytes + 1) : NULL;
    if (!text) return NULL;
    status = tok ? spdf_tokenizer_decode(tok, ids, n, text, bytes, &bytes)
                 : spdf_byte_decode(ids, n, text, bytes, &bytes);
    if (status != SPDF_OK) {
        free(text);
        return NULL;
    }
    text[bytes] = '\0';
    *len = bytes;
    return text;
}

int tokenizer_open(const char *path, spdf_tokenizer **tok)
{
    *tok = NULL;
    if (!path) return EXIT_OK;
    const spdf_status status = spdf_tokenizer_load(path, tok);
    if (status != SPDF_OK)
        return cli_library_error(status, cli_input_exit_code(status), "cannot load the tokenizer");
    return EXIT_OK;
}

/* 1 if the file starts with a libspdf checkpoint's magic (docs/checkpoint-format.md). */
static int starts_like_checkpoint(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file) return 0;
    char magic[8];
    const size_t got = fread(magic, 1, sizeof magic, file);
    fclose(file);
    return got == sizeof magic && memcmp(magic, "SPDFCKPT", sizeof magic) == 0;
}

static void describe_tokenizer(const spdf_tokenizer *tok, char *out, size_t size)
{
    int32_t vocab = 0;
    uint32_t checksum = 0;
    spdf_tokenizer_vocab_size(tok, &vocab);
    spdf_tokenizer_checksum(tok, &checksum);
    snprintf(out, size, "%d ids, checksum %08x", (int)vocab, (unsigned)checksum);
}

int tokenizer_open_stored(const char *model_path, const char *path, spdf_tokenizer **tok)
{
    *tok = NULL;
    spdf_tokenizer *stored = NULL, *given = NULL;
    if (model_path && starts_like_checkpoint(model_path)) {
        const spdf_status status = spdf_checkpoint_load_tokenizer(model_path, &stored);
        if (status != SPDF_OK)
            return cli_library_error(status, cli_input_exit_code(status), "cannot read the tokenizer of '%s'",
                                     model_path);
    }
    const int code = tokenizer_open(path, &given);
    if (code != EXIT_OK || !stored || !given) {
        *tok = stored ? stored : given;
        if (code != EXIT_OK) spdf_tokenizer_free(stored);
        return code;
    }
    uint32_t stored_sum = 0, given_sum = 0;
    spdf_tokenizer_checksum(stored, &stored_sum);
    spdf_tokenizer_checksum(given, &given_sum);
    if (stored_sum != given_sum) {
        char stored_text[64], given_text[64];
        describe_tokenizer(stored, stored_text, sizeof stored_text);
        describe_tokenizer(given, given_text, sizeof given_text);
        cli_error("the tokenizer '%s' (%s) is not the one stored in '%s' (%s): leave out --tokenizer to use "
                  "the stored one", path, given_text, model_path, stored_text);
        spdf_tokenizer_free(stored);
        spdf_tokenizer_free(given);
        return EXIT_BAD_INPUT;
    }
    spdf_tokenizer_free(given);
    *tok = stored;
    return EXIT_OK;
}

int corpus_is_token_file(const char *path) { return starts_like_token_file(path); }

int tokenizer_open_for(const char *model_path, const spdf_model *model, const char *path, int encodes_text,
                       spdf_tokenizer **tok)
{
    const int code = tokenizer_open_stored(model_path, path, tok);
    if (code != EXIT_OK) return code;
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    spdf_model_get_config(model, &mc);
    int32_t vocab = SPDF_BYTE_VOCAB_SIZE;
    if (*tok) spdf_tokenizer_vocab_size(*tok, &vocab);
    if (*tok && vocab > mc.vocab_size) {
        cli_error("the tokenizer '%s' has %d ids, more than the model's vocabulary of %d", path, (int)vocab,
                  (int)mc.vocab_size);
    } else if (!*tok && encodes_text && mc.vocab_size > SPDF_BYTE_VOCAB_SIZE) {
        cli_error("the model in '%s' has a vocabulary of %d ids but no tokenizer is stored in it: pass the "
                  "--tokenizer it was trained with (one token per byte needs %d)", model_path, (int)mc.vocab_size,
                  SPDF_BYTE_VOCAB_SIZE);
        return EXIT_BAD_INPUT;
    } else {
        return EXIT_OK;
    }
    spdf_tokenizer_free(*tok);
    *tok = NULL;
    return EXIT_BAD_INPUT;
}

/* The ids of len bytes of text as one dataset; `what` names the text in the error message. */
static int encode_text(const char *text, size_t len, const spdf_tokenizer *tok, const char *what,
                       spdf_dataset **out)
{
    size_t count = 0;
    int32_t *tokens = text_encode(tok, text, len, &count);
    spdf_status status = tokens ? spdf_dataset_from_tokens(tokens, (int64_t)count, out) : SPDF_ENOMEM;
    free(tokens);
    if (status != SPDF_OK) return cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot encode %s", what);
    return EXIT_OK;
}

static int load_text(const char *path, const spdf_tokenizer *tok, spdf_dataset **out)
{
    size_t size = 0;
    char *text = cli_read_file(path, &size);
    if (!text) return EXIT_BAD_INPUT;
    char what[1024];
    snprintf(what, sizeof what, "'%s'", path);
    const int code = encode_text(text, size, tok, what, out);
    free(text);
    return code;
}

/* Splits all (taken over: freed here) into out's training and held-out parts. */
static int corpus_split(spdf_dataset *all, float val_fraction, const char *what, corpus *out)
{
    int64_t count = 0;
    const int32_t *tokens = NULL;
    spdf_dataset_size(all, &count);
    spdf_dataset_tokens(all, &tokens);
    spdf_dataset_vocab_bound(all, &out->vocab_bound);
    const int64_t held_out = (int64_t)((double)count * (double)val_fraction);
    out->train_tokens = count - held_out;
    out->val_tokens = held_out;
    spdf_status status = spdf_dataset_from_tokens(tokens, out->train_tokens, &out->train);
    if (status == SPDF_OK && held_out > 0)
        status = spdf_dataset_from_tokens(tokens + out->train_tokens, held_out, &out->val);
    spdf_dataset_free(all);
    if (status != SPDF_OK) {
        corpus_free(out);
        return cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot split %s", what);
    }
    return EXIT_OK;
}

int corpus_load(const char *path, float val_fraction, const spdf_tokenizer *tok, corpus *out)
{
    memset(out, 0, sizeof *out);
    spdf_dataset *all = NULL;
    spdf_status status = spdf_dataset_load(path, &all);
    if (status == SPDF_EFORMAT && !starts_like_token_file(path)) {
        const int code = load_text(path, tok, &all);
        if (code != EXIT_OK) return code;
        out->from_text = 1;
    } else if (status != SPDF_OK) {
        return cli_library_error(status, cli_input_exit_code(status), "cannot load '%s'", path);
    }
    char what[1024];
    snprintf(what, sizeof what, "'%s'", path);
    return corpus_split(all, val_fraction, what, out);
}

int corpus_from_text(const char *text, size_t len, float val_fraction, const spdf_tokenizer *tok,
                     const char *what, corpus *out)
{
    memset(out, 0, sizeof *out);
    spdf_dataset *all = NULL;
    const int code = encode_text(text, len, tok, what, &all);
    if (code != EXIT_OK) return code;
    out->from_text = 1;
    return corpus_split(all, val_fraction, what, out);
}

void corpus_free(corpus *c)
{
    spdf_dataset_free(c->train);
    spdf_dataset_free(c->val);
    c->train = c->val = NULL;
}

/* Appends ids to seq (length *n, capacity cap) as far as they fit. */
static void append_ids(int32_t *seq, size_t *n, size_t cap, const int32_t *ids, size_t count)
{
    for (size_t k = 0; k < count && *n < cap; k++) seq[(*n)++] = ids[k];
}

/* Writes one example into row (tokens T+1, weights T) and its span (positions through the last
 * weighted one), and the context its whole sequence needs into *needed; returns 0 if nothing is
 * left to learn, 1 if it fits, 2 if it was truncated, -1 when out of memory. */
static int build_example(const char *prompt, const char *target, int32_t T, const spdf_tokenizer *tok,
                         const text_marks *marks, int32_t *tokens, float *weights, int32_t *span,
                         int64_t *needed)
{
    size_t prompt_count = 0, target_count = 0; /* the prompt's with the separator */
    int32_t *prompt_ids = prompt_encode(tok, prompt, marks, &prompt_count);
    int32_t *target_ids = text_encode(tok, target, strlen(target), &target_count);
    if (!prompt_ids || !target_ids) {
        free(prompt_ids);
        free(target_ids);
        return -1;
    }
    const size_t cap = (size_t)T + 1;
    size_t n = 0;
    append_ids(tokens, &n, cap, prompt_ids, prompt_count);
    const size_t target_start = n; /* index of the first token that carries loss */
    append_ids(tokens, &n, cap, target_ids, target_count);
    const size_t full_length = prompt_count + target_count + 1;
    *needed = (int64_t)full_length - 1;
    free(prompt_ids);
    free(target_ids);
    if (n < cap) tokens[n++] = marks->end_of_text;
    const size_t end = n; /* tokens [target_start, end) are predicted with weight 1 */
    for (; n < cap; n++) tokens[n] = marks->end_of_text;
    for (size_t t = 0; t < (size_t)T; t++) weights[t] = (t + 1 >= target_start && t + 1 < end) ? 1.0f : 0.0f;
    *span = (int32_t)(end - 1);
    if (target_start >= end) return 0;
    return full_length > cap ? 2 : 1;
}

static int by_length(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The contexts that would hold all pairs, and 99 % of them, whole (sorts needed). */
static void set_fitting_contexts(finetune_data *d, int64_t *needed, int64_t pairs)
{
    if (pairs == 0) return;
    qsort(needed, (size_t)pairs, sizeof *needed, by_length);
    const int64_t p99 = (pairs * 99 + 99) / 100 - 1; /* ceil(0.99 n) - 1 */
    d->fit_all = needed[pairs - 1] < INT32_MAX ? (int32_t)needed[pairs - 1] : INT32_MAX;
    d->fit_p99 = needed[p99] < INT32_MAX ? (int32_t)needed[p99] : INT32_MAX;
}

int finetune_data_build(const spdf_task_data *task, int64_t items, int32_t context,
                        const spdf_tokenizer *tok, finetune_data *out)
{
    memset(out, 0, sizeof *out);
    out->context = context;
    text_marks marks;
    const int marked = text_marks_of(tok, &marks);
    if (marked != EXIT_OK) return marked;
    int64_t pairs = 0, item_count = 0;
    spdf_task_data_pair_count(task, &pairs);
    spdf_task_data_count(task, &item_count);
    if (items > 0 && items < item_count) {
        /* pairs are item by item in reference order: count those of the first `items` items */
        int64_t limit = 0;
        for (int64_t i = 0; i < items; i++) {
            int32_t refs = 0;
            spdf_task_data_reference_count(task, i, &refs);
            limit += refs;
        }
        pairs = limit;
    }
    const size_t row = (size_t)context + 1;
    out->tokens = malloc((size_t)(pairs ? pairs : 1) * row * sizeof *out->tokens);
    out->weights = malloc((size_t)(pairs ? pairs : 1) * (size_t)context * sizeof *out->weights);
    out->spans = malloc((size_t)(pairs ? pairs : 1) * sizeof *out->spans);
    if (!out->tokens || !out->weights || !out->spans) {
        finetune_data_free(out);
        cli_error("out of memory for %lld fine-tuning examples", (long long)pairs);
        return EXIT_FAILURE_RUNTIME;
    }
    out->pairs = pairs;
    int64_t *needed = malloc((size_t)(pairs ? pairs : 1) * sizeof *needed);
    if (!needed) {
        finetune_data_free(out);
        cli_error("out of memory for %lld fine-tuning examples", (long long)pairs);
        return EXIT_FAILURE_RUNTIME;
    }
    for (int64_t p = 0; p < pairs; p++) {
        const char *prompt = NULL, *target = NULL;
        spdf_task_data_pair(task, p, &prompt, &target);
        int32_t *tokens = out->tokens + (size_t)out->count * row;
        float *weights = out->weights + (size_t)out->count * (size_t)context;
        const int kind = build_example(prompt, target, context, tok, &marks, tokens, weights,
                                       &out->spans[out->count], &needed[p]);
        if (kind < 0) {
            free(needed);
            finetune_data_free(out);
            cli_error("out of memory for fine-tuning examples");
            return EXIT_FAILURE_RUNTIME;
        }
        if (kind == 0) {
            out->dropped++;
            continue;
        }
        if (kind == 2) out->truncated++;
        out->count++;
    }
    set_fitting_contexts(out, needed, pairs);
    free(needed);
    if (out->count == 0) {
        finetune_data_free(out);
        cli_error("no fine-tuning example fits a context of %d tokens", (int)context);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

void finetune_data_free(finetune_data *d)
{
    free(d->tokens);
    free(d->weights);
    free(d->spans);
    d->tokens = NULL;
    d->weights = NULL;
    d->spans = NULL;
}

/* SplitMix64: the shuffle's random numbers, a pure function of the state. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fisher-Yates permutation of 0..n-1, drawn from (seed, epoch, salt). */
static void shuffle(uint64_t seed, int64_t epoch, uint64_t salt, int64_t n, int64_t *order)
{
    uint64_t state = seed * 0x2545F4914F6CDD1Dull ^ (uint64_t)epoch * 0x9E3779B97F4A7C15ull ^ salt;
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)(splitmix64(&state) % (uint64_t)(i + 1));
        const int64_t swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
}

static int by_key(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

enum { GROUP_WINDOW = 64 }; /* batches per window sorted by length */

/* The examples of batch `batch` of `epoch`, into rows[0..B-1]. */
static int batch_rows(const finetune_data *d, uint64_t seed, batch_order order, int64_t epoch, int64_t batch,
                      int32_t B, int64_t *rows)
{
    const int64_t n = d->count, batches = n / B > 0 ? n / B : 1;
    int64_t *examples = malloc((size_t)n * sizeof *examples);
    if (!examples) return -1;
    shuffle(seed, epoch, 0, n, examples);
    if (order == BATCH_RANDOM || n < B) {
        for (int32_t b = 0; b < B; b++) rows[b] = examples[(batch * B + b) % n];
        free(examples);
        return 0;
    }
    /* the epoch uses the last batches * B examples of the shuffle; windows sorted by length */
    int64_t *used = examples + (n - batches * B);
    const int64_t window = (int64_t)GROUP_WINDOW * B;
    int64_t *batch_order_list = malloc((size_t)batches * sizeof *batch_order_list);
    uint64_t *keys = malloc((size_t)window * sizeof *keys);
    if (!batch_order_list || !keys) {
        free(examples);
        free(batch_order_list);
        free(keys);
        return -1;
    }
    shuffle(seed, epoch, 0x6261746368ull /* "batch" */, batches, batch_order_list);
    const int64_t first = batch_order_list[batch] * B; /* in the length-sorted sequence */
    const int64_t start = first / window * window;
    const int64_t length = batches * B - start < window ? batches * B - start : window;
    for (int64_t i = 0; i < length; i++)
        keys[i] = (uint64_t)d->spans[used[start + i]] << 32 | (uint64_t)used[start + i];
    qsort(keys, (size_t)length, sizeof *keys, by_key);
    for (int32_t b = 0; b < B; b++) rows[b] = (int64_t)(keys[first - start + b] & 0xFFFFFFFFu);
    free(examples);
    free(batch_order_list);
    free(keys);
    return 0;
}

/* Copies rows into a (B, T) batch with the given length. */
static void gather(const finetune_data *d, const int64_t *rows, int32_t B, int32_t T, int32_t *inputs,
                   int32_t *targets, float *weights)
{
    const size_t row = (size_t)d->context + 1;
    for (int32_t b = 0; b < B; b++) {
        const int32_t *tokens = d->tokens + (size_t)rows[b] * row;
        memcpy(inputs + (size_t)b * (size_t)T, tokens, (size_t)T * sizeof *tokens);
        memcpy(targets + (size_t)b * (size_t)T, tokens + 1, (size_t)T * sizeof *tokens);
        if (weights)
            memcpy(weights + (size_t)b * (size_t)T, d->weights + (size_t)rows[b] * (size_t)d->context,
                   (size_t)T * sizeof *weights);
    }
}

static int32_t batch_length(const finetune_data *d, const int64_t *rows, int32_t B)
{
    int32_t longest = 1;
    for (int32_t b = 0; b < B; b++)
        if (d->spans[rows[b]] > longest) longest = d->spans[rows[b]];
    longest = (longest + 7) / 8 * 8;
    return longest < d->context ? longest : d->context;
}

int finetune_batch(const finetune_data *d, uint64_t seed, batch_order order, int64_t step, int32_t B,
                   int32_t *inputs, int32_t *targets, float *weights, int32_t *T)
{
    const int64_t batches = d->count / B > 0 ? d->count / B : 1;
    int64_t *rows = malloc((size_t)B * sizeof *rows);
    if (!rows || batch_rows(d, seed, order, step / batches, step % batches, B, rows) != 0) {
        free(rows);
        return -1;
    }
    *T = batch_length(d, rows, B);
    gather(d, rows, B, *T, inputs, targets, weights);
    free(rows);
    return 0;
}

spdf_status finetune_data_loss(spdf_model *model, const finetune_data *d, int32_t B, double *loss)
{
    const int32_t context = d->context;
    int32_t *inputs = malloc((size_t)B * (size_t)context * sizeof *inputs);
    int32_t *targets = malloc((size_t)B * (size_t)context * sizeof *targets);
    float *weights = malloc((size_t)B * (size_t)context * sizeof *weights);
    int64_t *rows = malloc((size_t)B * sizeof *rows);
    spdf_status status = inputs && targets && weights && rows ? SPDF_OK : SPDF_ENOMEM;
    double total = 0, weight_total = 0;
    for (int64_t first = 0; status == SPDF_OK && first < d->count; first += B) {
        const int32_t count = (int32_t)(d->count - first < B ? d->count - first : B);
        for (int32_t b = 0; b < count; b++) rows[b] = first + b;
        const int32_t T = batch_length(d, rows, count);
        gather(d, rows, count, T, inputs, targets, weights);
        double batch_weight = 0;
        for (size_t i = 0; i < (size_t)count * (size_t)T; i++) batch_weight += weights[i];
        float batch_loss = 0;
        status = spdf_model_forward_eval(model, inputs, targets, weights, count, T, &batch_loss);
        total += (double)batch_loss * batch_weight;
        weight_total += batch_weight;
    }
    free(inputs);
    free(targets);
    free(weights);
    free(rows);
    if (status == SPDF_OK) *loss = weight_total > 0 ? total / weight_total : 0;
    return status;
}

const char *const task_format_names[] = {"e2e", "webnlg", "dart", "jsonl", NULL};

/* For a task file that failed to load: the --format its first character suggests, when that is
 * not the one given (DART's test set, for one, is WebNLG-style XML), else "". */
static const char *format_hint(const char *path, int32_t format)
{
    FILE *file = fopen(path, "rb");
    if (!file) return "";
    int c = fgetc(file);
    if (c == 0xEF && fgetc(file) == 0xBB && fgetc(file) == 0xBF) c = fgetc(file); /* a UTF-8 BOM */
    while (c == ' ' || c == '\t' || c == '\r' || c == '\n') c = fgetc(file);
    fclose(file);
    if (c == '<' && format != 1) return " (the file is XML: WebNLG's files and DART's test XML take --format webnlg)";
    if (c == '[' && format != 2) return " (the file is a JSON list: DART's JSON takes --format dart)";
    if (c == '{' && format != 3) return " (the file looks like JSON Lines: --format jsonl)";
    return "";
}

int task_load(const char *path, int32_t format, spdf_task_data **task)
{
    static const spdf_task_format formats[] = {SPDF_TASK_E2E_CSV, SPDF_TASK_WEBNLG_XML, SPDF_TASK_DART_JSON,
                                               SPDF_TASK_JSONL};
    const spdf_status status = spdf_task_data_load(path, formats[format], task);
    if (status == SPDF_EFORMAT && *format_hint(path, format)) {
        char detail[1024];
        snprintf(detail, sizeof detail, "%s", spdf_last_error());
        cli_error("cannot load '%s': %s%s", path, detail, format_hint(path, format));
        return EXIT_BAD_INPUT;
    }
    if (status != SPDF_OK) return cli_library_error(status, cli_input_exit_code(status), "cannot load '%s'", path);
    int64_t items = 0;
    spdf_task_data_count(*task, &items);
    if (items == 0) {
        spdf_task_data_free(*task);
        *task = NULL;
        cli_error("'%s' holds no items", path);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}
