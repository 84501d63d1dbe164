/* Text utilities shared by the task-data readers and the BLEU scorer: whole-file reading, UTF-8
 * checks, a growable byte buffer and a string-to-index map (open addressing, linear probing). */
#include "io/text.h"
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- growable byte buffer ---- */

static int reserve(text_buffer *buffer, size_t extra)
{
    if (extra > SIZE_MAX - buffer->len - 1) return -1;
    const size_t need = buffer->len + extra + 1; /* + the NUL */
    if (need <= buffer->cap) return 0;
    size_t cap = buffer->cap ? buffer->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : 2 * cap;
    char *data = realloc(buffer->data, cap);
    if (!data) return -1;
    buffer->data = data;
    buffer->cap = cap;
    return 0;
}

int text_append(text_buffer *buffer, const char *bytes, size_t n)
{
    if (reserve(buffer, n) != 0) return -1;
    if (n) memcpy(buffer->data + buffer->len, bytes, n);
    buffer->len += n;
    buffer->data[buffer->len] = '\0';
    return 0;
}

int text_push(text_buffer *buffer, char c) { return text_append(buffer, &c, 1); }

int text_push_utf8(text_buffer *buffer, uint32_t cp)
{
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | cp >> 18);
        out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return text_append(buffer, out, n);
}

void text_buffer_clear(text_buffer *buffer)
{
    buffer->len = 0;
    if (buffer->data) buffer->data[0] = '\0';
}

void text_buffer_free(text_buffer *buffer)
{
    free(buffer->data);
    buffer->data = NULL;
    buffer->len = buffer->cap = 0;
}

char *text_take(text_buffer *buffer)
{
    if (!buffer->data && text_append(buffer, "", 0) != 0) return NULL;
    char *data = buffer->data;
    buffer->data = NULL;
    buffer->len = buffer->cap = 0;
    return data;
}

/* ---- files ---- */

spdf_status text_read_file(const char *path, char **data, size_t *len)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return spdf_fail(SPDF_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        const int err = errno;
        close(fd);
        return spdf_fail(SPDF_EIO, "cannot read %s: %s", path, strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return spdf_fail(SPDF_EIO, "cannot read %s: it is a directory", path);
    }
    text_buffer buffer = {0};
    char chunk[65536];
    for (;;) {
        const ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            const int err = errno;
            close(fd);
            text_buffer_free(&buffer);
            return spdf_fail(SPDF_EIO, "cannot read %s: %s", path, strerror(err));
        }
        if (got == 0) break;
        if (text_append(&buffer, chunk, (size_t)got) != 0) {
            close(fd);
            text_buffer_free(&buffer);
            return spdf_fail(SPDF_ENOMEM, "out of memory reading %s", path);
        }
    }
    close(fd);
    *len = buffer.len;
    *data = text_take(&buffer);
    if (!*data) return spdf_fail(SPDF_ENOMEM, "out of memory reading %s", path);
    return SPDF_OK;
}

spdf_status text_check_utf8(const char *path, const char *data, size_t len)
{
    int64_t line = 1;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        const size_t n = utf8_decode(data + i, len - i, &cp);
        if (n == 0)
            return spdf_fail(SPDF_EFORMAT, "%s:%lld: invalid UTF-8 (byte 0x%02X at offset %zu)",
                             path, (long long)line, (unsigned)(unsigned char)data[i], i);
        if (cp == 0)
            return spdf_fail(SPDF_EFORMAT, "%s:%lld: NUL byte at offset %zu", path, (long long)line,
                             i);
        if (cp == '\n') line++;
        i += n;
    }
    return SPDF_OK;
}

size_t text_bom_length(const char *data, size_t len)
{
    return len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* ---- UTF-8 ---- */

size_t utf8_decode(const char *str, size_t n, uint32_t *code_point)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    if (s[0] < 0x80) {
        *code_point = s[0];
        return 1;
    }
    size_t len;
    uint32_t cp, min;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, cp = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, cp = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, cp = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    *code_point = cp;
    return len;
}

int unicode_is_space(uint32_t cp)
{
    if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* ---- string -> index map ---- */

/* FNV-1a over the bytes, then a final avalanche so that the low bits used for the slot mix well. */
static uint64_t hash_bytes(const char *key, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

static int map_grow(text_map *map)
{
    const size_t cap = map->cap ? 2 * map->cap : 64;
    text_map_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < map->cap; i++) {
        const text_map_slot *old = &map->slots[i];
        if (!old->key) continue;
        size_t j = (size_t)old->hash & (cap - 1);
        while (slots[j].key) j = (j + 1) & (cap - 1);
        slots[j] = *old;
    }
    free(map->slots);
    map->slots = slots;
    map->cap = cap;
    return 0;
}

int text_map_intern(text_map *map, const char *key, size_t key_len, int64_t value_if_new,
                    int64_t *value, int *inserted)
{
    if (2 * (map->count + 1) > map->cap && map_grow(map) != 0) return -1;
    const uint64_t h = hash_bytes(key, key_len);
    size_t j = (size_t)h & (map->cap - 1);
    for (; map->slots[j].key; j = (j + 1) & (map->cap - 1)) {
        const text_map_slot *slot = &map->slots[j];
        if (slot->hash == h && slot->key_len == key_len && memcmp(slot->key, key, key_len) == 0) {
            *value = slot->value;
            if (inserted) *inserted = 0;
            return 0;
        }
    }
    char *copy = malloc(key_len + 1);
    if (!copy) return -1;
    memcpy(copy, key, key_len);
    copy[key_len] = '\0';
    map->slots[j] = (text_map_slot){copy, key_len, h, value_if_new};
    map->count++;
    *value = value_if_new;
    if (inserted) *inserted = 1;
    return 0;
}

void text_map_free(text_map *map)
{
    for (size_t i = 0; i < map->cap; i++) free(map->slots[i].key);
    free(map->slots);
    map->slots = NULL;
    map->cap = map->count = 0;
}
