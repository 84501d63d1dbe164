/* Unit tests of the core: status codes and errors, version, context and backend selection, and the
 * private services underneath (Philox RNG, CRC-32C, the reference GEMM). */
#include "backend/backend.h"
#include "core/core.h"
#include "spdf.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- status codes and errors ---------------------------------------------------------------- */

START_TEST(status_names)
{
    static const struct {
        spdf_status status;
        const char *name;
    } names[] = {
        {SPDF_OK, "SPDF_OK"},
        {SPDF_EINVAL, "SPDF_EINVAL"},
        {SPDF_ENOMEM, "SPDF_ENOMEM"},
        {SPDF_EIO, "SPDF_EIO"},
        {SPDF_EFORMAT, "SPDF_EFORMAT"},
        {SPDF_ESTATE, "SPDF_ESTATE"},
        {SPDF_EUNSUPPORTED, "SPDF_EUNSUPPORTED"},
        {SPDF_ENUMERIC, "SPDF_ENUMERIC"},
        {SPDF_EINTERNAL, "SPDF_EINTERNAL"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_str_eq(spdf_status_name(names[i].status), names[i].name);
    ck_assert_str_eq(spdf_status_name((spdf_status)9), "SPDF_UNKNOWN");
    ck_assert_str_eq(spdf_status_name((spdf_status)-1), "SPDF_UNKNOWN");
    ck_assert_str_eq(spdf_status_name((spdf_status)12345), "SPDF_UNKNOWN");
}
END_TEST

START_TEST(last_error_set_on_failure_cleared_on_success)
{
    int32_t count = 0;
    ck_assert_int_eq(spdf_backend_count(NULL), SPDF_EINVAL);
    ck_assert_ptr_nonnull(spdf_last_error());
    ck_assert_uint_gt(strlen(spdf_last_error()), 0);
    ck_assert_int_eq(spdf_backend_count(&count), SPDF_OK);
    ck_assert_str_eq(spdf_last_error(), "");

    ck_assert_int_eq(spdf_context_config_init(NULL), SPDF_EINVAL);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "config"));
    spdf_context_config config;
    ck_assert_int_eq(spdf_context_config_init(&config), SPDF_OK);
    ck_assert_str_eq(spdf_last_error(), "");
}
END_TEST

START_TEST(fail_formats_and_returns_the_status)
{
    ck_assert_int_eq(spdf_fail(SPDF_EIO, "cannot open %s (%d)", "x.bin", 2), SPDF_EIO);
    ck_assert_str_eq(spdf_last_error(), "cannot open x.bin (2)");
    spdf_clear_error();
    ck_assert_str_eq(spdf_last_error(), "");
    /* Details longer than the buffer are cut, never overflow. */
    char long_text[2000];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    spdf_fail(SPDF_EINVAL, "%s", long_text);
    ck_assert_uint_gt(strlen(spdf_last_error()), 100);
    ck_assert_uint_lt(strlen(spdf_last_error()), sizeof long_text - 1);
}
END_TEST

/* ---- version -------------------------------------------------------------------------------- */

START_TEST(version_matches_macros)
{
    ck_assert_uint_eq(spdf_version_number(), SPDF_VERSION_NUMBER);
    ck_assert_uint_eq(SPDF_VERSION_NUMBER,
                      SPDF_VERSION_MAJOR * 10000 + SPDF_VERSION_MINOR * 100 + SPDF_VERSION_PATCH);
    ck_assert_str_eq(spdf_version_string(), SPDF_VERSION_STRING);
    char text[64];
    snprintf(text, sizeof text, "%d.%d.%d", SPDF_VERSION_MAJOR, SPDF_VERSION_MINOR,
             SPDF_VERSION_PATCH);
    ck_assert_str_eq(spdf_version_string(), text);
}
END_TEST

/* ---- context and backends ------------------------------------------------------------------- */

START_TEST(context_default_config)
{
    spdf_context *ctx = NULL;
    const char *name = NULL;
    int32_t threads = 0;
    unsetenv("SPDF_BACKEND");
    ck_assert_int_eq(spdf_context_create(NULL, &ctx), SPDF_OK);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_str_eq(spdf_last_error(), "");
    ck_assert_int_eq(spdf_context_backend(ctx, &name), SPDF_OK);
    ck_assert_ptr_nonnull(name);
    int32_t available = 0;
    ck_assert_int_eq(spdf_backend_available(name, &available), SPDF_OK);
    ck_assert_int_eq(available, 1);
    ck_assert_int_eq(spdf_context_num_threads(ctx, &threads), SPDF_OK);
    ck_assert_int_ge(threads, 1);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(context_config_init_defaults)
{
    spdf_context_config config;
    memset(&config, 0xAB, sizeof config);
    ck_assert_int_eq(spdf_context_config_init(&config), SPDF_OK);
    ck_assert_uint_eq(config.struct_size, sizeof config);
    ck_assert_ptr_null(config.backend);
    ck_assert_int_eq(config.num_threads, 0);
}
END_TEST

START_TEST(context_each_backend_name)
{
    int32_t count = 0;
    ck_assert_int_eq(spdf_backend_count(&count), SPDF_OK);
    ck_assert_int_ge(count, 1);
    int found_ref = 0;
    for (int32_t i = 0; i < count; i++) {
        const char *name = NULL;
        int32_t available = -1;
        ck_assert_int_eq(spdf_backend_name(i, &name), SPDF_OK);
        ck_assert_ptr_nonnull(name);
        found_ref |= strcmp(name, "ref") == 0;
        ck_assert_int_eq(spdf_backend_available(name, &available), SPDF_OK);
        ck_assert(available == 0 || available == 1);

        spdf_context_config config;
        spdf_context_config_init(&config);
        config.backend = name;
        spdf_context *ctx = NULL;
        const spdf_status status = spdf_context_create(&config, &ctx);
        if (!available) {
            ck_assert_int_eq(status, SPDF_EUNSUPPORTED);
            ck_assert_ptr_null(ctx);
            ck_assert_ptr_nonnull(strstr(spdf_last_error(), name));
            continue;
        }
        ck_assert_int_eq(status, SPDF_OK);
        const char *resolved = NULL;
        ck_assert_int_eq(spdf_context_backend(ctx, &resolved), SPDF_OK);
        ck_assert_str_eq(resolved, name);
        spdf_context_free(ctx);
    }
    ck_assert_msg(found_ref, "the reference backend is always compiled in");
}
END_TEST

START_TEST(context_auto_picks_first_available)
{
    int32_t count = 0;
    spdf_backend_count(&count);
    const char *expected = NULL;
    for (int32_t i = 0; i < count && !expected; i++) {
        const char *name = NULL;
        int32_t available = 0;
        spdf_backend_name(i, &name);
        spdf_backend_available(name, &available);
        if (available) expected = name;
    }
    ck_assert_ptr_nonnull(expected);

    spdf_context_config config;
    spdf_context_config_init(&config);
    config.backend = "auto";
    setenv("SPDF_BACKEND", "no-such-backend", 1); /* an explicit name wins over the environment */
    spdf_context *ctx = NULL;
    ck_assert_int_eq(spdf_context_create(&config, &ctx), SPDF_OK);
    const char *name = NULL;
    spdf_context_backend(ctx, &name);
    ck_assert_str_eq(name, expected);
    spdf_context_free(ctx);
    unsetenv("SPDF_BACKEND");
}
END_TEST

START_TEST(context_unknown_backend)
{
    spdf_context_config config;
    spdf_context_config_init(&config);
    config.backend = "no-such-backend";
    spdf_context *ctx = NULL;
    ck_assert_int_eq(spdf_context_create(&config, &ctx), SPDF_EUNSUPPORTED);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "no-such-backend"));
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "ref")); /* the message lists what exists */

    config.backend = "";
    ck_assert_int_eq(spdf_context_create(&config, &ctx), SPDF_EUNSUPPORTED);
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(context_backend_from_environment)
{
    spdf_context *ctx = NULL;
    const char *name = NULL;
    setenv("SPDF_BACKEND", "ref", 1);
    ck_assert_int_eq(spdf_context_create(NULL, &ctx), SPDF_OK);
    spdf_context_backend(ctx, &name);
    ck_assert_str_eq(name, "ref");
    spdf_context_free(ctx);

    /* A config whose backend is NULL also defers to the environment. */
    spdf_context_config config;
    spdf_context_config_init(&config);
    ctx = NULL;
    ck_assert_int_eq(spdf_context_create(&config, &ctx), SPDF_OK);
    spdf_context_backend(ctx, &name);
    ck_assert_str_eq(name, "ref");
    spdf_context_free(ctx);

    setenv("SPDF_BACKEND", "no-such-backend", 1);
    ctx = NULL;
    ck_assert_int_eq(spdf_context_create(NULL, &ctx), SPDF_EUNSUPPORTED);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(spdf_last_error(), "no-such-backend"));

    setenv("SPDF_BACKEND", "", 1); /* empty means unset: "auto" */
    ck_assert_int_eq(spdf_context_create(NULL, &ctx), SPDF_OK);
    spdf_context_free(ctx);
    unsetenv("SPDF_BACKEND");
}
END_TEST

START_TEST(context_num_threads)
{
    static const int32_t invalid[] = {-1, -1000, 4097, INT32_MAX, INT32_MIN};
    spdf_context_config config;
    spdf_context *ctx = NULL;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        spdf_context_config_init(&config);
        config.num_threads = invalid[i];
        ck_assert_int_eq(spdf_context_create(&config, &ctx), SPDF_EINVAL);
        ck_assert_ptr_null(ctx);
        ck_assert_ptr_nonnull(strstr(spdf_last_error(), "num_threads"));
    }
    spdf_context_config_init(&config);
    config.num_threads = 3;
    ck_assert_int_eq(spdf_context_create(&config, &ctx), SPDF_OK);
    int32_t threads = 0;
    ck_assert_int_eq(spdf_context_num_threads(ctx, &threads), SPDF_OK);
    ck_assert_int_eq(threads, 3);
    spdf_context_free(ctx);
}
END_TEST

START_TEST(context_struct_size_too_small)
{
    spdf_context_config config;
    spdf_context *ctx = NULL;
    static const size_t sizes[] = {0, 1, sizeof(size_t),
                                   offsetof(spdf_context_config, num_threads) + sizeof(int32_t) - 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        spdf_context_config_init(&config);
        config.struct_size = sizes[i];
        ck_assert_int_eq(spdf_context_create(&config, &ctx), SPDF_EINVAL);
        ck_assert_ptr_null(ctx);
        ck_assert_ptr_nonnull(strstr(spdf_last_error(), "struct_size"));
    }
}
END_TEST

START_TEST(null_and_invalid_arguments)
{
    spdf_context *ctx = NULL;
    const char *name = NULL;
    int32_t value = 0;
    ck_assert_int_eq(spdf_context_config_init(NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_context_create(NULL, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_context_backend(NULL, &name), SPDF_EINVAL);
    ck_assert_int_eq(spdf_context_num_threads(NULL, &value), SPDF_EINVAL);

    ck_assert_int_eq(spdf_context_create(NULL, &ctx), SPDF_OK);
    ck_assert_int_eq(spdf_context_backend(ctx, NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_context_num_threads(ctx, NULL), SPDF_EINVAL);
    spdf_context_free(ctx);

    int32_t count = 0;
    spdf_backend_count(&count);
    ck_assert_int_eq(spdf_backend_count(NULL), SPDF_EINVAL);
    ck_assert_int_eq(spdf_backend_name(0, NULL), SPDF_EINVAL);
    name = "untouched";
    ck_assert_int_eq(spdf_backend_name(-1, &name), SPDF_EINVAL);
    ck_assert_int_eq(spdf_backend_name(count, &name), SPDF_EINVAL);
    ck_assert_int_eq(spdf_backend_name(INT32_MAX, &name), SPDF_EINVAL);
    ck_assert_str_eq(name, "untouched"); /* outputs are left alone on failure */
    ck_assert_int_eq(spdf_backend_available(NULL, &value), SPDF_EINVAL);
    ck_assert_int_eq(spdf_backend_available("ref", NULL), SPDF_EINVAL);
    value = 42;
    ck_assert_int_eq(spdf_backend_available("no-such-backend", &value), SPDF_EINVAL);
    ck_assert_int_eq(value, 42);
}
END_TEST

START_TEST(free_accepts_null)
{
    spdf_context_free(NULL);
}
END_TEST

/* ---- private: Philox4x32-10, CRC-32C, distributions ----------------------------------------- */

/* Known answers of Random123's tests/kat_vectors, "philox4x32 10" lines: counter (4 words),
 * key (2 words) -> output (4 words).  spdf_philox(seed, stream, counter) uses key = (seed lo,
 * seed hi) and counter = (counter lo, counter hi, stream lo, stream hi). */
START_TEST(philox_known_answers)
{
    static const struct {
        uint32_t ctr[4], key[2], expected[4];
    } kat[] = {
        {{0x00000000, 0x00000000, 0x00000000, 0x00000000}, {0x00000000, 0x00000000},
         {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        const uint64_t seed = kat[i].key[0] | (uint64_t)kat[i].key[1] << 32;
        const uint64_t counter = kat[i].ctr[0] | (uint64_t)kat[i].ctr[1] << 32;
        const uint64_t stream = kat[i].ctr[2] | (uint64_t)kat[i].ctr[3] << 32;
        uint32_t out[4];
        spdf_philox(seed, stream, counter, out);
        for (int w = 0; w < 4; w++)
            ck_assert_msg(out[w] == kat[i].expected[w], "vector %zu word %d: %08x, expected %08x",
                          i, w, out[w], kat[i].expected[w]);
    }
}
END_TEST

START_TEST(crc32c_check_value)
{
    static const char digits[] = "123456789";
    ck_assert_uint_eq(spdf_crc32c(0, digits, 9), 0xE3069283u);
    /* Running value: the checksum of a concatenation, fed in pieces. */
    ck_assert_uint_eq(spdf_crc32c(spdf_crc32c(0, digits, 4), digits + 4, 5), 0xE3069283u);
    ck_assert_uint_eq(spdf_crc32c(0, digits, 0), 0u);
    ck_assert_uint_ne(spdf_crc32c(0, "123456788", 9), 0xE3069283u);
}
END_TEST

START_TEST(rng_uniform_range_and_reproducibility)
{
    enum { N = 10000 };
    static float a[N], b[N], part[100];
    const spdf_rng rng = {.seed = 1337, .stream = 7};
    spdf_rng_uniform(&rng, 0, N, a);
    spdf_rng_uniform(&rng, 0, N, b);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    double sum = 0.0;
    for (int i = 0; i < N; i++) {
        ck_assert(a[i] >= 0.0f && a[i] < 1.0f);
        sum += a[i];
    }
    ck_assert(fabs(sum / N - 0.5) < 0.02); /* std error 0.0029: 7 sigma */
    /* Any slice of the stream is the same numbers, wherever it starts. */
    spdf_rng_uniform(&rng, 1234, 100, part);
    ck_assert_int_eq(memcmp(part, a + 1234, sizeof part), 0);
    /* Another stream or seed gives other numbers. */
    const spdf_rng other_stream = {.seed = 1337, .stream = 8};
    const spdf_rng other_seed = {.seed = 1338, .stream = 7};
    spdf_rng_uniform(&other_stream, 0, 100, part);
    ck_assert_int_ne(memcmp(part, a, sizeof part), 0);
    spdf_rng_uniform(&other_seed, 0, 100, part);
    ck_assert_int_ne(memcmp(part, a, sizeof part), 0);
    ck_assert(spdf_uniform_from_u32(0) == 0.0f);
    ck_assert(spdf_uniform_from_u32(UINT32_MAX) < 1.0f);
}
END_TEST

static void moments(const float *x, size_t n, double *mean, double *std)
{
    double sum = 0.0, sum_sq = 0.0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    *mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) sum_sq += (x[i] - *mean) * (x[i] - *mean);
    *std = sqrt(sum_sq / (double)(n - 1));
}

START_TEST(rng_normal_moments_and_reproducibility)
{
    enum { N = 200000 };
    static float a[N], b[N];
    const spdf_rng rng = {.seed = 42, .stream = 3};
    double mean, std;
    /* N(0,1): the standard error of the mean is 1/sqrt(N) = 0.0022 and of the standard deviation
     * 1/sqrt(2N) = 0.0016; the bounds are about 5 standard errors. */
    spdf_rng_normal(&rng, 0, N, 0.0f, 1.0f, a);
    moments(a, N, &mean, &std);
    ck_assert_msg(fabs(mean) < 0.011, "mean %g", mean);
    ck_assert_msg(fabs(std - 1.0) < 0.008, "std %g", std);
    for (int i = 0; i < N; i++) ck_assert(isfinite(a[i]));

    spdf_rng_normal(&rng, 0, N, 0.0f, 1.0f, b);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    spdf_rng_normal(&rng, 777, 1000, 0.0f, 1.0f, b);
    ck_assert_int_eq(memcmp(a + 777, b, 1000 * sizeof(float)), 0);

    /* Mean and standard deviation parameters: N(3, 0.02) as used for weight init. */
    spdf_rng_normal(&rng, 0, N, 3.0f, 0.02f, b);
    moments(b, N, &mean, &std);
    ck_assert_msg(fabs(mean - 3.0) < 0.011 * 0.02, "mean %g", mean);
    ck_assert_msg(fabs(std - 0.02) < 0.008 * 0.02, "std %g", std);
}
END_TEST

START_TEST(rng_below_in_range)
{
    static const uint64_t bounds[] = {1, 2, 7, 1000, (uint64_t)1 << 40, UINT64_MAX};
    const spdf_rng rng = {.seed = 99, .stream = 1};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++)
        for (uint64_t i = 0; i < 20000; i++) {
            const uint64_t r = spdf_rng_below(&rng, i, bounds[b]);
            ck_assert(r < bounds[b]);
            ck_assert(r == spdf_rng_below(&rng, i, bounds[b]));
        }
    /* Roughly uniform over a small range: each of 7 values within 10% of N/7. */
    enum { N = 70000 };
    int counts[7] = {0};
    for (uint64_t i = 0; i < N; i++) counts[spdf_rng_below(&rng, i, 7)]++;
    for (int v = 0; v < 7; v++)
        ck_assert_msg(abs(counts[v] - N / 7) < N / 70, "value %d drawn %d times", v, counts[v]);
}
END_TEST

/* ---- private: the reference GEMM ------------------------------------------------------------ */

/* Tolerance.  Each element is compared with a double-precision triple loop.  Summing K float
 * products in any order has an error of at most about K * u * sum_k |a_ik b_kj| (u = 2^-24, half of
 * FLT_EPSILON); alpha and beta add two more roundings.  The test allows
 *     |C - C_ref| <= (K + 3) * FLT_EPSILON * (|alpha| * sum_k |a_ik b_kj| + |beta * C0_ij|),
 * twice that worst-case bound, so only a real error (a wrong element, a lost or repeated term)
 * fails it. */
static const int gemm_sizes[] = {1, 5, 17, 100, 300};
enum { PAD = 3 }; /* every leading dimension is the width plus PAD */

static float *random_matrix(size_t count, uint64_t stream)
{
    float *x = malloc(count * sizeof *x);
    ck_assert_ptr_nonnull(x);
    const spdf_rng rng = {.seed = 2024, .stream = stream};
    spdf_rng_uniform(&rng, 0, count, x);
    for (size_t i = 0; i < count; i++) x[i] = 2.0f * x[i] - 1.0f;
    return x;
}

static float op_at(const float *X, int64_t ld, spdf_transpose trans, int64_t row, int64_t col)
{
    return trans == SPDF_NO_TRANS ? X[row * ld + col] : X[col * ld + row];
}

typedef struct gemm_case {
    spdf_transpose ta, tb;
    int64_t M, N, K;
    float alpha, beta;
} gemm_case;

/* Runs one case with the given thread count; C is (M, N) with ldc = N + PAD, and the PAD columns
 * are filled with a sentinel that must survive.  Returns C (caller frees). */
static float *run_gemm(const gemm_case *g, const float *A, const float *B, const float *C0,
                       int threads)
{
    const int64_t ldc = g->N + PAD;
    const int64_t lda = (g->ta == SPDF_NO_TRANS ? g->K : g->M) + PAD;
    const int64_t ldb = (g->tb == SPDF_NO_TRANS ? g->N : g->K) + PAD;
    float *C = malloc((size_t)(g->M * ldc) * sizeof *C);
    ck_assert_ptr_nonnull(C);
    memcpy(C, C0, (size_t)(g->M * ldc) * sizeof *C);
    spdf_backend_ref.gemm(threads, g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, lda, B, ldb, g->beta,
                          C, ldc);
    return C;
}

static void check_gemm(const gemm_case *g)
{
    const int64_t a_rows = g->ta == SPDF_NO_TRANS ? g->M : g->K;
    const int64_t a_cols = g->ta == SPDF_NO_TRANS ? g->K : g->M;
    const int64_t b_rows = g->tb == SPDF_NO_TRANS ? g->K : g->N;
    const int64_t b_cols = g->tb == SPDF_NO_TRANS ? g->N : g->K;
    const int64_t lda = a_cols + PAD, ldb = b_cols + PAD, ldc = g->N + PAD;
    float *A = random_matrix((size_t)(a_rows * lda), 1);
    float *B = random_matrix((size_t)(b_rows * ldb), 2);
    float *C0 = random_matrix((size_t)(g->M * ldc), 3);
    const float sentinel = 12345.0f;
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < ldc; j++) {
            float *c = &C0[i * ldc + j];
            if (j >= g->N)
                *c = sentinel;
            else if (g->beta == 0.0f)
                *c = NAN; /* beta == 0 must overwrite C without reading it */
        }

    float *C = run_gemm(g, A, B, C0, 2);
    for (int64_t i = 0; i < g->M; i++) {
        for (int64_t j = 0; j < g->N; j++) {
            double exact = 0.0, magnitude = 0.0;
            for (int64_t p = 0; p < g->K; p++) {
                const double term = (double)op_at(A, lda, g->ta, i, p) * op_at(B, ldb, g->tb, p, j);
                exact += term;
                magnitude += fabs(term);
            }
            const double c0 = g->beta == 0.0f ? 0.0 : C0[i * ldc + j];
            const double expected = g->alpha * exact + g->beta * c0;
            const double tolerance = (double)(g->K + 3) * FLT_EPSILON *
                                     (fabs(g->alpha) * magnitude + fabs(g->beta * c0));
            const double got = C[i * ldc + j];
            if (!(fabs(got - expected) <= tolerance))
                ck_abort_msg("gemm %c%c M=%lld N=%lld K=%lld alpha=%g beta=%g: C[%lld,%lld] = %.9g, "
                             "expected %.9g (tolerance %.3g)",
                             g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', (long long)g->M, (long long)g->N,
                             (long long)g->K, g->alpha, g->beta, (long long)i, (long long)j, got,
                             expected, tolerance);
        }
        for (int64_t j = g->N; j < ldc; j++)
            ck_assert_msg(C[i * ldc + j] == sentinel, "gemm wrote past N into the ldc padding");
    }
    free(A);
    free(B);
    free(C0);
    free(C);
}

/* alpha, beta pairs cycled through the shapes; beta == 0 comes with a NaN-filled C. */
static const float gemm_scalars[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-1.25f, 0.75f}, {2.0f, 0.0f}};

static void check_all_shapes(spdf_transpose ta, spdf_transpose tb)
{
    const int n = (int)(sizeof gemm_sizes / sizeof gemm_sizes[0]);
    int index = 0;
    for (int m = 0; m < n; m++)
        for (int nn = 0; nn < n; nn++)
            for (int k = 0; k < n; k++, index++) {
                const float *scalars = gemm_scalars[index % 4];
                const gemm_case g = {ta, tb, gemm_sizes[m], gemm_sizes[nn], gemm_sizes[k],
                                     scalars[0], scalars[1]};
                check_gemm(&g);
            }
}

START_TEST(gemm_nn) { check_all_shapes(SPDF_NO_TRANS, SPDF_NO_TRANS); }
END_TEST
START_TEST(gemm_nt) { check_all_shapes(SPDF_NO_TRANS, SPDF_TRANS); }
END_TEST
START_TEST(gemm_tn) { check_all_shapes(SPDF_TRANS, SPDF_NO_TRANS); }
END_TEST
START_TEST(gemm_tt) { check_all_shapes(SPDF_TRANS, SPDF_TRANS); }
END_TEST

START_TEST(gemm_empty_k_scales_c)
{
    float C[2 * 3] = {1, 2, 3, 4, 5, 6};
    const float A[1] = {0}, B[1] = {0};
    spdf_backend_ref.gemm(1, SPDF_NO_TRANS, SPDF_NO_TRANS, 2, 3, 0, 1.0f, A, 1, B, 3, 0.5f, C, 3);
    for (int i = 0; i < 6; i++) ck_assert(C[i] == 0.5f * (float)(i + 1));
    for (int i = 0; i < 6; i++) C[i] = NAN;
    spdf_backend_ref.gemm(1, SPDF_NO_TRANS, SPDF_NO_TRANS, 2, 3, 0, 1.0f, A, 1, B, 3, 0.0f, C, 3);
    for (int i = 0; i < 6; i++) ck_assert(C[i] == 0.0f);
}
END_TEST

/* The result may not depend on the thread count: bit for bit the same with 1, 2 and 3 threads. */
START_TEST(gemm_thread_count_invariant)
{
    static const int64_t shapes[][3] = {{300, 300, 300}, {17, 300, 5}, {100, 17, 300}, {5, 301, 257}};
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const gemm_case g = {(spdf_transpose)(t >> 1), (spdf_transpose)(t & 1), shapes[s][0],
                                 shapes[s][1], shapes[s][2], 0.75f, 0.5f};
            const int64_t lda = (g.ta == SPDF_NO_TRANS ? g.K : g.M) + PAD;
            const int64_t ldb = (g.tb == SPDF_NO_TRANS ? g.N : g.K) + PAD;
            const size_t c_count = (size_t)(g.M * (g.N + PAD));
            float *A = random_matrix((size_t)((g.ta == SPDF_NO_TRANS ? g.M : g.K) * lda), 4);
            float *B = random_matrix((size_t)((g.tb == SPDF_NO_TRANS ? g.K : g.N) * ldb), 5);
            float *C0 = random_matrix(c_count, 6);
            float *one = run_gemm(&g, A, B, C0, 1);
            for (int threads = 2; threads <= 3; threads++) {
                float *many = run_gemm(&g, A, B, C0, threads);
                ck_assert_msg(memcmp(one, many, c_count * sizeof *one) == 0,
                              "gemm %d threads differs from 1 thread (shape %zu, trans %d)", threads,
                              s, t);
                free(many);
            }
            free(A);
            free(B);
            free(C0);
            free(one);
        }
}
END_TEST

/* ---- suite ---------------------------------------------------------------------------------- */

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");

    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, status_names);
    tcase_add_test(errors, last_error_set_on_failure_cleared_on_success);
    tcase_add_test(errors, fail_formats_and_returns_the_status);
    tcase_add_test(errors, version_matches_macros);
    suite_add_tcase(s, errors);

    TCase *context = tcase_create("context");
    tcase_add_test(context, context_default_config);
    tcase_add_test(context, context_config_init_defaults);
    tcase_add_test(context, context_each_backend_name);
    tcase_add_test(context, context_auto_picks_first_available);
    tcase_add_test(context, context_unknown_backend);
    tcase_add_test(context, context_backend_from_environment);
    tcase_add_test(context, context_num_threads);
    tcase_add_test(context, context_struct_size_too_small);
    tcase_add_test(context, null_and_invalid_arguments);
    tcase_add_test(context, free_accepts_null);
    suite_add_tcase(s, context);

    TCase *random = tcase_create("random");
    tcase_add_test(random, philox_known_answers);
    tcase_add_test(random, crc32c_check_value);
    tcase_add_test(random, rng_uniform_range_and_reproducibility);
    tcase_add_test(random, rng_normal_moments_and_reproducibility);
    tcase_add_test(random, rng_below_in_range);
    tcase_set_timeout(random, 60);
    suite_add_tcase(s, random);

    TCase *gemm = tcase_create("gemm");
    tcase_add_test(gemm, gemm_nn);
    tcase_add_test(gemm, gemm_nt);
    tcase_add_test(gemm, gemm_tn);
    tcase_add_test(gemm, gemm_tt);
    tcase_add_test(gemm, gemm_empty_k_scales_c);
    tcase_add_test(gemm, gemm_thread_count_invariant);
    tcase_set_timeout(gemm, 240);
    suite_add_tcase(s, gemm);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(core_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
