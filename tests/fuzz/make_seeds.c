/* Writes the seed corpora of tests/fuzz/corpus (docs/fuzzing.md): small valid files of every
 * format, made with libspdf's own writers where it has one (checkpoints, token files, tokenizer,
 * safetensors) and written here to the documented layout where it has none (llm.c files, task
 * files, BLEU inputs).  Run by tests/fuzz/make_seeds.sh; the output is deterministic, so a rerun
 * changes no seed unless a format changed. */
#include "spdf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A model of a few thousand weights: seeds stay a few kilobytes. */
enum { VOCAB = 40, POSITIONS = 8, LAYERS = 2, HEADS = 2, WIDTH = 8, BATCH = 2, CONTEXT = 4 };

static const char *corpus_dir;

#define MUST(call)                                                                                 \
    do {                                                                                           \
        if ((call) != SPDF_OK) {                                                                   \
            fprintf(stderr, "make_seeds: %s: %s\n", #call, spdf_last_error());                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* "<corpus>/<harness>/seed-<name>", the harness directory created. */
static const char *seed_path(const char *harness, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", corpus_dir, harness);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/seed-%s", corpus_dir, harness, name);
    return path;
}

static void write_seed(const char *harness, const char *name, const void *data, size_t size)
{
    const char *path = seed_path(harness, name);
    FILE *file = fopen(path, "wb");
    if (!file || fwrite(data, 1, size, file) != size || fclose(file) != 0) {
        perror(path);
        exit(1);
    }
}

/* The same seed for a harness and its CRC-fixing variant. */
static const char *both_variants(const char *harness, const char *name, char *variant_path, size_t cap)
{
    char crc_harness[64];
    snprintf(crc_harness, sizeof crc_harness, "%s-crc", harness);
    snprintf(variant_path, cap, "%s", seed_path(crc_harness, name));
    return seed_path(harness, name);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buffer[8192];
    size_t n;
    if (!in || !out) {
        perror(in ? to : from);
        exit(1);
    }
    while ((n = fread(buffer, 1, sizeof buffer, in)) > 0)
        if (fwrite(buffer, 1, n, out) != n) exit(1);
    fclose(in);
    if (fclose(out) != 0) exit(1);
}

/* ---- model files ---- */

static spdf_model *tiny_model(spdf_context *ctx)
{
    spdf_model_config config;
    spdf_model_config_init(&config);
    config.vocab_size = VOCAB;
    config.max_seq_len = POSITIONS;
    config.num_layers = LAYERS;
    config.num_heads = HEADS;
    config.channels = WIDTH;
    spdf_model *model = NULL;
    MUST(spdf_model_create(ctx, &config, &model));
    return model;
}

static void train_step(spdf_model *model, spdf_optimizer *opt, spdf_sampler *sampler)
{
    int32_t inputs[BATCH * CONTEXT], targets[BATCH * CONTEXT];
    float loss;
    MUST(spdf_sampler_next(sampler, inputs, targets));
    MUST(spdf_model_forward(model, inputs, targets, NULL, BATCH, CONTEXT, &loss));
    MUST(spdf_model_backward(model));
    MUST(spdf_optimizer_step(opt, NULL, NULL));
}

static void save_checkpoint(const char *name, const spdf_model *model, const spdf_optimizer *opt,
                            const spdf_sampler *sampler)
{
    char variant[4096];
    const char *path = both_variants("checkpoint", name, variant, sizeof variant);
    MUST(spdf_checkpoint_save(path, model, opt, sampler));
    copy_file(path, variant);
    spdf_checkpoint_info info;
    info.struct_size = sizeof info;
    MUST(spdf_checkpoint_info_read(path, &info));
}

/* A NaN in the last position row, which no batch shorter than the context reads: the loaders
 * must reject these files (they once loaded them silently, and a forward pass then reached
 * undefined behaviour in exp). */
static void write_nan_seeds(spdf_context *ctx, spdf_model *model)
{
    enum { POSITION_TENSOR = 1 };
    float positions[POSITIONS * WIDTH];
    MUST(spdf_model_tensor_read(model, POSITION_TENSOR, positions, POSITIONS * WIDTH));
    const float kept = positions[POSITIONS * WIDTH - 1];
    positions[POSITIONS * WIDTH - 1] = NAN;
    MUST(spdf_model_tensor_write(model, POSITION_TENSOR, positions, POSITIONS * WIDTH));
    save_checkpoint("nan-position.ckpt", model, NULL, NULL);
    MUST(spdf_model_export_safetensors(model, seed_path("safetensors", "nan-position.safetensors")));
    spdf_model *loaded = NULL;
    if (spdf_checkpoint_load(seed_path("checkpoint", "nan-position.ckpt"), ctx, &loaded, NULL, NULL, NULL) != SPDF_EFORMAT ||
        spdf_model_import_safetensors(ctx, seed_path("safetensors", "nan-position.safetensors"), NULL, &loaded) !=
            SPDF_EFORMAT) {
        fprintf(stderr, "make_seeds: a NaN weight was not rejected\n");
        exit(1);
    }
    positions[POSITIONS * WIDTH - 1] = kept;
    MUST(spdf_model_tensor_write(model, POSITION_TENSOR, positions, POSITIONS * WIDTH));
}

/* Checkpoints of every shape the format has: weights only, sparse with optimizer and sampler,
 * dense after the transition; the sparse model also as safetensors. */
static void write_model_seeds(spdf_context *ctx, const spdf_dataset *data)
{
    spdf_model *model = tiny_model(ctx);
    save_checkpoint("weights.ckpt", model, NULL, NULL);
    write_nan_seeds(ctx, model);
    spdf_optimizer *opt = NULL;
    spdf_sampler *sampler = NULL;
    spdf_mask *mask = NULL;
    spdf_phase *phase = NULL;
    MUST(spdf_optimizer_create(model, NULL, &opt));
    MUST(spdf_sampler_create(data, BATCH, CONTEXT, 7, SPDF_SAMPLE_RANDOM, &sampler));
    MUST(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 11, &mask));
    MUST(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase));
    train_step(model, opt, sampler);
    save_checkpoint("sparse-optimizer-sampler.ckpt", model, opt, sampler);
    MUST(spdf_model_export_safetensors(model, seed_path("safetensors", "sparse.safetensors")));
    spdf_model *imported = NULL;
    MUST(spdf_model_import_safetensors(ctx, seed_path("safetensors", "sparse.safetensors"), NULL, &imported));
    spdf_model_free(imported);
    MUST(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, NULL));
    train_step(model, opt, sampler);
    save_checkpoint("dense-optimizer.ckpt", model, opt, NULL);
    spdf_phase_free(phase);
    spdf_mask_free(mask);
    spdf_sampler_free(sampler);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
}

/* ---- llm.c files: the header and the 16 parameter kinds of docs/api-reference.md ---- */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i);
}

/* Kind k of llm.c's order is, per layer, our block tensor 2 + 12 * layer + (k - 2) (the same
 * per-block order), or wte, wpe, ln_f outside the blocks. */
static int64_t llmc_append(const spdf_model *model, int32_t tensor, int64_t rows_out,
                           int bf16, unsigned char *at)
{
    spdf_tensor_info info;
    info.struct_size = sizeof info;
    MUST(spdf_model_tensor_info(model, tensor, &info));
    float *values = calloc((size_t)(rows_out > 0 ? rows_out * info.shape[1] : info.numel), sizeof *values);
    if (!values) exit(1);
    MUST(spdf_model_tensor_read(model, tensor, values, info.numel));
    const int64_t count = rows_out > 0 ? rows_out * info.shape[1] : info.numel;
    for (int64_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], 4);
        if (bf16) {
            at[2 * i] = (unsigned char)(bits >> 16);
            at[2 * i + 1] = (unsigned char)(bits >> 24);
        } else {
            put_u32(at + 4 * i, bits);
        }
    }
    free(values);
    return count * (bf16 ? 2 : 4);
}

static void write_llmc_seed(spdf_context *ctx, int version, const char *name)
{
    enum { PADDED_VOCAB = 48, BLOCK_TENSORS = 12 };
    spdf_model *model = tiny_model(ctx);
    int64_t params = 0;
    MUST(spdf_model_num_params(model, &params));
    const int bf16 = version == 5;
    const size_t size = 1024 + (size_t)(params + (PADDED_VOCAB - VOCAB) * WIDTH) * (bf16 ? 2 : 4);
    unsigned char *file = calloc(1, size);
    if (!file) exit(1);
    const int32_t header[8] = {20240326, version, POSITIONS, VOCAB, LAYERS, HEADS, WIDTH, PADDED_VOCAB};
    for (int i = 0; i < 8; i++) put_u32(file + 4 * i, (uint32_t)header[i]);
    unsigned char *at = file + 1024;
    at += llmc_append(model, 0, PADDED_VOCAB, bf16, at); /* wte with its zero padding rows */
    at += llmc_append(model, 1, 0, bf16, at);
    for (int kind = 0; kind < BLOCK_TENSORS; kind++)
        for (int layer = 0; layer < LAYERS; layer++)
            at += llmc_append(model, 2 + BLOCK_TENSORS * layer + kind, 0, bf16, at);
    at += llmc_append(model, 2 + BLOCK_TENSORS * LAYERS, 0, bf16, at);
    at += llmc_append(model, 3 + BLOCK_TENSORS * LAYERS, 0, bf16, at);
    if (at != file + size) {
        fprintf(stderr, "make_seeds: the llm.c layout does not add up\n");
        exit(1);
    }
    write_seed("llmc", name, file, size);
    free(file);
    spdf_model_free(model);
    MUST(spdf_model_import_llmc(ctx, seed_path("llmc", name), &model));
    spdf_model_free(model);
}

/* ---- token files and tokenizer ---- */

static const char training_text[] = "the eagle is a coffee shop near the river. the eagle serves "
                                    "french food; the river is near the eagle. 12 34 1234\n";

static void write_token_seeds(void)
{
    int32_t tokens[VOCAB];
    for (int i = 0; i < VOCAB; i++) tokens[i] = (i * 17) % VOCAB;
    char variant[4096];
    const char *path = both_variants("tokens", "u16.bin", variant, sizeof variant);
    MUST(spdf_tokens_save(path, tokens, VOCAB, SPDF_TOKENS_U16));
    copy_file(path, variant);
    path = both_variants("tokens", "u32.bin", variant, sizeof variant);
    MUST(spdf_tokens_save(path, tokens, VOCAB, SPDF_TOKENS_U32));
    copy_file(path, variant);
    spdf_dataset *loaded = NULL;
    MUST(spdf_dataset_load(path, &loaded));
    spdf_dataset_free(loaded);

    spdf_tokenizer *tok = NULL;
    MUST(spdf_tokenizer_train(training_text, sizeof training_text - 1, 300, &tok));
    path = both_variants("tokenizer", "bpe.bin", variant, sizeof variant);
    MUST(spdf_tokenizer_save(tok, path));
    copy_file(path, variant);
    spdf_tokenizer_free(tok);
    MUST(spdf_tokenizer_load(path, &tok));
    spdf_tokenizer_free(tok);
}

/* A checkpoint that carries its tokenizer (a TOKENIZER section): a model with room for its ids. */
static void write_tokenizer_checkpoint_seed(spdf_context *ctx)
{
    spdf_model_config config;
    spdf_model_config_init(&config);
    config.vocab_size = 300;
    config.max_seq_len = POSITIONS;
    config.num_layers = 1;
    config.num_heads = HEADS;
    config.channels = WIDTH;
    spdf_model *model = NULL;
    spdf_tokenizer *tok = NULL;
    MUST(spdf_model_create(ctx, &config, &model));
    MUST(spdf_tokenizer_train(training_text, sizeof training_text - 1, 300, &tok));
    spdf_checkpoint_save_config save;
    MUST(spdf_checkpoint_save_config_init(&save));
    save.tokenizer = tok;
    char variant[4096];
    const char *path = both_variants("checkpoint", "tokenizer.ckpt", variant, sizeof variant);
    MUST(spdf_checkpoint_save_ex(path, model, NULL, NULL, &save));
    copy_file(path, variant);
    spdf_tokenizer *back = NULL;
    MUST(spdf_checkpoint_load_tokenizer(path, &back));
    if (!back) {
        fprintf(stderr, "make_seeds: the stored tokenizer did not come back\n");
        exit(1);
    }
    spdf_tokenizer_free(back);
    spdf_tokenizer_free(tok);
    spdf_model_free(model);
}

/* ---- GPT-2's tokenizer files: vocab.json, a NUL, merges.txt (fuzz_gpt2_tokenizer.c) ---- */

/* GPT-2's byte-to-unicode character of byte b as UTF-8 (docs/token-format.md); returns its length. */
static int gpt2_char(unsigned b, char *out)
{
    const int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    unsigned cp = b;
    if (!printable) {
        cp = 0x100;
        for (unsigned below = 0; below < b; below++)
            cp += !((below >= 0x21 && below <= 0x7E) || (below >= 0xA1 && below <= 0xAC) || below >= 0xAE);
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static void write_gpt2_seed(void)
{
    static const char *const merges[] = {"\xc4\xa0 t", "h e", "\xc4\xa0" "t he", "a t", "\xc4\xa0 c", "\xc4\xa0" "c at",
                                         "' s", "1 2", "\xc3\x83 \xc2\xa9", "\xc4\x8a \xc4\x8a"};
    enum { MERGES = sizeof merges / sizeof merges[0] };
    char vocab[8192], list[512];
    size_t n = (size_t)snprintf(vocab, sizeof vocab, "{");
    for (unsigned b = 0; b < 256; b++) {
        char c[2];
        const int length = gpt2_char(b, c);
        const char *escape = c[0] == '"' || c[0] == '\\' ? "\\" : "";
        n += (size_t)snprintf(vocab + n, sizeof vocab - n, "%s\"%s%.*s\": %u", b ? ", " : "", escape, length, c, b);
    }
    size_t m = (size_t)snprintf(list, sizeof list, "#version: 0.2\n");
    for (int i = 0; i < MERGES; i++) {
        const char *space = strchr(merges[i], ' ');
        n += (size_t)snprintf(vocab + n, sizeof vocab - n, ", \"%.*s%s\": %d", (int)(space - merges[i]), merges[i],
                              space + 1, 256 + i);
        m += (size_t)snprintf(list + m, sizeof list - m, "%s\n", merges[i]);
    }
    n += (size_t)snprintf(vocab + n, sizeof vocab - n, ", \"<|endoftext|>\": %d}\n", 256 + MERGES);
    /* the pair must load: written to two files first */
    char vocab_path[] = "/tmp/spdf-seed-vocab-XXXXXX", merges_path[] = "/tmp/spdf-seed-merges-XXXXXX";
    FILE *v = fdopen(mkstemp(vocab_path), "wb"), *l = fdopen(mkstemp(merges_path), "wb");
    if (!v || !l || fwrite(vocab, 1, n, v) != n || fwrite(list, 1, m, l) != m || fclose(v) || fclose(l)) exit(1);
    spdf_tokenizer *tok = NULL;
    const spdf_status status = spdf_tokenizer_load_gpt2(vocab_path, merges_path, &tok);
    remove(vocab_path);
    remove(merges_path);
    MUST(status);
    spdf_tokenizer_free(tok);
    char *seed = malloc(n + 1 + m);
    if (!seed) exit(1);
    memcpy(seed, vocab, n);
    seed[n] = '\0';
    memcpy(seed + n + 1, list, m);
    write_seed("gpt2-tokenizer", "pair.txt", seed, n + 1 + m);
    free(seed);
}

/* ---- task files and BLEU inputs (no writer in the library: the documented formats) ---- */

/* A seed the fuzzer starts from must be one the loader accepts. */
static void write_task_seed(const char *harness, const char *name, spdf_task_format format, const char *text)
{
    write_seed(harness, name, text, strlen(text));
    spdf_task_data *data = NULL;
    MUST(spdf_task_data_load(seed_path(harness, name), format, &data));
    spdf_task_data_free(data);
}

static void write_task_seeds(void)
{
    write_task_seed("task-e2e", "train.csv", SPDF_TASK_E2E_CSV,
                    "mr,ref\n"
                    "\"name[The Eagle], eatType[coffee shop], food[French]\",\"The Eagle is a "
                    "French coffee shop.\"\n"
                    "\"name[The Eagle], eatType[coffee shop], food[French]\",\"A coffee shop, "
                    "\"\"The Eagle\"\", serves French food.\"\n\n"
                    "\"name[Caf\xc3\xa9 Rouge], area[riverside]\",Caf\xc3\xa9 Rouge is by the river.\n");
    write_task_seed("task-e2e", "test.csv", SPDF_TASK_E2E_CSV,
                    "\xef\xbb\xbfmr\r\n\"name[The Mill], near[Caf\xc3\xa9 Sicilia]\"\r\n");
    write_task_seed("task-webnlg", "entries.xml", SPDF_TASK_WEBNLG_XML,
                    "<?xml version='1.0' encoding='UTF-8'?>\n<!-- comment -->\n<benchmark><entries>\n"
                    "<entry category=\"Airport\" eid=\"Id1\" size=\"2\">\n"
                    "<originaltripleset><otriple>x | y | z</otriple></originaltripleset>\n"
                    "<modifiedtripleset><mtriple>Aarhus_Airport | cityServed | \"Aarhus\"</mtriple>\n"
                    "<mtriple>Caf&#233; &amp; Bar | location | &lt;here&gt; &#xE9;</mtriple>"
                    "</modifiedtripleset>\n"
                    "<lex comment=\"good\" lid=\"Id1\">Aarhus &quot;Airport&quot; serves Aarhus.</lex>\n"
                    "<lex lid=\"Id2\"><![CDATA[Caf\xc3\xa9 & Bar <is> here.]]></lex><lex/>\n"
                    "</entry>\n<entry eid=\"Id2\"><modifiedtripleset><mtriple>a | b | c</mtriple>"
                    "</modifiedtripleset></entry>\n</entries></benchmark>\n");
    write_task_seed("task-dart", "dart.json", SPDF_TASK_DART_JSON,
                    "[{\"tripleset\": [[\"Mars Hill College\", \"JOINED\", \"1973\"], [\"Mars Hill "
                    "College\", \"LOCATION\", \"Mars Hill, North Carolina\"]], \"subtree_was_extended\": "
                    "true, \"annotations\": [{\"source\": \"WikiSQL\", \"text\": \"A school joined in "
                    "1973.\"}]},\n {\"tripleset\": [[\"A & B\", \"p\", \"o \\u00e9 \\ud83d\\ude00\"]], "
                    "\"annotations\": [{\"text\": \"tab\\there \\\"quoted\\\" \\/ \\\\\"}, {\"text\": "
                    "\"second\"}], \"n\": [1.5e3, -0, null, false]}]\n");
    write_task_seed("task-jsonl", "pairs.jsonl", SPDF_TASK_JSONL,
                    "{\"prompt\": \"name[The Eagle]\", \"target\": \"The Eagle.\"}\n\n"
                    "{\"prompt\": \"name[The Eagle]\", \"target\": [\"Eagle.\", \"An eagle \\u00e9.\"], "
                    "\"id\": 7}\n{\"target\": \"x\", \"prompt\": \"p\"}\n");
}

/* BLEU: an options byte (fuzz_bleu.c), then a hypothesis and its references, one a line. */
static void write_bleu_seed(const char *name, uint8_t options, const char *lines)
{
    const size_t length = strlen(lines);
    unsigned char *seed = malloc(length + 1);
    if (!seed) exit(1);
    seed[0] = options;
    memcpy(seed + 1, lines, length);
    write_seed("bleu", name, seed, length + 1);
    free(seed);
}

static void write_bleu_seeds(void)
{
    write_bleu_seed("e2e.txt", 0x60, /* 13a, case-sensitive, no smoothing, BLEU-4, NIST-5 */
                    "The Eagle is a cheap coffee shop near Burger King.\n"
                    "The Eagle is a coffee shop near Burger King, it is cheap.\n"
                    "Near Burger King is the cheap coffee shop The Eagle.");
    write_bleu_seed("tokens.txt", 0x6e, /* characters, lowercased, EXP smoothing */
                    "&quot;Caf\xc3\xa9&quot; -- 3.5% of U.S. (it's) \xce\x91\xce\x92 \xe4\xb8\xad\xe6\x96\x87\n"
                    "\"caf\xc3\xa9\" -- 3.5 % of u.s. ( it 's ) \xce\xb1\xce\xb2 \xe4\xb8\xad\xe6\x96\x87\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    corpus_dir = argv[1];
    if (mkdir(corpus_dir, 0777) != 0 && errno != EEXIST) {
        perror(corpus_dir);
        return 1;
    }
    spdf_context_config config;
    spdf_context_config_init(&config);
    config.backend = "ref";
    config.num_threads = 1;
    spdf_context *ctx = NULL;
    MUST(spdf_context_create(&config, &ctx));
    int32_t tokens[64];
    for (int i = 0; i < 64; i++) tokens[i] = (i * 7 + 3) % VOCAB;
    spdf_dataset *data = NULL;
    MUST(spdf_dataset_from_tokens(tokens, 64, &data));
    write_model_seeds(ctx, data);
    write_llmc_seed(ctx, 3, "fp32.bin");
    write_llmc_seed(ctx, 5, "bf16.bin");
    write_token_seeds();
    write_tokenizer_checkpoint_seed(ctx);
    write_gpt2_seed();
    write_task_seeds();
    write_bleu_seeds();
    spdf_dataset_free(data);
    spdf_context_free(ctx);
    return 0;
}
