/* Fixtures the test programs share: a context, and a scratch directory for the files a test
 * writes (after libevdev's test helper library). */
#ifndef SPDF_TEST_FIXTURES_H
#define SPDF_TEST_FIXTURES_H

#include "spdf.h"

/* A context on `backend` (NULL: the default) with `threads` threads (0: all); the test fails
 * with the library's message if it cannot be created. */
spdf_context *test_context(const char *backend, int threads);

/* A small model of the given shape (the other settings the library's defaults); the test fails
 * if it cannot be made. */
spdf_model *test_model_create(spdf_context *ctx, int32_t vocab, int32_t max_seq_len, int32_t layers,
                              int32_t heads, int32_t channels, uint64_t seed);
/* n token ids and n targets in [0, vocab), a fixed function of seed. */
void test_random_batch(int32_t *tokens, int32_t *targets, int n, int32_t vocab, unsigned seed);

/* The scratch directory: $TMPDIR/spdf-test-XXXXXX (TMPDIR unset: /tmp), made by scratch_create
 * and removed with everything in it by scratch_remove; both fit tcase_add_*_fixture. */
extern char scratch_dir[4096];
void scratch_create(void);
void scratch_remove(void);
/* "<scratch_dir>/<name>" in one of eight static buffers used in turn. */
const char *scratch_path(const char *name);
/* How many entries of the scratch directory have `needle` in their name ("" counts all). */
int scratch_count(const char *needle);

#endif
