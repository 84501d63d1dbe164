/* Sparse kernel benchmark: forward, backward-data and backward-weight of every block linear layer
 * of the tracked shapes, measured side by side: the dense GEMM, the reference sparse kernels, the
 * index kernels, libxsmm's JIT kernels (--jit, xsmm builds) and the layer's default plan
 * (ESTIMATE), all of the default backend (xsmm where it runs, else native).
 * Usage: bench_sparse [--threads N] [--reps R] [--shape small|gpt2|resident|all] [--jit]
 *                     [--density D]... [--no-ref] [--clock wall|cpu] [--stat median|min]
 *                     [--kernels portable|avx2|avx512]
 *        bench_sparse --step small|gpt2 [--threads N] [--reps R] [--clock wall|cpu] [--only V]
 *                     [--release-memory] [--kernels ...]
 * --kernels runs the index kernels of that instruction set (exit 77 if this CPU cannot).
 * --step times whole training steps (forward, backward, AdamW) through the public API: the dense
 * model on the reference and the default backend, and at 50 % and 75 % sparsity, alternating;
 * --only V runs just variant V (0..3, in that order), for a profiler; --release-memory gives
 * the sparse models SPDF_SPARSE_MEMORY_RELEASE (the transition then commits the pages again).
 * A second table splits each step of the default backend into the time spent inside its kernel
 * table (dense GEMM, the three sparse products; each call timed around, the models call them
 * from one thread) and the rest (attention, GELU, LayerNorm, AdamW, ...), and gives the sparse
 * kernels' rate of useful work.
 * --clock cpu measures the CPU time of the whole process (all threads) instead of wall-clock
 * time: on a loaded machine it is far steadier; run it with OMP_WAIT_POLICY=passive so that
 * threads waiting at barriers sleep instead of spinning.
 * Prints a markdown table: median wall-clock ms, GFLOP/s of useful work (2 N nnz for the sparse
 * kernels, 2 N rows cols for the dense GEMM), the ratio to the dense GEMM per operation, and for
 * the index kernels the cost model's ratio (that ratio over the density). */
#include "backend/backend.h"
#include "backend/sparse_index.h"
#include "backend/context.h"
#include "core/core.h"
#include "spdf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct layer_shape {
    const char *model, *name;
    int64_t rows, cols, N;
} layer_shape;

static const layer_shape shapes[] = {
    {"small", "qkv", 1152, 384, 1024},  {"small", "attn-proj", 384, 384, 1024},
    {"small", "mlp-up", 1536, 384, 1024}, {"small", "mlp-down", 384, 1536, 1024},
    {"gpt2", "qkv", 2304, 768, 256},    {"gpt2", "attn-proj", 768, 768, 256},
    {"gpt2", "mlp-up", 3072, 768, 256}, {"gpt2", "mlp-down", 768, 3072, 256},
    /* The best case: one token block and a layer whose operands all stay in L1/L2 between
     * calls (only with --shape resident). */
    {"resident", "256x128", 256, 128, 64},
};

enum { OP_FORWARD, OP_BACKWARD_DATA, OP_BACKWARD_WEIGHT, OPS };
enum { IMPL_DENSE, IMPL_REF, IMPL_INDEX, IMPL_JIT, IMPL_PLAN, IMPLS };
static const char *const op_names[OPS] = {"forward", "backward-data", "backward-weight"};
static const char *const impl_names[IMPLS] = {"dense GEMM", "ref sparse", "index kernels",
                                              "libxsmm JIT (weight: index)", "plan (ESTIMATE)"};

static clockid_t clock_id = CLOCK_MONOTONIC;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int use_min;
static int only_variant = -1; /* --step: time just this variant (for profiles) */
static int release_memory;    /* --step --release-memory: SPDF_SPARSE_MEMORY_RELEASE for the sparse models */

/* The median (or with --stat min the minimum) of n times. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    if (use_min) return v[0];
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static float *random_floats(int64_t count)
{
    float *x = spdf_aligned_alloc(sizeof(float) * (size_t)count);
    if (!x) exit(1);
    for (int64_t i = 0; i < count; i++) x[i] = (float)((next_random() >> 40) * (1.0 / 16777216.0)) - 0.5f;
    return x;
}

/* Exactly round(density * rows * cols) non-zeros at uniformly random positions (shuffle). */
static spdf_sparse_pattern random_pattern(int64_t rows, int64_t cols, double density)
{
    const int64_t total = rows * cols, nnz = (int64_t)llround(density * (double)total);
    uint8_t *kept = calloc((size_t)total, 1);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)total);
    for (int64_t i = 0; i < total; i++) order[i] = i;
    for (int64_t i = 0; i < nnz; i++) {
        const int64_t j = i + (int64_t)(next_random() % (uint64_t)(total - i));
        const int64_t swap = order[i];
        order[i] = order[j];
        order[j] = swap;
        kept[order[i]] = 1;
    }
    int32_t *row_ptr = malloc(sizeof(int32_t) * (size_t)(rows + 1));
    int32_t *col_idx = malloc(sizeof(int32_t) * (size_t)(nnz > 0 ? nnz : 1));
    int64_t k = 0;
    for (int64_t r = 0; r < rows; r++) {
        row_ptr[r] = (int32_t)k;
        for (int64_t c = 0; c < cols; c++)
            if (kept[r * cols + c]) col_idx[k++] = (int32_t)c;
    }
    row_ptr[rows] = (int32_t)k;
    free(kept);
    free(order);
    return (spdf_sparse_pattern){rows, cols, nnz, row_ptr, col_idx};
}

typedef struct operands {
    const layer_shape *s;
    spdf_sparse_pattern pattern;
    float *weight;           /* dense (rows, cols), zeros off the pattern */
    float *dweight;          /* (rows, cols) */
    float *values, *dvalues; /* (nnz) */
    float *inp, *dinp;       /* (N, cols) */
    float *out, *dout;       /* (N, rows) */
    void *layer[IMPLS];      /* the sparse layer each implementation runs on */
} operands;

/* The backend whose kernels are measured: xsmm when it runs here, else native. */
static const spdf_backend_ops *measured_backend(void)
{
#ifdef SPDF_HAVE_XSMM
    if (spdf_backend_xsmm.available()) return &spdf_backend_xsmm;
#endif
    return &spdf_backend_native;
}

/* One timed call of (impl, op). */
static void run(const operands *o, int impl, int op, int threads)
{
    const layer_shape *s = o->s;
    const spdf_backend_ops *x = measured_backend();
    if (impl == IMPL_DENSE) {
        if (op == OP_FORWARD)
            x->gemm(threads, SPDF_NO_TRANS, SPDF_TRANS, s->N, s->rows, s->cols, 1.0f, o->inp,
                    s->cols, o->weight, s->cols, 0.0f, o->out, s->rows);
        else if (op == OP_BACKWARD_DATA)
            x->gemm(threads, SPDF_NO_TRANS, SPDF_NO_TRANS, s->N, s->cols, s->rows, 1.0f, o->dout,
                    s->rows, o->weight, s->cols, 0.0f, o->dinp, s->cols);
        else
            x->gemm(threads, SPDF_TRANS, SPDF_NO_TRANS, s->rows, s->cols, s->N, 1.0f, o->dout,
                    s->rows, o->inp, s->cols, 1.0f, o->dweight, s->cols);
        return;
    }
    const spdf_backend_ops *ops = impl == IMPL_REF ? &spdf_backend_ref : x;
    const void *layer = o->layer[impl];
    if (op == OP_FORWARD) ops->sparse_forward(threads, layer, o->values, o->out, o->inp, s->N);
    else if (op == OP_BACKWARD_DATA)
        ops->sparse_backward_data(threads, layer, o->values, o->dinp, o->dout, s->N);
    else ops->sparse_backward_weight(threads, layer, o->dvalues, o->dout, o->inp, s->N);
}

/* A layer of the measured backend planned as `impl` says: forced index or JIT kernels, or the
 * default ESTIMATE plan; NULL when the backend cannot (no JIT here). */
static void *planned_layer(const spdf_sparse_pattern *pattern, int impl, int threads,
                           int64_t tokens, double *seconds)
{
    const spdf_backend_ops *x = measured_backend();
    const double t0 = now_seconds();
    void *layer = x->sparse_prepare(pattern);
    const int kind = impl == IMPL_INDEX ? SPDF_SPARSE_KERNEL_INDEX
                     : impl == IMPL_JIT ? SPDF_SPARSE_KERNEL_JIT
                                        : SPDF_SPARSE_KERNEL_AUTO;
    const spdf_sparse_plan_request request = {
        .num_threads = threads,
        .mode = SPDF_SPARSE_PLAN_ESTIMATE,
        .forced = {kind, kind, impl == IMPL_PLAN ? SPDF_SPARSE_KERNEL_AUTO : SPDF_SPARSE_KERNEL_INDEX},
        .source = SPDF_SPARSE_PLANNED_FORCED,
        .tokens = tokens,
    };
    if (layer && x->sparse_plan && x->sparse_plan(layer, &request) != SPDF_OK) {
        x->sparse_release(layer);
        layer = NULL;
    }
    *seconds = now_seconds() - t0;
    return layer;
}

static const char *kind_name(int kind)
{
    return kind == SPDF_SPARSE_KERNEL_JIT ? "jit" : kind == SPDF_SPARSE_KERNEL_DENSE ? "dense" : "index";
}

static void bench_shape(const layer_shape *s, double density, int threads, int reps, int jit,
                        int with_ref)
{
    operands o = {.s = s};
    o.pattern = random_pattern(s->rows, s->cols, density);
    o.weight = calloc((size_t)(s->rows * s->cols), sizeof(float));
    o.dweight = random_floats(s->rows * s->cols);
    o.values = random_floats(o.pattern.nnz > 0 ? o.pattern.nnz : 1);
    o.dvalues = calloc((size_t)(o.pattern.nnz > 0 ? o.pattern.nnz : 1), sizeof(float));
    o.inp = random_floats(s->N * s->cols);
    o.dinp = random_floats(s->N * s->cols);
    o.out = random_floats(s->N * s->rows);
    o.dout = random_floats(s->N * s->rows);
    for (int64_t r = 0; r < s->rows; r++)
        for (int32_t k = o.pattern.row_ptr[r]; k < o.pattern.row_ptr[r + 1]; k++)
            o.weight[r * s->cols + o.pattern.col_idx[k]] = o.values[k];
    const int sparse = density < 1.0;
    double build_seconds = 0.0, unused;
    size_t code_bytes = 0;
    spdf_sparse_plan_report plan;
    memset(&plan, 0, sizeof plan);
    if (sparse) {
        if (with_ref) o.layer[IMPL_REF] = spdf_backend_ref.sparse_prepare(&o.pattern);
        o.layer[IMPL_INDEX] = planned_layer(&o.pattern, IMPL_INDEX, threads, s->N, &unused);
        o.layer[IMPL_PLAN] = planned_layer(&o.pattern, IMPL_PLAN, threads, s->N, &unused);
        if (jit) o.layer[IMPL_JIT] = planned_layer(&o.pattern, IMPL_JIT, threads, s->N, &build_seconds);
        const spdf_backend_ops *x = measured_backend();
        if (o.layer[IMPL_JIT]) {
            spdf_sparse_plan_report r;
            x->sparse_kernel_info(o.layer[IMPL_JIT], &r);
            code_bytes = r.code_bytes;
        }
        if (o.layer[IMPL_PLAN] && x->sparse_kernel_info) x->sparse_kernel_info(o.layer[IMPL_PLAN], &plan);
    }
    int active[IMPLS] = {1};
    for (int impl = 1; impl < IMPLS; impl++) active[impl] = sparse && o.layer[impl] != NULL;
    double *times = malloc(sizeof(double) * (size_t)(IMPLS * OPS * reps));
    /* Round-robin over implementations inside each repetition, so noise hits all alike. */
    for (int rep = -1; rep < reps; rep++)
        for (int op = 0; op < OPS; op++)
            for (int impl = 0; impl < IMPLS; impl++) {
                if (!active[impl]) continue;
                const double t0 = now_seconds();
                run(&o, impl, op, threads);
                const double t = now_seconds() - t0;
                if (rep >= 0) times[(impl * OPS + op) * reps + rep] = t;
            }
    const double dense_flops = 2.0 * (double)s->N * (double)s->rows * (double)s->cols;
    const double useful = sparse ? 2.0 * (double)s->N * (double)o.pattern.nnz : dense_flops;
    double dense_ms[OPS];
    for (int op = 0; op < OPS; op++) dense_ms[op] = 1e3 * median(times + op * reps, reps);
    for (int impl = 0; impl < IMPLS; impl++) {
        if (!active[impl] || (impl == IMPL_DENSE && sparse)) continue;
        printf("| %s %s | %lldx%lld | %lld | %.2f | %s |", s->model, s->name, (long long)s->rows,
               (long long)s->cols, (long long)s->N, density, impl_names[impl]);
        for (int op = 0; op < OPS; op++) {
            const double ms = 1e3 * median(times + (impl * OPS + op) * reps, reps);
            printf(" %.3f ms %.1f GF/s %.2fx", ms, useful / (ms * 1e6), ms / dense_ms[op]);
            if (impl == IMPL_PLAN) printf(" (%s)", kind_name(plan.kind[op]));
            if (impl == IMPL_INDEX && sparse) /* the cost model's ratio: time per non-zero over dense time per element */
                printf(", ratio %.2f", ms / dense_ms[op] / density);
            printf(" |");
        }
        if (impl == IMPL_JIT)
            printf(" build %.0f ms, %.1f B/nnz |", 1e3 * build_seconds,
                   (double)code_bytes / (double)o.pattern.nnz);
        else printf(" |");
        printf("\n");
    }
    fflush(stdout);
    for (int impl = 1; impl < IMPLS; impl++)
        if (o.layer[impl])
            (impl == IMPL_REF ? &spdf_backend_ref : measured_backend())->sparse_release(o.layer[impl]);
    free(times);
    free((void *)o.pattern.row_ptr);
    free((void *)o.pattern.col_idx);
    free(o.weight);
    spdf_aligned_free(o.dweight);
    spdf_aligned_free(o.values);
    free(o.dvalues);
    spdf_aligned_free(o.inp);
    spdf_aligned_free(o.dinp);
    spdf_aligned_free(o.out);
    spdf_aligned_free(o.dout);
}

/* ---- per-operation breakdown of a step: the context's kernel table wrapped with timers ---- */

enum { PART_GEMM, PART_SPARSE_FORWARD, PART_SPARSE_BACKWARD_DATA, PART_SPARSE_BACKWARD_WEIGHT, PARTS };
static const char *const part_names[PARTS] = {"dense GEMM", "sparse forward", "sparse backward-data",
                                              "sparse backward-weight"};
static spdf_backend_ops wrapped;       /* the backend's own entries */
static double part_seconds[PARTS];     /* of the step being timed */

static void timed_gemm(int num_threads, spdf_transpose trans_a, spdf_transpose trans_b, int64_t M,
                       int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    const double t0 = now_seconds();
    wrapped.gemm(num_threads, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    part_seconds[PART_GEMM] += now_seconds() - t0;
}

static void timed_sparse_forward(int num_threads, const void *layer, const float *values,
                                 float *out, const float *inp, int64_t N)
{
    const double t0 = now_seconds();
    wrapped.sparse_forward(num_threads, layer, values, out, inp, N);
    part_seconds[PART_SPARSE_FORWARD] += now_seconds() - t0;
}

static void timed_sparse_backward_data(int num_threads, const void *layer, const float *values,
                                       float *dinp, const float *dout, int64_t N)
{
    const double t0 = now_seconds();
    wrapped.sparse_backward_data(num_threads, layer, values, dinp, dout, N);
    part_seconds[PART_SPARSE_BACKWARD_DATA] += now_seconds() - t0;
}

static void timed_sparse_backward_weight(int num_threads, const void *layer, float *dvalues,
                                         const float *dout, const float *inp, int64_t N)
{
    const double t0 = now_seconds();
    wrapped.sparse_backward_weight(num_threads, layer, dvalues, dout, inp, N);
    part_seconds[PART_SPARSE_BACKWARD_WEIGHT] += now_seconds() - t0;
}

/* Routes the context's kernels through the timers (the models read ctx->ops at every call). */
static void wrap_kernels(spdf_context *ctx)
{
    wrapped = ctx->resolved;
    ctx->resolved.gemm = timed_gemm;
    ctx->resolved.sparse_forward = timed_sparse_forward;
    ctx->resolved.sparse_backward_data = timed_sparse_backward_data;
    ctx->resolved.sparse_backward_weight = timed_sparse_backward_weight;
}

/* Whole training steps, side by side, one step of each variant in turn: the dense model on the
 * reference backend and on the default one, and the same model at 50 % and 75 % random sparsity
 * on the default backend.  Prints the medians and the ratios to the default backend's dense
 * step. */
enum { STEP_VARIANTS = 4 };

static int bench_step(const char *which, int threads, int reps)
{
    const int gpt2 = strcmp(which, "gpt2") == 0;
    const int V = gpt2 ? 50304 : 256, L = gpt2 ? 12 : 6, C = gpt2 ? 768 : 384;
    const int B = gpt2 ? 4 : 8, T = gpt2 ? 64 : 128;
    static const char *const names[STEP_VARIANTS] = {"dense, ref backend", "dense",
                                                     "50 % sparse", "75 % sparse"};
    static const float sparsity[STEP_VARIANTS] = {0.0f, 0.0f, 0.5f, 0.75f};
    spdf_context *ctx[2] = {NULL, NULL}; /* ref, default */
    spdf_model *model[STEP_VARIANTS] = {NULL};
    spdf_optimizer *opt[STEP_VARIANTS] = {NULL};
    spdf_mask *mask[STEP_VARIANTS] = {NULL};
    spdf_phase *phase[STEP_VARIANTS] = {NULL};
    for (int c = 0; c < 2; c++) {
        spdf_context_config cc;
        spdf_context_config_init(&cc);
        cc.num_threads = threads;
        cc.backend = c == 0 ? "ref" : NULL;
        if (spdf_context_create(&cc, &ctx[c]) != SPDF_OK) goto fail;
    }
    wrap_kernels(ctx[1]);
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = V;
    mc.max_seq_len = T;
    mc.num_layers = L;
    mc.num_heads = L;
    mc.channels = C;
    double attach_seconds = 0.0; /* spdf_phase_create of the 75 % model */
    for (int m = 0; m < STEP_VARIANTS; m++) {
        if (spdf_model_create(ctx[m == 0 ? 0 : 1], &mc, &model[m]) != SPDF_OK ||
            spdf_optimizer_create(model[m], NULL, &opt[m]) != SPDF_OK)
            goto fail;
        if (sparsity[m] > 0.0f && release_memory &&
            spdf_model_set_sparse_memory(model[m], SPDF_SPARSE_MEMORY_RELEASE) != SPDF_OK)
            goto fail;
        if (sparsity[m] > 0.0f &&
            spdf_mask_create(model[m], SPDF_MASK_RANDOM, sparsity[m], 1, &mask[m]) != SPDF_OK)
            goto fail;
        const double attach_start = now_seconds();
        if (sparsity[m] > 0.0f &&
            spdf_phase_create(model[m], opt[m], SPDF_PHASE_SPARSE, mask[m], &phase[m]) != SPDF_OK)
            goto fail;
        if (m == STEP_VARIANTS - 1) attach_seconds = now_seconds() - attach_start;
    }
    const char *backend;
    spdf_context_backend(ctx[1], &backend);
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)(B * T));
    int32_t *targets = malloc(sizeof(int32_t) * (size_t)(B * T));
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (int32_t)((i * 7 + 3) % V);
        targets[i] = (int32_t)((i * 13 + 5) % V);
    }
    double *times = malloc(sizeof(double) * (size_t)(STEP_VARIANTS * reps));
    double *parts = calloc((size_t)(STEP_VARIANTS * PARTS * reps), sizeof(double));
    double first_sparse_step = 0.0; /* the 75 % model's warm-up step: KEEP commits its pages in it */
    for (int r = -1; r < reps; r++) /* r = -1 warms up */
        for (int m = 0; m < STEP_VARIANTS; m++) {
            if (only_variant >= 0 && m != only_variant) {
                if (r >= 0) times[m * reps + r] = 0.0;
                continue;
            }
            float loss;
            memset(part_seconds, 0, sizeof part_seconds);
            const double t0 = now_seconds();
            if (spdf_model_forward(model[m], tokens, targets, NULL, B, T, &loss) != SPDF_OK ||
                spdf_model_backward(model[m]) != SPDF_OK ||
                spdf_optimizer_step(opt[m], NULL, NULL) != SPDF_OK)
                goto fail;
            if (r >= 0) times[m * reps + r] = now_seconds() - t0;
            else if (m == STEP_VARIANTS - 1) first_sparse_step = now_seconds() - t0;
            for (int k = 0; r >= 0 && k < PARTS; k++)
                parts[(m * PARTS + k) * reps + r] = part_seconds[k];
        }
    double step[STEP_VARIANTS];
    for (int m = 0; m < STEP_VARIANTS; m++) step[m] = median(times + m * reps, reps);
    printf("%s training step (B=%d, T=%d), %d threads, %s of %d, steps alternating\n\n", which, B,
           T, threads, use_min ? "minimum" : "median", reps);
    printf("| variant | backend | ms/step | ratio to dense %s |\n|---|---|---:|---:|\n", backend);
    for (int m = 0; m < STEP_VARIANTS; m++)
        printf("| %s | %s | %.1f | %.2f |\n", names[m], m == 0 ? "ref" : backend, 1e3 * step[m],
               step[m] / step[1]);
    /* Where the default backend's steps go: medians of each part over the repetitions. */
    const double sparse_flops = 6.0 * B * T * 12.0 * C * (double)C * L; /* at density 1 */
    printf("\nper step, %s of %d (the ref variant's kernels are not timed):\n\n", use_min ? "minimum" : "median", reps);
    printf("| variant | step ms | %s | %s | %s | %s | everything else | sparse kernels GFLOP/s |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|\n",
           part_names[0], part_names[1], part_names[2], part_names[3]);
    for (int m = 1; m < STEP_VARIANTS; m++) {
        if (only_variant >= 0 && m != only_variant) continue;
        double part_ms[PARTS], sparse_ms = 0.0, sum_ms = 0.0;
        for (int k = 0; k < PARTS; k++) {
            part_ms[k] = 1e3 * median(parts + (m * PARTS + k) * reps, reps);
            sum_ms += part_ms[k];
            if (k != PART_GEMM) sparse_ms += part_ms[k];
        }
        printf("| %s | %.1f |", names[m], 1e3 * step[m]);
        for (int k = 0; k < PARTS; k++) printf(" %.1f |", part_ms[k]);
        printf(" %.1f |", 1e3 * step[m] - sum_ms);
        if (sparse_ms > 0.0) printf(" %.1f |\n", (1.0 - sparsity[m]) * sparse_flops / (sparse_ms * 1e6));
        else printf(" - |\n");
    }
    free(parts);
    /* the SPDF transition of the 75 % model: kernels released, storage expanded in place */
    const double t0 = now_seconds();
    if (spdf_phase_transition(phase[3], SPDF_PHASE_DENSE, NULL, NULL) != SPDF_OK) goto fail;
    const double transition = now_seconds() - t0;
    printf("\nattach of the 75 %% mask (spdf_phase_create, memory %s): %.1f ms",
           release_memory ? "RELEASE" : "KEEP", 1e3 * attach_seconds);
    if (first_sparse_step > 0.0) printf("; its first step %.1f ms", 1e3 * first_sparse_step);
    printf("\n");
    printf("transition of the 75 %% model to dense (spdf_phase_transition): %.1f ms", 1e3 * transition);
    if (step[3] > 0) printf(", %.2f of its step", transition / step[3]);
    printf("\n");
    free(times);
    free(tokens);
    free(targets);
    for (int m = 0; m < STEP_VARIANTS; m++) {
        spdf_phase_free(phase[m]);
        spdf_mask_free(mask[m]);
        spdf_optimizer_free(opt[m]);
        spdf_model_free(model[m]);
    }
    for (int c = 0; c < 2; c++) spdf_context_free(ctx[c]);
    return 0;
fail:
    fprintf(stderr, "bench_sparse: %s\n", spdf_last_error());
    return 1;
}

/* --kernels NAME: the index kernels of that instruction set, if this CPU runs it. */
static int select_kernels(const char *name)
{
    const sparse_kernel_set *sets[] = {
        &sparse_kernels_portable,
#ifdef SPDF_HAVE_X86_KERNELS
        &sparse_kernels_avx2, &sparse_kernels_avx512,
#endif
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (strcmp(sets[i]->name, name) == 0 && cpu_isa_supported(sets[i]->isa)) {
            sparse_kernels_override(sets[i]);
            return 1;
        }
    printf("bench_sparse: the %s index kernels cannot run here (widest: %s): skipped\n", name,
           cpu_isa_name(cpu_widest_isa()));
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 2, reps = 7, jit = 0, with_ref = 1, num_densities = 0;
    const char *which = "all", *step = NULL, *kernels = NULL;
    double densities[8];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) which = argv[++i];
        else if (strcmp(argv[i], "--density") == 0 && i + 1 < argc && num_densities < 8)
            densities[num_densities++] = atof(argv[++i]);
        else if (strcmp(argv[i], "--jit") == 0) jit = 1;
        else if (strcmp(argv[i], "--step") == 0 && i + 1 < argc) step = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only_variant = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-ref") == 0) with_ref = 0;
        else if (strcmp(argv[i], "--release-memory") == 0) release_memory = 1;
        else if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc)
            clock_id = strcmp(argv[++i], "cpu") == 0 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
        else if (strcmp(argv[i], "--stat") == 0 && i + 1 < argc) use_min = strcmp(argv[++i], "min") == 0;
        else if (strcmp(argv[i], "--kernels") == 0 && i + 1 < argc) kernels = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--threads N] [--reps R] [--shape small|gpt2|resident|all] [--jit] "
                            "[--density D]... [--no-ref] [--clock wall|cpu] [--stat median|min] "
                            "[--kernels portable|avx2|avx512] "
                            "[--step small|gpt2 [--only 0..3] [--release-memory]]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (kernels && !select_kernels(kernels)) return 77;
    if (step) return bench_step(step, threads, reps);
    if (num_densities == 0) {
        densities[0] = 1.0;
        densities[1] = 0.5;
        densities[2] = 0.25;
        num_densities = 3;
    }
    if (reps < 1) reps = 1;
    printf("threads %d, %d repetitions (%s), %s time, backend %s, index kernels %s\n\n", threads,
           reps, use_min ? "minimum" : "median",
           clock_id == CLOCK_MONOTONIC ? "wall-clock" : "process CPU", measured_backend()->name,
           sparse_kernels_current()->name);
    printf("| layer | rows x cols | N | density | kernels | %s | %s | %s | JIT code |\n"
           "|---|---|---|---|---|---|---|---|---|\n", op_names[0], op_names[1], op_names[2]);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (strcmp(which, shapes[i].model) != 0 &&
            (strcmp(which, "all") != 0 || strcmp(shapes[i].model, "resident") == 0))
            continue;
        for (int d = 0; d < num_densities; d++)
            bench_shape(&shapes[i], densities[d], threads, reps, jit, with_ref);
    }
    return 0;
}
