/* SHA-256 written from the FIPS 180-4 description; checked against hashlib in
 * tests/image. Byte-at-a-time message schedule keeps it endian-neutral. */
#include "thm_sha256.h"

static const uint32_t thm_sha256_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static uint32_t thm_ror32(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

static void thm_sha256_block(uint32_t s[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16)
             | ((uint32_t)p[4 * i + 2] << 8) | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        const uint32_t s0 = thm_ror32(w[i - 15], 7) ^ thm_ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const uint32_t s1 = thm_ror32(w[i - 2], 17) ^ thm_ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (int i = 0; i < 64; i++) {
        const uint32_t t1 = h + (thm_ror32(e, 6) ^ thm_ror32(e, 11) ^ thm_ror32(e, 25))
                          + ((e & f) ^ (~e & g)) + thm_sha256_k[i] + w[i];
        const uint32_t t2 = (thm_ror32(a, 2) ^ thm_ror32(a, 13) ^ thm_ror32(a, 22))
                          + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

void thm_sha256_init(thm_sha256_ctx *c)
{
    static const uint32_t iv[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    for (int i = 0; i < 8; i++) c->state[i] = iv[i];
    c->bytes = 0;
    c->fill = 0;
}

void thm_sha256_update(thm_sha256_ctx *c, const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *)data;
    c->bytes += n;
    while (n > 0) {
        if (c->fill == 0 && n >= 64) {
            thm_sha256_block(c->state, p);
            p += 64;
            n -= 64;
            continue;
        }
        const size_t take = (64u - c->fill) < n ? (64u - c->fill) : n;
        for (size_t i = 0; i < take; i++) c->block[c->fill + i] = p[i];
        c->fill += (uint32_t)take;
        p += take;
        n -= take;
        if (c->fill == 64) {
            thm_sha256_block(c->state, c->block);
            c->fill = 0;
        }
    }
}

void thm_sha256_final(thm_sha256_ctx *c, uint8_t digest[32])
{
    const uint64_t bits = c->bytes * 8u;
    c->block[c->fill++] = 0x80;
    if (c->fill > 56) {
        while (c->fill < 64) c->block[c->fill++] = 0;
        thm_sha256_block(c->state, c->block);
        c->fill = 0;
    }
    while (c->fill < 56) c->block[c->fill++] = 0;
    for (int i = 0; i < 8; i++) c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    thm_sha256_block(c->state, c->block);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(c->state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(c->state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(c->state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)c->state[i];
    }
}
