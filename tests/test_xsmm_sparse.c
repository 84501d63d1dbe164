/* The xsmm backend's sparse kernels against the reference backend's: forward, backward-data and
 * backward-weight on random exact-count patterns, on the index kernels, the libxsmm JIT kernels
 * and the portable fallback; then a tiny model trained on "ref" and on "xsmm" through a dense,
 * a sparse and a dense-again phase.
 *
 * Tolerance.  One output is a sum of K products (plus, for the weight gradient, the value it is
 * added to); computed in fp32 in any order it differs from the exact sum by at most about
 * K * eps * bound, bound = sum |a| |b| (+ |c0|), and for random data like sqrt(K) * eps * bound.
 * Both the xsmm and the reference result must lie within
 * KERNEL_TOLERANCE * sqrt(K + 1) * eps * bound of the exact (double) sum, so they differ by at
 * most twice that; a single missing or doubled product is far outside it. */
#include "backend/backend.h"
#include "backend/xsmm_sparse.h"
#include "core/core.h"
#include "spdf.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KERNEL_TOLERANCE 8.0
/* Whole-model losses, ref against xsmm: relative difference allowed at every step. */
#define LOSS_TOLERANCE 1e-5

/* ---- test data ---- */

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t next_random(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng_state >> 16;
}

static float uniform_pm1(void) { return (float)((next_random() >> 24) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }

static float *random_floats(int64_t count)
{
    float *x = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    ck_assert_ptr_nonnull(x);
    for (int64_t i = 0; i < count; i++) x[i] = uniform_pm1();
    return x;
}

/* A (rows, cols) pattern with exactly round(density * rows * cols) non-zeros (a shuffle). */
typedef struct pattern {
    spdf_sparse_pattern p;
    int32_t *row_ptr, *col_idx;
} pattern;

static pattern random_pattern(int64_t rows, int64_t cols, double density)
{
    const int64_t total = rows * cols, nnz = (int64_t)llround(density * (double)total);
    int64_t *cells = malloc(sizeof(int64_t) * (size_t)(total > 0 ? total : 1));
    uint8_t *kept = calloc((size_t)(total > 0 ? total : 1), 1);
    ck_assert(cells && kept);
    for (int64_t i = 0; i < total; i++) cells[i] = i;
    for (int64_t i = 0; i < nnz; i++) {
        const int64_t j = i + (int64_t)(next_random() % (uint64_t)(total - i));
        const int64_t swap = cells[i];
        cells[i] = cells[j];
        cells[j] = swap;
        kept[cells[i]] = 1;
    }
    pattern pt;
    pt.row_ptr = malloc(sizeof(int32_t) * (size_t)(rows + 1));
    pt.col_idx = malloc(sizeof(int32_t) * (size_t)(nnz > 0 ? nnz : 1));
    ck_assert(pt.row_ptr && pt.col_idx);
    int64_t k = 0;
    for (int64_t r = 0; r < rows; r++) {
        pt.row_ptr[r] = (int32_t)k;
        for (int64_t c = 0; c < cols; c++)
            if (kept[r * cols + c]) pt.col_idx[k++] = (int32_t)c;
    }
    pt.row_ptr[rows] = (int32_t)k;
    ck_assert_int_eq(k, nnz);
    pt.p = (spdf_sparse_pattern){rows, cols, nnz, pt.row_ptr, pt.col_idx};
    free(cells);
    free(kept);
    return pt;
}

static void free_pattern(pattern *pt)
{
    free(pt->row_ptr);
    free(pt->col_idx);
}

/* ---- checks ---- */

static double allowed(double bound, int64_t terms)
{
    return KERNEL_TOLERANCE * sqrt((double)terms + 1.0) * FLT_EPSILON * bound + 1e-30;
}

/* got and ref against the exact value within the tolerance.  (Check records every passing
 * ck_assert, a system call each: per-element checks only call it to fail.) */
static void check_value(const char *what, int64_t at, float got, float ref, double exact,
                        double bound, int64_t terms)
{
    const double tol = allowed(bound, terms);
    if (!(fabs((double)got - exact) <= tol && fabs((double)ref - exact) <= tol))
        ck_abort_msg("%s [%lld]: xsmm %.9g ref %.9g exact %.9g (tolerance %.3g)", what,
                     (long long)at, (double)got, (double)ref, exact, tol);
}

/* The inputs of one case, values given in canonical CSR order and in the xsmm slot order. */
typedef struct problem {
    pattern pt;
    int64_t N;
    float *values;     /* (nnz) canonical order */
    float *inp;        /* (N, cols) */
    float *dout;       /* (N, rows) */
    float *dvalues0;   /* (nnz) canonical: what the gradient is added to */
    int64_t *col_terms; /* (cols) non-zeros per column */
} problem;

static problem make_problem(int64_t rows, int64_t cols, double density, int64_t N)
{
    problem pb;
    pb.pt = random_pattern(rows, cols, density);
    pb.N = N;
    pb.values = random_floats(pb.pt.p.nnz);
    pb.inp = random_floats(N * cols);
    pb.dout = random_floats(N * rows);
    pb.dvalues0 = random_floats(pb.pt.p.nnz);
    pb.col_terms = calloc((size_t)(cols > 0 ? cols : 1), sizeof(int64_t));
    for (int64_t k = 0; k < pb.pt.p.nnz; k++) pb.col_terms[pb.pt.col_idx[k]]++;
    return pb;
}

static void free_problem(problem *pb)
{
    free_pattern(&pb->pt);
    free(pb->values);
    free(pb->inp);
    free(pb->dout);
    free(pb->dvalues0);
    free(pb->col_terms);
}

/* Results of the three operations on one backend. */
typedef struct results {
    float *out, *dinp, *dvalues; /* dvalues in canonical order */
} results;

static void free_results(results *r)
{
    free(r->out);
    free(r->dinp);
    free(r->dvalues);
}

/* Runs the three sparse operations of ops on pb with `threads` threads; values and gradients
 * are handed over in the layer's storage order and mapped back. */
static results run_ops(const spdf_backend_ops *ops, const problem *pb, int threads)
{
    const spdf_sparse_pattern *p = &pb->pt.p;
    void *layer = ops->sparse_prepare(p);
    ck_assert_ptr_nonnull(layer);
    const int32_t *order = ops->sparse_order(layer);
    float *values = malloc(sizeof(float) * (size_t)(p->nnz > 0 ? p->nnz : 1));
    float *dvalues = malloc(sizeof(float) * (size_t)(p->nnz > 0 ? p->nnz : 1));
    for (int64_t s = 0; s < p->nnz; s++) {
        const int64_t k = order ? order[s] : s;
        values[s] = pb->values[k];
        dvalues[s] = pb->dvalues0[k];
    }
    results r;
    r.out = malloc(sizeof(float) * (size_t)(pb->N * p->rows + 1));
    r.dinp = malloc(sizeof(float) * (size_t)(pb->N * p->cols + 1));
    r.dvalues = malloc(sizeof(float) * (size_t)(p->nnz > 0 ? p->nnz : 1));
    /* outputs start as garbage: forward and backward-data must overwrite every element */
    for (int64_t i = 0; i < pb->N * p->rows; i++) r.out[i] = NAN;
    for (int64_t i = 0; i < pb->N * p->cols; i++) r.dinp[i] = NAN;
    ops->sparse_forward(threads, layer, values, r.out, pb->inp, pb->N);
    ops->sparse_backward_data(threads, layer, values, r.dinp, pb->dout, pb->N);
    ops->sparse_backward_weight(threads, layer, dvalues, pb->dout, pb->inp, pb->N);
    for (int64_t s = 0; s < p->nnz; s++) r.dvalues[order ? order[s] : s] = dvalues[s];
    ops->sparse_release(layer);
    free(values);
    free(dvalues);
    return r;
}

/* Every element of got and ref against the exact double-precision results. */
static void check_results(const problem *pb, const results *got, const results *ref,
                          const char *label)
{
    const spdf_sparse_pattern *p = &pb->pt.p;
    char what[160];
    snprintf(what, sizeof what, "%s %lldx%lld N=%lld nnz=%lld forward", label,
             (long long)p->rows, (long long)p->cols, (long long)pb->N, (long long)p->nnz);
    for (int64_t n = 0; n < pb->N; n++)
        for (int64_t r = 0; r < p->rows; r++) {
            double exact = 0.0, bound = 0.0;
            for (int32_t k = p->row_ptr[r]; k < p->row_ptr[r + 1]; k++) {
                const double term = (double)pb->values[k] * pb->inp[n * p->cols + p->col_idx[k]];
                exact += term;
                bound += fabs(term);
            }
            check_value(what, n * p->rows + r, got->out[n * p->rows + r],
                        ref->out[n * p->rows + r], exact, bound, p->row_ptr[r + 1] - p->row_ptr[r]);
        }
    snprintf(what, sizeof what, "%s %lldx%lld N=%lld nnz=%lld backward-data", label,
             (long long)p->rows, (long long)p->cols, (long long)pb->N, (long long)p->nnz);
    double *exact = calloc((size_t)(p->cols > 0 ? p->cols : 1), sizeof(double));
    double *bound = calloc((size_t)(p->cols > 0 ? p->cols : 1), sizeof(double));
    for (int64_t n = 0; n < pb->N; n++) {
        memset(exact, 0, sizeof(double) * (size_t)p->cols);
        memset(bound, 0, sizeof(double) * (size_t)p->cols);
        for (int64_t r = 0; r < p->rows; r++)
            for (int32_t k = p->row_ptr[r]; k < p->row_ptr[r + 1]; k++) {
                const double term = (double)pb->dout[n * p->rows + r] * pb->values[k];
                exact[p->col_idx[k]] += term;
                bound[p->col_idx[k]] += fabs(term);
            }
        for (int64_t c = 0; c < p->cols; c++)
            check_value(what, n * p->cols + c, got->dinp[n * p->cols + c],
                        ref->dinp[n * p->cols + c], exact[c], bound[c], pb->col_terms[c]);
    }
    free(exact);
    free(bound);
    snprintf(what, sizeof what, "%s %lldx%lld N=%lld nnz=%lld backward-weight", label,
             (long long)p->rows, (long long)p->cols, (long long)pb->N, (long long)p->nnz);
    for (int64_t r = 0; r < p->rows; r++)
        for (int32_t k = p->row_ptr[r]; k < p->row_ptr[r + 1]; k++) {
            double sum = pb->dvalues0[k], abs_sum = fabs(pb->dvalues0[k]);
            for (int64_t n = 0; n < pb->N; n++) {
                const double term = (double)pb->dout[n * p->rows + r] * pb->inp[n * p->cols + p->col_idx[k]];
                sum += term;
                abs_sum += fabs(term);
            }
            check_value(what, k, got->dvalues[k], ref->dvalues[k], sum, abs_sum, pb->N + 1);
        }
}

static int same_bits(const results *a, const results *b, const problem *pb)
{
    const spdf_sparse_pattern *p = &pb->pt.p;
    return memcmp(a->out, b->out, sizeof(float) * (size_t)(pb->N * p->rows)) == 0 &&
           memcmp(a->dinp, b->dinp, sizeof(float) * (size_t)(pb->N * p->cols)) == 0 &&
           memcmp(a->dvalues, b->dvalues, sizeof(float) * (size_t)p->nnz) == 0;
}

static void set_jit_budget(const char *bytes) { setenv(XSMM_SPARSE_JIT_BUDGET_ENV, bytes, 1); }

/* ---- kernel cases ---- */

typedef struct shape {
    int64_t rows, cols;
    int large; /* fewer densities; at the largest N only 75 % sparse and no portable run */
} shape;

static const shape shapes[] = {
    {33, 17, 0}, {64, 64, 0}, {100, 260, 0}, {1, 300, 0}, {300, 1, 0}, {1152, 384, 1}, {384, 1536, 1},
};
static const int64_t token_counts[] = {1, 7, 16, 100, 1024};
/* Under AddressSanitizer every kernel runs several times slower and the exact double-precision
 * sums dominate: the sanitizer build checks memory safety on N <= 100, the plain build covers
 * N = 1024 too. */
#if defined(__SANITIZE_ADDRESS__)
enum { MAX_CHECKED_TOKENS = 100 };
#else
enum { MAX_CHECKED_TOKENS = 1 << 30 };
#endif
static const double densities[] = {0.1, 0.25, 0.5, 0.75, 0.9, 1.0};
static const double large_densities[] = {0.25, 1.0};

/* One case on the index kernels (1, 2 and 3 threads, each twice), the JIT kernels and the
 * portable kernels, every result against the reference and the exact sums. */
static void check_case(int64_t rows, int64_t cols, double density, int64_t N, int portable)
{
    problem pb = make_problem(rows, cols, density, N);
    results ref = run_ops(&spdf_backend_ref, &pb, 2);

    set_jit_budget("0");
    results two = run_ops(&spdf_backend_xsmm, &pb, 2);
    check_results(&pb, &two, &ref, "index");
    results again = run_ops(&spdf_backend_xsmm, &pb, 2);
    ck_assert_msg(same_bits(&two, &again, &pb), "index kernels: two runs on 2 threads differ");
    free_results(&again);
    for (int threads = 1; threads <= 3; threads += 2) {
        results other = run_ops(&spdf_backend_xsmm, &pb, threads);
        ck_assert_msg(same_bits(&two, &other, &pb), "index kernels: %d threads differ from 2",
                      threads);
        free_results(&other);
    }

    set_jit_budget("1099511627776");
    results jit = run_ops(&spdf_backend_xsmm, &pb, 2);
    check_results(&pb, &jit, &ref, "jit");
    results jit_again = run_ops(&spdf_backend_xsmm, &pb, 2);
    ck_assert_msg(same_bits(&jit, &jit_again, &pb), "JIT kernels: two runs on 2 threads differ");
    free_results(&jit);
    free_results(&jit_again);
    set_jit_budget("0");

    if (portable) {
        xsmm_sparse_test_force_portable(1);
        results plain = run_ops(&spdf_backend_xsmm, &pb, 2);
        xsmm_sparse_test_force_portable(0);
        check_results(&pb, &plain, &ref, "portable");
        free_results(&plain);
    }
    free_results(&two);
    free_results(&ref);
    free_problem(&pb);
}

static int xsmm_runs_here(void)
{
    if (spdf_backend_xsmm.available()) return 1;
    fprintf(stderr, "SKIPPED: the xsmm backend cannot run on this machine\n");
    return 0;
}

START_TEST(kernels_match_reference)
{
    if (!xsmm_runs_here()) return;
    const shape *s = &shapes[_i];
    const double *ds = s->large ? large_densities : densities;
    const int nd = s->large ? 2 : 6;
    for (size_t n = 0; n < sizeof token_counts / sizeof token_counts[0]; n++)
        for (int d = 0; d < nd && token_counts[n] <= MAX_CHECKED_TOKENS; d++) {
            const int biggest = s->large && token_counts[n] == 1024;
            if (biggest && ds[d] == 1.0) continue; /* dense large layers: up to N = 100 */
            check_case(s->rows, s->cols, ds[d], token_counts[n], !biggest);
        }
}
END_TEST

START_TEST(empty_patterns_give_zeros)
{
    if (!xsmm_runs_here()) return;
    /* No non-zeros at all, and rows or columns of zero length. */
    const int64_t cases[][2] = {{40, 30}, {0, 5}, {5, 0}};
    for (int i = 0; i < 3; i++) {
        problem pb = make_problem(cases[i][0], cases[i][1], 0.0, 37);
        results ref = run_ops(&spdf_backend_ref, &pb, 2);
        results got = run_ops(&spdf_backend_xsmm, &pb, 2);
        for (int64_t k = 0; k < pb.N * cases[i][0]; k++)
            if (got.out[k] != 0.0f) ck_abort_msg("out[%lld] = %g", (long long)k, (double)got.out[k]);
        for (int64_t k = 0; k < pb.N * cases[i][1]; k++)
            if (got.dinp[k] != 0.0f) ck_abort_msg("dinp[%lld] = %g", (long long)k, (double)got.dinp[k]);
        free_results(&ref);
        free_results(&got);
        free_problem(&pb);
    }
    /* One non-zero in a wide layer: most rows and most tiles are empty. */
    check_case(200, 700, 1.0 / (200.0 * 700.0), 65, 1);
}
END_TEST

START_TEST(storage_order_is_a_permutation)
{
    if (!xsmm_runs_here()) return;
    pattern pt = random_pattern(300, 700, 0.3);
    void *layer = spdf_backend_xsmm.sparse_prepare(&pt.p);
    ck_assert_ptr_nonnull(layer);
    const int32_t *order = spdf_backend_xsmm.sparse_order(layer);
    ck_assert_ptr_nonnull(order); /* several column tiles: not the canonical order */
    uint8_t *seen = calloc((size_t)pt.p.nnz, 1);
    for (int64_t s = 0; s < pt.p.nnz; s++) {
        if (order[s] < 0 || order[s] >= pt.p.nnz || seen[order[s]])
            ck_abort_msg("slot %lld holds %d: not a permutation", (long long)s, order[s]);
        seen[order[s]] = 1;
    }
    free(seen);
    spdf_backend_xsmm.sparse_release(layer);
    /* One column tile: the canonical order, reported as NULL. */
    pattern narrow = random_pattern(50, 40, 0.5);
    layer = spdf_backend_xsmm.sparse_prepare(&narrow.p);
    ck_assert_ptr_null(spdf_backend_xsmm.sparse_order(layer));
    spdf_backend_xsmm.sparse_release(layer);
    free_pattern(&narrow);
    free_pattern(&pt);
}
END_TEST

START_TEST(jit_budget_decides_the_path)
{
    if (!xsmm_runs_here()) return;
    pattern pt = random_pattern(256, 384, 0.25);
    const size_t before = xsmm_sparse_jit_bytes_in_use();
    set_jit_budget("0");
    void *index = spdf_backend_xsmm.sparse_prepare(&pt.p);
    ck_assert_int_eq(xsmm_sparse_layer_uses_jit(index), 0);
    ck_assert_uint_eq(xsmm_sparse_layer_code_bytes(index), 0);
    set_jit_budget("1000"); /* far too small for this layer */
    void *small = spdf_backend_xsmm.sparse_prepare(&pt.p);
    ck_assert_int_eq(xsmm_sparse_layer_uses_jit(small), 0);
    set_jit_budget("1099511627776");
    void *jit = spdf_backend_xsmm.sparse_prepare(&pt.p);
    ck_assert_int_eq(xsmm_sparse_layer_uses_jit(jit), 1);
    const size_t bytes = xsmm_sparse_layer_code_bytes(jit);
    ck_assert_uint_gt(bytes, 0);
    ck_assert_uint_eq(xsmm_sparse_jit_bytes_in_use(), before + bytes);
    /* A budget that the first layer already uses up sends the next one to the index path. */
    char budget[32];
    snprintf(budget, sizeof budget, "%zu", before + bytes + bytes / 2);
    set_jit_budget(budget);
    void *second = spdf_backend_xsmm.sparse_prepare(&pt.p);
    ck_assert_int_eq(xsmm_sparse_layer_uses_jit(second), 0);
    spdf_backend_xsmm.sparse_release(second);
    spdf_backend_xsmm.sparse_release(jit);
    ck_assert_uint_eq(xsmm_sparse_jit_bytes_in_use(), before);
    spdf_backend_xsmm.sparse_release(small);
    spdf_backend_xsmm.sparse_release(index);
    set_jit_budget("0");
    free_pattern(&pt);
}
END_TEST

/* ---- the whole model: dense, sparse, dense again ---- */

enum { MV = 97, MMAXT = 32, ML = 2, MNH = 4, MC = 144, MB = 3, MT = 23 };
enum { DENSE_STEPS = 3, SPARSE_STEPS = 5, FINE_STEPS = 3, ALL_STEPS = 11 };

/* Checks that every masked weight of the model reads exactly 0. */
static void check_masked_zero(const spdf_model *model, const spdf_mask *mask, const char *when)
{
    int32_t layers;
    ck_assert_int_eq(spdf_mask_num_layers(mask, &layers), SPDF_OK);
    for (int l = 0; l < layers; l++) {
        spdf_mask_layer_info li = {.struct_size = sizeof li};
        ck_assert_int_eq(spdf_mask_get_layer(mask, l, &li), SPDF_OK);
        spdf_tensor_info ti = {.struct_size = sizeof ti};
        ck_assert_int_eq(spdf_model_tensor_info(model, li.tensor_index, &ti), SPDF_OK);
        uint8_t *kept = malloc((size_t)ti.numel);
        float *w = malloc(sizeof(float) * (size_t)ti.numel);
        ck_assert_int_eq(spdf_mask_layer_read(mask, l, kept, ti.numel), SPDF_OK);
        ck_assert_int_eq(spdf_model_tensor_read(model, li.tensor_index, w, ti.numel), SPDF_OK);
        int64_t nonzero_kept = 0;
        for (int64_t i = 0; i < ti.numel; i++) {
            if (!kept[i] && w[i] != 0.0f)
                ck_abort_msg("%s: layer %d [%lld] = %g", when, l, (long long)i, (double)w[i]);
            nonzero_kept += kept[i] && w[i] != 0.0f;
        }
        ck_assert_int_gt(nonzero_kept, 0);
        free(kept);
        free(w);
    }
}

/* The losses of a dense -> sparse (75 %) -> dense run; 0 if the backend cannot run here. */
static int train_phases(const char *backend, int threads, float losses[ALL_STEPS])
{
    int32_t available = 0;
    if (spdf_backend_available(backend, &available) != SPDF_OK || !available) return 0;
    spdf_context_config cc;
    spdf_context_config_init(&cc);
    cc.backend = backend;
    cc.num_threads = threads;
    spdf_context *ctx = NULL;
    ck_assert_int_eq(spdf_context_create(&cc, &ctx), SPDF_OK);
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = MV;
    mc.max_seq_len = MMAXT;
    mc.num_layers = ML;
    mc.num_heads = MNH;
    mc.channels = MC;
    spdf_model *model = NULL;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_OK);
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    oc.learning_rate = 1e-3f;
    spdf_optimizer *opt = NULL;
    ck_assert_int_eq(spdf_optimizer_create(model, &oc, &opt), SPDF_OK);
    int32_t tokens[MB * MT], targets[MB * MT];
    for (int i = 0; i < MB * MT; i++) {
        tokens[i] = (int32_t)((i * 37 + 11) % MV);
        targets[i] = (int32_t)((i * 53 + 5) % MV);
    }
    spdf_mask *mask = NULL;
    spdf_phase *phase = NULL;
    for (int s = 0; s < ALL_STEPS; s++) {
        if (s == DENSE_STEPS) {
            ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 7, &mask), SPDF_OK);
            ck_assert_int_eq(spdf_phase_create(model, opt, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
            check_masked_zero(model, mask, "after attaching the mask");
        }
        if (s == DENSE_STEPS + SPARSE_STEPS) {
            check_masked_zero(model, mask, "after the sparse steps");
            ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, NULL), SPDF_OK);
            check_masked_zero(model, mask, "after the transition");
        }
        ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, MB, MT, &losses[s]), SPDF_OK);
        ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);
        ck_assert_int_eq(spdf_optimizer_step(opt, NULL, NULL), SPDF_OK);
    }
    spdf_phase_free(phase);
    spdf_mask_free(mask);
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
    return 1;
}

START_TEST(model_phases_match_reference)
{
    float ref[ALL_STEPS], xsmm[ALL_STEPS], again[ALL_STEPS];
    ck_assert(train_phases("ref", 2, ref));
    if (!train_phases("xsmm", 2, xsmm)) {
        fprintf(stderr, "SKIPPED: the xsmm backend cannot run on this machine\n");
        return;
    }
    for (int s = 0; s < ALL_STEPS; s++)
        ck_assert_msg(fabsf(xsmm[s] - ref[s]) <= LOSS_TOLERANCE * fabsf(ref[s]),
                      "step %d: xsmm loss %.7f, ref %.7f", s, (double)xsmm[s], (double)ref[s]);
    ck_assert_float_lt(ref[DENSE_STEPS + SPARSE_STEPS - 1], ref[DENSE_STEPS]); /* it learns */
    ck_assert(train_phases("xsmm", 2, again));
    ck_assert_msg(memcmp(xsmm, again, sizeof xsmm) == 0, "xsmm: two runs differ");
    ck_assert(train_phases("xsmm", 1, again));
    ck_assert_msg(memcmp(xsmm, again, sizeof xsmm) == 0, "xsmm: 1 and 2 threads differ");
}
END_TEST

/* Through the public API: with a budget that holds one layer's kernels, exactly the layers that
 * fit run on JIT code and say so; without a budget, none does. */
START_TEST(model_reports_kernel_paths)
{
    spdf_context_config cc;
    spdf_context_config_init(&cc);
    cc.backend = "xsmm";
    cc.num_threads = 1;
    spdf_context *ctx = NULL;
    if (spdf_context_create(&cc, &ctx) != SPDF_OK) {
        fprintf(stderr, "SKIPPED: the xsmm backend cannot run on this machine\n");
        return;
    }
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = 32;
    mc.max_seq_len = 16;
    mc.num_layers = 2;
    mc.num_heads = 2;
    mc.channels = 64;
    spdf_model *model = NULL;
    spdf_mask *mask = NULL;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_OK);
    ck_assert_int_eq(spdf_mask_create(model, SPDF_MASK_RANDOM, 0.75f, 3, &mask), SPDF_OK);
    int32_t layers;
    spdf_mask_num_layers(mask, &layers);
    for (int budgeted = 0; budgeted <= 1; budgeted++) {
        set_jit_budget(budgeted ? "1099511627776" : "0");
        spdf_phase *phase = NULL;
        ck_assert_int_eq(spdf_phase_create(model, NULL, SPDF_PHASE_SPARSE, mask, &phase), SPDF_OK);
        int jit_layers = 0;
        for (int32_t l = 0; l < layers; l++) {
            spdf_sparse_kernel_info ki = {.struct_size = sizeof ki};
            ck_assert_int_eq(spdf_model_sparse_kernel_info(model, l, &ki), SPDF_OK);
            ck_assert(ki.kind == SPDF_SPARSE_KERNEL_JIT || ki.kind == SPDF_SPARSE_KERNEL_INDEX);
            ck_assert((ki.kind == SPDF_SPARSE_KERNEL_JIT) == (ki.code_bytes > 0));
            jit_layers += ki.kind == SPDF_SPARSE_KERNEL_JIT;
        }
        ck_assert_int_eq(jit_layers, budgeted ? layers : 0);
        ck_assert_int_eq(spdf_phase_transition(phase, SPDF_PHASE_DENSE, NULL, NULL), SPDF_OK);
        spdf_sparse_kernel_info ki = {.struct_size = sizeof ki};
        ck_assert_int_eq(spdf_model_sparse_kernel_info(model, 0, &ki), SPDF_ESTATE);
        spdf_phase_free(phase);
    }
    set_jit_budget("0");
    spdf_mask_free(mask);
    spdf_model_free(model);
    spdf_context_free(ctx);
}
END_TEST

static Suite *xsmm_sparse_suite(void)
{
    Suite *s = suite_create("xsmm-sparse");
    TCase *kernels = tcase_create("kernels");
    tcase_set_timeout(kernels, 900);
    tcase_add_loop_test(kernels, kernels_match_reference, 0,
                        (int)(sizeof shapes / sizeof shapes[0]));
    tcase_add_test(kernels, empty_patterns_give_zeros);
    tcase_add_test(kernels, storage_order_is_a_permutation);
    tcase_add_test(kernels, jit_budget_decides_the_path);
    suite_add_tcase(s, kernels);
    TCase *model = tcase_create("model");
    tcase_set_timeout(model, 600);
    tcase_add_test(model, model_phases_match_reference);
    tcase_add_test(model, model_reports_kernel_paths);
    suite_add_tcase(s, model);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(xsmm_sparse_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
