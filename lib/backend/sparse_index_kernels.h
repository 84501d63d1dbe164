/* The inner loops of the index kernels, written once for every vector width.  A file that
 * includes this header defines first:
 *   KERNEL_WIDTH      floats per vector (8 or 16)
 *   KERNEL_SPLIT      partial sums per product row (1 or 2): KERNEL_SPLIT * SPARSE_TOKENS /
 *                     KERNEL_WIDTH independent accumulators must cover the FMA latency times the
 *                     FMA ports (8 on current x86 cores)
 *   KERNEL_TARGET     the function attribute that enables the instruction set, or nothing
 * and optionally KERNEL_BROADCAST4(b, values), which sets b[0..3] to the four values each
 * broadcast to a vector (the default broadcasts each from memory).  It then gets the static
 * functions kernel_gather and kernel_sample, and KERNEL_SET to define its sparse_kernel_set.
 *
 * The same source at the same width and split computes the same bits whatever the target: the
 * tests compile the AVX-512 configuration for AVX2 as well, so an AVX2 machine runs the logic an
 * AVX-512 machine runs.  Vectors are GCC/clang vector extensions; loads and stores go through
 * macros, never through functions taking or returning vectors, so no vector crosses a call. */
#include "backend/sparse_index.h"

#include <stdint.h>
#include <string.h>

#if !defined(KERNEL_WIDTH) || !defined(KERNEL_SPLIT) || !defined(KERNEL_TARGET)
#error "define KERNEL_WIDTH, KERNEL_SPLIT and KERNEL_TARGET before including sparse_index_kernels.h"
#endif

#define KERNEL_GATHER_VECTORS (SPARSE_TOKENS / KERNEL_WIDTH)
#define KERNEL_SAMPLE_VECTORS (SPARSE_SAMPLE_TOKENS / KERNEL_WIDTH)
_Static_assert(SPARSE_TOKENS % KERNEL_WIDTH == 0, "a panel row holds whole vectors");
_Static_assert(KERNEL_GATHER_VECTORS == 64 / KERNEL_WIDTH && KERNEL_SAMPLE_VECTORS <= 256 / KERNEL_WIDTH,
               "the switches below list 64 / KERNEL_WIDTH and 128 / KERNEL_WIDTH cases");
_Static_assert(KERNEL_WIDTH == 8 || KERNEL_WIDTH == 16, "the reductions fold to 8 lanes");

typedef float kernel_vector __attribute__((vector_size(4 * KERNEL_WIDTH), aligned(4), may_alias));
typedef float kernel_vector8 __attribute__((vector_size(32), aligned(4), may_alias));

/* The kernel set of this instantiation, with the instruction set it needs and its transposes. */
#define KERNEL_SET(name_, isa_, pack_, unpack_)                                                \
    {                                                                                          \
        .isa = (isa_), .name = (name_), .vector_floats = KERNEL_WIDTH, .gather = kernel_gather, \
        .sample = kernel_sample, .pack = (pack_), .unpack = (unpack_),                          \
    }

#define KERNEL_INLINE static inline __attribute__((always_inline)) KERNEL_TARGET
#define KERNEL_LOAD(p) (*(const kernel_vector *)(const void *)(p))
#define KERNEL_STORE(p, v) (*(kernel_vector *)(void *)(p) = (v))

#ifndef KERNEL_BROADCAST4
#define KERNEL_BROADCAST4(b, values)                                                           \
    do {                                                                                       \
        for (int u_ = 0; u_ < 4; u_++) (b)[u_] = (kernel_vector){0} + (values)[u_];              \
    } while (0)
#endif

/* ---- gathered products (forward, backward-data) ---- */

/* Rows [r0, r1) of the product for one token block of nv vectors:
 *   y_t[(r - r0) * SPARSE_TOKENS + token] = sum over tiles and entries k of values[k] * x_t[row],
 * the entries of a segment taken four at a time: one 4-byte load of their indices and one
 * broadcast of their values serve four rows of the operand panel. */
KERNEL_INLINE void gather_rows(const gather_plan *p, const float *restrict values,
                               const float *restrict x_t, float *restrict y_t, int64_t r0,
                               int64_t r1, const int nv)
{
    const int64_t stride = p->rows + 1;
    const uint8_t *restrict index = p->index;
    for (int64_t t = 0; t < p->tiles; t++) {
        const float *x = x_t + t * SPARSE_TILE * SPARSE_TOKENS;
        const int32_t *restrict seg = p->seg + t * stride;
        for (int64_t r = r0; r < r1; r++) {
            float *y = y_t + (r - r0) * SPARSE_TOKENS;
            kernel_vector acc[KERNEL_SPLIT][KERNEL_GATHER_VECTORS];
            for (int j = 0; j < nv; j++) {
                acc[0][j] = t == 0 ? (kernel_vector){0} : KERNEL_LOAD(y + KERNEL_WIDTH * j);
                for (int s = 1; s < KERNEL_SPLIT; s++) acc[s][j] = (kernel_vector){0};
            }
            const int32_t end = seg[r + 1];
            int32_t k = seg[r];
            for (; k + 4 <= end; k += 4) {
                uint32_t four;
                memcpy(&four, index + k, sizeof four);
                kernel_vector b[4];
                KERNEL_BROADCAST4(b, values + k);
                for (int u = 0; u < 4; u++) {
                    const float *xr = x + (size_t)((four >> (8 * u)) & 0xffu) * SPARSE_TOKENS;
                    for (int j = 0; j < nv; j++)
                        acc[u % KERNEL_SPLIT][j] += b[u] * KERNEL_LOAD(xr + KERNEL_WIDTH * j);
                }
            }
            for (; k < end; k++) {
                const float *xr = x + (size_t)index[k] * SPARSE_TOKENS;
                const float v = values[k];
                for (int j = 0; j < nv; j++) acc[0][j] += v * KERNEL_LOAD(xr + KERNEL_WIDTH * j);
            }
            for (int j = 0; j < nv; j++) {
                kernel_vector sum = acc[0][j];
                for (int s = 1; s < KERNEL_SPLIT; s++) sum += acc[s][j];
                KERNEL_STORE(y + KERNEL_WIDTH * j, sum);
            }
        }
    }
}

/* One copy of gather_rows per vector count, so that every accumulator is a register. */
static KERNEL_TARGET void kernel_gather(const gather_plan *p, const float *values,
                                        const float *x_t, float *y_t, int64_t r0, int64_t r1,
                                        int valid)
{
    switch ((valid + KERNEL_WIDTH - 1) / KERNEL_WIDTH) {
    case 1: gather_rows(p, values, x_t, y_t, r0, r1, 1); break;
    case 2: gather_rows(p, values, x_t, y_t, r0, r1, 2); break;
    case 3: gather_rows(p, values, x_t, y_t, r0, r1, 3); break;
    case 4: gather_rows(p, values, x_t, y_t, r0, r1, 4); break;
#if KERNEL_WIDTH == 8 /* SPARSE_TOKENS / KERNEL_WIDTH == 8: the enum is invisible to #if */
    case 5: gather_rows(p, values, x_t, y_t, r0, r1, 5); break;
    case 6: gather_rows(p, values, x_t, y_t, r0, r1, 6); break;
    case 7: gather_rows(p, values, x_t, y_t, r0, r1, 7); break;
    case 8: gather_rows(p, values, x_t, y_t, r0, r1, 8); break;
#endif
    default: break;
    }
}

/* ---- sampled product (the weight gradient at the pattern) ---- */

/* Lane-local pairwise sums, the AVX2 vhaddps: [a0+a1, a2+a3, b0+b1, b2+b3 | the same upper]. */
#define KERNEL_HADD(a, b)                                                                      \
    (__builtin_shufflevector((a), (b), 0, 2, 8, 10, 4, 6, 12, 14) +                            \
     __builtin_shufflevector((a), (b), 1, 3, 9, 11, 5, 7, 13, 15))

/* A vector as 8 lanes: wider ones add their upper half to their lower half. */
#if KERNEL_WIDTH == 16
#define KERNEL_FOLD8(v)                                                                        \
    (__builtin_shufflevector((v), (v), 0, 1, 2, 3, 4, 5, 6, 7) +                               \
     __builtin_shufflevector((v), (v), 8, 9, 10, 11, 12, 13, 14, 15))
#else
#define KERNEL_FOLD8(v) (v)
#endif

/* dv[0..count) += dot(d, x_i) over nv vectors, x_i the operand row of entry i, count <= 8;
 * entries past count repeat entry 0 and are dropped. */
KERNEL_INLINE void sample8(float *restrict dv, const float *restrict d, const float *restrict x,
                           const uint8_t *restrict index, int count, const int nv)
{
    const float *xs[8];
    kernel_vector a[8];
    for (int i = 0; i < 8; i++) {
        xs[i] = x + (size_t)index[i < count ? i : 0] * SPARSE_SAMPLE_TOKENS;
        a[i] = (kernel_vector){0};
    }
    for (int j = 0; j < nv; j++) {
        const kernel_vector dj = KERNEL_LOAD(d + KERNEL_WIDTH * j);
        for (int i = 0; i < 8; i++) a[i] += dj * KERNEL_LOAD(xs[i] + KERNEL_WIDTH * j);
    }
    kernel_vector8 f[8];
    for (int i = 0; i < 8; i++) f[i] = KERNEL_FOLD8(a[i]);
    const kernel_vector8 u0 = KERNEL_HADD(KERNEL_HADD(f[0], f[1]), KERNEL_HADD(f[2], f[3]));
    const kernel_vector8 u1 = KERNEL_HADD(KERNEL_HADD(f[4], f[5]), KERNEL_HADD(f[6], f[7]));
    const kernel_vector8 sum = __builtin_shufflevector(u0, u1, 0, 1, 2, 3, 8, 9, 10, 11) +
                               __builtin_shufflevector(u0, u1, 4, 5, 6, 7, 12, 13, 14, 15);
    if (count == 8) {
        *(kernel_vector8 *)(void *)dv = *(const kernel_vector8 *)(const void *)dv + sum;
        return;
    }
    float lanes[8];
    memcpy(lanes, &sum, sizeof lanes);
    for (int i = 0; i < count; i++) dv[i] += lanes[i];
}

/* The same for count <= 4 entries with two accumulators each (even and odd vectors), so that
 * eight chains still cover the FMA latency. */
KERNEL_INLINE void sample4(float *restrict dv, const float *restrict d, const float *restrict x,
                           const uint8_t *restrict index, int count, const int nv)
{
    const float *xs[4];
    kernel_vector a[4], b[4];
    for (int i = 0; i < 4; i++) {
        xs[i] = x + (size_t)index[i < count ? i : 0] * SPARSE_SAMPLE_TOKENS;
        a[i] = b[i] = (kernel_vector){0};
    }
    int j = 0;
    for (; j + 1 < nv; j += 2) {
        const kernel_vector d0 = KERNEL_LOAD(d + KERNEL_WIDTH * j);
        const kernel_vector d1 = KERNEL_LOAD(d + KERNEL_WIDTH * (j + 1));
        for (int i = 0; i < 4; i++) {
            a[i] += d0 * KERNEL_LOAD(xs[i] + KERNEL_WIDTH * j);
            b[i] += d1 * KERNEL_LOAD(xs[i] + KERNEL_WIDTH * (j + 1));
        }
    }
    if (j < nv) {
        const kernel_vector d0 = KERNEL_LOAD(d + KERNEL_WIDTH * j);
        for (int i = 0; i < 4; i++) a[i] += d0 * KERNEL_LOAD(xs[i] + KERNEL_WIDTH * j);
    }
    kernel_vector8 f[4];
    for (int i = 0; i < 4; i++) f[i] = KERNEL_FOLD8(a[i] + b[i]);
    const kernel_vector8 u = KERNEL_HADD(KERNEL_HADD(f[0], f[1]), KERNEL_HADD(f[2], f[3]));
    float lanes[8];
    memcpy(lanes, &u, sizeof lanes);
    for (int i = 0; i < count; i++) dv[i] += lanes[i] + lanes[i + 4];
}

/* Gradients of the non-zeros of rows [r0, r1) in column tile t for one token block. */
KERNEL_INLINE void sample_rows(const gather_plan *p, float *dvalues, const float *d_t,
                               const float *x_t, int64_t t, int64_t r0, int64_t r1, const int nv)
{
    const float *x = x_t + t * SPARSE_TILE * SPARSE_SAMPLE_TOKENS;
    const int32_t *seg = p->seg + t * (p->rows + 1);
    for (int64_t r = r0; r < r1; r++) {
        const float *d = d_t + r * SPARSE_SAMPLE_TOKENS;
        const int32_t end = seg[r + 1];
        int32_t k = seg[r];
        for (; k + 8 <= end; k += 8) sample8(dvalues + k, d, x, p->index + k, 8, nv);
        for (; k < end; k += 4)
            sample4(dvalues + k, d, x, p->index + k, end - k < 4 ? end - k : 4, nv);
    }
}

static KERNEL_TARGET void kernel_sample(const gather_plan *p, float *dvalues, const float *d_t,
                                        const float *x_t, int64_t t, int64_t r0, int64_t r1,
                                        int valid)
{
    /* Full blocks, the common case, get their own copy; a partial one runs on all vectors of
     * the zero-padded panel row that hold a valid token. */
    const int nv = (valid + KERNEL_WIDTH - 1) / KERNEL_WIDTH;
    if (nv == KERNEL_SAMPLE_VECTORS) sample_rows(p, dvalues, d_t, x_t, t, r0, r1, KERNEL_SAMPLE_VECTORS);
    else sample_rows(p, dvalues, d_t, x_t, t, r0, r1, nv);
}
