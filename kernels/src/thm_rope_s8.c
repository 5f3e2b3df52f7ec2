/* Half-split rotary positions (Needle pairs element i with i + D/2) from Q14
 * tables made on the host; rounding is half up, like the reference. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

void thm_rope_s8_portable(const int8_t *x, const int16_t *cos_q14, const int16_t *sin_q14, int8_t *y,
                          int32_t T, int32_t n_heads, int32_t D, int32_t pos0)
{
    const int32_t half = D / 2;
    for (int32_t t = 0; t < T; t++) {
        const int16_t *c = cos_q14 + (size_t)(pos0 + t) * half;
        const int16_t *s = sin_q14 + (size_t)(pos0 + t) * half;
        for (int32_t h = 0; h < n_heads; h++) {
            const size_t base = ((size_t)t * n_heads + h) * D;
            for (int32_t i = 0; i < half; i++) {
                const int32_t x1 = x[base + i], x2 = x[base + half + i];
                /* read both before writing: y may alias x */
                const int32_t o1 = (x1 * c[i] - x2 * s[i] + (1 << 13)) >> 14;
                const int32_t o2 = (x2 * c[i] + x1 * s[i] + (1 << 13)) >> 14;
                y[base + i] = thm_sat8(o1);
                y[base + half + i] = thm_sat8(o2);
            }
        }
    }
}

int thm_rope_s8(const int8_t *x, const int16_t *cos_q14, const int16_t *sin_q14,
                int8_t *y, int32_t T, int32_t n_heads, int32_t D, int32_t pos0,
                int32_t n_pos)
{
    if (T < 0 || n_heads < 1 || D < 2 || D % 2 || D > THM_MAX_HEAD_DIM) return THM_E_ARG;
    if (pos0 < 0 || n_pos < 0 || (int64_t)pos0 + T > n_pos) return THM_E_ARG;
    if (T == 0) return THM_OK;
    if (!x || !y || !cos_q14 || !sin_q14) return THM_E_ARG;
    THM_OP(rope_s8)(x, cos_q14, sin_q14, y, T, n_heads, D, pos0);
    return THM_OK;
}
