/* Cortex-M55 Helium rotary positions (thm_rope_s8, half-split pairs i and
 * i + D/2, Q14 tables), bit-exact with kernels/src/thm_rope_s8.c.
 *
 * Why: scalar, a pair costs ~30 instructions (two loads of each table, four
 * multiplies, two rounding shifts, two saturations); RoPE was 4 % of the
 * watch's prefill. Four pairs a step in 32-bit lanes: the products fit
 * (|x c| <= 2^21), VRSHR #14 is the reference's (v + 2^13) >> 14, VMIN/VMAX
 * saturate and VSTRB.32 stores the low bytes. Both halves of a step are loaded
 * before either is stored, so y may alias x, as the API allows. */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <arm_mve.h>

#include "thm_impl.h"

void thm_rope_s8_mve(const int8_t *x, const int16_t *cos_q14, const int16_t *sin_q14, int8_t *y,
                     int32_t T, int32_t n_heads, int32_t D, int32_t pos0)
{
    const int32_t half = D / 2;
    const int32x4_t lo = vdupq_n_s32(-128), hi = vdupq_n_s32(127);
    for (int32_t t = 0; t < T; t++) {
        const int16_t *c = cos_q14 + (size_t)(pos0 + t) * half;
        const int16_t *s = sin_q14 + (size_t)(pos0 + t) * half;
        for (int32_t h = 0; h < n_heads; h++) {
            const size_t base = ((size_t)t * n_heads + h) * D;
            const int8_t *x1p = x + base, *x2p = x + base + half;
            int8_t *y1p = y + base, *y2p = y + base + half;
            for (int32_t i = 0; i < half; i += 4) {
                const mve_pred16_t p = vctp32q((uint32_t)(half - i));
                const int32x4_t x1 = vldrbq_z_s32(x1p + i, p), x2 = vldrbq_z_s32(x2p + i, p);
                const int32x4_t cv = vldrhq_z_s32(c + i, p), sv = vldrhq_z_s32(s + i, p);
                const int32x4_t o1 = vrshrq_n_s32(vsubq_s32(vmulq_s32(x1, cv), vmulq_s32(x2, sv)), 14);
                const int32x4_t o2 = vrshrq_n_s32(vaddq_s32(vmulq_s32(x2, cv), vmulq_s32(x1, sv)), 14);
                vstrbq_p_s32(y1p + i, vminq_s32(vmaxq_s32(o1, lo), hi), p);
                vstrbq_p_s32(y2p + i, vminq_s32(vmaxq_s32(o2, lo), hi), p);
            }
        }
    }
}

#endif /* __ARM_FEATURE_MVE */
