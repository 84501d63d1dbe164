/* Test fixtures for sparse products: random exact-count patterns, their inputs, the three
 * products run through a backend table or the index kernels, and checks against exact sums.
 *
 * Tolerance.  One output is a sum of K products (plus, for the weight gradient, the value it is
 * added to); computed in fp32 in any order it differs from the exact sum by at most about
 * K * eps * bound, bound = sum |a| |b| (+ |c0|), and for random data like sqrt(K) * eps * bound.
 * Both the tested and the reference result must lie within
 * SPARSE_TOLERANCE * sqrt(K + 1) * eps * bound of the exact (double) sum, so they differ by at
 * most twice that; a single missing or doubled product is far outside it. */
#ifndef SPDF_TEST_SPARSE_PROBLEM_H
#define SPDF_TEST_SPARSE_PROBLEM_H

#include "backend/backend.h"

#include <stdint.h>

#define SPARSE_TOLERANCE 8.0

/* Uniform in [-1, 1) from the fixtures' own generator (seeded, so every run is the same). */
float test_uniform_pm1(void);
float *test_random_floats(int64_t count);

/* A (rows, cols) pattern with exactly round(density * rows * cols) non-zeros (a shuffle). */
typedef struct test_pattern {
    spdf_sparse_pattern p;
    int32_t *row_ptr, *col_idx;
} test_pattern;

test_pattern test_random_pattern(int64_t rows, int64_t cols, double density);
void test_free_pattern(test_pattern *pt);

/* The inputs of one case, values in canonical CSR order. */
typedef struct test_problem {
    test_pattern pt;
    int64_t N;
    float *values;      /* (nnz) */
    float *inp;         /* (N, cols) */
    float *dout;        /* (N, rows) */
    float *dvalues0;    /* (nnz): what the gradient is added to */
    int64_t *col_terms; /* (cols) non-zeros per column */
} test_problem;

test_problem test_make_problem(int64_t rows, int64_t cols, double density, int64_t N);
void test_free_problem(test_problem *pb);

/* The three products' results; dvalues in canonical order. */
typedef struct test_results {
    float *out, *dinp, *dvalues;
} test_results;

void test_free_results(test_results *r);

/* The three products of a backend table on pb with `threads` threads, the layer planned with
 * `request` first when it is not NULL (the plan must succeed); values and gradients are handed
 * over in the layer's storage order and mapped back. */
test_results test_run_backend(const spdf_backend_ops *ops, const test_problem *pb, int threads,
                              const spdf_sparse_plan_request *request);

/* Every element of got and ref against the exact double-precision results. */
void test_check_results(const test_problem *pb, const test_results *got,
                        const test_results *ref, const char *label);
int test_same_bits(const test_results *a, const test_results *b, const test_problem *pb);

#endif
