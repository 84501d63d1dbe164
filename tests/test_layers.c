/* The vectorised layer kernels (lib/model) against naive double-precision loops written from the
 * formulas, at shapes that exercise every vector path: head sizes that are and are not multiples
 * of 8 and 32, sequence lengths that are not multiples of 8 or 32, 1 and 2 threads.  (The
 * model's gradient check covers the layers' calculus at tiny shapes; this covers the kernels.) */
#include "model/layers.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *random_floats(int64_t n, unsigned seed, float range)
{
    float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = range * ((float)(seed >> 8) / 8388608.0f - 1.0f);
    }
    return x;
}

/* |got - want| <= rel * scale + abs, element by element; reports the first failure. */
static void expect_close(const char *what, const float *got, const double *want, int64_t n,
                         double rel, double abs_tol)
{
    double scale = 0.0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= rel * scale + abs_tol))
            ck_abort_msg("%s[%lld] = %.9g, reference %.9g (scale %.3g)", what, (long long)i,
                         (double)got[i], want[i], scale);
}

/* ---- attention ---- */

typedef struct attention_reference {
    double *out, *att, *dqkv; /* (B,T,C), (B,NH,T,T), (B,T,3C) */
} attention_reference;

static void attention_naive(const float *qkv, const float *dout, int B, int T, int C, int NH,
                            attention_reference *r)
{
    const int hs = C / NH;
    const int64_t C3 = 3 * (int64_t)C;
    const double scale = 1.0 / sqrt((double)hs);
    r->out = calloc((size_t)B * T * C, sizeof(double));
    r->att = calloc((size_t)B * NH * T * T, sizeof(double));
    r->dqkv = calloc((size_t)B * T * C3, sizeof(double));
    double *dp = malloc(sizeof(double) * (size_t)T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *base = qkv + (int64_t)b * T * C3 + h * hs;
            double *dbase = r->dqkv + (int64_t)b * T * C3 + h * hs;
            for (int t = 0; t < T; t++) {
                double *p = r->att + (((int64_t)b * NH + h) * T + t) * T, max = -INFINITY;
                for (int u = 0; u <= t; u++) {
                    double s = 0.0;
                    for (int i = 0; i < hs; i++) s += (double)base[t * C3 + i] * base[u * C3 + C + i];
                    p[u] = s * scale;
                    max = fmax(max, p[u]);
                }
                double sum = 0.0;
                for (int u = 0; u <= t; u++) sum += p[u] = exp(p[u] - max);
                for (int u = 0; u <= t; u++) p[u] /= sum;
                const float *dy = dout + ((int64_t)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) {
                    double o = 0.0;
                    for (int u = 0; u <= t; u++) o += p[u] * base[u * C3 + 2 * C + i];
                    r->out[((int64_t)b * T + t) * C + h * hs + i] = o;
                }
                /* backward of row t */
                double pdp = 0.0;
                for (int u = 0; u <= t; u++) {
                    dp[u] = 0.0;
                    for (int i = 0; i < hs; i++) {
                        dp[u] += (double)dy[i] * base[u * C3 + 2 * C + i];
                        dbase[u * C3 + 2 * C + i] += p[u] * dy[i];
                    }
                    pdp += p[u] * dp[u];
                }
                for (int u = 0; u <= t; u++) {
                    const double ds = p[u] * (dp[u] - pdp) * scale;
                    for (int i = 0; i < hs; i++) {
                        dbase[t * C3 + i] += ds * base[u * C3 + C + i];
                        dbase[u * C3 + C + i] += ds * base[t * C3 + i];
                    }
                }
            }
        }
    free(dp);
}

static void check_attention(int B, int T, int C, int NH, int threads)
{
    const spdf_exec ex = {&spdf_backend_ref, threads};
    const int64_t C3 = 3 * (int64_t)C;
    float *qkv = random_floats((int64_t)B * T * C3, 11u + (unsigned)T, 1.5f);
    float *dout = random_floats((int64_t)B * T * C, 7u + (unsigned)C, 1.0f);
    float *out = malloc(sizeof(float) * (size_t)B * T * C);
    float *att = malloc(sizeof(float) * (size_t)B * NH * T * T);
    float *dqkv = malloc(sizeof(float) * (size_t)(B * T * C3));
    float *scratch = malloc(sizeof(float) * (size_t)attention_scratch_floats(threads, T, C, NH));
    /* dqkv is overwritten: poison it first */
    for (int64_t i = 0; i < B * T * C3; i++) dqkv[i] = NAN;
    attention_reference r;
    attention_naive(qkv, dout, B, T, C, NH, &r);
    attention_forward(&ex, out, att, scratch, qkv, B, T, C, NH);
    char what[96];
    snprintf(what, sizeof what, "att B%d T%d C%d NH%d threads %d", B, T, C, NH, threads);
    expect_close(what, att, r.att, (int64_t)B * NH * T * T, 1e-5, 1e-7);
    snprintf(what, sizeof what, "out B%d T%d C%d NH%d threads %d", B, T, C, NH, threads);
    expect_close(what, out, r.out, (int64_t)B * T * C, 1e-5, 1e-7);
    attention_backward(&ex, dqkv, scratch, dout, qkv, att, B, T, C, NH);
    snprintf(what, sizeof what, "dqkv B%d T%d C%d NH%d threads %d", B, T, C, NH, threads);
    expect_close(what, dqkv, r.dqkv, (int64_t)B * T * C3, 1e-4, 1e-7);
    free(r.out);
    free(r.att);
    free(r.dqkv);
    free(qkv);
    free(dout);
    free(out);
    free(att);
    free(dqkv);
    free(scratch);
}

/* head sizes 32 + 8 (40), 8 + 4 (12), 64, 3; T = 1, 37, 70 */
static const int attention_shapes[][4] = {
    {2, 37, 80, 2}, {1, 70, 24, 2}, {2, 33, 128, 2}, {1, 1, 40, 1}, {3, 9, 6, 2},
};

START_TEST(attention_matches_naive)
{
    const int *s = attention_shapes[_i];
    for (int threads = 1; threads <= 2; threads++) check_attention(s[0], s[1], s[2], s[3], threads);
}
END_TEST

/* The decoder's row function computes the same bits as the training forward. */
START_TEST(attention_row_equals_forward)
{
    const int B = 1, T = 45, C = 96, NH = 2, hs = C / NH;
    const spdf_exec ex = {&spdf_backend_ref, 2};
    float *qkv = random_floats((int64_t)B * T * 3 * C, 5u, 2.0f);
    float *out = malloc(sizeof(float) * (size_t)T * C), *att = malloc(sizeof(float) * T * T * NH);
    float *scratch = malloc(sizeof(float) * (size_t)attention_scratch_floats(2, T, C, NH));
    float row_out[48], row_att[45];
    attention_forward(&ex, out, att, scratch, qkv, B, T, C, NH);
    for (int h = 0; h < NH; h++)
        for (int t = 0; t < T; t++) {
            attention_row(row_out, row_att, qkv + t * 3 * C + h * hs, qkv + C + h * hs,
                          qkv + 2 * C + h * hs, 3 * C, t + 1, hs);
            ck_assert(memcmp(row_att, att + ((int64_t)h * T + t) * T, sizeof(float) * (t + 1)) == 0);
            ck_assert(memcmp(row_out, out + (int64_t)t * C + h * hs, sizeof(float) * hs) == 0);
        }
    free(qkv);
    free(out);
    free(att);
    free(scratch);
}
END_TEST

/* ---- GELU, LayerNorm, cross-entropy ---- */

START_TEST(gelu_matches_naive)
{
    const int64_t n = 4099; /* not a multiple of any vector width */
    float *x = random_floats(n, 3u, 9.0f), *dy = random_floats(n, 4u, 1.0f);
    x[0] = 0.0f;
    x[1] = -120.0f; /* exp clamps */
    x[2] = 120.0f;
    x[3] = 1e-6f;
    float *y = malloc(sizeof(float) * n), *dx = malloc(sizeof(float) * n);
    double *want_y = malloc(sizeof(double) * n), *want_dx = malloc(sizeof(double) * n);
    const double k = sqrt(2.0 / M_PI);
    for (int64_t i = 0; i < n; i++) {
        const double v = x[i], u = k * (v + 0.044715 * v * v * v), th = tanh(u);
        want_y[i] = 0.5 * v * (1.0 + th);
        want_dx[i] = dy[i] * (0.5 * (1.0 + th) +
                              0.5 * v * (1.0 - th * th) * k * (1.0 + 3.0 * 0.044715 * v * v));
    }
    for (int threads = 1; threads <= 2; threads++) {
        const spdf_exec ex = {&spdf_backend_ref, threads};
        gelu_forward(&ex, y, x, n);
        gelu_backward(&ex, dx, x, dy, n);
        for (int64_t i = 0; i < n; i++) {
            /* relative to the value and to |x| (tanh's absolute error times x/2) */
            const double tol_y = 2e-6 * fabs(want_y[i]) + 1e-7 * fabs((double)x[i]) + 1e-30;
            if (!(fabs(y[i] - want_y[i]) <= tol_y))
                ck_abort_msg("gelu(%.9g) = %.9g, reference %.9g", (double)x[i], (double)y[i], want_y[i]);
            if (!(fabs(dx[i] - want_dx[i]) <= 2e-6 * fabs(want_dx[i]) + 1e-6 * fabs((double)dy[i])))
                ck_abort_msg("gelu'(%.9g) dy = %.9g, reference %.9g", (double)x[i], (double)dx[i],
                             want_dx[i]);
        }
    }
    free(x);
    free(dy);
    free(y);
    free(dx);
    free(want_y);
    free(want_dx);
}
END_TEST

START_TEST(layernorm_matches_naive)
{
    const int64_t N = 13;
    const int C = 77;
    float *x = random_floats(N * C, 8u, 3.0f), *w = random_floats(C, 9u, 1.0f);
    float *bias = random_floats(C, 10u, 1.0f), *dy = random_floats(N * C, 12u, 1.0f);
    float *y = malloc(sizeof(float) * N * C), *mean = malloc(sizeof(float) * N);
    float *rstd = malloc(sizeof(float) * N), *dx = calloc((size_t)(N * C), sizeof(float));
    float *dw = calloc(C, sizeof(float)), *db = calloc(C, sizeof(float));
    double *want_y = malloc(sizeof(double) * N * C), *want_dx = malloc(sizeof(double) * N * C);
    double *want_dw = calloc(C, sizeof(double)), *want_db = calloc(C, sizeof(double));
    for (int64_t r = 0; r < N; r++) {
        double m = 0.0, var = 0.0, a = 0.0, bsum = 0.0;
        for (int c = 0; c < C; c++) m += x[r * C + c];
        m /= C;
        for (int c = 0; c < C; c++) var += (x[r * C + c] - m) * (x[r * C + c] - m);
        const double s = 1.0 / sqrt(var / C + 1e-5);
        for (int c = 0; c < C; c++) {
            const double norm = (x[r * C + c] - m) * s, dnorm = (double)dy[r * C + c] * w[c];
            want_y[r * C + c] = norm * w[c] + bias[c];
            want_dw[c] += (double)dy[r * C + c] * norm;
            want_db[c] += dy[r * C + c];
            a += dnorm;
            bsum += dnorm * norm;
        }
        for (int c = 0; c < C; c++) {
            const double norm = (x[r * C + c] - m) * s, dnorm = (double)dy[r * C + c] * w[c];
            want_dx[r * C + c] = s * (dnorm - a / C - norm * bsum / C);
        }
    }
    const spdf_exec ex = {&spdf_backend_ref, 2};
    layernorm_forward(&ex, y, mean, rstd, x, w, bias, N, C);
    layernorm_backward(&ex, dx, dw, db, dy, x, w, mean, rstd, N, C);
    expect_close("layernorm y", y, want_y, N * C, 1e-5, 0.0);
    expect_close("layernorm dx", dx, want_dx, N * C, 1e-5, 0.0);
    expect_close("layernorm dweight", dw, want_dw, C, 1e-5, 0.0);
    expect_close("layernorm dbias", db, want_db, C, 1e-5, 0.0);
    free(x);
    free(w);
    free(bias);
    free(dy);
    free(y);
    free(mean);
    free(rstd);
    free(dx);
    free(dw);
    free(db);
    free(want_y);
    free(want_dx);
    free(want_dw);
    free(want_db);
}
END_TEST

START_TEST(crossentropy_matches_naive)
{
    const int64_t N = 5;
    const int V = 1003;
    float *logits = random_floats(N * V, 21u, 12.0f);
    int32_t targets[5] = {0, 1002, 17, 500, 3};
    float weights[5] = {0.1f, 0.2f, 0.0f, 0.3f, 0.4f};
    float losses[5], lse[5];
    float *dlogits = malloc(sizeof(float) * N * V);
    double want_losses[5], *want_d = malloc(sizeof(double) * N * V);
    for (int64_t r = 0; r < N; r++) {
        double max = -INFINITY, sum = 0.0;
        for (int v = 0; v < V; v++) max = fmax(max, logits[r * V + v]);
        for (int v = 0; v < V; v++) sum += exp(logits[r * V + v] - max);
        const double l = max + log(sum);
        want_losses[r] = l - logits[r * V + targets[r]];
        for (int v = 0; v < V; v++)
            want_d[r * V + v] = weights[r] * (exp(logits[r * V + v] - l) - (v == targets[r]));
    }
    const spdf_exec ex = {&spdf_backend_ref, 2};
    crossentropy_forward(&ex, losses, lse, logits, targets, N, V);
    crossentropy_backward(&ex, dlogits, logits, lse, targets, weights, N, V);
    expect_close("losses", losses, want_losses, N, 1e-6, 0.0);
    expect_close("dlogits", dlogits, want_d, N * V, 1e-5, 0.0);
    free(logits);
    free(dlogits);
    free(want_d);
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, attention_matches_naive, 0,
                        (int)(sizeof attention_shapes / sizeof attention_shapes[0]));
    tcase_add_test(tc, attention_row_equals_forward);
    tcase_add_test(tc, gelu_matches_naive);
    tcase_add_test(tc, layernorm_matches_naive);
    tcase_add_test(tc, crossentropy_matches_naive);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(layers_suite());
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
