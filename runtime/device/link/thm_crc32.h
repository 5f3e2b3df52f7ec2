/* CRC-32 (IEEE 802.3, reflected 0xEDB88320, as zlib.crc32): frames and
 * journal records. Table-free so it costs no flash on a watch. */
#ifndef THM_CRC32_H
#define THM_CRC32_H

#include <stdint.h>

/* Continue a CRC: start with crc = 0. */
uint32_t thm_crc32(uint32_t crc, const uint8_t *p, uint32_t n);

#endif /* THM_CRC32_H */
