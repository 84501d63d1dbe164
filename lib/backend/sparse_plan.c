/* Kernel plans of sparse layers: the candidates for each product, the cost model (ESTIMATE),
 * timing on the layer (MEASURE), forced choices, and the products run on the chosen kernels. */
#include "backend/sparse_plan.h"
#include "core/core.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sparse_plan {
    sparse_index_layer *index;
    sparse_backend_kernels backend;
    spdf_sparse_kernel_kind kind[SPDF_PRODUCTS];
    float relative_time[SPDF_PRODUCTS];
    spdf_sparse_plan_source planned_by;
    void *jit;         /* JIT kernels, while a product runs on them */
    int32_t *position; /* (nnz) dense index r * cols + c of each slot, while a product runs on the
                          dense GEMM */
    /* (rows, cols) each, kept between calls while a product runs on the dense GEMM, so that no
     * call allocates, faults in or clears a whole weight: the masked weight (its off-mask
     * entries stay 0, so a call only writes the non-zeros) and the dense weight gradient. */
    float *dense_weight, *dense_gradient;
};

enum { MEASURE_REPEATS = 3, DEFAULT_TOKENS = 512 };
#define DENSE_OVERHEAD 48.0
/* A gathered product whose operand panel (operand rows x SPARSE_TOKENS floats) outgrows the L2
 * share a core gets streams it from L3: measured 1.2-1.4x slower per non-zero (GPT-2's
 * backward-data against the small shape's, bench_sparse, docs/sparsity.md). */
#define PANEL_FIT_BYTES (384.0 * 1024.0)
#define WIDE_PANEL_PENALTY 1.3

/* ---- the dense candidates ---- */

/* Positions from the forward plan, whose entries are the storage slots in order. */
static int32_t *make_positions(const sparse_index_layer *w)
{
    int32_t *position = malloc(sizeof(int32_t) * (size_t)(w->nnz > 0 ? w->nnz : 1));
    if (!position) return NULL;
    const gather_plan *p = &w->forward;
    for (int64_t t = 0; t < p->tiles; t++)
        for (int64_t r = 0; r < p->rows; r++)
            for (int32_t k = p->seg[t * (p->rows + 1) + r]; k < p->seg[t * (p->rows + 1) + r + 1]; k++)
                position[k] = (int32_t)(r * w->cols + t * SPARSE_TILE + p->index[k]);
    return position;
}

/* The masked weight as a dense (rows, cols) matrix: the layer's buffer with this call's values
 * written at the mask's positions. */
static float *dense_weight(int num_threads, const sparse_plan *plan, const float *values)
{
    const sparse_index_layer *w = plan->index;
    float *dense = plan->dense_weight;
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t s = 0; s < w->nnz; s++) dense[plan->position[s]] = values[s];
    return dense;
}

static void zero_rows(int num_threads, float *out, int64_t N, int64_t width)
{
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t n = 0; n < N; n++) memset(out + n * width, 0, sizeof(float) * (size_t)width);
}

/* A product on the dense weight: forward (backward 0) or backward-data (1). */
static void dense_product(int num_threads, const sparse_plan *plan, const float *values,
                          float *out, const float *inp, int64_t N, int backward)
{
    const sparse_index_layer *w = plan->index;
    const float *dense = dense_weight(num_threads, plan, values);
    if (backward) /* dinp (N, cols) = dout (N, rows) W */
        plan->backend.gemm(num_threads, SPDF_NO_TRANS, SPDF_NO_TRANS, N, w->cols, w->rows, 1.0f,
                           inp, w->rows, dense, w->cols, 0.0f, out, w->cols);
    else /* out (N, rows) = inp (N, cols) W^T */
        plan->backend.gemm(num_threads, SPDF_NO_TRANS, SPDF_TRANS, N, w->rows, w->cols, 1.0f, inp,
                           w->cols, dense, w->cols, 0.0f, out, w->rows);
}

/* dvalues += (dout^T inp) gathered at the pattern from the dense product. */
static void dense_weight_gradient(int num_threads, const sparse_plan *plan, float *dvalues,
                                  const float *dout, const float *inp, int64_t N)
{
    const sparse_index_layer *w = plan->index;
    float *full = plan->dense_gradient;
    plan->backend.gemm(num_threads, SPDF_TRANS, SPDF_NO_TRANS, w->rows, w->cols, N, 1.0f, dout,
                       w->rows, inp, w->cols, 0.0f, full, w->cols);
    const int32_t *position = plan->position;
#pragma omp parallel for num_threads(num_threads) schedule(static)
    for (int64_t s = 0; s < w->nnz; s++) dvalues[s] += full[position[s]];
}

/* ---- the products on their planned kernels ---- */

void sparse_plan_forward(int num_threads, const sparse_plan *plan, const float *values,
                         float *out, const float *inp, int64_t N)
{
    const sparse_index_layer *w = plan->index;
    if (num_threads < 1) num_threads = 1;
    if (N <= 0 || w->rows == 0) return;
    if (w->nnz == 0 || w->cols == 0) zero_rows(num_threads, out, N, w->rows);
    else if (plan->kind[SPDF_PRODUCT_FORWARD] == SPDF_SPARSE_KERNEL_DENSE)
        dense_product(num_threads, plan, values, out, inp, N, 0);
    else if (plan->kind[SPDF_PRODUCT_FORWARD] == SPDF_SPARSE_KERNEL_JIT)
        plan->backend.jit->forward(num_threads, plan->jit, w, values, out, inp, N);
    else sparse_index_forward(num_threads, w, values, out, inp, N);
}

void sparse_plan_backward_data(int num_threads, const sparse_plan *plan, const float *values,
                               float *dinp, const float *dout, int64_t N)
{
    const sparse_index_layer *w = plan->index;
    if (num_threads < 1) num_threads = 1;
    if (N <= 0 || w->cols == 0) return;
    if (w->nnz == 0 || w->rows == 0) zero_rows(num_threads, dinp, N, w->cols);
    else if (plan->kind[SPDF_PRODUCT_BACKWARD_DATA] == SPDF_SPARSE_KERNEL_DENSE)
        dense_product(num_threads, plan, values, dinp, dout, N, 1);
    else if (plan->kind[SPDF_PRODUCT_BACKWARD_DATA] == SPDF_SPARSE_KERNEL_JIT)
        plan->backend.jit->backward_data(num_threads, plan->jit, w, values, dinp, dout, N);
    else sparse_index_backward_data(num_threads, w, values, dinp, dout, N);
}

void sparse_plan_backward_weight(int num_threads, const sparse_plan *plan, float *dvalues,
                                 const float *dout, const float *inp, int64_t N)
{
    const sparse_index_layer *w = plan->index;
    if (num_threads < 1) num_threads = 1;
    if (N <= 0 || w->nnz == 0) return;
    if (plan->kind[SPDF_PRODUCT_BACKWARD_WEIGHT] == SPDF_SPARSE_KERNEL_DENSE)
        dense_weight_gradient(num_threads, plan, dvalues, dout, inp, N);
    else sparse_index_backward_weight(num_threads, w, dvalues, dout, inp, N);
}

/* ---- the cost model ---- */

double sparse_plan_estimate(const sparse_cost_model *costs, cpu_isa isa,
                            spdf_sparse_product product, spdf_sparse_kernel_kind kind,
                            int64_t rows, int64_t cols, int64_t nnz, int64_t tokens)
{
    const double density = rows * cols > 0 ? (double)nnz / ((double)rows * (double)cols) : 0.0;
    if (tokens < 1) tokens = 1;
    switch (kind) {
    case SPDF_SPARSE_KERNEL_DENSE:
        /* The GEMM, and writing the masked weight's non-zeros into the layer's dense buffer (or
         * reading them out of the dense gradient) once per call: DENSE_OVERHEAD multiply-adds'
         * worth per weight element against the GEMM's 2 * tokens (bench_sparse, docs/sparsity.md). */
        return 1.0 + DENSE_OVERHEAD / (double)tokens;
    case SPDF_SPARSE_KERNEL_JIT:
        return product == SPDF_PRODUCT_BACKWARD_WEIGHT ? 1e30 : density * costs->jit_ratio[isa];
    default: {
        const int64_t operand = product == SPDF_PRODUCT_BACKWARD_DATA ? rows : cols;
        const double panel = (double)operand * SPARSE_TOKENS * sizeof(float);
        const double penalty = product != SPDF_PRODUCT_BACKWARD_WEIGHT && panel > PANEL_FIT_BYTES
                                   ? WIDE_PANEL_PENALTY
                                   : 1.0;
        return density * costs->index_ratio[isa][product] * penalty;
    }
    }
}

/* ---- timing candidates on the layer ---- */

typedef struct measure_data {
    int64_t N;
    float *inp, *dout, *out, *dinp, *values, *dvalues;
} measure_data;

static void measure_data_free(measure_data *m)
{
    free(m->inp);
    free(m->dout);
    free(m->out);
    free(m->dinp);
    free(m->values);
    free(m->dvalues);
}

static float *random_floats(int64_t count, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    if (!x) return NULL;
    uint64_t state = seed;
    for (int64_t i = 0; i < count; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((state >> 40) * (1.0 / 16777216.0)) - 0.5f;
    }
    return x;
}

static int measure_data_make(measure_data *m, const sparse_index_layer *w, int64_t N)
{
    m->N = N;
    m->inp = random_floats(N * w->cols, 1);
    m->dout = random_floats(N * w->rows, 2);
    m->out = malloc(sizeof(float) * (size_t)(N * w->rows + 1));
    m->dinp = malloc(sizeof(float) * (size_t)(N * w->cols + 1));
    m->values = random_floats(w->nnz, 3);
    m->dvalues = calloc((size_t)(w->nnz > 0 ? w->nnz : 1), sizeof(float));
    return m->inp && m->dout && m->out && m->dinp && m->values && m->dvalues;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Fastest of MEASURE_REPEATS runs of one product on `kind`, after a warm-up run. */
static double time_product(sparse_plan *plan, int num_threads, const measure_data *m,
                           spdf_sparse_product product, spdf_sparse_kernel_kind kind)
{
    const spdf_sparse_kernel_kind saved = plan->kind[product];
    plan->kind[product] = kind;
    double best = 1e30;
    for (int run = 0; run <= MEASURE_REPEATS; run++) {
        const double start = seconds_now();
        if (product == SPDF_PRODUCT_FORWARD)
            sparse_plan_forward(num_threads, plan, m->values, m->out, m->inp, m->N);
        else if (product == SPDF_PRODUCT_BACKWARD_DATA)
            sparse_plan_backward_data(num_threads, plan, m->values, m->dinp, m->dout, m->N);
        else sparse_plan_backward_weight(num_threads, plan, m->dvalues, m->dout, m->inp, m->N);
        const double elapsed = seconds_now() - start;
        if (run > 0 && elapsed < best) best = elapsed;
    }
    plan->kind[product] = saved;
    return best;
}

/* ---- choosing ---- */

static int jit_fits(const sparse_plan *plan)
{
    const sparse_jit_ops *jit = plan->backend.jit;
    return jit && jit->would_fit(plan->index);
}

/* Makes the JIT kernels if there are none; 0 if they cannot be made. */
static int ensure_jit(sparse_plan *plan)
{
    if (!plan->jit && plan->backend.jit) plan->jit = plan->backend.jit->build(plan->index);
    return plan->jit != NULL;
}

/* Frees what no product's kernel uses any more. */
static void drop_unused(sparse_plan *plan)
{
    int jit = 0, dense = 0;
    for (int p = 0; p < SPDF_PRODUCTS; p++) {
        jit |= plan->kind[p] == SPDF_SPARSE_KERNEL_JIT;
        dense |= plan->kind[p] == SPDF_SPARSE_KERNEL_DENSE;
    }
    if (!jit && plan->jit) {
        plan->backend.jit->release(plan->jit);
        plan->jit = NULL;
    }
    if (!dense) {
        free(plan->position);
        plan->position = NULL;
    }
    if (plan->kind[SPDF_PRODUCT_FORWARD] != SPDF_SPARSE_KERNEL_DENSE &&
        plan->kind[SPDF_PRODUCT_BACKWARD_DATA] != SPDF_SPARSE_KERNEL_DENSE) {
        spdf_aligned_free(plan->dense_weight);
        plan->dense_weight = NULL;
    }
    if (plan->kind[SPDF_PRODUCT_BACKWARD_WEIGHT] != SPDF_SPARSE_KERNEL_DENSE) {
        spdf_aligned_free(plan->dense_gradient);
        plan->dense_gradient = NULL;
    }
}

/* The buffers the dense candidates need (positions, the masked weight, the gradient), made
 * before any product may run on them; 0 if out of memory. */
static int ensure_dense(sparse_plan *plan)
{
    const sparse_index_layer *w = plan->index;
    const size_t bytes = sizeof(float) * (size_t)(w->rows * w->cols > 0 ? w->rows * w->cols : 1);
    if (!plan->position) plan->position = make_positions(w);
    if (!plan->dense_weight) plan->dense_weight = spdf_aligned_calloc(bytes);
    if (!plan->dense_gradient) plan->dense_gradient = spdf_aligned_alloc(bytes);
    return plan->position && plan->dense_weight && plan->dense_gradient;
}

static int candidate_allowed(const sparse_plan *plan, int product, spdf_sparse_kernel_kind kind)
{
    if (kind == SPDF_SPARSE_KERNEL_JIT)
        return product != SPDF_PRODUCT_BACKWARD_WEIGHT && plan->backend.jit != NULL;
    return kind == SPDF_SPARSE_KERNEL_INDEX || kind == SPDF_SPARSE_KERNEL_DENSE;
}

/* Checks the forced kernels and builds what they need. */
static spdf_status prepare_forced(sparse_plan *plan, const spdf_sparse_plan_request *request)
{
    for (int p = 0; p < SPDF_PRODUCTS; p++) {
        const int kind = request->forced[p];
        if (kind == SPDF_SPARSE_KERNEL_AUTO) continue;
        if (kind < SPDF_SPARSE_KERNEL_INDEX || kind > SPDF_SPARSE_KERNEL_DENSE ||
            !candidate_allowed(plan, p, (spdf_sparse_kernel_kind)kind))
            return spdf_fail(SPDF_EUNSUPPORTED, "this backend has no %s kernel for the %s product",
                             kind == SPDF_SPARSE_KERNEL_JIT ? "JIT" : "such",
                             p == SPDF_PRODUCT_FORWARD         ? "forward"
                             : p == SPDF_PRODUCT_BACKWARD_DATA ? "backward-data"
                                                               : "weight-gradient");
        if (kind == SPDF_SPARSE_KERNEL_JIT && !ensure_jit(plan))
            return spdf_fail(SPDF_EUNSUPPORTED,
                             "JIT kernels for a %lldx%lld layer could not be made (CPU, memory or "
                             "the SPDF_XSMM_JIT_BUDGET code budget)",
                             (long long)plan->index->rows, (long long)plan->index->cols);
    }
    return SPDF_OK;
}

/* Each product's candidates by the cost model; the index kernels win ties. */
static void choose_by_estimate(sparse_plan *plan, const spdf_sparse_plan_request *request)
{
    const sparse_index_layer *w = plan->index;
    const cpu_isa isa = sparse_kernels_current()->isa;
    const int jit = jit_fits(plan);
    for (int p = 0; p < SPDF_PRODUCTS; p++) {
        double best = 1e30;
        for (int kind = SPDF_SPARSE_KERNEL_INDEX; kind <= SPDF_SPARSE_KERNEL_DENSE; kind++) {
            const int forced = request->forced[p];
            if (forced != SPDF_SPARSE_KERNEL_AUTO ? kind != forced
                                                  : kind == SPDF_SPARSE_KERNEL_JIT && !jit)
                continue;
            if (!candidate_allowed(plan, p, (spdf_sparse_kernel_kind)kind)) continue;
            const double cost = sparse_plan_estimate(plan->backend.costs, isa, (spdf_sparse_product)p,
                                                     (spdf_sparse_kernel_kind)kind, w->rows,
                                                     w->cols, w->nnz, request->tokens);
            if (cost < best) {
                best = cost;
                plan->kind[p] = (spdf_sparse_kernel_kind)kind;
            }
        }
        const double dense = sparse_plan_estimate(plan->backend.costs, isa, (spdf_sparse_product)p,
                                                  SPDF_SPARSE_KERNEL_DENSE, w->rows, w->cols,
                                                  w->nnz, request->tokens);
        plan->relative_time[p] = (float)(best / dense);
        if (plan->kind[p] == SPDF_SPARSE_KERNEL_JIT && !ensure_jit(plan))
            plan->kind[p] = SPDF_SPARSE_KERNEL_INDEX; /* the estimate fitted, the code did not */
    }
}

/* Each product's candidates timed on the layer; the index kernels win ties. */
static spdf_status choose_by_measure(sparse_plan *plan, const spdf_sparse_plan_request *request)
{
    measure_data m = {0};
    if (!measure_data_make(&m, plan->index, request->tokens)) {
        measure_data_free(&m);
        return spdf_fail(SPDF_ENOMEM, "out of memory for the plan's measurement");
    }
    const int jit = jit_fits(plan) && ensure_jit(plan);
    for (int p = 0; p < SPDF_PRODUCTS; p++) {
        double best = 1e30, dense = 0.0;
        for (int kind = SPDF_SPARSE_KERNEL_INDEX; kind <= SPDF_SPARSE_KERNEL_DENSE; kind++) {
            const int forced = request->forced[p];
            const int wanted = forced != SPDF_SPARSE_KERNEL_AUTO ? kind == forced
                                                                 : kind != SPDF_SPARSE_KERNEL_JIT || jit;
            const int timed = wanted || kind == SPDF_SPARSE_KERNEL_DENSE;
            if (!timed || !candidate_allowed(plan, p, (spdf_sparse_kernel_kind)kind)) continue;
            const double seconds = time_product(plan, request->num_threads, &m,
                                                (spdf_sparse_product)p, (spdf_sparse_kernel_kind)kind);
            if (kind == SPDF_SPARSE_KERNEL_DENSE) dense = seconds;
            if (wanted && seconds < best) {
                best = seconds;
                plan->kind[p] = (spdf_sparse_kernel_kind)kind;
            }
        }
        plan->relative_time[p] = dense > 0.0 ? (float)(best / dense) : 0.0f;
    }
    measure_data_free(&m);
    return SPDF_OK;
}

spdf_status sparse_plan_choose(sparse_plan *plan, const spdf_sparse_plan_request *request)
{
    spdf_sparse_plan_request r = *request;
    if (r.tokens <= 0) r.tokens = DEFAULT_TOKENS;
    if (r.num_threads < 1) r.num_threads = 1;
    const spdf_sparse_kernel_kind before[SPDF_PRODUCTS] = {plan->kind[0], plan->kind[1], plan->kind[2]};
    spdf_status status = prepare_forced(plan, &r);
    if (status == SPDF_OK && !ensure_dense(plan)) /* every mode may time or choose the GEMM */
        status = spdf_fail(SPDF_ENOMEM, "out of memory for a layer's plan");
    if (status == SPDF_OK) {
        if (r.mode == SPDF_SPARSE_PLAN_MEASURE) status = choose_by_measure(plan, &r);
        else choose_by_estimate(plan, &r);
    }
    if (status != SPDF_OK) memcpy(plan->kind, before, sizeof before);
    int all_forced = 1;
    for (int p = 0; p < SPDF_PRODUCTS; p++) all_forced &= r.forced[p] != SPDF_SPARSE_KERNEL_AUTO;
    if (status == SPDF_OK)
        plan->planned_by = all_forced ? r.source
                           : r.mode == SPDF_SPARSE_PLAN_MEASURE ? SPDF_SPARSE_PLANNED_MEASURE
                                                                : SPDF_SPARSE_PLANNED_ESTIMATE;
    drop_unused(plan);
    return status;
}

/* ---- the layer ---- */

sparse_plan *sparse_plan_create(const spdf_sparse_pattern *pattern,
                                const sparse_backend_kernels *backend)
{
    sparse_plan *plan = calloc(1, sizeof *plan);
    if (!plan) return NULL;
    plan->index = sparse_index_create(pattern);
    if (!plan->index) {
        free(plan);
        return NULL;
    }
    plan->backend = *backend;
    for (int p = 0; p < SPDF_PRODUCTS; p++) plan->kind[p] = SPDF_SPARSE_KERNEL_INDEX;
    plan->planned_by = SPDF_SPARSE_PLANNED_ESTIMATE;
    return plan;
}

void sparse_plan_free(sparse_plan *plan)
{
    if (!plan) return;
    if (plan->jit) plan->backend.jit->release(plan->jit);
    free(plan->position);
    spdf_aligned_free(plan->dense_weight);
    spdf_aligned_free(plan->dense_gradient);
    sparse_index_free(plan->index);
    free(plan);
}

const int32_t *sparse_plan_order(const sparse_plan *plan) { return plan->index->slot_to_csr; }

void sparse_plan_report(const sparse_plan *plan, spdf_sparse_plan_report *report)
{
    const sparse_kernel_set *ks = sparse_kernels_current();
    for (int p = 0; p < SPDF_PRODUCTS; p++) {
        report->kind[p] = plan->kind[p];
        report->relative_time[p] = plan->relative_time[p];
    }
    report->planned_by = plan->planned_by;
    report->vector_floats = ks->vector_floats;
    report->isa = ks->name;
    report->code_bytes = plan->jit ? plan->backend.jit->code_bytes(plan->jit) : 0;
}

/* ---- backend-table entries ---- */

void sparse_plan_entry_release(void *layer) { sparse_plan_free(layer); }

const int32_t *sparse_plan_entry_order(const void *layer) { return sparse_plan_order(layer); }

void sparse_plan_entry_forward(int num_threads, const void *layer, const float *values,
                               float *out, const float *inp, int64_t N)
{
    sparse_plan_forward(num_threads, layer, values, out, inp, N);
}

void sparse_plan_entry_backward_data(int num_threads, const void *layer, const float *values,
                                     float *dinp, const float *dout, int64_t N)
{
    sparse_plan_backward_data(num_threads, layer, values, dinp, dout, N);
}

void sparse_plan_entry_backward_weight(int num_threads, const void *layer, float *dvalues,
                                       const float *dout, const float *inp, int64_t N)
{
    sparse_plan_backward_weight(num_threads, layer, dvalues, dout, inp, N);
}

spdf_status sparse_plan_entry_plan(void *layer, const spdf_sparse_plan_request *request)
{
    return sparse_plan_choose(layer, request);
}

void sparse_plan_entry_info(const void *layer, spdf_sparse_plan_report *report)
{
    sparse_plan_report(layer, report);
}
