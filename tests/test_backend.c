/* Backend parity: every compiled-in backend's GEMM against the reference backend and against a
 * double-precision triple loop, plus a short training run on every backend through the public API.
 *
 * Tolerance.  An element c = alpha * sum_p a_ip b_pj + beta * c0 computed in fp32 in any order of
 * the K products differs from the exact value by at most about K * eps * bound, where
 * bound = |alpha| sum_p |a_ip| |b_pj| + |beta| |c0|; rounding errors of random data grow like
 * sqrt(K) instead.  The tests accept |c - exact| <= GEMM_TOLERANCE * sqrt(K + 1) * eps * bound
 * (eps = FLT_EPSILON): on random data in [-1, 1] a product left out or counted twice exceeds it
 * for K up to a few thousand, and a whole block of 64 products for every K tested (up to 50304). */
#include "backend/backend.h"
#include "core/core.h"
#include "spdf.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEMM_TOLERANCE 8.0
/* Losses of the same 10 training steps on two backends: relative difference allowed. */
#define LOSS_TOLERANCE 1e-4

/* ---- test data ---- */

static uint64_t lcg_state = 0x2545F4914F6CDD1DULL;

static float uniform_pm1(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((lcg_state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static float *random_matrix(int64_t count)
{
    float *x = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    ck_assert_ptr_nonnull(x);
    for (int64_t i = 0; i < count; i++) x[i] = uniform_pm1();
    return x;
}

static float op_at(const float *X, int64_t ld, spdf_transpose t, int64_t row, int64_t col)
{
    return t == SPDF_NO_TRANS ? X[row * ld + col] : X[col * ld + row];
}

typedef struct gemm_case {
    spdf_transpose ta, tb;
    int64_t M, N, K;
    int64_t pad; /* extra columns of every leading dimension */
    float alpha, beta;
} gemm_case;

/* The operands of one case, with leading dimensions wider than the matrices. */
typedef struct operands {
    int64_t lda, ldb, ldc;
    float *A, *B, *C0;
} operands;

static operands make_operands(const gemm_case *g)
{
    operands o;
    const int64_t a_rows = g->ta == SPDF_NO_TRANS ? g->M : g->K;
    const int64_t a_cols = g->ta == SPDF_NO_TRANS ? g->K : g->M;
    const int64_t b_rows = g->tb == SPDF_NO_TRANS ? g->K : g->N;
    const int64_t b_cols = g->tb == SPDF_NO_TRANS ? g->N : g->K;
    o.lda = a_cols + g->pad;
    o.ldb = b_cols + g->pad;
    o.ldc = g->N + g->pad;
    o.A = random_matrix(a_rows * o.lda);
    o.B = random_matrix(b_rows * o.ldb);
    o.C0 = random_matrix(g->M * o.ldc);
    if (g->beta == 0.0f) /* beta == 0 must overwrite C without reading it */
        for (int64_t i = 0; i < g->M * o.ldc; i++) o.C0[i] = NAN;
    return o;
}

static void free_operands(operands *o)
{
    free(o->A);
    free(o->B);
    free(o->C0);
}

static const float sentinel = -12345.0f;

/* C after one call of the backend's GEMM; the ldc padding holds a sentinel. */
static float *run_gemm(const spdf_backend_ops *ops, int threads, const gemm_case *g,
                       const operands *o)
{
    float *C = malloc(sizeof(float) * (size_t)(g->M * o->ldc > 0 ? g->M * o->ldc : 1));
    ck_assert_ptr_nonnull(C);
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < o->ldc; j++)
            C[i * o->ldc + j] = j < g->N ? o->C0[i * o->ldc + j] : sentinel;
    ops->gemm(threads, g->ta, g->tb, g->M, g->N, g->K, g->alpha, o->A, o->lda, o->B, o->ldb,
              g->beta, C, o->ldc);
    return C;
}

/* Exact value (in double) and error bound of element (i, j). */
static void exact_element(const gemm_case *g, const operands *o, int64_t i, int64_t j,
                          double *exact, double *bound)
{
    double sum = 0.0, magnitude = 0.0;
    for (int64_t p = 0; p < g->K; p++) {
        const double prod =
            (double)op_at(o->A, o->lda, g->ta, i, p) * op_at(o->B, o->ldb, g->tb, p, j);
        sum += prod;
        magnitude += fabs(prod);
    }
    const double c0 = g->beta == 0.0f ? 0.0 : o->C0[i * o->ldc + j];
    *exact = g->alpha * sum + g->beta * c0;
    *bound = fabs(g->alpha) * magnitude + fabs(g->beta) * fabs(c0);
}

static double tolerance(const gemm_case *g, double bound)
{
    return GEMM_TOLERANCE * sqrt((double)g->K + 1.0) * FLT_EPSILON * bound + 1e-30;
}

static void describe(char *buf, size_t size, const spdf_backend_ops *ops, const gemm_case *g)
{
    snprintf(buf, size, "%s gemm %c%c M=%lld N=%lld K=%lld pad=%lld alpha=%g beta=%g", ops->name,
             g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', (long long)g->M, (long long)g->N,
             (long long)g->K, (long long)g->pad, g->alpha, g->beta);
}

/* bound (M,N) of every element: |alpha| |op(A)| |op(B)| + |beta| |C0|, computed by the reference
 * GEMM on absolute values (its own rounding is far below the tolerance). */
static double *element_bounds(const gemm_case *g, const operands *o)
{
    const int64_t a_count = (g->ta == SPDF_NO_TRANS ? g->M : g->K) * o->lda;
    const int64_t b_count = (g->tb == SPDF_NO_TRANS ? g->K : g->N) * o->ldb;
    float *abs_a = malloc(sizeof(float) * (size_t)(a_count > 0 ? a_count : 1));
    float *abs_b = malloc(sizeof(float) * (size_t)(b_count > 0 ? b_count : 1));
    float *product = malloc(sizeof(float) * (size_t)(g->M * g->N));
    double *bound = malloc(sizeof(double) * (size_t)(g->M * g->N));
    ck_assert(abs_a && abs_b && product && bound);
    for (int64_t i = 0; i < a_count; i++) abs_a[i] = fabsf(o->A[i]);
    for (int64_t i = 0; i < b_count; i++) abs_b[i] = fabsf(o->B[i]);
    spdf_backend_ref.gemm(1, g->ta, g->tb, g->M, g->N, g->K, fabsf(g->alpha), abs_a, o->lda, abs_b,
                          o->ldb, 0.0f, product, g->N);
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++) {
            const double c0 = g->beta == 0.0f ? 0.0 : fabs((double)o->C0[i * o->ldc + j]);
            bound[i * g->N + j] = product[i * g->N + j] + fabs(g->beta) * c0;
        }
    free(abs_a);
    free(abs_b);
    free(product);
    return bound;
}

/* Checks C of one backend: every element (or `samples` random ones when > 0) against the
 * exact value, every element against the reference backend's C, and the padding untouched. */
static void check_result(const spdf_backend_ops *ops, const gemm_case *g, const operands *o,
                         const float *C, const float *C_ref, const double *bound, int samples)
{
    char what[200];
    describe(what, sizeof what, ops, g);
    const int64_t total = g->M * g->N;
    const int64_t checks = samples > 0 && samples < total ? samples : total;
    for (int64_t s = 0; s < checks; s++) {
        int64_t i = s / g->N, j = s % g->N;
        if (checks < total) {
            lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
            const int64_t e = (int64_t)((lcg_state >> 16) % (uint64_t)total);
            i = e / g->N;
            j = e % g->N;
        }
        double exact, element_bound;
        exact_element(g, o, i, j, &exact, &element_bound);
        const float c = C[i * o->ldc + j];
        if (!(isfinite(c) && fabs(c - exact) <= tolerance(g, element_bound)))
            ck_abort_msg("%s: C[%lld,%lld] = %.9g, exact %.9g, bound %.3g", what, (long long)i,
                      (long long)j, c, exact, element_bound);
        const float r = C_ref[i * o->ldc + j];
        if (!(fabs((double)c - r) <= 2.0 * tolerance(g, element_bound)))
            ck_abort_msg("%s: C[%lld,%lld] = %.9g, ref %.9g", what, (long long)i, (long long)j, c,
                         r);
    }
    for (int64_t i = 0; i < g->M; i++) {
        for (int64_t j = 0; j < g->N; j++) {
            /* Both are within tolerance of the exact value, so within twice of each other.
             * Without bounds (the largest shapes) only the sampled elements are compared. */
            const float c = C[i * o->ldc + j], r = C_ref[i * o->ldc + j];
            if (!isfinite(c) ||
                (bound && !(fabs((double)c - r) <= 2.0 * tolerance(g, bound[i * g->N + j]))))
                ck_abort_msg("%s: C[%lld,%lld] = %.9g, ref %.9g", what, (long long)i, (long long)j,
                          c, r);
        }
        for (int64_t j = g->N; j < o->ldc; j++)
            if (C[i * o->ldc + j] != sentinel) ck_abort_msg("%s wrote into the ldc padding", what);
    }
}

/* One case on every available backend; threads as given. */
static void check_case(const gemm_case *g, int threads, int samples)
{
    operands o = make_operands(g);
    /* The oracle runs on one thread: its result does not depend on the count. */
    float *C_ref = run_gemm(&spdf_backend_ref, 1, g, &o);
    /* Bounds for all elements cost another GEMM: skipped above 4 GFLOP, where sampling does. */
    const int sampled_only = samples > 0 && 2.0 * (double)g->M * (double)g->N * (double)g->K > 4e9;
    double *bound = sampled_only ? NULL : element_bounds(g, &o);
    for (int b = 0; b < spdf_backend_registry_count(); b++) {
        const spdf_backend_ops *ops = spdf_backend_registry_get(b);
        if (!ops->available()) continue;
        float *C = run_gemm(ops, threads, g, &o);
        check_result(ops, g, &o, C, C_ref, bound, samples);
        free(C);
    }
    free(bound);
    free(C_ref);
    free_operands(&o);
}

static const spdf_transpose trans[2] = {SPDF_NO_TRANS, SPDF_TRANS};

/* ---- small and odd shapes: every element against the exact value ---- */

static const int64_t odd_sizes[] = {1, 3, 7, 16, 33, 64, 100, 257};
enum { N_ODD = sizeof odd_sizes / sizeof odd_sizes[0] };

/* _i: one transpose combination per loop index (0..3). */
START_TEST(gemm_all_shapes)
{
    for (int m = 0; m < N_ODD; m++)
        for (int n = 0; n < N_ODD; n++)
            for (int k = 0; k < N_ODD; k++) {
                const gemm_case g = {trans[_i / 2], trans[_i % 2], odd_sizes[m], odd_sizes[n],
                                     odd_sizes[k], 0, 1.0f, 0.0f};
                check_case(&g, 2, 0);
            }
}
END_TEST

START_TEST(gemm_alpha_beta_and_leading_dimensions)
{
    static const float scalars[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {0.5f, 1.0f},
                                       {-1.25f, 0.75f}, {2.0f, 0.0f}, {1.0f, -1.0f}};
    static const int64_t shapes[][3] = {{7, 33, 100}, {64, 64, 64}, {100, 257, 33},
                                        {33, 100, 300}, {1, 300, 257}, {4, 600, 70}};
    for (size_t s = 0; s < sizeof scalars / sizeof scalars[0]; s++)
        for (size_t h = 0; h < sizeof shapes / sizeof shapes[0]; h++)
            for (int64_t pad = 0; pad <= 5; pad += 5) {
                const gemm_case g = {trans[_i / 2], trans[_i % 2], shapes[h][0], shapes[h][1],
                                     shapes[h][2], pad, scalars[s][0], scalars[s][1]};
                check_case(&g, 2, 0);
            }
}
END_TEST

START_TEST(gemm_zero_k_scales_c)
{
    const gemm_case cases[] = {{trans[_i / 2], trans[_i % 2], 5, 9, 0, 3, 1.0f, 0.0f},
                               {trans[_i / 2], trans[_i % 2], 5, 9, 0, 3, 1.0f, 0.5f}};
    for (size_t c = 0; c < 2; c++) check_case(&cases[c], 2, 0);
}
END_TEST

/* ---- the model's shapes (docs/benchmarks.md) and 1024: sampled elements, all against ref ---- */

typedef struct model_gemm {
    const char *name;
    spdf_transpose ta, tb;
    int64_t M, N, K;
} model_gemm;

/* forward out (N,OC) = inp (N,C) W^T; backward data dinp (N,C) = dout (N,OC) W;
 * backward weight dW (OC,C) += dout^T (OC,N) inp (N,C). */
static int model_gemms(int64_t C, int64_t tokens, int64_t V, model_gemm *out)
{
    const int64_t in[5] = {C, C, C, 4 * C, C}, oc[5] = {3 * C, C, 4 * C, C, V};
    int n = 0;
    for (int l = 0; l < 5; l++) {
        out[n++] = (model_gemm){"forward", SPDF_NO_TRANS, SPDF_TRANS, tokens, oc[l], in[l]};
        out[n++] =
            (model_gemm){"backward-data", SPDF_NO_TRANS, SPDF_NO_TRANS, tokens, in[l], oc[l]};
        out[n++] = (model_gemm){"backward-weight", SPDF_TRANS, SPDF_NO_TRANS, oc[l], in[l], tokens};
    }
    return n;
}

static void check_model_shapes(int64_t C, int64_t tokens, int64_t V)
{
    model_gemm shapes[15];
    const int n = model_gemms(C, tokens, V, shapes);
    for (int s = 0; s < n; s++) {
        const float beta = shapes[s].ta == SPDF_TRANS ? 1.0f : 0.0f; /* dW accumulates */
        const gemm_case g = {shapes[s].ta, shapes[s].tb, shapes[s].M, shapes[s].N, shapes[s].K,
                             0, 1.0f, beta};
        check_case(&g, 2, 256);
    }
}

START_TEST(gemm_model_shapes_small) { check_model_shapes(384, 1024, 256); }
END_TEST

/* The double-precision check of the LM head (256 x 50304 x 768) dominates; under
 * AddressSanitizer a vocabulary of 4096 keeps the same code paths at a tenth of the cost. */
#if defined(__SANITIZE_ADDRESS__)
START_TEST(gemm_model_shapes_gpt2) { check_model_shapes(768, 256, 4096); }
#else
START_TEST(gemm_model_shapes_gpt2) { check_model_shapes(768, 256, 50304); }
#endif
END_TEST

START_TEST(gemm_1024)
{
    const gemm_case g = {trans[_i / 2], trans[_i % 2], 1024, 1024, 1024, 0, 1.0f, 0.0f};
    check_case(&g, 2, 512);
}
END_TEST

/* ---- determinism: bit-identical C for 1, 2 and 3 threads ---- */

START_TEST(gemm_same_bits_for_any_thread_count)
{
    static const int64_t shapes[][3] = {{1, 1, 1},     {7, 100, 33},   {257, 100, 300},
                                        {1024, 384, 1152}, {300, 1000, 700}, {100, 257, 1100}};
    for (size_t h = 0; h < sizeof shapes / sizeof shapes[0]; h++) {
        const gemm_case g = {trans[_i / 2], trans[_i % 2], shapes[h][0], shapes[h][1],
                             shapes[h][2], 3, 1.0f, (float)(h % 2)};
        operands o = make_operands(&g);
        for (int b = 0; b < spdf_backend_registry_count(); b++) {
            const spdf_backend_ops *ops = spdf_backend_registry_get(b);
            if (!ops->available()) continue;
            float *C1 = run_gemm(ops, 1, &g, &o);
            for (int threads = 2; threads <= 3; threads++) {
                float *Ct = run_gemm(ops, threads, &g, &o);
                char what[200];
                describe(what, sizeof what, ops, &g);
                ck_assert_msg(memcmp(C1, Ct, sizeof(float) * (size_t)(g.M * o.ldc)) == 0,
                              "%s: %d threads differ from 1 thread", what, threads);
                free(Ct);
            }
            free(C1);
        }
        free_operands(&o);
    }
}
END_TEST

/* ---- the whole model on every backend ---- */

enum { TV = 97, TMAXT = 32, TL = 2, TNH = 4, TC = 64, TB = 4, TT = 32, STEPS = 10 };

/* Losses of STEPS AdamW steps on one fixed batch; returns 0 if the backend is not available. */
static int train_losses(const char *backend, int threads, float losses[STEPS])
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
    mc.vocab_size = TV;
    mc.max_seq_len = TMAXT;
    mc.num_layers = TL;
    mc.num_heads = TNH;
    mc.channels = TC;
    spdf_model *model = NULL;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_OK);
    spdf_optimizer_config oc;
    spdf_optimizer_config_init(&oc);
    oc.learning_rate = 1e-3f;
    spdf_optimizer *opt = NULL;
    ck_assert_int_eq(spdf_optimizer_create(model, &oc, &opt), SPDF_OK);
    int32_t tokens[TB * TT], targets[TB * TT];
    for (int i = 0; i < TB * TT; i++) {
        tokens[i] = (int32_t)((i * 37 + 11) % TV);
        targets[i] = (int32_t)((i * 53 + 5) % TV);
    }
    for (int s = 0; s < STEPS; s++) {
        ck_assert_int_eq(spdf_model_forward(model, tokens, targets, NULL, TB, TT, &losses[s]),
                         SPDF_OK);
        ck_assert_int_eq(spdf_model_backward(model), SPDF_OK);
        ck_assert_int_eq(spdf_optimizer_step(opt, NULL, NULL), SPDF_OK);
    }
    spdf_optimizer_free(opt);
    spdf_model_free(model);
    spdf_context_free(ctx);
    return 1;
}

START_TEST(training_losses_match_reference)
{
    float ref[STEPS];
    ck_assert(train_losses("ref", 2, ref));
    ck_assert_float_lt(ref[STEPS - 1], ref[0]); /* it does learn the batch */
    for (int b = 0; b < spdf_backend_registry_count(); b++) {
        const char *name = spdf_backend_registry_get(b)->name;
        float losses[STEPS], again[STEPS];
        if (!train_losses(name, 2, losses)) continue;
        for (int s = 0; s < STEPS; s++)
            ck_assert_msg(fabsf(losses[s] - ref[s]) <= LOSS_TOLERANCE * fabsf(ref[s]),
                          "%s: loss at step %d is %.7f, ref %.7f", name, s, losses[s], ref[s]);
        /* and each backend reproduces itself bit for bit on another thread count */
        ck_assert(train_losses(name, 1, again));
        ck_assert_msg(memcmp(losses, again, sizeof losses) == 0,
                      "%s: losses differ between 1 and 2 threads", name);
    }
}
END_TEST

START_TEST(registry_lists_xsmm_first_when_built)
{
    int32_t xsmm_available = 0;
    if (spdf_backend_available("xsmm", &xsmm_available) == SPDF_OK) /* compiled in */
        ck_assert_str_eq(spdf_backend_registry_get(0)->name, "xsmm");
    ck_assert_str_eq(spdf_backend_registry_get(spdf_backend_registry_count() - 1)->name, "ref");
    for (int b = 0; b < spdf_backend_registry_count(); b++) {
        const spdf_backend_ops *ops = spdf_backend_registry_get(b);
        ck_assert_int_ge(ops->version, 1);
        ck_assert(ops->gemm != NULL);
        if (strcmp(ops->name, "ref") == 0) ck_assert_int_eq(ops->available(), 1);
    }
}
END_TEST

static Suite *backend_suite(void)
{
    Suite *s = suite_create("backend");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, registry_lists_xsmm_first_when_built);
    tcase_add_loop_test(tc, gemm_all_shapes, 0, 4);
    tcase_add_loop_test(tc, gemm_alpha_beta_and_leading_dimensions, 0, 4);
    tcase_add_loop_test(tc, gemm_zero_k_scales_c, 0, 4);
    tcase_add_loop_test(tc, gemm_1024, 0, 4);
    tcase_add_loop_test(tc, gemm_same_bits_for_any_thread_count, 0, 4);
    tcase_add_test(tc, gemm_model_shapes_small);
    tcase_add_test(tc, gemm_model_shapes_gpt2);
    suite_add_tcase(s, tc);
    TCase *model = tcase_create("model");
    tcase_set_timeout(model, 600);
    tcase_add_test(model, training_losses_match_reference);
    suite_add_tcase(s, model);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(backend_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
