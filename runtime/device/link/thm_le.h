/* Little-endian loads and stores: frames are byte streams, so fields are
 * read at their offsets without struct overlays or alignment assumptions. */
#ifndef THM_LE_H
#define THM_LE_H

#include <stdint.h>

static inline uint16_t thm_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t thm_le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void thm_put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void thm_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void thm_put64(uint8_t *p, uint64_t v) { thm_put32(p, (uint32_t)v); thm_put32(p + 4, (uint32_t)(v >> 32)); }

#endif /* THM_LE_H */
