/* What the libFuzzer harnesses of tests/fuzz share (docs/fuzzing.md): the input as a file for the
 * path-based loaders, a context for the model loaders, a failure that stops the fuzzer, and the
 * checksum fix-ups that let the CRC-fixing variants get past the checksums of the three
 * checksummed formats. */
#ifndef SPDF_FUZZ_SUPPORT_H
#define SPDF_FUZZ_SUPPORT_H

#include "spdf.h"

#include <stddef.h>
#include <stdint.h>

/* The entry point every harness defines (libFuzzer's, also called by replay_main.c). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes as the whole content of one in-memory file (a memfd rewritten on every call) and
 * that file's path, valid until the next call. */
const char *fuzz_file(const uint8_t *data, size_t size);
/* The same with two files at once: slot 0 (fuzz_file's) or 1. */
const char *fuzz_file_in(int slot, const uint8_t *data, size_t size);

/* A context on the reference backend with one thread, made on first use and kept. */
spdf_context *fuzz_context(void);

/* A property the harness checks does not hold: print and abort, so the fuzzer keeps the input. */
_Noreturn void fuzz_fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* A status a loader may return for a bad file; anything else (SPDF_EINVAL, SPDF_ESTATE, ...)
 * means the loader misjudged its own input.  Also requires a non-empty spdf_last_error(). */
void fuzz_expect_rejection(spdf_status status, const char *what);

/* What every model a loader accepts must satisfy: each tensor finite, as the loaders promise,
 * and (for models of up to max_params weights, so that fuzzing stays fast) a forward pass over a
 * few tokens that ends in SPDF_OK or SPDF_ENUMERIC, never in a crash or another status. */
void fuzz_check_model(spdf_model *model, int64_t max_params, const char *what);

/* The promise of every tokenizer: the length bytes of text encode to at most length ids inside
 * [0, vocab), none of them forbidden_id (-1: none), that decode to the same bytes. */
void fuzz_check_round_trip(const spdf_tokenizer *tok, int32_t vocab, int32_t forbidden_id, const char *text,
                           size_t length);

/* A writable copy of the input (the fuzzer's own buffer is read-only); free() it. */
uint8_t *fuzz_copy(const uint8_t *data, size_t size);

/* Rewrite the checksums (and the size fields they cover) so that only the content is judged:
 * docs/checkpoint-format.md, docs/token-format.md. */
void fix_checkpoint_checksums(uint8_t *data, size_t size);
void fix_token_file_checksums(uint8_t *data, size_t size);
void fix_tokenizer_checksum(uint8_t *data, size_t size);

/* Whether the bytes are valid UTF-8 (RFC 3629: no overlongs, surrogates or code points past
 * U+10FFFF), written independently of the library's own check. */
int fuzz_is_utf8(const uint8_t *text, size_t size);

#endif
