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

#endif /* THM_FWHT_H */
