/* Training loops over the public API: pre-training on a corpus with a sampler, fine-tuning on
 * task sequences with loss weights, both logged, checkpointed and interruptible. */
#include "training_loop.h"

#include "checkpoint_series.h"
#include "cli.h"
#include "distributed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void session_free(session *s)
{
    spdf_phase_free(s->phase);
    spdf_optimizer_free(s->opt);
    spdf_model_free(s->model);
    s->phase = NULL;
    s->opt = NULL;
    s->model = NULL;
}

void curve_add(curve *c, int64_t step, double value)
{
    if (c->count == c->capacity) {
        const int capacity = c->capacity ? 2 * c->capacity : 256;
        int64_t *steps = realloc(c->steps, (size_t)capacity * sizeof *steps);
        if (steps) c->steps = steps;
        double *values = realloc(c->values, (size_t)capacity * sizeof *values);
        if (values) c->values = values;
        if (!steps || !values) return; /* the plot loses a point, the run goes on */
        c->capacity = capacity;
    }
    c->steps[c->count] = step;
    c->values[c->count] = value;
    c->count++;
}

void curve_free(curve *c)
{
    free(c->steps);
    free(c->values);
    memset(c, 0, sizeof *c);
}

void train_result_free(train_result *r)
{
    curve_free(&r->loss);
    curve_free(&r->val_loss);
    curve_free(&r->elapsed);
}

int save_checkpoint(const session *s, const spdf_sampler *sampler, const char *path)
{
    if (!distributed_is_root()) return EXIT_OK; /* the ranks hold the same state: rank 0 writes it */
    spdf_checkpoint_save_config config;
    spdf_checkpoint_save_config_init(&config);
    config.tokenizer = s->tokenizer;
    cli_stop_saving();
    const spdf_status status = spdf_checkpoint_save_ex(path, s->model, s->opt, sampler, &config);
    if (status != SPDF_OK) {
        cli_stop_save_failed();
        return cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot save the checkpoint '%s'", path);
    }
    int64_t step = 0;
    if (s->opt) spdf_optimizer_get_step(s->opt, &step);
    cli_stop_saved(path, step);
    return EXIT_OK;
}

static double tail_mean(const curve *c)
{
    if (c->count == 0) return NAN;
    const int n = c->count / 10 > 0 ? c->count / 10 : 1;
    double sum = 0;
    for (int i = c->count - n; i < c->count; i++) sum += c->values[i];
    return sum / n;
}

static const char *phase_of(const session *s)
{
    spdf_phase_kind kind = SPDF_PHASE_DENSE;
    if (s->phase) spdf_phase_get_kind(s->phase, &kind);
    return cli_phase_name(kind);
}

/* One training record in the log: what a resumed run must reproduce exactly. */
static void log_step(metrics_log *log, const char *run, const char *phase, int64_t step, float loss,
                     float lr, float grad_norm, int64_t tokens, double elapsed)
{
    json_writer w;
    if (!metrics_begin(log, &w, "step")) return;
    json_string(&w, "run", run);
    json_string(&w, "phase", phase);
    json_int(&w, "step", step);
    json_float(&w, "loss", loss);
    json_float(&w, "lr", lr);
    json_float(&w, "grad_norm", grad_norm);
    json_number(&w, "elapsed_s", round(elapsed * 1000) / 1000);
    json_number(&w, "tokens_per_s", elapsed > 0 ? round((double)tokens / elapsed) : 0);
    json_end(&w);
}

/* bleu NaN: not measured (pre-training), left out. */
static void log_eval(metrics_log *log, const char *run, int64_t step, double loss, double bleu)
{
    json_writer w;
    if (!metrics_begin(log, &w, "eval")) return;
    json_string(&w, "run", run);
    json_int(&w, "step", step);
    json_number(&w, "val_loss", loss);
    json_number(&w, "val_perplexity", exp(loss));
    if (!isnan(bleu)) json_number(&w, "bleu", bleu);
    json_end(&w);
}

static int step_failed(spdf_status status, int64_t step)
{
    if (status == SPDF_ENUMERIC)
        return cli_library_error(status, EXIT_FAILURE_RUNTIME,
                                 "training diverged at step %lld (try a lower --lr)", (long long)step + 1);
    return cli_library_error(status, EXIT_FAILURE_RUNTIME, "training step %lld failed", (long long)step + 1);
}

static int create_error(spdf_status status, const char *what)
{
    return cli_library_error(status, status == SPDF_EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME,
                             "cannot create the %s", what);
}

static void optimizer_for(spdf_optimizer_config *optim, const run_schedule *run)
{
    spdf_optimizer_config_init(optim);
    optim->learning_rate = run->lr;
    optim->warmup_steps = run->warmup;
    optim->total_steps = run->steps;
}

void pretrain_settings_init(pretrain_settings *ps, const spdf_model_config *model,
                            const run_schedule *run, uint64_t seed, const char *label,
                            progress_mode mode)
{
    memset(ps, 0, sizeof *ps);
    ps->model = *model;
    ps->model.seed = seed;
    optimizer_for(&ps->optim, run);
    ps->context = run->context;
    ps->batch = run->batch;
    ps->steps = run->steps;
    ps->seed = seed;
    ps->mask_method = SPDF_MASK_RANDOM;
    ps->label = label;
    ps->progress = mode;
    ps->progress_seconds = -1;
}

void finetune_settings_init(finetune_settings *fs, const run_schedule *run, uint64_t seed,
                            const char *label, progress_mode mode)
{
    memset(fs, 0, sizeof *fs);
    optimizer_for(&fs->optim, run);
    fs->context = run->context;
    fs->batch = run->batch;
    fs->steps = run->steps;
    fs->seed = seed;
    fs->label = label;
    fs->progress = mode;
    fs->progress_seconds = -1;
    validation_state_init(&fs->resumed);
}

int pretrain_create(session *s, const pretrain_settings *ps)
{
    spdf_status status = spdf_model_create(s->ctx, &ps->model, &s->model);
    if (status != SPDF_OK) return create_error(status, "model");
    if (ps->dropout > 0) {
        const int code = session_set_dropout(s, ps->dropout, ps->seed);
        if (code != EXIT_OK) return code;
    }
    status = spdf_optimizer_create(s->model, &ps->optim, &s->opt);
    if (status != SPDF_OK) return create_error(status, "optimizer");
    if (ps->sparsity <= 0) {
        status = spdf_phase_create(s->model, s->opt, SPDF_PHASE_DENSE, NULL, &s->phase);
        return status == SPDF_OK ? EXIT_OK : create_error(status, "dense phase");
    }
    spdf_mask_config mc;
    spdf_mask_config_init(&mc);
    mc.method = ps->mask_method;
    mc.sparsity = ps->sparsity;
    mc.seed = ps->seed;
    spdf_mask *mask = NULL;
    status = spdf_mask_create_ex(s->model, &mc, &mask);
    if (status != SPDF_OK) return create_error(status, "mask");
    spdf_sparse_plan_config plan;
    spdf_sparse_plan_config_init(&plan);
    plan.mode = ps->plan_mode;
    plan.tokens = ps->batch * ps->context; /* what every product of a training step sees */
    status = spdf_model_set_sparse_plan(s->model, &plan);
    if (status != SPDF_OK) {
        spdf_mask_free(mask);
        return create_error(status, "kernel plan");
    }
    status = spdf_phase_create(s->model, s->opt, SPDF_PHASE_SPARSE, mask, &s->phase);
    spdf_mask_free(mask);
    return status == SPDF_OK ? EXIT_OK : create_error(status, "sparse phase");
}

/* Rank 0 keeps the seed; the others' seeds differ from it and from each other. */
static uint64_t dropout_seed_of_rank(uint64_t seed)
{
    return seed ^ ((uint64_t)distributed_world()->rank * 0x9E3779B97F4A7C15ull);
}

static int apply_dropout(session *s, const spdf_dropout_config *config)
{
    const spdf_status status = spdf_model_set_dropout(s->model, config);
    return status == SPDF_OK ? EXIT_OK : cli_library_error(status, EXIT_USAGE, "cannot set the dropout");
}

int session_set_dropout(session *s, float rate, uint64_t seed)
{
    spdf_dropout_config config;
    spdf_dropout_config_init(&config);
    config.embedding = config.attention = config.residual = rate;
    config.seed = dropout_seed_of_rank(seed);
    return apply_dropout(s, &config);
}

int session_resume_dropout(session *s)
{
    spdf_dropout_config config;
    spdf_dropout_config_init(&config);
    spdf_model_get_dropout(s->model, &config);
    config.seed = dropout_seed_of_rank(config.seed);
    return apply_dropout(s, &config);
}

double training_step_flops(const spdf_model *model, int32_t context, int32_t batch, int sparse)
{
    spdf_flop_report flops;
    memset(&flops, 0, sizeof flops);
    flops.struct_size = sizeof flops;
    spdf_model_flops(model, context, batch, &flops);
    return sparse ? flops.train_per_step_sparse : flops.train_per_step_dense;
}

int pretrain_new_run(session *s, const corpus *data, const pretrain_settings *ps, metrics_log *log,
                     train_result *r, double *flops)
{
    int code = pretrain_create(s, ps);
    spdf_sampler *sampler = NULL;
    if (code == EXIT_OK) {
        const spdf_status status = spdf_sampler_create(data->train, ps->batch, ps->context, ps->seed,
                                                       SPDF_SAMPLE_RANDOM, &sampler);
        if (status != SPDF_OK) code = cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot create the sampler");
    }
    if (code == EXIT_OK) code = pretrain_run(s, sampler, data, ps, log, r);
    spdf_sampler_free(sampler);
    if (code == EXIT_OK) *flops = training_step_flops(s->model, ps->context, ps->batch, ps->sparsity > 0) * ps->steps;
    return code;
}

int pretrain_resume(session *s, const char *path, spdf_sampler *sampler)
{
    spdf_checkpoint_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    spdf_status status = spdf_checkpoint_info_read(path, &info);
    if (status != SPDF_OK)
        return cli_library_error(status, cli_input_exit_code(status), "cannot resume from '%s'", path);
    if (!info.has_optimizer || !info.has_sampler) {
        cli_error("cannot resume from '%s': it holds no %s state (not written by spdf pretrain?)", path,
                  info.has_optimizer ? "sampler" : "optimizer");
        return EXIT_BAD_INPUT;
    }
    status = spdf_checkpoint_load(path, s->ctx, &s->model, &s->opt, &s->phase, sampler);
    if (status == SPDF_EINVAL)
        return cli_library_error(status, EXIT_USAGE, "cannot resume from '%s' (pass the --batch, "
                                 "--context and --seed of the original run)", path);
    if (status != SPDF_OK)
        return cli_library_error(status, cli_input_exit_code(status), "cannot resume from '%s'", path);
    return EXIT_OK;
}

/* Validation windows: up to `batch` rows, fewer when the held-out part is short. */
static int32_t validation_rows(const corpus *data, int32_t batch, int32_t T)
{
    if (!data->val || data->val_tokens <= T) return 0;
    const int64_t rows = (data->val_tokens - 1) / T;
    return rows < batch ? (int32_t)rows : batch;
}

static int evaluate_now(const session *s, const corpus *data, const pretrain_settings *ps,
                        double *loss)
{
    const int32_t rows = validation_rows(data, ps->batch, ps->context);
    *loss = NAN;
    if (rows == 0) return EXIT_OK;
    const spdf_status status = spdf_model_evaluate(s->model, data->val, rows, ps->context,
                                                   ps->eval_batches, loss, NULL);
    if (status != SPDF_OK) return cli_library_error(status, EXIT_FAILURE_RUNTIME, "validation failed");
    return EXIT_OK;
}

static void log_start(metrics_log *log, const session *s, const char *run, const char *command,
                      int32_t B, int32_t T, int64_t step, int64_t steps)
{
    json_writer w;
    if (!metrics_begin(log, &w, "start")) return;
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    spdf_model_get_config(s->model, &mc);
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    spdf_optimizer_get_config(s->opt, &oc);
    json_string(&w, "run", run);
    json_string(&w, "command", command);
    json_string(&w, "phase", phase_of(s));
    json_int(&w, "layers", mc.num_layers);
    json_int(&w, "heads", mc.num_heads);
    json_int(&w, "width", mc.channels);
    json_int(&w, "max_seq_len", mc.max_seq_len);
    json_int(&w, "vocab", mc.vocab_size);
    json_int(&w, "batch", B);
    json_int(&w, "context", T);
    json_int(&w, "first_step", step);
    json_int(&w, "steps", steps);
    json_float(&w, "lr", oc.learning_rate);
    json_int(&w, "warmup", oc.warmup_steps);
    json_end(&w);
}

/* ---- what both loops share ---- */

/* One (B, T) batch: token ids, targets and (fine-tuning only) per-token loss weights. */
typedef struct batch_buffers {
    int32_t *inputs, *targets;
    float *weights;
} batch_buffers;

static void batch_free(batch_buffers *b)
{
    free(b->inputs);
    free(b->targets);
    free(b->weights);
}

static int batch_alloc(batch_buffers *b, int32_t B, int32_t T, int with_weights)
{
    const size_t cells = (size_t)B * (size_t)T;
    b->inputs = malloc(cells * sizeof *b->inputs);
    b->targets = malloc(cells * sizeof *b->targets);
    b->weights = with_weights ? malloc(cells * sizeof *b->weights) : NULL;
    if (b->inputs && b->targets && (!with_weights || b->weights)) return EXIT_OK;
    batch_free(b);
    cli_error("out of memory for a (%d, %d) batch", (int)B, (int)T);
    return EXIT_FAILURE_RUNTIME;
}

/* This rank's rows of a (B, T) global batch: rows [rank * rows, (rank + 1) * rows). */
static batch_buffers shard_of(const batch_buffers *b, int32_t rows, int32_t T)
{
    const int64_t first = (int64_t)distributed_world()->rank * rows * T;
    return (batch_buffers){b->inputs + first, b->targets + first, b->weights ? b->weights + first : NULL};
}

/* A running loop: where it started, its progress line and its log, and how each global batch
 * is split: `rows` of it on this rank, in `accum` micro-batches. */
typedef struct loop_state {
    session *s;
    metrics_log *log;
    train_result *r;
    const char *label, *phase;
    progress p;
    double start;
    int64_t step;
    int32_t rows, accum;
    double *micro_weights; /* accum entries: the loss weight of each micro-batch */
    int32_t keep_last;     /* numbered checkpoints kept beside the run's (checkpoint_series.h) */
} loop_state;

/* The run's checkpoint, and its numbered copy when asked for. */
static int loop_save(const loop_state *L, const spdf_sampler *sampler, const char *path)
{
    const int code = save_checkpoint(L->s, sampler, path);
    return code == EXIT_OK ? checkpoint_series_add(path, L->step, L->keep_last) : code;
}

/* The rows of a global batch of B that this rank trains on, or an error when B does not split
 * evenly over the ranks and micro-batches. */
static int split_batch(int32_t B, int32_t accum, int32_t *rows)
{
    const distributed *world = distributed_world();
    const int64_t parts = (int64_t)world->ranks * (accum > 0 ? accum : 1);
    if (B % parts != 0) {
        cli_error("--batch %d does not split into %d ranks x %d micro-batches (--grad-accum)", (int)B,
                  world->ranks, (int)(accum > 0 ? accum : 1));
        return EXIT_USAGE;
    }
    *rows = (int32_t)(B / world->ranks);
    return EXIT_OK;
}

static int loop_begin(loop_state *L, session *s, metrics_log *log, train_result *r,
                      const char *label, const char *command, progress_mode mode,
                      double line_seconds, int32_t B, int32_t T, int64_t steps, int32_t accum)
{
    memset(L, 0, sizeof *L);
    L->accum = accum > 0 ? accum : 1;
    int code = split_batch(B, L->accum, &L->rows);
    if (code != EXIT_OK) return code;
    L->micro_weights = calloc((size_t)L->accum, sizeof *L->micro_weights);
    if (!L->micro_weights) {
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    L->s = s;
    L->log = log;
    L->r = r;
    L->label = label;
    spdf_optimizer_get_step(s->opt, &L->step);
    r->first_step = L->step;
    r->final_val_loss = NAN;
    cli_stop_forget(); /* this run's checkpoint is not on disk yet */
    progress_start(&L->p, distributed_is_root() ? mode : PROGRESS_OFF, label, L->step, steps, (int64_t)B * T);
    if (line_seconds >= 0) L->p.line_seconds = line_seconds;
    log_start(log, s, label, command, B, T, L->step, steps);
    L->phase = phase_of(s);
    L->start = cli_now();
    return EXIT_OK;
}

/* The weight of a micro-batch in its global batch's loss: its tokens, or with loss weights their
 * sum (the library's loss is a weighted mean over its batch). */
static double micro_weight(const float *weights, int32_t rows, int32_t T)
{
    if (!weights) return (double)rows * T;
    double sum = 0;
    for (int64_t i = 0; i < (int64_t)rows * T; i++) sum += weights[i];
    return sum;
}

static int scale_failed(spdf_status status)
{
    return cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot scale the gradients");
}

/* Forward and backward over this rank's rows of the global batch, micro-batch by micro-batch.
 * The library adds the gradients of successive backward passes; each is that of its own
 * micro-batch's weighted mean loss, g_k, while the step needs sum_k a_k g_k with a_k its share
 * W_k / W of the global batch's loss weight.  Rescaling the running sum by a_k / a_(k+1) after
 * backward k, and by a_K at the end, gives exactly that, and the ranks' sums then add up.  One
 * micro-batch on one rank scales by 1: nothing is done, the step is the plain one. */
static int loop_gradients(loop_state *L, const batch_buffers *b, int32_t T, float *loss)
{
    const int32_t micro = L->rows / L->accum;
    const int64_t cells = (int64_t)micro * T;
    double local = 0;
    for (int32_t k = 0; k < L->accum; k++) {
        L->micro_weights[k] = micro_weight(b->weights ? b->weights + k * cells : NULL, micro, T);
        local += L->micro_weights[k];
    }
    const double total = distributed_sum(local);
    double loss_sum = 0;
    for (int32_t k = 0; k < L->accum; k++) {
        float micro_loss = 0;
        spdf_status status = spdf_model_forward(L->s->model, b->inputs + k * cells, b->targets + k * cells,
                                                b->weights ? b->weights + k * cells : NULL, micro, T,
                                                &micro_loss);
        if (status == SPDF_OK) status = spdf_model_backward(L->s->model);
        if (status != SPDF_OK) return step_failed(status, L->step);
        loss_sum += L->micro_weights[k] * micro_loss;
        *loss = micro_loss;
        const double next = k + 1 < L->accum ? L->micro_weights[k + 1] : total;
        const double factor = L->micro_weights[k] / next;
        if (factor != 1.0 && (status = spdf_model_scale_gradients(L->s->model, (float)factor)) != SPDF_OK)
            return scale_failed(status);
    }
    if (distributed_world()->ranks > 1 && distributed_sum_gradients(L->s->model) != 0)
        return EXIT_FAILURE_RUNTIME;
    if (L->accum > 1 || distributed_world()->ranks > 1) *loss = (float)(distributed_sum(loss_sum) / total);
    return EXIT_OK;
}

/* Forward, backward and one AdamW update; records the step in the result, the log and the
 * progress line.  tokens: those trained on since the loop began. */
static int loop_step(loop_state *L, const batch_buffers *b, int32_t T, int64_t tokens)
{
    float loss = 0, norm = 0, lr = 0;
    const int code = loop_gradients(L, b, T, &loss);
    if (code != EXIT_OK) return code;
    const spdf_status status = spdf_optimizer_step(L->s->opt, &norm, &lr);
    if (status != SPDF_OK) return step_failed(status, L->step);
    L->step++;
    L->r->last_loss = loss;
    const double elapsed = cli_now() - L->start;
    curve_add(&L->r->loss, L->step, loss);
    curve_add(&L->r->elapsed, L->step, elapsed);
    log_step(L->log, L->label, L->phase, L->step, loss, lr, norm, tokens, elapsed);
    progress_tokens(&L->p, tokens);
    progress_update(&L->p, L->step, loss, lr);
    return EXIT_OK;
}

static void loop_record_eval(loop_state *L, double val, double bleu)
{
    curve_add(&L->r->val_loss, L->step, val);
    log_eval(L->log, L->label, L->step, val, bleu);
}

/* Saves the final (or interrupted) state and fills in the result. */
static int loop_end(loop_state *L, int code, const spdf_sampler *sampler, const char *out_path)
{
    if ((code == EXIT_OK || code == EXIT_INTERRUPTED) && out_path) {
        const int saved = loop_save(L, sampler, out_path);
        if (saved != EXIT_OK) code = saved;
    }
    L->r->steps_done = L->step;
    L->r->seconds = cli_now() - L->start;
    L->r->tail_loss = tail_mean(&L->r->loss);
    L->r->interrupted = code == EXIT_INTERRUPTED;
    free(L->micro_weights);
    L->micro_weights = NULL;
    return code;
}

/* A stop request on any rank stops every rank after the same step. */
static int loop_stop_requested(void)
{
    return distributed_any(cli_interrupted());
}

/* ---- pre-training ---- */

int pretrain_run(session *s, spdf_sampler *sampler, const corpus *data, const pretrain_settings *ps,
                 metrics_log *log, train_result *r)
{
    const int32_t B = ps->batch, T = ps->context;
    batch_buffers b;
    int code = batch_alloc(&b, B, T, 0);
    if (code != EXIT_OK) return code;
    loop_state L;
    code = loop_begin(&L, s, log, r, ps->label, "pretrain", ps->progress, ps->progress_seconds, B, T, ps->steps,
                      ps->grad_accum);
    L.keep_last = ps->keep_last;
    if (code != EXIT_OK) {
        batch_free(&b);
        return code;
    }
    int stopped = 0;
    while (code == EXIT_OK && L.step < ps->steps) {
        if (loop_stop_requested()) {
            code = EXIT_INTERRUPTED;
            break;
        }
        if (ps->stop_at > 0 && L.step >= ps->stop_at) {
            stopped = 1;
            break;
        }
        const spdf_status status = spdf_sampler_next(sampler, b.inputs, b.targets);
        code = status == SPDF_OK ? loop_step(&L, &b, T, (L.step + 1 - r->first_step) * B * T)
                                 : step_failed(status, L.step);
        const int64_t step = L.step;
        if (code == EXIT_OK && ps->eval_every > 0 && step % ps->eval_every == 0 && step < ps->steps) {
            double val = NAN;
            code = evaluate_now(s, data, ps, &val);
            if (code == EXIT_OK && !isnan(val)) {
                loop_record_eval(&L, val, NAN);
                progress_note(&L.p, "%s  step %lld  validation loss %.4f", ps->label, (long long)step, val);
            }
        }
        if (code == EXIT_OK && ps->out_path && ps->save_every > 0 && step % ps->save_every == 0 &&
            step < ps->steps)
            code = loop_save(&L, sampler, ps->out_path);
        distributed_fail_fast(code);
    }
    progress_finish(&L.p);
    if (code == EXIT_OK && !stopped && cli_interrupted()) code = EXIT_INTERRUPTED; /* no final evaluation */
    if (code == EXIT_OK && !stopped) {
        code = evaluate_now(s, data, ps, &r->final_val_loss);
        if (code == EXIT_OK && !isnan(r->final_val_loss)) loop_record_eval(&L, r->final_val_loss, NAN);
    }
    code = loop_end(&L, code, sampler, ps->out_path);
    batch_free(&b);
    return code;
}

/* ---- fine-tuning ---- */

int finetune_prepare(session *s, const finetune_settings *fs)
{
    /* the fine-tuning run's own dropout (none by default), whatever pre-training used */
    const int dropped = session_set_dropout(s, fs->dropout, fs->seed);
    if (dropped != EXIT_OK) return dropped;
    spdf_status status;
    if (!s->opt) {
        status = spdf_optimizer_create(s->model, &fs->optim, &s->opt);
        if (status != SPDF_OK) return create_error(status, "optimizer");
    }
    if (!s->phase) {
        cli_error("internal error: the model has no phase handle");
        return EXIT_FAILURE_RUNTIME;
    }
    spdf_phase_kind kind = SPDF_PHASE_DENSE;
    spdf_phase_get_kind(s->phase, &kind);
    if (kind == SPDF_PHASE_SPARSE) {
        if (fs->keep_sparse) {
            const int code = session_release_sparse_memory(s);
            if (code != EXIT_OK) return code;
        }
        spdf_transition_config tc;
        spdf_transition_config_init(&tc);
        tc.reset_moments = fs->reset_moments;
        tc.restart_schedule = 1;
        tc.optimizer = &fs->optim;
        status = spdf_phase_transition(s->phase, fs->keep_sparse ? SPDF_PHASE_SPARSE : SPDF_PHASE_DENSE,
                                       NULL, &tc);
        if (status != SPDF_OK)
            return cli_library_error(status, status == SPDF_EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME,
                                     "the phase transition failed");
        return EXIT_OK;
    }
    if (fs->keep_sparse) {
        cli_error("--sparse needs a sparse checkpoint, but the model is dense");
        return EXIT_USAGE;
    }
    status = spdf_optimizer_restart(s->opt, &fs->optim, fs->reset_moments);
    if (status != SPDF_OK)
        return cli_library_error(status, status == SPDF_EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME,
                                 "cannot restart the optimizer");
    return EXIT_OK;
}

/* A copy of the model that is not the run's checkpoint (the best one): written atomically like
 * any checkpoint, but a stop does not count it as the run's saved state. */
static int save_model_copy(const session *s, const char *path)
{
    if (!distributed_is_root()) return EXIT_OK;
    spdf_checkpoint_save_config config;
    spdf_checkpoint_save_config_init(&config);
    config.tokenizer = s->tokenizer;
    const spdf_status status = spdf_checkpoint_save_ex(path, s->model, s->opt, NULL, &config);
    return status == SPDF_OK ? EXIT_OK
                             : cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot save the checkpoint '%s'", path);
}

/* One evaluation at L->step: logged, counted into the best, the best model kept. */
static int finetune_evaluate(loop_state *L, const finetune_settings *fs)
{
    const finetune_validation *v = &fs->validation;
    double loss = NAN, bleu = NAN;
    int code = validation_measure(L->s->model, v, &loss, &bleu);
    if (code != EXIT_OK) return code;
    int improved = 0;
    validation_state_update(&L->r->validation, L->step, loss, &improved);
    L->r->final_val_loss = loss;
    L->r->final_bleu = bleu;
    loop_record_eval(L, loss, bleu);
    char scores[64] = "";
    if (!isnan(bleu)) snprintf(scores, sizeof scores, ", BLEU %.4f", bleu);
    progress_note(&L->p, "%s  step %lld  validation loss %.4f%s%s", fs->label, (long long)L->step, loss, scores,
                  improved ? " (best)" : "");
    if (improved && v->best_path) code = save_model_copy(L->s, v->best_path);
    return code;
}

/* The run's checkpoint, after the validation state it holds. */
static int finetune_save(const loop_state *L, const finetune_settings *fs, int first)
{
    int code = fs->validation.pairs ? validation_state_append(fs->out_path, L->step, &L->r->validation, first)
                                    : EXIT_OK;
    if (code == EXIT_OK) code = loop_save(L, NULL, fs->out_path);
    return code;
}

int finetune_run(session *s, const finetune_data *data, const finetune_settings *fs,
                 metrics_log *log, train_result *r)
{
    const int32_t B = fs->batch, T = data->context;
    batch_buffers b;
    int code = batch_alloc(&b, B, T, 1);
    if (code != EXIT_OK) return code;
    loop_state L;
    code = loop_begin(&L, s, log, r, fs->label, "finetune", fs->progress, fs->progress_seconds, B, T, fs->steps,
                      fs->grad_accum);
    L.keep_last = fs->keep_last;
    if (code != EXIT_OK) {
        batch_free(&b);
        return code;
    }
    r->validation = fs->resumed;
    r->final_bleu = NAN;
    const int validating = fs->validation.pairs != NULL;
    int first_save = !fs->append_state; /* the state file starts afresh with this run's first save */
    int64_t tokens = 0, evaluated = -1;
    int stopped = 0;
    while (code == EXIT_OK && L.step < fs->steps) {
        if (loop_stop_requested()) {
            code = EXIT_INTERRUPTED;
            break;
        }
        if (fs->stop_at > 0 && L.step >= fs->stop_at) {
            stopped = 1;
            break;
        }
        int32_t length = T;
        if (finetune_batch(data, fs->seed, fs->order, L.step, B, b.inputs, b.targets, b.weights,
                           &length) != 0) {
            cli_error("out of memory for the fine-tuning batch");
            code = EXIT_FAILURE_RUNTIME;
            break;
        }
        tokens += (int64_t)B * length;
        const batch_buffers mine = shard_of(&b, L.rows, length);
        code = loop_step(&L, &mine, length, tokens);
        if (code == EXIT_OK && validating && fs->validation.every > 0 && L.step % fs->validation.every == 0) {
            code = finetune_evaluate(&L, fs);
            evaluated = L.step;
            if (code == EXIT_OK && validation_should_stop(&r->validation, fs->validation.patience)) {
                r->stopped_early = 1;
                break;
            }
        }
        if (code == EXIT_OK && fs->out_path && fs->save_every > 0 && L.step % fs->save_every == 0 &&
            L.step < fs->steps) {
            code = finetune_save(&L, fs, first_save);
            first_save = 0;
        }
        distributed_fail_fast(code);
    }
    progress_finish(&L.p);
    if (code == EXIT_OK && !stopped && !r->stopped_early && cli_interrupted()) code = EXIT_INTERRUPTED;
    if (code == EXIT_OK && !stopped && !r->stopped_early && validating && evaluated != L.step)
        code = finetune_evaluate(&L, fs); /* the end of the run */
    /* stopped before its first step, a fine-tuning run has nothing to save: --out stays as it was */
    const int nothing_trained = code == EXIT_INTERRUPTED && L.step == r->first_step;
    if ((code == EXIT_OK || code == EXIT_INTERRUPTED) && fs->out_path && !nothing_trained)
        code = finetune_save(&L, fs, first_save) == EXIT_OK ? code : EXIT_FAILURE_RUNTIME;
    code = loop_end(&L, code, NULL, NULL);
    batch_free(&b);
    return code;
}

int session_release_sparse_memory(session *s)
{
    const spdf_status status = spdf_model_set_sparse_memory(s->model, SPDF_SPARSE_MEMORY_RELEASE);
    if (status != SPDF_OK)
        return cli_library_error(status, EXIT_FAILURE_RUNTIME, "cannot set the sparse memory policy");
    return EXIT_OK;
}

int session_load(spdf_context *ctx, const char *path, int with_training_state, session *s)
{
    spdf_checkpoint_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    spdf_status status = spdf_checkpoint_info_read(path, &info);
    if (status == SPDF_OK)
        status = spdf_checkpoint_load(path, ctx, &s->model,
                                      with_training_state && info.has_optimizer ? &s->opt : NULL,
                                      with_training_state ? &s->phase : NULL, NULL);
    if (status != SPDF_OK) return cli_library_error(status, cli_input_exit_code(status), "cannot load '%s'", path);
    return EXIT_OK;
}
