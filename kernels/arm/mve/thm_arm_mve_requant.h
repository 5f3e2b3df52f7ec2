/* Exact vector requantize for Cortex-M55 Helium: up to four columns of one
 * output row at a time, the same integers as thm_requantize
 * (thm_fixedpoint.h). VQRDMULH is gemmlowp's SaturatingRoundingDoublingHighMul
 * bit for bit; ties away from zero in the right shift are VRSHL of (x - 1)
 * for x < 0, the "- 1" a saturating add of the sign masked by shift != 0
 * (kernels/arm/neon/thm_arm_neon_requant.h has the same argument); VSHL's left
 * shift drops bits that leave the lane, the reference's uint32 wrap. */
#ifndef THM_ARM_MVE_REQUANT_H
#define THM_ARM_MVE_REQUANT_H

#include <arm_mve.h>
#include <stdint.h>

/* thm_requantize(s, mult, shift) in each lane. */
static inline int32x4_t thm_mve_requant(int32x4_t s, int32x4_t mult, int32x4_t sh)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t left = vmaxq_s32(sh, zero), right = vminq_s32(sh, zero);
    const int32x4_t v = vqrdmulhq_s32(vshlq_s32(s, left), mult);
    const int32x4_t fix = vshrq_n_s32(vandq_s32(v, right), 31);
    return vrshlq_s32(vqaddq_s32(v, fix), right);
}

/* sat8(thm_requantize(s, mult, shift)) in each lane, as int32. */
static inline int32x4_t thm_mve_requant_sat8(int32x4_t s, int32x4_t mult, int32x4_t sh)
{
    const int32x4_t r = thm_mve_requant(s, mult, sh);
    return vminq_s32(vmaxq_s32(r, vdupq_n_s32(-128)), vdupq_n_s32(127));
}

/* Columns n0 .. n0 + nv - 1 (1 <= nv <= 4) of one output row from the raw
 * sums acc[0 .. nv - 1]; nothing past nv is read or written. */
static inline void thm_mve_store(const int32_t *acc, int32_t nv, int32_t n0, const int32_t *bias,
                                 const int32_t *mult, const int32_t *shift, int8_t *y8,
                                 int32_t *y32)
{
    const mve_pred16_t p = vctp32q((uint32_t)nv);
    int32x4_t s = vldrwq_z_s32(acc, p);
    if (bias) s = vaddq_s32(s, vldrwq_z_s32(bias + n0, p));
    if (y32) {
        vstrwq_p_s32(y32 + n0, s, p);
        return;
    }
    vstrbq_p_s32(y8 + n0, thm_mve_requant_sat8(s, vldrwq_z_s32(mult + n0, p), vldrwq_z_s32(shift + n0, p)), p);
}

#endif /* THM_ARM_MVE_REQUANT_H */
