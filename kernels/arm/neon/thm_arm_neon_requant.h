/* Exact vector requantize for AArch64 NEON: four columns at a time, the same
 * integers as thm_requantize (thm_fixedpoint.h).
 *
 * Why it is exact: SQRDMULH is gemmlowp's SaturatingRoundingDoublingHighMul
 * bit for bit (both round (a*b + 2^30) / 2^31 half away from zero in the
 * negative case and saturate only INT32_MIN * INT32_MIN). Rounding-divide by
 * 2^e with ties away from zero equals SRSHL(x - 1) for x < 0 (ties up for
 * x - 1 is ties away for x); the "- 1" is a saturating add of x's sign bit
 * masked by e != 0, as in TFLite's NEON kernels. The left shift is SSHL,
 * which drops bits that leave the lane: the reference's uint32 wrap. */
#ifndef THM_ARM_NEON_REQUANT_H
#define THM_ARM_NEON_REQUANT_H

#include <arm_neon.h>
#include <stdint.h>

/* acc [4] int32 (bias added), mult/shift [4]: the columns' parameters. */
static inline int32x4_t thm_neon_requant4(int32x4_t acc, int32x4_t mult, int32x4_t shift)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t left = vmaxq_s32(shift, zero);
    const int32x4_t right = vminq_s32(shift, zero);         /* -e, e >= 0 */
    const int32x4_t x = vqrdmulhq_s32(vshlq_s32(acc, left), mult);
    const int32x4_t fix = vshrq_n_s32(vandq_s32(x, right), 31);  /* -1 if x < 0 and e != 0 */
    return vrshlq_s32(vqaddq_s32(x, fix), right);
}

/* Four requantized lanes saturated to int8, in the low 4 bytes. */
static inline int8x8_t thm_neon_sat8x4(int32x4_t v)
{
    const int16x4_t h = vqmovn_s32(v);
    return vqmovn_s16(vcombine_s16(h, h));
}

#endif /* THM_ARM_NEON_REQUANT_H */
