/* CRC-32 with zlib's polynomial and conventions: crc = thm_crc32(crc, buf, n)
 * chains like zlib.crc32(buf, crc). Bitwise (no table): it runs over one
 * d_model row per decoded token, so speed does not matter and flash does. */
#ifndef THM_CRC32_H
#define THM_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t thm_crc32(uint32_t crc, const void *buf, size_t n);

#endif /* THM_CRC32_H */
