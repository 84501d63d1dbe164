/* Text generation: greedy, beam search and sampling over the model's next-token distribution,
 * with a key/value cache (model/decode.c) or, as a reference, a full forward pass per step. */
#include "core/core.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

spdf_status spdf_generate_config_init(spdf_generate_config *config)
{
    spdf_clear_error();
    SPDF_CHECK_ARG(config);
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    config->strategy = SPDF_DECODE_GREEDY;
    config->max_new_tokens = 64;
    config->beam_width = 4;
    config->length_penalty = 1.0f;
    config->early_stopping = 1;
    config->temperature = 1.0f;
    config->top_k = 0;
    config->stop_token = SPDF_TOKEN_EOT;
    config->seed = 1;
    config->use_kv_cache = 1;
    return SPDF_OK;
}

static spdf_status validate(const spdf_model *model, const spdf_generate_config *c, int prompt_length)
{
    const int V = model->config.vocab_size;
    if (c->strategy < SPDF_DECODE_GREEDY || c->strategy > SPDF_DECODE_SAMPLE)
        return spdf_fail(SPDF_EINVAL, "unknown decoding strategy %d", (int)c->strategy);
    if (c->max_new_tokens < 0) return spdf_fail(SPDF_EINVAL, "max_new_tokens must be >= 0");
    if (c->strategy == SPDF_DECODE_BEAM && (c->beam_width < 1 || c->beam_width > 256))
        return spdf_fail(SPDF_EINVAL, "beam_width must be in [1, 256], got %d", (int)c->beam_width);
    if (c->strategy == SPDF_DECODE_BEAM && !c->use_kv_cache)
        return spdf_fail(SPDF_EINVAL, "beam search needs use_kv_cache = 1");
    if (!(c->temperature > 0.0f) || isinf(c->temperature))
        return spdf_fail(SPDF_EINVAL, "temperature must be finite and > 0");
    if (!isfinite(c->length_penalty)) return spdf_fail(SPDF_EINVAL, "length_penalty must be finite");
    if (c->top_k < 0) return spdf_fail(SPDF_EINVAL, "top_k must be >= 0");
    if (c->stop_token < -1 || c->stop_token >= V)
        return spdf_fail(SPDF_EINVAL, "stop_token %d is outside [-1, %d)", (int)c->stop_token, V);
    if (c->stop_sequence_length < 0 || (c->stop_sequence_length > 0 && !c->stop_sequence))
        return spdf_fail(SPDF_EINVAL, "stop_sequence is NULL but stop_sequence_length is %d",
                         (int)c->stop_sequence_length);
    if (prompt_length >= model->config.max_seq_len)
        return spdf_fail(SPDF_EINVAL, "the prompt (%d tokens) leaves no room in the context (%d)",
                         prompt_length, (int)model->config.max_seq_len);
    return SPDF_OK;
}

/* 1 if tokens[0..n) ends with the stop sequence. */
static int ends_with_stop(const spdf_generate_config *c, const int32_t *tokens, int n)
{
    const int k = c->stop_sequence_length;
    return k > 0 && n >= k && memcmp(tokens + n - k, c->stop_sequence, sizeof(int32_t) * (size_t)k) == 0;
}

static int32_t argmax(const float *logits, int V)
{
    int32_t best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    return best;
}

/* Samples from softmax(logits / temperature) restricted to the top_k most likely ids, with the
 * uniform number u in [0,1).  scratch holds V floats. */
static int32_t sample(const float *logits, int V, const spdf_generate_config *c, float u, float *scratch)
{
    float threshold = -INFINITY;
    if (c->top_k > 0 && c->top_k < V) { /* the k-th largest logit, by repeated selection */
        memcpy(scratch, logits, sizeof(float) * (size_t)V);
        for (int k = 0; k < c->top_k; k++) {
            const int32_t best = argmax(scratch, V);
            threshold = scratch[best];
            scratch[best] = -INFINITY;
        }
    }
    const float max = logits[argmax(logits, V)];
    double total = 0;
    for (int v = 0; v < V; v++) {
        scratch[v] = logits[v] >= threshold ? expf((logits[v] - max) / c->temperature) : 0.0f;
        total += scratch[v];
    }
    double target = u * total, running = 0;
    int32_t last = 0;
    for (int v = 0; v < V; v++) {
        if (scratch[v] == 0.0f) continue;
        running += scratch[v];
        last = v;
        if (running > target) return v;
    }
    return last;
}

/* SPDF_ENUMERIC unless every logit is finite: a NaN compares false with everything, so argmax,
 * the beam ranking and sampling would otherwise return made-up tokens with SPDF_OK. */
static spdf_status check_finite(const float *logits, int64_t count, int step)
{
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(logits[i]))
            return spdf_fail(SPDF_ENUMERIC, "the logits of generated token %d are not finite (%g at "
                             "id %lld): the model holds non-finite weights", step + 1,
                             (double)logits[i], (long long)i);
    return SPDF_OK;
}

/* Logits of the next token after tokens[0..n) by a full forward pass (no cache). */
static spdf_status full_forward_logits(spdf_model *model, const int32_t *tokens, int n, const float **logits)
{
    SPDF_TRY(gpt_forward(model, tokens, NULL, NULL, 1, n, NULL));
    *logits = model->acts.logits + (int64_t)(n - 1) * model->config.vocab_size;
    return SPDF_OK;
}

/* Greedy decoding and sampling: one sequence. */
static spdf_status generate_single(spdf_model *model, const int32_t *prompt, int prompt_length,
                                   const spdf_generate_config *c, int32_t *out, int out_capacity,
                                   int *out_length)
{
    const int V = model->config.vocab_size, max_len = model->config.max_seq_len;
    const int limit = c->max_new_tokens < max_len - prompt_length ? c->max_new_tokens : max_len - prompt_length;
    int32_t *sequence = malloc(sizeof(int32_t) * (size_t)max_len);
    float *scratch = malloc(sizeof(float) * (size_t)V);
    decoder *dec = NULL;
    spdf_status status = sequence && scratch ? SPDF_OK : spdf_fail(SPDF_ENOMEM, "out of memory for generation");
    if (status == SPDF_OK && c->use_kv_cache) status = decoder_create(model, 1, &dec);
    int n = prompt_length, produced = 0;
    if (status == SPDF_OK) memcpy(sequence, prompt, sizeof(int32_t) * (size_t)prompt_length);
    const float *logits = NULL;
    for (int p = 0; status == SPDF_OK && dec && p < prompt_length; p++)
        logits = decoder_step(dec, 1, &prompt[p], p);
    const spdf_rng rng = {c->seed, 0x67656E65ull}; /* "gene" */
    for (int step = 0; status == SPDF_OK && step < limit; step++) {
        if (!dec) status = full_forward_logits(model, sequence, n, &logits);
        if (status == SPDF_OK) status = check_finite(logits, V, step);
        if (status != SPDF_OK) break;
        int32_t next;
        if (c->strategy == SPDF_DECODE_SAMPLE) {
            float u;
            spdf_rng_uniform(&rng, (uint64_t)step, 1, &u);
            next = sample(logits, V, c, u, scratch);
        } else {
            next = argmax(logits, V);
        }
        if (next == c->stop_token) break;
        sequence[n++] = next;
        produced++;
        if (ends_with_stop(c, sequence + prompt_length, produced)) {
            produced -= c->stop_sequence_length;
            break;
        }
        if (dec && step + 1 < limit) logits = decoder_step(dec, 1, &next, n - 1);
    }
    if (status == SPDF_OK) {
        const int copy = produced < out_capacity ? produced : out_capacity;
        memcpy(out, sequence + prompt_length, sizeof(int32_t) * (size_t)(copy > 0 ? copy : 0));
        *out_length = produced;
    }
    decoder_free(dec);
    free(sequence);
    free(scratch);
    return status;
}

typedef struct hypothesis {
    float score; /* length-normalised */
    int length;
    int32_t *tokens;
} hypothesis;

typedef struct candidate {
    float logp;
    int beam;
    int32_t token;
} candidate;

/* Orders candidates by log-probability, then beam, then id, so ties resolve as greedy does. */
static int better(const candidate *a, const candidate *b)
{
    if (a->logp != b->logp) return a->logp > b->logp;
    if (a->beam != b->beam) return a->beam < b->beam;
    return a->token < b->token;
}

static float normalised(float logp, int length, float penalty)
{
    return logp / powf((float)(length > 0 ? length : 1), penalty);
}

/* The 2R best continuations over the live beams (logp > -inf), best first, into top; row r's
 * logits at logits + r * row_stride.  Returns how many were found. */
static int best_continuations(const float *logits, int64_t row_stride, const float *logp, int R,
                              int V, candidate *top)
{
    int n_top = 0;
    for (int r = 0; r < R; r++) {
        if (logp[r] == -INFINITY) continue;
        const float *row = logits + r * row_stride;
        float max = row[argmax(row, V)];
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp((double)(row[v] - max));
        const float lse = max + (float)log(sum);
        for (int v = 0; v < V; v++) {
            candidate cand = {logp[r] + row[v] - lse, r, v};
            if (n_top == 2 * R && !better(&cand, &top[n_top - 1])) continue;
            int at = n_top < 2 * R ? n_top++ : n_top - 1;
            while (at > 0 && better(&cand, &top[at - 1])) { top[at] = top[at - 1]; at--; }
            top[at] = cand;
        }
    }
    return n_top;
}

static spdf_status generate_beam(spdf_model *model, const int32_t *prompt, int prompt_length,
                                 const spdf_generate_config *c, int32_t *out, int out_capacity,
                                 int *out_length)
{
    const int V = model->config.vocab_size, R = c->beam_width, max_len = model->config.max_seq_len;
    const int limit = c->max_new_tokens < max_len - prompt_length ? c->max_new_tokens : max_len - prompt_length;
    const int width = limit + 1;
    decoder *dec = NULL;
    spdf_status status = decoder_create(model, R, &dec);
    if (status != SPDF_OK) return status;
    float *logp = malloc(sizeof(float) * R);
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)R * width);
    int32_t *next_tokens = malloc(sizeof(int32_t) * (size_t)R * width);
    int *parents = malloc(sizeof(int) * R);
    int32_t *feed = malloc(sizeof(int32_t) * R);
    candidate *top = malloc(sizeof(candidate) * 2 * R);
    hypothesis *done = calloc((size_t)R + 1, sizeof(hypothesis));
    int32_t *done_tokens = malloc(sizeof(int32_t) * (size_t)(R + 1) * width);
    if (!logp || !tokens || !next_tokens || !parents || !feed || !top || !done || !done_tokens)
        status = spdf_fail(SPDF_ENOMEM, "out of memory for beam search");
    int finished = 0, length = 0;
    const float *logits = NULL;
    for (int p = 0; status == SPDF_OK && p < prompt_length; p++) logits = decoder_step(dec, 1, &prompt[p], p);
    if (status == SPDF_OK) {
        for (int r = 0; r < R; r++) { logp[r] = r == 0 ? 0.0f : -INFINITY; parents[r] = 0; }
        decoder_copy_rows(dec, parents, prompt_length);
    }
    for (int step = 0; status == SPDF_OK && step < limit; step++) {
        /* at step 0 every row holds the prompt: row 0's logits stand for all of them */
        for (int r = 0; status == SPDF_OK && r < (step == 0 ? 1 : R); r++)
            if (logp[r] != -INFINITY) status = check_finite(logits + (int64_t)r * V, V, step);
        if (status != SPDF_OK) break;
        const int n_top = best_continuations(logits, step == 0 ? 0 : V, logp, R, V, top);
        int live = 0;
        for (int k = 0; k < n_top && live < R; k++) {
            const candidate *cand = &top[k];
            const int32_t *history = tokens + (int64_t)cand->beam * width;
            int32_t *dst = next_tokens + (int64_t)live * width;
            memcpy(dst, history, sizeof(int32_t) * (size_t)length);
            dst[length] = cand->token;
            const int ends_token = cand->token == c->stop_token;
            const int ends_sequence = !ends_token && ends_with_stop(c, dst, length + 1);
            if (ends_token || ends_sequence) {
                if (finished < R) { /* keep the R best finished hypotheses */
                    const int kept = ends_token ? length : length + 1 - c->stop_sequence_length;
                    hypothesis *h = &done[finished];
                    h->tokens = done_tokens + (int64_t)finished * width;
                    memcpy(h->tokens, dst, sizeof(int32_t) * (size_t)(kept > 0 ? kept : 0));
                    h->length = kept;
                    h->score = normalised(cand->logp, length + 1, c->length_penalty);
                    finished++;
                }
                continue;
            }
            parents[live] = cand->beam;
            feed[live] = cand->token;
            logp[live] = cand->logp;
            live++;
        }
        for (int r = live; r < R; r++) { logp[r] = -INFINITY; parents[r] = 0; feed[r] = 0; }
        int32_t *swap = tokens; tokens = next_tokens; next_tokens = swap;
        length++;
        if (live == 0) break;
        if (finished >= R) {
            if (c->early_stopping) break;
            float worst = INFINITY;
            for (int k = 0; k < finished; k++) worst = fminf(worst, done[k].score);
            if (normalised(logp[0], length, c->length_penalty) <= worst) break;
        }
        if (step + 1 == limit) break;
        decoder_copy_rows(dec, parents, prompt_length + length - 1);
        logits = decoder_step(dec, R, feed, prompt_length + length - 1);
    }
    if (status == SPDF_OK) {
        /* live beams at the limit compete with the finished ones */
        int best = -1;
        float best_score = -INFINITY;
        for (int k = 0; k < finished; k++)
            if (done[k].score > best_score) { best_score = done[k].score; best = k; }
        int best_live = -1;
        for (int r = 0; r < R; r++)
            if (logp[r] != -INFINITY && normalised(logp[r], length, c->length_penalty) > best_score) {
                best_score = normalised(logp[r], length, c->length_penalty);
                best_live = r;
            }
        const int32_t *result = best_live >= 0 ? tokens + (int64_t)best_live * width : best >= 0 ? done[best].tokens : NULL;
        const int result_length = best_live >= 0 ? length : best >= 0 ? done[best].length : 0;
        const int copy = result_length < out_capacity ? result_length : out_capacity;
        if (copy > 0) memcpy(out, result, sizeof(int32_t) * (size_t)copy);
        *out_length = result_length;
    }
    decoder_free(dec);
    free(logp); free(tokens); free(next_tokens); free(parents); free(feed); free(top); free(done); free(done_tokens);
    return status;
}

spdf_status spdf_generate(spdf_model *model, const int32_t *prompt, int32_t prompt_length,
                          const spdf_generate_config *config, int32_t *out, int32_t out_capacity,
                          int32_t *out_length)
{
    spdf_clear_error();
    SPDF_CHECK_HANDLE(model, HANDLE_MODEL);
    SPDF_CHECK_ARG(prompt);
    SPDF_CHECK_ARG(prompt_length >= 1);
    SPDF_CHECK_ARG(out || out_capacity == 0);
    SPDF_CHECK_ARG(out_capacity >= 0);
    SPDF_CHECK_ARG(out_length);
    spdf_generate_config c;
    spdf_generate_config_init(&c);
    if (config)
        SPDF_TRY(spdf_struct_read(&c, sizeof c, config,
                                  SPDF_SIZE_THROUGH(spdf_generate_config, use_kv_cache),
                                  "spdf_generate_config"));
    SPDF_TRY(validate(model, &c, prompt_length));
    for (int i = 0; i < prompt_length; i++)
        if (prompt[i] < 0 || prompt[i] >= model->config.vocab_size)
            return spdf_fail(SPDF_EINVAL, "prompt[%d] = %d is outside the vocabulary", i, (int)prompt[i]);
    int produced = 0;
    spdf_status status;
    if (c.strategy == SPDF_DECODE_BEAM)
        status = generate_beam(model, prompt, prompt_length, &c, out, out_capacity, &produced);
    else
        status = generate_single(model, prompt, prompt_length, &c, out, out_capacity, &produced);
    model_forget_activations(model); /* as documented, whether the cache or full passes ran */
    SPDF_TRY(status);
    *out_length = produced;
    return SPDF_OK;
}
