/* `spdf generate` and `spdf eval`: text continuation from a checkpoint, held-out loss on text, and
 * the decoding of every item of a task with its BLEU and NIST. */
#include "evaluate.h"

#include "cli.h"
#include "data.h"
#include "json_writer.h"
#include "options.h"
#include "training_loop.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const strategy_names[] = {"greedy", "beam", "sample", NULL};

/* ---- helpers ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if none starts there. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    const unsigned char c = s[0];
    if (c >= 0x01 && c < 0x80) return 1;
    size_t length;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) length = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        length = 3;
        if (c == 0xE0) low = 0xA0;
        if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        length = 4;
        if (c == 0xF0) low = 0x90;
        if (c == 0xF4) high = 0x8F;
    } else {
        return 0;
    }
    if (n < length || s[1] < low || s[1] > high) return 0;
    for (size_t i = 2; i < length; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return length;
}

char *utf8_sanitize(const char *bytes, size_t n)
{
    char *out = malloc(3 * n + 1);
    if (!out) return NULL;
    const unsigned char *s = (const unsigned char *)bytes;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        const size_t length = utf8_sequence(s + i, n - i);
        if (length == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, length);
            o += length;
            i += length;
        }
    }
    out[o] = '\0';
    return out;
}

static int32_t model_positions(const spdf_model *model)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    spdf_model_get_config(model, &mc);
    return mc.max_seq_len;
}

int generate_text(spdf_model *model, const spdf_tokenizer *tok, const int32_t *prompt, size_t count,
                  const spdf_generate_config *config, char **text, size_t *length)
{
    const int32_t positions = model_positions(model);
    if (count >= (size_t)positions) {
        cli_error("the prompt (%zu tokens) does not fit the model's context of %d tokens", count,
                  (int)positions);
        return EXIT_USAGE;
    }
    text_marks marks;
    const int marked = text_marks_of(tok, &marks);
    if (marked != EXIT_OK) return marked;
    spdf_generate_config c = *config;
    c.stop_token = marks.end_of_text;
    int32_t *out = malloc((size_t)positions * sizeof *out);
    if (!out) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    int32_t produced = 0;
    spdf_status status = spdf_generate(model, prompt, (int32_t)count, &c, out, positions, &produced);
    if (status != SPDF_OK) {
        free(out);
        return cli_library_error(status, EXIT_FAILURE_RUNTIME, "generation failed");
    }
    size_t bytes = 0;
    char *result = text_decode(tok, out, (size_t)produced, &bytes);
    free(out);
    if (!result) {
        cli_error("cannot decode the generated tokens (a tokenizer that does not match the model?)");
        return EXIT_FAILURE_RUNTIME;
    }
    *text = result;
    *length = bytes;
    return EXIT_OK;
}

int decode_task(spdf_model *model, const spdf_tokenizer *tok, const spdf_task_data *task,
                int64_t items, const spdf_generate_config *config, progress_mode mode,
                const char *label, task_outputs *out)
{
    memset(out, 0, sizeof *out);
    int64_t count = 0;
    spdf_task_data_count(task, &count);
    if (items > 0 && items < count) count = items;
    text_marks marks;
    const int marked = text_marks_of(tok, &marks);
    if (marked != EXIT_OK) return marked;
    out->hyps = calloc((size_t)count, sizeof *out->hyps);
    if (!out->hyps) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    spdf_generate_config c = *config;
    if (c.stop_sequence_length == 0) {
        c.stop_sequence = &marks.newline;
        c.stop_sequence_length = 1;
    }
    const int32_t positions = model_positions(model);
    progress p;
    progress_start(&p, mode, label, 0, count, 0);
    const double start = cli_now();
    int code = EXIT_OK;
    for (int64_t i = 0; i < count && code == EXIT_OK; i++) {
        const char *prompt = NULL;
        spdf_task_data_prompt(task, i, &prompt);
        size_t prompt_count = 0;
        int32_t *prompt_ids = prompt_encode(tok, prompt, &marks, &prompt_count);
        if (!prompt_ids) {
            cli_error("out of memory");
            code = EXIT_FAILURE_RUNTIME;
            break;
        }
        char *text = NULL;
        size_t text_length = 0;
        if ((int64_t)prompt_count >= positions) {
            out->too_long++;
            text = calloc(1, 1);
        } else {
            code = generate_text(model, tok, prompt_ids, prompt_count, &c, &text, &text_length);
        }
        free(prompt_ids);
        if (code == EXIT_OK) {
            out->hyps[i] = text ? utf8_sanitize(text, text_length) : NULL;
            free(text);
            if (!out->hyps[i]) {
                cli_error("out of memory");
                code = EXIT_FAILURE_RUNTIME;
            }
        }
        out->count = i + 1;
        progress_count(&p, i + 1);
        if (cli_interrupted()) code = EXIT_INTERRUPTED;
    }
    progress_finish(&p);
    out->seconds = cli_now() - start;
    return code;
}

void task_outputs_free(task_outputs *out)
{
    for (int64_t i = 0; out->hyps && i < out->count; i++) free(out->hyps[i]);
    free(out->hyps);
    memset(out, 0, sizeof *out);
}

int finetune_and_score(session *s, const finetune_settings *fs, const finetune_data *train,
                       const finetune_data *held_out, const spdf_task_data *test, int64_t items,
                       int32_t max_new, const char *decode_label, metrics_log *log, train_result *r,
                       finetune_score *out)
{
    memset(out, 0, sizeof *out);
    int code = finetune_prepare(s, fs);
    if (code == EXIT_OK) code = finetune_run(s, train, fs, log, r);
    if (code != EXIT_OK) return code;
    out->flops = training_step_flops(s->model, fs->context, fs->batch, fs->keep_sparse) * fs->steps;
    const spdf_status status = finetune_data_loss(s->model, held_out, fs->batch, &out->heldout_loss);
    if (status != SPDF_OK) return cli_library_error(status, EXIT_FAILURE_RUNTIME, "evaluation failed");
    spdf_generate_config gc;
    spdf_generate_config_init(&gc);
    gc.strategy = SPDF_DECODE_GREEDY;
    gc.max_new_tokens = max_new;
    code = decode_task(s->model, s->tokenizer, test, items, &gc, fs->progress, decode_label, &out->outputs);
    if (code == EXIT_OK)
        code = score_task(test, (const char *const *)out->outputs.hyps, out->outputs.count, &out->scores);
    return code;
}

void decode_flags_defaults(decode_flags *f, int32_t max_new)
{
    memset(f, 0, sizeof *f);
    f->strategy = SPDF_DECODE_GREEDY;
    f->beam = 4;
    f->length_penalty = 1.0f;
    f->max_new = max_new;
    f->temperature = 1.0f;
    f->top_k = 0;
    f->seed = 1;
}

void decode_flags_apply(const decode_flags *f, spdf_generate_config *config)
{
    spdf_generate_config_init(config);
    config->strategy = f->strategy;
    config->beam_width = f->beam;
    config->length_penalty = f->length_penalty;
    config->max_new_tokens = f->max_new;
    config->temperature = f->temperature;
    config->top_k = f->top_k;
    config->seed = (uint64_t)f->seed;
}

static int open_model(const char *backend, int32_t threads, const char *path, session *s)
{
    int code = cli_context_create(backend, threads, &s->ctx);
    if (code == EXIT_OK) code = cli_load_model_file(s->ctx, path, &s->model);
    if (code == EXIT_OK) code = session_release_sparse_memory(s); /* inference only */
    return code;
}

/* ---- generate ---- */

int command_generate(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *backend = NULL, *tokenizer_path = NULL;
    int32_t threads = 0, newline = 0;
    decode_flags d;
    decode_flags_defaults(&d, 128);
    option_spec options[] = {
        OPT_REQUIRED_STRING("model", &model_path, "MODEL",
                            "checkpoint to generate with, or safetensors or llm.c weights"),
        OPT_REQUIRED_STRING("prompt", &prompt, "TEXT", "text to continue"),
        OPT_FLAG("newline", &newline, "append \"\\n\" to the prompt, as fine-tuning separates prompt and target"),
        TOKENIZER_OPTION(tokenizer_path),
        DECODE_OPTIONS(d),
        COMPUTE_OPTIONS(threads, backend),
    };
    command_spec command = {
        .name = "generate",
        .usage = "--model MODEL --prompt TEXT [options]",
        .summary = "Continue a prompt with a trained model and print the continuation (it ends at the end-of-text\n"
                   "token, after --max-new tokens, or when the model's context is full).",
        .options = options,
        .option_count = COUNT_OF(options),
    };
    const int parsed = options_parse(&command, argc, argv, NULL, NULL);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    session s = {0};
    spdf_tokenizer *tok = NULL;
    int code = open_model(backend, threads, model_path, &s);
    if (code == EXIT_OK) code = tokenizer_open_for(model_path, s.model, tokenizer_path, 1, &tok);
    text_marks marks;
    if (code == EXIT_OK) code = text_marks_of(tok, &marks);
    int32_t *prompt_ids = NULL;
    size_t prompt_count = 0, length = 0;
    char *text = NULL;
    if (code == EXIT_OK && !(prompt_ids = prompt_encode(tok, prompt, newline ? &marks : NULL, &prompt_count))) {
        cli_error("out of memory");
        code = EXIT_FAILURE_RUNTIME;
    }
    if (code == EXIT_OK) {
        spdf_generate_config config;
        decode_flags_apply(&d, &config);
        code = generate_text(s.model, tok, prompt_ids, prompt_count, &config, &text, &length);
    }
    if (code == EXIT_OK) {
        fwrite(text, 1, length, stdout);
        fputc('\n', stdout);
    }
    free(text);
    free(prompt_ids);
    spdf_tokenizer_free(tok);
    session_free(&s);
    spdf_context_free(s.ctx);
    return code;
}

/* ---- eval ---- */

typedef struct eval_flags {
    const char *model, *text, *task, *output, *backend, *tokenizer;
    int32_t format, batch, context, json, threads;
    int64_t items, batches;
    decode_flags decode;
} eval_flags;

static int eval_text(const eval_flags *f, session *s, const spdf_tokenizer *tok)
{
    corpus data;
    int code = corpus_load(f->text, 0, tok, &data);
    if (code != EXIT_OK) return code;
    const int32_t T = f->context > 0 ? f->context : model_positions(s->model);
    double loss = 0, perplexity = 0;
    int64_t count = data.train_tokens;
    int32_t rows = f->batch;
    if (count - 1 < (int64_t)T) {
        cli_error("'%s' holds %lld tokens, fewer than the context %d + 1", f->text, (long long)count, (int)T);
        corpus_free(&data);
        return EXIT_BAD_INPUT;
    }
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    spdf_model_get_config(s->model, &mc);
    if (data.vocab_bound > mc.vocab_size) {
        cli_error("'%s' holds token id %d, outside the model's vocabulary of %d", f->text, (int)data.vocab_bound - 1,
                  (int)mc.vocab_size);
        corpus_free(&data);
        return EXIT_BAD_INPUT;
    }
    if ((count - 1) / T < rows) rows = (int32_t)((count - 1) / T);
    const int64_t available = (count - 1) / ((int64_t)rows * T);
    const int64_t batches = f->batches > 0 && f->batches < available ? f->batches : available;
    const spdf_status status = spdf_model_evaluate(s->model, data.train, rows, T, batches, &loss, &perplexity);
    corpus_free(&data);
    if (status != SPDF_OK) return cli_library_error(status, EXIT_FAILURE_RUNTIME, "evaluation failed");
    const int64_t tokens = batches * rows * T;
    if (f->json) {
        json_writer w;
        json_begin(&w, stdout);
        json_string(&w, "text", f->text);
        json_number(&w, "loss", loss);
        json_number(&w, "perplexity", perplexity);
        json_int(&w, "tokens", tokens);
        json_int(&w, "context", T);
        json_end(&w);
    } else {
        printf("loss %.4f nats/token\nperplexity %.4f\ntokens %lld (%lld windows of %d)\n", loss, perplexity,
               (long long)tokens, (long long)(batches * rows), (int)T);
    }
    return EXIT_OK;
}

static int write_hypotheses(const char *path, const task_outputs *out)
{
    FILE *file = fopen(path, "w");
    if (!file) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    for (int64_t i = 0; i < out->count; i++) fprintf(file, "%s\n", out->hyps[i]);
    if (fclose(file) != 0) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        return EXIT_FAILURE_RUNTIME;
    }
    return EXIT_OK;
}

static int eval_task(const eval_flags *f, session *s, const spdf_tokenizer *tok)
{
    spdf_task_data *task = NULL;
    int code = task_load(f->task, f->format, &task);
    if (code != EXIT_OK) return code;
    const int32_t T = f->context > 0 ? f->context : model_positions(s->model);
    finetune_data refs;
    memset(&refs, 0, sizeof refs);
    double ref_loss = NAN;
    code = finetune_data_build(task, f->items, T, tok, &refs);
    if (code == EXIT_OK) {
        const spdf_status status = finetune_data_loss(s->model, &refs, f->batch, &ref_loss);
        if (status != SPDF_OK) code = cli_library_error(status, EXIT_FAILURE_RUNTIME, "evaluation failed");
    }
    finetune_data_free(&refs);
    task_outputs out;
    memset(&out, 0, sizeof out);
    spdf_generate_config config;
    decode_flags_apply(&f->decode, &config);
    if (code == EXIT_OK)
        code = decode_task(s->model, tok, task, f->items, &config, progress_default_mode(PROGRESS_OFF),
                           "eval", &out);
    spdf_bleu_result result;
    memset(&result, 0, sizeof result);
    if (code == EXIT_OK && f->output) code = write_hypotheses(f->output, &out);
    if (code == EXIT_OK) code = score_task(task, (const char *const *)out.hyps, out.count, &result);
    if (code == EXIT_OK && f->json) {
        json_writer w;
        json_begin(&w, stdout);
        json_string(&w, "task", f->task);
        json_int(&w, "items", out.count);
        json_number(&w, "reference_loss", ref_loss);
        json_number(&w, "decode_seconds", out.seconds);
        json_scores(&w, &result);
        json_end(&w);
    } else if (code == EXIT_OK) {
        printf("items %lld (decoded in %.1f s)\nreference loss %.4f nats/token\n", (long long)out.count, out.seconds,
               ref_loss);
        print_scores(&result);
    }
    task_outputs_free(&out);
    spdf_task_data_free(task);
    return code;
}

int command_eval(int argc, char **argv)
{
    eval_flags f = {.batch = 8};
    decode_flags_defaults(&f.decode, 256);
    option_spec options[] = {
        OPT_REQUIRED_STRING("model", &f.model, "MODEL", "checkpoint to evaluate, or safetensors or llm.c weights"),
        OPT_STRING("text", &f.text, "FILE", "held-out text or token file: report loss and perplexity"),
        OPT_STRING("task", &f.task, "FILE", "task file: decode every item, report BLEU and NIST"),
        OPT_CHOICE("format", &f.format, NULL, task_format_names, "format of --task"),
        OPT_INT64("items", &f.items, "N", 0, 1e15, "only the first N items of --task (0: all)"),
        OPT_STRING("output", &f.output, "FILE", "write the hypotheses of --task here, one per line"),
        TOKENIZER_OPTION(f.tokenizer),
        DECODE_OPTIONS(f.decode),
        OPT_INT("batch", &f.batch, "B", 1, 1 << 20, "sequences per forward pass"),
        OPT_INT("context", &f.context, "T", 0, 65536, "tokens per sequence (0: the model's positions)"),
        OPT_INT64("batches", &f.batches, "N", 0, 1e15, "--text: at most N batches (0: all)"),
        OPT_FLAG("json", &f.json, "print one JSON object instead of text"),
        COMPUTE_OPTIONS(f.threads, f.backend),
    };
    command_spec command = {
        .name = "eval",
        .usage = "--model MODEL (--text FILE | --task FILE [--format F]) [options]",
        .summary = "Evaluate a model: mean cross-entropy and perplexity on held-out text, or on a task the\n"
                   "hypotheses for each item (prompt + \"\\n\", until the end token or a newline) scored with\n"
                   "BLEU and NIST against its references, plus the loss on the reference tokens.",
        .options = options,
        .option_count = COUNT_OF(options),
    };
    const int parsed = options_parse(&command, argc, argv, NULL, NULL);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if ((f.text != NULL) == (f.task != NULL)) {
        cli_error("give exactly one of --text and --task (see 'spdf eval --help')");
        return EXIT_USAGE;
    }
    if (cli_check_output(f.output, "hypotheses", 1) != EXIT_OK) return EXIT_FAILURE_RUNTIME; /* before decoding */
    session s = {0};
    spdf_tokenizer *tok = NULL;
    int code = open_model(f.backend, f.threads, f.model, &s);
    if (code == EXIT_OK)
        code = tokenizer_open_for(f.model, s.model, f.tokenizer, !f.text || !corpus_is_token_file(f.text), &tok);
    if (code == EXIT_OK) code = f.text ? eval_text(&f, &s, tok) : eval_task(&f, &s, tok);
    spdf_tokenizer_free(tok);
    session_free(&s);
    spdf_context_free(s.ctx);
    return code;
}
