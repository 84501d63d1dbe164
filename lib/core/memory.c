/* Aligned allocation: every tensor starts on a cache line so kernels can use aligned loads. */
#include "core.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int spdf_mul_size(size_t n, size_t size, size_t *bytes)
{
    if (size != 0 && n > SIZE_MAX / size) return -1;
    *bytes = n * size;
    return 0;
}

void *spdf_aligned_alloc(size_t bytes)
{
    if (bytes == 0) bytes = SPDF_ALIGNMENT;
    if (bytes > SIZE_MAX - SPDF_ALIGNMENT) return NULL;
    size_t rounded = (bytes + SPDF_ALIGNMENT - 1) / SPDF_ALIGNMENT * SPDF_ALIGNMENT;
    return aligned_alloc(SPDF_ALIGNMENT, rounded);
}

void *spdf_aligned_calloc(size_t bytes)
{
    void *ptr = spdf_aligned_alloc(bytes);
    if (ptr) memset(ptr, 0, bytes);
    return ptr;
}

void spdf_aligned_free(void *ptr) { free(ptr); }

void *spdf_reserve(size_t bytes)
{
    if (bytes == 0) bytes = 1;
    void *ptr = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    return ptr == MAP_FAILED ? NULL : ptr;
}

void spdf_reserve_free(void *ptr, size_t bytes)
{
    if (ptr) munmap(ptr, bytes == 0 ? 1 : bytes);
}

/* Commits [from, from + len) of a reservation: in one call where the kernel can, else by
 * writing every page's first byte back to itself (contents are kept either way). */
static void commit_range(char *at, size_t len, size_t page)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(at, len, MADV_POPULATE_WRITE) == 0) return;
#endif
    for (size_t off = 0; off < len; off += page) {
        volatile char *p = at + off;
        *p = *p;
    }
}

void spdf_reserve_commit(void *ptr, size_t used, size_t bytes, int num_threads)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), chunk = (size_t)1 << 24; /* 16 MiB */
    const size_t start = (used + page - 1) / page * page;
    if (!ptr || start >= bytes) return;
    const size_t end = (bytes + page - 1) / page * page; /* the mapping ends on a page */
    const int64_t chunks = (int64_t)((end - start + chunk - 1) / chunk);
#pragma omp parallel for num_threads(num_threads) schedule(dynamic, 1)
    for (int64_t i = 0; i < chunks; i++) {
        const size_t from = start + (size_t)i * chunk;
        commit_range((char *)ptr + from, end - from < chunk ? end - from : chunk, page);
    }
}

void spdf_reserve_trim(void *ptr, size_t used, size_t bytes)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t start = (used + page - 1) / page * page;
    if (ptr && start < bytes) madvise((char *)ptr + start, bytes - start, MADV_DONTNEED);
}
