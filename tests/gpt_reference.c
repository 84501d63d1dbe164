/* Naive double-precision GPT-2 forward pass: the oracle for the gradient check. */
#include "gpt_reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void layernorm(double *out, const double *x, const double *w, const double *b, int C)
{
    double mean = 0, var = 0;
    for (int c = 0; c < C; c++) mean += x[c];
    mean /= C;
    for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
    var /= C;
    const double rstd = 1.0 / sqrt(var + 1e-5);
    for (int c = 0; c < C; c++) out[c] = (x[c] - mean) * rstd * w[c] + b[c];
}

/* y (OC) = W (OC,IC) x + b */
static void affine(double *y, const double *x, const double *W, const double *b, int IC, int OC)
{
    for (int o = 0; o < OC; o++) {
        double s = b ? b[o] : 0.0;
        for (int i = 0; i < IC; i++) s += W[(size_t)o * IC + i] * x[i];
        y[o] = s;
    }
}

static double gelu(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}

double reference_loss(const reference_shape *s, const double *params, const int32_t *tokens,
                      const int32_t *targets, const float *weights, int B, int T)
{
    const int C = s->C, V = s->V, NH = s->NH, hs = C / NH;
    const double *wte = params, *wpe = wte + (size_t)V * C;
    const double *p = wpe + (size_t)s->maxT * C;
    const double *blocks = p;
    const size_t block_size = (size_t)C * 2 + 3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C +
                              4 * C + 4 * C * C + C;
    const double *lnfw = blocks + block_size * s->L, *lnfb = lnfw + C;

    double *x = calloc((size_t)B * T * C, sizeof(double));
    double *h = malloc(sizeof(double) * C), *qkv = malloc(sizeof(double) * (size_t)T * 3 * C);
    double *ln = malloc(sizeof(double) * (size_t)T * C), *y = malloc(sizeof(double) * (size_t)T * C);
    double *fc = malloc(sizeof(double) * 4 * C), *o = malloc(sizeof(double) * C);
    double *logits = malloc(sizeof(double) * V), *att = malloc(sizeof(double) * T);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++)
                x[((size_t)b * T + t) * C + c] = wte[(size_t)tokens[b * T + t] * C + c] + wpe[(size_t)t * C + c];

    for (int l = 0; l < s->L; l++) {
        const double *q = blocks + block_size * l;
        const double *ln1w = q, *ln1b = ln1w + C, *qkvw = ln1b + C, *qkvb = qkvw + 3 * C * C;
        const double *projw = qkvb + 3 * C, *projb = projw + C * C, *ln2w = projb + C;
        const double *ln2b = ln2w + C, *fcw = ln2b + C, *fcb = fcw + 4 * C * C;
        const double *fcprojw = fcb + 4 * C, *fcprojb = fcprojw + 4 * C * C;
        for (int b = 0; b < B; b++) {
            double *xb = x + (size_t)b * T * C;
            for (int t = 0; t < T; t++) {
                layernorm(ln + (size_t)t * C, xb + (size_t)t * C, ln1w, ln1b, C);
                affine(qkv + (size_t)t * 3 * C, ln + (size_t)t * C, qkvw, qkvb, C, 3 * C);
            }
            for (int t = 0; t < T; t++)
                for (int hd = 0; hd < NH; hd++) {
                    double max = -INFINITY, sum = 0;
                    for (int t2 = 0; t2 <= t; t2++) {
                        double dot = 0;
                        for (int i = 0; i < hs; i++)
                            dot += qkv[(size_t)t * 3 * C + hd * hs + i] * qkv[(size_t)t2 * 3 * C + C + hd * hs + i];
                        att[t2] = dot / sqrt((double)hs);
                        if (att[t2] > max) max = att[t2];
                    }
                    for (int t2 = 0; t2 <= t; t2++) sum += (att[t2] = exp(att[t2] - max));
                    for (int i = 0; i < hs; i++) {
                        double acc = 0;
                        for (int t2 = 0; t2 <= t; t2++) acc += att[t2] / sum * qkv[(size_t)t2 * 3 * C + 2 * C + hd * hs + i];
                        y[(size_t)t * C + hd * hs + i] = acc;
                    }
                }
            for (int t = 0; t < T; t++) {
                affine(o, y + (size_t)t * C, projw, projb, C, C);
                for (int c = 0; c < C; c++) xb[(size_t)t * C + c] += o[c];
                layernorm(h, xb + (size_t)t * C, ln2w, ln2b, C);
                affine(fc, h, fcw, fcb, C, 4 * C);
                for (int i = 0; i < 4 * C; i++) fc[i] = gelu(fc[i]);
                affine(o, fc, fcprojw, fcprojb, 4 * C, C);
                for (int c = 0; c < C; c++) xb[(size_t)t * C + c] += o[c];
            }
        }
    }
    double total = 0, weight_sum = 0;
    for (int i = 0; i < B * T; i++) {
        const double w = weights ? weights[i] : 1.0;
        weight_sum += w;
        if (w == 0.0) continue;
        layernorm(h, x + (size_t)i * C, lnfw, lnfb, C);
        affine(logits, h, wte, NULL, C, V);
        double max = logits[0], sum = 0;
        for (int v = 1; v < V; v++) if (logits[v] > max) max = logits[v];
        for (int v = 0; v < V; v++) sum += exp(logits[v] - max);
        total += w * (max + log(sum) - logits[targets[i]]);
    }
    free(x); free(h); free(qkv); free(ln); free(y); free(fc); free(o); free(logits); free(att);
    return total / weight_sum;
}
