/* The index kernels of one instruction set against the reference backend and exact sums:
 * forward, backward-data and backward-weight on random exact-count patterns, at several shapes,
 * densities and token counts, on 1, 2 and 3 threads (bit for bit the same).
 *
 * Usage: test_sparse_kernels --kernels portable|avx2|avx512|avx512-logic
 * "avx512-logic" is the AVX-512 configuration compiled for AVX2 (sparse_kernels_wide.c).  A set
 * this CPU cannot run exits with 77, which meson reports as skipped.  On an AVX-512 CPU the
 * avx512 run also checks that the AVX-512 build and the AVX2 build of its logic agree bit for
 * bit. */
#include "backend/backend.h"
#include "backend/sparse_index.h"
#include "common/sparse_problem.h"
#include "sparse_kernels_wide.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sparse_kernel_set *tested;

/* Every product on the index kernels, whatever the cost model would pick. */
static const spdf_sparse_plan_request index_plan = {
    .num_threads = 2,
    .mode = SPDF_SPARSE_PLAN_ESTIMATE,
    .forced = {SPDF_SPARSE_KERNEL_INDEX, SPDF_SPARSE_KERNEL_INDEX, SPDF_SPARSE_KERNEL_INDEX},
    .source = SPDF_SPARSE_PLANNED_FORCED,
};

static test_results run_index(const test_problem *pb, int threads, const sparse_kernel_set *set)
{
    sparse_kernels_override(set);
    test_results r = test_run_backend(&spdf_backend_native, pb, threads, &index_plan);
    sparse_kernels_override(NULL);
    return r;
}

typedef struct shape {
    int64_t rows, cols;
    int large; /* fewer densities, and at the largest N only the 75 % sparse layer */
} shape;

static const shape shapes[] = {
    {33, 17, 0}, {64, 64, 0}, {100, 260, 0}, {1, 300, 0}, {300, 1, 0}, {1152, 384, 1}, {384, 1536, 1},
};
static const int64_t token_counts[] = {1, 7, 16, 100, 129, 1024};
/* Under AddressSanitizer every kernel runs several times slower and the exact double-precision
 * sums dominate: the sanitizer build checks memory safety on N <= 129, the plain build covers
 * N = 1024 too. */
#if defined(__SANITIZE_ADDRESS__)
enum { MAX_CHECKED_TOKENS = 129 };
#else
enum { MAX_CHECKED_TOKENS = 1 << 30 };
#endif
static const double densities[] = {0.1, 0.25, 0.5, 0.75, 0.9, 1.0};
static const double large_densities[] = {0.25, 1.0};

/* One case on the tested set: against the reference and the exact sums, and the same bits on 1,
 * 2 and 3 threads and on a second run. */
static void check_case(int64_t rows, int64_t cols, double density, int64_t N)
{
    test_problem pb = test_make_problem(rows, cols, density, N);
    test_results ref = test_run_backend(&spdf_backend_ref, &pb, 2, NULL);
    test_results two = run_index(&pb, 2, tested);
    char label[64];
    snprintf(label, sizeof label, "%s index kernels", tested->name);
    test_check_results(&pb, &two, &ref, label);
    for (int threads = 1; threads <= 3; threads++) {
        test_results other = run_index(&pb, threads, tested);
        ck_assert_msg(test_same_bits(&two, &other, &pb), "%s: %d threads differ from 2",
                      tested->name, threads);
        test_free_results(&other);
    }
#ifdef SPDF_HAVE_X86_KERNELS
    if (tested == &sparse_kernels_avx512) {
        test_results logic = run_index(&pb, 2, &sparse_kernels_avx512_logic);
        ck_assert_msg(test_same_bits(&two, &logic, &pb),
                      "the AVX-512 build and the AVX2 build of its logic differ");
        test_free_results(&logic);
    }
#endif
    test_free_results(&two);
    test_free_results(&ref);
    test_free_problem(&pb);
}

START_TEST(kernels_match_reference)
{
    const shape *s = &shapes[_i];
    const double *ds = s->large ? large_densities : densities;
    const int nd = s->large ? 2 : 6;
    for (size_t n = 0; n < sizeof token_counts / sizeof token_counts[0]; n++)
        for (int d = 0; d < nd && token_counts[n] <= MAX_CHECKED_TOKENS; d++) {
            const int biggest = s->large && token_counts[n] == 1024;
            if (biggest && ds[d] == 1.0) continue; /* dense large layers: up to N = 129 */
            check_case(s->rows, s->cols, ds[d], token_counts[n]);
        }
}
END_TEST

START_TEST(empty_patterns_give_zeros)
{
    /* No non-zeros at all, and rows or columns of zero length. */
    const int64_t cases[][2] = {{40, 30}, {0, 5}, {5, 0}};
    for (int i = 0; i < 3; i++) {
        test_problem pb = test_make_problem(cases[i][0], cases[i][1], 0.0, 37);
        test_results got = run_index(&pb, 2, tested);
        for (int64_t k = 0; k < pb.N * cases[i][0]; k++)
            if (got.out[k] != 0.0f) ck_abort_msg("out[%lld] = %g", (long long)k, (double)got.out[k]);
        for (int64_t k = 0; k < pb.N * cases[i][1]; k++)
            if (got.dinp[k] != 0.0f) ck_abort_msg("dinp[%lld] = %g", (long long)k, (double)got.dinp[k]);
        test_free_results(&got);
        test_free_problem(&pb);
    }
    /* One non-zero in a wide layer: most rows and most tiles are empty. */
    check_case(200, 700, 1.0 / (200.0 * 700.0), 65);
}
END_TEST

START_TEST(storage_order_is_a_permutation)
{
    test_pattern pt = test_random_pattern(300, 700, 0.3);
    void *layer = spdf_backend_native.sparse_prepare(&pt.p);
    ck_assert_ptr_nonnull(layer);
    const int32_t *order = spdf_backend_native.sparse_order(layer);
    ck_assert_ptr_nonnull(order); /* several column tiles: not the canonical order */
    uint8_t *seen = calloc((size_t)pt.p.nnz, 1);
    for (int64_t s = 0; s < pt.p.nnz; s++) {
        if (order[s] < 0 || order[s] >= pt.p.nnz || seen[order[s]])
            ck_abort_msg("slot %lld holds %d: not a permutation", (long long)s, order[s]);
        seen[order[s]] = 1;
    }
    free(seen);
    spdf_backend_native.sparse_release(layer);
    /* One column tile: the canonical order, reported as NULL. */
    test_pattern narrow = test_random_pattern(50, 40, 0.5);
    layer = spdf_backend_native.sparse_prepare(&narrow.p);
    ck_assert_ptr_null(spdf_backend_native.sparse_order(layer));
    spdf_backend_native.sparse_release(layer);
    test_free_pattern(&narrow);
    test_free_pattern(&pt);
}
END_TEST

static Suite *sparse_kernels_suite(void)
{
    Suite *s = suite_create("sparse-kernels");
    TCase *kernels = tcase_create("kernels");
    tcase_set_timeout(kernels, 900);
    tcase_add_loop_test(kernels, kernels_match_reference, 0,
                        (int)(sizeof shapes / sizeof shapes[0]));
    tcase_add_test(kernels, empty_patterns_give_zeros);
    tcase_add_test(kernels, storage_order_is_a_permutation);
    suite_add_tcase(s, kernels);
    return s;
}

/* The kernel set named `name`, or NULL; *runnable says whether this CPU can run it. */
static const sparse_kernel_set *find_set(const char *name, int *runnable)
{
    const sparse_kernel_set *sets[] = {
        &sparse_kernels_portable,
#ifdef SPDF_HAVE_X86_KERNELS
        &sparse_kernels_avx2, &sparse_kernels_avx512, &sparse_kernels_avx512_logic,
#endif
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (strcmp(sets[i]->name, name) == 0) {
            *runnable = cpu_isa_supported(sets[i]->isa);
            return sets[i];
        }
    *runnable = 0;
    return NULL;
}

int main(int argc, char **argv)
{
    const char *name = argc == 3 && strcmp(argv[1], "--kernels") == 0 ? argv[2] : NULL;
    if (!name) {
        fprintf(stderr, "usage: %s --kernels portable|avx2|avx512|avx512-logic\n", argv[0]);
        return 2;
    }
    int runnable;
    tested = find_set(name, &runnable);
    if (!tested || !runnable) {
        printf("SKIPPED: the %s kernels %s on this CPU (widest instruction set: %s)\n", name,
               tested ? "cannot run" : "are not built", cpu_isa_name(cpu_widest_isa()));
        return 77;
    }
    printf("testing the %s index kernels (%d-float vectors)\n", tested->name, tested->vector_floats);
    SRunner *runner = srunner_create(sparse_kernels_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
