/* Little-endian fields of the file formats, independent of the host's byte order. */
#ifndef SPDF_BYTE_ORDER_H
#define SPDF_BYTE_ORDER_H

#include <stdint.h>
#include <string.h>

static inline uint32_t load_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t load_u64le(const unsigned char *p)
{
    return (uint64_t)load_u32le(p) | (uint64_t)load_u32le(p + 4) << 32;
}

static inline void store_u32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i);
}

static inline void store_u64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i);
}

static inline int32_t load_i32le(const unsigned char *p) { return (int32_t)load_u32le(p); }
static inline int64_t load_i64le(const unsigned char *p) { return (int64_t)load_u64le(p); }
static inline void store_i32le(unsigned char *p, int32_t v) { store_u32le(p, (uint32_t)v); }
static inline void store_i64le(unsigned char *p, int64_t v) { store_u64le(p, (uint64_t)v); }

/* IEEE-754 binary32 as its little-endian bit pattern. */
static inline float load_f32le(const unsigned char *p)
{
    const uint32_t bits = load_u32le(p);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static inline void store_f32le(unsigned char *p, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    store_u32le(p, bits);
}

#endif
