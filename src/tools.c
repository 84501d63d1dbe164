/* Small tools: `spdf tokenize` (text to a token file, bytes or BPE), `spdf flops` (the paper's FLOP
 * accounting, dense against sparse), `spdf info` (what a checkpoint holds), and `spdf export` /
 * `spdf import` (checkpoints to and from Hugging Face safetensors and llm.c files). */
#include "cli.h"
#include "data.h"
#include "json_writer.h"
#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Parses the arguments of a tool that takes two paths (INPUT OUTPUT, or as `names` says) into
 * paths.  Returns EXIT_OK to go on, else the exit code to return (-1 for a printed help). */
static int parse_two_paths(command_spec *command, const char *names, int argc, char **argv, const char *paths[2])
{
    command->positional_names = names;
    command->min_positional = command->max_positional = 2;
    const int parsed = options_parse(command, argc, argv, paths, NULL);
    return parsed == PARSE_OK ? EXIT_OK : parsed == PARSE_HELP ? -1 : EXIT_USAGE;
}

/* ---- tokenize ---- */

int command_tokenize(int argc, char **argv)
{
    static const char *const formats[] = {"u16", "u32", NULL};
    int32_t format = SPDF_TOKENS_U16, bpe_vocab = 0;
    const char *tokenizer_path = NULL;
    option_spec options[] = {
        OPT_CHOICE("format", &format, NULL, formats,
                   "u16: llm.c's format (2 bytes per id); u32: libspdf's, with CRC-32C checksums"),
        TOKENIZER_OPTION(tokenizer_path),
        OPT_INT("bpe-vocab", &bpe_vocab, "V", 0, 1 << 20,
                "first train a BPE tokenizer of V ids on INPUT and write it to --tokenizer (0: no)"),
    };
    command_spec command = {
        .name = "tokenize",
        .usage = "INPUT OUTPUT [--format u16|u32] [--tokenizer FILE [--bpe-vocab V]]",
        .summary = "Encode a text file as tokens and write a token file that `spdf pretrain --data` reads:\n"
                   "one id per byte (0..255), or byte-level BPE ids with --tokenizer, optionally training\n"
                   "that tokenizer on INPUT first (--bpe-vocab).",
        .options = options,
        .option_count = COUNT_OF(options),
    };
    const char *paths[2];
    const int parsed = parse_two_paths(&command, "INPUT OUTPUT", argc, argv, paths);
    if (parsed != EXIT_OK) return parsed < 0 ? EXIT_OK : parsed;
    if (bpe_vocab > 0 && !tokenizer_path) {
        cli_error("--bpe-vocab needs --tokenizer FILE to write the tokenizer to");
        return EXIT_USAGE;
    }
    size_t size = 0;
    char *text = cli_read_file(paths[0], &size);
    if (!text) return EXIT_BAD_INPUT;
    spdf_tokenizer *tok = NULL;
    int code = EXIT_OK;
    if (bpe_vocab > 0) {
        spdf_status status = spdf_tokenizer_train(text, size, bpe_vocab, &tok);
        if (status == SPDF_OK) status = spdf_tokenizer_save(tok, tokenizer_path);
        if (status != SPDF_OK)
            code = cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot make the tokenizer '%s'",
                                     tokenizer_path);
    } else {
        code = tokenizer_open(tokenizer_path, &tok);
    }
    size_t count = 0;
    int32_t *tokens = code == EXIT_OK ? text_encode(tok, text, size, &count) : NULL;
    free(text);
    if (code == EXIT_OK && !tokens) {
        cli_error("out of memory");
        code = EXIT_FAILURE_RUNTIME;
    }
    if (code == EXIT_OK) {
        const spdf_status status = spdf_tokens_save(paths[1], tokens, (int64_t)count, (spdf_token_format)format);
        if (status != SPDF_OK) code = cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot write '%s'", paths[1]);
    }
    if (code == EXIT_OK) {
        int32_t vocab = SPDF_BYTE_VOCAB_SIZE;
        if (tok) spdf_tokenizer_vocab_size(tok, &vocab);
        printf("%zu tokens -> %s (%s, vocabulary %d)\n", count, paths[1], formats[format], (int)vocab);
    }
    free(tokens);
    spdf_tokenizer_free(tok);
    return code;
}

/* ---- flops ---- */

/* A model's shape in --json output, its positions under the key `positions`. */
static void json_model_shape(json_writer *w, const spdf_model_config *m, const char *positions)
{
    json_int(w, "layers", m->num_layers);
    json_int(w, "heads", m->num_heads);
    json_int(w, "width", m->channels);
    json_int(w, positions, m->max_seq_len);
    json_int(w, "vocab", m->vocab_size);
}

static void flops_row(const char *name, double dense, double sparse)
{
    printf("%-26s %14.4g %14.4g %9.2fx\n", name, dense, sparse, sparse > 0 ? dense / sparse : 0);
}

int command_flops(int argc, char **argv)
{
    int32_t layers = 24, width = 2048, heads = 16, context = 2048, vocab = 50257, batch = 1, json = 0;
    float sparsity = 0.75f;
    option_spec options[] = {
        OPT_INT("layers", &layers, "L", 1, 1 << 16, "transformer blocks"),
        OPT_INT("width", &width, "C", 1, 1 << 20, "embedding width"),
        OPT_INT("heads", &heads, "H", 1, 1 << 16, "attention heads (must divide --width; no effect on FLOPs)"),
        OPT_INT("context", &context, "T", 1, 1 << 24, "context length"),
        OPT_INT("vocab", &vocab, "V", 1, 1 << 30, "vocabulary size"),
        OPT_FLOAT("sparsity", &sparsity, "S", 0, 0.999, "fraction of zero weights in the block linear layers"),
        OPT_INT("batch", &batch, "B", 1, 1 << 24, "sequences per step"),
        OPT_FLAG("json", &json, "print one JSON object instead of the table"),
    };
    command_spec command = {
        .name = "flops",
        .usage = "[--layers L --width C --heads H --context T --vocab V --sparsity S --batch B] [--json]",
        .summary = "FLOPs as the SPDF paper counts them, dense against sparse: per token forward = 2 x non-zero\n"
                   "block weights + attention (4 L T C) + LM head (2 C V); training = 3 x forward.  The defaults\n"
                   "are GPT-3 XL at 75 % sparsity, where sparse pre-training needs 2.5x fewer FLOPs.",
        .options = options,
        .option_count = COUNT_OF(options),
    };
    const int parsed = options_parse(&command, argc, argv, NULL, NULL);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (width % heads != 0) {
        cli_error("--heads %d does not divide --width %d", (int)heads, (int)width);
        return EXIT_USAGE;
    }
    spdf_model_config config;
    spdf_model_config_init(&config);
    config.num_layers = layers;
    config.channels = width;
    config.num_heads = heads;
    config.max_seq_len = context;
    config.vocab_size = vocab;
    spdf_flop_report report;
    memset(&report, 0, sizeof report);
    report.struct_size = sizeof report;
    const spdf_status status = spdf_flops(&config, context, batch, sparsity, &report);
    if (status != SPDF_OK) return cli_library_error(status, EXIT_USAGE, "cannot count FLOPs");
    char step_name[64];
    snprintf(step_name, sizeof step_name, "training per step (B=%d)", (int)batch);
    /* the rows of the table, and the keys of --json ("_dense" and "_sparse" appended) */
    const struct { const char *key, *name; double dense, sparse; } rows[] = {
        {"forward_per_token", "forward per token", report.forward_per_token_dense, report.forward_per_token_sparse},
        {"train_per_token", "training per token", report.train_per_token_dense, report.train_per_token_sparse},
        {"train_per_step", step_name, report.train_per_step_dense, report.train_per_step_sparse},
    };
    if (json) {
        json_writer w;
        json_begin(&w, stdout);
        json_model_shape(&w, &config, "context");
        json_int(&w, "batch", batch);
        json_number(&w, "sparsity", sparsity);
        json_number(&w, "block_weights", report.block_weights);
        for (int i = 0; i < COUNT_OF(rows); i++) {
            char key[64];
            snprintf(key, sizeof key, "%s_dense", rows[i].key);
            json_number(&w, key, rows[i].dense);
            snprintf(key, sizeof key, "%s_sparse", rows[i].key);
            json_number(&w, key, rows[i].sparse);
        }
        json_number(&w, "reduction", report.reduction);
        json_end(&w);
        return EXIT_OK;
    }
    printf("model: %d layers, width %d, %d heads, context %d, vocabulary %d; %.4g block weights\n", (int)layers,
           (int)width, (int)heads, (int)context, (int)vocab, report.block_weights);
    char sparse_name[64];
    snprintf(sparse_name, sizeof sparse_name, "sparse (%.4g %%)", (double)sparsity * 100);
    printf("%-26s %14s %14s %10s\n", "FLOPs", "dense", sparse_name, "reduction");
    for (int i = 0; i < COUNT_OF(rows); i++) flops_row(rows[i].name, rows[i].dense, rows[i].sparse);
    printf("sparse pre-training needs %.1fx fewer FLOPs (%.4f)\n", report.reduction, report.reduction);
    return EXIT_OK;
}

/* ---- info ---- */

/* Loads the checkpoint and prints its masked layers' plans (the saved ones, where the backend
 * has those kernels). */
static int print_checkpoint_plan(const char *path, const char *backend)
{
    spdf_context *ctx = NULL;
    int code = cli_context_create(backend, 0, &ctx);
    if (code != EXIT_OK) return code;
    spdf_model *model = NULL;
    const spdf_status status = spdf_checkpoint_load(path, ctx, &model, NULL, NULL, NULL);
    if (status != SPDF_OK) {
        spdf_context_free(ctx);
        return cli_library_error(status, cli_input_exit_code(status), "cannot load '%s'", path);
    }
    spdf_sparse_kernel_info ki;
    memset(&ki, 0, sizeof ki);
    ki.struct_size = sizeof ki;
    if (spdf_model_sparse_kernel_info(model, 0, &ki) == SPDF_OK) cli_print_sparse_plan(stdout, model, 1);
    else printf("kernel plan none: the model is dense\n");
    spdf_model_free(model);
    spdf_context_free(ctx);
    return code;
}

int command_info(int argc, char **argv)
{
    int32_t json = 0, plan = 0;
    const char *backend = NULL;
    option_spec options[] = {
        OPT_FLAG("json", &json, "print one JSON object instead of text"),
        OPT_FLAG("plan", &plan, "also load the model and print each masked layer's kernel plan"),
        OPT_STRING("backend", &backend, "NAME", "backend of --plan: auto, xsmm, native, ref (default: $SPDF_BACKEND or auto)"),
    };
    command_spec command = {
        .name = "info",
        .usage = "CKPT [--json] [--plan [--backend NAME]]",
        .summary = "Show what a checkpoint holds: phase, model configuration, optimizer step, sampler position.\n"
                   "Only the header and section checksums are read; no model is built, except with --plan.",
        .options = options,
        .option_count = COUNT_OF(options),
        .positional_names = "CKPT",
        .min_positional = 1,
        .max_positional = 1,
    };
    const char *path = NULL;
    const int parsed = options_parse(&command, argc, argv, &path, NULL);
    if (parsed != PARSE_OK) return parsed == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    spdf_checkpoint_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    const spdf_status status = spdf_checkpoint_info_read(path, &info);
    if (status != SPDF_OK) return cli_library_error(status, cli_input_exit_code(status), "cannot read '%s'", path);
    const spdf_model_config *m = &info.model;
    const int64_t C = m->channels, V = m->vocab_size, P = m->max_seq_len, L = m->num_layers;
    const int64_t params = V * C + P * C + L * (12 * C * C + 13 * C) + 2 * C;
    if (json) {
        json_writer w;
        json_begin(&w, stdout);
        json_string(&w, "path", path);
        json_int(&w, "format_version", info.format_version);
        json_string(&w, "phase", cli_phase_name(info.phase));
        json_model_shape(&w, m, "max_seq_len");
        json_int(&w, "params", params);
        json_int(&w, "stored_params", info.stored_params);
        json_int(&w, "step", info.step);
        json_bool(&w, "has_optimizer", info.has_optimizer);
        json_bool(&w, "has_sampler", info.has_sampler);
        json_int(&w, "sampler_position", info.sampler_position);
        json_bool(&w, "has_tokenizer", info.has_tokenizer);
        json_int(&w, "tokenizer_vocab", info.tokenizer_vocab_size);
        json_int(&w, "tokenizer_checksum", info.tokenizer_checksum);
        json_int(&w, "file_size", info.file_size);
        json_end(&w);
        return EXIT_OK;
    }
    printf("checkpoint  %s (format %u, %lld bytes)\n", path, (unsigned)info.format_version, (long long)info.file_size);
    printf("phase       %s\n", cli_phase_name(info.phase));
    printf("model       %d layers, %d heads, width %d, %d positions, vocabulary %d\n", (int)m->num_layers,
           (int)m->num_heads, (int)m->channels, (int)m->max_seq_len, (int)m->vocab_size);
    printf("parameters  %lld (%lld stored)\n", (long long)params, (long long)info.stored_params);
    if (info.has_optimizer) printf("optimizer   AdamW, step %lld\n", (long long)info.step);
    else printf("optimizer   none\n");
    if (info.has_sampler) printf("sampler     position %lld\n", (long long)info.sampler_position);
    else printf("sampler     none\n");
    if (info.has_tokenizer)
        printf("tokenizer   BPE, %d ids, checksum %08x\n", (int)info.tokenizer_vocab_size, (unsigned)info.tokenizer_checksum);
    else printf("tokenizer   none (one token per byte unless --tokenizer is given)\n");
    return plan ? print_checkpoint_plan(path, backend) : EXIT_OK;
}

/* ---- model files ---- */

const char *const cli_model_file_format_names[] = {"checkpoint", "safetensors", "llmc", NULL};

#define LLMC_MAGIC 20240326u /* the first little-endian int32 of an llm.c checkpoint */

static uint64_t little_endian(const unsigned char *bytes, int count)
{
    uint64_t value = 0;
    for (int i = count - 1; i >= 0; i--) value = value << 8 | bytes[i];
    return value;
}

int cli_model_file_format(const char *path, model_file_format *format)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        cli_error("cannot read '%s': %s", path, strerror(errno));
        return EXIT_BAD_INPUT;
    }
    unsigned char start[9];
    const size_t got = fread(start, 1, sizeof start, file);
    const int read_error = ferror(file) ? errno : 0;
    const off_t size = fseeko(file, 0, SEEK_END) == 0 ? ftello(file) : -1;
    fclose(file);
    if (read_error) {
        cli_error("cannot read '%s': %s", path, strerror(read_error));
        return EXIT_BAD_INPUT;
    }
    *format = MODEL_FILE_UNKNOWN;
    if (got >= 8 && memcmp(start, "SPDFCKPT", 8) == 0) *format = MODEL_FILE_CHECKPOINT;
    else if (got >= 4 && little_endian(start, 4) == LLMC_MAGIC) *format = MODEL_FILE_LLMC;
    else if (got == 9 && start[8] == '{' && size > 8 && little_endian(start, 8) <= (uint64_t)size - 8)
        *format = MODEL_FILE_SAFETENSORS;
    return EXIT_OK;
}

int cli_import_model(spdf_context *ctx, const char *path, model_file_format format, int32_t heads,
                     spdf_model **model)
{
    spdf_status status;
    if (format == MODEL_FILE_SAFETENSORS) {
        spdf_import_config config;
        spdf_import_config_init(&config);
        config.num_heads = heads;
        status = spdf_model_import_safetensors(ctx, path, &config, model);
    } else if (format == MODEL_FILE_LLMC) {
        status = spdf_model_import_llmc(ctx, path, model);
    } else {
        cli_error("internal error: '%s' is not a format to import", path);
        return EXIT_FAILURE_RUNTIME;
    }
    if (status == SPDF_EINVAL && format == MODEL_FILE_SAFETENSORS && heads == 0) {
        cli_error("cannot import '%s': it has no \"n_head\" metadata; give the attention heads with "
                  "'spdf import --heads H'", path);
        return EXIT_USAGE;
    }
    if (status != SPDF_OK)
        return cli_library_error(status, status == SPDF_EINVAL ? EXIT_USAGE : cli_input_exit_code(status),
                                 "cannot import '%s'", path);
    return EXIT_OK;
}

int cli_load_model_file(spdf_context *ctx, const char *path, spdf_model **model)
{
    model_file_format format = MODEL_FILE_UNKNOWN;
    const int code = cli_model_file_format(path, &format);
    if (code != EXIT_OK) return code;
    if (format == MODEL_FILE_UNKNOWN) {
        cli_error("'%s' is neither a libspdf checkpoint nor a safetensors or llm.c file", path);
        return EXIT_BAD_INPUT;
    }
    if (format != MODEL_FILE_CHECKPOINT) return cli_import_model(ctx, path, format, 0, model);
    const spdf_status status = spdf_checkpoint_load(path, ctx, model, NULL, NULL, NULL);
    if (status != SPDF_OK) return cli_library_error(status, cli_input_exit_code(status), "cannot load '%s'", path);
    return EXIT_OK;
}

/* ---- export ---- */

int command_export(int argc, char **argv)
{
    command_spec command = {
        .name = "export",
        .usage = "CKPT OUTPUT.safetensors",
        .summary = "Write a checkpoint's model as Hugging Face GPT-2 weights in a safetensors file\n"
                   "(spdf_model_export_safetensors), which transformers' GPT2LMHeadModel loads with a config.json\n"
                   "of the same shape and `spdf import` reads back.  A sparse model is written as its dense view:\n"
                   "zeros at the masked weights; the mask, the optimizer and the sampler are not written.",
    };
    const char *paths[2];
    const int parsed = parse_two_paths(&command, "CKPT OUTPUT", argc, argv, paths);
    if (parsed != EXIT_OK) return parsed < 0 ? EXIT_OK : parsed;
    spdf_checkpoint_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    spdf_status status = spdf_checkpoint_info_read(paths[0], &info);
    if (status != SPDF_OK)
        return cli_library_error(status, cli_input_exit_code(status), "cannot read '%s'", paths[0]);
    spdf_context *ctx = NULL;
    int code = cli_context_create(NULL, 1, &ctx);
    if (code != EXIT_OK) return code;
    spdf_model *model = NULL;
    status = spdf_checkpoint_load(paths[0], ctx, &model, NULL, NULL, NULL);
    if (status != SPDF_OK) code = cli_library_error(status, cli_input_exit_code(status), "cannot load '%s'", paths[0]);
    if (code == EXIT_OK) {
        status = spdf_model_export_safetensors(model, paths[1]);
        if (status != SPDF_OK) code = cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot write '%s'", paths[1]);
    }
    if (code == EXIT_OK) {
        const spdf_model_config *m = &info.model;
        printf("%s: %d layers, %d heads, width %d, %d positions, vocabulary %d -> %s\n", paths[0],
               (int)m->num_layers, (int)m->num_heads, (int)m->channels, (int)m->max_seq_len, (int)m->vocab_size,
               paths[1]);
        if (info.phase == SPDF_PHASE_SPARSE) {
            int64_t dense = 0;
            spdf_model_num_params(model, &dense);
            printf("sparse model written as its dense view: %lld of %lld weights are masked zeros (the mask is "
                   "not kept)\n", (long long)(dense - info.stored_params), (long long)dense);
        }
    }
    spdf_model_free(model);
    spdf_context_free(ctx);
    return code;
}

/* ---- import ---- */

int command_import(int argc, char **argv)
{
    static const char *const formats[] = {"auto", "safetensors", "llmc", NULL};
    int32_t format = 0, heads = 0;
    option_spec options[] = {
        OPT_CHOICE("format", &format, NULL, formats, "format of INPUT (auto: told by its first bytes)"),
        OPT_INT("heads", &heads, "H", 0, 65536,
                "attention heads, for a safetensors file without n_head metadata (0: the file's)"),
    };
    command_spec command = {
        .name = "import",
        .usage = "INPUT OUTPUT.ckpt [--format auto|safetensors|llmc] [--heads H]",
        .summary = "Write a libspdf checkpoint (a dense model, no optimizer) from Hugging Face GPT-2 weights in a\n"
                   "safetensors file or from an llm.c GPT-2 checkpoint.  `spdf finetune --init` also takes\n"
                   "those files directly.",
        .options = options,
        .option_count = COUNT_OF(options),
    };
    const char *paths[2];
    const int parsed = parse_two_paths(&command, "INPUT OUTPUT", argc, argv, paths);
    if (parsed != EXIT_OK) return parsed < 0 ? EXIT_OK : parsed;
    model_file_format kind = format == 1 ? MODEL_FILE_SAFETENSORS : MODEL_FILE_LLMC;
    if (format == 0) {
        const int code = cli_model_file_format(paths[0], &kind);
        if (code != EXIT_OK) return code;
        if (kind == MODEL_FILE_CHECKPOINT) {
            cli_error("'%s' is already a libspdf checkpoint", paths[0]);
            return EXIT_USAGE;
        }
        if (kind == MODEL_FILE_UNKNOWN) {
            cli_error("'%s' is neither a safetensors file nor an llm.c checkpoint (give --format to read it as "
                      "one)", paths[0]);
            return EXIT_BAD_INPUT;
        }
    }
    spdf_context *ctx = NULL;
    int code = cli_context_create(NULL, 1, &ctx);
    if (code != EXIT_OK) return code;
    spdf_model *model = NULL;
    code = cli_import_model(ctx, paths[0], kind, heads, &model);
    if (code == EXIT_OK) {
        const spdf_status status = spdf_checkpoint_save(paths[1], model, NULL, NULL);
        if (status != SPDF_OK) code = cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot write '%s'", paths[1]);
    }
    if (code == EXIT_OK) {
        spdf_model_config m;
        spdf_model_config_init(&m);
        spdf_model_get_config(model, &m);
        printf("%s (%s): %d layers, %d heads, width %d, %d positions, vocabulary %d -> %s\n", paths[0],
               cli_model_file_format_names[kind], (int)m.num_layers, (int)m.num_heads, (int)m.channels,
               (int)m.max_seq_len, (int)m.vocab_size, paths[1]);
    }
    spdf_model_free(model);
    spdf_context_free(ctx);
    return code;
}
