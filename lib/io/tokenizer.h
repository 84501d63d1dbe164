/* The tokenizer handle, shared by libspdf's own byte-level BPE (bpe_tokenizer.c: training, its
 * file, the checkpoint's TOKENIZER section) and GPT-2's tokenizer files (gpt2_tokenizer.c).  Both
 * kinds are the same machine: text is cut into pieces, each piece starts as the ids of its bytes,
 * and merges of adjacent ids are applied by rank; decoding concatenates every id's bytes. */
#ifndef SPDF_IO_TOKENIZER_H
#define SPDF_IO_TOKENIZER_H

#include "spdf.h"

#include <stddef.h>
#include <stdint.h>

/* ---- a hash map from a pair of ids to an int64 ---- */

typedef struct pair_map {
    uint64_t *keys; /* left << 32 | right; UINT64_MAX marks an empty slot */
    int64_t *values;
    size_t capacity, used; /* capacity is a power of two */
} pair_map;

uint64_t pair_key(int32_t left, int32_t right);
/* Room for `expected` pairs; 0 when out of memory. */
int pair_map_init(pair_map *m, size_t expected);
void pair_map_free(pair_map *m);
/* Adds delta to the pair's value (inserting 0 first); 0 when full. */
int pair_map_add(pair_map *m, uint64_t key, int64_t delta);
/* The value of key, or -1. */
int64_t pair_map_get(const pair_map *m, uint64_t key);

/* ---- the handle ---- */

typedef enum tokenizer_kind {
    TOKENIZER_BPE = 0, /* libspdf's: ids 0..255 bytes, 256 EOT, 257 + i merge i */
    TOKENIZER_GPT2 = 1 /* read from vocab.json + merges.txt: GPT-2's ids and pre-tokeniser */
} tokenizer_kind;

struct spdf_tokenizer {
    uint32_t tag; /* HANDLE_TOKENIZER (core/core.h), first */
    tokenizer_kind kind;
    int32_t vocab_size;
    int32_t merge_count;
    int32_t end_of_text;  /* the id that ends a text; -1 when GPT-2's vocab.json has none */
    int32_t (*merges)[2]; /* (merge_count) by rank: the ids of the two parts */
    pair_map lookup;      /* (left, right) -> rank << 32 | merged id: the lowest value wins */
    int64_t *offset;      /* (vocab_size + 1) byte offsets of every id's text in `bytes` */
    unsigned char *bytes;
    int32_t byte_id[256]; /* the id of each single byte */
};

/* A zeroed, tagged handle of that kind; NULL when out of memory. */
spdf_tokenizer *tokenizer_alloc(tokenizer_kind kind);

/* Applies the tokenizer's merges to the ids s[0, n) in place, the lowest-ranked pair present
 * first (all its occurrences, left to right), until none applies; returns the new length. */
int32_t tokenizer_merge_piece(const spdf_tokenizer *tok, int32_t *s, int32_t n);

/* spdf_tokenizer_encode for a GPT-2 tokenizer (gpt2_tokenizer.c). */
spdf_status gpt2_encode(const spdf_tokenizer *tok, const unsigned char *text, size_t len,
                        int32_t *out, size_t cap, size_t *count);

/* ---- libspdf's tokenizer file (docs/token-format.md), also the checkpoint's TOKENIZER section */

/* The file image of a libspdf BPE tokenizer, CRC included (malloc'd, *size bytes); NULL when
 * out of memory. */
unsigned char *tokenizer_image(const spdf_tokenizer *tok, size_t *size);
/* Builds a tokenizer from a file image, checking everything spdf_tokenizer_load checks.
 * SPDF_EFORMAT messages start with `where` ("tokenizer 'path'"). */
spdf_status tokenizer_from_image(const unsigned char *image, size_t size, const char *where,
                                 spdf_tokenizer **out);
/* spdf_tokenizer_checksum's value. */
uint32_t tokenizer_checksum(const spdf_tokenizer *tok);

#endif
