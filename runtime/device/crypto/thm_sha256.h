/* SHA-256 (FIPS 180-4), streaming, no allocation. Used to verify model images
 * on the device before commit and by the host tools through the same code. */
#ifndef THM_SHA256_H
#define THM_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t bytes;          /* message length so far */
    uint8_t block[64];       /* pending partial block */
    uint32_t fill;           /* bytes in block */
} thm_sha256_ctx;

void thm_sha256_init(thm_sha256_ctx *c);
void thm_sha256_update(thm_sha256_ctx *c, const void *data, size_t n);
void thm_sha256_final(thm_sha256_ctx *c, uint8_t digest[32]);

#endif /* THM_SHA256_H */
