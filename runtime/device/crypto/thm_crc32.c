#include "thm_crc32.h"

/* CRC-32 (zlib's), a byte a step from a 256-entry table built on first use
 * (1 KiB of RAM; the firmware is single-threaded): about 7 instructions a
 * byte on the watch against 43 bit by bit, for the model's per-token hidden
 * CRC and every link frame. */
static uint32_t table[256];
static int table_ready;

static void build_table(void)
{
    for (uint32_t v = 0; v < 256; v++) {
        uint32_t c = v;
        for (int b = 0; b < 8; b++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        table[v] = c;
    }
    table_ready = 1;
}

uint32_t thm_crc32(uint32_t crc, const void *buf, size_t n)
{
    const uint8_t *p = (const uint8_t *)buf;
    if (!table_ready) build_table();
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = (crc >> 8) ^ table[(crc ^ p[i]) & 0xFFu];
    return ~crc;
}
