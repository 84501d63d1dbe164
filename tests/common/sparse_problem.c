/* Test fixtures for sparse products (sparse_problem.h). */
#include "common/sparse_problem.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t next_random(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng_state >> 16;
}

float test_uniform_pm1(void) { return (float)((next_random() >> 24) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }

float *test_random_floats(int64_t count)
{
    float *x = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    ck_assert_ptr_nonnull(x);
    for (int64_t i = 0; i < count; i++) x[i] = test_uniform_pm1();
    return x;
}

test_pattern test_random_pattern(int64_t rows, int64_t cols, double density)
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
    test_pattern pt;
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

void test_free_pattern(test_pattern *pt)
{
    free(pt->row_ptr);
    free(pt->col_idx);
}

static double allowed(double bound, int64_t terms)
{
    return SPARSE_TOLERANCE * sqrt((double)terms + 1.0) * FLT_EPSILON * bound + 1e-30;
}

/* got and ref against the exact value within the tolerance.  (Check records every passing
 * ck_assert, a system call each: per-element checks only call it to fail.) */
static void check_value(const char *what, int64_t at, float got, float ref, double exact,
                        double bound, int64_t terms)
{
    const double tol = allowed(bound, terms);
    if (!(fabs((double)got - exact) <= tol && fabs((double)ref - exact) <= tol))
        ck_abort_msg("%s [%lld]: got %.9g ref %.9g exact %.9g (tolerance %.3g)", what,
                     (long long)at, (double)got, (double)ref, exact, tol);
}

test_problem test_make_problem(int64_t rows, int64_t cols, double density, int64_t N)
{
    test_problem pb;
    pb.pt = test_random_pattern(rows, cols, density);
    pb.N = N;
    pb.values = test_random_floats(pb.pt.p.nnz);
    pb.inp = test_random_floats(N * cols);
    pb.dout = test_random_floats(N * rows);
    pb.dvalues0 = test_random_floats(pb.pt.p.nnz);
    pb.col_terms = calloc((size_t)(cols > 0 ? cols : 1), sizeof(int64_t));
    for (int64_t k = 0; k < pb.pt.p.nnz; k++) pb.col_terms[pb.pt.col_idx[k]]++;
    return pb;
}

void test_free_problem(test_problem *pb)
{
    test_free_pattern(&pb->pt);
    free(pb->values);
    free(pb->inp);
    free(pb->dout);
    free(pb->dvalues0);
    free(pb->col_terms);
}

void test_free_results(test_results *r)
{
    free(r->out);
    free(r->dinp);
    free(r->dvalues);
}

test_results test_run_backend(const spdf_backend_ops *ops, const test_problem *pb, int threads,
                              const spdf_sparse_plan_request *request)
{
    const spdf_sparse_pattern *p = &pb->pt.p;
    void *layer = ops->sparse_prepare(p);
    ck_assert_ptr_nonnull(layer);
    if (request) {
        ck_assert(ops->sparse_plan != NULL);
        const spdf_status planned = ops->sparse_plan(layer, request);
        ck_assert_msg(planned == SPDF_OK, "planning failed: %s", spdf_last_error());
    }
    const int32_t *order = ops->sparse_order(layer);
    float *values = malloc(sizeof(float) * (size_t)(p->nnz > 0 ? p->nnz : 1));
    float *dvalues = malloc(sizeof(float) * (size_t)(p->nnz > 0 ? p->nnz : 1));
    for (int64_t s = 0; s < p->nnz; s++) {
        const int64_t k = order ? order[s] : s;
        values[s] = pb->values[k];
        dvalues[s] = pb->dvalues0[k];
    }
    test_results r;
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

void test_check_results(const test_problem *pb, const test_results *got,
                        const test_results *ref, const char *label)
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

int test_same_bits(const test_results *a, const test_results *b, const test_problem *pb)
{
    const spdf_sparse_pattern *p = &pb->pt.p;
    return memcmp(a->out, b->out, sizeof(float) * (size_t)(pb->N * p->rows)) == 0 &&
           memcmp(a->dinp, b->dinp, sizeof(float) * (size_t)(pb->N * p->cols)) == 0 &&
           memcmp(a->dvalues, b->dvalues, sizeof(float) * (size_t)p->nnz) == 0;
}

