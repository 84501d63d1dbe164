/* Machine peak: FP32 FMA GFLOP/s of one thread and of all threads, from a loop of independent
 * fused multiply-adds (no memory traffic).  The GEMM benchmark reports against this number.
 * Usage: bench_peak [--threads N] [--reps R] [--clock wall|cpu] */
#include "fma_peak.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int threads = omp_get_max_threads(), reps = 7;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc)
            bench_use_cpu_clock(!strcmp(argv[++i], "cpu"));
        else {
            fprintf(stderr, "usage: %s [--threads N] [--reps R] [--clock wall|cpu]\n", argv[0]);
            return 2;
        }
    }
    for (int t = 1; t <= threads; t = t < threads && 2 * t > threads ? threads : 2 * t) {
        const fma_peak p = fma_peak_measure(t, reps, 0.5);
        printf("FMA peak (%s): %d thread%s  best %7.1f GFLOP/s  median %7.1f GFLOP/s  "
               "(%.1f GFLOP/s per thread, %d reps)\n",
               p.method, t, t == 1 ? " " : "s", p.best, p.median, p.best / t, reps);
        fflush(stdout);
    }
    return 0;
}
