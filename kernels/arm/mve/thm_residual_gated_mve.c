/* Cortex-M55 Helium gated residual, r = sat16(r + clamp(requantize(y))),
 * bit-exact with kernels/src/thm_residual_gated_s16.c.
 *
 * Why: the portable form builds a 256-entry table of the gated value per
 * call (about 13k instructions), which a decode step's 512-element rows
 * never pay back (16 calls a token: 0.24M of the watch's 4.7M). Four
 * elements a step in 32-bit lanes cost about 16 instructions with no table:
 * thm_mve_requant is thm_requantize lane by lane (thm_arm_mve_requant.h), the
 * clamp to +-2^16 and the int16 saturation are VMAX/VMIN, and the tail is
 * predicated (nothing past n read or written). */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <arm_mve.h>

#include "thm_impl.h"
#include "thm_arm_mve_requant.h"

void thm_residual_gated_s16_mve(int16_t *r, const int8_t *y, int32_t n, int32_t mult, int32_t shift)
{
    const int32x4_t mv = vdupq_n_s32(mult), sv = vdupq_n_s32(shift);
    const int32x4_t glo = vdupq_n_s32(-65536), ghi = vdupq_n_s32(65536);
    const int32x4_t rlo = vdupq_n_s32(-32768), rhi = vdupq_n_s32(32767);
    for (int32_t i = 0; i < n; i += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)(n - i));
        const int32x4_t g = vminq_s32(vmaxq_s32(thm_mve_requant(vldrbq_z_s32(y + i, p), mv, sv), glo), ghi);
        const int32x4_t s = vaddq_s32(vldrhq_z_s32(r + i, p), g);
        vstrhq_p_s32(r + i, vminq_s32(vmaxq_s32(s, rlo), rhi), p);
    }
}

#endif /* __ARM_FEATURE_MVE */
