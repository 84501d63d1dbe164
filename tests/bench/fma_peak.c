/* FP32 FMA peak at the widest vector width the CPU has (AVX-512, else AVX2 + FMA, else the
 * portable loop): 12 independent vector accumulators per thread cover the FMA latency (4-5
 * cycles) times the FMA ports (2) of current x86 cores, so the loop runs at the issue limit. */
#include "fma_peak.h"

#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_AVX2_PATH 1
#endif

static int cpu_clock;

void bench_use_cpu_clock(int enable) { cpu_clock = enable; }

double bench_now_seconds(int threads)
{
    struct timespec ts;
    clock_gettime(cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    const double seconds = (double)ts.tv_sec + ts.tv_nsec * 1e-9;
    return cpu_clock && threads > 1 ? seconds / threads : seconds;
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *values, int n)
{
    qsort(values, (size_t)n, sizeof(double), compare_doubles);
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

enum { ACCUMULATORS = 12 };

#ifdef HAVE_X86_AVX2_PATH
/* iterations x 12 vector FMAs of 8 lanes: 192 FLOP per iteration. */
__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iterations)
{
    const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(0.001f);
    __m256 a0 = _mm256_set1_ps(0.0f), a1 = _mm256_set1_ps(1.0f), a2 = _mm256_set1_ps(2.0f);
    __m256 a3 = _mm256_set1_ps(3.0f), a4 = _mm256_set1_ps(4.0f), a5 = _mm256_set1_ps(5.0f);
    __m256 a6 = _mm256_set1_ps(6.0f), a7 = _mm256_set1_ps(7.0f), a8 = _mm256_set1_ps(8.0f);
    __m256 a9 = _mm256_set1_ps(9.0f), a10 = _mm256_set1_ps(10.0f), a11 = _mm256_set1_ps(11.0f);
    for (long i = 0; i < iterations; i++) {
        a0 = _mm256_fmadd_ps(a0, x, y);
        a1 = _mm256_fmadd_ps(a1, x, y);
        a2 = _mm256_fmadd_ps(a2, x, y);
        a3 = _mm256_fmadd_ps(a3, x, y);
        a4 = _mm256_fmadd_ps(a4, x, y);
        a5 = _mm256_fmadd_ps(a5, x, y);
        a6 = _mm256_fmadd_ps(a6, x, y);
        a7 = _mm256_fmadd_ps(a7, x, y);
        a8 = _mm256_fmadd_ps(a8, x, y);
        a9 = _mm256_fmadd_ps(a9, x, y);
        a10 = _mm256_fmadd_ps(a10, x, y);
        a11 = _mm256_fmadd_ps(a11, x, y);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}
#endif

/* Portable version: GCC vector extensions, as wide as the compile target allows. */
typedef float vec8 __attribute__((vector_size(32)));

static float fma_loop_portable(long iterations)
{
    const vec8 x = {0.999f, 0.999f, 0.999f, 0.999f, 0.999f, 0.999f, 0.999f, 0.999f};
    const vec8 y = {0.001f, 0.001f, 0.001f, 0.001f, 0.001f, 0.001f, 0.001f, 0.001f};
    vec8 a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x, a8 = x, a9 = x,
         a10 = x, a11 = x;
    for (long i = 0; i < iterations; i++) {
        a0 = a0 * x + y;
        a1 = a1 * x + y;
        a2 = a2 * x + y;
        a3 = a3 * x + y;
        a4 = a4 * x + y;
        a5 = a5 * x + y;
        a6 = a6 * x + y;
        a7 = a7 * x + y;
        a8 = a8 * x + y;
        a9 = a9 * x + y;
        a10 = a10 * x + y;
        a11 = a11 * x + y;
    }
    const vec8 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    return s[0];
}

#ifdef HAVE_X86_AVX2_PATH
/* iterations x 12 vector FMAs of 16 lanes: 384 FLOP per iteration. */
__attribute__((target("avx512f"))) static float fma_loop_avx512(long iterations)
{
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(0.001f);
    __m512 a[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) a[i] = _mm512_set1_ps((float)i);
    for (long i = 0; i < iterations; i++)
        for (int j = 0; j < ACCUMULATORS; j++) a[j] = _mm512_fmadd_ps(a[j], x, y);
    __m512 s = a[0];
    for (int j = 1; j < ACCUMULATORS; j++) s = _mm512_add_ps(s, a[j]);
    return _mm512_reduce_add_ps(s);
}
#endif

/* The widest FMA the CPU runs: 16 lanes (AVX-512), 8 (AVX2 + FMA), or the portable loop. */
static int fma_lanes(void)
{
#ifdef HAVE_X86_AVX2_PATH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 16;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 8;
#endif
    return 0;
}

static float fma_loop(long iterations)
{
#ifdef HAVE_X86_AVX2_PATH
    if (fma_lanes() == 16) return fma_loop_avx512(iterations);
    if (fma_lanes() == 8) return fma_loop_avx2(iterations);
#endif
    return fma_loop_portable(iterations);
}

static volatile float fma_peak_sink;

fma_peak fma_peak_measure(int threads, int reps, double seconds)
{
    if (threads < 1) threads = 1;
    if (reps < 1) reps = 1;
    const double flops_per_iteration = ACCUMULATORS * (fma_lanes() == 16 ? 16 : 8) * 2.0;
    /* Calibrate the iteration count to about `seconds` on one thread. */
    long iterations = 1000000;
    for (;;) {
        const double t0 = bench_now_seconds(1);
        fma_peak_sink = fma_loop(iterations);
        const double dt = bench_now_seconds(1) - t0;
        if (dt > 0.05) {
            iterations = (long)(iterations * seconds / dt) + 1;
            break;
        }
        iterations *= 4;
    }
    double *rates = malloc(sizeof(double) * (size_t)reps);
    double best = 0.0;
    for (int r = 0; r < reps; r++) {
        float sum = 0.0f;
        const double t0 = bench_now_seconds(threads);
#pragma omp parallel num_threads(threads) reduction(+ : sum)
        sum += fma_loop(iterations);
        const double dt = bench_now_seconds(threads) - t0;
        fma_peak_sink = sum;
        rates[r] = threads * (double)iterations * flops_per_iteration / dt * 1e-9;
        if (rates[r] > best) best = rates[r];
    }
    const int lanes = fma_lanes();
    fma_peak result = {best, bench_median(rates, reps),
                       lanes == 16 ? "avx512f" : lanes == 8 ? "avx2+fma" : "portable"};
    free(rates);
    return result;
}
