/* SVG line plots (svg_plot.h). */
#include "svg_plot.h"

#include <math.h>
#include <stdio.h>

void svg_begin(FILE *out, int width, int height)
{
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height, width, height);
}

static double to_x(const panel *p, double x)
{
    return p->left + (x - p->xmin) / (p->xmax - p->xmin) * p->width;
}

static double to_y(const panel *p, double y)
{
    return p->top + (p->ymax - y) / (p->ymax - p->ymin) * p->height;
}

/* A "nice" tick spacing (1, 2 or 5 x 10^k) giving about `target` ticks over [lo, hi]. */
static double tick_step(double lo, double hi, int target)
{
    const double raw = (hi - lo) / target;
    const double magnitude = pow(10, floor(log10(raw)));
    const double fraction = raw / magnitude;
    return (fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10) * magnitude;
}

void svg_text(FILE *out, double x, double y, const char *anchor, int size, const char *text,
              const char *extra)
{
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size,
            extra ? extra : "");
    for (const char *c = text; *c; c++) {
        if (*c == '<') fputs("&lt;", out);
        else if (*c == '>') fputs("&gt;", out);
        else if (*c == '&') fputs("&amp;", out);
        else fputc(*c, out);
    }
    fputs("</text>\n", out);
}

void draw_axes(FILE *out, const panel *p, const char *title, const char *xlabel, const char *ylabel)
{
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
            p->left, p->top, p->width, p->height);
    const double xs = tick_step(p->xmin, p->xmax, 5), ys = tick_step(p->ymin, p->ymax, 5);
    char label[32];
    for (double x = ceil(p->xmin / xs) * xs; x <= p->xmax + 1e-9; x += xs) {
        const double px = to_x(p, x);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", px, p->top, px,
                p->top + p->height);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", px,
                p->top + p->height, px, p->top + p->height + 5);
        snprintf(label, sizeof label, "%g", x);
        svg_text(out, px, p->top + p->height + 18, "middle", 11, label, NULL);
    }
    for (double y = ceil(p->ymin / ys) * ys; y <= p->ymax + 1e-9; y += ys) {
        const double py = to_y(p, y);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", p->left, py,
                p->left + p->width, py);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", p->left - 5, py,
                p->left, py);
        snprintf(label, sizeof label, "%g", y);
        svg_text(out, p->left - 8, py + 4, "end", 11, label, NULL);
    }
    svg_text(out, p->left + p->width / 2, p->top - 10, "middle", 14, title, " font-weight=\"bold\"");
    svg_text(out, p->left + p->width / 2, p->top + p->height + 36, "middle", 12, xlabel, NULL);
    char rotate[96];
    snprintf(rotate, sizeof rotate, " transform=\"rotate(-90 %.1f %.1f)\"", p->left - 42, p->top + p->height / 2);
    svg_text(out, p->left - 42, p->top + p->height / 2, "middle", 12, ylabel, rotate);
}

/* x of point i of c: its step, or with `time` (a curve of the same steps) its wall seconds. */
static double x_of(const curve *c, const curve *time, int i)
{
    return time && i < time->count ? time->values[i] : (double)c->steps[i];
}

/* The curve as a trailing moving average over `window` points, at most ~500 vertices, against
 * steps or (time != NULL) wall seconds. */
void draw_curve(FILE *out, const panel *p, const curve *c, const curve *time, int window,
                const char *color, const char *dash)
{
    if (!c || c->count == 0) return;
    if (window < 1) window = 1;
    const int stride = c->count / 500 + 1;
    fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s%s%s points=\"", color,
            dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    double sum = 0;
    for (int i = 0; i < c->count; i++) {
        sum += c->values[i];
        if (i >= window) sum -= c->values[i - window];
        const int n = i + 1 < window ? i + 1 : window;
        if (i % stride == 0 || i == c->count - 1)
            fprintf(out, "%.1f,%.1f ", to_x(p, x_of(c, time, i)), to_y(p, fmin(fmax(sum / n, p->ymin), p->ymax)));
    }
    fputs("\"/>\n", out);
}

void draw_points(FILE *out, const panel *p, const curve *c, const char *color)
{
    if (!c) return;
    for (int i = 0; i < c->count; i++)
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"white\" stroke=\"%s\" stroke-width=\"1.8\"/>\n",
                to_x(p, (double)c->steps[i]), to_y(p, fmin(fmax(c->values[i], p->ymin), p->ymax)), color);
}

/* A white box behind `rows` legend entries, so curves do not run through the text. */
void legend_box(FILE *out, const panel *p, int rows)
{
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"204\" height=\"%d\" fill=\"white\" fill-opacity=\"0.85\" "
                 "stroke=\"#bbb\"/>\n", p->left + p->width - 216, p->top + 6, 18 * rows + 6);
}

void legend_entry(FILE *out, const panel *p, int row, const char *color, const char *dash, int marker,
                  const char *text)
{
    const double x = p->left + p->width - 210, y = p->top + 18 + 18 * row;
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.8\"%s%s%s/>\n",
            x, y - 4, x + 24, y - 4, color, dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    if (marker)
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"white\" stroke=\"%s\" stroke-width=\"1.8\"/>\n",
                x + 12, y - 4, color);
    svg_text(out, x + 30, y, "start", 11, text, NULL);
}

/* Data range of smoothed curves (and raw points, with window 1), then a margin. */
void range_reset(panel *p)
{
    p->xmin = 0;
    p->xmax = 1;
    p->ymin = INFINITY;
    p->ymax = -INFINITY;
}

void range_extend(panel *p, const curve *c, const curve *time, int window)
{
    if (!c) return;
    double sum = 0;
    for (int i = 0; i < c->count; i++) {
        sum += c->values[i];
        if (i >= window) sum -= c->values[i - window];
        const double v = sum / (i + 1 < window ? i + 1 : window);
        if (isfinite(v)) {
            p->ymin = fmin(p->ymin, v);
            p->ymax = fmax(p->ymax, v);
        }
        p->xmax = fmax(p->xmax, x_of(c, time, i));
    }
}

void range_finish(panel *p)
{
    if (!isfinite(p->ymin)) {
        p->ymin = 0;
        p->ymax = 1;
    }
    const double margin = 0.05 * (p->ymax - p->ymin) + 1e-6;
    p->ymin -= margin;
    p->ymax += margin;
}

