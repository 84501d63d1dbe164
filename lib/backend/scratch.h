/* Scratch memory for the backends' kernels, kept between calls: allocating megabytes per call
 * costs a page fault and a zeroed page for every 4 KiB touched. */
#ifndef SPDF_SCRATCH_H
#define SPDF_SCRATCH_H

#include <stddef.h>

/* A 64-byte aligned buffer of at least `floats` floats, reused from an earlier release when one
 * is large enough; NULL if out of memory.  *capacity receives its size for scratch_release.
 * Thread-safe. */
float *scratch_acquire(size_t floats, size_t *capacity);
/* Returns a buffer for reuse (the cache keeps the largest few and frees the rest). */
void scratch_release(float *buffer, size_t capacity);

#endif
