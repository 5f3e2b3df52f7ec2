/* The unnormalised Walsh-Hadamard transform in place (Sylvester order: v
 * times [[H, H], [H, -H]]), shared by the CQ rotation, the CQ row gather
 * and the Hadamard MLP's transform. n a power of two; |result| <= n max|v|. */
#ifndef THM_FWHT_H
#define THM_FWHT_H

#include <stdint.h>

static inline void thm_fwht_i32(int32_t *v, int32_t n)
{
    for (int32_t h = 1; h < n; h <<= 1)
        for (int32_t i = 0; i < n; i += 2 * h)
            for (int32_t j = i; j < i + h; j++) {
                const int32_t a = v[j], b = v[j + h];
                v[j] = a + b;
                v[j + h] = a - b;
            }
}

/* v [n] = x [n] widened with the transform's first two stages done (a
 * 4-point transform of each 4 inputs); n a multiple of 4. The fast paths'
 * start: their vector stages take it from h = 4. */
static inline void thm_fwht4_s8_s32(const int8_t *x, int32_t n, int32_t *v)
{
    for (int32_t i = 0; i < n; i += 4) {
        const int32_t a = x[i], b = x[i + 1], c = x[i + 2], d = x[i + 3];
        const int32_t s0 = a + b, s1 = a - b, s2 = c + d, s3 = c - d;
        v[i] = s0 + s2;
        v[i + 1] = s1 + s3;
        v[i + 2] = s0 - s2;
        v[i + 3] = s1 - s3;
    }
}

#endif /* THM_FWHT_H */
