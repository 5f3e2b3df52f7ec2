/* CRC-32 (IEEE 802.3, reflected 0xEDB88320, zlib's conventions): crc =
 * thm_crc32(crc, buf, n) chains like zlib.crc32(buf, crc); start with 0.
 * The link's frames and journal records and the model's hidden-state
 * checksum use this one. Bitwise, no table: it costs no flash on a watch,
 * and neither use is hot (one d_model row per decoded token, one frame). */
#ifndef THM_CRC32_H
#define THM_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t thm_crc32(uint32_t crc, const void *buf, size_t n);

#endif /* THM_CRC32_H */
