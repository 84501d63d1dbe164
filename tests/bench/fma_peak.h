/* The machine's FP32 FMA peak, measured with a loop of independent fused multiply-adds that
 * needs no memory: the ceiling a GEMM kernel on this CPU can approach. */
#ifndef SPDF_BENCH_FMA_PEAK_H
#define SPDF_BENCH_FMA_PEAK_H

typedef struct fma_peak {
    double best;   /* GFLOP/s, fastest of the repetitions */
    double median; /* GFLOP/s, median of the repetitions */
    const char *method; /* the widest FMA measured: "avx512f", "avx2+fma" or "portable" */
} fma_peak;

/* Runs the loop on `threads` threads (one OpenMP region, each thread its own accumulators)
 * `reps` times of about `seconds` each. */
fma_peak fma_peak_measure(int threads, int reps, double seconds);

/* The benchmarks' clock: the wall clock (default), or with bench_use_cpu_clock(1) the CPU time
 * of the whole process divided by the thread count, which does not count the time threads spend
 * descheduled by other jobs on a shared machine (run with OMP_WAIT_POLICY=passive, so that
 * waiting threads use no CPU either). */
void bench_use_cpu_clock(int enable);
/* Seconds on the chosen clock; `threads` is the number of threads busy in the interval. */
double bench_now_seconds(int threads);
/* Median of n values (sorts them). */
double bench_median(double *values, int n);

#endif
