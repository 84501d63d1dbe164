/* SVG line plots drawn by hand for the demo's loss.svg and `spdf plot`: panels with axes and
 * "nice" ticks, curves as trailing moving averages, points, legends. */
#ifndef SPDF_CLI_SVG_PLOT_H
#define SPDF_CLI_SVG_PLOT_H

#include "training_loop.h"

#include <stdio.h>

typedef struct panel {
    double left, top, width, height;       /* plot area in pixels */
    double xmin, xmax, ymin, ymax;          /* data range */
} panel;

/* The <svg> element of a width x height drawing on a white background. */
void svg_begin(FILE *out, int width, int height);

/* Text at (x, y), XML-escaped; extra: further attributes (" fill=...") or NULL. */
void svg_text(FILE *out, double x, double y, const char *anchor, int size, const char *text,
              const char *extra);
void draw_axes(FILE *out, const panel *p, const char *title, const char *xlabel, const char *ylabel);
/* The curve as a trailing moving average over `window` points, at most ~500 vertices, against
 * steps or (time != NULL, a curve of the same steps) wall seconds; dash NULL: solid. */
void draw_curve(FILE *out, const panel *p, const curve *c, const curve *time, int window,
                const char *color, const char *dash);
void draw_points(FILE *out, const panel *p, const curve *c, const char *color);
/* A white box behind `rows` legend entries, then entry `row`: a line (dashed, with a marker). */
void legend_box(FILE *out, const panel *p, int rows);
void legend_entry(FILE *out, const panel *p, int row, const char *color, const char *dash, int marker,
                  const char *text);
/* The data range: reset, extend by curves (smoothed as drawn), then add a margin. */
void range_reset(panel *p);
void range_extend(panel *p, const curve *c, const curve *time, int window);
void range_finish(panel *p);

#endif /* SPDF_CLI_SVG_PLOT_H */
