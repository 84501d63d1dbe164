/* Dense GEMM benchmark: every linear-layer GEMM of the two tracked model shapes (forward,
 * backward-data, backward-weight of the QKV, attention-projection, MLP and MLP-projection layers
 * and of the LM head), median GFLOP/s of ref and of the first other available backend side by
 * side (their calls alternate, so both see the same background load), their ratio, the share of
 * the machine's FMA peak measured in the same run, and the fastest repetition.
 * Usage: bench_gemm [--threads N] [--reps R] [--shape small|gpt2|all] [--clock wall|cpu]
 *                   [--markdown] */
#include "backend/backend.h"
#include "fma_peak.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct model_shape {
    const char *name;
    int64_t C, tokens, V; /* channels, B*T, vocabulary */
} model_shape;

static const model_shape models[] = {
    {"small", 384, 1024, 256},  /* bench_train "small": C=384, B*T=8*128, V=256 */
    {"gpt2", 768, 256, 50304},  /* GPT-2 124M: C=768, B*T=4*64, V=50304 */
};

typedef struct gemm_shape {
    char name[48];
    spdf_transpose ta, tb;
    int64_t M, N, K;
    float beta;
} gemm_shape;

/* The linear layers as (name, out features, in features); y (tokens,OC) = x (tokens,IC) W^T. */
static int model_gemms(const model_shape *m, gemm_shape *out)
{
    const struct {
        const char *layer;
        int64_t oc, ic;
    } layers[] = {{"qkv", 3 * m->C, m->C}, {"attproj", m->C, m->C}, {"fc", 4 * m->C, m->C},
                  {"fcproj", m->C, 4 * m->C}, {"lmhead", m->V, m->C}};
    int n = 0;
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int64_t oc = layers[l].oc, ic = layers[l].ic, t = m->tokens;
        gemm_shape *g = &out[n++];
        *g = (gemm_shape){"", SPDF_NO_TRANS, SPDF_TRANS, t, oc, ic, 0.0f};
        snprintf(g->name, sizeof g->name, "%s fwd", layers[l].layer);
        g = &out[n++];
        *g = (gemm_shape){"", SPDF_NO_TRANS, SPDF_NO_TRANS, t, ic, oc, 0.0f};
        snprintf(g->name, sizeof g->name, "%s bwd-data", layers[l].layer);
        g = &out[n++];
        *g = (gemm_shape){"", SPDF_TRANS, SPDF_NO_TRANS, oc, ic, t, 1.0f};
        snprintf(g->name, sizeof g->name, "%s bwd-weight", layers[l].layer);
    }
    return n;
}

/* 64-byte aligned, like the model's activations and parameters (spdf_aligned_alloc). */
static float *random_buffer(int64_t count, unsigned seed)
{
    float *x = aligned_alloc(64, (sizeof(float) * (size_t)count + 63) / 64 * 64);
    if (!x) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < count; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return x;
}

static void call_gemm(const spdf_backend_ops *ops, int threads, const gemm_shape *g,
                      const float *A, const float *B, float *C)
{
    const int64_t lda = g->ta == SPDF_NO_TRANS ? g->K : g->M;
    const int64_t ldb = g->tb == SPDF_NO_TRANS ? g->N : g->K;
    ops->gemm(threads, g->ta, g->tb, g->M, g->N, g->K, 1.0f, A, lda, B, ldb, g->beta, C, g->N);
}

/* Median and fastest seconds per call of two backends, their calls alternating so that both see
 * the same background load (one warm-up call each first). */
static void time_pair(const spdf_backend_ops *ops[2], int threads, const gemm_shape *g,
                      const float *A, const float *B, float *C, int reps, double median[2],
                      double fastest[2])
{
    double *times[2] = {malloc(sizeof(double) * (size_t)reps),
                        malloc(sizeof(double) * (size_t)reps)};
    for (int b = 0; b < 2; b++) call_gemm(ops[b], threads, g, A, B, C);
    for (int r = 0; r < reps; r++)
        for (int b = 0; b < 2; b++) {
            const double t0 = bench_now_seconds(threads);
            call_gemm(ops[b], threads, g, A, B, C);
            times[b][r] = bench_now_seconds(threads) - t0;
        }
    for (int b = 0; b < 2; b++) {
        median[b] = bench_median(times[b], reps); /* sorts */
        fastest[b] = times[b][0];
        free(times[b]);
    }
}

typedef struct result {
    const char *model;
    gemm_shape shape;
    double ref, fast, fast_fastest; /* GFLOP/s: medians, and the fastest repetition */
} result;

static void print_table(const result *rows, int n, const char *fast_name, double peak,
                        int markdown)
{
    if (markdown)
        printf("| model | GEMM | op | M | N | K | ref GFLOP/s | %s GFLOP/s | %s/ref "
               "| %s %% of peak | %s fastest rep |\n"
               "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
               fast_name, fast_name, fast_name, fast_name);
    else
        printf("%-6s %-20s %-3s %6s %6s %6s %10s %10s %7s %8s %10s\n", "model", "gemm", "op", "M",
               "N", "K", "ref", fast_name, "ratio", "%peak", "fastest");
    for (int i = 0; i < n; i++) {
        const gemm_shape *g = &rows[i].shape;
        const char op[3] = {g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', 0};
        printf(markdown
                   ? "| %s | %s | %s | %lld | %lld | %lld | %.1f | %.1f | %.2f | %.0f %% | %.1f |\n"
                   : "%-6s %-20s %-3s %6lld %6lld %6lld %10.1f %10.1f %7.2f %7.0f%% %10.1f\n",
               rows[i].model, g->name, op, (long long)g->M, (long long)g->N, (long long)g->K,
               rows[i].ref, rows[i].fast, rows[i].fast / rows[i].ref, 100.0 * rows[i].fast / peak,
               rows[i].fast_fastest);
    }
}

int main(int argc, char **argv)
{
    int threads = omp_get_max_threads(), reps = 7, markdown = 0, cpu_clock = 0;
    const char *which = "all";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) which = argv[++i];
        else if (strcmp(argv[i], "--markdown") == 0) markdown = 1;
        else if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc)
            cpu_clock = strcmp(argv[++i], "cpu") == 0;
        else {
            fprintf(stderr,
                    "usage: %s [--threads N] [--reps R] [--shape small|gpt2|all] "
                    "[--clock wall|cpu] [--markdown]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps < 5) reps = 5;
    if (threads < 1) threads = 1;
    bench_use_cpu_clock(cpu_clock);

    const spdf_backend_ops *fast = NULL;
    for (int b = 0; b < spdf_backend_registry_count(); b++) {
        const spdf_backend_ops *ops = spdf_backend_registry_get(b);
        if (ops != &spdf_backend_ref && ops->available()) {
            fast = ops;
            break;
        }
    }
    const char *fast_name = fast ? fast->name : "ref";
    /* The peak is measured before and after the GEMMs; the larger of the two is the reference,
     * so background load during one measurement does not flatter the GEMMs. */
    const fma_peak before = fma_peak_measure(threads, 7, 0.3);
    result rows[2 * 15];
    int n_rows = 0;
    double total_flops = 0.0, total_ref = 0.0, total_fast = 0.0;
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        if (strcmp(which, "all") != 0 && strcmp(which, models[m].name) != 0) continue;
        gemm_shape shapes[15];
        const int n = model_gemms(&models[m], shapes);
        for (int s = 0; s < n; s++) {
            const gemm_shape *g = &shapes[s];
            float *A = random_buffer(g->M * g->K, 1u + (unsigned)s);
            float *B = random_buffer(g->K * g->N, 1000u + (unsigned)s);
            float *C = random_buffer(g->M * g->N, 2000u + (unsigned)s);
            const double flops = 2.0 * (double)g->M * (double)g->N * (double)g->K;
            const spdf_backend_ops *pair[2] = {&spdf_backend_ref, fast ? fast : &spdf_backend_ref};
            double median[2], fastest[2];
            time_pair(pair, threads, g, A, B, C, reps, median, fastest);
            rows[n_rows++] = (result){models[m].name, *g, flops / median[0] * 1e-9,
                                      flops / median[1] * 1e-9, flops / fastest[1] * 1e-9};
            total_flops += flops;
            total_ref += median[0];
            total_fast += median[1];
            free(A);
            free(B);
            free(C);
        }
    }
    const fma_peak after = fma_peak_measure(threads, 7, 0.3);
    const double peak = before.best > after.best ? before.best : after.best;
    printf("threads %d, median of %d reps, %s clock; FMA peak (%s, best of 7 before and 7 "
           "after) %.1f GFLOP/s (before %.1f, after %.1f)\n\n",
           threads, reps, cpu_clock ? "CPU" : "wall", before.method, peak, before.best, after.best);
    print_table(rows, n_rows, fast_name, peak, markdown);
    if (total_flops > 0)
        printf("\nall GEMMs above, time-weighted: ref %.1f GFLOP/s, %s %.1f GFLOP/s (%.0f %% of "
               "peak), ratio %.2f\n",
               total_flops / total_ref * 1e-9, fast_name, total_flops / total_fast * 1e-9,
               100.0 * total_flops / total_fast * 1e-9 / peak, total_ref / total_fast);
    return 0;
}
