/* Private core services shared by every part of the library: error reporting, aligned memory,
 * the counter-based RNG and checksums.  Nothing here is exported. */
#ifndef SPDF_CORE_H
#define SPDF_CORE_H

#include "spdf.h"

#include <stddef.h>
#include <stdint.h>

/* ---- vector code ----
 * The library is built for the baseline x86-64 so that one binary runs anywhere; its hot loops
 * (the reference GEMM, the layers, the optimizer) are compiled again for x86-64-v3 (AVX2 + FMA)
 * and x86-64-v4 (AVX-512), and the dynamic loader picks the version the CPU runs (GCC function
 * multi-versioning, an ifunc). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__) && \
    !defined(__AVX2__)
#define SPDF_VECTOR_CLONES                                                                     \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SPDF_VECTOR_CLONES
#endif

/* ---- errors ---- */

/* Records a printf-style detail for spdf_last_error() and returns status, so that a failing
 * path reads `return spdf_fail(SPDF_EINVAL, "B must be positive, got %d", B);`. */
spdf_status spdf_fail(spdf_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Clears the detail at the start of a public call. */
void spdf_clear_error(void);

/* Argument checks at the top of public functions. */
#define SPDF_CHECK_ARG(cond)                                                                   \
    do {                                                                                       \
        if (!(cond)) return spdf_fail(SPDF_EINVAL, "%s: invalid argument: %s", __func__, #cond); \
    } while (0)

/* The size of the first release's layout of a struct: through its last member then. */
#define SPDF_SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/* ---- handle tags ----
 * Every handle struct starts with a uint32_t tag naming its kind (after SQLite's safety magic
 * numbers): public functions check it on entry, so a handle of another kind is SPDF_EINVAL
 * instead of a crash or garbage, and the free functions overwrite it with HANDLE_FREED, so a
 * freed handle is usually caught too.  Best effort: freed memory may have been reused. */
typedef enum handle_tag {
    HANDLE_CONTEXT = 0x53504301u, /* "SPC" + kind */
    HANDLE_MODEL = 0x53504302u,
    HANDLE_OPTIMIZER = 0x53504303u,
    HANDLE_MASK = 0x53504304u,
    HANDLE_PHASE = 0x53504305u,
    HANDLE_TOKENIZER = 0x53504306u,
    HANDLE_DATASET = 0x53504307u,
    HANDLE_SAMPLER = 0x53504308u,
    HANDLE_BLEU = 0x53504309u,
    HANDLE_TASK_DATA = 0x5350430Au,
    HANDLE_FREED = 0x535043FFu
} handle_tag;

/* SPDF_EINVAL naming `function` and `name` unless handle is non-NULL and tagged `tag`. */
spdf_status spdf_check_handle(const void *handle, handle_tag tag, const char *function,
                              const char *name);
/* 1 if the handle carries the tag (free functions ignore anything else). */
int spdf_handle_is(const void *handle, handle_tag tag);
/* Marks a handle freed, just before its memory is released. */
void spdf_handle_poison(void *handle);

#define SPDF_CHECK_HANDLE(handle, tag) SPDF_TRY(spdf_check_handle((handle), (tag), __func__, #handle))

/* Propagates a failing status. */
#define SPDF_TRY(expr)                                                                         \
    do {                                                                                       \
        spdf_status spdf_try_status_ = (expr);                                                 \
        if (spdf_try_status_ != SPDF_OK) return spdf_try_status_;                              \
    } while (0)

/* Validates the struct_size of a caller's configuration struct: it must cover at least the
 * first release's members (min_size) and must be set. */
spdf_status spdf_check_struct_size(size_t struct_size, size_t min_size, const char *type_name);

/* Extensible structs (docs/api-conventions.md) begin with `size_t struct_size`, which the
 * caller's release set to its sizeof; members are only ever appended.  These two move one across
 * the API so that a caller built against an older, smaller layout keeps working:
 *
 * spdf_struct_read: a configuration coming in.  `into` (size bytes, this release's layout)
 * holds the defaults; the caller's first struct_size bytes of `from` are copied over them, so
 * members the caller does not know keep their defaults.  into's struct_size becomes size.
 *
 * spdf_struct_write: a result going out.  The first struct_size bytes of `result` (size bytes,
 * this release's layout) are copied to `to`, and nothing past them is written; to's
 * struct_size becomes the number of bytes written (the smaller of the two sizes), so the
 * caller sees which members were filled.
 *
 * Both fail with SPDF_EINVAL if struct_size is below min_size (the first layout's size). */
spdf_status spdf_struct_read(void *into, size_t size, const void *from, size_t min_size,
                             const char *type_name);
/* A struct_size larger than this release's (a program built against a newer header) is read
 * when the members this release does not know are all zero, and refused with
 * SPDF_EUNSUPPORTED otherwise. */
spdf_status spdf_struct_write(void *to, const void *result, size_t size, size_t min_size,
                              const char *type_name);

/* ---- memory ---- */

#define SPDF_ALIGNMENT 64
/* 64-byte aligned allocation; the size is rounded up to the alignment.  NULL on failure. */
void *spdf_aligned_alloc(size_t bytes);
void *spdf_aligned_calloc(size_t bytes);
void spdf_aligned_free(void *ptr);
/* Address space for `bytes` that is committed lazily, page by page, as it is written; reads of
 * untouched pages give zeros.  Parameter, gradient and moment arrays live in such reservations,
 * sized for the dense model, so the in-place phase changes never move them. */
void *spdf_reserve(size_t bytes);
void spdf_reserve_free(void *ptr, size_t bytes);
/* Gives the whole pages after the first `used` bytes back to the system; they read as zeros. */
void spdf_reserve_trim(void *ptr, size_t used, size_t bytes);
/* Commits the whole pages after the first `used` bytes ahead of their first write, contents
 * unchanged, the threads sharing the work: MADV_POPULATE_WRITE (Linux >= 5.14) is several times
 * faster than faulting pages in one by one; older kernels get the page-by-page touch. */
void spdf_reserve_commit(void *ptr, size_t used, size_t bytes, int num_threads);
/* n * size with overflow check: returns 0 and sets *bytes, or -1 on overflow. */
int spdf_mul_size(size_t n, size_t size, size_t *bytes);

/* ---- random numbers ---- */

/* Philox4x32-10: a counter-based generator.  Block `counter` of stream `stream` under `seed` is a
 * pure function of those three numbers, so any thread can draw any part of a stream and the
 * result never depends on thread count, scheduling or platform. */
typedef struct spdf_rng {
    uint64_t seed;
    uint64_t stream;
} spdf_rng;

void spdf_philox(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t out[4]);
/* Uniform float in [0,1) from a 32-bit word (24 random bits). */
float spdf_uniform_from_u32(uint32_t x);
/* out[i] = uniform [0,1) for element i of the stream, i in [first, first + n). */
void spdf_rng_uniform(const spdf_rng *rng, uint64_t first, size_t n, float *out);
/* out[i] = N(mean, std) for element i of the stream (Box-Muller on pairs of uniforms). */
void spdf_rng_normal(const spdf_rng *rng, uint64_t first, size_t n, float mean, float std,
                     float *out);
/* Uniform integer in [0, bound) for element i of the stream (64-bit multiply-shift). */
uint64_t spdf_rng_below(const spdf_rng *rng, uint64_t i, uint64_t bound);
/* Inverted dropout of x[0..n) as elements first .. first + n - 1 of the stream: element i is
 * kept, x[i] * scale, when word i of the stream is >= threshold, else set to 0.  The same call on
 * a gradient is the backward pass. */
void spdf_rng_dropout(const spdf_rng *rng, uint64_t first, size_t n, uint32_t threshold,
                      float scale, float *x);

/* ---- checksums ---- */

/* CRC-32C (Castagnoli), the checksum of libspdf's file formats; crc is the running value,
 * start with 0. */
uint32_t spdf_crc32c(uint32_t crc, const void *data, size_t len);

#endif
