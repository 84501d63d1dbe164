/* CRC-32C (Castagnoli polynomial, reflected 0x82F63B78) for file checksums, slicing-by-8:
 * eight table lookups per 8 bytes instead of one per byte (about 8x the speed of the plain
 * table), portable C, the same result on every platform. */
#include "core.h"

#include <pthread.h>

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    /* crc_table[k][n]: the CRC of byte n followed by k zero bytes */
    for (uint32_t n = 0; n < 256; n++)
        for (int k = 1; k < 8; k++)
            crc_table[k][n] = (crc_table[k - 1][n] >> 8) ^ crc_table[0][crc_table[k - 1][n] & 0xFF];
}

uint32_t spdf_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_table_once, build_table);
    const unsigned char *p = data;
    crc = ~crc;
    for (; len >= 8; len -= 8, p += 8) {
        /* the bytes are combined explicitly, so the host's byte order does not matter */
        const uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                   (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
              crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
    }
    for (; len > 0; len--, p++) crc = crc_table[0][(crc ^ *p) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
